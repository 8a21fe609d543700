//! Turning the segments: `jobwire_rotate()` (in `schema.sql`) moves the few
//! waiting rows left in a segment that is no longer current, empties with
//! `TRUNCATE` the segments that hold no row, and makes the next empty
//! segment current once enough rows went into the current one. `TRUNCATE`
//! frees a segment's dead tuples whatever snapshot is held elsewhere in the
//! cluster, where `VACUUM` cannot reclaim past the oldest one. An empty
//! segment that a reader holds cannot be truncated at once; it is vacuumed
//! instead, which takes no lock a reader or a claim waits for.

use serde::Serialize;
use sqlx::postgres::PgPool;
use sqlx::Row;
use std::fmt;
use std::time::Duration;

/// What one turn of the segments did ([`Postgres::rotate`](super::Postgres::rotate)).
///
/// ```no_run
/// # async fn demo(queue: jobwire::backend::postgres::Postgres) -> Result<(), sqlx::Error> {
/// let turn = queue.rotate().await?;
/// if !turn.busy {
///     println!("new rows go to segment {}; emptied {:?}", turn.current, turn.truncated);
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Turn {
    /// Another session was turning them: this turn did nothing.
    pub busy: bool,
    /// The segment new rows go to now.
    pub current: i16,
    /// Waiting rows moved out of retired segments into the current one.
    pub moved: i64,
    /// Segments emptied with `TRUNCATE`.
    pub truncated: Vec<i16>,
    /// Empty segments a reader held, vacuumed instead (truncated on a later
    /// turn).
    pub vacuumed: Vec<i16>,
}

impl fmt::Display for Turn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.busy {
            return write!(f, "busy: another session is turning the segments");
        }
        write!(
            f,
            "current {}, moved {}, truncated {:?}, vacuumed {:?}",
            self.current, self.moved, self.truncated, self.vacuumed
        )
    }
}

/// One turn, now.
pub(super) async fn turn(pool: &PgPool) -> Result<Turn, sqlx::Error> {
    let row = sqlx::query("SELECT busy, current, moved, truncated, locked FROM jobwire_rotate()")
        .fetch_one(pool)
        .await?;
    let busy: bool = row.try_get("busy")?;
    let locked: Vec<i16> = row.try_get("locked")?;
    let mut vacuumed = Vec::new();
    for segment in locked {
        // A number of our own, not input: the segment's table name.
        let vacuum = format!("VACUUM (SKIP_LOCKED) jobwire_jobs_{segment}");
        sqlx::raw_sql(sqlx::AssertSqlSafe(vacuum))
            .execute(pool)
            .await?;
        vacuumed.push(segment);
    }
    Ok(Turn {
        busy,
        current: row
            .try_get::<Option<i16>, _>("current")?
            .unwrap_or_default(),
        moved: row.try_get("moved")?,
        truncated: row.try_get("truncated")?,
        vacuumed,
    })
}

/// A turn every `period`, for as long as the queue is connected. A failed
/// turn (the server restarting, say) is logged and the next one tries
/// again: nothing is lost by a turn that did not happen.
pub(super) async fn every(pool: PgPool, period: Duration) {
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match turn(&pool).await {
            Ok(done) => tracing::trace!(%done, "jobwire turned its segments"),
            Err(error) => tracing::debug!(%error, "jobwire could not turn its segments"),
        }
    }
}

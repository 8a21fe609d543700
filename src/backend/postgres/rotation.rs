//! Turning the segments: `jobwire_rotate()` (in `schema.sql`) moves the few
//! waiting rows left in a segment that is no longer current, empties with
//! `TRUNCATE` the segments that hold no row, and makes the next empty
//! segment current once enough rows went into the current one. `TRUNCATE`
//! frees a segment's dead tuples whatever snapshot is held elsewhere in the
//! cluster, where `VACUUM` cannot reclaim past the oldest one.

use sqlx::postgres::PgPool;
use std::time::Duration;

/// One turn, now: what it did, or `busy` if another session was turning.
pub(super) async fn turn(pool: &PgPool) -> Result<String, sqlx::Error> {
    sqlx::query_scalar("SELECT jobwire_rotate()")
        .fetch_one(pool)
        .await
}

/// A turn every `period`, for as long as the queue is connected. A failed
/// turn (the server restarting, a lock held too long) is logged and the
/// next one tries again: nothing is lost by a turn that did not happen.
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

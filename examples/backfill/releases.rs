//! Four releases of one backfill job, shared by `examples/backfill` and the
//! kit's exactly-once tests. The job fills `email_lower` on every row of a
//! table, in batches, by increasing id.
//!
//! - **Release 1** (1.0.0): batches of 500; the cursor is the last id done.
//! - **Release 2** (2.0.0): batches of 2,000, and the cursor becomes a
//!   struct that also counts batches. A new cursor type is a new major
//!   version, with an upcaster for release 1's cursor.
//! - **Release 3** (2.0.1): stops itself after 1.5 s of running, to let
//!   other jobs through (`MAX_RUN_TIME`).
//! - **Release 4** (2.0.2): checkpoints every quarter of a second.
//!
//! The job is generic over where the rows live ([`Table`]): an SQLite table
//! in the example, a vector in the tests.
#![allow(dead_code)]

use jobwire::{HandlerError, UpcastError};
use std::future::Future;

/// Where the rows are.
pub trait Table: Send + Sync + 'static {
    /// Up to `limit` ids greater than `after` (from the first when `None`),
    /// in order.
    fn ids_after(
        &self,
        after: Option<u64>,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<u64>, HandlerError>> + Send;

    /// Writes the new column on the rows with these ids (consecutive in id
    /// order).
    fn write(&self, ids: &[u64]) -> impl Future<Output = Result<(), HandlerError>> + Send;
}

/// Release 1's position, the last id done.
pub type LastId = u64;

/// Release 2's cursor.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Position {
    /// The last id done.
    pub after_id: u64,
    /// Batches done since the cursor was first written in this shape.
    pub batches: u64,
}

/// Release 2's reading of release 1's cursor.
pub fn upcast_position(
    written_at: &semver::Version,
    cursor: &str,
) -> Result<Position, UpcastError> {
    if written_at.major != 1 {
        return Err(UpcastError::new(format!(
            "no cursor of {written_at} is known"
        )));
    }
    let after_id: LastId =
        serde_json::from_str(cursor).map_err(|e| UpcastError::new(e.to_string()))?;
    Ok(Position {
        after_id,
        batches: 0,
    })
}

macro_rules! backfill_release {
    ($module:ident, $version:expr, cursor = $cursor:ty, batch = $batch:expr,
     checkpoint = $every:expr, max_run = $max:expr, next = |$after:ident| $start:expr,
     cursor_after = |$last:ident, $old:ident| $advance:expr, reads_1x = $reads_1x:tt) => {
        pub mod $module {
            use super::*;
            use jobwire::iteration::{iterate, Iterate};
            use jobwire::{Context, Job};
            use std::marker::PhantomData;
            use std::time::Duration;

            /// The backfill job, as this release knows it.
            #[derive(serde::Serialize, serde::Deserialize)]
            pub struct Backfill<T> {
                /// The table, for the logs.
                pub table: String,
                #[serde(skip)]
                pub rows: PhantomData<fn() -> T>,
            }

            impl<T> std::fmt::Debug for Backfill<T> {
                fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.debug_struct("Backfill").field("table", &self.table).finish()
                }
            }

            impl<T> Backfill<T> {
                pub fn new(table: &str) -> Self {
                    Backfill { table: table.to_owned(), rows: PhantomData }
                }
            }

            backfill_release!(@previous $reads_1x);

            impl<T: Table> Job for Backfill<T> {
                const NAME: &'static str = "accounts.backfill_email_lower";
                const VERSION: semver::Version = $version;
                type Previous = backfill_release!(@previous_type $reads_1x);
                type State = T;
                type Data = ();
                async fn perform(self, ctx: &mut Context<'_, T>) -> Result<(), HandlerError> {
                    iterate(self, ctx).await
                }
            }

            impl<T: Table> Iterate for Backfill<T> {
                type Cursor = $cursor;
                type Item = Vec<u64>;
                const CHECKPOINT_EVERY: Duration = $every;
                const MAX_RUN_TIME: Option<Duration> = $max;

                async fn next_items(
                    &self,
                    after: Option<&$cursor>,
                    ctx: &mut Context<'_, T>,
                ) -> Result<Vec<(Vec<u64>, $cursor)>, HandlerError> {
                    let $after = after;
                    let start: Option<u64> = $start;
                    let ids = ctx.state().ids_after(start, $batch).await?;
                    let Some(&$last) = ids.last() else {
                        return Ok(Vec::new());
                    };
                    let $old = after;
                    let cursor: $cursor = $advance;
                    Ok(vec![(ids, cursor)])
                }

                async fn each(&self, ids: Vec<u64>, ctx: &mut Context<'_, T>) -> Result<(), HandlerError> {
                    ctx.state().write(&ids).await
                }

                backfill_release!(@upcast_cursor $reads_1x $cursor);
            }
        }
    };
    (@previous false) => {};
    (@previous true) => {
        /// Release 1's arguments, kept to upcast its payloads.
        #[derive(serde::Serialize, serde::Deserialize)]
        pub struct BackfillV1<T> {
            pub table: String,
            #[serde(skip)]
            pub rows: PhantomData<fn() -> T>,
        }

        impl<T: Table> jobwire::Upcast for BackfillV1<T> {
            const VERSION: semver::Version = semver::Version::new(1, 0, 0);
            type Next = Backfill<T>;
            type Previous = jobwire::NoPrevious;
            fn upcast(self) -> Result<Backfill<T>, UpcastError> {
                Ok(Backfill::new(&self.table))
            }
        }
    };
    (@previous_type false) => { jobwire::NoPrevious };
    (@previous_type true) => { BackfillV1<T> };
    (@upcast_cursor false $cursor:ty) => {};
    (@upcast_cursor true $cursor:ty) => {
        fn upcast_cursor(written_at: &semver::Version, cursor: &str) -> Result<$cursor, UpcastError> {
            upcast_position(written_at, cursor)
        }
    };
}

backfill_release!(
    release_1,
    semver::Version::new(1, 0, 0),
    cursor = LastId,
    batch = 500,
    checkpoint = std::time::Duration::from_secs(1),
    max_run = None,
    next = |after| after.copied(),
    cursor_after = |last, _old| last,
    reads_1x = false
);

backfill_release!(
    release_2,
    semver::Version::new(2, 0, 0),
    cursor = Position,
    batch = 2_000,
    checkpoint = std::time::Duration::from_secs(1),
    max_run = None,
    next = |after| after.map(|p| p.after_id),
    cursor_after = |last, old| Position {
        after_id: last,
        batches: old.map_or(0, |p| p.batches) + 1
    },
    reads_1x = true
);

backfill_release!(
    release_3,
    semver::Version::new(2, 0, 1),
    cursor = Position,
    batch = 2_000,
    checkpoint = std::time::Duration::from_secs(1),
    max_run = Some(std::time::Duration::from_millis(1_500)),
    next = |after| after.map(|p| p.after_id),
    cursor_after = |last, old| Position {
        after_id: last,
        batches: old.map_or(0, |p| p.batches) + 1
    },
    reads_1x = true
);

backfill_release!(
    release_4,
    semver::Version::new(2, 0, 2),
    cursor = Position,
    batch = 2_000,
    checkpoint = std::time::Duration::from_millis(250),
    max_run = None,
    next = |after| after.map(|p| p.after_id),
    cursor_after = |last, old| Position {
        after_id: last,
        batches: old.map_or(0, |p| p.batches) + 1
    },
    reads_1x = true
);

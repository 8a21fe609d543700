//! Long-running jobs that survive deploys: resumable iteration with a
//! versioned cursor.
//!
//! A deploy restarts every worker, so a job that runs for hours is killed at
//! every deploy and, started again from the beginning, never finishes. An
//! iterable job is cut into small steps instead: it enumerates *items* from
//! a *cursor*, performs them one by one, and stops at any point between two
//! items, saving where it stands; the next run resumes there, on whichever
//! release performs it.
//!
//! jobwire owns the loop, so the bugs its peers keep fixing cannot happen:
//!
//! - **The cursor advances only after an item's work returned.** It points
//!   past the last item done, never past one that was not.
//! - **Progress lives in the envelope** (`progress`: cursor, items, time
//!   spent, interruptions), so every re-enqueue, backend retry and dead
//!   letter carries it: a retry resumes, it does not restart from zero.
//! - **Checkpoints are time-based** ([`Iterate::CHECKPOINT_EVERY`], 5 s by
//!   default), saved in place through the queue; where the queue lends a
//!   transaction (PostgreSQL), the checkpoint commits it, so the items'
//!   effects and the cursor that records them land together.
//! - **Interruption is an outcome, never a failure.** After any item, the
//!   loop stops when the worker is shutting down (or a deploy gate closes),
//!   when the job's [`MAX_RUN_TIME`](Iterate::MAX_RUN_TIME) is up, or when
//!   the dispatch's item budget is spent; the outcome is
//!   [`Outcome::Interrupted`](crate::Outcome::Interrupted) with the new
//!   progress, rescheduled without counting an attempt.
//!   [`completed`](Iterate::completed) runs once, at the real end.
//! - **The cursor is versioned with the job.** A cursor is read under the
//!   rules arguments are read under: on the job's own line it is decoded as
//!   the job's [`Cursor`](Iterate::Cursor) type; from an older line it goes
//!   through [`upcast_cursor`](Iterate::upcast_cursor); from a newer line
//!   the payload is deferred, like any newer payload, so it is never
//!   misread. A cursor that does not read is rejected (and dead-lettered
//!   with the reason), never reset to zero. Change what a cursor *means*
//!   (a batch index into a position, say) and the job's major version must
//!   change with it; the deploy-safety check flags a cursor type that
//!   changed on the same line.
//! - **Progress is visible**: `tracing` events when a job starts, resumes,
//!   is interrupted and completes, with the items done and the cursor, and
//!   [`wire::Header::progress`](crate::wire::Header::progress) reads a
//!   queued payload's progress without performing it.
//!
//! ```
//! use jobwire::iteration::{iterate, Iterate};
//! use jobwire::{Context, HandlerError, Job, NoPrevious};
//! use semver::Version;
//! use serde::{Deserialize, Serialize};
//! use std::sync::Mutex;
//!
//! /// The rows to backfill, standing in for a table.
//! struct Table(Mutex<Vec<(u64, Option<String>)>>);
//!
//! /// Backfills `slug` on every row, in batches of 100, by increasing id.
//! #[derive(Serialize, Deserialize)]
//! struct BackfillSlugs {}
//!
//! impl Job for BackfillSlugs {
//!     const NAME: &'static str = "rows.backfill_slugs";
//!     const VERSION: Version = Version::new(1, 0, 0);
//!     type Previous = NoPrevious;
//!     type State = Table;
//!     type Data = ();
//!     async fn perform(self, ctx: &mut Context<'_, Table>) -> Result<(), HandlerError> {
//!         iterate(self, ctx).await // jobwire owns the loop
//!     }
//! }
//!
//! impl Iterate for BackfillSlugs {
//!     /// The last id done: a position, so a later batch size cannot change
//!     /// its meaning.
//!     type Cursor = u64;
//!     type Item = u64;
//!
//!     async fn next_items(&self, after: Option<&u64>, ctx: &mut Context<'_, Table>)
//!         -> Result<Vec<(u64, u64)>, HandlerError>
//!     {
//!         let rows = ctx.state().0.lock().map_err(|_| HandlerError::permanent("poisoned"))?;
//!         Ok(rows.iter()
//!             .map(|(id, _)| *id)
//!             .filter(|id| after.is_none_or(|after| id > after))
//!             .take(100)
//!             .map(|id| (id, id)) // each item, with the cursor just past it
//!             .collect())
//!     }
//!
//!     async fn each(&self, id: u64, ctx: &mut Context<'_, Table>) -> Result<(), HandlerError> {
//!         let mut rows = ctx.state().0.lock().map_err(|_| HandlerError::permanent("poisoned"))?;
//!         if let Some(row) = rows.iter_mut().find(|(row, _)| *row == id) {
//!             row.1 = Some(format!("row-{id}"));
//!         }
//!         Ok(())
//!     }
//! }
//! jobwire::register!(BackfillSlugs, iterable);
//! ```
//!
//! ## Trivial items: make a batch the item
//!
//! The loop pays a few tens of instructions per item (the `each` call, the
//! cursor's move, the cancellation check), which is nothing beside a row's
//! write but is most of the cost of an item that does no work at all. For
//! those, make the [`Item`](Iterate::Item) a whole batch (the
//! `each_batch` of Shopify's job-iteration, Rails' `in_batches`): the
//! per-item cost is then paid once per batch, and
//! `cargo bench --bench iteration` shows the loop at the plain `for` loop's
//! speed. The price is the granularity: the cursor moves, and a shutdown or
//! a deploy gate can stop the job, only between two batches, so keep a
//! batch's work well under the worker's shutdown grace.
//!
//! ```
//! use jobwire::iteration::{iterate, Iterate};
//! use jobwire::{Context, Delivery, HandlerError, Job, NoPrevious, Producer, Router};
//! use semver::Version;
//! use serde::{Deserialize, Serialize};
//! use std::sync::atomic::{AtomicU64, Ordering};
//!
//! /// Sums the ids below `to`, a thousand at a time.
//! #[derive(Serialize, Deserialize)]
//! struct SumIds { to: u64 }
//!
//! impl Job for SumIds {
//!     const NAME: &'static str = "ids.sum";
//!     const VERSION: Version = Version::new(1, 0, 0);
//!     type Previous = NoPrevious;
//!     type State = AtomicU64;
//!     type Data = ();
//!     async fn perform(self, ctx: &mut Context<'_, AtomicU64>) -> Result<(), HandlerError> {
//!         iterate(self, ctx).await
//!     }
//! }
//!
//! impl Iterate for SumIds {
//!     /// The first id not done yet.
//!     type Cursor = u64;
//!     /// One item is a batch of ids.
//!     type Item = std::ops::Range<u64>;
//!
//!     async fn next_items(&self, after: Option<&u64>, _: &mut Context<'_, AtomicU64>)
//!         -> Result<Vec<(std::ops::Range<u64>, u64)>, HandlerError>
//!     {
//!         let from = after.copied().unwrap_or(0);
//!         Ok((0..10u64)
//!             .map(|k| from + k * 1_000)
//!             .take_while(|start| *start < self.to)
//!             .map(|start| {
//!                 let end = (start + 1_000).min(self.to);
//!                 (start..end, end) // the batch, and the cursor past it
//!             })
//!             .collect())
//!     }
//!
//!     async fn each(&self, ids: std::ops::Range<u64>, ctx: &mut Context<'_, AtomicU64>)
//!         -> Result<(), HandlerError>
//!     {
//!         ctx.state().fetch_add(ids.sum::<u64>(), Ordering::Relaxed);
//!         Ok(())
//!     }
//! }
//!
//! let router = Router::builder().iterable::<SumIds>().state(AtomicU64::new(0)).build()?;
//! let payload = Producer::default().seal(&SumIds { to: 100_000 })?;
//! assert!(router.dispatch_blocking(&payload, &mut Delivery::new()).is_performed());
//! assert_eq!(router.state::<AtomicU64>().map(|s| s.load(Ordering::Relaxed)), Some(4_999_950_000));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod cursor;
mod run;

pub use run::iterate;

use crate::{Context, HandlerError, Job, Lifecycle, UpcastError};
use semver::Version;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::future::Future;
use std::time::Duration;

/// What [`Iterate::next_items`] returns: items, each with the cursor that
/// stands just past it.
pub type Batch<Item, Cursor> = Vec<(Item, Cursor)>;

/// A job that jobwire performs as a resumable loop over items. Implement it
/// beside [`Job`], whose `perform` hands over to [`iterate`]; register the
/// job with `register!(MyJob, iterable)` (or
/// [`RouterBuilder::iterable`](crate::RouterBuilder::iterable)), so that its
/// manifest records the cursor's type. See the [module docs](self).
///
/// ```
/// # use jobwire::iteration::{iterate, Iterate};
/// # use jobwire::{Context, HandlerError, Job, NoPrevious};
/// # use semver::Version;
/// /// Counts to `to`, one number at a time.
/// #[derive(serde::Serialize, serde::Deserialize)]
/// struct CountTo { to: u64 }
///
/// impl Job for CountTo {
///     const NAME: &'static str = "count_to";
///     const VERSION: Version = Version::new(1, 0, 0);
///     type Previous = NoPrevious;
///     type State = ();
///     type Data = ();
///     async fn perform(self, ctx: &mut Context<'_>) -> Result<(), HandlerError> {
///         iterate(self, ctx).await
///     }
/// }
///
/// impl Iterate for CountTo {
///     type Cursor = u64;
///     type Item = u64;
///     async fn next_items(&self, after: Option<&u64>, _: &mut Context<'_>) -> Result<Vec<(u64, u64)>, HandlerError> {
///         let from = after.map_or(1, |n| n + 1);
///         Ok((from..=self.to).take(1_000).map(|n| (n, n)).collect())
///     }
///     async fn each(&self, n: u64, _: &mut Context<'_>) -> Result<(), HandlerError> {
///         std::hint::black_box(n);
///         Ok(())
///     }
/// }
///
/// let router = jobwire::Router::builder().iterable::<CountTo>().build()?;
/// let payload = br#"{"job":"count_to","version":"1.0.0","args":{"to":10}}"#;
/// // Two items, then a stop at a checkpoint, with the progress in the payload.
/// let mut delivery = jobwire::Delivery::new().with_item_budget(2);
/// let outcome = router.dispatch_blocking(payload, &mut delivery).into_owned();
/// let jobwire::Outcome::Interrupted(stopped) = &outcome else { panic!("{outcome:?}") };
/// let header = jobwire::wire::Header::read(&stopped.payload)?;
/// assert_eq!(header.progress().map(|p| (p.cursor_json(), p.items())), Some(("2", 2)));
/// // Resumed, it does the other eight.
/// assert!(router.dispatch_blocking(&stopped.payload, &mut jobwire::Delivery::new()).is_performed());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait Iterate<L: Lifecycle = crate::Active>: Job<L> {
    /// Where the job stands: any serde type, written into the envelope's
    /// `progress.cursor` and read back as the same type. Make it a
    /// *position* (the last id done, a timestamp and an id), not a count or
    /// a batch number, and a change of batch size will not change its
    /// meaning. What it means is part of the job's version: a change of
    /// meaning is a major version, with [`upcast_cursor`](Iterate::upcast_cursor).
    type Cursor: Serialize + DeserializeOwned + Send + Sync + 'static;

    /// One unit of work: an id, a row, or a whole batch (see the module's
    /// "Trivial items" for when a batch is the better item).
    type Item: Send;

    /// How often, at most, progress is saved in the queue while the job
    /// runs: time-based, not per item, so that checkpoints cost nothing
    /// measurable. `Duration::ZERO` saves after every item.
    const CHECKPOINT_EVERY: Duration = Duration::from_secs(5);

    /// The longest one run may take before it stops at a checkpoint and
    /// lets other jobs run; `None` (the default) for no limit.
    const MAX_RUN_TIME: Option<Duration> = None;

    /// Whether [`completed`](Iterate::completed) may run again without a
    /// second effect. Queues deliver at least once: a payload whose
    /// acknowledgement was lost after the job finished is delivered again,
    /// resumes at its last checkpoint, and reaches `completed` a second
    /// time. Make `completed` idempotent (key its effect by
    /// `ctx.task_id()` or by the arguments) and leave this `true`, and the
    /// testing kit checks it; declare `false` for a `completed` that cannot
    /// be made so, and the kit does not.
    const COMPLETED_IS_IDEMPOTENT: bool = true;

    /// The next items after `after` (from the start when `None`), in order,
    /// each with the cursor that stands just past it. An empty list means
    /// the job is done. It must not rescan what is done: with a position for
    /// a cursor, resuming costs the same at the millionth item as at the
    /// first.
    fn next_items(
        &self,
        after: Option<&Self::Cursor>,
        ctx: &mut Context<'_, Self::State, Self::Data>,
    ) -> impl Future<Output = Result<Batch<Self::Item, Self::Cursor>, HandlerError>> + Send;

    /// Performs one item. An error stops the run: the outcome carries the
    /// progress up to the item before, so a retry resumes at this item.
    fn each(
        &self,
        item: Self::Item,
        ctx: &mut Context<'_, Self::State, Self::Data>,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send;

    /// Runs once, after the last item: never at an interruption.
    fn completed(
        &self,
        ctx: &mut Context<'_, Self::State, Self::Data>,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        let _ = ctx;
        std::future::ready(Ok(()))
    }

    /// Reads a cursor written at `written_at`, on an older line of this job
    /// (its arguments were upcast; its cursor comes here), from its JSON
    /// text. The default reads none: such a payload is rejected, naming the
    /// job and the version, rather than resumed from zero.
    fn upcast_cursor(written_at: &Version, cursor: &str) -> Result<Self::Cursor, UpcastError> {
        let _ = cursor;
        Err(UpcastError::new(format!(
            "no cursor upcaster reads a cursor written at {written_at}: implement `Iterate::upcast_cursor`"
        )))
    }
}

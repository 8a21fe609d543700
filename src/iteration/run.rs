//! The loop jobwire runs for an iterable job.

use crate::context::CheckpointError;
use crate::iteration::{cursor, Iterate};
use crate::wire::{rewrite_progress, Meta, Progress, Relation};
use crate::{Context, HandlerError, Lifecycle};
use std::io::Write as _;
use std::sync::atomic::Ordering;
use std::time::Instant;

/// Performs an iterable job: resumes from the payload's progress, performs
/// items until there are none left or the run must stop, and saves progress
/// on the way. Call it from [`Job::perform`](crate::Job::perform), and hand
/// back its result as it is: an interruption travels as a `HandlerError`
/// that the router turns into [`Outcome::Interrupted`](crate::Outcome::Interrupted).
/// See the [module docs](crate::iteration).
///
/// ```
/// # use jobwire::iteration::{iterate, Iterate};
/// # use jobwire::{Context, HandlerError, Job, NoPrevious};
/// # #[derive(serde::Serialize, serde::Deserialize)] struct Sweep {}
/// impl Job for Sweep {
///     const NAME: &'static str = "sweep";
///     const VERSION: semver::Version = semver::Version::new(1, 0, 0);
///     type Previous = NoPrevious;
///     type State = ();
///     type Data = ();
///     async fn perform(self, ctx: &mut Context<'_>) -> Result<(), HandlerError> {
///         iterate(self, ctx).await
///     }
/// }
/// # impl Iterate for Sweep {
/// #     type Cursor = u32; type Item = u32;
/// #     async fn next_items(&self, after: Option<&u32>, _: &mut Context<'_>) -> Result<Vec<(u32, u32)>, HandlerError> {
/// #         Ok(if after.is_some() { vec![] } else { vec![(1, 1)] })
/// #     }
/// #     async fn each(&self, _: u32, _: &mut Context<'_>) -> Result<(), HandlerError> { Ok(()) }
/// # }
/// ```
pub async fn iterate<J, L>(
    job: J,
    ctx: &mut Context<'_, J::State, J::Data>,
) -> Result<(), HandlerError>
where
    J: Iterate<L>,
    L: Lifecycle,
{
    let started = Instant::now();
    let prior = ctx.progress().map_or((0, 0, 0), |p| {
        (p.items(), p.elapsed_ms(), p.interruptions())
    });
    // Progress is written in this release's shape: a payload from another
    // version is sealed again, at this one, before its cursor moves on.
    let resealed = if ctx.relation() == Relation::Same {
        None
    } else {
        Some(reseal::<J, L>(&job, ctx.meta())?)
    };
    let mut run = Run::<J, L> {
        cursor: cursor::read::<J, L>(ctx)?,
        resealed,
        items_before: prior.0,
        elapsed_before: prior.1,
        interruptions: prior.2,
        started,
        done_here: 0,
        saved: None,
        _lifecycle: std::marker::PhantomData,
    };
    if run.cursor.is_some() {
        tracing::info!(job.name = J::NAME, items = run.items(), cursor = %run.cursor_json(), interruptions = run.interruptions, "jobwire iteration resumed");
    } else {
        tracing::info!(job.name = J::NAME, "jobwire iteration started");
    }
    let mut last_checkpoint = Instant::now();
    let budget = ctx.info().item_budget.unwrap_or(u64::MAX);
    let cancelled = ctx.info().cancellation.flag();
    let mut until_clock = CLOCK_EVERY;
    loop {
        if let Some(reason) = run.must_stop(ctx, true) {
            return Err(run.interrupt(ctx, reason));
        }
        let batch = match job.next_items(run.cursor.as_ref(), ctx).await {
            Ok(batch) => batch,
            Err(error) => return Err(run.fail(ctx, error)),
        };
        if batch.is_empty() {
            if let Err(error) = job.completed(ctx).await {
                return Err(run.fail(ctx, error));
            }
            tracing::info!(
                job.name = J::NAME,
                items = run.items(),
                elapsed_ms = run.elapsed_ms(),
                interruptions = run.interruptions,
                "jobwire iteration completed"
            );
            return Ok(());
        }
        for (item, next) in batch {
            if let Err(error) = job.each(item, ctx).await {
                return Err(run.fail(ctx, error));
            }
            // Only now, with the item's work returned, does the cursor move.
            run.cursor = Some(next);
            run.done_here += 1;
            // Per item: the cancellation (so that a shutdown stops the job
            // at its next item) and the budget. The clock only every
            // `CLOCK_EVERY` items: reading it costs more than a trivial item.
            if cancelled.is_some_and(|flag| flag.load(Ordering::Acquire)) {
                return Err(run.interrupt(ctx, "cancelled"));
            }
            if run.done_here >= budget {
                return Err(run.interrupt(ctx, "item budget"));
            }
            until_clock -= 1;
            if until_clock == 0 {
                until_clock = CLOCK_EVERY;
                if let Some(reason) = run.must_stop(ctx, true) {
                    return Err(run.interrupt(ctx, reason));
                }
                if last_checkpoint.elapsed() >= J::CHECKPOINT_EVERY {
                    run.checkpoint(ctx).await?;
                    last_checkpoint = Instant::now();
                }
            }
        }
        if last_checkpoint.elapsed() >= J::CHECKPOINT_EVERY {
            run.checkpoint(ctx).await?;
            last_checkpoint = Instant::now();
        }
    }
}

/// How many items pass between two readings of the clock, for the run
/// time and the checkpoints (and at the end of every batch).
const CLOCK_EVERY: u64 = 64;

/// Where one run of an iterable job stands.
struct Run<J: Iterate<L>, L: Lifecycle> {
    cursor: Option<J::Cursor>,
    /// The envelope at this release's version, when the payload was written
    /// at another.
    resealed: Option<Vec<u8>>,
    /// Items done before this run.
    items_before: u64,
    elapsed_before: u64,
    interruptions: u32,
    started: Instant,
    /// Items done in this run, for the item budget.
    done_here: u64,
    /// The payload of the last checkpoint the queue saved.
    saved: Option<Vec<u8>>,
    _lifecycle: std::marker::PhantomData<fn() -> L>,
}

impl<J: Iterate<L>, L: Lifecycle> Run<J, L> {
    fn cursor_json(&self) -> String {
        match &self.cursor {
            Some(cursor) => serde_json::to_string(cursor).unwrap_or_default(),
            None => "null".to_owned(),
        }
    }

    /// Items done, over every run.
    fn items(&self) -> u64 {
        self.items_before.saturating_add(self.done_here)
    }

    fn elapsed_ms(&self) -> u64 {
        let here = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.elapsed_before.saturating_add(here)
    }

    /// Why the run must stop now, if it must. A run's own limits stop it
    /// only after one item at least, so that every run makes progress.
    fn must_stop(&self, ctx: &Context<'_, J::State, J::Data>, clock: bool) -> Option<&'static str> {
        if ctx.is_cancelled() {
            return Some("cancelled");
        }
        if self.done_here == 0 {
            return None;
        }
        if ctx
            .info()
            .item_budget
            .is_some_and(|budget| self.done_here >= budget)
        {
            return Some("item budget");
        }
        if clock && J::MAX_RUN_TIME.is_some_and(|most| self.started.elapsed() >= most) {
            return Some("max run time");
        }
        None
    }

    /// The payload with the progress so far.
    fn payload(
        &self,
        ctx: &Context<'_, J::State, J::Data>,
        interruptions: u32,
    ) -> Result<Vec<u8>, HandlerError> {
        let cursor = match &self.cursor {
            Some(cursor) => Some(serde_json::to_string(cursor).map_err(|error| {
                HandlerError::permanent(format!(
                    "job `{}`: its cursor cannot be written as JSON: {error}",
                    J::NAME
                ))
            })?),
            None => None,
        };
        let progress = Progress::new(
            cursor.map(Into::into),
            self.items(),
            self.elapsed_ms(),
            interruptions,
        );
        let base = self.resealed.as_deref().unwrap_or(ctx.payload());
        rewrite_progress(base, &progress).map_err(HandlerError::permanent)
    }

    /// Stops at a checkpoint.
    fn interrupt(
        &self,
        ctx: &Context<'_, J::State, J::Data>,
        reason: &'static str,
    ) -> HandlerError {
        let interruptions = self.interruptions.saturating_add(1);
        match self.payload(ctx, interruptions) {
            Ok(payload) => {
                tracing::info!(job.name = J::NAME, reason, items = self.items(), cursor = %self.cursor_json(), interruptions, "jobwire iteration interrupted");
                HandlerError::interrupt(reason, payload)
            }
            Err(error) => error,
        }
    }

    /// A failure, carrying the progress up to the last item done: a retry
    /// resumes there. (A queue whose lent transaction rolls back with the
    /// failure keeps its last checkpoint instead.)
    fn fail(&self, ctx: &Context<'_, J::State, J::Data>, error: HandlerError) -> HandlerError {
        match self.payload(ctx, self.interruptions) {
            Ok(payload) => error.with_payload(Some(payload)),
            Err(_) => error.with_payload(self.saved.clone()),
        }
    }

    /// Saves the progress in the queue, if the dispatch has somewhere to.
    async fn checkpoint(
        &mut self,
        ctx: &mut Context<'_, J::State, J::Data>,
    ) -> Result<(), HandlerError> {
        let Some(checkpoint) = ctx.info().checkpoint.clone() else {
            return Ok(());
        };
        let payload = self.payload(ctx, self.interruptions)?;
        match checkpoint.save(&payload, ctx.data_any()).await {
            Ok(()) => {
                tracing::debug!(job.name = J::NAME, items = self.items(), cursor = %self.cursor_json(), "jobwire iteration checkpoint");
                self.saved = Some(payload);
                Ok(())
            }
            Err(CheckpointError::Lost) => Err(HandlerError::retryable(CheckpointError::Lost)),
            // What the queue did not save may have taken the items' work
            // with it (a transaction that did not commit): the run stops,
            // handing back the last progress the queue did save.
            Err(error) => Err(HandlerError::retryable(error).with_payload(self.saved.clone())),
        }
    }
}

/// The envelope of `job` at this release's name and version, with `meta`:
/// a cursor in this release's shape must travel under this release's
/// version, or the next reader would take it for the old one's.
fn reseal<J: Iterate<L>, L: Lifecycle>(job: &J, meta: &Meta<'_>) -> Result<Vec<u8>, HandlerError> {
    let fail = |error: serde_json::Error| {
        HandlerError::permanent(format!(
            "job `{}`: its arguments cannot be written at {}: {error}",
            J::NAME,
            J::VERSION
        ))
    };
    let mut out = Vec::with_capacity(128);
    out.extend_from_slice(br#"{"job":"#);
    serde_json::to_writer(&mut out, J::NAME).map_err(fail)?;
    // Writing to a Vec cannot fail.
    let _ = write!(out, r#","version":"{}","args":"#, J::VERSION);
    serde_json::to_writer(&mut out, job).map_err(fail)?;
    if !meta.is_empty() {
        out.extend_from_slice(br#","meta":"#);
        serde_json::to_writer(&mut out, meta).map_err(fail)?;
    }
    out.push(b'}');
    Ok(out)
}

//! Properties of iterable jobs: every item performed exactly once, whatever
//! the interruptions and the releases that resume the job, and cursors that
//! come back as what they were.

use crate::iteration::Iterate;
use crate::testing::kit::{Failure, Failures};
use crate::testing::quiet::quietly;
use crate::wire::{rewrite_progress, Header, Progress};
use crate::{Delivery, Outcome, Producer, Router, WritePolicy};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence, TestCaseError, TestError, TestRunner};
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::marker::PhantomData;

/// The world an iterable job's items live in, as the job's `State`: the kit
/// builds one holding a generated set of items, runs the job in it, and asks
/// which items were performed.
///
/// ```
/// use jobwire::testing::World;
/// use std::sync::{Arc, Mutex};
///
/// /// Rows by id, and what was performed, shared by every release's router.
/// #[derive(Clone, Default)]
/// struct Rows {
///     ids: Arc<Vec<u64>>,
///     performed: Arc<Mutex<Vec<u64>>>,
/// }
///
/// impl World for Rows {
///     fn with_items(items: &[u64]) -> Self {
///         Rows { ids: Arc::new(items.to_vec()), performed: Arc::default() }
///     }
///     fn performed(&self) -> Vec<u64> {
///         self.performed.lock().map(|p| p.clone()).unwrap_or_default()
///     }
/// }
/// ```
pub trait World: Clone + Send + Sync + 'static {
    /// A world holding `items`: distinct ids, sorted.
    fn with_items(items: &[u64]) -> Self;

    /// Every item performed so far, once per performance.
    fn performed(&self) -> Vec<u64>;

    /// How many times the job's `completed` took effect (a notice sent, a
    /// flag set), when the world can tell; `None` (the default) when it
    /// cannot, and the kit then does not check it. After a finished
    /// payload is delivered again (a lost acknowledgement), the kit expects
    /// 1 here, unless the job declares
    /// [`COMPLETED_IS_IDEMPOTENT`](Iterate::COMPLETED_IS_IDEMPOTENT)
    /// `= false`.
    ///
    /// ```
    /// # use jobwire::testing::World;
    /// # use std::sync::{Arc, Mutex, atomic::{AtomicU64, Ordering}};
    /// #[derive(Clone, Default)]
    /// struct Rows { ids: Arc<Vec<u64>>, performed: Arc<Mutex<Vec<u64>>>, notices: Arc<AtomicU64> }
    /// impl World for Rows {
    ///     # fn with_items(items: &[u64]) -> Self { Rows { ids: Arc::new(items.to_vec()), ..Rows::default() } }
    ///     # fn performed(&self) -> Vec<u64> { self.performed.lock().map(|p| p.clone()).unwrap_or_default() }
    ///     fn completions(&self) -> Option<u64> {
    ///         Some(self.notices.load(Ordering::SeqCst))
    ///     }
    /// }
    /// ```
    fn completions(&self) -> Option<u64> {
        None
    }
}

/// One resumption in a generated run: how many items the dispatch may
/// perform before it is interrupted, and which release runs it. During a
/// deploy the fleet is mixed: a job the next release interrupted may be
/// resumed by a worker of this release, and the other way round.
#[derive(Debug, Clone, Copy)]
pub struct Resumption {
    /// Items this run may perform.
    pub items: u64,
    /// Whether this run is on the next release (`false`: on this one).
    pub next_release: bool,
}

/// Makes a job's arguments for a set of items.
type MakeJob<J> = Box<dyn Fn(&[u64]) -> J>;

/// The exactly-once property of an iterable job `J`, resumed on release `N`
/// (by default, `J` itself).
///
/// For any set of items (sparse ids, or dense runs of consecutive ids) and
/// any sequence of interruption points, where each resumption may happen on
/// either release of a mixed fleet (the next release's cursor upcaster
/// reads this release's cursors, and this release resumes the next
/// release's checkpoints on the same line, or defers them on a newer one),
/// every item is performed exactly once. A cursor that points past an item
/// not yet performed (saved before the item ran), one that a new batch size
/// reads differently, an upcast that loses the position, or a checkpoint
/// one release writes and the other misreads, fails it, shrunk to the
/// fewest items and interruptions that show it.
///
/// Then the finished payload is delivered once more, as a queue does after
/// a lost acknowledgement: the job must settle it without an error, and,
/// when the world counts them ([`World::completions`]), `completed` must
/// have taken effect once.
///
/// ```
/// # use jobwire::iteration::{iterate, Iterate};
/// # use jobwire::testing::{IterationKit, World};
/// # use jobwire::{Context, HandlerError, Job, NoPrevious};
/// # use std::sync::{Arc, Mutex};
/// # #[derive(Clone, Default)] struct Rows { ids: Arc<Vec<u64>>, performed: Arc<Mutex<Vec<u64>>> }
/// # impl World for Rows {
/// #     fn with_items(items: &[u64]) -> Self { Rows { ids: Arc::new(items.to_vec()), performed: Arc::default() } }
/// #     fn performed(&self) -> Vec<u64> { self.performed.lock().map(|p| p.clone()).unwrap_or_default() }
/// # }
/// #[derive(Debug, serde::Serialize, serde::Deserialize)]
/// struct Touch {}
/// # impl Job for Touch {
/// #     const NAME: &'static str = "touch";
/// #     const VERSION: semver::Version = semver::Version::new(1, 0, 0);
/// #     type Previous = NoPrevious; type State = Rows; type Data = ();
/// #     async fn perform(self, ctx: &mut Context<'_, Rows>) -> Result<(), HandlerError> { iterate(self, ctx).await }
/// # }
/// impl Iterate for Touch {
///     type Cursor = u64;
///     type Item = u64;
///     async fn next_items(&self, after: Option<&u64>, ctx: &mut Context<'_, Rows>) -> Result<Vec<(u64, u64)>, HandlerError> {
///         let ids = ctx.state().ids.iter().filter(|id| after.is_none_or(|a| *id > a));
///         Ok(ids.take(7).map(|id| (*id, *id)).collect())
///     }
///     async fn each(&self, id: u64, ctx: &mut Context<'_, Rows>) -> Result<(), HandlerError> {
///         ctx.state().performed.lock().map_err(|_| HandlerError::permanent("poisoned"))?.push(id);
///         Ok(())
///     }
/// }
///
/// IterationKit::new(|_items: &[u64]| Touch {}).cases(32).check();
/// ```
pub struct IterationKit<J, N = J> {
    job: MakeJob<J>,
    cases: u32,
    persist: &'static str,
    max_items: usize,
    next: PhantomData<fn() -> N>,
}

impl<J> IterationKit<J, J>
where
    J: Iterate + Debug,
    J::State: World,
{
    /// The property for `J`, whose arguments for a set of items `job` makes.
    ///
    /// ```
    /// # use jobwire::testing::IterationKit;
    /// # fn demo<J: jobwire::iteration::Iterate + std::fmt::Debug>(make: fn(&[u64]) -> J) where J::State: jobwire::testing::World {
    /// let kit = IterationKit::new(make);
    /// # }
    /// ```
    pub fn new(job: impl Fn(&[u64]) -> J + 'static) -> Self {
        IterationKit {
            job: Box::new(job),
            cases: 128,
            persist: "proptest-regressions/jobwire-iteration.txt",
            max_items: 120,
            next: PhantomData,
        }
    }
}

impl<J, N> IterationKit<J, N>
where
    J: Iterate + Debug,
    J::State: World,
    N: Iterate<State = J::State>,
{
    /// Lets resumptions happen on the next release, `M`: its job reads what
    /// `J` writes (through its upcasters, and its cursor upcaster from an
    /// older line), in the same world.
    ///
    /// ```
    /// # use jobwire::testing::IterationKit;
    /// # fn demo<J, M>(kit: IterationKit<J>) where J: jobwire::iteration::Iterate + std::fmt::Debug, J::State: jobwire::testing::World, M: jobwire::iteration::Iterate<State = J::State> {
    /// let kit = kit.next_release::<M>();
    /// # }
    /// ```
    pub fn next_release<M: Iterate<State = J::State>>(self) -> IterationKit<J, M> {
        IterationKit {
            job: self.job,
            cases: self.cases,
            persist: self.persist,
            max_items: self.max_items,
            next: PhantomData,
        }
    }

    /// How many cases to run (default 128).
    ///
    /// ```
    /// # fn demo<J: jobwire::iteration::Iterate + std::fmt::Debug>(kit: jobwire::testing::IterationKit<J>) where J::State: jobwire::testing::World {
    /// let kit = kit.cases(512);
    /// # }
    /// ```
    pub fn cases(mut self, cases: u32) -> Self {
        self.cases = cases;
        self
    }

    /// The most items a generated world holds (default 120).
    ///
    /// ```
    /// # fn demo<J: jobwire::iteration::Iterate + std::fmt::Debug>(kit: jobwire::testing::IterationKit<J>) where J::State: jobwire::testing::World {
    /// let kit = kit.max_items(1_000);
    /// # }
    /// ```
    pub fn max_items(mut self, items: usize) -> Self {
        self.max_items = items.max(1);
        self
    }

    /// Where a failing case's seed is saved (default
    /// `proptest-regressions/jobwire-iteration.txt`).
    ///
    /// ```
    /// # fn demo<J: jobwire::iteration::Iterate + std::fmt::Debug>(kit: jobwire::testing::IterationKit<J>) where J::State: jobwire::testing::World {
    /// let kit = kit.persist_to("proptest-regressions/backfill.txt");
    /// # }
    /// ```
    pub fn persist_to(mut self, path: &'static str) -> Self {
        self.persist = path;
        self
    }

    /// Runs the property; panics with the shrunk counterexample.
    ///
    /// ```no_run
    /// # fn demo<J: jobwire::iteration::Iterate + std::fmt::Debug>(kit: jobwire::testing::IterationKit<J>) where J::State: jobwire::testing::World {
    /// kit.check();
    /// # }
    /// ```
    #[track_caller]
    pub fn check(self) {
        if let Err(failures) = self.try_check() {
            panic!("jobwire kit: {failures}");
        }
    }

    /// Runs the property; returns the shrunk counterexample.
    ///
    /// ```no_run
    /// # fn demo<J: jobwire::iteration::Iterate + std::fmt::Debug>(kit: jobwire::testing::IterationKit<J>) where J::State: jobwire::testing::World {
    /// if let Err(failures) = kit.try_check() {
    ///     eprintln!("{failures}");
    /// }
    /// # }
    /// ```
    pub fn try_check(self) -> Result<(), Failures> {
        let property = if std::any::TypeId::of::<J>() == std::any::TypeId::of::<N>() {
            format!(
                "job `{}` {}: every item performed exactly once, whatever the interruptions",
                J::NAME,
                J::VERSION
            )
        } else {
            format!(
                "job `{}` {}, resumed on {}: every item performed exactly once, whatever the interruptions and whichever release resumes",
                J::NAME,
                J::VERSION,
                N::VERSION
            )
        };
        // Interruptions first: a tuple shrinks its parts in order, and the
        // items shrink best once the interruptions are few.
        let strategy = (
            vec(
                (1u64..30, any::<bool>()).prop_map(|(items, next_release)| Resumption {
                    items,
                    next_release,
                }),
                0..10,
            ),
            prop_oneof![
                vec(0u64..100_000, 0..=self.max_items).prop_map(|mut items| {
                    items.sort_unstable();
                    items.dedup();
                    items
                }),
                // Consecutive ids: a cursor one id off shows on every case.
                (0u64..1_000, 0..=self.max_items as u64)
                    .prop_map(|(start, count)| (start..start + count).collect::<Vec<u64>>()),
            ],
        );
        let config = Config {
            cases: self.cases,
            failure_persistence: Some(Box::new(FileFailurePersistence::Direct(self.persist))),
            // Enough to delete items and interruptions one by one.
            max_shrink_iters: 20_000,
            ..Config::default()
        };
        let job = &self.job;
        let result = quietly(|| {
            TestRunner::new(config).run(&strategy, |(plan, items)| {
                exactly_once::<J, N>(job(&items), &items, &plan)
            })
        });
        match result {
            Ok(()) => Ok(()),
            Err(TestError::Fail(reason, input)) => Err(Failures(vec![Failure {
                property,
                reason: reason.to_string(),
                input: format!("resumptions {:?}, items {:?}", input.0, input.1),
            }])),
            Err(TestError::Abort(reason)) => Err(Failures(vec![Failure {
                property,
                reason: format!("aborted: {reason}"),
                input: String::new(),
            }])),
        }
    }
}

/// One case: run the job through the plan, then to its end, and count.
fn exactly_once<J, N>(job: J, items: &[u64], plan: &[Resumption]) -> Result<(), TestCaseError>
where
    J: Iterate + Debug,
    J::State: World,
    N: Iterate<State = J::State>,
{
    let world = J::State::with_items(items);
    let this = Router::builder()
        .job::<J>()
        .state(world.clone())
        .build()
        .map_err(|e| TestCaseError::fail(format!("release N's router: {e}")))?;
    let next = Router::builder()
        .job::<N>()
        .state(world.clone())
        .build()
        .map_err(|e| TestCaseError::fail(format!("release N+1's router: {e}")))?;
    let mut payload = Producer::new(WritePolicy::Current)
        .without_stamps()
        .seal(&job)
        .map_err(|e| TestCaseError::fail(format!("sealing {job:?}: {e}")))?;
    let mut story = Vec::new();
    // The plan's interruptions, then runs without a budget until the end
    // (each at least one item, so this ends), on the release of the last
    // planned run.
    let last = plan.last().is_some_and(|step| step.next_release);
    let runs = plan
        .iter()
        .map(|step| (Some(step.items), step.next_release))
        .chain(std::iter::repeat_n((None, last), items.len() + 2));
    for (budget, mut on_next) in runs {
        let outcome = loop {
            let router = if on_next { &next } else { &this };
            let mut delivery = Delivery::new();
            if let Some(budget) = budget {
                delivery = delivery.with_item_budget(budget);
            }
            let outcome = router
                .dispatch_blocking(&payload, &mut delivery)
                .into_owned();
            match outcome {
                // A checkpoint on a line only the next release reads waits
                // for one of its workers, as the queue would have it.
                Outcome::Deferred(_) if !on_next => {
                    story.push("N: deferred".to_owned());
                    on_next = true;
                }
                other => break other,
            }
        };
        let release = if on_next { "N+1" } else { "N" };
        match outcome {
            Outcome::Performed(_) => {
                story.push(format!("{release}: completed"));
                count(items, &world.performed(), &story)?;
                let router = if on_next { &next } else { &this };
                return redelivered::<J>(router, &payload, &world, &story);
            }
            Outcome::Interrupted(stopped) => {
                let progress = Header::read(&stopped.payload).ok().and_then(|h| {
                    h.progress()
                        .map(|p| (p.items(), p.cursor_json().to_owned()))
                });
                story.push(format!("{release}: interrupted at {progress:?}"));
                payload = stopped.payload.into_owned();
            }
            other => {
                return Err(TestCaseError::fail(format!(
                    "after {story:?}, release {release} gave {}: {:?}",
                    other.label(),
                    other
                )))
            }
        }
    }
    Err(TestCaseError::fail(format!(
        "the job never completed: {story:?}"
    )))
}

/// The finished payload, delivered again (its acknowledgement was lost): it
/// must settle without an error, and `completed` must not take effect twice
/// unless the job says it may.
fn redelivered<J>(
    router: &Router,
    payload: &[u8],
    world: &J::State,
    story: &[String],
) -> Result<(), TestCaseError>
where
    J: Iterate,
    J::State: World,
{
    let before = world.completions();
    let outcome = router.dispatch_blocking(payload, &mut Delivery::new());
    if !outcome.is_performed() {
        return Err(TestCaseError::fail(format!(
            "the finished payload, delivered again (a lost acknowledgement), gave {}: {outcome:?}, after {story:?}",
            outcome.label()
        )));
    }
    if !J::COMPLETED_IS_IDEMPOTENT {
        return Ok(());
    }
    match (before, world.completions()) {
        (Some(first), Some(then)) if first != then => Err(TestCaseError::fail(format!(
            "`completed` took effect {first} time(s) at the end and {then} after the finished payload was delivered again (a lost acknowledgement): make it idempotent (key its effect by `ctx.task_id()` or the job's arguments), or declare `COMPLETED_IS_IDEMPOTENT = false`; after {story:?}"
        ))),
        _ => Ok(()),
    }
}

/// Every item once: none skipped, none twice.
fn count(items: &[u64], performed: &[u64], story: &[String]) -> Result<(), TestCaseError> {
    let mut times: BTreeMap<u64, usize> = items.iter().map(|id| (*id, 0)).collect();
    for id in performed {
        match times.get_mut(id) {
            Some(n) => *n += 1,
            None => {
                return Err(TestCaseError::fail(format!(
                    "item {id} was performed, but it is not in the world ({story:?})"
                )))
            }
        }
    }
    let skipped: Vec<u64> = times
        .iter()
        .filter(|(_, n)| **n == 0)
        .map(|(id, _)| *id)
        .collect();
    let twice: Vec<u64> = times
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(id, _)| *id)
        .collect();
    if skipped.is_empty() && twice.is_empty() {
        Ok(())
    } else {
        Err(TestCaseError::fail(format!(
            "skipped {skipped:?}, performed more than once {twice:?}, after {story:?}"
        )))
    }
}

/// The cursor round-trip property: any cursor `strategy` makes, written
/// into a payload's progress and read back as the job reads it, is equal to
/// what was written. A cursor whose type does not survive JSON (a time that
/// comes back as a string, a float that loses precision, a map whose keys
/// change type) fails it, shrunk.
///
/// ```
/// # use jobwire::iteration::{iterate, Iterate};
/// # use jobwire::{Context, HandlerError, Job, NoPrevious};
/// # use proptest::prelude::*;
/// # #[derive(serde::Serialize, serde::Deserialize)] struct Sweep {}
/// # impl Job for Sweep {
/// #     const NAME: &'static str = "sweep";
/// #     const VERSION: semver::Version = semver::Version::new(1, 0, 0);
/// #     type Previous = NoPrevious; type State = (); type Data = ();
/// #     async fn perform(self, ctx: &mut Context<'_>) -> Result<(), HandlerError> { iterate(self, ctx).await }
/// # }
/// # impl Iterate for Sweep {
/// #     type Cursor = (std::time::SystemTime, u64); type Item = u64;
/// #     async fn next_items(&self, _: Option<&Self::Cursor>, _: &mut Context<'_>) -> Result<Vec<(u64, Self::Cursor)>, HandlerError> { Ok(vec![]) }
/// #     async fn each(&self, _: u64, _: &mut Context<'_>) -> Result<(), HandlerError> { Ok(()) }
/// # }
/// let cursors = (any::<u32>(), any::<u64>()).prop_map(|(secs, id)| {
///     (std::time::UNIX_EPOCH + std::time::Duration::new(u64::from(secs), 7), id)
/// });
/// jobwire::testing::assert_cursor_round_trip::<Sweep>(cursors, 64);
/// ```
#[track_caller]
pub fn assert_cursor_round_trip<J>(strategy: impl Strategy<Value = J::Cursor>, cases: u32)
where
    J: Iterate,
    J::Cursor: PartialEq + Debug,
{
    let config = Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    };
    let envelope = format!(
        r#"{{"job":"{}","version":"{}","args":{{}}}}"#,
        J::NAME,
        J::VERSION
    );
    let result = TestRunner::new(config).run(&strategy, |cursor| {
        let json = serde_json::to_string(&cursor)
            .map_err(|e| TestCaseError::fail(format!("the cursor does not serialize: {e}")))?;
        let progress = Progress::new(Some(json.as_str().into()), 1, 0, 0);
        let payload = rewrite_progress(envelope.as_bytes(), &progress)
            .map_err(|e| TestCaseError::fail(format!("writing the progress: {e}")))?;
        let header = Header::read(&payload)
            .map_err(|e| TestCaseError::fail(format!("reading the payload back: {e}")))?;
        let text = header
            .progress()
            .map(Progress::cursor_json)
            .unwrap_or("null");
        let back: J::Cursor = serde_json::from_str(text).map_err(|e| {
            TestCaseError::fail(format!("written as {text}, it reads back as an error: {e}"))
        })?;
        if back == cursor {
            Ok(())
        } else {
            Err(TestCaseError::fail(format!(
                "written as {text}, it reads back as {back:?}"
            )))
        }
    });
    if let Err(error) = result {
        panic!(
            "jobwire kit: the cursor of job `{}` {} does not survive the round trip: {error}",
            J::NAME,
            J::VERSION
        );
    }
}

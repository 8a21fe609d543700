//! Property tests for your jobs' upgrades (feature `testing`).
//!
//! A payload change is safe when every payload old code could have written is
//! performed by new code, and every payload new code writes is readable by old
//! code. [`Kit`] checks that over the whole space of payloads your proptest
//! strategies describe, and shrinks a failure to the smallest payload that
//! breaks:
//!
//! - **(a)** every payload of every older line you name reaches the current
//!   type through the upcast chain ([`Kit::older`], [`Kit::older_json`]);
//! - **(b)** every payload the current code writes, under each
//!   [`WritePolicy`], is readable by the previous release
//!   ([`Kit::previous_release`]);
//! - **(c)** sealing a value and reading it back gives an equal value
//!   (always checked);
//! - **(d)** a payload from a newer minor version, carrying fields this
//!   release does not know, still reads (always checked: it catches an
//!   accidental `deny_unknown_fields`);
//! - **(e)** a downcast declared lossless round-trips
//!   ([`Kit::lossless_downcast`]).
//!
//! Add jobwire with the feature to your dev-dependencies:
//!
//! ```toml
//! [dev-dependencies]
//! jobwire = { version = "0.1", features = ["testing"] }
//! proptest = "1"
//! ```
//!
//! A failing case's seed is saved under `proptest-regressions/` (see
//! [`Kit::persist_to`]) and replayed first on the next run; commit that folder.
//!
//! The pieces the kit is made of are public too: [`Reader`] reads payloads
//! as a release would, without performing them, and [`strategy`] has the
//! generators.

mod reader;
pub mod strategy;

pub use reader::{envelope, Reader};

use crate::wire::Line;
use crate::{Downcast, Job, JsonUpcast, Outcome, Producer, Upcast, WritePolicy};
use proptest::strategy::{BoxedStrategy, Strategy};
use proptest::test_runner::{Config, FileFailurePersistence, TestCaseError, TestError, TestRunner};
use semver::Version;
use serde::Serialize;
use serde_json::Value;
use std::fmt::{self, Debug};

type Check = Box<dyn Fn(Config) -> Result<(), Failure>>;

/// One-call property tests for a job's upgrades. See the [module
/// docs](self) for what each check promises.
///
/// ```
/// use jobwire::testing::Kit;
/// use jobwire::{Context, HandlerError, Job, NoPrevious};
/// use proptest::prelude::*;
/// use semver::Version;
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
/// struct Ping { n: u32 }
///
/// impl Job for Ping {
///     const NAME: &'static str = "ping";
///     const VERSION: Version = Version::new(1, 0, 0);
///     type Previous = NoPrevious;
///     type State = ();
///     type Data = ();
///     async fn perform(self, _: &mut Context<'_>) -> Result<(), HandlerError> { Ok(()) }
/// }
///
/// Kit::new(any::<u32>().prop_map(|n| Ping { n })).cases(32).check();
/// ```
#[must_use = "a kit checks nothing until `check` is called"]
pub struct Kit<J> {
    cases: u32,
    persist: &'static str,
    checks: Vec<(String, Check)>,
    current: BoxedStrategy<J>,
}

/// A property the kit found broken, with the smallest input that breaks it.
///
/// ```
/// let failure = jobwire::testing::Failure {
///     property: "(a) job `ping`: every 1.x payload upcasts to 2.0.0".into(),
///     reason: "rejected: ...".into(),
///     input: "PingV1 { n: 0 }".into(),
/// };
/// assert!(failure.to_string().contains("minimal failing input: PingV1 { n: 0 }"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// Which property, naming the job and the versions.
    pub property: String,
    /// What went wrong for the smallest failing input.
    pub reason: String,
    /// The smallest failing input, as `Debug` shows it.
    pub input: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}\n  failed: {}\n  minimal failing input: {}",
            self.property, self.reason, self.input
        )
    }
}

impl std::error::Error for Failure {}

impl<J> Kit<J>
where
    J: Job + Debug + Clone + PartialEq,
{
    /// A kit for `J`, with a strategy for its current arguments. Checks (c)
    /// and (d) are always part of it.
    ///
    /// ```
    /// # use jobwire::{testing::Kit, Context, HandlerError, Job, NoPrevious};
    /// # use proptest::prelude::*;
    /// # #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)] struct Ping { n: u16 }
    /// # impl Job for Ping {
    /// #     const NAME: &'static str = "ping";
    /// #     const VERSION: semver::Version = semver::Version::new(1, 0, 0);
    /// #     type Previous = NoPrevious;
    /// #     type State = (); type Data = ();
    /// #     async fn perform(self, _: &mut Context<'_>) -> Result<(), HandlerError> { Ok(()) }
    /// # }
    /// # let pings = any::<u16>().prop_map(|n| Ping { n });
    /// Kit::new(pings).cases(16).check();
    /// ```
    pub fn new(current: impl Strategy<Value = J> + 'static) -> Self {
        let mut kit = Kit {
            cases: 256,
            persist: "proptest-regressions/jobwire-kit.txt",
            checks: Vec::new(),
            current: current.boxed(),
        };
        kit.add_round_trip();
        kit.add_forward_compatible();
        kit
    }

    /// How many cases each property tries (default 256).
    ///
    /// ```
    /// # use jobwire::{testing::Kit, Context, HandlerError, Job, NoPrevious};
    /// # use proptest::prelude::*;
    /// # #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)] struct Ping { n: u16 }
    /// # impl Job for Ping {
    /// #     const NAME: &'static str = "ping";
    /// #     const VERSION: semver::Version = semver::Version::new(1, 0, 0);
    /// #     type Previous = NoPrevious;
    /// #     type State = (); type Data = ();
    /// #     async fn perform(self, _: &mut Context<'_>) -> Result<(), HandlerError> { Ok(()) }
    /// # }
    /// # let pings = any::<u16>().prop_map(|n| Ping { n });
    /// Kit::new(pings).cases(8).check();
    /// ```
    pub fn cases(mut self, cases: u32) -> Self {
        self.cases = cases;
        self
    }

    /// Where failing seeds are saved and replayed from, relative to the
    /// package root (default `proptest-regressions/jobwire-kit.txt`).
    ///
    /// ```
    /// # use jobwire::*;
    /// # use jobwire::testing::*;
    /// # use proptest::prelude::*;
    /// # use semver::Version;
    /// # #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)] struct PingV1 { n: u8 }
    /// # #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)] struct Ping { n: u16 }
    /// # impl Upcast for PingV1 {
    /// #     const VERSION: Version = Version::new(1, 0, 0);
    /// #     type Next = Ping; type Previous = Json<PingV0>;
    /// #     fn upcast(self) -> Result<Ping, UpcastError> { Ok(Ping { n: self.n.into() }) }
    /// # }
    /// # impl Downcast for PingV1 {
    /// #     const LOSSLESS: bool = true;
    /// #     fn downcast(p: &Ping) -> Result<PingV1, DowncastError> { Ok(PingV1 { n: u8::try_from(p.n)? }) }
    /// # }
    /// # impl Job for Ping {
    /// #     const NAME: &'static str = "ping";
    /// #     const VERSION: Version = Version::new(2, 0, 0);
    /// #     type Previous = BreakingChange<PingV1>;
    /// #     type State = (); type Data = ();
    /// #     async fn perform(self, _: &mut Context<'_>) -> Result<(), HandlerError> { Ok(()) }
    /// # }
    /// # impl Job for PingV1 {
    /// #     const NAME: &'static str = "ping";
    /// #     const VERSION: Version = Version::new(1, 0, 0);
    /// #     type Previous = NoPrevious;
    /// #     type State = (); type Data = ();
    /// #     async fn perform(self, _: &mut Context<'_>) -> Result<(), HandlerError> { Ok(()) }
    /// # }
    /// # enum PingV0 {}
    /// # impl JsonUpcast for PingV0 {
    /// #     const VERSION: Version = Version::new(0, 1, 0);
    /// #     type Previous = NoPrevious;
    /// #     fn upcast(_: &mut JsonArgs<'_>) -> Result<(), UpcastError> { Ok(()) }
    /// # }
    /// # let pings = (0..=255u16).prop_map(|n| Ping { n });
    /// let kit = Kit::new(pings).persist_to("proptest-regressions/ping.txt");
    /// # drop(kit);
    /// ```
    pub fn persist_to(mut self, path: &'static str) -> Self {
        self.persist = path;
        self
    }

    /// (a) Every payload of the older line `P` (any version on it) reaches the
    /// current type through the upcast chain, without error.
    ///
    /// ```
    /// # use jobwire::*;
    /// # use jobwire::testing::*;
    /// # use proptest::prelude::*;
    /// # use semver::Version;
    /// # #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)] struct PingV1 { n: u8 }
    /// # #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)] struct Ping { n: u16 }
    /// # impl Upcast for PingV1 {
    /// #     const VERSION: Version = Version::new(1, 0, 0);
    /// #     type Next = Ping; type Previous = Json<PingV0>;
    /// #     fn upcast(self) -> Result<Ping, UpcastError> { Ok(Ping { n: self.n.into() }) }
    /// # }
    /// # impl Downcast for PingV1 {
    /// #     const LOSSLESS: bool = true;
    /// #     fn downcast(p: &Ping) -> Result<PingV1, DowncastError> { Ok(PingV1 { n: u8::try_from(p.n)? }) }
    /// # }
    /// # impl Job for Ping {
    /// #     const NAME: &'static str = "ping";
    /// #     const VERSION: Version = Version::new(2, 0, 0);
    /// #     type Previous = BreakingChange<PingV1>;
    /// #     type State = (); type Data = ();
    /// #     async fn perform(self, _: &mut Context<'_>) -> Result<(), HandlerError> { Ok(()) }
    /// # }
    /// # impl Job for PingV1 {
    /// #     const NAME: &'static str = "ping";
    /// #     const VERSION: Version = Version::new(1, 0, 0);
    /// #     type Previous = NoPrevious;
    /// #     type State = (); type Data = ();
    /// #     async fn perform(self, _: &mut Context<'_>) -> Result<(), HandlerError> { Ok(()) }
    /// # }
    /// # enum PingV0 {}
    /// # impl JsonUpcast for PingV0 {
    /// #     const VERSION: Version = Version::new(0, 1, 0);
    /// #     type Previous = NoPrevious;
    /// #     fn upcast(_: &mut JsonArgs<'_>) -> Result<(), UpcastError> { Ok(()) }
    /// # }
    /// # let pings = (0..=255u16).prop_map(|n| Ping { n });
    /// Kit::new(pings).older(any::<u8>().prop_map(|n| PingV1 { n })).cases(16).check();
    /// ```
    pub fn older<P>(self, strategy: impl Strategy<Value = P> + 'static) -> Self
    where
        P: Upcast + Serialize + Debug + Clone,
    {
        let property = format!(
            "(a) job `{}`: every {} payload upcasts to {}",
            J::NAME,
            Line::of(&P::VERSION),
            J::VERSION
        );
        let strategy = (strategy, strategy::version_on_line(&P::VERSION)).boxed();
        self.push(property, strategy, |(old, version): (P, Version)| {
            reaches_current::<J>(&old, &version)
        })
    }

    /// (a) for a line whose Rust type was deleted: every payload of the JSON
    /// line `M` reaches the current type.
    ///
    /// ```
    /// # use jobwire::*;
    /// # use jobwire::testing::*;
    /// # use proptest::prelude::*;
    /// # use semver::Version;
    /// # #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)] struct PingV1 { n: u8 }
    /// # #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)] struct Ping { n: u16 }
    /// # impl Upcast for PingV1 {
    /// #     const VERSION: Version = Version::new(1, 0, 0);
    /// #     type Next = Ping; type Previous = Json<PingV0>;
    /// #     fn upcast(self) -> Result<Ping, UpcastError> { Ok(Ping { n: self.n.into() }) }
    /// # }
    /// # impl Downcast for PingV1 {
    /// #     const LOSSLESS: bool = true;
    /// #     fn downcast(p: &Ping) -> Result<PingV1, DowncastError> { Ok(PingV1 { n: u8::try_from(p.n)? }) }
    /// # }
    /// # impl Job for Ping {
    /// #     const NAME: &'static str = "ping";
    /// #     const VERSION: Version = Version::new(2, 0, 0);
    /// #     type Previous = BreakingChange<PingV1>;
    /// #     type State = (); type Data = ();
    /// #     async fn perform(self, _: &mut Context<'_>) -> Result<(), HandlerError> { Ok(()) }
    /// # }
    /// # impl Job for PingV1 {
    /// #     const NAME: &'static str = "ping";
    /// #     const VERSION: Version = Version::new(1, 0, 0);
    /// #     type Previous = NoPrevious;
    /// #     type State = (); type Data = ();
    /// #     async fn perform(self, _: &mut Context<'_>) -> Result<(), HandlerError> { Ok(()) }
    /// # }
    /// # enum PingV0 {}
    /// # impl JsonUpcast for PingV0 {
    /// #     const VERSION: Version = Version::new(0, 1, 0);
    /// #     type Previous = NoPrevious;
    /// #     fn upcast(_: &mut JsonArgs<'_>) -> Result<(), UpcastError> { Ok(()) }
    /// # }
    /// # let pings = (0..=255u16).prop_map(|n| Ping { n });
    /// let v0 = any::<u8>().prop_map(|n| serde_json::json!({ "n": n }));
    /// Kit::new(pings).older_json::<PingV0>(v0).cases(16).check();
    /// ```
    pub fn older_json<M: JsonUpcast>(
        self,
        strategy: impl Strategy<Value = Value> + 'static,
    ) -> Self {
        let property = format!(
            "(a) job `{}`: every {} payload (JSON upcaster) upcasts to {}",
            J::NAME,
            Line::of(&M::VERSION),
            J::VERSION
        );
        let strategy = (strategy, strategy::version_on_line(&M::VERSION)).boxed();
        self.push(property, strategy, |(old, version): (Value, Version)| {
            reaches_current::<J>(&old, &version)
        })
    }

    /// (b) Every payload the current code writes is readable by the previous
    /// release, whose type for this job is `P`: performed under
    /// [`WritePolicy::Previous`]; performed or deferred, never rejected, under
    /// [`WritePolicy::Current`].
    ///
    /// ```
    /// # use jobwire::*;
    /// # use jobwire::testing::*;
    /// # use proptest::prelude::*;
    /// # use semver::Version;
    /// # #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)] struct PingV1 { n: u8 }
    /// # #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)] struct Ping { n: u16 }
    /// # impl Upcast for PingV1 {
    /// #     const VERSION: Version = Version::new(1, 0, 0);
    /// #     type Next = Ping; type Previous = Json<PingV0>;
    /// #     fn upcast(self) -> Result<Ping, UpcastError> { Ok(Ping { n: self.n.into() }) }
    /// # }
    /// # impl Downcast for PingV1 {
    /// #     const LOSSLESS: bool = true;
    /// #     fn downcast(p: &Ping) -> Result<PingV1, DowncastError> { Ok(PingV1 { n: u8::try_from(p.n)? }) }
    /// # }
    /// # impl Job for Ping {
    /// #     const NAME: &'static str = "ping";
    /// #     const VERSION: Version = Version::new(2, 0, 0);
    /// #     type Previous = BreakingChange<PingV1>;
    /// #     type State = (); type Data = ();
    /// #     async fn perform(self, _: &mut Context<'_>) -> Result<(), HandlerError> { Ok(()) }
    /// # }
    /// # impl Job for PingV1 {
    /// #     const NAME: &'static str = "ping";
    /// #     const VERSION: Version = Version::new(1, 0, 0);
    /// #     type Previous = NoPrevious;
    /// #     type State = (); type Data = ();
    /// #     async fn perform(self, _: &mut Context<'_>) -> Result<(), HandlerError> { Ok(()) }
    /// # }
    /// # enum PingV0 {}
    /// # impl JsonUpcast for PingV0 {
    /// #     const VERSION: Version = Version::new(0, 1, 0);
    /// #     type Previous = NoPrevious;
    /// #     fn upcast(_: &mut JsonArgs<'_>) -> Result<(), UpcastError> { Ok(()) }
    /// # }
    /// # let pings = (0..=255u16).prop_map(|n| Ping { n });
    /// Kit::new(any::<u8>().prop_map(|n| Ping { n: n.into() })).previous_release::<PingV1>().cases(16).check();
    /// ```
    pub fn previous_release<P: Job + Debug>(self) -> Self {
        self.previous_release_matching::<P>(|_, _| true)
    }

    /// (b), and `same(current, previous)` must hold for what the previous
    /// release reads.
    ///
    /// ```
    /// # use jobwire::*;
    /// # use jobwire::testing::*;
    /// # use proptest::prelude::*;
    /// # use semver::Version;
    /// # #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)] struct PingV1 { n: u8 }
    /// # #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)] struct Ping { n: u16 }
    /// # impl Upcast for PingV1 {
    /// #     const VERSION: Version = Version::new(1, 0, 0);
    /// #     type Next = Ping; type Previous = Json<PingV0>;
    /// #     fn upcast(self) -> Result<Ping, UpcastError> { Ok(Ping { n: self.n.into() }) }
    /// # }
    /// # impl Downcast for PingV1 {
    /// #     const LOSSLESS: bool = true;
    /// #     fn downcast(p: &Ping) -> Result<PingV1, DowncastError> { Ok(PingV1 { n: u8::try_from(p.n)? }) }
    /// # }
    /// # impl Job for Ping {
    /// #     const NAME: &'static str = "ping";
    /// #     const VERSION: Version = Version::new(2, 0, 0);
    /// #     type Previous = BreakingChange<PingV1>;
    /// #     type State = (); type Data = ();
    /// #     async fn perform(self, _: &mut Context<'_>) -> Result<(), HandlerError> { Ok(()) }
    /// # }
    /// # impl Job for PingV1 {
    /// #     const NAME: &'static str = "ping";
    /// #     const VERSION: Version = Version::new(1, 0, 0);
    /// #     type Previous = NoPrevious;
    /// #     type State = (); type Data = ();
    /// #     async fn perform(self, _: &mut Context<'_>) -> Result<(), HandlerError> { Ok(()) }
    /// # }
    /// # enum PingV0 {}
    /// # impl JsonUpcast for PingV0 {
    /// #     const VERSION: Version = Version::new(0, 1, 0);
    /// #     type Previous = NoPrevious;
    /// #     fn upcast(_: &mut JsonArgs<'_>) -> Result<(), UpcastError> { Ok(()) }
    /// # }
    /// # let pings = (0..=255u16).prop_map(|n| Ping { n });
    /// Kit::new(any::<u8>().prop_map(|n| Ping { n: n.into() }))
    ///     .previous_release_matching::<PingV1>(|new, old| new.n == u16::from(old.n))
    ///     .cases(16)
    ///     .check();
    /// ```
    pub fn previous_release_matching<P: Job + Debug>(
        self,
        same: impl Fn(&J, &P) -> bool + 'static,
    ) -> Self {
        let property = format!(
            "(b) job `{}` {}: what it writes is readable by the previous release's `{}` {}",
            J::NAME,
            J::VERSION,
            P::NAME,
            P::VERSION
        );
        let strategy = self.current.clone();
        self.push(property, strategy, move |job: J| {
            let previous = reader::<P>()?;
            for policy in [WritePolicy::Previous, WritePolicy::Current] {
                let payload = Producer::new(policy).seal(&job).map_err(|e| {
                    TestCaseError::fail(format!("sealing under \"{}\": {e}", policy.as_str()))
                })?;
                match (policy, previous.read(&payload)) {
                    (_, Ok((old, _))) if same(&job, &old) => {}
                    (_, Ok((old, _))) => {
                        return Err(TestCaseError::fail(format!(
                            "under \"{}\" the previous release read {old:?}, which does not match",
                            policy.as_str()
                        )))
                    }
                    (WritePolicy::Current, Err(Outcome::Deferred(_))) => {}
                    (_, Err(outcome)) => {
                        return Err(TestCaseError::fail(format!(
                            "under \"{}\": {}",
                            policy.as_str(),
                            describe(&outcome)
                        )))
                    }
                }
            }
            Ok(())
        })
    }

    /// (e) `P`'s downcast, declared lossless, round-trips: upcasting the
    /// downcast of a value gives the value back. Fails at once if `P` does
    /// not declare `LOSSLESS`.
    ///
    /// ```
    /// # use jobwire::*;
    /// # use jobwire::testing::*;
    /// # use proptest::prelude::*;
    /// # use semver::Version;
    /// # #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)] struct PingV1 { n: u8 }
    /// # #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)] struct Ping { n: u16 }
    /// # impl Upcast for PingV1 {
    /// #     const VERSION: Version = Version::new(1, 0, 0);
    /// #     type Next = Ping; type Previous = Json<PingV0>;
    /// #     fn upcast(self) -> Result<Ping, UpcastError> { Ok(Ping { n: self.n.into() }) }
    /// # }
    /// # impl Downcast for PingV1 {
    /// #     const LOSSLESS: bool = true;
    /// #     fn downcast(p: &Ping) -> Result<PingV1, DowncastError> { Ok(PingV1 { n: u8::try_from(p.n)? }) }
    /// # }
    /// # impl Job for Ping {
    /// #     const NAME: &'static str = "ping";
    /// #     const VERSION: Version = Version::new(2, 0, 0);
    /// #     type Previous = BreakingChange<PingV1>;
    /// #     type State = (); type Data = ();
    /// #     async fn perform(self, _: &mut Context<'_>) -> Result<(), HandlerError> { Ok(()) }
    /// # }
    /// # impl Job for PingV1 {
    /// #     const NAME: &'static str = "ping";
    /// #     const VERSION: Version = Version::new(1, 0, 0);
    /// #     type Previous = NoPrevious;
    /// #     type State = (); type Data = ();
    /// #     async fn perform(self, _: &mut Context<'_>) -> Result<(), HandlerError> { Ok(()) }
    /// # }
    /// # enum PingV0 {}
    /// # impl JsonUpcast for PingV0 {
    /// #     const VERSION: Version = Version::new(0, 1, 0);
    /// #     type Previous = NoPrevious;
    /// #     fn upcast(_: &mut JsonArgs<'_>) -> Result<(), UpcastError> { Ok(()) }
    /// # }
    /// # let pings = (0..=255u16).prop_map(|n| Ping { n });
    /// Kit::new(any::<u8>().prop_map(|n| Ping { n: n.into() })).lossless_downcast::<PingV1>().cases(16).check();
    /// ```
    pub fn lossless_downcast<P>(self) -> Self
    where
        P: Downcast<Next = J>,
    {
        let property = format!(
            "(e) job `{}`: downcast to {} and upcast back to {} is lossless",
            J::NAME,
            P::VERSION,
            J::VERSION
        );
        let strategy = self.current.clone();
        self.push(property, strategy, move |job: J| {
            if !P::LOSSLESS {
                return Err(TestCaseError::fail(
                    "the downcast does not declare `LOSSLESS = true`",
                ));
            }
            let old =
                P::downcast(&job).map_err(|e| TestCaseError::fail(format!("downcast: {e}")))?;
            let back = old
                .upcast()
                .map_err(|e| TestCaseError::fail(format!("upcast: {e}")))?;
            if back == job {
                Ok(())
            } else {
                Err(TestCaseError::fail(format!("came back as {back:?}")))
            }
        })
    }

    /// Runs every property; panics with the first failure, shrunk.
    ///
    /// ```
    /// # use jobwire::{testing::Kit, Context, HandlerError, Job, NoPrevious};
    /// # use proptest::prelude::*;
    /// # #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)] struct Ping { n: u16 }
    /// # impl Job for Ping {
    /// #     const NAME: &'static str = "ping";
    /// #     const VERSION: semver::Version = semver::Version::new(1, 0, 0);
    /// #     type Previous = NoPrevious;
    /// #     type State = (); type Data = ();
    /// #     async fn perform(self, _: &mut Context<'_>) -> Result<(), HandlerError> { Ok(()) }
    /// # }
    /// # let pings = any::<u16>().prop_map(|n| Ping { n });
    /// Kit::new(pings).cases(8).check();
    /// ```
    pub fn check(self) {
        if let Err(failure) = self.try_check() {
            panic!("jobwire kit: {failure}");
        }
    }

    /// Runs every property; returns the first failure, shrunk.
    ///
    /// ```
    /// # use jobwire::{testing::Kit, Context, HandlerError, Job, NoPrevious};
    /// # use proptest::prelude::*;
    /// # #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)] struct Ping { n: u16 }
    /// # impl Job for Ping {
    /// #     const NAME: &'static str = "ping";
    /// #     const VERSION: semver::Version = semver::Version::new(1, 0, 0);
    /// #     type Previous = NoPrevious;
    /// #     type State = (); type Data = ();
    /// #     async fn perform(self, _: &mut Context<'_>) -> Result<(), HandlerError> { Ok(()) }
    /// # }
    /// # let pings = any::<u16>().prop_map(|n| Ping { n });
    /// assert_eq!(Kit::new(pings).cases(8).try_check(), Ok(()));
    /// ```
    pub fn try_check(self) -> Result<(), Failure> {
        for (_, check) in &self.checks {
            let config = Config {
                cases: self.cases,
                failure_persistence: Some(Box::new(FileFailurePersistence::Direct(self.persist))),
                ..Config::default()
            };
            check(config)?;
        }
        Ok(())
    }

    fn add_round_trip(&mut self) {
        let property = format!(
            "(c) job `{}` {}: seal then read gives back an equal value",
            J::NAME,
            J::VERSION
        );
        let strategy = self.current.clone();
        let check = runner(property.clone(), strategy, |job: J| {
            let payload = Producer::new(WritePolicy::Current)
                .seal(&job)
                .map_err(|e| TestCaseError::fail(format!("sealing: {e}")))?;
            reads_back(&payload, &job)
        });
        self.checks.push((property, check));
    }

    fn add_forward_compatible(&mut self) {
        let Some(newer) = strategy::newer_compatible(&J::VERSION) else {
            return;
        };
        let property = format!(
            "(d) job `{}` {}: a {newer} payload with fields it does not know still reads",
            J::NAME,
            J::VERSION
        );
        let strategy = (self.current.clone(), strategy::extra_fields()).boxed();
        let check = runner(
            property.clone(),
            strategy,
            move |(job, extra): (J, serde_json::Map<String, Value>)| {
                let mut args = serde_json::to_value(&job)
                    .map_err(|e| TestCaseError::fail(format!("serializing: {e}")))?;
                let Some(object) = args.as_object_mut() else {
                    return Err(TestCaseError::fail("arguments are not a JSON object"));
                };
                for (key, value) in extra {
                    object.entry(key).or_insert(value);
                }
                reads_back(&envelope(J::NAME, &newer, &args), &job)
            },
        );
        self.checks.push((property, check));
    }

    fn push<T: Debug + 'static>(
        mut self,
        property: String,
        strategy: BoxedStrategy<T>,
        test: impl Fn(T) -> Result<(), TestCaseError> + 'static,
    ) -> Self {
        self.checks
            .push((property.clone(), runner(property, strategy, test)));
        self
    }
}

impl<J> Debug for Kit<J> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Kit")
            .field("cases", &self.cases)
            .field("persist", &self.persist)
            .field(
                "properties",
                &self.checks.iter().map(|(p, _)| p).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

/// A check: run `test` over `strategy` and report a shrunk failure.
fn runner<T: Debug + 'static>(
    property: String,
    strategy: BoxedStrategy<T>,
    test: impl Fn(T) -> Result<(), TestCaseError> + 'static,
) -> Check {
    Box::new(move |config| {
        let mut runner = TestRunner::new(config);
        runner.run(&strategy, &test).map_err(|error| match error {
            TestError::Fail(reason, input) => Failure {
                property: property.clone(),
                reason: reason.to_string(),
                input: format!("{input:?}"),
            },
            TestError::Abort(reason) => Failure {
                property: property.clone(),
                reason: format!("aborted: {reason}"),
                input: String::new(),
            },
        })
    })
}

/// A payload of an older line reaches `J` through the chain.
fn reaches_current<J: Job>(old: &impl Serialize, version: &Version) -> Result<(), TestCaseError> {
    let payload = envelope(J::NAME, version, old);
    reader::<J>()?
        .read(&payload)
        .map(drop)
        .map_err(|outcome| fail(&outcome))
}

/// `payload` reads back as a value equal to `job`.
fn reads_back<J: Job + Debug + PartialEq>(payload: &[u8], job: &J) -> Result<(), TestCaseError> {
    let (back, _) = reader::<J>()?
        .read(payload)
        .map_err(|outcome| fail(&outcome))?;
    if back == *job {
        Ok(())
    } else {
        Err(TestCaseError::fail(format!("read back as {back:?}")))
    }
}

fn reader<J: Job>() -> Result<Reader<J>, TestCaseError> {
    Reader::<J>::new().map_err(|e| TestCaseError::fail(e.to_string()))
}

fn fail(outcome: &Outcome<'_>) -> TestCaseError {
    TestCaseError::fail(describe(outcome))
}

fn describe(outcome: &Outcome<'_>) -> String {
    match outcome {
        Outcome::Rejected(rejected) => format!("rejected: {}", rejected.error),
        Outcome::Deferred(deferred) => format!("deferred: {:?}", deferred.reason),
        other => format!("{}: {other:?}", other.label()),
    }
}

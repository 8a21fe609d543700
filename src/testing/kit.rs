//! The kit: one-call property tests for a job's upgrades.

use crate::job::history::History;
use crate::testing::quiet::quietly;
use crate::testing::reader::{envelope, Reader};
use crate::testing::strategy;
use crate::wire::Line;
use crate::{DeferReason, Job, JsonUpcast, Outcome, Producer, Upcast, WritePolicy};
use proptest::strategy::{BoxedStrategy, Strategy};
use proptest::test_runner::{Config, FileFailurePersistence, TestCaseError, TestError, TestRunner};
use semver::Version;
use serde::Serialize;
use serde_json::Value;
use std::fmt::{self, Debug};

type Check = Box<dyn Fn(Config) -> Result<(), Failure>>;

/// One-call property tests for a job's upgrades. See the [module
/// docs](crate::testing) for what each property promises.
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

/// Every property that failed in one run, in the order they were added.
///
/// ```
/// let failures = jobwire::testing::Failures(vec![jobwire::testing::Failure {
///     property: "(c) job `ping` 1.0.0: seal then read gives back an equal value".into(),
///     reason: "read back as Ping { n: 0 }".into(),
///     input: "Ping { n: 1 }".into(),
/// }]);
/// assert!(failures.to_string().starts_with("1 property failed"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failures(pub Vec<Failure>);

impl std::ops::Deref for Failures {
    type Target = [Failure];
    fn deref(&self) -> &[Failure] {
        &self.0
    }
}

impl fmt::Display for Failures {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.len() {
            1 => f.write_str("1 property failed")?,
            n => write!(f, "{n} properties failed")?,
        }
        for failure in &self.0 {
            write!(f, "\n\n{failure}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Failures {}

impl<J> Kit<J>
where
    J: Job + Debug + Clone + PartialEq,
{
    /// A kit for `J`, with a strategy for its current arguments. Properties
    /// (c) and (d) are always part of it, and (e) whenever the job breaks the
    /// previous release with a `Downcast` declared `LOSSLESS`.
    ///
    /// ```
    /// # use jobwire::{testing::Kit, Context, HandlerError, Job, NoPrevious};
    /// # use proptest::prelude::*;
    /// # #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)] struct Ping { n: u16 }
    /// # impl Job for Ping {
    /// #     const NAME: &'static str = "ping";
    /// #     const VERSION: semver::Version = semver::Version::new(1, 0, 0);
    /// #     type Previous = NoPrevious; type State = (); type Data = ();
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
        kit = kit.round_trip().forward_compatible();
        if <J::Previous as History<J>>::lossless() == Some(true) {
            kit = kit.lossless_downcast();
        }
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
    /// #     type Previous = NoPrevious; type State = (); type Data = ();
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
    /// # use jobwire::{testing::Kit, Context, HandlerError, Job, NoPrevious};
    /// # use proptest::prelude::*;
    /// # #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)] struct Ping { n: u16 }
    /// # impl Job for Ping {
    /// #     const NAME: &'static str = "ping";
    /// #     const VERSION: semver::Version = semver::Version::new(1, 0, 0);
    /// #     type Previous = NoPrevious; type State = (); type Data = ();
    /// #     async fn perform(self, _: &mut Context<'_>) -> Result<(), HandlerError> { Ok(()) }
    /// # }
    /// # let pings = any::<u16>().prop_map(|n| Ping { n });
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
    /// # use jobwire::testing::Kit;
    /// # use proptest::prelude::*;
    /// # use semver::Version;
    /// # #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)] struct PingV1 { n: u8 }
    /// # #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)] struct Ping { n: u16 }
    /// # impl Upcast for PingV1 {
    /// #     const VERSION: Version = Version::new(1, 0, 0);
    /// #     type Next = Ping; type Previous = NoPrevious;
    /// #     fn upcast(self) -> Result<Ping, UpcastError> { Ok(Ping { n: self.n.into() }) }
    /// # }
    /// # impl Job for Ping {
    /// #     const NAME: &'static str = "ping";
    /// #     const VERSION: Version = Version::new(2, 0, 0);
    /// #     type Previous = PingV1; type State = (); type Data = ();
    /// #     async fn perform(self, _: &mut Context<'_>) -> Result<(), HandlerError> { Ok(()) }
    /// # }
    /// # let pings = (0..=255u16).prop_map(|n| Ping { n });
    /// Kit::new(pings).older(any::<u8>().prop_map(|n| PingV1 { n })).cases(16).check();
    /// ```
    pub fn older<P>(self, strategy: impl Strategy<Value = P> + 'static) -> Self
    where
        P: Upcast + Serialize + Debug + Clone,
    {
        self.older_matching(strategy, |_: &P, _: &J| true)
    }

    /// (a), and `same(old, upcast)` must hold for every payload of the line:
    /// an upcaster that silently drops or changes data fails here, where
    /// [`older`](Kit::older) only checks that it returns without error.
    ///
    /// ```
    /// # use jobwire::*;
    /// # use jobwire::testing::Kit;
    /// # use proptest::prelude::*;
    /// # use semver::Version;
    /// # #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)] struct PingV1 { n: u8 }
    /// # #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)] struct Ping { n: u16 }
    /// # impl Upcast for PingV1 {
    /// #     const VERSION: Version = Version::new(1, 0, 0);
    /// #     type Next = Ping; type Previous = NoPrevious;
    /// #     fn upcast(self) -> Result<Ping, UpcastError> { Ok(Ping { n: self.n.into() }) }
    /// # }
    /// # impl Job for Ping {
    /// #     const NAME: &'static str = "ping";
    /// #     const VERSION: Version = Version::new(2, 0, 0);
    /// #     type Previous = PingV1; type State = (); type Data = ();
    /// #     async fn perform(self, _: &mut Context<'_>) -> Result<(), HandlerError> { Ok(()) }
    /// # }
    /// # let pings = (0..=255u16).prop_map(|n| Ping { n });
    /// Kit::new(pings)
    ///     .older_matching(any::<u8>().prop_map(|n| PingV1 { n }), |old, new| u16::from(old.n) == new.n)
    ///     .cases(16)
    ///     .check();
    /// ```
    pub fn older_matching<P>(
        self,
        strategy: impl Strategy<Value = P> + 'static,
        same: impl Fn(&P, &J) -> bool + 'static,
    ) -> Self
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
        self.push(property, strategy, move |(old, version): (P, Version)| {
            let payload = envelope(J::NAME, &version, &old);
            let (new, _) = reader::<J>()?
                .read(&payload)
                .map_err(|outcome| fail(&outcome))?;
            if same(&old, &new) {
                Ok(())
            } else {
                Err(TestCaseError::fail(format!(
                    "upcast to {new:?}, which does not match"
                )))
            }
        })
    }

    /// (a) for a line whose Rust type was deleted: every payload of the JSON
    /// line `M` reaches the current type.
    ///
    /// ```
    /// # use jobwire::*;
    /// # use jobwire::testing::Kit;
    /// # use proptest::prelude::*;
    /// # use semver::Version;
    /// # #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)] struct Ping { n: u16 }
    /// # enum PingV0 {}
    /// # impl JsonUpcast for PingV0 {
    /// #     const VERSION: Version = Version::new(0, 1, 0);
    /// #     type Previous = NoPrevious;
    /// #     fn upcast(args: &mut JsonArgs<'_>) -> Result<(), UpcastError> { args.rename("m", "n"); Ok(()) }
    /// # }
    /// # impl Job for Ping {
    /// #     const NAME: &'static str = "ping";
    /// #     const VERSION: Version = Version::new(1, 0, 0);
    /// #     type Previous = Json<PingV0>; type State = (); type Data = ();
    /// #     async fn perform(self, _: &mut Context<'_>) -> Result<(), HandlerError> { Ok(()) }
    /// # }
    /// # let pings = (0..=255u16).prop_map(|n| Ping { n });
    /// let v0 = any::<u8>().prop_map(|m| serde_json::json!({ "m": m }));
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
            let payload = envelope(J::NAME, &version, &old);
            reader::<J>()?
                .read(&payload)
                .map(drop)
                .map_err(|outcome| fail(&outcome))
        })
    }

    /// (b) and (f) against the previous release, whose type for this job is
    /// `P`: what the current code writes is readable by the previous release,
    /// and what the previous release writes is performed by the current code.
    ///
    /// ```
    /// # use jobwire::*;
    /// # use jobwire::testing::Kit;
    /// # use proptest::prelude::*;
    /// # use semver::Version;
    /// # mod previous {
    /// #     use jobwire::*;
    /// #     #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)] pub struct Ping { pub n: u16 }
    /// #     impl Job for Ping {
    /// #         const NAME: &'static str = "ping";
    /// #         const VERSION: semver::Version = semver::Version::new(1, 0, 0);
    /// #         type Previous = NoPrevious; type State = (); type Data = ();
    /// #         async fn perform(self, _: &mut Context<'_>) -> Result<(), HandlerError> { Ok(()) }
    /// #     }
    /// # }
    /// # #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)] struct Ping { n: u16, note: Added<String> }
    /// # impl Job for Ping {
    /// #     const NAME: &'static str = "ping";
    /// #     const VERSION: Version = Version::new(1, 1, 0);
    /// #     type Previous = NoPrevious; type State = (); type Data = ();
    /// #     async fn perform(self, _: &mut Context<'_>) -> Result<(), HandlerError> { Ok(()) }
    /// # }
    /// let pings = (any::<u16>(), proptest::option::of(".*"))
    ///     .prop_map(|(n, note)| Ping { n, note: note.into() });
    /// Kit::new(pings).previous_release::<previous::Ping>().cases(16).check();
    /// ```
    pub fn previous_release<P: Job + Debug>(self) -> Self {
        self.previous_release_matching::<P>(|_, _| true)
    }

    /// (b) and (f), and `same(current, previous)` must hold for what the
    /// previous release reads.
    ///
    /// ```
    /// # use jobwire::*;
    /// # use jobwire::testing::Kit;
    /// # use proptest::prelude::*;
    /// # use semver::Version;
    /// # mod previous {
    /// #     use jobwire::*;
    /// #     #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)] pub struct Ping { pub n: u16 }
    /// #     impl Job for Ping {
    /// #         const NAME: &'static str = "ping";
    /// #         const VERSION: semver::Version = semver::Version::new(1, 0, 0);
    /// #         type Previous = NoPrevious; type State = (); type Data = ();
    /// #         async fn perform(self, _: &mut Context<'_>) -> Result<(), HandlerError> { Ok(()) }
    /// #     }
    /// # }
    /// # #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)] struct Ping { n: u16, note: Added<String> }
    /// # impl Job for Ping {
    /// #     const NAME: &'static str = "ping";
    /// #     const VERSION: Version = Version::new(1, 1, 0);
    /// #     type Previous = NoPrevious; type State = (); type Data = ();
    /// #     async fn perform(self, _: &mut Context<'_>) -> Result<(), HandlerError> { Ok(()) }
    /// # }
    /// let pings = any::<u16>().prop_map(|n| Ping { n, note: Added::Missing });
    /// Kit::new(pings)
    ///     .previous_release_matching::<previous::Ping>(|new, old| new.n == old.n)
    ///     .cases(16)
    ///     .check();
    /// ```
    pub fn previous_release_matching<P: Job + Debug>(
        self,
        same: impl Fn(&J, &P) -> bool + 'static,
    ) -> Self {
        let readable = format!(
            "(b) job `{}` {}: what it writes is readable by the previous release's `{}` {}",
            J::NAME,
            J::VERSION,
            P::NAME,
            P::VERSION
        );
        let strategy = self.current.clone();
        let kit = self.push(readable, strategy, move |job: J| {
            let previous = reader::<P>()?;
            for policy in [WritePolicy::Previous, WritePolicy::Current] {
                let payload = seal(policy, &job)?;
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
        });
        let performed = format!(
            "(f) job `{}` {}: what the previous release's `{}` {} writes is performed",
            J::NAME,
            J::VERSION,
            P::NAME,
            P::VERSION
        );
        let strategy = kit.current.clone();
        kit.push(performed, strategy, |job: J| {
            // The previous release's own values, as it reads them from what
            // this release writes; a payload it cannot read is (b)'s to report.
            let Ok((old, _)) = reader::<P>()?.read(&seal(WritePolicy::Previous, &job)?) else {
                return Ok(());
            };
            performed_from::<J, P>("the previous release", &old, &|_, _| true)
        })
    }

    /// (f) against an earlier release still in the window (its payloads
    /// may still be waiting, retried or scheduled, though none of its
    /// workers runs): what it writes, on the values it reads from this
    /// release's payloads, is performed by the current code. It catches
    /// what the previous release alone hides, such as a
    /// `#[serde(default)]` dropped from a field that an older release
    /// never wrote. [`window`](Kit::window) checks every release at once.
    ///
    /// ```
    /// # use jobwire::*;
    /// # use jobwire::testing::Kit;
    /// # use proptest::prelude::*;
    /// # mod v1_0 {
    /// #     use jobwire::*;
    /// #     #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)] pub struct Ping { pub n: u16 }
    /// #     impl Job for Ping {
    /// #         const NAME: &'static str = "ping";
    /// #         const VERSION: semver::Version = semver::Version::new(1, 0, 0);
    /// #         type Previous = NoPrevious; type State = (); type Data = ();
    /// #         async fn perform(self, _: &mut Context<'_>) -> Result<(), HandlerError> { Ok(()) }
    /// #     }
    /// # }
    /// # #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)] struct Ping { n: u16, #[serde(default)] note: String }
    /// # impl Job for Ping {
    /// #     const NAME: &'static str = "ping";
    /// #     const VERSION: semver::Version = semver::Version::new(1, 2, 0);
    /// #     type Previous = NoPrevious; type State = (); type Data = ();
    /// #     async fn perform(self, _: &mut Context<'_>) -> Result<(), HandlerError> { Ok(()) }
    /// # }
    /// let pings = any::<u16>().prop_map(|n| Ping { n, note: String::new() });
    /// Kit::new(pings).earlier_release::<v1_0::Ping>().cases(16).check();
    /// ```
    pub fn earlier_release<P: Job + Debug>(self) -> Self {
        let property = format!(
            "(f) job `{}` {}: what the earlier release's `{}` {} writes is performed",
            J::NAME,
            J::VERSION,
            P::NAME,
            P::VERSION
        );
        let who = format!("release {}", P::VERSION);
        let strategy = self.current.clone();
        self.push(property, strategy, move |job: J| {
            let Ok((old, _)) = reader::<P>()?.read(&seal(WritePolicy::Previous, &job)?) else {
                // It cannot read this release's payloads (a major bump):
                // the upcast chain, (a), answers for its payloads.
                return Ok(());
            };
            performed_from::<J, P>(&who, &old, &|_, _| true)
        })
    }

    /// Every release still in the window, oldest first, as a tuple of the
    /// job's type in each: the last is the previous release
    /// ([`previous_release`](Kit::previous_release): (b) and (f)), and each
    /// earlier one gets [`earlier_release`](Kit::earlier_release) ((f)).
    /// One call, so that a test keeps up with the window by adding a type.
    ///
    /// ```
    /// # use jobwire::*;
    /// # use jobwire::testing::Kit;
    /// # use proptest::prelude::*;
    /// # macro_rules! release { ($m:ident, $minor:expr) => { mod $m {
    /// #     use jobwire::*;
    /// #     #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)] pub struct Ping { pub n: u16 }
    /// #     impl Job for Ping {
    /// #         const NAME: &'static str = "ping";
    /// #         const VERSION: semver::Version = semver::Version::new(1, $minor, 0);
    /// #         type Previous = NoPrevious; type State = (); type Data = ();
    /// #         async fn perform(self, _: &mut Context<'_>) -> Result<(), HandlerError> { Ok(()) }
    /// #     }
    /// # } } }
    /// # release!(v1_0, 0); release!(v1_1, 1);
    /// # #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)] struct Ping { n: u16 }
    /// # impl Job for Ping {
    /// #     const NAME: &'static str = "ping";
    /// #     const VERSION: semver::Version = semver::Version::new(1, 2, 0);
    /// #     type Previous = NoPrevious; type State = (); type Data = ();
    /// #     async fn perform(self, _: &mut Context<'_>) -> Result<(), HandlerError> { Ok(()) }
    /// # }
    /// let pings = any::<u16>().prop_map(|n| Ping { n });
    /// Kit::new(pings).window::<(v1_0::Ping, v1_1::Ping)>().cases(16).check();
    /// ```
    pub fn window<W: Window>(self) -> Self {
        W::apply(self)
    }

    /// (f) over values of the previous release's type `P` that you generate:
    /// each is sealed as the previous release writes it, and the current
    /// code must perform it, with `same(current, previous)` holding for what
    /// it reads. [`previous_release`](Kit::previous_release) already checks
    /// (f) on the values the previous release reads from this release's
    /// payloads; these cover the rest of its space, such as an optional
    /// field the current code renamed, which it would otherwise drop in
    /// silence.
    ///
    /// ```
    /// # use jobwire::*;
    /// # use jobwire::testing::Kit;
    /// # use proptest::prelude::*;
    /// # use semver::Version;
    /// # mod previous {
    /// #     use jobwire::*;
    /// #     #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)] pub struct Ping { pub n: u16 }
    /// #     impl Job for Ping {
    /// #         const NAME: &'static str = "ping";
    /// #         const VERSION: semver::Version = semver::Version::new(1, 0, 0);
    /// #         type Previous = NoPrevious; type State = (); type Data = ();
    /// #         async fn perform(self, _: &mut Context<'_>) -> Result<(), HandlerError> { Ok(()) }
    /// #     }
    /// # }
    /// # #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)] struct Ping { n: u16 }
    /// # impl Job for Ping {
    /// #     const NAME: &'static str = "ping";
    /// #     const VERSION: Version = Version::new(1, 1, 0);
    /// #     type Previous = NoPrevious; type State = (); type Data = ();
    /// #     async fn perform(self, _: &mut Context<'_>) -> Result<(), HandlerError> { Ok(()) }
    /// # }
    /// let old = any::<u16>().prop_map(|n| previous::Ping { n });
    /// Kit::new(any::<u16>().prop_map(|n| Ping { n }))
    ///     .previous_release_values(old, |new: &Ping, old: &previous::Ping| new.n == old.n)
    ///     .cases(16)
    ///     .check();
    /// ```
    pub fn previous_release_values<P: Job + Debug>(
        self,
        strategy: impl Strategy<Value = P> + 'static,
        same: impl Fn(&J, &P) -> bool + 'static,
    ) -> Self {
        let property = format!(
            "(f) job `{}` {}: what the previous release's `{}` {} writes is performed",
            J::NAME,
            J::VERSION,
            P::NAME,
            P::VERSION
        );
        self.push(property, strategy.boxed(), move |old: P| {
            performed_from::<J, P>("the previous release", &old, &same)
        })
    }

    /// Runs every property; panics with every failure, shrunk. The panic
    /// points at the caller.
    ///
    /// ```
    /// # use jobwire::{testing::Kit, Context, HandlerError, Job, NoPrevious};
    /// # use proptest::prelude::*;
    /// # #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)] struct Ping { n: u16 }
    /// # impl Job for Ping {
    /// #     const NAME: &'static str = "ping";
    /// #     const VERSION: semver::Version = semver::Version::new(1, 0, 0);
    /// #     type Previous = NoPrevious; type State = (); type Data = ();
    /// #     async fn perform(self, _: &mut Context<'_>) -> Result<(), HandlerError> { Ok(()) }
    /// # }
    /// # let pings = any::<u16>().prop_map(|n| Ping { n });
    /// Kit::new(pings).cases(8).check();
    /// ```
    #[track_caller]
    pub fn check(self) {
        if let Err(failures) = self.try_check() {
            panic!("jobwire kit: {failures}");
        }
    }

    /// Runs every property; returns every failure, shrunk.
    ///
    /// ```
    /// # use jobwire::{testing::Kit, Context, HandlerError, Job, NoPrevious};
    /// # use proptest::prelude::*;
    /// # #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)] struct Ping { n: u16 }
    /// # impl Job for Ping {
    /// #     const NAME: &'static str = "ping";
    /// #     const VERSION: semver::Version = semver::Version::new(1, 0, 0);
    /// #     type Previous = NoPrevious; type State = (); type Data = ();
    /// #     async fn perform(self, _: &mut Context<'_>) -> Result<(), HandlerError> { Ok(()) }
    /// # }
    /// # let pings = any::<u16>().prop_map(|n| Ping { n });
    /// assert!(Kit::new(pings).cases(8).try_check().is_ok());
    /// ```
    pub fn try_check(self) -> Result<(), Failures> {
        let failures: Vec<Failure> = quietly(|| {
            self.checks
                .iter()
                .filter_map(|(_, check)| {
                    let config = Config {
                        cases: self.cases,
                        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
                            self.persist,
                        ))),
                        ..Config::default()
                    };
                    check(config).err()
                })
                .collect()
        });
        if failures.is_empty() {
            Ok(())
        } else {
            Err(Failures(failures))
        }
    }

    /// (c) Sealing then reading gives back an equal value.
    fn round_trip(self) -> Self {
        let property = format!(
            "(c) job `{}` {}: seal then read gives back an equal value",
            J::NAME,
            J::VERSION
        );
        let strategy = self.current.clone();
        self.push(property, strategy, |job: J| {
            let payload = seal(WritePolicy::Current, &job)?;
            let (back, _) = reader::<J>()?
                .read(&payload)
                .map_err(|outcome| fail(&outcome))?;
            if back == job {
                Ok(())
            } else {
                Err(TestCaseError::fail(format!("read back as {back:?}")))
            }
        })
    }

    /// (d) A newer-minor payload with fields this release does not know
    /// still reads.
    fn forward_compatible(self) -> Self {
        let Some(newer) = strategy::newer_compatible(&J::VERSION) else {
            return self;
        };
        let property = format!(
            "(d) job `{}` {}: a {newer} payload with fields it does not know still reads",
            J::NAME,
            J::VERSION
        );
        let strategy = (self.current.clone(), strategy::extra_fields()).boxed();
        self.push(
            property,
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
                let payload = envelope(J::NAME, &newer, &args);
                let (back, _) = reader::<J>()?
                    .read(&payload)
                    .map_err(|outcome| fail(&outcome))?;
                if back == job {
                    Ok(())
                } else {
                    Err(TestCaseError::fail(format!("read back as {back:?}")))
                }
            },
        )
    }

    /// (e) The downcast to the previous release, declared lossless,
    /// round-trips.
    fn lossless_downcast(self) -> Self {
        let property = format!(
            "(e) job `{}`: downcast to {} and upcast back to {} is lossless, as `LOSSLESS` claims",
            J::NAME,
            <J::Previous as History<J>>::breaking_from()
                .map_or_else(|| "the previous line".to_owned(), |v| v.to_string()),
            J::VERSION
        );
        let strategy = self.current.clone();
        self.push(
            property,
            strategy,
            |job: J| match <J::Previous as History<J>>::round_trip(&job) {
                Some(Ok(back)) if back == job => Ok(()),
                Some(Ok(back)) => Err(TestCaseError::fail(format!("came back as {back:?}"))),
                Some(Err(error)) => Err(TestCaseError::fail(error)),
                None => Ok(()),
            },
        )
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

/// What the previous release writes for `old`, under either policy, is
/// performed by `J`, and reads as a value `same` accepts.
fn performed_from<J, P>(
    who: &str,
    old: &P,
    same: &dyn Fn(&J, &P) -> bool,
) -> Result<(), TestCaseError>
where
    J: Job + Debug,
    P: Job + Debug,
{
    let current = reader::<J>()?;
    for policy in [WritePolicy::Previous, WritePolicy::Current] {
        let payload = seal(policy, old)?;
        let (new, _) = current.read(&payload).map_err(|outcome| {
            TestCaseError::fail(format!(
                "{who} wrote {old:?} under \"{}\"; this release: {}",
                policy.as_str(),
                describe(&outcome)
            ))
        })?;
        if !same(&new, old) {
            return Err(TestCaseError::fail(format!(
                "{who} wrote {old:?} under \"{}\"; this release read {new:?}, which does not match",
                policy.as_str()
            )));
        }
    }
    Ok(())
}

fn seal<T: Job>(policy: WritePolicy, job: &T) -> Result<Vec<u8>, TestCaseError> {
    Producer::new(policy)
        .without_stamps()
        .seal(job)
        .map_err(|e| TestCaseError::fail(format!("sealing under \"{}\": {e}", policy.as_str())))
}

fn reader<J: Job>() -> Result<Reader<J>, TestCaseError> {
    Reader::<J>::new().map_err(|e| TestCaseError::fail(e.to_string()))
}

fn fail(outcome: &Outcome<'_>) -> TestCaseError {
    TestCaseError::fail(describe(outcome))
}

/// An outcome, in words, with the fix where there is an obvious one.
fn describe(outcome: &Outcome<'_>) -> String {
    match outcome {
        Outcome::Rejected(rejected) => format!("rejected: {}", rejected.error),
        Outcome::Deferred(deferred) => match &deferred.reason {
            DeferReason::NewerRelease {
                job,
                wire_version,
                handler_version,
            } => format!(
                "deferred: {wire_version} is a new major line of `{job}`, and the reader has only {handler_version}'s line ({}): \
                 in the release that breaks it, declare `type Previous = BreakingChange<..>` with a `Downcast`, \
                 so that producers keep writing {} until every worker reads {}",
                Line::of(handler_version),
                Line::of(handler_version),
                Line::of(wire_version)
            ),
            DeferReason::UnknownJob { job, .. } => {
                format!("deferred: the reader does not know the job `{job}`")
            }
        },
        Outcome::Failed(failed) if failed.panicked => {
            format!("panicked in {}: {}", failed.step, failed.error)
        }
        other => format!("{}: {other:?}", other.label()),
    }
}

/// The releases in a [`Kit::window`]: a tuple of the job's type in each,
/// oldest first (one to eight).
///
/// ```
/// fn takes<W: jobwire::testing::Window>() {}
/// ```
pub trait Window {
    /// Adds the properties against each release to `kit`.
    ///
    /// ```
    /// # use jobwire::testing::{Kit, Window};
    /// # use proptest::prelude::*;
    /// # #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)] struct Ping {}
    /// # impl jobwire::Job for Ping {
    /// #     const NAME: &'static str = "ping";
    /// #     const VERSION: semver::Version = semver::Version::new(1, 0, 0);
    /// #     type Previous = jobwire::NoPrevious; type State = (); type Data = ();
    /// #     async fn perform(self, _: &mut jobwire::Context<'_>) -> Result<(), jobwire::HandlerError> { Ok(()) }
    /// # }
    /// let kit = <(Ping,) as Window>::apply(Kit::new(Just(Ping {})));
    /// ```
    fn apply<J>(kit: Kit<J>) -> Kit<J>
    where
        J: Job + Clone + PartialEq + Debug;
}

macro_rules! window {
    ($($earlier:ident),* ; $previous:ident) => {
        impl<$($earlier: Job + Debug,)* $previous: Job + Debug> Window for ($($earlier,)* $previous,) {
            fn apply<J>(kit: Kit<J>) -> Kit<J>
            where
                J: Job + Clone + PartialEq + Debug,
            {
                $(let kit = kit.earlier_release::<$earlier>();)*
                kit.previous_release::<$previous>()
            }
        }
    };
}

window!(; A);
window!(A; B);
window!(A, B; C);
window!(A, B, C; D);
window!(A, B, C, D; E);
window!(A, B, C, D, E; F);
window!(A, B, C, D, E, F; G);
window!(A, B, C, D, E, F, G; H);

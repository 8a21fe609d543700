//! What a handler sees besides its arguments: the envelope's metadata and the
//! application state the router was built with.

use crate::version::Relation;
use crate::Meta;
use semver::Version;
use std::any::{type_name, Any, TypeId};
use std::collections::HashMap;
use std::fmt;

/// The context of one dispatch, handed to [`Job::perform`](crate::Job::perform).
///
/// ```
/// use jobwire::{Context, HandlerError, Job, NoPrevious, Router, Outcome};
/// use semver::Version;
/// use serde::{Deserialize, Serialize};
/// use std::sync::atomic::{AtomicU64, Ordering};
///
/// struct Mailer { sent: AtomicU64 }
///
/// #[derive(Serialize, Deserialize)]
/// struct Welcome { user_id: u64 }
///
/// impl Job for Welcome {
///     const NAME: &'static str = "user.welcome";
///     const VERSION: Version = Version::new(1, 0, 0);
///     type Previous = NoPrevious;
///     fn perform(self, ctx: &Context<'_>) -> Result<(), HandlerError> {
///         let mailer = ctx.state::<Mailer>()?;
///         mailer.sent.fetch_add(1, Ordering::Relaxed);
///         assert_eq!(ctx.meta().get_attempt(), 3);
///         Ok(())
///     }
/// }
///
/// let router = Router::builder()
///     .job::<Welcome>()
///     .state(Mailer { sent: AtomicU64::new(0) })
///     .build()?;
/// let payload = br#"{"job":"user.welcome","version":"1.0.0","args":{"user_id":1},"meta":{"attempt":3}}"#;
/// assert!(router.dispatch(payload).is_performed());
/// # Ok::<(), jobwire::RegistryError>(())
/// ```
pub struct Context<'a> {
    pub(crate) job: &'static str,
    pub(crate) wire_version: &'a Version,
    pub(crate) relation: Relation,
    pub(crate) meta: &'a Meta<'a>,
    pub(crate) state: &'a State,
}

impl<'a> Context<'a> {
    /// The job's current name.
    ///
    /// ```
    /// # use jobwire::*;
    /// # #[derive(serde::Serialize, serde::Deserialize)] struct Ping {}
    /// # impl Job for Ping {
    /// #     const NAME: &'static str = "ping";
    /// #     const VERSION: semver::Version = semver::Version::new(1, 2, 0);
    /// #     type Previous = NoPrevious;
    /// fn perform(self, ctx: &Context<'_>) -> Result<(), HandlerError> {
    ///     assert_eq!(ctx.job_name(), "ping");
    ///     Ok(())
    /// }
    /// # }
    /// # let router = Router::builder().job::<Ping>().build()?;
    /// # assert!(router.dispatch(br#"{"job":"ping","version":"1.0.0","args":{},"meta":{"id":"j-1"}}"#).is_performed());
    /// # Ok::<(), RegistryError>(())
    /// ```
    pub fn job_name(&self) -> &'static str {
        self.job
    }

    /// The version the payload was written at.
    ///
    /// ```
    /// # use jobwire::*;
    /// # #[derive(serde::Serialize, serde::Deserialize)] struct Ping {}
    /// # impl Job for Ping {
    /// #     const NAME: &'static str = "ping";
    /// #     const VERSION: semver::Version = semver::Version::new(1, 2, 0);
    /// #     type Previous = NoPrevious;
    /// fn perform(self, ctx: &Context<'_>) -> Result<(), HandlerError> {
    ///     assert_eq!(ctx.wire_version(), &semver::Version::new(1, 0, 0));
    ///     Ok(())
    /// }
    /// # }
    /// # let router = Router::builder().job::<Ping>().build()?;
    /// # assert!(router.dispatch(br#"{"job":"ping","version":"1.0.0","args":{},"meta":{"id":"j-1"}}"#).is_performed());
    /// # Ok::<(), RegistryError>(())
    /// ```
    pub fn wire_version(&self) -> &'a Version {
        self.wire_version
    }

    /// How the payload's version relates to the handler's.
    ///
    /// ```
    /// # use jobwire::*;
    /// # #[derive(serde::Serialize, serde::Deserialize)] struct Ping {}
    /// # impl Job for Ping {
    /// #     const NAME: &'static str = "ping";
    /// #     const VERSION: semver::Version = semver::Version::new(1, 2, 0);
    /// #     type Previous = NoPrevious;
    /// fn perform(self, ctx: &Context<'_>) -> Result<(), HandlerError> {
    ///     assert_eq!(ctx.relation(), Relation::OlderCompatible);
    ///     Ok(())
    /// }
    /// # }
    /// # let router = Router::builder().job::<Ping>().build()?;
    /// # assert!(router.dispatch(br#"{"job":"ping","version":"1.0.0","args":{},"meta":{"id":"j-1"}}"#).is_performed());
    /// # Ok::<(), RegistryError>(())
    /// ```
    pub fn relation(&self) -> Relation {
        self.relation
    }

    /// The envelope's metadata; empty when the payload had none.
    ///
    /// ```
    /// # use jobwire::*;
    /// # #[derive(serde::Serialize, serde::Deserialize)] struct Ping {}
    /// # impl Job for Ping {
    /// #     const NAME: &'static str = "ping";
    /// #     const VERSION: semver::Version = semver::Version::new(1, 2, 0);
    /// #     type Previous = NoPrevious;
    /// fn perform(self, ctx: &Context<'_>) -> Result<(), HandlerError> {
    ///     assert_eq!(ctx.meta().get_id(), Some("j-1"));
    ///     Ok(())
    /// }
    /// # }
    /// # let router = Router::builder().job::<Ping>().build()?;
    /// # assert!(router.dispatch(br#"{"job":"ping","version":"1.0.0","args":{},"meta":{"id":"j-1"}}"#).is_performed());
    /// # Ok::<(), RegistryError>(())
    /// ```
    pub fn meta(&self) -> &'a Meta<'a> {
        self.meta
    }

    /// Application state of type `T`, added with
    /// [`RouterBuilder::state`](crate::RouterBuilder::state).
    ///
    /// The error converts into a [`HandlerError`](crate::HandlerError) with `?`.
    ///
    /// ```
    /// # use jobwire::*;
    /// # #[derive(serde::Serialize, serde::Deserialize)] struct Ping {}
    /// # impl Job for Ping {
    /// #     const NAME: &'static str = "ping";
    /// #     const VERSION: semver::Version = semver::Version::new(1, 2, 0);
    /// #     type Previous = NoPrevious;
    /// fn perform(self, ctx: &Context<'_>) -> Result<(), HandlerError> {
    ///     assert!(ctx.state::<String>().is_err(), "no String state was added");
    ///     Ok(())
    /// }
    /// # }
    /// # let router = Router::builder().job::<Ping>().build()?;
    /// # assert!(router.dispatch(br#"{"job":"ping","version":"1.0.0","args":{},"meta":{"id":"j-1"}}"#).is_performed());
    /// # Ok::<(), RegistryError>(())
    /// ```
    pub fn state<T: Any + Send + Sync>(&self) -> Result<&'a T, MissingState> {
        self.state.get::<T>().ok_or(MissingState {
            type_name: type_name::<T>(),
            job: self.job,
        })
    }
}

impl fmt::Debug for Context<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("job", &self.job)
            .field("wire_version", &self.wire_version)
            .field("relation", &self.relation)
            .field("meta", &self.meta)
            .finish_non_exhaustive()
    }
}

/// A handler asked for state the router was not given.
///
/// ```
/// let error = jobwire::MissingState { type_name: "app::Db", job: "user.welcome" };
/// assert!(error.to_string().contains(".state("));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("job `{job}` needs state of type `{type_name}`, which the router was not given: add it with `Router::builder().state(...)`")]
pub struct MissingState {
    /// The type asked for.
    pub type_name: &'static str,
    /// The job that asked.
    pub job: &'static str,
}

/// Application state, one value per type.
#[derive(Default)]
pub(crate) struct State {
    values: HashMap<TypeId, Box<dyn Any + Send + Sync>>,
}

impl State {
    pub(crate) fn insert<T: Any + Send + Sync>(&mut self, value: T) {
        self.values.insert(TypeId::of::<T>(), Box::new(value));
    }

    pub(crate) fn get<T: Any + Send + Sync>(&self) -> Option<&T> {
        self.values
            .get(&TypeId::of::<T>())
            .and_then(|value| value.downcast_ref::<T>())
    }
}

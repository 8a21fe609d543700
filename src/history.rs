//! A job's history: the chain of upcasters from older lines to the current one.
//!
//! The chain lives in types. `Job::Previous` names the type of the previous
//! line, whose [`Upcast`] impl names its own previous line, and so on down to
//! [`NoPrevious`]. Decoding an old payload is a chain of monomorphised calls,
//! resolved at compile time: the payload is deserialized once, straight into
//! the old type, and each step is a plain Rust conversion.

use crate::decode::{decode_prefix, decode_value};
use crate::version::Line;
use crate::{DowncastError, UpcastError};
use semver::Version;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use std::marker::PhantomData;

/// The type of a previous line of a job's arguments, with the typed,
/// fallible conversion to the next line.
///
/// ```
/// use jobwire::{Context, HandlerError, Job, NoPrevious, Upcast, UpcastError};
/// use semver::Version;
/// use serde::{Deserialize, Serialize};
///
/// /// 1.x: the user was named by email.
/// #[derive(Serialize, Deserialize)]
/// struct ResetPasswordV1 { email: String }
///
/// /// 2.x: the user is named by id.
/// #[derive(Serialize, Deserialize)]
/// struct ResetPassword { user_id: u64 }
///
/// impl Upcast for ResetPasswordV1 {
///     const VERSION: Version = Version::new(1, 3, 0);
///     type Next = ResetPassword;
///     type Previous = NoPrevious;
///     fn upcast(self) -> Result<ResetPassword, UpcastError> {
///         let user_id = self.email.len() as u64; // look the user up here
///         Ok(ResetPassword { user_id })
///     }
/// }
///
/// impl Job for ResetPassword {
///     const NAME: &'static str = "user.reset_password";
///     const VERSION: Version = Version::new(2, 0, 0);
///     type Previous = ResetPasswordV1;
///     fn perform(self, _ctx: &Context<'_>) -> Result<(), HandlerError> { Ok(()) }
/// }
/// ```
pub trait Upcast: DeserializeOwned + 'static {
    /// The newest version of this line: any version on the same line is read
    /// into this type.
    const VERSION: Version;
    /// The type of the next line up: another `Upcast` type, or the job.
    type Next;
    /// The line before this one, as in [`Job::Previous`](crate::Job::Previous).
    type Previous: History<Self>;
    /// Converts a payload of this line into the next line.
    fn upcast(self) -> Result<Self::Next, UpcastError>;
}

/// The reverse of [`Upcast`]: expresses a current payload in the previous
/// line's format, so that producers of a new release can write what workers
/// of the previous release can perform. Required by [`BreakingChange`].
///
/// ```
/// use jobwire::{Downcast, DowncastError, NoPrevious, Upcast, UpcastError};
/// use semver::Version;
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Serialize, Deserialize)]
/// struct NotifyV1 { user_id: u64 }
/// #[derive(Serialize, Deserialize)]
/// struct Notify { user_ids: Vec<u64> }
///
/// impl Upcast for NotifyV1 {
///     const VERSION: Version = Version::new(1, 0, 0);
///     type Next = Notify;
///     type Previous = NoPrevious;
///     fn upcast(self) -> Result<Notify, UpcastError> {
///         Ok(Notify { user_ids: vec![self.user_id] })
///     }
/// }
///
/// impl Downcast for NotifyV1 {
///     fn downcast(next: &Notify) -> Result<Self, DowncastError> {
///         match next.user_ids.as_slice() {
///             [one] => Ok(NotifyV1 { user_id: *one }),
///             _ => Err(DowncastError::new("1.x notifies exactly one user")),
///         }
///     }
/// }
/// ```
pub trait Downcast: Upcast + Serialize {
    /// Whether `upcast(downcast(x))` gives back `x` for every `x`. The testing
    /// kit checks the claim.
    const LOSSLESS: bool = false;
    /// Expresses `next` in this line's format.
    fn downcast(next: &Self::Next) -> Result<Self, DowncastError>;
}

/// A previous line whose Rust type has been deleted: the upcaster works on
/// JSON. Use it as `Previous = Json<Marker>`, where `Marker` implements
/// `JsonUpcast`.
///
/// ```
/// use jobwire::{Json, JsonUpcast, NoPrevious, Upcast, UpcastError};
/// use semver::Version;
/// use serde::{Deserialize, Serialize};
/// use serde_json::Value;
///
/// /// 0.x, whose type is long gone, called the field `text`.
/// enum ResizeV0 {}
///
/// impl JsonUpcast for ResizeV0 {
///     const VERSION: Version = Version::new(0, 9, 0);
///     type Previous = NoPrevious;
///     fn upcast(mut args: Value) -> Result<Value, UpcastError> {
///         let object = args.as_object_mut().ok_or_else(|| UpcastError::new("not an object"))?;
///         let text = object.remove("text").ok_or_else(|| UpcastError::new("no `text`"))?;
///         object.insert("caption".into(), text);
///         Ok(args)
///     }
/// }
///
/// #[derive(Serialize, Deserialize)]
/// struct ResizeV1 { caption: String }
///
/// impl Upcast for ResizeV1 {
///     const VERSION: Version = Version::new(1, 0, 0);
///     type Next = ResizeV1; // for the example: a real job's Next is the job
///     type Previous = Json<ResizeV0>;
///     fn upcast(self) -> Result<ResizeV1, UpcastError> { Ok(self) }
/// }
/// ```
pub trait JsonUpcast: 'static {
    /// The newest version of the deleted line.
    const VERSION: Version;
    /// The line before this one: [`NoPrevious`] or another `Json<_>`.
    type Previous: History<Value>;
    /// Rewrites the arguments of this line into the next line's arguments.
    fn upcast(args: Value) -> Result<Value, UpcastError>;
}

/// Marks a [`JsonUpcast`] type as a link of a typed chain. See [`JsonUpcast`].
///
/// ```
/// # use jobwire::{Json, JsonUpcast, NoPrevious, UpcastError};
/// # enum V0 {}
/// # impl JsonUpcast for V0 {
/// #     const VERSION: semver::Version = semver::Version::new(0, 1, 0);
/// #     type Previous = NoPrevious;
/// #     fn upcast(v: serde_json::Value) -> Result<serde_json::Value, UpcastError> { Ok(v) }
/// # }
/// type Previous = Json<V0>;
/// ```
pub struct Json<M>(PhantomData<M>, Never);

/// The end of a chain: the job has no line before this one.
///
/// ```
/// # use jobwire::{Context, HandlerError, Job, NoPrevious};
/// # #[derive(serde::Serialize, serde::Deserialize)] struct Ping {}
/// impl Job for Ping {
///     const NAME: &'static str = "ping";
///     const VERSION: semver::Version = semver::Version::new(1, 0, 0);
///     type Previous = NoPrevious;
///     fn perform(self, _: &Context<'_>) -> Result<(), HandlerError> { Ok(()) }
/// }
/// ```
#[derive(Debug)]
pub enum NoPrevious {}

/// Marks the release that makes a breaking change: `Previous =
/// BreakingChange<OldType>` says that the previous release reads only
/// `OldType`'s line. Under [`WritePolicy::Previous`](crate::WritePolicy)
/// producers then write `OldType`, through its [`Downcast`], which the compiler
/// requires. In the release after, once every worker reads the new line,
/// write `Previous = OldType`.
///
/// ```
/// # use jobwire::{Context, Downcast, DowncastError, HandlerError, Job, NoPrevious, Upcast, UpcastError, BreakingChange};
/// # use semver::Version;
/// # #[derive(serde::Serialize, serde::Deserialize)] struct NotifyV1 { user_id: u64 }
/// # #[derive(serde::Serialize, serde::Deserialize)] struct Notify { user_ids: Vec<u64> }
/// # impl Upcast for NotifyV1 {
/// #     const VERSION: Version = Version::new(1, 0, 0);
/// #     type Next = Notify; type Previous = NoPrevious;
/// #     fn upcast(self) -> Result<Notify, UpcastError> { Ok(Notify { user_ids: vec![self.user_id] }) }
/// # }
/// # impl Downcast for NotifyV1 {
/// #     fn downcast(n: &Notify) -> Result<Self, DowncastError> { Ok(NotifyV1 { user_id: n.user_ids[0] }) }
/// # }
/// impl Job for Notify {
///     const NAME: &'static str = "user.notify";
///     const VERSION: Version = Version::new(2, 0, 0);
///     type Previous = BreakingChange<NotifyV1>;
///     fn perform(self, _: &Context<'_>) -> Result<(), HandlerError> { Ok(()) }
/// }
/// ```
pub struct BreakingChange<P>(PhantomData<P>, Never);

#[doc(hidden)]
#[derive(Debug)]
pub enum Never {}

/// One link of a chain, as the registry sees it.
#[doc(hidden)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkInfo {
    pub version: Version,
    pub json: bool,
}

/// Why a chain could not produce the current type.
#[doc(hidden)]
#[derive(Debug)]
pub enum ChainError {
    /// The payload did not deserialize into the line's type.
    Decode(serde_json::Error),
    /// An upcaster failed.
    Upcast {
        from: Version,
        to: Version,
        error: UpcastError,
    },
}

/// The lines before `Target`. Implemented by [`NoPrevious`], by every
/// [`Upcast`] type whose `Next` is `Target`, by [`Json<M>`] and by
/// [`BreakingChange<P>`]; its methods are jobwire's own.
///
/// ```
/// use jobwire::{History, NoPrevious};
/// fn has_history<T, H: History<T>>() {}
/// has_history::<u32, NoPrevious>();
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be the `Previous` line of `{Target}`",
    label = "not a history of `{Target}`",
    note = "`Previous` is `NoPrevious`, an `Upcast` type whose `Next` is `{Target}`, `Json<M>` with `M: JsonUpcast`, or `BreakingChange<P>`",
    note = "`BreakingChange<P>` needs `impl Downcast for P`: in the release that breaks compatibility, producers under `WritePolicy::Previous` must be able to write what the previous release reads"
)]
pub trait History<Target>: 'static {
    /// Decodes a payload on `line` into `Target`, returning it and the bytes
    /// consumed, or `None` when no link reads that line.
    #[doc(hidden)]
    fn decode(
        line: Line,
        text: &str,
        target: &Version,
    ) -> Option<Result<(Target, usize), ChainError>>;

    /// Lists the links, newest first.
    #[doc(hidden)]
    fn links(out: &mut Vec<LinkInfo>);

    /// The version the previous release writes, when this release breaks it.
    #[doc(hidden)]
    fn breaking_from() -> Option<Version> {
        None
    }

    /// Writes `target` in the previous release's format.
    #[doc(hidden)]
    fn write_previous(_target: &Target, _out: &mut Vec<u8>) -> Option<Result<(), PreviousError>> {
        None
    }
}

#[doc(hidden)]
#[derive(Debug)]
pub enum PreviousError {
    Downcast(DowncastError),
    Serialize(serde_json::Error),
}

impl<T> History<T> for NoPrevious {
    fn decode(_: Line, _: &str, _: &Version) -> Option<Result<(T, usize), ChainError>> {
        None
    }

    fn links(_: &mut Vec<LinkInfo>) {}
}

impl<P: Upcast> History<P::Next> for P {
    fn decode(
        line: Line,
        text: &str,
        target: &Version,
    ) -> Option<Result<(P::Next, usize), ChainError>> {
        let decoded = if line == Line::of(&P::VERSION) {
            decode_prefix::<P>(text).map_err(ChainError::Decode)
        } else {
            P::Previous::decode(line, text, &P::VERSION)?
        };
        Some(decoded.and_then(|(old, used)| {
            old.upcast()
                .map(|next| (next, used))
                .map_err(|error| ChainError::Upcast {
                    from: P::VERSION,
                    to: target.clone(),
                    error,
                })
        }))
    }

    fn links(out: &mut Vec<LinkInfo>) {
        out.push(LinkInfo {
            version: P::VERSION,
            json: false,
        });
        P::Previous::links(out);
    }
}

impl<M: JsonUpcast, T: DeserializeOwned> History<T> for Json<M> {
    fn decode(line: Line, text: &str, target: &Version) -> Option<Result<(T, usize), ChainError>> {
        let decoded = if line == Line::of(&M::VERSION) {
            decode_prefix::<Value>(text).map_err(ChainError::Decode)
        } else {
            M::Previous::decode(line, text, &M::VERSION)?
        };
        Some(decoded.and_then(|(old, used)| {
            let upcast = M::upcast(old).map_err(|error| ChainError::Upcast {
                from: M::VERSION,
                to: target.clone(),
                error,
            })?;
            let next = decode_value::<T>(upcast).map_err(ChainError::Decode)?;
            Ok((next, used))
        }))
    }

    fn links(out: &mut Vec<LinkInfo>) {
        out.push(LinkInfo {
            version: M::VERSION,
            json: true,
        });
        M::Previous::links(out);
    }
}

impl<P: Downcast> History<P::Next> for BreakingChange<P> {
    fn decode(
        line: Line,
        text: &str,
        target: &Version,
    ) -> Option<Result<(P::Next, usize), ChainError>> {
        <P as History<P::Next>>::decode(line, text, target)
    }

    fn links(out: &mut Vec<LinkInfo>) {
        <P as History<P::Next>>::links(out)
    }

    fn breaking_from() -> Option<Version> {
        Some(P::VERSION)
    }

    fn write_previous(target: &P::Next, out: &mut Vec<u8>) -> Option<Result<(), PreviousError>> {
        Some(match P::downcast(target) {
            Ok(previous) => serde_json::to_writer(out, &previous).map_err(PreviousError::Serialize),
            Err(error) => Err(PreviousError::Downcast(error)),
        })
    }
}

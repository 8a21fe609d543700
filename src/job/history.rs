//! A job's history: the chain of upcasters from older lines to the current one.
//!
//! The chain lives in types. `Job::Previous` names the type of the previous
//! line, whose [`Upcast`] impl names its own previous line, and so on down to
//! [`NoPrevious`]. Decoding an old payload is a chain of monomorphised calls,
//! resolved at compile time: the payload is deserialized once, straight into
//! the old type, and each step is a plain Rust conversion.

use crate::job::error::{guarded, Step};
use crate::shape::Shape;
use crate::wire::{decode_prefix, Line};
use crate::{DowncastError, UpcastError};
use semver::Version;
use serde::de::DeserializeOwned;
use serde::Serialize;
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
///     type State = ();
///     type Data = ();
///     async fn perform(self, _ctx: &mut Context<'_>) -> Result<(), HandlerError> { Ok(()) }
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
/// While the write policy is "previous", *every* job of this type goes
/// through the downcast, including those that the new release performs
/// itself: a field the previous line has no room for does not reach any
/// handler until the flip to "current". Declare `LOSSLESS` only when
/// `upcast(downcast(x)) == x` for every `x`; the testing kit checks the claim
/// whenever it is made, and producers warn once per job type when it is not.
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
    /// kit checks the claim whenever it is made.
    const LOSSLESS: bool = false;
    /// Expresses `next` in this line's format.
    fn downcast(next: &Self::Next) -> Result<Self, DowncastError>;
}

/// The end of a chain: the job has no line before this one.
///
/// ```
/// # use jobwire::{Context, HandlerError, Job, NoPrevious};
/// # #[derive(serde::Serialize, serde::Deserialize)] struct Ping {}
/// impl Job for Ping {
///     const NAME: &'static str = "ping";
///     const VERSION: semver::Version = semver::Version::new(1, 0, 0);
///     type Previous = NoPrevious;
///     type State = ();
///     type Data = ();
///     async fn perform(self, _: &mut Context<'_>) -> Result<(), HandlerError> { Ok(()) }
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
/// #     fn downcast(n: &Notify) -> Result<Self, DowncastError> {
/// #         n.user_ids.first().map(|&user_id| NotifyV1 { user_id }).ok_or_else(|| DowncastError::new("empty"))
/// #     }
/// # }
/// impl Job for Notify {
///     const NAME: &'static str = "user.notify";
///     const VERSION: Version = Version::new(2, 0, 0);
///     type Previous = BreakingChange<NotifyV1>;
///     type State = ();
///     type Data = ();
///     async fn perform(self, _: &mut Context<'_>) -> Result<(), HandlerError> { Ok(()) }
/// }
/// ```
pub struct BreakingChange<P>(PhantomData<P>, Never);

#[doc(hidden)]
#[derive(Debug)]
pub enum Never {}

/// One link of a chain, as the registry sees it.
#[derive(Debug, Clone)]
pub(crate) struct LinkInfo {
    pub(crate) version: Version,
    /// The shape of the line's type, for the manifest.
    pub(crate) shape: fn() -> Shape,
}

/// Why a chain could not produce the current type.
#[doc(hidden)]
#[derive(Debug)]
pub enum ChainError {
    /// The payload did not deserialize into the line's type (serde's error,
    /// positioned in the text the chain was given).
    Decode(serde_json::Error),
    /// The text a JSON-level link was given does not parse: a message, the
    /// byte offset in that text, and whether it is a syntax error (rather
    /// than, say, a key written twice).
    Json {
        /// What is wrong.
        message: String,
        /// Where, in the text given to the chain.
        at: usize,
        /// A syntax error, as opposed to arguments that do not fit.
        syntax: bool,
    },
    /// An upcaster failed.
    Upcast {
        /// The version the step started from.
        from: Version,
        /// The version it was upcasting to.
        to: Version,
        /// The upcaster's error.
        error: UpcastError,
    },
    /// A step panicked.
    Panic {
        /// Which step.
        step: Step,
        /// The panic's message.
        message: String,
    },
}

pub(crate) mod sealed {
    /// Only jobwire's chain links are histories.
    pub trait Sealed {}
    impl Sealed for super::NoPrevious {}
    impl<P: super::Upcast> Sealed for P {}
    impl<P> Sealed for super::BreakingChange<P> {}
}

/// The lines before `Target`: implemented by [`NoPrevious`], by every
/// [`Upcast`] type whose `Next` is `Target`, by [`Json<M>`](crate::Json) and by
/// [`BreakingChange<P>`]. It is sealed: its methods are jobwire's own.
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
pub trait History<Target>: sealed::Sealed + 'static {
    /// Decodes a payload on `line` into `Target`, returning it and the bytes
    /// consumed, or `None` when no link reads that line. With `catch`, a panic
    /// in an upcaster becomes `ChainError::Panic`, naming the step; a panic in
    /// a `Deserialize` impl is the caller's to catch.
    #[doc(hidden)]
    fn decode(
        line: Line,
        text: &str,
        target: &Version,
        catch: bool,
    ) -> Option<Result<(Target, usize), ChainError>>;

    /// Lists the links, newest first.
    #[doc(hidden)]
    #[allow(private_interfaces)]
    fn links(out: &mut Vec<LinkInfo>);

    /// The version the previous release writes, when this release breaks it.
    #[doc(hidden)]
    fn breaking_from() -> Option<Version> {
        None
    }

    /// Whether the downcast to the previous release is declared lossless,
    /// when this release breaks it.
    #[doc(hidden)]
    fn lossless() -> Option<bool> {
        None
    }

    /// Writes `target` in the previous release's format.
    #[doc(hidden)]
    fn write_previous(_target: &Target, _out: &mut Vec<u8>) -> Option<Result<(), PreviousError>> {
        None
    }

    /// Downcasts `target` and upcasts it back, when this release breaks the
    /// previous one: for the testing kit's check of `LOSSLESS`.
    #[doc(hidden)]
    fn round_trip(_target: &Target) -> Option<Result<Target, String>> {
        None
    }
}

#[doc(hidden)]
#[derive(Debug)]
pub enum PreviousError {
    Downcast(DowncastError),
    Serialize(serde_json::Error),
    Panic(String),
}

impl<T> History<T> for NoPrevious {
    fn decode(_: Line, _: &str, _: &Version, _: bool) -> Option<Result<(T, usize), ChainError>> {
        None
    }

    #[allow(private_interfaces)]
    fn links(_: &mut Vec<LinkInfo>) {}
}

/// Decodes `text` as the type of a line. A panic in its `Deserialize` impl
/// is the caller's to catch: the router guards the whole decode.
#[inline]
pub(crate) fn decode_typed<T: DeserializeOwned>(text: &str) -> Result<(T, usize), ChainError> {
    decode_prefix::<T>(text).map_err(ChainError::Decode)
}

/// Runs one upcast step, catching a panic in it.
pub(crate) fn upcast_step<A, B>(
    value: A,
    from: &Version,
    to: &Version,
    catch: bool,
    step: impl FnOnce(A) -> Result<B, UpcastError>,
) -> Result<B, ChainError> {
    match guarded(catch, || step(value)) {
        Ok(Ok(next)) => Ok(next),
        Ok(Err(error)) => Err(ChainError::Upcast {
            from: from.clone(),
            to: to.clone(),
            error,
        }),
        Err(message) => Err(ChainError::Panic {
            step: Step::Upcast {
                from: from.clone(),
                to: to.clone(),
            },
            message,
        }),
    }
}

impl<P: Upcast> History<P::Next> for P {
    fn decode(
        line: Line,
        text: &str,
        target: &Version,
        catch: bool,
    ) -> Option<Result<(P::Next, usize), ChainError>> {
        let decoded = if line == Line::of(&P::VERSION) {
            decode_typed::<P>(text)
        } else {
            P::Previous::decode(line, text, &P::VERSION, catch)?
        };
        Some(decoded.and_then(|(old, used)| {
            let next = upcast_step(old, &P::VERSION, target, catch, P::upcast)?;
            Ok((next, used))
        }))
    }

    #[allow(private_interfaces)]
    fn links(out: &mut Vec<LinkInfo>) {
        out.push(LinkInfo {
            version: P::VERSION,
            shape: Shape::of::<P>,
        });
        P::Previous::links(out);
    }
}

impl<P: Downcast> History<P::Next> for BreakingChange<P> {
    fn decode(
        line: Line,
        text: &str,
        target: &Version,
        catch: bool,
    ) -> Option<Result<(P::Next, usize), ChainError>> {
        <P as History<P::Next>>::decode(line, text, target, catch)
    }

    #[allow(private_interfaces)]
    fn links(out: &mut Vec<LinkInfo>) {
        <P as History<P::Next>>::links(out)
    }

    fn breaking_from() -> Option<Version> {
        Some(P::VERSION)
    }

    fn lossless() -> Option<bool> {
        Some(P::LOSSLESS)
    }

    fn write_previous(target: &P::Next, out: &mut Vec<u8>) -> Option<Result<(), PreviousError>> {
        Some(match guarded(true, || P::downcast(target)) {
            Ok(Ok(previous)) => {
                serde_json::to_writer(out, &previous).map_err(PreviousError::Serialize)
            }
            Ok(Err(error)) => Err(PreviousError::Downcast(error)),
            Err(message) => Err(PreviousError::Panic(message)),
        })
    }

    fn round_trip(target: &P::Next) -> Option<Result<P::Next, String>> {
        let back = match guarded(true, || P::downcast(target).map(P::upcast)) {
            Ok(Ok(Ok(back))) => Ok(back),
            Ok(Ok(Err(error))) => Err(format!("upcast back: {error}")),
            Ok(Err(error)) => Err(format!("downcast: {error}")),
            Err(message) => Err(message),
        };
        Some(back)
    }
}

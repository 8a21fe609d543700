//! Jobs shared by the integration tests: a confirmation job with three lines
//! (a JSON-level upcaster for 0.2.x, a typed one for 1.x, the current 2.x) and
//! a job whose handler fails on demand.
#![allow(dead_code)]

pub mod capture;
#[cfg(feature = "postgres")]
pub mod postgres;

/// A job with no arguments and a handler that succeeds, for tests about
/// names, versions and chains: `job!(Type, "name", version, Previous)`, with
/// an optional `aliases = &[...]`.
#[macro_export]
macro_rules! job {
    ($ty:ident, $name:expr, $version:expr, $previous:ty $(, aliases = $aliases:expr)?) => {
        #[derive(::serde::Serialize, ::serde::Deserialize)]
        struct $ty {}
        impl ::jobwire::Job for $ty {
            const NAME: &'static str = $name;
            const VERSION: ::semver::Version = $version;
            $(const ALIASES: &'static [&'static str] = $aliases;)?
            type Previous = $previous;
            type State = ();
            type Data = ();
            async fn perform(self, _: &mut ::jobwire::Context<'_>) -> Result<(), ::jobwire::HandlerError> {
                Ok(())
            }
        }
    };
}

use jobwire::{
    Added, Context, Delivery, HandlerError, Job, Json, JsonArgs, JsonUpcast, NoPrevious, Outcome,
    Router, RouterBuilder, Upcast, UpcastError,
};
use semver::Version;
use serde::{Deserialize, Serialize};
use std::sync::Mutex;

/// What handlers performed, in order.
#[derive(Default)]
pub struct Log(pub Mutex<Vec<String>>);

impl Log {
    pub fn entries(&self) -> Vec<String> {
        self.0.lock().map(|log| log.clone()).unwrap_or_default()
    }
}

fn record(ctx: &Context<'_, Log>, entry: String) -> Result<(), HandlerError> {
    let log = ctx.state();
    log.0
        .lock()
        .map_err(|_| HandlerError::permanent("log poisoned"))?
        .push(entry);
    Ok(())
}

/// 0.2.x: its Rust type is deleted; it wrote `uid` and `text`.
pub enum ConfirmationV0 {}

impl JsonUpcast for ConfirmationV0 {
    const VERSION: Version = Version::new(0, 2, 0);
    type Previous = NoPrevious;
    fn upcast(args: &mut JsonArgs<'_>) -> Result<(), UpcastError> {
        if !args.rename("uid", "id") {
            return Err(UpcastError::new("0.2 arguments have no `uid`"));
        }
        if !args.rename("text", "message") {
            args.insert("message", "")?;
        }
        Ok(())
    }
}

/// 1.x: the user was `id`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfirmationV1 {
    pub id: u64,
    pub message: String,
}

impl Upcast for ConfirmationV1 {
    const VERSION: Version = Version::new(1, 4, 0);
    type Next = Confirmation;
    type Previous = Json<ConfirmationV0>;
    fn upcast(self) -> Result<Confirmation, UpcastError> {
        if self.id == 0 {
            return Err(UpcastError::new("user id 0 does not exist"));
        }
        Ok(Confirmation {
            user_id: self.id,
            message: self.message,
            date: Added::Missing,
        })
    }
}

/// 2.1.0: the current line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Confirmation {
    pub user_id: u64,
    pub message: String,
    /// Added in 2.1.0.
    pub date: Added<String>,
}

impl Job for Confirmation {
    const NAME: &'static str = "user.confirmation";
    const VERSION: Version = Version::new(2, 1, 0);
    type Previous = ConfirmationV1;
    type State = Log;
    type Data = ();
    async fn perform(self, ctx: &mut Context<'_, Log>) -> Result<(), HandlerError> {
        record(
            ctx,
            format!(
                "confirmation {} {:?} {:?}",
                self.user_id, self.message, self.date
            ),
        )
    }
}

impl Confirmation {
    pub fn new(user_id: u64, message: String, date: Option<String>) -> Self {
        Confirmation {
            user_id,
            message,
            date: date.into(),
        }
    }
}

/// A job whose handler fails as its arguments say.
#[derive(Debug, Serialize, Deserialize)]
pub struct Flaky {
    pub mode: String,
}

impl Job for Flaky {
    const NAME: &'static str = "test.flaky";
    const VERSION: Version = Version::new(1, 0, 0);
    type Previous = NoPrevious;
    type State = Log;
    type Data = ();
    async fn perform(self, ctx: &mut Context<'_, Log>) -> Result<(), HandlerError> {
        match self.mode.as_str() {
            "retry" => Err(HandlerError::retryable("the database is busy")),
            "permanent" => Err(HandlerError::permanent("no such account")),
            "panic" => panic!("flaky handler panicked on purpose"),
            "io" => Err(std::io::Error::other("connection reset").into()),
            _ => record(ctx, format!("flaky {}", self.mode)),
        }
    }
}

/// A builder with the shared jobs and a fresh log.
pub fn builder() -> RouterBuilder {
    Router::builder()
        .job::<Confirmation>()
        .job::<Flaky>()
        .state(Log::default())
}

pub fn router() -> Router {
    match builder().build() {
        Ok(router) => router,
        Err(error) => panic!("the shared jobs must build: {error}"),
    }
}

pub fn log(router: &Router) -> Vec<String> {
    router.state::<Log>().map(Log::entries).unwrap_or_default()
}

/// Dispatches on this thread with a bare delivery.
pub fn dispatch<'p>(router: &Router, payload: &'p [u8]) -> Outcome<'p> {
    router.dispatch_blocking(payload, &mut Delivery::new())
}

//! The benchmark cases, shared by `benches/dispatch.rs` (criterion) and
//! `examples/dispatch_cost.rs` (one case in a loop, for callgrind).
//!
//! One logical job, a confirmation with an id, a message and an optional
//! date, at four lines: 0.x (a JSON-level upcaster), 1.x and 2.x (typed
//! upcasters) and the current 3.1.0. Routers hold it beside 9 or 999 filler
//! jobs.
#![allow(dead_code)]

use jobwire::{
    Added, Context, HandlerError, Job, Json, JsonArgs, JsonUpcast, NoPrevious, Producer, Router,
    RouterBuilder, Upcast, UpcastError, WritePolicy,
};
use semver::Version;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::hint::black_box;

/// 3.1.0, the current line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Confirmation {
    pub user_id: u64,
    pub message: String,
    pub date: Added<String>,
}

impl Job for Confirmation {
    const NAME: &'static str = "user.confirmation";
    const VERSION: Version = Version::new(3, 1, 0);
    type Previous = ConfirmationV2;
    type State = ();
    type Data = ();
    async fn perform(self, _: &mut Context<'_>) -> Result<(), HandlerError> {
        black_box(&self);
        Ok(())
    }
}

/// 2.x: the date was an `Option`, the id was `id`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfirmationV2 {
    pub id: u64,
    pub message: String,
    pub date: Option<String>,
}

impl Upcast for ConfirmationV2 {
    const VERSION: Version = Version::new(2, 4, 0);
    type Next = Confirmation;
    type Previous = ConfirmationV1;
    fn upcast(self) -> Result<Confirmation, UpcastError> {
        Ok(Confirmation {
            user_id: self.id,
            message: self.message,
            date: self.date.into(),
        })
    }
}

/// 1.x: `uid` and `text`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfirmationV1 {
    pub uid: u64,
    pub text: String,
}

impl Upcast for ConfirmationV1 {
    const VERSION: Version = Version::new(1, 0, 0);
    type Next = ConfirmationV2;
    type Previous = Json<ConfirmationV0>;
    fn upcast(self) -> Result<ConfirmationV2, UpcastError> {
        Ok(ConfirmationV2 {
            id: self.uid,
            message: self.text,
            date: None,
        })
    }
}

/// 0.x, whose type is deleted: `u` and `t`.
pub enum ConfirmationV0 {}

impl JsonUpcast for ConfirmationV0 {
    const VERSION: Version = Version::new(0, 3, 0);
    type Previous = NoPrevious;
    fn upcast(args: &mut JsonArgs<'_>) -> Result<(), UpcastError> {
        if !(args.rename("u", "uid") && args.rename("t", "text")) {
            return Err(UpcastError::new("0.x arguments have no `u` or `t`"));
        }
        Ok(())
    }
}

/// A filler job, one distinct type per `(A, B, C)`, named `filler.ABC`.
#[derive(Serialize, Deserialize)]
pub struct Filler<const A: usize, const B: usize, const C: usize> {}

const fn filler_name(a: usize, b: usize, c: usize) -> [u8; 10] {
    let mut name = *b"filler.000";
    name[7] = b'0' + a as u8;
    name[8] = b'0' + b as u8;
    name[9] = b'0' + c as u8;
    name
}

impl<const A: usize, const B: usize, const C: usize> Filler<A, B, C> {
    const BYTES: &'static [u8; 10] = &filler_name(A, B, C);
}

impl<const A: usize, const B: usize, const C: usize> Job for Filler<A, B, C> {
    const NAME: &'static str = match std::str::from_utf8(Self::BYTES) {
        Ok(name) => name,
        Err(_) => "filler.invalid",
    };
    const VERSION: Version = Version::new(1, 0, 0);
    type Previous = NoPrevious;
    type State = ();
    type Data = ();
    async fn perform(self, _: &mut Context<'_>) -> Result<(), HandlerError> {
        Ok(())
    }
}

fn tens<const A: usize, const B: usize>(b: RouterBuilder) -> RouterBuilder {
    nine::<A, B>(b.job::<Filler<A, B, 0>>())
}

/// Fillers `AB1` to `AB9`.
fn nine<const A: usize, const B: usize>(b: RouterBuilder) -> RouterBuilder {
    b.job::<Filler<A, B, 1>>()
        .job::<Filler<A, B, 2>>()
        .job::<Filler<A, B, 3>>()
        .job::<Filler<A, B, 4>>()
        .job::<Filler<A, B, 5>>()
        .job::<Filler<A, B, 6>>()
        .job::<Filler<A, B, 7>>()
        .job::<Filler<A, B, 8>>()
        .job::<Filler<A, B, 9>>()
}

fn hundreds<const A: usize>(b: RouterBuilder) -> RouterBuilder {
    let b = tens::<A, 0>(b);
    let b = tens::<A, 1>(b);
    let b = tens::<A, 2>(b);
    let b = tens::<A, 3>(b);
    let b = tens::<A, 4>(b);
    let b = tens::<A, 5>(b);
    let b = tens::<A, 6>(b);
    let b = tens::<A, 7>(b);
    let b = tens::<A, 8>(b);
    tens::<A, 9>(b)
}

/// The last hundred, less one: `900` to `989`, then `991` to `999`.
fn last_hundred(b: RouterBuilder) -> RouterBuilder {
    let b = tens::<9, 0>(b);
    let b = tens::<9, 1>(b);
    let b = tens::<9, 2>(b);
    let b = tens::<9, 3>(b);
    let b = tens::<9, 4>(b);
    let b = tens::<9, 5>(b);
    let b = tens::<9, 6>(b);
    let b = tens::<9, 7>(b);
    let b = tens::<9, 8>(b);
    nine::<9, 9>(b)
}

/// A router of exactly 10 or 1,000 jobs: the confirmation job and 9 or 999
/// fillers.
pub fn router(jobs: usize) -> Router {
    let builder = Router::builder().job::<Confirmation>();
    let builder = if jobs >= 1000 {
        let b = hundreds::<0>(builder);
        let b = hundreds::<1>(b);
        let b = hundreds::<2>(b);
        let b = hundreds::<3>(b);
        let b = hundreds::<4>(b);
        let b = hundreds::<5>(b);
        let b = hundreds::<6>(b);
        let b = hundreds::<7>(b);
        let b = hundreds::<8>(b);
        last_hundred(b)
    } else {
        nine::<0, 0>(builder)
    };
    match builder.build() {
        Ok(router) => router,
        Err(error) => panic!("bench router: {error}"),
    }
}

pub const CURRENT: &[u8] = br#"{"job":"user.confirmation","version":"3.1.0","args":{"user_id":42,"message":"hello!","date":"2017-12-24"}}"#;
pub const OLDER_MINOR: &[u8] =
    br#"{"job":"user.confirmation","version":"3.0.2","args":{"user_id":42,"message":"hello!"}}"#;
pub const TWO_STEP: &[u8] =
    br#"{"job":"user.confirmation","version":"1.0.0","args":{"uid":42,"text":"hello!"}}"#;
pub const JSON_STEP: &[u8] =
    br#"{"job":"user.confirmation","version":"0.3.0","args":{"u":42,"t":"hello!"}}"#;
pub const HEADER_AFTER: &[u8] = br#"{"args":{"user_id":42,"message":"hello!","date":"2017-12-24"},"job":"user.confirmation","version":"3.1.0"}"#;
pub const DEFER_MAJOR: &[u8] = br#"{"job":"user.confirmation","version":"4.0.0","args":{"user_id":42,"message":"hello!","date":"2017-12-24"}}"#;
pub const DEFER_UNKNOWN: &[u8] = br#"{"job":"user.unknown","version":"3.1.0","args":{"user_id":42,"message":"hello!","date":"2017-12-24"}}"#;
/// The same logical job as `CURRENT`, internally tagged for typetag.
pub const TYPETAG: &[u8] =
    br#"{"job":"user.confirmation","user_id":42,"message":"hello!","date":"2017-12-24"}"#;

/// The floor: the whole envelope decoded into a type known at compile time.
#[derive(Serialize, Deserialize)]
pub struct Envelope<'a, A> {
    pub job: &'a str,
    pub version: &'a str,
    pub args: A,
}

pub fn floor<'a, A: Deserialize<'a>>(payload: &'a [u8]) -> bool {
    match serde_json::from_slice::<Envelope<'a, A>>(payload) {
        Ok(envelope) => {
            black_box(&envelope.args);
            true
        }
        Err(_) => false,
    }
}

/// `serde_json::Value` first, then `from_value` for the arguments.
pub fn via_value(payload: &[u8]) -> bool {
    let Ok(Value::Object(mut envelope)) = serde_json::from_slice::<Value>(payload) else {
        return false;
    };
    let known = envelope.get("job").and_then(Value::as_str) == Some(Confirmation::NAME)
        && envelope.get("version").and_then(Value::as_str).is_some();
    let Some(args) = envelope.remove("args") else {
        return false;
    };
    match serde_json::from_value::<Confirmation>(args) {
        Ok(job) => known && job.perform_bench(),
        Err(_) => false,
    }
}

impl Confirmation {
    pub fn perform_bench(&self) -> bool {
        black_box(self);
        true
    }

    pub fn example() -> Confirmation {
        Confirmation {
            user_id: 42,
            message: "hello!".into(),
            date: Added::Present("2017-12-24".into()),
        }
    }
}

/// typetag: an internally tagged `Box<dyn TypetagJob>`, tag first.
#[typetag::serde(tag = "job")]
pub trait TypetagJob {
    fn perform(&self) -> bool;
}

#[typetag::serde(name = "user.confirmation")]
impl TypetagJob for Confirmation {
    fn perform(&self) -> bool {
        self.perform_bench()
    }
}

pub fn via_typetag(payload: &[u8]) -> bool {
    match serde_json::from_slice::<Box<dyn TypetagJob>>(payload) {
        Ok(job) => job.perform(),
        Err(_) => false,
    }
}

/// The upcast steps alone, on already-decoded values: what a typed upcast
/// step should cost.
pub fn conversion_only(v1: ConfirmationV1) -> bool {
    match v1.upcast().and_then(ConfirmationV2::upcast) {
        Ok(job) => job.perform_bench(),
        Err(_) => false,
    }
}

pub fn dispatch(router: &Router, payload: &[u8]) -> bool {
    black_box(router.dispatch_blocking(black_box(payload), &mut jobwire::Delivery::new()))
        .is_performed()
}

pub fn seal(producer: &Producer, job: &Confirmation) -> usize {
    producer.seal(black_box(job)).map_or(0, |bytes| bytes.len())
}

pub fn seal_floor(job: &Confirmation) -> usize {
    let envelope = Envelope {
        job: Confirmation::NAME,
        version: "3.1.0",
        args: job,
    };
    serde_json::to_vec(black_box(&envelope)).map_or(0, |bytes| bytes.len())
}

pub fn producer() -> Producer {
    Producer::new(WritePolicy::Current)
}

/// Everything a case needs, built once, so that a case's count is the call
/// alone.
pub struct Bench {
    pub router: Router,
    pub producer: Producer,
    pub job: Confirmation,
    pub v1: ConfirmationV1,
}

impl Bench {
    pub fn new(jobs: usize) -> Bench {
        Bench {
            router: router(jobs),
            producer: producer(),
            job: Confirmation::example(),
            v1: ConfirmationV1 {
                uid: 42,
                text: "hello!".into(),
            },
        }
    }

    /// Runs one case by name; `None` for an unknown name, `Some(false)` when
    /// the case did not give its expected outcome.
    pub fn run(&self, name: &str) -> Option<bool> {
        let router = &self.router;
        Some(match name {
            "floor" => floor::<Confirmation>(CURRENT),
            "floor-older-minor" => floor::<Confirmation>(OLDER_MINOR),
            "floor-header-after" => floor::<Confirmation>(HEADER_AFTER),
            "floor-two-step" => floor::<ConfirmationV1>(TWO_STEP),
            "typetag" => via_typetag(TYPETAG),
            "value" => via_value(CURRENT),
            "current" => dispatch(router, CURRENT),
            "older-minor" => dispatch(router, OLDER_MINOR),
            "two-step-upcast" => dispatch(router, TWO_STEP),
            "conversion-only" => conversion_only(black_box(self.v1.clone())),
            "json-upcast" => dispatch(router, JSON_STEP),
            "header-after" => dispatch(router, HEADER_AFTER),
            "defer-major" => !dispatch(router, DEFER_MAJOR),
            "defer-unknown" => !dispatch(router, DEFER_UNKNOWN),
            "seal" => seal(&self.producer, &self.job) > 0,
            "seal-floor" => seal_floor(&self.job) > 0,
            _ => return None,
        })
    }
}

pub const CASES: [&str; 16] = [
    "floor",
    "floor-older-minor",
    "floor-header-after",
    "floor-two-step",
    "typetag",
    "value",
    "current",
    "older-minor",
    "two-step-upcast",
    "conversion-only",
    "json-upcast",
    "header-after",
    "defer-major",
    "defer-unknown",
    "seal",
    "seal-floor",
];

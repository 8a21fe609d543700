//! The benchmark cases, shared by `benches/dispatch.rs` (criterion) and
//! `examples/dispatch_cost.rs` (one case in a loop, for callgrind). Both walk
//! the same table, [`cases`], so a case, its baseline and its target are
//! written once.
//!
//! The small cases use one logical job, a confirmation with an id, a message
//! and an optional date, at four lines: 0.x (a JSON-level upcaster), 1.x and
//! 2.x (typed upcasters) and the current 3.1.0. The sized cases use two more
//! shapes, one long string and many short ones, from 100 bytes to 100 KB, in
//! three key orders: header first, header after the arguments, and the order
//! PostgreSQL's `jsonb` gives back (`job`, `args`, `meta`, `version`). Routers
//! hold the jobs beside filler jobs, 10 or 1,000 in all.
#![allow(dead_code)]

use jobwire::{
    Added, Context, HandlerError, Job, Json, JsonArgs, JsonUpcast, NoPrevious, Producer, Router,
    RouterBuilder, Upcast, UpcastError, WritePolicy,
};
use semver::Version;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashMap;
use std::future::Future;
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

/// One long string: a document's body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Text {
    pub id: u64,
    pub body: String,
}

impl Job for Text {
    const NAME: &'static str = "doc.text";
    const VERSION: Version = Version::new(1, 0, 0);
    type Previous = NoPrevious;
    type State = ();
    type Data = ();
    async fn perform(self, _: &mut Context<'_>) -> Result<(), HandlerError> {
        black_box(&self);
        Ok(())
    }
}

/// Many short strings: a list of tags.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tags {
    pub id: u64,
    pub tags: Vec<String>,
}

impl Job for Tags {
    const NAME: &'static str = "doc.tags";
    const VERSION: Version = Version::new(1, 0, 0);
    type Previous = NoPrevious;
    type State = ();
    type Data = ();
    async fn perform(self, _: &mut Context<'_>) -> Result<(), HandlerError> {
        black_box(&self);
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

/// Seven fillers, `001` to `007`.
fn seven(b: RouterBuilder) -> RouterBuilder {
    b.job::<Filler<0, 0, 1>>()
        .job::<Filler<0, 0, 2>>()
        .job::<Filler<0, 0, 3>>()
        .job::<Filler<0, 0, 4>>()
        .job::<Filler<0, 0, 5>>()
        .job::<Filler<0, 0, 6>>()
        .job::<Filler<0, 0, 7>>()
}

/// The last hundred, less three: `900` to `989`, then `991` to `997`.
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
    b.job::<Filler<9, 9, 1>>()
        .job::<Filler<9, 9, 2>>()
        .job::<Filler<9, 9, 3>>()
        .job::<Filler<9, 9, 4>>()
        .job::<Filler<9, 9, 5>>()
        .job::<Filler<9, 9, 6>>()
        .job::<Filler<9, 9, 7>>()
}

/// A router of exactly 10 or 1,000 jobs: the confirmation, text and tags
/// jobs and 7 or 997 fillers.
pub fn router(jobs: usize) -> Router {
    let builder = Router::builder()
        .job::<Confirmation>()
        .job::<Text>()
        .job::<Tags>();
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
        seven(builder)
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

/// The floor, inside a hand-written span with the same five fields as a
/// dispatch's: what a subscriber costs anyone who traces each job.
pub fn floor_in_span(payload: &[u8]) -> bool {
    let span = tracing::info_span!(
        "jobwire.dispatch",
        job.name = Confirmation::NAME,
        job.wire_version = %Confirmation::VERSION,
        job.handler_version = "3.1.0",
        job.upcast = false,
        job.outcome = "performed",
    );
    let _entered = span.enter();
    floor::<Confirmation>(payload)
}

/// The key counts of the wide cases: a hostile object of 60,000 keys must
/// cost what 60 objects of 1,000 keys cost (linear), not 3,600 times more.
pub const WIDE: [usize; 2] = [1_000, 60_000];

/// A JSON-level (0.x) payload whose arguments carry `keys` extra keys.
pub fn wide(keys: usize) -> Vec<u8> {
    let extra: Vec<String> = (0..keys).map(|i| format!("\"k{i}\":{i}")).collect();
    format!(
        r#"{{"job":"user.confirmation","version":"0.3.0","args":{{"u":42,"t":"hello!",{}}}}}"#,
        extra.join(",")
    )
    .into_bytes()
}

/// The linear baseline of the wide cases: the bytes parsed as a
/// `serde_json::Value`.
pub fn parse_value(payload: &[u8]) -> bool {
    serde_json::from_slice::<Value>(payload).is_ok()
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

/// The async dispatch, polled to completion on the smallest executor there
/// is: a no-op waker, polled until ready.
pub fn dispatch_async(router: &Router, payload: &[u8]) -> bool {
    let mut delivery = jobwire::Delivery::new();
    let mut future = std::pin::pin!(router.dispatch(black_box(payload), &mut delivery));
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(outcome) = future.as_mut().poll(&mut cx) {
            return black_box(outcome).is_performed();
        }
    }
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

/// The sizes of the sized cases, in bytes.
pub const SIZES: [usize; 4] = [100, 1_000, 10_000, 100_000];

/// Where the header stands.
#[derive(Clone, Copy)]
pub enum Order {
    /// `job`, `version`, `args`.
    First,
    /// `args`, `job`, `version`.
    After,
    /// `job`, `args`, `meta`, `version`: as PostgreSQL's `jsonb` stores it.
    Jsonb,
}

impl Order {
    pub const ALL: [(Order, &'static str); 3] = [
        (Order::First, "first"),
        (Order::After, "after"),
        (Order::Jsonb, "jsonb"),
    ];
}

/// The arguments of a shape, at about `size` bytes of envelope.
fn sized_args(shape: &str, size: usize) -> String {
    let room = size.saturating_sub(60);
    match shape {
        "long" => format!(r#"{{"id":42,"body":"{}"}}"#, "x".repeat(room.max(1))),
        _ => {
            let tags: Vec<String> = (0..(room / 11).max(1))
                .map(|i| format!("\"tag-{i:04}\""))
                .collect();
            format!(r#"{{"id":42,"tags":[{}]}}"#, tags.join(","))
        }
    }
}

/// A sized envelope of `shape`, in `order`.
pub fn sized(shape: &str, size: usize, order: Order, name: &str, version: &str) -> Vec<u8> {
    let args = sized_args(shape, size);
    let meta = r#"{"id":"01JD6ZQ3"}"#;
    match order {
        Order::First => {
            format!(r#"{{"job":"{name}","version":"{version}","args":{args},"meta":{meta}}}"#)
        }
        Order::After => {
            format!(r#"{{"args":{args},"meta":{meta},"job":"{name}","version":"{version}"}}"#)
        }
        Order::Jsonb => {
            format!(r#"{{"job":"{name}","args":{args},"meta":{meta},"version":"{version}"}}"#)
        }
    }
    .into_bytes()
}

fn shape_job(shape: &str) -> &'static str {
    if shape == "long" {
        Text::NAME
    } else {
        Tags::NAME
    }
}

/// One case: its name, the case it is a ratio to, its target, and what it
/// measures, for the tables.
#[derive(Debug, Clone)]
pub struct Case {
    pub name: String,
    pub baseline: Option<String>,
    pub target: &'static str,
    pub label: String,
}

fn case(name: &str, baseline: Option<&str>, target: &'static str, label: &str) -> Case {
    Case {
        name: name.to_owned(),
        baseline: baseline.map(str::to_owned),
        target,
        label: label.to_owned(),
    }
}

/// Every case, baselines first.
pub fn cases() -> Vec<Case> {
    let mut all = vec![
        case("floor", None, "", "floor: typed decode of the envelope"),
        case(
            "typetag",
            Some("floor"),
            "",
            "typetag, internally tagged, tag first",
        ),
        case(
            "value",
            Some("floor"),
            "",
            "`serde_json::Value`, then `from_value`",
        ),
        case(
            "floor-older-minor",
            None,
            "",
            "floor of the older-minor bytes",
        ),
        case(
            "floor-header-after",
            None,
            "",
            "floor of the header-after bytes",
        ),
        case("floor-two-step", None, "", "floor of the two-step bytes"),
        case(
            "conversion-only",
            Some("floor-two-step"),
            "",
            "the two upcast steps alone",
        ),
        case(
            "seal-floor",
            None,
            "",
            "floor: `serde_json::to_vec` of the typed envelope",
        ),
        case(
            "floor-span",
            Some("floor"),
            "",
            "floor inside a hand-written span, 5 fields (subscriber at INFO)",
        ),
        case(
            "current",
            Some("floor"),
            "<= 0.98",
            "current-version dispatch",
        ),
        case(
            "async",
            Some("floor"),
            "<= 1.10",
            "async dispatch, polled on a no-op waker",
        ),
        case(
            "older-minor",
            Some("floor-older-minor"),
            "<= 1.10",
            "older-minor dispatch",
        ),
        case(
            "header-after",
            Some("floor-header-after"),
            "<= 1.30",
            "header after the arguments",
        ),
        case(
            "two-step-upcast",
            Some("floor-two-step"),
            "",
            "two-step typed upcast",
        ),
        case(
            "json-upcast",
            Some("floor"),
            "< typetag",
            "JSON-level upcast",
        ),
        case(
            "defer-major",
            Some("floor"),
            "<= 1.00",
            "defer: newer major",
        ),
        case(
            "defer-unknown",
            Some("floor"),
            "<= 1.00",
            "defer: unknown job",
        ),
        case(
            "current-subscribed",
            Some("floor-span"),
            "<= 1.00",
            "current-version dispatch, subscriber at INFO",
        ),
        case("seal", Some("seal-floor"), "", "seal, no stamps"),
        case(
            "seal-stamped",
            Some("seal-floor"),
            "",
            "seal, stamped with an id and the time",
        ),
    ];
    for keys in WIDE {
        all.push(case(
            &format!("value-wide-{keys}"),
            None,
            "",
            &format!("floor: the {keys}-key payload parsed as a `Value`"),
        ));
        all.push(case(
            &format!("json-upcast-wide-{keys}"),
            Some(&format!("value-wide-{keys}")),
            "the same at 1,000 and 60,000 keys",
            &format!("JSON-level upcast, {keys} extra keys"),
        ));
    }
    for shape in ["long", "many"] {
        for size in SIZES {
            for (_, order) in Order::ALL {
                all.push(case(
                    &format!("floor-{order}-{shape}-{size}"),
                    None,
                    "",
                    &format!("floor, {shape}, {size} B, header {order}"),
                ));
            }
            for (_, order) in Order::ALL {
                let target = if order == "first" {
                    "<= 1.10"
                } else {
                    "<= 1.30"
                };
                all.push(case(
                    &format!("{order}-{shape}-{size}"),
                    Some(&format!("floor-{order}-{shape}-{size}")),
                    target,
                    &format!("dispatch, {shape}, {size} B, header {order}"),
                ));
            }
            for defer in ["defer-major", "defer-unknown"] {
                all.push(case(
                    &format!("{defer}-{shape}-{size}"),
                    Some(&format!("floor-first-{shape}-{size}")),
                    "<= 1.00",
                    &format!("{defer}, {shape}, {size} B"),
                ));
            }
        }
    }
    all
}

pub fn producer() -> Producer {
    Producer::new(WritePolicy::Current).without_stamps()
}

/// Everything a case needs, built once, so that a case's count is the call
/// alone.
pub struct Bench {
    pub router: Router,
    pub producer: Producer,
    pub stamping: Producer,
    pub job: Confirmation,
    pub v1: ConfirmationV1,
    sized: HashMap<String, Vec<u8>>,
}

impl Bench {
    pub fn new(jobs: usize) -> Bench {
        let mut sized = HashMap::new();
        for shape in ["long", "many"] {
            for size in SIZES {
                for (order, label) in Order::ALL {
                    let job = shape_job(shape);
                    sized.insert(
                        format!("{label}-{shape}-{size}"),
                        self::sized(shape, size, order, job, "1.0.0"),
                    );
                }
                let job = shape_job(shape);
                sized.insert(
                    format!("defer-major-{shape}-{size}"),
                    self::sized(shape, size, Order::First, job, "2.0.0"),
                );
                sized.insert(
                    format!("defer-unknown-{shape}-{size}"),
                    self::sized(shape, size, Order::First, "doc.unknown", "1.0.0"),
                );
            }
        }
        for keys in WIDE {
            sized.insert(format!("wide-{keys}"), wide(keys));
        }
        Bench {
            router: router(jobs),
            producer: producer(),
            stamping: Producer::new(WritePolicy::Current),
            job: Confirmation::example(),
            v1: ConfirmationV1 {
                uid: 42,
                text: "hello!".into(),
            },
            sized,
        }
    }

    /// The payload of a sized case.
    pub fn payload(&self, name: &str) -> Option<&[u8]> {
        self.sized.get(name).map(Vec::as_slice)
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
            "floor-span" => floor_in_span(CURRENT),
            "typetag" => via_typetag(TYPETAG),
            "value" => via_value(CURRENT),
            "current" | "current-subscribed" => dispatch(router, CURRENT),
            "async" => dispatch_async(router, CURRENT),
            "older-minor" => dispatch(router, OLDER_MINOR),
            "two-step-upcast" => dispatch(router, TWO_STEP),
            "conversion-only" => conversion_only(black_box(self.v1.clone())),
            "json-upcast" => dispatch(router, JSON_STEP),
            "header-after" => dispatch(router, HEADER_AFTER),
            "defer-major" => !dispatch(router, DEFER_MAJOR),
            "defer-unknown" => !dispatch(router, DEFER_UNKNOWN),
            "seal" => seal(&self.producer, &self.job) > 0,
            "seal-stamped" => seal(&self.stamping, &self.job) > 0,
            "seal-floor" => seal_floor(&self.job) > 0,
            sized => return self.run_sized(sized),
        })
    }

    fn run_sized(&self, name: &str) -> Option<bool> {
        if let Some(keys) = name.strip_prefix("value-wide-") {
            return Some(parse_value(self.payload(&format!("wide-{keys}"))?));
        }
        if let Some(keys) = name.strip_prefix("json-upcast-wide-") {
            return Some(dispatch(
                &self.router,
                self.payload(&format!("wide-{keys}"))?,
            ));
        }
        if let Some(rest) = name.strip_prefix("floor-") {
            let payload = self.payload(rest)?;
            return Some(if rest.contains("-long-") {
                floor::<Text>(payload)
            } else {
                floor::<Tags>(payload)
            });
        }
        let payload = self.payload(name)?;
        let performed = dispatch(&self.router, payload);
        Some(if name.starts_with("defer-") {
            !performed
        } else {
            performed
        })
    }
}

/// Whether a case runs under a tracing subscriber at INFO.
pub fn subscribed(name: &str) -> bool {
    matches!(name, "floor-span" | "current-subscribed")
}

/// The subscriber of the subscribed cases: the usual formatter at INFO,
/// writing to nowhere.
pub fn subscriber() -> impl tracing::Subscriber + Send + Sync {
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_writer(std::io::sink)
        .finish()
}

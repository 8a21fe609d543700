//! No heap allocation on the dispatch path beyond what the payload type
//! itself allocates: a counting global allocator proves it for every row of
//! the dispatch table that can be free of allocation.

use jobwire::{Context, HandlerError, Job, NoPrevious, Outcome, Router, Upcast, UpcastError};
use semver::Version;
use serde::{Deserialize, Serialize};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// Counts allocations made by the current thread while counting is on.
struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static COUNT: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: every call is forwarded unchanged to the system allocator; the
// counter is a const-initialized thread local, which never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            COUNT.with(|c| c.set(c.get() + 1));
        }
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn allocations<T>(f: impl FnOnce() -> T) -> (T, u64) {
    COUNT.with(|c| c.set(0));
    COUNTING.with(|c| c.set(true));
    let value = f();
    COUNTING.with(|c| c.set(false));
    (value, COUNT.with(Cell::get))
}

/// Arguments that allocate nothing themselves.
#[derive(Serialize, Deserialize)]
struct Tick {
    id: u64,
    at: u32,
}

#[derive(Serialize, Deserialize)]
struct TickV1 {
    n: u64,
}

impl Upcast for TickV1 {
    const VERSION: Version = Version::new(1, 0, 0);
    type Next = Tick;
    type Previous = NoPrevious;
    fn upcast(self) -> Result<Tick, UpcastError> {
        Ok(Tick { id: self.n, at: 0 })
    }
}

impl Job for Tick {
    const NAME: &'static str = "test.tick";
    const VERSION: Version = Version::new(2, 3, 0);
    type Previous = TickV1;
    type State = ();
    type Data = ();
    async fn perform(self, ctx: &mut Context<'_>) -> Result<(), HandlerError> {
        // Reading metadata, headers included, allocates nothing either.
        std::hint::black_box((
            self.id,
            self.at,
            ctx.meta().id(),
            ctx.meta().headers().is_empty(),
        ));
        Ok(())
    }
}

#[test]
fn dispatch_allocates_nothing_the_payload_type_does_not() {
    let router = Router::builder().job::<Tick>().build().expect("builds");
    let cases: [(&str, &[u8], &str); 9] = [
        ("same version", br#"{"job":"test.tick","version":"2.3.0","args":{"id":1,"at":2}}"#, "performed"),
        ("older minor", br#"{"job":"test.tick","version":"2.0.0","args":{"id":1,"at":2}}"#, "performed"),
        // An unknown field the payload type skips is flat here: serde_json
        // keeps a heap stack when `IgnoredAny` skips a nested value, and that
        // is the payload type's own deserializer at work.
        ("newer minor", br#"{"job":"test.tick","version":"2.9.1","args":{"id":1,"at":2,"new":"x"}}"#, "performed"),
        ("unknown envelope fields, nested", br#"{"trace":{"a":[1,{"b":[]}]},"job":"test.tick","version":"2.3.0","args":{"id":1,"at":2}}"#, "performed"),
        ("older major", br#"{"job":"test.tick","version":"1.4.0","args":{"n":1}}"#, "performed"),
        ("header after the arguments", br#"{"args":{"id":1,"at":2},"version":"2.3.0","job":"test.tick"}"#, "performed"),
        ("with metadata", br#"{"job":"test.tick","version":"2.3.0","args":{"id":1,"at":2},"meta":{"id":"j-1","attempt":3,"enqueued_at":9,"headers":{"traceparent":"00-ab"}}}"#, "performed"),
        ("newer major", br#"{"job":"test.tick","version":"3.0.0","args":{}}"#, "deferred"),
        ("unknown job", br#"{"job":"test.tock","version":"1.0.0","args":{}}"#, "deferred"),
    ];
    for (row, payload, expected) in cases {
        // Warm up: first use of a thread's tracing dispatcher and the like.
        assert_eq!(
            router
                .dispatch_blocking(payload, &mut jobwire::Delivery::new())
                .label(),
            expected,
            "{row}"
        );
        let (outcome, count): (Outcome<'_>, u64) =
            allocations(|| router.dispatch_blocking(payload, &mut jobwire::Delivery::new()));
        assert_eq!(outcome.label(), expected, "{row}");
        assert_eq!(count, 0, "{row}: dispatch allocated {count} times");
    }
}

/// Polls an async dispatch to its end with a no-op waker: the handlers here
/// never wait, so one poll finishes them.
fn dispatch_async<'p>(router: &Router, payload: &'p [u8]) -> Outcome<'p> {
    use std::future::Future;
    let mut delivery = jobwire::Delivery::new();
    let mut future = std::pin::pin!(router.dispatch(payload, &mut delivery));
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(outcome) = future.as_mut().poll(&mut cx) {
            return outcome;
        }
    }
}

#[test]
fn async_dispatch_allocates_once_to_perform_and_never_otherwise() {
    let router = Router::builder().job::<Tick>().build().expect("builds");
    let cases: [(&[u8], &str, u64); 5] = [
        (
            br#"{"job":"test.tick","version":"2.3.0","args":{"id":1,"at":2}}"#,
            "performed",
            1,
        ),
        (
            br#"{"job":"test.tick","version":"1.4.0","args":{"n":1}}"#,
            "performed",
            1,
        ),
        (
            br#"{"args":{"id":1,"at":2},"job":"test.tick","version":"2.3.0"}"#,
            "performed",
            1,
        ),
        (
            br#"{"job":"test.tick","version":"3.0.0","args":{}}"#,
            "deferred",
            0,
        ),
        (
            br#"{"job":"test.tock","version":"1.0.0","args":{}}"#,
            "deferred",
            0,
        ),
    ];
    for (payload, expected, allowed) in cases {
        assert_eq!(dispatch_async(&router, payload).label(), expected);
        let (outcome, count) = allocations(|| dispatch_async(&router, payload));
        assert_eq!(outcome.label(), expected);
        assert_eq!(
            count,
            allowed,
            "{}: {count} allocations",
            String::from_utf8_lossy(payload)
        );
    }
}

#[test]
fn under_a_subscriber_dispatch_allocates_no_more_than_one_hand_written_span() {
    let router = Router::builder().job::<Tick>().build().expect("builds");
    let payload = br#"{"job":"test.tick","version":"2.3.0","args":{"id":1,"at":2}}"#;
    let version = Version::new(2, 3, 0);
    let span = || {
        let span = tracing::info_span!(
            "jobwire.dispatch",
            job.name = "test.tick",
            job.wire_version = %version,
            job.handler_version = "2.3.0",
            job.upcast = false,
            job.outcome = "performed",
        );
        let _entered = span.enter();
    };
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_writer(std::io::sink)
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        // Warm up both callsites.
        span();
        assert!(router
            .dispatch_blocking(payload, &mut jobwire::Delivery::new())
            .is_performed());
        let ((), by_span) = allocations(span);
        let (outcome, by_dispatch) =
            allocations(|| router.dispatch_blocking(payload, &mut jobwire::Delivery::new()));
        assert!(outcome.is_performed());
        assert!(by_span > 0, "the subscriber allocates for a span");
        assert!(
            by_dispatch <= by_span,
            "dispatch allocated {by_dispatch} times, a hand-written span {by_span}"
        );
    });
}

#[test]
fn the_counter_counts() {
    let (_, count) = allocations(|| Box::new(7u64));
    assert_eq!(count, 1, "the allocation test must be able to fail");
}

//! An iterable job's progress: the cursor moves only after an item's work
//! returned, progress travels in the payload (so a queue's retry resumes,
//! it does not restart), and a typed cursor comes back as its type. Each
//! test is one bug class the peers have had (see the research notes).

use jobwire::backend::sqlite::Sqlite;
use jobwire::backend::{Backend, Enqueue};
use jobwire::iteration::{iterate, Iterate};
use jobwire::testing::assert_cursor_round_trip;
use jobwire::wire::Header;
use jobwire::worker::{RetryPolicy, Worker};
use jobwire::{Context, Delivery, HandlerError, Job, NoPrevious, Outcome, Producer, Router};
use proptest::prelude::*;
use semver::Version;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Items 1..=`to`; item `fail_at` fails the first `failures` times it runs.
#[derive(Debug, Serialize, Deserialize)]
struct Count {
    to: u64,
    fail_at: u64,
    failures: u32,
}

#[derive(Default, Clone)]
struct Seen {
    done: Arc<Mutex<Vec<u64>>>,
    failed: Arc<AtomicU32>,
}

impl Job for Count {
    const NAME: &'static str = "test.count";
    const VERSION: Version = Version::new(1, 0, 0);
    type Previous = NoPrevious;
    type State = Seen;
    type Data = ();
    async fn perform(self, ctx: &mut Context<'_, Seen>) -> Result<(), HandlerError> {
        iterate(self, ctx).await
    }
}

impl Iterate for Count {
    type Cursor = u64;
    type Item = u64;
    async fn next_items(
        &self,
        after: Option<&u64>,
        _: &mut Context<'_, Seen>,
    ) -> Result<Vec<(u64, u64)>, HandlerError> {
        let from = after.map_or(1, |n| n + 1);
        Ok((from..=self.to).take(4).map(|n| (n, n)).collect())
    }
    async fn each(&self, n: u64, ctx: &mut Context<'_, Seen>) -> Result<(), HandlerError> {
        let seen = ctx.state();
        if n == self.fail_at && seen.failed.load(Ordering::SeqCst) < self.failures {
            seen.failed.fetch_add(1, Ordering::SeqCst);
            return Err(HandlerError::retryable(format!("item {n} failed")));
        }
        seen.done
            .lock()
            .map_err(|_| HandlerError::permanent("poisoned"))?
            .push(n);
        Ok(())
    }
}

fn router(seen: &Seen) -> Router {
    Router::builder()
        .iterable::<Count>()
        .state(seen.clone())
        .build()
        .expect("builds")
}

fn progress(payload: &[u8]) -> (u64, String) {
    let header = Header::read(payload).expect("reads");
    let progress = header.progress().expect("carries progress");
    (progress.items(), progress.cursor_json().to_owned())
}

/// Sidekiq PR #6405: the cursor saved before the item ran skips it after an
/// interruption. Here an item that fails leaves the cursor on the item
/// before it, and the retry starts at the failed item.
#[test]
fn the_cursor_moves_only_after_the_items_work_returned() {
    let seen = Seen::default();
    let router = router(&seen);
    let payload = Producer::default()
        .seal(&Count {
            to: 10,
            fail_at: 7,
            failures: 1,
        })
        .expect("seals");
    let failed = router
        .dispatch_blocking(&payload, &mut Delivery::new())
        .into_owned();
    let Outcome::Failed(failed) = &failed else {
        panic!("{failed:?}")
    };
    assert_eq!(
        progress(&failed.payload),
        (6, "6".to_owned()),
        "items 1..=6 done"
    );
    let retried = router.dispatch_blocking(&failed.payload, &mut Delivery::new());
    assert!(retried.is_performed(), "{retried:?}");
    let done = seen.done.lock().map(|d| d.clone()).unwrap_or_default();
    assert_eq!(
        done,
        (1..=10).collect::<Vec<_>>(),
        "each item once, none skipped"
    );
}

/// job-iteration #309: a retry done by the queue restarted from zero,
/// because the progress was not in the payload it retried. On a real
/// SQLite queue, through the worker's retry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queue_retry_resumes_from_the_progress_in_the_payload() {
    let dir = std::env::temp_dir().join(format!("jobwire-iter-retry-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a scratch folder");
    let queue = Sqlite::open(dir.join("queue.db")).await.expect("opens");
    let seen = Seen::default();
    let payload = Producer::default()
        .seal(&Count {
            to: 12,
            fail_at: 9,
            failures: 2,
        })
        .expect("seals");
    queue
        .enqueue(Enqueue::new(&payload))
        .await
        .expect("enqueues");
    let report = Worker::new(queue.clone(), router(&seen))
        .retries(
            RetryPolicy::default()
                .with_delays(Duration::from_millis(10), Duration::from_millis(10)),
        )
        .poll_interval(Duration::from_millis(10));
    let stop = jobwire::Cancellation::new();
    let stopper = stop.clone();
    let watcher = {
        let queue = queue.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(20)).await;
                let left: i64 = sqlx::query_scalar("SELECT count(*) FROM jobwire_jobs")
                    .fetch_one(queue.pool())
                    .await
                    .unwrap_or(1);
                if left == 0 {
                    stopper.cancel();
                    return;
                }
            }
        })
    };
    let report = tokio::time::timeout(Duration::from_secs(60), report.run(stop.cancelled_owned()))
        .await
        .expect("finishes");
    let _ = watcher.await;
    assert_eq!((report.retried, report.performed), (2, 1), "{report}");
    let done = seen.done.lock().map(|d| d.clone()).unwrap_or_default();
    assert_eq!(
        done,
        (1..=12).collect::<Vec<_>>(),
        "items 1..=8 were not redone"
    );
}

/// A cursor of a time and an id, as a backfill by `updated_at` has.
#[derive(Debug, Serialize, Deserialize)]
struct ByTime {}

type TimeCursor = (SystemTime, u64);

impl Job for ByTime {
    const NAME: &'static str = "test.by_time";
    const VERSION: Version = Version::new(1, 0, 0);
    type Previous = NoPrevious;
    type State = Arc<Mutex<Vec<TimeCursor>>>;
    type Data = ();
    async fn perform(
        self,
        ctx: &mut Context<'_, Arc<Mutex<Vec<TimeCursor>>>>,
    ) -> Result<(), HandlerError> {
        iterate(self, ctx).await
    }
}

fn instant(n: u64) -> SystemTime {
    UNIX_EPOCH + Duration::new(1_700_000_000 + n, 123_456_789)
}

impl Iterate for ByTime {
    type Cursor = TimeCursor;
    type Item = u64;
    async fn next_items(
        &self,
        after: Option<&TimeCursor>,
        ctx: &mut Context<'_, Arc<Mutex<Vec<TimeCursor>>>>,
    ) -> Result<Vec<(u64, TimeCursor)>, HandlerError> {
        // Keep what the run resumed from, to compare.
        if let Some(after) = after {
            ctx.state()
                .lock()
                .map_err(|_| HandlerError::permanent("poisoned"))?
                .push(*after);
        }
        let from = after.map_or(1, |(_, id)| id + 1);
        Ok((from..=3).map(|n| (n, (instant(n), n))).collect())
    }
    async fn each(
        &self,
        _: u64,
        _: &mut Context<'_, Arc<Mutex<Vec<TimeCursor>>>>,
    ) -> Result<(), HandlerError> {
        Ok(())
    }
}

/// job-iteration #73 and #80, Rails #58045: a `Time` cursor came back as a
/// string. A typed cursor is read back as its type, to the nanosecond, and
/// the kit's round-trip property holds for it.
#[test]
fn a_typed_cursor_comes_back_as_its_type() {
    let resumed: Arc<Mutex<Vec<TimeCursor>>> = Arc::default();
    let router = Router::builder()
        .iterable::<ByTime>()
        .state(Arc::clone(&resumed))
        .build()
        .expect("builds");
    let payload = Producer::default().seal(&ByTime {}).expect("seals");
    let first = router
        .dispatch_blocking(&payload, &mut Delivery::new().with_item_budget(2))
        .into_owned();
    let Outcome::Interrupted(stopped) = &first else {
        panic!("{first:?}")
    };
    assert!(router
        .dispatch_blocking(&stopped.payload, &mut Delivery::new())
        .is_performed());
    let resumed = resumed.lock().map(|r| r.clone()).unwrap_or_default();
    assert_eq!(
        resumed.first(),
        Some(&(instant(2), 2)),
        "the very time, not a string"
    );
    let cursors = (any::<u32>(), 0u32..1_000_000_000, any::<u64>())
        .prop_map(|(secs, nanos, id)| (UNIX_EPOCH + Duration::new(u64::from(secs), nanos), id));
    assert_cursor_round_trip::<ByTime>(cursors, 256);
}

/// A cursor type that loses what it holds on the way through JSON: the
/// kit's round-trip property catches it.
#[derive(Debug, Serialize, Deserialize)]
struct Lossy {}

#[derive(Debug, PartialEq)]
struct Millis(f64);

impl Serialize for Millis {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // Written as a string, with two decimals, as a hand-rolled cursor
        // might be.
        s.serialize_str(&format!("{:.2}", self.0))
    }
}

impl<'de> Deserialize<'de> for Millis {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map(Millis).map_err(serde::de::Error::custom)
    }
}

impl Job for Lossy {
    const NAME: &'static str = "test.lossy";
    const VERSION: Version = Version::new(1, 0, 0);
    type Previous = NoPrevious;
    type State = ();
    type Data = ();
    async fn perform(self, ctx: &mut Context<'_>) -> Result<(), HandlerError> {
        iterate(self, ctx).await
    }
}

impl Iterate for Lossy {
    type Cursor = Millis;
    type Item = ();
    async fn next_items(
        &self,
        _: Option<&Millis>,
        _: &mut Context<'_>,
    ) -> Result<Vec<((), Millis)>, HandlerError> {
        Ok(Vec::new())
    }
    async fn each(&self, (): (), _: &mut Context<'_>) -> Result<(), HandlerError> {
        Ok(())
    }
}

#[test]
fn a_cursor_that_does_not_survive_json_fails_the_round_trip_property() {
    let result = std::panic::catch_unwind(|| {
        assert_cursor_round_trip::<Lossy>((0.0f64..1e6).prop_map(Millis), 64);
    });
    let message = result
        .err()
        .and_then(|panic| panic.downcast_ref::<String>().cloned())
        .expect("the property fails");
    assert!(
        message.contains("does not survive the round trip"),
        "{message}"
    );
    assert!(message.contains("reads back as Millis("), "{message}");
}

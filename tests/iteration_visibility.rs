//! An iteration's progress is visible: `tracing` events when a job starts,
//! is interrupted, resumes and completes, with the items done and the
//! cursor (Sidekiq #6537: nobody could see how far a job had come). Its own
//! binary, so that no other test registers the events' callsites first.

mod support;

use jobwire::iteration::{iterate, Iterate};
use jobwire::{Context, Delivery, HandlerError, Job, NoPrevious, Outcome, Producer, Router};
use semver::Version;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::capture::Capture;

#[derive(Default)]
struct Counts {
    items: Mutex<Vec<u64>>,
    completed: AtomicU64,
}

/// Items 1..=`to`, one a batch, each taking `ms`; a run stops after `max_run`.
macro_rules! counter {
    ($name:ident, $job:expr, max_run = $max:expr, checkpoint = $every:expr) => {
        #[derive(Debug, Serialize, Deserialize)]
        struct $name {
            to: u64,
            ms: u64,
        }

        impl Job for $name {
            const NAME: &'static str = $job;
            const VERSION: Version = Version::new(1, 0, 0);
            type Previous = NoPrevious;
            type State = Arc<Counts>;
            type Data = ();
            async fn perform(self, ctx: &mut Context<'_, Arc<Counts>>) -> Result<(), HandlerError> {
                iterate(self, ctx).await
            }
        }

        impl Iterate for $name {
            type Cursor = u64;
            type Item = u64;
            const MAX_RUN_TIME: Option<Duration> = $max;
            const CHECKPOINT_EVERY: Duration = $every;
            async fn next_items(
                &self,
                after: Option<&u64>,
                _: &mut Context<'_, Arc<Counts>>,
            ) -> Result<Vec<(u64, u64)>, HandlerError> {
                let from = after.map_or(1, |n| n + 1);
                // One item a batch: the run time is read between batches.
                Ok((from..=self.to).take(1).map(|n| (n, n)).collect())
            }
            async fn each(
                &self,
                n: u64,
                ctx: &mut Context<'_, Arc<Counts>>,
            ) -> Result<(), HandlerError> {
                if self.ms > 0 {
                    tokio::time::sleep(Duration::from_millis(self.ms)).await;
                }
                ctx.state()
                    .items
                    .lock()
                    .map_err(|_| HandlerError::permanent("poisoned"))?
                    .push(n);
                Ok(())
            }
            async fn completed(
                &self,
                ctx: &mut Context<'_, Arc<Counts>>,
            ) -> Result<(), HandlerError> {
                ctx.state().completed.fetch_add(1, Ordering::SeqCst);
                Ok(())
            }
        }
    };
}

counter!(
    EveryItem,
    "test.every_item",
    max_run = Some(Duration::ZERO),
    checkpoint = Duration::from_secs(5)
);

#[test]
fn each_step_of_an_iteration_is_visible_in_tracing() {
    let capture = Capture::default();
    let counts = Arc::new(Counts::default());
    let router = Router::builder()
        .iterable::<EveryItem>()
        .state(Arc::clone(&counts))
        .build()
        .expect("builds");
    let payload = Producer::default()
        .seal(&EveryItem { to: 2, ms: 0 })
        .expect("seals");
    capture.run(|| {
        let first = router
            .dispatch_blocking(&payload, &mut Delivery::new())
            .into_owned();
        let Outcome::Interrupted(stopped) = &first else {
            panic!("{first:?}")
        };
        let second = router
            .dispatch_blocking(&stopped.payload, &mut Delivery::new())
            .into_owned();
        let Outcome::Interrupted(stopped) = &second else {
            panic!("{second:?}")
        };
        assert!(router
            .dispatch_blocking(&stopped.payload, &mut Delivery::new())
            .is_performed());
    });
    let events: Vec<(String, String, String)> = capture
        .events()
        .into_iter()
        .filter_map(|event| {
            let message = event.fields.get("message")?.clone();
            message.starts_with("jobwire iteration").then(|| {
                (
                    message,
                    event.fields.get("items").cloned().unwrap_or_default(),
                    event.fields.get("cursor").cloned().unwrap_or_default(),
                )
            })
        })
        .collect();
    let expected = [
        ("jobwire iteration started", "", ""),
        ("jobwire iteration interrupted", "1", "1"),
        ("jobwire iteration resumed", "1", "1"),
        ("jobwire iteration interrupted", "2", "2"),
        ("jobwire iteration resumed", "2", "2"),
        ("jobwire iteration completed", "2", ""),
    ];
    let expected: Vec<(String, String, String)> = expected
        .iter()
        .map(|(m, i, c)| ((*m).to_owned(), (*i).to_owned(), (*c).to_owned()))
        .collect();
    assert_eq!(events, expected);
}

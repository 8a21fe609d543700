//! Async handlers, first class: on a multi-threaded tokio runtime, handlers
//! await a timer and a channel, read the state they declared and the queue's
//! attempt and task id, and write through data the caller owns. Dispatch is
//! a `Send` future; an owned outcome crosses `tokio::spawn` with its bytes.

use jobwire::context::TaskId;
use jobwire::{Action, Context, Delivery, HandlerError, Job, NoPrevious, Outcome, Router, Step};
use semver::Version;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// The application state: where greetings go.
struct Greeter {
    sent: mpsc::UnboundedSender<String>,
    salutation: &'static str,
}

/// The caller-owned value each dispatch lends: a journal of what happened.
type Journal = Vec<String>;

#[derive(Serialize, Deserialize)]
struct Greet {
    name: String,
}

impl Job for Greet {
    const NAME: &'static str = "test.greet";
    const VERSION: Version = Version::new(1, 0, 0);
    type Previous = NoPrevious;
    type State = Greeter;
    type Data = Journal;

    async fn perform(self, ctx: &mut Context<'_, Greeter, Journal>) -> Result<(), HandlerError> {
        // A timer...
        tokio::time::sleep(Duration::from_millis(2)).await;
        // ...and a channel, answered by another task.
        let (answer, asked) = oneshot::channel();
        let length = self.name.len();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(1)).await;
            let _ = answer.send(length);
        });
        let letters = asked.await?;
        let greeter = ctx.state();
        let line = format!(
            "{} {} ({letters} letters) attempt {} task {}",
            greeter.salutation,
            self.name,
            ctx.attempt(),
            ctx.task_id().map(|id| id.to_string()).unwrap_or_default()
        );
        greeter.sent.send(line.clone())?;
        ctx.data().push(line);
        Ok(())
    }
}

#[derive(Serialize, Deserialize)]
struct Explode {}

impl Job for Explode {
    const NAME: &'static str = "test.explode";
    const VERSION: Version = Version::new(1, 0, 0);
    type Previous = NoPrevious;
    type State = ();
    type Data = ();
    async fn perform(self, _: &mut Context<'_>) -> Result<(), HandlerError> {
        tokio::time::sleep(Duration::from_millis(1)).await;
        panic!("boom after an await");
    }
}

fn router(sent: mpsc::UnboundedSender<String>) -> Router<Journal> {
    Router::builder()
        .lending::<Journal>()
        .job::<Greet>()
        .job::<Explode>()
        .state(Greeter {
            sent,
            salutation: "hello",
        })
        .build()
        .expect("builds")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn handlers_await_read_state_and_context_and_write_through_lent_data() {
    let (sent, mut received) = mpsc::unbounded_channel();
    let router = Arc::new(router(sent));
    let mut tasks = Vec::new();
    for i in 0..64i64 {
        let router = Arc::clone(&router);
        tasks.push(tokio::spawn(async move {
            let payload =
                format!(r#"{{"job":"test.greet","version":"1.0.0","args":{{"name":"user-{i}"}}}}"#);
            let attempt = u32::try_from(i % 5).unwrap_or(0);
            let mut delivery = Delivery::new()
                .with_attempt(attempt)
                .with_task_id(TaskId::Int(1000 + i))
                .with_data(Journal::new());
            let outcome = router.dispatch(payload.as_bytes(), &mut delivery).await;
            assert!(outcome.is_performed(), "{outcome:?}");
            (i, delivery.into_data())
        }));
    }
    for task in tasks {
        let (i, journal) = task.await.expect("the task finishes");
        let name = format!("user-{i}");
        assert_eq!(
            journal,
            [format!(
                "hello {name} ({} letters) attempt {} task {}",
                name.len(),
                i % 5,
                1000 + i
            )]
        );
    }
    let mut greetings = 0;
    while let Ok(line) = received.try_recv() {
        assert!(line.starts_with("hello user-"));
        greetings += 1;
    }
    assert_eq!(greetings, 64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owned_outcome_crosses_spawn_with_the_original_bytes() {
    let (sent, _received) = mpsc::unbounded_channel();
    let router = Arc::new(router(sent));
    let original =
        br#"{"job":"test.newer","version":"9.0.0","args":{"keep":[1,2,3]},"meta":{"id":"j-9"}}"#;
    let spawned_router = Arc::clone(&router);
    let outcome: Outcome<'static> = tokio::spawn(async move {
        let bytes = original.to_vec();
        let mut delivery = Delivery::new().with_data(Journal::new());
        let outcome = spawned_router.dispatch(&bytes, &mut delivery).await;
        outcome.into_owned()
    })
    .await
    .expect("the task finishes");
    assert_eq!(outcome.action(), Action::Defer);
    assert_eq!(outcome.payload(), Some(&original[..]));
    assert_eq!(outcome.meta().and_then(|m| m.id()), Some("j-9"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_after_an_await_is_a_failed_outcome_and_the_worker_goes_on() {
    let (sent, _received) = mpsc::unbounded_channel();
    let router = router(sent);
    let payload: &[u8] = br#"{"job":"test.explode","version":"1.0.0","args":{}}"#;
    let mut delivery = Delivery::new().with_data(Journal::new());
    let outcome = router.dispatch(payload, &mut delivery).await;
    assert_eq!(outcome.action(), Action::DeadLetter);
    assert_eq!(outcome.payload(), Some(payload));
    let Outcome::Failed(failed) = outcome else {
        panic!("not failed")
    };
    assert!(failed.panicked && failed.step == Step::Perform);
    assert_eq!(
        failed.error.to_string(),
        "handler panicked: boom after an await"
    );
    let fine = br#"{"job":"test.greet","version":"1.0.0","args":{"name":"next"}}"#;
    assert!(router.dispatch(fine, &mut delivery).await.is_performed());
}

#[test]
fn dispatch_is_a_send_future() {
    fn send<T: Send>(_: &T) {}
    let (sent, _received) = mpsc::unbounded_channel();
    let router = router(sent);
    let mut delivery = Delivery::new().with_data(Journal::new());
    let future = router.dispatch(b"{}", &mut delivery);
    send(&future);
}

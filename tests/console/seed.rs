//! A queue with a row in every place, and dead letters of every kind.

use axum::body::Body;
use axum::http::{Request, Response, StatusCode};
use jobwire::backend::sqlite::Sqlite;
use jobwire::backend::{Backend, Enqueue, Settlement, Wait};
use std::path::PathBuf;
use std::time::{Duration, SystemTime};
use tower::ServiceExt;

/// The payload whose markup must never run.
pub const SCRIPT: &str = r#"{"job":"<script>alert('pwned')</script>","version":"1.0.0","args":{"note":"<img src=x onerror=alert(1)>"}}"#;

/// Bytes that are not UTF-8, from a producer outside jobwire.
pub const NOT_UTF8: &[u8] = b"\xff\xfe{\"job\":\x80";

pub fn envelope(job: &str, version: &str) -> Vec<u8> {
    format!(r#"{{"job":"{job}","version":"{version}","args":{{}}}}"#).into_bytes()
}

pub fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("jobwire-console-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a scratch folder");
    dir
}

use super::settle::settled;

/// A queue with rows ready, scheduled, deferred, retrying, interrupted and
/// dead-lettered (one of them carrying `<script>`, one not UTF-8).
pub async fn busy_queue(test: &str) -> (Sqlite, PathBuf) {
    let dir = scratch(test);
    let path = dir.join("jobs.db");
    let queue = Sqlite::open(&path).await.expect("opens");
    fill(&queue).await;
    (queue, dir)
}

/// Rows in every place, on any queue.
pub async fn fill<B: Backend>(queue: &B) {
    let later = SystemTime::now() + Duration::from_secs(3_600);
    settled(
        queue,
        &envelope("user.confirmation", "1.2.0"),
        Settlement::Retry {
            at: later,
            error: "smtp down",
            payload: None,
        },
    )
    .await;
    settled(
        queue,
        &envelope("accounts.backfill", "1.0.0"),
        Settlement::Reschedule {
            at: later,
            payload: None,
            wait: Wait::Interrupted,
        },
    )
    .await;
    settled(
        queue,
        &envelope("billing.settle", "3.0.0"),
        Settlement::Reschedule {
            at: later,
            payload: None,
            wait: Wait::Deferred,
        },
    )
    .await;
    settled(
        queue,
        &envelope("user.welcome_fax", "1.0.0"),
        Settlement::DeadLetter {
            reason: "no release knows it",
            payload: None,
        },
    )
    .await;
    settled(
        queue,
        &envelope("user.welcome_fax", "1.1.0"),
        Settlement::DeadLetter {
            reason: "no release knows it",
            payload: None,
        },
    )
    .await;
    settled(
        queue,
        SCRIPT.as_bytes(),
        Settlement::DeadLetter {
            reason: "<b>unknown</b> job <script>x()</script>",
            payload: None,
        },
    )
    .await;
    settled(
        queue,
        NOT_UTF8,
        Settlement::DeadLetter {
            reason: "unreadable",
            payload: None,
        },
    )
    .await;
    for n in 0..3 {
        queue
            .enqueue(Enqueue::new(&envelope(
                "user.welcome",
                if n == 0 { "1.0.0" } else { "2.1.0" },
            )))
            .await
            .expect("enqueues");
    }
    queue
        .enqueue(Enqueue::new(&envelope("report.daily", "1.0.0")).at(later))
        .await
        .expect("enqueues");
}

/// One request to the console's router, in process.
pub async fn call(
    app: &axum::Router,
    request: Request<Body>,
) -> (StatusCode, String, Response<()>) {
    let response = app
        .clone()
        .oneshot(request)
        .await
        .expect("the router answers");
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, 16 << 20).await.expect("a body");
    (
        parts.status,
        String::from_utf8_lossy(&bytes).into_owned(),
        Response::from_parts(parts, ()),
    )
}

pub fn get(uri: &str) -> Request<Body> {
    Request::get(uri)
        .header("host", "127.0.0.1:8080")
        .body(Body::empty())
        .expect("a request")
}

pub fn post(uri: &str, form: &str) -> Request<Body> {
    Request::post(uri)
        .header("host", "127.0.0.1:8080")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(form.to_owned()))
        .expect("a request")
}

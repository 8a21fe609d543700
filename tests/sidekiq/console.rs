//! The console over Sidekiq's queue (feature `web`): the drain table is
//! `waiting()`, a dead letter written by Ruby is shown escaped and keyed by
//! its `jid`, and a requeue with the token puts its bytes back on the
//! queue.

use crate::support::{block_on, fresh, ruby, worker};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use jobwire::console::Console;
use redis::AsyncCommands;
use std::time::Duration;
use tower::ServiceExt;

async fn call(app: &axum::Router, request: Request<Body>) -> (StatusCode, String) {
    let response = app
        .clone()
        .oneshot(request)
        .await
        .expect("the router answers");
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 16 << 20)
        .await
        .expect("a body");
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

pub fn the_console_shows_and_requeues_sidekiqs_dead_letters() {
    block_on(async {
        let queue = fresh().await;
        ruby(
            r#"
Sidekiq::Client.push("class" => "LedgerJob", "args" => ["<script>alert(1)</script>", 0], "jobwire_version" => "1.0.0")
Sidekiq::Client.push("class" => "LedgerJob", "args" => [1, 0], "jobwire_version" => "2.0.0", "at" => Time.now.to_f + 3600)
"#,
        );
        // The unknown job dies in Sidekiq's dead set.
        let report = worker(&queue, "rust", Duration::from_secs(30))
            .expect("a worker")
            .drain()
            .await;
        assert_eq!(report.performed, 0, "{report}");
        let dead = queue.dead_letters().await.expect("reads");
        assert_eq!(dead.len(), 1, "{dead:#?}");
        let jid = dead[0].jid.clone().expect("a jid");
        assert_eq!(dead[0].key(), jid);

        let app = Console::new(queue.clone()).with_token("s3cret").router();
        let (status, body) = call(
            &app,
            Request::get("/api/waiting")
                .body(Body::empty())
                .expect("a request"),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        let rows: Vec<serde_json::Value> = serde_json::from_str(&body).expect("JSON rows");
        let waiting = queue.waiting().await.expect("reads");
        assert_eq!(rows.len(), waiting.len(), "{body}");
        for (row, w) in rows.iter().zip(&waiting) {
            assert_eq!(row["place"].as_str(), Some(w.place.to_string().as_str()));
            assert_eq!(row["count"].as_u64(), Some(w.count));
        }

        let (status, page) = call(
            &app,
            Request::get(format!("/dead/{jid}"))
                .body(Body::empty())
                .expect("a request"),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert!(!page.contains("<script>alert(1)"), "{page}");
        assert!(
            page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{page}"
        );

        let requeue = |token: &str| {
            Request::post(format!("/dead/{jid}/requeue"))
                .header("host", "127.0.0.1:8080")
                .header("authorization", format!("Bearer {token}"))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(Body::empty())
                .expect("a request")
        };
        let (status, _) = call(&app, requeue("wrong")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let (status, page) = call(&app, requeue("s3cret")).await;
        assert_eq!(status, StatusCode::OK);
        assert!(page.contains("requeued"), "{page}");
        let back: Vec<String> = queue
            .connection()
            .lrange("queue:default", 0, -1)
            .await
            .expect("reads");
        assert_eq!(back.len(), 1, "{back:?}");
        assert!(
            back[0].contains(r#""args":["<script>alert(1)</script>",0]"#),
            "the bytes kept: {}",
            back[0]
        );
        assert!(queue.dead_letters().await.expect("reads").is_empty());

        let (_, page) = call(
            &app,
            Request::get("/jobs")
                .body(Body::empty())
                .expect("a request"),
        )
        .await;
        assert!(
            page.contains("Sidekiq&#39;s Web UI") || page.contains("Sidekiq's Web UI"),
            "{page}"
        );
    });
}

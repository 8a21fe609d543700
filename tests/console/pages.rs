//! The pages show the queue as it is: the deploy table is `waiting()`,
//! and a dead letter's bytes are shown exactly.

use super::seed::{busy_queue, call, get, NOT_UTF8};
use axum::http::StatusCode;
use jobwire::console::Console;

#[tokio::test]
async fn the_deploy_table_is_what_waits_in_the_queue() {
    let (queue, _dir) = busy_queue("table").await;
    let app = Console::new(queue.clone()).router();
    let (status, body, _) = call(&app, get("/api/waiting")).await;
    assert_eq!(status, StatusCode::OK);
    let rows: Vec<serde_json::Value> = serde_json::from_str(&body).expect("JSON rows");
    let waiting = queue.waiting().await.expect("reads");
    assert_eq!(
        rows.len(),
        waiting.len(),
        "one row per (job, version, place): {body}"
    );
    for (row, w) in rows.iter().zip(&waiting) {
        assert_eq!(row["job"].as_str(), w.job.as_deref());
        assert_eq!(
            row["version"].as_str().map(str::to_owned),
            w.version.as_ref().map(ToString::to_string)
        );
        assert_eq!(row["place"].as_str(), Some(w.place.to_string().as_str()));
        assert_eq!(row["count"].as_u64(), Some(w.count));
    }
    let (status, page, _) = call(&app, get("/")).await;
    assert_eq!(status, StatusCode::OK);
    for w in &waiting {
        let cells = format!(
            r#"<td class="place">{}</td><td class="n count">{}</td>"#,
            w.place, w.count
        );
        assert!(page.contains(&cells), "the page shows {cells}");
    }
    assert!(page.contains("user.welcome") && page.contains("2.1.0"));
}

#[tokio::test]
async fn a_dead_letter_is_shown_as_stored_in_text_or_hex() {
    let (queue, _dir) = busy_queue("bytes").await;
    let deads = queue.dead_letters().await.expect("reads");
    let binary = deads
        .iter()
        .find(|d| d.payload == NOT_UTF8)
        .expect("the binary dead letter");
    let app = Console::new(queue.clone()).router();
    let (status, page, _) = call(&app, get(&format!("/dead/{}", binary.key()))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("not UTF-8"), "{page}");
    assert!(
        page.contains(" ff fe 7b 22 6a 6f 62 22 3a 80"),
        "the hex of every byte: {page}"
    );
    let text = deads
        .iter()
        .find(|d| d.job.as_deref() == Some("user.welcome_fax"))
        .expect("a text dead letter");
    let (_, page, _) = call(&app, get(&format!("/dead/{}", text.key()))).await;
    assert!(page.contains("{&quot;job&quot;:&quot;user.welcome_fax&quot;,&quot;version&quot;:&quot;1.0.0&quot;,&quot;args&quot;:{}}"), "{page}");
    let (status, _, _) = call(&app, get("/dead/999999")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, page, _) = call(
        &app,
        get("/dead?job=user.welcome_fax&version=1.x&within_minutes=60"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains(r#"<p id="dead-count">2 of 4 dead letters</p>"#),
        "{page}"
    );
    let (_, page, _) = call(&app, get("/dead?job=user.welcome_fax&version=1.1.0")).await;
    assert!(
        page.contains(r#"<p id="dead-count">1 of 4 dead letters</p>"#),
        "{page}"
    );
}

#[tokio::test]
async fn the_jobs_page_shows_each_jobs_header_envelope_and_last_error() {
    let (queue, _dir) = busy_queue("jobs").await;
    let fax = queue
        .dead_letters()
        .await
        .expect("reads")
        .into_iter()
        .find(|d| d.version.as_deref() == Some("1.1.0"))
        .expect("the 1.1.0 fax");
    assert!(queue.requeue_dead(fax.id).await.expect("requeues"));
    let app = Console::new(queue.clone()).router();

    let (status, page, _) = call(
        &app,
        get("/jobs?job=user.welcome&version=2.1.0&place=ready"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains(r#"<p id="jobs-count">2 shown (of the first 3 read)</p>"#),
        "{page}"
    );
    assert!(
        page.contains("&quot;job&quot;: &quot;user.welcome&quot;"),
        "the envelope, pretty-printed: {page}"
    );

    let (_, page, _) = call(&app, get("/jobs?job=user.welcome_fax")).await;
    assert!(
        page.contains("requeued from the dead letters (#")
            && page.contains("because: no release knows it"),
        "a requeued job says where it came from and why it died: {page}"
    );
    let (_, page, _) = call(&app, get("/jobs?job=user.confirmation&place=retrying")).await;
    assert!(
        page.contains("smtp down"),
        "a retrying job's last error: {page}"
    );

    let (_, page, _) = call(&app, get("/")).await;
    assert!(
        page.contains(r#"href="/jobs?job=user.welcome&amp;version=2.1.0&amp;place=ready""#),
        "each row links to its jobs: {page}"
    );
}

/// The peak of the chart `id` on a health page, from its caption.
fn peak(page: &str, id: &str) -> Option<f64> {
    let at = page.find(&format!(r#"id="{id}""#))?;
    let caption = &page[..at];
    let caption = &caption[caption.rfind("<figcaption>")?..];
    caption
        .split("peak ")
        .nth(1)?
        .split(' ')
        .next()?
        .parse()
        .ok()
}

#[tokio::test]
async fn the_health_page_charts_what_finished_and_what_waits() {
    use jobwire::backend::{Backend, ClaimRequest, Settlement};
    let (queue, _dir) = busy_queue("health").await;
    let app = Console::new(queue.clone())
        .with_interval(std::time::Duration::from_millis(100))
        .router();
    tokio::time::sleep(std::time::Duration::from_millis(350)).await;
    let claims = queue
        .claim(&ClaimRequest::new(
            &["default"],
            3,
            std::time::Duration::from_secs(30),
            "t",
        ))
        .await
        .expect("claims");
    assert_eq!(claims.len(), 3, "the three ready user.welcome jobs");
    for claim in &claims {
        queue
            .settle(&claim.key, (), Settlement::Ack)
            .await
            .expect("acknowledges");
    }
    let mut page = String::new();
    for _ in 0..100 {
        page = call(&app, get("/health")).await.1;
        if peak(&page, "chart-throughput").is_some_and(|p| p > 0.0) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        peak(&page, "chart-throughput").is_some_and(|p| p > 0.0),
        "three jobs finished: {page}"
    );
    assert_eq!(
        peak(&page, "chart-ready"),
        Some(3.0),
        "three were ready: {page}"
    );
    assert_eq!(peak(&page, "chart-dead"), Some(4.0), "{page}");
    assert!(page.contains(r#"id="chart-latency""#));
}

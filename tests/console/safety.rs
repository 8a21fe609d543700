//! Safe by default: no payload's markup is rendered, the console is
//! read-only without a token, and a change needs the token, the session's
//! CSRF token and the console's own origin.

use super::seed::{busy_queue, call, get, post, SCRIPT};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use jobwire::console::Console;

#[tokio::test]
async fn a_payloads_markup_is_escaped_on_every_page() {
    let (queue, _dir) = busy_queue("escape").await;
    let deads = queue.dead_letters().await.expect("reads");
    let script = deads
        .iter()
        .find(|d| d.payload == SCRIPT.as_bytes())
        .expect("the script dead letter");
    let app = Console::new(queue.clone()).with_token("t").router();
    for uri in [
        "/".to_owned(),
        "/part/deploy".to_owned(),
        "/dead".to_owned(),
        format!("/dead/{}", script.key()),
    ] {
        let (status, page, response) = call(&app, get(&uri)).await;
        assert_eq!(status, StatusCode::OK, "{uri}");
        for raw in [
            "<script>alert",
            "<img src=x",
            "<b>unknown</b>",
            "<script>x()",
        ] {
            assert!(!page.contains(raw), "{uri} renders `{raw}`");
        }
        assert!(
            page.contains("&lt;script&gt;"),
            "{uri} shows the markup as text"
        );
        let csp = response
            .headers()
            .get("content-security-policy")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        assert!(csp.contains("script-src 'self'"), "{uri}: {csp}");
    }
}

#[tokio::test]
async fn without_a_token_nothing_can_change() {
    let (queue, _dir) = busy_queue("readonly").await;
    let key = queue.dead_letters().await.expect("reads")[0].key();
    let app = Console::new(queue.clone()).router();
    let (_, page, _) = call(&app, get("/dead")).await;
    assert!(
        !page.contains("requeue") || !page.contains("<button class=\"requeue\""),
        "no buttons when read-only"
    );
    let (status, _, _) = call(&app, post(&format!("/dead/{key}/requeue"), "")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let bearer = Request::post(format!("/dead/{key}/discard"))
        .header("host", "127.0.0.1:8080")
        .header("authorization", "Bearer anything")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::empty())
        .expect("a request");
    let (status, _, _) = call(&app, bearer).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        queue.dead_letters().await.expect("reads").len(),
        4,
        "nothing changed"
    );
}

#[tokio::test]
async fn a_change_needs_the_session_its_csrf_token_and_the_same_origin() {
    let (queue, _dir) = busy_queue("csrf").await;
    let key = queue.dead_letters().await.expect("reads")[0].key();
    let app = Console::new(queue.clone()).with_token("s3cret").router();

    let (status, _, _) = call(&app, post("/signin", "who=mallory&token=guess")).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a wrong token signs nobody in"
    );
    let (status, _, response) = call(&app, post("/signin", "who=ann&token=s3cret")).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let cookie = response
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .expect("a session cookie")
        .to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let session = cookie.split(';').next().expect("name=value").to_owned();

    let with = |uri: &str, form: String, origin: Option<&str>| {
        let mut request = Request::post(uri)
            .header("host", "127.0.0.1:8080")
            .header("cookie", session.clone())
            .header("content-type", "application/x-www-form-urlencoded");
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        request.body(Body::from(form)).expect("a request")
    };
    let mut page_request = get("/dead");
    page_request
        .headers_mut()
        .insert("cookie", session.parse().expect("a header"));
    let (_, page, _) = call(&app, page_request).await;
    let csrf = page
        .split(r#"name="csrf" value=""#)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the page's CSRF token")
        .to_owned();

    let uri = format!("/dead/{key}/discard");
    let (status, _, _) = call(&app, with(&uri, String::new(), None)).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "a form without the CSRF token"
    );
    let (status, _, _) = call(&app, with(&uri, "csrf=forged".into(), None)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a forged CSRF token");
    let (status, _, _) = call(
        &app,
        with(&uri, format!("csrf={csrf}"), Some("http://evil.example")),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "another site's page, even with the token"
    );
    assert_eq!(
        queue.dead_letters().await.expect("reads").len(),
        4,
        "nothing changed yet"
    );

    let (status, page, _) = call(
        &app,
        with(&uri, format!("csrf={csrf}"), Some("http://127.0.0.1:8080")),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains(&format!("dead letter {key} discarded")),
        "{page}"
    );
    assert_eq!(queue.dead_letters().await.expect("reads").len(), 3);

    // A script uses the bearer token; requeue keeps the bytes.
    let dead = queue
        .dead_letters()
        .await
        .expect("reads")
        .into_iter()
        .find(|d| d.job.as_deref() == Some("user.welcome_fax"))
        .expect("a dead fax");
    let wrong = Request::post(format!("/dead/{}/requeue", dead.key()))
        .header("host", "127.0.0.1:8080")
        .header("authorization", "Bearer nope")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::empty())
        .expect("a request");
    let (status, _, _) = call(&app, wrong).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let right = Request::post(format!("/dead/{}/requeue", dead.key()))
        .header("host", "127.0.0.1:8080")
        .header("authorization", "Bearer s3cret")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::empty())
        .expect("a request");
    let (status, _, _) = call(&app, right).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(queue.dead_letters().await.expect("reads").len(), 2);
    use jobwire::backend::{Backend, ClaimRequest};
    let claims = queue
        .claim(&ClaimRequest::new(
            &["default"],
            10,
            std::time::Duration::from_secs(30),
            "t",
        ))
        .await
        .expect("claims");
    assert!(
        claims.iter().any(|c| c.payload == dead.payload),
        "the requeued bytes, unchanged, are claimed"
    );
}

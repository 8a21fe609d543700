//! A person at the console: `jobwire serve` on a seeded queue, driven in
//! headless Chromium through chromedriver (fantoccini). Skipped, saying
//! so, where Chromium is not installed; required in CI
//! (`JOBWIRE_REQUIRE_BROWSER`). Screenshots go to
//! `target/console-screenshots/`.

use super::seed::{busy_queue, SCRIPT};
use fantoccini::{Client, ClientBuilder, Locator};
use jobwire::gate::file::FileGate;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Faxes sent by the worker after their requeue.
static FAXES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// The job the dead-lettered faxes are, back in a release that reads them.
#[derive(serde::Serialize, serde::Deserialize)]
struct Fax {}

impl jobwire::Job for Fax {
    const NAME: &'static str = "user.welcome_fax";
    const VERSION: semver::Version = semver::Version::new(1, 1, 0);
    type Previous = jobwire::NoPrevious;
    type State = ();
    type Data = ();
    async fn perform(self, _: &mut jobwire::Context<'_>) -> Result<(), jobwire::HandlerError> {
        FAXES.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }
}

/// A child process stopped when the test ends, however it ends.
struct Stopped(Child);

impl Drop for Stopped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn chromedriver() -> Option<&'static str> {
    let found = ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists());
    if found.is_none() {
        assert!(
            std::env::var_os("JOBWIRE_REQUIRE_BROWSER").is_none(),
            "JOBWIRE_REQUIRE_BROWSER is set but chromedriver is not installed (Debian: chromium chromium-driver)"
        );
        eprintln!("skipped: the console's browser test needs chromium and chromium-driver");
    }
    found
}

async fn wait_for_port(port: u16) {
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("nothing listens on {port}");
}

async fn screenshot(client: &Client, name: &str) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/console-screenshots");
    let _ = std::fs::create_dir_all(&dir);
    if let Ok(png) = client.screenshot().await {
        let _ = std::fs::write(dir.join(format!("{name}.png")), png);
    }
}

/// The text of `css` once it satisfies `wanted`: a click's navigation
/// replaces the page under the test, so the element is looked up again
/// until the new page shows it (up to 20 s).
async fn text_when(client: &Client, css: &str, wanted: impl Fn(&str) -> bool) -> String {
    let mut last = String::new();
    for _ in 0..200 {
        if let Ok(element) = client.find(Locator::Css(css)).await {
            if let Ok(text) = element.text().await {
                if wanted(&text) {
                    return text;
                }
                last = text;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("`{css}` never showed what was expected; last: {last:?}");
}

/// Fills in the sign-in form as ann, with `token`, and sends it.
async fn sign_in(client: &Client, base: &str, token: &str) {
    client
        .goto(&format!("{base}/signin"))
        .await
        .expect("opens sign-in");
    for (field, text) in [("who", "ann"), ("token", token)] {
        let input = client.find(Locator::Id(field)).await.expect(field);
        input.send_keys(text).await.expect("types");
    }
    let button = client
        .find(Locator::Id("signin-button"))
        .await
        .expect("the button");
    button.click().await.expect("clicks");
}

async fn text_of(client: &Client, css: &str) -> String {
    text_when(client, css, |_| true).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_reads_the_deploy_requeues_a_dead_letter_and_moves_the_gate() {
    let Some(driver) = chromedriver() else { return };
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (queue, dir) = busy_queue("browser").await;
    let gate_path = dir.join("deploy.gate");
    let (web, drive) = (free_port(), free_port());
    let _server = Stopped(
        Command::new(env!("CARGO_BIN_EXE_jobwire"))
            .args([
                "serve",
                "--listen",
                &format!("127.0.0.1:{web}"),
                "--interval",
                "200ms",
            ])
            .arg("--sqlite")
            .arg(dir.join("jobs.db"))
            .arg("--gate-file")
            .arg(&gate_path)
            .env("JOBWIRE_TOKEN", "s3cret")
            .stdout(Stdio::null())
            .spawn()
            .expect("jobwire serve starts"),
    );
    let _driver = Stopped(
        Command::new(driver)
            .arg(format!("--port={drive}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts"),
    );
    wait_for_port(web).await;
    wait_for_port(drive).await;
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({ "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900"] }),
    );
    let client = ClientBuilder::rustls()
        .expect("a WebDriver client")
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{drive}"))
        .await
        .expect("a Chromium session");
    let base = format!("http://127.0.0.1:{web}");

    // The deploy table is the queue's.
    client
        .goto(&format!("{base}/"))
        .await
        .expect("opens the deploy view");
    let rows = client
        .find_all(Locator::Css("#drain tbody tr"))
        .await
        .expect("rows");
    let waiting = queue.waiting().await.expect("reads");
    assert_eq!(
        rows.len(),
        waiting.len(),
        "one row per (job, version, place)"
    );
    for (row, w) in rows.iter().zip(&waiting) {
        let cells = row.find_all(Locator::Css("td")).await.expect("cells");
        let mut texts = Vec::new();
        for cell in &cells {
            texts.push(cell.text().await.expect("text"));
        }
        assert_eq!(
            texts[0],
            w.job.clone().unwrap_or_else(|| "(unreadable)".into())
        );
        assert_eq!(
            texts[1],
            w.version
                .as_ref()
                .map_or_else(|| "?".into(), ToString::to_string)
        );
        assert_eq!(texts[2], w.place.to_string());
        assert_eq!(texts[3], w.count.to_string());
    }
    screenshot(&client, "deploy").await;

    // Live: a job enqueued now shows up without a reload (the marker set
    // on this page survives).
    client
        .execute("window.jobwireMarker = 42; return null;", vec![])
        .await
        .expect("runs a script");
    queue
        .enqueue(jobwire::backend::Enqueue::new(
            br#"{"job":"live.update","version":"9.9.9","args":{}}"#,
        ))
        .await
        .expect("enqueues");
    text_when(&client, "#drain", |t| t.contains("live.update")).await;
    let marker = client
        .execute("return window.jobwireMarker;", vec![])
        .await
        .expect("runs a script");
    assert_eq!(
        marker,
        serde_json::json!(42),
        "the table changed without a reload"
    );

    // No markup from a payload runs: no alert opened, the text is shown.
    client
        .goto(&format!("{base}/dead"))
        .await
        .expect("opens the dead letters");
    assert!(
        client.get_alert_text().await.is_err(),
        "a payload's script ran"
    );
    let body = text_of(&client, "#dead").await;
    assert!(
        body.contains("<script>alert('pwned')</script>"),
        "the markup is shown as text: {body}"
    );
    assert!(
        client.find(Locator::Css("button.requeue")).await.is_err(),
        "no requeue before signing in"
    );
    screenshot(&client, "dead-letters").await;

    // A change without signing in is refused, even from the page itself.
    let key = queue.dead_letters().await.expect("reads")[0].key();
    let status = client
        .execute(
            &format!("return fetch('/dead/{key}/discard', {{method: 'POST', headers: {{'content-type': 'application/x-www-form-urlencoded'}}, body: ''}}).then(r => r.status);"),
            vec![],
        )
        .await
        .expect("posts from the page");
    assert_eq!(status, serde_json::json!(401), "refused without the token");
    assert_eq!(
        queue.dead_letters().await.expect("reads").len(),
        4,
        "nothing was discarded"
    );

    // A wrong token is refused; the right one signs in.
    sign_in(&client, &base, "wrong").await;
    text_when(&client, "#notice", |t| t.contains("refused")).await;
    sign_in(&client, &base, "s3cret").await;
    text_when(&client, "header .who", |t| t.contains("signed in as ann")).await;
    text_when(&client, "header .who", |t| t.contains("signed in as ann")).await;

    // Requeue the `<script>` dead letter: its bytes go back untouched.
    let script = queue
        .dead_letters()
        .await
        .expect("reads")
        .into_iter()
        .find(|d| d.payload == SCRIPT.as_bytes())
        .expect("the script dead letter");
    client
        .goto(&format!("{base}/dead/{}", script.key()))
        .await
        .expect("opens it");
    client
        .find(Locator::Id("requeue"))
        .await
        .expect("a requeue button")
        .click()
        .await
        .expect("clicks");
    text_when(&client, "#notice", |t| t.contains("requeued")).await;
    let dead_now = queue.dead_letters().await.expect("reads");
    assert!(
        !dead_now.iter().any(|d| d.payload == SCRIPT.as_bytes()),
        "it left the dead letters"
    );
    use jobwire::backend::{Backend, ClaimRequest};
    let claims = queue
        .claim(&ClaimRequest::new(
            &["default"],
            20,
            Duration::from_secs(30),
            "worker",
        ))
        .await
        .expect("a worker claims");
    assert!(
        claims.iter().any(|c| c.payload == SCRIPT.as_bytes()),
        "a worker gets the requeued bytes, unchanged"
    );

    // Requeue every 1.x fax by filter, and a worker performs them.
    client
        .goto(&format!("{base}/dead?job=user.welcome_fax&version=1.x"))
        .await
        .expect("opens the filtered dead letters");
    text_when(&client, "#dead-count", |t| t.starts_with("2 of")).await;
    client
        .find(Locator::Id("requeue-all"))
        .await
        .expect("requeue these")
        .click()
        .await
        .expect("clicks");
    text_when(&client, "#notice", |t| {
        t.contains("2 dead letters requeued")
    })
    .await;
    let router = jobwire::Router::builder()
        .job::<Fax>()
        .build()
        .expect("a router");
    let report = jobwire::worker::Worker::new(queue.clone(), router)
        .drain()
        .await;
    assert_eq!(
        FAXES.load(std::sync::atomic::Ordering::SeqCst),
        2,
        "{report}"
    );

    // Close and open the gate.
    let gate = FileGate::new(&gate_path);
    client
        .goto(&format!("{base}/gate"))
        .await
        .expect("opens the gate");
    assert_eq!(text_of(&client, "#gate-state").await, "open");
    client
        .find(Locator::Id("gate-close"))
        .await
        .expect("close")
        .click()
        .await
        .expect("clicks");
    text_when(&client, "#gate-state", |t| t == "closed").await;
    let status = gate.status().expect("reads the gate");
    assert!(
        status.closed && status.holder.as_deref() == Some("console:ann"),
        "{status:?}"
    );
    screenshot(&client, "gate").await;
    client
        .find(Locator::Id("gate-open"))
        .await
        .expect("open")
        .click()
        .await
        .expect("clicks");
    text_when(&client, "#gate-state", |t| t == "open").await;
    assert!(!gate.status().expect("reads the gate").closed);

    client
        .goto(&format!("{base}/health"))
        .await
        .expect("opens health");
    screenshot(&client, "health").await;
    client.close().await.expect("ends the session");
}

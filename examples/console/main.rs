//! The deploy console on a queue in the middle of a deploy: release N's
//! and N+1's manifests in the window, and jobs of both waiting in every
//! place, some dead-lettered.
//!
//! ```sh
//! cargo run --features web --example console            # http://127.0.0.1:8080/
//! cargo run --features web --example console -- --listen 127.0.0.1:9000 --token s3cret
//! ```
//!
//! It serves until Ctrl-C (or `--for SECONDS`); the queue and manifests
//! live in a temporary folder, removed at the end.

#[path = "../releases/mod.rs"]
mod releases;

use jobwire::backend::sqlite::Sqlite;
use jobwire::backend::{Backend, ClaimRequest, Enqueue, Settlement, Wait};
use jobwire::console::{Console, ConsoleGate};
use jobwire::gate::file::FileGate;
use std::time::{Duration, SystemTime};

fn envelope(job: &str, version: &str, args: &str) -> Vec<u8> {
    format!(r#"{{"job":"{job}","version":"{version}","args":{args}}}"#).into_bytes()
}

/// Enqueues `payload`, claims it and settles it as `settlement`.
async fn settled(
    queue: &Sqlite,
    payload: &[u8],
    settlement: Settlement<'_>,
) -> Result<(), Box<dyn std::error::Error>> {
    queue.enqueue(Enqueue::new(payload)).await?;
    let claims = queue
        .claim(&ClaimRequest::new(
            &["default"],
            1,
            Duration::from_secs(30),
            "example",
        ))
        .await?;
    if let Some(claim) = claims.first() {
        queue.settle(&claim.key, (), settlement).await?;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (mut listen, mut token, mut seconds) = ("127.0.0.1:8080".to_owned(), None, None);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--listen" => listen = args.next().ok_or("--listen needs an address")?,
            "--token" => token = args.next(),
            "--for" => seconds = Some(args.next().ok_or("--for needs seconds")?.parse::<u64>()?),
            other => return Err(format!("unknown argument `{other}`").into()),
        }
    }
    let dir = std::env::temp_dir().join(format!("jobwire-console-example-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("manifests"))?;

    // The window: release N is out, N+1 is being deployed.
    let n = releases::router_n(releases::Books::default())?
        .manifest()
        .release("N");
    let n1 = releases::router_n1(releases::Books::default())?
        .manifest()
        .release("N+1");
    std::fs::write(dir.join("manifests/0001-n.json"), n.to_json())?;
    std::fs::write(dir.join("manifests/current.json"), n1.to_json())?;

    // The queue, mid-deploy.
    let queue = Sqlite::open(dir.join("jobs.db")).await?;
    let later = SystemTime::now() + Duration::from_secs(3_600);
    settled(
        &queue,
        &envelope("user.welcome_fax", "1.0.0", r#"{"user_id":7}"#),
        Settlement::DeadLetter {
            reason: "user.welcome_fax is retired in this release",
            payload: None,
        },
    )
    .await?;
    settled(
        &queue,
        &envelope("billing.charge", "1.2.0", r#"{"cents":1200}"#),
        Settlement::Retry {
            at: later,
            error: "card declined: try again",
            payload: None,
        },
    )
    .await?;
    settled(
        &queue,
        &envelope(
            "billing.charge",
            "2.0.0",
            r#"{"amount":{"cents":900,"currency":"EUR"}}"#,
        ),
        Settlement::Reschedule {
            at: later,
            payload: None,
            wait: Wait::Deferred,
        },
    )
    .await?;
    for n in 0..12 {
        queue
            .enqueue(Enqueue::new(&envelope(
                "user.confirmation",
                "1.0.0",
                &format!(r#"{{"user_id":{n}}}"#),
            )))
            .await?;
    }
    for n in 0..30 {
        queue
            .enqueue(Enqueue::new(&envelope(
                "user.confirmation",
                "1.1.0",
                &format!(r#"{{"user_id":{n},"date":"2026-12-05"}}"#),
            )))
            .await?;
    }
    for _ in 0..3 {
        queue
            .enqueue(
                Enqueue::new(&envelope(
                    "report.generate",
                    "1.0.0",
                    r#"{"report":"daily"}"#,
                ))
                .at(later),
            )
            .await?;
    }
    for _ in 0..5 {
        queue
            .enqueue(Enqueue::new(&envelope(
                "user.export",
                "1.0.0",
                r#"{"user_id":1}"#,
            )))
            .await?;
    }

    let mut console = Console::new(queue)
        .with_manifests(dir.join("manifests"))
        .with_gate(ConsoleGate::File(FileGate::new(dir.join("deploy.gate"))));
    if let Some(token) = token {
        console = console.with_token(token);
    }
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    println!("jobwire console on http://{}/", listener.local_addr()?);
    let served = console.serve(listener);
    match seconds {
        Some(seconds) => {
            let _ = tokio::time::timeout(Duration::from_secs(seconds), served).await;
        }
        None => {
            tokio::select! {
                result = served => result?,
                _ = tokio::signal::ctrl_c() => {}
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

//! The file gate with Redis workers: `jobwire gate close --wait` returns
//! once the gated jobs in flight have finished, no gated job starts while it
//! is closed (the claim leaves them in their queue, in order), the jobs it
//! does not gate go on, and opening it lets the held-back jobs run.

use crate::support::{block_on, fresh, list, performed, until, Flaky, LedgerJob, WorkerProcess};
use jobwire::backend::{Backend, Enqueue};
use jobwire::Producer;
use std::process::Command;
use std::time::Duration;

fn jobwire_gate(path: &std::path::Path, args: &[&str]) -> (i32, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_jobwire"))
        .arg("gate")
        .arg("--file")
        .arg(path)
        .args(args)
        .output()
        .expect("runs jobwire gate");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).trim().to_owned(),
    )
}

pub fn the_file_gate_holds_back_gated_jobs_on_redis() {
    let dir = std::env::temp_dir().join(format!("jobwire-sidekiq-gate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a scratch folder");
    let path = dir.join("jobs.gate");
    block_on(async {
        let queue = fresh().await;
        let producer = Producer::default();
        let worker = WorkerProcess::start_gated("gated", &path);
        for id in 1..=3 {
            let payload = producer.seal(&LedgerJob { id, ms: 1_500 }).expect("seals");
            queue
                .enqueue(Enqueue::new(&payload))
                .await
                .expect("enqueues");
        }
        assert!(
            until(Duration::from_secs(30), || async {
                list(&queue, "ledger:started").await.len() == 3
            })
            .await,
            "three gated jobs in flight"
        );
        let (code, token) = jobwire_gate(&path, &["close", "--wait", "--timeout", "60s"]);
        assert_eq!(code, 0, "closed");
        assert_eq!(
            performed(&queue).await.len(),
            3,
            "close returned after the three finished"
        );

        // Gated jobs first in the queue, then jobs the gate does not cover.
        for id in 4..=5 {
            let payload = producer.seal(&LedgerJob { id, ms: 0 }).expect("seals");
            queue
                .enqueue(Enqueue::new(&payload))
                .await
                .expect("enqueues");
        }
        for id in 100..=101 {
            let payload = producer.seal(&Flaky { id, succeed_at: 0 }).expect("seals");
            queue
                .enqueue(Enqueue::new(&payload))
                .await
                .expect("enqueues");
        }
        assert!(
            until(Duration::from_secs(30), || async {
                performed(&queue).await.len() == 5
            })
            .await,
            "the jobs the gate does not cover went past the held-back ones: {:?}",
            performed(&queue).await
        );
        tokio::time::sleep(Duration::from_millis(1_000)).await;
        assert_eq!(
            list(&queue, "ledger:started").await.len(),
            3,
            "no gated job started while closed"
        );

        assert_eq!(
            jobwire_gate(&path, &["open", "--token", &token]).0,
            0,
            "opened"
        );
        assert!(
            until(Duration::from_secs(30), || async {
                performed(&queue).await.len() == 7
            })
            .await,
            "the held-back jobs ran once the gate opened"
        );
        let mut ids: Vec<i64> = performed(&queue).await.iter().map(|p| p.0).collect();
        ids.sort_unstable();
        assert_eq!(ids, [1, 2, 3, 4, 5, 100, 101]);
        let report = worker.term(Duration::from_secs(20));
        assert!(report.contains("performed=7"), "{report}");
    });
    let _ = std::fs::remove_dir_all(&dir);
}

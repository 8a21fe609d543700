//! An iterable job checkpoints into its claim: killed with `kill -9`, it
//! resumes from its last checkpoint on another worker, and the lease that
//! ran out after progress is not counted as an attempt.

use crate::support::{block_on, fresh, list, until, Backfill, WorkerProcess};
use jobwire::backend::{Backend, Enqueue};
use jobwire::Producer;
use redis::AsyncCommands;
use std::time::Duration;

pub fn a_checkpoint_survives_kill_9_without_an_attempt() {
    block_on(async {
        let queue = fresh().await;
        let payload = Producer::default()
            .seal(&Backfill { to: 40, ms: 40 })
            .expect("seals");
        queue
            .enqueue(Enqueue::new(&payload))
            .await
            .expect("enqueues");
        let lease = Duration::from_millis(1000);
        let victim = WorkerProcess::start("victim", lease);
        assert!(
            until(Duration::from_secs(30), || async {
                list(&queue, "ledger:swept").await.len() >= 15
            })
            .await,
            "the victim swept a part"
        );
        victim.kill_9();
        let mut conn = queue.connection();
        let records: Vec<Vec<u8>> = conn.hvals("jobwire:claims").await.expect("reads");
        assert_eq!(records.len(), 1);
        let record = String::from_utf8_lossy(&records[0]).into_owned();
        assert!(
            record.starts_with('p'),
            "progress was saved in the claim: {record}"
        );
        assert!(record.contains("jobwire_progress"), "{record}");

        let heir = WorkerProcess::start("heir", lease);
        assert!(
            until(Duration::from_secs(30), || async {
                list(&queue, "ledger:swept")
                    .await
                    .iter()
                    .any(|l| l.starts_with("40:"))
            })
            .await,
            "the heir finished it"
        );
        let report = heir.term(Duration::from_secs(20));
        assert!(report.contains("performed=1"), "{report}");
        let swept = list(&queue, "ledger:swept").await;
        let items = |worker: &str| -> Vec<u64> {
            swept
                .iter()
                .filter(|l| l.split(':').nth(1) == Some(worker))
                .filter_map(|l| l.split(':').next()?.parse().ok())
                .collect()
        };
        let (by_victim, by_heir) = (items("victim"), items("heir"));
        let first = by_heir.first().copied().unwrap_or(0);
        assert!(first > 1, "the heir resumed from a checkpoint, at {first}");
        assert!(
            by_victim.len() + 10 >= first as usize,
            "at most the items after the last checkpoint are redone: victim {by_victim:?}, heir from {first}"
        );
        let mut all: Vec<u64> = by_victim.iter().chain(&by_heir).copied().collect();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all, (1..=40).collect::<Vec<_>>(), "every item swept");
        assert!(
            swept
                .iter()
                .filter(|l| l.contains(":heir:"))
                .all(|l| l.ends_with(":0")),
            "progress, then a lost lease: no attempt counted: {swept:?}"
        );
    });
}

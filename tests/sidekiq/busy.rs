//! Sidekiq's Busy tab sees jobwire's worker processes: the process
//! heartbeat (`processes`, the process's hash) and its jobs in flight, as
//! Sidekiq's own API reads them.

use crate::support::{block_on, fresh, list, ruby, until, LedgerJob, WorkerProcess};
use jobwire::backend::{Backend, Enqueue};
use jobwire::Producer;
use std::time::Duration;

pub fn the_busy_tab_lists_the_worker_and_its_jobs() {
    block_on(async {
        let queue = fresh().await;
        let producer = Producer::default();
        for id in 1..=2 {
            let payload = producer.seal(&LedgerJob { id, ms: 20_000 }).expect("seals");
            queue
                .enqueue(Enqueue::new(&payload))
                .await
                .expect("enqueues");
        }
        let busy = WorkerProcess::start("busy", Duration::from_secs(30));
        assert!(
            until(Duration::from_secs(30), || async {
                list(&queue, "ledger:started").await.len() == 2
            })
            .await,
            "both started"
        );
        // The first beat went with the first claim, before the jobs; the
        // next is due within five seconds.
        let script = r#"require "sidekiq/api"
procs = Sidekiq::ProcessSet.new.to_a
work = Sidekiq::Workers.new.to_a
puts [procs.size, procs.map { |p| [p["tag"], p["busy"], p["queues"].join(",")].join(":") }.join(";"),
      work.map { |_, _, w| (w["payload"].is_a?(String) ? Sidekiq.load_json(w["payload"]) : w["payload"])["class"] }.sort.join(",")].join("|")"#;
        let mut seen = String::new();
        for _ in 0..40 {
            seen = ruby(script);
            if seen.trim() == "1|jobwire:2:default|LedgerJob,LedgerJob" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        assert_eq!(
            seen.trim(),
            "1|jobwire:2:default|LedgerJob,LedgerJob",
            "Sidekiq's API reads the heartbeat"
        );
        busy.kill_9();
    });
}

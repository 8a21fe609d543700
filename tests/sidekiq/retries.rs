//! Sidekiq's places, kept: a failure waits in `retry` with `retry_count`,
//! `error_message`, `error_class` and `failed_at`; a job out of attempts
//! goes to `dead` with its arguments as they were; and Sidekiq's own API
//! (the Web UI's Retries and Dead tabs, their "retry now" and "delete")
//! works on them.

use crate::support::{block_on, fresh, performed, ruby, worker};
use jobwire::drain::Place;
use std::time::Duration;

pub fn failures_retry_and_die_in_sidekiqs_places() {
    block_on(async {
        let queue = fresh().await;
        // FlakyJob(id, succeed_at): 1 succeeds at its second attempt, 2
        // never does.
        ruby(
            r#"
class FlakyJob
  include Sidekiq::Worker
  sidekiq_options jobwire_version: "1.0.0"
end
FlakyJob.perform_async(1, 1)
FlakyJob.perform_async(2, -1)
"#,
        );
        let report = worker(&queue, "rust", Duration::from_secs(30))
            .expect("a worker")
            .drain()
            .await;
        assert_eq!(report.retried, 2, "{report}");
        let seen = ruby(
            r#"require "sidekiq/api"
Sidekiq::RetrySet.new.sort_by { |j| j.args[0] }.each do |j|
  puts [j.klass, j.args.inspect, j["retry_count"], j["error_class"], j["error_message"], j["failed_at"].is_a?(Float)].join("|")
end"#,
        );
        let lines: Vec<&str> = seen.lines().collect();
        assert_eq!(
            lines,
            [
                "FlakyJob|[1, 1]|0|Jobwire::JobFailed|flaky job 1 failed at attempt 0|true",
                "FlakyJob|[2, -1]|0|Jobwire::JobFailed|flaky job 2 failed at attempt 0|true"
            ],
            "Sidekiq's Retries tab reads them"
        );

        // The retries come due; job 1 then succeeds, job 2 runs out of its
        // three attempts.
        let report = worker(&queue, "rust", Duration::from_secs(30))
            .expect("a worker")
            .run(tokio::time::sleep(Duration::from_secs(3)))
            .await;
        assert_eq!(report.performed, 1, "{report}");
        assert_eq!(report.dead_lettered, 1, "{report}");
        assert_eq!(performed(&queue).await, [(1, "rust".to_owned(), 1)]);
        let dead = ruby(
            r#"require "sidekiq/api"
j = Sidekiq::DeadSet.new.first
puts [Sidekiq::DeadSet.new.size, Sidekiq::RetrySet.new.size, j.klass, j.args.inspect, j["retry_count"], j["error_class"]].join("|")
puts j["error_message"]"#,
        );
        let mut lines = dead.lines();
        assert_eq!(
            lines.next(),
            Some("1|0|FlakyJob|[2, -1]|1|Jobwire::DeadLetter")
        );
        let reason = lines.next().unwrap_or_default();
        assert!(
            reason.contains("flaky job 2 failed at attempt 2"),
            "{reason}"
        );
        let letters = queue.dead_letters().await.expect("reads");
        assert_eq!(letters.len(), 1);
        assert_eq!(letters[0].job.as_deref(), Some("FlakyJob"));
        assert!(
            letters[0].reason.contains("flaky job 2"),
            "{:?}",
            letters[0]
        );

        // The Dead tab's "retry now" puts it back where jobwire reads it.
        ruby(r#"require "sidekiq/api"; Sidekiq::DeadSet.new.first.retry"#);
        let waiting = queue.waiting().await.expect("reads");
        assert_eq!(waiting.len(), 1, "{waiting:?}");
        assert_eq!(
            (waiting[0].job.as_deref(), waiting[0].place),
            (Some("FlakyJob"), Place::Ready)
        );
        // And "delete" removes it for good.
        ruby(r#"Sidekiq::Queue.new("default").each(&:delete)"#.replace("Sidekiq::Queue", "require 'sidekiq/api'; Sidekiq::Queue").as_str());
        assert!(queue.waiting().await.expect("reads").is_empty());
    });
}

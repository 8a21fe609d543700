//! A Rails app keeps its Sidekiq calls: what the real Sidekiq client
//! enqueues (`perform_async`, `perform_in`, `Sidekiq::Client.push`, an
//! ActiveJob wrapper) jobwire's worker performs, versioned or not.

use crate::support::{block_on, fresh, performed, ruby, until, worker};
use jobwire::drain::Place;
use std::time::Duration;

const CLASSES: &str = r#"
class LedgerJob
  include Sidekiq::Worker
  sidekiq_options jobwire_version: "1.0.0"
end
"#;

pub fn every_client_call_is_performed() {
    block_on(async {
        let queue = fresh().await;
        ruby(&format!(
            r#"{CLASSES}
LedgerJob.perform_async(1, 0)
LedgerJob.perform_in(1, 2, 0)
Sidekiq::Client.push("class" => "LedgerJob", "args" => [3, 0])
Sidekiq::Client.push("class" => "ActiveJob::QueueAdapters::SidekiqAdapter::JobWrapper",
  "wrapped" => "Mailer", "queue" => "default",
  "args" => [{{ "job_class" => "Mailer", "job_id" => "b3c1", "queue_name" => "default",
    "arguments" => [{{ "user_id" => 4, "_aj_ruby2_keywords" => ["user_id"] }}],
    "executions" => 0, "locale" => "en" }}])
"#
        ));
        let run = tokio::spawn(
            worker(&queue, "rust", Duration::from_secs(30))
                .expect("a worker")
                .run(tokio::time::sleep(Duration::from_secs(4))),
        );
        assert!(
            until(Duration::from_secs(10), || async {
                performed(&queue).await.len() == 4
            })
            .await,
            "performed: {:?}",
            performed(&queue).await
        );
        let report = run.await.expect("the worker ran");
        assert_eq!(report.performed, 4, "{report}");
        assert_eq!(report.dead_lettered, 0, "{report}");
        let mut ids: Vec<i64> = performed(&queue).await.iter().map(|p| p.0).collect();
        ids.sort_unstable();
        assert_eq!(ids, [1, 2, 3, 4], "each call performed once");
        let counted: String = redis::cmd("GET")
            .arg("stat:processed")
            .query_async(&mut queue.connection())
            .await
            .expect("reads stats");
        assert_eq!(counted, "4", "Sidekiq's Web UI counts them");
        assert!(queue.waiting().await.expect("reads").is_empty());
    });
}

pub fn newer_payloads_are_read_or_deferred() {
    block_on(async {
        let queue = fresh().await;
        // Release N+1's Ruby side: a new optional argument at a minor
        // version, and a major version N cannot read.
        ruby(
            r#"
class LedgerJob
  include Sidekiq::Worker
  sidekiq_options jobwire_version: "1.1.0"
end
LedgerJob.perform_async(1, 0, true)
Sidekiq::Client.push("class" => "LedgerJob", "args" => [2, 0], "jobwire_version" => "2.0.0")
"#,
        );
        let report = worker(&queue, "n", Duration::from_secs(30))
            .expect("a worker")
            .drain()
            .await;
        assert_eq!(report.performed, 1, "N reads N+1's minor version: {report}");
        assert_eq!(report.deferred, 1, "and defers its major version: {report}");
        let waiting = queue.waiting().await.expect("reads");
        assert_eq!(waiting.len(), 1, "{waiting:?}");
        assert_eq!(waiting[0].place, Place::Deferred);
        assert_eq!(waiting[0].version, Some(semver::Version::new(2, 0, 0)));
        // Sidekiq's own API (the Web UI's Scheduled tab) sees it, untouched.
        let seen = ruby(
            r#"require "sidekiq/api"
j = Sidekiq::ScheduledSet.new.first
puts [j.klass, j.args.inspect, j["jobwire_version"], j["jobwire_wait"]].join("|")"#,
        );
        assert_eq!(seen.trim(), "LedgerJob|[2, 0]|2.0.0|deferred");
        assert_eq!(performed(&queue).await.len(), 1);
    });
}

//! Drain on Redis: `waiting()` and `jobwire drain --redis` answer per
//! (job, version, place) from the queues, `schedule`, `retry`, `dead` and
//! the claims.

use crate::support::{block_on, fresh, ruby, worker};
use jobwire::backend::{Backend, ClaimRequest};
use jobwire::drain::Place;
use jobwire::worker::{DeferPolicy, RetryPolicy};

/// Long enough that nothing retried or deferred comes due during the test.
const LATER: Duration = Duration::from_secs(600);
use semver::Version;
use std::time::Duration;

pub fn waiting_answers_per_job_version_and_place() {
    block_on(async {
        let queue = fresh().await;
        ruby(
            r#"
class FlakyJob
  include Sidekiq::Worker
  sidekiq_options jobwire_version: "1.0.0"
end
FlakyJob.perform_async(1, -1)
Sidekiq::Client.push("class" => "LedgerJob", "args" => [1, 0], "jobwire_version" => "2.0.0")
"#,
        );
        // One failure retried, one payload of a later major deferred.
        let report = worker(&queue, "rust", Duration::from_secs(30))
            .expect("a worker")
            .retries(RetryPolicy::default().with_delays(LATER, LATER))
            .deferral(
                DeferPolicy::default()
                    .with_window(LATER)
                    .with_delays(LATER, LATER),
            )
            .drain()
            .await;
        assert_eq!((report.retried, report.deferred), (1, 1), "{report}");
        // An unversioned job, claimed and held.
        ruby(r#"Sidekiq::Client.push("class" => "LedgerJob", "args" => [5, 0])"#);
        let held = queue
            .claim(&ClaimRequest::new(
                &["default"],
                1,
                Duration::from_secs(60),
                "holder",
            ))
            .await
            .expect("claims");
        assert_eq!(held.len(), 1);
        ruby(
            r#"
class LedgerJob
  include Sidekiq::Worker
  sidekiq_options jobwire_version: "1.2.0"
end
LedgerJob.perform_async(2, 0)
LedgerJob.perform_async(3, 0)
LedgerJob.perform_in(3600, 4, 0)
"#,
        );
        let mut conn = queue.connection();
        let _: () = redis::cmd("ZADD")
            .arg("dead")
            .arg(1)
            .arg("garbage")
            .query_async(&mut conn)
            .await
            .expect("writes");

        let got: Vec<(Option<String>, Option<Version>, Place, u64)> = queue
            .waiting()
            .await
            .expect("reads")
            .into_iter()
            .map(|w| (w.job, w.version, w.place, w.count))
            .collect();
        let v = |s: &str| Version::parse(s).ok();
        let name = |s: &str| Some(s.to_owned());
        let expected = vec![
            (None, None, Place::DeadLettered, 1),
            (name("FlakyJob"), v("1.0.0"), Place::Retrying, 1),
            // The unversioned push reads at the default, 1.0.0.
            (name("LedgerJob"), v("1.0.0"), Place::Running, 1),
            (name("LedgerJob"), v("1.2.0"), Place::Ready, 2),
            (name("LedgerJob"), v("1.2.0"), Place::Scheduled, 1),
            (name("LedgerJob"), v("2.0.0"), Place::Deferred, 1),
        ];
        assert_eq!(got, expected);

        // A class whose unversioned jobs read at a version of their own.
        let legacy = queue
            .clone()
            .with_class_version("LedgerJob", Version::new(1, 5, 0));
        let running: Vec<(Option<String>, Option<Version>)> = legacy
            .waiting()
            .await
            .expect("reads")
            .into_iter()
            .filter(|w| w.place == Place::Running)
            .map(|w| (w.job, w.version))
            .collect();
        assert_eq!(running, [(name("LedgerJob"), v("1.5.0"))]);

        // `jobwire drain --redis URL` prints the same table.
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_jobwire"))
            .args(["drain", "--redis", &crate::support::url()])
            .output()
            .expect("runs jobwire drain");
        let table = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{table}");
        let deferred = table
            .lines()
            .find(|line| line.starts_with("LedgerJob") && line.contains("2.0.0"))
            .unwrap_or_default();
        assert!(deferred.contains("deferred"), "{table}");
        assert_eq!(table.lines().count(), 1 + expected.len(), "{table}");
    });
}

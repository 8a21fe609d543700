//! Bytes written straight to Redis, by anyone: what is not a Sidekiq job
//! jobwire can perform ends in `dead`, its bytes kept and a reason
//! Sidekiq's Web UI shows, or waits deferred within the deploy window. The
//! worker never stops and never hot-loops.

use crate::support::{block_on, fresh, ruby, worker};
use redis::AsyncCommands;
use std::time::Duration;

pub fn bytes_written_straight_to_redis() {
    block_on(async {
        let queue = fresh().await;
        let old = 1_000_000_000; // 2001: long before any deploy window
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (b"not json at all".to_vec(), "not a JSON object"),
            (b"[1,2]".to_vec(), "not a JSON object"),
            (b"\xff\xfe garbage".to_vec(), "not UTF-8"),
            (br#"{"args":[1,0],"jid":"c1"}"#.to_vec(), "no `class`"),
            (br#"{"class":"LedgerJob","args":{"0":1},"jid":"c2"}"#.to_vec(), "not an array"),
            (br#"{"class":"LedgerJob","args":[1,0],"class":"Other"}"#.to_vec(), "more than once"),
            (br#"{"class":"LedgerJob","args":["x",0],"jid":"c3"}"#.to_vec(), "LedgerJob"),
            (
                format!(r#"{{"class":"LedgerJob","args":[1,0],"jobwire_version":"9.0.0","jid":"c4","created_at":{old}}}"#)
                    .into_bytes(),
                "9.0.0",
            ),
            (br#"{"class":"NoSuchJob","args":[],"jid":"c5"}"#.to_vec(), "NoSuchJob"),
        ];
        let mut conn = queue.connection();
        for (bytes, _) in &cases {
            let _: () = conn
                .lpush("queue:default", bytes.as_slice())
                .await
                .expect("writes");
        }
        // The window is 2 s: the unknown job is deferred, then dead.
        let report = worker(&queue, "rust", Duration::from_secs(30))
            .expect("a worker")
            .run(tokio::time::sleep(Duration::from_secs(4)))
            .await;
        assert_eq!(report.performed, 0, "{report}");
        let letters = queue.dead_letters().await.expect("reads");
        assert_eq!(letters.len(), cases.len(), "{letters:#?}");
        for (bytes, why) in &cases {
            let letter = letters
                .iter()
                .find(|l| {
                    l.payload == *bytes
                        || (bytes.ends_with(b"}")
                            && l.payload.starts_with(&bytes[..bytes.len() - 1]))
                })
                .unwrap_or_else(|| {
                    panic!("{} is kept: {letters:#?}", String::from_utf8_lossy(bytes))
                });
            assert!(
                letter.reason.contains(why),
                "{}: {}",
                String::from_utf8_lossy(bytes),
                letter.reason
            );
        }
        let queued: usize = conn.llen("queue:default").await.expect("reads");
        let scheduled: usize = conn.zcard("schedule").await.expect("reads");
        assert_eq!((queued, scheduled), (0, 0), "nothing left behind");
        let claims: i64 = conn.get("jobwire:next-claim").await.expect("reads");
        assert!(
            claims < 40,
            "no hot loop: {claims} claims for {} payloads in 4 s",
            cases.len()
        );
        // Sidekiq's API reads every entry, with its reason.
        let seen = ruby(
            r#"require "sidekiq/api"
Sidekiq::DeadSet.new.each { |j| puts [j.klass, j["error_class"], !j["error_message"].to_s.empty?].join("|") }"#,
        );
        assert_eq!(seen.lines().count(), cases.len(), "{seen}");
        assert!(seen.lines().all(|line| line.ends_with("|true")), "{seen}");
    });
}

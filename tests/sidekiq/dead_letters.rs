//! Dead letters on Redis can be put back and thrown away by `jid`, as the
//! console and `jobwire dead` need: a requeued job keeps its bytes, with
//! `jobwire_requeued_at` added and its attempts counted afresh; bytes that
//! were not a Sidekiq job go back as they were.

use crate::support::{block_on, fresh, ruby, worker};
use redis::AsyncCommands;
use std::time::Duration;

pub fn dead_letters_are_requeued_and_discarded_by_jid() {
    block_on(async {
        let queue = fresh().await;
        ruby(
            r#"Sidekiq::Client.push("class" => "LedgerJob", "args" => ["x", 0], "jobwire_version" => "1.0.0")"#,
        );
        let mut conn = queue.connection();
        let _: () = conn
            .lpush("queue:default", "not json")
            .await
            .expect("writes");
        let report = worker(&queue, "rust", Duration::from_secs(30))
            .expect("a worker")
            .drain()
            .await;
        assert_eq!(report.performed, 0, "{report}");
        let letters = queue.dead_letters().await.expect("reads");
        assert_eq!(letters.len(), 2, "{letters:#?}");
        let jid_of = |job: Option<&str>| {
            letters
                .iter()
                .find(|l| l.job.as_deref() == job)
                .and_then(|l| l.jid.clone())
                .unwrap_or_else(|| panic!("a dead letter for {job:?} with a jid: {letters:#?}"))
        };
        let ledger = jid_of(Some("LedgerJob"));
        let garbage = jid_of(None);

        assert!(queue.requeue_dead(&ledger).await.expect("requeues"));
        assert!(
            !queue.requeue_dead(&ledger).await.expect("asks"),
            "only once"
        );
        let back: Vec<String> = conn.lrange("queue:default", 0, -1).await.expect("reads");
        assert_eq!(back.len(), 1, "{back:?}");
        assert!(
            back[0].contains(r#""args":["x",0]"#),
            "the bytes kept: {}",
            back[0]
        );
        assert!(back[0].contains("jobwire_requeued_at"), "{}", back[0]);
        assert!(
            !back[0].contains("retry_count"),
            "attempts afresh: {}",
            back[0]
        );

        assert!(queue.discard_dead(&garbage).await.expect("discards"));
        assert!(!queue.discard_dead("no-such-jid").await.expect("asks"));
        assert!(queue.dead_letters().await.expect("reads").is_empty());
    });
}

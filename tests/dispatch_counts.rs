//! A router built with `count_outcomes` counts what it dispatched per (job
//! name, wire version, outcome), for metrics and for drain; one built
//! without counts nothing.

mod support;

use jobwire::DispatchCount;
use semver::Version;
use support::{builder, dispatch, router};

fn counted(counts: &[DispatchCount], job: &str, wire: Option<&str>, outcome: &str) -> u64 {
    counts
        .iter()
        .filter(|c| {
            c.job == job
                && c.wire_version == wire.map(|v| Version::parse(v).expect("a version"))
                && c.outcome == outcome
        })
        .map(|c| c.count)
        .sum()
}

#[test]
fn each_dispatch_is_counted_under_its_name_wire_version_and_outcome() {
    let router = builder().count_outcomes().build().expect("builds");
    let old = br#"{"job":"user.confirmation","version":"1.0.0","args":{"id":4,"message":"m"}}"#;
    for _ in 0..3 {
        assert!(dispatch(&router, old).is_performed());
    }
    let newer = br#"{"job":"user.confirmation","version":"9.0.0","args":{}}"#;
    assert_eq!(dispatch(&router, newer).label(), "deferred");
    let unknown = br#"{"job":"never.heard","version":"1.0.0","args":{}}"#;
    assert_eq!(dispatch(&router, unknown).label(), "deferred");
    assert_eq!(dispatch(&router, b"nope").label(), "rejected");

    let counts = router.counts();
    assert_eq!(
        counted(&counts, "user.confirmation", Some("1.0.0"), "performed"),
        3
    );
    assert_eq!(
        counted(&counts, "user.confirmation", Some("9.0.0"), "deferred"),
        1
    );
    assert_eq!(
        counted(&counts, "never.heard", Some("1.0.0"), "deferred"),
        1
    );
    assert_eq!(counted(&counts, "(unreadable)", None, "rejected"), 1);
    assert_eq!(counts.iter().map(|c| c.count).sum::<u64>(), 6);
    let mut sorted = counts.clone();
    sorted.sort_by(|a, b| {
        (&a.job, &a.wire_version, a.outcome).cmp(&(&b.job, &b.wire_version, b.outcome))
    });
    assert_eq!(counts, sorted, "sorted, for stable exports");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counts_from_many_tasks_add_up() {
    let router = std::sync::Arc::new(builder().count_outcomes().build().expect("builds"));
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let router = std::sync::Arc::clone(&router);
            tokio::spawn(async move {
                for _ in 0..250 {
                    let payload = br#"{"job":"user.confirmation","version":"1.0.0","args":{"id":4,"message":"m"}}"#;
                    let _ = router.dispatch(payload, &mut jobwire::Delivery::new()).await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("the task ends");
    }
    assert_eq!(
        counted(
            &router.counts(),
            "user.confirmation",
            Some("1.0.0"),
            "performed"
        ),
        2_000
    );
}

#[test]
fn a_router_built_without_counts_counts_nothing() {
    let router = router();
    let _ = dispatch(&router, b"nope");
    assert!(router.counts().is_empty());
}

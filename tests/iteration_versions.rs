//! A cursor is versioned with its job: read on the job's own line, upcast
//! from an older line, deferred from a newer one, rejected (never reset to
//! zero) when nothing reads it, and checked across releases by the
//! deploy-safety check. Bad progress blocks are typed rejections naming the
//! field. The cursor's meaning changing under a batch-size change is
//! maintenance_tasks #796 and job-iteration #709; Rails fails the job
//! (`InvalidStepError`) where jobwire upcasts or defers.

#[path = "support/rows.rs"]
mod rows;

use jobwire::check::{check, Rule};
use jobwire::wire::Header;
use jobwire::{Action, DeferReason, Delivery, Outcome, Producer, RejectError, Router};
use rows::releases::{release_1, release_2, release_3};
use rows::Rows;

fn router_1(rows: &Rows) -> Router {
    Router::builder()
        .iterable::<release_1::Backfill<Rows>>()
        .state(rows.clone())
        .build()
        .expect("builds")
}

fn router_2(rows: &Rows) -> Router {
    Router::builder()
        .iterable::<release_2::Backfill<Rows>>()
        .state(rows.clone())
        .build()
        .expect("builds")
}

fn router_3(rows: &Rows) -> Router {
    Router::builder()
        .iterable::<release_3::Backfill<Rows>>()
        .state(rows.clone())
        .build()
        .expect("builds")
}

/// Release 1 does `batches` batches of 500, then stops at a checkpoint.
fn interrupted_on_release_1(rows: &Rows, batches: u64) -> Vec<u8> {
    let payload = Producer::default()
        .seal(&release_1::Backfill::<Rows>::new("accounts"))
        .expect("seals");
    let outcome = router_1(rows)
        .dispatch_blocking(&payload, &mut Delivery::new().with_item_budget(batches))
        .into_owned();
    match outcome {
        Outcome::Interrupted(stopped) => stopped.payload.into_owned(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_older_lines_cursor_is_upcast_and_the_job_resumes_where_it_stopped() {
    let rows = Rows::ids(5_000);
    let payload = interrupted_on_release_1(&rows, 3);
    // Release 2 reads release 1's cursor (the last id, 1500) through its
    // cursor upcaster, and goes on in batches of 2,000.
    let stopped = router_2(&rows)
        .dispatch_blocking(&payload, &mut Delivery::new().with_item_budget(1))
        .into_owned();
    let Outcome::Interrupted(stopped) = stopped else {
        panic!("{stopped:?}")
    };
    // Written again at release 2's version, with release 2's cursor, so
    // that release 3 reads it on its own line.
    let header = Header::read(&stopped.payload).expect("reads");
    assert_eq!(header.version().to_string(), "2.0.0");
    let progress = header.progress().expect("progress");
    assert_eq!(progress.cursor_json(), r#"{"after_id":3500,"batches":1}"#);
    assert_eq!(progress.items(), 4);
    assert!(router_3(&rows)
        .dispatch_blocking(&stopped.payload, &mut Delivery::new())
        .is_performed());
    let written = rows.written.lock().map(|w| w.clone()).unwrap_or_default();
    assert_eq!(written, (1..=5_000).collect::<Vec<_>>(), "every row once");
}

#[test]
fn a_cursor_no_upcaster_reads_is_rejected_never_resumed_from_zero() {
    let rows = Rows::ids(2_000);
    // Release 1's payload, with release 1's cursor, under a version release
    // 2 reads as an older line without a cursor upcaster for it.
    let payload = interrupted_on_release_1(&rows, 1);
    let text = String::from_utf8(payload).expect("UTF-8");
    let payload = text.replace(r#""version":"1.0.0""#, r#""version":"0.9.0""#);
    let written_before = rows.written.lock().map(|w| w.len()).unwrap_or(0);
    let outcome = Router::builder()
        .iterable::<release_2::Backfill<Rows>>()
        .state(rows.clone())
        .build()
        .expect("builds")
        .dispatch_blocking(payload.as_bytes(), &mut Delivery::new());
    // 0.9 is not a line release 2 reads at all: rejected before anything.
    assert_eq!(outcome.action(), Action::DeadLetter, "{outcome:?}");
    // And a 1.x payload whose cursor release 2's upcaster cannot read:
    let payload = text.replace(r#""cursor":500"#, r#""cursor":"page 1""#);
    let outcome = router_2(&rows).dispatch_blocking(payload.as_bytes(), &mut Delivery::new());
    let Outcome::Rejected(rejected) = &outcome else {
        panic!("{outcome:?}")
    };
    let RejectError::Progress {
        job,
        field,
        message,
        ..
    } = &rejected.error
    else {
        panic!("{:?}", rejected.error)
    };
    assert_eq!(
        (job.as_str(), *field),
        ("accounts.backfill_email_lower", "cursor")
    );
    assert!(message.contains("invalid type"), "{message}");
    assert_eq!(
        rejected.payload.as_ref(),
        payload.as_bytes(),
        "the bytes, untouched"
    );
    assert_eq!(
        rows.written.lock().map(|w| w.len()).unwrap_or(0),
        written_before,
        "nothing performed from zero"
    );
}

#[test]
fn a_cursor_from_a_newer_line_is_deferred_not_misread() {
    let rows = Rows::ids(3_000);
    let payload = interrupted_on_release_1(&rows, 1);
    let stopped = router_2(&rows)
        .dispatch_blocking(&payload, &mut Delivery::new().with_item_budget(1))
        .into_owned();
    let Outcome::Interrupted(stopped) = stopped else {
        panic!("{stopped:?}")
    };
    // Release 1 meets release 2's payload, with release 2's cursor.
    let written_before = rows.written.lock().map(|w| w.len()).unwrap_or(0);
    let outcome = router_1(&rows).dispatch_blocking(&stopped.payload, &mut Delivery::new());
    let Outcome::Deferred(deferred) = &outcome else {
        panic!("{outcome:?}")
    };
    assert!(matches!(deferred.reason, DeferReason::NewerRelease { .. }));
    assert_eq!(
        rows.written.lock().map(|w| w.len()).unwrap_or(0),
        written_before
    );
}

#[test]
fn a_malformed_progress_block_or_a_cursor_of_the_wrong_type_is_rejected_naming_the_field() {
    let rows = Rows::ids(10);
    let router = router_2(&rows);
    let cases = [
        (
            r#"{"job":"accounts.backfill_email_lower","version":"2.0.0","args":{"table":"a"},"progress":{"cursor":null,"items":"three","elapsed_ms":0,"interruptions":0}}"#,
            "items",
        ),
        (
            r#"{"job":"accounts.backfill_email_lower","version":"2.0.0","args":{"table":"a"},"progress":{"cursor":{"after_id":"7"},"items":3,"elapsed_ms":0,"interruptions":0}}"#,
            "cursor",
        ),
        (
            r#"{"job":"accounts.backfill_email_lower","version":"2.0.0","args":{"table":"a"},"progress":{"cursor":1500,"items":3,"elapsed_ms":0,"interruptions":0}}"#,
            "cursor",
        ),
    ];
    for (payload, field_at_fault) in cases {
        let outcome = router.dispatch_blocking(payload.as_bytes(), &mut Delivery::new());
        let Outcome::Rejected(rejected) = &outcome else {
            panic!("{payload}: {outcome:?}")
        };
        match &rejected.error {
            RejectError::Progress { job, field, .. } => {
                assert_eq!(job, "accounts.backfill_email_lower");
                assert_eq!(*field, field_at_fault, "{payload}");
            }
            other => panic!("{payload}: {other:?}"),
        }
        assert!(rejected
            .error
            .to_string()
            .contains(&format!("`progress.{field_at_fault}`")));
    }
    assert!(
        rows.written.lock().map(|w| w.is_empty()).unwrap_or(false),
        "none resumed from zero"
    );
}

#[test]
fn the_deploy_check_flags_a_cursor_changed_without_a_version_change() {
    let rows = Rows::default();
    let one = router_1(&rows).manifest();
    let two = router_2(&rows).manifest();
    assert_eq!(
        one.jobs["accounts.backfill_email_lower"].cursor.as_deref(),
        Some("u64")
    );
    // Across a major version with a cursor upcaster: fine.
    let report = check(&one, &two);
    assert!(
        !report
            .findings
            .iter()
            .any(|f| f.rule == Rule::CursorChangedWithoutVersion),
        "{report}"
    );
    // The same cursor change on the same line: flagged, and breaking.
    let mut same_line = two.clone();
    if let Some(job) = same_line.jobs.get_mut("accounts.backfill_email_lower") {
        job.version = semver::Version::new(1, 1, 0);
        job.reads.truncate(1);
    }
    let report = check(&one, &same_line);
    let finding = report
        .findings
        .iter()
        .find(|f| f.rule == Rule::CursorChangedWithoutVersion)
        .unwrap_or_else(|| panic!("flagged: {report}"));
    assert!(report.is_breaking());
    assert!(
        finding.message.contains("`u64` at 1.0.0"),
        "{}",
        finding.message
    );
    assert!(finding.fix.contains("2.0.0"), "{}", finding.fix);
}

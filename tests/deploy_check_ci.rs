//! The deploy-safety check in CI: the test helper against committed
//! manifests (with blessing), and the `jobwire-check` command on the
//! manifests of `rolling_deploy`'s two releases.

#[path = "../examples/releases/mod.rs"]
mod releases;

use jobwire::{check_committed, BLESS_ENV};
use releases::{router_n, router_n1, Books};
use std::path::PathBuf;
use std::process::Command;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("jobwire-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a scratch folder");
    dir
}

// One test, because it sets an environment variable that the others read.
#[test]
fn the_test_helper_checks_committed_manifests_and_blesses_on_request() {
    let dir = scratch("committed");
    let n = router_n(Books::default()).expect("N");
    let n1 = router_n1(Books::default()).expect("N+1");

    // No manifest committed yet: a clear error that says how to record one.
    let missing = dir.join("last.json");
    let error = check_committed(&missing, &n1).expect_err("nothing committed");
    assert!(error.to_string().contains("last.json"), "{error}");

    // Blessing writes the current manifest, and the check then passes.
    std::env::set_var(BLESS_ENV, "1");
    let blessed = check_committed(&missing, &n);
    std::env::remove_var(BLESS_ENV);
    assert!(blessed.expect("blessed").findings.is_empty());
    assert_eq!(
        std::fs::read_to_string(&missing).ok(),
        Some(n.manifest().to_json())
    );

    // N+1 after N: only the note about the new job.
    let report = check_committed(&missing, &n1).expect("reads");
    assert!(!report.is_breaking(), "{report}");
    jobwire::assert_safe_deploy(&missing, &n1);

    // N after N+1 (a rollback): N reads no 2.x charges and drops the export.
    std::fs::write(&missing, n1.manifest().to_json()).expect("write");
    let report = check_committed(&missing, &n).expect("reads");
    assert!(report.is_breaking(), "{report}");
    let panic = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        jobwire::assert_safe_deploy(&missing, &n)
    }));
    let message = panic
        .expect_err("panics")
        .downcast::<String>()
        .map(|m| *m)
        .unwrap_or_default();
    assert!(
        message.contains("WRITTEN_JOB_DROPPED") && message.contains("JOBWIRE_BLESS=1"),
        "{message}"
    );

    // A folder of manifests is a window, oldest first by file name.
    let window = dir.join("window");
    std::fs::create_dir_all(&window).expect("folder");
    std::fs::write(window.join("1-n.json"), n.manifest().to_json()).expect("write");
    assert!(!check_committed(&window, &n1).expect("reads").is_breaking());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_command_checks_rolling_deploys_manifests() {
    let dir = scratch("cli");
    let status = Command::new(env!("CARGO"))
        .args([
            "run",
            "-q",
            "--example",
            "rolling_deploy",
            "--",
            "--emit-manifests",
        ])
        .arg(&dir)
        .status()
        .expect("cargo runs");
    assert!(status.success());
    let (n, n1) = (dir.join("release-n.json"), dir.join("release-n1.json"));

    let safe = Command::new(env!("CARGO_BIN_EXE_jobwire-check"))
        .arg(&n)
        .arg(&n1)
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&safe.stdout);
    assert_eq!(safe.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("note NEW_JOB_DEFERRED: job `user.export` (against N)"),
        "{stdout}"
    );

    let rollback = Command::new(env!("CARGO_BIN_EXE_jobwire-check"))
        .arg(&n1)
        .arg(&n)
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&rollback.stdout);
    assert_eq!(rollback.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("breaking"), "{stdout}");

    let unreadable = Command::new(env!("CARGO_BIN_EXE_jobwire-check"))
        .arg(&n)
        .arg(dir.join("nope.json"))
        .output()
        .expect("runs");
    assert_eq!(unreadable.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(&dir);
}

//! The deploy-safety check in a test suite and in CI: the test helper
//! against committed manifests, blessing that can never make a breaking
//! release pass, failures that point at the user's test, and the `jobwire`
//! command on a folder of manifests.

#[path = "../examples/releases/mod.rs"]
mod releases;

use jobwire::check::{
    assert_safe_deploy, check_committed, record_release, BLESS_ENV, CURRENT_FILE,
};
use releases::{router_n, router_n1, Books};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// The tests that set `JOBWIRE_BLESS` take turns.
static ENV: Mutex<()> = Mutex::new(());

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("jobwire-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a scratch folder");
    dir
}

/// Runs `f` with `JOBWIRE_BLESS=1`, unset again even if `f` panics.
fn blessed<T>(f: impl FnOnce() -> T) -> T {
    struct Unset;
    impl Drop for Unset {
        fn drop(&mut self) {
            std::env::remove_var(BLESS_ENV);
        }
    }
    std::env::set_var(BLESS_ENV, "1");
    let _unset = Unset;
    f()
}

fn panic_message(f: impl FnOnce()) -> String {
    let panic = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).expect_err("panics");
    panic.downcast::<String>().map(|m| *m).unwrap_or_default()
}

#[test]
fn blessing_records_the_current_release_in_its_own_file_and_never_the_baseline() {
    let _env = ENV.lock().unwrap_or_else(|e| e.into_inner());
    let dir = scratch("bless");
    let n = router_n(Books::default()).expect("N");
    let n1 = router_n1(Books::default()).expect("N+1");
    let released = dir.join("0001-N.json");
    std::fs::write(&released, n.manifest().release("N").to_json()).expect("write");

    // N+1 after N is safe, but nothing records it yet: the helper asks for
    // a bless, and says the deploy itself is safe.
    let message = panic_message(|| assert_safe_deploy(&dir, &n1));
    assert!(
        message.contains(CURRENT_FILE) && message.contains("JOBWIRE_BLESS=1"),
        "{message}"
    );
    assert!(message.contains("the deploy itself is safe"), "{message}");

    // Blessing writes current.json, and only current.json.
    let found = blessed(|| check_committed(&dir, &n1)).expect("reads");
    assert!(found.current_up_to_date && !found.report.is_breaking());
    let recorded = std::fs::read_to_string(dir.join(CURRENT_FILE)).expect("recorded");
    assert!(recorded.contains("user.export"));
    assert_eq!(
        std::fs::read_to_string(&released).expect("baseline"),
        n.manifest().release("N").to_json(),
        "the released manifest is never written"
    );
    assert_safe_deploy(&dir, &n1);

    // Given a released file instead of the folder, the record goes beside it.
    let found = check_committed(&released, &n1).expect("reads");
    assert_eq!(found.current, dir.join(CURRENT_FILE));
    assert!(found.current_up_to_date);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn blessing_never_turns_a_breaking_release_into_a_passing_one() {
    let _env = ENV.lock().unwrap_or_else(|e| e.into_inner());
    let dir = scratch("breaking");
    let n = router_n(Books::default()).expect("N");
    let n1 = router_n1(Books::default()).expect("N+1");
    // N+1 was released; N comes after it (a rollback): N reads no 2.x
    // charges and drops the export.
    std::fs::write(
        dir.join("0001-N1.json"),
        n1.manifest().release("N+1").to_json(),
    )
    .expect("write");

    let found = blessed(|| check_committed(&dir, &n)).expect("reads");
    assert!(found.report.is_breaking(), "{}", found.report);
    assert!(
        !found.current_up_to_date,
        "a breaking release is not recorded"
    );
    assert!(!dir.join(CURRENT_FILE).exists());

    let message = panic_message(|| blessed(|| assert_safe_deploy(&dir, &n)));
    assert!(message.contains("WRITTEN_JOB_DROPPED"), "{message}");
    assert!(
        !message.contains(BLESS_ENV),
        "blessing is never suggested as the fix for a breaking finding: {message}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_failing_check_points_at_the_callers_test() {
    let _env = ENV.lock().unwrap_or_else(|e| e.into_inner());
    let dir = scratch("caller");
    let n = router_n(Books::default()).expect("N");
    let n1 = router_n1(Books::default()).expect("N+1");
    std::fs::write(dir.join("0001-N1.json"), n1.manifest().to_json()).expect("write");

    static LOCATION: Mutex<Option<String>> = Mutex::new(None);
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(|info| {
        if let Some(at) = info.location() {
            if let Ok(mut slot) = LOCATION.try_lock() {
                *slot = Some(at.file().to_owned());
            }
        }
    }));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        assert_safe_deploy(&dir, &n)
    }));
    std::panic::set_hook(previous);
    assert!(result.is_err());
    let file = LOCATION
        .lock()
        .ok()
        .and_then(|slot| slot.clone())
        .unwrap_or_default();
    assert!(
        file.ends_with("deploy_check_ci.rs"),
        "the panic points into {file}, not at this test"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_command_checks_a_folder_and_records_releases() {
    let dir = scratch("cli");
    let n = router_n(Books::default()).expect("N");
    let n1 = router_n1(Books::default()).expect("N+1");
    std::fs::write(dir.join(CURRENT_FILE), n.manifest().to_json()).expect("write");
    let jobwire = |args: &[&dyn AsRef<std::ffi::OsStr>]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_jobwire"));
        for arg in args {
            command.arg(arg);
        }
        command.output().expect("runs")
    };

    // Release N: current.json becomes 0001-N.json.
    let out = jobwire(&[&"release", &dir, &"N"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(dir.join("0001-N.json").exists());
    assert_eq!(
        record_release(&dir, "N").ok(),
        Some(dir.join("0002-N.json"))
    );
    std::fs::remove_file(dir.join("0002-N.json")).expect("remove");

    // The code moves on to N+1: safe, with a note about the new job.
    std::fs::write(
        dir.join(CURRENT_FILE),
        n1.manifest().release("N+1").to_json(),
    )
    .expect("write");
    let out = jobwire(&[&"check", &dir]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("note NEW_JOB_DEFERRED: job `user.export` (against N)"),
        "{stdout}"
    );

    // Files work too; a rollback is breaking (exit 1); a missing file is 2.
    let (old, new) = (dir.join("0001-N.json"), dir.join(CURRENT_FILE));
    let out = jobwire(&[&"check", &new, &old]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("breaking"));
    let out = jobwire(&[&"check", &old, &Path::new("nope.json")]);
    assert_eq!(out.status.code(), Some(2));
    let out = jobwire(&[&"frobnicate"]);
    assert_eq!(out.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(&dir);
}

//! The deploy-safety check: every rule fires on a breaking change and stays
//! quiet on the safe version of that change.

#[macro_use]
mod support;

use jobwire::check::{check, check_window, Manifest, Rule};
use jobwire::{
    BreakingChange, Downcast, DowncastError, NoPrevious, Router, RouterBuilder, Tombstone, Upcast,
    UpcastError,
};
use semver::Version;
use serde::{Deserialize, Serialize};

macro_rules! link {
    ($ty:ident, $version:expr, $next:ty, $previous:ty) => {
        link!($ty, $version, $next, $previous, lossless = true);
    };
    ($ty:ident, $version:expr, $next:ty, $previous:ty, lossless = $lossless:expr) => {
        #[derive(Serialize, Deserialize)]
        struct $ty {}
        impl Upcast for $ty {
            const VERSION: Version = $version;
            type Next = $next;
            type Previous = $previous;
            fn upcast(self) -> Result<$next, UpcastError> {
                Ok(<$next>::from_previous())
            }
        }
        impl Downcast for $ty {
            const LOSSLESS: bool = $lossless;
            fn downcast(_: &$next) -> Result<Self, DowncastError> {
                Ok($ty {})
            }
        }
    };
}

trait FromPrevious {
    fn from_previous() -> Self;
}

macro_rules! from_previous {
    ($($ty:ident),*) => { $(impl FromPrevious for $ty { fn from_previous() -> Self { $ty {} } })* };
}

const V1: Version = Version::new(1, 2, 0);
const V2: Version = Version::new(2, 0, 0);
const V3: Version = Version::new(3, 0, 0);

// Release by release, the same job: `charge`.
job!(Charge1, "charge", V1, NoPrevious);
link!(Charge1Link, V1, Charge2, NoPrevious);
job!(Charge2, "charge", V2, BreakingChange<Charge1Link>);
job!(Charge2NoDowncast, "charge", V2, Charge1Link2);
link!(Charge1Link2, V1, Charge2NoDowncast, NoPrevious);
job!(Charge2NoUpcaster, "charge", V2, NoPrevious);
job!(Charge2Plain, "charge", V2, Charge1LinkPlain);
link!(Charge1LinkPlain, V1, Charge2Plain, NoPrevious);
link!(Charge2Link, V2, Charge3, Charge1Link3);
link!(Charge1Link3, V1, Charge2Link, NoPrevious);
job!(Charge3, "charge", V3, BreakingChange<Charge2Link>);
link!(Charge2OnlyLink, V2, Charge3Short, NoPrevious);
job!(Charge3Short, "charge", V3, BreakingChange<Charge2OnlyLink>);
link!(Charge1Lossy, V1, Charge2Lossy, NoPrevious, lossless = false);
job!(Charge2Lossy, "charge", V2, BreakingChange<Charge1Lossy>);
from_previous!(
    Charge2,
    Charge2Lossy,
    Charge2Plain,
    Charge2NoDowncast,
    Charge2Link,
    Charge3,
    Charge3Short
);

job!(Fax, "fax", V1, NoPrevious);
job!(Report, "report.generate", V1, NoPrevious);
job!(
    Reports,
    "reports.build",
    V1,
    NoPrevious,
    aliases = &["report.generate"]
);
job!(ReportsNoAlias, "reports.build", V1, NoPrevious);
job!(Export, "export", V1, NoPrevious);

fn manifest(builder: RouterBuilder, release: &str) -> Manifest {
    match builder.build() {
        Ok(router) => router.manifest().release(release),
        Err(error) => panic!("{release}: {error}"),
    }
}

fn rules(report: &jobwire::check::Report) -> Vec<Rule> {
    report.findings.iter().map(|f| f.rule).collect()
}

#[test]
fn written_job_dropped() {
    let previous = manifest(Router::builder().job::<Charge1>().job::<Fax>(), "N");
    let breaking = check(
        &previous,
        &manifest(Router::builder().job::<Charge1>(), "N+1"),
    );
    assert_eq!(rules(&breaking), [Rule::WrittenJobDropped]);
    assert_eq!(breaking.findings[0].job, "fax");
    assert!(breaking.findings[0]
        .fix
        .contains("jobwire::retire!(\"fax\")"));
    let safe = check(
        &previous,
        &manifest(
            Router::builder()
                .job::<Charge1>()
                .retired(Tombstone::new("fax")),
            "N+1",
        ),
    );
    assert_eq!(rules(&safe), []);
}

#[test]
fn previous_policy_unreadable() {
    let previous = manifest(Router::builder().job::<Charge1>(), "N");
    let breaking = check(
        &previous,
        &manifest(Router::builder().job::<Charge2NoDowncast>(), "N+1"),
    );
    assert_eq!(rules(&breaking), [Rule::PreviousPolicyUnreadable]);
    assert!(
        breaking.findings[0].message.contains("writes charge 2.0.0"),
        "{breaking}"
    );
    assert!(
        breaking.findings[0].fix.contains("BreakingChange"),
        "{breaking}"
    );
    let safe = check(
        &previous,
        &manifest(Router::builder().job::<Charge2>(), "N+1"),
    );
    assert_eq!(rules(&safe), []);
}

#[test]
fn a_rename_without_alias_is_dropped_and_one_with_an_alias_is_safe() {
    let previous = manifest(Router::builder().job::<Report>(), "N");
    let breaking = check(
        &previous,
        &manifest(Router::builder().job::<ReportsNoAlias>(), "N+1"),
    );
    assert_eq!(
        rules(&breaking),
        [Rule::WrittenJobDropped, Rule::NewJobDeferred]
    );
    assert!(breaking.is_breaking());
    let safe = check(
        &previous,
        &manifest(Router::builder().job::<Reports>(), "N+1"),
    );
    assert_eq!(rules(&safe), []);
}

#[test]
fn version_no_longer_read_across_the_window() {
    let older = manifest(Router::builder().job::<Charge1>(), "N-1");
    // N broke compatibility without a downcast: it writes only 2.x.
    let previous = manifest(Router::builder().job::<Charge2Plain>(), "N");
    let breaking = check_window(
        &[older.clone(), previous.clone()],
        &manifest(Router::builder().job::<Charge3Short>(), "N+1"),
    );
    assert_eq!(rules(&breaking), [Rule::VersionNoLongerRead]);
    assert_eq!(
        breaking.findings[0].against.as_deref(),
        Some("N-1"),
        "{breaking}"
    );
    assert!(
        breaking.findings[0]
            .fix
            .contains("keep an upcaster for 1.x"),
        "{breaking}"
    );
    // Against the previous release alone it looks safe: the window is what catches it.
    assert!(!check(
        &previous,
        &manifest(Router::builder().job::<Charge3Short>(), "N+1")
    )
    .is_breaking());
    let safe = check_window(
        &[older, previous],
        &manifest(Router::builder().job::<Charge3>(), "N+1"),
    );
    assert_eq!(rules(&safe), []);
}

#[test]
fn retired_name_reused() {
    let previous = manifest(
        Router::builder()
            .job::<Charge1>()
            .retired(Tombstone::new("fax")),
        "N",
    );
    let breaking = check(
        &previous,
        &manifest(Router::builder().job::<Charge1>().job::<Fax>(), "N+1"),
    );
    // Reusing the name is the cause; the previous release discarding what
    // "previous" writes is the consequence.
    assert_eq!(
        rules(&breaking),
        [Rule::PreviousPolicyUnreadable, Rule::RetiredNameReused]
    );
    let safe = check(
        &previous,
        &manifest(Router::builder().job::<Charge1>().job::<Export>(), "N+1"),
    );
    assert!(!safe.is_breaking(), "{safe}");
    assert_eq!(rules(&safe), [Rule::NewJobDeferred]);
}

#[test]
fn deprecated_still_written() {
    let job = |writes: &str| {
        Manifest::from_json(&format!(
            r#"{{"format": 1, "jobs": {{"fax": {{"reads": ["1.x"], "status": "deprecated", "version": "1.0.0"{writes}}}}}}}"#
        ))
        .expect("a valid manifest")
    };
    let written = r#", "writes": {"current": {"name": "fax", "version": "1.0.0"}, "previous": {"name": "fax", "version": "1.0.0"}}"#;
    let breaking = check(&job(written), &job(written));
    // Hand-written manifests carry no shapes: the check says so, once.
    assert_eq!(
        rules(&breaking),
        [Rule::DeprecatedStillWritten, Rule::ShapeNotCompared]
    );
    let safe = check(&job(written), &job(""));
    assert_eq!(rules(&safe), [Rule::ShapeNotCompared]);
}

#[test]
fn a_dropped_deprecated_job_still_draining_is_caught() {
    let previous = Manifest::from_json(
        r#"{"format": 1, "jobs": {"fax": {"reads": ["1.x"], "status": "deprecated", "version": "1.0.0"}}}"#,
    )
    .expect("valid");
    let breaking = check(
        &previous,
        &manifest(Router::builder().job::<Charge1>(), "N+1"),
    );
    assert!(
        rules(&breaking).contains(&Rule::WrittenJobDropped),
        "{breaking}"
    );
    let safe = check(
        &previous,
        &manifest(Router::builder().retired(Tombstone::new("fax")), "N+1"),
    );
    assert_eq!(rules(&safe), []);
}

#[test]
fn major_without_upcaster() {
    let previous = manifest(Router::builder().job::<Charge1>(), "N");
    let breaking = check(
        &previous,
        &manifest(Router::builder().job::<Charge2NoUpcaster>(), "N+1"),
    );
    assert_eq!(
        rules(&breaking),
        [Rule::PreviousPolicyUnreadable, Rule::MajorWithoutUpcaster]
    );
    let finding = breaking
        .findings
        .iter()
        .find(|f| f.rule == Rule::MajorWithoutUpcaster)
        .expect("found");
    assert_eq!(
        finding.message,
        "the version went from 1.2.0 to 2.0.0 with no upcaster from 1.x"
    );
    let safe = check(
        &previous,
        &manifest(Router::builder().job::<Charge2>(), "N+1"),
    );
    assert_eq!(rules(&safe), []);
}

#[test]
fn the_report_prints_rule_ids_jobs_and_fixes() {
    let previous = manifest(Router::builder().job::<Charge1>().job::<Fax>(), "N");
    let report = check(
        &previous,
        &manifest(Router::builder().job::<Charge1>(), "N+1"),
    );
    assert_eq!(
        report.to_string(),
        "breaking WRITTEN_JOB_DROPPED: job `fax` (against N): the earlier release writes `fax` 1.2.0, which this release neither performs nor retires\n    \
         fix: keep the job (as `Job<Deprecated>`) until the queue drains, then `jobwire::retire!(\"fax\")`\n\
         1 finding(s), 1 breaking\n"
    );
}

#[test]
fn manifests_are_sorted_stable_json_that_round_trips() {
    let m = manifest(
        Router::builder()
            .job::<Reports>()
            .job::<Charge2>()
            .retired(Tombstone::new("fax")),
        "N+1",
    );
    let json = m.to_json();
    assert_eq!(Manifest::from_json(&json).ok(), Some(m.clone()));
    let charge = json.find("\"charge\"").expect("charge");
    let reports = json.find("\"reports.build\"").expect("reports");
    assert!(charge < reports, "jobs are sorted by name");
    assert!(
        json.contains("\"reads\": [\n        \"2.x\",\n        \"1.x\"\n      ]"),
        "{json}"
    );
    let newer = json.replacen("\"format\": 1", "\"format\": 2", 1);
    assert!(
        Manifest::from_json(&newer).is_err(),
        "a newer format is refused, not misread"
    );
    let extra = json.replacen("\"format\": 1", "\"format\": 1, \"generator\": \"x\"", 1);
    assert!(
        Manifest::from_json(&extra).is_ok(),
        "unknown fields are ignored"
    );
}

#[test]
fn a_lossy_downcast_under_previous_is_a_note() {
    let previous = manifest(Router::builder().job::<Charge1>(), "N");
    let lossy = check(
        &previous,
        &manifest(Router::builder().job::<Charge2Lossy>(), "N+1"),
    );
    assert_eq!(rules(&lossy), [Rule::LossyDowncast]);
    assert!(!lossy.is_breaking());
    assert!(
        lossy.findings[0].message.contains("reach no handler"),
        "{lossy}"
    );
    let lossless = check(
        &previous,
        &manifest(Router::builder().job::<Charge2>(), "N+1"),
    );
    assert_eq!(rules(&lossless), []);
}

#[test]
fn a_rename_that_drops_its_alias_too_early_is_told_to_restore_it() {
    // N+1 renamed `report.generate` to `reports.build`, kept as an alias;
    // N+2 dropped the alias while N+1's payloads may still be in flight.
    let n1 = manifest(Router::builder().job::<Reports>(), "N+1");
    let n2 = check(
        &n1,
        &manifest(Router::builder().job::<ReportsNoAlias>(), "N+2"),
    );
    assert_eq!(rules(&n2), [Rule::WrittenJobDropped]);
    let fix = &n2.findings[0].fix;
    assert!(
        fix.contains("put `report.generate` back in its `ALIASES`") && !fix.contains("retire!"),
        "{n2}"
    );
    // A job that really went away is still told to drain, then retire.
    let gone = check(
        &manifest(Router::builder().job::<Charge1>().job::<Fax>(), "N"),
        &manifest(Router::builder().job::<Charge1>(), "N+1"),
    );
    assert!(
        gone.findings.iter().any(|f| f.fix.contains("retire!")),
        "{gone}"
    );
}

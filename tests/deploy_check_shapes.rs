//! The deploy check compares shapes, not Rust type names: a struct edited in
//! place (a field added, removed or retyped, a variant renamed) at the same
//! version is caught, for arguments and for cursors; a type moved or renamed
//! with the same JSON is not; an optional field at a minor bump is fine.
//! Each release is checked the way a README reader does it: the released
//! manifest in a folder, and `check_committed` against the code.

use jobwire::check::{check, check_committed, Manifest, Report, Rule};
use jobwire::{Added, Router, RouterBuilder};
use std::path::PathBuf;

/// An iterable job `backfill` at `$version`, whose cursor is `$cursor` and
/// whose arguments are `$args`.
macro_rules! release {
    ($module:ident, $version:expr, args { $($args:tt)* }, cursor $cursor:ty) => {
        mod $module {
            #[allow(unused_imports)]
            use super::*;
            #[derive(serde::Serialize, serde::Deserialize)]
            #[allow(dead_code)]
            pub struct Backfill { $($args)* }
            impl jobwire::Job for Backfill {
                const NAME: &'static str = "backfill";
                const VERSION: semver::Version = $version;
                type Previous = jobwire::NoPrevious;
                type State = ();
                type Data = ();
                async fn perform(self, ctx: &mut jobwire::Context<'_>) -> Result<(), jobwire::HandlerError> {
                    jobwire::iteration::iterate(self, ctx).await
                }
            }
            impl jobwire::iteration::Iterate for Backfill {
                type Cursor = $cursor;
                type Item = ();
                async fn next_items(
                    &self,
                    _: Option<&$cursor>,
                    _: &mut jobwire::Context<'_>,
                ) -> Result<Vec<((), $cursor)>, jobwire::HandlerError> {
                    Ok(Vec::new())
                }
                async fn each(&self, _: (), _: &mut jobwire::Context<'_>) -> Result<(), jobwire::HandlerError> {
                    Ok(())
                }
            }
            pub fn router() -> jobwire::RouterBuilder {
                jobwire::Router::builder().iterable::<Backfill>()
            }
        }
    };
}

const V1_0: semver::Version = semver::Version::new(1, 0, 0);
const V1_1: semver::Version = semver::Version::new(1, 1, 0);

mod cursors {
    #[derive(serde::Serialize, serde::Deserialize)]
    pub struct Id {
        pub id: u64,
    }
    #[derive(serde::Serialize, serde::Deserialize)]
    pub struct IdShard {
        pub id: u64,
        pub shard: u32,
    }
    /// `Id`, moved to another module and renamed: the same JSON.
    pub mod moved {
        #[derive(serde::Serialize, serde::Deserialize)]
        pub struct Position {
            pub id: u64,
        }
    }
    #[derive(serde::Serialize, serde::Deserialize)]
    pub struct IdMaybeShard {
        pub id: u64,
        pub shard: Option<u32>,
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
pub enum Speed {
    Fast,
    Slow,
}

#[derive(serde::Serialize, serde::Deserialize)]
pub enum SpeedRenamed {
    Quick,
    Slow,
}

release!(n, V1_0, args { table: String }, cursor cursors::Id);
release!(n_cursor_gains_shard, V1_0, args { table: String }, cursor cursors::IdShard);
release!(n_cursor_moved, V1_0, args { table: String }, cursor cursors::moved::Position);
release!(n_cursor_optional_shard, V1_0, args { table: String }, cursor cursors::IdMaybeShard);
release!(n_args_gain_tenant, V1_0, args { table: String, tenant: u64 }, cursor cursors::Id);
release!(n_args_retyped, V1_0, args { table: u64 }, cursor cursors::Id);
release!(minor_added, V1_1, args { table: String, tenant: Added<u64> }, cursor cursors::Id);
release!(minor_required, V1_1, args { table: String, tenant: u64 }, cursor cursors::Id);
release!(minor_default, V1_1, args { table: String, #[serde(default)] tenant: u64 }, cursor cursors::Id);
release!(with_speed, V1_0, args { table: String, speed: Speed }, cursor cursors::Id);
release!(with_speed_renamed, V1_0, args { table: String, speed: SpeedRenamed }, cursor cursors::Id);
release!(with_meta, V1_0, args { table: String, meta: serde_json::Value }, cursor cursors::Id);

fn build(builder: RouterBuilder) -> Router {
    match builder.build() {
        Ok(router) => router,
        Err(error) => panic!("{error}"),
    }
}

/// A folder of manifests holding `released`'s, as `jobwire release` leaves
/// it.
fn folder(test: &str, released: &Router) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("jobwire-shapes-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a temporary folder");
    let manifest = released.manifest().release("v1.0.0");
    std::fs::write(dir.join("0001-v1.0.0.json"), manifest.to_json()).expect("writes");
    dir
}

/// The report of the README's test for `next`, after `released`.
fn deploy(test: &str, released: RouterBuilder, next: RouterBuilder) -> Report {
    let dir = folder(test, &build(released));
    let found = check_committed(&dir, build(next)).expect("reads the manifests");
    let _ = std::fs::remove_dir_all(&dir);
    found.report
}

fn rules(report: &Report) -> Vec<Rule> {
    report.findings.iter().map(|f| f.rule).collect()
}

#[test]
fn a_cursor_that_gains_a_field_in_place_is_breaking() {
    let report = deploy("gains", n::router(), n_cursor_gains_shard::router());
    assert!(report.is_breaking(), "{report}");
    assert_eq!(
        rules(&report),
        [Rule::CursorChangedWithoutVersion],
        "{report}"
    );
    let text = report.to_string();
    // The job, the field, and the two releases.
    for needle in ["`backfill`", "`.shard`", "v1.0.0", "current"] {
        assert!(text.contains(needle), "{needle} missing from:\n{text}");
    }
    // Release N+1 cannot resume N's checkpoints, which lack `shard`.
    assert!(
        text.contains("written by v1.0.0 and read by current, `.shard` (u32) is required when read and not written"),
        "{text}"
    );
}

#[test]
fn a_cursor_that_loses_a_field_in_place_is_breaking() {
    let report = deploy("loses", n_cursor_gains_shard::router(), n::router());
    assert_eq!(
        rules(&report),
        [Rule::CursorChangedWithoutVersion],
        "{report}"
    );
    // This time it is the previous release that cannot resume the new
    // release's checkpoints.
    assert!(
        report
            .to_string()
            .contains("written by current and read by v1.0.0, `.shard`"),
        "{report}"
    );
}

#[test]
fn a_cursor_field_that_may_be_missing_is_safe_both_ways() {
    let report = deploy("optional", n::router(), n_cursor_optional_shard::router());
    assert!(report.findings.is_empty(), "{report}");
    let report = deploy(
        "optional-back",
        n_cursor_optional_shard::router(),
        n::router(),
    );
    assert!(report.findings.is_empty(), "{report}");
}

#[test]
fn a_type_moved_with_the_same_shape_is_no_finding() {
    let before = build(n::router()).manifest();
    let after = build(n_cursor_moved::router()).manifest();
    // The Rust names differ (the old check compared them and cried wolf)...
    assert_ne!(
        before.jobs["backfill"].cursor,
        after.jobs["backfill"].cursor
    );
    // ...and the JSON does not.
    let report = deploy("moved", n::router(), n_cursor_moved::router());
    assert!(report.findings.is_empty(), "{report}");
}

#[test]
fn arguments_that_gain_a_required_field_in_place_are_breaking() {
    let report = deploy("args", n::router(), n_args_gain_tenant::router());
    assert_eq!(rules(&report), [Rule::ArgsUnreadable], "{report}");
    let text = report.to_string();
    assert!(
        text.contains("`.tenant` (u64) is required when read and not written"),
        "{text}"
    );
    assert!(
        text.contains("written by v1.0.0 and read by current"),
        "{text}"
    );
    assert!(
        text.contains("fix: give `.tenant` a default where it is read"),
        "{text}"
    );
    // Removing it again breaks the other way: N+1 writes no tenant, and N
    // requires one.
    let report = deploy("args-back", n_args_gain_tenant::router(), n::router());
    assert_eq!(rules(&report), [Rule::ArgsUnreadable], "{report}");
    assert!(
        report
            .to_string()
            .contains("written by current and read by v1.0.0"),
        "{report}"
    );
}

#[test]
fn a_retyped_field_is_breaking_both_ways() {
    let report = deploy("retyped", n::router(), n_args_retyped::router());
    let text = report.to_string();
    assert_eq!(rules(&report), [Rule::ArgsUnreadable; 2], "{text}");
    assert!(
        text.contains("fix: keep the type and variant names of `.table` on this line"),
        "{text}"
    );
    assert!(
        text.contains("`.table` is written as string and read as u64"),
        "{text}"
    );
    assert!(
        text.contains("`.table` is written as u64 and read as string"),
        "{text}"
    );
}

#[test]
fn a_renamed_variant_is_breaking() {
    let report = deploy(
        "variant",
        with_speed::router(),
        with_speed_renamed::router(),
    );
    let text = report.to_string();
    assert_eq!(rules(&report), [Rule::ArgsUnreadable; 2], "{text}");
    assert!(
        text.contains("variant `.speed::Fast` is written and not known when read"),
        "{text}"
    );
    assert!(text.contains("variant `.speed::Quick`"), "{text}");
}

#[test]
fn at_a_minor_bump_a_new_field_must_have_a_default() {
    let added = deploy("minor-added", n::router(), minor_added::router());
    assert!(added.findings.is_empty(), "Added<T>: {added}");
    let default = deploy("minor-default", n::router(), minor_default::router());
    assert!(default.findings.is_empty(), "#[serde(default)]: {default}");
    let required = deploy("minor-required", n::router(), minor_required::router());
    assert_eq!(rules(&required), [Rule::ArgsUnreadable], "{required}");
    assert!(
        required
            .to_string()
            .contains("v1.0.0 writes backfill 1.0.0"),
        "{required}"
    );
}

#[test]
fn a_manifest_without_shapes_still_loads_and_says_what_was_not_compared() {
    // A manifest as jobwire 0.2 wrote it: no shapes.
    let mut json: serde_json::Value =
        serde_json::from_str(&build(n::router()).manifest().release("v0.2").to_json())
            .expect("json");
    let job = json["jobs"]["backfill"].as_object_mut().expect("the job");
    assert!(job.remove("shapes").is_some() && job.remove("cursor_shape").is_some());
    let old = Manifest::from_json(&json.to_string()).expect("a 0.2 manifest loads");

    let report = check(&old, &build(n_cursor_moved::router()).manifest());
    let text = report.to_string();
    // It says what it could not compare, and falls back to the cursor's type
    // name, as 0.2 did.
    assert!(rules(&report).contains(&Rule::ShapeNotCompared), "{text}");
    assert!(text.contains("missing from v0.2's manifest"), "{text}");
    assert!(
        rules(&report).contains(&Rule::CursorChangedWithoutVersion),
        "{text}"
    );
    // Against the same types, only the notes.
    let report = check(&old, &build(n::router()).manifest());
    assert!(!report.is_breaking(), "{report}");
    assert!(
        report
            .findings
            .iter()
            .all(|f| f.rule == Rule::ShapeNotCompared),
        "{report}"
    );
}

#[test]
fn what_a_trace_cannot_see_is_named_not_passed_over() {
    let report = deploy("opaque", with_meta::router(), with_meta::router());
    let text = report.to_string();
    assert!(!report.is_breaking(), "{text}");
    assert_eq!(rules(&report), [Rule::ShapeNotCompared], "{text}");
    assert!(text.contains("serde_json::Value"), "{text}");
}

#[test]
fn the_same_rust_name_does_not_hide_a_changed_shape() {
    // Two builds of one crate, where `app::Cursor` gained `shard` in place:
    // the names the manifests record are equal, and the shapes are not.
    let named = |builder: RouterBuilder, release: &str| {
        let mut manifest = build(builder).manifest().release(release);
        if let Some(job) = manifest.jobs.get_mut("backfill") {
            job.cursor = Some("app::Cursor".to_owned());
        }
        manifest
    };
    let report = check(
        &named(n::router(), "N"),
        &named(n_cursor_gains_shard::router(), "N+1"),
    );
    assert_eq!(
        rules(&report),
        [Rule::CursorChangedWithoutVersion],
        "{report}"
    );
    assert!(
        report
            .to_string()
            .contains("written by N and read by N+1, `.shard`"),
        "{report}"
    );
}

/// Release N's `mail.send`, and N+1's `mail.deliver`, the same job renamed
/// without an alias (the planted bug), and an unrelated `report.build`.
mod renamed {
    use serde::{Deserialize, Serialize};
    macro_rules! job {
        ($ty:ident, $name:expr, { $($fields:tt)* }) => {
            #[derive(Serialize, Deserialize)]
            pub struct $ty { $($fields)* }
            impl jobwire::Job for $ty {
                const NAME: &'static str = $name;
                const VERSION: semver::Version = semver::Version::new(1, 0, 0);
                type Previous = jobwire::NoPrevious;
                type State = ();
                type Data = ();
                async fn perform(self, _: &mut jobwire::Context<'_>) -> Result<(), jobwire::HandlerError> {
                    Ok(())
                }
            }
        };
    }
    job!(Send, "mail.send", { pub to: String, pub body: String });
    job!(Deliver, "mail.deliver", { pub to: String, pub body: String });
    job!(Report, "report.build", { pub day: u32 });
}

#[test]
fn a_rename_without_an_alias_is_advised_as_a_rename() {
    let old = build(Router::builder().job::<renamed::Send>()).manifest();
    let new = build(
        Router::builder()
            .job::<renamed::Deliver>()
            .job::<renamed::Report>(),
    )
    .manifest();
    let report = check(&old, &new);
    let dropped: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.rule == Rule::WrittenJobDropped)
        .collect();
    assert_eq!(dropped.len(), 1, "{report}");
    assert!(
        dropped[0].fix.contains("`mail.deliver` is new here and reads the same arguments: if it is `mail.send` renamed, put `mail.send` first in its `ALIASES`"),
        "{report}"
    );
    // A job that is simply gone, with nothing new like it, keeps the
    // deprecate-then-retire advice.
    let report = check(
        &old,
        &build(Router::builder().job::<renamed::Report>()).manifest(),
    );
    assert!(
        report
            .to_string()
            .contains("keep the job (as `Job<Deprecated>`)"),
        "{report}"
    );
}

//! The deploy-safety check: will this release break workers of the releases
//! it shares a queue with?
//!
//! A router describes itself as a [`Manifest`]: which names and versions it
//! reads, what its jobs write under each write policy, which are deprecated
//! or retired. [`check`] compares two manifests and [`check_window`] compares
//! against every release whose payloads may still be in flight; each
//! [`Finding`] has a stable [`Rule`] id, the job and a one-line fix.
//!
//! In a test suite, [`assert_safe_deploy`] checks the registry against the
//! committed manifests of released versions and keeps `current.json`, the
//! record of the code under test, up to date ([`BLESS_ENV`]). In CI and
//! deploy scripts, the `jobwire check` command does the same with files.

mod committed;
mod manifest;
mod rules;

pub use committed::{
    assert_safe_deploy, check_committed, deploy_window, record_release, released_manifests,
    Committed, BLESS_ENV, CURRENT_FILE,
};
pub use manifest::{
    JobManifest, LineRange, Manifest, ManifestError, ManifestSource, Registered, Status,
    TombstoneManifest, Writes, Written,
};
pub use rules::{check, check_window, Finding, Report, Rule};

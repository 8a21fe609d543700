//! The check in a test suite: the current registry against the committed
//! manifests of released versions, and the record of the current release.
//!
//! A folder of manifests holds one file per released version, named so they
//! sort oldest first (`0007-v2.3.0.json`), and `current.json`, the record of
//! what the code under test reads and writes. The released files are the
//! baseline and are never written by a test; `current.json` is only ever
//! written on purpose, and only for a release that passes the check.

use crate::check::manifest::{Manifest, ManifestError, ManifestSource};
use crate::check::rules::{check_window, Report};
use std::path::{Path, PathBuf};

/// The environment variable that makes [`assert_safe_deploy`] record the
/// current release's manifest in `current.json`. It never touches the
/// released manifests, and never makes a breaking release pass.
///
/// ```
/// assert_eq!(jobwire::check::BLESS_ENV, "JOBWIRE_BLESS");
/// ```
pub const BLESS_ENV: &str = "JOBWIRE_BLESS";

/// The file, in a folder of manifests, that records the current release.
///
/// ```
/// assert_eq!(jobwire::check::CURRENT_FILE, "current.json");
/// ```
pub const CURRENT_FILE: &str = "current.json";

/// What [`check_committed`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Committed {
    /// The findings against the released manifests.
    pub report: Report,
    /// The released manifests checked against, oldest first.
    pub released: Vec<PathBuf>,
    /// Where the current release is recorded.
    pub current: PathBuf,
    /// Whether that record matches the code under test (always true after a
    /// bless that passed).
    pub current_up_to_date: bool,
}

/// For your test suite: checks `release` (a [`Router`](crate::Router), or
/// [`Registered`](crate::check::Registered): every job the binary
/// registers, with no state or lent data needed) against the released
/// manifests at
/// `path`, a folder (every `*.json` in it but `current.json`, oldest first by
/// name) or one released manifest file, and panics with the findings if any
/// is breaking. It also requires `current.json`, beside them, to record what
/// this code reads and writes, so that every change to it shows in review;
/// rerun with `JOBWIRE_BLESS=1` to record it. Recording is refused while the
/// release is breaking: blessing never turns a breaking deploy into a passing
/// one.
///
/// A failure points at your test, not into jobwire.
///
/// ```no_run
/// use my_jobs as _; // keep a library's registrations in this test binary
/// # mod my_jobs {}
///
/// #[test]
/// fn deploy_is_safe() {
///     jobwire::check::assert_safe_deploy("manifests/", jobwire::check::Registered);
/// }
/// ```
#[track_caller]
pub fn assert_safe_deploy(path: impl AsRef<Path>, release: impl ManifestSource) {
    match check_committed(path, release) {
        Ok(found) if found.report.is_breaking() => panic!(
            "jobwire: this release is not safe to deploy after the released manifests ({}):\n{}",
            names(&found.released),
            found.report
        ),
        Ok(found) if !found.current_up_to_date => panic!(
            "jobwire: {} does not record what this code reads and writes (the deploy itself is safe: {}). \
             Rerun with {BLESS_ENV}=1 to record it, and commit it",
            found.current.display(),
            found.report.to_string().trim_end()
        ),
        Ok(_) => {}
        Err(error) => panic!("jobwire: {error}"),
    }
}

/// The non-panicking form of [`assert_safe_deploy`]: what it found, or why
/// the manifests could not be read. Honors [`BLESS_ENV`] the same way: the
/// record is written only when the report is not breaking.
///
/// ```no_run
/// let found = jobwire::check::check_committed("manifests/", jobwire::check::Registered)?;
/// println!("{}", found.report);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn check_committed(
    path: impl AsRef<Path>,
    release: impl ManifestSource,
) -> Result<Committed, ManifestError> {
    let path = path.as_ref();
    let (released, current) = locate(path)?;
    let earlier = released
        .iter()
        .map(Manifest::read)
        .collect::<Result<Vec<_>, _>>()?;
    let mut manifest = release.manifest()?;
    manifest.release = Some("current".to_owned());
    let report = check_window(&earlier, &manifest);
    let recorded = match std::fs::read_to_string(&current) {
        Ok(json) => Manifest::from_json(&json).ok(),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
        Err(source) => return Err(io(&current, source)),
    };
    let mut up_to_date = recorded.as_ref() == Some(&manifest);
    if blessing() && !report.is_breaking() && !up_to_date {
        std::fs::write(&current, manifest.to_json()).map_err(|source| io(&current, source))?;
        up_to_date = true;
    }
    Ok(Committed {
        report,
        released,
        current,
        current_up_to_date: up_to_date,
    })
}

/// Records a release: copies `current.json` in `folder` to the next released
/// manifest, `NNNN-LABEL.json` (numbered after the last one, so names sort
/// oldest first), labelled `label`. Run it (or `jobwire release`) when you
/// cut the release; `current.json` stays, and keeps recording what comes
/// next.
///
/// ```no_run
/// let written = jobwire::check::record_release("manifests/", "v2.4.0")?;
/// assert!(written.ends_with("0008-v2.4.0.json"));
/// # Ok::<(), jobwire::check::ManifestError>(())
/// ```
pub fn record_release(folder: impl AsRef<Path>, label: &str) -> Result<PathBuf, ManifestError> {
    let folder = folder.as_ref();
    let (released, current) = locate(folder)?;
    let mut manifest = Manifest::read(&current)?;
    manifest.release = Some(label.to_owned());
    let next = released
        .iter()
        .filter_map(|p| {
            p.file_name()?
                .to_str()?
                .split('-')
                .next()?
                .parse::<u32>()
                .ok()
        })
        .max()
        .map_or(1, |n| n + 1);
    let safe: String = label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let target = folder.join(format!("{next:04}-{safe}.json"));
    if target.exists() {
        return Err(io(
            &target,
            std::io::Error::new(std::io::ErrorKind::AlreadyExists, "already recorded"),
        ));
    }
    std::fs::write(&target, manifest.to_json()).map_err(|source| io(&target, source))?;
    Ok(target)
}

/// The released manifests in a folder: every `*.json` file but
/// `current.json`, oldest first by name.
///
/// ```no_run
/// let files = jobwire::check::released_manifests("manifests/")?;
/// # Ok::<(), jobwire::check::ManifestError>(())
/// ```
pub fn released_manifests(folder: impl AsRef<Path>) -> Result<Vec<PathBuf>, ManifestError> {
    let folder = folder.as_ref();
    let mut files: Vec<PathBuf> = std::fs::read_dir(folder)
        .map_err(|source| io(folder, source))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|ext| ext == "json"))
        .filter(|p| p.file_name().is_some_and(|name| name != CURRENT_FILE))
        .collect();
    files.sort();
    Ok(files)
}

/// The manifests of the deploy window in a folder, oldest first: every
/// released one, then `current.json` when it is there.
///
/// ```no_run
/// let window = jobwire::check::deploy_window("manifests/")?;
/// println!("{} releases in the window", window.len());
/// # Ok::<(), jobwire::check::ManifestError>(())
/// ```
pub fn deploy_window(folder: impl AsRef<Path>) -> Result<Vec<Manifest>, ManifestError> {
    let folder = folder.as_ref();
    let mut files = released_manifests(folder)?;
    let current = folder.join(CURRENT_FILE);
    if current.exists() {
        files.push(current);
    }
    files.iter().map(Manifest::read).collect()
}

/// The released manifests at `path`, oldest first, and where the current
/// release is recorded.
fn locate(path: &Path) -> Result<(Vec<PathBuf>, PathBuf), ManifestError> {
    if path.is_dir() {
        return Ok((released_manifests(path)?, path.join(CURRENT_FILE)));
    }
    if path.file_name().is_some_and(|name| name == CURRENT_FILE) {
        return Err(io(
            path,
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "this is the record of the current release, not a released manifest: give the folder, or a released manifest",
            ),
        ));
    }
    let folder = path.parent().unwrap_or(Path::new("."));
    Ok((vec![path.to_owned()], folder.join(CURRENT_FILE)))
}

fn blessing() -> bool {
    std::env::var_os(BLESS_ENV).is_some_and(|v| !v.is_empty() && v != "0")
}

fn io(path: &Path, source: std::io::Error) -> ManifestError {
    ManifestError::Io {
        path: path.display().to_string(),
        source,
    }
}

fn names(paths: &[PathBuf]) -> String {
    if paths.is_empty() {
        return "none yet".to_owned();
    }
    paths
        .iter()
        .filter_map(|p| p.file_name()?.to_str())
        .collect::<Vec<_>>()
        .join(", ")
}

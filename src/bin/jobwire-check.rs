//! `jobwire-check`: the deploy-safety check for CI pipelines.
//!
//! ```text
//! jobwire-check EARLIER.json... CURRENT.json
//! ```
//!
//! Give the manifests of the releases whose payloads may still be in flight,
//! oldest first, then the manifest of the release about to deploy. Prints the
//! findings; exits 0 when none is breaking, 1 when one is, 2 when a manifest
//! cannot be read.

use jobwire::{check_window, Manifest};
use std::process::ExitCode;

fn main() -> ExitCode {
    let paths: Vec<String> = std::env::args().skip(1).collect();
    if paths.len() < 2 || paths.iter().any(|p| p == "-h" || p == "--help") {
        eprintln!("usage: jobwire-check EARLIER.json... CURRENT.json");
        eprintln!(
            "  checks the release described by CURRENT.json against the earlier ones, oldest first"
        );
        return ExitCode::from(2);
    }
    let mut manifests = Vec::with_capacity(paths.len());
    for path in &paths {
        match Manifest::read(path) {
            Ok(manifest) => manifests.push(manifest),
            Err(error) => {
                eprintln!("jobwire-check: {error}");
                return ExitCode::from(2);
            }
        }
    }
    let Some((current, earlier)) = manifests.split_last() else {
        return ExitCode::from(2);
    };
    let report = check_window(earlier, current);
    print!("{report}");
    if report.is_breaking() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

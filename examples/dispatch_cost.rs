//! Runs one benchmark case N times, for instruction counts that repeat
//! exactly on a noisy machine:
//!
//! ```sh
//! cargo build --release --example dispatch_cost
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!     target/release/examples/dispatch_cost current 10000
//! ```
//!
//! Subtract the count for N = 0 (setup alone) and divide by N for the cost of
//! one call. `benches/callgrind.sh` does that for every case.
//!
//! Usage: `dispatch_cost CASE N [JOBS]`, with JOBS 10 (default) or 1000;
//! `dispatch_cost --list` prints every case, with its baseline, its target
//! and what it measures, tab-separated.

#[path = "../benches/cases/mod.rs"]
mod cases;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--list") {
        for case in cases::cases() {
            println!(
                "{}\t{}\t{}\t{}",
                case.name,
                case.baseline.as_deref().unwrap_or("-"),
                if case.target.is_empty() {
                    "-"
                } else {
                    case.target
                },
                case.label
            );
        }
        return ExitCode::SUCCESS;
    }
    let (Some(case), Some(n)) = (
        args.first(),
        args.get(1).and_then(|n| n.parse::<u64>().ok()),
    ) else {
        eprintln!("usage: dispatch_cost CASE N [JOBS] | dispatch_cost --list");
        return ExitCode::from(2);
    };
    let jobs = args.get(2).and_then(|j| j.parse().ok()).unwrap_or(10);
    if cases::subscribed(case)
        && tracing::subscriber::set_global_default(cases::subscriber()).is_err()
    {
        return ExitCode::from(2);
    }
    let bench = cases::Bench::new(jobs);
    // One call before the loop: first-use costs (lazy statics) are setup.
    if bench.run(case) != Some(true) {
        eprintln!("case {case:?} is unknown or did not give its expected outcome");
        return ExitCode::from(2);
    }
    for _ in 0..n {
        if bench.run(case) != Some(true) {
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}

//! The runner of the test binaries that are their own harness (they start
//! processes, and the machine has two cores, so their tests run one after
//! another): a name filter on the command line, `--list`, and libtest's
//! report.

use std::time::Instant;

/// A test: a name and a function that panics on failure.
pub type Test = (&'static str, fn());

/// Runs `tests` one after another, honouring a name filter given on the
/// command line, and reports like libtest.
pub fn run(tests: &[Test]) -> std::process::ExitCode {
    let filter: Option<String> = std::env::args().skip(1).find(|arg| !arg.starts_with('-'));
    let chosen: Vec<&Test> = tests
        .iter()
        .filter(|(name, _)| filter.as_deref().is_none_or(|f| name.contains(f)))
        .collect();
    if std::env::args().any(|arg| arg == "--list") {
        for (name, _) in &chosen {
            println!("{name}: test");
        }
        return std::process::ExitCode::SUCCESS;
    }
    println!("\nrunning {} tests", chosen.len());
    let mut failed = Vec::new();
    for (name, test) in &chosen {
        let started = Instant::now();
        let result = std::panic::catch_unwind(test);
        let verdict = if result.is_ok() { "ok" } else { "FAILED" };
        println!(
            "test {name} ... {verdict} ({:.1} s)",
            started.elapsed().as_secs_f64()
        );
        if result.is_err() {
            failed.push(*name);
        }
    }
    println!(
        "\ntest result: {}. {} passed; {} failed",
        if failed.is_empty() { "ok" } else { "FAILED" },
        chosen.len() - failed.len(),
        failed.len()
    );
    if failed.is_empty() {
        std::process::ExitCode::SUCCESS
    } else {
        for name in failed {
            println!("    {name}");
        }
        std::process::ExitCode::FAILURE
    }
}

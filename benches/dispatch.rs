//! `cargo bench --bench dispatch`: every case of `cases::cases()` (the same
//! table `benches/callgrind.sh` counts instructions for) against a router of
//! 10 jobs, and the key cases again against 1,000 jobs. At the end, a table of
//! each case's mean time as a ratio to its baseline's, measured in this run.
//!
//! `cargo bench --bench dispatch -- FILTER` runs the cases whose names match.

#[path = "cases/mod.rs"]
mod cases;

use cases::{cases, subscribed, subscriber, Bench, Case};
use criterion::Criterion;
use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

const OUT: &str = "target/criterion";

/// The cases also run against a router of 1,000 jobs: the name lookup is a
/// hash, so they should cost what they cost with 10.
const AT_1000: [&str; 3] = ["current", "defer-unknown", "header-after"];

fn bench(c: &mut Criterion, group: &str, bench: &Bench, case: &Case) {
    let name = case.name.as_str();
    if bench.run(name) != Some(true) {
        eprintln!("case {name} did not give its expected outcome");
        return;
    }
    let mut group = c.benchmark_group(group);
    if name.contains("100000") || name.contains("60000") {
        group.sample_size(20);
    }
    let mut run = || {
        group.bench_function(name, |b| b.iter(|| black_box(bench.run(black_box(name)))));
    };
    if subscribed(name) {
        tracing::subscriber::with_default(subscriber(), run);
    } else {
        run();
    }
    group.finish();
}

/// The mean of one benchmark in this run, in nanoseconds.
fn mean(group: &str, name: &str) -> Option<f64> {
    let path = Path::new(OUT)
        .join(group)
        .join(name)
        .join("new/estimates.json");
    let text = std::fs::read_to_string(path).ok()?;
    let value: serde_json::Value = serde_json::from_str(&text).ok()?;
    value["mean"]["point_estimate"].as_f64()
}

fn print_ratios(all: &[Case]) {
    println!("\n| case | mean | ratio to its baseline | at 1,000 jobs | target |");
    println!("| --- | ---: | ---: | ---: | --- |");
    for case in all {
        let Some(time) = mean("jobs-10", &case.name) else {
            continue;
        };
        let ratio = case
            .baseline
            .as_deref()
            .and_then(|base| mean("jobs-10", base))
            .map_or_else(|| "1.00x".to_owned(), |base| format!("{:.2}x", time / base));
        let at_1000 =
            mean("jobs-1000", &case.name).map_or_else(String::new, |t| format!("{:.2}x", t / time));
        println!(
            "| {} | {:.0} ns | {ratio} | {at_1000} | {} |",
            case.label, time, case.target
        );
    }
}

/// Building a router of 1,000 jobs, timed once per run (it happens once per
/// process, so a mean over many runs would say little more).
fn report_build_time() {
    let start = Instant::now();
    let router = black_box(cases::router(1000));
    let elapsed: Duration = start.elapsed();
    drop(router);
    println!("building a router of 1,000 jobs took {elapsed:?}");
}

fn main() {
    let mut criterion = Criterion::default()
        .output_directory(Path::new(OUT))
        .configure_from_args();
    let all = cases();
    let ten = Bench::new(10);
    for case in &all {
        bench(&mut criterion, "jobs-10", &ten, case);
    }
    let thousand = Bench::new(1000);
    for case in all.iter().filter(|c| AT_1000.contains(&c.name.as_str())) {
        bench(&mut criterion, "jobs-1000", &thousand, case);
    }
    criterion.final_summary();
    report_build_time();
    print_ratios(&all);
}

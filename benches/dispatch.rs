//! `cargo bench`: every dispatch case against routers of 10 and 1,000 jobs,
//! and the baselines (the statically typed floor, typetag, and
//! `serde_json::Value`) in the same run. At the end, a table of ratios to the
//! floor, computed from this run's estimates.

#[path = "cases/mod.rs"]
mod cases;

use cases::*;
use criterion::{BenchmarkId, Criterion};
use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

const OUT: &str = "target/criterion";

fn benches(c: &mut Criterion) {
    let mut base = c.benchmark_group("baseline");
    base.bench_function("floor", |b| {
        b.iter(|| floor::<Confirmation>(black_box(CURRENT)))
    });
    base.bench_function("floor-older-minor", |b| {
        b.iter(|| floor::<Confirmation>(black_box(OLDER_MINOR)))
    });
    base.bench_function("floor-header-after", |b| {
        b.iter(|| floor::<Confirmation>(black_box(HEADER_AFTER)))
    });
    base.bench_function("floor-two-step", |b| {
        b.iter(|| floor::<ConfirmationV1>(black_box(TWO_STEP)))
    });
    base.bench_function("conversion-only", |b| {
        let v1 = ConfirmationV1 {
            uid: 42,
            text: "hello!".into(),
        };
        b.iter(|| conversion_only(black_box(v1.clone())))
    });
    base.bench_function("typetag", |b| b.iter(|| via_typetag(black_box(TYPETAG))));
    base.bench_function("value", |b| b.iter(|| via_value(black_box(CURRENT))));
    let job = Confirmation::example();
    base.bench_function("seal-floor", |b| b.iter(|| seal_floor(&job)));
    base.finish();

    let mut group = c.benchmark_group("jobwire");
    for jobs in [10, 1000] {
        let router = router(jobs);
        let producer = producer();
        let cases: [(&str, &[u8]); 7] = [
            ("current", CURRENT),
            ("older-minor", OLDER_MINOR),
            ("two-step-upcast", TWO_STEP),
            ("json-upcast", JSON_STEP),
            ("header-after", HEADER_AFTER),
            ("defer-major", DEFER_MAJOR),
            ("defer-unknown", DEFER_UNKNOWN),
        ];
        for (name, payload) in cases {
            group.bench_with_input(BenchmarkId::new(name, jobs), &payload, |b, payload| {
                b.iter(|| dispatch(&router, payload))
            });
        }
        group.bench_with_input(BenchmarkId::new("seal", jobs), &job, |b, job| {
            b.iter(|| seal(&producer, job))
        });
    }
    group.finish();
}

/// The mean of one benchmark in this run, in nanoseconds.
fn mean(path: &str) -> Option<f64> {
    let text =
        std::fs::read_to_string(Path::new(OUT).join(path).join("new/estimates.json")).ok()?;
    let value: serde_json::Value = serde_json::from_str(&text).ok()?;
    value["mean"]["point_estimate"].as_f64()
}

fn print_ratios() {
    let Some(floor) = mean("baseline/floor") else {
        println!("no estimates under {OUT}: run `cargo bench --bench dispatch`");
        return;
    };
    let rows = [
        (
            "current-version dispatch",
            "jobwire/current",
            "baseline/floor",
            "<= 1.10",
        ),
        (
            "older-minor dispatch",
            "jobwire/older-minor",
            "baseline/floor-older-minor",
            "<= 1.10",
        ),
        (
            "header after the arguments",
            "jobwire/header-after",
            "baseline/floor-header-after",
            "<= 1.30",
        ),
        (
            "two-step typed upcast",
            "jobwire/two-step-upcast",
            "baseline/floor-two-step",
            "-",
        ),
        (
            "JSON-level upcast",
            "jobwire/json-upcast",
            "baseline/floor",
            "-",
        ),
        (
            "defer: newer major",
            "jobwire/defer-major",
            "baseline/floor",
            "< 1.00",
        ),
        (
            "defer: unknown job",
            "jobwire/defer-unknown",
            "baseline/floor",
            "< 1.00",
        ),
        ("seal", "jobwire/seal", "baseline/seal-floor", "-"),
    ];
    println!("\nratios to the floor, this run (mean times):");
    println!(
        "{:<28} {:>10} {:>10} {:>12} {:>8}",
        "case", "10 jobs", "1000 jobs", "vs typetag", "target"
    );
    let typetag = mean("baseline/typetag").unwrap_or(f64::NAN);
    for (label, case, base, target) in rows {
        let base = mean(base).unwrap_or(floor);
        let time = |jobs: u32| mean(&format!("{case}/{jobs}")).unwrap_or(f64::NAN);
        println!(
            "{label:<28} {:>9.2}x {:>9.2}x {:>11.2}x {target:>8}",
            time(10) / base,
            time(1000) / base,
            time(10) / typetag
        );
    }
    println!("typetag: {:.2}x the floor", typetag / floor);
    if let (Some(value), Some(conversion), Some(two_step), Some(floor_two_step)) = (
        mean("baseline/value"),
        mean("baseline/conversion-only"),
        mean("jobwire/two-step-upcast/10"),
        mean("baseline/floor-two-step"),
    ) {
        println!(
            "serde_json::Value then from_value: {:.2}x the floor",
            value / floor
        );
        println!(
            "two-step upcast: {:.0} ns over the floor of its own bytes; the two conversions alone: {:.0} ns",
            two_step - floor_two_step,
            conversion
        );
    }
}

/// Building a router of 1,000 jobs, timed once per run (it happens once per
/// process, so a mean over many runs would say little more).
fn report_build_time() {
    let start = Instant::now();
    let router = black_box(router(1000));
    let elapsed: Duration = start.elapsed();
    drop(router);
    println!("building a router of 1,000 jobs took {elapsed:?}");
}

fn main() {
    let mut criterion = Criterion::default()
        .output_directory(Path::new(OUT))
        .configure_from_args();
    benches(&mut criterion);
    criterion.final_summary();
    report_build_time();
    print_ratios();
}

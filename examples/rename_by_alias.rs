//! Renaming a job by alias, in one deploy and a flip.
//!
//! Release N has `report.generate`; release N+1 renames it `reports.build`
//! and declares `ALIASES = ["report.generate"]`. Under the write policy
//! "previous", N+1 producers still write the old name, which N performs; after
//! the flip to "current" they write the new one. N+1 workers perform both.
//!
//! Run it with `cargo run --example rename_by_alias`.

mod releases;

use jobwire::{Producer, WritePolicy};
use releases::{describe, release_n, release_n1, router_n, router_n1, Books};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n = router_n(Books::default())?;
    let n1 = router_n1(Books::default())?;

    println!("case 1: an N+1 producer enqueues, an N worker performs");
    for policy in [WritePolicy::Previous, WritePolicy::Current] {
        let payload = Producer::new(policy).seal(&release_n1::BuildReport { report_id: 9 })?;
        println!(
            "  [{}] {}",
            policy.as_str(),
            String::from_utf8_lossy(&payload)
        );
        println!(
            "    -> N:   {}",
            describe(&n.dispatch_blocking(&payload, &mut jobwire::Delivery::new()))
        );
        println!(
            "    -> N+1: {}",
            describe(&n1.dispatch_blocking(&payload, &mut jobwire::Delivery::new()))
        );
    }
    println!("  (flip to \"current\" once no N worker is left: an N worker defers the new name, it never fails it)");

    println!("case 2: an N producer enqueues, an N+1 worker performs");
    let payload = Producer::default().seal(&release_n::GenerateReport { report_id: 9 })?;
    println!("  {}", String::from_utf8_lossy(&payload));
    println!(
        "    -> {}",
        describe(&n1.dispatch_blocking(&payload, &mut jobwire::Delivery::new()))
    );
    Ok(())
}

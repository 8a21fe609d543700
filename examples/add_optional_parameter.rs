//! Adding an optional parameter, in one deploy.
//!
//! The seed's story: `user.confirmation` gains a `date`. Release N has
//! `{id, message}` at 1.0.0; release N+1 adds `date: Added<String>` at 1.1.0.
//! Without jobwire, N fails on N+1's extra argument (case 1) and N+1 fails on
//! N's missing one (case 2), unless the change is split into two deploys.
//!
//! Run it with `cargo run --example add_optional_parameter`.

mod releases;

use jobwire::{Added, Producer, WritePolicy};
use releases::{describe, release_n, release_n1, router_n, router_n1, Books};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n = router_n(Books::default())?;
    let n1 = router_n1(Books::default())?;

    println!("case 1: an N+1 producer enqueues, an N worker performs");
    for policy in [WritePolicy::Previous, WritePolicy::Current] {
        let payload = Producer::new(policy).seal(&release_n1::UserConfirmation {
            id: 42,
            message: "Hello!".into(),
            date: Added::Present("2017-12-24".into()),
        })?;
        println!(
            "  [{}] {}",
            policy.as_str(),
            String::from_utf8_lossy(&payload)
        );
        println!(
            "    -> {}",
            describe(&n.dispatch_blocking(&payload, &mut jobwire::Delivery::new()))
        );
    }

    println!("case 2: an N producer enqueues, an N+1 worker performs");
    let payload = Producer::default().seal(&release_n::UserConfirmation {
        id: 42,
        message: "hello!".into(),
    })?;
    println!("  {}", String::from_utf8_lossy(&payload));
    println!(
        "    -> {} (the date is `Added::Missing`)",
        describe(&n1.dispatch_blocking(&payload, &mut jobwire::Delivery::new()))
    );
    Ok(())
}

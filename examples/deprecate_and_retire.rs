//! Deleting a job: deprecate, let the queue drain, then retire.
//!
//! `user.welcome_fax` is deprecated in release N (`impl Job<Deprecated>`):
//! still performed, so the queue drains, but no code can enqueue it: that
//! would not compile. In release N+1 its type is deleted and one line,
//! `jobwire::retire!("user.welcome_fax")`, takes its place: payloads still in
//! flight are discarded on purpose, and the name stays reserved.
//!
//! Run it with `cargo run --example deprecate_and_retire`.

mod releases;

use releases::{describe, router_n, router_n1, Books};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n = router_n(Books::default())?;
    let n1 = router_n1(Books::default())?;
    // Written before N deprecated the job; scheduled jobs and retries keep
    // such payloads around for a while.
    let leftover = br#"{"job":"user.welcome_fax","version":"1.0.0","args":{"user_id":7}}"#;

    println!("draining on N (deprecated, still performed, with a tracing warning):");
    println!(
        "  -> {}",
        describe(&n.dispatch_blocking(leftover, &mut jobwire::Delivery::new()))
    );

    println!("case 1: an N+1 producer enqueues, an N worker performs");
    println!("  -> nothing to replay: N+1 has no fax type, and N's producers cannot");
    println!("     seal a deprecated job (`Producer::seal` needs `Job<Active>`: a compile error)");

    println!("case 2: a payload from before N+1 reaches an N+1 worker");
    println!(
        "  -> {}",
        describe(&n1.dispatch_blocking(leftover, &mut jobwire::Delivery::new()))
    );

    println!("the name stays reserved:");
    match jobwire::Router::builder()
        .job::<releases::release_n::WelcomeFaxReborn>()
        .retired(releases::FAX_TOMBSTONE)
        .build()
    {
        Ok(_) => println!("  -> UNEXPECTED: a retired name was reused"),
        Err(error) => println!("  -> {error}"),
    }
    Ok(())
}

//! Jobs and tombstones registered with one line each are found at link time.

use jobwire::{Context, HandlerError, Job, NoPrevious, Outcome, Router};
use semver::Version;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU32, Ordering};

static PINGS: AtomicU32 = AtomicU32::new(0);

#[derive(Serialize, Deserialize)]
struct Ping {}

impl Job for Ping {
    const NAME: &'static str = "registry.ping";
    const VERSION: Version = Version::new(1, 0, 0);
    type Previous = NoPrevious;
    type State = ();
    type Data = ();
    async fn perform(self, _: &mut Context<'_>) -> Result<(), HandlerError> {
        PINGS.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

jobwire::register!(Ping);
jobwire::retire!("registry.pong", aliases = ["registry.pong_v0"]);

mod elsewhere {
    use super::*;

    #[derive(Serialize, Deserialize)]
    pub struct Echo {}

    impl Job for Echo {
        const NAME: &'static str = "registry.echo";
        const VERSION: Version = Version::new(2, 0, 0);
        type Previous = NoPrevious;
        type State = ();
        type Data = ();
        async fn perform(self, _: &mut Context<'_>) -> Result<(), HandlerError> {
            Ok(())
        }
    }

    jobwire::register!(Echo);
}

#[test]
fn registered_jobs_and_tombstones_are_found() {
    let router = Router::from_registry().expect("the registry builds");
    let ping = br#"{"job":"registry.ping","version":"1.0.0","args":{}}"#;
    assert!(router
        .dispatch_blocking(ping, &mut jobwire::Delivery::new())
        .is_performed());
    assert_eq!(PINGS.load(Ordering::SeqCst), 1);
    assert!(router
        .dispatch_blocking(
            br#"{"job":"registry.echo","version":"2.0.0","args":{}}"#,
            &mut jobwire::Delivery::new()
        )
        .is_performed());
    for name in ["registry.pong", "registry.pong_v0"] {
        let payload = format!(r#"{{"job":"{name}","version":"1.0.0","args":{{}}}}"#);
        assert!(
            matches!(router.dispatch_blocking(payload.as_bytes(), &mut jobwire::Delivery::new()), Outcome::Discarded(d) if d.job == "registry.pong")
        );
    }
}

#[test]
fn registered_jobs_can_be_mixed_with_explicit_ones_but_never_twice() {
    let error = Router::builder()
        .registered()
        .job::<Ping>()
        .build()
        .expect_err("a duplicate");
    assert!(
        error
            .to_string()
            .contains("`registry.ping` 1.0.0 is registered twice"),
        "{error}"
    );
}

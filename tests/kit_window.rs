//! The kit checks a job against every release still in the window, in one
//! call: a `#[serde(default)]` dropped in a minor release passes against the
//! previous release (which always wrote the field) and fails against the
//! oldest one (which never did).

use jobwire::testing::Kit;
use jobwire::{Context, HandlerError, Job, NoPrevious};
use proptest::prelude::*;
use semver::Version;
use serde::{Deserialize, Serialize};

macro_rules! ping {
    ($module:ident, $minor:expr, { $($fields:tt)* }) => {
        mod $module {
            use super::*;
            #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
            pub struct Ping { $($fields)* }
            impl Job for Ping {
                const NAME: &'static str = "ping";
                const VERSION: Version = Version::new(1, $minor, 0);
                type Previous = NoPrevious;
                type State = ();
                type Data = ();
                async fn perform(self, _: &mut Context<'_>) -> Result<(), HandlerError> {
                    Ok(())
                }
            }
        }
    };
}

// Release 1.0 had no note; 1.1 added it with a default; 1.2 dropped the
// default (the planted bug) or kept it.
ping!(v1_0, 0, { pub n: u16 });
ping!(v1_1, 1, { pub n: u16, #[serde(default)] pub note: String });
ping!(dropped_default, 2, { pub n: u16, pub note: String });
ping!(kept_default, 2, { pub n: u16, #[serde(default)] pub note: String });

fn pings() -> impl Strategy<Value = dropped_default::Ping> {
    (any::<u16>(), ".{0,8}").prop_map(|(n, note)| dropped_default::Ping { n, note })
}

#[test]
fn the_previous_release_alone_misses_a_dropped_default() {
    let kit = Kit::new(pings()).previous_release::<v1_1::Ping>();
    assert!(kit.cases(32).try_check().is_ok());
}

#[test]
fn the_window_catches_a_dropped_default() {
    let failures = Kit::new(pings())
        .window::<(v1_0::Ping, v1_1::Ping)>()
        .cases(32)
        .persist_to("proptest-regressions/kit_window.txt")
        .try_check()
        .expect_err("release 1.0's payloads have no note");
    let text = failures.to_string();
    assert_eq!(failures.0.len(), 1, "{text}");
    assert!(
        text.contains("the earlier release's `ping` 1.0.0"),
        "{text}"
    );
    assert!(text.contains("release 1.0.0 wrote Ping"), "{text}");
    assert!(text.contains("note"), "{text}");
}

#[test]
fn the_window_passes_when_the_default_is_kept() {
    let pings = (any::<u16>(), ".{0,8}").prop_map(|(n, note)| kept_default::Ping { n, note });
    Kit::new(pings)
        .window::<(v1_0::Ping, v1_1::Ping)>()
        .cases(32)
        .check();
}

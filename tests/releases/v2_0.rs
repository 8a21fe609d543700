//! `user.confirmation` as release 2.0 had it: copied here when 2.1 began, so
//! the kit can check 2.1 against it. Only the type, its derives and its
//! `impl Job` (with a handler that does nothing) are kept.

use jobwire::{Context, HandlerError, Job, NoPrevious};
use semver::Version;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Confirmation {
    pub user_id: u64,
    pub message: String,
}

impl Job for Confirmation {
    const NAME: &'static str = "user.confirmation";
    const VERSION: Version = Version::new(2, 0, 0);
    type Previous = NoPrevious;
    type State = ();
    type Data = ();
    async fn perform(self, _: &mut Context<'_>) -> Result<(), HandlerError> {
        Ok(())
    }
}

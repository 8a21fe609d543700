use jobwire::{Context, Deprecated, HandlerError, Job, NoPrevious, Producer};
use semver::Version;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct WelcomeFax {
    user_id: u64,
}

impl Job<Deprecated> for WelcomeFax {
    const NAME: &'static str = "user.welcome_fax";
    const VERSION: Version = Version::new(1, 0, 0);
    type Previous = NoPrevious;
    type State = ();
    type Data = ();
    async fn perform(self, _: &mut Context<'_>) -> Result<(), HandlerError> {
        Ok(())
    }
}

fn main() {
    let _ = Producer::default().seal(&WelcomeFax { user_id: 1 });
}

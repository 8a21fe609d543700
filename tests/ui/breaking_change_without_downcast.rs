use jobwire::{BreakingChange, Context, HandlerError, Job, NoPrevious, Upcast, UpcastError};
use semver::Version;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct ChargeV1 {
    cents: u64,
}

#[derive(Serialize, Deserialize)]
struct Charge {
    minor_units: u64,
    currency: String,
}

impl Upcast for ChargeV1 {
    const VERSION: Version = Version::new(1, 0, 0);
    type Next = Charge;
    type Previous = NoPrevious;
    fn upcast(self) -> Result<Charge, UpcastError> {
        Ok(Charge { minor_units: self.cents, currency: "USD".into() })
    }
}

// No `impl Downcast for ChargeV1`: producers under the "previous" policy
// would have no way to write what release N reads.
impl Job for Charge {
    const NAME: &'static str = "billing.charge";
    const VERSION: Version = Version::new(2, 0, 0);
    type Previous = BreakingChange<ChargeV1>;
    type State = ();
    type Data = ();
    async fn perform(self, _: &mut Context<'_>) -> Result<(), HandlerError> {
        Ok(())
    }
}

fn main() {}

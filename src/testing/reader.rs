//! Reading payloads as a release would, without performing them; writing
//! envelopes by hand.

use crate::dispatch::entry::Need;
use crate::dispatch::registry::{entry_of, RouterBuilder};
use crate::{Active, Job, Outcome, Performed, Router};
use semver::Version;
use serde::Serialize;
use serde_json::Value;
use std::fmt::{self, Debug};
use std::marker::PhantomData;

/// Reads payloads the way a release whose only job is `J` would, stopping
/// just before the handler: nothing is performed.
///
/// ```
/// # use jobwire::*;
/// # use serde::{Deserialize, Serialize};
/// # #[derive(Serialize, Deserialize, Debug, PartialEq)] struct Ping { n: u32 }
/// # impl Job for Ping {
/// #     const NAME: &'static str = "ping";
/// #     const VERSION: semver::Version = semver::Version::new(1, 0, 0);
/// #     type Previous = NoPrevious;
/// #     type State = (); type Data = ();
/// #     async fn perform(self, _: &mut Context<'_>) -> Result<(), HandlerError> { unreachable!() }
/// # }
/// use jobwire::testing::Reader;
///
/// let reader = Reader::<Ping>::new()?;
/// let (ping, report) = reader.read(br#"{"job":"ping","version":"1.0.0","args":{"n":3}}"#).unwrap();
/// assert_eq!(ping, Ping { n: 3 });
/// assert_eq!(report.job, "ping");
/// # Ok::<(), RegistryError>(())
/// ```
pub struct Reader<J> {
    router: Router,
    job: PhantomData<fn() -> J>,
}

impl<J: Job> Reader<J> {
    /// A reader for `J`. Fails only if `J` itself is invalid (its name, its
    /// chain).
    ///
    /// ```
    /// # use jobwire::*;
    /// # use jobwire::testing::*;
    /// # use proptest::prelude::*;
    /// # use semver::Version;
    /// # #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)] struct PingV1 { n: u8 }
    /// # #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)] struct Ping { n: u16 }
    /// # impl Upcast for PingV1 {
    /// #     const VERSION: Version = Version::new(1, 0, 0);
    /// #     type Next = Ping; type Previous = Json<PingV0>;
    /// #     fn upcast(self) -> Result<Ping, UpcastError> { Ok(Ping { n: self.n.into() }) }
    /// # }
    /// # impl Downcast for PingV1 {
    /// #     const LOSSLESS: bool = true;
    /// #     fn downcast(p: &Ping) -> Result<PingV1, DowncastError> { Ok(PingV1 { n: u8::try_from(p.n)? }) }
    /// # }
    /// # impl Job for Ping {
    /// #     const NAME: &'static str = "ping";
    /// #     const VERSION: Version = Version::new(2, 0, 0);
    /// #     type Previous = BreakingChange<PingV1>;
    /// #     type State = (); type Data = ();
    /// #     async fn perform(self, _: &mut Context<'_>) -> Result<(), HandlerError> { Ok(()) }
    /// # }
    /// # impl Job for PingV1 {
    /// #     const NAME: &'static str = "ping";
    /// #     const VERSION: Version = Version::new(1, 0, 0);
    /// #     type Previous = NoPrevious;
    /// #     type State = (); type Data = ();
    /// #     async fn perform(self, _: &mut Context<'_>) -> Result<(), HandlerError> { Ok(()) }
    /// # }
    /// # enum PingV0 {}
    /// # impl JsonUpcast for PingV0 {
    /// #     const VERSION: Version = Version::new(0, 1, 0);
    /// #     type Previous = NoPrevious;
    /// #     fn upcast(_: &mut JsonArgs<'_>) -> Result<(), UpcastError> { Ok(()) }
    /// # }
    /// # let pings = (0..=255u16).prop_map(|n| Ping { n });
    /// let reader = Reader::<Ping>::new()?;
    /// # Ok::<(), RegistryError>(())
    /// ```
    pub fn new() -> Result<Self, crate::RegistryError> {
        // A reader never performs, so it needs none of the job's state or data.
        let mut entry = entry_of::<J, Active>();
        entry.state = Need::of::<()>();
        entry.data = Need::of::<()>();
        let router = RouterBuilder::new().entry(entry).build()?;
        Ok(Reader {
            router,
            job: PhantomData,
        })
    }

    /// Reads one payload: the decoded job and the report a router would
    /// give, or the outcome that stopped it.
    ///
    /// ```
    /// # use jobwire::*;
    /// # use jobwire::testing::*;
    /// # use proptest::prelude::*;
    /// # use semver::Version;
    /// # #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)] struct PingV1 { n: u8 }
    /// # #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)] struct Ping { n: u16 }
    /// # impl Upcast for PingV1 {
    /// #     const VERSION: Version = Version::new(1, 0, 0);
    /// #     type Next = Ping; type Previous = Json<PingV0>;
    /// #     fn upcast(self) -> Result<Ping, UpcastError> { Ok(Ping { n: self.n.into() }) }
    /// # }
    /// # impl Downcast for PingV1 {
    /// #     const LOSSLESS: bool = true;
    /// #     fn downcast(p: &Ping) -> Result<PingV1, DowncastError> { Ok(PingV1 { n: u8::try_from(p.n)? }) }
    /// # }
    /// # impl Job for Ping {
    /// #     const NAME: &'static str = "ping";
    /// #     const VERSION: Version = Version::new(2, 0, 0);
    /// #     type Previous = BreakingChange<PingV1>;
    /// #     type State = (); type Data = ();
    /// #     async fn perform(self, _: &mut Context<'_>) -> Result<(), HandlerError> { Ok(()) }
    /// # }
    /// # impl Job for PingV1 {
    /// #     const NAME: &'static str = "ping";
    /// #     const VERSION: Version = Version::new(1, 0, 0);
    /// #     type Previous = NoPrevious;
    /// #     type State = (); type Data = ();
    /// #     async fn perform(self, _: &mut Context<'_>) -> Result<(), HandlerError> { Ok(()) }
    /// # }
    /// # enum PingV0 {}
    /// # impl JsonUpcast for PingV0 {
    /// #     const VERSION: Version = Version::new(0, 1, 0);
    /// #     type Previous = NoPrevious;
    /// #     fn upcast(_: &mut JsonArgs<'_>) -> Result<(), UpcastError> { Ok(()) }
    /// # }
    /// # let pings = (0..=255u16).prop_map(|n| Ping { n });
    /// let reader = Reader::<Ping>::new()?;
    /// let (ping, _) = reader.read(br#"{"job":"ping","version":"1.0.0","args":{"n":7}}"#).unwrap();
    /// assert_eq!(ping, Ping { n: 7 });
    /// # Ok::<(), RegistryError>(())
    /// ```
    pub fn read<'p>(&self, payload: &'p [u8]) -> Result<(J, Performed), Outcome<'p>> {
        let (job, report) = self.router.read(payload)?;
        match job.downcast::<J>() {
            Ok(job) => Ok((*job, report)),
            // Not reachable: the only entry decodes a `J`.
            Err(_) => Err(Outcome::Performed(report)),
        }
    }
}

impl<J> Debug for Reader<J> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reader")
            .field("router", &self.router)
            .finish()
    }
}

/// Writes an envelope by hand: any name, any version, any arguments, keys in
/// the order given. For old payloads whose producers are gone, and for
/// envelopes no `Producer` would write.
///
/// ```
/// let payload = jobwire::testing::envelope("ping", &semver::Version::new(1, 0, 0), &serde_json::json!({"n": 1}));
/// assert_eq!(payload, br#"{"job":"ping","version":"1.0.0","args":{"n":1}}"#);
/// ```
pub fn envelope(name: &str, version: &Version, args: &impl Serialize) -> Vec<u8> {
    let value = serde_json::json!({
        "job": name,
        "version": version.to_string(),
        "args": serde_json::to_value(args).unwrap_or(Value::Null),
    });
    let mut fields = Vec::new();
    if let Value::Object(map) = value {
        for key in ["job", "version", "args"] {
            if let Some(value) = map.get(key) {
                fields.push(format!("{}:{}", Value::from(key), value));
            }
        }
    }
    format!("{{{}}}", fields.join(",")).into_bytes()
}

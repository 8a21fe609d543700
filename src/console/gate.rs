//! The deploy gate as the console shows and moves it: the console holds a
//! gate it closed, until someone opens it from the page or the console
//! stops.

use crate::gate::file::FileGate;
use crate::gate::{GateError, GateStatus, Held};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;

/// How long a close waits for the gated jobs in flight.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(60);
/// The file gate's lease while the console holds it: renewed every third.
const LEASE: Duration = Duration::from_secs(30);

/// The gate a [`Console`](super::Console) shows, and closes or opens for a
/// person with the token.
///
/// ```
/// let gate = jobwire::console::ConsoleGate::File(jobwire::gate::file::FileGate::new("deploy.gate"));
/// ```
#[derive(Debug)]
#[non_exhaustive]
// Built once per console: the size of its largest variant does not matter.
#[allow(clippy::large_enum_variant)]
pub enum ConsoleGate {
    /// A gate in a lease file, for workers on one machine.
    File(FileGate),
    /// A gate in PostgreSQL's session locks, for a fleet.
    #[cfg(feature = "postgres")]
    Postgres(crate::gate::postgres::PgGate),
}

/// What the console holds, once it closed the gate.
enum Holding {
    File {
        held: Held,
        renewal: tokio::task::JoinHandle<()>,
    },
    #[cfg(feature = "postgres")]
    Postgres(crate::gate::postgres::PgHold),
}

/// The gate and the console's hold on it.
pub(crate) struct GateControl {
    gate: Arc<ConsoleGate>,
    holding: Mutex<Option<Holding>>,
}

impl GateControl {
    pub(crate) fn new(gate: ConsoleGate) -> GateControl {
        GateControl {
            gate: Arc::new(gate),
            holding: Mutex::new(None),
        }
    }

    /// Open or closed, by whom, since when.
    pub(crate) async fn status(&self) -> Result<GateStatus, GateError> {
        match &*self.gate {
            ConsoleGate::File(gate) => gate.status(),
            #[cfg(feature = "postgres")]
            ConsoleGate::Postgres(gate) => gate.status().await,
        }
    }

    /// Whether this console holds the gate.
    pub(crate) async fn holds(&self) -> bool {
        self.holding.lock().await.is_some()
    }

    /// Closes the gate for `holder` and keeps it closed until
    /// [`open`](Self::open).
    pub(crate) async fn close(&self, holder: &str) -> Result<(), GateError> {
        let mut holding = self.holding.lock().await;
        if holding.is_some() {
            return Err(GateError::HeldByOther {
                holder: "this console".to_owned(),
            });
        }
        match &*self.gate {
            ConsoleGate::File(_) => {
                let gate = Arc::clone(&self.gate);
                let who = holder.to_owned();
                let held = tokio::task::spawn_blocking(move || match &*gate {
                    ConsoleGate::File(file) => file.close(&who, LEASE, CLOSE_TIMEOUT),
                    #[cfg(feature = "postgres")]
                    ConsoleGate::Postgres(_) => Err(GateError::Store("not a file gate".into())),
                })
                .await
                .map_err(|error| GateError::Store(error.to_string()))??;
                let gate = Arc::clone(&self.gate);
                let renewed = held.clone();
                let renewal = tokio::spawn(async move {
                    loop {
                        tokio::time::sleep(LEASE / 3).await;
                        #[allow(irrefutable_let_patterns)]
                        if let ConsoleGate::File(file) = &*gate {
                            if let Err(error) = file.renew(&renewed, LEASE) {
                                tracing::error!(%error, "jobwire console: the gate's lease could not be renewed");
                                return;
                            }
                        }
                    }
                });
                *holding = Some(Holding::File { held, renewal });
            }
            #[cfg(feature = "postgres")]
            ConsoleGate::Postgres(gate) => {
                *holding = Some(Holding::Postgres(gate.close(holder, CLOSE_TIMEOUT).await?));
            }
        }
        Ok(())
    }

    /// Opens the gate this console holds.
    pub(crate) async fn open(&self) -> Result<(), GateError> {
        let Some(held) = self.holding.lock().await.take() else {
            return Err(GateError::NotHolder(
                "this console does not hold the gate: its holder opens it (`jobwire gate open`)"
                    .to_owned(),
            ));
        };
        match held {
            Holding::File { held, renewal } => {
                renewal.abort();
                match &*self.gate {
                    ConsoleGate::File(gate) => gate.open(&held.token),
                    #[cfg(feature = "postgres")]
                    ConsoleGate::Postgres(_) => Ok(()),
                }
            }
            #[cfg(feature = "postgres")]
            Holding::Postgres(hold) => hold.open().await,
        }
    }
}

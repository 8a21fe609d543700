//! The deploy gate: pause gated jobs while a deploy runs a migration,
//! without races and without a lock that outlives its deploy (feature
//! `worker`).
//!
//! jobwire's dual dispatch already removes the usual reason to pause
//! workers during a deploy: release N and N+1 read each other's payloads,
//! so nothing has to stop for the code to change. A gate is for the jobs
//! that must not overlap a *data* change: a migration that rewrites the
//! table a job writes, a backfill that must not race a schema change.
//!
//! The deployer closes the gate; the [`Worker`](crate::worker::Worker)
//! consults it. How each race of the lock-file-and-cron design is closed:
//!
//! | race | how the gate closes it |
//! | --- | --- |
//! | a job that started a moment before the lock was taken is still running while the deploy migrates | `close` returns only when no gated job is running: every worker holds a *pass* (a shared lock) while it runs gated jobs, and closing takes the exclusive lock, which waits for every pass to be given back |
//! | checking the lock and starting the job are two steps | a worker takes its pass *before* it looks at the gate and keeps it while it claims and runs; a pass cannot be taken while a close is pending |
//! | a killed deploy leaves the lock behind until the TTL | PostgreSQL: the lock belongs to the deployer's session and goes with it. File: the lease expires by itself; no cron |
//! | a deploy longer than the TTL loses its lock while it thinks it holds it | the holder renews its lease while it runs, and every renewal and release is fenced by the lease's epoch: a holder whose lease was taken over is told so, and cannot release the new holder's gate |
//! | two deployers close at once | one mutual-exclusion step decides: the other is refused, with exit code 3 |
//! | the hold lapses while the deploy runs (a stall past the lease, a terminated session) | the deployer is told: [`GateError::Lapsed`], exit code 6, and `jobwire gate close -- CMD` stops CMD |
//! | a worker loses its pass (its gate connection) while gated jobs run | it cancels them and gives the pass back only once they end; a PostgreSQL pass is also a row that a close waits for |
//! | the gate cannot be read | gated jobs wait (it counts as closed), and the worker says so once |
//!
//! While a close is pending or in force, workers claim none of the gated
//! jobs (they stay queued, untouched, no attempt counted), fire the
//! cancellation of the gated jobs they are running, so that iterable jobs
//! checkpoint and yield at their next item, and give their pass back once
//! the last gated job has finished. Jobs that are not gated run on.
//!
//! Two gates come with the crate: [`PgGate`](postgres::PgGate), session
//! advisory locks in the queue's PostgreSQL database (feature `postgres`),
//! and [`FileGate`](file::FileGate), a lease in a file, for one host or a
//! shared volume. The `jobwire gate` command closes, opens and shows either.

pub mod file;
#[cfg(feature = "postgres")]
pub mod postgres;

use std::fmt;
use std::future::Future;
use std::time::{Duration, SystemTime};

/// What a worker needs from a gate: a pass to run gated jobs, and word of a
/// close. See the [module docs](self).
///
/// ```
/// use jobwire::gate::{file::FileGate, Gate};
/// # async fn demo() -> Result<(), jobwire::gate::GateError> {
/// let gate = FileGate::new("/tmp/jobwire-doc.gate");
/// if gate.enter().await? {
///     // the gate is open, and stays open for this worker until `leave`
///     assert!(!gate.closing().await?);
///     gate.leave().await?;
/// }
/// # Ok(())
/// # }
/// ```
pub trait Gate: Send + Sync + 'static {
    /// Takes a pass, if the gate is open: `true` when the worker may claim
    /// and run gated jobs until it calls [`leave`](Gate::leave). `false`
    /// when the gate is closed, or a close is pending.
    fn enter(&self) -> impl Future<Output = Result<bool, GateError>> + Send;

    /// Whether a close is pending or in force, for a worker holding a pass.
    /// The worker also calls it, ignoring the answer, while a pass it lost
    /// (an error from this method) still has gated jobs to wind down: a gate
    /// whose passes outlive their connection keeps such a pass alive here,
    /// until [`leave`](Gate::leave).
    fn closing(&self) -> impl Future<Output = Result<bool, GateError>> + Send;

    /// Gives the pass back: no gated job runs on this worker any more.
    fn leave(&self) -> impl Future<Output = Result<(), GateError>> + Send;
}

/// Which jobs a gate holds back.
///
/// ```
/// use jobwire::gate::Gated;
/// let gated = Gated::jobs(["billing.settle", "accounts.backfill_email_lower"]);
/// assert!(gated.covers("billing.settle"));
/// assert!(!gated.covers("user.welcome"));
/// assert!(Gated::All.covers("user.welcome"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Gated {
    /// Every job.
    All,
    /// The jobs of these names.
    Jobs(Vec<String>),
}

impl Gated {
    /// The jobs of these names.
    ///
    /// ```
    /// let gated = jobwire::gate::Gated::jobs(["billing.settle"]);
    /// ```
    pub fn jobs<I: IntoIterator<Item = S>, S: Into<String>>(names: I) -> Self {
        Gated::Jobs(names.into_iter().map(Into::into).collect())
    }

    /// Whether the job of this name is held back.
    ///
    /// ```
    /// assert!(jobwire::gate::Gated::jobs(["a"]).covers("a"));
    /// ```
    pub fn covers(&self, job: &str) -> bool {
        match self {
            Gated::All => true,
            Gated::Jobs(names) => names.iter().any(|name| name == job),
        }
    }
}

/// Who holds a gate, and since when, as `status` shows it.
///
/// ```
/// let status = jobwire::gate::GateStatus::default();
/// assert!(!status.closed);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct GateStatus {
    /// Whether the gate is closed (or a close is pending).
    pub closed: bool,
    /// Who holds it, as they named themselves.
    pub holder: Option<String>,
    /// Since when.
    pub since: Option<SystemTime>,
    /// When the holder's lease runs out (a file gate); `None` for a gate
    /// that lasts as long as its holder's session.
    pub expires: Option<SystemTime>,
    /// Workers holding a pass right now, where the gate can tell.
    pub passes: Option<u64>,
}

impl fmt::Display for GateStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ago = |at: SystemTime| {
            SystemTime::now()
                .duration_since(at)
                .map_or_else(|_| "now".to_owned(), |d| format!("{} s ago", d.as_secs()))
        };
        if self.closed {
            write!(
                f,
                "closed by {}",
                self.holder.as_deref().unwrap_or("an unknown holder")
            )?;
            if let Some(since) = self.since {
                write!(f, ", since {}", ago(since))?;
            }
            if let Some(expires) = self.expires {
                let left = expires
                    .duration_since(SystemTime::now())
                    .unwrap_or(Duration::ZERO);
                write!(f, ", lease runs out in {} s", left.as_secs())?;
            }
        } else {
            f.write_str("open")?;
        }
        if let Some(passes) = self.passes {
            write!(f, "; {passes} worker(s) hold a pass (may run gated jobs)")?;
        }
        Ok(())
    }
}

/// What a closed gate hands its holder: the proof to open it with.
///
/// ```
/// let held = jobwire::gate::Held { token: "deploy-42-7".into(), epoch: 7 };
/// assert_eq!(held.to_string(), "deploy-42-7");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    /// Names this hold: give it to `open`.
    pub token: String,
    /// The fence: each close of the gate has a larger one.
    pub epoch: u64,
}

impl fmt::Display for Held {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.token)
    }
}

/// What went wrong with a gate. Each kind has its own exit code in the
/// `jobwire gate` command ([`exit_code`](GateError::exit_code)).
///
/// ```
/// let error = jobwire::gate::GateError::HeldByOther { holder: "deploy-1".into() };
/// assert_eq!(error.exit_code(), 3);
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GateError {
    /// Another deployer holds the gate (or is closing it).
    #[error("the gate is held by {holder}")]
    HeldByOther {
        /// Who holds it.
        holder: String,
    },
    /// Gated jobs were still running when the timeout ran out; the gate was
    /// opened again.
    #[error("gated jobs were still running after {waited:?}: the gate is open again ({running})")]
    StillRunning {
        /// How long `close` waited.
        waited: Duration,
        /// What was still running, as far as the gate can tell.
        running: String,
    },
    /// The hold is not the caller's: another deployer holds the gate, or it
    /// was opened already.
    #[error("this hold is no longer the gate's: {0}")]
    NotHolder(String),
    /// The hold lapsed while the deployer thought it held the gate: its
    /// lease ran out, its session ended, or its lease was removed. Gated
    /// jobs may have run during the deploy: whatever the hold protected
    /// (a migration) must be checked. Its own exit code, 6, so that a deploy
    /// script cannot take it for success or for a plain misuse.
    #[error("the gate was not held all along: {0}; gated jobs may have run meanwhile")]
    Lapsed(String),
    /// The gate's store failed (the file system, the database).
    #[error("the gate could not be read or written: {0}")]
    Store(String),
}

impl GateError {
    /// The `jobwire gate` command's exit code for this error: 3 held by
    /// another deployer, 4 gated jobs still running, 5 not the holder, 6
    /// the hold lapsed while held, 1 the store failed.
    ///
    /// ```
    /// assert_eq!(jobwire::gate::GateError::Store("disk full".into()).exit_code(), 1);
    /// ```
    pub fn exit_code(&self) -> u8 {
        match self {
            GateError::HeldByOther { .. } => 3,
            GateError::StillRunning { .. } => 4,
            GateError::NotHolder(_) => 5,
            GateError::Lapsed(_) => 6,
            GateError::Store(_) => 1,
        }
    }
}

/// A gate that is always open: the worker's default.
///
/// ```
/// use jobwire::gate::{Gate, NoGate};
/// # async fn demo() -> Result<(), jobwire::gate::GateError> {
/// assert!(NoGate.enter().await?);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct NoGate;

impl Gate for NoGate {
    async fn enter(&self) -> Result<bool, GateError> {
        Ok(true)
    }

    async fn closing(&self) -> Result<bool, GateError> {
        Ok(false)
    }

    async fn leave(&self) -> Result<(), GateError> {
        Ok(())
    }
}

/// A new, unguessable-enough token for a hold: the holder's name, the
/// process, and a fresh id.
pub(crate) fn token(holder: &str) -> String {
    let safe: String = holder
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(12)
        .collect();
    format!("{safe}-{}-{}", std::process::id(), crate::new_id())
}

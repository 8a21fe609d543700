//! A gate in a file, for one host or a shared volume: a lease that expires
//! by itself, renewed and fenced.
//!
//! Three files sit side by side: `PATH` holds the lease (who, a token, an
//! epoch, since and until when), replaced atomically by a rename;
//! `PATH.mutex` is locked (`flock`) for the moment a deployer reads and
//! replaces the lease, so two deployers cannot both win; `PATH.passes` is
//! where workers hold their passes, a shared `flock` each, and where a
//! closing deployer waits for them with an exclusive one.
//!
//! Compared with a lock file and a cron job that deletes it after 30
//! minutes:
//!
//! - **No cron.** The lease carries its expiry; an expired lease is an open
//!   gate, for workers and deployers alike.
//! - **No job overlaps the deploy.** The seed's jobs check the file and
//!   start, two steps; here a worker takes its pass first and looks at the
//!   lease second, and `close` writes the lease first and waits for the
//!   passes second, so a job either sees the lease or is waited for.
//! - **A long deploy keeps its gate.** The holder renews the lease while it
//!   runs (`jobwire gate close` does it for you); a holder that stops (a
//!   frozen or killed deploy) loses it at expiry, and its late `open` is
//!   refused by the epoch instead of releasing the next deployer's gate.
//! - **Two deployers cannot both close it**: the lease is read and written
//!   under the mutex, and the second is refused.
//!
//! `flock` works across processes of one host; on a shared volume it needs
//! a file system that supports it (NFSv4 does, through byte-range locks).
//!
//! ```
//! use jobwire::gate::file::FileGate;
//! use std::time::Duration;
//! # fn demo() -> Result<(), jobwire::gate::GateError> {
//! let gate = FileGate::new(std::env::temp_dir().join("jobwire-doc-file.gate"));
//! let held = gate.close("deploy-42", Duration::from_secs(600), Duration::from_secs(60))?;
//! // ... migrate ...
//! gate.open(&held.token)?;
//! # Ok(())
//! # }
//! ```

use crate::gate::{token, Gate, GateError, GateStatus, Held};
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A gate whose lease is a file. Cheap to share between a worker's tasks;
/// see the [module docs](self).
///
/// ```
/// let gate = jobwire::gate::file::FileGate::new("/var/run/myapp/jobs.gate");
/// ```
#[derive(Debug)]
pub struct FileGate {
    lease: PathBuf,
    mutex: PathBuf,
    passes: PathBuf,
    pass: Mutex<Option<File>>,
}

/// The lease, as the file holds it.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Lease {
    holder: String,
    token: String,
    epoch: u64,
    since_ms: u64,
    expires_ms: u64,
}

impl Lease {
    fn in_force(&self) -> bool {
        self.expires_ms > now_ms()
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn at(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

fn store(error: impl std::fmt::Display) -> GateError {
    GateError::Store(error.to_string())
}

/// A file system error, naming the file: the first thing an operator needs.
fn at_path(path: &Path, error: std::io::Error) -> GateError {
    GateError::Store(format!("{}: {error}", path.display()))
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

impl FileGate {
    /// The gate whose lease is the file at `path` (created when first
    /// closed).
    ///
    /// ```
    /// let gate = jobwire::gate::file::FileGate::new("jobs.gate");
    /// ```
    pub fn new(path: impl Into<PathBuf>) -> FileGate {
        let lease = path.into();
        FileGate {
            mutex: sibling(&lease, ".mutex"),
            passes: sibling(&lease, ".passes"),
            lease,
            pass: Mutex::new(None),
        }
    }

    /// The path of the lease file.
    ///
    /// ```
    /// let gate = jobwire::gate::file::FileGate::new("jobs.gate");
    /// assert_eq!(gate.path(), std::path::Path::new("jobs.gate"));
    /// ```
    pub fn path(&self) -> &Path {
        &self.lease
    }

    /// The lease, if any. A file that is not a lease is an error that names
    /// it and its repair: nothing gated runs until it is repaired.
    fn read(&self) -> Result<Option<Lease>, GateError> {
        match std::fs::read(&self.lease) {
            Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|error| {
                store(format!(
                    "{} is not a gate lease ({error}): gated jobs wait until it is repaired with `jobwire gate --file {} open --force`",
                    self.lease.display(),
                    self.lease.display()
                ))
            }),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(at_path(&self.lease, error)),
        }
    }

    fn write(&self, lease: &Lease) -> Result<(), GateError> {
        let temporary = sibling(&self.lease, &format!(".{}.tmp", std::process::id()));
        let bytes = serde_json::to_vec(lease).map_err(store)?;
        std::fs::write(&temporary, bytes).map_err(|e| at_path(&temporary, e))?;
        std::fs::rename(&temporary, &self.lease).map_err(|e| at_path(&self.lease, e))
    }

    fn open_file(path: &Path) -> Result<File, GateError> {
        OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(path)
            .map_err(|error| at_path(path, error))
    }

    /// Runs `f` with the lease's mutex held.
    fn exclusively<T>(&self, f: impl FnOnce() -> Result<T, GateError>) -> Result<T, GateError> {
        let mutex = Self::open_file(&self.mutex)?;
        mutex.lock().map_err(|error| at_path(&self.mutex, error))?;
        let result = f();
        drop(mutex);
        result
    }

    /// Closes the gate for `holder`: takes the lease for `lease`, then waits
    /// (at most `timeout`) for every worker to give its pass back, that is,
    /// for the last gated job in flight to finish or checkpoint. Fails with
    /// [`GateError::HeldByOther`] when another deployer holds a lease in
    /// force, and with [`GateError::StillRunning`] (after opening the gate
    /// again) when jobs outlast the timeout. While it waits, it renews the
    /// lease.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # fn demo(gate: &jobwire::gate::file::FileGate) -> Result<(), jobwire::gate::GateError> {
    /// let held = gate.close("deploy-42", Duration::from_secs(600), Duration::from_secs(60))?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn close(
        &self,
        holder: &str,
        lease: Duration,
        timeout: Duration,
    ) -> Result<Held, GateError> {
        let length = u64::try_from(lease.as_millis()).unwrap_or(u64::MAX);
        let held = self.exclusively(|| {
            let previous = self.read()?;
            if let Some(current) = previous.as_ref().filter(|l| l.in_force()) {
                return Err(GateError::HeldByOther {
                    holder: current.holder.clone(),
                });
            }
            let now = now_ms();
            let lease = Lease {
                holder: holder.to_owned(),
                token: token(holder),
                epoch: previous.map_or(1, |l| l.epoch + 1),
                since_ms: now,
                expires_ms: now.saturating_add(length),
            };
            self.write(&lease)?;
            Ok(Held {
                token: lease.token,
                epoch: lease.epoch,
            })
        })?;
        tracing::info!(
            holder,
            epoch = held.epoch,
            "jobwire gate closing: waiting for gated jobs in flight"
        );
        let passes = Self::open_file(&self.passes)?;
        let started = Instant::now();
        let mut renewed = Instant::now();
        loop {
            match passes.try_lock() {
                Ok(()) => {
                    drop(passes);
                    tracing::info!(
                        holder,
                        epoch = held.epoch,
                        waited_ms = started.elapsed().as_millis() as u64,
                        "jobwire gate closed"
                    );
                    return Ok(held);
                }
                Err(TryLockError::WouldBlock) => {}
                Err(TryLockError::Error(error)) => return Err(store(error)),
            }
            if started.elapsed() >= timeout {
                let _ = self.open(&held.token);
                return Err(GateError::StillRunning {
                    waited: timeout,
                    running: "workers still hold passes".to_owned(),
                });
            }
            if renewed.elapsed() >= lease / 3 {
                self.renew(&held, lease)?;
                renewed = Instant::now();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Extends `held`'s lease to `lease` from now. Fails with
    /// [`GateError::Lapsed`] when the hold was not kept all along: its lease
    /// ran out (whether or not someone closed the gate since), or its lease
    /// file was removed.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # fn demo(gate: &jobwire::gate::file::FileGate, held: &jobwire::gate::Held) -> Result<(), jobwire::gate::GateError> {
    /// gate.renew(held, Duration::from_secs(600))?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn renew(&self, held: &Held, lease: Duration) -> Result<(), GateError> {
        let length = u64::try_from(lease.as_millis()).unwrap_or(u64::MAX);
        self.exclusively(|| match self.read()? {
            Some(mut current) if current.token == held.token && current.epoch == held.epoch => {
                if !current.in_force() {
                    return Err(GateError::Lapsed(format!(
                        "the lease of epoch {} ran out before it was renewed",
                        held.epoch
                    )));
                }
                current.expires_ms = now_ms().saturating_add(length);
                self.write(&current)
            }
            Some(current) => Err(GateError::Lapsed(format!(
                "the lease of epoch {} ran out, and {} holds the gate now (epoch {})",
                held.epoch, current.holder, current.epoch
            ))),
            None => Err(GateError::Lapsed(format!(
                "the lease file {} is gone: the gate was opened by someone else, or the file removed",
                self.lease.display()
            ))),
        })
    }

    /// Opens the gate held under `token`. Fails with
    /// [`GateError::NotHolder`], and changes nothing, when the gate is held
    /// under another token: a late `open` cannot release a newer holder's
    /// gate. Fails with [`GateError::Lapsed`] when the lease under `token`
    /// ran out before this `open` (the gate was open meanwhile, so gated
    /// jobs may have run); the stale lease is removed.
    ///
    /// ```
    /// # fn demo(gate: &jobwire::gate::file::FileGate) -> Result<(), jobwire::gate::GateError> {
    /// gate.open("deploy-42-...")?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn open(&self, token: &str) -> Result<(), GateError> {
        self.exclusively(|| match self.read()? {
            Some(current) if current.token == token => {
                std::fs::remove_file(&self.lease).map_err(|e| at_path(&self.lease, e))?;
                if !current.in_force() {
                    let late = now_ms().saturating_sub(current.expires_ms);
                    return Err(GateError::Lapsed(format!(
                        "the lease of epoch {} ran out {} ms before this open",
                        current.epoch, late
                    )));
                }
                tracing::info!(holder = %current.holder, epoch = current.epoch, "jobwire gate opened");
                Ok(())
            }
            Some(current) if current.in_force() => Err(GateError::NotHolder(format!(
                "the gate is held by {} (epoch {}), not by this token",
                current.holder, current.epoch
            ))),
            _ => Err(GateError::NotHolder(
                "the gate is open (this hold's lease ran out, or it was opened)".to_owned(),
            )),
        })
    }

    /// Opens the gate whatever its lease holds, a corrupt one included: the
    /// repair when a lease file cannot be read (nothing gated runs until
    /// then). Returns what it removed, for the log; `None` when the gate
    /// was open.
    ///
    /// ```
    /// # fn demo(gate: &jobwire::gate::file::FileGate) -> Result<(), jobwire::gate::GateError> {
    /// if let Some(removed) = gate.force_open()? {
    ///     eprintln!("removed {removed}");
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn force_open(&self) -> Result<Option<String>, GateError> {
        self.exclusively(|| {
            let removed = match self.read() {
                Ok(None) => return Ok(None),
                Ok(Some(lease)) => format!("the lease of {} (epoch {})", lease.holder, lease.epoch),
                Err(error) => format!("a lease that could not be read ({error})"),
            };
            match std::fs::remove_file(&self.lease) {
                Ok(()) => {}
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(error) => return Err(at_path(&self.lease, error)),
            }
            tracing::warn!(path = %self.lease.display(), %removed, "jobwire gate opened by force");
            Ok(Some(removed))
        })
    }

    /// Who holds the gate, since when, until when. An error when the gate
    /// cannot be used (its folder is missing or cannot be written, its
    /// lease is corrupt): workers then hold gated jobs back, so `status`
    /// must not say "open".
    ///
    /// ```
    /// # fn demo(gate: &jobwire::gate::file::FileGate) -> Result<(), jobwire::gate::GateError> {
    /// println!("{}", gate.status()?);
    /// # Ok(())
    /// # }
    /// ```
    pub fn status(&self) -> Result<GateStatus, GateError> {
        // What a worker needs first: its pass file.
        Self::open_file(&self.passes)?;
        let lease = self.read()?.filter(Lease::in_force);
        Ok(GateStatus {
            closed: lease.is_some(),
            holder: lease.as_ref().map(|l| l.holder.clone()),
            since: lease.as_ref().map(|l| at(l.since_ms)),
            expires: lease.as_ref().map(|l| at(l.expires_ms)),
            passes: None,
        })
    }

    fn pass(&self) -> std::sync::MutexGuard<'_, Option<File>> {
        self.pass.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Gate for FileGate {
    async fn enter(&self) -> Result<bool, GateError> {
        let mut pass = self.pass();
        if pass.is_some() {
            return Ok(!self.read()?.is_some_and(|l| l.in_force()));
        }
        // The pass first, the lease second: a close that wrote its lease
        // after this look waits for this pass.
        let file = Self::open_file(&self.passes)?;
        match file.try_lock_shared() {
            Ok(()) => {}
            // A deployer holds the exclusive lock: closing.
            Err(TryLockError::WouldBlock) => return Ok(false),
            Err(TryLockError::Error(error)) => return Err(store(error)),
        }
        if self.read()?.is_some_and(|l| l.in_force()) {
            return Ok(false);
        }
        *pass = Some(file);
        Ok(true)
    }

    async fn closing(&self) -> Result<bool, GateError> {
        Ok(self.read()?.is_some_and(|l| l.in_force()))
    }

    async fn leave(&self) -> Result<(), GateError> {
        // Closing the file gives the shared lock back.
        self.pass().take();
        Ok(())
    }
}

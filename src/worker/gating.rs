//! The worker's side of the deploy gate: when to hold a pass, when to pause
//! gated jobs, when to give the pass back.
//!
//! The worker asks [`Gating::look`] once per claim round, and claims gated
//! jobs only when it answers `true`. The rules:
//!
//! - **A pass before a look.** Without a pass, it asks the gate for one
//!   ([`Gate::enter`]); the gate grants none while a close is pending.
//! - **A close pauses.** With a pass, it asks whether a close is pending
//!   ([`Gate::closing`]), at most every [`CONSULT_EVERY`] while the gate is
//!   open: a close is noticed within that time, and a worker claiming in a
//!   tight loop does not pay a round trip per claim.
//! - **The pass goes back only when no gated job runs.** On a close the
//!   worker fires the cancellation of its gated jobs (iterable jobs
//!   checkpoint and yield) and calls [`Gate::leave`] once the last has
//!   ended. That is what `close` waits for.
//! - **A lost pass pauses too, and is given back the same way.** When the
//!   gate fails while the worker holds a pass (a PostgreSQL session
//!   terminated, a lease file that cannot be read), the worker treats the
//!   gate as closed: it cancels its gated jobs and gives the pass back once
//!   they have ended. A gate whose pass outlives its connection
//!   ([`PgGate`](crate::gate::postgres::PgGate) keeps a pass row) makes a
//!   closer wait for that.
//! - **An unreadable gate counts as closed.** A worker that cannot read its
//!   gate cannot know that no deployer closed it, so gated jobs wait (other
//!   jobs run on). It says so once, with the gate's error (a file gate's
//!   error names the path), and once more when the gate reads again.

use crate::gate::{Gate, GateError, Gated};
use crate::Cancellation;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How often a worker holding a pass asks an open gate whether a close is
/// pending; a close is noticed within this time.
pub(crate) const CONSULT_EVERY: Duration = Duration::from_millis(100);

/// How often a worker holding a pass (or paused by the gate) looks at the
/// gate while it has nothing else to do.
pub(crate) const GATE_EVERY: Duration = Duration::from_millis(250);

/// A claim in flight, as the worker tracks it.
#[derive(Debug)]
pub(crate) struct Slot<K> {
    /// The claim's key.
    pub(crate) key: K,
    /// The signal that stops its job.
    pub(crate) cancel: Cancellation,
    /// Whether the job is gated.
    pub(crate) gated: bool,
    /// Whether the job has ended and is being settled: a lease renewal
    /// that finds its claim gone is then the settlement, not a loss.
    pub(crate) settling: bool,
}

/// The claims in flight, by slot.
pub(crate) type Running<K> = Arc<Mutex<HashMap<u64, Slot<K>>>>;

/// Fires the cancellation of every gated job running (iterable jobs
/// checkpoint and yield); returns how many there are.
fn pause_gated<K>(running: &Running<K>) -> usize {
    running
        .lock()
        .map(|running| {
            running
                .values()
                .filter(|slot| slot.gated && !slot.settling)
                .map(|slot| slot.cancel.cancel())
                .count()
        })
        .unwrap_or(0)
}

/// The worker's dealings with its gate. See the [module docs](self).
pub(crate) struct Gating<G: Gate> {
    gate: Arc<G>,
    gated: Gated,
    /// The names a claim skips while gated jobs wait.
    skipped: Vec<String>,
    /// Whether this worker holds a pass, or a pass it must still give back.
    holding: bool,
    /// Whether the pass was lost while held: the gate is closed to this
    /// worker until it has given the pass back and taken a new one.
    lost: bool,
    /// Whether gated jobs are paused.
    paused: bool,
    /// The gate's last error, said once.
    failing: Option<String>,
    /// When an open gate was last asked, with a pass held.
    asked: Option<Instant>,
}

impl<G: Gate> Gating<G> {
    pub(crate) fn new(gate: Arc<G>, gated: Gated) -> Self {
        let skipped = match &gated {
            Gated::Jobs(names) => names.clone(),
            Gated::All => Vec::new(),
        };
        Gating {
            gate,
            gated,
            skipped,
            holding: false,
            lost: false,
            paused: false,
            failing: None,
            asked: None,
        }
    }

    /// Whether any job is gated.
    pub(crate) fn active(&self) -> bool {
        !matches!(&self.gated, Gated::Jobs(names) if names.is_empty())
    }

    /// Whether every job is gated.
    pub(crate) fn all(&self) -> bool {
        matches!(self.gated, Gated::All)
    }

    /// Whether the job of this name is gated.
    pub(crate) fn covers(&self, job: &str) -> bool {
        self.active() && self.gated.covers(job)
    }

    /// The names a claim skips while the gate is not open to this worker.
    pub(crate) fn skipped(&self) -> Vec<&str> {
        self.skipped.iter().map(String::as_str).collect()
    }

    /// Whether the worker should look at the gate again soon, even with
    /// nothing else to do.
    pub(crate) fn watching(&self) -> bool {
        self.active() && (self.holding || self.paused)
    }

    /// Whether gated jobs may be claimed now; pauses (and gives the pass
    /// back) or resumes as the gate says.
    pub(crate) async fn look<K>(&mut self, running: &Running<K>, worker: &str) -> bool {
        if !self.active() {
            return true;
        }
        if self.holding && !self.paused && self.asked.is_some_and(|at| at.elapsed() < CONSULT_EVERY)
        {
            return true;
        }
        let open = if self.lost {
            // Keeps the lost pass alive while its gated jobs wind down.
            let _ = self.gate.closing().await;
            false
        } else {
            let answer = if self.holding {
                self.gate.closing().await.map(|closing| !closing)
            } else {
                self.gate.enter().await.inspect(|&entered| {
                    self.holding = entered;
                })
            };
            match answer {
                Ok(open) => {
                    if let Some(error) = self.failing.take() {
                        tracing::info!(worker, %error, "jobwire worker reads its gate again");
                    }
                    open
                }
                Err(error) => {
                    self.fail(&error, worker);
                    self.lost = self.holding;
                    false
                }
            }
        };
        if open {
            self.asked = Some(Instant::now());
            if self.paused {
                self.paused = false;
                tracing::info!(
                    worker,
                    "jobwire worker resumed gated jobs: the deploy gate is open"
                );
            }
            return true;
        }
        self.asked = None;
        let gated_running = pause_gated(running);
        if !self.paused {
            self.paused = true;
            tracing::info!(
                worker,
                gated_running,
                "jobwire worker paused gated jobs: the deploy gate is closing or closed"
            );
        }
        if self.holding && gated_running == 0 {
            self.leave(worker).await;
        }
        false
    }

    /// Says a gate error once (and again only when it changes).
    fn fail(&mut self, error: &GateError, worker: &str) {
        let text = error.to_string();
        if self.failing.as_deref() != Some(text.as_str()) {
            if self.holding {
                tracing::warn!(worker, error = %text, "jobwire worker lost its gate pass: its gated jobs are told to stop, and gated jobs wait until the gate answers again");
            } else {
                tracing::warn!(worker, error = %text, "jobwire worker cannot read its gate: gated jobs wait (an unreadable gate counts as closed); other jobs run on");
            }
            self.failing = Some(text);
        }
    }

    /// Gives the pass back.
    pub(crate) async fn leave(&mut self, worker: &str) {
        if !self.holding {
            return;
        }
        if let Err(error) = self.gate.leave().await {
            tracing::warn!(worker, %error, "jobwire worker could not give its gate pass back; it lapses by itself");
        }
        self.holding = false;
        self.lost = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    /// A gate driven by the test: open or closing, or failing.
    #[derive(Default)]
    struct Scripted {
        closing: AtomicBool,
        failing: AtomicBool,
        asked: AtomicUsize,
        left: AtomicUsize,
    }

    impl Gate for Scripted {
        async fn enter(&self) -> Result<bool, GateError> {
            self.asked.fetch_add(1, Ordering::SeqCst);
            if self.failing.load(Ordering::SeqCst) {
                return Err(GateError::Store("unreadable".into()));
            }
            Ok(!self.closing.load(Ordering::SeqCst))
        }
        async fn closing(&self) -> Result<bool, GateError> {
            self.asked.fetch_add(1, Ordering::SeqCst);
            if self.failing.load(Ordering::SeqCst) {
                return Err(GateError::Store("session ended".into()));
            }
            Ok(self.closing.load(Ordering::SeqCst))
        }
        async fn leave(&self) -> Result<(), GateError> {
            self.left.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    }

    fn running_one_gated() -> (Running<u64>, Cancellation) {
        let cancel = Cancellation::new();
        let running: Running<u64> = Arc::default();
        running.lock().unwrap().insert(
            1,
            Slot {
                key: 1,
                cancel: cancel.clone(),
                gated: true,
                settling: false,
            },
        );
        (running, cancel)
    }

    fn block_on<F: std::future::Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(future)
    }

    #[test]
    fn a_lost_pass_cancels_gated_jobs_and_is_given_back_only_after_they_end() {
        block_on(async {
            let gate = Arc::new(Scripted::default());
            let mut gating = Gating::new(Arc::clone(&gate), Gated::All);
            let (running, cancel) = running_one_gated();
            assert!(gating.look(&running, "w").await, "open: a pass");
            gate.failing.store(true, Ordering::SeqCst);
            gating.asked = None;
            assert!(!gating.look(&running, "w").await, "a lost pass is closed");
            assert!(cancel.is_cancelled(), "the gated job is told to stop");
            assert_eq!(gate.left.load(Ordering::SeqCst), 0, "not while it runs");
            gate.failing.store(false, Ordering::SeqCst);
            assert!(
                !gating.look(&running, "w").await,
                "still closed: the pass is gone"
            );
            running.lock().unwrap().clear();
            assert!(!gating.look(&running, "w").await);
            assert_eq!(
                gate.left.load(Ordering::SeqCst),
                1,
                "given back once it ended"
            );
            assert!(gating.look(&running, "w").await, "then a new pass");
        });
    }

    #[test]
    fn an_open_gate_is_asked_at_most_every_consult_interval() {
        block_on(async {
            let gate = Arc::new(Scripted::default());
            let mut gating = Gating::new(Arc::clone(&gate), Gated::All);
            let running: Running<u64> = Arc::default();
            for _ in 0..100 {
                assert!(gating.look(&running, "w").await);
            }
            assert!(
                gate.asked.load(Ordering::SeqCst) <= 2,
                "one pass, not a round trip per claim"
            );
        });
    }

    #[test]
    fn an_unreadable_gate_counts_as_closed_and_recovers() {
        block_on(async {
            let gate = Arc::new(Scripted::default());
            gate.failing.store(true, Ordering::SeqCst);
            let mut gating = Gating::new(Arc::clone(&gate), Gated::jobs(["a"]));
            let running: Running<u64> = Arc::default();
            assert!(!gating.look(&running, "w").await);
            assert!(gating.failing.is_some());
            gate.failing.store(false, Ordering::SeqCst);
            assert!(gating.look(&running, "w").await);
            assert!(gating.failing.is_none());
            assert!(gating.covers("a") && !gating.covers("b"));
        });
    }
}

//! What the worker does with each outcome: the one settlement, and when.

use crate::backend::{Settlement, Wait};
use crate::{Action, DeferReason, Outcome};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

/// How long a payload that only another release can perform may wait, and
/// how long between two looks at it.
///
/// A deploy runs release N and N+1 side by side for a while: the *deploy
/// window*. Within it, a payload this release cannot read (a newer major, an
/// unknown job) is put back without counting an attempt, after a delay that
/// doubles from `first_delay` up to `max_delay`, with jitter, so that release
/// N does not spin on N+1's jobs. A payload older than the window (counted
/// from when the queue first made it runnable) is dead-lettered with a reason
/// that names the job, the version and its age: no release in the window
/// reads it, and it must never be deferred for ever.
///
/// The default window is one hour: far longer than a rolling deploy, so a
/// valid job is never dead-lettered during one, and short enough that a
/// payload nothing reads is seen the same day.
///
/// ```
/// use jobwire::worker::DeferPolicy;
/// use std::time::Duration;
/// let policy = DeferPolicy::default().with_window(Duration::from_secs(15 * 60));
/// assert_eq!(policy.window(), Duration::from_secs(900));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeferPolicy {
    window: Duration,
    first_delay: Duration,
    max_delay: Duration,
}

impl Default for DeferPolicy {
    /// A one-hour window; delays from 1 s doubling to 30 s.
    fn default() -> Self {
        DeferPolicy {
            window: Duration::from_secs(3600),
            first_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(30),
        }
    }
}

impl DeferPolicy {
    /// Sets the deploy window.
    ///
    /// ```
    /// let _ = jobwire::worker::DeferPolicy::default().with_window(std::time::Duration::from_secs(600));
    /// ```
    pub fn with_window(mut self, window: Duration) -> Self {
        self.window = window;
        self
    }

    /// Sets the first and the largest delay between two looks.
    ///
    /// ```
    /// use std::time::Duration;
    /// let _ = jobwire::worker::DeferPolicy::default().with_delays(Duration::from_millis(200), Duration::from_secs(5));
    /// ```
    pub fn with_delays(mut self, first: Duration, max: Duration) -> Self {
        self.first_delay = first;
        self.max_delay = max.max(first);
        self
    }

    /// The deploy window.
    ///
    /// ```
    /// assert_eq!(jobwire::worker::DeferPolicy::default().window().as_secs(), 3600);
    /// ```
    pub fn window(&self) -> Duration {
        self.window
    }

    /// The delay before the next look at a payload deferred `defers` times:
    /// doubling, capped, with ±25% jitter.
    ///
    /// ```
    /// let policy = jobwire::worker::DeferPolicy::default();
    /// let delay = policy.delay(20);
    /// assert!(delay.as_secs_f64() <= 30.0 * 1.25);
    /// ```
    pub fn delay(&self, defers: u32) -> Duration {
        jitter(backoff(self.first_delay, self.max_delay, defers))
    }
}

/// How often a failing job is retried, and how long between tries.
///
/// A handler's error that says "retryable" is retried after a delay that
/// doubles from `first_delay` up to `max_delay`, with jitter (or after the
/// delay the handler asked for with `retry_after`). After `max_attempts`
/// attempts, the payload is dead-lettered with the last error. A payload
/// whose worker died under it (its lease ran out) counts an attempt too, so
/// a payload that kills workers ends in the dead-letter store instead of a
/// crash loop.
///
/// ```
/// use jobwire::worker::RetryPolicy;
/// let policy = RetryPolicy::default().with_max_attempts(5);
/// assert_eq!(policy.max_attempts(), 5);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    max_attempts: u32,
    first_delay: Duration,
    max_delay: Duration,
    curve: Curve,
}

/// How the delay between tries grows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Curve {
    /// Doubling from the first delay, capped, with a quarter of jitter.
    Doubling,
    /// Sidekiq's: `count⁴ + 15 + rand(10) × (count + 1)` seconds.
    Sidekiq,
}

impl Default for RetryPolicy {
    /// 20 attempts; delays from 1 s doubling to one hour (about 11 hours of
    /// retries in all, like Sidekiq's three weeks, shortened).
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 20,
            first_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(3600),
            curve: Curve::Doubling,
        }
    }
}

impl RetryPolicy {
    /// Sidekiq's own: 25 retries (26 attempts in all), the delay after
    /// the `n`th failure `(n - 1)⁴ + 15 + rand(10) × n` seconds, about
    /// three weeks in all. What a Rails team's jobs already do, for workers
    /// on [`Sidekiq`](crate::backend) queues.
    ///
    /// ```
    /// use std::time::Duration;
    /// let policy = jobwire::worker::RetryPolicy::sidekiq();
    /// assert_eq!(policy.max_attempts(), 26);
    /// let first = policy.delay(0);
    /// assert!(first >= Duration::from_secs(15) && first <= Duration::from_secs(24));
    /// assert!(policy.delay(10) >= Duration::from_secs(10_015));
    /// ```
    pub fn sidekiq() -> Self {
        RetryPolicy {
            max_attempts: 26,
            first_delay: Duration::from_secs(15),
            max_delay: Duration::MAX,
            curve: Curve::Sidekiq,
        }
    }

    /// Sets how many attempts in all before the dead-letter store.
    ///
    /// ```
    /// let _ = jobwire::worker::RetryPolicy::default().with_max_attempts(3);
    /// ```
    pub fn with_max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// Sets the first and the largest delay between tries, doubling from
    /// one to the other (Sidekiq's curve too is replaced).
    ///
    /// ```
    /// use std::time::Duration;
    /// let _ = jobwire::worker::RetryPolicy::default().with_delays(Duration::from_millis(100), Duration::from_secs(1));
    /// ```
    pub fn with_delays(mut self, first: Duration, max: Duration) -> Self {
        self.first_delay = first;
        self.max_delay = max.max(first);
        self.curve = Curve::Doubling;
        self.curve = Curve::Doubling;
        self
    }

    /// How many attempts in all.
    ///
    /// ```
    /// assert_eq!(jobwire::worker::RetryPolicy::default().max_attempts(), 20);
    /// ```
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The delay before the next try, after `attempt` attempts.
    ///
    /// ```
    /// let policy = jobwire::worker::RetryPolicy::default();
    /// assert!(policy.delay(0) <= std::time::Duration::from_millis(1250));
    /// ```
    pub fn delay(&self, attempt: u32) -> Duration {
        match self.curve {
            Curve::Doubling => jitter(backoff(self.first_delay, self.max_delay, attempt)),
            Curve::Sidekiq => {
                let count = u64::from(attempt);
                let dice = random() % 10;
                let seconds = count
                    .saturating_pow(4)
                    .saturating_add(15)
                    .saturating_add(dice.saturating_mul(count.saturating_add(1)));
                Duration::from_secs(seconds)
            }
        }
    }
}

/// `first * 2^n`, capped at `max`.
fn backoff(first: Duration, max: Duration, n: u32) -> Duration {
    first
        .checked_mul(1u32.checked_shl(n.min(31)).unwrap_or(u32::MAX))
        .map_or(max, |delay| delay.min(max))
}

/// `delay`, plus or minus a quarter, at random.
fn jitter(delay: Duration) -> Duration {
    // A factor from 0.75 to 1.25.
    let factor = 0.75 + (random() >> 11) as f64 / (1u64 << 53) as f64 * 0.5;
    delay.mul_f64(factor)
}

/// A random number (splitmix64), for jitter: not for secrets.
fn random() -> u64 {
    static STATE: AtomicU64 = AtomicU64::new(0x9e37_79b9_7f4a_7c15);
    let mut z = STATE.fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed)
        ^ u64::from(std::process::id()).rotate_left(32);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Everything the worker decides for one claim, owning its words.
#[derive(Debug)]
pub(crate) struct Decision {
    pub(crate) kind: Kind,
    pub(crate) text: String,
}

/// The settlement of a decision, without the words.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind {
    Ack,
    Reschedule {
        at: SystemTime,
        wait: Wait,
        new_bytes: bool,
    },
    Retry {
        at: SystemTime,
        new_bytes: bool,
    },
    DeadLetter {
        new_bytes: bool,
    },
}

impl Decision {
    /// The settlement to hand the backend, borrowing the outcome's bytes.
    pub(crate) fn settlement<'a>(&'a self, outcome: &'a Outcome<'_>) -> Settlement<'a> {
        let bytes = |new: bool| if new { outcome.payload() } else { None };
        match self.kind {
            Kind::Ack => Settlement::Ack,
            Kind::Reschedule {
                at,
                wait,
                new_bytes,
            } => Settlement::Reschedule {
                at,
                payload: bytes(new_bytes),
                wait,
            },
            Kind::Retry { at, new_bytes } => Settlement::Retry {
                at,
                error: &self.text,
                payload: bytes(new_bytes),
            },
            Kind::DeadLetter { new_bytes } => Settlement::DeadLetter {
                reason: &self.text,
                payload: bytes(new_bytes),
            },
        }
    }
}

/// The facts about a claim the decision needs.
pub(crate) struct Facts {
    pub(crate) attempt: u32,
    pub(crate) defers: u32,
    pub(crate) first_seen: SystemTime,
    pub(crate) now: SystemTime,
}

/// What to do with `outcome`.
pub(crate) fn decide(
    outcome: &Outcome<'_>,
    facts: &Facts,
    defer: &DeferPolicy,
    retry: &RetryPolicy,
    resume_delay: Duration,
) -> Decision {
    let plain = |kind| Decision {
        kind,
        text: String::new(),
    };
    match outcome {
        Outcome::Performed(_) | Outcome::Discarded(_) => plain(Kind::Ack),
        Outcome::Deferred(deferred) => {
            let age = facts
                .now
                .duration_since(facts.first_seen)
                .unwrap_or_default();
            if age > defer.window {
                Decision {
                    kind: Kind::DeadLetter { new_bytes: false },
                    text: too_old(&deferred.reason, age, defer.window, facts.defers),
                }
            } else {
                plain(Kind::Reschedule {
                    at: facts.now + defer.delay(facts.defers),
                    wait: Wait::Deferred,
                    new_bytes: false,
                })
            }
        }
        Outcome::Snoozed(snoozed) => plain(Kind::Reschedule {
            at: facts.now + snoozed.delay,
            wait: Wait::Snoozed,
            new_bytes: false,
        }),
        Outcome::Interrupted(_) => plain(Kind::Reschedule {
            at: facts.now + resume_delay,
            wait: Wait::Interrupted,
            new_bytes: true,
        }),
        Outcome::Failed(failed) if outcome.action() == Action::Retry => {
            let attempts = facts.attempt.saturating_add(1);
            if attempts >= retry.max_attempts {
                Decision {
                    kind: Kind::DeadLetter { new_bytes: true },
                    text: crate::wire::bounded(format!(
                        "job `{}` {}: gave up after {attempts} attempts: {}",
                        failed.job, failed.wire_version, failed.error
                    )),
                }
            } else {
                let delay = failed
                    .error
                    .delay()
                    .unwrap_or_else(|| retry.delay(facts.attempt));
                Decision {
                    kind: Kind::Retry {
                        at: facts.now + delay,
                        new_bytes: true,
                    },
                    text: crate::wire::bounded(failed.error.to_string()),
                }
            }
        }
        Outcome::Failed(failed) => Decision {
            kind: Kind::DeadLetter { new_bytes: true },
            text: crate::wire::bounded(format!(
                "job `{}` {}: {}failed at {}: {}",
                failed.job,
                failed.wire_version,
                if failed.panicked { "panicked, " } else { "" },
                failed.step,
                failed.error
            )),
        },
        Outcome::Rejected(rejected) => Decision {
            kind: Kind::DeadLetter { new_bytes: false },
            text: crate::wire::bounded(format!("rejected: {}", rejected.error)),
        },
    }
}

/// The reason a deferred payload is dead-lettered: what it is, how long it
/// waited, and what to do.
fn too_old(reason: &DeferReason<'_>, age: Duration, window: Duration, defers: u32) -> String {
    let mut text = String::new();
    let _ = match reason {
        DeferReason::NewerRelease {
            job,
            wire_version,
            handler_version,
        } => write!(
            text,
            "job `{job}` {wire_version} waited {} (deferred {defers} times) for a release that reads it, longer than the deploy window of {}: this release reads {handler_version}'s line. \
             Requeue it once a release that reads {wire_version} runs, or, if none will, handle it by hand",
            human(age),
            human(window)
        ),
        DeferReason::UnknownJob { job, wire_version } => write!(
            text,
            "job `{job}` {wire_version} waited {} (deferred {defers} times) for a release that knows it, longer than the deploy window of {}: no release that ran in the window registers `{job}`. \
             Deploy the release that adds it and requeue this, or `retire!` the name if it is gone for good",
            human(age),
            human(window)
        ),
    };
    crate::wire::bounded(text)
}

/// A duration for people: `1h 12m`, `8m 3s`, `42s`.
fn human(duration: Duration) -> String {
    let seconds = duration.as_secs();
    match (seconds / 3600, seconds % 3600 / 60, seconds % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, s) => format!("{m}m {s}s"),
        (h, m, _) => format!("{h}h {m}m"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let first = Duration::from_secs(1);
        let max = Duration::from_secs(30);
        assert_eq!(backoff(first, max, 0), first);
        assert_eq!(backoff(first, max, 3), Duration::from_secs(8));
        assert_eq!(backoff(first, max, 10), max);
        assert_eq!(backoff(first, max, u32::MAX), max);
    }

    #[test]
    fn jitter_stays_within_a_quarter() {
        for _ in 0..1000 {
            let d = jitter(Duration::from_secs(100)).as_secs_f64();
            assert!((75.0..=125.0).contains(&d), "{d}");
        }
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(human(Duration::from_secs(42)), "42s");
        assert_eq!(human(Duration::from_secs(483)), "8m 3s");
        assert_eq!(human(Duration::from_secs(4320)), "1h 12m");
    }
}

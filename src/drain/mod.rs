//! Drain: when can the old code go?
//!
//! Upcasters, aliases, deprecated jobs and the "previous" write policy all
//! exist to be removed once no old payload is left. Removing one too early
//! rejects every old payload still waiting: in the queue, in the retry
//! schedule, deferred, in a dead letter someone will requeue, or in a
//! stored iteration cursor. This module answers the question per candidate
//! removal, from two sources together:
//!
//! - what waits in the queue, per (job name, version) and per place
//!   ([`Waiting`], from `Sqlite::waiting` or `Postgres::waiting`), and
//! - the manifests of the releases in the deploy window, which say what
//!   each release still *writes* ([`Manifest`]).
//!
//! ```
//! use jobwire::drain::{answer, Place, Question, Waiting};
//! use semver::Version;
//!
//! let waiting = [Waiting::new("user.confirmation", Version::new(1, 4, 0), Place::Retrying, 3)];
//! let question: Question = "upcaster user.confirmation 1.x".parse()?;
//! let answer = answer(&question, &waiting, &[]);
//! assert!(!answer.safe);
//! assert!(answer.to_string().contains("3 retrying"));
//! # Ok::<(), jobwire::drain::QuestionError>(())
//! ```
//!
//! The `jobwire drain` command asks it of a live queue:
//! `jobwire drain --sqlite jobs.db --manifests manifests/ upcaster user.confirmation 1.x`
//! exits 0 when the answer is yes, 1 when it is no, with the reasons.

use crate::check::{LineRange, Manifest, Status};
use crate::wire::Line;
use semver::Version;
use std::fmt;
use std::str::FromStr;
use std::time::SystemTime;

/// Where a payload waits.
///
/// ```
/// assert_eq!(jobwire::drain::Place::Interrupted.to_string(), "interrupted (iteration progress)");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Place {
    /// Runnable now.
    Ready,
    /// Enqueued to run later.
    Scheduled,
    /// Deferred: waiting for a release that can perform it.
    Deferred,
    /// Snoozed by its handler.
    Snoozed,
    /// Waiting for its next attempt after a failure.
    Retrying,
    /// An iterable job between two runs: its cursor is stored in the payload.
    Interrupted,
    /// Claimed by a worker now.
    Running,
    /// In the dead-letter store, where someone may requeue it.
    DeadLettered,
}

impl Place {
    /// The place of a queue row, from jobwire's SQL queues' `state` and
    /// `wait` columns and whether `run_at` is in the future; `state` is
    /// `dead` for a row of the dead-letter table.
    ///
    /// ```
    /// use jobwire::drain::Place;
    /// assert_eq!(Place::of_row("ready", "new", true), Place::Scheduled);
    /// assert_eq!(Place::of_row("ready", "retrying", true), Place::Retrying);
    /// assert_eq!(Place::of_row("dead", "", false), Place::DeadLettered);
    /// ```
    pub fn of_row(state: &str, wait: &str, later: bool) -> Place {
        match (state, wait) {
            ("dead", _) => Place::DeadLettered,
            ("running", _) => Place::Running,
            (_, "deferred") => Place::Deferred,
            (_, "snoozed") => Place::Snoozed,
            (_, "retrying") => Place::Retrying,
            (_, "interrupted") => Place::Interrupted,
            _ if later => Place::Scheduled,
            _ => Place::Ready,
        }
    }
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Place::Ready => "ready",
            Place::Scheduled => "scheduled",
            Place::Deferred => "deferred",
            Place::Snoozed => "snoozed",
            Place::Retrying => "retrying",
            Place::Interrupted => "interrupted (iteration progress)",
            Place::Running => "running",
            Place::DeadLettered => "dead-lettered",
        })
    }
}

/// Payloads of one job name and version waiting in one place.
///
/// ```
/// use jobwire::drain::{Place, Waiting};
/// let w = Waiting::new("user.welcome", semver::Version::new(2, 1, 0), Place::Ready, 12);
/// assert_eq!(w.line().map(|l| l.to_string()).as_deref(), Some("2.x"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Waiting {
    /// The job's name as written in the payload (an alias stays an alias);
    /// `None` when the payload could not be read.
    pub job: Option<String>,
    /// The version the payload was written at; `None` when unreadable.
    pub version: Option<Version>,
    /// Where they wait.
    pub place: Place,
    /// How many.
    pub count: u64,
    /// When the oldest of them was enqueued.
    pub oldest_enqueued_at: Option<SystemTime>,
}

impl Waiting {
    /// The row as JSON, as `jobwire drain --json` and the console's
    /// `/api/waiting` print it: `job` and `version` (`null` when
    /// unreadable), `place` as the table writes it, `count`, and
    /// `oldest_enqueued_at` in seconds since the Unix epoch.
    ///
    /// ```
    /// use jobwire::drain::{Place, Waiting};
    /// let w = Waiting::new("user.welcome", semver::Version::new(2, 1, 0), Place::Ready, 12);
    /// assert_eq!(w.to_json()["count"], 12);
    /// assert_eq!(w.to_json()["place"], "ready");
    /// ```
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "job": self.job,
            "version": self.version.as_ref().map(ToString::to_string),
            "place": self.place.to_string(),
            "count": self.count,
            "oldest_enqueued_at": self
                .oldest_enqueued_at
                .and_then(|at| at.duration_since(std::time::UNIX_EPOCH).ok())
                .map(|d| d.as_secs_f64()),
        })
    }

    /// `count` payloads of `job` at `version`, waiting in `place`.
    ///
    /// ```
    /// let w = jobwire::drain::Waiting::new("a", semver::Version::new(1, 0, 0), jobwire::drain::Place::Ready, 1);
    /// assert_eq!(w.count, 1);
    /// ```
    pub fn new(job: &str, version: Version, place: Place, count: u64) -> Waiting {
        Waiting {
            job: Some(job.to_owned()),
            version: Some(version),
            place,
            count,
            oldest_enqueued_at: None,
        }
    }

    /// A row as a queue reports it: the name and version as stored (text,
    /// possibly missing or unreadable).
    ///
    /// ```
    /// use jobwire::drain::{Place, Waiting};
    /// let w = Waiting::from_row(Some("a".into()), Some("1.2.0"), Place::Ready, 3, None);
    /// assert_eq!(w.version, Some(semver::Version::new(1, 2, 0)));
    /// ```
    pub fn from_row(
        job: Option<String>,
        version: Option<&str>,
        place: Place,
        count: u64,
        oldest_enqueued_at: Option<SystemTime>,
    ) -> Waiting {
        Waiting {
            job,
            version: version.and_then(|v| Version::parse(v).ok()),
            place,
            count,
            oldest_enqueued_at,
        }
    }

    /// Rows that say the same (job, version, place), as one: their counts
    /// added, the oldest of their ages kept. A queue groups its rows by
    /// finer states than a [`Place`] (a retry and a deferral are both
    /// "ready"), and a report lists each place once. Sorted by job,
    /// version and place.
    ///
    /// ```
    /// use jobwire::drain::{Place, Waiting};
    /// let v = semver::Version::new(1, 0, 0);
    /// let rows = vec![Waiting::new("a", v.clone(), Place::Ready, 2), Waiting::new("a", v, Place::Ready, 3)];
    /// let merged = Waiting::merged(rows);
    /// assert_eq!((merged.len(), merged[0].count), (1, 5));
    /// ```
    pub fn merged(mut rows: Vec<Waiting>) -> Vec<Waiting> {
        rows.sort_by(|a, b| (&a.job, &a.version, a.place).cmp(&(&b.job, &b.version, b.place)));
        let mut out: Vec<Waiting> = Vec::with_capacity(rows.len());
        for row in rows {
            match out.last_mut() {
                Some(last)
                    if last.job == row.job
                        && last.version == row.version
                        && last.place == row.place =>
                {
                    last.count = last.count.saturating_add(row.count);
                    last.oldest_enqueued_at =
                        match (last.oldest_enqueued_at, row.oldest_enqueued_at) {
                            (Some(a), Some(b)) => Some(a.min(b)),
                            (a, b) => a.or(b),
                        };
                }
                _ => out.push(row),
            }
        }
        out
    }

    /// The version line of these payloads.
    ///
    /// ```
    /// use jobwire::drain::{Place, Waiting};
    /// let w = Waiting::new("a", semver::Version::new(0, 3, 1), Place::Ready, 1);
    /// assert_eq!(w.line().map(|l| l.to_string()).as_deref(), Some("0.3.x"));
    /// ```
    pub fn line(&self) -> Option<Line> {
        self.version.as_ref().map(Line::of)
    }
}

/// A candidate removal.
///
/// ```
/// use jobwire::drain::Question;
/// let q: Question = "alias report.generate".parse()?;
/// assert_eq!(q, Question::Alias { alias: "report.generate".into() });
/// # Ok::<(), jobwire::drain::QuestionError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Question {
    /// "Can I delete the upcaster of `job`'s `line` payloads?"
    Upcaster {
        /// The job.
        job: String,
        /// The line the upcaster reads, such as `1.x`.
        line: Line,
    },
    /// "Can I drop the alias `alias`?"
    Alias {
        /// The old name.
        alias: String,
    },
    /// "Can I retire `job`?"
    Retire {
        /// The job.
        job: String,
    },
}

/// A question could not be read.
///
/// ```
/// assert!("upcaster x".parse::<jobwire::drain::Question>().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot read the question `{0}`: ask `upcaster JOB LINE` (LINE like 1.x, 0.3.x or 0.0.7), `alias NAME` or `retire JOB`")]
pub struct QuestionError(pub String);

impl FromStr for Question {
    type Err = QuestionError;

    fn from_str(text: &str) -> Result<Question, QuestionError> {
        let words: Vec<&str> = text.split_whitespace().collect();
        let error = || QuestionError(text.chars().take(120).collect());
        match words.as_slice() {
            ["upcaster", job, line] => Ok(Question::Upcaster {
                job: (*job).to_owned(),
                line: line.parse::<LineRange>().map_err(|_| error())?.0,
            }),
            ["alias", alias] => Ok(Question::Alias {
                alias: (*alias).to_owned(),
            }),
            ["retire", job] => Ok(Question::Retire {
                job: (*job).to_owned(),
            }),
            _ => Err(error()),
        }
    }
}

impl fmt::Display for Question {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Question::Upcaster { job, line } => {
                write!(f, "can the upcaster of `{job}` {line} payloads go?")
            }
            Question::Alias { alias } => write!(f, "can the alias `{alias}` go?"),
            Question::Retire { job } => write!(f, "can `{job}` be retired?"),
        }
    }
}

/// The answer to a [`Question`]: yes, or no with every reason.
///
/// ```
/// use jobwire::drain::{answer, Question};
/// let yes = answer(&"retire user.welcome_fax".parse()?, &[], &[]);
/// assert!(yes.safe && yes.reasons.is_empty());
/// # Ok::<(), jobwire::drain::QuestionError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Answer {
    /// The question.
    pub question: Question,
    /// Whether the removal is safe now.
    pub safe: bool,
    /// Why not: what still waits, and which release still writes it.
    pub reasons: Vec<String>,
}

impl fmt::Display for Answer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.safe {
            return write!(
                f,
                "{} yes: nothing waits for it, and no release in the window writes it",
                self.question
            );
        }
        write!(f, "{} no:", self.question)?;
        for reason in &self.reasons {
            write!(f, "\n  - {reason}")?;
        }
        Ok(())
    }
}

/// Answers `question` from what waits in the queue and the manifests of the
/// releases in the deploy window (oldest first; the last is the release
/// that would make the removal).
///
/// ```
/// use jobwire::drain::{answer, Place, Waiting};
/// let waiting = [Waiting::new("report.generate", semver::Version::new(1, 0, 0), Place::Scheduled, 2)];
/// let no = answer(&"alias report.generate".parse()?, &waiting, &[]);
/// assert!(!no.safe);
/// # Ok::<(), jobwire::drain::QuestionError>(())
/// ```
pub fn answer(question: &Question, waiting: &[Waiting], window: &[Manifest]) -> Answer {
    let mut reasons = Vec::new();
    match question {
        Question::Upcaster { job, line } => {
            // The job's names: its own, and every alias a release gave it.
            let mut names = vec![job.as_str()];
            for manifest in window {
                if let Some(spec) = manifest.jobs.get(job) {
                    names.extend(spec.aliases.iter().map(String::as_str));
                }
            }
            waits(
                &mut reasons,
                waiting,
                |w| w.job.as_deref().is_some_and(|n| names.contains(&n)) && w.line() == Some(*line),
                &format!("`{job}` {line} payloads"),
            );
            for manifest in window {
                let Some(spec) = manifest.jobs.get(job) else {
                    continue;
                };
                let writes = written(spec);
                if writes.iter().any(|(_, version)| Line::of(version) == *line) {
                    reasons.push(format!(
                        "release {} still writes `{job}` {line}",
                        label(manifest)
                    ));
                }
            }
        }
        Question::Alias { alias } => {
            waits(
                &mut reasons,
                waiting,
                |w| w.job.as_deref() == Some(alias.as_str()),
                &format!("payloads named `{alias}`"),
            );
            for manifest in window {
                let writes_it = manifest.jobs.iter().any(|(name, spec)| {
                    (name == alias && spec.status == Status::Active)
                        || written(spec).iter().any(|(n, _)| n == alias)
                });
                if writes_it {
                    reasons.push(format!(
                        "release {} still writes the name `{alias}`",
                        label(manifest)
                    ));
                }
            }
        }
        Question::Retire { job } => {
            waits(
                &mut reasons,
                waiting,
                |w| w.job.as_deref() == Some(job.as_str()),
                &format!("`{job}` payloads (a retired job's payloads are discarded)"),
            );
            for manifest in window {
                if manifest
                    .jobs
                    .get(job)
                    .is_some_and(|spec| spec.status == Status::Active)
                {
                    reasons.push(format!(
                        "release {} still has `{job}` active, so its producers may enqueue it: deprecate it first",
                        label(manifest)
                    ));
                }
            }
        }
    }
    Answer {
        question: question.clone(),
        safe: reasons.is_empty(),
        reasons,
    }
}

/// One reason per place where matching payloads wait.
fn waits(
    reasons: &mut Vec<String>,
    waiting: &[Waiting],
    matches: impl Fn(&Waiting) -> bool,
    what: &str,
) {
    let mut by_place: Vec<(Place, u64, Option<SystemTime>)> = Vec::new();
    for w in waiting.iter().filter(|w| w.count > 0 && matches(w)) {
        match by_place.iter_mut().find(|(p, _, _)| *p == w.place) {
            Some((_, count, oldest)) => {
                *count += w.count;
                *oldest = match (*oldest, w.oldest_enqueued_at) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
            }
            None => by_place.push((w.place, w.count, w.oldest_enqueued_at)),
        }
    }
    by_place.sort_by_key(|(place, _, _)| *place);
    for (place, count, oldest) in by_place {
        let age = oldest
            .and_then(|at| SystemTime::now().duration_since(at).ok())
            .map(|d| format!(", the oldest enqueued {} ago", human(d.as_secs())))
            .unwrap_or_default();
        reasons.push(format!("{count} {place} {what} still wait{age}"));
    }
}

/// What a job's producers write: under "current" and "previous".
fn written(spec: &crate::check::JobManifest) -> Vec<(&str, &Version)> {
    match &spec.writes {
        Some(w) if spec.status == Status::Active => vec![
            (w.current.name.as_str(), &w.current.version),
            (w.previous.name.as_str(), &w.previous.version),
        ],
        _ => Vec::new(),
    }
}

fn label(manifest: &Manifest) -> String {
    manifest
        .release
        .clone()
        .unwrap_or_else(|| "(unlabelled)".to_owned())
}

fn human(secs: u64) -> String {
    match secs {
        0..=119 => format!("{secs} s"),
        120..=7_199 => format!("{} min", secs / 60),
        7_200..=172_799 => format!("{} h", secs / 3_600),
        _ => format!("{} days", secs / 86_400),
    }
}

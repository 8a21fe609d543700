//! The rules: a release's manifest against the manifests of the releases
//! whose payloads may still be in flight, in the spirit of `buf breaking`.

use crate::check::manifest::{JobManifest, LineRange, Manifest, Status};
use crate::shape::{Mismatch, Problem};
use crate::wire::Line;
use std::collections::BTreeSet;
use std::fmt;

/// A deploy-safety rule. Each has a stable id for CI logs and suppressions.
///
/// ```
/// assert_eq!(jobwire::check::Rule::VersionNoLongerRead.id(), "VERSION_NO_LONGER_READ");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Rule {
    /// A job an earlier release wrote is neither performed nor retired now.
    WrittenJobDropped,
    /// Under the "previous" policy, this release writes a name or version the
    /// previous release cannot perform.
    PreviousPolicyUnreadable,
    /// A version an earlier release wrote is no longer read.
    VersionNoLongerRead,
    /// A retired name is used again.
    RetiredNameReused,
    /// A deprecated job is still written.
    DeprecatedStillWritten,
    /// A job's major version was bumped with no upcaster from the old line.
    MajorWithoutUpcaster,
    /// A new job, which the previous release defers until it is replaced
    /// (not breaking: nothing fails, the job waits).
    NewJobDeferred,
    /// Under the "previous" policy a job is written through a downcast that
    /// is not lossless, so fields only the new version has reach no handler
    /// until the flip to "current" (not breaking: nothing fails).
    LossyDowncast,
    /// An iterable job's cursor changed shape, but its version stayed on the
    /// same line: a cursor written by one release would be misread by the
    /// other.
    CursorChangedWithoutVersion,
    /// Arguments one release writes do not read in the other release's type
    /// for that line: a required field added, removed or retyped, or an enum
    /// variant renamed, without a major version.
    ArgsUnreadable,
    /// A shape could not be compared: a manifest without shapes (written by
    /// jobwire 0.2, or without the `shapes` feature), or a type the trace
    /// cannot see (not breaking: the check says what it did not check).
    ShapeNotCompared,
}

impl Rule {
    /// Every rule, in order.
    ///
    /// ```
    /// assert!(jobwire::check::Rule::ALL.iter().filter(|r| r.is_breaking()).count() == 8);
    /// ```
    pub const ALL: [Rule; 11] = [
        Rule::WrittenJobDropped,
        Rule::PreviousPolicyUnreadable,
        Rule::VersionNoLongerRead,
        Rule::RetiredNameReused,
        Rule::DeprecatedStillWritten,
        Rule::MajorWithoutUpcaster,
        Rule::NewJobDeferred,
        Rule::LossyDowncast,
        Rule::CursorChangedWithoutVersion,
        Rule::ArgsUnreadable,
        Rule::ShapeNotCompared,
    ];

    /// The rule's stable id.
    ///
    /// ```
    /// assert_eq!(jobwire::check::Rule::NewJobDeferred.id(), "NEW_JOB_DEFERRED");
    /// ```
    pub const fn id(self) -> &'static str {
        match self {
            Rule::WrittenJobDropped => "WRITTEN_JOB_DROPPED",
            Rule::PreviousPolicyUnreadable => "PREVIOUS_POLICY_UNREADABLE",
            Rule::VersionNoLongerRead => "VERSION_NO_LONGER_READ",
            Rule::RetiredNameReused => "RETIRED_NAME_REUSED",
            Rule::DeprecatedStillWritten => "DEPRECATED_STILL_WRITTEN",
            Rule::MajorWithoutUpcaster => "MAJOR_WITHOUT_UPCASTER",
            Rule::NewJobDeferred => "NEW_JOB_DEFERRED",
            Rule::LossyDowncast => "LOSSY_DOWNCAST",
            Rule::CursorChangedWithoutVersion => "CURSOR_CHANGED_WITHOUT_VERSION",
            Rule::ArgsUnreadable => "ARGS_UNREADABLE",
            Rule::ShapeNotCompared => "SHAPE_NOT_COMPARED",
        }
    }

    /// Whether a finding of this rule means a deploy would fail or lose jobs.
    ///
    /// ```
    /// assert!(!jobwire::check::Rule::NewJobDeferred.is_breaking());
    /// ```
    pub const fn is_breaking(self) -> bool {
        !matches!(
            self,
            Rule::NewJobDeferred | Rule::LossyDowncast | Rule::ShapeNotCompared
        )
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

/// One finding of the check.
///
/// ```
/// # use jobwire::check::*;
/// let report = jobwire::check::check(&Manifest::from_json(r#"{"format": 1, "jobs": {"a": {"reads": ["1.x"], "status": "active", "version": "1.0.0",
///     "writes": {"current": {"name": "a", "version": "1.0.0"}, "previous": {"name": "a", "version": "1.0.0"}}}}}"#)?,
///     &Manifest::from_json(r#"{"format": 1, "jobs": {}}"#)?);
/// let finding = &report.findings[0];
/// assert_eq!((finding.rule, finding.job.as_str()), (Rule::WrittenJobDropped, "a"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
#[non_exhaustive]
pub struct Finding {
    /// The rule.
    pub rule: Rule,
    /// The job (or retired name) concerned.
    pub job: String,
    /// The earlier release it was found against, as labelled in its manifest.
    pub against: Option<String>,
    /// What is wrong.
    pub message: String,
    /// How to fix it, in one line.
    pub fix: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = if self.rule.is_breaking() {
            "breaking"
        } else {
            "note"
        };
        write!(f, "{level} {}: job `{}`", self.rule, self.job)?;
        if let Some(release) = &self.against {
            write!(f, " (against {release})")?;
        }
        write!(f, ": {}\n    fix: {}", self.message, self.fix)
    }
}

/// The findings of a check, breaking ones first.
///
/// ```
/// # let router = jobwire::Router::builder().retired(jobwire::Tombstone::new("x")).build()?;
/// let report = jobwire::check::check(&router.manifest(), &router.manifest());
/// assert!(report.findings.is_empty());
/// assert!(!report.is_breaking());
/// assert_eq!(report.to_string(), "no findings: the deploy is safe\n");
/// # Ok::<(), jobwire::RegistryError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Every finding, sorted by rule, job and release.
    pub findings: Vec<Finding>,
}

impl Report {
    /// Whether any finding is breaking.
    ///
    /// ```
    /// assert!(!jobwire::check::Report::default().is_breaking());
    /// ```
    pub fn is_breaking(&self) -> bool {
        self.findings.iter().any(|f| f.rule.is_breaking())
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.findings.is_empty() {
            return writeln!(f, "no findings: the deploy is safe");
        }
        for finding in &self.findings {
            writeln!(f, "{finding}")?;
        }
        let breaking = self
            .findings
            .iter()
            .filter(|f| f.rule.is_breaking())
            .count();
        writeln!(f, "{} finding(s), {breaking} breaking", self.findings.len())
    }
}

/// Checks `current` against the `previous` release.
///
/// ```
/// # let router = jobwire::Router::builder().retired(jobwire::Tombstone::new("x")).build()?;
/// let report = jobwire::check::check(&router.manifest(), &router.manifest());
/// assert!(!report.is_breaking());
/// # Ok::<(), jobwire::RegistryError>(())
/// ```
pub fn check(previous: &Manifest, current: &Manifest) -> Report {
    check_window(std::slice::from_ref(previous), current)
}

/// Checks `current` against every earlier release whose payloads may still be
/// in flight (retries and scheduled jobs outlive one deploy), oldest first;
/// the last is the previous release. The "previous" write policy is checked
/// against the previous release only; every other rule against each.
///
/// ```
/// # let router = jobwire::Router::builder().retired(jobwire::Tombstone::new("x")).build()?;
/// let m = router.manifest();
/// assert!(jobwire::check::check_window(&[m.clone(), m.clone()], &m).findings.is_empty());
/// # Ok::<(), jobwire::RegistryError>(())
/// ```
pub fn check_window(earlier: &[Manifest], current: &Manifest) -> Report {
    let mut findings = BTreeSet::new();
    for (i, old) in earlier.iter().enumerate() {
        let mut checker = Checker {
            old,
            new: current,
            findings: &mut findings,
        };
        let previous = i + 1 == earlier.len();
        checker.written_jobs(previous);
        checker.retired_names();
        checker.cursors(previous);
        checker.args(Side::Old);
        if previous {
            checker.args(Side::New);
            checker.previous_policy();
        }
    }
    deprecated_still_written(current, &mut findings);
    if earlier.last().is_some() {
        lossy_downcasts(current, &mut findings);
    }
    let mut findings: Vec<Finding> = findings.into_iter().collect();
    findings.sort_by_key(|f| !f.rule.is_breaking());
    Report { findings }
}

/// What a name leads to in a manifest.
enum Target<'m> {
    Job(&'m str, &'m JobManifest),
    Retired,
    Unknown,
}

fn resolve<'m>(manifest: &'m Manifest, name: &str) -> Target<'m> {
    if let Some((job_name, job)) = manifest.jobs.get_key_value(name) {
        return Target::Job(job_name, job);
    }
    if let Some((job_name, job)) = manifest
        .jobs
        .iter()
        .find(|(_, job)| job.aliases.iter().any(|a| a == name))
    {
        return Target::Job(job_name, job);
    }
    let retired = manifest
        .tombstones
        .iter()
        .any(|(retired, tombstone)| retired == name || tombstone.aliases.iter().any(|a| a == name));
    if retired {
        Target::Retired
    } else {
        Target::Unknown
    }
}

/// One of the two releases a check compares.
#[derive(Debug, Clone, Copy)]
enum Side {
    Old,
    New,
}

impl Side {
    fn other(self) -> Side {
        match self {
            Side::Old => Side::New,
            Side::New => Side::Old,
        }
    }
}

/// The one-line fix for arguments that do not read, from what is wrong.
fn args_fix(mismatches: &[Mismatch], next_major: u64) -> String {
    let major = format!("or make the change a major version ({next_major}.0.0) with an upcaster");
    let missing: Vec<&str> = mismatches
        .iter()
        .filter(|m| matches!(m.problem, Problem::MissingField { .. } | Problem::MaybeNull))
        .map(|m| m.path.as_str())
        .collect();
    let changed: Vec<&str> = mismatches
        .iter()
        .filter(|m| matches!(m.problem, Problem::Retyped { .. } | Problem::UnknownVariant))
        .map(|m| m.path.as_str())
        .collect();
    match (missing.is_empty(), changed.is_empty()) {
        (false, true) => format!(
            "give `{}` a default where it is read (`Added<T>`, `Option`, `#[serde(default)]`) and keep writing it while older releases read it, {major}",
            missing.join("`, `")
        ),
        (true, false) => format!(
            "keep the type and variant names of `{}` on this line (add a new field or variant instead), {major}",
            changed.join("`, `")
        ),
        _ => format!("keep every field's type and give new fields a default, {major}"),
    }
}

/// The mismatches of each direction (writer, reader, found), as two
/// sentences: what breaks, and what could not be compared.
fn split(directions: Vec<(&str, &str, Vec<Mismatch>)>) -> (String, String) {
    let (mut broken, mut unknown) = (Vec::new(), Vec::new());
    for (writer, reader, found) in directions {
        let (unseen, wrong): (Vec<_>, Vec<_>) =
            found.into_iter().partition(|m| m.problem.is_unknown());
        if !wrong.is_empty() {
            let list: Vec<String> = wrong.iter().map(ToString::to_string).collect();
            broken.push(format!(
                "written by {writer} and read by {reader}, {}",
                list.join("; ")
            ));
        }
        unknown.extend(unseen.iter().map(ToString::to_string));
    }
    unknown.dedup();
    (broken.join("; and "), unknown.join("; "))
}

struct Checker<'a> {
    old: &'a Manifest,
    new: &'a Manifest,
    findings: &'a mut BTreeSet<Finding>,
}

impl<'a> Checker<'a> {
    fn find(&mut self, rule: Rule, job: &str, message: String, fix: String) {
        self.findings.insert(Finding {
            rule,
            job: job.to_owned(),
            against: self.old.release.clone(),
            message,
            fix,
        });
    }

    /// The label of a side, for messages.
    fn label(&self, side: Side) -> &'a str {
        match side {
            Side::Old => self.old.release.as_deref().unwrap_or("the earlier release"),
            Side::New => self.new.release.as_deref().unwrap_or("this release"),
        }
    }

    fn manifest(&self, side: Side) -> &'a Manifest {
        match side {
            Side::Old => self.old,
            Side::New => self.new,
        }
    }

    /// Rule CURSOR_CHANGED_WITHOUT_VERSION: an iterable job on the same line
    /// in both releases must keep a cursor each release reads, or the other
    /// release misreads the cursors it finds in flight. The earlier
    /// release's cursors are resumed here; against the previous release,
    /// this release's cursors are also resumed there (a mixed fleet). The
    /// shapes are compared; a manifest without them falls back to the
    /// cursor's type name, and says so.
    fn cursors(&mut self, previous: bool) {
        for (name, old_job) in &self.old.jobs {
            let Target::Job(new_name, new_job) = resolve(self.new, name) else {
                continue;
            };
            let (Some(old_cursor), Some(new_cursor)) = (&old_job.cursor, &new_job.cursor) else {
                continue;
            };
            if Line::of(&old_job.version) != Line::of(&new_job.version) {
                continue;
            }
            let (old_label, new_label) = (self.label(Side::Old), self.label(Side::New));
            let fix = format!(
                "make the change a major version ({}.0.0) and read the old cursor in `Iterate::upcast_cursor`, or make the new field optional (`Option` or `#[serde(default)]`) and keep the old ones",
                new_job.version.major + 1
            );
            let (Some(old_shape), Some(new_shape)) = (&old_job.cursor_shape, &new_job.cursor_shape)
            else {
                let message = format!(
                    "the cursor's shape is missing from {}'s manifest (written by jobwire 0.2?), so only its type name was compared",
                    if old_job.cursor_shape.is_none() { old_label } else { new_label }
                );
                let names_differ = old_cursor != new_cursor;
                self.find(
                    Rule::ShapeNotCompared,
                    new_name,
                    message,
                    "record the release's manifest again with this jobwire".to_owned(),
                );
                if names_differ {
                    let message = format!(
                        "the cursor of `{new_name}` was `{old_cursor}` at {} and is `{new_cursor}` at {}, on the same line: a cursor one release writes would be misread by the other",
                        old_job.version, new_job.version
                    );
                    self.find(Rule::CursorChangedWithoutVersion, new_name, message, fix);
                }
                continue;
            };
            let mut directions = vec![(old_label, new_label, old_shape.read_by(new_shape))];
            if previous {
                directions.push((new_label, old_label, new_shape.read_by(old_shape)));
            }
            let (broken, unknown) = split(directions);
            if !broken.is_empty() {
                let message = format!(
                    "the cursor of `{new_name}` is `{old_shape}` at {} and `{new_shape}` at {}, on the same line: {broken}",
                    old_job.version, new_job.version
                );
                self.find(Rule::CursorChangedWithoutVersion, new_name, message, fix);
            }
            if !unknown.is_empty() {
                self.find(
                    Rule::ShapeNotCompared,
                    new_name,
                    format!("part of the cursor was not compared: {unknown}"),
                    "nothing to do; check that part by hand, or give it a type the trace can see"
                        .to_owned(),
                );
            }
        }
    }

    /// Rule ARGS_UNREADABLE: what `writer` writes (under either policy)
    /// must read in the other side's type for that line. The earlier
    /// release's payloads are read here; against the previous release, this
    /// release's payloads are also read there.
    fn args(&mut self, writer: Side) {
        let reader = writer.other();
        let (writer_label, reader_label) = (self.label(writer), self.label(reader));
        let (writes_from, reads_in) = (self.manifest(writer), self.manifest(reader));
        let mut found = Vec::new();
        for (writer_name, writer_job) in &writes_from.jobs {
            let Some(writes) = &writer_job.writes else {
                continue;
            };
            let mut written = vec![&writes.current];
            if writes.previous != writes.current {
                written.push(&writes.previous);
            }
            for written in written {
                let Target::Job(reader_name, reader_job) = resolve(reads_in, &written.name) else {
                    continue;
                };
                if !reader_job.reads_version(&written.version) {
                    continue;
                }
                let job = match writer {
                    Side::New => writer_name.to_owned(),
                    Side::Old => reader_name.to_owned(),
                };
                let line = LineRange(Line::of(&written.version));
                let (Some(written_shape), Some(read_shape)) =
                    (writer_job.shapes.get(&line), reader_job.shapes.get(&line))
                else {
                    let old_job = match writer {
                        Side::Old => writer_job,
                        Side::New => reader_job,
                    };
                    let missing = if old_job.shapes.contains_key(&line) {
                        self.label(Side::New)
                    } else {
                        self.label(Side::Old)
                    };
                    found.push((
                        Rule::ShapeNotCompared,
                        job.clone(),
                        format!("the arguments' shape on {line} is missing from {missing}'s manifest (written by jobwire 0.2?), so the arguments were not compared"),
                        "record the release's manifest again with this jobwire".to_owned(),
                    ));
                    continue;
                };
                let mismatches = written_shape.read_by(read_shape);
                let fix = args_fix(
                    &mismatches,
                    writer_job.version.major.max(reader_job.version.major) + 1,
                );
                let (broken, unknown) = split(vec![(writer_label, reader_label, mismatches)]);
                if !broken.is_empty() {
                    found.push((
                        Rule::ArgsUnreadable,
                        job.clone(),
                        format!(
                            "{writer_label} writes {} {} as `{written_shape}`, and {reader_label} reads {line} as `{read_shape}`: {broken}",
                            written.name, written.version
                        ),
                        fix.clone(),
                    ));
                }
                if !unknown.is_empty() {
                    found.push((
                        Rule::ShapeNotCompared,
                        job.clone(),
                        format!("part of the arguments on {line} was not compared: {unknown}"),
                        "nothing to do; check that part by hand, or give it a type the trace can see".to_owned(),
                    ));
                }
            }
        }
        for (rule, job, message, fix) in found {
            self.find(rule, &job, message, fix);
        }
    }

    /// Rules WRITTEN_JOB_DROPPED, VERSION_NO_LONGER_READ and
    /// MAJOR_WITHOUT_UPCASTER: everything the old release wrote, under either
    /// policy, must be performed or retired now. A major bump is a change
    /// between two neighbouring releases, so that rule applies to the
    /// previous release only.
    fn written_jobs(&mut self, previous: bool) {
        for (old_name, old_job) in &self.old.jobs {
            let Some(writes) = &old_job.writes else {
                // A deprecated job is not written any more, but its payloads
                // may still be draining.
                if let Target::Unknown = resolve(self.new, old_name) {
                    self.find(
                        Rule::WrittenJobDropped,
                        old_name,
                        "the earlier release still drains this deprecated job, and this release neither performs nor retires it".to_owned(),
                        format!("replace the job with `jobwire::retire!(\"{old_name}\")`"),
                    );
                }
                continue;
            };
            for written in [&writes.current, &writes.previous] {
                match resolve(self.new, &written.name) {
                    Target::Retired => {}
                    Target::Unknown => {
                        let message = format!(
                            "the earlier release writes `{}` {}, which this release neither performs nor retires",
                            written.name, written.version
                        );
                        let fix = match self.renamed_to(old_name, &written.name) {
                            Some(heir) => format!(
                                "`{heir}` took over from `{}` (a rename): put `{}` back in its `ALIASES` until no such payload is in flight",
                                written.name, written.name
                            ),
                            None => match self.renamed_without_alias(old_job, &written.version) {
                                Some(heir) => format!(
                                    "`{heir}` is new here and reads the same arguments: if it is `{0}` renamed, put `{0}` first in its `ALIASES` until no such payload is in flight; if `{0}` is gone, keep it (as `Job<Deprecated>`) until the queue drains, then `jobwire::retire!(\"{0}\")`",
                                    written.name
                                ),
                                None => format!(
                                    "keep the job (as `Job<Deprecated>`) until the queue drains, then `jobwire::retire!(\"{}\")`",
                                    written.name
                                ),
                            },
                        };
                        self.find(Rule::WrittenJobDropped, old_name, message, fix)
                    }
                    Target::Job(new_name, new_job) => {
                        if new_job.reads_version(&written.version) {
                            continue;
                        }
                        let old_line = Line::of(&old_job.version);
                        if previous
                            && Line::of(&new_job.version) > old_line
                            && !new_job.reads_version(&old_job.version)
                        {
                            self.find(
                                Rule::MajorWithoutUpcaster,
                                new_name,
                                format!(
                                    "the version went from {} to {} with no upcaster from {old_line}",
                                    old_job.version, new_job.version
                                ),
                                format!(
                                    "keep the {old_line} type and point `Previous` at it, with an `Upcast` impl"
                                ),
                            );
                        } else {
                            self.find(
                                Rule::VersionNoLongerRead,
                                new_name,
                                format!(
                                    "the earlier release writes {} {}, and this release reads only {}",
                                    written.name,
                                    written.version,
                                    lines(new_job)
                                ),
                                format!(
                                    "keep an upcaster for {} until no such payload is in flight",
                                    Line::of(&written.version)
                                ),
                            );
                        }
                    }
                }
            }
        }
    }

    /// The job of this release that took over `dropped`, a name the old
    /// release wrote for its job `old_name`: when `dropped` was an alias of
    /// that job and the job is still here, the rename lost its alias too
    /// early.
    fn renamed_to(&self, old_name: &str, dropped: &str) -> Option<&str> {
        if dropped == old_name {
            return None;
        }
        self.new
            .jobs
            .get_key_value(old_name)
            .map(|(name, _)| name.as_str())
    }

    /// A job new in this release (no earlier name or alias of it was known)
    /// whose arguments on `version`'s line have the same shape as
    /// `old_job`'s, when exactly one has: most likely `old_job` renamed
    /// without an alias. Shapes that say little (unknown, or an empty
    /// object) match nothing.
    fn renamed_without_alias(
        &self,
        old_job: &JobManifest,
        version: &semver::Version,
    ) -> Option<&str> {
        let line = LineRange(Line::of(version));
        let shape = old_job.shapes.get(&line)?;
        let telling =
            shape.is_known() && !matches!(shape, crate::shape::Shape::Struct(f) if f.is_empty());
        if !telling {
            return None;
        }
        let mut heirs = self.new.jobs.iter().filter(|(name, job)| {
            std::iter::once(*name)
                .chain(&job.aliases)
                .all(|n| matches!(resolve(self.old, n), Target::Unknown))
                && job.shapes.get(&line) == Some(shape)
        });
        match (heirs.next(), heirs.next()) {
            (Some((name, _)), None) => Some(name.as_str()),
            _ => None,
        }
    }

    /// Rule RETIRED_NAME_REUSED: a name the old release retired stays retired.
    fn retired_names(&mut self) {
        for (retired, tombstone) in &self.old.tombstones {
            for name in std::iter::once(retired).chain(&tombstone.aliases) {
                if let Target::Job(new_name, _) = resolve(self.new, name) {
                    self.find(
                        Rule::RetiredNameReused,
                        new_name,
                        format!("`{name}` was retired by an earlier release, and payloads under it are discarded there"),
                        format!("pick a new name for `{new_name}`, and keep `jobwire::retire!(\"{retired}\")`"),
                    );
                }
            }
        }
    }

    /// Rules PREVIOUS_POLICY_UNREADABLE and NEW_JOB_DEFERRED: what this
    /// release writes under "previous" must be performed by the previous one.
    fn previous_policy(&mut self) {
        for (new_name, new_job) in &self.new.jobs {
            let Some(writes) = &new_job.writes else {
                continue;
            };
            let written = &writes.previous;
            match resolve(self.old, &written.name) {
                Target::Job(_, old_job) if old_job.reads_version(&written.version) => {}
                Target::Job(old_name, old_job) => self.find(
                    Rule::PreviousPolicyUnreadable,
                    new_name,
                    format!(
                        "under \"previous\" this release writes {} {}, and the previous release's `{old_name}` reads only {}",
                        written.name,
                        written.version,
                        lines(old_job)
                    ),
                    format!(
                        "declare `type Previous = BreakingChange<..>` with a `Downcast` to {}",
                        Line::of(&old_job.version)
                    ),
                ),
                Target::Retired => self.find(
                    Rule::PreviousPolicyUnreadable,
                    new_name,
                    format!(
                        "under \"previous\" this release writes `{}`, which the previous release retired and discards",
                        written.name
                    ),
                    "give the job a name the previous release never retired".to_owned(),
                ),
                Target::Unknown => {
                    let known_before = std::iter::once(new_name)
                        .chain(&new_job.aliases)
                        .any(|name| !matches!(resolve(self.old, name), Target::Unknown));
                    if known_before {
                        self.find(
                            Rule::PreviousPolicyUnreadable,
                            new_name,
                            format!(
                                "under \"previous\" this release writes `{}`, a name the previous release does not know",
                                written.name
                            ),
                            "list the previous name first in `ALIASES`".to_owned(),
                        );
                    } else {
                        self.find(
                            Rule::NewJobDeferred,
                            new_name,
                            "a new job: workers of the previous release defer it until they are replaced".to_owned(),
                            "nothing to do, unless it must run before the deploy completes".to_owned(),
                        );
                    }
                }
            }
        }
    }
}

/// Rule DEPRECATED_STILL_WRITTEN, on the current manifest alone.
fn deprecated_still_written(current: &Manifest, findings: &mut BTreeSet<Finding>) {
    for (name, job) in &current.jobs {
        if job.status == Status::Deprecated && job.writes.is_some() {
            findings.insert(Finding {
                rule: Rule::DeprecatedStillWritten,
                job: name.clone(),
                against: None,
                message: "the job is deprecated, yet the manifest says it is written".to_owned(),
                fix: "remove every producer of the job; jobwire's `Producer` cannot seal a deprecated job".to_owned(),
            });
        }
    }
}

/// Rule LOSSY_DOWNCAST, on the current manifest alone: what producers under
/// "previous" write through a downcast that drops data.
fn lossy_downcasts(current: &Manifest, findings: &mut BTreeSet<Finding>) {
    for (name, job) in &current.jobs {
        let Some(writes) = &job.writes else { continue };
        if writes.previous.lossless == Some(false) {
            findings.insert(Finding {
                rule: Rule::LossyDowncast,
                job: name.clone(),
                against: None,
                message: format!(
                    "under \"previous\" every job is written at {} through a downcast that is not lossless: fields only {} has reach no handler, this release's included, until the flip to \"current\"",
                    writes.previous.version, job.version
                ),
                fix: "flip to \"current\" as soon as the deploy completes, or make the downcast lossless and declare `LOSSLESS = true`".to_owned(),
            });
        }
    }
}

fn lines(job: &JobManifest) -> String {
    job.reads
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

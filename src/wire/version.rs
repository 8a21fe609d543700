//! Compatibility lines: which semver versions can read each other.
//!
//! jobwire follows Cargo's reading of semver: two versions are compatible when
//! their leftmost non-zero component is equal. `1.2.0` and `1.9.3` share the
//! line `1.x`; `0.3.1` and `0.3.7` share `0.3.x`; `0.0.4` is a line of its own.

use semver::Version;
use std::cmp::Ordering;
use std::fmt;

/// The compatibility line of a version: payloads on one line are read by the
/// same Rust type, payloads on different lines need an upcaster.
///
/// Lines are ordered: `0.0.x` < `0.x` < `1.x` < `2.x` ...
///
/// ```
/// use jobwire::wire::Line;
/// use semver::Version;
///
/// let a = Line::of(&Version::new(1, 2, 0));
/// let b = Line::of(&Version::new(1, 9, 3));
/// assert_eq!(a, b);
/// assert!(Line::of(&Version::new(0, 3, 1)) < a);
/// assert_eq!(a.to_string(), "1.x");
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Line {
    /// `0.0.P`: every patch release is its own line.
    Patch(u64),
    /// `0.M.x` with `M > 0`.
    Minor(u64),
    /// `M.x.y` with `M > 0`.
    Major(u64),
}

impl Line {
    /// The line a version belongs to.
    ///
    /// ```
    /// # use jobwire::wire::Line;
    /// assert_eq!(Line::of(&semver::Version::new(0, 0, 7)), Line::Patch(7));
    /// ```
    pub const fn of(version: &Version) -> Line {
        if version.major > 0 {
            Line::Major(version.major)
        } else if version.minor > 0 {
            Line::Minor(version.minor)
        } else {
            Line::Patch(version.patch)
        }
    }

    /// Whether `newer` directly follows `self`, with no line left out between
    /// them. Crossing from `0.x` to `1.x` is never a gap: `1.0.0` is how a
    /// job leaves its initial development.
    ///
    /// ```
    /// # use jobwire::wire::Line;
    /// assert!(Line::Major(1).is_followed_by(Line::Major(2)));
    /// assert!(!Line::Major(1).is_followed_by(Line::Major(3)));
    /// assert!(Line::Minor(4).is_followed_by(Line::Major(1)));
    /// ```
    pub fn is_followed_by(self, newer: Line) -> bool {
        match (self, newer) {
            (Line::Major(a), Line::Major(b)) => b == a.saturating_add(1),
            (Line::Minor(a), Line::Minor(b)) => b == a.saturating_add(1),
            (Line::Patch(a), Line::Patch(b)) => b == a.saturating_add(1),
            (old, new) => old < new,
        }
    }
}

impl fmt::Display for Line {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Line::Major(m) => write!(f, "{m}.x"),
            Line::Minor(m) => write!(f, "0.{m}.x"),
            Line::Patch(p) => write!(f, "0.0.{p}"),
        }
    }
}

/// Parses a version as `semver` does, with a fast path for the plain
/// `MAJOR.MINOR.PATCH` that almost every payload carries.
pub(crate) fn parse(text: &str) -> Result<Version, semver::Error> {
    let bytes = text.as_bytes();
    let mut parts = [0u64; 3];
    let mut at = 0;
    for (index, part) in parts.iter_mut().enumerate() {
        let start = at;
        let mut number: u64 = 0;
        while let Some(&digit @ b'0'..=b'9') = bytes.get(at) {
            match number
                .checked_mul(10)
                .and_then(|n| n.checked_add(u64::from(digit - b'0')))
            {
                Some(n) => number = n,
                None => return Version::parse(text),
            }
            at += 1;
        }
        let leading_zero = bytes.get(start) == Some(&b'0') && at - start > 1;
        let separator = if index < 2 { Some(&b'.') } else { None };
        if at == start || leading_zero || bytes.get(at) != separator {
            return Version::parse(text);
        }
        *part = number;
        at += 1;
    }
    Ok(Version::new(parts[0], parts[1], parts[2]))
}

/// How a payload's version relates to the version of the handler reading it.
///
/// ```
/// use jobwire::wire::Relation;
/// use semver::Version;
///
/// let handler = Version::new(2, 1, 0);
/// assert_eq!(Relation::between(&Version::new(2, 0, 3), &handler), Relation::OlderCompatible);
/// assert_eq!(Relation::between(&Version::new(1, 4, 0), &handler), Relation::OlderLine);
/// assert_eq!(Relation::between(&Version::new(3, 0, 0), &handler), Relation::NewerLine);
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Relation {
    /// The payload was written by this very version.
    Same,
    /// Same line, older minor or patch: read into the current type, and
    /// parameters added since take their defaults.
    OlderCompatible,
    /// Same line, newer minor or patch: a forward-compatible read that ignores
    /// fields this release does not know.
    NewerCompatible,
    /// An older line: the payload goes through the upcast chain.
    OlderLine,
    /// A newer line: only a newer release can perform it.
    NewerLine,
}

impl Relation {
    /// Classifies a `wire` version against the `handler` version.
    ///
    /// ```
    /// # use jobwire::wire::Relation;
    /// # use semver::Version;
    /// let v = Version::new(1, 0, 0);
    /// assert_eq!(Relation::between(&v, &v), Relation::Same);
    /// ```
    pub fn between(wire: &Version, handler: &Version) -> Relation {
        let (wire_line, handler_line) = (Line::of(wire), Line::of(handler));
        match wire_line.cmp(&handler_line) {
            Ordering::Less => Relation::OlderLine,
            Ordering::Greater => Relation::NewerLine,
            Ordering::Equal => match wire.cmp_precedence(handler) {
                Ordering::Less => Relation::OlderCompatible,
                Ordering::Greater => Relation::NewerCompatible,
                Ordering::Equal => Relation::Same,
            },
        }
    }

    /// A short, stable label for logs and tables (`"same"`, `"older-minor"`, ...).
    ///
    /// ```
    /// assert_eq!(jobwire::wire::Relation::OlderLine.as_str(), "older-major");
    /// ```
    pub const fn as_str(self) -> &'static str {
        match self {
            Relation::Same => "same",
            Relation::OlderCompatible => "older-minor",
            Relation::NewerCompatible => "newer-minor",
            Relation::OlderLine => "older-major",
            Relation::NewerLine => "newer-major",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fast_path_agrees_with_semver() {
        for text in [
            "1.2.3",
            "0.0.0",
            "10.20.30",
            "01.2.3",
            "1.02.3",
            "1.2",
            "1.2.3.4",
            "1.2.3-rc.1",
            "1.2.3+build",
            "",
            "..",
            "1..3",
            "18446744073709551615.0.0",
            "18446744073709551616.0.0",
            "v1.2.3",
            " 1.2.3",
            "1.2.3 ",
            "-1.2.3",
            "+1.2.3",
        ] {
            let fast = parse(text).map_err(|e| e.to_string());
            let slow = Version::parse(text).map_err(|e| e.to_string());
            assert_eq!(fast, slow, "{text:?}");
        }
    }
}

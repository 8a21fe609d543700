//! Why a payload cannot be performed as it stands.

use semver::Version;

/// The longest message, in bytes, that a rejection keeps from anything that
/// quotes the payload (serde's messages, upcasters' messages): a 1 MB string
/// of the wrong type must not become a 1 MB log line on every attempt.
pub const MAX_MESSAGE_BYTES: usize = 256;

/// The longest name or version, in characters, that a rejection quotes.
pub(crate) const MAX_QUOTE_CHARS: usize = 64;

/// Why a payload was rejected: it can never be performed as it stands, by this
/// release or a newer one. The queue should dead-letter it.
///
/// Every variant names what it can of the job and version, and where in the
/// payload the problem sits: lines and columns count from 1, columns in bytes.
/// Every message that quotes the payload is bounded: names and versions to 64
/// characters, other messages to [`MAX_MESSAGE_BYTES`].
///
/// ```
/// use jobwire::{Delivery, Router, Tombstone};
/// let router = Router::builder().retired(Tombstone::new("x")).build()?;
/// let outcome = router.dispatch_blocking(br#"{"job": "a.b", "version": 1}"#, &mut Delivery::new());
/// let error = outcome.rejection().unwrap();
/// assert!(error.to_string().contains("version"));
/// # Ok::<(), jobwire::RegistryError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RejectError {
    /// The payload is larger than [`Limits::max_payload_bytes`](crate::wire::Limits::max_payload_bytes).
    #[error("payload is {size} bytes, over the limit of {limit}: raise `Limits::with_max_payload_bytes` or keep large data out of the job's arguments")]
    TooLarge {
        /// The payload's size in bytes.
        size: usize,
        /// The configured limit.
        limit: usize,
    },
    /// The payload is not UTF-8, so it is not JSON.
    #[error(
        "payload is not UTF-8 (invalid byte at offset {offset}): producers must write UTF-8 JSON"
    )]
    NotUtf8 {
        /// Byte offset of the first invalid byte.
        offset: usize,
    },
    /// The payload is not well-formed JSON, or not an envelope object. A
    /// syntax error is reported as `Malformed` wherever it stands, inside
    /// `args` included, and at the same position whatever the key order.
    #[error("malformed envelope: {message} at line {line} column {column}")]
    Malformed {
        /// What is wrong, bounded.
        message: String,
        /// Line of the problem.
        line: usize,
        /// Column of the problem.
        column: usize,
    },
    /// A key appears twice, at the top level or in `meta`; parsers disagree on
    /// which copy wins, so neither is trusted.
    #[error("envelope key `{key}` appears twice (line {line} column {column}): a producer must write each key once")]
    DuplicateKey {
        /// The repeated key (`meta.` keys are prefixed).
        key: &'static str,
        /// Line of the second occurrence.
        line: usize,
        /// Column of the second occurrence.
        column: usize,
    },
    /// A required envelope field is missing.
    #[error("envelope has no `{field}` field: every payload needs `job`, `version` and `args`")]
    MissingField {
        /// The missing field.
        field: &'static str,
    },
    /// The job name is empty, too long, or has characters no release could
    /// register.
    #[error("job name {name:?} is not valid: {reason}")]
    InvalidName {
        /// The name, cut to 64 characters.
        name: String,
        /// Why it is not valid.
        reason: &'static str,
    },
    /// The version is not a semver version. Checked before the name is looked
    /// up, so the rule is the same for every name, retired ones included.
    #[error("job `{job}`: version {version:?} is not semver ({message}): write versions as \"MAJOR.MINOR.PATCH\"")]
    InvalidVersion {
        /// The job name, cut to 64 characters.
        job: String,
        /// The version as written, cut to 64 characters.
        version: String,
        /// Why it did not parse.
        message: String,
    },
    /// The arguments are JSON, but do not fit the job's type at that version
    /// (a missing field, a wrong type, a number out of range, a field twice).
    #[error("job `{job}` {version}: arguments do not fit the job's type: {message} at line {line} column {column}")]
    Arguments {
        /// The job name.
        job: String,
        /// The version the payload was written at.
        version: Version,
        /// serde's message, bounded.
        message: String,
        /// Line of the problem.
        line: usize,
        /// Column of the problem.
        column: usize,
    },
    /// The payload is on an older line that no upcaster reads any more.
    #[error("job `{job}` {version}: this release reads {reads}, and no upcaster starts at {version}: keep the upcaster for this version until no such payload is in flight")]
    NoUpcaster {
        /// The job name.
        job: String,
        /// The version the payload was written at.
        version: Version,
        /// The lines this release reads, for example `"2.x, 1.x"`.
        reads: String,
    },
    /// An upcaster returned an error.
    #[error("job `{job}`: upcasting from {from} to {to} failed: {message}")]
    Upcast {
        /// The job name.
        job: String,
        /// The version the failing step started from.
        from: Version,
        /// The version it was upcasting to.
        to: Version,
        /// The upcaster's message, bounded.
        message: String,
    },
    /// An iterable job's `progress` block is malformed, has the wrong type,
    /// or holds a cursor no upcaster of this release reads. The job is never
    /// resumed from zero instead.
    #[error("job `{job}` {version}: `progress.{field}` cannot be read: {message}")]
    Progress {
        /// The job name.
        job: String,
        /// The version the payload was written at.
        version: Version,
        /// The field of `progress` at fault (`cursor`, `items`, ...).
        field: &'static str,
        /// What is wrong, bounded.
        message: String,
    },
}

/// Cuts `message` to at most [`MAX_MESSAGE_BYTES`] bytes, on a character
/// boundary, marking the cut.
pub(crate) fn bounded(mut message: String) -> String {
    if message.len() > MAX_MESSAGE_BYTES {
        let mut end = MAX_MESSAGE_BYTES - '…'.len_utf8();
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        // At the end of a word when one ends near the cut, so that no word
        // is shown half.
        let near = end.saturating_sub(32);
        if let Some(space) = message[near..end].rfind(char::is_whitespace) {
            end = near + space;
        }
        message.truncate(end);
        message.push('…');
    }
    message
}

/// At most 64 characters of untrusted text, for a message.
pub(crate) fn quote(text: &str) -> String {
    text.chars().take(MAX_QUOTE_CHARS).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_messages_keep_whole_characters() {
        let long = "é".repeat(1000);
        let cut = bounded(long);
        assert!(cut.len() <= MAX_MESSAGE_BYTES);
        assert!(cut.ends_with('…'));
        assert_eq!(bounded("short".into()), "short");
    }

    #[test]
    fn bounded_messages_end_at_a_word() {
        let long = "word ".repeat(100);
        let cut = bounded(long);
        assert!(cut.len() <= MAX_MESSAGE_BYTES);
        assert!(cut.ends_with("word…"), "{cut}");
        // One long word is cut where it must be.
        let cut = bounded("x".repeat(1000));
        assert_eq!(cut.len(), MAX_MESSAGE_BYTES);
    }
}

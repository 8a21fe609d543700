//! Rewriting an envelope's `meta` or `progress`, leaving every other byte as
//! it was: a queue bumps `meta.attempt` in the stored bytes, an iterable job
//! checkpoints its cursor, and `args` stays byte for byte what the producer
//! wrote.

use crate::wire::header::checked_text;
use crate::wire::progress::Progress;
use crate::wire::scan::{Head, Key, Scan};
use crate::wire::{Limits, Meta, RejectError};

/// Where the editable values stand in an envelope.
struct Spans {
    meta: Option<(usize, usize)>,
    progress: Option<(usize, usize)>,
    /// The position of the closing brace.
    close: usize,
}

fn spans(text: &str) -> Result<Spans, RejectError> {
    let inner = || -> Result<Spans, Box<RejectError>> {
        let mut scan = Scan::open(text)?;
        let mut head = Head::default();
        let mut spans = Spans {
            meta: None,
            progress: None,
            close: 0,
        };
        while let Some((key, at)) = scan.key()? {
            let start = scan.pos;
            let slot = match key {
                Key::Meta => Some(&mut spans.meta),
                Key::Progress => Some(&mut spans.progress),
                _ => None,
            };
            scan.field(key, at, &mut head)?;
            if let Some(slot) = slot {
                *slot = Some((start, scan.pos));
            }
        }
        spans.close = scan.pos.saturating_sub(1);
        scan.end()?;
        if head.job.is_none() {
            return Err(Box::new(RejectError::MissingField { field: "job" }));
        }
        Ok(spans)
    };
    inner().map_err(|error| *error)
}

/// Replaces the value of one top-level key, or adds the key before the
/// closing brace.
fn splice(
    text: &str,
    span: Option<(usize, usize)>,
    close: usize,
    key: &str,
    value: &str,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() + value.len() + key.len() + 4);
    match span {
        Some((start, end)) => {
            out.extend_from_slice(text.as_bytes().get(..start).unwrap_or_default());
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(text.as_bytes().get(end..).unwrap_or_default());
        }
        None => {
            out.extend_from_slice(text.as_bytes().get(..close).unwrap_or_default());
            out.extend_from_slice(b",\"");
            out.extend_from_slice(key.as_bytes());
            out.extend_from_slice(b"\":");
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(text.as_bytes().get(close..).unwrap_or_default());
        }
    }
    out
}

/// Rewrites the envelope's `meta` through `edit`, leaving every other byte
/// as it was. The envelope is checked as [`Header::read`](crate::wire::Header::read)
/// checks it; a payload that is not an envelope is refused, untouched.
///
/// ```
/// let payload = br#"{"job":"a","version":"1.0.0","args":{"b": [1, 2]},"meta":{"attempt":1}}"#;
/// let bumped = jobwire::wire::rewrite_meta(payload, |meta| {
///     let attempt = meta.attempt() + 1;
///     meta.with_attempt(attempt)
/// })?;
/// assert_eq!(bumped, br#"{"job":"a","version":"1.0.0","args":{"b": [1, 2]},"meta":{"attempt":2}}"#);
/// # Ok::<(), jobwire::RejectError>(())
/// ```
pub fn rewrite_meta<'p>(
    payload: &'p [u8],
    edit: impl FnOnce(Meta<'p>) -> Meta<'p>,
) -> Result<Vec<u8>, RejectError> {
    let header = crate::wire::Header::read(payload)?;
    let text = checked_text(payload, &Limits::default())?;
    let spans = spans(text)?;
    let meta = edit(header.meta().clone());
    let json = serde_json::to_string(&meta).map_err(|error| RejectError::Malformed {
        message: crate::wire::error::bounded(error.to_string()),
        line: 1,
        column: 1,
    })?;
    Ok(splice(text, spans.meta, spans.close, "meta", &json))
}

/// Writes `progress` into the envelope, leaving every other byte as it was.
///
/// ```
/// use jobwire::wire::{rewrite_progress, Header, Progress};
/// let payload = br#"{"job":"a","version":"1.0.0","args":{}}"#;
/// let next = rewrite_progress(payload, &Progress::new(Some("7".into()), 7, 10, 0))?;
/// assert_eq!(Header::read(&next)?.progress().map(|p| p.items()), Some(7));
/// assert!(next.starts_with(br#"{"job":"a","version":"1.0.0","args":{}"#));
/// # Ok::<(), jobwire::RejectError>(())
/// ```
pub fn rewrite_progress(payload: &[u8], progress: &Progress<'_>) -> Result<Vec<u8>, RejectError> {
    let text = checked_text(payload, &Limits::default())?;
    let spans = spans(text)?;
    Ok(splice(
        text,
        spans.progress,
        spans.close,
        "progress",
        &progress.to_json(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds_meta_when_there_is_none_and_keeps_args_byte_for_byte() {
        let payload = b" {\"args\" : {\"x\":1.50, \"y\":\"\\u00e9\"} , \"job\":\"a\",\"version\":\"1.0.0\"}\n";
        let out = rewrite_meta(payload, |m| m.with_defers(3)).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains(r#"{"x":1.50, "y":"\u00e9"}"#), "{text}");
        assert!(text.ends_with(",\"meta\":{\"defers\":3}}\n"), "{text}");
        assert_eq!(
            crate::wire::Header::read(text.as_bytes())
                .unwrap()
                .meta()
                .defers(),
            3
        );
    }

    #[test]
    fn refuses_what_is_not_an_envelope() {
        assert!(rewrite_meta(b"[1]", |m| m).is_err());
        assert!(rewrite_meta(br#"{"job":"a","version":"1.0.0"}"#, |m| m).is_err());
        assert!(rewrite_progress(b"{", &Progress::new(None, 0, 0, 0)).is_err());
    }
}

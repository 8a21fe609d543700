//! Reading an envelope in one pass.
//!
//! The top level of the envelope is walked by hand, so that each value can be
//! handed to the right deserializer where it stands: the job's arguments are
//! decoded straight into the job's type when the header came first, and only
//! skipped (and decoded from their borrowed slice later) when it did not.
//! Nothing here allocates unless a string has escapes.

use crate::wire::decode::{decode_prefix, json_error_at, locate, Text};
use crate::wire::skip::{plain_prefix, skip_value};
use crate::wire::{Meta, RejectError};
use serde::Deserialize;
use std::borrow::Cow;

/// A cursor over the envelope text.
pub(crate) struct Scan<'a> {
    pub(crate) text: &'a str,
    pub(crate) pos: usize,
    first_key: bool,
}

/// What has been read of the envelope so far.
#[derive(Default)]
pub(crate) struct Head<'a> {
    pub(crate) job: Option<Cow<'a, str>>,
    pub(crate) version: Option<Cow<'a, str>>,
    pub(crate) meta: Option<Meta<'a>>,
    /// Where the arguments stand, when they were skipped.
    pub(crate) args: Option<(usize, usize)>,
    /// Where an iterable job's `progress` object stands.
    pub(crate) progress: Option<(usize, usize)>,
}

/// The envelope keys jobwire knows.
pub(crate) enum Key {
    Job,
    Version,
    Args,
    Meta,
    Progress,
    Other,
}

impl Key {
    fn of(key: &str) -> Key {
        match key {
            "job" => Key::Job,
            "version" => Key::Version,
            "args" => Key::Args,
            "meta" => Key::Meta,
            "progress" => Key::Progress,
            _ => Key::Other,
        }
    }
}

impl<'a> Scan<'a> {
    /// Starts at the opening brace of the envelope.
    pub(crate) fn open(text: &'a str) -> Result<Self, Box<RejectError>> {
        let mut scan = Scan {
            text,
            pos: 0,
            first_key: true,
        };
        scan.skip_whitespace();
        if scan.peek() != Some(b'{') {
            return Err(scan.malformed(scan.pos, "expected the envelope to be a JSON object"));
        }
        scan.pos += 1;
        Ok(scan)
    }

    /// The next envelope key, positioned at its value; `None` after the
    /// closing brace.
    pub(crate) fn key(&mut self) -> Result<Option<(Key, usize)>, Box<RejectError>> {
        let mut first = std::mem::replace(&mut self.first_key, false);
        if !self.before_key(&mut first)? {
            return Ok(None);
        }
        let at = self.pos;
        // The envelope's own keys, written plainly, are recognised by their
        // bytes; anything else (escapes, unknown keys) is read as a string.
        let bytes = self.text.as_bytes().get(at..).unwrap_or_default();
        let known = [
            (&b"\"job\""[..], Key::Job),
            (b"\"args\"", Key::Args),
            (b"\"version\"", Key::Version),
            (b"\"meta\"", Key::Meta),
            (b"\"progress\"", Key::Progress),
        ]
        .into_iter()
        .find(|(literal, _)| bytes.starts_with(literal));
        let key = match known {
            Some((literal, key)) => {
                self.pos += literal.len();
                key
            }
            None => {
                if self.peek() != Some(b'"') {
                    return Err(self.malformed(at, "expected a key in double quotes"));
                }
                Key::of(&self.string()?)
            }
        };
        self.after_key()?;
        Ok(Some((key, at)))
    }

    /// Moves past what precedes a key (a comma, or nothing before the first
    /// one); `false` at the closing brace.
    #[inline]
    fn before_key(&mut self, first: &mut bool) -> Result<bool, Box<RejectError>> {
        self.skip_whitespace();
        if std::mem::replace(first, false) {
            if self.peek() == Some(b'}') {
                self.pos += 1;
                return Ok(false);
            }
        } else {
            match self.peek() {
                Some(b',') => {
                    self.pos += 1;
                    self.skip_whitespace();
                }
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(false);
                }
                _ => return Err(self.malformed(self.pos, "expected `,` or `}` after a value")),
            }
        }
        Ok(true)
    }

    /// Moves past the colon after a key, to its value.
    #[inline]
    fn after_key(&mut self) -> Result<(), Box<RejectError>> {
        self.skip_whitespace();
        if self.peek() != Some(b':') {
            return Err(self.malformed(self.pos, "expected `:` after a key"));
        }
        self.pos += 1;
        self.skip_whitespace();
        Ok(())
    }

    /// The next key of the object the cursor is in, positioned at its value;
    /// `None` after the closing brace. `first` is true before the first key.
    pub(crate) fn object_key(
        &mut self,
        first: &mut bool,
    ) -> Result<Option<(Cow<'a, str>, usize)>, Box<RejectError>> {
        if !self.before_key(first)? {
            return Ok(None);
        }
        let at = self.pos;
        if self.peek() != Some(b'"') {
            return Err(self.malformed(at, "expected a key in double quotes"));
        }
        let key = self.string()?;
        self.after_key()?;
        Ok(Some((key, at)))
    }

    /// Reads the `meta` object. Unknown keys are skipped; each known key may
    /// appear once.
    fn meta(&mut self) -> Result<Meta<'a>, Box<RejectError>> {
        if self.peek() != Some(b'{') {
            return Err(self.malformed(self.pos, "`meta` must be a JSON object"));
        }
        self.pos += 1;
        let mut meta = Meta::new();
        let mut seen = [false; 5];
        let mut first = true;
        while let Some((key, at)) = self.object_key(&mut first)? {
            let (slot, name) = match key.as_ref() {
                "id" => (0, "meta.id"),
                "enqueued_at" => (1, "meta.enqueued_at"),
                "attempt" => (2, "meta.attempt"),
                "headers" => (3, "meta.headers"),
                "defers" => (4, "meta.defers"),
                _ => {
                    self.skip()?;
                    continue;
                }
            };
            if std::mem::replace(&mut seen[slot], true) {
                return Err(self.duplicate(name, at));
            }
            let in_meta = |mut error: Box<RejectError>| {
                if let RejectError::Malformed { message, .. } = &mut *error {
                    message.insert_str(0, &format!("in `{name}`: "));
                }
                error
            };
            match slot {
                0 => {
                    if self.peek() == Some(b'"') {
                        meta.set_id(Some(self.string()?));
                    } else {
                        meta.set_id(
                            self.value::<Option<Text<'a>>>()
                                .map_err(in_meta)?
                                .map(|t| t.0),
                        );
                    }
                }
                1 => meta.set_enqueued_at(self.value::<Option<u64>>().map_err(in_meta)?),
                2 => meta.set_attempt(self.value::<Option<u32>>().map_err(in_meta)?.unwrap_or(0)),
                4 => meta.set_defers(self.value::<Option<u32>>().map_err(in_meta)?.unwrap_or(0)),
                _ => {
                    let start = self.pos;
                    if self.peek() == Some(b'n') {
                        self.value::<()>().map_err(in_meta)?;
                        continue;
                    }
                    if self.peek() != Some(b'{') {
                        return Err(
                            self.malformed(start, "`meta.headers` must be an object of strings")
                        );
                    }
                    self.skip()?;
                    let raw = self.text.get(start..self.pos).unwrap_or_default();
                    meta.set_raw_headers(raw)
                        .map_err(|error| self.json_error(start, &error))
                        .map_err(in_meta)?;
                }
            }
        }
        Ok(meta)
    }

    /// Reads a string value, borrowing it when it has no escapes.
    pub(crate) fn string(&mut self) -> Result<Cow<'a, str>, Box<RejectError>> {
        let bytes = self.text.as_bytes();
        if bytes.get(self.pos) == Some(&b'"') {
            let start = self.pos + 1;
            let end = start + plain_prefix(bytes.get(start..).unwrap_or_default());
            if bytes.get(end) == Some(&b'"') {
                if let Some(plain) = self.text.get(start..end) {
                    self.pos = end + 1;
                    return Ok(Cow::Borrowed(plain));
                }
            }
        }
        // Escapes, control characters or a missing quote: let serde_json
        // decode it, or say precisely what is wrong.
        self.value::<Text<'a>>().map(|text| text.0)
    }

    /// Reads one value of type `T`.
    pub(crate) fn value<T: Deserialize<'a>>(&mut self) -> Result<T, Box<RejectError>> {
        let base = self.pos;
        let rest = self.text.get(base..).unwrap_or_default();
        match decode_prefix::<T>(rest) {
            Ok((value, used)) => {
                self.pos = base + used;
                Ok(value)
            }
            Err(error) => Err(self.json_error(base, &error)),
        }
    }

    /// Skips the arguments object, returning where it stands.
    pub(crate) fn skip_args(&mut self) -> Result<(usize, usize), Box<RejectError>> {
        self.expect_args_object()?;
        let start = self.pos;
        self.skip()?;
        Ok((start, self.pos))
    }

    /// Skips one value, checking that it is JSON, without building it.
    pub(crate) fn skip(&mut self) -> Result<(), Box<RejectError>> {
        match skip_value(self.text.as_bytes(), self.pos) {
            Ok(end) => {
                self.pos = end;
                Ok(())
            }
            Err(error) => Err(self.malformed(error.at, error.message)),
        }
    }

    /// Checks that the value at the cursor is an object, as `args` must be.
    pub(crate) fn expect_args_object(&self) -> Result<(), Box<RejectError>> {
        if self.peek() == Some(b'{') {
            Ok(())
        } else {
            Err(self.malformed(self.pos, "`args` must be a JSON object"))
        }
    }

    /// Reads one of the header fields (`job`, `version`, `meta`) or skips an
    /// unknown one. `Key::Args` is the caller's.
    pub(crate) fn field(
        &mut self,
        key: Key,
        at: usize,
        head: &mut Head<'a>,
    ) -> Result<(), Box<RejectError>> {
        match key {
            Key::Job => {
                self.once(head.job.is_some(), "job", at)?;
                self.expect_string("job")?;
                head.job = Some(self.string()?);
            }
            Key::Version => {
                self.once(head.version.is_some(), "version", at)?;
                self.expect_string("version")?;
                head.version = Some(self.string()?);
            }
            Key::Meta => {
                self.once(head.meta.is_some(), "meta", at)?;
                head.meta = Some(self.meta()?);
            }
            Key::Args => {
                self.once(head.args.is_some(), "args", at)?;
                head.args = Some(self.skip_args()?);
            }
            Key::Progress => {
                self.once(head.progress.is_some(), "progress", at)?;
                let start = self.pos;
                if self.peek() != Some(b'{') {
                    return Err(self.malformed(start, "`progress` must be a JSON object"));
                }
                self.skip()?;
                head.progress = Some((start, self.pos));
            }
            Key::Other => self.skip()?,
        }
        Ok(())
    }

    /// Reads every remaining key up to the end of the envelope. The arguments
    /// have already been decoded, so a second `args` is a duplicate.
    pub(crate) fn rest(&mut self, head: &mut Head<'a>) -> Result<(), Box<RejectError>> {
        while let Some((key, at)) = self.key()? {
            if let Key::Args = key {
                return Err(self.duplicate("args", at));
            }
            self.field(key, at, head)?;
        }
        self.end()
    }

    /// Reads `"job"` and `"version"` from the end of the envelope, without
    /// reading what stands before them: for envelopes whose arguments come
    /// first (written that way, or given back by PostgreSQL's `jsonb`), so
    /// that the arguments can still be decoded where they stand.
    ///
    /// Only the last one or two top-level pairs are looked at, and only when
    /// each is a key and a plain string value (no escapes anywhere): a string
    /// value right before the envelope's closing brace can only be its last
    /// top-level value, so what this finds is what a full read finds. It is
    /// a guess all the same: the caller compares it with the full read before
    /// anything is performed.
    pub(crate) fn tail_header(&self) -> Option<(&'a str, &'a str)> {
        let bytes = self.text.as_bytes();
        let mut end = bytes.len();
        end = trim_back(bytes, end);
        if end == 0 || bytes.get(end - 1) != Some(&b'}') {
            return None;
        }
        let (last_key, last_value, before) = pair_back(self.text, end - 1)?;
        let (second_key, second_value) = match bytes.get(before) {
            Some(b',') => match pair_back(self.text, before) {
                Some((key, value, _)) => (Some(key), Some(value)),
                None => (None, None),
            },
            _ => (None, None),
        };
        match (last_key, second_key) {
            ("version", Some("job")) => Some((second_value?, last_value)),
            ("job", Some("version")) => Some((last_value, second_value?)),
            ("version", _) => Some(("", last_value)),
            ("job", _) => Some((last_value, "")),
            _ => None,
        }
    }

    /// Checks that nothing but whitespace follows the envelope.
    pub(crate) fn end(&mut self) -> Result<(), Box<RejectError>> {
        self.skip_whitespace();
        if self.pos < self.text.len() {
            return Err(self.malformed(self.pos, "trailing characters after the envelope"));
        }
        Ok(())
    }

    /// A rejection for a serde_json error from a parse that started at `base`.
    pub(crate) fn json_error(&self, base: usize, error: &serde_json::Error) -> Box<RejectError> {
        let (message, line, column) = json_error_at(self.text, base, error);
        Box::new(RejectError::Malformed {
            message,
            line,
            column,
        })
    }

    fn once(&self, seen: bool, key: &'static str, at: usize) -> Result<(), Box<RejectError>> {
        if seen {
            Err(self.duplicate(key, at))
        } else {
            Ok(())
        }
    }

    fn expect_string(&self, key: &'static str) -> Result<(), Box<RejectError>> {
        if self.peek() == Some(b'"') {
            return Ok(());
        }
        let message = match key {
            "job" => "`job` must be a string",
            _ => "`version` must be a string such as \"1.2.0\"",
        };
        Err(self.malformed(self.pos, message))
    }

    pub(crate) fn duplicate(&self, key: &'static str, at: usize) -> Box<RejectError> {
        let (line, column) = locate(self.text, at);
        Box::new(RejectError::DuplicateKey { key, line, column })
    }

    pub(crate) fn malformed(&self, at: usize, message: &str) -> Box<RejectError> {
        let (line, column) = locate(self.text, at);
        Box::new(RejectError::Malformed {
            message: message.to_owned(),
            line,
            column,
        })
    }

    pub(crate) fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn skip_whitespace(&mut self) {
        let bytes = self.text.as_bytes();
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = bytes.get(self.pos) {
            self.pos += 1;
        }
    }
}

/// The position after the last non-whitespace byte before `end`.
#[inline]
fn trim_back(bytes: &[u8], mut end: usize) -> usize {
    while let Some(b' ' | b'\t' | b'\n' | b'\r') = end.checked_sub(1).and_then(|i| bytes.get(i)) {
        end -= 1;
    }
    end
}

/// A plain string (no backslash) that ends just before `end`: its text, and
/// the position of its opening quote.
#[inline]
fn string_back(text: &str, end: usize) -> Option<(&str, usize)> {
    let bytes = text.as_bytes();
    let close = end.checked_sub(1)?;
    if bytes.get(close) != Some(&b'"') {
        return None;
    }
    let mut open = close;
    loop {
        open = open.checked_sub(1)?;
        match bytes.get(open)? {
            b'"' => break,
            b'\\' => return None,
            _ => {}
        }
    }
    Some((text.get(open + 1..close)?, open))
}

/// The `"key": "value"` pair that ends just before `end`: the key, the
/// value, and the position of the first byte before the key that is not
/// whitespace.
#[inline]
fn pair_back(text: &str, end: usize) -> Option<(&str, &str, usize)> {
    let bytes = text.as_bytes();
    let (value, open) = string_back(text, trim_back(bytes, end))?;
    let colon = trim_back(bytes, open).checked_sub(1)?;
    if bytes.get(colon) != Some(&b':') {
        return None;
    }
    let (key, open) = string_back(text, trim_back(bytes, colon))?;
    let before = trim_back(bytes, open);
    Some((key, value, before.checked_sub(1)?))
}

#[cfg(test)]
mod tests {
    use super::Scan;

    fn tail(text: &str) -> Option<(&str, &str)> {
        Scan::open(text).ok()?.tail_header()
    }

    #[test]
    fn the_tail_header_is_read_backwards_or_not_at_all() {
        assert_eq!(
            tail(r#"{"args":{"a":"}"},"job":"x.y","version":"1.2.3"}"#),
            Some(("x.y", "1.2.3"))
        );
        assert_eq!(
            tail(" {\"args\":{}, \"version\" : \"1.0.0\" ,\n \"job\":\"j\" } \n"),
            Some(("j", "1.0.0"))
        );
        assert_eq!(
            tail(r#"{"job":"j","args":{},"meta":{},"version":"2.0.0"}"#),
            Some(("", "2.0.0"))
        );
        // Not a string, an escape, a nested object, another key: no guess.
        for text in [
            r#"{"args":{},"job":"j","version":1}"#,
            r#"{"args":{},"job":"j","version":"1.0\u002e0"}"#,
            r#"{"args":{"note":"a\",\"version\":\"9.0.0"}}"#,
            r#"{"args":{},"meta":{"version":"1.0.0"}}"#,
            r#"{"job":"j","version":"1.0.0","args":{}}"#,
            r#"{"args":{}"#,
            "",
        ] {
            assert_eq!(tail(text), None, "{text}");
        }
    }
}

//! Skipping a JSON value without building it, and without allocating.
//!
//! serde_json's own skipping (`IgnoredAny`) keeps a stack on the heap for
//! every nested value. The envelope reader skips unknown fields, and the
//! arguments it decodes later, with this instead: the nesting is a bit stack
//! in a `u128`, which spills to the heap only past 128 levels. Like
//! `IgnoredAny`, it works iteratively, so no depth overflows the stack, and it
//! accepts any depth, so a value is skipped the same wherever it stands.

/// Why a value could not be skipped, and where.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SkipError {
    pub(crate) at: usize,
    pub(crate) message: &'static str,
}

/// Which nesting levels are objects (as opposed to arrays).
struct Nesting {
    /// Levels 0 to 127, one bit each.
    low: u128,
    /// Levels from 128 on, on the heap: only pathological input gets here.
    high: Vec<bool>,
    depth: usize,
}

impl Nesting {
    fn push(&mut self, object: bool) {
        if self.depth < 128 {
            let bit = 1u128 << self.depth;
            if object {
                self.low |= bit;
            } else {
                self.low &= !bit;
            }
        } else {
            self.high.push(object);
        }
        self.depth += 1;
    }

    fn pop(&mut self) {
        if self.depth > 128 {
            self.high.pop();
        }
        self.depth = self.depth.saturating_sub(1);
    }

    /// Whether the innermost open level is an object; `None` at the top.
    fn top(&self) -> Option<bool> {
        match self.depth {
            0 => None,
            d if d <= 128 => Some(self.low & (1u128 << (d - 1)) != 0),
            _ => self.high.last().copied(),
        }
    }
}

/// Skips the JSON value at `at` (after optional whitespace) and returns the
/// position just after it.
pub(crate) fn skip_value(bytes: &[u8], mut at: usize) -> Result<usize, SkipError> {
    let mut nesting = Nesting {
        low: 0,
        high: Vec::new(),
        depth: 0,
    };
    let error = |at, message| Err(SkipError { at, message });
    'value: loop {
        at = whitespace(bytes, at);
        match bytes.get(at) {
            Some(b'{') | Some(b'[') => {
                let object = bytes.get(at) == Some(&b'{');
                at = whitespace(bytes, at + 1);
                let close = if object { b'}' } else { b']' };
                if bytes.get(at) == Some(&close) {
                    at += 1;
                } else {
                    if object {
                        at = key(bytes, at)?;
                    }
                    nesting.push(object);
                    continue 'value;
                }
            }
            Some(b'"') => at = string(bytes, at)?,
            Some(b'-' | b'0'..=b'9') => at = number(bytes, at)?,
            Some(b't') => at = literal(bytes, at, b"true")?,
            Some(b'f') => at = literal(bytes, at, b"false")?,
            Some(b'n') => at = literal(bytes, at, b"null")?,
            Some(_) => return error(at, "expected value"),
            None => return error(at, "EOF while parsing a value"),
        }
        // After a value: close containers, or go on to the next value.
        loop {
            let Some(object) = nesting.top() else {
                return Ok(at);
            };
            at = whitespace(bytes, at);
            match (object, bytes.get(at)) {
                (_, Some(b',')) => {
                    at = whitespace(bytes, at + 1);
                    if let Some(b'}' | b']') = bytes.get(at) {
                        return error(at, "trailing comma");
                    }
                    if object {
                        at = key(bytes, at)?;
                    }
                    continue 'value;
                }
                (true, Some(b'}')) | (false, Some(b']')) => {
                    at += 1;
                    nesting.pop();
                }
                (true, Some(_)) => return error(at, "expected `,` or `}`"),
                (false, Some(_)) => return error(at, "expected `,` or `]`"),
                (_, None) => return error(at, "EOF while parsing a value"),
            }
        }
    }
}

pub(crate) fn whitespace(bytes: &[u8], mut at: usize) -> usize {
    while let Some(b' ' | b'\t' | b'\n' | b'\r') = bytes.get(at) {
        at += 1;
    }
    at
}

/// A key and its colon, up to the value.
fn key(bytes: &[u8], at: usize) -> Result<usize, SkipError> {
    if bytes.get(at) != Some(&b'"') {
        return Err(SkipError {
            at,
            message: "key must be a string",
        });
    }
    let at = whitespace(bytes, string(bytes, at)?);
    if bytes.get(at) != Some(&b':') {
        return Err(SkipError {
            at,
            message: "expected `:`",
        });
    }
    Ok(at + 1)
}

/// A string, from its opening quote; the text is already known to be UTF-8.
/// Runs of plain bytes are passed over eight at a time.
fn string(bytes: &[u8], mut at: usize) -> Result<usize, SkipError> {
    at += 1;
    loop {
        at += plain_prefix(bytes.get(at..).unwrap_or_default());
        match bytes.get(at) {
            Some(b'"') => return Ok(at + 1),
            Some(b'\\') => {
                at += 1;
                match bytes.get(at) {
                    Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => at += 1,
                    Some(b'u') => {
                        for offset in 1..=4 {
                            if !bytes.get(at + offset).is_some_and(u8::is_ascii_hexdigit) {
                                return Err(SkipError {
                                    at: at + offset,
                                    message: "invalid escape",
                                });
                            }
                        }
                        at += 5;
                    }
                    Some(_) => {
                        return Err(SkipError {
                            at,
                            message: "invalid escape",
                        })
                    }
                    None => break,
                }
            }
            Some(_) => {
                return Err(SkipError {
                    at,
                    message: "control character (\\u0000-\\u001F) found while parsing a string",
                })
            }
            None => break,
        }
    }
    Err(SkipError {
        at,
        message: "EOF while parsing a string",
    })
}

/// The length of the prefix of `bytes` with no `"`, `\\` or control
/// character: eight bytes at a time, then one by one.
pub(crate) fn plain_prefix(bytes: &[u8]) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    // The lowest flagged byte is exact; higher ones may be false positives,
    // so only the first is used.
    let below = |word: u64, n: u8| word.wrapping_sub(ONES * u64::from(n)) & !word & HIGHS;
    let zero = |word: u64| below(word, 1);
    let mut chunks = bytes.chunks_exact(8);
    let mut done = 0;
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let word = u64::from_le_bytes(word);
        let special = zero(word ^ (ONES * u64::from(b'"')))
            | zero(word ^ (ONES * u64::from(b'\\')))
            | below(word, 0x20);
        if special != 0 {
            return done + (special.trailing_zeros() / 8) as usize;
        }
        done += 8;
    }
    done + chunks
        .remainder()
        .iter()
        .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
        .unwrap_or(chunks.remainder().len())
}

/// A number: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
fn number(bytes: &[u8], mut at: usize) -> Result<usize, SkipError> {
    let digits = |mut at: usize| {
        let start = at;
        while bytes.get(at).is_some_and(u8::is_ascii_digit) {
            at += 1;
        }
        (at, at > start)
    };
    let invalid = |at| {
        Err(SkipError {
            at,
            message: "invalid number",
        })
    };
    if bytes.get(at) == Some(&b'-') {
        at += 1;
    }
    match bytes.get(at) {
        Some(b'0') => at += 1,
        Some(b'1'..=b'9') => at = digits(at).0,
        _ => return invalid(at),
    }
    if bytes.get(at) == Some(&b'.') {
        let (end, any) = digits(at + 1);
        if !any {
            return invalid(end);
        }
        at = end;
    }
    if let Some(b'e' | b'E') = bytes.get(at) {
        at += 1;
        if let Some(b'+' | b'-') = bytes.get(at) {
            at += 1;
        }
        let (end, any) = digits(at);
        if !any {
            return invalid(end);
        }
        at = end;
    }
    Ok(at)
}

fn literal(bytes: &[u8], at: usize, word: &[u8]) -> Result<usize, SkipError> {
    if bytes.get(at..at + word.len()) == Some(word) {
        Ok(at + word.len())
    } else {
        Err(SkipError {
            at,
            message: "expected value",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{plain_prefix, skip_value};
    use serde::de::IgnoredAny;

    /// serde_json's verdict on a whole document.
    fn serde_accepts(text: &str) -> bool {
        serde_json::from_str::<IgnoredAny>(text).is_ok()
    }

    fn skip_accepts(text: &str) -> bool {
        let bytes = text.as_bytes();
        skip_value(bytes, 0).is_ok_and(|end| super::whitespace(bytes, end) == bytes.len())
    }

    #[test]
    fn agrees_with_serde_json_on_whole_documents() {
        let cases = [
            "null",
            "true",
            "false",
            "0",
            "-0",
            "12",
            "-1.5e+10",
            "1E5",
            "0.0",
            "\"\"",
            "\"a\\u00e9\\n\"",
            "[]",
            "{}",
            " [1, [2, {\"a\": [null]}], \"x\"] ",
            "{\"a\":1,\"b\":{\"c\":[true,false]}}",
            "01",
            "1.",
            ".5",
            "-",
            "1e",
            "1e+",
            "+1",
            "tru",
            "nul",
            "[1,]",
            "[,1]",
            "{\"a\"}",
            "{\"a\":}",
            "{\"a\":1,}",
            "{1:2}",
            "[1 2]",
            "{\"a\":1 \"b\":2}",
            "\"\\x\"",
            "\"\\u12\"",
            "\"abc",
            "[",
            "{",
            "\"\u{1}\"",
            "[[[]]]]",
            "{\"a\":1}}",
            "nan",
            "Infinity",
            "-01",
            "2.e3",
            "\"\\/\"",
        ];
        for text in cases {
            assert_eq!(skip_accepts(text), serde_accepts(text), "{text:?}");
        }
    }

    #[test]
    fn any_depth_is_skipped_like_serde_json_ignored_any() {
        let nested = |depth: usize| format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        let objects = |depth: usize| format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth));
        let mixed = |depth: usize| format!("{}1{}", "[{\"a\":".repeat(depth), "}]".repeat(depth));
        for depth in [127usize, 128, 129, 200, 100_000] {
            for text in [nested(depth), objects(depth), mixed(depth)] {
                assert!(skip_accepts(&text), "depth {depth}");
                assert!(serde_accepts(&text), "depth {depth}");
                let broken = &text[..text.len() - 1];
                assert_eq!(
                    skip_accepts(broken),
                    serde_accepts(broken),
                    "depth {depth}, cut short"
                );
            }
        }
        // A close that does not match its open, deep down.
        let wrong = format!(
            "{}{}}}{}",
            "[".repeat(300),
            "]".repeat(150),
            "]".repeat(149)
        );
        assert_eq!(skip_accepts(&wrong), serde_accepts(&wrong));
    }

    #[test]
    fn plain_prefix_stops_at_the_first_special_byte() {
        let naive = |bytes: &[u8]| {
            bytes
                .iter()
                .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
                .unwrap_or(bytes.len())
        };
        let mut cases: Vec<Vec<u8>> = vec![
            b"".to_vec(),
            b"abc".to_vec(),
            b"user.confirmation\"".to_vec(),
        ];
        for len in 0..20 {
            for special in [b'"', b'\\', 0x00, 0x1f, 0x20, 0x7f, 0x80, 0xff, b'!', b'#'] {
                for at in 0..=len {
                    let mut bytes = vec![b'a'; len];
                    bytes.insert(at, special);
                    bytes.push(b'"');
                    cases.push(bytes);
                }
            }
        }
        for bytes in cases {
            assert_eq!(plain_prefix(&bytes), naive(&bytes), "{bytes:?}");
        }
    }

    #[test]
    fn long_strings_are_skipped_like_serde_json() {
        for len in [0usize, 1, 7, 8, 9, 64, 1000, 100_000] {
            let plain = format!("\"{}\"", "a".repeat(len));
            assert!(skip_accepts(&plain));
            let escaped = format!("\"{}\\n{}\"", "b".repeat(len), "c".repeat(len));
            assert!(skip_accepts(&escaped));
            let control = format!("\"{}\u{1}\"", "d".repeat(len));
            assert_eq!(skip_accepts(&control), serde_accepts(&control));
            let cut = format!("\"{}", "e".repeat(len));
            assert!(!skip_accepts(&cut));
        }
    }
}

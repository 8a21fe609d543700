//! Small decoding helpers shared by the envelope reader and the upcast chain.

use crate::wire::error::bounded;
use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;
use std::borrow::Cow;
use std::fmt;

/// Deserializes one JSON value from the start of `text`, returning it and the
/// number of bytes it took (leading whitespace included). What follows the
/// value is left for the caller.
#[inline]
pub(crate) fn decode_prefix<'de, T: Deserialize<'de>>(
    text: &'de str,
) -> Result<(T, usize), serde_json::Error> {
    let mut stream = serde_json::Deserializer::from_str(text).into_iter::<T>();
    match stream.next() {
        Some(Ok(value)) => Ok((value, stream.byte_offset())),
        Some(Err(error)) => Err(error),
        None => Err(de::Error::custom(
            "expected a value, found the end of the payload",
        )),
    }
}

/// A string that borrows from the payload unless it had escapes.
pub(crate) struct Text<'a>(pub(crate) Cow<'a, str>);

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl<'de> Visitor<'de> for TextVisitor {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(TextVisitor)
    }
}

/// Line and column (both from 1, columns in bytes) of a byte offset.
pub(crate) fn locate(text: &str, offset: usize) -> (usize, usize) {
    let before = text.as_bytes().get(..offset).unwrap_or(text.as_bytes());
    let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |newline| newline + 1);
    (line, before.len() - line_start + 1)
}

/// serde_json's message without its " at line L column C" suffix, bounded,
/// and the absolute position of the error, given that the failed parse
/// started at byte `base` of `text`.
///
/// serde_json counts a column as the bytes read on the line so far, so an
/// error right after a raw newline is at its "column 0"; jobwire's columns
/// count from 1, and that position is column 1 of the new line.
pub(crate) fn json_error_at(
    text: &str,
    base: usize,
    error: &serde_json::Error,
) -> (String, usize, usize) {
    let mut message = error.to_string();
    if error.line() != 0 {
        if let Some(cut) = message.rfind(" at line ") {
            message.truncate(cut);
        }
    }
    let (base_line, base_column) = locate(text, base);
    let (line, column) = match error.line() {
        0 => (base_line, base_column),
        1 => (base_line, base_column + error.column().saturating_sub(1)),
        relative => (base_line + relative - 1, error.column()),
    };
    (bounded(message), line, column.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn locate_counts_from_one() {
        assert_eq!(locate("ab\ncd", 0), (1, 1));
        assert_eq!(locate("ab\ncd", 4), (2, 2));
        assert_eq!(locate("ab", 99), (1, 3));
    }

    #[test]
    fn json_errors_are_made_absolute() {
        let text = "{\n  \"args\": {\"a\": x}}";
        let base = 12; // the arguments' opening brace
        let error = decode_prefix::<Value>(&text[base..]).unwrap_err();
        let (message, line, column) = json_error_at(text, base, &error);
        assert_eq!(message, "expected value");
        assert_eq!(&text[base..base + 1], "{");
        assert_eq!((line, column), (2, 17));
        assert_eq!(text.lines().nth(1).unwrap().as_bytes()[column - 1], b'x');
    }

    #[test]
    fn a_column_right_after_a_newline_is_column_one() {
        let text = "{\"job\":\n";
        let error = decode_prefix::<Value>(text).unwrap_err();
        assert_eq!(
            (error.line(), error.column()),
            (2, 0),
            "serde_json's own count"
        );
        let (_, line, column) = json_error_at(text, 0, &error);
        assert_eq!((line, column), (2, 1));
    }

    #[test]
    fn prefix_reports_bytes_used() {
        let (value, used) = decode_prefix::<Value>(" {\"a\":1} ,rest").unwrap();
        assert_eq!(value["a"], 1);
        assert_eq!(used, 8);
    }
}

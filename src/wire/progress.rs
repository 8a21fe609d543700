//! An iterable job's progress, as the envelope carries it: `progress`.

use crate::wire::error::bounded;
use crate::wire::scan::Scan;
use std::borrow::Cow;
use std::fmt::Write as _;

/// How far an iterable job has come: the envelope's `progress` object.
///
/// It travels in the payload, so every re-enqueue, backend retry and dead
/// letter carries it. The cursor is kept as the JSON text it was written as:
/// it is read at the payload's version, through the job's cursor upcasters,
/// only by a release that performs the job.
///
/// ```json
/// {"cursor": {"last_id": 41}, "items": 42, "elapsed_ms": 1500, "interruptions": 1}
/// ```
///
/// ```
/// use jobwire::wire::Progress;
/// let progress = Progress::new(Some(r#"{"last_id":41}"#.into()), 42, 1500, 1);
/// assert_eq!(progress.to_json(), r#"{"cursor":{"last_id":41},"items":42,"elapsed_ms":1500,"interruptions":1}"#);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress<'a> {
    cursor: Option<Cow<'a, str>>,
    items: u64,
    elapsed_ms: u64,
    interruptions: u32,
}

impl<'a> Progress<'a> {
    /// Progress at `cursor` (JSON text; `None` before the first item).
    ///
    /// ```
    /// let start = jobwire::wire::Progress::new(None, 0, 0, 0);
    /// assert_eq!(start.cursor_json(), "null");
    /// ```
    pub fn new(
        cursor: Option<Cow<'a, str>>,
        items: u64,
        elapsed_ms: u64,
        interruptions: u32,
    ) -> Self {
        Progress {
            cursor,
            items,
            elapsed_ms,
            interruptions,
        }
    }

    /// The cursor's JSON text, `null` before the first item.
    ///
    /// ```
    /// let p = jobwire::wire::Progress::new(Some("[1,2]".into()), 2, 0, 0);
    /// assert_eq!(p.cursor_json(), "[1,2]");
    /// ```
    pub fn cursor_json(&self) -> &str {
        self.cursor.as_deref().unwrap_or("null")
    }

    /// Whether the job has a cursor, that is, has finished at least one item.
    ///
    /// ```
    /// assert!(!jobwire::wire::Progress::new(None, 0, 0, 0).has_cursor());
    /// ```
    pub fn has_cursor(&self) -> bool {
        self.cursor.is_some()
    }

    /// Items finished so far.
    ///
    /// ```
    /// assert_eq!(jobwire::wire::Progress::new(None, 3, 0, 0).items(), 3);
    /// ```
    pub fn items(&self) -> u64 {
        self.items
    }

    /// Time spent performing, over every run, in milliseconds.
    ///
    /// ```
    /// assert_eq!(jobwire::wire::Progress::new(None, 0, 9, 0).elapsed_ms(), 9);
    /// ```
    pub fn elapsed_ms(&self) -> u64 {
        self.elapsed_ms
    }

    /// How many times the job was interrupted and resumed.
    ///
    /// ```
    /// assert_eq!(jobwire::wire::Progress::new(None, 0, 0, 2).interruptions(), 2);
    /// ```
    pub fn interruptions(&self) -> u32 {
        self.interruptions
    }

    /// The `progress` object, as written into an envelope.
    ///
    /// ```
    /// let p = jobwire::wire::Progress::new(None, 0, 0, 0);
    /// assert_eq!(p.to_json(), r#"{"cursor":null,"items":0,"elapsed_ms":0,"interruptions":0}"#);
    /// ```
    pub fn to_json(&self) -> String {
        let mut out = String::with_capacity(64 + self.cursor_json().len());
        // Writing to a String cannot fail.
        let _ = write!(
            out,
            r#"{{"cursor":{},"items":{},"elapsed_ms":{},"interruptions":{}}}"#,
            self.cursor_json(),
            self.items,
            self.elapsed_ms,
            self.interruptions
        );
        out
    }

    /// A copy that outlives the payload.
    ///
    /// ```
    /// let p = jobwire::wire::Progress::new(Some(String::from("1").into()), 1, 0, 0).into_owned();
    /// assert_eq!(p.cursor_json(), "1");
    /// ```
    pub fn into_owned(self) -> Progress<'static> {
        Progress {
            cursor: self.cursor.map(|c| Cow::Owned(c.into_owned())),
            items: self.items,
            elapsed_ms: self.elapsed_ms,
            interruptions: self.interruptions,
        }
    }

    /// Reads a `progress` object, already checked to be JSON. On failure,
    /// names the field at fault and says why.
    pub(crate) fn parse(raw: &'a str) -> Result<Progress<'a>, (&'static str, String)> {
        let mut scan = Scan::open(raw).map_err(|e| ("", bounded(e.to_string())))?;
        let mut progress = Progress::new(None, 0, 0, 0);
        let mut seen = [false; 4];
        let mut first = true;
        loop {
            let (key, _) = match scan.object_key(&mut first) {
                Ok(Some(key)) => key,
                Ok(None) => break,
                Err(error) => return Err(("", bounded(error.to_string()))),
            };
            let (slot, field) = match key.as_ref() {
                "cursor" => (0, "cursor"),
                "items" => (1, "items"),
                "elapsed_ms" => (2, "elapsed_ms"),
                "interruptions" => (3, "interruptions"),
                _ => {
                    scan.skip().map_err(|e| ("", bounded(e.to_string())))?;
                    continue;
                }
            };
            if std::mem::replace(&mut seen[slot], true) {
                return Err((field, "appears twice".to_owned()));
            }
            let fail = |e: Box<crate::RejectError>| (field, bounded(e.to_string()));
            match slot {
                0 => {
                    let start = scan.pos;
                    scan.skip().map_err(fail)?;
                    let text = scan.text.get(start..scan.pos).unwrap_or_default();
                    progress.cursor = (text != "null").then_some(Cow::Borrowed(text));
                }
                1 => progress.items = scan.value::<u64>().map_err(fail)?,
                2 => progress.elapsed_ms = scan.value::<u64>().map_err(fail)?,
                _ => progress.interruptions = scan.value::<u32>().map_err(fail)?,
            }
        }
        Ok(progress)
    }
}

#[cfg(test)]
mod tests {
    use super::Progress;

    #[test]
    fn parses_what_it_writes() {
        let progress = Progress::new(Some(r#"{"a":[1,"x"]}"#.into()), 7, 9, 2);
        let json = progress.to_json();
        assert_eq!(Progress::parse(&json), Ok(progress));
    }

    #[test]
    fn names_the_field_at_fault() {
        assert_eq!(
            Progress::parse(r#"{"items":"many"}"#).unwrap_err().0,
            "items"
        );
        assert_eq!(Progress::parse(r#"{"items":-1}"#).unwrap_err().0, "items");
        assert_eq!(
            Progress::parse(r#"{"cursor":1,"cursor":2}"#).unwrap_err().0,
            "cursor"
        );
        assert!(Progress::parse(r#"{"unknown":{"deep":[1]},"items":1}"#).is_ok());
    }
}

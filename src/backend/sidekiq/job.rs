//! A Sidekiq job (one JSON object) and jobwire's envelope, each read as the
//! other.
//!
//! A job is read as a list of top-level keys, each with its value's bytes
//! as written ([`RawValue`]): an edit (a retry's `retry_count`, a
//! checkpoint's new `args`) replaces the values it names and leaves every
//! other byte of every other value as it was, ActiveJob's wrapper and its
//! `_aj_*` markers included.

use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::fmt;
use std::time::{Duration, SystemTime};

/// The top-level key a Ruby worker stamps, through `sidekiq_options`, with
/// the version of its jobs' arguments.
pub const VERSION_KEY: &str = "jobwire_version";
/// Where an iterable job's progress is kept in a Sidekiq job.
pub(crate) const PROGRESS_KEY: &str = "jobwire_progress";
/// Times a job was deferred without counting an attempt.
pub(crate) const DEFERS_KEY: &str = "jobwire_defers";
/// Why a job waits in `schedule` (`deferred`, `snoozed`, ...); absent for a
/// job scheduled by its producer.
pub(crate) const WAIT_KEY: &str = "jobwire_wait";
/// When the queue was last handed new bytes for the job, in milliseconds.
pub(crate) const FIRST_SEEN_KEY: &str = "jobwire_first_seen";
/// The bytes of a payload that was not a Sidekiq job, kept in the
/// dead-letter entry that stands for it: as a string when UTF-8...
pub(crate) const RAW_KEY: &str = "jobwire_raw";
/// ... and as hexadecimal when not.
pub(crate) const RAW_HEX_KEY: &str = "jobwire_raw_hex";

/// One value: as read, or as written by an edit.
#[derive(Debug, Clone)]
enum Value<'a> {
    Raw(&'a RawValue),
    Owned(String),
}

impl Value<'_> {
    fn text(&self) -> &str {
        match self {
            Value::Raw(raw) => raw.get(),
            Value::Owned(text) => text,
        }
    }
}

/// A Sidekiq job: its top-level keys in their order, each with its value.
#[derive(Debug, Clone)]
pub(crate) struct SidekiqJob<'a> {
    fields: Vec<(Cow<'a, str>, Value<'a>)>,
}

/// Why bytes are not a Sidekiq job jobwire can read; the text is the
/// dead-letter reason's core.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Unreadable(pub(crate) String);

impl fmt::Display for Unreadable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn unreadable(text: impl Into<String>) -> Unreadable {
    Unreadable(text.into())
}

struct FieldsVisitor;

impl<'de> Visitor<'de> for FieldsVisitor {
    type Value = Vec<(Cow<'de, str>, &'de RawValue)>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
        let mut fields = Vec::with_capacity(map.size_hint().unwrap_or(8));
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            let value: &'de RawValue = map.next_value()?;
            fields.push((key, value));
        }
        Ok(fields)
    }
}

/// A JSON object's keys and raw values, in order.
fn object(text: &str) -> Result<Vec<(Cow<'_, str>, &RawValue)>, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(text);
    let fields = (&mut de).deserialize_map(FieldsVisitor)?;
    de.end()?;
    Ok(fields)
}

/// An object's fields written back, in order.
fn write_object<'k>(fields: impl Iterator<Item = (&'k str, &'k str)>) -> String {
    let mut out = String::from("{");
    for (i, (key, value)) in fields.enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&json_string(key));
        out.push(':');
        out.push_str(value);
    }
    out.push('}');
    out
}

/// `text` as a JSON string.
pub(crate) fn json_string(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| String::from("\"\""))
}

/// The name a key appears under more than once, if any.
fn repeated<'k>(keys: impl Iterator<Item = &'k str>) -> Option<&'k str> {
    let mut seen: Vec<&str> = Vec::new();
    for key in keys {
        if seen.contains(&key) {
            return Some(key);
        }
        seen.push(key);
    }
    None
}

impl<'a> SidekiqJob<'a> {
    /// Reads `bytes` as a Sidekiq job: a JSON object whose keys appear
    /// once each.
    pub(crate) fn parse(bytes: &'a [u8]) -> Result<SidekiqJob<'a>, Unreadable> {
        let text = std::str::from_utf8(bytes)
            .map_err(|_| unreadable("the job is not UTF-8 text, so not a Sidekiq job's JSON"))?;
        let fields = object(text)
            .map_err(|error| unreadable(format!("the job is not a JSON object ({error})")))?;
        if let Some(key) = repeated(fields.iter().map(|(k, _)| k.as_ref())) {
            return Err(unreadable(format!(
                "the job has the key {} more than once, so readers could disagree on its value",
                json_string(key)
            )));
        }
        Ok(SidekiqJob {
            fields: fields
                .into_iter()
                .map(|(k, v)| (k, Value::Raw(v)))
                .collect(),
        })
    }

    /// The JSON text of `key`'s value.
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.text())
    }

    /// `key`'s value, if it is a JSON string.
    pub(crate) fn string(&self, key: &str) -> Option<String> {
        serde_json::from_str::<String>(self.get(key)?).ok()
    }

    /// `key`'s value, if it is a JSON number.
    pub(crate) fn number(&self, key: &str) -> Option<f64> {
        serde_json::from_str::<f64>(self.get(key)?).ok()
    }

    /// Sets `key` to the JSON text `value`, where it stands, or at the end.
    pub(crate) fn set(&mut self, key: &str, value: String) {
        match self.fields.iter_mut().find(|(k, _)| k == key) {
            Some((_, v)) => *v = Value::Owned(value),
            None => self
                .fields
                .push((Cow::Owned(key.to_owned()), Value::Owned(value))),
        }
    }

    /// Removes `key`.
    pub(crate) fn remove(&mut self, key: &str) {
        self.fields.retain(|(k, _)| k != key);
    }

    /// The job as JSON.
    pub(crate) fn to_json(&self) -> String {
        write_object(self.fields.iter().map(|(k, v)| (k.as_ref(), v.text())))
    }

    /// The job id (`jid`), if it is a string.
    pub(crate) fn jid(&self) -> Option<String> {
        self.string("jid")
    }

    /// The job's name: ActiveJob's `wrapped` class, or `class`.
    pub(crate) fn name(&self) -> Result<String, Unreadable> {
        if let Some(wrapped) = self.get("wrapped") {
            return serde_json::from_str::<String>(wrapped).map_err(|_| {
                unreadable("the job's `wrapped` (ActiveJob's class) is not a string")
            });
        }
        match self.get("class") {
            Some(class) => serde_json::from_str::<String>(class)
                .map_err(|_| unreadable("the job's `class` is not a string")),
            None => Err(unreadable("the job has no `class`")),
        }
    }

    /// The version its arguments were written at: `jobwire_version`, or
    /// `default` when it carries none.
    pub(crate) fn version(&self, default: &str) -> Result<String, Unreadable> {
        match self.get(VERSION_KEY) {
            Some(version) => serde_json::from_str::<String>(version)
                .map_err(|_| unreadable(format!("the job's `{VERSION_KEY}` is not a string"))),
            None => Ok(default.to_owned()),
        }
    }

    /// The arguments jobwire reads: the `args` array, or for an ActiveJob
    /// wrapper, the `arguments` of its one hash; as jobwire's `args`
    /// object (see [`args_object`]).
    pub(crate) fn args(&self) -> Result<String, Unreadable> {
        let args = self
            .get("args")
            .ok_or_else(|| unreadable("the job has no `args`"))?;
        let items: Vec<&RawValue> = serde_json::from_str(args)
            .map_err(|_| unreadable("the job's `args` is not an array"))?;
        if self.get("wrapped").is_none() {
            return args_object(&items);
        }
        let wrapper = match items.as_slice() {
            [one] => object(one.get()).ok(),
            _ => None,
        }
        .ok_or_else(|| unreadable("an ActiveJob wrapper's `args` is not one hash"))?;
        let arguments = wrapper
            .iter()
            .find(|(k, _)| k == "arguments")
            .map(|(_, v)| *v)
            .ok_or_else(|| unreadable("an ActiveJob wrapper's hash has no `arguments`"))?;
        let items: Vec<&RawValue> = serde_json::from_str(arguments.get())
            .map_err(|_| unreadable("an ActiveJob wrapper's `arguments` is not an array"))?;
        args_object(&items)
    }

    /// Replaces the arguments with jobwire's `args` object `args`, where
    /// they were read from (see [`args_array`]).
    pub(crate) fn set_args(&mut self, args: &str) -> Result<(), Unreadable> {
        let array = args_array(args)?;
        if self.get("wrapped").is_none() {
            self.set("args", array);
            return Ok(());
        }
        let old = self.get("args").unwrap_or("[]").to_owned();
        let items: Vec<&RawValue> = serde_json::from_str(&old)
            .map_err(|_| unreadable("the job's `args` is not an array"))?;
        let wrapper = match items.as_slice() {
            [one] => object(one.get()).ok(),
            _ => None,
        }
        .ok_or_else(|| unreadable("an ActiveJob wrapper's `args` is not one hash"))?;
        let mut written = false;
        let fields: Vec<(&str, &str)> = wrapper
            .iter()
            .map(|(k, v)| {
                if k == "arguments" {
                    written = true;
                    (k.as_ref(), array.as_str())
                } else {
                    (k.as_ref(), v.get())
                }
            })
            .collect();
        let mut hash = write_object(fields.into_iter());
        if !written {
            hash.pop();
            if hash.len() > 1 {
                hash.push(',');
            }
            hash.push_str("\"arguments\":");
            hash.push_str(&array);
            hash.push('}');
        }
        self.set("args", format!("[{hash}]"));
        Ok(())
    }

    /// Attempts made: a failed job carries `retry_count` (0 after the first
    /// failure), so one more than that; none before a failure.
    pub(crate) fn attempts(&self) -> u32 {
        self.number("retry_count")
            .filter(|n| *n >= 0.0)
            .map_or(0, |n| (n as u32).saturating_add(1))
    }

    /// Times deferred without counting an attempt.
    pub(crate) fn defers(&self) -> u32 {
        self.number(DEFERS_KEY)
            .filter(|n| *n >= 0.0)
            .map_or(0, |n| n as u32)
    }

    /// When the queue first saw these bytes: `jobwire_first_seen`, or when
    /// the job was enqueued, or created.
    pub(crate) fn first_seen(&self) -> Option<SystemTime> {
        if let Some(ms) = self.number(FIRST_SEEN_KEY) {
            return from_millis(ms);
        }
        self.enqueued_at()
    }

    /// When it was enqueued (`enqueued_at`, else `created_at`): epoch
    /// seconds as a float up to Sidekiq 7, integer milliseconds from 8.
    pub(crate) fn enqueued_at(&self) -> Option<SystemTime> {
        let at = self
            .number("enqueued_at")
            .or_else(|| self.number("created_at"))?;
        // Milliseconds are told from seconds by size: 10^11 seconds is the
        // year 5138, 10^11 milliseconds is 1973.
        if at >= 1e11 {
            from_millis(at)
        } else {
            from_millis(at * 1000.0)
        }
    }

    /// jobwire's envelope for this job, with `version` when it carries
    /// none.
    pub(crate) fn envelope(&self, default_version: &str) -> Result<Vec<u8>, Unreadable> {
        let name = self.name()?;
        let version = self.version(default_version)?;
        let args = self.args()?;
        let mut out = String::with_capacity(args.len() + name.len() + 96);
        out.push_str("{\"job\":");
        out.push_str(&json_string(&name));
        out.push_str(",\"version\":");
        out.push_str(&json_string(&version));
        out.push_str(",\"args\":");
        out.push_str(&args);
        let mut meta: Vec<(&str, String)> = Vec::new();
        if let Some(jid) = self.jid() {
            meta.push(("id", json_string(&jid)));
        }
        if let Some(at) = self.enqueued_at() {
            meta.push(("enqueued_at", millis(at).to_string()));
        }
        if !meta.is_empty() {
            out.push_str(",\"meta\":");
            out.push_str(&write_object(meta.iter().map(|(k, v)| (*k, v.as_str()))));
        }
        if let Some(progress) = self.get(PROGRESS_KEY) {
            out.push_str(",\"progress\":");
            out.push_str(progress);
        }
        out.push('}');
        Ok(out.into_bytes())
    }

    /// Writes what an envelope with new bytes (a checkpoint, a retry with
    /// progress) says into this job: its arguments, version and progress.
    /// The class, `jid` and every other key stay as they were.
    pub(crate) fn absorb(&mut self, envelope: &[u8]) -> Result<(), Unreadable> {
        let text = std::str::from_utf8(envelope)
            .map_err(|_| unreadable("the new payload is not UTF-8"))?;
        let fields = object(text)
            .map_err(|error| unreadable(format!("the new payload is not an object ({error})")))?;
        let field = |name: &str| fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.get());
        let args = field("args").ok_or_else(|| unreadable("the new payload has no `args`"))?;
        self.set_args(args)?;
        if let Some(version) = field("version") {
            self.set(VERSION_KEY, version.to_owned());
        }
        match field("progress") {
            Some(progress) => self.set(PROGRESS_KEY, progress.to_owned()),
            None => self.remove(PROGRESS_KEY),
        }
        Ok(())
    }
}

/// jobwire's `args` object for Sidekiq's `args` array:
/// - one hash (`perform(params)`, ActiveJob's keyword arguments) is the
///   object itself;
/// - anything else is numbered from `"0"`: `[7, "hi"]` is
///   `{"0": 7, "1": "hi"}`, and a Rust field says `#[serde(rename = "0")]`.
pub(crate) fn args_object(items: &[&RawValue]) -> Result<String, Unreadable> {
    if let [one] = items {
        if one.get().trim_start().starts_with('{') {
            return Ok(one.get().to_owned());
        }
    }
    let numbered: Vec<(String, &str)> = items
        .iter()
        .enumerate()
        .map(|(i, v)| (i.to_string(), v.get()))
        .collect();
    Ok(write_object(numbered.iter().map(|(k, v)| (k.as_str(), *v))))
}

/// Sidekiq's `args` array for jobwire's `args` object, the inverse of
/// [`args_object`]: an object whose keys are exactly `"0"` to `"n-1"` is
/// the array of their values, in that order; any other object is one hash.
pub(crate) fn args_array(args: &str) -> Result<String, Unreadable> {
    let fields = object(args).map_err(|_| unreadable("the arguments are not a JSON object"))?;
    let mut numbered: Vec<Option<&str>> = vec![None; fields.len()];
    let positional = fields.iter().all(|(k, v)| {
        let slot = k
            .parse::<usize>()
            .ok()
            .filter(|i| i.to_string() == k.as_ref())
            .and_then(|i| numbered.get_mut(i));
        match slot {
            Some(slot @ None) => {
                *slot = Some(v.get());
                true
            }
            _ => false,
        }
    });
    if positional && !fields.is_empty() {
        let items: Vec<&str> = numbered.into_iter().flatten().collect();
        return Ok(format!("[{}]", items.join(",")));
    }
    if fields.is_empty() {
        return Ok(String::from("[]"));
    }
    Ok(format!("[{}]", args.trim()))
}

/// Milliseconds since the Unix epoch.
pub(crate) fn millis(at: SystemTime) -> i64 {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Seconds since the Unix epoch, as Sidekiq scores and stamps times.
pub(crate) fn seconds(at: SystemTime) -> f64 {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

fn from_millis(ms: f64) -> Option<SystemTime> {
    if ms.is_finite() && (0.0..1e15).contains(&ms) {
        Some(SystemTime::UNIX_EPOCH + Duration::from_millis(ms as u64))
    } else {
        None
    }
}

/// The job name and version an envelope names, for a fresh Sidekiq job.
#[derive(Deserialize)]
struct Head<'a> {
    #[serde(borrow)]
    job: Cow<'a, str>,
    #[serde(borrow)]
    version: Cow<'a, str>,
    #[serde(borrow)]
    args: &'a RawValue,
    #[serde(default, borrow)]
    meta: Option<&'a RawValue>,
    #[serde(default, borrow)]
    progress: Option<&'a RawValue>,
}

/// A fresh Sidekiq job for jobwire's envelope: what a Ruby `perform_async`
/// would have written, with the version stamped. `jid` is the envelope's
/// `meta.id` if it has one, else `fallback_jid`.
pub(crate) fn from_envelope(
    envelope: &[u8],
    queue: &str,
    now: SystemTime,
    at: Option<SystemTime>,
    fallback_jid: &str,
) -> Result<String, Unreadable> {
    let text = std::str::from_utf8(envelope).map_err(|_| unreadable("the payload is not UTF-8"))?;
    let head: Head<'_> = serde_json::from_str(text).map_err(|error| {
        unreadable(format!(
            "the payload is not jobwire's envelope ({error}); seal it with `Producer`"
        ))
    })?;
    let jid = head
        .meta
        .and_then(|meta| {
            #[derive(Deserialize)]
            struct Id {
                id: Option<String>,
            }
            serde_json::from_str::<Id>(meta.get()).ok()?.id
        })
        .unwrap_or_else(|| fallback_jid.to_owned());
    let now_s = seconds(now).to_string();
    let args = args_array(head.args.get())?;
    let mut fields: Vec<(&str, String)> = vec![
        ("class", json_string(&head.job)),
        ("args", args),
        ("queue", json_string(queue)),
        ("jid", json_string(&jid)),
        ("retry", String::from("true")),
        ("created_at", now_s.clone()),
        (VERSION_KEY, json_string(&head.version)),
    ];
    match at {
        Some(at) => fields.push(("at", seconds(at).to_string())),
        None => fields.push(("enqueued_at", now_s)),
    }
    if let Some(progress) = head.progress {
        fields.push((PROGRESS_KEY, progress.get().to_owned()));
    }
    Ok(write_object(fields.iter().map(|(k, v)| (*k, v.as_str()))))
}

/// The dead-letter entry for bytes that are not a Sidekiq job: a job
/// Sidekiq's Web UI can show, keeping the bytes under `jobwire_raw` (or
/// `jobwire_raw_hex` when they are not UTF-8).
pub(crate) fn unreadable_entry(bytes: &[u8], queue: &str, jid: &str) -> String {
    let raw = match std::str::from_utf8(bytes) {
        Ok(text) => (RAW_KEY, json_string(text)),
        Err(_) => {
            let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            (RAW_HEX_KEY, json_string(&hex))
        }
    };
    let fields: Vec<(&str, String)> = vec![
        ("class", json_string("Jobwire::Unreadable")),
        ("args", String::from("[]")),
        ("queue", json_string(queue)),
        ("jid", json_string(jid)),
        ("retry", String::from("false")),
        raw,
    ];
    write_object(fields.iter().map(|(k, v)| (*k, v.as_str())))
}

/// The bytes a dead-letter entry stands for: the kept bytes of an
/// unreadable payload, or the job itself.
pub(crate) fn dead_bytes(entry: &[u8]) -> Vec<u8> {
    if let Ok(job) = SidekiqJob::parse(entry) {
        if job.string("class").as_deref() == Some("Jobwire::Unreadable") {
            if let Some(raw) = job.string(RAW_KEY) {
                return raw.into_bytes();
            }
            if let Some(hex) = job.string(RAW_HEX_KEY) {
                let bytes: Option<Vec<u8>> = (0..hex.len())
                    .step_by(2)
                    .map(|i| {
                        hex.get(i..i + 2)
                            .and_then(|pair| u8::from_str_radix(pair, 16).ok())
                    })
                    .collect();
                if let Some(bytes) = bytes {
                    return bytes;
                }
            }
        }
    }
    entry.to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::Strategy as _;

    fn job(text: &str) -> SidekiqJob<'_> {
        match SidekiqJob::parse(text.as_bytes()) {
            Ok(job) => job,
            Err(error) => panic!("{error}"),
        }
    }

    #[test]
    fn positional_arguments_are_numbered_and_come_back_in_order() {
        let j = job(r#"{"class":"InvoiceJob","args":[7,"hi"],"jid":"abc"}"#);
        assert_eq!(j.args().ok().as_deref(), Some(r#"{"0":7,"1":"hi"}"#));
        assert_eq!(
            args_array(r#"{"1":"hi","0":7}"#).ok().as_deref(),
            Some(r#"[7,"hi"]"#)
        );
    }

    #[test]
    fn one_hash_is_the_arguments_and_goes_back_as_one_hash() {
        let j = job(r#"{"class":"A","args":[{"id":1}]}"#);
        assert_eq!(j.args().ok().as_deref(), Some(r#"{"id":1}"#));
        assert_eq!(
            args_array(r#"{"id":1}"#).ok().as_deref(),
            Some(r#"[{"id":1}]"#)
        );
        assert_eq!(args_array("{}").ok().as_deref(), Some("[]"));
        assert_eq!(
            args_array(r#"{"0":1,"2":3}"#).ok().as_deref(),
            Some(r#"[{"0":1,"2":3}]"#)
        );
    }

    #[test]
    fn active_job_arguments_are_read_and_written_back_inside_the_wrapper() {
        let text = r#"{"class":"Sidekiq::ActiveJob::Wrapper","wrapped":"Mailer","args":[{"job_class":"Mailer","arguments":[{"id":5,"_aj_symbol_keys":["id"]}],"locale":"en"}]}"#;
        let mut j = job(text);
        assert_eq!(j.name().ok().as_deref(), Some("Mailer"));
        assert_eq!(
            j.args().ok().as_deref(),
            Some(r#"{"id":5,"_aj_symbol_keys":["id"]}"#)
        );
        assert!(j.set_args(r#"{"id":6,"_aj_symbol_keys":["id"]}"#).is_ok());
        assert_eq!(
            j.to_json(),
            r#"{"class":"Sidekiq::ActiveJob::Wrapper","wrapped":"Mailer","args":[{"job_class":"Mailer","arguments":[{"id":6,"_aj_symbol_keys":["id"]}],"locale":"en"}]}"#
        );
    }

    #[test]
    fn the_envelope_names_class_version_and_jid() {
        let j = job(
            r#"{"class":"InvoiceJob","args":[7],"jid":"j1","jobwire_version":"2.1.0","enqueued_at":1700000000.5}"#,
        );
        let envelope = j.envelope("1.0.0").unwrap_or_default();
        assert_eq!(
            String::from_utf8_lossy(&envelope),
            r#"{"job":"InvoiceJob","version":"2.1.0","args":{"0":7},"meta":{"id":"j1","enqueued_at":1700000000500}}"#
        );
        let unversioned = job(r#"{"class":"InvoiceJob","args":[]}"#);
        let envelope = unversioned.envelope("1.0.0").unwrap_or_default();
        assert_eq!(
            String::from_utf8_lossy(&envelope),
            r#"{"job":"InvoiceJob","version":"1.0.0","args":{}}"#
        );
    }

    #[test]
    fn an_edit_keeps_every_other_byte() {
        let text =
            r#"{"class":"A",  "args":[1], "created_at":1700000000.4801655,"x":{"b":1, "a":2}}"#;
        let mut j = job(text);
        j.set("retry_count", "0".into());
        assert_eq!(
            j.to_json(),
            r#"{"class":"A","args":[1],"created_at":1700000000.4801655,"x":{"b":1, "a":2},"retry_count":0}"#
        );
        assert_eq!(j.attempts(), 1);
    }

    #[test]
    fn what_is_not_a_job_is_named() {
        for (bytes, reason) in [
            (&b"[1]"[..], "not a JSON object"),
            (b"\xff", "not UTF-8"),
            (br#"{"args":[]}"#, "no `class`"),
            (br#"{"class":"A","args":{}}"#, "not an array"),
            (br#"{"class":"A","args":[],"class":"B"}"#, "more than once"),
            (br#"{"class":7,"args":[]}"#, "not a string"),
        ] {
            let got = SidekiqJob::parse(bytes).and_then(|j| j.envelope("1.0.0"));
            match got {
                Err(Unreadable(text)) => assert!(text.contains(reason), "{text}"),
                Ok(_) => panic!("{bytes:?} was read"),
            }
        }
    }

    proptest::proptest! {
        /// Whatever bytes sit in a queue, reading them as a job and as an
        /// envelope answers, and never panics.
        #[test]
        fn any_bytes_are_read_or_refused(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256)) {
            let _ = SidekiqJob::parse(&bytes).and_then(|job| job.envelope("1.0.0"));
            let _ = dead_bytes(&bytes);
        }

        /// Mutations of a real job: read or refused, never a panic, and an
        /// envelope that jobwire's own reader takes whole or refuses.
        #[test]
        fn mutated_jobs_are_read_or_refused(at in 0usize..160, byte in proptest::prelude::any::<u8>()) {
            let mut bytes = br#"{"class":"A","wrapped":"B","args":[{"arguments":[1,{"k":"v"}]}],"jid":"x","enqueued_at":1700000000.5,"jobwire_version":"1.2.0"}"#.to_vec();
            if let Some(slot) = bytes.get_mut(at) {
                *slot = byte;
            }
            if let Ok(envelope) = SidekiqJob::parse(&bytes).and_then(|job| job.envelope("1.0.0")) {
                let _ = crate::wire::Header::read(&envelope);
            }
        }

        /// Positional arguments come back as they went, in order.
        #[test]
        fn positional_arguments_round_trip(items in proptest::collection::vec(
            proptest::prop_oneof![
                proptest::prelude::any::<i64>().prop_map(|n| n.to_string()),
                "[a-z ]{0,8}".prop_map(|s: String| json_string(&s)),
                proptest::prelude::Just(String::from("null")),
            ],
            0..6,
        )) {
            let array = format!("[{}]", items.join(","));
            let raw: Vec<&RawValue> = serde_json::from_str(&array).map_err(|e| proptest::test_runner::TestCaseError::fail(e.to_string()))?;
            let object = args_object(&raw).map_err(|e| proptest::test_runner::TestCaseError::fail(e.0))?;
            let back = args_array(&object).map_err(|e| proptest::test_runner::TestCaseError::fail(e.0))?;
            proptest::prop_assert_eq!(back, array);
        }
    }

    #[test]
    fn unreadable_bytes_are_kept_in_their_entry() {
        for bytes in [&b"not json"[..], b"\xff\x00garbage"] {
            let entry = unreadable_entry(bytes, "default", "x");
            assert_eq!(dead_bytes(entry.as_bytes()), bytes);
        }
    }
}

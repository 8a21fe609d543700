//! The envelope's optional metadata: `meta`.

use crate::wire::decode::Text;
use serde::de::{DeserializeSeed, Deserializer, MapAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::fmt;

/// Optional metadata carried beside a job's arguments: the envelope's `meta`.
///
/// When read from a payload, strings borrow from it: reading metadata does
/// not allocate unless a string contains escapes. [`Meta::into_owned`] makes
/// a copy that outlives the payload.
///
/// ```
/// use jobwire::wire::Meta;
///
/// let meta = Meta::new()
///     .with_id("job-7")
///     .with_enqueued_at(1_764_000_000_000)
///     .with_header("traceparent", "00-abc-def-01");
/// assert_eq!(meta.id(), Some("job-7"));
/// assert_eq!(meta.headers().get("traceparent").as_deref(), Some("00-abc-def-01"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Meta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    enqueued_at: Option<u64>,
    #[serde(skip_serializing_if = "is_zero")]
    attempt: u32,
    #[serde(skip_serializing_if = "is_zero")]
    defers: u32,
    #[serde(skip_serializing_if = "Headers::is_empty")]
    headers: Headers<'a>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl<'a> Meta<'a> {
    /// Empty metadata.
    ///
    /// ```
    /// assert!(jobwire::wire::Meta::new().is_empty());
    /// ```
    pub fn new() -> Self {
        Meta::default()
    }

    /// Sets the job id, any string unique to this job (a UUID, a ULID).
    ///
    /// ```
    /// assert_eq!(jobwire::wire::Meta::new().with_id("a").id(), Some("a"));
    /// ```
    pub fn with_id(mut self, id: impl Into<Cow<'a, str>>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// Sets the enqueue time, in milliseconds since the Unix epoch (UTC).
    ///
    /// ```
    /// assert_eq!(jobwire::wire::Meta::new().with_enqueued_at(5).enqueued_at(), Some(5));
    /// ```
    pub fn with_enqueued_at(mut self, unix_millis: u64) -> Self {
        self.enqueued_at = Some(unix_millis);
        self
    }

    /// Sets the number of attempts already made.
    ///
    /// ```
    /// assert_eq!(jobwire::wire::Meta::new().with_attempt(2).attempt(), 2);
    /// ```
    pub fn with_attempt(mut self, attempt: u32) -> Self {
        self.attempt = attempt;
        self
    }

    /// Sets the number of times the payload was put off without counting an
    /// attempt: deferred for another release, snoozed, or interrupted.
    ///
    /// ```
    /// assert_eq!(jobwire::wire::Meta::new().with_defers(4).defers(), 4);
    /// ```
    pub fn with_defers(mut self, defers: u32) -> Self {
        self.defers = defers;
        self
    }

    /// Adds a header, such as trace context.
    ///
    /// ```
    /// let meta = jobwire::wire::Meta::new().with_header("tenant", "acme");
    /// assert_eq!(meta.headers().get("tenant").as_deref(), Some("acme"));
    /// ```
    pub fn with_header(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.insert(key.into(), value.into());
        self
    }

    /// The job id, if the producer set one.
    ///
    /// ```
    /// assert_eq!(jobwire::wire::Meta::new().id(), None);
    /// ```
    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    /// The enqueue time in milliseconds since the Unix epoch, if set.
    ///
    /// ```
    /// assert_eq!(jobwire::wire::Meta::new().enqueued_at(), None);
    /// ```
    pub fn enqueued_at(&self) -> Option<u64> {
        self.enqueued_at
    }

    /// The number of attempts already made; 0 when not set.
    ///
    /// ```
    /// assert_eq!(jobwire::wire::Meta::new().attempt(), 0);
    /// ```
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// How many times the payload was put off without counting an attempt;
    /// 0 when not set.
    ///
    /// ```
    /// assert_eq!(jobwire::wire::Meta::new().defers(), 0);
    /// ```
    pub fn defers(&self) -> u32 {
        self.defers
    }

    /// The headers.
    ///
    /// ```
    /// assert!(jobwire::wire::Meta::new().headers().is_empty());
    /// ```
    pub fn headers(&self) -> &Headers<'a> {
        &self.headers
    }

    /// A copy that owns its strings, so it outlives the payload.
    ///
    /// ```
    /// let owned: jobwire::wire::Meta<'static> = {
    ///     let id = String::from("j-1");
    ///     jobwire::wire::Meta::new().with_id(id.as_str()).into_owned()
    /// };
    /// assert_eq!(owned.id(), Some("j-1"));
    /// ```
    pub fn into_owned(self) -> Meta<'static> {
        Meta {
            id: self.id.map(|id| Cow::Owned(id.into_owned())),
            enqueued_at: self.enqueued_at,
            attempt: self.attempt,
            defers: self.defers,
            headers: self.headers.into_owned(),
        }
    }

    pub(crate) fn set_id(&mut self, id: Option<Cow<'a, str>>) {
        self.id = id;
    }

    pub(crate) fn set_enqueued_at(&mut self, unix_millis: Option<u64>) {
        self.enqueued_at = unix_millis;
    }

    pub(crate) fn set_attempt(&mut self, attempt: u32) {
        self.attempt = attempt;
    }

    pub(crate) fn set_defers(&mut self, defers: u32) {
        self.defers = defers;
    }

    /// Keeps the headers as read, after checking they are an object of
    /// strings, so a bad payload is rejected at dispatch and not half-way
    /// through a handler.
    pub(crate) fn set_raw_headers(&mut self, raw: &'a str) -> Result<(), serde_json::Error> {
        serde_json::from_str::<Check>(raw)?;
        self.headers.raw = Some(Cow::Borrowed(raw));
        Ok(())
    }

    /// Whether no field is set, in which case no `meta` is written.
    ///
    /// ```
    /// assert!(!jobwire::wire::Meta::new().with_attempt(1).is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.id.is_none()
            && self.enqueued_at.is_none()
            && self.attempt == 0
            && self.defers == 0
            && self.headers.is_empty()
    }
}

/// Free-form string headers: trace context, tenant, anything a producer wants
/// a worker to see.
///
/// Read from a payload, headers stay as the raw JSON text, checked once to be
/// an object of strings and searched on demand, so carrying them costs no
/// allocation.
///
/// ```
/// let meta = jobwire::wire::Meta::new().with_header("a", "1").with_header("b", "2");
/// let pairs: Vec<_> = meta.headers().iter().collect();
/// assert_eq!(pairs.len(), 2);
/// assert_eq!(meta.headers().get("b").as_deref(), Some("2"));
/// ```
#[derive(Clone, Default)]
pub struct Headers<'a> {
    /// The JSON object, as read or as written by `with_header`, checked to
    /// hold only strings: one field, so that metadata stays small.
    raw: Option<Cow<'a, str>>,
}

impl Headers<'_> {
    /// The value of `key`, if present.
    ///
    /// ```
    /// assert_eq!(jobwire::wire::Meta::new().headers().get("x"), None);
    /// ```
    pub fn get(&self, key: &str) -> Option<Cow<'_, str>> {
        let raw = self.raw.as_deref()?;
        let mut found = None;
        let mut deserializer = serde_json::Deserializer::from_str(raw);
        // The raw text was checked when it was read; a failure finds nothing.
        Find {
            key,
            found: &mut found,
        }
        .deserialize(&mut deserializer)
        .ok()?;
        found
    }

    /// Every header, in the order written.
    ///
    /// ```
    /// assert_eq!(jobwire::wire::Meta::new().headers().iter().count(), 0);
    /// ```
    pub fn iter(&self) -> impl Iterator<Item = (Cow<'_, str>, Cow<'_, str>)> + '_ {
        // The raw text was checked to be an object of strings when it was
        // read or written, so this parse cannot fail; if it somehow did, no
        // pairs show.
        self.raw
            .as_deref()
            .and_then(|raw| serde_json::from_str::<Pairs<'_>>(raw).ok())
            .map(|pairs| pairs.0)
            .unwrap_or_default()
            .into_iter()
    }

    /// Whether there are no headers.
    ///
    /// ```
    /// assert!(jobwire::wire::Meta::new().headers().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.raw
            .as_deref()
            .is_none_or(|raw| raw.bytes().filter(|b| !b.is_ascii_whitespace()).eq(*b"{}"))
    }

    fn into_owned(self) -> Headers<'static> {
        Headers {
            raw: self.raw.map(|raw| Cow::Owned(raw.into_owned())),
        }
    }

    /// Sets `key` to `value`, keeping the order of the others.
    fn insert(&mut self, key: String, value: String) {
        let mut pairs: Vec<(String, String)> = self
            .iter()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        match pairs.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => pairs.push((key, value)),
        }
        let mut json = String::from("{");
        for (i, (k, v)) in pairs.iter().enumerate() {
            if i > 0 {
                json.push(',');
            }
            // Strings always serialize.
            json.push_str(&serde_json::to_string(k).unwrap_or_default());
            json.push(':');
            json.push_str(&serde_json::to_string(v).unwrap_or_default());
        }
        json.push('}');
        self.raw = Some(Cow::Owned(json));
    }
}

impl fmt::Debug for Headers<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl PartialEq for Headers<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for Headers<'_> {}

impl Serialize for Headers<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        for (key, value) in self.iter() {
            map.serialize_entry(&key, &value)?;
        }
        map.end()
    }
}

/// Finds one header in the raw text, borrowing its value where it can.
struct Find<'k, 'f, 'a> {
    key: &'k str,
    found: &'f mut Option<Cow<'a, str>>,
}

impl<'de: 'a, 'a> DeserializeSeed<'de> for Find<'_, '_, 'a> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de: 'a, 'a> Visitor<'de> for Find<'_, '_, 'a> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object of strings")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some((key, value)) = map.next_entry::<Text<'de>, Text<'de>>()? {
            if key.0 == self.key {
                *self.found = Some(value.0);
            }
        }
        Ok(())
    }
}

/// Checks that a map holds only strings, without keeping them.
struct Check;

impl<'de> Deserialize<'de> for Check {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct CheckVisitor;
        impl<'de> Visitor<'de> for CheckVisitor {
            type Value = Check;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of strings")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Check, A::Error> {
                while map.next_entry::<Text<'de>, Text<'de>>()?.is_some() {}
                Ok(Check)
            }
        }
        deserializer.deserialize_map(CheckVisitor)
    }
}

/// Collects a map of strings into pairs, borrowing where it can.
struct Pairs<'a>(Vec<(Cow<'a, str>, Cow<'a, str>)>);

impl<'de> Deserialize<'de> for Pairs<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PairsVisitor;
        impl<'de> Visitor<'de> for PairsVisitor {
            type Value = Pairs<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of strings")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Pairs<'de>, A::Error> {
                let mut pairs = Vec::new();
                while let Some((key, value)) = map.next_entry::<Text<'de>, Text<'de>>()? {
                    pairs.push((key.0, value.0));
                }
                Ok(Pairs(pairs))
            }
        }
        deserializer.deserialize_map(PairsVisitor)
    }
}

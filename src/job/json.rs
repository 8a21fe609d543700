//! JSON-level upcasts, for lines whose Rust type has been deleted.

use crate::job::error::{guarded, Step};
use crate::job::history::{ChainError, History, LinkInfo, Never, NoPrevious};
use crate::shape::Shape;
use crate::wire::scan::Scan;
use crate::wire::{skip_value, Line};
use crate::UpcastError;
use semver::Version;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::borrow::Cow;
use std::collections::hash_map::RandomState;
use std::collections::HashSet;
use std::fmt;
use std::hash::BuildHasher;
use std::marker::PhantomData;

/// A previous line whose Rust type has been deleted: the upcaster edits the
/// arguments as JSON. Use it as `Previous = Json<Marker>`, where `Marker`
/// implements `JsonUpcast`.
///
/// The upcaster sees the arguments' top-level fields as [`JsonArgs`]; a field
/// is parsed only if the upcaster reads it. The fields it does not touch stay
/// the JSON text they were, so they follow the same rules as on a typed line:
/// an unknown field is skipped at any depth, a huge number in it is never
/// parsed, and a key written twice is rejected.
///
/// ```
/// use jobwire::{Json, JsonArgs, JsonUpcast, NoPrevious, Upcast, UpcastError};
/// use semver::Version;
/// use serde::{Deserialize, Serialize};
///
/// /// 0.x, whose type is long gone, called the field `text`.
/// enum ResizeV0 {}
///
/// impl JsonUpcast for ResizeV0 {
///     const VERSION: Version = Version::new(0, 9, 0);
///     type Previous = NoPrevious;
///     fn upcast(args: &mut JsonArgs<'_>) -> Result<(), UpcastError> {
///         if !args.rename("text", "caption") {
///             return Err(UpcastError::new("0.x arguments have no `text`"));
///         }
///         Ok(())
///     }
/// }
///
/// #[derive(Serialize, Deserialize)]
/// struct ResizeV1 { caption: String }
///
/// impl Upcast for ResizeV1 {
///     const VERSION: Version = Version::new(1, 0, 0);
///     type Next = ResizeV1; // for the example: a real job's Next is the job
///     type Previous = Json<ResizeV0>;
///     fn upcast(self) -> Result<ResizeV1, UpcastError> { Ok(self) }
/// }
/// ```
pub trait JsonUpcast: 'static {
    /// The newest version of the deleted line.
    const VERSION: Version;
    /// The line before this one: [`NoPrevious`] or another `Json<_>`.
    type Previous: JsonHistory;
    /// Rewrites the arguments of this line into the next line's arguments.
    fn upcast(args: &mut JsonArgs<'_>) -> Result<(), UpcastError>;
}

/// The arguments of a JSON-level line: their top-level fields, in order, each
/// kept as the JSON text it was written as until a [`JsonUpcast`] reads or
/// replaces it.
///
/// ```
/// use jobwire::JsonArgs;
/// let mut args = JsonArgs::parse(r#"{"uid": 7, "deep": {"a": [1, 2, 1e400]}}"#)?;
/// assert_eq!(args.get::<u64>("uid")?, Some(7));
/// args.rename("uid", "user_id");
/// args.insert("message", &"hello")?;
/// assert_eq!(args.to_json(), r#"{"user_id":7,"deep":{"a": [1, 2, 1e400]},"message":"hello"}"#);
/// # Ok::<(), jobwire::UpcastError>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct JsonArgs<'a> {
    fields: Vec<(Cow<'a, str>, Cow<'a, str>)>,
}

impl<'a> JsonArgs<'a> {
    /// Reads a JSON object's top-level fields without parsing their values
    /// (they are only checked to be JSON). A key written twice is an error.
    ///
    /// ```
    /// assert!(jobwire::JsonArgs::parse(r#"{"a":1,"a":2}"#).is_err());
    /// assert!(jobwire::JsonArgs::parse(r#"[1]"#).is_err());
    /// ```
    pub fn parse(text: &'a str) -> Result<Self, UpcastError> {
        JsonArgs::read(text)
            .map(|(args, _)| args)
            .map_err(|error| match error {
                ChainError::Json { message, .. } => UpcastError::new(message),
                other => UpcastError::new(format!("{other:?}")),
            })
    }

    /// Reads the object at the start of `text`, returning the bytes it took.
    /// Its syntax is checked by the same skipper that checks it on a typed
    /// line, first, so a syntax error is reported the same way; what fails
    /// after that (a key written twice, a key serde cannot read) is
    /// arguments that do not fit, as on a typed line.
    pub(crate) fn read(text: &'a str) -> Result<(Self, usize), ChainError> {
        let fail = |message: String, at: usize, syntax: bool| ChainError::Json {
            message,
            at,
            syntax,
        };
        let start = crate::wire::whitespace(text.as_bytes(), 0);
        if text.as_bytes().get(start) != Some(&b'{') {
            return Err(fail("`args` must be a JSON object".to_owned(), start, true));
        }
        // What went wrong, as the skipper says it: the same words and place
        // as on a typed line, whatever the key order.
        let syntax = || match skip_value(text.as_bytes(), start) {
            Err(error) => fail(error.message.to_owned(), error.at, true),
            Ok(_) => fail("expected a key".to_owned(), start, true),
        };
        let mut scan = Scan::open(text).map_err(|_| syntax())?;
        let mut fields: Vec<(Cow<'a, str>, Cow<'a, str>)> = Vec::with_capacity(8);
        let mut seen = Seen::default();
        let mut first = true;
        loop {
            let at = crate::wire::whitespace(text.as_bytes(), scan.pos);
            let key = match scan.object_key(&mut first) {
                Ok(Some((key, _))) => key,
                Ok(None) => break,
                Err(error) => {
                    // A key serde cannot read (a lone surrogate) is arguments
                    // that do not fit; anything else is a syntax error.
                    if skip_value(text.as_bytes(), start).is_ok() {
                        let message = match *error {
                            crate::RejectError::Malformed { message, .. } => message,
                            other => other.to_string(),
                        };
                        return Err(fail(message, at, false));
                    }
                    return Err(syntax());
                }
            };
            if seen.repeats(&fields, &key) {
                // Report a syntax error further on first, as a typed line would.
                if skip_value(text.as_bytes(), start).is_err() {
                    return Err(syntax());
                }
                return Err(fail(
                    format!("duplicate field `{}`", crate::wire::quote(&key)),
                    at,
                    false,
                ));
            }
            let value = scan.pos;
            let after = skip_value(text.as_bytes(), value).map_err(|_| syntax())?;
            scan.pos = after;
            fields.push((
                key,
                Cow::Borrowed(text.get(value..after).unwrap_or_default()),
            ));
        }
        Ok((JsonArgs { fields }, scan.pos))
    }

    /// Whether the field is present.
    ///
    /// ```
    /// let args = jobwire::JsonArgs::parse(r#"{"a":null}"#)?;
    /// assert!(args.contains("a") && !args.contains("b"));
    /// # Ok::<(), jobwire::UpcastError>(())
    /// ```
    pub fn contains(&self, key: &str) -> bool {
        self.position(key).is_some()
    }

    /// The field's JSON text, as written.
    ///
    /// ```
    /// let args = jobwire::JsonArgs::parse(r#"{"a": [1, 2]}"#)?;
    /// assert_eq!(args.raw("a"), Some("[1, 2]"));
    /// # Ok::<(), jobwire::UpcastError>(())
    /// ```
    pub fn raw(&self, key: &str) -> Option<&str> {
        self.position(key)
            .and_then(|i| self.fields.get(i))
            .map(|(_, raw)| raw.as_ref())
    }

    /// The field, parsed as `T`; `None` when absent.
    ///
    /// ```
    /// let args = jobwire::JsonArgs::parse(r#"{"n": "x"}"#)?;
    /// assert!(args.get::<u32>("n").is_err());
    /// assert_eq!(args.get::<String>("n")?, Some("x".to_owned()));
    /// # Ok::<(), jobwire::UpcastError>(())
    /// ```
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, UpcastError> {
        match self.raw(key) {
            Some(raw) => serde_json::from_str(raw)
                .map(Some)
                .map_err(|e| UpcastError::new(format!("field `{key}`: {e}"))),
            None => Ok(None),
        }
    }

    /// Removes the field, returning it parsed as `T`; `None` when absent.
    ///
    /// ```
    /// let mut args = jobwire::JsonArgs::parse(r#"{"n": 3, "m": 4}"#)?;
    /// assert_eq!(args.take::<u8>("n")?, Some(3));
    /// assert_eq!(args.to_json(), r#"{"m":4}"#);
    /// # Ok::<(), jobwire::UpcastError>(())
    /// ```
    pub fn take<T: DeserializeOwned>(&mut self, key: &str) -> Result<Option<T>, UpcastError> {
        let value = self.get(key)?;
        self.remove(key);
        Ok(value)
    }

    /// Removes the field; whether it was there.
    ///
    /// ```
    /// let mut args = jobwire::JsonArgs::parse(r#"{"n": 3}"#)?;
    /// assert!(args.remove("n") && !args.remove("n"));
    /// # Ok::<(), jobwire::UpcastError>(())
    /// ```
    pub fn remove(&mut self, key: &str) -> bool {
        match self.position(key) {
            Some(i) => {
                self.fields.remove(i);
                true
            }
            None => false,
        }
    }

    /// Renames the field, keeping its text; whether it was there. A field
    /// already under the new name is replaced.
    ///
    /// ```
    /// let mut args = jobwire::JsonArgs::parse(r#"{"uid": 3}"#)?;
    /// assert!(args.rename("uid", "id"));
    /// assert_eq!(args.raw("id"), Some("3"));
    /// # Ok::<(), jobwire::UpcastError>(())
    /// ```
    pub fn rename(&mut self, from: &str, to: impl Into<String>) -> bool {
        let to = to.into();
        let Some(i) = self.position(from) else {
            return false;
        };
        // Any other field already under the new name goes.
        let mut index = 0;
        self.fields.retain(|(key, _)| {
            let keep = index == i || *key != to.as_str();
            index += 1;
            keep
        });
        if let Some(field) = self.fields.iter_mut().find(|(key, _)| key == from) {
            field.0 = Cow::Owned(to);
        }
        true
    }

    /// Sets the field to `value`, replacing any field of that name.
    ///
    /// ```
    /// let mut args = jobwire::JsonArgs::parse(r#"{}"#)?;
    /// args.insert("tags", &["a", "b"])?;
    /// assert_eq!(args.to_json(), r#"{"tags":["a","b"]}"#);
    /// # Ok::<(), jobwire::UpcastError>(())
    /// ```
    pub fn insert<T: Serialize + ?Sized>(
        &mut self,
        key: impl Into<String>,
        value: &T,
    ) -> Result<(), UpcastError> {
        let key = key.into();
        let text = serde_json::to_string(value)?;
        match self.position(&key) {
            Some(i) => {
                if let Some(field) = self.fields.get_mut(i) {
                    field.1 = Cow::Owned(text);
                }
            }
            None => self.fields.push((Cow::Owned(key), Cow::Owned(text))),
        }
        Ok(())
    }

    /// The field names, in order.
    ///
    /// ```
    /// let args = jobwire::JsonArgs::parse(r#"{"b":1,"a":2}"#)?;
    /// assert_eq!(args.keys().collect::<Vec<_>>(), ["b", "a"]);
    /// # Ok::<(), jobwire::UpcastError>(())
    /// ```
    pub fn keys(&self) -> impl Iterator<Item = &str> + '_ {
        self.fields.iter().map(|(k, _)| k.as_ref())
    }

    /// The arguments as one JSON object.
    ///
    /// ```
    /// let args = jobwire::JsonArgs::parse(r#"{ "a" : 1 }"#)?;
    /// assert_eq!(args.to_json(), r#"{"a":1}"#);
    /// # Ok::<(), jobwire::UpcastError>(())
    /// ```
    pub fn to_json(&self) -> String {
        let len: usize = self.fields.iter().map(|(k, v)| k.len() + v.len() + 4).sum();
        let mut out = String::with_capacity(len + 2);
        out.push('{');
        for (i, (key, raw)) in self.fields.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            push_key(&mut out, key);
            out.push(':');
            out.push_str(raw);
        }
        out.push('}');
        out
    }

    fn position(&self, key: &str) -> Option<usize> {
        self.fields.iter().position(|(k, _)| k == key)
    }
}

/// The keys read so far, for the duplicate check: a scan of the few
/// fields of a usual object, and a hash set of the keys beyond that, so a
/// hostile object of 60,000 keys costs linear time, not quadratic.
#[derive(Default)]
struct Seen {
    /// The keys' hashes, and their hasher, built only once the object is
    /// wider than [`Seen::SCAN`]: a usual object pays for neither.
    hashes: Option<(RandomState, HashSet<u64>)>,
}

impl Seen {
    /// Up to this many fields, a linear scan is cheaper than hashing.
    const SCAN: usize = 16;

    /// Whether `key` is among `fields` already; remembers it if not (the
    /// caller pushes it next).
    fn repeats(&mut self, fields: &[(Cow<'_, str>, Cow<'_, str>)], key: &str) -> bool {
        if fields.len() < Self::SCAN {
            return fields.iter().any(|(k, _)| k == key);
        }
        let (state, hashes) = self.hashes.get_or_insert_with(|| {
            let state = RandomState::new();
            let hashes = fields
                .iter()
                .map(|(k, _)| state.hash_one(k.as_ref()))
                .collect();
            (state, hashes)
        });
        // A hash seen before is a repeat or a collision: only then compare
        // the keys themselves.
        !hashes.insert(state.hash_one(key)) && fields.iter().any(|(k, _)| k == key)
    }
}

impl<'de> serde::Deserializer<'de> for &JsonArgs<'de> {
    type Error = serde_json::Error;

    fn deserialize_any<V: serde::de::Visitor<'de>>(
        self,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        visitor.visit_map(Fields {
            fields: self.fields.iter(),
            value: None,
        })
    }

    fn deserialize_option<V: serde::de::Visitor<'de>>(
        self,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: serde::de::Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        visitor.visit_newtype_struct(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct seq tuple tuple_struct map struct enum
        identifier ignored_any
    }
}

/// The fields of [`JsonArgs`], as a serde map: each value parsed from its
/// own text, so the arguments are never written out and read again.
struct Fields<'s, 'de> {
    fields: std::slice::Iter<'s, (Cow<'de, str>, Cow<'de, str>)>,
    value: Option<&'s Cow<'de, str>>,
}

impl<'de> serde::de::MapAccess<'de> for Fields<'_, 'de> {
    type Error = serde_json::Error;

    fn next_key_seed<K: serde::de::DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Self::Error> {
        let Some((key, value)) = self.fields.next() else {
            return Ok(None);
        };
        self.value = Some(value);
        match key {
            Cow::Borrowed(key) => seed
                .deserialize(serde::de::value::BorrowedStrDeserializer::new(key))
                .map(Some),
            Cow::Owned(key) => seed
                .deserialize(serde::de::value::StrDeserializer::new(key))
                .map(Some),
        }
    }

    fn next_value_seed<V: serde::de::DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, Self::Error> {
        let Some(raw) = self.value.take() else {
            return Err(serde::de::Error::custom(
                "a value was asked for before its key",
            ));
        };
        match raw {
            Cow::Borrowed(raw) => {
                let mut de = serde_json::Deserializer::from_str(raw);
                let value = seed.deserialize(&mut de)?;
                de.end()?;
                Ok(value)
            }
            // A value the upcaster wrote owns its text, so it cannot lend
            // it: it goes through a `Value`, and it is small.
            Cow::Owned(raw) => {
                let value: serde_json::Value = serde_json::from_str(raw)?;
                seed.deserialize(value)
            }
        }
    }
}

/// Writes `key` as a JSON string.
fn push_key(out: &mut String, key: &str) {
    if key.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.push('"');
        out.push_str(key);
        out.push('"');
    } else {
        // Escapes: let serde_json write it; a `str` always serializes.
        out.push_str(&serde_json::to_string(key).unwrap_or_else(|_| "\"\"".to_owned()));
    }
}

impl fmt::Debug for JsonArgs<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_json())
    }
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::NoPrevious {}
    impl<M> Sealed for super::Json<M> {}
}

/// The lines before a JSON-level line: [`NoPrevious`] or another
/// [`Json<M>`](Json). It is sealed: its methods are jobwire's own.
///
/// ```
/// fn older<H: jobwire::JsonHistory>() {}
/// older::<jobwire::NoPrevious>();
/// ```
pub trait JsonHistory: sealed::Sealed + 'static {
    /// Decodes a payload on `line` into JSON arguments of the next line.
    #[doc(hidden)]
    fn decode_json<'t>(
        line: Line,
        text: &'t str,
        target: &Version,
        catch: bool,
    ) -> Option<Result<(JsonArgs<'t>, usize), ChainError>>;

    /// Lists the links, newest first.
    #[doc(hidden)]
    #[allow(private_interfaces)]
    fn json_links(out: &mut Vec<LinkInfo>);
}

impl JsonHistory for NoPrevious {
    fn decode_json<'t>(
        _: Line,
        _: &'t str,
        _: &Version,
        _: bool,
    ) -> Option<Result<(JsonArgs<'t>, usize), ChainError>> {
        None
    }

    #[allow(private_interfaces)]
    fn json_links(_: &mut Vec<LinkInfo>) {}
}

impl<M: JsonUpcast> JsonHistory for Json<M> {
    fn decode_json<'t>(
        line: Line,
        text: &'t str,
        target: &Version,
        catch: bool,
    ) -> Option<Result<(JsonArgs<'t>, usize), ChainError>> {
        let read = if line == Line::of(&M::VERSION) {
            JsonArgs::read(text)
        } else {
            M::Previous::decode_json(line, text, &M::VERSION, catch)?
        };
        Some(read.and_then(
            |(mut args, used)| match guarded(catch, || M::upcast(&mut args)) {
                Ok(Ok(())) => Ok((args, used)),
                Ok(Err(error)) => Err(ChainError::Upcast {
                    from: M::VERSION,
                    to: target.clone(),
                    error,
                }),
                Err(message) => Err(ChainError::Panic {
                    step: Step::Upcast {
                        from: M::VERSION,
                        to: target.clone(),
                    },
                    message,
                }),
            },
        ))
    }

    #[allow(private_interfaces)]
    fn json_links(out: &mut Vec<LinkInfo>) {
        out.push(LinkInfo {
            version: M::VERSION,
            shape: json_line_shape,
        });
        M::Previous::json_links(out);
    }
}

/// Marks a [`JsonUpcast`] type as a link of a typed chain: `Previous =
/// Json<Marker>`. See [`JsonUpcast`].
///
/// ```
/// # use jobwire::{Json, JsonArgs, JsonUpcast, NoPrevious, UpcastError};
/// # enum V0 {}
/// # impl JsonUpcast for V0 {
/// #     const VERSION: semver::Version = semver::Version::new(0, 1, 0);
/// #     type Previous = NoPrevious;
/// #     fn upcast(_: &mut JsonArgs<'_>) -> Result<(), UpcastError> { Ok(()) }
/// # }
/// type Previous = Json<V0>;
/// ```
pub struct Json<M>(PhantomData<M>, Never);

impl<M> crate::job::history::sealed::Sealed for Json<M> {}

impl<M: JsonUpcast, T: DeserializeOwned> History<T> for Json<M> {
    fn decode(
        line: Line,
        text: &str,
        target: &Version,
        catch: bool,
    ) -> Option<Result<(T, usize), ChainError>> {
        let decoded = <Json<M> as JsonHistory>::decode_json(line, text, target, catch)?;
        Some(
            decoded.and_then(|(args, used)| match T::deserialize(&args) {
                Ok(next) => Ok((next, used)),
                // The error is about the upcast arguments, not the payload's
                // text: it points at `args`.
                Err(error) => {
                    let mut message = error.to_string();
                    if let Some(cut) = message.rfind(" at line ") {
                        message.truncate(cut);
                    }
                    Err(ChainError::Json {
                        message: format!("after the upcast to {target}: {message}"),
                        at: 0,
                        syntax: false,
                    })
                }
            }),
        )
    }

    #[allow(private_interfaces)]
    fn links(out: &mut Vec<LinkInfo>) {
        <Json<M> as JsonHistory>::json_links(out);
    }
}

/// A line read by a JSON-level upcaster has no type to trace.
fn json_line_shape() -> Shape {
    Shape::Opaque("a JSON-level upcaster reads this line".to_owned())
}

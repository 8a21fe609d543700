//! Shapes: what a job's arguments and an iterable job's cursor look like as
//! JSON, recorded in the manifest so that the deploy check compares shapes,
//! not Rust type names.
//!
//! A [`Shape`] is traced from the `Deserialize` impl a job already has
//! (through `serde-reflection`, feature `shapes`, on by default): no derive
//! or attribute is asked of a job's author. It records what the JSON may
//! hold (field names, which fields may be missing, element and value types,
//! enum variants) and leaves out what JSON does not carry: the Rust names of
//! structs and enums, and the module they live in. A type moved to another
//! module, or renamed, has the same shape.
//!
//! [`Shape::read_by`] answers the deploy's question: can every payload of
//! one shape be read by a type of another? It lists each [`Mismatch`] with
//! its path in the JSON.
//!
//! What a trace cannot see is recorded as [`Shape::Opaque`], with the
//! reason, and the check says it could not compare:
//! - a `Deserialize` that asks for "any" JSON value: `serde_json::Value`,
//!   `#[serde(untagged)]`, `#[serde(flatten)]` and internally tagged enums
//!   (`#[serde(tag = "...")]`);
//! - a `Deserialize` that rejects the trace's sample values (say a string
//!   that must parse as a date): the whole type is then opaque;
//! - `#[serde(alias)]` names, and `#[serde(deny_unknown_fields)]` (jobwire's
//!   own types never deny unknown fields).
//!
//! ```
//! use jobwire::shape::Shape;
//! # #[cfg(feature = "shapes")] {
//! #[derive(serde::Deserialize)]
//! struct Cursor { id: u64, shard: Option<u32> }
//! #[derive(serde::Deserialize)]
//! struct CursorWithoutShard { id: u64 }
//!
//! let new = Shape::of::<Cursor>();
//! let old = Shape::of::<CursorWithoutShard>();
//! assert!(old.read_by(&new).is_empty()); // a missing `shard` reads as None
//! assert!(new.read_by(&old).is_empty()); // and old code ignores it
//! # }
//! ```

mod compare;
#[cfg(feature = "shapes")]
mod trace;

pub use compare::{Mismatch, Problem};

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// What a type reads as JSON: the input of the deploy check's shape rules.
///
/// Its JSON form is stable and diffs well (maps are sorted).
///
/// ```
/// use jobwire::shape::{Field, Shape};
/// let shape: Shape = serde_json::from_str(
///     r#"{"struct": {"id": {"shape": {"integer": "u64"}}, "note": {"shape": "string", "optional": true}}}"#)?;
/// let Shape::Struct(fields) = &shape else { unreachable!() };
/// assert!(!fields["id"].optional);
/// assert_eq!(shape.to_string(), "{id: u64, note?: string}");
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Shape {
    /// `null` only: `()` or a unit struct.
    Null,
    /// `true` or `false`.
    Bool,
    /// An integer, of a Rust width (`"u8"` ... `"i128"`).
    Integer(IntegerKind),
    /// A number: `f32` or `f64`.
    Float,
    /// A one-character string.
    Char,
    /// A string.
    String,
    /// Bytes, written as an array of numbers.
    Bytes,
    /// The value, or `null` (and missing, as a field).
    Option(Box<Shape>),
    /// An array of one element type.
    Array(Box<Shape>),
    /// An array of a fixed length, element by element.
    Tuple(Vec<Shape>),
    /// An object with keys of one shape and values of another.
    Map {
        /// The keys' shape (JSON writes them as strings).
        key: Box<Shape>,
        /// The values' shape.
        value: Box<Shape>,
    },
    /// An object with named fields.
    Struct(BTreeMap<String, Field>),
    /// One of named variants, externally tagged as serde writes them.
    Enum(BTreeMap<String, Variant>),
    /// A type that contains itself, by its serde name: its shape is given
    /// where it first appears.
    Recursive(String),
    /// What the trace could not see, and why.
    Opaque(String),
}

/// One field of a [`Shape::Struct`].
///
/// ```
/// let field = jobwire::shape::Field { shape: jobwire::shape::Shape::Bool, optional: true };
/// assert!(field.optional);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Field {
    /// The value's shape.
    pub shape: Shape,
    /// Whether a payload without the field is read (an `Option`, an
    /// [`Added`](crate::Added), or a `#[serde(default)]`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub optional: bool,
}

/// One variant of a [`Shape::Enum`], as serde writes it in JSON.
///
/// ```
/// let variant = jobwire::shape::Variant::Unit;
/// assert_eq!(serde_json::to_string(&variant)?, r#""unit""#);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Variant {
    /// `"Name"`.
    Unit,
    /// `{"Name": value}`.
    Newtype(Shape),
    /// `{"Name": [a, b]}`.
    Tuple(Vec<Shape>),
    /// `{"Name": {"field": value}}`.
    Struct(BTreeMap<String, Field>),
}

/// The Rust width of a [`Shape::Integer`], which bounds the values a reader
/// accepts.
///
/// ```
/// use jobwire::shape::IntegerKind;
/// assert!(IntegerKind::U32.fits_in(IntegerKind::I64));
/// assert!(!IntegerKind::I8.fits_in(IntegerKind::U64));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[allow(missing_docs)]
pub enum IntegerKind {
    U8,
    U16,
    U32,
    U64,
    U128,
    I8,
    I16,
    I32,
    I64,
    I128,
}

impl IntegerKind {
    /// The smallest and largest value, as `i128` bounds (`u128`'s top is
    /// clamped, which keeps the order).
    fn range(self) -> (i128, i128) {
        match self {
            IntegerKind::U8 => (0, u8::MAX.into()),
            IntegerKind::U16 => (0, u16::MAX.into()),
            IntegerKind::U32 => (0, u32::MAX.into()),
            IntegerKind::U64 => (0, u64::MAX.into()),
            IntegerKind::U128 => (0, i128::MAX),
            IntegerKind::I8 => (i8::MIN.into(), i8::MAX.into()),
            IntegerKind::I16 => (i16::MIN.into(), i16::MAX.into()),
            IntegerKind::I32 => (i32::MIN.into(), i32::MAX.into()),
            IntegerKind::I64 => (i64::MIN.into(), i64::MAX.into()),
            IntegerKind::I128 => (i128::MIN, i128::MAX),
        }
    }

    /// Whether every value of `self` is a value of `wider`.
    ///
    /// ```
    /// assert!(jobwire::shape::IntegerKind::U8.fits_in(jobwire::shape::IntegerKind::U8));
    /// ```
    pub fn fits_in(self, wider: IntegerKind) -> bool {
        let (low, high) = self.range();
        let (wide_low, wide_high) = wider.range();
        wide_low <= low && high <= wide_high
    }

    fn name(self) -> &'static str {
        match self {
            IntegerKind::U8 => "u8",
            IntegerKind::U16 => "u16",
            IntegerKind::U32 => "u32",
            IntegerKind::U64 => "u64",
            IntegerKind::U128 => "u128",
            IntegerKind::I8 => "i8",
            IntegerKind::I16 => "i16",
            IntegerKind::I32 => "i32",
            IntegerKind::I64 => "i64",
            IntegerKind::I128 => "i128",
        }
    }
}

impl Shape {
    /// The shape of `T`, traced from its `Deserialize` impl; without the
    /// `shapes` feature, [`Shape::Opaque`].
    ///
    /// ```
    /// use jobwire::shape::Shape;
    /// # #[cfg(feature = "shapes")]
    /// assert_eq!(Shape::of::<Vec<u8>>().to_string(), "[u8]");
    /// assert!(matches!(Shape::of::<serde_json::Value>(), Shape::Opaque(_)));
    /// ```
    pub fn of<T: serde::de::DeserializeOwned>() -> Shape {
        #[cfg(feature = "shapes")]
        {
            trace::trace::<T>()
        }
        #[cfg(not(feature = "shapes"))]
        {
            Shape::Opaque("jobwire was built without its `shapes` feature".to_owned())
        }
    }

    /// Whether the trace saw this shape whole: no [`Shape::Opaque`] in it.
    ///
    /// ```
    /// assert!(jobwire::shape::Shape::Bool.is_known());
    /// assert!(!jobwire::shape::Shape::Opaque("any".into()).is_known());
    /// ```
    pub fn is_known(&self) -> bool {
        let fields_known =
            |fields: &BTreeMap<String, Field>| fields.values().all(|f| f.shape.is_known());
        match self {
            Shape::Opaque(_) => false,
            Shape::Option(inner) | Shape::Array(inner) => inner.is_known(),
            Shape::Tuple(items) => items.iter().all(Shape::is_known),
            Shape::Map { key, value } => key.is_known() && value.is_known(),
            Shape::Struct(fields) => fields_known(fields),
            Shape::Enum(variants) => variants.values().all(|v| match v {
                Variant::Unit => true,
                Variant::Newtype(shape) => shape.is_known(),
                Variant::Tuple(items) => items.iter().all(Shape::is_known),
                Variant::Struct(fields) => fields_known(fields),
            }),
            _ => true,
        }
    }
}

fn write_fields(f: &mut fmt::Formatter<'_>, fields: &BTreeMap<String, Field>) -> fmt::Result {
    f.write_str("{")?;
    for (i, (name, field)) in fields.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        let mark = if field.optional { "?" } else { "" };
        write!(f, "{name}{mark}: {}", field.shape)?;
    }
    f.write_str("}")
}

fn write_list(f: &mut fmt::Formatter<'_>, items: &[Shape]) -> fmt::Result {
    f.write_str("(")?;
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{item}")?;
    }
    f.write_str(")")
}

/// A compact, TypeScript-like rendering for messages: `{id: u64, note?:
/// string}`, `[u8]`, `A | B(u32)`.
impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Shape::Null => f.write_str("null"),
            Shape::Bool => f.write_str("bool"),
            Shape::Integer(kind) => f.write_str(kind.name()),
            Shape::Float => f.write_str("number"),
            Shape::Char => f.write_str("char"),
            Shape::String => f.write_str("string"),
            Shape::Bytes => f.write_str("bytes"),
            Shape::Option(inner) => write!(f, "{inner} | null"),
            Shape::Array(inner) => write!(f, "[{inner}]"),
            Shape::Tuple(items) => write_list(f, items),
            Shape::Map { key, value } => write!(f, "map<{key}, {value}>"),
            Shape::Struct(fields) => write_fields(f, fields),
            Shape::Enum(variants) => {
                for (i, (name, variant)) in variants.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" | ")?;
                    }
                    f.write_str(name)?;
                    match variant {
                        Variant::Unit => {}
                        Variant::Newtype(shape) => write!(f, "({shape})")?,
                        Variant::Tuple(items) => write_list(f, items)?,
                        Variant::Struct(fields) => write_fields(f, fields)?,
                    }
                }
                Ok(())
            }
            Shape::Recursive(name) => write!(f, "{name}"),
            Shape::Opaque(_) => f.write_str("?"),
        }
    }
}

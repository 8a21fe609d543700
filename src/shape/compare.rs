//! Whether payloads of one shape can be read by a type of another.

use crate::shape::{Field, Shape, Variant};
use std::collections::BTreeMap;
use std::fmt;

/// One way a written payload can fail a reader, or could not be compared.
///
/// ```
/// use jobwire::shape::{Field, Problem, Shape};
/// let written = Shape::Struct([("id".to_owned(), Field { shape: Shape::String, optional: false })].into());
/// let reader = Shape::Struct([("id".to_owned(), Field { shape: Shape::Bool, optional: false })].into());
/// let mismatches = written.read_by(&reader);
/// assert_eq!(mismatches[0].path, ".id");
/// assert!(matches!(mismatches[0].problem, Problem::Retyped { .. }));
/// assert_eq!(mismatches[0].to_string(), "`.id` is written as string and read as bool");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// Where, in the JSON: `.field`, `[]` for array elements, `{}` for map
    /// values, `::Variant` for an enum's variant, `.0` for a tuple's element.
    pub path: String,
    /// What is wrong.
    pub problem: Problem,
}

/// What a [`Mismatch`] is.
///
/// ```
/// assert!(jobwire::shape::Problem::Unknown("any".into()).is_unknown());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Problem {
    /// The reader requires a field the writer does not write.
    MissingField {
        /// The field's shape, as the reader reads it.
        reader: Shape,
    },
    /// The writer may write `null` (or leave the field out) where the reader
    /// requires a value.
    MaybeNull,
    /// The two sides disagree on the value's type.
    Retyped {
        /// As written.
        written: Shape,
        /// As read.
        reader: Shape,
    },
    /// The writer writes an enum variant the reader does not know.
    UnknownVariant,
    /// One side could not be traced, so nothing under this path was
    /// compared.
    Unknown(String),
}

impl Problem {
    /// Whether this is not a mismatch but a place the check could not see.
    ///
    /// ```
    /// assert!(!jobwire::shape::Problem::MaybeNull.is_unknown());
    /// ```
    pub fn is_unknown(&self) -> bool {
        matches!(self, Problem::Unknown(_))
    }
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = &self.path;
        match &self.problem {
            Problem::MissingField { reader } => {
                write!(
                    f,
                    "`{path}` ({reader}) is required when read and not written"
                )
            }
            Problem::MaybeNull => write!(
                f,
                "`{path}` may be written as null and is required when read"
            ),
            Problem::Retyped { written, reader } => {
                write!(f, "`{path}` is written as {written} and read as {reader}")
            }
            Problem::UnknownVariant => {
                write!(f, "variant `{path}` is written and not known when read")
            }
            Problem::Unknown(why) => write!(f, "`{path}` could not be compared: {why}"),
        }
    }
}

impl Shape {
    /// Every way a payload of this shape (as written) can fail to be read by
    /// a type of shape `reader`, with the places that could not be compared.
    /// Empty when every such payload reads.
    ///
    /// Fields the reader does not know are not a mismatch: serde ignores
    /// them, and jobwire never denies unknown fields.
    ///
    /// ```
    /// use jobwire::shape::{IntegerKind, Shape};
    /// let narrow = Shape::Integer(IntegerKind::U32);
    /// let wide = Shape::Integer(IntegerKind::U64);
    /// assert!(narrow.read_by(&wide).is_empty());
    /// assert_eq!(wide.read_by(&narrow).len(), 1);
    /// ```
    pub fn read_by(&self, reader: &Shape) -> Vec<Mismatch> {
        let mut out = Vec::new();
        compare(self, reader, &mut String::new(), &mut out);
        out
    }
}

fn push(out: &mut Vec<Mismatch>, path: &str, problem: Problem) {
    out.push(Mismatch {
        path: if path.is_empty() {
            ".".to_owned()
        } else {
            path.to_owned()
        },
        problem,
    });
}

/// Runs `step` with `suffix` appended to `path`, then restores it.
fn at(path: &mut String, suffix: &str, step: impl FnOnce(&mut String)) {
    let len = path.len();
    path.push_str(suffix);
    step(path);
    path.truncate(len);
}

fn compare(written: &Shape, reader: &Shape, path: &mut String, out: &mut Vec<Mismatch>) {
    use Shape as S;
    match (written, reader) {
        (S::Opaque(why), _) | (_, S::Opaque(why)) => push(out, path, Problem::Unknown(why.clone())),
        (S::Recursive(a), S::Recursive(b)) if a == b => {}
        (S::Recursive(name), _) | (_, S::Recursive(name)) => push(
            out,
            path,
            Problem::Unknown(format!("`{name}` contains itself; compared down to here")),
        ),
        (S::Null, S::Option(_) | S::Null) => {}
        (S::Option(w), S::Option(r)) => compare(w, r, path, out),
        (_, S::Option(r)) => compare(written, r, path, out),
        (S::Option(w), _) => {
            push(out, path, Problem::MaybeNull);
            compare(w, reader, path, out);
        }
        (S::Bool, S::Bool) | (S::Float, S::Float) | (S::String, S::String) => {}
        (S::Char, S::Char | S::String) => {}
        (S::Integer(_), S::Float) => {}
        (S::Integer(w), S::Integer(r)) if w.fits_in(*r) => {}
        (S::Bytes | S::Array(_), S::Bytes) | (S::Bytes, S::Array(_))
            if is_bytes(written) && is_bytes(reader) => {}
        (S::Array(w), S::Array(r)) => at(path, "[]", |p| compare(w, r, p, out)),
        (S::Tuple(items), S::Array(r)) => {
            for (i, item) in items.iter().enumerate() {
                at(path, &format!(".{i}"), |p| compare(item, r, p, out));
            }
        }
        (S::Tuple(w), S::Tuple(r)) if w.len() == r.len() => {
            for (i, (w, r)) in w.iter().zip(r).enumerate() {
                at(path, &format!(".{i}"), |p| compare(w, r, p, out));
            }
        }
        (S::Map { key: wk, value: wv }, S::Map { key: rk, value: rv }) => {
            at(path, "{key}", |p| compare(wk, rk, p, out));
            at(path, "{}", |p| compare(wv, rv, p, out));
        }
        (S::Struct(w), S::Struct(r)) => fields(w, r, path, out),
        (S::Enum(w), S::Enum(r)) => {
            for (name, variant) in w {
                at(path, &format!("::{name}"), |p| match r.get(name) {
                    None => push(out, p, Problem::UnknownVariant),
                    Some(read) => variants(variant, read, p, out),
                });
            }
        }
        _ => push(
            out,
            path,
            Problem::Retyped {
                written: written.clone(),
                reader: reader.clone(),
            },
        ),
    }
}

fn is_bytes(shape: &Shape) -> bool {
    match shape {
        Shape::Bytes => true,
        Shape::Array(inner) => matches!(**inner, Shape::Integer(crate::shape::IntegerKind::U8)),
        _ => false,
    }
}

fn fields(
    written: &BTreeMap<String, Field>,
    reader: &BTreeMap<String, Field>,
    path: &mut String,
    out: &mut Vec<Mismatch>,
) {
    for (name, read) in reader {
        at(path, &format!(".{name}"), |p| match written.get(name) {
            Some(w) => compare(&w.shape, &read.shape, p, out),
            None if read.optional => {}
            None => push(
                out,
                p,
                Problem::MissingField {
                    reader: read.shape.clone(),
                },
            ),
        });
    }
}

fn variants(written: &Variant, reader: &Variant, path: &mut String, out: &mut Vec<Mismatch>) {
    match (written, reader) {
        (Variant::Unit, Variant::Unit) => {}
        (Variant::Newtype(w), Variant::Newtype(r)) => compare(w, r, path, out),
        (Variant::Tuple(w), Variant::Tuple(r)) => compare(
            &Shape::Tuple(w.clone()),
            &Shape::Tuple(r.clone()),
            path,
            out,
        ),
        (Variant::Struct(w), Variant::Struct(r)) => fields(w, r, path, out),
        (w, r) => push(
            out,
            path,
            Problem::Retyped {
                written: variant_shape(w),
                reader: variant_shape(r),
            },
        ),
    }
}

/// A variant's content as a shape, for messages.
fn variant_shape(variant: &Variant) -> Shape {
    match variant {
        Variant::Unit => Shape::Null,
        Variant::Newtype(shape) => shape.clone(),
        Variant::Tuple(items) => Shape::Tuple(items.clone()),
        Variant::Struct(fields) => Shape::Struct(fields.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shape::IntegerKind;

    fn object(fields: &[(&str, Shape, bool)]) -> Shape {
        Shape::Struct(
            fields
                .iter()
                .map(|(name, shape, optional)| {
                    (
                        (*name).to_owned(),
                        Field {
                            shape: shape.clone(),
                            optional: *optional,
                        },
                    )
                })
                .collect(),
        )
    }

    const U64: Shape = Shape::Integer(IntegerKind::U64);

    #[test]
    fn a_required_field_added_is_missing_in_old_payloads() {
        let old = object(&[("id", U64, false)]);
        let new = object(&[("id", U64, false), ("shard", U64, false)]);
        let found = old.read_by(&new);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].path, ".shard");
        assert!(matches!(found[0].problem, Problem::MissingField { .. }));
        // The other way round, the extra field is ignored.
        assert!(new.read_by(&old).is_empty());
    }

    #[test]
    fn an_optional_field_added_reads_both_ways() {
        let old = object(&[("id", U64, false)]);
        let new = object(&[
            ("id", U64, false),
            ("shard", Shape::Option(Box::new(U64)), true),
        ]);
        assert!(old.read_by(&new).is_empty());
        assert!(new.read_by(&old).is_empty());
    }

    #[test]
    fn an_option_written_where_a_value_is_required_may_be_null() {
        let w = object(&[("a", Shape::Option(Box::new(Shape::String)), true)]);
        let r = object(&[("a", Shape::String, false)]);
        let found = w.read_by(&r);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].problem, Problem::MaybeNull);
    }

    #[test]
    fn integers_widen_and_do_not_narrow() {
        assert!(Shape::Integer(IntegerKind::U8)
            .read_by(&Shape::Float)
            .is_empty());
        assert_eq!(Shape::Float.read_by(&U64).len(), 1);
        assert_eq!(Shape::Integer(IntegerKind::I32).read_by(&U64).len(), 1);
        assert!(Shape::Integer(IntegerKind::U32)
            .read_by(&Shape::Integer(IntegerKind::I64))
            .is_empty());
    }

    #[test]
    fn a_renamed_variant_is_unknown_to_the_reader() {
        let w = Shape::Enum([("Fast".to_owned(), Variant::Unit)].into());
        let r = Shape::Enum([("Quick".to_owned(), Variant::Unit)].into());
        let found = w.read_by(&r);
        assert_eq!(found[0].path, "::Fast");
        assert_eq!(found[0].problem, Problem::UnknownVariant);
        // A variant added is read: old writers never write it.
        let wider = Shape::Enum(
            [
                ("Fast".to_owned(), Variant::Unit),
                ("Quick".to_owned(), Variant::Unit),
            ]
            .into(),
        );
        assert!(w.read_by(&wider).is_empty());
    }

    #[test]
    fn nested_paths_are_named() {
        let w = object(&[(
            "items",
            Shape::Array(Box::new(object(&[("n", Shape::String, false)]))),
            false,
        )]);
        let r = object(&[(
            "items",
            Shape::Array(Box::new(object(&[("n", U64, false)]))),
            false,
        )]);
        assert_eq!(w.read_by(&r)[0].path, ".items[].n");
    }

    #[test]
    fn opaque_is_unknown_not_a_mismatch() {
        let w = object(&[("meta", Shape::Opaque("any".into()), false)]);
        let found = w.read_by(&w);
        assert_eq!(found.len(), 1);
        assert!(found[0].problem.is_unknown());
    }

    #[test]
    fn bytes_read_as_an_array_of_u8() {
        let bytes = Shape::Array(Box::new(Shape::Integer(IntegerKind::U8)));
        assert!(Shape::Bytes.read_by(&bytes).is_empty());
        assert!(bytes.read_by(&Shape::Bytes).is_empty());
    }
}

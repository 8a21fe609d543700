//! Tracing a type's shape from its `Deserialize` impl, with
//! `serde-reflection`, and finding which struct fields may be missing.

use crate::shape::{Field, IntegerKind, Shape, Variant};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use serde_reflection::{
    ContainerFormat, Format, Named, Registry, Samples, Tracer, TracerConfig, VariantFormat,
};
use std::collections::{BTreeMap, BTreeSet};

/// How many times a type is traced again to reach every variant of the
/// enums it contains, at most.
const MAX_TRACES: usize = 512;
/// How many fields are probed for a default, at most; past it, a field is
/// optional when it is an `Option`.
const MAX_PROBES: usize = 512;

pub(super) fn trace<T: DeserializeOwned>() -> Shape {
    let (format, registry) = match registry_of::<T>() {
        Ok(found) => found,
        Err(error) => return Shape::Opaque(reason(&error)),
    };
    let mut shape = Converter {
        registry: &registry,
        expanding: Vec::new(),
    }
    .format(&format);
    mark_optional::<T>(&mut shape);
    shape
}

fn reason(error: &serde_reflection::Error) -> String {
    match error {
        serde_reflection::Error::NotSupported(what) if what.contains("deserialize_any") => {
            "its Deserialize asks for any JSON value (serde_json::Value, #[serde(untagged)], #[serde(flatten)] or #[serde(tag)]), which a trace cannot see".to_owned()
        }
        other => format!("the trace failed: {other}"),
    }
}

/// Traces `T` until every variant of every enum in it was seen.
fn registry_of<T: DeserializeOwned>() -> serde_reflection::Result<(Format, Registry)> {
    let samples = Samples::new();
    let mut enums: BTreeSet<String> = BTreeSet::new();
    for _pass in 0..8 {
        let mut tracer = Tracer::new(TracerConfig::default().is_human_readable(true));
        let mut format = None;
        for _ in 0..MAX_TRACES {
            let (traced, _value) = tracer.trace_type_once::<T>(&samples)?;
            format = Some(traced);
            // Read every flag (each read clears it).
            let incomplete = enums
                .iter()
                .filter(|name| tracer.check_incomplete_enum(name).is_some())
                .count();
            if incomplete == 0 {
                break;
            }
        }
        let registry = tracer.registry_unchecked();
        let found: BTreeSet<String> = registry
            .iter()
            .filter(|(_, container)| matches!(container, ContainerFormat::Enum(_)))
            .map(|(name, _)| name.clone())
            .collect();
        if found.is_subset(&enums) {
            let format = format.ok_or(serde_reflection::Error::NotSupported("an empty trace"))?;
            return Ok((format, registry));
        }
        enums.extend(found);
    }
    Err(serde_reflection::Error::NotSupported(
        "enums nested too deeply to trace",
    ))
}

struct Converter<'r> {
    registry: &'r Registry,
    /// The named containers being expanded, to stop at recursion.
    expanding: Vec<String>,
}

impl Converter<'_> {
    fn format(&mut self, format: &Format) -> Shape {
        let boxed = |shape: Shape| Box::new(shape);
        match format {
            Format::Variable(_) => Shape::Opaque("a part the trace never reached".to_owned()),
            Format::TypeName(name) => self.named(name),
            Format::Unit => Shape::Null,
            Format::Bool => Shape::Bool,
            Format::I8 => Shape::Integer(IntegerKind::I8),
            Format::I16 => Shape::Integer(IntegerKind::I16),
            Format::I32 => Shape::Integer(IntegerKind::I32),
            Format::I64 => Shape::Integer(IntegerKind::I64),
            Format::I128 => Shape::Integer(IntegerKind::I128),
            Format::U8 => Shape::Integer(IntegerKind::U8),
            Format::U16 => Shape::Integer(IntegerKind::U16),
            Format::U32 => Shape::Integer(IntegerKind::U32),
            Format::U64 => Shape::Integer(IntegerKind::U64),
            Format::U128 => Shape::Integer(IntegerKind::U128),
            Format::F32 | Format::F64 => Shape::Float,
            Format::Char => Shape::Char,
            Format::Str => Shape::String,
            Format::Bytes => Shape::Bytes,
            Format::Option(inner) => Shape::Option(boxed(self.format(inner))),
            Format::Seq(inner) => Shape::Array(boxed(self.format(inner))),
            Format::Map { key, value } => Shape::Map {
                key: boxed(self.format(key)),
                value: boxed(self.format(value)),
            },
            Format::Tuple(items) => Shape::Tuple(items.iter().map(|i| self.format(i)).collect()),
            Format::TupleArray { content, size } => {
                let item = self.format(content);
                Shape::Tuple(vec![item; *size])
            }
        }
    }

    fn named(&mut self, name: &str) -> Shape {
        if self.expanding.iter().any(|n| n == name) {
            return Shape::Recursive(name.to_owned());
        }
        let Some(container) = self.registry.get(name) else {
            return Shape::Opaque(format!("`{name}` was never traced"));
        };
        self.expanding.push(name.to_owned());
        let shape = match container {
            ContainerFormat::UnitStruct => Shape::Null,
            // JSON writes a newtype struct as its content.
            ContainerFormat::NewTypeStruct(inner) => self.format(inner),
            ContainerFormat::TupleStruct(items) => {
                Shape::Tuple(items.iter().map(|i| self.format(i)).collect())
            }
            ContainerFormat::Struct(fields) => Shape::Struct(self.fields(fields)),
            // A variant still at its provisional index was never reached by
            // index: an enum reached only through a later variant of another
            // enum, which serde-reflection cannot drive to every variant.
            ContainerFormat::Enum(variants) if variants.keys().any(|&i| i > u32::MAX / 2) => {
                Shape::Opaque(format!(
                    "not every variant of `{name}` could be traced: it is reached only through a later variant of another enum"
                ))
            }
            ContainerFormat::Enum(variants) => Shape::Enum(
                variants
                    .values()
                    .map(|named| (named.name.clone(), self.variant(&named.value)))
                    .collect(),
            ),
        };
        self.expanding.pop();
        shape
    }

    fn fields(&mut self, fields: &[Named<Format>]) -> BTreeMap<String, Field> {
        fields
            .iter()
            .map(|named| {
                let shape = self.format(&named.value);
                // Until probed: serde's derive reads a missing `Option` as None.
                let optional = matches!(shape, Shape::Option(_));
                (named.name.clone(), Field { shape, optional })
            })
            .collect()
    }

    fn variant(&mut self, variant: &VariantFormat) -> Variant {
        match variant {
            VariantFormat::Variable(_) => Variant::Newtype(Shape::Opaque(
                "a variant the trace never reached".to_owned(),
            )),
            VariantFormat::Unit => Variant::Unit,
            VariantFormat::NewType(inner) => Variant::Newtype(self.format(inner)),
            VariantFormat::Tuple(items) => {
                Variant::Tuple(items.iter().map(|i| self.format(i)).collect())
            }
            VariantFormat::Struct(fields) => Variant::Struct(self.fields(fields)),
        }
    }
}

/// A step from a shape into a part of it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Field(String),
    Variant(String),
    Item(usize),
    /// An option's value, an array's element, a map's value.
    Inner,
}

/// Finds, by trying, which struct fields `T` reads when they are missing: a
/// sample payload is built from the shape, each field is left out in turn,
/// and `T` deserializes it or not. This sees `#[serde(default)]` and custom
/// impls alike. When the full sample itself does not read (a `Deserialize`
/// with its own checks), fields stay optional only if they are `Option`s.
fn mark_optional<T: DeserializeOwned>(shape: &mut Shape) {
    let Some(full) = sample(shape, &[], None) else {
        return;
    };
    if serde_json::from_value::<T>(full).is_err() {
        return;
    }
    let mut fields = Vec::new();
    struct_fields(shape, &mut Vec::new(), &mut fields);
    for (path, name) in fields.into_iter().take(MAX_PROBES) {
        let optional = sample(shape, &path, Some(&name))
            .is_some_and(|probe| serde_json::from_value::<T>(probe).is_ok());
        if let Some(field) = field_at(shape, &path, &name) {
            field.optional = optional;
        }
    }
}

/// Every struct field in `shape`: the path to its struct, and its name.
fn struct_fields(shape: &Shape, path: &mut Vec<Step>, out: &mut Vec<(Vec<Step>, String)>) {
    fn into(step: Step, inner: &Shape, path: &mut Vec<Step>, out: &mut Vec<(Vec<Step>, String)>) {
        path.push(step);
        struct_fields(inner, path, out);
        path.pop();
    }
    match shape {
        Shape::Struct(fields) => {
            for (name, field) in fields {
                out.push((path.clone(), name.clone()));
                into(Step::Field(name.clone()), &field.shape, path, out);
            }
        }
        Shape::Enum(variants) => {
            for (name, variant) in variants {
                let inner = variant_as_shape(variant);
                into(Step::Variant(name.clone()), &inner, path, out);
            }
        }
        Shape::Option(inner) | Shape::Array(inner) | Shape::Map { value: inner, .. } => {
            into(Step::Inner, inner, path, out)
        }
        Shape::Tuple(items) => {
            for (i, item) in items.iter().enumerate() {
                into(Step::Item(i), item, path, out);
            }
        }
        _ => {}
    }
}

/// A variant's content, as the shape sampled and walked in its place.
fn variant_as_shape(variant: &Variant) -> Shape {
    match variant {
        Variant::Unit => Shape::Null,
        Variant::Newtype(inner) => inner.clone(),
        Variant::Tuple(items) => Shape::Tuple(items.clone()),
        Variant::Struct(fields) => Shape::Struct(fields.clone()),
    }
}

fn field_at<'s>(shape: &'s mut Shape, path: &[Step], name: &str) -> Option<&'s mut Field> {
    let Some((step, rest)) = path.split_first() else {
        return match shape {
            Shape::Struct(fields) => fields.get_mut(name),
            _ => None,
        };
    };
    match (shape, step) {
        (Shape::Struct(fields), Step::Field(f)) => {
            field_at(&mut fields.get_mut(f)?.shape, rest, name)
        }
        (Shape::Enum(variants), Step::Variant(v)) => match variants.get_mut(v)? {
            Variant::Unit => None,
            Variant::Newtype(inner) => field_at(inner, rest, name),
            Variant::Tuple(items) => match rest.split_first()? {
                (Step::Item(i), rest) => field_at(items.get_mut(*i)?, rest, name),
                _ => None,
            },
            Variant::Struct(fields) => match rest.split_first() {
                None => fields.get_mut(name),
                Some((Step::Field(f), rest)) => field_at(&mut fields.get_mut(f)?.shape, rest, name),
                Some(_) => None,
            },
        },
        (
            Shape::Option(inner) | Shape::Array(inner) | Shape::Map { value: inner, .. },
            Step::Inner,
        ) => field_at(inner, rest, name),
        (Shape::Tuple(items), Step::Item(i)) => field_at(items.get_mut(*i)?, rest, name),
        _ => None,
    }
}

/// A JSON value of `shape`, built along `path`, with `drop` left out of the
/// struct the path ends at. `None` where the path does not fit the shape.
fn sample(shape: &Shape, path: &[Step], drop: Option<&str>) -> Option<Value> {
    let Some((step, rest)) = path.split_first() else {
        return Some(match (shape, drop) {
            (Shape::Struct(fields), Some(drop)) => object(fields, None, Some(drop))?,
            (_, Some(_)) => return None,
            (shape, None) => plain(shape),
        });
    };
    Some(match (shape, step) {
        (Shape::Struct(fields), Step::Field(f)) => {
            let inner = sample(&fields.get(f)?.shape, rest, drop)?;
            object(fields, Some((f, inner)), None)?
        }
        (Shape::Enum(variants), Step::Variant(v)) => {
            let inner = variant_as_shape(variants.get(v)?);
            let mut tagged = Map::new();
            tagged.insert(v.clone(), sample(&inner, rest, drop)?);
            Value::Object(tagged)
        }
        (Shape::Option(inner), Step::Inner) => sample(inner, rest, drop)?,
        (Shape::Array(inner), Step::Inner) => Value::Array(vec![sample(inner, rest, drop)?]),
        (Shape::Map { key, value }, Step::Inner) => {
            let mut map = Map::new();
            map.insert(key_text(key), sample(value, rest, drop)?);
            Value::Object(map)
        }
        (Shape::Tuple(items), Step::Item(i)) => {
            let mut values: Vec<Value> = items.iter().map(plain).collect();
            *values.get_mut(*i)? = sample(items.get(*i)?, rest, drop)?;
            Value::Array(values)
        }
        _ => return None,
    })
}

fn object(
    fields: &BTreeMap<String, Field>,
    replace: Option<(&String, Value)>,
    drop: Option<&str>,
) -> Option<Value> {
    let mut map = Map::new();
    for (name, field) in fields {
        if Some(name.as_str()) == drop {
            continue;
        }
        map.insert(name.clone(), plain(&field.shape));
    }
    if let Some((name, value)) = replace {
        map.insert(name.clone(), value);
    }
    Some(Value::Object(map))
}

/// The simplest value of a shape, the way the trace itself fed them.
fn plain(shape: &Shape) -> Value {
    match shape {
        Shape::Null | Shape::Option(_) | Shape::Recursive(_) | Shape::Opaque(_) => Value::Null,
        Shape::Bool => Value::Bool(false),
        Shape::Integer(_) => Value::from(0),
        Shape::Float => Value::from(0.0),
        Shape::Char => Value::from("A"),
        Shape::String => Value::from(""),
        Shape::Bytes | Shape::Array(_) => Value::Array(Vec::new()),
        Shape::Tuple(items) => Value::Array(items.iter().map(plain).collect()),
        Shape::Map { .. } => Value::Object(Map::new()),
        Shape::Struct(fields) => object(fields, None, None).unwrap_or(Value::Null),
        Shape::Enum(variants) => match variants.iter().next() {
            None => Value::Null,
            Some((name, Variant::Unit)) => Value::from(name.as_str()),
            Some((name, variant)) => {
                let mut tagged = Map::new();
                tagged.insert(name.clone(), plain(&variant_as_shape(variant)));
                Value::Object(tagged)
            }
        },
    }
}

/// A map key as JSON writes it: integers as their digits.
fn key_text(key: &Shape) -> String {
    match key {
        Shape::Integer(_) | Shape::Float => "0".to_owned(),
        Shape::Char => "A".to_owned(),
        Shape::Bool => "false".to_owned(),
        Shape::Enum(variants) => variants.keys().next().cloned().unwrap_or_default(),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct Cursor {
        id: u64,
        #[serde(default)]
        shard: u32,
        note: Option<String>,
        added: crate::Added<bool>,
        #[serde(rename = "kind")]
        mode: Mode,
    }

    #[derive(Deserialize)]
    #[allow(dead_code)]
    enum Mode {
        Fast,
        Slow {
            pause: u32,
            #[serde(default)]
            jitter: bool,
        },
        Other(Inner),
    }

    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct Inner {
        deep: Vec<(u8, Tail)>,
    }

    #[derive(Deserialize)]
    #[allow(dead_code)]
    enum Tail {
        A,
        B(#[allow(dead_code)] String),
    }

    fn fields(shape: &Shape) -> &BTreeMap<String, Field> {
        match shape {
            Shape::Struct(fields) => fields,
            other => panic!("not a struct: {other}"),
        }
    }

    #[test]
    fn fields_are_found_with_what_may_be_missing() {
        let shape = trace::<Cursor>();
        let f = fields(&shape);
        assert!(!f["id"].optional);
        assert!(f["shard"].optional, "#[serde(default)] is seen: {shape}");
        assert!(f["note"].optional);
        assert!(f["added"].optional);
        assert!(f.contains_key("kind"), "the JSON name, after rename");
        let Shape::Enum(modes) = &f["kind"].shape else {
            panic!("{shape}")
        };
        assert_eq!(modes.len(), 3, "every variant is traced: {shape}");
        let Variant::Struct(slow) = &modes["Slow"] else {
            panic!("{shape}")
        };
        assert!(!slow["pause"].optional);
        assert!(slow["jitter"].optional);
        // An enum only a later variant of another enum reaches cannot be
        // traced whole, and says so rather than list some variants.
        let text = shape.to_string();
        assert!(text.contains("Other({deep: [(u8, ?)]})"), "{text}");
        assert!(!shape.is_known());
    }

    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct List {
        next: Option<Box<List>>,
        value: u8,
    }

    #[test]
    fn recursion_stops() {
        let shape = trace::<List>();
        assert_eq!(shape.to_string(), "{next?: List | null, value: u8}");
    }

    #[test]
    fn any_is_opaque_with_a_reason() {
        #[derive(Deserialize)]
        #[allow(dead_code)]
        #[serde(untagged)]
        enum Either {
            A(u8),
            B(String),
        }
        let Shape::Opaque(why) = trace::<Either>() else {
            panic!("untagged traced")
        };
        assert!(why.contains("untagged"), "{why}");
    }

    #[test]
    fn a_module_move_keeps_the_shape() {
        mod a {
            #[derive(serde::Deserialize)]
            #[allow(dead_code)]
            pub struct Cursor {
                pub id: u64,
            }
        }
        mod b {
            #[derive(serde::Deserialize)]
            #[allow(dead_code)]
            pub struct Checkpoint {
                pub id: u64,
            }
        }
        assert_eq!(trace::<a::Cursor>(), trace::<b::Checkpoint>());
    }
}

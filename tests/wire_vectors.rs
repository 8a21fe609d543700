//! The language-neutral wire contract: `tests/vectors/vectors.json` holds
//! envelopes, valid and hostile, with the outcome each must have against
//! the example jobs of `tests/vectors/README.md`; this replays every one.
//! And `tests/vectors/envelope.schema.json` agrees with the router: a
//! payload the router rejects for its envelope fails the schema, and every
//! other passes it.

mod support;

use jobwire::{Outcome, Router, Tombstone};
use serde_json::Value;
use std::collections::HashMap;

const VECTORS: &str = include_str!("vectors/vectors.json");
const SCHEMA: &str = include_str!("vectors/envelope.schema.json");

/// The example jobs: `user.confirmation` 2.1.0 (reading 2.x, 1.x through a
/// typed upcaster and 0.2.x through a JSON one), `test.flaky` 1.0.0, and
/// the retired `user.welcome_fax` (alias `fax.welcome`).
fn router() -> Router {
    support::builder()
        .retired(Tombstone::new("user.welcome_fax").with_aliases(&["fax.welcome"]))
        .build()
        .unwrap_or_else(|error| panic!("the example jobs build: {error}"))
}

fn bytes(vector: &Value) -> Vec<u8> {
    if let Some(text) = vector["payload"].as_str() {
        return text.as_bytes().to_vec();
    }
    let hex = vector["payload_hex"]
        .as_str()
        .expect("a payload or payload_hex");
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
        .collect()
}

fn vectors() -> Vec<Value> {
    let doc: Value = serde_json::from_str(VECTORS).expect("vectors.json is JSON");
    doc["vectors"]
        .as_array()
        .expect("a list of vectors")
        .clone()
}

#[test]
fn every_vector_has_its_outcome() {
    let router = router();
    let mut failures = Vec::new();
    for vector in vectors() {
        let name = vector["name"].as_str().unwrap_or("?").to_owned();
        let payload = bytes(&vector);
        let before = support::log(&router).len();
        let outcome = support::dispatch(&router, &payload);
        let mut problems = Vec::new();
        let expect = |key: &str| vector.get(key).and_then(Value::as_str);
        if Some(outcome.label()) != expect("outcome") {
            problems.push(format!("outcome {} ({outcome:?})", outcome.label()));
        }
        match &outcome {
            Outcome::Performed(p) => {
                if let Some(relation) = expect("relation") {
                    if format!("{:?}", p.relation) != relation {
                        problems.push(format!("relation {:?}", p.relation));
                    }
                }
                if let Some(log) = expect("log") {
                    let entries = support::log(&router);
                    let last = entries.get(before).map(String::as_str);
                    if last != Some(log) {
                        problems.push(format!("the handler recorded {last:?}"));
                    }
                }
            }
            Outcome::Deferred(d) => {
                let reason = format!("{:?}", d.reason);
                if let Some(want) = expect("reason") {
                    if !reason.starts_with(want) {
                        problems.push(format!("reason {reason}"));
                    }
                }
            }
            Outcome::Rejected(r) => {
                let error = format!("{:?}", r.error);
                if let Some(want) = expect("error") {
                    if !error.starts_with(want) {
                        problems.push(format!("error {error}"));
                    }
                }
            }
            _ => {}
        }
        // Whatever the outcome, nothing is lost: the bytes come back.
        if let Some(back) = outcome.payload() {
            if back != payload.as_slice() {
                problems.push("the payload did not come back untouched".into());
            }
        }
        if !problems.is_empty() {
            failures.push(format!("{name}: {}", problems.join("; ")));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// Rejections about the envelope itself, which the schema must refuse too.
const ENVELOPE_ERRORS: [&str; 5] = [
    "Malformed",
    "MissingField",
    "InvalidName",
    "InvalidVersion",
    "NotUtf8",
];

#[test]
fn the_schema_agrees_with_the_router() {
    let schema: Value = serde_json::from_str(SCHEMA).expect("the schema is JSON");
    let mut patterns = HashMap::new();
    let mut failures = Vec::new();
    let router = router();
    for vector in vectors() {
        let name = vector["name"].as_str().unwrap_or("?");
        let payload = bytes(&vector);
        let outcome = support::dispatch(&router, &payload);
        let envelope_error = match &outcome {
            Outcome::Rejected(r) => {
                let kind = format!("{:?}", r.error);
                ENVELOPE_ERRORS.iter().any(|e| kind.starts_with(e))
            }
            _ => false,
        };
        let want = vector
            .get("schema")
            .and_then(Value::as_bool)
            .unwrap_or(!envelope_error);
        let document = std::str::from_utf8(&payload)
            .ok()
            .and_then(|text| serde_json::from_str::<Value>(text).ok());
        let valid = document.is_some_and(|doc| {
            let mut errors = Vec::new();
            validate(&schema, &doc, "$", &mut patterns, &mut errors);
            errors.is_empty()
        });
        if valid != want {
            failures.push(format!(
                "{name}: the schema says {valid}, the router {want} ({})",
                outcome.label()
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// The part of JSON Schema the envelope's schema uses: `type`, `required`,
/// `properties`, `additionalProperties`, `minLength`, `maxLength`,
/// `minimum`, `maximum` and `pattern`.
fn validate(
    schema: &Value,
    value: &Value,
    at: &str,
    patterns: &mut HashMap<String, regex::Regex>,
    errors: &mut Vec<String>,
) {
    if let Some(kind) = schema.get("type").and_then(Value::as_str) {
        let ok = match kind {
            "object" => value.is_object(),
            "string" => value.is_string(),
            "integer" => value.is_i64() || value.is_u64(),
            "array" => value.is_array(),
            "boolean" => value.is_boolean(),
            "number" => value.is_number(),
            _ => true,
        };
        if !ok {
            errors.push(format!("{at}: not {kind}"));
            return;
        }
    }
    if let Some(text) = value.as_str() {
        let chars = text.chars().count() as u64;
        if schema
            .get("minLength")
            .and_then(Value::as_u64)
            .is_some_and(|n| chars < n)
        {
            errors.push(format!("{at}: too short"));
        }
        if schema
            .get("maxLength")
            .and_then(Value::as_u64)
            .is_some_and(|n| chars > n)
        {
            errors.push(format!("{at}: too long"));
        }
        if let Some(pattern) = schema.get("pattern").and_then(Value::as_str) {
            let regex = patterns
                .entry(pattern.to_owned())
                .or_insert_with(|| regex::Regex::new(pattern).expect("a valid pattern"));
            if !regex.is_match(text) {
                errors.push(format!("{at}: does not match {pattern}"));
            }
        }
    }
    if let Some(number) = value.as_f64() {
        if schema
            .get("minimum")
            .and_then(Value::as_f64)
            .is_some_and(|n| number < n)
        {
            errors.push(format!("{at}: below the minimum"));
        }
        if schema
            .get("maximum")
            .and_then(Value::as_f64)
            .is_some_and(|n| number > n)
        {
            errors.push(format!("{at}: above the maximum"));
        }
    }
    if let Some(object) = value.as_object() {
        for key in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(key) = key.as_str() {
                if !object.contains_key(key) {
                    errors.push(format!("{at}: `{key}` is required"));
                }
            }
        }
        let properties = schema.get("properties").and_then(Value::as_object);
        for (key, child) in object {
            match properties.and_then(|p| p.get(key)) {
                Some(sub) => validate(sub, child, &format!("{at}.{key}"), patterns, errors),
                None => {
                    if let Some(extra) = schema.get("additionalProperties") {
                        if extra.is_object() {
                            validate(extra, child, &format!("{at}.{key}"), patterns, errors);
                        } else if extra == &Value::Bool(false) {
                            errors.push(format!("{at}: `{key}` is not allowed"));
                        }
                    }
                }
            }
        }
    }
}

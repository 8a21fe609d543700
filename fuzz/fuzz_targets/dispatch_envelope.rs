//! Structure-aware: envelopes built from parts that are often wrong (wrong
//! types, huge numbers, odd versions, duplicate keys, deep nesting), then
//! mutated byte by byte. Besides the shared invariants, a well-formed
//! envelope with no duplicate key must give the same outcome whatever its key
//! order, which checks jobwire's own JSON skipping against serde_json's.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Json {
    Null,
    Bool(bool),
    Int(i64),
    Big(u128),
    Float(f64),
    Exponent(i8, i16),
    Text(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
    Deep(u16),
}

impl Json {
    fn render(&self, out: &mut String) {
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Json::Int(n) => out.push_str(&n.to_string()),
            Json::Big(n) => out.push_str(&n.to_string()),
            Json::Float(f) if f.is_finite() => out.push_str(&f.to_string()),
            Json::Float(_) => out.push_str("1e999"),
            Json::Exponent(m, e) => out.push_str(&format!("{m}e{e}")),
            Json::Text(s) => out.push_str(&serde_json::to_string(s).unwrap_or_default()),
            Json::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.render(out);
                }
                out.push(']');
            }
            Json::Object(fields) => {
                out.push('{');
                for (i, (key, value)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&serde_json::to_string(key).unwrap_or_default());
                    out.push(':');
                    value.render(out);
                }
                out.push('}');
            }
            Json::Deep(depth) => {
                let depth = usize::from(*depth % 400);
                out.push_str(&"[{\"a\":".repeat(depth));
                out.push('1');
                out.push_str(&"}]".repeat(depth));
            }
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Name {
    Known(u8),
    Other(String),
    Long(u16),
    NotAString(Json),
}

#[derive(Arbitrary, Debug)]
enum Ver {
    Known(u8),
    Numbers(u64, u64, u64),
    Pre(u8, u8, u8, String),
    Other(String),
    NotAString(Json),
}

#[derive(Arbitrary, Debug)]
enum Args {
    Current(u64, String, Option<String>),
    V1(u64, String),
    V0(Json, Json),
    Tree(Json, Option<Json>),
    Any(Json),
}

#[derive(Arbitrary, Debug)]
enum Field {
    Job(Name),
    Version(Ver),
    Args(Args),
    Meta(Vec<(u8, Json)>),
    Unknown(String, Json),
}

#[derive(Arbitrary, Debug)]
struct Input {
    fields: Vec<Field>,
    edits: Vec<(u16, u8)>,
    cut: Option<u16>,
}

const NAMES: [&str; 6] = [
    "user.confirmation",
    "user.confirm",
    "test.tree",
    "user.fax",
    "fax",
    "nope",
];
const VERSIONS: [&str; 8] = [
    "2.1.0", "2.0.9", "2.7.0", "1.0.0", "0.2.3", "0.1.0", "3.0.0", "0.3.1",
];
const META_KEYS: [&str; 5] = ["id", "enqueued_at", "attempt", "headers", "other"];

fn string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

impl Field {
    fn key(&self) -> String {
        match self {
            Field::Job(_) => "job".into(),
            Field::Version(_) => "version".into(),
            Field::Args(_) => "args".into(),
            Field::Meta(_) => "meta".into(),
            Field::Unknown(key, _) => key.clone(),
        }
    }

    fn render(&self) -> String {
        let mut out = format!("{}:", string(&self.key()));
        match self {
            Field::Job(Name::Known(i)) => {
                out.push_str(&string(NAMES[usize::from(*i) % NAMES.len()]))
            }
            Field::Job(Name::Other(s)) => out.push_str(&string(s)),
            Field::Job(Name::Long(n)) => out.push_str(&string(&"a".repeat(usize::from(*n)))),
            Field::Job(Name::NotAString(j)) | Field::Version(Ver::NotAString(j)) => {
                j.render(&mut out)
            }
            Field::Version(Ver::Known(i)) => {
                out.push_str(&string(VERSIONS[usize::from(*i) % VERSIONS.len()]))
            }
            Field::Version(Ver::Numbers(a, b, c)) => out.push_str(&string(&format!("{a}.{b}.{c}"))),
            Field::Version(Ver::Pre(a, b, c, pre)) => {
                out.push_str(&string(&format!("{a}.{b}.{c}-{pre}")))
            }
            Field::Version(Ver::Other(s)) => out.push_str(&string(s)),
            Field::Args(Args::Current(id, message, date)) => {
                out.push_str(&format!(
                    "{{\"user_id\":{id},\"message\":{}",
                    string(message)
                ));
                if let Some(date) = date {
                    out.push_str(&format!(",\"date\":{}", string(date)));
                }
                out.push('}');
            }
            Field::Args(Args::V1(id, message)) => {
                out.push_str(&format!("{{\"id\":{id},\"message\":{}}}", string(message)))
            }
            Field::Args(Args::V0(uid, text)) => {
                out.push_str("{\"uid\":");
                uid.render(&mut out);
                out.push_str(",\"text\":");
                text.render(&mut out);
                out.push('}');
            }
            Field::Args(Args::Tree(tree, count)) => {
                out.push_str("{\"tree\":");
                tree.render(&mut out);
                if let Some(count) = count {
                    out.push_str(",\"count\":");
                    count.render(&mut out);
                }
                out.push('}');
            }
            Field::Args(Args::Any(j)) | Field::Unknown(_, j) => j.render(&mut out),
            Field::Meta(entries) => {
                out.push('{');
                for (i, (key, value)) in entries.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&string(META_KEYS[usize::from(*key) % META_KEYS.len()]));
                    out.push(':');
                    value.render(&mut out);
                }
                out.push('}');
            }
        }
        out
    }
}

fn envelope<'a>(fields: impl Iterator<Item = &'a Field>) -> Vec<u8> {
    let parts: Vec<String> = fields.map(Field::render).collect();
    format!("{{{}}}", parts.join(",")).into_bytes()
}

fuzz_target!(|input: Input| {
    let mut bytes = envelope(input.fields.iter());
    let pristine = input.edits.is_empty() && input.cut.is_none();
    for (at, byte) in &input.edits {
        if !bytes.is_empty() {
            let i = usize::from(*at) % bytes.len();
            bytes[i] = *byte;
        }
    }
    if let Some(cut) = input.cut {
        bytes.truncate(usize::from(cut));
    }
    let first = jobwire_fuzz::check(&bytes);

    let mut keys: Vec<String> = input.fields.iter().map(Field::key).collect();
    keys.sort();
    keys.dedup();
    if pristine && keys.len() == input.fields.len() {
        let reversed = envelope(input.fields.iter().rev());
        let second = jobwire_fuzz::check(&reversed);
        assert_eq!(
            first,
            second,
            "key order changed the outcome:\n{}\n{}",
            String::from_utf8_lossy(&bytes),
            String::from_utf8_lossy(&reversed)
        );
    }
});

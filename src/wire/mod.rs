//! The wire format: the envelope around a job's arguments, and the tools a
//! queue needs to handle it without performing it.
//!
//! ```json
//! {"job": "user.send_confirmation", "version": "2.1.0",
//!  "args": {"user_id": 42, "message": "hello"},
//!  "meta": {"id": "01J...", "enqueued_at": 1764000000000, "attempt": 0,
//!           "headers": {"traceparent": "00-..."}}}
//! ```
//!
//! The README carries the full specification, and `schema/envelope.json` a
//! JSON Schema of it. This module holds:
//!
//! - [`Meta`] and [`Headers`]: the optional metadata;
//! - [`Progress`]: an iterable job's progress;
//! - [`Header`]: a payload's name, version, metadata and progress, read
//!   without dispatching it;
//! - [`rewrite_meta`] and [`rewrite_progress`]: change those, leaving every
//!   other byte (and so `args`) exactly as it was;
//! - [`Limits`] and [`RejectError`]: what a reader accepts, and why it refuses;
//! - [`Line`] and [`Relation`]: which versions read each other.
//!
//! Reading is one pass over the text (`scan`), with an iterative,
//! allocation-free skipper for what is not decoded (`skip`).

mod decode;
mod edit;
mod error;
mod header;
mod limits;
mod meta;
mod progress;
pub(crate) mod scan;
mod skip;
pub(crate) mod version;

pub use edit::{rewrite_meta, rewrite_progress};
pub use error::{RejectError, MAX_MESSAGE_BYTES};
pub use header::Header;
pub use limits::Limits;
pub use meta::{Headers, Meta};
pub use progress::Progress;
pub use version::{Line, Relation};

pub(crate) use decode::{decode_prefix, json_error_at, locate};
pub(crate) use error::{bounded, quote};
pub(crate) use header::{checked_text, parse_version};
pub(crate) use skip::{skip_value, whitespace};

/// The longest job name any release can register, in bytes.
pub const MAX_NAME_BYTES: usize = 128;

/// Job names are short, printable ASCII: letters, digits and `._-:/`. A name
/// outside that set is garbage no release could register, so a reader
/// rejects it rather than deferring it for ever.
pub(crate) fn check_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("a job name must not be empty");
    }
    if name.len() > MAX_NAME_BYTES {
        return Err("a job name must be at most 128 bytes");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b':' | b'/'))
    {
        return Err("a job name may hold only ASCII letters, digits and `._-:/`");
    }
    Ok(())
}

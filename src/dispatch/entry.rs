//! A job as the router sees it: erased of its type, with the monomorphised
//! code that decodes and performs it behind one small trait.
//!
//! This is the interface the registry builds, the router routes to, and
//! `run` implements; none of them needs the others' insides.

use crate::dispatch::outcome::Outcome;
use crate::job::context::Info;
use crate::job::history::LinkInfo;
use crate::shape::Shape;
use crate::wire::scan::{Head, Scan};
use crate::wire::{Line, Relation};
use semver::Version;
use std::any::{Any, TypeId};
use std::future::Future;
use std::hash::{BuildHasherDefault, Hasher};
use std::pin::Pin;
use std::sync::Arc;

/// Everything the router needs to know about one job.
pub(crate) struct Entry {
    pub(crate) name: &'static str,
    pub(crate) aliases: &'static [&'static str],
    pub(crate) version: Version,
    pub(crate) version_text: String,
    pub(crate) deprecated: bool,
    /// The upcast chain, newest link first.
    pub(crate) links: Vec<LinkInfo>,
    /// When this release breaks compatibility: the version the previous
    /// release reads and writes.
    pub(crate) breaking_from: Option<Version>,
    /// When it breaks compatibility: whether its downcast is lossless.
    pub(crate) lossless: Option<bool>,
    /// The application state the job declared, and, once the router is
    /// built, the value.
    pub(crate) state: Need,
    pub(crate) state_value: Option<Arc<dyn Any + Send + Sync>>,
    /// The per-dispatch data the job declared.
    pub(crate) data: Need,
    /// The shape of the current line's arguments, for the manifest.
    pub(crate) shape: fn() -> Shape,
    /// An iterable job's cursor: its type's name and its shape, for the
    /// manifest.
    pub(crate) cursor: Option<CursorInfo>,
    /// Decoding and performing, for this job's type.
    pub(crate) run: Box<dyn Run>,
}

/// An iterable job's cursor, as the manifest records it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CursorInfo {
    /// Its Rust type name, for messages.
    pub(crate) name: &'static str,
    /// Its JSON shape, traced when the manifest is made.
    pub(crate) shape: fn() -> Shape,
}

/// A type a job needs: its id and its name, for messages.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Need {
    pub(crate) id: TypeId,
    pub(crate) name: &'static str,
}

impl Need {
    pub(crate) fn of<T: 'static>() -> Need {
        Need {
            id: TypeId::of::<T>(),
            name: std::any::type_name::<T>(),
        }
    }

    /// Whether the job needs nothing (`()`).
    pub(crate) fn is_unit(&self) -> bool {
        self.id == TypeId::of::<()>()
    }
}

impl Entry {
    /// Whether a payload on `line`, older than the current line, has a link.
    pub(crate) fn reads_line(&self, line: Line) -> bool {
        self.links
            .iter()
            .any(|link| Line::of(&link.version) == line)
    }

    /// The lines this job reads, newest first, for messages: `"2.x, 1.x"`.
    pub(crate) fn describe_reads(&self) -> String {
        let mut lines = vec![Line::of(&self.version).to_string()];
        lines.extend(
            self.links
                .iter()
                .map(|link| Line::of(&link.version).to_string()),
        );
        lines.join(", ")
    }
}

/// How a payload reaches its handler.
pub(crate) struct Route {
    pub(crate) relation: Relation,
    pub(crate) wire: Version,
    pub(crate) via_alias: bool,
}

/// The state of one envelope read, handed to a job's monomorphised code so
/// it can decode the arguments where they stand.
pub(crate) struct Dispatch<'s, 'p> {
    pub(crate) scan: &'s mut Scan<'p>,
    pub(crate) head: &'s mut Head<'p>,
    pub(crate) payload: &'p [u8],
    /// Whether the arguments stand at the cursor (header first), or were
    /// skipped and stand at `head.args`.
    pub(crate) inline: bool,
    /// When the arguments came before the header: the `job` and `version`
    /// read from the envelope's tail, which the full read must confirm.
    pub(crate) tail: Option<(&'p str, &'p str)>,
}

/// What one dispatch lends the job's code besides the envelope.
pub(crate) struct Lent<'f> {
    pub(crate) entry: &'f Entry,
    pub(crate) info: &'f Info<'f>,
    pub(crate) data: &'f mut (dyn Any + Send),
    pub(crate) catch: bool,
}

/// A job's performance, boxed: the one allocation of an async dispatch.
pub(crate) type Performing<'f, 'p> = Pin<Box<dyn Future<Output = Outcome<'p>> + Send + 'f>>;

/// A job's decode-and-perform, monomorphised for its type.
pub(crate) trait Run: Send + Sync {
    /// Decodes and performs, polling the handler in place.
    fn blocking<'p>(&self, lent: Lent<'_>, route: Route, dispatch: Dispatch<'_, 'p>)
        -> Outcome<'p>;

    /// Decodes, and returns the handler's future, or the outcome that
    /// stopped it before the handler.
    fn future<'f, 'p: 'f>(
        &'f self,
        lent: Lent<'f>,
        route: Route,
        dispatch: Dispatch<'_, 'p>,
    ) -> Result<Performing<'f, 'p>, Outcome<'p>>;

    /// Decodes only, for the testing kit's readers.
    #[cfg(feature = "testing")]
    fn read<'p>(
        &self,
        entry: &Entry,
        route: &Route,
        dispatch: Dispatch<'_, 'p>,
    ) -> Result<Box<dyn Any>, Outcome<'p>>;
}

/// Where a name leads.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Slot {
    Job { entry: usize, via_alias: bool },
    Retired(usize),
}

/// A small multiplicative hash for job names: the table is built from the
/// registry alone, so the inputs an attacker controls are only looked up,
/// never inserted, and a fast hash is safe.
#[derive(Default, Clone, Copy)]
pub(crate) struct NameHasher(u64);

pub(crate) type NameHash = BuildHasherDefault<NameHasher>;

impl Hasher for NameHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x517c_c1b7_2722_0a95;
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(word)).wrapping_mul(K);
        }
        for &byte in chunks.remainder() {
            self.0 = (self.0.rotate_left(5) ^ u64::from(byte)).wrapping_mul(K);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

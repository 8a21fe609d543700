//! A minimal `tracing` subscriber that keeps spans and events for assertions.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// A span or an event, with its fields as text.
#[derive(Debug, Clone, Default)]
pub struct Captured {
    pub name: String,
    pub level: String,
    pub fields: BTreeMap<String, String>,
}

#[derive(Clone, Default)]
pub struct Capture {
    next: Arc<AtomicU64>,
    pub spans: Arc<Mutex<BTreeMap<u64, Captured>>>,
    pub events: Arc<Mutex<Vec<Captured>>>,
}

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

impl Capture {
    /// Runs `f` with this subscriber as the default.
    ///
    /// `tracing` caches each callsite's interest. While only one dispatcher
    /// is registered it asks *the registering thread's* default, so a
    /// callsite first hit by a parallel test with no subscriber is cached as
    /// "never" for every thread, and this capture would see nothing (seen in
    /// CI as an empty capture). A second dispatcher that lives for the whole
    /// test binary makes `tracing` ask every live dispatcher instead, and the
    /// rebuild inside closes the window in which a registration that started
    /// earlier could still store the stale answer.
    pub fn run<T>(&self, f: impl FnOnce() -> T) -> T {
        static KEEPER: std::sync::OnceLock<tracing::Dispatch> = std::sync::OnceLock::new();
        KEEPER.get_or_init(|| tracing::Dispatch::new(Keeper));
        tracing::subscriber::with_default(self.clone(), || {
            tracing::callsite::rebuild_interest_cache();
            f()
        })
    }

    pub fn spans(&self) -> Vec<Captured> {
        self.spans
            .lock()
            .map(|s| s.values().cloned().collect())
            .unwrap_or_default()
    }

    pub fn events(&self) -> Vec<Captured> {
        self.events.lock().map(|e| e.clone()).unwrap_or_default()
    }
}

impl Subscriber for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let mut captured = Captured {
            name: span.metadata().name().to_owned(),
            level: span.metadata().level().to_string(),
            fields: BTreeMap::new(),
        };
        span.record(&mut Fields(&mut captured.fields));
        if let Ok(mut spans) = self.spans.lock() {
            spans.insert(id, captured);
        }
        Id::from_u64(id)
    }
    fn record(&self, span: &Id, values: &Record<'_>) {
        if let Ok(mut spans) = self.spans.lock() {
            if let Some(captured) = spans.get_mut(&span.into_u64()) {
                values.record(&mut Fields(&mut captured.fields));
            }
        }
    }
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut captured = Captured {
            name: event.metadata().name().to_owned(),
            level: event.metadata().level().to_string(),
            fields: BTreeMap::new(),
        };
        event.record(&mut Fields(&mut captured.fields));
        if let Ok(mut events) = self.events.lock() {
            events.push(captured);
        }
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

/// A dispatcher that is never anyone's default: it only keeps `tracing` from
/// caching a callsite's interest from one thread's point of view.
struct Keeper;

impl Subscriber for Keeper {
    fn register_callsite(&self, _: &'static Metadata<'static>) -> tracing::subscriber::Interest {
        tracing::subscriber::Interest::sometimes()
    }
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        false
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, _: &Event<'_>) {}
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

//! Producers in other languages: the README's Python and Ruby snippets
//! (`tests/producers/`) write envelopes by hand into the SQLite and
//! PostgreSQL queues, and the Rust worker performs every one: a plain
//! payload, one with unknown fields at every level, and one whose keys come
//! in another order (on PostgreSQL, stored through `jsonb`).
//!
//! Python 3 is on every machine of this project (the PostgreSQL test needs
//! psycopg2, Debian's `python3-psycopg2`). Ruby, with the `sqlite3` and `pg`
//! gems (Debian's `ruby-sqlite3` and `ruby-pg`), is installed by `.ci/run`,
//! which sets `JOBWIRE_REQUIRE_PRODUCERS=1`: there a missing interpreter or
//! library fails the test. Elsewhere a test that cannot run says so.

mod support;

use jobwire::backend::sqlite::Sqlite;
use jobwire::backend::Backend;
use jobwire::worker::Worker;
use jobwire::Router;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

/// A producer script and what it writes: user ids `first`, `first + 1`,
/// `first + 2`, and the first payload's message.
struct Producer {
    interpreter: &'static str,
    /// Where to look for it, in order: the first that has the library runs
    /// (a pyenv `python3` may lack the system's psycopg2).
    candidates: &'static [&'static str],
    script: &'static str,
    first: u64,
    hello: &'static str,
    /// The import that fails when the language's SQL library is missing.
    probe: fn(&str) -> Vec<String>,
}

const PYTHON: Producer = Producer {
    interpreter: "python3",
    candidates: &["python3", "/usr/bin/python3"],
    script: "produce.py",
    first: 1,
    hello: "from python",
    probe: |module| vec!["-c".into(), format!("import {module}")],
};

const RUBY: Producer = Producer {
    interpreter: "ruby",
    candidates: &["ruby", "/usr/bin/ruby"],
    script: "produce.rb",
    first: 11,
    hello: "from ruby",
    probe: |gem| vec!["-e".into(), format!("require '{gem}'")],
};

impl Producer {
    /// Runs the producer; `false` when it cannot run here and need not.
    fn produce(&self, library: &str, kind: &str, target: &str) -> bool {
        let found = self.candidates.iter().find(|candidate| {
            Command::new(candidate)
                .args((self.probe)(library))
                .output()
                .is_ok_and(|o| o.status.success())
        });
        let Some(interpreter) = found else {
            assert!(
                std::env::var_os("JOBWIRE_REQUIRE_PRODUCERS").is_none(),
                "`{}` with `{library}` is missing: the producer tests need it (`.ci/run` installs it)",
                self.interpreter
            );
            eprintln!(
                "NOT RUN: `{}` with `{library}` is missing here (Debian: python3-psycopg2, ruby ruby-sqlite3 ruby-pg)",
                self.interpreter
            );
            return false;
        };
        let script = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/producers")
            .join(self.script);
        let output = Command::new(interpreter)
            .arg(script)
            .args([kind, target])
            .output()
            .unwrap_or_else(|e| panic!("runs {}: {e}", self.interpreter));
        assert!(
            output.status.success(),
            "{} {} failed:\n{}",
            self.interpreter,
            self.script,
            String::from_utf8_lossy(&output.stderr)
        );
        true
    }

    /// Performs what the producer wrote, and checks each payload arrived
    /// whole: every argument, the added parameter where it was given.
    async fn perform_all<B: Backend + Clone>(&self, queue: B)
    where
        B::Data: Send,
    {
        let router: Arc<Router<B::Data>> = Arc::new(
            support::builder()
                .lending::<B::Data>()
                .build()
                .unwrap_or_else(|e| panic!("builds: {e}")),
        );
        let report = Worker::new(queue, Arc::clone(&router)).drain().await;
        assert_eq!(
            (
                report.performed,
                report.dead_lettered,
                report.deferred,
                report.retried
            ),
            (3, 0, 0, 0),
            "{report}"
        );
        let mut entries = router
            .state::<support::Log>()
            .map(support::Log::entries)
            .unwrap_or_default();
        entries.sort();
        let first = self.first;
        assert_eq!(
            entries,
            [
                format!(
                    "confirmation {first} \"{}\" Present(\"2026-11-24\")",
                    self.hello
                ),
                format!("confirmation {} \"extra fields\" Missing", first + 1),
                format!("confirmation {} \"reordered\" Missing", first + 2),
            ]
        );
    }

    async fn writes_into_sqlite(&self) {
        let dir = std::env::temp_dir().join(format!(
            "jobwire-producers-{}-{}",
            self.interpreter,
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a scratch folder");
        let path = dir.join("queue.db");
        let queue = Sqlite::open(&path).await.expect("opens");
        // Python's `sqlite3` module and Ruby's `sqlite3` gem.
        if self.produce("sqlite3", "sqlite", &path.display().to_string()) {
            self.perform_all(queue).await;
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[cfg(feature = "postgres")]
    async fn writes_into_postgres(&self) {
        let schema =
            support::postgres::Schema::fresh(&format!("producers_{}", self.interpreter)).await;
        let queue = schema.queue().await;
        let (url, schema_name) = (schema.url.clone(), schema.name.clone());
        // libpq's URL: the same server, this test's schema.
        let separator = if url.contains('?') { '&' } else { '?' };
        let producer_url = format!("{url}{separator}options=-csearch_path%3D{schema_name}");
        let library = if self.interpreter == "ruby" {
            "pg"
        } else {
            "psycopg2"
        };
        if self.produce(library, "postgres", &producer_url) {
            self.perform_all(queue).await;
        }
        schema.remove().await;
    }
}

#[tokio::test]
async fn python_writes_writes_into_sqlite() {
    PYTHON.writes_into_sqlite().await;
}

#[tokio::test]
async fn ruby_writes_writes_into_sqlite() {
    RUBY.writes_into_sqlite().await;
}

#[cfg(feature = "postgres")]
#[tokio::test]
async fn python_writes_writes_into_postgres() {
    PYTHON.writes_into_postgres().await;
}

#[cfg(feature = "postgres")]
#[tokio::test]
async fn ruby_writes_writes_into_postgres() {
    RUBY.writes_into_postgres().await;
}

//! A gate of PostgreSQL advisory locks, in the queue's own database
//! (feature `postgres`).
//!
//! Two session-level locks per gate, on keys derived from its name:
//!
//! - **The gate.** Each worker running gated jobs holds it *shared* (its
//!   pass), on a connection of its own. The deployer takes it *exclusive*:
//!   PostgreSQL grants that only once every pass is given back, so `close`
//!   waits for the gated jobs in flight by construction; and while the
//!   exclusive request waits, no new shared request is granted, so no gated
//!   job starts behind it.
//! - **The deployers' mutex**, taken exclusive with `pg_try_advisory_lock`
//!   before the gate: of two deployers closing at once, one wins and the
//!   other is told at once.
//!
//! Both belong to the deployer's session: a deploy that is killed, or loses
//! its connection, opens the gate by itself, within PostgreSQL's detection
//! of the dead connection (at once for a killed process; within the TCP
//! keepalive for a lost host). No TTL, no cron. A deployer whose session
//! ends while it holds the gate learns it: [`PgHold::open`] then fails with
//! [`GateError::Lapsed`].
//!
//! **A pass outlives its session.** A worker's shared lock goes with its
//! session, and a session can end under a worker whose gated jobs still run
//! (a terminated backend, a network blip). So each pass is also a row in
//! `jobwire_gate_passes`, written when the pass is taken and renewed while
//! it is held, with a lease of [`PASS_LEASE`]. `close` waits for the
//! exclusive lock *and* for every unexpired pass row of the gate. A worker
//! whose session ended cancels its gated jobs, keeps its row alive while
//! they wind down, and deletes it when the last has ended; a worker killed
//! outright leaves a row that expires within [`PASS_LEASE`], so a close
//! waits at most that long for a dead worker.
//!
//! **PgBouncer.** Session locks need a session: in PgBouncer's
//! *transaction* pooling mode, consecutive statements may run on different
//! server connections, so a lock taken by one statement is held by a
//! connection the next statement may not be on, and is released only when
//! that server connection closes. Point the gate, on both sides, at a
//! *session*-pooled port of PgBouncer or at PostgreSQL directly; the queue's
//! own pool can stay in transaction mode (its claims and settlements are
//! single statements or transactions).
//!
//! ```no_run
//! use jobwire::gate::postgres::PgGate;
//! # async fn demo() -> Result<(), jobwire::gate::GateError> {
//! let gate = PgGate::connect("postgres://127.0.0.1/app", "deploy").await?;
//! println!("{}", gate.status().await?);
//! # Ok(())
//! # }
//! ```

use crate::gate::{token, Gate, GateError, GateStatus, Held};
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{ConnectOptions, Connection, Row};
use std::time::Instant;
use std::time::{Duration, UNIX_EPOCH};
use tokio::sync::{Mutex, OnceCell};

/// How long a worker's pass row lasts without renewal: the longest a close
/// waits for a worker that died holding a pass. Renewed every third of it.
pub const PASS_LEASE: Duration = Duration::from_secs(15);

/// The table of passes, created on first use (under a lock, so that workers
/// starting together do not race).
/// Beside it, the holds that `open` ended on purpose, so that a holder whose
/// session ends can tell an `open` from a lapse.
const PASSES: &str = "CREATE TABLE IF NOT EXISTS jobwire_gate_passes (
    gate   TEXT        NOT NULL,
    worker TEXT        NOT NULL,
    since  TIMESTAMPTZ NOT NULL DEFAULT now(),
    until  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (gate, worker)
);
CREATE TABLE IF NOT EXISTS jobwire_gate_opened (
    token  TEXT        PRIMARY KEY,
    at     TIMESTAMPTZ NOT NULL DEFAULT now()
)";

/// A gate of advisory locks. See the [module docs](self).
///
/// ```no_run
/// # async fn demo() -> Result<(), jobwire::gate::GateError> {
/// let gate = jobwire::gate::postgres::PgGate::connect("postgres://127.0.0.1/app", "deploy").await?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct PgGate {
    options: PgConnectOptions,
    name: String,
    key: i64,
    /// The worker side's own session, holding the pass when it has one.
    session: Mutex<Option<PgConnection>>,
    /// This gate's name for its worker in `jobwire_gate_passes`.
    worker: String,
    /// When the worker's pass row was last renewed.
    renewed: std::sync::Mutex<Option<Instant>>,
    /// Whether the table of passes is known to exist.
    table: OnceCell<()>,
}

/// How a deployer's session names itself: then its token.
const HELD: &str = "jobwire-gate ";

/// How the session of a hold taken again after a lapse names itself.
const LAPSED: &str = "jobwire-lapsed ";

fn store(error: impl std::fmt::Display) -> GateError {
    GateError::Store(error.to_string())
}

/// A stable 64-bit key for a gate's name (FNV-1a).
fn key_of(name: &str) -> i64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in b"jobwire-gate:".iter().chain(name.as_bytes()) {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    i64::from_ne_bytes(hash.to_ne_bytes())
}

/// The `pg_locks` columns of a bigint advisory key.
fn parts(key: i64) -> (i64, i64) {
    let bits = u64::from_ne_bytes(key.to_ne_bytes());
    (
        i64::try_from(bits >> 32).unwrap_or(0),
        i64::try_from(bits & 0xffff_ffff).unwrap_or(0),
    )
}

impl PgGate {
    /// The gate called `name` in the database at `url`.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), jobwire::gate::GateError> {
    /// let gate = jobwire::gate::postgres::PgGate::connect("postgres://127.0.0.1/app", "migrations").await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn connect(url: &str, name: &str) -> Result<PgGate, GateError> {
        let options: PgConnectOptions = url.parse().map_err(store)?;
        Ok(PgGate::with_options(options, name))
    }

    /// The gate called `name`, with connection options of your own.
    ///
    /// ```
    /// let options = sqlx::postgres::PgConnectOptions::new().host("127.0.0.1").database("app");
    /// let gate = jobwire::gate::postgres::PgGate::with_options(options, "deploy");
    /// ```
    pub fn with_options(options: PgConnectOptions, name: &str) -> PgGate {
        PgGate {
            options,
            name: name.to_owned(),
            key: key_of(name),
            session: Mutex::new(None),
            worker: format!("{}-{}", std::process::id(), crate::new_id()),
            renewed: std::sync::Mutex::new(None),
            table: OnceCell::new(),
        }
    }

    fn mutex_key(&self) -> i64 {
        self.key ^ 1
    }

    /// Creates the table of passes, once.
    async fn passes_table(&self, connection: &mut PgConnection) -> Result<(), GateError> {
        self.table
            .get_or_try_init(|| async {
                let mut tx = connection.begin().await.map_err(store)?;
                sqlx::query("SELECT pg_advisory_xact_lock($1)")
                    .bind(self.key ^ 2)
                    .execute(&mut *tx)
                    .await
                    .map_err(store)?;
                sqlx::raw_sql(PASSES)
                    .execute(&mut *tx)
                    .await
                    .map_err(store)?;
                tx.commit().await.map_err(store)
            })
            .await
            .map(|_| ())
    }

    /// Waits until no worker holds an unexpired pass row, until `deadline`;
    /// how many still do then.
    async fn wait_for_pass_rows(
        &self,
        session: &mut PgConnection,
        deadline: Instant,
    ) -> Result<u64, GateError> {
        self.passes_table(session).await?;
        loop {
            let left: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM jobwire_gate_passes WHERE gate = $1 AND until > now()",
            )
            .bind(&self.name)
            .fetch_one(&mut *session)
            .await
            .map_err(store)?;
            if left == 0 || Instant::now() >= deadline {
                return Ok(u64::try_from(left).unwrap_or(0));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A session of the deployer's, named so that `status` can show it,
    /// and `open` can tell a hold that lapsed and was taken again.
    async fn deployer_session(&self, token: &str, lapsed: bool) -> Result<PgConnection, GateError> {
        // The token begins with the holder's name.
        let prefix = if lapsed { LAPSED } else { HELD };
        let application = format!("{prefix}{token}");
        let application: String = application.chars().take(63).collect();
        self.options
            .clone()
            .application_name(&application)
            .connect()
            .await
            .map_err(store)
    }

    /// Closes the gate for `holder`, waiting at most `timeout` for the gated
    /// jobs in flight. The gate stays closed as long as the returned
    /// [`PgHold`] (its session) lives; dropping it, or the process dying,
    /// opens it.
    ///
    /// ```no_run
    /// # use std::time::Duration;
    /// # async fn demo(gate: &jobwire::gate::postgres::PgGate) -> Result<(), jobwire::gate::GateError> {
    /// let hold = gate.close("deploy-42", Duration::from_secs(600)).await?;
    /// // ... migrate ...
    /// hold.open().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn close(&self, holder: &str, timeout: Duration) -> Result<PgHold, GateError> {
        self.close_as(holder, token(holder), false, timeout).await
    }

    /// Closes the gate again for a hold that lapsed (its session ended),
    /// under the same token, marked as lapsed: the `open` that ends it fails
    /// with [`GateError::Lapsed`], so that the deployer learns that the
    /// gate was open for a while. `jobwire gate close` in steps does this
    /// when its holder's session ends.
    ///
    /// ```no_run
    /// # use std::time::Duration;
    /// # async fn demo(gate: &jobwire::gate::postgres::PgGate, lost: jobwire::gate::postgres::PgHold) -> Result<(), jobwire::gate::GateError> {
    /// let again = gate.close_again(lost.held(), Duration::from_secs(60)).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn close_again(&self, lapsed: &Held, timeout: Duration) -> Result<PgHold, GateError> {
        let holder = lapsed.token.split('-').next().unwrap_or("deployer");
        self.close_as(holder, lapsed.token.clone(), true, timeout)
            .await
    }

    async fn close_as(
        &self,
        holder: &str,
        token: String,
        lapsed: bool,
        timeout: Duration,
    ) -> Result<PgHold, GateError> {
        let mut session = self.deployer_session(&token, lapsed).await?;
        let won: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(self.mutex_key())
            .fetch_one(&mut session)
            .await
            .map_err(store)?;
        if !won {
            let status = self.status().await.ok();
            return Err(GateError::HeldByOther {
                holder: status
                    .and_then(|s| s.holder)
                    .unwrap_or_else(|| "another deployer".to_owned()),
            });
        }
        tracing::info!(holder, gate = %self.name, "jobwire gate closing: waiting for gated jobs in flight");
        let millis = u64::try_from(timeout.as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("SET lock_timeout = {millis}")))
            .execute(&mut session)
            .await
            .map_err(store)?;
        let deadline = Instant::now() + timeout;
        let waited = sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(self.key)
            .execute(&mut session)
            .await;
        match waited {
            Ok(_) => {}
            Err(sqlx::Error::Database(error)) if error.code().as_deref() == Some("55P03") => {
                let passes = self.passes().await.unwrap_or(0);
                let _ = session.close().await;
                return Err(GateError::StillRunning {
                    waited: timeout,
                    running: format!("{passes} worker(s) still hold a pass"),
                });
            }
            Err(error) => return Err(store(error)),
        }
        sqlx::raw_sql("SET lock_timeout = 0")
            .execute(&mut session)
            .await
            .map_err(store)?;
        // Every shared lock is given back; a pass whose session ended while
        // its gated jobs still run is a row, and is waited for too.
        let left = self.wait_for_pass_rows(&mut session, deadline).await?;
        if left > 0 {
            let _ = session.close().await;
            return Err(GateError::StillRunning {
                waited: timeout,
                running: format!("{left} worker(s) still winding down gated jobs after losing their gate session"),
            });
        }
        tracing::info!(holder, gate = %self.name, "jobwire gate closed");
        Ok(PgHold {
            session,
            held: Held { token, epoch: 0 },
        })
    }

    /// Opens the gate from another process than its holder's: ends the
    /// holder's session (the one whose token is `token`, or whichever holds
    /// it when `None`). `NotHolder` when no such session holds it.
    ///
    /// ```no_run
    /// # async fn demo(gate: &jobwire::gate::postgres::PgGate) -> Result<(), jobwire::gate::GateError> {
    /// gate.open(Some("deploy-42-...")).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn open(&self, token: Option<&str>) -> Result<(), GateError> {
        let mut session = self.options.clone().connect().await.map_err(store)?;
        let (class, object) = parts(self.mutex_key());
        let rows = sqlx::query(
            "SELECT a.pid, a.application_name FROM pg_locks l
             JOIN pg_stat_activity a ON a.pid = l.pid
             WHERE l.locktype = 'advisory' AND l.classid = $1 AND l.objid = $2 AND l.objsubid = 1
               AND l.mode = 'ExclusiveLock' AND l.granted AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())",
        )
        .bind(class)
        .bind(object)
        .fetch_all(&mut session)
        .await
        .map_err(store)?;
        self.passes_table(&mut session).await?;
        let mut ended = false;
        let mut lapsed = false;
        for row in rows {
            let pid: i32 = row.try_get("pid").map_err(store)?;
            let application: String = row.try_get("application_name").unwrap_or_default();
            if token.is_some_and(|token| !application.contains(token)) {
                return Err(GateError::NotHolder(format!(
                    "the gate is held by `{application}`, not by this token"
                )));
            }
            lapsed |= application.starts_with(LAPSED);
            // Said before the session ends: its holder then knows that it
            // was opened, not lost.
            let held = application
                .strip_prefix(HELD)
                .or_else(|| application.strip_prefix(LAPSED))
                .unwrap_or(&application);
            sqlx::query(
                "INSERT INTO jobwire_gate_opened (token) VALUES ($1) ON CONFLICT DO NOTHING",
            )
            .bind(held)
            .execute(&mut session)
            .await
            .map_err(store)?;
            ended |= sqlx::query_scalar::<_, bool>("SELECT pg_terminate_backend($1)")
                .bind(pid)
                .fetch_one(&mut session)
                .await
                .map_err(store)?;
        }
        if ended && lapsed {
            Err(GateError::Lapsed(
                "the hold's session ended while it was held, and the gate was closed again only after that".to_owned(),
            ))
        } else if ended {
            Ok(())
        } else {
            Err(GateError::NotHolder("the gate is open".to_owned()))
        }
    }

    /// Whether `open` ended the hold under `held`'s token on purpose; when
    /// its session has ended otherwise, the hold lapsed.
    ///
    /// ```no_run
    /// # async fn demo(gate: &jobwire::gate::postgres::PgGate, held: &jobwire::gate::Held) -> Result<(), jobwire::gate::GateError> {
    /// if !gate.was_opened(held).await? { /* the session was lost */ }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn was_opened(&self, held: &Held) -> Result<bool, GateError> {
        let mut session = self.options.clone().connect().await.map_err(store)?;
        self.passes_table(&mut session).await?;
        // The markers of a day ago are of no use to anyone.
        sqlx::query("DELETE FROM jobwire_gate_opened WHERE at < now() - interval '1 day'")
            .execute(&mut session)
            .await
            .map_err(store)?;
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM jobwire_gate_opened WHERE token = $1)")
            .bind(&held.token)
            .fetch_one(&mut session)
            .await
            .map_err(store)
    }

    /// How many workers hold a pass: a shared lock, or an unexpired pass
    /// row whose session ended.
    async fn passes(&self) -> Result<u64, GateError> {
        let mut session = self.options.clone().connect().await.map_err(store)?;
        self.passes_table(&mut session).await?;
        let (class, object) = parts(self.key);
        let locks: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = $1
               AND objid = $2 AND objsubid = 1 AND mode = 'ShareLock' AND granted
               AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
        )
        .bind(class)
        .bind(object)
        .fetch_one(&mut session)
        .await
        .map_err(store)?;
        let rows: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM jobwire_gate_passes WHERE gate = $1 AND until > now()",
        )
        .bind(&self.name)
        .fetch_one(&mut session)
        .await
        .map_err(store)?;
        Ok(u64::try_from(locks.max(rows)).unwrap_or(0))
    }

    /// Who holds the gate, since when, and how many workers still hold a
    /// pass (run gated jobs).
    ///
    /// ```no_run
    /// # async fn demo(gate: &jobwire::gate::postgres::PgGate) -> Result<(), jobwire::gate::GateError> {
    /// println!("{}", gate.status().await?);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn status(&self) -> Result<GateStatus, GateError> {
        let mut session = self.options.clone().connect().await.map_err(store)?;
        let (class, object) = parts(self.mutex_key());
        let holder = sqlx::query(
            "SELECT a.application_name, (extract(epoch FROM a.backend_start) * 1000)::bigint AS since
             FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
             WHERE l.locktype = 'advisory' AND l.classid = $1 AND l.objid = $2 AND l.objsubid = 1
               AND l.mode = 'ExclusiveLock' AND l.granted
               AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())",
        )
        .bind(class)
        .bind(object)
        .fetch_optional(&mut session)
        .await
        .map_err(store)?;
        let passes = self.passes().await?;
        Ok(match holder {
            Some(row) => {
                let application: String = row.try_get("application_name").unwrap_or_default();
                let since: i64 = row.try_get("since").unwrap_or(0);
                GateStatus {
                    closed: true,
                    holder: Some(
                        application
                            .strip_prefix(HELD)
                            .or_else(|| application.strip_prefix(LAPSED))
                            .unwrap_or(&application)
                            .to_owned(),
                    ),
                    since: Some(
                        UNIX_EPOCH + Duration::from_millis(u64::try_from(since).unwrap_or(0)),
                    ),
                    expires: None,
                    passes: Some(passes),
                }
            }
            None => GateStatus {
                passes: Some(passes),
                ..GateStatus::default()
            },
        })
    }

    /// The worker side's session, connected on first use.
    async fn with_session<T>(
        &self,
        run: impl for<'c> FnOnce(&'c mut PgConnection) -> futures_boxed::Boxed<'c, T>,
    ) -> Result<T, GateError> {
        let mut session = self.session.lock().await;
        if session.is_none() {
            let connection = self
                .options
                .clone()
                .application_name("jobwire-worker-gate")
                .connect()
                .await
                .map_err(store)?;
            *session = Some(connection);
        }
        if let Some(connection) = session.as_mut() {
            if let Err(error) = self.passes_table(connection).await {
                *session = None;
                return Err(error);
            }
        }
        let Some(connection) = session.as_mut() else {
            return Err(store("no session"));
        };
        match run(connection).await {
            Ok(value) => Ok(value),
            Err(error) => {
                // A lost session took its pass with it: start afresh.
                *session = None;
                Err(store(error))
            }
        }
    }
}

/// Boxed futures borrowing a connection, for [`PgGate::with_session`].
mod futures_boxed {
    use std::future::Future;
    use std::pin::Pin;
    pub type Boxed<'c, T> = Pin<Box<dyn Future<Output = Result<T, sqlx::Error>> + Send + 'c>>;
}

/// A closed PostgreSQL gate: it stays closed while this lives (its session
/// holds the locks).
///
/// ```no_run
/// # use std::time::Duration;
/// # async fn demo(gate: &jobwire::gate::postgres::PgGate) -> Result<(), jobwire::gate::GateError> {
/// let hold = gate.close("deploy-42", Duration::from_secs(60)).await?;
/// println!("closed: {}", hold.held());
/// hold.open().await?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct PgHold {
    session: PgConnection,
    held: Held,
}

impl PgHold {
    /// The hold's token.
    ///
    /// ```no_run
    /// # fn demo(hold: &jobwire::gate::postgres::PgHold) {
    /// println!("{}", hold.held().token);
    /// # }
    /// ```
    pub fn held(&self) -> &Held {
        &self.held
    }

    /// Whether the session (and so the gate) is still held.
    ///
    /// ```no_run
    /// # async fn demo(hold: &mut jobwire::gate::postgres::PgHold) {
    /// let still = hold.alive().await;
    /// # }
    /// ```
    pub async fn alive(&mut self) -> bool {
        self.session.ping().await.is_ok()
    }

    /// Opens the gate: ends the session, which releases both locks. Fails
    /// with [`GateError::Lapsed`] when the session had ended before (a
    /// terminated backend, a restart, a lost connection): the gate was
    /// open since then, and gated jobs may have run.
    ///
    /// ```no_run
    /// # async fn demo(hold: jobwire::gate::postgres::PgHold) -> Result<(), jobwire::gate::GateError> {
    /// hold.open().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn open(mut self) -> Result<(), GateError> {
        if !self.alive().await {
            return Err(GateError::Lapsed(
                "the gate's PostgreSQL session ended while it was held".to_owned(),
            ));
        }
        self.session.close().await.map_err(store)?;
        tracing::info!("jobwire gate opened");
        Ok(())
    }
}

impl PgGate {
    /// Whether the worker's pass row is due for renewal.
    fn renewal_due(&self) -> bool {
        let renewed = self.renewed.lock().unwrap_or_else(|e| e.into_inner());
        renewed.is_none_or(|at| at.elapsed() >= PASS_LEASE / 3)
    }

    fn renewed_now(&self, now: Option<Instant>) {
        *self.renewed.lock().unwrap_or_else(|e| e.into_inner()) = now;
    }
}

impl Gate for PgGate {
    async fn enter(&self) -> Result<bool, GateError> {
        let (key, gate, worker) = (self.key, self.name.clone(), self.worker.clone());
        let lease = i64::try_from(PASS_LEASE.as_millis()).unwrap_or(i64::MAX);
        let entered = self
            .with_session(move |c| {
                Box::pin(async move {
                    let granted =
                        sqlx::query_scalar::<_, bool>("SELECT pg_try_advisory_lock_shared($1)")
                            .bind(key)
                            .fetch_one(&mut *c)
                            .await?;
                    if granted {
                        // The pass's row, before any gated job is claimed.
                        sqlx::query(
                            "INSERT INTO jobwire_gate_passes (gate, worker, until)
                             VALUES ($1, $2, now() + $3 * interval '1 millisecond')
                             ON CONFLICT (gate, worker) DO UPDATE SET until = EXCLUDED.until",
                        )
                        .bind(gate)
                        .bind(worker)
                        .bind(lease)
                        .execute(&mut *c)
                        .await?;
                    }
                    Ok(granted)
                })
            })
            .await?;
        if entered {
            self.renewed_now(Some(Instant::now()));
        }
        Ok(entered)
    }

    async fn closing(&self) -> Result<bool, GateError> {
        let (class, object) = parts(self.key);
        let renew = self.renewal_due();
        let (gate, worker) = (self.name.clone(), self.worker.clone());
        let lease = i64::try_from(PASS_LEASE.as_millis()).unwrap_or(i64::MAX);
        let closing = self
            .with_session(move |c| {
                Box::pin(async move {
                    if renew {
                        sqlx::query(
                            "UPDATE jobwire_gate_passes SET until = now() + $3 * interval '1 millisecond'
                             WHERE gate = $1 AND worker = $2",
                        )
                        .bind(gate)
                        .bind(worker)
                        .bind(lease)
                        .execute(&mut *c)
                        .await?;
                    }
                    sqlx::query_scalar::<_, bool>(
                        "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory'
                           AND classid = $1 AND objid = $2 AND objsubid = 1 AND mode = 'ExclusiveLock'
                           AND database = (SELECT oid FROM pg_database WHERE datname = current_database()))",
                    )
                    .bind(class)
                    .bind(object)
                    .fetch_one(&mut *c)
                    .await
                })
            })
            .await;
        if renew && closing.is_ok() {
            self.renewed_now(Some(Instant::now()));
        }
        closing
    }

    async fn leave(&self) -> Result<(), GateError> {
        let (gate, worker) = (self.name.clone(), self.worker.clone());
        self.renewed_now(None);
        self.with_session(move |c| {
            Box::pin(async move {
                sqlx::query("DELETE FROM jobwire_gate_passes WHERE gate = $1 AND worker = $2")
                    .bind(gate)
                    .bind(worker)
                    .execute(&mut *c)
                    .await?;
                sqlx::query("SELECT pg_advisory_unlock_all()")
                    .execute(&mut *c)
                    .await
                    .map(drop)
            })
        })
        .await
    }
}

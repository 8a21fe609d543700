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
//! keepalive for a lost host). No TTL, no cron.
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
use std::time::{Duration, UNIX_EPOCH};
use tokio::sync::Mutex;

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
}

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
        }
    }

    fn mutex_key(&self) -> i64 {
        self.key ^ 1
    }

    /// A session of the deployer's, named so that `status` can show it.
    async fn deployer_session(&self, token: &str) -> Result<PgConnection, GateError> {
        // The token begins with the holder's name.
        let application = format!("jobwire-gate {token}");
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
        let token = token(holder);
        let mut session = self.deployer_session(&token).await?;
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
                    running: format!("{passes} worker(s) still running gated jobs"),
                });
            }
            Err(error) => return Err(store(error)),
        }
        sqlx::raw_sql("SET lock_timeout = 0")
            .execute(&mut session)
            .await
            .map_err(store)?;
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
        let mut ended = false;
        for row in rows {
            let pid: i32 = row.try_get("pid").map_err(store)?;
            let application: String = row.try_get("application_name").unwrap_or_default();
            if token.is_some_and(|token| !application.contains(token)) {
                return Err(GateError::NotHolder(format!(
                    "the gate is held by `{application}`, not by this token"
                )));
            }
            ended |= sqlx::query_scalar::<_, bool>("SELECT pg_terminate_backend($1)")
                .bind(pid)
                .fetch_one(&mut session)
                .await
                .map_err(store)?;
        }
        if ended {
            Ok(())
        } else {
            Err(GateError::NotHolder("the gate is open".to_owned()))
        }
    }

    /// How many workers hold a pass.
    async fn passes(&self) -> Result<u64, GateError> {
        let mut session = self.options.clone().connect().await.map_err(store)?;
        let (class, object) = parts(self.key);
        let count: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = $1
               AND objid = $2 AND objsubid = 1 AND mode = 'ShareLock' AND granted
               AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
        )
        .bind(class)
        .bind(object)
        .fetch_one(&mut session)
        .await
        .map_err(store)?;
        Ok(u64::try_from(count).unwrap_or(0))
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
                            .strip_prefix("jobwire-gate ")
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

    /// Opens the gate: ends the session, which releases both locks.
    ///
    /// ```no_run
    /// # async fn demo(hold: jobwire::gate::postgres::PgHold) -> Result<(), jobwire::gate::GateError> {
    /// hold.open().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn open(self) -> Result<(), GateError> {
        self.session.close().await.map_err(store)?;
        tracing::info!("jobwire gate opened");
        Ok(())
    }
}

impl Gate for PgGate {
    async fn enter(&self) -> Result<bool, GateError> {
        let key = self.key;
        self.with_session(move |c| {
            Box::pin(async move {
                sqlx::query_scalar::<_, bool>("SELECT pg_try_advisory_lock_shared($1)")
                    .bind(key)
                    .fetch_one(c)
                    .await
            })
        })
        .await
    }

    async fn closing(&self) -> Result<bool, GateError> {
        let (class, object) = parts(self.key);
        self.with_session(move |c| {
            Box::pin(async move {
                sqlx::query_scalar::<_, bool>(
                    "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory'
                       AND classid = $1 AND objid = $2 AND objsubid = 1 AND mode = 'ExclusiveLock'
                       AND database = (SELECT oid FROM pg_database WHERE datname = current_database()))",
                )
                .bind(class)
                .bind(object)
                .fetch_one(c)
                .await
            })
        })
        .await
    }

    async fn leave(&self) -> Result<(), GateError> {
        self.with_session(|c| {
            Box::pin(async move {
                sqlx::query("SELECT pg_advisory_unlock_all()")
                    .execute(c)
                    .await
                    .map(drop)
            })
        })
        .await
    }
}

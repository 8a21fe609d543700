//! The deploy console: a web page over a queue, for the person deploying
//! (feature `web`; `jobwire serve` runs it).
//!
//! - **Deploy**: what waits per (job, version, place) with the oldest
//!   job's age, updated live; the releases of the deploy window and, for
//!   each upcaster, alias and retired job of the current release, whether
//!   it can go ([`drain::answer`](crate::drain::answer)).
//! - **Jobs**: each job's header, last error and envelope, pretty-printed.
//! - **Dead letters**: the bytes as stored (text, or hex when not UTF-8),
//!   the reason, and requeue and discard, one at a time or by filter.
//! - **Gate**: open or closed, the holder, since when, the lease, the
//!   workers that still hold a pass; close and open.
//! - **Health**: charts of the last hour, and on PostgreSQL the tables'
//!   live and dead tuples.
//! - **`/metrics`**: gauges in Prometheus's text format.
//!
//! It is read-only unless given a token. With one, a person signs in with
//! it; every form carries a CSRF token, cookies are `SameSite=Strict`,
//! and a request from another site is refused. A script sends
//! `Authorization: Bearer TOKEN`. Every change is logged (target
//! `jobwire::console`) with who made it.
//!
//! Pages never scan the queue: a sampler reads it every
//! [`with_interval`](Console::with_interval) (2 s by default, or four
//! times as long as the last read took, whichever is longer) and pages
//! show the latest reading, so a million waiting jobs cost one count per
//! interval, not one per request.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use jobwire::console::Console;
//! let queue = jobwire::backend::sqlite::Sqlite::open("jobs.db").await?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! Console::new(queue).with_token("s3cret").serve(listener).await?;
//! # Ok(())
//! # }
//! ```

mod auth;
mod gate;
mod page;

pub use gate::ConsoleGate;

use crate::backend::any::AnyQueue;

use crate::drain::{answer, Place, Question, Waiting};
use auth::{Auth, Refused};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use gate::GateControl;
use page::{DeadFilter, JobFilter, Viewer};
use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::{Duration, SystemTime};

/// A web console over one queue.
///
/// ```no_run
/// # async fn demo(queue: jobwire::backend::sqlite::Sqlite) -> std::io::Result<()> {
/// let console = jobwire::console::Console::new(queue)
///     .with_manifests("manifests/")
///     .with_interval(std::time::Duration::from_secs(5));
/// let app: axum::Router = console.router();
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Console {
    queue: AnyQueue,
    token: Option<String>,
    manifests: Option<PathBuf>,
    gate: Option<ConsoleGate>,
    interval: Duration,
}

impl Console {
    /// A read-only console over `queue`.
    ///
    /// ```no_run
    /// # async fn demo(queue: jobwire::backend::sqlite::Sqlite) {
    /// let console = jobwire::console::Console::new(queue);
    /// # }
    /// ```
    pub fn new(queue: impl Into<AnyQueue>) -> Console {
        Console {
            queue: queue.into(),
            token: None,
            manifests: None,
            gate: None,
            interval: Duration::from_secs(2),
        }
    }

    /// Allows changes (requeue, discard, the gate) to whoever signs in
    /// with `token`, or sends it as a bearer token. An empty token keeps
    /// the console read-only.
    ///
    /// ```no_run
    /// # async fn demo(queue: jobwire::backend::sqlite::Sqlite) {
    /// let console = jobwire::console::Console::new(queue).with_token("s3cret");
    /// # }
    /// ```
    pub fn with_token(mut self, token: impl Into<String>) -> Console {
        self.token = Some(token.into());
        self
    }

    /// Reads the deploy window's manifests from `dir` (the folder `jobwire
    /// release` writes), for the deploy view's questions.
    ///
    /// ```no_run
    /// # async fn demo(queue: jobwire::backend::sqlite::Sqlite) {
    /// let console = jobwire::console::Console::new(queue).with_manifests("manifests/");
    /// # }
    /// ```
    pub fn with_manifests(mut self, dir: impl Into<PathBuf>) -> Console {
        self.manifests = Some(dir.into());
        self
    }

    /// Shows `gate`, and lets a signed-in person close and open it.
    ///
    /// ```no_run
    /// # async fn demo(queue: jobwire::backend::sqlite::Sqlite) {
    /// use jobwire::console::{Console, ConsoleGate};
    /// use jobwire::gate::file::FileGate;
    /// let console = Console::new(queue).with_gate(ConsoleGate::File(FileGate::new("deploy.gate")));
    /// # }
    /// ```
    pub fn with_gate(mut self, gate: ConsoleGate) -> Console {
        self.gate = Some(gate);
        self
    }

    /// How often the queue is read (2 s unless told; at least 100 ms).
    ///
    /// ```no_run
    /// # async fn demo(queue: jobwire::backend::sqlite::Sqlite) {
    /// let console = jobwire::console::Console::new(queue).with_interval(std::time::Duration::from_secs(10));
    /// # }
    /// ```
    pub fn with_interval(mut self, interval: Duration) -> Console {
        self.interval = interval.max(Duration::from_millis(100));
        self
    }

    /// The console's routes, to serve or to nest in an application. Call
    /// it inside a tokio runtime: it starts the sampler, which stops when
    /// the router is dropped.
    ///
    /// ```no_run
    /// # async fn demo(queue: jobwire::backend::sqlite::Sqlite) {
    /// let app = axum::Router::new().nest("/jobs", jobwire::console::Console::new(queue).router());
    /// # }
    /// ```
    pub fn router(self) -> Router {
        let state = Arc::new(Shared {
            queue: self.queue,
            auth: Auth::new(self.token),
            manifests: self.manifests,
            gate: self.gate.map(GateControl::new),
            interval: self.interval,
            reading: RwLock::new(None),
            history: Mutex::new(VecDeque::new()),
            #[cfg(feature = "postgres")]
            health: RwLock::new(None),
        });
        tokio::spawn(sample(Arc::downgrade(&state)));
        Router::new()
            .route("/", get(deploy))
            .route("/part/deploy", get(deploy_part))
            .route("/api/waiting", get(waiting_json))
            .route("/jobs", get(jobs))
            .route("/dead", get(dead_list))
            .route("/dead/requeue", post(dead_requeue_many))
            .route("/dead/discard", post(dead_discard_many))
            .route("/dead/{key}", get(dead_one))
            .route("/dead/{key}/requeue", post(dead_requeue))
            .route("/dead/{key}/discard", post(dead_discard))
            .route("/gate", get(gate_page))
            .route("/gate/close", post(gate_close))
            .route("/gate/open", post(gate_open))
            .route("/health", get(health))
            .route("/metrics", get(metrics))
            .route("/signin", get(sign_in_page).post(sign_in))
            .route("/signout", post(sign_out))
            .route("/console.css", get(css))
            .route("/console.js", get(js))
            .with_state(state)
    }

    /// Serves the console on `listener` until the task is cancelled.
    ///
    /// ```no_run
    /// # async fn demo(queue: jobwire::backend::sqlite::Sqlite) -> std::io::Result<()> {
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
    /// jobwire::console::Console::new(queue).serve(listener).await
    /// # }
    /// ```
    pub async fn serve(self, listener: tokio::net::TcpListener) -> std::io::Result<()> {
        axum::serve(listener, self.router()).await
    }
}

/// What every request sees.
struct Shared {
    queue: AnyQueue,
    auth: Auth,
    manifests: Option<PathBuf>,
    gate: Option<GateControl>,
    interval: Duration,
    /// The latest reading of the queue.
    reading: RwLock<Option<Reading>>,
    /// The last hour of readings, oldest first.
    history: Mutex<VecDeque<Sample>>,
    /// The latest table health (PostgreSQL), read every 15 intervals.
    #[cfg(feature = "postgres")]
    health: RwLock<Option<Result<crate::backend::postgres::Health, String>>>,
}

/// The state each handler gets.
type App = Arc<Shared>;

/// One reading of the queue.
#[derive(Clone)]
struct Reading {
    at: SystemTime,
    waiting: Result<Vec<Waiting>, String>,
}

/// What the charts draw, per reading.
struct Sample {
    at: SystemTime,
    ready: u64,
    dead: u64,
    oldest_ready_secs: f64,
    /// Jobs ever enqueued, and all the queue holds now (dead letters
    /// included): what finished between two readings is the difference of
    /// the first less the difference of the second.
    enqueued: Option<u64>,
    held: u64,
}

/// Reads the queue every interval while the console lives.
async fn sample(state: Weak<Shared>) {
    let mut tick: u64 = 0;
    loop {
        let Some(shared) = state.upgrade() else {
            return;
        };
        let started = SystemTime::now();
        let reading = Reading {
            at: started,
            waiting: shared.queue.waiting().await.map_err(|e| e.to_string()),
        };
        let enqueued = shared.queue.enqueued_total().await.ok().flatten();
        if let Ok(waiting) = &reading.waiting {
            let of = |place: Place| {
                waiting
                    .iter()
                    .filter(|w| w.place == place)
                    .map(|w| w.count)
                    .sum()
            };
            let oldest_ready_secs = waiting
                .iter()
                .filter(|w| w.place == Place::Ready)
                .filter_map(|w| w.oldest_enqueued_at)
                .min()
                .and_then(|at| reading.at.duration_since(at).ok())
                .map_or(0.0, |d| d.as_secs_f64());
            if let Ok(mut history) = shared.history.lock() {
                let keep = (3600 / shared.interval.as_secs().max(1)) as usize;
                while history.len() >= keep.max(2) {
                    history.pop_front();
                }
                history.push_back(Sample {
                    at: reading.at,
                    ready: of(Place::Ready),
                    dead: of(Place::DeadLettered),
                    oldest_ready_secs,
                    enqueued,
                    held: waiting.iter().map(|w| w.count).sum(),
                });
            }
        }
        if let Ok(mut latest) = shared.reading.write() {
            *latest = Some(reading);
        }
        #[cfg(feature = "postgres")]
        if tick.is_multiple_of(15) {
            if let AnyQueue::Postgres(queue) = &shared.queue {
                let health = queue.health().await.map_err(|e| e.to_string());
                if let Ok(mut latest) = shared.health.write() {
                    *latest = Some(health);
                }
            }
        }
        tick = tick.wrapping_add(1);
        // A count that takes long (a huge backlog) is not repeated at once:
        // the sampler keeps the database at most a fifth busy.
        let took = SystemTime::now()
            .duration_since(started)
            .unwrap_or_default();
        let pause = shared.interval.max(took.saturating_mul(4));
        drop(shared);
        tokio::time::sleep(pause).await;
    }
}

impl Shared {
    /// The latest reading; read now if the sampler has not read yet.
    async fn reading(&self) -> Reading {
        if let Some(reading) = self.reading.read().ok().and_then(|r| r.clone()) {
            return reading;
        }
        Reading {
            at: SystemTime::now(),
            waiting: self.queue.waiting().await.map_err(|e| e.to_string()),
        }
    }

    fn viewer(&self, headers: &HeaderMap) -> Viewer {
        Viewer {
            writable: self.auth.writable(),
            session: self.auth.session(headers).map(|s| (s.who, s.csrf)),
        }
    }

    fn page(&self, title: &str, headers: &HeaderMap, body: &str) -> Response {
        html(
            StatusCode::OK,
            page::layout(title, self.queue.kind(), &self.viewer(headers), body),
        )
    }
}

/// An HTML response with the console's headers: no script but its own,
/// no framing, no sniffing, no caching.
fn html(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'self'; script-src 'self'; style-src 'self'; frame-ancestors 'none'; form-action 'self'"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    response
}

fn refused(state: &Shared, headers: &HeaderMap, why: &Refused) -> Response {
    let (status, text) = match why {
        Refused::ReadOnly => (StatusCode::FORBIDDEN, "refused: this console is read-only (start it with --token or JOBWIRE_TOKEN to allow changes)"),
        Refused::Unauthorized => (StatusCode::UNAUTHORIZED, "refused: sign in with the console's token first"),
        Refused::CrossSite => (StatusCode::FORBIDDEN, "refused: the request did not come from this console's own page (cross-site, or without its CSRF token)"),
    };
    tracing::warn!(target: "jobwire::console", refused = text, "a change was refused");
    let body = page::layout(
        "Refused",
        state.queue.kind(),
        &state.viewer(headers),
        &page::notice(text, false),
    );
    html(status, body)
}

// ---- deploy view ----------------------------------------------------------

async fn deploy(State(state): State<App>, headers: HeaderMap) -> Response {
    let reading = state.reading().await;
    let mut body = String::new();
    body.push_str(r#"<div id="live" data-src="/part/deploy">"#);
    body.push_str(&deploy_fragment(&reading));
    body.push_str("</div>");
    let (answers, releases, problem) = drain_questions(&state, &reading);
    if let Some(problem) = problem {
        body.push_str(&page::notice(&problem, false));
    }
    body.push_str(&page::answers(&answers, &releases));
    state.page("Deploy", &headers, &body)
}

async fn deploy_part(State(state): State<App>) -> Response {
    let reading = state.reading().await;
    html(StatusCode::OK, deploy_fragment(&reading))
}

fn deploy_fragment(reading: &Reading) -> String {
    match &reading.waiting {
        Ok(waiting) => format!(
            r#"{}<p class="muted" id="read-at">read {} ago; updates without a reload</p>"#,
            page::drain_table(waiting),
            page::ago(Some(reading.at))
        ),
        Err(error) => page::notice(&format!("the queue could not be read: {error}"), false),
    }
}

/// The deploy window's questions, answered; the releases; what went wrong
/// reading the manifests.
fn drain_questions(
    state: &Shared,
    reading: &Reading,
) -> (Vec<crate::drain::Answer>, Vec<String>, Option<String>) {
    let Some(dir) = &state.manifests else {
        return (Vec::new(), Vec::new(), None);
    };
    let window = match crate::check::deploy_window(dir) {
        Ok(window) => window,
        Err(error) => {
            return (
                Vec::new(),
                Vec::new(),
                Some(format!("the manifests could not be read: {error}")),
            )
        }
    };
    let releases = window
        .iter()
        .enumerate()
        .map(|(n, m)| {
            m.release
                .clone()
                .unwrap_or_else(|| format!("release {}", n + 1))
        })
        .collect();
    let Ok(waiting) = &reading.waiting else {
        return (Vec::new(), releases, None);
    };
    let mut questions = Vec::new();
    if let Some(current) = window.last() {
        for (name, job) in &current.jobs {
            let own = crate::wire::Line::of(&job.version);
            for line in &job.reads {
                if line.0 != own {
                    questions.push(Question::Upcaster {
                        job: name.clone(),
                        line: line.0,
                    });
                }
            }
            for alias in &job.aliases {
                questions.push(Question::Alias {
                    alias: alias.clone(),
                });
            }
        }
        for name in current.tombstones.keys() {
            questions.push(Question::Retire { job: name.clone() });
        }
    }
    let answers = questions
        .iter()
        .map(|q| answer(q, waiting, &window))
        .collect();
    (answers, releases, None)
}

async fn waiting_json(State(state): State<App>) -> Response {
    let reading = state.reading().await;
    match reading.waiting {
        Ok(waiting) => {
            let rows: Vec<serde_json::Value> = waiting.iter().map(Waiting::to_json).collect();
            Json(rows).into_response()
        }
        Err(error) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({ "error": error })),
        )
            .into_response(),
    }
}

// ---- jobs -----------------------------------------------------------------

/// At most this many of a job's rows are read for the jobs page, oldest
/// first, and filtered by version and place.
const READ: usize = 500;

async fn jobs(
    State(state): State<App>,
    headers: HeaderMap,
    Query(filter): Query<JobFilter>,
) -> Response {
    let name = filter.job.as_deref().filter(|j| !j.is_empty());
    let body = match state.queue.jobs(name, READ).await {
        Ok(read) => {
            let shown: Vec<_> = read
                .iter()
                .filter(|j| filter.admits(j))
                .take(LISTED)
                .collect();
            page::jobs(&shown, read.len(), &filter)
        }
        Err(error) => page::notice(&format!("the jobs could not be listed: {error}"), false),
    };
    state.page("Jobs", &headers, &body)
}

// ---- dead letters ---------------------------------------------------------

/// At most this many dead letters are listed on one page.
const LISTED: usize = 500;

async fn dead_list(
    State(state): State<App>,
    headers: HeaderMap,
    Query(filter): Query<DeadFilter>,
) -> Response {
    dead_list_with(&state, &headers, &filter, None).await
}

async fn dead_list_with(
    state: &Shared,
    headers: &HeaderMap,
    filter: &DeadFilter,
    notice: Option<(String, bool)>,
) -> Response {
    let mut body = notice.map_or_else(String::new, |(text, ok)| page::notice(&text, ok));
    if filter.unreadable() {
        body.push_str(&page::notice(
            "`dead within the last` needs a number of minutes",
            false,
        ));
    }
    match state.queue.dead_letters().await.map_err(|e| e.to_string()) {
        Ok(deads) => {
            let shown: Vec<_> = deads
                .iter()
                .filter(|d| filter.admits(d))
                .take(LISTED)
                .collect();
            body.push_str(&page::dead_list(
                &shown,
                deads.len(),
                filter,
                &state.viewer(headers),
            ));
        }
        Err(error) => body.push_str(&page::notice(
            &format!("the dead letters could not be read: {error}"),
            false,
        )),
    }
    state.page("Dead letters", headers, &body)
}

async fn dead_one(
    State(state): State<App>,
    headers: HeaderMap,
    Path(key): Path<String>,
) -> Response {
    match state.queue.dead_letters().await.map_err(|e| e.to_string()) {
        Ok(deads) => match deads.iter().find(|d| d.key() == key) {
            Some(dead) => state.page(
                &format!("Dead letter {key}"),
                &headers,
                &page::dead_one(dead, &state.viewer(&headers)),
            ),
            None => html(
                StatusCode::NOT_FOUND,
                page::layout(
                    "Not found",
                    state.queue.kind(),
                    &state.viewer(&headers),
                    &page::notice(
                        &format!("no dead letter {key}: requeued or discarded already?"),
                        false,
                    ),
                ),
            ),
        },
        Err(error) => html(
            StatusCode::SERVICE_UNAVAILABLE,
            page::layout(
                "Dead letter",
                state.queue.kind(),
                &state.viewer(&headers),
                &page::notice(&error, false),
            ),
        ),
    }
}

/// A form's fields: its CSRF token and, for the changes by filter, the filter.
#[derive(serde::Deserialize, Default)]
struct Fields {
    #[serde(default)]
    csrf: Option<String>,
    #[serde(default)]
    job: Option<String>,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    within_minutes: Option<String>,
}

impl Fields {
    fn filter(&self) -> DeadFilter {
        DeadFilter {
            job: self.job.clone(),
            version: self.version.clone(),
            within_minutes: self.within_minutes.clone(),
        }
    }
}

#[derive(Clone, Copy)]
enum DeadAction {
    Requeue,
    Discard,
}

impl DeadAction {
    fn verb(self) -> &'static str {
        match self {
            DeadAction::Requeue => "requeued",
            DeadAction::Discard => "discarded",
        }
    }

    async fn run(self, queue: &AnyQueue, key: &str) -> Result<bool, String> {
        match self {
            DeadAction::Requeue => queue.requeue_dead(key).await.map_err(|e| e.to_string()),
            DeadAction::Discard => queue.discard_dead(key).await.map_err(|e| e.to_string()),
        }
    }
}

async fn dead_change(
    state: &Shared,
    headers: &HeaderMap,
    fields: &Fields,
    key: &str,
    action: DeadAction,
) -> Response {
    let who = match state.auth.permit(headers, fields.csrf.as_deref()) {
        Ok(who) => who,
        Err(why) => return refused(state, headers, &why),
    };
    let (text, ok) = match action.run(&state.queue, key).await {
        Ok(true) => (format!("dead letter {key} {}", action.verb()), true),
        Ok(false) => (
            format!("no dead letter {key}: nothing {}", action.verb()),
            false,
        ),
        Err(error) => (
            format!("dead letter {key} could not be {}: {error}", action.verb()),
            false,
        ),
    };
    tracing::info!(target: "jobwire::console", who = %who, action = action.verb(), dead_letter = %key, done = ok, "{text}");
    dead_list_with(state, headers, &DeadFilter::default(), Some((text, ok))).await
}

async fn dead_change_many(
    state: &Shared,
    headers: &HeaderMap,
    fields: &Fields,
    action: DeadAction,
) -> Response {
    let who = match state.auth.permit(headers, fields.csrf.as_deref()) {
        Ok(who) => who,
        Err(why) => return refused(state, headers, &why),
    };
    let filter = fields.filter();
    if filter.unreadable() {
        return dead_list_with(
            state,
            headers,
            &filter,
            Some((
                "nothing changed: the filter's minutes are not a number".to_owned(),
                false,
            )),
        )
        .await;
    }
    let deads = match state.queue.dead_letters().await.map_err(|e| e.to_string()) {
        Ok(deads) => deads,
        Err(error) => return dead_list_with(state, headers, &filter, Some((error, false))).await,
    };
    let (mut done, mut failed) = (0u64, Vec::new());
    for dead in deads.iter().filter(|d| filter.admits(d)) {
        let key = dead.key();
        match action.run(&state.queue, &key).await {
            Ok(true) => done += 1,
            Ok(false) => {}
            Err(error) => failed.push(format!("{key}: {error}")),
        }
    }
    let text = if failed.is_empty() {
        format!("{done} dead letters {}", action.verb())
    } else {
        format!(
            "{done} dead letters {}; {} failed: {}",
            action.verb(),
            failed.len(),
            failed.join("; ")
        )
    };
    tracing::info!(target: "jobwire::console", who = %who, action = action.verb(), job = ?filter.job, version = ?filter.version, within_minutes = ?filter.within_minutes, count = done, "{text}");
    dead_list_with(
        state,
        headers,
        &DeadFilter::default(),
        Some((text, failed.is_empty())),
    )
    .await
}

async fn dead_requeue(
    State(state): State<App>,
    headers: HeaderMap,
    Path(key): Path<String>,
    Form(fields): Form<Fields>,
) -> Response {
    dead_change(&state, &headers, &fields, &key, DeadAction::Requeue).await
}

async fn dead_discard(
    State(state): State<App>,
    headers: HeaderMap,
    Path(key): Path<String>,
    Form(fields): Form<Fields>,
) -> Response {
    dead_change(&state, &headers, &fields, &key, DeadAction::Discard).await
}

async fn dead_requeue_many(
    State(state): State<App>,
    headers: HeaderMap,
    Form(fields): Form<Fields>,
) -> Response {
    dead_change_many(&state, &headers, &fields, DeadAction::Requeue).await
}

async fn dead_discard_many(
    State(state): State<App>,
    headers: HeaderMap,
    Form(fields): Form<Fields>,
) -> Response {
    dead_change_many(&state, &headers, &fields, DeadAction::Discard).await
}

// ---- gate -----------------------------------------------------------------

async fn gate_page(State(state): State<App>, headers: HeaderMap) -> Response {
    gate_page_with(&state, &headers, None).await
}

async fn gate_page_with(
    state: &Shared,
    headers: &HeaderMap,
    notice: Option<(String, bool)>,
) -> Response {
    let mut body = notice.map_or_else(String::new, |(text, ok)| page::notice(&text, ok));
    let viewer = state.viewer(headers);
    match &state.gate {
        Some(gate) => {
            let status = gate.status().await.map_err(|e| e.to_string());
            body.push_str(&page::gate(
                status.as_ref().map_err(Clone::clone),
                true,
                gate.holds().await,
                &viewer,
            ));
        }
        None => body.push_str(&page::gate(Err(String::new()), false, false, &viewer)),
    }
    state.page("Gate", headers, &body)
}

async fn gate_change(
    state: &Shared,
    headers: &HeaderMap,
    fields: &Fields,
    close: bool,
) -> Response {
    let who = match state.auth.permit(headers, fields.csrf.as_deref()) {
        Ok(who) => who,
        Err(why) => return refused(state, headers, &why),
    };
    let Some(gate) = &state.gate else {
        return gate_page_with(
            state,
            headers,
            Some(("this console has no gate".to_owned(), false)),
        )
        .await;
    };
    let result = if close {
        gate.close(&format!("console:{who}")).await
    } else {
        gate.open().await
    };
    let verb = if close { "closed" } else { "opened" };
    let (text, ok) = match result {
        Ok(()) => (format!("gate {verb}"), true),
        Err(error) => (format!("the gate was not {verb}: {error}"), false),
    };
    tracing::info!(target: "jobwire::console", who = %who, action = if close { "gate close" } else { "gate open" }, done = ok, "{text}");
    gate_page_with(state, headers, Some((text, ok))).await
}

async fn gate_close(
    State(state): State<App>,
    headers: HeaderMap,
    Form(fields): Form<Fields>,
) -> Response {
    gate_change(&state, &headers, &fields, true).await
}

async fn gate_open(
    State(state): State<App>,
    headers: HeaderMap,
    Form(fields): Form<Fields>,
) -> Response {
    gate_change(&state, &headers, &fields, false).await
}

// ---- health and metrics ---------------------------------------------------

async fn health(State(state): State<App>, headers: HeaderMap) -> Response {
    let mut body = String::new();
    let (ready, dead, oldest, finished) = match state.history.lock() {
        Ok(history) => (
            history
                .iter()
                .map(|s| (s.at, s.ready as f64))
                .collect::<Vec<_>>(),
            history
                .iter()
                .map(|s| (s.at, s.dead as f64))
                .collect::<Vec<_>>(),
            history
                .iter()
                .map(|s| (s.at, s.oldest_ready_secs))
                .collect::<Vec<_>>(),
            throughput(&history),
        ),
        Err(_) => Default::default(),
    };
    if let Some(finished) = finished {
        body.push_str(&page::chart(
            "chart-throughput",
            "jobs finished per second",
            &finished,
        ));
    }
    body.push_str(&page::chart("chart-ready", "jobs ready", &ready));
    body.push_str(&page::chart(
        "chart-latency",
        "oldest ready job's wait, s (pickup latency)",
        &oldest,
    ));
    body.push_str(&page::chart("chart-dead", "dead letters", &dead));
    #[cfg(feature = "postgres")]
    {
        let latest = state.health.read().ok().and_then(|h| h.clone());
        match latest {
            Some(Ok(health)) => {
                body.push_str(r#"<h2>PostgreSQL tables</h2><table id="tables"><thead><tr><th>table</th><th class="n">live</th><th class="n">dead</th><th class="n">bytes</th></tr></thead><tbody>"#);
                for t in &health.tables {
                    body.push_str(&format!(
                        r#"<tr><td>{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td></tr>"#,
                        page::escape(&t.name), t.live_tuples, t.dead_tuples, t.bytes
                    ));
                }
                body.push_str("</tbody></table>");
                for warning in health.warnings(Duration::from_secs(60)) {
                    body.push_str(&page::notice(&warning, false));
                }
            }
            Some(Err(error)) => body.push_str(&page::notice(
                &format!("table health could not be read: {error}"),
                false,
            )),
            None => {}
        }
    }
    state.page("Health", &headers, &body)
}

/// Jobs finished per second between readings: those enqueued, less what
/// the queue holds more than before. `None` when the queue does not count
/// what it enqueued (Sidekiq's).
fn throughput(history: &VecDeque<Sample>) -> Option<Vec<(SystemTime, f64)>> {
    let mut points = Vec::with_capacity(history.len());
    for (before, after) in history.iter().zip(history.iter().skip(1)) {
        let (Some(was), Some(now)) = (before.enqueued, after.enqueued) else {
            return None;
        };
        let secs = after
            .at
            .duration_since(before.at)
            .map_or(0.0, |d| d.as_secs_f64());
        if secs <= 0.0 {
            continue;
        }
        let finished = now.saturating_sub(was) as f64 - (after.held as f64 - before.held as f64);
        points.push((after.at, (finished / secs).max(0.0)));
    }
    Some(points)
}

/// The console's gauges, in Prometheus's text format: queue depth per
/// (job, version, place), dead letters, the gate, and PostgreSQL's dead
/// tuples per table.
async fn metrics(State(state): State<App>) -> Response {
    let reading = state.reading().await;
    let gate = match &state.gate {
        Some(gate) => gate.status().await.ok().map(|s| s.closed),
        None => None,
    };
    #[cfg(feature = "postgres")]
    let health = state
        .health
        .read()
        .ok()
        .and_then(|h| h.clone())
        .and_then(Result::ok);
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    metrics::with_local_recorder(&recorder, || {
        if let Ok(waiting) = &reading.waiting {
            let mut dead = 0u64;
            let mut depth: BTreeMap<(String, String, String), u64> = BTreeMap::new();
            for w in waiting {
                if w.place == Place::DeadLettered {
                    dead += w.count;
                }
                let key = (
                    w.job.clone().unwrap_or_else(|| "(unreadable)".to_owned()),
                    w.version
                        .as_ref()
                        .map_or_else(|| "?".to_owned(), ToString::to_string),
                    place_label(w.place).to_owned(),
                );
                *depth.entry(key).or_default() += w.count;
            }
            for ((job, version, place), count) in depth {
                metrics::gauge!("jobwire.queue.depth", "jobwire.job" => job, "jobwire.version" => version, "jobwire.place" => place).set(count as f64);
            }
            metrics::gauge!("jobwire.dead_letters").set(dead as f64);
        }
        metrics::gauge!("jobwire.console.reading.age").set(
            SystemTime::now()
                .duration_since(reading.at)
                .map_or(0.0, |d| d.as_secs_f64()),
        );
        if let Some(closed) = gate {
            metrics::gauge!("jobwire.gate.closed").set(if closed { 1.0 } else { 0.0 });
        }
        #[cfg(feature = "postgres")]
        if let Some(health) = &health {
            for t in &health.tables {
                metrics::gauge!("jobwire.postgres.dead_tuples", "jobwire.table" => t.name.clone())
                    .set(t.dead_tuples as f64);
            }
        }
    });
    let mut response = handle.render().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

/// A place as a metric label: one word.
fn place_label(place: Place) -> &'static str {
    match place {
        Place::Ready => "ready",
        Place::Scheduled => "scheduled",
        Place::Deferred => "deferred",
        Place::Snoozed => "snoozed",
        Place::Retrying => "retrying",
        Place::Interrupted => "interrupted",
        Place::Running => "running",
        Place::DeadLettered => "dead",
    }
}

// ---- signing in -----------------------------------------------------------

async fn sign_in_page(State(state): State<App>, headers: HeaderMap) -> Response {
    if !state.auth.writable() {
        return refused(&state, &headers, &Refused::ReadOnly);
    }
    state.page("Sign in", &headers, &page::sign_in())
}

#[derive(serde::Deserialize)]
struct SignIn {
    #[serde(default)]
    who: String,
    #[serde(default)]
    token: String,
}

async fn sign_in(
    State(state): State<App>,
    headers: HeaderMap,
    Form(form): Form<SignIn>,
) -> Response {
    if auth::cross_site(&headers) {
        return refused(&state, &headers, &Refused::CrossSite);
    }
    match state.auth.sign_in(&form.token, &form.who) {
        Ok((id, session)) => {
            tracing::info!(target: "jobwire::console", who = %session.who, "signed in");
            let mut response = Redirect::to("/").into_response();
            if let Ok(cookie) = HeaderValue::from_str(&format!(
                "{}={id}; HttpOnly; SameSite=Strict; Path=/",
                auth::COOKIE
            )) {
                response.headers_mut().insert(header::SET_COOKIE, cookie);
            }
            response
        }
        Err(why) => {
            tracing::warn!(target: "jobwire::console", who = %form.who, "a sign-in with a wrong token was refused");
            refused(&state, &headers, &why)
        }
    }
}

async fn sign_out(
    State(state): State<App>,
    headers: HeaderMap,
    Form(fields): Form<Fields>,
) -> Response {
    if state.auth.permit(&headers, fields.csrf.as_deref()).is_ok() {
        state.auth.sign_out(&headers);
    }
    let mut response = Redirect::to("/").into_response();
    if let Ok(cookie) = HeaderValue::from_str(&format!("{}=; Max-Age=0; Path=/", auth::COOKIE)) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
}

// ---- assets ---------------------------------------------------------------

async fn css() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css")],
        include_str!("console.css"),
    )
        .into_response()
}

async fn js() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript")],
        include_str!("console.js"),
    )
        .into_response()
}

//! The console's HTML, drawn on the server. Everything that comes from the
//! queue (names, reasons, payloads) goes through [`escape`]; the page has
//! no inline script, and its Content-Security-Policy forbids any.

use crate::backend::{DeadLetter, QueuedJob};
use crate::drain::{Answer, Place, Waiting};
use crate::gate::GateStatus;
use std::fmt::Write;
use std::time::SystemTime;

/// Text made safe for HTML, in elements and in quoted attributes.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Who is looking: what the page offers them.
pub(crate) struct Viewer {
    /// The console has a token: mutations exist.
    pub(crate) writable: bool,
    /// Signed in: their name and their forms' CSRF token.
    pub(crate) session: Option<(String, String)>,
}

impl Viewer {
    fn csrf(&self) -> Option<&str> {
        self.session.as_ref().map(|(_, csrf)| csrf.as_str())
    }
}

/// The page around `body`.
pub(crate) fn layout(title: &str, queue: &str, viewer: &Viewer, body: &str) -> String {
    let mut who = String::new();
    match (&viewer.session, viewer.writable) {
        (Some((name, csrf)), _) => {
            let _ = write!(
                who,
                r#"signed in as <b>{}</b> <form method="post" action="/signout" class="inline"><input type="hidden" name="csrf" value="{}"><button id="signout">sign out</button></form>"#,
                escape(name),
                escape(csrf)
            );
        }
        (None, true) => {
            who.push_str(r#"<a href="/signin" id="signin">sign in to change the queue</a>"#)
        }
        (None, false) => who.push_str(
            r#"<span class="badge" id="readonly">read-only (started without a token)</span>"#,
        ),
    }
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title} · jobwire</title>
<link rel="stylesheet" href="/console.css"><script src="/console.js" defer></script></head>
<body><header><b>jobwire</b> <span class="queue">{queue}</span>
<nav><a href="/">Deploy</a> <a href="/jobs">Jobs</a> <a href="/dead">Dead letters</a> <a href="/gate">Gate</a> <a href="/health">Health</a> <a href="/metrics">Metrics</a></nav>
<span class="who">{who}</span></header>
<main><h1>{title}</h1>
{body}
</main></body></html>"#,
        title = escape(title),
        queue = escape(queue),
    )
}

/// A message above a page: what a mutation did, or why it was refused.
pub(crate) fn notice(text: &str, ok: bool) -> String {
    format!(
        r#"<p class="notice {}" id="notice">{}</p>"#,
        if ok { "ok" } else { "error" },
        escape(text)
    )
}

/// How long ago, for a person.
pub(crate) fn ago(at: Option<SystemTime>) -> String {
    let Some(secs) = at
        .and_then(|at| SystemTime::now().duration_since(at).ok())
        .map(|d| d.as_secs())
    else {
        return String::new();
    };
    match secs {
        0..=119 => format!("{secs} s"),
        120..=7199 => format!("{} min", secs / 60),
        7200..=172_799 => format!("{} h", secs / 3600),
        _ => format!("{} days", secs / 86_400),
    }
}

/// The drain table: one row per (job, version, place).
pub(crate) fn drain_table(waiting: &[Waiting]) -> String {
    let mut out = String::from(
        r#"<table id="drain"><thead><tr><th>job</th><th>version</th><th>place</th><th class="n">count</th><th>oldest</th></tr></thead><tbody>"#,
    );
    if waiting.is_empty() {
        out.push_str(r#"<tr><td colspan="5" class="empty">nothing waits</td></tr>"#);
    }
    for w in waiting {
        let _ = write!(
            out,
            r#"<tr class="{class}"><td class="job"><a href="{href}">{job}</a></td><td class="version">{version}</td><td class="place">{place}</td><td class="n count">{count}</td><td>{age}</td></tr>"#,
            href = escape(&jobs_link(w)),
            class = if w.place == Place::DeadLettered {
                "dead"
            } else {
                ""
            },
            job = escape(w.job.as_deref().unwrap_or("(unreadable)")),
            version = escape(
                &w.version
                    .as_ref()
                    .map_or_else(|| "?".to_owned(), ToString::to_string)
            ),
            place = escape(&w.place.to_string()),
            count = w.count,
            age = ago(w.oldest_enqueued_at),
        );
    }
    out.push_str("</tbody></table>");
    out
}

/// The drain questions of the deploy window, answered.
pub(crate) fn answers(answers: &[Answer], releases: &[String]) -> String {
    let mut out = String::new();
    if releases.is_empty() {
        out.push_str(r#"<p class="muted">No manifests: start with <code>--manifests DIR</code> to see the releases in the deploy window and whether each upcaster, alias and retired job can go.</p>"#);
        return out;
    }
    out.push_str("<h2>Releases in the deploy window</h2><ol id=\"releases\">");
    for release in releases {
        let _ = write!(out, "<li>{}</li>", escape(release));
    }
    out.push_str("</ol><h2>Can the old code go?</h2><ul id=\"questions\">");
    if answers.is_empty() {
        out.push_str(
            "<li class=\"muted\">No upcaster, alias or retired job in the current release.</li>",
        );
    }
    for answer in answers {
        let verdict = if answer.safe {
            r#"<b class="yes">yes, it can go</b>"#.to_owned()
        } else {
            format!(
                r#"<b class="no">no</b>: {}"#,
                escape(&answer.reasons.join("; "))
            )
        };
        let _ = write!(
            out,
            "<li>{} {verdict}</li>",
            escape(&answer.question.to_string())
        );
    }
    out.push_str("</ul>");
    out
}

/// The hidden field every form carries.
fn csrf_field(viewer: &Viewer) -> String {
    viewer.csrf().map_or_else(String::new, |csrf| {
        format!(
            r#"<input type="hidden" name="csrf" value="{}">"#,
            escape(csrf)
        )
    })
}

/// Whether the page offers a mutation: only to a signed-in person.
fn can_change(viewer: &Viewer) -> bool {
    viewer.session.is_some()
}

/// The filter a dead-letter list was asked for.
#[derive(Debug, Default, Clone, serde::Deserialize)]
pub(crate) struct DeadFilter {
    /// A job name, exactly.
    #[serde(default)]
    pub(crate) job: Option<String>,
    /// A version line (`2.x`) or a version (`2.1.0`).
    #[serde(default)]
    pub(crate) version: Option<String>,
    /// Dead-lettered within this many minutes (text, as a form sends it:
    /// empty means no bound).
    #[serde(default)]
    pub(crate) within_minutes: Option<String>,
}

impl DeadFilter {
    /// Whether `dead` passes.
    pub(crate) fn admits(&self, dead: &DeadLetter) -> bool {
        let job = self.job.as_deref().filter(|j| !j.is_empty());
        if job.is_some_and(|j| dead.job.as_deref() != Some(j)) {
            return false;
        }
        if let Some(version) = self.version.as_deref().filter(|v| !v.is_empty()) {
            let Some(actual) = dead.version.as_deref() else {
                return false;
            };
            let matched = match version.strip_suffix(".x") {
                Some(prefix) => actual
                    .strip_prefix(prefix)
                    .is_some_and(|rest| rest.starts_with('.')),
                None => actual == version,
            };
            if !matched {
                return false;
            }
        }
        if let Some(minutes) = self.minutes() {
            let since = SystemTime::now()
                .checked_sub(std::time::Duration::from_secs(minutes.saturating_mul(60)));
            match (dead.died_at, since) {
                (Some(died), Some(since)) if died >= since => {}
                (_, None) => {}
                _ => return false,
            }
        }
        true
    }

    /// The time bound, in minutes, if one was given.
    pub(crate) fn minutes(&self) -> Option<u64> {
        self.within_minutes.as_deref()?.trim().parse().ok()
    }

    /// Whether the filter has a bound the text cannot be read as.
    pub(crate) fn unreadable(&self) -> bool {
        self.within_minutes
            .as_deref()
            .is_some_and(|m| !m.trim().is_empty())
            && self.minutes().is_none()
    }

    fn value(field: &Option<String>) -> String {
        escape(field.as_deref().unwrap_or(""))
    }
}

/// The dead letters, filtered, with requeue and discard.
pub(crate) fn dead_list(
    deads: &[&DeadLetter],
    total: usize,
    filter: &DeadFilter,
    viewer: &Viewer,
) -> String {
    let mut out = String::new();
    let within = DeadFilter::value(&filter.within_minutes);
    let _ = write!(
        out,
        r#"<form method="get" action="/dead" class="filter">job <input name="job" value="{}"> version <input name="version" value="{}" placeholder="2.x"> dead within the last <input name="within_minutes" value="{within}" size="5"> minutes <button>filter</button></form>"#,
        DeadFilter::value(&filter.job),
        DeadFilter::value(&filter.version),
    );
    let _ = write!(
        out,
        r#"<p id="dead-count">{} of {total} dead letters</p>"#,
        deads.len()
    );
    if can_change(viewer) && !deads.is_empty() {
        let hidden = format!(
            r#"{}<input type="hidden" name="job" value="{}"><input type="hidden" name="version" value="{}"><input type="hidden" name="within_minutes" value="{within}">"#,
            csrf_field(viewer),
            DeadFilter::value(&filter.job),
            DeadFilter::value(&filter.version),
        );
        let _ = write!(
            out,
            r#"<form method="post" action="/dead/requeue" class="inline">{hidden}<button id="requeue-all">requeue these {n}</button></form> <form method="post" action="/dead/discard" class="inline">{hidden}<button id="discard-all" class="danger">discard these {n}</button></form>"#,
            n = deads.len()
        );
    }
    out.push_str(r#"<table id="dead"><thead><tr><th>id</th><th>job</th><th>version</th><th>queue</th><th>attempts</th><th>dead since</th><th>reason</th><th></th></tr></thead><tbody>"#);
    for dead in deads {
        let key = dead.key();
        let actions = if can_change(viewer) {
            format!(
                r#"<form method="post" action="/dead/{k}/requeue" class="inline">{c}<button class="requeue">requeue</button></form> <form method="post" action="/dead/{k}/discard" class="inline">{c}<button class="discard danger">discard</button></form>"#,
                k = escape(&key),
                c = csrf_field(viewer)
            )
        } else {
            String::new()
        };
        let _ = write!(
            out,
            r#"<tr data-key="{k}"><td><a href="/dead/{k}">{k}</a></td><td class="job">{job}</td><td>{version}</td><td>{queue}</td><td class="n">{attempt}</td><td>{since}</td><td class="reason">{reason}</td><td>{actions}</td></tr>"#,
            k = escape(&key),
            job = escape(dead.job.as_deref().unwrap_or("(unreadable)")),
            version = escape(dead.version.as_deref().unwrap_or("?")),
            queue = escape(&dead.queue),
            attempt = dead.attempt,
            since = ago(dead.died_at),
            reason = escape(&dead.reason),
        );
    }
    out.push_str("</tbody></table>");
    out
}

/// One dead letter: its header, its reason, and its bytes as stored.
pub(crate) fn dead_one(dead: &DeadLetter, viewer: &Viewer) -> String {
    let key = dead.key();
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<dl class="header"><dt>job</dt><dd id="job">{}</dd><dt>version</dt><dd>{}</dd><dt>queue</dt><dd>{}</dd><dt>attempts</dt><dd>{}</dd><dt>job id</dt><dd>{}</dd><dt>dead since</dt><dd>{}</dd><dt>reason</dt><dd id="reason">{}</dd></dl>"#,
        escape(dead.job.as_deref().unwrap_or("(unreadable)")),
        escape(dead.version.as_deref().unwrap_or("?")),
        escape(&dead.queue),
        dead.attempt,
        dead.jid
            .as_deref()
            .map_or_else(|| dead.job_id.to_string(), escape),
        ago(dead.died_at),
        escape(&dead.reason),
    );
    match std::str::from_utf8(&dead.payload) {
        Ok(text) => {
            let pretty = serde_json::from_str::<serde_json::Value>(text)
                .ok()
                .and_then(|v| serde_json::to_string_pretty(&v).ok());
            if let Some(pretty) = pretty.filter(|p| p != text) {
                let _ = write!(
                    out,
                    r#"<h2>Envelope</h2><pre id="pretty">{}</pre>"#,
                    escape(&pretty)
                );
            }
            let _ = write!(
                out,
                r#"<h2>Bytes as stored ({} bytes, UTF-8)</h2><pre id="payload">{}</pre>"#,
                dead.payload.len(),
                escape(text)
            );
        }
        Err(_) => {
            let _ = write!(
                out,
                r#"<h2>Bytes as stored ({} bytes, not UTF-8)</h2><pre id="payload">{}</pre><h2>As text, with U+FFFD for the bad bytes</h2><pre>{}</pre>"#,
                dead.payload.len(),
                hex(&dead.payload),
                escape(&String::from_utf8_lossy(&dead.payload)),
            );
        }
    }
    if can_change(viewer) {
        let _ = write!(
            out,
            r#"<form method="post" action="/dead/{k}/requeue" class="inline">{c}<button id="requeue">requeue</button></form> <form method="post" action="/dead/{k}/discard" class="inline">{c}<button id="discard" class="danger">discard</button></form>"#,
            k = escape(&key),
            c = csrf_field(viewer)
        );
    }
    out
}

/// Bytes in hex, sixteen to a line with their offset.
fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 3 + bytes.len() / 16 * 8);
    for (n, chunk) in bytes.chunks(16).enumerate() {
        let _ = write!(out, "{:08x} ", n * 16);
        for b in chunk {
            let _ = write!(out, " {b:02x}");
        }
        out.push('\n');
    }
    out
}

/// The gate: its state, and close or open for a signed-in person.
pub(crate) fn gate(
    status: Result<&GateStatus, String>,
    configured: bool,
    holds: bool,
    viewer: &Viewer,
) -> String {
    if !configured {
        return r#"<p class="muted" id="gate-state">No gate: start with <code>--gate-file PATH</code> or <code>--gate-postgres URL</code>.</p>"#.to_owned();
    }
    let mut out = match status {
        Ok(status) => {
            let mut out = format!(
                r#"<p id="gate-state" class="{}">{}</p><dl class="header">"#,
                if status.closed { "closed" } else { "open" },
                if status.closed { "closed" } else { "open" }
            );
            let _ = write!(
                out,
                "<dt>holder</dt><dd id=\"gate-holder\">{}</dd>",
                escape(status.holder.as_deref().unwrap_or(""))
            );
            let _ = write!(
                out,
                "<dt>since</dt><dd>{}</dd>",
                status
                    .since
                    .map_or_else(String::new, |s| format!("{} ago", ago(Some(s))))
            );
            let left = status
                .expires
                .and_then(|e| e.duration_since(SystemTime::now()).ok())
                .map_or_else(String::new, |d| format!("in {} s", d.as_secs()));
            let _ = write!(out, "<dt>lease runs out</dt><dd>{left}</dd>");
            let _ = write!(
                out,
                "<dt>workers holding a pass (may run gated jobs)</dt><dd id=\"gate-passes\">{}</dd></dl>",
                status.passes.map_or_else(|| "unknown".to_owned(), |p| p.to_string())
            );
            out
        }
        Err(error) => format!(
            r#"<p id="gate-state" class="error">unusable: {}</p>"#,
            escape(&error)
        ),
    };
    if can_change(viewer) {
        let (action, label) = if holds {
            ("open", "open the gate")
        } else {
            ("close", "close the gate")
        };
        let _ = write!(
            out,
            r#"<form method="post" action="/gate/{action}">{}<button id="gate-{action}">{label}</button></form>"#,
            csrf_field(viewer)
        );
        if !holds {
            out.push_str(r#"<p class="muted">The console holds a gate it closed until it is opened here, or the console stops.</p>"#);
        }
    }
    out
}

/// The sign-in form.
pub(crate) fn sign_in() -> String {
    r#"<form method="post" action="/signin" class="signin"><label>your name (for the log) <input name="who" id="who" autocomplete="username"></label> <label>token <input type="password" name="token" id="token" autocomplete="current-password"></label> <button id="signin-button">sign in</button></form>"#.to_owned()
}

/// A small line chart of `points` (oldest first), drawn as SVG.
pub(crate) fn chart(id: &str, label: &str, points: &[(SystemTime, f64)]) -> String {
    const W: f64 = 600.0;
    const H: f64 = 120.0;
    let max = points.iter().map(|p| p.1).fold(0.0_f64, f64::max);
    let (first, last) = match (points.first(), points.last()) {
        (Some(f), Some(l)) => (f.0, l.0),
        _ => {
            return format!(
                r#"<p class="muted" id="{}">{}: no samples yet</p>"#,
                escape(id),
                escape(label)
            )
        }
    };
    let span = last
        .duration_since(first)
        .map_or(0.0, |d| d.as_secs_f64())
        .max(1.0);
    let mut path = String::new();
    for (n, (at, value)) in points.iter().enumerate() {
        let x = at.duration_since(first).map_or(0.0, |d| d.as_secs_f64()) / span * W;
        let y = if max > 0.0 {
            H - value / max * (H - 10.0)
        } else {
            H
        };
        let _ = write!(path, "{}{x:.1},{y:.1} ", if n == 0 { "M" } else { "L" });
    }
    format!(
        r#"<figure class="chart"><figcaption>{label}: now {now}, peak {max} (last {minutes} min)</figcaption><svg id="{id}" viewBox="0 0 {W} {H}" width="600" height="120" role="img" aria-label="{label}"><path d="{path}" /></svg></figure>"#,
        label = escape(label),
        id = escape(id),
        now = points.last().map_or(0.0, |p| p.1),
        minutes = (span / 60.0).ceil(),
    )
}

/// The jobs page for one row of the drain table.
fn jobs_link(w: &Waiting) -> String {
    if w.place == Place::DeadLettered {
        return format!("/dead?job={}", query(w.job.as_deref().unwrap_or("")));
    }
    format!(
        "/jobs?job={}&version={}&place={}",
        query(w.job.as_deref().unwrap_or("")),
        query(
            &w.version
                .as_ref()
                .map_or_else(String::new, ToString::to_string)
        ),
        query(&w.place.to_string())
    )
}

/// Text for a URL's query: everything but letters, digits and `-._~`
/// percent-encoded.
fn query(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// The jobs a filter asked for: each one's header, last error and
/// envelope, pretty-printed.
#[derive(Debug, Default, Clone, serde::Deserialize)]
pub(crate) struct JobFilter {
    /// The job's name, exactly.
    #[serde(default)]
    pub(crate) job: Option<String>,
    /// The version, exactly.
    #[serde(default)]
    pub(crate) version: Option<String>,
    /// The place, as the drain table writes it.
    #[serde(default)]
    pub(crate) place: Option<String>,
}

impl JobFilter {
    /// Whether `job` passes.
    pub(crate) fn admits(&self, job: &QueuedJob) -> bool {
        let given = |f: &Option<String>| f.as_deref().filter(|v| !v.is_empty()).map(str::to_owned);
        given(&self.version).is_none_or(|v| job.version.as_deref() == Some(v.as_str()))
            && given(&self.place).is_none_or(|p| job.place.to_string() == p)
    }
}

/// The jobs page.
pub(crate) fn jobs(jobs: &[&QueuedJob], read: usize, filter: &JobFilter) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<form method="get" action="/jobs" class="filter">job <input name="job" value="{}"> version <input name="version" value="{}"> place <input name="place" value="{}"> <button>filter</button></form><p id="jobs-count">{} shown (of the first {read} read)</p>"#,
        escape(filter.job.as_deref().unwrap_or("")),
        escape(filter.version.as_deref().unwrap_or("")),
        escape(filter.place.as_deref().unwrap_or("")),
        jobs.len(),
    );
    out.push_str(r#"<table id="jobs"><thead><tr><th>id</th><th>job</th><th>version</th><th>place</th><th class="n">attempts</th><th class="n">defers</th><th>enqueued</th><th>last error</th></tr></thead><tbody>"#);
    for job in jobs {
        let _ = write!(
            out,
            r#"<tr><td>{id}</td><td class="job">{name}</td><td>{version}</td><td>{place}</td><td class="n">{attempt}</td><td class="n">{defers}</td><td>{enqueued}</td><td class="reason">{error}</td></tr><tr class="envelope"><td></td><td colspan="7"><details><summary>header and envelope</summary>{body}</details></td></tr>"#,
            id = job.id,
            name = escape(job.job.as_deref().unwrap_or("(unreadable)")),
            version = escape(job.version.as_deref().unwrap_or("?")),
            place = escape(&job.place.to_string()),
            attempt = job.attempt,
            defers = job.defers,
            enqueued = ago(job.enqueued_at),
            error = escape(job.last_error.as_deref().unwrap_or("")),
            body = envelope(job),
        );
    }
    out.push_str("</tbody></table>");
    out
}

/// A job's header and its bytes.
fn envelope(job: &QueuedJob) -> String {
    let mut out = String::new();
    let value = serde_json::from_slice::<serde_json::Value>(&job.payload).ok();
    let progress = value
        .as_ref()
        .and_then(|v| v.get("progress"))
        .map(ToString::to_string);
    let _ = write!(
        out,
        r#"<dl class="header"><dt>queue</dt><dd>{}</dd><dt>first seen</dt><dd>{}</dd><dt>worker</dt><dd>{}</dd><dt>progress</dt><dd>{}</dd></dl>"#,
        escape(&job.queue),
        ago(job.first_seen),
        escape(job.worker.as_deref().unwrap_or("")),
        escape(progress.as_deref().unwrap_or("")),
    );
    match value.and_then(|v| serde_json::to_string_pretty(&v).ok()) {
        Some(pretty) => {
            let _ = write!(out, "<pre>{}</pre>", escape(&pretty));
        }
        None => {
            let _ = write!(
                out,
                "<p>not JSON ({} bytes):</p><pre>{}</pre>",
                job.payload.len(),
                hex(&job.payload)
            );
        }
    }
    out
}

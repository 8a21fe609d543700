//! Who may change the queue from the console, and proof that a request
//! came from the console's own page.
//!
//! Without a token the console is read-only. With one, a person signs in
//! with it (and their name, for the log) and gets a session cookie
//! (`HttpOnly`, `SameSite=Strict`) and a CSRF token that every form
//! carries; a script sends `Authorization: Bearer TOKEN` instead. A
//! request whose `Origin` or `Sec-Fetch-Site` says it came from another
//! site is refused whatever it carries.

use axum::http::{header, HeaderMap};
use std::collections::HashMap;
use std::sync::Mutex;

/// The session cookie's name.
pub(crate) const COOKIE: &str = "jobwire_session";

/// A signed-in person.
#[derive(Clone, Default)]
pub(crate) struct Session {
    /// Who they said they are, for the log.
    pub(crate) who: String,
    /// What their forms must carry.
    pub(crate) csrf: String,
}

/// The token, and the sessions signed in with it.
pub(crate) struct Auth {
    token: Option<String>,
    sessions: Mutex<HashMap<String, Session>>,
}

/// Why a mutation was refused.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// The console runs without a token: nothing can be changed.
    ReadOnly,
    /// No session, or a wrong token.
    Unauthorized,
    /// The request came from another site, or without the page's CSRF token.
    CrossSite,
}

impl Auth {
    pub(crate) fn new(token: Option<String>) -> Auth {
        Auth {
            token: token.filter(|t| !t.is_empty()),
            sessions: Mutex::new(HashMap::new()),
        }
    }

    /// Whether mutations are possible at all.
    pub(crate) fn writable(&self) -> bool {
        self.token.is_some()
    }

    /// Signs `who` in with `token`: the new session's id and its CSRF token.
    pub(crate) fn sign_in(&self, token: &str, who: &str) -> Result<(String, Session), Refused> {
        let expected = self.token.as_deref().ok_or(Refused::ReadOnly)?;
        if !same(expected.as_bytes(), token.as_bytes()) {
            return Err(Refused::Unauthorized);
        }
        let id = random().ok_or(Refused::Unauthorized)?;
        let session = Session {
            who: if who.trim().is_empty() {
                "unnamed".to_owned()
            } else {
                who.trim().chars().take(64).collect()
            },
            csrf: random().ok_or(Refused::Unauthorized)?,
        };
        if let Ok(mut sessions) = self.sessions.lock() {
            sessions.insert(id.clone(), session.clone());
        }
        Ok((id, session))
    }

    /// Ends the session in `headers`' cookie.
    pub(crate) fn sign_out(&self, headers: &HeaderMap) {
        if let (Some(id), Ok(mut sessions)) = (cookie(headers), self.sessions.lock()) {
            sessions.remove(&id);
        }
    }

    /// The session of the request, if it carries a valid cookie.
    pub(crate) fn session(&self, headers: &HeaderMap) -> Option<Session> {
        let id = cookie(headers)?;
        self.sessions.lock().ok()?.get(&id).cloned()
    }

    /// Who may make this mutation: refused unless the request has the
    /// bearer token, or a session and that session's CSRF token in `csrf`,
    /// and did not come from another site.
    pub(crate) fn permit(
        &self,
        headers: &HeaderMap,
        csrf: Option<&str>,
    ) -> Result<String, Refused> {
        let expected = self.token.as_deref().ok_or(Refused::ReadOnly)?;
        if cross_site(headers) {
            return Err(Refused::CrossSite);
        }
        if let Some(bearer) = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
        {
            return if same(expected.as_bytes(), bearer.trim().as_bytes()) {
                Ok("token".to_owned())
            } else {
                Err(Refused::Unauthorized)
            };
        }
        let session = self.session(headers).ok_or(Refused::Unauthorized)?;
        match csrf {
            Some(given) if same(session.csrf.as_bytes(), given.as_bytes()) => Ok(session.who),
            _ => Err(Refused::CrossSite),
        }
    }
}

/// Whether the browser says the request came from another site.
pub(crate) fn cross_site(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        if !matches!(site, "same-origin" | "none") {
            return true;
        }
    }
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        let host = headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let bare = origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"))
            .unwrap_or("");
        return bare != host;
    }
    false
}

/// The session id in the request's cookies.
fn cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            (name == COOKIE).then(|| value.to_owned())
        })
}

/// Compares in time that does not depend on where the bytes differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// 128 bits from the operating system's generator, in hex; `None` where
/// there is no `/dev/urandom` (then nobody can sign in).
fn random() -> Option<String> {
    use std::io::Read;
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .ok()?;
    Some(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn a_form_needs_its_session_and_csrf_and_the_same_origin() {
        let auth = Auth::new(Some("secret".into()));
        assert_eq!(
            auth.sign_in("wrong", "ann").err(),
            Some(Refused::Unauthorized)
        );
        let (id, session) = auth.sign_in("secret", "ann").ok().unwrap_or_default();
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8080"));
        assert_eq!(
            auth.permit(&headers, Some(&session.csrf)),
            Err(Refused::Unauthorized)
        );
        let cookie = format!("a=b; {COOKIE}={id}");
        headers.insert(
            header::COOKIE,
            HeaderValue::from_str(&cookie).unwrap_or(HeaderValue::from_static("")),
        );
        assert_eq!(auth.permit(&headers, None), Err(Refused::CrossSite));
        assert_eq!(
            auth.permit(&headers, Some("forged")),
            Err(Refused::CrossSite)
        );
        assert_eq!(
            auth.permit(&headers, Some(&session.csrf)),
            Ok("ann".to_owned())
        );
        headers.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://evil.example"),
        );
        assert_eq!(
            auth.permit(&headers, Some(&session.csrf)),
            Err(Refused::CrossSite)
        );
        headers.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://127.0.0.1:8080"),
        );
        assert_eq!(
            auth.permit(&headers, Some(&session.csrf)),
            Ok("ann".to_owned())
        );
        auth.sign_out(&headers);
        assert_eq!(
            auth.permit(&headers, Some(&session.csrf)),
            Err(Refused::Unauthorized)
        );
        assert_eq!(
            Auth::new(None).permit(&headers, None),
            Err(Refused::ReadOnly)
        );
    }
}

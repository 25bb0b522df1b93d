//! Who is calling. Two ways in:
//! - `Authorization: Bearer TOKEN` for programs: the token's SHA-256 is looked up (tokens are
//!   never stored), with recently seen tokens cached for [`TokenCache::TTL`];
//! - a session cookie for browsers, made by `POST /api/v1/session` with a password (argon2id).
//!   The cookie is HttpOnly and SameSite=Strict, Secure when the deployment says it is served
//!   over TLS, and every state-changing request must echo the session's CSRF token in
//!   `X-CSRF-Token`. Failed sign-ins are throttled per account and per address.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use fengqiao_domain::{Actor, User};

use crate::{ApiError, AppState};

pub const SESSION_COOKIE: &str = "fq_session";
pub const CSRF_HEADER: &str = "x-csrf-token";

/// Recently seen tokens, so a busy client does not cost a database read per request. A token
/// revoked or changed elsewhere (another process, the CLI) stops working within the TTL.
#[derive(Default)]
pub struct TokenCache {
    entries: Mutex<HashMap<String, (User, Instant)>>,
}

impl TokenCache {
    pub const TTL: Duration = Duration::from_secs(30);
    const MAX: usize = 10_000;

    fn get(&self, hash: &str) -> Option<User> {
        let m = self.entries.lock().expect("not poisoned");
        m.get(hash).filter(|(_, at)| at.elapsed() < Self::TTL).map(|(u, _)| u.clone())
    }

    fn put(&self, hash: String, user: User) {
        let mut m = self.entries.lock().expect("not poisoned");
        if m.len() >= Self::MAX {
            m.retain(|_, (_, at)| at.elapsed() < Self::TTL);
            if m.len() >= Self::MAX {
                m.clear();
            }
        }
        m.insert(hash, (user, Instant::now()));
    }

    /// Forgets every cached token (after an account change in this process).
    pub fn clear(&self) {
        self.entries.lock().expect("not poisoned").clear();
    }
}

/// Sign-in throttling: after [`Throttle::LIMIT`] failures within [`Throttle::WINDOW`] for the
/// same account or the same address, further attempts are refused until the window passes.
#[derive(Default)]
pub struct Throttle {
    failures: Mutex<HashMap<String, Vec<Instant>>>,
}

impl Throttle {
    pub const LIMIT: usize = 5;
    pub const WINDOW: Duration = Duration::from_secs(15 * 60);

    fn keys(user: &str, ip: Option<IpAddr>) -> [String; 2] {
        [format!("user:{user}"), format!("ip:{}", ip.map(|i| i.to_string()).unwrap_or_default())]
    }

    /// Seconds to wait, if throttled.
    pub fn blocked(&self, user: &str, ip: Option<IpAddr>) -> Option<u64> {
        let mut m = self.failures.lock().expect("not poisoned");
        Self::keys(user, ip)
            .iter()
            .filter_map(|k| {
                let v = m.get_mut(k)?;
                v.retain(|t| t.elapsed() < Self::WINDOW);
                (v.len() >= Self::LIMIT).then(|| (Self::WINDOW - v[0].elapsed()).as_secs().max(1))
            })
            .max()
    }

    pub fn failed(&self, user: &str, ip: Option<IpAddr>) {
        let mut m = self.failures.lock().expect("not poisoned");
        if m.len() > 100_000 {
            m.clear();
        }
        for k in Self::keys(user, ip) {
            m.entry(k).or_default().push(Instant::now());
        }
    }

    pub fn succeeded(&self, user: &str) {
        self.failures.lock().expect("not poisoned").remove(&format!("user:{user}"));
    }
}

/// Password sign-in, shared by the API and the login page: checks throttling and the
/// password, records the session and returns the user, the session and its `Set-Cookie`.
pub async fn sign_in(
    st: &AppState,
    user_id: &str,
    password: &str,
    ip: Option<IpAddr>,
) -> Result<(User, fengqiao_store::Session, String), ApiError> {
    if let Some(wait) = st.throttle.blocked(user_id, ip) {
        return Err(ApiError::new(StatusCode::TOO_MANY_REQUESTS, "throttled", format!("too many failed sign-ins; try again in {wait} s")));
    }
    let found = st.svc.store.user_credentials(user_id).await?;
    let ok = match &found {
        Some((_, creds)) => creds.password_hash.as_deref().is_some_and(|h| crate::auth::verify_password(password, h)),
        None => {
            // Spend the same time as a real check, so timing does not reveal which accounts exist.
            static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
            let dummy = DUMMY.get_or_init(|| crate::auth::hash_password("not a real password").unwrap_or_default());
            let _ = crate::auth::verify_password(password, dummy);
            false
        }
    };
    let Some((user, _)) = found.filter(|_| ok) else {
        st.throttle.failed(user_id, ip);
        return Err(ApiError::new(StatusCode::UNAUTHORIZED, "bad_credentials", "wrong user or password"));
    };
    st.throttle.succeeded(user_id);
    let id = crate::api::random_secret();
    let now = st.svc.now();
    let session = fengqiao_store::Session {
        id_hash: crate::token_hash(&id),
        user_id: user.id.clone(),
        csrf: crate::api::random_secret(),
        created_at: now,
        expires_at: now.plus_ms(st.session_ttl.as_millis() as i64),
    };
    st.svc.store.create_session(&session).await?;
    let cookie = format!(
        "{}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
        crate::auth::SESSION_COOKIE,
        st.session_ttl.as_secs(),
        if st.secure_cookies { "; Secure" } else { "" }
    );
    Ok((user, session, cookie))
}

/// An argon2id PHC string for a new password.
pub fn hash_password(password: &str) -> Result<String, String> {
    let salt = SaltString::generate(&mut OsRng);
    argon2::Argon2::default().hash_password(password.as_bytes(), &salt).map(|h| h.to_string()).map_err(|e| e.to_string())
}

pub fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|h| argon2::Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

/// The value of one cookie from the request's `Cookie` headers.
pub fn cookie<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    parts
        .headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Compares without an early exit, so timing does not reveal how much of a secret matched.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The client's address, when the server was started with connection info (tests that call
/// the router directly have none).
pub struct PeerIp(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for PeerIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(PeerIp(parts.extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|c| c.0.ip())))
    }
}

/// A signed-in staff user.
pub struct Staff {
    pub user: User,
    pub actor: Actor,
    /// The session's id hash when signed in by cookie.
    pub session: Option<String>,
}

impl FromRequestParts<AppState> for Staff {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        if let Some(header) = parts.headers.get(axum::http::header::AUTHORIZATION) {
            let header = header.to_str().map_err(|_| ApiError::unauthorized())?;
            let token = header
                .strip_prefix("Bearer ")
                .or_else(|| header.strip_prefix("bearer "))
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .ok_or_else(ApiError::unauthorized)?;
            let hash = crate::token_hash(token);
            let user = match state.tokens.get(&hash) {
                Some(u) => u,
                None => {
                    let u = state.svc.store.user_by_token_hash(&hash).await?.ok_or_else(ApiError::unauthorized)?;
                    state.tokens.put(hash, u.clone());
                    u
                }
            };
            let actor = Actor::from_user(&user);
            return Ok(Staff { user, actor, session: None });
        }
        let id = cookie(parts, SESSION_COOKIE).ok_or_else(ApiError::unauthorized)?;
        let id_hash = crate::token_hash(id);
        let (session, user) = state.svc.store.session(&id_hash, state.svc.now()).await?.ok_or_else(ApiError::unauthorized)?;
        // Browsers send cookies on cross-site requests; only a page of ours knows the token.
        if !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS) {
            let sent = parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("");
            if !same_secret(sent, &session.csrf) {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "csrf_failed",
                    "send the session's CSRF token in the X-CSRF-Token header",
                ));
            }
        }
        let actor = Actor::from_user(&user);
        Ok(Staff { user, actor, session: Some(id_hash) })
    }
}

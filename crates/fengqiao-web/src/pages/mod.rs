//! The server-rendered pages: the resident portal (`/`, `/report`, `/track`, `/figures`), the
//! staff workbench (`/login`, `/work`, `/cases/…`), the supervisor dashboard (`/dashboard`)
//! and administration (`/admin/…`).
//!
//! One askama struct per page, checked at compile time; every visible string comes from the
//! message catalogue ([`i18n`]); CSS and JS are compiled into the binary and served from
//! `/assets/`. Every page response carries the security headers (a CSP without inline scripts,
//! `frame-ancestors 'none'`, nosniff, no referrer). Staff pages use the session cookie of
//! [`crate::auth`]; every form that changes something carries the session's CSRF token.
//! Errors leave handlers as [`PageError`] and are rendered in the reader's language by the
//! page middleware, which alone knows it.

mod admin;
mod dashboard;
pub mod i18n;
mod keys;
mod map;
pub(crate) mod public;
mod routing;
mod staff;
// Problem-solving records (SARA) and the notifications page.
mod problems;
mod webhooks;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use askama::Template;
use axum::Router;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use fengqiao_domain::{Actor, Timestamp, User};
use fengqiao_store::StoreError;

use crate::AppState;
use crate::auth::{SESSION_COOKIE, cookie};
pub use dashboard::PublicFiguresCache;
pub use i18n::{Lang, Tr};
pub use map::MapTiles;

const CSS: &str = include_str!("../../assets/app.css");
const JS: &str = include_str!("../../assets/app.js");

/// The pages' routes, merged into the application router.
pub fn routes(state: AppState) -> Router<AppState> {
    let limited = Router::new()
        .route("/report", get(public::report_form).post(public::report_submit))
        .route("/track", get(public::track_lookup))
        .route("/track/{code}", get(public::track_page))
        .route("/figures", get(dashboard::public_figures))
        .route_layer(axum::middleware::from_fn_with_state(state.public_limits.clone(), rate_limit))
        // Photos are larger than API bodies; the handler checks the photo's own limit.
        .layer(axum::extract::DefaultBodyLimit::max(public::MAX_PHOTO_BYTES + 256 * 1024));
    Router::new()
        .route("/", get(public::landing))
        .route("/login", get(staff::login_form).post(staff::login_submit))
        .route("/logout", axum::routing::post(staff::logout))
        .route("/work", get(staff::work))
        .route("/cases/new", get(staff::new_case_form).post(staff::new_case_submit))
        .route("/cases/{id}", get(staff::case_page))
        .route("/cases/{id}/act/{action}", axum::routing::post(staff::act))
        .route("/cases/{id}/attachments/{aid}", get(staff::attachment))
        .route("/dashboard", get(dashboard::dashboard))
        .route("/admin/units", get(admin::units).post(admin::save_unit))
        .route("/admin/users", get(admin::users).post(admin::save_user))
        .route("/admin/categories", get(admin::categories).post(admin::save_category))
        .route("/admin/regions", get(admin::regions).post(admin::save_region))
        .route(
            "/admin/regions/import",
            axum::routing::post(admin::import_regions).layer(axum::extract::DefaultBodyLimit::max(admin::MAX_GEOJSON_BYTES)),
        )
        .route("/admin/routing", get(routing::page).post(routing::save))
        .route("/admin/api-keys", get(keys::page).post(keys::create))
        .route("/admin/api-keys/{name}/revoke", axum::routing::post(keys::revoke))
        .route("/problems", get(problems::list))
        .route("/problems/new", get(problems::new_form).post(problems::new_submit))
        .route("/problems/{id}", get(problems::page))
        .route("/problems/{id}/act/{command}", axum::routing::post(problems::act))
        .route("/admin/webhooks", get(webhooks::page).post(webhooks::create))
        .route("/admin/webhooks/{id}/toggle", axum::routing::post(webhooks::toggle))
        .route("/admin/outbox/{id}/requeue", axum::routing::post(webhooks::requeue))
        .route("/admin/user-emails", axum::routing::post(webhooks::set_email))
        .merge(limited)
        .merge(crate::mediation::pages::routes())
        .merge(crate::alerts::pages::routes())
        .layer(axum::middleware::from_fn_with_state(state.clone(), page_layer))
        .merge(crate::mediation::pages::asset_routes())
        .route("/assets/app.css", get(|| async { asset("text/css; charset=utf-8", CSS) }))
        .route("/assets/app.js", get(|| async { asset("text/javascript; charset=utf-8", JS) }))
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=3600"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}

/// The page's language: `?lang=` (remembered in a cookie), else the cookie, else Chinese.
fn lang_of(parts: &Parts) -> (Lang, bool) {
    let from_query = parts
        .uri
        .query()
        .into_iter()
        .flat_map(|q| q.split('&'))
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == "lang")
        .and_then(|(_, v)| Lang::parse(v));
    match from_query {
        Some(l) => (l, true),
        None => (cookie(parts, i18n::LANG_COOKIE).and_then(Lang::parse).unwrap_or(Lang::Zh), false),
    }
}

pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; \
                       frame-ancestors 'none'; base-uri 'none'; object-src 'none'";

/// Language, security headers and error pages for every page.
pub(crate) async fn page_layer(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let (mut parts, body) = req.into_parts();
    let (lang, chosen) = lang_of(&parts);
    parts.extensions.insert(Tr(lang));
    let here = parts.uri.path().to_string();
    let mut resp = next.run(Request::from_parts(parts, body)).await;
    if let Some(err) = resp.extensions_mut().remove::<PageError>() {
        let status = resp.status();
        let page = ErrorPage { c: Chrome::bare(&here), t: Tr(lang), status: status.as_u16(), key: err.key, detail: err.detail };
        let mut fresh = page.into_response();
        *fresh.status_mut() = status;
        for (k, v) in resp.headers() {
            if k == header::RETRY_AFTER || k == header::SET_COOKIE {
                fresh.headers_mut().insert(k.clone(), v.clone());
            }
        }
        resp = fresh;
    }
    let h = resp.headers_mut();
    // A handler may set a stricter policy (photos are sandboxed).
    // With a tile server, its origin is allowed as an image source (checked when configured).
    let csp = match st.map_tiles.as_deref().and_then(|m| HeaderValue::from_str(&m.csp()).ok()) {
        Some(v) => v,
        None => HeaderValue::from_static(CSP),
    };
    h.entry(header::CONTENT_SECURITY_POLICY).or_insert(csp);
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // Pages carry personal data and tracking codes: never keep them in shared caches.
    h.entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
    if chosen
        && let Ok(v) = HeaderValue::from_str(&format!("{}={}; Path=/; Max-Age=31536000; SameSite=Lax", i18n::LANG_COOKIE, lang.code()))
    {
        h.append(header::SET_COOKIE, v);
    }
    resp
}

impl<S: Send + Sync> FromRequestParts<S> for Tr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(parts.extensions.get::<Tr>().copied().unwrap_or(Tr(lang_of(parts).0)))
    }
}

/// Why a page failed: rendered by [`page_layer`] in the reader's language.
#[derive(Debug, Clone)]
pub struct PageError {
    pub status: StatusCode,
    /// The catalogue key of the message.
    pub key: &'static str,
    /// A detail in the domain's words (which field, what is wrong), if any.
    pub detail: Option<String>,
}

impl PageError {
    pub fn new(status: StatusCode, key: &'static str) -> PageError {
        PageError { status, key, detail: None }
    }
    pub fn not_found() -> PageError {
        PageError::new(StatusCode::NOT_FOUND, "error.not_found")
    }
    pub fn csrf() -> PageError {
        PageError::new(StatusCode::FORBIDDEN, "error.csrf")
    }
}

impl From<StoreError> for PageError {
    fn from(e: StoreError) -> PageError {
        let api = crate::ApiError::from(e);
        let key = match api.status {
            StatusCode::NOT_FOUND => "error.not_found",
            StatusCode::CONFLICT => "error.conflict",
            StatusCode::FORBIDDEN => "error.forbidden",
            StatusCode::UNPROCESSABLE_ENTITY => "error.invalid",
            _ => "error.unavailable",
        };
        PageError {
            status: api.status,
            key,
            detail: (api.status.is_client_error() && api.status != StatusCode::NOT_FOUND).then_some(api.message),
        }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let mut r = self.status.into_response();
        r.extensions_mut().insert(self);
        r
    }
}

/// Renders a template into a response (a template failure is a 500 page).
pub fn render<T: Template>(t: &T) -> Response {
    match t.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "template failed");
            PageError::new(StatusCode::INTERNAL_SERVER_ERROR, "error.unavailable").into_response()
        }
    }
}

/// What the page frame (header, navigation, language switch) needs.
pub struct Chrome {
    pub here: String,
    pub user: Option<UserChip>,
    /// The session's CSRF token, for the sign-out form.
    pub csrf: String,
}

pub struct UserChip {
    pub name: String,
    pub role: &'static str,
    pub supervises: bool,
}

impl Chrome {
    pub fn bare(here: &str) -> Chrome {
        Chrome { here: here.to_string(), user: None, csrf: String::new() }
    }

    pub fn staff(here: &str, s: &PageStaff) -> Chrome {
        Chrome {
            here: here.to_string(),
            user: Some(UserChip { name: s.user.name.clone(), role: s.user.role.as_str(), supervises: s.user.role.supervises() }),
            csrf: s.csrf.clone(),
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    c: Chrome,
    t: Tr,
    status: u16,
    key: &'static str,
    detail: Option<String>,
}

impl IntoResponse for ErrorPage {
    fn into_response(self) -> Response {
        match self.render() {
            Ok(html) => Html(html).into_response(),
            Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "error").into_response(),
        }
    }
}

/// A staff member signed in by session cookie (pages accept no bearer tokens). Without a live
/// session the page redirects to `/login`, coming back afterwards.
pub struct PageStaff {
    pub user: User,
    pub actor: Actor,
    pub csrf: String,
    pub session: String,
}

impl PageStaff {
    /// Checks a form's CSRF token against the session's.
    pub fn check_csrf(&self, sent: &str) -> Result<(), PageError> {
        if crate::auth::same_secret(sent, &self.csrf) { Ok(()) } else { Err(PageError::csrf()) }
    }
}

impl FromRequestParts<AppState> for PageStaff {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, Self::Rejection> {
        let to_login = || {
            // Only a page can be come back to; a form sent without a session cannot.
            let next = match parts.method {
                axum::http::Method::GET => parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/work"),
                _ => "/work",
            };
            Redirect::to(&format!("/login?next={}", urlencode(next))).into_response()
        };
        let Some(id) = cookie(parts, SESSION_COOKIE) else {
            return Err(to_login());
        };
        let hash = crate::token_hash(id);
        match st.svc.store.session(&hash, st.svc.now()).await {
            Ok(Some((session, user))) => Ok(PageStaff { actor: Actor::from_user(&user), user, csrf: session.csrf, session: hash }),
            Ok(None) => Err(to_login()),
            Err(e) => Err(PageError::from(e).into_response()),
        }
    }
}

/// A url-encoded form whose rejection is a page in the reader's language, not plain text.
pub struct PageForm<T>(pub T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> axum::extract::FromRequest<S> for PageForm<T> {
    type Rejection = PageError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Form::<T>::from_request(req, state).await {
            Ok(axum::Form(v)) => Ok(PageForm(v)),
            Err(e) => Err(PageError { status: StatusCode::BAD_REQUEST, key: "error.bad_form", detail: Some(e.body_text()) }),
        }
    }
}

/// Percent-encodes a query value.
pub fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Per-address limits for the public routes: a resident may submit a few reports and look
/// up many codes, but nobody may flood intake or enumerate codes.
#[derive(Default)]
pub struct RateLimiter {
    hits: Mutex<HashMap<(IpAddr, bool), (Instant, u32)>>,
}

impl RateLimiter {
    pub const WINDOW: Duration = Duration::from_secs(600);
    /// Submissions (POST) per address and window.
    pub const SUBMISSIONS: u32 = 10;
    /// Page views and look-ups (GET) per address and window.
    pub const VIEWS: u32 = 300;

    /// Counts a request; `Some(seconds)` when over the limit.
    pub fn hit(&self, ip: IpAddr, submission: bool) -> Option<u64> {
        let mut m = self.hits.lock().expect("not poisoned");
        if m.len() > 100_000 {
            m.retain(|_, (start, _)| start.elapsed() < Self::WINDOW);
        }
        let e = m.entry((ip, submission)).or_insert((Instant::now(), 0));
        if e.0.elapsed() >= Self::WINDOW {
            *e = (Instant::now(), 0);
        }
        e.1 += 1;
        let limit = if submission { Self::SUBMISSIONS } else { Self::VIEWS };
        (e.1 > limit).then(|| (Self::WINDOW - e.0.elapsed()).as_secs().max(1))
    }
}

/// The client's address: behind no proxy the peer is the client; tests that call the router
/// directly have no peer and share the unspecified address's budget.
fn client_ip(req: &Request) -> IpAddr {
    req.extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED))
}

fn retry_after(mut r: Response, wait: u64) -> Response {
    if let Ok(v) = HeaderValue::from_str(&wait.to_string()) {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

pub(crate) async fn rate_limit(State(limiter): State<Arc<RateLimiter>>, req: Request, next: Next) -> Response {
    let submission = req.method() == axum::http::Method::POST;
    if let Some(wait) = limiter.hit(client_ip(&req), submission) {
        return retry_after(PageError::new(StatusCode::TOO_MANY_REQUESTS, "error.rate_limited").into_response(), wait);
    }
    next.run(req).await
}

/// The same budgets for the public JSON endpoints, answered in the API's error shape.
pub(crate) async fn rate_limit_api(State(limiter): State<Arc<RateLimiter>>, req: Request, next: Next) -> Response {
    let submission = req.method() == axum::http::Method::POST;
    if let Some(wait) = limiter.hit(client_ip(&req), submission) {
        let e = crate::ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", format!("too many requests; try again in {wait} s"));
        return retry_after(e.into_response(), wait);
    }
    next.run(req).await
}

/// A local date and time, minutes precision.
pub fn local_time(t: Timestamp, tz: &jiff::tz::TimeZone) -> String {
    jiff::Timestamp::from_millisecond(t.0).map(|ts| ts.to_zoned(tz.clone()).strftime("%Y-%m-%d %H:%M").to_string()).unwrap_or_default()
}

/// "in 5 h" / "3 h overdue" relative to now, in the reader's language.
pub fn due_text(t: Tr, due: Timestamp, now: Timestamp) -> String {
    let hours = (due.0 - now.0) as f64 / 3_600_000.0;
    if hours >= 0.0 { t.n("due.in_hours", format!("{hours:.0}")) } else { t.n("due.overdue_hours", format!("{:.0}", -hours)) }
}

//! Residents by phone: sign-in with a one-time code sent by SMS, "my cases" (the public view of
//! the cases whose reporter gave this phone, never anyone else's), rating at the return visit,
//! the region where one lives; and staff registering a resident in person.
//!
//! A resident session is its own cookie (`fq_resident`), apart from staff sessions: a resident
//! is never staff. Like staff sessions it is HttpOnly and SameSite=Strict, and every
//! state-changing request must carry its CSRF token (`X-CSRF-Token` for the API, a form field
//! for the pages). Codes are rate-limited per phone and per address.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use askama::Template;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use fengqiao_domain::resident::{OtpRefusal, Resident};
use fengqiao_domain::{Case, Rating};
use fengqiao_store::ResidentSession;
use fengqiao_store::residents::SignInError;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api::ApiJson;
use crate::auth::{PeerIp, Staff, cookie, same_secret};
use crate::pages::public::{RegionGroup, region_groups_within};
use crate::pages::{Chrome, PageError, PageForm, PageStaff, Tr, local_time, render};
use crate::{ApiError, AppState};

pub const RESIDENT_COOKIE: &str = "fq_resident";

/// How often sign-in codes may be asked for: per phone and per address, in a window.
#[derive(Default)]
pub struct CodeLimiter {
    hits: Mutex<HashMap<String, Vec<Instant>>>,
}

impl CodeLimiter {
    pub const WINDOW: Duration = Duration::from_secs(15 * 60);
    pub const PER_PHONE: usize = 3;
    pub const PER_ADDRESS: usize = 20;

    /// Counts a request for a code; `Some(seconds)` to wait when over either limit.
    pub fn hit(&self, phone: &str, ip: Option<IpAddr>) -> Option<u64> {
        let mut m = self.hits.lock().expect("not poisoned");
        if m.len() > 100_000 {
            m.clear();
        }
        let keys = [
            (format!("phone:{phone}"), Self::PER_PHONE),
            (format!("ip:{}", ip.map(|i| i.to_string()).unwrap_or_default()), Self::PER_ADDRESS),
        ];
        let mut wait = None;
        for (k, limit) in &keys {
            let v = m.entry(k.clone()).or_default();
            v.retain(|t| t.elapsed() < Self::WINDOW);
            if v.len() >= *limit {
                wait = Some((Self::WINDOW - v[0].elapsed()).as_secs().max(1));
            }
        }
        if wait.is_none() {
            for (k, _) in keys {
                m.entry(k).or_default().push(Instant::now());
            }
        }
        wait
    }
}

pub fn routes(state: AppState) -> Router<AppState> {
    let pages = Router::new()
        .route("/resident", get(home_page))
        .route("/resident/login", get(login_page).post(login_submit))
        .route("/resident/code", post(code_submit))
        .route("/resident/logout", post(logout_page))
        .route("/resident/region", post(region_submit))
        .route("/resident/cases/{code}/rate", post(rate_submit))
        .route("/work/residents", get(register_page).post(register_submit))
        .layer(axum::middleware::from_fn_with_state(state.clone(), crate::pages::page_layer));
    Router::new()
        .route("/api/v1/resident/code", post(api_code))
        .route("/api/v1/resident/session", post(api_sign_in).delete(api_sign_out))
        .route("/api/v1/resident/me", get(api_me))
        .route("/api/v1/resident/region", axum::routing::put(api_region))
        .route("/api/v1/resident/cases", get(api_cases))
        .route("/api/v1/resident/cases/{code}/rating", post(api_rate))
        .route("/api/v1/residents", post(api_register))
        .route("/api/v1/sms/outbox", get(api_outbox))
        .merge(pages)
}

/// A resident signed in by cookie. For the API, a state-changing request must echo the
/// session's CSRF token in `X-CSRF-Token`.
pub struct SignedIn {
    pub resident: Resident,
    pub session: ResidentSession,
}

async fn session_of(parts: &Parts, st: &AppState) -> Result<Option<SignedIn>, fengqiao_store::StoreError> {
    let Some(id) = cookie(parts, RESIDENT_COOKIE) else { return Ok(None) };
    Ok(st.svc.store.resident_session(&crate::token_hash(id), st.svc.now()).await?.map(|(session, resident)| SignedIn { resident, session }))
}

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, Self::Rejection> {
        let s = session_of(parts, st)
            .await?
            .ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, "unauthenticated", "sign in with a code sent to your phone"))?;
        if !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS) {
            let sent = parts.headers.get(crate::auth::CSRF_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("");
            if !same_secret(sent, &s.session.csrf) {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "csrf_failed",
                    "send the session's CSRF token in the X-CSRF-Token header",
                ));
            }
        }
        Ok(s)
    }
}

/// A resident for the pages: without a session, the page sends them to sign in.
pub struct PageResident(pub Option<SignedIn>);

impl FromRequestParts<AppState> for PageResident {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, Self::Rejection> {
        session_of(parts, st).await.map(PageResident).map_err(|e| PageError::from(e).into_response())
    }
}

impl PageResident {
    // The redirect is the handler's answer as it is; boxing it would only be unboxed again.
    #[allow(clippy::result_large_err)]
    fn required(self) -> Result<SignedIn, Response> {
        self.0.ok_or_else(|| Redirect::to("/resident/login").into_response())
    }
}

fn check_form_csrf(s: &SignedIn, sent: &str) -> Result<(), PageError> {
    if same_secret(sent, &s.session.csrf) { Ok(()) } else { Err(PageError::csrf()) }
}

fn refusal_error(r: OtpRefusal) -> ApiError {
    let (code, msg) = match r {
        OtpRefusal::NoCode => ("no_code", "no code was sent to this phone, or it was used; ask for a new one"),
        OtpRefusal::Expired => ("code_expired", "the code has expired; ask for a new one"),
        OtpRefusal::TooManyAttempts => ("too_many_attempts", "too many wrong codes; ask for a new one"),
        OtpRefusal::Wrong => ("wrong_code", "the code is not right"),
    };
    ApiError::new(StatusCode::UNAUTHORIZED, code, msg)
}

/// Checks the limits and sends a code.
async fn send_code(st: &AppState, phone: &str, ip: Option<IpAddr>) -> Result<String, ApiError> {
    let normal = fengqiao_domain::person::normalise_phone(phone).map_err(|e| ApiError::invalid("phone", e.message))?;
    if let Some(wait) = st.code_limits.hit(&normal, ip) {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!("too many codes asked for; try again in {wait} s"),
        ));
    }
    st.svc.send_sign_in_code(&normal, st.sms.as_ref()).await.map_err(|e| match e {
        fengqiao_store::StoreError::Backend(m) => {
            tracing::warn!(error = %m, "a sign-in code could not be sent");
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "sms_unavailable", "the code could not be sent; try again later")
        }
        e => e.into(),
    })
}

/// Checks the code and opens a session; returns it and its `Set-Cookie`.
async fn sign_in(st: &AppState, phone: &str, code: &str) -> Result<(Resident, ResidentSession, String), ApiError> {
    let resident = st.svc.sign_in_with_code(phone, code).await.map_err(|e| match e {
        SignInError::Refused(r) => refusal_error(r),
        SignInError::Store(e) => e.into(),
    })?;
    let id = crate::api::random_secret();
    let now = st.svc.now();
    let session = ResidentSession {
        id_hash: crate::token_hash(&id),
        resident_id: resident.id,
        csrf: crate::api::random_secret(),
        created_at: now,
        expires_at: now.plus_ms(st.session_ttl.as_millis() as i64),
    };
    st.svc.store.create_resident_session(&session).await?;
    let cookie = format!(
        "{RESIDENT_COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
        st.session_ttl.as_secs(),
        if st.secure_cookies { "; Secure" } else { "" }
    );
    Ok((resident, session, cookie))
}

fn clear_cookie() -> String {
    format!("{RESIDENT_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0")
}

fn resident_json(r: &Resident) -> Value {
    json!({ "id": r.id, "phone": r.phone, "region": r.region.as_ref().map(|c| c.as_str()), "verified_by": if r.verified_by == "otp" { "otp" } else { "staff" }, "region_by_staff": r.region_by_staff })
}

/// A case as its reporter may see it: what the tracking page shows, nothing about others.
fn public_case(st: &AppState, c: &Case) -> Value {
    let r = st.svc.reference();
    json!({
        "tracking_code": c.tracking_code.as_str(),
        "category": c.category,
        "category_name": r.categories.get(&c.category).map(|k| k.name_zh.clone()),
        "status": c.status.as_str(),
        "created_at": c.created_at.to_rfc3339_in(&st.tz),
        "unit": c.lead_unit.as_ref().and_then(|u| r.units.get(&u.0)).map(|u| u.name.clone()),
        "handling_due": c.handling_due.filter(|_| c.status.is_open()).map(|d| d.to_rfc3339_in(&st.tz)),
        "can_rate": can_rate(c),
    })
}

fn can_rate(c: &Case) -> bool {
    matches!(c.status, fengqiao_domain::Status::Resolved | fengqiao_domain::Status::ReturnVisit)
        && c.kind != fengqiao_domain::CategoryKind::Dispute
        && !c.visits.iter().any(|v| v.by == "resident" && c.resolved_at.is_some_and(|r| v.at >= r))
}

#[derive(Deserialize)]
struct CodeBody {
    phone: String,
}

async fn api_code(
    State(st): State<AppState>,
    PeerIp(ip): PeerIp,
    ApiJson(b): ApiJson<CodeBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let phone = send_code(&st, &b.phone, ip).await?;
    Ok((StatusCode::ACCEPTED, Json(json!({ "phone": phone, "expires_in": fengqiao_domain::resident::OTP_TTL_MS / 1000 }))))
}

#[derive(Deserialize)]
struct SignInBody {
    phone: String,
    code: String,
}

async fn api_sign_in(State(st): State<AppState>, ApiJson(b): ApiJson<SignInBody>) -> Result<Response, ApiError> {
    let (resident, session, cookie) = sign_in(&st, &b.phone, &b.code).await?;
    let mut resp = Json(json!({ "resident": resident_json(&resident), "csrf": session.csrf })).into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(resp)
}

async fn api_sign_out(State(st): State<AppState>, s: SignedIn) -> Result<Response, ApiError> {
    st.svc.store.delete_resident_session(&s.session.id_hash).await?;
    let mut resp = StatusCode::NO_CONTENT.into_response();
    if let Ok(v) = HeaderValue::from_str(&clear_cookie()) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(resp)
}

async fn api_me(s: SignedIn) -> Json<Value> {
    Json(resident_json(&s.resident))
}

#[derive(Deserialize)]
struct RegionBody {
    region: String,
}

async fn api_region(State(st): State<AppState>, s: SignedIn, ApiJson(b): ApiJson<RegionBody>) -> Result<Json<Value>, ApiError> {
    let r = st.svc.declare_region(&s.resident, &b.region).await?;
    Ok(Json(resident_json(&r)))
}

async fn api_cases(State(st): State<AppState>, s: SignedIn) -> Result<Json<Value>, ApiError> {
    let cases = st.svc.my_cases(&s.resident).await?;
    Ok(Json(json!({ "items": cases.iter().map(|c| public_case(&st, c)).collect::<Vec<_>>() })))
}

#[derive(Deserialize)]
struct RateBody {
    rating: String,
    #[serde(default)]
    comment: Option<String>,
}

async fn api_rate(
    State(st): State<AppState>,
    s: SignedIn,
    Path(code): Path<String>,
    ApiJson(b): ApiJson<RateBody>,
) -> Result<Json<Value>, ApiError> {
    let rating = Rating::parse(&b.rating).ok_or_else(|| ApiError::invalid("rating", "satisfied, basically_satisfied or dissatisfied"))?;
    let c = st.svc.rate_as_resident(&s.resident, &code, rating, b.comment).await?;
    Ok(Json(public_case(&st, &c)))
}

#[derive(Deserialize)]
struct RegisterBody {
    phone: String,
    region: String,
}

async fn api_register(
    State(st): State<AppState>,
    staff: Staff,
    ApiJson(b): ApiJson<RegisterBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let r = st.svc.register_resident(&staff.actor, &b.phone, &b.region).await?;
    Ok((StatusCode::CREATED, Json(resident_json(&r))))
}

// Pages.

#[derive(Template)]
#[template(path = "resident_login.html")]
struct LoginPage {
    c: Chrome,
    t: Tr,
    /// The phone a code was sent to (the second step), if any.
    sent_to: Option<String>,
    phone: String,
    error: Option<String>,
}

async fn login_page(t: Tr) -> Response {
    render(&LoginPage { c: Chrome::bare("/resident/login"), t, sent_to: None, phone: String::new(), error: None })
}

#[derive(Deserialize)]
struct PhoneForm {
    #[serde(default)]
    phone: String,
}

async fn code_submit(State(st): State<AppState>, t: Tr, PeerIp(ip): PeerIp, PageForm(f): PageForm<PhoneForm>) -> Response {
    match send_code(&st, &f.phone, ip).await {
        Ok(phone) => render(&LoginPage { c: Chrome::bare("/resident/login"), t, sent_to: Some(phone.clone()), phone, error: None }),
        Err(e) => {
            let status = e.status;
            let mut r =
                render(&LoginPage { c: Chrome::bare("/resident/login"), t, sent_to: None, phone: f.phone, error: Some(error_text(t, &e)) });
            *r.status_mut() = status;
            r
        }
    }
}

fn error_text(t: Tr, e: &ApiError) -> String {
    let key = format!("resident.error.{}", e.code);
    if t.has(&key) { t.s(&key).to_string() } else { t.domain(e.details.first().map(|d| d.message.as_str()).unwrap_or(&e.message)) }
}

#[derive(Deserialize)]
struct LoginForm {
    #[serde(default)]
    phone: String,
    #[serde(default)]
    code: String,
}

async fn login_submit(State(st): State<AppState>, t: Tr, PageForm(f): PageForm<LoginForm>) -> Response {
    match sign_in(&st, &f.phone, &f.code).await {
        Ok((_, _, cookie)) => {
            let mut r = Redirect::to("/resident").into_response();
            if let Ok(v) = HeaderValue::from_str(&cookie) {
                r.headers_mut().insert(header::SET_COOKIE, v);
            }
            r
        }
        Err(e) => {
            let status = e.status;
            let mut r = render(&LoginPage {
                c: Chrome::bare("/resident/login"),
                t,
                sent_to: Some(f.phone.clone()),
                phone: f.phone,
                error: Some(error_text(t, &e)),
            });
            *r.status_mut() = status;
            r
        }
    }
}

#[derive(Deserialize)]
struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

async fn logout_page(State(st): State<AppState>, who: PageResident, PageForm(f): PageForm<CsrfOnly>) -> Result<Response, Response> {
    let s = who.required()?;
    check_form_csrf(&s, &f.csrf).map_err(IntoResponse::into_response)?;
    st.svc.store.delete_resident_session(&s.session.id_hash).await.map_err(|e| PageError::from(e).into_response())?;
    let mut r = Redirect::to("/").into_response();
    if let Ok(v) = HeaderValue::from_str(&clear_cookie()) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(r)
}

pub struct MyCase {
    pub code: String,
    pub category: String,
    pub status: String,
    pub status_code: &'static str,
    pub created: String,
    pub unit: Option<String>,
    pub can_rate: bool,
}

pub struct ConsultLink {
    pub id: i64,
    pub title: String,
    pub status: String,
    pub closes: String,
}

#[derive(Template)]
#[template(path = "resident_home.html")]
struct HomePage {
    c: Chrome,
    t: Tr,
    csrf: String,
    phone: String,
    region: Option<String>,
    region_by_staff: bool,
    regions: Vec<RegionGroup>,
    cases: Vec<MyCase>,
    consultations: Vec<ConsultLink>,
    flash: Option<String>,
}

async fn home(st: &AppState, t: Tr, s: &SignedIn, flash: Option<String>) -> Result<Response, PageError> {
    let r = st.svc.reference();
    let cases = st.svc.my_cases(&s.resident).await?;
    let county = r.county.as_ref().map(|c| c.code.prefix().to_string()).unwrap_or_default();
    let mut consultations = Vec::new();
    if let Some(home) = &s.resident.region {
        for k in st.svc.store.consultations(&fengqiao_store::Scope::All, 200).await? {
            if k.region.contains(home) {
                consultations.push(ConsultLink {
                    id: k.id,
                    title: k.title.clone(),
                    status: t.k("consult.status", if k.accepts_input(st.svc.now()) { "open" } else { k.status.as_str() }),
                    closes: local_time(k.closes_at, &st.tz),
                });
            }
        }
    }
    let page = HomePage {
        c: Chrome::bare("/resident"),
        t,
        csrf: s.session.csrf.clone(),
        phone: fengqiao_domain::person::mask(&s.resident.phone),
        region: s
            .resident
            .region
            .as_ref()
            .map(|c| r.regions.get(c.as_str()).map(|g| t.pick(&g.name, g.name_en.as_deref()).to_string()).unwrap_or(c.to_string())),
        region_by_staff: s.resident.region_by_staff,
        regions: region_groups_within(st, t, s.resident.region.as_ref().map(|c| c.as_str()).unwrap_or(""), &county),
        cases: cases
            .iter()
            .map(|c| MyCase {
                code: c.tracking_code.as_str().to_string(),
                category: r
                    .categories
                    .get(&c.category)
                    .map(|k| t.pick(&k.name_zh, Some(&k.name_en)).to_string())
                    .unwrap_or(c.category.clone()),
                status: t.k("status", c.status.as_str()),
                status_code: c.status.as_str(),
                created: local_time(c.created_at, &st.tz),
                unit: c.lead_unit.as_ref().and_then(|u| r.units.get(&u.0)).map(|u| t.pick(&u.name, u.name_en.as_deref()).to_string()),
                can_rate: can_rate(c),
            })
            .collect(),
        consultations,
        flash,
    };
    Ok(render(&page))
}

async fn home_page(State(st): State<AppState>, t: Tr, who: PageResident) -> Result<Response, Response> {
    let s = who.required()?;
    home(&st, t, &s, None).await.map_err(IntoResponse::into_response)
}

#[derive(Deserialize)]
struct RegionForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    region: String,
}

async fn region_submit(
    State(st): State<AppState>,
    t: Tr,
    who: PageResident,
    PageForm(f): PageForm<RegionForm>,
) -> Result<Response, Response> {
    let s = who.required()?;
    check_form_csrf(&s, &f.csrf).map_err(IntoResponse::into_response)?;
    st.svc.declare_region(&s.resident, &f.region).await.map_err(|e| PageError::from(e).into_response())?;
    let _ = t;
    Ok(Redirect::to("/resident").into_response())
}

#[derive(Deserialize)]
struct RateForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    rating: String,
    #[serde(default)]
    comment: String,
}

async fn rate_submit(
    State(st): State<AppState>,
    t: Tr,
    who: PageResident,
    Path(code): Path<String>,
    PageForm(f): PageForm<RateForm>,
) -> Result<Response, Response> {
    let s = who.required()?;
    check_form_csrf(&s, &f.csrf).map_err(IntoResponse::into_response)?;
    let rating =
        Rating::parse(&f.rating).ok_or_else(|| PageError::new(StatusCode::UNPROCESSABLE_ENTITY, "error.invalid").into_response())?;
    st.svc.rate_as_resident(&s.resident, &code, rating, Some(f.comment)).await.map_err(|e| PageError::from(e).into_response())?;
    home(&st, t, &s, Some(t.s("resident.rated").to_string())).await.map_err(IntoResponse::into_response)
}

#[derive(Template)]
#[template(path = "resident_register.html")]
struct RegisterPage {
    c: Chrome,
    t: Tr,
    regions: Vec<RegionGroup>,
    phone: String,
    done: Option<String>,
    error: Option<String>,
}

async fn register_page(State(st): State<AppState>, t: Tr, staff: PageStaff) -> Response {
    let within = staff.user.jurisdiction.prefix().to_string();
    render(&RegisterPage {
        c: Chrome::staff("/work/residents", &staff),
        t,
        regions: region_groups_within(&st, t, "", &within),
        phone: String::new(),
        done: None,
        error: None,
    })
}

#[derive(Deserialize)]
struct RegisterForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    region: String,
}

async fn register_submit(
    State(st): State<AppState>,
    t: Tr,
    staff: PageStaff,
    PageForm(f): PageForm<RegisterForm>,
) -> Result<Response, PageError> {
    staff.check_csrf(&f.csrf)?;
    let within = staff.user.jurisdiction.prefix().to_string();
    let (done, error, status) = match st.svc.register_resident(&staff.actor, &f.phone, &f.region).await {
        Ok(r) => (Some(fengqiao_domain::person::mask(&r.phone)), None, StatusCode::OK),
        Err(e) => {
            let api = ApiError::from(e);
            (
                None,
                Some(api.details.iter().map(|d| format!("{}: {}", d.field, t.domain(&d.message))).collect::<Vec<_>>().join("; "))
                    .filter(|s| !s.is_empty())
                    .or(Some(t.domain(&api.message))),
                api.status,
            )
        }
    };
    let phone = if done.is_some() { String::new() } else { f.phone.clone() };
    let mut r = render(&RegisterPage {
        c: Chrome::staff("/work/residents", &staff),
        t,
        regions: region_groups_within(&st, t, &f.region, &within),
        phone,
        done,
        error,
    });
    *r.status_mut() = status;
    Ok(r)
}

#[derive(Deserialize)]
struct OutboxQuery {
    #[serde(default)]
    limit: Option<i64>,
}

/// The newest text messages and what became of them (administrators): phones masked.
async fn api_outbox(
    State(st): State<AppState>,
    staff: Staff,
    crate::api::ApiQuery(q): crate::api::ApiQuery<OutboxQuery>,
) -> Result<Json<Value>, ApiError> {
    if staff.user.role != fengqiao_domain::Role::Admin {
        return Err(ApiError::new(StatusCode::FORBIDDEN, "forbidden", "only an administrator sees the text messages"));
    }
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::invalid("limit", "between 1 and 1000"));
    }
    let items = st.svc.store.sms_outbox(limit).await?;
    let tz = &st.tz;
    Ok(Json(json!({ "items": items.iter().map(|m| json!({
        "id": m.id,
        "case_id": m.case_id,
        "kind": m.kind,
        "phone": m.phone.as_deref().map(fengqiao_domain::person::mask),
        "created_at": m.created_at.to_rfc3339_in(tz),
        "attempts": m.attempts,
        "state": if m.sent_at.is_some() { "sent" } else if m.failed_at.is_some() { "gave_up" } else { "queued" },
        "sent_at": m.sent_at.map(|t| t.to_rfc3339_in(tz)),
        "last_error": m.last_error,
    })).collect::<Vec<_>>() })))
}

//! Open311 GeoReport v2 under `/open311/v2/`, for third-party apps (FixMyStreet, city apps):
//! discovery, services and their definitions, submitting and listing requests, tokens, and
//! mySociety's `servicerequestupdates`. Every resource in XML and JSON (`.xml` / `.json`).
//!
//! Policy:
//! - Submissions go through [`fengqiao_store::Service`] like any other intake: validated whole,
//!   durably group-committed before the answer, audited with the key's name as the actor
//!   (`apikey:NAME`) and channel `api`.
//! - The public list shows only categories flagged `public`, never people; digit runs that
//!   look like phone or ID numbers are blanked in descriptions, and for categories whose
//!   location points at a household ([`COARSE_LOCATION`]) the point is the region's centroid
//!   and the address is withheld. Disputes and other private categories never appear.
//! - `status` is `open` or `closed`; our lifecycle status and FixMyStreet's extended status are
//!   in `extended_attributes` (see [`fms_status`]).
//! - Errors are the specification's list of `{code, description}`: 404 for an unknown
//!   jurisdiction, service, request or token, 403 for a missing or invalid `api_key`, 429 when
//!   a key exceeds its rate, 400 otherwise; a request with several problems lists them all.
//!   Nothing is written when any is found.

mod keys;
mod xml;

use std::sync::Arc;

use axum::extract::{FromRequest, Path, Request, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Extension, Router};
use fengqiao_domain::audit::StoredEvent;
use fengqiao_domain::case::{CaseDraft, MAX_DESCRIPTION_CHARS};
use fengqiao_domain::category::QuestionType;
use fengqiao_domain::clock::DAY_MS;
use fengqiao_domain::{
    Actor, Case, Category, CategoryKind, Channel, Command, DomainError, PersonInput, Role, Status, Timestamp, TrackingCode,
};
use fengqiao_store::{ApiKey, ApiScope, NewAttachment, PublicCaseQuery, Reference, RequestUpdate, Scope, StoreError};
use serde_json::{Map, Value, json};

pub use keys::{DEFAULT_RATE_PER_MINUTE, KeyState, make_key};

use crate::AppState;

/// Categories whose cases point at a household or a neighbour: their public location is
/// coarsened to the region's centroid and their address withheld.
pub const COARSE_LOCATION: &[&str] = &["noise", "illegal_construction", "other_request"];
/// Longest window of `GET requests` and `GET servicerequestupdates`, and its default.
pub const MAX_WINDOW_DAYS: i64 = 90;
/// Most requests per page, and the default page size.
pub const MAX_PAGE_SIZE: i64 = 1000;
/// When this interface last changed, for discovery.
const CHANGESET: &str = "2026-11-25T00:00:00+08:00";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/open311/v2/{resource}", get(get_resource).post(post_resource))
        .route("/open311/v2/services/{file}", get(service_definition))
        .route("/open311/v2/requests/{file}", get(one_request))
        .route("/open311/v2/tokens/{file}", get(token))
        .route("/api/v1/api-keys", get(keys::list).post(keys::create))
        .route("/api/v1/api-keys/{name}", delete(keys::revoke))
        .layer(Extension(Arc::new(KeyState::default())))
        // FixMyStreet sends photos in multipart bodies; they are read and dropped.
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
}

/// The largest Open311 body: room for a phone photo in a multipart submission.
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;
/// Photos one request may carry.
pub const MAX_PHOTOS: usize = 3;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Format {
    Xml,
    Json,
}

/// `requests.json` → (`requests`, JSON). An unknown or missing suffix is answered in XML,
/// the specification's required format.
fn split(file: &str) -> (&str, Option<Format>) {
    match file.rsplit_once('.') {
        Some((stem, "xml")) => (stem, Some(Format::Xml)),
        Some((stem, "json")) => (stem, Some(Format::Json)),
        _ => (file, None),
    }
}

/// One or more errors with the HTTP status they share.
#[derive(Debug)]
struct Fail {
    status: StatusCode,
    errors: Vec<String>,
}

impl Fail {
    fn new(status: StatusCode, e: impl Into<String>) -> Fail {
        Fail { status, errors: vec![e.into()] }
    }
    fn bad(e: impl Into<String>) -> Fail {
        Fail::new(StatusCode::BAD_REQUEST, e)
    }
    fn not_found(e: impl Into<String>) -> Fail {
        Fail::new(StatusCode::NOT_FOUND, e)
    }
}

impl From<StoreError> for Fail {
    fn from(e: StoreError) -> Fail {
        match e {
            StoreError::NotFound => Fail::not_found("service_request_id: no such request"),
            StoreError::Domain(d) => d.into(),
            StoreError::Backend(m) => {
                tracing::error!(error = %m, "storage failure");
                Fail::new(StatusCode::SERVICE_UNAVAILABLE, "the database could not complete the request; nothing was changed")
            }
            other => Fail::bad(other.to_string()),
        }
    }
}

impl From<DomainError> for Fail {
    fn from(e: DomainError) -> Fail {
        match e {
            DomainError::Invalid(fields) => Fail {
                status: StatusCode::BAD_REQUEST,
                errors: fields.into_iter().map(|f| format!("{}: {}", open311_field(&f.field), f.message)).collect(),
            },
            other => Fail::bad(other.to_string()),
        }
    }
}

/// Our field names in the words of the specification.
fn open311_field(f: &str) -> String {
    if let Some(code) = f.strip_prefix("answers.") {
        return format!("attribute[{code}]");
    }
    match f {
        "category" => "service_code".into(),
        "location" => "lat/long".into(),
        "location.lat" => "lat".into(),
        "location.lon" => "long".into(),
        "region" => "address_id".into(),
        "address" => "address_string".into(),
        other => other.replace("reporter.", "").replace("name", "first_name/last_name"),
    }
}

struct Out {
    status: StatusCode,
    root: &'static str,
    body: Value,
}

fn ok(root: &'static str, body: Value) -> Result<Out, Fail> {
    Ok(Out { status: StatusCode::OK, root, body })
}

fn respond(format: Option<Format>, r: Result<Out, Fail>) -> Response {
    let (format, r) = match format {
        Some(f) => (f, r),
        None => (Format::Xml, Err(Fail::not_found("unknown format: add .xml or .json to the resource"))),
    };
    let out = r.unwrap_or_else(|f| Out {
        status: f.status,
        root: "errors",
        body: Value::Array(f.errors.into_iter().map(|d| json!({ "code": f.status.as_u16(), "description": d })).collect()),
    });
    match format {
        Format::Json => (out.status, [(header::CONTENT_TYPE, "application/json; charset=utf-8")], out.body.to_string()).into_response(),
        Format::Xml => (out.status, [(header::CONTENT_TYPE, "text/xml; charset=utf-8")], xml::render(out.root, &out.body)).into_response(),
    }
}

/// Arguments from the query string and the body, in order. An empty value counts as absent.
#[derive(Default)]
struct Params {
    pairs: Vec<(String, String)>,
    /// File parts of a multipart body: the field name and the bytes.
    files: Vec<(String, Vec<u8>)>,
}

impl Params {
    fn get(&self, name: &str) -> Option<&str> {
        self.pairs.iter().rev().find(|(k, v)| k == name && !v.trim().is_empty()).map(|(_, v)| v.trim())
    }
    fn list(&self, name: &str) -> Vec<String> {
        self.get(name).map(|v| v.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect()).unwrap_or_default()
    }
}

fn query_params(uri: &axum::http::Uri) -> Result<Params, Fail> {
    let pairs = match uri.query() {
        None => Vec::new(),
        Some(q) => {
            axum::extract::Query::<Vec<(String, String)>>::try_from_uri(uri)
                .map_err(|e| Fail::bad(format!("the query string does not parse ({q}): {e}")))?
                .0
        }
    };
    Ok(Params { pairs, files: Vec::new() })
}

/// The body's arguments: form-urlencoded, or multipart form-data (text parts are arguments,
/// file parts are kept for `submit` to check and store as photos).
async fn body_params(req: Request) -> Result<Params, Fail> {
    let mut p = query_params(req.uri())?;
    let ct = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_ascii_lowercase();
    if ct.starts_with("multipart/form-data") {
        let mut mp = axum::extract::Multipart::from_request(req, &())
            .await
            .map_err(|e| Fail::bad(format!("the multipart body does not parse: {}", e.body_text())))?;
        while let Some(field) =
            mp.next_field().await.map_err(|e| Fail::bad(format!("the multipart body does not parse: {}", e.body_text())))?
        {
            let name = field.name().unwrap_or("").to_string();
            if field.file_name().is_some() {
                let bytes = field.bytes().await.map_err(|e| Fail::bad(format!("{name}: {}", e.body_text())))?;
                p.files.push((name, bytes.to_vec()));
                continue;
            }
            let text = field.text().await.map_err(|e| Fail::bad(format!("{name}: {}", e.body_text())))?;
            p.pairs.push((name, text));
        }
    } else {
        let axum::Form(pairs) = axum::Form::<Vec<(String, String)>>::from_request(req, &()).await.map_err(|e| {
            Fail::bad(format!("send the arguments as application/x-www-form-urlencoded or multipart/form-data: {}", e.body_text()))
        })?;
        p.pairs.extend(pairs);
    }
    Ok(p)
}

fn check_jurisdiction(st: &AppState, p: &Params) -> Result<(), Fail> {
    match p.get("jurisdiction_id") {
        None => Ok(()),
        Some(j) if jurisdiction(st).as_deref() == Some(j) => Ok(()),
        Some(j) => Err(Fail::not_found(format!("jurisdiction_id: unknown jurisdiction '{j}'"))),
    }
}

/// This deployment's jurisdiction: its county's division code.
fn jurisdiction(st: &AppState) -> Option<String> {
    st.svc.reference().county.as_ref().map(|c| c.code.as_str().to_string())
}

fn english(headers: &HeaderMap, p: &Params) -> bool {
    match p.get("locale") {
        Some(l) => l.starts_with("en"),
        None => headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()).is_some_and(|l| l.trim_start().starts_with("en")),
    }
}

/// Categories offered to Open311 clients: resident requests (disputes need their parties and
/// are recorded by staff).
fn offered(r: &Reference) -> Vec<&Category> {
    let mut v: Vec<&Category> = r.categories.values().filter(|c| c.kind == CategoryKind::Request).collect();
    v.sort_by(|a, b| a.code.cmp(&b.code));
    v
}

fn offered_category<'a>(r: &'a Reference, code: &str) -> Option<&'a Category> {
    r.categories.get(code).filter(|c| c.kind == CategoryKind::Request)
}

fn public_codes(r: &Reference) -> Vec<String> {
    offered(r).into_iter().filter(|c| c.public).map(|c| c.code.clone()).collect()
}

fn name(c: &Category, en: bool) -> &str {
    if en { &c.name_en } else { &c.name_zh }
}

async fn get_resource(State(st): State<AppState>, Path(file): Path<String>, headers: HeaderMap, uri: Uri) -> Response {
    let (stem, format) = split(&file);
    let r = async {
        let p = query_params(&uri)?;
        check_jurisdiction(&st, &p)?;
        match stem {
            "discovery" => discovery(&headers),
            "services" => services(&st, &headers, &p),
            "requests" => list_requests(&st, &headers, &p).await,
            "servicerequestupdates" => list_updates(&st, &p).await,
            _ => Err(Fail::not_found(format!("no resource '{stem}'"))),
        }
    }
    .await;
    respond(format, r)
}

async fn post_resource(
    State(st): State<AppState>,
    Extension(keys): Extension<Arc<KeyState>>,
    Path(file): Path<String>,
    headers: HeaderMap,
    req: Request,
) -> Response {
    let (stem, format) = split(&file);
    let r = async {
        if !matches!(stem, "requests" | "servicerequestupdates") {
            return Err(Fail::new(StatusCode::METHOD_NOT_ALLOWED, format!("'{stem}' cannot be posted to")));
        }
        let p = body_params(req).await?;
        let scope = if stem == "requests" { ApiScope::Submit } else { ApiScope::Update };
        let key = authorise(&st, &keys, &p, scope).await?;
        check_jurisdiction(&st, &p)?;
        if stem == "requests" { submit(&st, &key, &headers, &p).await } else { push_update(&st, &key, &p).await }
    }
    .await;
    respond(format, r)
}

/// The caller's key, if it is valid, live, allowed `scope`, and within its rate.
async fn authorise(st: &AppState, keys: &KeyState, p: &Params, scope: ApiScope) -> Result<ApiKey, Fail> {
    let secret = p.get("api_key").ok_or_else(|| Fail::new(StatusCode::FORBIDDEN, "api_key: required to post"))?;
    let key = keys.lookup(st, secret).await?.ok_or_else(|| Fail::new(StatusCode::FORBIDDEN, "api_key: invalid api_key"))?;
    if key.revoked_at.is_some() {
        return Err(Fail::new(StatusCode::FORBIDDEN, "api_key: this api_key has been revoked"));
    }
    if !key.allows(scope) {
        return Err(Fail::new(
            StatusCode::FORBIDDEN,
            format!("api_key: this api_key may not {}", if scope == ApiScope::Submit { "submit requests" } else { "update requests" }),
        ));
    }
    keys.take(&key).map_err(|wait| Fail::new(StatusCode::TOO_MANY_REQUESTS, format!("api_key: rate limit exceeded; retry in {wait} s")))?;
    Ok(key)
}

fn discovery(headers: &HeaderMap) -> Result<Out, Fail> {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost");
    let scheme = headers.get("x-forwarded-proto").and_then(|h| h.to_str().ok()).unwrap_or("http");
    ok(
        "discovery",
        json!({
            "changeset": CHANGESET,
            "contact": "Ask the deployment's administrator.",
            "key_service": "API keys are issued by the administrator (fengqiao api-key create).",
            "endpoints": [{
                "specification": "http://wiki.open311.org/GeoReport_v2",
                "url": format!("{scheme}://{host}/open311/v2/"),
                "changeset": CHANGESET,
                "type": "production",
                "formats": ["text/xml", "application/json"],
            }],
        }),
    )
}

fn services(st: &AppState, headers: &HeaderMap, p: &Params) -> Result<Out, Fail> {
    let r = st.svc.reference();
    let en = english(headers, p);
    let list: Vec<Value> = offered(&r)
        .into_iter()
        .map(|c| {
            json!({
                "service_code": c.code,
                "service_name": name(c, en),
                "description": name(c, !en),
                "metadata": !c.questions.is_empty(),
                "type": "realtime",
                "keywords": format!("{},{},{}", c.code, c.name_zh, c.name_en),
                "group": if c.emergency { "紧急求助 Emergency" } else { "群众诉求 Requests" },
            })
        })
        .collect();
    ok("services", Value::Array(list))
}

async fn service_definition(State(st): State<AppState>, Path(file): Path<String>, headers: HeaderMap, uri: Uri) -> Response {
    let (code, format) = split(&file);
    let r = (|| {
        let p = query_params(&uri)?;
        check_jurisdiction(&st, &p)?;
        let r = st.svc.reference();
        let c = offered_category(&r, code).ok_or_else(|| Fail::not_found(format!("service_code: unknown service '{code}'")))?;
        let en = english(&headers, &p);
        let attrs: Vec<Value> = c
            .questions
            .iter()
            .enumerate()
            .map(|(i, q)| {
                let (datatype, desc) = match q.datatype {
                    QuestionType::String => ("string", "text, one line"),
                    QuestionType::Text => ("text", "text, up to 4000 characters"),
                    QuestionType::Number => ("number", "a number"),
                    QuestionType::Datetime => ("datetime", "an ISO 8601 date and time with its offset"),
                    QuestionType::SingleValueList => ("singlevaluelist", "one key from the values"),
                    QuestionType::MultiValueList => ("multivaluelist", "one or more keys from the values (attribute[CODE][])"),
                };
                json!({
                    "variable": true,
                    "code": q.code,
                    "datatype": datatype,
                    "required": q.required,
                    "datatype_description": desc,
                    "order": i + 1,
                    "description": if en { &q.label_en } else { &q.label_zh },
                    "values": q.values.iter().map(|v| json!({ "key": v.key, "name": if en { &v.name_en } else { &v.name_zh } })).collect::<Vec<_>>(),
                })
            })
            .collect();
        ok("service_definition", json!({ "service_code": c.code, "attributes": attrs }))
    })();
    respond(format, r)
}

/// Blanks runs of seven or more digits (phone and ID numbers) in text shown to the public.
/// Public text without the personal data it may carry: the reporter's own name and address
/// where the text repeats them (each becomes `**`), then digit runs of seven or more (phones,
/// ID numbers) as `***`.
fn redact(s: &str, names: &[String]) -> String {
    let mut s = s.to_string();
    for n in names.iter().filter(|n| n.chars().count() >= 2) {
        s = s.replace(n.as_str(), "**");
    }
    let mut out = String::with_capacity(s.len());
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        if run.chars().count() >= 7 {
            out.push_str("***");
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for c in s.chars() {
        if c.is_ascii_digit() {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
}

/// FixMyStreet's extended status for each of ours.
pub fn fms_status(s: Status) -> &'static str {
    match s {
        Status::Received | Status::Filed => "FOR_TRIAGE",
        Status::Dispatched | Status::Deferred => "ACTION_SCHEDULED",
        Status::Accepted => "INVESTIGATING",
        Status::InProgress => "IN_PROGRESS",
        Status::Resolved | Status::ReturnVisit => "FIXED",
        Status::Closed => "CLOSED",
        Status::Cancelled => "CANCELLED",
        Status::Merged => "DUPLICATE",
    }
}

fn open_or_closed(s: Status) -> &'static str {
    if s.is_open() { "open" } else { "closed" }
}

/// An event as an update: FixMyStreet's status after it, `open`/`closed`, and a label.
fn event_update(kind: &str) -> Option<(&'static str, &'static str, &'static str)> {
    Some(match kind {
        "created" => ("FOR_TRIAGE", "open", "已登记 Received"),
        "filed" => ("FOR_TRIAGE", "open", "已受理 Filed"),
        "dispatched" => ("ACTION_SCHEDULED", "open", "已派发 Sent to the handling unit"),
        "transferred" => ("ACTION_SCHEDULED", "open", "已转办 Transferred to another unit"),
        "escalated" => ("ACTION_SCHEDULED", "open", "已上报 Escalated"),
        "deferred" => ("ACTION_SCHEDULED", "open", "缓办 Deferred"),
        "accepted" => ("INVESTIGATING", "open", "已签收 Accepted by the handling unit"),
        "started" => ("IN_PROGRESS", "open", "办理中 In progress"),
        "resumed" => ("IN_PROGRESS", "open", "恢复办理 Resumed"),
        "reworked" => ("IN_PROGRESS", "open", "重新办理 Sent back for more work"),
        "extension_decided" => ("IN_PROGRESS", "open", "办理期限已调整 Deadline reviewed"),
        "resolved" => ("FIXED", "open", "已办结待回访 Resolved, awaiting the return visit"),
        "visit_recorded" => ("FIXED", "open", "已回访 Return visit made"),
        "closed" => ("CLOSED", "closed", "已结案 Closed"),
        "cancelled" => ("CANCELLED", "closed", "已撤销 Cancelled"),
        "merged" => ("DUPLICATE", "closed", "已合并 Merged into another request"),
        "reopened" => ("REOPEN", "open", "已重新打开 Reopened"),
        _ => return None,
    })
}

fn status_label(s: Status) -> &'static str {
    match s {
        Status::Received => "已登记 Received",
        Status::Filed => "已受理 Filed",
        Status::Dispatched => "已派发 Sent to the handling unit",
        Status::Accepted => "已签收 Accepted",
        Status::InProgress => "办理中 In progress",
        Status::Deferred => "缓办 Deferred",
        Status::Resolved => "已办结待回访 Resolved, awaiting the return visit",
        Status::ReturnVisit => "回访中 Return visit",
        Status::Closed => "已结案 Closed",
        Status::Cancelled => "已撤销 Cancelled",
        Status::Merged => "已合并 Merged",
    }
}

fn emergency_notice(c: &Category) -> Option<&'static str> {
    c.emergency.then_some("如遇紧急情况请立即拨打110。If this is an emergency, call 110 now.")
}

/// A case as the public sees it.
/// The names and addresses of the cases' reporters, to blank in public text.
async fn reporters_data(st: &AppState, cases: &[Case]) -> Result<std::collections::HashMap<i64, Vec<String>>, Fail> {
    let mut ids: Vec<i64> = cases.iter().filter_map(|c| c.reporter).collect();
    ids.sort_unstable();
    ids.dedup();
    let mut out = std::collections::HashMap::new();
    for chunk in ids.chunks(400) {
        for p in st.svc.store.persons(chunk).await? {
            let mut v: Vec<String> = [p.name, p.address].into_iter().flatten().collect();
            // Longest first, so a full address is blanked before a name inside it.
            v.sort_by_key(|x| std::cmp::Reverse(x.chars().count()));
            out.insert(p.id, v);
        }
    }
    Ok(out)
}

fn request_view(st: &AppState, r: &Reference, c: &Case, en: bool, history: Option<&[StoredEvent]>, names: &[String]) -> Value {
    let cat = r.categories.get(&c.category);
    let coarse = COARSE_LOCATION.contains(&c.category.as_str());
    let point = if coarse {
        let mut code = Some(c.region.clone());
        let mut found = None;
        while let Some(cd) = code {
            if let Some(p) = r.regions.get(cd.as_str()).and_then(|g| g.centroid) {
                found = Some(p);
                break;
            }
            code = cd.parent();
        }
        found
    } else {
        c.location.point
    };
    let unit = c
        .lead_unit
        .as_ref()
        .and_then(|u| r.units.get(&u.0))
        .map(|u| if en { u.name_en.clone().unwrap_or_else(|| u.name.clone()) } else { u.name.clone() });
    let mut v = json!({
        "service_request_id": c.tracking_code.as_str(),
        "status": open_or_closed(c.status),
        "status_notes": status_label(c.status),
        "service_name": cat.map(|k| name(k, en)).unwrap_or(&c.category),
        "service_code": c.category,
        "description": redact(&c.description, names),
        "agency_responsible": unit,
        "service_notice": cat.and_then(emergency_notice),
        "requested_datetime": c.created_at.to_rfc3339_in(&st.tz),
        "updated_datetime": c.updated_at.to_rfc3339_in(&st.tz),
        "expected_datetime": c.handling_due.filter(|_| c.status.is_open()).map(|t| t.to_rfc3339_in(&st.tz)),
        "address": if coarse { None } else { c.location.address.as_deref().map(|a| redact(a, names)) },
        "address_id": c.region.as_str(),
        "zipcode": Value::Null,
        "lat": point.map(|p| p.lat),
        "long": point.map(|p| p.lon),
        "media_url": Value::Null,
    });
    if let Some(events) = history {
        let notes: Vec<Value> = events
            .iter()
            .filter_map(|e| {
                let (fms, _, label) = event_update(&e.kind)?;
                Some(json!({ "datetime": e.at.to_rfc3339_in(&st.tz), "status": fms, "description": label }))
            })
            .collect();
        // Free-text answers are shown like descriptions.
        let answers = c
            .answers
            .iter()
            .map(|(k, a)| (k.clone(), a.as_str().map(|t| Value::String(redact(t, names))).unwrap_or_else(|| a.clone())))
            .collect();
        v["attributes"] = Value::Object(answers);
        v["extended_attributes"] = json!({
            "status": c.status.as_str(),
            "fixmystreet_status": fms_status(c.status),
            "region": c.region.as_str(),
            "handling_due": c.handling_due.map(|t| t.to_rfc3339_in(&st.tz)),
        });
        v["notes"] = Value::Array(notes);
    }
    v
}

fn parse_time(field: &str, s: &str, tz: &jiff::tz::TimeZone) -> Result<Timestamp, String> {
    if let Some(t) = Timestamp::parse_rfc3339(s) {
        return Ok(t);
    }
    s.parse::<jiff::civil::Date>()
        .ok()
        .and_then(|d| fengqiao_domain::clock::start_of_day(d, tz))
        .ok_or_else(|| format!("{field}: expected an ISO 8601 date-time with its offset, or a date"))
}

/// The `[start, end)` window: at most [`MAX_WINDOW_DAYS`]; by default the last ones.
fn window(st: &AppState, p: &Params, errors: &mut Vec<String>) -> (Timestamp, Timestamp) {
    let max = MAX_WINDOW_DAYS * DAY_MS;
    let start = p.get("start_date").map(|s| parse_time("start_date", s, &st.tz)).transpose().unwrap_or_else(|e| {
        errors.push(e);
        None
    });
    let end = p.get("end_date").map(|s| parse_time("end_date", s, &st.tz)).transpose().unwrap_or_else(|e| {
        errors.push(e);
        None
    });
    let now = st.svc.now();
    let (from, to) = match (start, end) {
        (None, None) => (now.plus_ms(1 - max), now.plus_ms(1)),
        (Some(s), None) => (s, s.plus_ms(max)),
        (None, Some(e)) => (e.plus_ms(-max), e),
        (Some(s), Some(e)) => (s, e),
    };
    // A date that does not parse is reported as such, not as a bad span.
    let parsed = start.is_some() == p.get("start_date").is_some() && end.is_some() == p.get("end_date").is_some();
    if parsed && from > to {
        errors.push("start_date: must not be after end_date".into());
    } else if parsed && to.0 - from.0 > max {
        errors.push(format!("end_date: the span from start_date may be at most {MAX_WINDOW_DAYS} days"));
    }
    (from, to)
}

fn bad_if_any(errors: Vec<String>) -> Result<(), Fail> {
    if errors.is_empty() { Ok(()) } else { Err(Fail { status: StatusCode::BAD_REQUEST, errors }) }
}

fn positive(p: &Params, field: &str, default: i64, max: i64, errors: &mut Vec<String>) -> i64 {
    match p.get(field).map(|s| s.parse::<i64>()) {
        None => default,
        Some(Ok(n)) if (1..=max).contains(&n) => n,
        Some(_) => {
            errors.push(format!("{field}: a whole number from 1 to {max}"));
            default
        }
    }
}

async fn list_requests(st: &AppState, headers: &HeaderMap, p: &Params) -> Result<Out, Fail> {
    let r = st.svc.reference();
    let mut errors = Vec::new();
    let public = public_codes(&r);
    let ids = p.get("service_request_id").map(|_| {
        p.list("service_request_id").iter().filter_map(|s| TrackingCode::parse(s)).map(|c| c.as_str().to_string()).collect::<Vec<_>>()
    });
    let mut categories = public.clone();
    let codes = p.list("service_code");
    if !codes.is_empty() && ids.is_none() {
        for c in &codes {
            if offered_category(&r, c).is_none() {
                return Err(Fail::not_found(format!("service_code: unknown service '{c}'")));
            }
        }
        categories.retain(|c| codes.contains(c));
    }
    let (mut want_open, mut want_closed) = (false, false);
    for s in p.list("status") {
        match s.as_str() {
            "open" => want_open = true,
            "closed" => want_closed = true,
            other => errors.push(format!("status: expected open or closed, not '{other}'")),
        }
    }
    let open = match (want_open, want_closed) {
        (true, false) => Some(true),
        (false, true) => Some(false),
        _ => None,
    };
    let (from, to) = window(st, p, &mut errors);
    let page = positive(p, "page", 1, i64::MAX / MAX_PAGE_SIZE, &mut errors);
    let page_size = positive(p, "page_size", MAX_PAGE_SIZE, MAX_PAGE_SIZE, &mut errors);
    let extensions = match p.get("extensions") {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => {
            errors.push("extensions: true or false".into());
            false
        }
    };
    bad_if_any(errors)?;
    let q = PublicCaseQuery {
        codes: ids,
        ids: None,
        categories,
        open,
        created_from: Some(from),
        created_to: Some(to),
        offset: (page - 1) * page_size,
        limit: page_size,
    };
    let cases = st.svc.store.public_cases(&q).await?;
    let en = english(headers, p);
    let mut list = Vec::with_capacity(cases.len());
    let people = reporters_data(st, &cases).await?;
    for c in &cases {
        let history = if extensions { st.svc.store.case_events(&Scope::All, c.id).await?.map(public_events) } else { None };
        let names = c.reporter.and_then(|p| people.get(&p)).map(Vec::as_slice).unwrap_or(&[]);
        list.push(request_view(st, &r, c, en, history.as_deref(), names));
    }
    ok("service_requests", Value::Array(list))
}

fn public_events(events: Vec<StoredEvent>) -> Vec<StoredEvent> {
    events.into_iter().filter(|e| serde_json::from_str::<fengqiao_domain::EventKind>(&e.payload).is_ok_and(|k| k.is_public())).collect()
}

/// A listed case by its service request id (its tracking code), or 404.
async fn public_case(st: &AppState, id: &str) -> Result<Case, Fail> {
    let missing = || Fail::not_found(format!("service_request_id: no request '{id}'"));
    let c = by_request_id(st, id).await?.ok_or_else(missing)?;
    let r = st.svc.reference();
    if !r.categories.get(&c.category).is_some_and(|k| k.public && k.kind == CategoryKind::Request) {
        return Err(missing());
    }
    Ok(c)
}

async fn one_request(State(st): State<AppState>, Path(file): Path<String>, headers: HeaderMap, uri: Uri) -> Response {
    let (id, format) = split(&file);
    let r = async {
        let p = query_params(&uri)?;
        check_jurisdiction(&st, &p)?;
        let c = public_case(&st, id).await?;
        let extensions = p.get("extensions") == Some("true");
        let history = if extensions { st.svc.store.case_events(&Scope::All, c.id).await?.map(public_events) } else { None };
        let people = reporters_data(&st, std::slice::from_ref(&c)).await?;
        let names = c.reporter.and_then(|p| people.get(&p)).map(Vec::as_slice).unwrap_or(&[]);
        let v = request_view(&st, &st.svc.reference(), &c, english(&headers, &p), history.as_deref(), names);
        ok("service_requests", json!([v]))
    }
    .await;
    respond(format, r)
}

/// The case a client names by its service request id, which is the case's tracking code.
async fn by_request_id(st: &AppState, id: &str) -> Result<Option<Case>, Fail> {
    match TrackingCode::parse(id) {
        Some(code) => Ok(st.svc.store.case_by_tracking(&code).await?),
        None => Ok(None),
    }
}

/// Tokens are the tracking codes of cases submitted through this interface: we commit before
/// answering, so every token already has its request.
async fn token(State(st): State<AppState>, Path(file): Path<String>, uri: Uri) -> Response {
    let (tok, format) = split(&file);
    let r = async {
        let p = query_params(&uri)?;
        check_jurisdiction(&st, &p)?;
        let missing = || Fail::not_found(format!("token: no token '{tok}'"));
        let code = TrackingCode::parse(tok).ok_or_else(missing)?;
        let c = st.svc.store.case_by_tracking(&code).await?.filter(|c| c.channel == Channel::Api).ok_or_else(missing)?;
        ok("service_requests", json!([{ "service_request_id": c.tracking_code.as_str(), "token": c.tracking_code.as_str() }]))
    }
    .await;
    respond(format, r)
}

fn has_cjk(s: &str) -> bool {
    s.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c))
}

/// The answers to a category's questions from `attribute[CODE]` and `attribute[CODE][]`.
fn attributes(p: &Params, cat: Option<&Category>, errors: &mut Vec<String>) -> Map<String, Value> {
    let mut answers = Map::new();
    for (k, v) in &p.pairs {
        let Some(rest) = k.strip_prefix("attribute[") else { continue };
        let (code, multi) = match rest.strip_suffix("][]") {
            Some(c) => (c, true),
            None => match rest.strip_suffix(']') {
                Some(c) => (c, false),
                None => {
                    errors.push(format!("{k}: expected attribute[CODE] or attribute[CODE][]"));
                    continue;
                }
            },
        };
        let v = v.trim();
        if v.is_empty() {
            continue;
        }
        let q = cat.and_then(|c| c.questions.iter().find(|q| q.code == code));
        let multi = multi || q.is_some_and(|q| q.datatype == QuestionType::MultiValueList);
        if multi {
            match answers.entry(code.to_string()).or_insert_with(|| Value::Array(Vec::new())) {
                Value::Array(items) => items.push(Value::String(v.to_string())),
                _ => errors.push(format!("attribute[{code}]: given both as one value and as a list")),
            }
        } else if answers.insert(code.to_string(), Value::String(v.to_string())).is_some() {
            errors.push(format!("attribute[{code}]: given more than once"));
        }
    }
    answers
}

async fn submit(st: &AppState, key: &ApiKey, headers: &HeaderMap, p: &Params) -> Result<Out, Fail> {
    let r = st.svc.reference();
    let mut errors = Vec::new();
    let cat = match p.get("service_code") {
        None => {
            errors.push("service_code: required".into());
            None
        }
        Some(code) => Some(offered_category(&r, code).ok_or_else(|| Fail::not_found(format!("service_code: unknown service '{code}'")))?),
    };
    let not_pinpointed = p.get("address_id") == Some("#NOTPINPOINTED#");
    let num = |f: &str, errors: &mut Vec<String>| {
        p.get(f).and_then(|s| match s.parse::<f64>() {
            Ok(x) if x.is_finite() => Some(x),
            _ => {
                errors.push(format!("{f}: expected a decimal number"));
                None
            }
        })
    };
    let (lat, lon) = (num("lat", &mut errors), num("long", &mut errors));
    let (lat, lon) = match (lat, lon) {
        (Some(a), Some(b)) if !not_pinpointed => (Some(a), Some(b)),
        (Some(_), None) if !not_pinpointed => {
            errors.push("long: required with lat".into());
            (None, None)
        }
        (None, Some(_)) if !not_pinpointed => {
            errors.push("lat: required with long".into());
            (None, None)
        }
        _ => (None, None),
    };
    let region = match p.get("address_id") {
        None | Some("#NOTPINPOINTED#") => None,
        Some(a) => match fengqiao_domain::RegionCode::parse(a) {
            Ok(code) if r.regions.contains_key(code.as_str()) => Some(code.as_str().to_string()),
            _ => {
                errors.push(format!("address_id: unknown address '{a}' (give a division or grid code)"));
                None
            }
        },
    };
    let mut address = p.get("address_string").map(str::to_string);
    if lat.is_none() && region.is_none() && address.is_none() {
        if not_pinpointed {
            // The client has no location at all: the county's intake places it.
            address = Some("未定位 Not pinpointed".into());
        } else if !errors.iter().any(|e| e.starts_with("lat") || e.starts_with("long") || e.starts_with("address_id")) {
            errors.push("lat/long: give lat and long, address_string or address_id".into());
        }
    }
    let description = p.get("description").map(str::to_string);
    if description.as_ref().is_some_and(|d| d.chars().count() > MAX_DESCRIPTION_CHARS) {
        errors.push(format!("description: at most {MAX_DESCRIPTION_CHARS} characters"));
    }
    let answers = attributes(p, cat, &mut errors);
    if let Some(m) = p.get("media_url")
        && !(m.starts_with("http://") || m.starts_with("https://"))
    {
        errors.push("media_url: expected an http or https URL".into());
    }
    // Photos are checked by their bytes, never by the name or type the client gives.
    if p.files.len() > MAX_PHOTOS {
        errors.push(format!("media: at most {MAX_PHOTOS} files"));
    }
    let mut photos = Vec::new();
    for (name, bytes) in &p.files {
        match crate::pages::public::sniff_image(bytes) {
            _ if bytes.len() > crate::pages::public::MAX_PHOTO_BYTES => {
                errors.push(format!("{name}: a photo of at most {} MiB", crate::pages::public::MAX_PHOTO_BYTES / (1024 * 1024)))
            }
            Some(ct) => photos.push((ct, bytes)),
            None if bytes.is_empty() => {}
            None => errors.push(format!("{name}: expected a JPEG, PNG or WebP photo")),
        }
    }
    let (first, last) = (p.get("first_name").unwrap_or(""), p.get("last_name").unwrap_or(""));
    let full = if has_cjk(first) || has_cjk(last) { format!("{last}{first}") } else { format!("{first} {last}") };
    let full = full.trim().to_string();
    let phone = p.get("phone").map(str::to_string);
    let email = p.get("email").map(str::to_string);
    let reporter = (!full.is_empty() || phone.is_some() || email.is_some()).then(|| PersonInput {
        name: (!full.is_empty()).then_some(full),
        phone,
        email,
        ..Default::default()
    });
    bad_if_any(errors)?;
    let cat = cat.expect("a missing service_code is an error above");
    let en = english(headers, p);
    let draft = CaseDraft {
        category: cat.code.clone(),
        description: description.unwrap_or_else(|| name(cat, en).to_string()),
        lat,
        lon,
        region,
        address,
        anonymous: reporter.is_none(),
        reporter,
        answers,
        ..Default::default()
    };
    let actor = Actor::System { job: format!("apikey:{}", key.name) };
    let mut item = st.svc.prepare(draft, &actor, Channel::Api, None)?;
    item.actor = format!("apikey:{}", key.name);
    let item_actor = item.actor.clone();
    let created = st.svc.submit(item).await?;
    st.svc.maybe_checkpoint().await;
    let c = created.case;
    for (ct, bytes) in photos {
        let a =
            NewAttachment { case_id: c.id, content_type: ct.to_string(), data: bytes.clone(), at: st.svc.now(), actor: item_actor.clone() };
        st.svc.store.add_attachment(&a).await?;
    }
    let mut notice = emergency_notice(cat).unwrap_or("已受理，请保存查询码。Received: keep the token to track it.").to_string();
    if p.get("media_url").is_some() {
        notice.push_str(" media_url 未下载 The media_url is not fetched.");
    }
    ok(
        "service_requests",
        json!([{
            "service_request_id": c.tracking_code.as_str(),
            "token": c.tracking_code.as_str(),
            "service_notice": notice,
            "account_id": p.get("account_id"),
        }]),
    )
}

async fn list_updates(st: &AppState, p: &Params) -> Result<Out, Fail> {
    let mut errors = Vec::new();
    let (from, to) = window(st, p, &mut errors);
    let page_size = positive(p, "page_size", MAX_PAGE_SIZE, MAX_PAGE_SIZE, &mut errors);
    bad_if_any(errors)?;
    let public = public_codes(&st.svc.reference());
    let events = public_events(st.svc.store.case_events_between(&public, from, to, page_size * 2).await?);
    // Events name their case by internal id; clients know it by its tracking code.
    let mut ids: Vec<i64> = events.iter().filter_map(|e| e.case_id).collect();
    ids.sort_unstable();
    ids.dedup();
    let mut codes = std::collections::HashMap::new();
    for chunk in ids.chunks(400) {
        let q = PublicCaseQuery { ids: Some(chunk.to_vec()), categories: public.clone(), limit: chunk.len() as i64, ..Default::default() };
        for c in st.svc.store.public_cases(&q).await? {
            codes.insert(c.id.0, c.tracking_code.as_str().to_string());
        }
    }
    let list: Vec<Value> = events
        .into_iter()
        .filter_map(|e| {
            let (fms, status, label) = event_update(&e.kind)?;
            let code = codes.get(&e.case_id?)?;
            Some(json!({
                "update_id": e.seq.to_string(),
                "service_request_id": code,
                "status": status,
                "external_status_code": fms,
                "updated_datetime": e.at.to_rfc3339_in(&st.tz),
                "description": label,
                "media_url": Value::Null,
            }))
        })
        .take(page_size as usize)
        .collect();
    ok("service_request_updates", Value::Array(list))
}

/// Which lifecycle commands an incoming status becomes, from the case's current status.
/// Only steps the sender's unit may take as the lead unit's handler: accepting, starting and
/// resolving. Everything else is recorded as a note (see ARCHITECTURE.md).
pub fn commands_for(incoming: &str, current: Status) -> Vec<Command> {
    let resolve = |d: &str| Command::Resolve { feedback: d.to_string() };
    match (incoming, current) {
        ("INVESTIGATING" | "ACTION_SCHEDULED", Status::Dispatched) => vec![Command::Accept],
        ("IN_PROGRESS", Status::Dispatched) => vec![Command::Accept, Command::Start],
        ("IN_PROGRESS", Status::Accepted) => vec![Command::Start],
        ("FIXED" | "CLOSED", Status::Dispatched) => vec![Command::Accept, resolve("")],
        ("FIXED" | "CLOSED", Status::Accepted | Status::InProgress) => vec![resolve("")],
        _ => Vec::new(),
    }
}

const UPDATE_STATUSES: &[&str] = &[
    "OPEN",
    "CLOSED",
    "FIXED",
    "IN_PROGRESS",
    "ACTION_SCHEDULED",
    "INVESTIGATING",
    "DUPLICATE",
    "NOT_COUNCILS_RESPONSIBILITY",
    "NO_FURTHER_ACTION",
    "INTERNAL_REFERRAL",
    "FOR_TRIAGE",
    "CANCELLED",
    "REOPEN",
];

async fn push_update(st: &AppState, key: &ApiKey, p: &Params) -> Result<Out, Fail> {
    let mut errors = Vec::new();
    let mut req = |f: &str| {
        let v = p.get(f).map(str::to_string);
        if v.is_none() {
            errors.push(format!("{f}: required"));
        }
        v
    };
    let (update_id, sr_id, status, updated) = (req("update_id"), req("service_request_id"), req("status"), req("updated_datetime"));
    let status = status.map(|s| s.to_ascii_uppercase());
    if let Some(s) = &status
        && !UPDATE_STATUSES.contains(&s.as_str())
    {
        errors.push(format!("status: unknown status '{s}'"));
    }
    let updated_at = updated.as_deref().and_then(|u| {
        Timestamp::parse_rfc3339(u).or_else(|| {
            errors.push("updated_datetime: expected an ISO 8601 date-time with its offset".into());
            None
        })
    });
    if update_id.as_ref().is_some_and(|u| u.len() > 200) {
        errors.push("update_id: at most 200 characters".into());
    }
    let description = p.get("description").unwrap_or("").to_string();
    if description.chars().count() > MAX_DESCRIPTION_CHARS {
        errors.push(format!("description: at most {MAX_DESCRIPTION_CHARS} characters"));
    }
    let case = match &sr_id {
        Some(id) => {
            let missing = || Fail::not_found(format!("service_request_id: no request '{id}'"));
            let c = by_request_id(st, id).await?.ok_or_else(missing)?;
            if !st.svc.reference().categories.get(&c.category).is_some_and(|k| k.kind == CategoryKind::Request) {
                return Err(missing());
            }
            Some(c)
        }
        None => None,
    };
    bad_if_any(errors)?;
    let (case, update_id, status, updated_at) =
        (case.expect("checked"), update_id.expect("checked"), status.expect("checked"), updated_at.expect("checked"));
    // A retry of an update already recorded changes nothing.
    let mut u = RequestUpdate {
        update_id,
        key_name: key.name.clone(),
        case_id: case.id.0,
        status: status.clone(),
        description: description.clone(),
        updated_at,
        applied: None,
        received_at: st.svc.now(),
    };
    let label = format!("apikey:{}", key.name);
    if let Some(known) = st.svc.store.request_update(&key.name, &u.update_id).await? {
        return update_answer(known);
    }
    if let Some(unit) = &key.unit {
        let county = st.svc.reference().county.as_ref().map(|c| c.code.clone()).ok_or_else(|| Fail::bad("no county is configured"))?;
        let actor = Actor::User { id: label.clone(), role: Role::Handler, unit: Some(unit.clone()), jurisdiction: county };
        let feedback = if description.trim().is_empty() {
            "由外部系统办结 Resolved in the sender's system".to_string()
        } else {
            description.clone()
        };
        let mut applied = Vec::new();
        for cmd in commands_for(&status, case.status) {
            let cmd = match cmd {
                Command::Resolve { .. } => Command::Resolve { feedback: feedback.clone() },
                c => c,
            };
            // A step the unit may not take (it does not lead the case) leaves a note only.
            match st.svc.act(&actor, case.id, None, &cmd).await {
                Ok(_) => applied.push(cmd.name()),
                Err(StoreError::Domain(_) | StoreError::NotFound) => break,
                Err(e) => return Err(e.into()),
            }
        }
        u.applied = (!applied.is_empty()).then(|| applied.join(","));
    }
    let (stored, _) = st.svc.store.record_request_update(&u, &label).await?;
    update_answer(stored)
}

fn update_answer(u: RequestUpdate) -> Result<Out, Fail> {
    ok("service_request_updates", json!([{ "update_id": u.update_id, "applied": u.applied }]))
}

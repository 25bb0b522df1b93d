//! `/api/v1`: cases, their timelines and transitions, figures, reference data, and the
//! resident-facing submission and tracking endpoints.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use fengqiao_domain::case::CaseDraft;
use fengqiao_domain::figures::Figures;
use fengqiao_domain::person::mask;
use fengqiao_domain::{Actor, Case, CaseId, Channel, Command, Timestamp, TrackingCode};
use fengqiao_store::{CaseFilter, FactsFilter, Page, Person, Scope};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::Digest;

use crate::auth::Staff;
use crate::{ApiError, AppState};

pub fn routes(state: AppState) -> Router<AppState> {
    let public = Router::new()
        .route("/api/v1/public/cases", post(public_create))
        .route("/api/v1/public/track/{code}", get(track))
        .route_layer(axum::middleware::from_fn_with_state(state.public_limits.clone(), crate::pages::rate_limit_api));
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/api/v1/cases", post(create_case).get(list_cases))
        .route("/api/v1/cases/{id}", get(get_case))
        .route("/api/v1/cases/{id}/timeline", get(timeline))
        .route("/api/v1/cases/{id}/transitions/{action}", post(transition))
        .route("/api/v1/figures", get(figures))
        .route("/api/v1/categories", get(categories))
        .route("/api/v1/regions", get(regions))
        .route("/api/v1/regions/geojson", get(regions_geojson).post(import_regions))
        .route("/api/v1/locate", get(locate))
        .route("/api/v1/routing/rules", get(routing_rules).put(save_routing_rules))
        .route("/api/v1/routing/rules/{version}", get(routing_rules_version))
        .route("/api/v1/routing/test", post(routing_test))
        .route("/api/v1/cases/{id}/route", get(route_preview))
        .route("/api/v1/units", get(units))
        .route("/api/v1/calendar", get(crate::deadlines::calendar))
        .route("/api/v1/inbox", get(crate::deadlines::inbox))
        .route("/api/v1/me", get(me))
        .route("/api/v1/session", post(sign_in).delete(sign_out))
        .route("/api/v1/session/everywhere", axum::routing::delete(sign_out_everywhere))
        .merge(public)
}

/// JSON body extractor whose rejections use our error shape.
pub struct ApiJson<T>(pub T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(ApiJson(v)),
            Err(JsonRejection::JsonDataError(e)) => Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input", e.body_text())),
            Err(JsonRejection::JsonSyntaxError(e)) => Err(ApiError::new(StatusCode::BAD_REQUEST, "malformed_json", e.body_text())),
            Err(JsonRejection::MissingJsonContentType(_)) => {
                Err(ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", "send Content-Type: application/json"))
            }
            Err(JsonRejection::BytesRejection(e)) => Err(ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", e.body_text())),
            Err(e) => Err(ApiError::bad_request(e.body_text())),
        }
    }
}

/// Query-string extractor whose rejections (a malformed number, a repeated parameter) use our
/// error shape instead of axum's plain-text 400.
pub struct ApiQuery<T>(pub T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> axum::extract::FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(v)) => Ok(ApiQuery(v)),
            Err(e) => Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input", e.body_text())),
        }
    }
}

async fn healthz(State(st): State<AppState>) -> Response {
    match st.svc.store.audit_head().await {
        Ok((seq, _)) => Json(json!({ "status": "ok", "backend": st.svc.store.backend(), "events": seq })).into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "status": "unavailable", "error": e.to_string() }))).into_response(),
    }
}

/// Readiness, for a load balancer: 200 once the store answers, the figures' facts are in
/// memory and triage's index and models are built (both in the background at start, seconds
/// at a million cases), 503 before with what is still loading. `/healthz` is liveness: it
/// answers as soon as the server does.
async fn readyz(State(st): State<AppState>) -> Response {
    if let Err(e) = st.svc.store.audit_head().await {
        return (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "status": "unavailable", "error": e.to_string() }))).into_response();
    }
    let waiting: Vec<&str> = [("figures", st.svc.figures_ready()), ("triage", st.svc.triage_ready())]
        .into_iter()
        .filter_map(|(what, ready)| (!ready).then_some(what))
        .collect();
    if !waiting.is_empty() {
        return (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "status": "warming", "waiting_for": waiting }))).into_response();
    }
    Json(json!({ "status": "ready" })).into_response()
}

async fn metrics(State(st): State<AppState>) -> Response {
    let head = st.svc.store.audit_head().await.map(|h| h.0 as f64).unwrap_or(-1.0);
    use std::sync::atomic::Ordering::Relaxed;
    let batches = st.svc.stats.batches.load(Relaxed) as f64;
    let cases = st.svc.stats.cases.load(Relaxed) as f64;
    let body = st.metrics.render(&[
        ("fengqiao_audit_events", "gauge", "Events in the audit log.", head),
        ("fengqiao_intake_commits_total", "counter", "Durable transactions that created cases (group commits).", batches),
        ("fengqiao_intake_cases_total", "counter", "Cases created by those transactions.", cases),
    ]);
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
}

/// A person as a given viewer may see them.
#[derive(Serialize)]
pub(crate) struct PersonView {
    pub(crate) id: i64,
    pub(crate) name: Option<String>,
    pub(crate) phone: Option<String>,
    pub(crate) id_number: Option<String>,
    pub(crate) address: Option<String>,
    pub(crate) email: Option<String>,
    pub(crate) organisation: bool,
    pub(crate) erased: bool,
}

fn mask_email(e: &str) -> String {
    match e.rsplit_once('@') {
        Some((local, domain)) => format!("{}***@{domain}", local.chars().next().unwrap_or('*')),
        None => "***".into(),
    }
}

pub(crate) fn person_view(p: Person, unmasked: bool) -> PersonView {
    let m = |o: Option<String>| if unmasked { o } else { o.map(|s| mask(&s)) };
    PersonView {
        id: p.id,
        name: if unmasked { p.name } else { p.name.map(|n| n.chars().take(1).chain("*".chars()).collect()) },
        phone: m(p.phone),
        id_number: m(p.id_number),
        address: if unmasked { p.address } else { None },
        // Masked, an address keeps its first character and its domain: enough to call back.
        email: if unmasked { p.email } else { p.email.map(|e| mask_email(&e)) },
        organisation: p.organisation,
        erased: p.erased_at.is_some(),
    }
}

#[derive(Serialize)]
struct CaseView {
    #[serde(flatten)]
    case: Case,
    people: Vec<PersonView>,
}

async fn case_view(st: &AppState, actor: &Actor, case: Case) -> Result<CaseView, ApiError> {
    let ids: Vec<i64> = case.reporter.iter().copied().chain(case.parties.iter().map(|p| p.person_id)).collect();
    let people = if ids.is_empty() { Vec::new() } else { st.svc.store.persons(&ids).await? };
    Ok(view_with(actor, case, people))
}

fn view_with(actor: &Actor, case: Case, people: Vec<Person>) -> CaseView {
    let unmasked = actor.role().is_some_and(|r| r.sees_personal_data());
    CaseView { case, people: people.into_iter().map(|p| person_view(p, unmasked)).collect() }
}

pub(crate) fn body_hash<T: Serialize>(v: &T) -> String {
    hex::encode(sha2::Sha256::digest(serde_json::to_vec(v).unwrap_or_default()))
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    match headers.get("idempotency-key") {
        None => Ok(None),
        Some(v) => {
            let k = v.to_str().map_err(|_| ApiError::invalid("Idempotency-Key", "must be visible ASCII"))?.trim();
            if k.is_empty() || k.len() > 200 {
                return Err(ApiError::invalid("Idempotency-Key", "1 to 200 characters"));
            }
            Ok(Some(k.to_string()))
        }
    }
}

async fn create_case(
    State(st): State<AppState>,
    staff: Staff,
    headers: HeaderMap,
    ApiJson(draft): ApiJson<CaseDraft>,
) -> Result<Response, ApiError> {
    // Keys are per user, so two clients cannot collide on the same key.
    let idem = idempotency_key(&headers)?.map(|k| (format!("{}:{k}", staff.user.id), body_hash(&draft)));
    let created = st.svc.create(draft, &staff.actor, Channel::Counter, idem).await?;
    let status = if created.replayed { StatusCode::OK } else { StatusCode::CREATED };
    // A fresh creation already knows its people; only a replay reads them back.
    let view = match created.people {
        Some(people) => view_with(&staff.actor, created.case, people),
        None => case_view(&st, &staff.actor, created.case).await?,
    };
    Ok((status, [("location", format!("/api/v1/cases/{}", view.case.id.0))], Json(view)).into_response())
}

#[derive(Deserialize, Default)]
struct ListQuery {
    limit: Option<i64>,
    after: Option<i64>,
    order: Option<String>,
    status: Option<String>,
    category: Option<String>,
    region: Option<String>,
    lead_unit: Option<String>,
    channel: Option<String>,
    urgency: Option<String>,
    created_from: Option<String>,
    created_to: Option<String>,
    overdue: Option<bool>,
}

pub(crate) fn parse_time(field: &str, s: &str, tz: &jiff::tz::TimeZone) -> Result<Timestamp, ApiError> {
    if let Some(t) = Timestamp::parse_rfc3339(s) {
        return Ok(t);
    }
    let d: jiff::civil::Date = s.parse().map_err(|_| ApiError::invalid(field, "expected a date (YYYY-MM-DD) or an RFC 3339 time"))?;
    fengqiao_domain::clock::start_of_day(d, tz).ok_or_else(|| ApiError::invalid(field, "not a valid local date"))
}

async fn list_cases(State(st): State<AppState>, staff: Staff, ApiQuery(q): ApiQuery<ListQuery>) -> Result<Json<Value>, ApiError> {
    let limit = q.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::invalid("limit", "between 1 and 500"));
    }
    let descending = match q.order.as_deref() {
        None | Some("desc") => true,
        Some("asc") => false,
        Some(_) => return Err(ApiError::invalid("order", "asc or desc")),
    };
    let check = |field: &str, v: &Option<String>, ok: &dyn Fn(&str) -> bool| -> Result<(), ApiError> {
        match v {
            Some(s) if !ok(s) => Err(ApiError::invalid(field, format!("unknown value '{s}'"))),
            _ => Ok(()),
        }
    };
    check("status", &q.status, &|s| fengqiao_domain::Status::parse(s).is_some())?;
    check("channel", &q.channel, &|s| Channel::parse(s).is_some())?;
    check("urgency", &q.urgency, &|s| fengqiao_domain::Urgency::parse(s).is_some())?;
    check("region", &q.region, &|s| fengqiao_domain::RegionCode::parse(s).is_ok())?;
    let filter = CaseFilter {
        status: q.status,
        category: q.category,
        region: q.region,
        lead_unit: q.lead_unit,
        channel: q.channel,
        urgency: q.urgency,
        created_from: q.created_from.as_deref().map(|s| parse_time("created_from", s, &st.tz)).transpose()?,
        created_to: q.created_to.as_deref().map(|s| parse_time("created_to", s, &st.tz)).transpose()?,
        overdue_at: q.overdue.unwrap_or(false).then(|| st.svc.now()),
    };
    let scope = Scope::for_actor(&staff.actor);
    let cases = st.svc.store.list_cases(&scope, &filter, &Page { after: q.after, limit, descending }).await?;
    let next = if cases.len() as i64 == limit { cases.last().map(|c| c.id.0) } else { None };
    let items: Vec<Value> = cases.iter().map(summary).collect();
    Ok(Json(json!({ "items": items, "next_after": next })))
}

/// The list view of a case: no free text beyond the title, no people.
fn summary(c: &Case) -> Value {
    json!({
        "id": c.id, "tracking_code": c.tracking_code, "title": c.title, "category": c.category,
        "status": c.status, "urgency": c.urgency, "severity": c.severity, "tier": c.tier,
        "channel": c.channel, "region": c.region, "lead_unit": c.lead_unit, "version": c.version,
        "created_at": c.created_at, "handling_due": c.handling_due, "response_due": c.response_due,
    })
}

fn case_id(id: &str) -> Result<CaseId, ApiError> {
    // Anything but a positive integer is simply not a case: 404, like a guess.
    id.parse::<i64>().ok().filter(|i| *i > 0).map(CaseId).ok_or_else(ApiError::not_found)
}

async fn get_case(State(st): State<AppState>, staff: Staff, Path(id): Path<String>) -> Result<Json<CaseView>, ApiError> {
    let scope = Scope::for_actor(&staff.actor);
    let case = st.svc.store.case(&scope, case_id(&id)?).await?.ok_or_else(ApiError::not_found)?;
    Ok(Json(case_view(&st, &staff.actor, case).await?))
}

async fn timeline(State(st): State<AppState>, staff: Staff, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let scope = Scope::for_actor(&staff.actor);
    let events = st.svc.store.case_events(&scope, case_id(&id)?).await?.ok_or_else(ApiError::not_found)?;
    let items: Vec<Value> = events
        .into_iter()
        .map(|e| {
            let data: Value = serde_json::from_str(&e.payload).unwrap_or(Value::Null);
            json!({ "seq": e.seq, "at": e.at, "at_local": e.at.to_rfc3339_in(&st.tz), "actor": e.actor, "kind": e.kind, "data": data, "hash": e.hash })
        })
        .collect();
    Ok(Json(json!({ "items": items })))
}

/// The types of the fields a transition body may carry (the OpenAPI `Transition` schema).
#[derive(Deserialize)]
#[allow(dead_code)]
struct TransitionFields {
    reason: Option<String>,
    note: Option<String>,
    severity: Option<String>,
    lead_unit: Option<String>,
    co_units: Option<Vec<String>>,
    to: Option<String>,
    tier: Option<String>,
    hours: Option<u64>,
    approve: Option<bool>,
    feedback: Option<String>,
    ok: Option<bool>,
    party: Option<i64>,
    channel: Option<String>,
    reached: Option<bool>,
    rating: Option<String>,
    comment: Option<String>,
    into: Option<i64>,
}

async fn transition(
    State(st): State<AppState>,
    staff: Staff,
    Path((id, action)): Path<(String, String)>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<CaseView>, ApiError> {
    let id = case_id(&id)?;
    let mut v: Value = if body.is_empty() {
        json!({})
    } else {
        serde_json::from_slice(&body).map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "malformed_json", e.to_string()))?
    };
    let obj =
        v.as_object_mut().ok_or_else(|| ApiError::new(StatusCode::BAD_REQUEST, "malformed_json", "the body must be a JSON object"))?;
    // The expected version comes from If-Match or the body; without one, the last writer
    // decides on fresh state.
    let from_body = obj.remove("expected_version").and_then(|v| v.as_i64());
    let from_header = headers
        .get("if-match")
        .and_then(|h| h.to_str().ok())
        .map(|s| s.trim_matches('"').trim_start_matches("W/").trim_matches('"'))
        .map(|s| s.parse::<i64>().map_err(|_| ApiError::invalid("If-Match", "expected a case version number")))
        .transpose()?;
    obj.insert("action".into(), Value::String(action.clone()));
    // Every documented field has its documented type, whether or not this action reads it.
    serde_json::from_value::<TransitionFields>(v.clone())
        .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input", e.to_string()))?;
    let cmd: Command = serde_json::from_value(v).map_err(|e| {
        if e.to_string().contains("unknown variant") {
            ApiError::new(StatusCode::NOT_FOUND, "unknown_action", format!("no such transition '{action}'"))
        } else {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input", e.to_string())
        }
    })?;
    let case = st.svc.act(&staff.actor, id, from_header.or(from_body), &cmd).await?;
    Ok(Json(case_view(&st, &staff.actor, case).await?))
}

#[derive(Deserialize)]
struct FiguresQuery {
    region: Option<String>,
    unit: Option<String>,
    category: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

async fn figures(State(st): State<AppState>, staff: Staff, ApiQuery(q): ApiQuery<FiguresQuery>) -> Result<Json<Value>, ApiError> {
    let now = st.svc.now();
    let to = match &q.to {
        Some(s) => parse_time("to", s, &st.tz)?,
        None => now,
    };
    let from = match &q.from {
        Some(s) => parse_time("from", s, &st.tz)?,
        None => to.plus_ms(-30 * fengqiao_domain::clock::DAY_MS),
    };
    if from >= to {
        return Err(ApiError::invalid("from", "must be before `to`"));
    }
    if let Some(r) = &q.region {
        fengqiao_domain::RegionCode::parse(r).map_err(|e| ApiError::invalid("region", e.message))?;
    }
    let window = st.svc.config.figures.repeat_window_days as i64 * fengqiao_domain::clock::DAY_MS;
    let filter =
        FactsFilter { region: q.region.clone(), unit: q.unit.clone(), category: q.category.clone(), from, to, repeat_window_ms: window };
    let f: Figures = st.svc.figures(&staff.actor, &filter).await?;
    // Supervision orders issued in the period, in the same region and unit (not by category:
    // an order may concern a unit's work as a whole).
    let order_filter = fengqiao_store::OrderFilter {
        region: q.region.clone(),
        unit: q.unit.clone(),
        issued_from: Some(from),
        issued_to: Some(to),
        limit: 10_000,
        ..Default::default()
    };
    let orders = st.svc.store.orders(&Scope::for_actor(&staff.actor), &order_filter).await?;
    let supervision = fengqiao_domain::supervision::OrderCounts::of(&orders, now);
    // Early warnings about the same place and period (alerts belong to places, not units or
    // categories); only supervisors and administrators see alerts, so others count none.
    let region =
        q.region.as_deref().map(fengqiao_domain::RegionCode::parse).transpose().map_err(|e| ApiError::invalid("region", e.message))?;
    let alerts = st.svc.alert_figures(&staff.actor, region.as_ref(), from, to).await?;
    Ok(Json(json!({
        "period": { "from": from.to_rfc3339_in(&st.tz), "to": to.to_rfc3339_in(&st.tz) },
        "region": q.region, "unit": q.unit, "category": q.category,
        "figures": f,
        "supervision": supervision,
        "alerts": alerts,
    })))
}

async fn categories(State(st): State<AppState>) -> Json<Value> {
    let r = st.svc.reference();
    let mut cats: Vec<_> = r.categories.values().cloned().collect();
    cats.sort_by(|a, b| a.code.cmp(&b.code));
    Json(json!({ "items": cats }))
}

async fn regions(State(st): State<AppState>, _staff: Staff) -> Json<Value> {
    let r = st.svc.reference();
    let mut regions: Vec<Value> = r.regions.values().map(|g| json!({ "code": g.code, "name": g.name, "name_en": g.name_en, "level": g.level(), "parent": g.code.parent(), "population": g.population, "centroid": g.centroid })).collect();
    regions.sort_by(|a, b| a["code"].as_str().cmp(&b["code"].as_str()));
    Json(json!({ "items": regions }))
}

#[derive(Deserialize)]
struct WithinQuery {
    within: Option<String>,
}

/// Regions with their boundaries as a GeoJSON FeatureCollection, optionally one subtree.
async fn regions_geojson(State(st): State<AppState>, _staff: Staff, ApiQuery(q): ApiQuery<WithinQuery>) -> Result<Response, ApiError> {
    let r = st.svc.reference();
    let within = match q.within.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => Some(fengqiao_domain::RegionCode::parse(s).map_err(|e| ApiError::from(fengqiao_domain::DomainError::Invalid(vec![e])))?),
        None => None,
    };
    let mut regions: Vec<&fengqiao_domain::Region> =
        r.regions.values().filter(|g| within.as_ref().is_none_or(|w| w.contains(&g.code))).collect();
    regions.sort_by(|a, b| a.code.cmp(&b.code));
    let fc = fengqiao_domain::geojson::to_feature_collection(regions);
    Ok(([(axum::http::header::CONTENT_TYPE, "application/geo+json")], fc.to_string()).into_response())
}

/// Imports a FeatureCollection of regions: all or nothing, every problem listed by feature.
async fn import_regions(State(st): State<AppState>, staff: Staff, ApiJson(body): ApiJson<Value>) -> Result<Json<Value>, ApiError> {
    let n = st.svc.import_regions(&staff.actor, &body.to_string()).await?;
    Ok(Json(json!({ "imported": n })))
}

#[derive(Deserialize)]
struct LocateQuery {
    lat: Option<f64>,
    lon: Option<f64>,
    crs: Option<fengqiao_domain::geo::Crs>,
    address: Option<String>,
}

/// Where a point or an address lies: the deepest region, its ancestors, and the grid's
/// responsible people.
async fn locate(State(st): State<AppState>, _staff: Staff, ApiQuery(q): ApiQuery<LocateQuery>) -> Result<Json<Value>, ApiError> {
    let r = st.svc.reference();
    let draft = CaseDraft { lat: q.lat, lon: q.lon, crs: q.crs, ..Default::default() };
    let (found, by, matched) = match (draft.point(), q.address.as_deref().filter(|a| !a.trim().is_empty())) {
        (Some(Err(e)), _) => return Err(fengqiao_domain::DomainError::Invalid(vec![e]).into()),
        (Some(Ok(p)), _) => (r.region_of_point(p), "point", Vec::new()),
        (None, Some(a)) => match r.place_address(a) {
            Some(pl) => (Some(pl.region), "address", pl.matched),
            None => (None, "address", Vec::new()),
        },
        (None, None) => return Err(fengqiao_domain::DomainError::invalid("location", "give lat and lon, or an address").into()),
    };
    let Some(code) = found else {
        return Ok(Json(json!({ "region": null, "by": by, "chain": [], "matched": matched })));
    };
    let mut chain = Vec::new();
    let mut c = Some(code.clone());
    while let Some(x) = c {
        if let Some(g) = r.regions.get(x.as_str()) {
            chain.push(json!({ "code": g.code, "name": g.name, "level": g.level(), "grid_worker": g.grid_worker, "community_officer": g.community_officer }));
        }
        c = x.parent();
    }
    chain.reverse();
    Ok(Json(json!({ "region": code, "by": by, "chain": chain, "matched": matched })))
}

/// The routing rules in force (version 0 and no rules until an administrator saves some).
async fn routing_rules(State(st): State<AppState>, _staff: Staff) -> Json<fengqiao_domain::routing::RuleSet> {
    Json(st.svc.reference().rules.clone())
}

async fn routing_rules_version(State(st): State<AppState>, _staff: Staff, Path(version): Path<String>) -> Result<Json<Value>, ApiError> {
    let v: i64 = version.parse().map_err(|_| ApiError::invalid("version", "expected a number"))?;
    let rules = st.svc.store.rules(Some(v)).await?.ok_or_else(ApiError::not_found)?;
    Ok(Json(serde_json::to_value(rules).unwrap_or_default()))
}

/// Saves the body as the next version of the rules (administrators only).
async fn save_routing_rules(
    State(st): State<AppState>,
    staff: Staff,
    ApiJson(rules): ApiJson<fengqiao_domain::routing::RuleSet>,
) -> Result<Json<Value>, ApiError> {
    let version = st.svc.save_rules(&staff.actor, &rules).await?;
    Ok(Json(json!({ "version": version })))
}

/// "Test this rule": where a case described like this would go, and why. Nothing is written.
async fn routing_test(State(st): State<AppState>, staff: Staff, ApiJson(draft): ApiJson<CaseDraft>) -> Result<Json<Value>, ApiError> {
    let (region, decision) = st.svc.route_draft(&staff.actor, draft)?;
    Ok(Json(json!({ "region": region, "decision": decision })))
}

/// What routing would decide for this case now (nothing is written).
async fn route_preview(State(st): State<AppState>, staff: Staff, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let d = st.svc.route_preview(&staff.actor, case_id(&id)?).await?;
    Ok(Json(serde_json::to_value(d).unwrap_or_default()))
}

async fn units(State(st): State<AppState>, _staff: Staff) -> Json<Value> {
    let r = st.svc.reference();
    let mut units: Vec<_> = r.units.values().cloned().collect();
    units.sort_by(|a, b| a.id.cmp(&b.id));
    Json(json!({ "items": units }))
}

async fn me(staff: Staff) -> Json<Value> {
    Json(json!({ "user": staff.user }))
}

#[derive(Deserialize)]
struct SignIn {
    user: String,
    password: String,
}

pub(crate) fn random_secret() -> String {
    use rand::RngCore;
    let mut b = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut b);
    hex::encode(b)
}

/// Password sign-in: sets the session cookie and returns the CSRF token for this session.
async fn sign_in(
    State(st): State<AppState>,
    crate::auth::PeerIp(ip): crate::auth::PeerIp,
    ApiJson(req): ApiJson<SignIn>,
) -> Result<Response, ApiError> {
    let (user, session, cookie) = crate::auth::sign_in(&st, &req.user, &req.password, ip).await?;
    Ok(([(axum::http::header::SET_COOKIE, cookie)], Json(json!({ "user": user, "csrf_token": session.csrf }))).into_response())
}

pub(crate) fn clear_cookie(st: &AppState) -> String {
    format!(
        "{}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{}",
        crate::auth::SESSION_COOKIE,
        if st.secure_cookies { "; Secure" } else { "" }
    )
}

async fn sign_out(State(st): State<AppState>, staff: Staff) -> Result<Response, ApiError> {
    if let Some(h) = &staff.session {
        st.svc.store.delete_session(h).await?;
    }
    Ok(([(axum::http::header::SET_COOKIE, clear_cookie(&st))], StatusCode::NO_CONTENT).into_response())
}

/// Ends every session of the user (a lost phone, a shared computer).
async fn sign_out_everywhere(State(st): State<AppState>, staff: Staff) -> Result<Response, ApiError> {
    let n = st.svc.store.delete_user_sessions(&staff.user.id).await?;
    Ok(([(axum::http::header::SET_COOKIE, clear_cookie(&st))], Json(json!({ "ended_sessions": n }))).into_response())
}

/// A resident's own submission: no login, channel `web`, the reporter's details kept private.
async fn public_create(
    State(st): State<AppState>,
    headers: HeaderMap,
    ApiJson(mut draft): ApiJson<CaseDraft>,
) -> Result<Response, ApiError> {
    // Residents cannot choose channel, urgency beyond the category's default, or severity.
    draft.channel = None;
    draft.severity = None;
    let idem = idempotency_key(&headers)?.map(|k| (format!("public:{k}"), body_hash(&draft)));
    let created = st.svc.create(draft, &Actor::Resident, Channel::Web, idem).await?;
    let c = created.case;
    let r = st.svc.reference();
    let emergency = r.categories.get(&c.category).is_some_and(|cat| cat.emergency) || c.urgency == fengqiao_domain::Urgency::Emergency;
    let status = if created.replayed { StatusCode::OK } else { StatusCode::CREATED };
    Ok((
        status,
        Json(json!({
            "tracking_code": c.tracking_code,
            "status": c.status,
            "notice": if emergency { "如遇紧急情况请立即拨打110。If this is an emergency, call 110 now." } else { "已受理，请保存查询码。Received: keep your tracking code." },
        })),
    )
        .into_response())
}

/// What a resident sees with their tracking code: status, public timeline, the unit, the
/// deadline. Never another person's data, never staff names.
async fn track(State(st): State<AppState>, Path(code): Path<String>) -> Result<Json<Value>, ApiError> {
    let code = TrackingCode::parse(&code).ok_or_else(ApiError::not_found)?;
    let c = st.svc.store.case_by_tracking(&code).await?.ok_or_else(ApiError::not_found)?;
    let events = st.svc.store.case_events(&Scope::All, c.id).await?.unwrap_or_default();
    let r = st.svc.reference();
    let unit = c.lead_unit.as_ref().and_then(|u| r.units.get(&u.0)).map(|u| json!({ "name": u.name, "name_en": u.name_en }));
    let timeline: Vec<Value> = events
        .iter()
        .filter_map(|e| {
            let kind: fengqiao_domain::EventKind = serde_json::from_str(&e.payload).ok()?;
            kind.is_public().then(|| json!({ "at": e.at.to_rfc3339_in(&st.tz), "kind": e.kind }))
        })
        .collect();
    Ok(Json(json!({
        "tracking_code": c.tracking_code,
        "category": c.category,
        "status": c.status,
        "created_at": c.created_at.to_rfc3339_in(&st.tz),
        "handling_unit": unit,
        "handling_due": c.handling_due.map(|d| d.to_rfc3339_in(&st.tz)),
        "timeline": timeline,
    })))
}

//! `/api/v1/alerts`: early warnings — list, read, acknowledge, close, and their figures;
//! `/api/v1/reach`: reports per 1,000 residents by grid and channel, silent grids flagged.

pub mod pages;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::{Json, Router};
use fengqiao_domain::alert::{Alert, AlertCommand, AlertKind, AlertStatus};
use fengqiao_store::AlertFilter;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api::{ApiJson, ApiQuery, parse_time};
use crate::auth::Staff;
use crate::{ApiError, AppState};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/alerts", get(list))
        .route("/api/v1/alerts/figures", get(figures))
        .route("/api/v1/alerts/{id}", get(one))
        .route("/api/v1/alerts/{id}/acknowledge", post(acknowledge))
        .route("/api/v1/alerts/{id}/close", post(close))
        .route("/api/v1/reach", get(reach))
}

pub(crate) fn view(a: &Alert, st: &AppState) -> Value {
    let mut v = serde_json::to_value(a).unwrap_or_default();
    v["raised_local"] = json!(a.raised_at.to_rfc3339_in(&st.tz));
    v
}

#[derive(Deserialize)]
pub(crate) struct ListQuery {
    pub status: Option<String>,
    pub kind: Option<String>,
    pub region: Option<String>,
    pub limit: Option<i64>,
}

/// Checks a list query whole: every bad parameter is named.
pub(crate) fn filter_of(q: &ListQuery) -> Result<AlertFilter, ApiError> {
    let mut errs = Vec::new();
    let status = match q.status.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => AlertStatus::parse(s).or_else(|| {
            errs.push(("status", "open, acknowledged or closed".to_string()));
            None
        }),
        None => None,
    };
    let kind = match q.kind.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => AlertKind::parse(s).or_else(|| {
            errs.push(("kind", fengqiao_domain::alert::AlertKind::ALL.map(|k| k.as_str()).join(", ")));
            None
        }),
        None => None,
    };
    let region = q.region.clone().filter(|r| !r.trim().is_empty());
    if let Some(r) = &region
        && let Err(e) = fengqiao_domain::RegionCode::parse(r)
    {
        errs.push(("region", e.message));
    }
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        errs.push(("limit", "between 1 and 1000".to_string()));
    }
    if !errs.is_empty() {
        let details: Vec<fengqiao_domain::error::FieldError> =
            errs.into_iter().map(|(f, m)| fengqiao_domain::error::FieldError::new(f, m)).collect();
        return Err(fengqiao_domain::DomainError::Invalid(details).into());
    }
    Ok(AlertFilter { status, kind, region: region.map(|r| r.trim().to_string()), limit })
}

async fn list(State(st): State<AppState>, staff: Staff, ApiQuery(q): ApiQuery<ListQuery>) -> Result<Json<Value>, ApiError> {
    let alerts = st.svc.alerts(&staff.actor, &filter_of(&q)?).await?;
    Ok(Json(json!({ "items": alerts.iter().map(|a| view(a, &st)).collect::<Vec<_>>() })))
}

fn alert_id(s: &str) -> Result<i64, ApiError> {
    s.parse().map_err(|_| ApiError::not_found())
}

async fn one(State(st): State<AppState>, staff: Staff, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let a = st.svc.alert(&staff.actor, alert_id(&id)?).await?;
    Ok(Json(view(&a, &st)))
}

fn if_match(headers: &HeaderMap) -> Result<Option<i64>, ApiError> {
    headers
        .get("if-match")
        .and_then(|h| h.to_str().ok())
        .map(|s| s.trim_matches('"').trim_start_matches("W/").trim_matches('"'))
        .map(|s| s.parse::<i64>().map_err(|_| ApiError::invalid("If-Match", "expected an alert version number")))
        .transpose()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NoteBody {
    #[serde(default)]
    note: String,
}

async fn acknowledge(
    State(st): State<AppState>,
    staff: Staff,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiJson(b): ApiJson<NoteBody>,
) -> Result<Json<Value>, ApiError> {
    let a = st.svc.act_alert(&staff.actor, alert_id(&id)?, if_match(&headers)?, &AlertCommand::Acknowledge { note: b.note }).await?;
    Ok(Json(view(&a, &st)))
}

async fn close(
    State(st): State<AppState>,
    staff: Staff,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiJson(b): ApiJson<NoteBody>,
) -> Result<Json<Value>, ApiError> {
    let a = st.svc.act_alert(&staff.actor, alert_id(&id)?, if_match(&headers)?, &AlertCommand::Close { note: b.note }).await?;
    Ok(Json(view(&a, &st)))
}

#[derive(Deserialize)]
struct PeriodQuery {
    from: Option<String>,
    to: Option<String>,
}

async fn figures(State(st): State<AppState>, staff: Staff, ApiQuery(q): ApiQuery<PeriodQuery>) -> Result<Json<Value>, ApiError> {
    let (from, to) = period(&q, &st)?;
    let counts = st.svc.alert_figures(&staff.actor, None, from, to).await?;
    Ok(Json(json!({
        "period": { "from": from.to_rfc3339_in(&st.tz), "to": to.to_rfc3339_in(&st.tz) },
        "alerts": counts,
    })))
}

fn period(q: &PeriodQuery, st: &AppState) -> Result<(fengqiao_domain::Timestamp, fengqiao_domain::Timestamp), ApiError> {
    let to = match &q.to {
        Some(s) => parse_time("to", s, &st.tz)?,
        // Up to and including now.
        None => st.svc.now().plus_ms(1),
    };
    let from = match &q.from {
        Some(s) => parse_time("from", s, &st.tz)?,
        None => to.plus_ms(-30 * fengqiao_domain::clock::DAY_MS),
    };
    if from >= to {
        return Err(ApiError::invalid("from", "must be before `to`"));
    }
    Ok((from, to))
}

/// The reach of the caller's jurisdiction over a period, by grid (the lowest level) by default.
pub(crate) async fn reach_for(
    st: &AppState,
    actor: &fengqiao_domain::Actor,
    from: fengqiao_domain::Timestamp,
    to: fengqiao_domain::Timestamp,
) -> Result<fengqiao_store::alerts::Reach, fengqiao_store::StoreError> {
    st.svc.reach(actor, fengqiao_domain::RegionLevel::Grid, from, to).await
}

#[derive(Deserialize)]
struct ReachQuery {
    from: Option<String>,
    to: Option<String>,
    level: Option<String>,
}

async fn reach(State(st): State<AppState>, staff: Staff, ApiQuery(q): ApiQuery<ReachQuery>) -> Result<Json<Value>, ApiError> {
    let (from, to) = period(&PeriodQuery { from: q.from.clone(), to: q.to.clone() }, &st)?;
    let level = match q.level.as_deref().unwrap_or("grid") {
        "grid" => fengqiao_domain::RegionLevel::Grid,
        "village" => fengqiao_domain::RegionLevel::Village,
        "town" => fengqiao_domain::RegionLevel::Town,
        _ => return Err(ApiError::invalid("level", "grid, village or town")),
    };
    let r = st.svc.reach(&staff.actor, level, from, to).await?;
    let mut v = serde_json::to_value(&r).unwrap_or_default();
    v["period"] = json!({ "from": from.to_rfc3339_in(&st.tz), "to": to.to_rfc3339_in(&st.tz) });
    Ok(Json(v))
}

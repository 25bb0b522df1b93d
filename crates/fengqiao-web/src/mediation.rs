//! `/api/v1/mediations`: dispute mediation — open on a dispute case, act on it (consent, team,
//! sessions, agreement, confirmation, fulfilment), the room calendar and the figures. The staff
//! pages and the printable agreement are in [`pages`].

pub mod pages;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use fengqiao_domain::mediation::{
    FiguresBy, Mediation, MediationCommand, MediationFigures, MediationKind, MediationStatus, OpenMediation, Source,
};
use fengqiao_domain::{CaseId, Timestamp};
use fengqiao_store::mediation::{CaseFollow, MemberIdentity};
use fengqiao_store::{MediationFilter, Scope};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api::{ApiJson, ApiQuery, parse_time};
use crate::auth::Staff;
use crate::{ApiError, AppState};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/mediations", post(open).get(list))
        .route("/api/v1/mediations/figures", get(figures))
        .route("/api/v1/mediations/calendar", get(calendar))
        .route("/api/v1/mediations/{id}", get(one))
        .route("/api/v1/mediations/{id}/actions", post(act))
}

/// The mediation as stored, with the local times a reader needs.
pub(crate) fn view(m: &Mediation, st: &AppState) -> Value {
    let mut v = serde_json::to_value(m).unwrap_or_default();
    v["confirmation"]["open"] = json!(m.confirmation_open(st.svc.now()));
    v["overdue_terms"] = json!(m.overdue_terms(st.svc.now()));
    if let Some(d) = m.confirmation.due {
        v["confirmation"]["due_local"] = json!(d.to_rfc3339_in(&st.tz));
    }
    v
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OpenBody {
    case_id: i64,
    kind: String,
    source: String,
    /// The amount involved, in yuan.
    #[serde(default)]
    amount: Option<f64>,
}

pub(crate) fn parse_open(kind: &str, source: &str, amount: Option<f64>) -> Result<OpenMediation, ApiError> {
    let mut errs = Vec::new();
    let k = MediationKind::parse(kind.trim());
    if k.is_none() {
        errs.push(fengqiao_domain::error::FieldError::new("kind", "people or police"));
    }
    let s = Source::parse(source.trim());
    if s.is_none() {
        errs.push(fengqiao_domain::error::FieldError::new(
            "source",
            format!("one of {}", Source::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")),
        ));
    }
    let amount_fen = match amount {
        Some(a) if !a.is_finite() || !(0.0..=1e10).contains(&a) => {
            errs.push(fengqiao_domain::error::FieldError::new("amount", "between 0 and 10,000,000,000 yuan"));
            None
        }
        Some(a) => Some((a * 100.0).round() as i64),
        None => None,
    };
    if !errs.is_empty() {
        return Err(fengqiao_domain::DomainError::Invalid(errs).into());
    }
    Ok(OpenMediation { kind: k.expect("checked"), source: s.expect("checked"), amount_fen })
}

async fn open(State(st): State<AppState>, staff: Staff, ApiJson(b): ApiJson<OpenBody>) -> Result<(StatusCode, Json<Value>), ApiError> {
    let input = parse_open(&b.kind, &b.source, b.amount)?;
    let m = st.svc.open_mediation(&staff.actor, CaseId(b.case_id), &input).await?;
    Ok((StatusCode::CREATED, Json(view(&m, &st))))
}

#[derive(Deserialize)]
struct ListQuery {
    case: Option<i64>,
    status: Option<String>,
    unit: Option<String>,
    region: Option<String>,
    category: Option<String>,
    limit: Option<i64>,
}

async fn list(State(st): State<AppState>, staff: Staff, ApiQuery(q): ApiQuery<ListQuery>) -> Result<Json<Value>, ApiError> {
    let status = match q.status.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => Some(MediationStatus::parse(s).ok_or_else(|| ApiError::invalid("status", "a mediation status"))?),
        None => None,
    };
    if let Some(r) = &q.region {
        fengqiao_domain::RegionCode::parse(r).map_err(|e| ApiError::invalid("region", e.message))?;
    }
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::invalid("limit", "between 1 and 1000"));
    }
    let f = MediationFilter { case_id: q.case, status, unit: q.unit, region: q.region, category: q.category, limit, ..Default::default() };
    let ms = st.svc.store.mediations(&Scope::for_actor(&staff.actor), &f).await?;
    Ok(Json(json!({ "items": ms.iter().map(|m| view(m, &st)).collect::<Vec<_>>() })))
}

pub(crate) fn mediation_id(s: &str) -> Result<i64, ApiError> {
    s.parse().ok().filter(|i| *i > 0).ok_or_else(ApiError::not_found)
}

async fn one(State(st): State<AppState>, staff: Staff, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let m = st.svc.store.mediation(&Scope::for_actor(&staff.actor), mediation_id(&id)?).await?.ok_or_else(ApiError::not_found)?;
    Ok(Json(view(&m, &st)))
}

fn if_match(headers: &HeaderMap) -> Result<Option<i64>, ApiError> {
    headers
        .get("if-match")
        .and_then(|h| h.to_str().ok())
        .map(|s| s.trim_matches('"').trim_start_matches("W/").trim_matches('"'))
        .map(|s| s.parse::<i64>().map_err(|_| ApiError::invalid("If-Match", "expected a mediation version number")))
        .transpose()
}

/// Times may be sent as RFC 3339, a local `YYYY-MM-DDTHH:MM` (as a browser's datetime field
/// sends), a local date, or milliseconds since the epoch.
pub(crate) fn time_value(field: &str, v: &Value, tz: &jiff::tz::TimeZone) -> Result<Value, ApiError> {
    match v {
        Value::String(s) => {
            let s = s.trim();
            if let Ok(dt) = s.parse::<jiff::civil::DateTime>()
                && Timestamp::parse_rfc3339(s).is_none()
            {
                let z = dt.to_zoned(tz.clone()).map_err(|_| ApiError::invalid(field, "not a valid local time"))?;
                return Ok(json!(z.timestamp().as_millisecond()));
            }
            Ok(json!(parse_time(field, s, tz)?.0))
        }
        other => Ok(other.clone()),
    }
}

/// Turns the times of an action body into milliseconds, in place.
pub(crate) fn normalise_times(body: &mut Value, tz: &jiff::tz::TimeZone) -> Result<(), ApiError> {
    for k in ["start", "end"] {
        if let Some(v) = body.get(k) {
            let n = time_value(k, v, tz)?;
            body[k] = n;
        }
    }
    if let Some(terms) = body.get_mut("content").and_then(|c| c.get_mut("terms")).and_then(|t| t.as_array_mut()) {
        for (i, t) in terms.iter_mut().enumerate() {
            if let Some(v) = t.get("due") {
                let n = time_value(&format!("content.terms[{i}].due"), v, tz)?;
                t["due"] = n;
            }
        }
    }
    Ok(())
}

/// An action body: the command (`action` and its fields), and optionally where the case goes
/// (`then`) and the identity data of a member being assigned (`member`).
pub(crate) fn parse_action(
    mut body: Value,
    tz: &jiff::tz::TimeZone,
) -> Result<(MediationCommand, Option<CaseFollow>, Option<MemberIdentity>), ApiError> {
    if !body.is_object() {
        return Err(ApiError::bad_request("expected a JSON object"));
    }
    normalise_times(&mut body, tz)?;
    let obj = body.as_object_mut().expect("checked");
    let then = obj.remove("then").filter(|v| !v.is_null());
    let member = obj.remove("member").filter(|v| !v.is_null());
    let then = then.map(serde_json::from_value::<CaseFollow>).transpose().map_err(|e| ApiError::invalid("then", e.to_string()))?;
    let member =
        member.map(serde_json::from_value::<MemberIdentity>).transpose().map_err(|e| ApiError::invalid("member", e.to_string()))?;
    let action = obj.get("action").and_then(|a| a.as_str()).unwrap_or_default().to_string();
    if !MediationCommand::NAMES.contains(&action.as_str()) {
        return Err(ApiError::invalid("action", format!("one of {}", MediationCommand::NAMES.join(", "))));
    }
    let cmd = serde_json::from_value::<MediationCommand>(body).map_err(|e| ApiError::invalid(&action, e.to_string()))?;
    Ok((cmd, then, member))
}

async fn act(
    State(st): State<AppState>,
    staff: Staff,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Value>,
) -> Result<Json<Value>, ApiError> {
    let id = mediation_id(&id)?;
    let (cmd, then, member) = parse_action(body, &st.tz)?;
    let m = st.svc.act_mediation(&staff.actor, id, if_match(&headers)?, &cmd, then.as_ref(), member.as_ref()).await?;
    Ok(Json(view(&m, &st)))
}

#[derive(Deserialize)]
struct FiguresQuery {
    from: Option<String>,
    to: Option<String>,
    by: Option<String>,
    unit: Option<String>,
    region: Option<String>,
    category: Option<String>,
}

/// The figures over mediations opened in `[from, to)` in the reader's scope.
pub(crate) async fn compute_figures(
    st: &AppState,
    actor: &fengqiao_domain::Actor,
    from: Timestamp,
    to: Timestamp,
    by: FiguresBy,
    filter: MediationFilter,
) -> Result<(MediationFigures, Vec<(String, MediationFigures)>), ApiError> {
    let f = MediationFilter { opened_from: Some(from), opened_to: Some(to), limit: 10_000, ..filter };
    let ms = st.svc.store.mediations(&Scope::for_actor(actor), &f).await?;
    Ok((MediationFigures::of(&ms), fengqiao_domain::mediation::figures_by(&ms, by)))
}

async fn figures(State(st): State<AppState>, staff: Staff, ApiQuery(q): ApiQuery<FiguresQuery>) -> Result<Json<Value>, ApiError> {
    let now = st.svc.now();
    let to = match &q.to {
        Some(s) => parse_time("to", s, &st.tz)?,
        None => now.plus_ms(1),
    };
    let from = match &q.from {
        Some(s) => parse_time("from", s, &st.tz)?,
        None => to.plus_ms(-365 * fengqiao_domain::clock::DAY_MS),
    };
    if from >= to {
        return Err(ApiError::invalid("from", "must be before `to`"));
    }
    let by = match q.by.as_deref().filter(|s| !s.is_empty()) {
        Some(b) => FiguresBy::parse(b).ok_or_else(|| ApiError::invalid("by", "mediator, unit, type or region"))?,
        None => FiguresBy::Unit,
    };
    if let Some(r) = &q.region {
        fengqiao_domain::RegionCode::parse(r).map_err(|e| ApiError::invalid("region", e.message))?;
    }
    let filter = MediationFilter { unit: q.unit, region: q.region, category: q.category, ..Default::default() };
    let (all, groups) = compute_figures(&st, &staff.actor, from, to, by, filter).await?;
    Ok(Json(json!({
        "from": from,
        "to": to,
        "by": by.as_str(),
        "figures": all,
        "groups": groups.into_iter().map(|(k, f)| json!({ "key": k, "figures": f })).collect::<Vec<_>>(),
    })))
}

#[derive(Deserialize)]
struct CalendarQuery {
    from: Option<String>,
    to: Option<String>,
}

async fn calendar(State(st): State<AppState>, staff: Staff, ApiQuery(q): ApiQuery<CalendarQuery>) -> Result<Json<Value>, ApiError> {
    let now = st.svc.now();
    let from = match &q.from {
        Some(s) => parse_time("from", s, &st.tz)?,
        None => now,
    };
    let to = match &q.to {
        Some(s) => parse_time("to", s, &st.tz)?,
        None => from.plus_ms(14 * fengqiao_domain::clock::DAY_MS),
    };
    if from >= to || to.0 - from.0 > 366 * fengqiao_domain::clock::DAY_MS {
        return Err(ApiError::invalid("to", "after `from`, at most a year later"));
    }
    let bookings = st.svc.store.mediation_bookings(&Scope::for_actor(&staff.actor), from, to).await?;
    Ok(Json(json!({ "items": bookings })))
}

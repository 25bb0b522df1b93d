//! `/api/v1/supervision`: supervision orders (督办) — issue, list, answer, review.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use fengqiao_domain::supervision::{OrderCommand, OrderStatus, SupervisionOrder};
use fengqiao_domain::{CaseId, UnitId};
use fengqiao_store::{OrderFilter, OrderTarget, Scope};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api::{ApiJson, ApiQuery, parse_time};
use crate::auth::Staff;
use crate::{ApiError, AppState};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/supervision", post(issue).get(list))
        .route("/api/v1/supervision/{id}", get(one))
        .route("/api/v1/supervision/{id}/answer", post(answer))
        .route("/api/v1/supervision/{id}/review", post(review))
}

fn view(o: &SupervisionOrder, st: &AppState) -> Value {
    let now = st.svc.now();
    let mut v = serde_json::to_value(o).unwrap_or_default();
    v["overdue"] = json!(o.overdue(now));
    v["due_local"] = json!(o.due.to_rfc3339_in(&st.tz));
    v
}

#[derive(Deserialize)]
struct IssueBody {
    #[serde(default)]
    case_id: Option<i64>,
    #[serde(default)]
    unit: Option<String>,
    /// An RFC 3339 time, or a local date meaning the end of that day.
    due: String,
    note: String,
}

async fn issue(State(st): State<AppState>, staff: Staff, ApiJson(b): ApiJson<IssueBody>) -> Result<(StatusCode, Json<Value>), ApiError> {
    let target = match (b.case_id, b.unit.filter(|u| !u.trim().is_empty())) {
        (Some(c), None) => OrderTarget::Case(CaseId(c)),
        (None, Some(u)) => OrderTarget::Unit(UnitId(u.trim().to_string())),
        _ => return Err(ApiError::invalid("case_id", "name either a case (case_id) or a unit (unit)")),
    };
    let due = match fengqiao_domain::Timestamp::parse_rfc3339(&b.due) {
        Some(t) => t,
        // A date: the order is due by the end of that local day.
        None => parse_time("due", &b.due, &st.tz)?.plus_ms(fengqiao_domain::clock::DAY_MS - 1),
    };
    let o = st.svc.issue_order(&staff.actor, target, due, &b.note).await?;
    Ok((StatusCode::CREATED, Json(view(&o, &st))))
}

#[derive(Deserialize)]
struct ListQuery {
    status: Option<String>,
    case: Option<i64>,
    unit: Option<String>,
    region: Option<String>,
    overdue: Option<bool>,
    limit: Option<i64>,
}

async fn list(State(st): State<AppState>, staff: Staff, ApiQuery(q): ApiQuery<ListQuery>) -> Result<Json<Value>, ApiError> {
    // An empty `status=` names no status: refused like any other unknown one.
    let status = match q.status.as_deref() {
        Some(s) => Some(OrderStatus::parse(s).ok_or_else(|| ApiError::invalid("status", "open, answered or closed"))?),
        None => None,
    };
    if let Some(r) = &q.region {
        fengqiao_domain::RegionCode::parse(r).map_err(|e| ApiError::invalid("region", e.message))?;
    }
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::invalid("limit", "between 1 and 1000"));
    }
    let filter = OrderFilter {
        status,
        case_id: q.case,
        unit: q.unit,
        region: q.region,
        overdue_at: q.overdue.unwrap_or(false).then(|| st.svc.now()),
        limit,
        ..Default::default()
    };
    let orders = st.svc.store.orders(&Scope::for_actor(&staff.actor), &filter).await?;
    Ok(Json(json!({ "items": orders.iter().map(|o| view(o, &st)).collect::<Vec<_>>() })))
}

fn order_id(s: &str) -> Result<i64, ApiError> {
    s.parse().map_err(|_| ApiError::not_found())
}

async fn one(State(st): State<AppState>, staff: Staff, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let o = st.svc.store.order(&Scope::for_actor(&staff.actor), order_id(&id)?).await?.ok_or_else(ApiError::not_found)?;
    Ok(Json(view(&o, &st)))
}

fn if_match(headers: &HeaderMap) -> Result<Option<i64>, ApiError> {
    headers
        .get("if-match")
        .and_then(|h| h.to_str().ok())
        .map(|s| s.trim_matches('"').trim_start_matches("W/").trim_matches('"'))
        .map(|s| s.parse::<i64>().map_err(|_| ApiError::invalid("If-Match", "expected an order version number")))
        .transpose()
}

#[derive(Deserialize)]
struct AnswerBody {
    text: String,
}

async fn answer(
    State(st): State<AppState>,
    staff: Staff,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiJson(b): ApiJson<AnswerBody>,
) -> Result<Json<Value>, ApiError> {
    let o = st.svc.act_order(&staff.actor, order_id(&id)?, if_match(&headers)?, &OrderCommand::Answer { text: b.text }).await?;
    Ok(Json(view(&o, &st)))
}

#[derive(Deserialize)]
struct ReviewBody {
    accept: bool,
    #[serde(default)]
    note: Option<String>,
}

async fn review(
    State(st): State<AppState>,
    staff: Staff,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiJson(b): ApiJson<ReviewBody>,
) -> Result<Json<Value>, ApiError> {
    let o = st
        .svc
        .act_order(&staff.actor, order_id(&id)?, if_match(&headers)?, &OrderCommand::Review { accept: b.accept, note: b.note })
        .await?;
    Ok(Json(view(&o, &st)))
}

//! `/api/v1/problems`: problem-solving records (SARA) — open from cases or filters, list, read,
//! move through the stages, plan and update actions, and the before-and-after figures.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use fengqiao_domain::problem::{ActionStatus, Owner, Problem, ProblemCommand, Stage};
use fengqiao_domain::{CaseId, UnitId};
use fengqiao_store::{CaseFilter, ProblemFilter, ProblemInput, Scope};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api::{ApiJson, ApiQuery, parse_time};
use crate::auth::Staff;
use crate::{ApiError, AppState};

/// A JSON body that must be an object: serde would otherwise read a struct from an array by
/// position.
pub(crate) struct ObjJson<T>(pub T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> axum::extract::FromRequest<S> for ObjJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        let ApiJson(v) = ApiJson::<Value>::from_request(req, state).await?;
        if !v.is_object() {
            return Err(ApiError::new(StatusCode::BAD_REQUEST, "malformed_json", "the body must be a JSON object"));
        }
        serde_json::from_value(v).map(ObjJson).map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input", e.to_string()))
    }
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/problems", post(open).get(list))
        .route("/api/v1/problems/{id}", get(one))
        .route("/api/v1/problems/{id}/figures", get(figures))
        .route("/api/v1/problems/{id}/commands", post(command))
}

pub(crate) fn view(p: &Problem, st: &AppState) -> Value {
    let now = st.svc.now();
    let mut v = serde_json::to_value(p).unwrap_or_default();
    if let Some(actions) = v["actions"].as_array_mut() {
        for (a, src) in actions.iter_mut().zip(&p.actions) {
            a["overdue"] = json!(src.overdue(now));
            a["owner"] = json!(src.owner.label());
            a["due_local"] = json!(src.due.to_rfc3339_in(&st.tz));
        }
    }
    v
}

/// Filters that find the cases of a new problem.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct FilterBody {
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default)]
    pub region: Option<String>,
    #[serde(default)]
    pub lead_unit: Option<String>,
    /// A local date or an RFC 3339 time.
    #[serde(default)]
    pub created_from: Option<String>,
    #[serde(default)]
    pub created_to: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OpenBody {
    title: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    case_ids: Vec<i64>,
    /// An object (read as a map first, so an array is refused rather than read by position).
    #[serde(default)]
    filter: Option<serde_json::Map<String, Value>>,
    #[serde(default)]
    regions: Vec<String>,
    #[serde(default)]
    categories: Vec<String>,
    #[serde(default)]
    window_days: Option<u32>,
}

pub(crate) fn case_filter(f: &FilterBody, tz: &jiff::tz::TimeZone) -> Result<CaseFilter, ApiError> {
    let time = |field: &str, v: &Option<String>| v.as_deref().map(|s| parse_time(field, s.trim(), tz)).transpose();
    let text = |v: &Option<String>| v.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_string);
    if let Some(s) = &f.status
        && fengqiao_domain::Status::parse(s).is_none()
    {
        return Err(ApiError::invalid("filter.status", format!("unknown value '{s}'")));
    }
    if let Some(r) = &f.region {
        fengqiao_domain::RegionCode::parse(r).map_err(|e| ApiError::invalid("filter.region", e.message))?;
    }
    Ok(CaseFilter {
        status: f.status.clone(),
        category: text(&f.category),
        region: f.region.clone(),
        lead_unit: text(&f.lead_unit),
        created_from: time("filter.created_from", &f.created_from)?,
        created_to: time("filter.created_to", &f.created_to)?,
        ..Default::default()
    })
}

async fn open(State(st): State<AppState>, staff: Staff, ObjJson(b): ObjJson<OpenBody>) -> Result<(StatusCode, Json<Value>), ApiError> {
    let filter = match b.filter {
        Some(m) => {
            let f: FilterBody = serde_json::from_value(Value::Object(m)).map_err(|e| ApiError::invalid("filter", e.to_string()))?;
            Some(case_filter(&f, &st.tz)?)
        }
        None => None,
    };
    let input = ProblemInput {
        title: b.title,
        description: b.description.unwrap_or_default(),
        case_ids: b.case_ids,
        filter,
        regions: b.regions,
        categories: b.categories,
        window_days: b.window_days,
    };
    let p = st.svc.open_problem(&staff.actor, &input).await?;
    Ok((StatusCode::CREATED, Json(view(&p, &st))))
}

#[derive(Deserialize)]
struct ListQuery {
    stage: Option<String>,
    region: Option<String>,
    case: Option<i64>,
    limit: Option<i64>,
}

async fn list(State(st): State<AppState>, staff: Staff, ApiQuery(q): ApiQuery<ListQuery>) -> Result<Json<Value>, ApiError> {
    let stage = match q.stage.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => Some(Stage::parse(s).ok_or_else(|| ApiError::invalid("stage", "scanning, analysis, response, assessment or closed"))?),
        None => None,
    };
    if let Some(r) = &q.region {
        fengqiao_domain::RegionCode::parse(r).map_err(|e| ApiError::invalid("region", e.message))?;
    }
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::invalid("limit", "between 1 and 1000"));
    }
    let f = ProblemFilter { stage, region: q.region, case_id: q.case, limit };
    let items = st.svc.store.problems(&Scope::for_actor(&staff.actor), &f).await?;
    Ok(Json(json!({ "items": items.iter().map(|p| view(p, &st)).collect::<Vec<_>>() })))
}

fn problem_id(s: &str) -> Result<i64, ApiError> {
    s.parse().map_err(|_| ApiError::not_found())
}

async fn one(State(st): State<AppState>, staff: Staff, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let p = st.svc.store.problem(&Scope::for_actor(&staff.actor), problem_id(&id)?).await?.ok_or_else(ApiError::not_found)?;
    Ok(Json(view(&p, &st)))
}

async fn figures(State(st): State<AppState>, staff: Staff, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let p = st.svc.store.problem(&Scope::for_actor(&staff.actor), problem_id(&id)?).await?.ok_or_else(ApiError::not_found)?;
    let f = st.svc.problem_figures(&staff.actor, &p).await?;
    Ok(Json(serde_json::to_value(f).unwrap_or_default()))
}

/// A command as clients send it: owners as `unit:ID` or `user:ID`, due dates as local dates
/// (the end of that day) or RFC 3339 times.
#[derive(Deserialize)]
#[serde(tag = "command", rename_all = "snake_case", deny_unknown_fields)]
pub(crate) enum CommandBody {
    Advance {
        #[serde(default)]
        note: Option<String>,
    },
    Return {
        to: String,
        note: String,
    },
    Write {
        #[serde(default)]
        analysis: Option<String>,
        #[serde(default)]
        assessment: Option<String>,
    },
    AddCases {
        case_ids: Vec<i64>,
    },
    SetResponsible {
        #[serde(default)]
        units: Vec<String>,
        #[serde(default)]
        users: Vec<String>,
    },
    AddAction {
        text: String,
        owner: String,
        due: String,
    },
    SetActionStatus {
        action: u32,
        status: String,
    },
}

pub(crate) fn due_time(field: &str, s: &str, tz: &jiff::tz::TimeZone) -> Result<fengqiao_domain::Timestamp, ApiError> {
    match fengqiao_domain::Timestamp::parse_rfc3339(s.trim()) {
        Some(t) => Ok(t),
        None => Ok(parse_time(field, s.trim(), tz)?.plus_ms(fengqiao_domain::clock::DAY_MS - 1)),
    }
}

impl CommandBody {
    pub(crate) fn into_command(self, tz: &jiff::tz::TimeZone) -> Result<ProblemCommand, ApiError> {
        Ok(match self {
            CommandBody::Advance { note } => ProblemCommand::Advance { note },
            CommandBody::Return { to, note } => {
                ProblemCommand::Return { to: Stage::parse(to.trim()).ok_or_else(|| ApiError::invalid("to", "analysis or response"))?, note }
            }
            CommandBody::Write { analysis, assessment } => ProblemCommand::Write { analysis, assessment },
            CommandBody::AddCases { case_ids } => ProblemCommand::AddCases { case_ids: case_ids.into_iter().map(CaseId).collect() },
            CommandBody::SetResponsible { units, users } => ProblemCommand::SetResponsible {
                units: units.into_iter().map(|u| UnitId(u.trim().to_string())).filter(|u| !u.0.is_empty()).collect(),
                users,
            },
            CommandBody::AddAction { text, owner, due } => {
                let owner = Owner::parse(&owner).ok_or_else(|| ApiError::invalid("owner", "unit:ID or user:ID"))?;
                ProblemCommand::AddAction { text, owner, due: due_time("due", &due, tz)? }
            }
            CommandBody::SetActionStatus { action, status } => ProblemCommand::SetActionStatus {
                action,
                status: ActionStatus::parse(status.trim())
                    .ok_or_else(|| ApiError::invalid("status", "planned, in_progress, done or dropped"))?,
            },
        })
    }
}

fn if_match(headers: &HeaderMap) -> Result<Option<i64>, ApiError> {
    headers
        .get("if-match")
        .and_then(|h| h.to_str().ok())
        .map(|s| s.trim_matches('"').trim_start_matches("W/").trim_matches('"'))
        .map(|s| s.parse::<i64>().map_err(|_| ApiError::invalid("If-Match", "expected a problem version number")))
        .transpose()
}

async fn command(
    State(st): State<AppState>,
    staff: Staff,
    Path(id): Path<String>,
    headers: HeaderMap,
    ObjJson(b): ObjJson<CommandBody>,
) -> Result<Json<Value>, ApiError> {
    let id = problem_id(&id)?;
    let cmd = b.into_command(&st.tz)?;
    let p = st.svc.act_problem(&staff.actor, id, if_match(&headers)?, &cmd).await?;
    Ok(Json(view(&p, &st)))
}

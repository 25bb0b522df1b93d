//! `/api/v1/triage` and `/api/v1/cases/{id}/triage`: the escalation risk, a suggested category
//! and the similar recent cases, for a text at intake or for a stored case.

use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use fengqiao_domain::case::CaseDraft;
use fengqiao_domain::{CaseId, DomainError};
use serde::Deserialize;

use crate::api::ApiJson;
use crate::auth::Staff;
use crate::{ApiError, AppState};

pub fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/triage", post(triage_text)).route("/api/v1/cases/{id}/triage", get(triage_case))
}

#[derive(Deserialize)]
struct TextBody {
    #[serde(default)]
    title: Option<String>,
    description: String,
    #[serde(default)]
    lat: Option<f64>,
    #[serde(default)]
    lon: Option<f64>,
    #[serde(default)]
    crs: Option<fengqiao_domain::geo::Crs>,
}

async fn triage_text(
    State(st): State<AppState>,
    staff: Staff,
    ApiJson(b): ApiJson<TextBody>,
) -> Result<Json<fengqiao_store::triage::TriageReport>, ApiError> {
    if b.description.trim().is_empty() {
        return Err(DomainError::invalid("description", "describe the matter").into());
    }
    if b.description.chars().count() > fengqiao_domain::case::MAX_DESCRIPTION_CHARS {
        return Err(DomainError::invalid("description", "at most 4000 characters").into());
    }
    let draft = CaseDraft { lat: b.lat, lon: b.lon, crs: b.crs, ..Default::default() };
    let point = draft.point().transpose().map_err(|e| ApiError::from(DomainError::Invalid(vec![e])))?;
    let text = format!("{}\n{}", b.title.unwrap_or_default(), b.description);
    Ok(Json(st.svc.triage_text(&staff.actor, &text, point).await?))
}

async fn triage_case(
    State(st): State<AppState>,
    staff: Staff,
    Path(id): Path<String>,
) -> Result<Json<fengqiao_store::triage::TriageReport>, ApiError> {
    let id: i64 = id.parse().map_err(|_| ApiError::not_found())?;
    Ok(Json(st.svc.triage_case(&staff.actor, CaseId(id)).await?))
}

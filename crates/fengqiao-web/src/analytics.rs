//! `/api/v1/analytics/hotspots` and `/api/v1/analytics/topics`: the newest analytics run
//! (hot spots and emerging patterns by village, with the space–time scan's clusters whose
//! region — their town, or the county when they straddle towns — is within the jurisdiction;
//! bursting categories and terms, rising
//! severity and weekly counts by town), for supervisors and administrators, within their
//! jurisdiction.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use fengqiao_domain::RegionCode;
use fengqiao_domain::perception::{PerceptionRun, TopicKind};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api::ApiQuery;
use crate::auth::Staff;
use crate::{ApiError, AppState};

pub fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/analytics/hotspots", get(hotspots)).route("/api/v1/analytics/topics", get(topics))
}

#[derive(Deserialize)]
struct HotspotQuery {
    region: Option<String>,
}

#[derive(Deserialize)]
struct TopicQuery {
    region: Option<String>,
    kind: Option<String>,
}

/// The run's own facts, without its findings.
pub(crate) fn run_meta(run: &PerceptionRun, st: &AppState) -> Value {
    json!({
        "at": run.at,
        "at_local": run.at.to_rfc3339_in(&st.tz),
        "from": run.from,
        "weeks": run.weeks,
        "slice_days": run.slice_days,
        "cases": run.cases,
        "permutations": run.permutations,
        "scan_replicates": run.scan_replicates,
        "seed": run.seed,
        "took_ms": run.took_ms,
        "notes": run.notes,
    })
}

fn region_of(q: &Option<String>) -> Result<Option<RegionCode>, ApiError> {
    q.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(RegionCode::parse)
        .transpose()
        .map_err(|e| ApiError::invalid("region", e.message))
}

/// The run the caller may see, narrowed to `region` when given (a region outside the
/// jurisdiction leaves nothing).
async fn run_for(st: &AppState, staff: &Staff, region: Option<&RegionCode>) -> Result<Option<PerceptionRun>, ApiError> {
    let run = st.svc.perception(&staff.actor).await?;
    Ok(match (run, region) {
        (Some(r), Some(code)) => Some(r.within(code)),
        (r, _) => r,
    })
}

async fn hotspots(State(st): State<AppState>, staff: Staff, ApiQuery(q): ApiQuery<HotspotQuery>) -> Result<Json<Value>, ApiError> {
    let region = region_of(&q.region)?;
    let Some(run) = run_for(&st, &staff, region.as_ref()).await? else {
        return Ok(Json(json!({ "run": null, "items": [], "clusters": [] })));
    };
    Ok(Json(json!({ "run": run_meta(&run, &st), "items": run.villages, "clusters": run.clusters })))
}

async fn topics(State(st): State<AppState>, staff: Staff, ApiQuery(q): ApiQuery<TopicQuery>) -> Result<Json<Value>, ApiError> {
    // Every bad parameter at once.
    let mut errs = Vec::new();
    let region = match q.region.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(s) => RegionCode::parse(s).map_err(|e| errs.push(e)).ok(),
        None => None,
    };
    let kind = match q.kind.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some("category") => Some(TopicKind::Category),
        Some("term") => Some(TopicKind::Term),
        Some(_) => {
            errs.push(fengqiao_domain::error::FieldError::new("kind", "category or term"));
            None
        }
    };
    if !errs.is_empty() {
        return Err(fengqiao_domain::DomainError::Invalid(errs).into());
    }
    let Some(run) = run_for(&st, &staff, region.as_ref()).await? else {
        return Ok(Json(json!({ "run": null, "items": [], "severity": [], "towns": [] })));
    };
    let items: Vec<_> = run.topics.iter().filter(|t| kind.is_none_or(|k| t.kind == k)).collect();
    Ok(Json(json!({ "run": run_meta(&run, &st), "items": items, "severity": run.severity, "towns": run.towns })))
}

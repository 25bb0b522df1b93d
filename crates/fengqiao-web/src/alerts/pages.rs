//! The alerts page (`/alerts`) for supervisors and administrators: the figures of the last 30
//! days, the alerts over their jurisdiction with the cases behind each, and a form to
//! acknowledge or close each (with the CSRF token).

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use fengqiao_domain::alert::{AlertCommand, AlertCounts, AlertKind, AlertStatus};

use crate::AppState;
use crate::pages::{Chrome, PageError, PageStaff, Tr, local_time, render};

/// The page routes (merged under the pages' layer).
pub fn routes() -> Router<AppState> {
    Router::new().route("/alerts", get(list)).route("/alerts/{id}/act/{command}", post(act))
}

pub struct Opt {
    pub value: &'static str,
    pub label: String,
    pub selected: bool,
}

pub struct Row {
    pub id: i64,
    pub kind: String,
    pub region: String,
    pub summary: String,
    pub status: String,
    pub status_code: &'static str,
    pub raised: String,
    pub cases: Vec<i64>,
    pub evidence: String,
    pub steps: Vec<String>,
    pub can_ack: bool,
    pub can_close: bool,
}

pub struct ReachRow {
    pub region: String,
    pub name: String,
    pub population: u32,
    pub reports: i64,
    pub per_1000: String,
    pub silent: bool,
}

#[derive(Template)]
#[template(path = "alerts.html")]
struct ListPage {
    c: Chrome,
    t: Tr,
    rows: Vec<Row>,
    statuses: Vec<Opt>,
    kinds: Vec<Opt>,
    counts: AlertCounts,
    reach: Vec<ReachRow>,
    channels: Vec<(String, i64)>,
    flash: Option<String>,
}

#[derive(serde::Deserialize, Default)]
pub struct ListQuery {
    status: Option<String>,
    kind: Option<String>,
    error: Option<String>,
}

fn supervisor(staff: &PageStaff) -> Result<(), PageError> {
    if staff.user.role.supervises() { Ok(()) } else { Err(PageError::new(StatusCode::FORBIDDEN, "error.forbidden")) }
}

fn region_name(st: &AppState, code: &str) -> String {
    st.svc.reference().regions.get(code).map(|r| format!("{} ({code})", r.name)).unwrap_or_else(|| code.to_string())
}

async fn list(State(st): State<AppState>, staff: PageStaff, t: Tr, Query(q): Query<ListQuery>) -> Result<Response, PageError> {
    supervisor(&staff)?;
    let status = q.status.as_deref().and_then(AlertStatus::parse);
    let kind = q.kind.as_deref().and_then(AlertKind::parse);
    let filter = fengqiao_store::AlertFilter { status, kind, region: None, limit: 200 };
    let alerts = st.svc.alerts(&staff.actor, &filter).await?;
    let now = st.svc.now();
    let counts = st.svc.alert_figures(&staff.actor, None, now.plus_ms(-30 * fengqiao_domain::clock::DAY_MS), now.plus_ms(1)).await?;
    let rows = alerts
        .iter()
        .map(|a| {
            let e = &a.evidence;
            let mut evidence = t.n("alerts.evidence_count", e.count).replace("{t}", &format!("{}", e.threshold));
            if let Some(b) = e.baseline {
                evidence.push_str(&format!("; {}", t.s("alerts.baseline").replace("{b}", &format!("{b:.2}"))));
            }
            if !e.regions.is_empty() {
                let names: Vec<String> = e.regions.iter().map(|r| region_name(&st, r.as_str())).collect();
                evidence.push_str(&format!("; {}", t.s("alerts.regions").replace("{list}", &names.join(", "))));
            }
            let mut steps = Vec::new();
            for (key, s) in [("alerts.acknowledged_by", &a.acknowledged), ("alerts.closed_by", &a.closed)] {
                if let Some(s) = s {
                    steps.push(format!(
                        "{} {} {}{}",
                        t.s(key),
                        s.by,
                        local_time(s.at, &st.tz),
                        if s.note.is_empty() { String::new() } else { format!(": {}", s.note) }
                    ));
                }
            }
            Row {
                id: a.id,
                kind: t.k("alerts.kind", a.kind.as_str()),
                region: region_name(&st, a.region.as_str()),
                summary: a.summary.clone(),
                status: t.k("alerts.status", a.status.as_str()),
                status_code: a.status.as_str(),
                raised: local_time(a.raised_at, &st.tz),
                cases: e.case_ids.clone(),
                evidence,
                steps,
                can_ack: a.status == AlertStatus::Open,
                can_close: a.status != AlertStatus::Closed,
            }
        })
        .collect();
    let opt = |value: &'static str, group: &str, sel: Option<&str>| Opt { value, label: t.k(group, value), selected: sel == Some(value) };
    let reach = crate::alerts::reach_for(&st, &staff.actor, now.plus_ms(-30 * fengqiao_domain::clock::DAY_MS), now.plus_ms(1)).await?;
    let page = ListPage {
        c: Chrome::staff("/alerts", &staff),
        t,
        rows,
        statuses: ["open", "acknowledged", "closed"].into_iter().map(|v| opt(v, "alerts.status", q.status.as_deref())).collect(),
        kinds: AlertKind::ALL.into_iter().map(|k| opt(k.as_str(), "alerts.kind", q.kind.as_deref())).collect(),
        counts,
        reach: reach
            .grids
            .iter()
            .map(|g| ReachRow {
                region: g.region.clone(),
                name: g.name.clone(),
                population: g.population,
                reports: g.reports,
                per_1000: g.per_1000.map(|x| format!("{x:.2}")).unwrap_or_else(|| "—".into()),
                silent: g.silent,
            })
            .collect(),
        channels: reach.channels.iter().map(|c| (t.k("channel", &c.channel), c.reports)).collect(),
        flash: q.error,
    };
    Ok(render(&page))
}

async fn act(
    State(st): State<AppState>,
    staff: PageStaff,
    t: Tr,
    Path((id, command)): Path<(i64, String)>,
    body: axum::body::Bytes,
) -> Result<Response, PageError> {
    let f: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).map_err(|e| PageError {
        status: StatusCode::BAD_REQUEST,
        key: "error.bad_form",
        detail: Some(e.to_string()),
    })?;
    let field = |k: &str| f.iter().find(|(n, _)| n == k).map(|(_, v)| v.trim().to_string()).unwrap_or_default();
    staff.check_csrf(&field("csrf"))?;
    let note = field("note");
    let cmd = match command.as_str() {
        "acknowledge" => AlertCommand::Acknowledge { note },
        "close" => AlertCommand::Close { note },
        _ => return Err(PageError::new(StatusCode::NOT_FOUND, "error.not_found")),
    };
    let version = field("version").parse::<i64>().ok();
    match st.svc.act_alert(&staff.actor, id, version, &cmd).await.map_err(crate::ApiError::from) {
        Ok(_) => Ok(Redirect::to("/alerts").into_response()),
        Err(e) if e.status.is_server_error() => Err(PageError { status: e.status, key: "error.unavailable", detail: None }),
        Err(e) if e.status == StatusCode::NOT_FOUND => Err(PageError::new(StatusCode::NOT_FOUND, "error.not_found")),
        Err(e) => {
            let msg = if e.details.is_empty() {
                t.domain(&e.message)
            } else {
                e.details.iter().map(|d| format!("{}: {}", d.field, t.domain(&d.message))).collect::<Vec<_>>().join("; ")
            };
            Ok(Redirect::to(&format!("/alerts?error={}", crate::pages::urlencode(&msg))).into_response())
        }
    }
}

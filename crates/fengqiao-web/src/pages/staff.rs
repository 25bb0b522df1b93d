//! The staff workbench: sign-in, the work queue sorted by what breaches first, the case page
//! with a form for every action the lifecycle allows this user, and quick intake at the
//! counter or on the phone. Every case read goes through `Scope::for_actor`: a case outside
//! the user's scope is a 404 page, never its data.

use askama::Template;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use fengqiao_domain::lifecycle::DecideContext;
use fengqiao_domain::{
    Case, CaseId, Channel, Command, ContactChannel, DomainError, EventKind, PartyRole, PersonInput, Rating, RegionLevel, Severity, Status,
    Tier, UnitId,
};
use fengqiao_store::{CaseFilter, Page, Scope, StoreError};
use serde::Deserialize;

use super::map::{self, MapView};
use super::public::{RegionGroup, RegionOption};
use super::{Chrome, PageError, PageForm, PageStaff, Tr, due_text, local_time, render};
use crate::AppState;
use crate::auth::PeerIp;

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    c: Chrome,
    t: Tr,
    next: String,
    user: String,
    error: Option<String>,
}

#[derive(Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
}

/// Only a path of ours may follow sign-in, never another site.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') && !n.starts_with("/login") => n.to_string(),
        _ => "/work".into(),
    }
}

pub async fn login_form(t: Tr, Query(q): Query<LoginQuery>) -> Response {
    render(&LoginPage { c: Chrome::bare("/login"), t, next: safe_next(q.next.as_deref()), user: String::new(), error: None })
}

#[derive(Deserialize)]
pub struct LoginForm {
    user: String,
    password: String,
    next: Option<String>,
}

pub async fn login_submit(State(st): State<AppState>, PeerIp(ip): PeerIp, t: Tr, PageForm(f): PageForm<LoginForm>) -> Response {
    let next = safe_next(f.next.as_deref());
    match crate::auth::sign_in(&st, f.user.trim(), &f.password, ip).await {
        Ok((_, _, cookie)) => ([(header::SET_COOKIE, cookie)], Redirect::to(&next)).into_response(),
        Err(e) => {
            let msg = match e.code {
                "bad_credentials" => t.s("login.bad").to_string(),
                "throttled" => t.s("login.throttled").to_string(),
                _ => t.s("error.unavailable").to_string(),
            };
            let page = LoginPage { c: Chrome::bare("/login"), t, next, user: f.user, error: Some(msg) };
            (e.status, render(&page)).into_response()
        }
    }
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

pub async fn logout(State(st): State<AppState>, staff: PageStaff, PageForm(f): PageForm<CsrfForm>) -> Result<Response, PageError> {
    staff.check_csrf(&f.csrf)?;
    st.svc.store.delete_session(&staff.session).await?;
    Ok(([(header::SET_COOKIE, crate::api::clear_cookie(&st))], Redirect::to("/login")).into_response())
}

/// The open statuses, in lifecycle order.
const OPEN: [Status; 8] = [
    Status::Received,
    Status::Filed,
    Status::Dispatched,
    Status::Accepted,
    Status::InProgress,
    Status::Deferred,
    Status::Resolved,
    Status::ReturnVisit,
];

/// Cases read per query, and at most per status for the queue (which says when it is cut).
const PAGE: i64 = 500;
/// Rows the work queue shows.
const SHOWN: usize = 200;
const PER_STATUS: usize = 5000;

/// The deadline a case is working against now: response while dispatched, handling while
/// being handled, the return visit once resolved; none while deferred (paused) or closed.
pub fn next_due(c: &Case) -> Option<(fengqiao_domain::Timestamp, &'static str)> {
    match c.status {
        Status::Dispatched => c.response_due.map(|d| (d, "due.response")),
        Status::Accepted | Status::InProgress => c.handling_due.map(|d| (d, "due.handling")),
        Status::Resolved | Status::ReturnVisit => c.visit_due.map(|d| (d, "due.visit")),
        _ => None,
    }
}

pub struct CaseRow {
    pub id: i64,
    pub code: String,
    pub title: String,
    pub category: String,
    pub status: String,
    pub status_code: &'static str,
    pub region: String,
    pub unit: String,
    pub due_kind: String,
    pub due_at: String,
    pub due_text: String,
    /// `overdue`, `soon` (within a day) or empty.
    pub urgency_class: &'static str,
    pub created: String,
}

pub fn case_row(st: &AppState, t: Tr, c: &Case, now: fengqiao_domain::Timestamp) -> CaseRow {
    let r = st.svc.reference();
    let due = next_due(c);
    let class = match due {
        Some((d, _)) if d < now => "overdue",
        Some((d, _)) if d.0 - now.0 < fengqiao_domain::clock::DAY_MS => "soon",
        _ => "",
    };
    CaseRow {
        id: c.id.0,
        code: c.tracking_code.as_str().to_string(),
        title: c.title.clone(),
        category: r.categories.get(&c.category).map(|k| t.pick(&k.name_zh, Some(&k.name_en)).to_string()).unwrap_or(c.category.clone()),
        status: t.k("status", c.status.as_str()),
        status_code: c.status.as_str(),
        region: r.regions.get(c.region.as_str()).map(|g| t.pick(&g.name, g.name_en.as_deref()).to_string()).unwrap_or(c.region.to_string()),
        unit: c
            .lead_unit
            .as_ref()
            .and_then(|u| r.units.get(&u.0))
            .map(|u| t.pick(&u.name, u.name_en.as_deref()).to_string())
            .unwrap_or_default(),
        due_kind: due.map(|(_, k)| t.s(k).to_string()).unwrap_or_default(),
        due_at: due.map(|(d, _)| local_time(d, &st.tz)).unwrap_or_default(),
        due_text: due.map(|(d, _)| due_text(t, d, now)).unwrap_or_default(),
        urgency_class: class,
        created: local_time(c.created_at, &st.tz),
    }
}

#[derive(Deserialize, Default)]
pub struct WorkQuery {
    status: Option<String>,
    category: Option<String>,
    region: Option<String>,
    q: Option<String>,
    format: Option<String>,
}

pub struct Opt {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

#[derive(Template)]
#[template(path = "work.html")]
struct WorkPage {
    c: Chrome,
    t: Tr,
    statuses: Vec<Opt>,
    categories: Vec<Opt>,
    regions: Vec<RegionGroup>,
    q: String,
    rows: Vec<CaseRow>,
    total: usize,
    cut: bool,
    csv_link: String,
    /// The newest messages of the last week for the user and their unit: risk alerts, missed
    /// deadlines, reminders.
    alerts: Vec<AlertRow>,
}

pub struct AlertRow {
    pub at: String,
    pub kind: String,
    pub urgent: bool,
    pub message: String,
    pub link: Option<String>,
}

#[derive(Template)]
#[template(path = "work_table.html")]
struct WorkTable {
    t: Tr,
    rows: Vec<CaseRow>,
    total: usize,
    cut: bool,
}

pub(super) fn categories(st: &AppState, t: Tr, selected: &str) -> Vec<Opt> {
    let r = st.svc.reference();
    let mut v: Vec<Opt> = r
        .categories
        .values()
        .map(|c| Opt { value: c.code.clone(), label: t.pick(&c.name_zh, Some(&c.name_en)).to_string(), selected: c.code == selected })
        .collect();
    v.sort_by(|a, b| a.value.cmp(&b.value));
    v
}

/// Towns and villages inside the user's jurisdiction.
fn staff_regions(st: &AppState, t: Tr, staff: &PageStaff, selected: &str) -> Vec<RegionGroup> {
    let j = &staff.user.jurisdiction;
    let r = st.svc.reference();
    let mut groups = super::public::region_groups_within(st, t, selected, j.prefix());
    if groups.is_empty()
        && let Some(g) = r.regions.get(j.as_str())
    {
        // A village or grid jurisdiction: just that region.
        groups.push(RegionGroup {
            name: t.pick(&g.name, g.name_en.as_deref()).to_string(),
            options: vec![RegionOption {
                code: g.code.to_string(),
                name: t.pick(&g.name, g.name_en.as_deref()).to_string(),
                selected: selected == g.code.as_str(),
            }],
        });
    }
    groups
}

/// The open cases in the user's scope matching the filters, soonest breach first.
/// The first `limit` open cases of the queue, soonest breach first, ordered and counted by
/// the store (only the shown cases are read whole), and how many match in all. `due` keeps
/// only cases whose deadline falls in that window.
pub async fn queue_page(
    st: &AppState,
    staff: &PageStaff,
    status: Option<&str>,
    category: Option<&str>,
    region: Option<&str>,
    due: Option<(fengqiao_domain::Timestamp, fengqiao_domain::Timestamp)>,
    limit: i64,
) -> Result<(Vec<Case>, usize), PageError> {
    let statuses = queue_statuses(status, region)?;
    let q = fengqiao_store::QueueQuery {
        statuses: statuses.iter().map(|s| s.as_str().to_string()).collect(),
        category: category.map(str::to_string),
        region: region.map(str::to_string),
        due_from: due.map(|d| d.0),
        due_to: due.map(|d| d.1),
        limit,
    };
    let (cases, total) = st.svc.store.queue(&Scope::for_actor(&staff.actor), &q).await?;
    Ok((cases, total as usize))
}

fn queue_statuses(status: Option<&str>, region: Option<&str>) -> Result<Vec<Status>, PageError> {
    let statuses: Vec<Status> = match status {
        Some(s) => vec![Status::parse(s).ok_or_else(|| PageError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            key: "error.invalid",
            detail: Some(format!("status: unknown value '{s}'")),
        })?],
        None => OPEN.to_vec(),
    };
    if let Some(r) = region {
        fengqiao_domain::RegionCode::parse(r).map_err(|e| PageError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            key: "error.invalid",
            detail: Some(format!("region: {}", e.message)),
        })?;
    }
    Ok(statuses)
}

/// The whole queue (up to a cap per status, which it says it hit), read case by case: what a
/// text search over the cases and the CSV export need.
pub async fn queue(
    st: &AppState,
    staff: &PageStaff,
    status: Option<&str>,
    category: Option<&str>,
    region: Option<&str>,
) -> Result<(Vec<Case>, bool), PageError> {
    let scope = Scope::for_actor(&staff.actor);
    let statuses = queue_statuses(status, region)?;
    let mut cases = Vec::new();
    let mut cut = false;
    for s in statuses {
        let filter = CaseFilter {
            status: Some(s.as_str().to_string()),
            category: category.map(str::to_string),
            region: region.map(str::to_string),
            ..Default::default()
        };
        let mut after = None;
        let mut n = 0;
        loop {
            let page = st.svc.store.list_cases(&scope, &filter, &Page { after, limit: PAGE, descending: true }).await?;
            let full = page.len() as i64 == PAGE;
            after = page.last().map(|c| c.id.0);
            n += page.len();
            cases.extend(page);
            if !full {
                break;
            }
            if n >= PER_STATUS {
                cut = true;
                break;
            }
        }
    }
    // Soonest deadline first; cases waiting for intake (no deadline yet) by age after them.
    cases.sort_by_key(|c| match next_due(c) {
        Some((d, _)) => (0, d.0),
        None => (1, c.created_at.0),
    });
    Ok((cases, cut))
}

fn matches_search(c: &Case, q: &str) -> bool {
    let q = q.to_lowercase();
    c.title.to_lowercase().contains(&q)
        || c.description.to_lowercase().contains(&q)
        || c.tracking_code.as_str().eq_ignore_ascii_case(q.trim())
        || c.id.0.to_string() == q.trim()
}

fn nonempty(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

pub async fn work(
    State(st): State<AppState>,
    staff: PageStaff,
    t: Tr,
    headers: HeaderMap,
    Query(q): Query<WorkQuery>,
) -> Result<Response, PageError> {
    let (status, category, region) = (nonempty(&q.status), nonempty(&q.category), nonempty(&q.region));
    // A search or an export needs every case; the plain queue only the rows it shows.
    let whole = nonempty(&q.q).is_some() || q.format.as_deref() == Some("csv");
    let (cases, total, cut) = if whole {
        let (mut cases, cut) = queue(&st, &staff, status, category, region).await?;
        if let Some(s) = nonempty(&q.q) {
            cases.retain(|c| matches_search(c, s));
        }
        let n = cases.len();
        (cases, n, cut)
    } else {
        let (cases, total) = queue_page(&st, &staff, status, category, region, None, SHOWN as i64).await?;
        (cases, total, false)
    };
    let now = st.svc.now();
    if q.format.as_deref() == Some("csv") {
        let rows: Vec<CaseRow> = cases.iter().map(|c| case_row(&st, t, c, now)).collect();
        return Ok(super::dashboard::csv_response(
            "work.csv",
            &["id", "tracking_code", "title", "category", "status", "region", "unit", "deadline", "due_at", "created"],
            rows.iter().map(|r| {
                vec![
                    r.id.to_string(),
                    r.code.clone(),
                    r.title.clone(),
                    r.category.clone(),
                    r.status.clone(),
                    r.region.clone(),
                    r.unit.clone(),
                    r.due_kind.clone(),
                    r.due_at.clone(),
                    r.created.clone(),
                ]
            }),
        ));
    }
    let rows: Vec<CaseRow> = cases.iter().take(SHOWN).map(|c| case_row(&st, t, c, now)).collect();
    if headers.get("x-partial").is_some() {
        return Ok(render(&WorkTable { t, rows, total, cut }));
    }
    let sel = nonempty(&q.status).unwrap_or("");
    let statuses =
        OPEN.iter().map(|s| Opt { value: s.as_str().into(), label: t.k("status", s.as_str()), selected: sel == s.as_str() }).collect();
    let csv_link = format!(
        "/work?format=csv&status={}&category={}&region={}&q={}",
        super::urlencode(sel),
        super::urlencode(nonempty(&q.category).unwrap_or("")),
        super::urlencode(nonempty(&q.region).unwrap_or("")),
        super::urlencode(nonempty(&q.q).unwrap_or(""))
    );
    let mut to = vec![format!("user:{}", staff.user.id)];
    if let Some(u) = &staff.user.unit {
        to.push(format!("unit:{u}"));
    }
    let week_ago = now.plus_ms(-7 * fengqiao_domain::clock::DAY_MS);
    let alerts = st
        .svc
        .store
        .inbox(&to, 20)
        .await?
        .into_iter()
        .filter(|i| i.created_at >= week_ago)
        .take(10)
        .map(|i| AlertRow {
            at: local_time(i.created_at, &st.tz),
            urgent: i.kind == "risk_alert" || i.kind == "breach",
            kind: t.k("inbox", &i.kind),
            message: i.message,
            link: i.case_id.map(|c| format!("/cases/{c}")),
        })
        .collect();
    let page = WorkPage {
        c: Chrome::staff("/work", &staff),
        t,
        statuses,
        categories: categories(&st, t, nonempty(&q.category).unwrap_or("")),
        regions: staff_regions(&st, t, &staff, nonempty(&q.region).unwrap_or("")),
        q: q.q.unwrap_or_default(),
        rows,
        total,
        cut,
        csv_link,
        alerts,
    };
    Ok(render(&page))
}

fn case_id(id: &str) -> Result<CaseId, PageError> {
    id.parse::<i64>().ok().filter(|i| *i > 0).map(CaseId).ok_or_else(PageError::not_found)
}

pub struct Fact {
    pub label: String,
    pub value: String,
}

pub struct PersonRow {
    pub role: String,
    pub id: i64,
    pub name: String,
    pub phone: String,
    pub id_number: String,
    pub address: String,
    pub erased: bool,
}

pub struct TimelineRow {
    pub at: String,
    pub actor: String,
    pub kind: String,
    pub detail: String,
}

pub struct AttachmentRow {
    pub url: String,
    pub label: String,
}

/// One action form on the case page.
pub struct ActionView {
    pub name: &'static str,
    pub label: String,
}

pub struct Flash {
    pub ok: bool,
    pub message: String,
}

/// How many similar recent cases the case page lists.
const SIMILAR_SHOWN: usize = 10;

/// A recent case whose text is near this one's.
struct SimilarRow {
    id: i64,
    title: String,
    detail: String,
}

#[derive(Template)]
#[template(path = "case.html")]
struct CasePage {
    c: Chrome,
    t: Tr,
    id: i64,
    version: i64,
    row: CaseRow,
    facts: Vec<Fact>,
    /// Recent cases that look like this one (possible duplicates, to merge).
    similar: Vec<SimilarRow>,
    description: String,
    answers: Vec<Fact>,
    people: Vec<PersonRow>,
    attachments: Vec<AttachmentRow>,
    timeline: Vec<TimelineRow>,
    actions: Vec<ActionView>,
    /// Actions allowed in this status but not yet possible, and why.
    waiting: Vec<Fact>,
    flash: Option<Flash>,
    map: Option<MapView>,
    units: Vec<Opt>,
    tiers: Vec<Opt>,
    severities: Vec<Opt>,
    channels: Vec<Opt>,
    ratings: Vec<Opt>,
    /// Whom a return visit may reach: the reporter or each party.
    raters: Vec<Opt>,
    /// What the routing rules would decide now (shown on the route action).
    route_preview: String,
    /// The recorded routing decision's trace: one line per rule looked at.
    routing: Vec<Fact>,
    /// A dispute: its mediations are linked.
    is_dispute: bool,
}

fn opt(value: &str, label: String) -> Opt {
    Opt { value: value.to_string(), label, selected: false }
}

/// The commands offered on the case page, each with sample arguments: `decide` tells whether
/// the user may issue it now (arguments are validated again on submission).
fn candidates(c: &Case, some_unit: &UnitId) -> Vec<Command> {
    let x = "-".to_string();
    let other_severity = if c.severity == Severity::Ordinary { Severity::Serious } else { Severity::Ordinary };
    let mut v = vec![
        Command::File { severity: None, note: None },
        // Any decision will do to ask whether routing is allowed now.
        Command::Route {
            decision: Some(fengqiao_domain::routing::RouteDecision { version: 0, rule: None, lead: None, co_units: vec![], trace: vec![] }),
        },
        Command::Dispatch { lead_unit: some_unit.clone(), co_units: vec![] },
        Command::Accept,
        Command::Start,
        Command::Transfer { to: UnitId("\u{0}".into()), reason: x.clone() },
        Command::RejectTransfer { reason: x.clone() },
        Command::ArbitrateTransfer { to: UnitId("\u{0}".into()), decision: x.clone() },
        Command::CompleteTask { report: x.clone() },
    ];
    if c.tier != Tier::County {
        v.push(Command::Escalate { to: some_unit.clone(), tier: Tier::County, reason: x.clone() });
    }
    v.extend([
        Command::RequestExtension { hours: 24, reason: x.clone() },
        Command::DecideExtension { approve: true, note: None },
        Command::Defer { reason: x.clone() },
        Command::Resume,
        Command::Resolve { feedback: x.clone() },
        Command::Verify { ok: true, note: None },
        Command::RecordVisit { party: None, channel: ContactChannel::Phone, reached: false, rating: None, comment: None },
        Command::Close { note: None },
        Command::Reopen { reason: x.clone() },
        Command::Merge { into: CaseId(c.id.0 + 1) },
        Command::SetSeverity { severity: other_severity, reason: x.clone() },
        Command::JudgeRisk { high: true, note: None },
        Command::Cancel { reason: x },
    ]);
    v
}

async fn case_page_response(st: &AppState, staff: &PageStaff, t: Tr, id: CaseId, flash: Option<Flash>) -> Result<CasePage, PageError> {
    let scope = Scope::for_actor(&staff.actor);
    let case = st.svc.store.case(&scope, id).await?.ok_or_else(PageError::not_found)?;
    let events = st.svc.store.case_events(&scope, id).await?.unwrap_or_default();
    let atts = st.svc.store.attachments(&scope, id).await?;
    let r = st.svc.reference();
    let now = st.svc.now();
    let row = case_row(st, t, &case, now);
    let unit_name = |u: &UnitId| r.units.get(&u.0).map(|x| t.pick(&x.name, x.name_en.as_deref()).to_string()).unwrap_or(u.0.clone());
    let region_path = {
        let mut names = Vec::new();
        let mut code = Some(case.region.clone());
        while let Some(c) = code {
            if let Some(g) = r.regions.get(c.as_str()) {
                names.push(t.pick(&g.name, g.name_en.as_deref()).to_string());
            }
            code = c.parent();
        }
        names.reverse();
        names.join(" / ")
    };
    let mut facts = vec![
        Fact { label: t.s("case.tracking_code").into(), value: row.code.clone() },
        Fact { label: t.s("case.category").into(), value: row.category.clone() },
        Fact { label: t.s("case.status").into(), value: row.status.clone() },
        Fact { label: t.s("case.channel").into(), value: t.k("channel", case.channel.as_str()) },
        Fact { label: t.s("case.urgency").into(), value: t.k("urgency", case.urgency.as_str()) },
        Fact { label: t.s("case.severity").into(), value: t.k("severity", case.severity.as_str()) },
        Fact { label: t.s("case.tier").into(), value: t.k("tier", case.tier.as_str()) },
        Fact { label: t.s("case.region").into(), value: region_path },
        Fact { label: t.s("case.created").into(), value: row.created.clone() },
    ];
    if let Some(u) = &case.lead_unit {
        facts.push(Fact { label: t.s("case.lead_unit").into(), value: unit_name(u) });
    }
    if !case.co_units.is_empty() {
        facts.push(Fact { label: t.s("case.co_units").into(), value: case.co_units.iter().map(unit_name).collect::<Vec<_>>().join("、") });
    }
    if let Some(tr) = &case.transfer {
        let from = tr.from.as_ref().map(&unit_name).unwrap_or_default();
        let value = match &tr.rejection {
            None => format!("{from} → {} · {}", unit_name(&tr.to), tr.reason),
            Some(rj) => format!(
                "{from} → {} · {} · {} {}",
                unit_name(&tr.to),
                rj.reason,
                t.s("case.arbitration_due"),
                local_time(rj.arbitration_due, &st.tz)
            ),
        };
        let label = if tr.rejection.is_some() { "case.transfer_contested" } else { "case.transfer_pending" };
        facts.push(Fact { label: t.s(label).into(), value });
    }
    for k in &case.tasks {
        let value = match (&k.done_at, &k.report) {
            (Some(at), report) => {
                format!("{} {} · {}", t.s("case.task_done"), local_time(*at, &st.tz), report.clone().unwrap_or_default())
            }
            (None, _) if k.due <= now => format!("{} {}", t.s("case.task_overdue"), local_time(k.due, &st.tz)),
            (None, _) => format!("{} {}", t.s("case.task_due"), local_time(k.due, &st.tz)),
        };
        facts.push(Fact { label: format!("{} · {}", t.s("case.task"), unit_name(&k.unit)), value });
    }
    for (key, due) in [("due.response", case.response_due), ("due.handling", case.handling_due), ("due.visit", case.visit_due)] {
        if let Some(d) = due {
            facts.push(Fact { label: t.s(key).into(), value: local_time(d, &st.tz) });
        }
    }
    // A reopened case runs against fresh deadlines; an earlier round's miss stays visible, as
    // the figures keep counting it.
    if case.reopens > 0 {
        let mut value = case.reopens.to_string();
        if case.missed_deadline {
            value = format!("{value} · {}", t.s("case.round_missed"));
        }
        facts.push(Fact { label: t.s("case.reopened").into(), value });
    }
    if let Some(a) = &case.location.address {
        facts.push(Fact { label: t.s("case.address").into(), value: a.clone() });
    }
    if let Some(p) = case.location.point {
        facts.push(Fact { label: t.s("case.point").into(), value: format!("{:.5}, {:.5}", p.lat, p.lon) });
    }
    if let Some(res) = &case.resolution {
        facts.push(Fact { label: t.s("case.resolution").into(), value: res.clone() });
    }
    if let Some(rt) = case.final_rating {
        facts.push(Fact { label: t.s("case.rating").into(), value: t.k("rating", rt.as_str()) });
    }
    // Triage as it reads the case now: the risk (with the model in use and, for a dispute,
    // whether the same parties met before), the category the classifier suggests, and recent
    // cases that look like this one, among those the reader may open.
    let triage = st.svc.triage_case(&staff.actor, id).await?;
    let risk = &triage.risk;
    let mut risk_text = format!("{} ({:.2})", t.k("risk", risk.level.as_str()), risk.score);
    let mut shown = std::collections::HashSet::new();
    // Two patterns may match the same words ("砍死" and "砍…死"): each is shown once.
    for e in risk.evidence.iter().filter(|e| shown.insert((e.kind, e.matched.as_str()))) {
        risk_text.push_str(&format!(" · {}「{}」", t.k("risk", e.kind.as_str()), e.matched));
    }
    facts.push(Fact { label: t.s("case.risk").into(), value: risk_text });
    if let Some(e) = events.iter().rev().find(|e| e.kind == "risk_judged")
        && let Ok(kind) = serde_json::from_str::<EventKind>(&e.payload)
    {
        let value = format!("{} · {} · {}", event_detail(t, &kind, &unit_name, &st.tz), e.actor, local_time(e.at, &st.tz));
        facts.push(Fact { label: t.s("case.risk_judgement").into(), value });
    }
    if let Some(sg) = triage.suggestion.as_ref().filter(|sg| sg.category != case.category) {
        let name = r.categories.get(&sg.category).map(|k| t.pick(&k.name_zh, Some(&k.name_en)).to_string()).unwrap_or(sg.category.clone());
        let words: Vec<&str> = sg.evidence.iter().map(|(w, _)| w.as_str()).collect();
        facts.push(Fact {
            label: t.s("case.suggested_category").into(),
            value: format!("{name} ({:.2}) · {}", sg.confidence, words.join(" ")),
        });
    }
    let mut similar = Vec::new();
    for sm in triage.similar.iter().take(SIMILAR_SHOWN) {
        if let Some(other) = st.svc.store.case(&scope, sm.id).await? {
            let distance = sm.distance_m.map(|d| format!(" · {d:.0} m")).unwrap_or_default();
            similar.push(SimilarRow {
                id: sm.id.0,
                title: other.title.clone(),
                detail: format!("{} · {} {:.2}{distance}", local_time(other.created_at, &st.tz), t.s("case.similarity"), sm.similarity),
            });
        }
    }
    let category = r.categories.get(&case.category);
    let answers = case
        .answers
        .iter()
        .map(|(k, v)| {
            let q = category.and_then(|c| c.questions.iter().find(|q| &q.code == k));
            let label = q.map(|q| t.pick(&q.label_zh, Some(&q.label_en)).to_string()).unwrap_or(k.clone());
            let show = |s: &str| {
                q.and_then(|q| q.values.iter().find(|c| c.key == s))
                    .map(|c| t.pick(&c.name_zh, Some(&c.name_en)).to_string())
                    .unwrap_or(s.to_string())
            };
            let value = match v {
                serde_json::Value::String(s) => show(s),
                serde_json::Value::Array(items) => items.iter().filter_map(|i| i.as_str()).map(show).collect::<Vec<_>>().join("、"),
                other => other.to_string(),
            };
            Fact { label, value }
        })
        .collect();
    // People, masked for roles that may not see personal data, exactly as the API does.
    let ids: Vec<i64> = case.reporter.iter().copied().chain(case.parties.iter().map(|p| p.person_id)).collect();
    let stored = if ids.is_empty() { Vec::new() } else { st.svc.store.persons(&ids).await? };
    let unmasked = staff.actor.role().is_some_and(|r| r.sees_personal_data());
    let mut people = Vec::new();
    let mut raters = Vec::new();
    for p in stored {
        let role = if case.reporter == Some(p.id) {
            t.s("case.reporter").to_string()
        } else {
            case.parties.iter().find(|x| x.person_id == p.id).map(|x| t.k("party", x.role.as_str())).unwrap_or_default()
        };
        let v = crate::api::person_view(p, unmasked);
        people.push(PersonRow {
            role,
            id: v.id,
            name: v.name.unwrap_or_default(),
            phone: v.phone.unwrap_or_default(),
            id_number: v.id_number.unwrap_or_default(),
            address: v.address.unwrap_or_default(),
            erased: v.erased,
        });
    }
    if case.kind == fengqiao_domain::CategoryKind::Dispute && !case.parties.is_empty() {
        for p in case.parties.iter().filter(|p| p.role != PartyRole::Representative) {
            let name = people.iter().find(|x| x.id == p.person_id).map(|x| x.name.clone()).unwrap_or_default();
            raters.push(opt(&p.person_id.to_string(), format!("{} {name}", t.k("party", p.role.as_str()))));
        }
    } else {
        raters.push(opt("", t.s("case.reporter").to_string()));
    }
    let timeline = events
        .iter()
        .map(|e| {
            let kind: Option<EventKind> = serde_json::from_str(&e.payload).ok();
            TimelineRow {
                at: local_time(e.at, &st.tz),
                actor: e.actor.strip_prefix("user:").unwrap_or(&e.actor).to_string(),
                kind: t.k("event", &e.kind),
                detail: kind.map(|k| event_detail(t, &k, &unit_name, &st.tz)).unwrap_or_default(),
            }
        })
        .collect();
    let attachments = atts
        .iter()
        .map(|a| AttachmentRow {
            url: format!("/cases/{}/attachments/{}", id.0, a.id),
            label: format!("{} ({} KB)", a.content_type, (a.size + 1023) / 1024),
        })
        .collect();
    // Which actions may this user take now? Ask the lifecycle itself.
    let some_unit = r.units.keys().min().map(|u| UnitId(u.clone())).unwrap_or(UnitId(String::new()));
    let policy = category.map(|c| c.policy).unwrap_or(fengqiao_domain::DeadlinePolicy::DEFAULT);
    let cx = DecideContext { now, actor: &staff.actor, config: &st.svc.config.lifecycle, policy, calendar: &r.calendar };
    let mut actions = Vec::new();
    let mut waiting = Vec::new();
    for cmd in candidates(&case, &some_unit) {
        let name = cmd.name();
        match case.decide(&cmd, &cx) {
            Ok(_) | Err(DomainError::Invalid(_)) => actions.push(ActionView { name, label: t.k("action", name) }),
            Err(DomainError::Precondition(why)) => waiting.push(Fact { label: t.k("action", name), value: why }),
            Err(_) => {}
        }
    }
    let mut units: Vec<Opt> = r
        .units
        .values()
        .map(|u| opt(&u.id.0, format!("{} ({})", t.pick(&u.name, u.name_en.as_deref()), t.k("unit_kind", u.kind.as_str()))))
        .collect();
    units.sort_by(|a, b| a.value.cmp(&b.value));
    let map = case_map(st, t, &case);
    let describe = |d: &fengqiao_domain::routing::RouteDecision| match &d.lead {
        Some(l) => format!("→ {} · {} {} (v{})", unit_name(l), t.s("routing.rule"), d.rule.clone().unwrap_or_default(), d.version),
        None => format!("{} (v{})", t.s("routing.triage"), d.version),
    };
    let route_preview = describe(&r.route(&case));
    let routing: Vec<Fact> = match &case.routing {
        None => Vec::new(),
        Some(d) => std::iter::once(Fact { label: t.s("routing.decision").into(), value: describe(d) })
            .chain(d.trace.iter().map(|s| Fact {
                label: format!(
                    "{} · {}",
                    s.rule,
                    t.k(
                        "routing_outcome",
                        serde_json::to_value(s.outcome).ok().and_then(|v| v.as_str().map(String::from)).as_deref().unwrap_or("")
                    )
                ),
                value: s.detail.clone(),
            }))
            .collect(),
    };
    Ok(CasePage {
        c: Chrome::staff(&format!("/cases/{}", id.0), staff),
        t,
        id: id.0,
        version: case.version,
        row,
        facts,
        similar,
        description: case.description.clone(),
        answers,
        people,
        attachments,
        timeline,
        actions,
        waiting,
        flash,
        map,
        units,
        tiers: Tier::ALL.iter().filter(|x| **x > case.tier).map(|x| opt(x.as_str(), t.k("tier", x.as_str()))).collect(),
        severities: Severity::ALL
            .iter()
            .map(|x| Opt { value: x.as_str().into(), label: t.k("severity", x.as_str()), selected: *x == case.severity })
            .collect(),
        channels: ContactChannel::ALL.iter().map(|x| opt(x.as_str(), t.k("contact", x.as_str()))).collect(),
        ratings: Rating::ALL.iter().map(|x| opt(x.as_str(), t.k("rating", x.as_str()))).collect(),
        raters,
        route_preview,
        routing,
        is_dispute: case.kind == fengqiao_domain::CategoryKind::Dispute,
    })
}

/// The case's town with its villages, the case's own region highlighted, and its point.
fn case_map(st: &AppState, t: Tr, c: &Case) -> Option<MapView> {
    let r = st.svc.reference();
    let town = c.region.ancestor_at(RegionLevel::Town).and_then(|code| r.regions.get(code.as_str()));
    let frame_region = town.or(r.county.as_ref())?;
    let mut m = MapView::new(&[frame_region], t.s("case.map_label").to_string(), st.map_tiles.as_deref())?;
    for v in map::children(r.regions.values(), frame_region.code.prefix(), RegionLevel::Village) {
        let name = t.pick(&v.name, v.name_en.as_deref()).to_string();
        let class = if v.code.contains(&c.region) { "selected" } else { "village" };
        m.add_region(v, &name, class, name.clone(), true);
    }
    if let Some(g) = r.regions.get(c.region.as_str()).filter(|g| g.level() == RegionLevel::Grid) {
        let name = t.pick(&g.name, g.name_en.as_deref()).to_string();
        m.add_region(g, &name, "selected", name.clone(), false);
    }
    let name = t.pick(&frame_region.name, frame_region.name_en.as_deref()).to_string();
    m.add_region(frame_region, &name, "town", name.clone(), false);
    if let Some(p) = c.location.point {
        m.add_pin(p, "case", t.s("case.point").to_string());
    }
    Some(m)
}

/// A short account of an event for the staff timeline.
fn event_detail(t: Tr, k: &EventKind, unit: &dyn Fn(&UnitId) -> String, tz: &jiff::tz::TimeZone) -> String {
    let at = |d: &fengqiao_domain::Timestamp| local_time(*d, tz);
    match k {
        EventKind::Created { channel, .. } => t.k("channel", channel.as_str()),
        EventKind::Filed { severity, note } => format!("{} {}", t.k("severity", severity.as_str()), note.clone().unwrap_or_default()),
        EventKind::Cancelled { reason } | EventKind::Deferred { reason } | EventKind::Reworked { reason } => reason.clone(),
        EventKind::Reopened { reason, handling_due, .. } => match handling_due {
            Some(d) => format!("{reason} · {} {}", t.s("due.handling"), at(d)),
            None => reason.clone(),
        },
        EventKind::Dispatched { lead_unit, handling_due, .. } => {
            format!("{} · {} {}", unit(lead_unit), t.s("due.handling"), at(handling_due))
        }
        EventKind::Transferred { to, reason, .. } => format!("→ {} · {reason}", unit(to)),
        EventKind::TransferRejected { reason, arbitration_due } => {
            format!("{reason} · {} {}", t.s("case.arbitration_due"), local_time(*arbitration_due, tz))
        }
        EventKind::TransferArbitrated { to, decision, .. } => format!("→ {} · {decision}", unit(to)),
        EventKind::TaskCompleted { unit: u, report } => format!("{} · {report}", unit(u)),
        EventKind::Escalated { to, to_tier, reason, .. } => format!("→ {} ({}) · {reason}", unit(to), t.k("tier", to_tier.as_str())),
        EventKind::Returned { to, to_tier, decision, .. } => format!("→ {} ({}) · {decision}", unit(to), t.k("tier", to_tier.as_str())),
        EventKind::ExtensionRequested { hours, reason } => format!("{} · {reason}", t.n("due.hours", hours)),
        EventKind::ExtensionDecided { approve, note, .. } => {
            format!("{} {}", t.s(if *approve { "case.approved" } else { "case.refused" }), note.clone().unwrap_or_default())
        }
        EventKind::Resolved { feedback, .. } => feedback.clone(),
        EventKind::Verified { ok, note } => {
            format!("{} {}", t.s(if *ok { "case.approved" } else { "case.refused" }), note.clone().unwrap_or_default())
        }
        EventKind::VisitRecorded { visit } => format!(
            "{} · {}{}",
            t.k("contact", visit.channel.as_str()),
            if visit.reached { t.s("case.reached") } else { t.s("case.not_reached") },
            visit.rating.map(|r| format!(" · {}", t.k("rating", r.as_str()))).unwrap_or_default()
        ),
        EventKind::Closed { flag, rating, .. } => {
            rating.map(|r| t.k("rating", r.as_str())).or(flag.map(|f| t.k("closure", f.as_str()))).unwrap_or_default()
        }
        EventKind::Merged { into } => format!("→ #{}", into.0),
        EventKind::Routed { decision } => match &decision.lead {
            Some(l) => {
                format!("→ {} · {} {} (v{})", unit(l), t.s("routing.rule"), decision.rule.clone().unwrap_or_default(), decision.version)
            }
            None => format!("{} (v{})", t.s("routing.triage"), decision.version),
        },
        EventKind::SeverityChanged { from, to, reason } => {
            format!("{} → {} · {reason}", t.k("severity", from.as_str()), t.k("severity", to.as_str()))
        }
        EventKind::RiskJudged { high, note } => {
            let verdict = t.s(if *high { "case.risk_high" } else { "case.risk_not_high" });
            note.as_ref().map(|n| format!("{verdict} · {n}")).unwrap_or(verdict.to_string())
        }
        EventKind::Accepted | EventKind::Started | EventKind::Resumed { .. } => String::new(),
    }
}

#[derive(Deserialize)]
pub struct DoneQuery {
    done: Option<String>,
}

pub async fn case_page(
    State(st): State<AppState>,
    staff: PageStaff,
    t: Tr,
    Path(id): Path<String>,
    Query(q): Query<DoneQuery>,
) -> Result<Response, PageError> {
    let flash = q
        .done
        .as_deref()
        .map(|a| format!("action.{a}"))
        .filter(|k| t.has(k))
        .map(|k| Flash { ok: true, message: format!("{}: {}", t.s("case.done"), t.s(&k)) });
    Ok(render(&case_page_response(&st, &staff, t, case_id(&id)?, flash).await?))
}

/// Every field any action form may send; each action reads the ones it needs.
#[derive(Deserialize, Default)]
pub struct ActForm {
    #[serde(default)]
    csrf: String,
    version: Option<i64>,
    reason: Option<String>,
    note: Option<String>,
    severity: Option<String>,
    lead_unit: Option<String>,
    /// Repeated field (a multiple select), gathered apart from the rest.
    #[serde(skip)]
    co_units: Vec<String>,
    to: Option<String>,
    tier: Option<String>,
    hours: Option<String>,
    approve: Option<String>,
    feedback: Option<String>,
    ok: Option<String>,
    party: Option<String>,
    channel: Option<String>,
    reached: Option<String>,
    rating: Option<String>,
    comment: Option<String>,
    into: Option<String>,
    decision: Option<String>,
    report: Option<String>,
    high: Option<String>,
}

fn field(v: &Option<String>) -> Option<String> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_string)
}

fn required(v: &Option<String>, name: &str) -> Result<String, DomainError> {
    field(v).ok_or_else(|| DomainError::invalid(name, "required"))
}

fn parsed<T>(v: &Option<String>, name: &str, parse: impl Fn(&str) -> Option<T>) -> Result<T, DomainError> {
    let s = required(v, name)?;
    parse(&s).ok_or_else(|| DomainError::invalid(name, format!("unknown value '{s}'")))
}

fn yes(v: &Option<String>) -> bool {
    matches!(v.as_deref(), Some("1" | "true" | "on" | "yes"))
}

/// The command a form describes.
fn command(action: &str, f: &ActForm) -> Result<Option<Command>, DomainError> {
    let unit = |v: &Option<String>, name: &str| required(v, name).map(UnitId);
    Ok(Some(match action {
        "file" => Command::File {
            severity: field(&f.severity)
                .map(|s| Severity::parse(&s).ok_or_else(|| DomainError::invalid("severity", "unknown value")))
                .transpose()?,
            note: field(&f.note),
        },
        "cancel" => Command::Cancel { reason: required(&f.reason, "reason")? },
        "route" => Command::Route { decision: None },
        "dispatch" => Command::Dispatch {
            lead_unit: unit(&f.lead_unit, "lead_unit")?,
            co_units: f.co_units.iter().map(|u| u.trim()).filter(|u| !u.is_empty()).map(|u| UnitId(u.into())).collect(),
        },
        "accept" => Command::Accept,
        "start" => Command::Start,
        "transfer" => Command::Transfer { to: unit(&f.to, "to")?, reason: required(&f.reason, "reason")? },
        "reject_transfer" => Command::RejectTransfer { reason: required(&f.reason, "reason")? },
        "arbitrate_transfer" => Command::ArbitrateTransfer { to: unit(&f.to, "to")?, decision: required(&f.decision, "decision")? },
        "complete_task" => Command::CompleteTask { report: required(&f.report, "report")? },
        "escalate" => Command::Escalate {
            to: unit(&f.to, "to")?,
            tier: parsed(&f.tier, "tier", Tier::parse)?,
            reason: required(&f.reason, "reason")?,
        },
        "request_extension" => Command::RequestExtension {
            hours: parsed(&f.hours, "hours", |s| s.parse::<u32>().ok())?,
            reason: required(&f.reason, "reason")?,
        },
        "decide_extension" => Command::DecideExtension { approve: yes(&f.approve), note: field(&f.note) },
        "defer" => Command::Defer { reason: required(&f.reason, "reason")? },
        "resume" => Command::Resume,
        "resolve" => Command::Resolve { feedback: required(&f.feedback, "feedback")? },
        "verify" => Command::Verify { ok: yes(&f.ok), note: field(&f.note) },
        "record_visit" => Command::RecordVisit {
            party: field(&f.party).map(|s| s.parse::<i64>().map_err(|_| DomainError::invalid("party", "unknown party"))).transpose()?,
            channel: parsed(&f.channel, "channel", ContactChannel::parse)?,
            reached: yes(&f.reached),
            rating: field(&f.rating)
                .map(|s| Rating::parse(&s).ok_or_else(|| DomainError::invalid("rating", "unknown value")))
                .transpose()?,
            comment: field(&f.comment),
        },
        "close" => Command::Close { note: field(&f.note) },
        "reopen" => Command::Reopen { reason: required(&f.reason, "reason")? },
        "merge" => Command::Merge { into: parsed(&f.into, "into", |s| s.trim_start_matches('#').parse::<i64>().ok().map(CaseId))? },
        "set_severity" => {
            Command::SetSeverity { severity: parsed(&f.severity, "severity", Severity::parse)?, reason: required(&f.reason, "reason")? }
        }
        "judge_risk" => Command::JudgeRisk {
            high: parsed(&f.high, "high", |s| match s {
                "1" | "true" => Some(true),
                "0" | "false" => Some(false),
                _ => None,
            })?,
            note: field(&f.note),
        },
        _ => return Ok(None),
    }))
}

/// Reads an action form. The one field that repeats (`co_units`) is taken out first, since
/// url-encoded forms into a struct take each name once.
fn act_form(body: &[u8]) -> Result<ActForm, PageError> {
    let bad = |e: String| PageError { status: StatusCode::BAD_REQUEST, key: "error.bad_form", detail: Some(e) };
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).map_err(|e| bad(e.to_string()))?;
    let (co, rest): (Vec<_>, Vec<_>) = pairs.into_iter().partition(|(k, _)| k == "co_units");
    let rest = serde_urlencoded::to_string(&rest).map_err(|e| bad(e.to_string()))?;
    let mut f: ActForm = serde_urlencoded::from_str(&rest).map_err(|e| bad(e.to_string()))?;
    f.co_units = co.into_iter().map(|(_, v)| v).collect();
    Ok(f)
}

pub async fn act(
    State(st): State<AppState>,
    staff: PageStaff,
    t: Tr,
    Path((id, action)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Result<Response, PageError> {
    let f = act_form(&body)?;
    staff.check_csrf(&f.csrf)?;
    let id = case_id(&id)?;
    let outcome = match command(&action, &f) {
        Ok(None) => return Err(PageError::not_found()),
        Ok(Some(cmd)) => st.svc.act(&staff.actor, id, f.version, &cmd).await.map(|_| ()),
        Err(e) => Err(StoreError::Domain(e)),
    };
    match outcome {
        Ok(()) => Ok(Redirect::to(&format!("/cases/{}?done={}", id.0, super::urlencode(&action))).into_response()),
        Err(StoreError::NotFound) => Err(PageError::not_found()),
        Err(e) => {
            let api = crate::ApiError::from(e);
            if api.status.is_server_error() {
                return Err(PageError { status: api.status, key: "error.unavailable", detail: None });
            }
            // Field problems are said field by field in the reader's language where known.
            let said = if api.details.is_empty() {
                t.domain(&api.message)
            } else {
                api.details.iter().map(|d| format!("{}: {}", d.field, t.domain(&d.message))).collect::<Vec<_>>().join("; ")
            };
            let message = format!("{} — {}: {}", t.k("action", &action), t.s(&format!("error.{}", api.code)), said);
            let page = case_page_response(&st, &staff, t, id, Some(Flash { ok: false, message })).await?;
            Ok((api.status, render(&page)).into_response())
        }
    }
}

/// A case's photo, only to those who may see the case.
pub async fn attachment(
    State(st): State<AppState>,
    staff: PageStaff,
    Path((id, aid)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let id = case_id(&id)?;
    let aid: i64 = aid.parse().map_err(|_| PageError::not_found())?;
    let (meta, data) = st.svc.store.attachment(&Scope::for_actor(&staff.actor), aid).await?.ok_or_else(PageError::not_found)?;
    if meta.case_id != id {
        return Err(PageError::not_found());
    }
    let mut r = Response::new(Body::from(data));
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, header::HeaderValue::from_str(&meta.content_type).map_err(|_| PageError::not_found())?);
    // Served as an image and nothing else, even if a browser were to sniff.
    h.insert(header::CONTENT_SECURITY_POLICY, header::HeaderValue::from_static("default-src 'none'; sandbox"));
    h.insert(header::CACHE_CONTROL, header::HeaderValue::from_static("private, max-age=3600"));
    Ok(r)
}

#[derive(Deserialize, Default)]
pub struct NewCaseForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    idem: String,
    #[serde(default)]
    channel: String,
    #[serde(default)]
    category: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    region: String,
    #[serde(default)]
    address: String,
    #[serde(default)]
    urgency: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    phone: String,
}

#[derive(Template)]
#[template(path = "new_case.html")]
struct NewCasePage {
    c: Chrome,
    t: Tr,
    v: NewCaseForm,
    channels: Vec<Opt>,
    categories: Vec<Opt>,
    regions: Vec<RegionGroup>,
    urgencies: Vec<Opt>,
    errors: Vec<super::public::FieldProblem>,
}

fn new_case_page(st: &AppState, staff: &PageStaff, t: Tr, mut v: NewCaseForm, errors: Vec<super::public::FieldProblem>) -> NewCasePage {
    if v.idem.is_empty() {
        v.idem = crate::api::random_secret();
    }
    let ch = if v.channel.is_empty() { "phone" } else { v.channel.as_str() };
    let channels = [Channel::Phone, Channel::Counter, Channel::Hotline12345, Channel::Visit, Channel::Patrol]
        .iter()
        .map(|c| Opt { value: c.as_str().into(), label: t.k("channel", c.as_str()), selected: c.as_str() == ch })
        .collect();
    let urg = if v.urgency.is_empty() { "routine" } else { v.urgency.as_str() };
    let urgencies = fengqiao_domain::Urgency::ALL
        .iter()
        .map(|u| Opt { value: u.as_str().into(), label: t.k("urgency", u.as_str()), selected: u.as_str() == urg })
        .collect();
    NewCasePage {
        c: Chrome::staff("/cases/new", staff),
        t,
        channels,
        categories: categories(st, t, &v.category),
        regions: staff_regions(st, t, staff, &v.region),
        urgencies,
        v,
        errors,
    }
}

pub async fn new_case_form(State(st): State<AppState>, staff: PageStaff, t: Tr) -> Response {
    render(&new_case_page(&st, &staff, t, NewCaseForm::default(), Vec::new()))
}

pub async fn new_case_submit(
    State(st): State<AppState>,
    staff: PageStaff,
    t: Tr,
    PageForm(v): PageForm<NewCaseForm>,
) -> Result<Response, PageError> {
    staff.check_csrf(&v.csrf)?;
    let mut errs = Vec::new();
    let channel = match Channel::parse(&v.channel) {
        Some(c @ (Channel::Phone | Channel::Counter | Channel::Hotline12345 | Channel::Visit | Channel::Patrol)) => c,
        _ => {
            errs.push(super::public::FieldProblem {
                field: "channel".into(),
                label: t.s("field.channel").into(),
                message: t.s("report.choose").into(),
            });
            Channel::Phone
        }
    };
    // Staff record cases only where they work, so the new case is theirs to see.
    let region = v.region.trim();
    if !region.is_empty() && !region.starts_with(staff.user.jurisdiction.prefix()) {
        errs.push(super::public::FieldProblem {
            field: "region".into(),
            label: t.s("field.region").into(),
            message: t.s("new.outside").into(),
        });
    }
    if !errs.is_empty() {
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&new_case_page(&st, &staff, t, v, errs))).into_response());
    }
    let reporter = (!v.name.trim().is_empty() || !v.phone.trim().is_empty()).then(|| PersonInput {
        name: Some(v.name.trim().to_string()).filter(|s| !s.is_empty()),
        phone: Some(v.phone.trim().to_string()).filter(|s| !s.is_empty()),
        ..Default::default()
    });
    let draft = fengqiao_domain::case::CaseDraft {
        category: v.category.trim().to_string(),
        channel: Some(channel.as_str().to_string()),
        description: v.description.clone(),
        urgency: Some(v.urgency.clone()).filter(|s| !s.is_empty()),
        region: Some(region.to_string()).filter(|s| !s.is_empty()),
        address: Some(v.address.trim().to_string()).filter(|s| !s.is_empty()),
        anonymous: reporter.is_none(),
        reporter,
        ..Default::default()
    };
    let hash = crate::api::body_hash(&draft);
    let idem = Some((format!("{}:form:{}", staff.user.id, v.idem), hash));
    match st.svc.create(draft, &staff.actor, Channel::Counter, idem).await {
        Ok(c) => Ok(Redirect::to(&format!("/cases/{}", c.case.id.0)).into_response()),
        Err(StoreError::Domain(DomainError::Invalid(list))) => {
            let errs = list
                .into_iter()
                .map(|f| {
                    let head = f.field.split('.').next().unwrap_or(&f.field).to_string();
                    let key = format!("field.{head}");
                    super::public::FieldProblem {
                        label: if t.has(&key) { t.s(&key).into() } else { f.field.clone() },
                        field: f.field,
                        message: t.domain(&f.message),
                    }
                })
                .collect();
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&new_case_page(&st, &staff, t, v, errs))).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

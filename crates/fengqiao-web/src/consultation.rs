//! Community consultation (议事协商) over HTTP and as pages: staff open a matter to a region's
//! residents and record the committee's decision and the follow-through; residents on the roll
//! who live in the region propose, comment and give one support each; everyone may read the
//! public page, which carries no personal data (no authors, no staff ids, no phones).

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use fengqiao_domain::consultation::{ConsultCommand, ConsultSource, Consultation};
use fengqiao_domain::{Actor, Timestamp};
use fengqiao_store::Scope;
use fengqiao_store::residents::{ConsultEntries, consult_scope};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api::{ApiJson, parse_time};
use crate::auth::Staff;
use crate::pages::public::{RegionGroup, region_groups_within};
use crate::pages::{Chrome, PageError, PageForm, PageStaff, Tr, local_time, render};
use crate::residents::{PageResident, SignedIn};
use crate::{ApiError, AppState};

pub fn routes(state: AppState) -> Router<AppState> {
    // The public pages and JSON share the per-address budget of the other public routes.
    let public_pages = Router::new()
        .route("/consultations", get(public_list_page))
        .route("/consultations/{id}", get(public_page))
        .route_layer(axum::middleware::from_fn_with_state(state.public_limits.clone(), crate::pages::rate_limit));
    let public_api = Router::new()
        .route("/api/v1/public/consultations", get(api_public_list))
        .route("/api/v1/public/consultations/{id}", get(api_public_one))
        .route_layer(axum::middleware::from_fn_with_state(state.public_limits.clone(), crate::pages::rate_limit_api));
    let pages = Router::new()
        .merge(public_pages)
        .route("/consultations/{id}/{what}", post(resident_submit))
        .route("/work/consultations", get(staff_list_page).post(staff_open_submit))
        .route("/work/consultations/{id}", get(staff_page))
        .route("/work/consultations/{id}/act/{action}", post(staff_act_submit))
        .layer(axum::middleware::from_fn_with_state(state.clone(), crate::pages::page_layer));
    Router::new()
        .route("/api/v1/consultations", post(api_open).get(api_list))
        .route("/api/v1/consultations/{id}", get(api_one))
        .route("/api/v1/consultations/{id}/actions", post(api_act))
        .route("/api/v1/consultations/{id}/proposals", post(api_propose))
        .route("/api/v1/consultations/{id}/comments", post(api_comment))
        .route("/api/v1/consultations/{id}/support", post(api_support))
        .merge(public_api)
        .merge(pages)
}

fn id_of(s: &str) -> Result<i64, ApiError> {
    s.parse().map_err(|_| ApiError::not_found())
}

/// What anyone may see: no authors, no staff ids.
fn public_json(st: &AppState, c: &Consultation, e: &ConsultEntries) -> Value {
    let r = st.svc.reference();
    let now = st.svc.now();
    json!({
        "id": c.id,
        "region": c.region.as_str(),
        "region_name": r.regions.get(c.region.as_str()).map(|g| g.name.clone()),
        "title": c.title,
        "description": c.description,
        "source": match &c.source {
            ConsultSource::Hotspot { .. } => json!({ "kind": "hotspot" }),
            ConsultSource::Alert { .. } => json!({ "kind": "alert" }),
            ConsultSource::Cases { ids } => json!({ "kind": "cases", "count": ids.len() }),
        },
        "opened_at": c.opened_at.to_rfc3339_in(&st.tz),
        "closes_at": c.closes_at.to_rfc3339_in(&st.tz),
        "accepting_input": c.accepts_input(now),
        "status": c.status.as_str(),
        "decision": c.decision.as_ref().map(|d| json!({ "text": d.text, "answer": d.answer, "at": d.at.to_rfc3339_in(&st.tz) })),
        "milestones": c.milestones.iter().map(|m| json!({ "title": m.title, "due": m.due.map(|d| d.to_rfc3339_in(&st.tz)), "done_at": m.done_at.map(|d| d.to_rfc3339_in(&st.tz)) })).collect::<Vec<_>>(),
        "progress": c.progress,
        "progress_note": c.progress_note,
        "proposals": e.proposals.iter().map(|p| json!({ "id": p.id, "text": p.text, "at": p.at.to_rfc3339_in(&st.tz), "supports": p.supports })).collect::<Vec<_>>(),
        "comments": e.comments.iter().map(|m| json!({ "id": m.id, "proposal_id": m.proposal_id, "text": m.text, "at": m.at.to_rfc3339_in(&st.tz) })).collect::<Vec<_>>(),
        "supporters": e.supporters,
    })
}

/// Staff see the whole record (with its version, for If-Match).
fn staff_json(st: &AppState, c: &Consultation, e: &ConsultEntries) -> Value {
    let mut v = public_json(st, c, e);
    v["version"] = json!(c.version);
    v["opened_by"] = json!(c.opened_by);
    v["source"] = serde_json::to_value(&c.source).unwrap_or_default();
    v["decision"] = serde_json::to_value(&c.decision).unwrap_or_default();
    v
}

fn parse_due(field: &str, s: &str, st: &AppState) -> Result<Timestamp, ApiError> {
    match Timestamp::parse_rfc3339(s) {
        Some(t) => Ok(t),
        // A date: until the end of that local day.
        None => Ok(parse_time(field, s, &st.tz)?.plus_ms(fengqiao_domain::clock::DAY_MS - 1)),
    }
}

#[derive(Deserialize)]
struct OpenBody {
    region: String,
    title: String,
    description: String,
    source: ConsultSource,
    /// An RFC 3339 time, or a local date meaning the end of that day.
    closes_at: String,
}

async fn api_open(State(st): State<AppState>, staff: Staff, ApiJson(b): ApiJson<OpenBody>) -> Result<(StatusCode, Json<Value>), ApiError> {
    let closes = parse_due("closes_at", &b.closes_at, &st)?;
    let c = st.svc.open_consultation(&staff.actor, &b.region, &b.title, &b.description, b.source, closes).await?;
    Ok((StatusCode::CREATED, Json(staff_json(&st, &c, &ConsultEntries::default()))))
}

async fn api_list(State(st): State<AppState>, staff: Staff) -> Result<Json<Value>, ApiError> {
    let items = st.svc.store.consultations(&consult_scope(&staff.actor), 500).await?;
    Ok(Json(json!({ "items": items.iter().map(|c| staff_json(&st, c, &ConsultEntries::default())).collect::<Vec<_>>() })))
}

async fn api_one(State(st): State<AppState>, staff: Staff, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let c = st.svc.store.consultation(&consult_scope(&staff.actor), id_of(&id)?).await?.ok_or_else(ApiError::not_found)?;
    let e = st.svc.store.consult_entries(c.id).await?;
    Ok(Json(staff_json(&st, &c, &e)))
}

fn if_match(headers: &HeaderMap) -> Result<Option<i64>, ApiError> {
    headers
        .get("if-match")
        .and_then(|h| h.to_str().ok())
        .map(|s| s.trim_matches('"').trim_start_matches("W/").trim_matches('"'))
        .map(|s| s.parse::<i64>().map_err(|_| ApiError::invalid("If-Match", "expected a version number")))
        .transpose()
}

async fn api_act(
    State(st): State<AppState>,
    staff: Staff,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiJson(cmd): ApiJson<ConsultCommand>,
) -> Result<Json<Value>, ApiError> {
    let c = st.svc.act_consultation(&staff.actor, id_of(&id)?, if_match(&headers)?, &cmd).await?;
    let e = st.svc.store.consult_entries(c.id).await?;
    Ok(Json(staff_json(&st, &c, &e)))
}

#[derive(Deserialize)]
struct TextBody {
    text: String,
    #[serde(default)]
    proposal_id: Option<i64>,
}

async fn api_propose(
    State(st): State<AppState>,
    s: SignedIn,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<TextBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let pid = st.svc.propose(&s.resident, id_of(&id)?, &b.text).await?;
    Ok((StatusCode::CREATED, Json(json!({ "id": pid }))))
}

async fn api_comment(
    State(st): State<AppState>,
    s: SignedIn,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<TextBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let cid = st.svc.comment(&s.resident, id_of(&id)?, b.proposal_id, &b.text).await?;
    Ok((StatusCode::CREATED, Json(json!({ "id": cid }))))
}

#[derive(Deserialize)]
struct SupportBody {
    proposal_id: i64,
}

async fn api_support(
    State(st): State<AppState>,
    s: SignedIn,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<SupportBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    st.svc.support(&s.resident, id_of(&id)?, b.proposal_id).await?;
    Ok((StatusCode::CREATED, Json(json!({ "proposal_id": b.proposal_id }))))
}

async fn api_public_list(State(st): State<AppState>) -> Result<Json<Value>, ApiError> {
    let items = st.svc.store.consultations(&Scope::All, 500).await?;
    Ok(Json(json!({ "items": items.iter().map(|c| public_json(&st, c, &ConsultEntries::default())).collect::<Vec<_>>() })))
}

async fn api_public_one(State(st): State<AppState>, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let c = st.svc.store.consultation(&Scope::All, id_of(&id)?).await?.ok_or_else(ApiError::not_found)?;
    let e = st.svc.store.consult_entries(c.id).await?;
    Ok(Json(public_json(&st, &c, &e)))
}

// Pages.

pub struct ConsultRow {
    pub id: i64,
    pub title: String,
    pub region: String,
    pub status: String,
    pub status_code: &'static str,
    pub closes: String,
    pub progress: u8,
}

fn rows(st: &AppState, t: Tr, list: &[Consultation]) -> Vec<ConsultRow> {
    let r = st.svc.reference();
    let now = st.svc.now();
    list.iter()
        .map(|c| {
            let code = if c.accepts_input(now) {
                "open"
            } else if c.status == fengqiao_domain::consultation::ConsultStatus::Open {
                "closed"
            } else {
                c.status.as_str()
            };
            ConsultRow {
                id: c.id,
                title: c.title.clone(),
                region: r
                    .regions
                    .get(c.region.as_str())
                    .map(|g| t.pick(&g.name, g.name_en.as_deref()).to_string())
                    .unwrap_or(c.region.to_string()),
                status: t.k("consult.status", code),
                status_code: code,
                closes: local_time(c.closes_at, &st.tz),
                progress: c.progress,
            }
        })
        .collect()
}

#[derive(Template)]
#[template(path = "consult_list.html")]
struct ListPage {
    c: Chrome,
    t: Tr,
    rows: Vec<ConsultRow>,
}

async fn public_list_page(State(st): State<AppState>, t: Tr) -> Result<Response, PageError> {
    let list = st.svc.store.consultations(&Scope::All, 500).await?;
    Ok(render(&ListPage { c: Chrome::bare("/consultations"), t, rows: rows(&st, t, &list) }))
}

pub struct ProposalRow {
    pub id: i64,
    pub text: String,
    pub at: String,
    pub supports: i64,
    pub mine: bool,
    pub comments: Vec<CommentRow>,
}

pub struct CommentRow {
    pub text: String,
    pub at: String,
}

pub struct MilestoneRow {
    pub index: usize,
    pub title: String,
    pub due: Option<String>,
    pub done: Option<String>,
}

/// What the consultation pages (public and staff) show.
pub struct ConsultView {
    pub id: i64,
    pub title: String,
    pub description: String,
    pub region: String,
    pub status: String,
    pub status_code: &'static str,
    pub opened: String,
    pub closes: String,
    pub accepting: bool,
    pub decision: Option<(String, String, String)>,
    pub milestones: Vec<MilestoneRow>,
    pub progress: u8,
    pub progress_note: Option<String>,
    pub proposals: Vec<ProposalRow>,
    pub comments: Vec<CommentRow>,
    pub supporters: i64,
    pub version: i64,
}

fn view(st: &AppState, t: Tr, c: &Consultation, e: &ConsultEntries, supported: Option<i64>) -> ConsultView {
    let row = rows(st, t, std::slice::from_ref(c)).remove(0);
    let at = |x: Timestamp| local_time(x, &st.tz);
    ConsultView {
        id: c.id,
        title: c.title.clone(),
        description: c.description.clone(),
        region: row.region,
        status: row.status,
        status_code: row.status_code,
        opened: at(c.opened_at),
        closes: at(c.closes_at),
        accepting: c.accepts_input(st.svc.now()),
        decision: c.decision.as_ref().map(|d| (d.text.clone(), d.answer.clone(), at(d.at))),
        milestones: c
            .milestones
            .iter()
            .enumerate()
            .map(|(index, m)| MilestoneRow { index, title: m.title.clone(), due: m.due.map(at), done: m.done_at.map(at) })
            .collect(),
        progress: c.progress,
        progress_note: c.progress_note.clone(),
        proposals: e
            .proposals
            .iter()
            .map(|p| ProposalRow {
                id: p.id,
                text: p.text.clone(),
                at: at(p.at),
                supports: p.supports,
                mine: supported == Some(p.id),
                comments: e
                    .comments
                    .iter()
                    .filter(|m| m.proposal_id == Some(p.id))
                    .map(|m| CommentRow { text: m.text.clone(), at: at(m.at) })
                    .collect(),
            })
            .collect(),
        comments: e
            .comments
            .iter()
            .filter(|m| m.proposal_id.is_none())
            .map(|m| CommentRow { text: m.text.clone(), at: at(m.at) })
            .collect(),
        supporters: e.supporters,
        version: c.version,
    }
}

#[derive(Template)]
#[template(path = "consult_public.html")]
struct PublicPage {
    c: Chrome,
    t: Tr,
    k: ConsultView,
    /// The signed-in resident's standing: `None` not signed in; `Some(Ok(csrf))` may take
    /// part; `Some(Err(key))` may not, and why.
    resident: Option<Result<String, &'static str>>,
    supported: bool,
    flash: Option<String>,
}

async fn render_public(st: &AppState, t: Tr, id: i64, who: &Option<SignedIn>, flash: Option<String>) -> Result<Response, PageError> {
    let c = st.svc.store.consultation(&Scope::All, id).await?.ok_or_else(PageError::not_found)?;
    let e = st.svc.store.consult_entries(c.id).await?;
    let supported = match who {
        Some(s) => st.svc.store.supported(c.id, s.resident.id).await?,
        None => None,
    };
    let resident = who.as_ref().map(|s| match s.resident.may_take_part(&c.region) {
        Ok(()) => Ok(s.session.csrf.clone()),
        Err(fengqiao_domain::DomainError::Precondition(_)) => Err("consult.set_region_first"),
        Err(_) => Err("consult.not_your_region"),
    });
    let page = PublicPage {
        c: Chrome::bare(&format!("/consultations/{id}")),
        t,
        k: view(st, t, &c, &e, supported),
        resident,
        supported: supported.is_some(),
        flash,
    };
    Ok(render(&page))
}

#[derive(Deserialize, Default)]
struct DoneQuery {
    #[serde(default)]
    done: Option<String>,
}

async fn public_page(
    State(st): State<AppState>,
    t: Tr,
    who: PageResident,
    Path(id): Path<String>,
    axum::extract::Query(q): axum::extract::Query<DoneQuery>,
) -> Result<Response, PageError> {
    let id: i64 = id.parse().map_err(|_| PageError::not_found())?;
    // After a resident's post (post, redirect, get): only known messages.
    let flash = match q.done.as_deref() {
        Some("proposed") => Some(t.s("consult.proposed").to_string()),
        Some("commented") => Some(t.s("consult.commented").to_string()),
        Some("supported") => Some(t.s("consult.supported").to_string()),
        _ => None,
    };
    render_public(&st, t, id, &who.0, flash).await
}

#[derive(Deserialize)]
struct EntryForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    text: String,
    #[serde(default)]
    proposal_id: Option<String>,
}

async fn resident_submit(
    State(st): State<AppState>,
    t: Tr,
    who: PageResident,
    Path((id, what)): Path<(String, String)>,
    PageForm(f): PageForm<EntryForm>,
) -> Result<Response, PageError> {
    let id: i64 = id.parse().map_err(|_| PageError::not_found())?;
    let Some(s) = who.0 else {
        return Ok(Redirect::to("/resident/login").into_response());
    };
    if !crate::auth::same_secret(&f.csrf, &s.session.csrf) {
        return Err(PageError::csrf());
    }
    let proposal = f
        .proposal_id
        .as_deref()
        .filter(|p| !p.is_empty())
        .map(|p| p.parse::<i64>())
        .transpose()
        .map_err(|_| PageError::new(StatusCode::UNPROCESSABLE_ENTITY, "error.invalid"))?;
    let done = match what.as_str() {
        "propose" => st.svc.propose(&s.resident, id, &f.text).await.map(|_| "proposed"),
        "comment" => st.svc.comment(&s.resident, id, proposal, &f.text).await.map(|_| "commented"),
        "support" => {
            let p = proposal.ok_or_else(|| PageError::new(StatusCode::UNPROCESSABLE_ENTITY, "error.invalid"))?;
            st.svc.support(&s.resident, id, p).await.map(|_| "supported")
        }
        _ => return Err(PageError::not_found()),
    };
    match done {
        Ok(done) => Ok(Redirect::to(&format!("/consultations/{id}?done={done}")).into_response()),
        Err(e) => {
            let err = PageError::from(e);
            let mut r = render_public(
                &st,
                t,
                id,
                &Some(s),
                Some(format!("{}{}", t.s(err.key), err.detail.map(|d| format!(": {}", t.domain(&d))).unwrap_or_default())),
            )
            .await?;
            *r.status_mut() = err.status;
            Ok(r)
        }
    }
}

#[derive(Template)]
#[template(path = "consult_admin_list.html")]
struct StaffListPage {
    c: Chrome,
    t: Tr,
    rows: Vec<ConsultRow>,
    regions: Vec<RegionGroup>,
    error: Option<String>,
    v: OpenForm,
}

#[derive(Deserialize, Default)]
struct OpenForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    region: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    description: String,
    /// `hotspot`, `alert` or `cases`.
    #[serde(default)]
    source_kind: String,
    /// The hot spot's description, the alert's reference, or case ids separated by commas.
    #[serde(default)]
    source: String,
    #[serde(default)]
    closes_at: String,
}

async fn staff_list(st: &AppState, t: Tr, staff: &PageStaff, error: Option<String>, v: OpenForm) -> Result<Response, PageError> {
    let list = st.svc.store.consultations(&consult_scope(&staff.actor), 500).await?;
    let within = staff.user.jurisdiction.prefix().to_string();
    let regions = region_groups_within(st, t, &v.region, &within);
    Ok(render(&StaffListPage { c: Chrome::staff("/work/consultations", staff), t, rows: rows(st, t, &list), regions, error, v }))
}

async fn staff_list_page(State(st): State<AppState>, t: Tr, staff: PageStaff) -> Result<Response, PageError> {
    staff_list(&st, t, &staff, None, OpenForm { source_kind: "cases".into(), ..Default::default() }).await
}

fn api_error_text(t: Tr, e: &ApiError) -> String {
    if e.details.is_empty() {
        t.domain(&e.message)
    } else {
        e.details.iter().map(|d| format!("{}: {}", d.field, t.domain(&d.message))).collect::<Vec<_>>().join("; ")
    }
}

async fn staff_open_submit(
    State(st): State<AppState>,
    t: Tr,
    staff: PageStaff,
    PageForm(f): PageForm<OpenForm>,
) -> Result<Response, PageError> {
    staff.check_csrf(&f.csrf)?;
    let source = match f.source_kind.as_str() {
        "hotspot" => Ok(ConsultSource::Hotspot { note: f.source.clone() }),
        "alert" => Ok(ConsultSource::Alert { reference: f.source.clone() }),
        _ => f
            .source
            .split([',', '，', ' '])
            .filter(|s| !s.trim().is_empty())
            .map(|s| s.trim().trim_start_matches('#').parse::<i64>())
            .collect::<Result<Vec<_>, _>>()
            .map(|ids| ConsultSource::Cases { ids })
            .map_err(|_| ApiError::invalid("source", "case ids separated by commas")),
    };
    let result = match (source, parse_due("closes_at", &f.closes_at, &st)) {
        (Ok(source), Ok(closes)) => {
            st.svc.open_consultation(&staff.actor, &f.region, &f.title, &f.description, source, closes).await.map_err(ApiError::from)
        }
        (Err(e), _) | (_, Err(e)) => Err(e),
    };
    match result {
        Ok(c) => Ok(Redirect::to(&format!("/work/consultations/{}", c.id)).into_response()),
        Err(e) => {
            let status = e.status;
            let mut r = staff_list(&st, t, &staff, Some(api_error_text(t, &e)), f).await?;
            *r.status_mut() = status;
            Ok(r)
        }
    }
}

#[derive(Template)]
#[template(path = "consult_admin.html")]
struct StaffPage {
    c: Chrome,
    t: Tr,
    k: ConsultView,
    /// Where the matter came from: the kind's label and its detail, and the cases it groups.
    source: (String, String),
    cases: Vec<i64>,
    supervises: bool,
    error: Option<String>,
}

async fn staff_render(st: &AppState, t: Tr, staff: &PageStaff, id: i64, error: Option<String>) -> Result<Response, PageError> {
    let c = st.svc.store.consultation(&consult_scope(&staff.actor), id).await?.ok_or_else(PageError::not_found)?;
    let e = st.svc.store.consult_entries(c.id).await?;
    let k = view(st, t, &c, &e, None);
    let (source, cases) = match &c.source {
        ConsultSource::Hotspot { note } => ((t.s("consult.source.hotspot").to_string(), note.clone()), Vec::new()),
        ConsultSource::Alert { reference } => ((t.s("consult.source.alert").to_string(), reference.clone()), Vec::new()),
        ConsultSource::Cases { ids } => ((t.s("consult.source.cases").to_string(), String::new()), ids.clone()),
    };
    let page = StaffPage {
        c: Chrome::staff(&format!("/work/consultations/{id}"), staff),
        t,
        k,
        source,
        cases,
        supervises: staff.user.role.supervises(),
        error,
    };
    Ok(render(&page))
}

async fn staff_page(State(st): State<AppState>, t: Tr, staff: PageStaff, Path(id): Path<String>) -> Result<Response, PageError> {
    let id: i64 = id.parse().map_err(|_| PageError::not_found())?;
    staff_render(&st, t, &staff, id, None).await
}

#[derive(Deserialize, Default)]
struct ActForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    version: Option<i64>,
    #[serde(default)]
    text: String,
    #[serde(default)]
    answer: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    due: String,
    #[serde(default)]
    index: Option<usize>,
    #[serde(default)]
    percent: String,
    #[serde(default)]
    note: String,
}

async fn staff_act_submit(
    State(st): State<AppState>,
    t: Tr,
    staff: PageStaff,
    Path((id, action)): Path<(String, String)>,
    PageForm(f): PageForm<ActForm>,
) -> Result<Response, PageError> {
    staff.check_csrf(&f.csrf)?;
    let id: i64 = id.parse().map_err(|_| PageError::not_found())?;
    let cmd = match action.as_str() {
        "decide" => Ok(ConsultCommand::Decide { text: f.text.clone(), answer: f.answer.clone() }),
        "add_milestone" => {
            let due = f.due.trim();
            let due = if due.is_empty() { Ok(None) } else { parse_due("due", due, &st).map(Some) };
            due.map(|due| ConsultCommand::AddMilestone { title: f.title.clone(), due })
        }
        "complete_milestone" => Ok(ConsultCommand::CompleteMilestone { index: f.index.unwrap_or(usize::MAX) }),
        "progress" => f
            .percent
            .trim()
            .parse::<u8>()
            .map(|percent| ConsultCommand::Progress { percent, note: Some(f.note.clone()) })
            .map_err(|_| ApiError::invalid("percent", "between 0 and 100")),
        _ => return Err(PageError::not_found()),
    };
    let actor: &Actor = &staff.actor;
    let result = match cmd {
        Ok(cmd) => st.svc.act_consultation(actor, id, f.version, &cmd).await.map_err(ApiError::from),
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => Ok(Redirect::to(&format!("/work/consultations/{id}")).into_response()),
        Err(e) if e.status == StatusCode::NOT_FOUND => Err(PageError::not_found()),
        Err(e) => {
            let status = e.status;
            let mut r = staff_render(&st, t, &staff, id, Some(api_error_text(t, &e))).await?;
            *r.status_mut() = status;
            Ok(r)
        }
    }
}

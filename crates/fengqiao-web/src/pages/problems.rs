//! Problem-solving records (SARA) for staff: the list (`/problems`), a new problem from cases
//! chosen in a filtered list (`/problems/new`), and a problem's page (`/problems/{id}`) with its
//! stages, the analysis and assessment, who is responsible, the actions and the before-and-
//! after figures. Every change goes through `Service::act_problem`, in the reader's scope.

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use fengqiao_domain::figures::Rate;
use fengqiao_domain::problem::{ActionStatus, Owner, Problem, ProblemCommand, Stage};
use fengqiao_domain::{CaseId, DomainError, UnitId};
use fengqiao_store::{CaseFilter, Page, ProblemFilter, ProblemInput, Scope, StoreError, WindowFigures};
use serde::Deserialize;

use super::public::FieldProblem;
use super::staff::Opt;
use super::{Chrome, PageError, PageStaff, Tr, local_time, render};
use crate::AppState;

/// The pairs of a url-encoded form, repeated names kept.
fn pairs(body: &Bytes) -> Result<Vec<(String, String)>, PageError> {
    serde_urlencoded::from_bytes(body).map_err(|e| PageError {
        status: StatusCode::BAD_REQUEST,
        key: "error.bad_form",
        detail: Some(e.to_string()),
    })
}

fn field<'a>(p: &'a [(String, String)], name: &str) -> &'a str {
    p.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).unwrap_or("")
}

fn fields<'a>(p: &'a [(String, String)], name: &str) -> Vec<&'a str> {
    p.iter().filter(|(k, _)| k == name).map(|(_, v)| v.trim()).filter(|v| !v.is_empty()).collect()
}

fn problem_fields(t: Tr, errs: &[fengqiao_domain::error::FieldError]) -> Vec<FieldProblem> {
    errs.iter()
        .map(|e| {
            let base = e.field.split('[').next().unwrap_or(&e.field);
            let key = format!("problem.field.{base}");
            FieldProblem {
                field: e.field.clone(),
                label: if t.has(&key) { t.s(&key).into() } else { e.field.clone() },
                message: t.domain(&e.message),
            }
        })
        .collect()
}

// ---- The list ----

pub struct ProblemRow {
    pub id: i64,
    pub title: String,
    pub stage: String,
    pub stage_code: &'static str,
    pub region: String,
    pub cases: usize,
    pub actions_open: usize,
    pub created: String,
}

#[derive(Template)]
#[template(path = "problem_list.html")]
struct ListPage {
    c: Chrome,
    t: Tr,
    rows: Vec<ProblemRow>,
    stages: Vec<Opt>,
    can_open: bool,
}

#[derive(Deserialize, Default)]
pub struct ListQuery {
    stage: Option<String>,
}

fn region_name(st: &AppState, t: Tr, code: &str) -> String {
    st.svc.reference().regions.get(code).map(|g| t.pick(&g.name, g.name_en.as_deref()).to_string()).unwrap_or_else(|| code.to_string())
}

fn can_open(staff: &PageStaff) -> bool {
    matches!(staff.user.role, fengqiao_domain::Role::Intake | fengqiao_domain::Role::Supervisor | fengqiao_domain::Role::Admin)
}

pub async fn list(State(st): State<AppState>, staff: PageStaff, t: Tr, Query(q): Query<ListQuery>) -> Result<Response, PageError> {
    let stage = q.stage.as_deref().and_then(Stage::parse);
    let problems =
        st.svc.store.problems(&Scope::for_actor(&staff.actor), &ProblemFilter { stage, limit: 500, ..Default::default() }).await?;
    let rows = problems
        .iter()
        .map(|p| ProblemRow {
            id: p.id,
            title: p.title.clone(),
            stage: t.k("problem_stage", p.stage.as_str()),
            stage_code: p.stage.as_str(),
            region: region_name(&st, t, p.region.as_str()),
            cases: p.case_ids.len(),
            actions_open: p.actions.iter().filter(|a| matches!(a.status, ActionStatus::Planned | ActionStatus::InProgress)).count(),
            created: local_time(p.created_at, &st.tz),
        })
        .collect();
    let stages = Stage::ALL
        .iter()
        .map(|s| Opt { value: s.as_str().into(), label: t.k("problem_stage", s.as_str()), selected: Some(*s) == stage })
        .collect();
    Ok(render(&ListPage { c: Chrome::staff("/problems", &staff), t, rows, stages, can_open: can_open(&staff) }))
}

// ---- A new problem ----

pub struct CandidateRow {
    pub id: i64,
    pub title: String,
    pub category: String,
    pub region: String,
    pub status: String,
    pub created: String,
    pub checked: bool,
}

#[derive(Template)]
#[template(path = "problem_new.html")]
struct NewPage {
    c: Chrome,
    t: Tr,
    categories: Vec<Opt>,
    regions: Vec<Opt>,
    f: NewQuery,
    rows: Vec<CandidateRow>,
    searched: bool,
    title: String,
    description: String,
    window_days: String,
    errors: Vec<FieldProblem>,
}

#[derive(Deserialize, Default, Clone)]
pub struct NewQuery {
    #[serde(default)]
    category: String,
    #[serde(default)]
    region: String,
    #[serde(default)]
    created_from: String,
    #[serde(default)]
    created_to: String,
}

fn jurisdiction_regions(st: &AppState, t: Tr, staff: &PageStaff, selected: &str) -> Vec<Opt> {
    let prefix = staff.user.jurisdiction.prefix().to_string();
    super::admin::region_options(st, t, selected).into_iter().filter(|o| o.value.starts_with(&prefix)).collect()
}

fn date(field: &str, s: &str, st: &AppState) -> Result<Option<fengqiao_domain::Timestamp>, fengqiao_domain::error::FieldError> {
    match s.trim() {
        "" => Ok(None),
        s => crate::api::parse_time(field, s, &st.tz).map(Some).map_err(|e| fengqiao_domain::error::FieldError::new(field, e.message)),
    }
}

fn case_filter(st: &AppState, f: &NewQuery) -> Result<CaseFilter, Vec<fengqiao_domain::error::FieldError>> {
    let mut errs = Vec::new();
    let from = date("created_from", &f.created_from, st).unwrap_or_else(|e| {
        errs.push(e);
        None
    });
    let to = date("created_to", &f.created_to, st).unwrap_or_else(|e| {
        errs.push(e);
        None
    });
    let text = |s: &str| Some(s.trim().to_string()).filter(|s| !s.is_empty());
    if !errs.is_empty() {
        return Err(errs);
    }
    Ok(CaseFilter { category: text(&f.category), region: text(&f.region), created_from: from, created_to: to, ..Default::default() })
}

#[allow(clippy::too_many_arguments)]
async fn new_page(
    st: &AppState,
    staff: &PageStaff,
    t: Tr,
    f: NewQuery,
    checked: Option<Vec<i64>>,
    title: String,
    description: String,
    window_days: String,
    mut errors: Vec<FieldProblem>,
) -> Result<NewPage, PageError> {
    let searched =
        !(f.category.is_empty() && f.region.is_empty() && f.created_from.is_empty() && f.created_to.is_empty()) || checked.is_some();
    let mut rows = Vec::new();
    if searched {
        match case_filter(st, &f) {
            Ok(filter) => {
                let cases = st
                    .svc
                    .store
                    .list_cases(&Scope::for_actor(&staff.actor), &filter, &Page { after: None, limit: 200, descending: true })
                    .await?;
                let r = st.svc.reference();
                rows = cases
                    .iter()
                    .map(|c| CandidateRow {
                        id: c.id.0,
                        title: if c.title.is_empty() { c.description.chars().take(40).collect() } else { c.title.clone() },
                        category: r
                            .categories
                            .get(&c.category)
                            .map(|x| t.pick(&x.name_zh, Some(&x.name_en)).to_string())
                            .unwrap_or(c.category.clone()),
                        region: region_name(st, t, c.region.as_str()),
                        status: t.k("status", c.status.as_str()),
                        created: local_time(c.created_at, &st.tz),
                        checked: checked.as_ref().is_none_or(|ids| ids.contains(&c.id.0)),
                    })
                    .collect();
            }
            Err(e) => errors.extend(problem_fields(t, &e)),
        }
    }
    Ok(NewPage {
        c: Chrome::staff("/problems/new", staff),
        t,
        categories: super::staff::categories(st, t, &f.category),
        regions: jurisdiction_regions(st, t, staff, &f.region),
        f,
        rows,
        searched,
        title,
        description,
        window_days,
        errors,
    })
}

pub async fn new_form(State(st): State<AppState>, staff: PageStaff, t: Tr, Query(f): Query<NewQuery>) -> Result<Response, PageError> {
    if !can_open(&staff) {
        return Err(PageError::new(StatusCode::FORBIDDEN, "error.forbidden"));
    }
    let page = new_page(&st, &staff, t, f, None, String::new(), String::new(), String::new(), Vec::new()).await?;
    Ok(render(&page))
}

pub async fn new_submit(State(st): State<AppState>, staff: PageStaff, t: Tr, body: Bytes) -> Result<Response, PageError> {
    let p = pairs(&body)?;
    staff.check_csrf(field(&p, "csrf"))?;
    let ids: Vec<i64> = fields(&p, "case").iter().filter_map(|s| s.parse().ok()).collect();
    let window = field(&p, "window_days").trim();
    let mut errs = Vec::new();
    let window_days = match window {
        "" => None,
        s => match s.parse::<u32>() {
            Ok(n) => Some(n),
            Err(_) => {
                errs.push(fengqiao_domain::error::FieldError::new("window_days", "between 1 and 730"));
                None
            }
        },
    };
    let input = ProblemInput {
        title: field(&p, "title").to_string(),
        description: field(&p, "description").to_string(),
        case_ids: ids.clone(),
        window_days,
        ..Default::default()
    };
    let result = if errs.is_empty() { st.svc.open_problem(&staff.actor, &input).await } else { Err(DomainError::Invalid(errs).into()) };
    match result {
        Ok(problem) => Ok(Redirect::to(&format!("/problems/{}", problem.id)).into_response()),
        Err(StoreError::Domain(DomainError::Invalid(list))) => {
            let f = NewQuery {
                category: field(&p, "category").into(),
                region: field(&p, "region").into(),
                created_from: field(&p, "created_from").into(),
                created_to: field(&p, "created_to").into(),
            };
            let page = new_page(&st, &staff, t, f, Some(ids), input.title, input.description, window.to_string(), problem_fields(t, &list))
                .await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

// ---- One problem ----

pub struct StageStep {
    pub label: String,
    pub code: &'static str,
    pub current: bool,
    pub done: bool,
}

pub struct HistoryRow {
    pub at: String,
    pub from: String,
    pub to: String,
    pub by: String,
    pub note: String,
}

pub struct ActionRow {
    pub id: u32,
    pub text: String,
    pub owner: String,
    pub due: String,
    pub status: String,
    pub status_code: &'static str,
    pub overdue: bool,
    /// Statuses the reader may set (empty when they may not).
    pub next: Vec<Opt>,
}

pub struct FigureRow {
    pub label: String,
    pub before: String,
    pub after: String,
}

#[derive(Template)]
#[template(path = "problem_page.html")]
struct ProblemPage {
    c: Chrome,
    t: Tr,
    p: Problem,
    stage: String,
    region: String,
    places: String,
    categories: String,
    steps: Vec<StageStep>,
    history: Vec<HistoryRow>,
    actions: Vec<ActionRow>,
    responsible: String,
    cases: Vec<(i64, String)>,
    before_period: String,
    after_period: String,
    figures: Vec<FigureRow>,
    lead: bool,
    can_return: bool,
    open: bool,
    unit_opts: Vec<Opt>,
    user_opts: Vec<Opt>,
}

fn rate(t: Tr, r: &Rate) -> String {
    match r.value {
        Some(v) => format!("{:.1}% ({}/{})", v * 100.0, r.numerator, r.denominator),
        None => t.s("problem.no_rate").to_string(),
    }
}

fn figure_rows(t: Tr, before: &WindowFigures, after: Option<&WindowFigures>) -> Vec<FigureRow> {
    type Pick = fn(&fengqiao_domain::figures::Figures) -> &Rate;
    let rates: [(&str, Pick); 7] = [
        ("problem.fig.response", |f| &f.response_rate),
        ("problem.fig.resolution", |f| &f.resolution_rate),
        ("problem.fig.satisfaction", |f| &f.satisfaction_rate),
        ("problem.fig.on_time", |f| &f.on_time_closure_rate),
        ("problem.fig.local", |f| &f.locally_settled_rate),
        ("problem.fig.reopen", |f| &f.reopen_rate),
        ("problem.fig.repeat", |f| &f.repeat_rate),
    ];
    let dash = || t.s("problem.not_yet").to_string();
    let mut rows = vec![FigureRow {
        label: t.s("problem.fig.cohort").into(),
        before: before.figures.cohort.to_string(),
        after: after.map(|a| a.figures.cohort.to_string()).unwrap_or_else(dash),
    }];
    for (key, pick) in rates {
        rows.push(FigureRow {
            label: t.s(key).into(),
            before: rate(t, pick(&before.figures)),
            after: after.map(|a| rate(t, pick(&a.figures))).unwrap_or_else(dash),
        });
    }
    rows
}

async fn problem_page(st: &AppState, staff: &PageStaff, t: Tr, id: i64) -> Result<ProblemPage, PageError> {
    let p = st.svc.store.problem(&Scope::for_actor(&staff.actor), id).await?.ok_or_else(PageError::not_found)?;
    let figs = st.svc.problem_figures(&staff.actor, &p).await?;
    let r = st.svc.reference();
    let now = st.svc.now();
    let lead = can_open(staff);
    let unit_name =
        |u: &UnitId| r.units.get(u.as_str()).map(|x| t.pick(&x.name, x.name_en.as_deref()).to_string()).unwrap_or(u.to_string());
    let owner_text = |o: &Owner| match o {
        Owner::Unit(u) => unit_name(u),
        Owner::User(u) => u.clone(),
    };
    let order = |s: Stage| Stage::ALL.iter().position(|x| *x == s).unwrap_or(0);
    let steps = Stage::ALL
        .iter()
        .map(|s| StageStep {
            label: t.k("problem_stage", s.as_str()),
            code: s.as_str(),
            current: *s == p.stage,
            done: order(*s) < order(p.stage),
        })
        .collect();
    let history = p
        .history
        .iter()
        .rev()
        .map(|h| HistoryRow {
            at: local_time(h.at, &st.tz),
            from: t.k("problem_stage", h.from.as_str()),
            to: t.k("problem_stage", h.to.as_str()),
            by: h.by.clone(),
            note: h.note.clone().unwrap_or_default(),
        })
        .collect();
    let open = p.stage != Stage::Closed;
    let actions = p
        .actions
        .iter()
        .map(|a| {
            let owns = match &a.owner {
                Owner::Unit(u) => staff.user.unit.as_ref() == Some(u),
                Owner::User(u) => &staff.user.id == u,
            };
            let next = if open && (lead || owns) {
                ActionStatus::ALL
                    .iter()
                    .filter(|s| **s != a.status)
                    .map(|s| Opt { value: s.as_str().into(), label: t.k("action_status", s.as_str()), selected: false })
                    .collect()
            } else {
                Vec::new()
            };
            ActionRow {
                id: a.id,
                text: a.text.clone(),
                owner: owner_text(&a.owner),
                due: local_time(a.due, &st.tz),
                status: t.k("action_status", a.status.as_str()),
                status_code: a.status.as_str(),
                overdue: a.overdue(now),
                next,
            }
        })
        .collect();
    let mut responsible: Vec<String> = p.units.iter().map(unit_name).collect();
    responsible.extend(p.users.iter().cloned());
    let mut unit_opts: Vec<Opt> = r
        .units
        .values()
        .map(|u| Opt {
            value: u.id.0.clone(),
            label: format!("{} {}", u.id, t.pick(&u.name, u.name_en.as_deref())),
            selected: p.units.contains(&u.id),
        })
        .collect();
    unit_opts.sort_by(|a, b| a.value.cmp(&b.value));
    let mut user_opts: Vec<Opt> = st
        .svc
        .store
        .users()
        .await?
        .into_iter()
        .map(|u| Opt { selected: p.users.contains(&u.id), label: format!("{} {}", u.id, u.name), value: u.id })
        .collect();
    user_opts.sort_by(|a, b| a.value.cmp(&b.value));
    let period = |w: &WindowFigures| format!("{} – {}", local_time(w.from, &st.tz), local_time(w.to, &st.tz));
    let cases = p.case_ids.iter().map(|c: &CaseId| (c.0, format!("#{}", c.0))).collect();
    Ok(ProblemPage {
        c: Chrome::staff(&format!("/problems/{}", p.id), staff),
        t,
        stage: t.k("problem_stage", p.stage.as_str()),
        region: region_name(st, t, p.region.as_str()),
        places: p.regions.iter().map(|g| region_name(st, t, g.as_str())).collect::<Vec<_>>().join("、"),
        categories: p
            .categories
            .iter()
            .map(|c| r.categories.get(c).map(|x| t.pick(&x.name_zh, Some(&x.name_en)).to_string()).unwrap_or(c.clone()))
            .collect::<Vec<_>>()
            .join("、"),
        steps,
        history,
        actions,
        responsible: responsible.join("、"),
        cases,
        before_period: period(&figs.before),
        after_period: figs.after.as_ref().map(period).unwrap_or_else(|| t.s("problem.not_yet").to_string()),
        figures: figure_rows(t, &figs.before, figs.after.as_ref()),
        lead,
        can_return: lead && p.stage == Stage::Assessment,
        open,
        unit_opts,
        user_opts,
        p,
    })
}

pub async fn page(State(st): State<AppState>, staff: PageStaff, t: Tr, Path(id): Path<String>) -> Result<Response, PageError> {
    let id: i64 = id.parse().map_err(|_| PageError::not_found())?;
    Ok(render(&problem_page(&st, &staff, t, id).await?))
}

fn invalid(field: &str, message: &str) -> PageError {
    PageError::from(StoreError::Domain(DomainError::invalid(field, message)))
}

/// A form on the problem's page: the command is in the path, its fields in the body.
pub async fn act(
    State(st): State<AppState>,
    staff: PageStaff,
    Path((id, command)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, PageError> {
    let id: i64 = id.parse().map_err(|_| PageError::not_found())?;
    let p = pairs(&body)?;
    staff.check_csrf(field(&p, "csrf"))?;
    let opt = |name: &str| Some(field(&p, name).to_string()).filter(|s| !s.trim().is_empty());
    let cmd = match command.as_str() {
        "advance" => ProblemCommand::Advance { note: opt("note") },
        "return" => ProblemCommand::Return {
            to: Stage::parse(field(&p, "to")).ok_or_else(|| invalid("to", "back to analysis or response"))?,
            note: field(&p, "note").into(),
        },
        "write" => ProblemCommand::Write { analysis: opt("analysis"), assessment: opt("assessment") },
        "add_cases" => ProblemCommand::AddCases {
            case_ids: field(&p, "case_ids")
                .split([',', ' ', '，', '、'])
                .filter(|s| !s.trim().is_empty())
                .map(|s| {
                    s.trim()
                        .trim_start_matches('#')
                        .parse::<i64>()
                        .map(CaseId)
                        .map_err(|_| invalid("case_ids", "case numbers separated by commas"))
                })
                .collect::<Result<_, _>>()?,
        },
        "set_responsible" => ProblemCommand::SetResponsible {
            units: fields(&p, "units").into_iter().map(|u| UnitId(u.to_string())).collect(),
            users: fields(&p, "users").into_iter().map(str::to_string).collect(),
        },
        "add_action" => ProblemCommand::AddAction {
            text: field(&p, "text").into(),
            owner: Owner::parse(field(&p, "owner")).ok_or_else(|| invalid("owner", "choose who owns the action"))?,
            due: crate::problems::due_time("due", field(&p, "due"), &st.tz).map_err(|e| invalid("due", &e.message))?,
        },
        "set_action_status" => ProblemCommand::SetActionStatus {
            action: field(&p, "action").parse().map_err(|_| invalid("action", "no such action"))?,
            status: ActionStatus::parse(field(&p, "status")).ok_or_else(|| invalid("status", "choose a status"))?,
        },
        _ => return Err(PageError::not_found()),
    };
    let version = field(&p, "version").parse::<i64>().ok();
    st.svc.act_problem(&staff.actor, id, version, &cmd).await?;
    Ok(Redirect::to(&format!("/problems/{id}")).into_response())
}

#[cfg(test)]
mod tests {
    use super::super::i18n::{Lang, Tr};
    use fengqiao_domain::problem::{ActionStatus, Stage};
    use fengqiao_domain::webhook::HookKind;

    #[test]
    fn every_stage_status_and_hook_kind_has_a_label() {
        let mut want: Vec<String> = Stage::ALL.iter().map(|s| format!("problem_stage.{}", s.as_str())).collect();
        want.extend(ActionStatus::ALL.iter().map(|s| format!("action_status.{}", s.as_str())));
        want.extend(HookKind::ALL.iter().map(|k| format!("hook_kind.{}", k.as_str())));
        want.extend(["outbox_state.pending", "outbox_state.delivered", "outbox_state.dead"].map(String::from));
        let missing: Vec<_> = want.iter().filter(|k| !(Tr(Lang::Zh).has(k) && Tr(Lang::En).has(k))).collect();
        assert!(missing.is_empty(), "labels missing: {missing:?}");
    }
}

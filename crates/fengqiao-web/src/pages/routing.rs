//! The routing rules page (`/admin/routing`, administrators only): the rules in force as a
//! table, a JSON editor that saves the next version through [`Service::save_rules`] (every
//! problem listed on refusal, nothing saved), the version history, and "test this rule": a
//! case described by category, place, channel, urgency and text, routed by
//! [`Service::route_draft`] with the full trace and nothing written.
//!
//! [`Service::save_rules`]: fengqiao_store::Service::save_rules
//! [`Service::route_draft`]: fengqiao_store::Service::route_draft

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use fengqiao_domain::DomainError;
use fengqiao_domain::routing::{Rule, RuleSet, StepOutcome, Subject, Target};
use fengqiao_store::{Reference, StoreError};
use serde::Deserialize;

use super::admin::{admin_only, region_options};
use super::public::FieldProblem;
use super::staff::Opt;
use super::{Chrome, PageError, PageForm, PageStaff, Tr, render};
use crate::AppState;

/// Older versions than this many are not listed (they stay in the store and the API).
const HISTORY: i64 = 50;

pub struct RuleRow {
    pub id: String,
    pub name: String,
    pub priority: i32,
    pub enabled: bool,
    pub conditions: String,
    pub lead: String,
    pub co: String,
}

pub struct VersionRow {
    pub version: i64,
    pub ids: String,
    pub json: String,
}

pub struct TraceRow {
    pub rule: String,
    pub outcome: String,
    pub chosen: bool,
    pub detail: String,
}

pub struct DecisionView {
    pub region: String,
    pub version: i64,
    pub rule: String,
    /// Empty when no rule routes the case (it goes to the triage queue).
    pub lead: String,
    pub co: String,
    pub trace: Vec<TraceRow>,
}

#[derive(Deserialize, Default)]
pub struct RoutingQuery {
    saved: Option<i64>,
    /// A version to load into the editor.
    from: Option<i64>,
    /// Set by the "test this rule" form.
    test: Option<String>,
    #[serde(default)]
    category: String,
    #[serde(default)]
    region: String,
    #[serde(default)]
    address: String,
    #[serde(default)]
    channel: String,
    #[serde(default)]
    urgency: String,
    #[serde(default)]
    description: String,
}

#[derive(Deserialize, Default)]
pub struct RulesForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    rules: String,
}

#[derive(Template)]
#[template(path = "admin_routing.html")]
struct RoutingPage {
    c: Chrome,
    t: Tr,
    version: i64,
    rows: Vec<RuleRow>,
    json: String,
    errors: Vec<FieldProblem>,
    saved_version: Option<i64>,
    /// The administration frame's flash (unused here: the version is shown instead).
    saved: Option<String>,
    history: Vec<VersionRow>,
    q: RoutingQuery,
    categories: Vec<Opt>,
    regions: Vec<Opt>,
    channels: Vec<Opt>,
    urgencies: Vec<Opt>,
    decision: Option<DecisionView>,
    test_errors: Vec<FieldProblem>,
}

fn unit_name(t: Tr, r: &Reference, id: &str) -> String {
    match r.units.get(id) {
        Some(u) => format!("{id} {}", t.pick(&u.name, u.name_en.as_deref())),
        None => id.to_string(),
    }
}

fn target(t: Tr, r: &Reference, x: &Target) -> String {
    match x {
        Target::Unit { unit } => unit_name(t, r, &unit.0),
        Target::Place { kind, level: Some(l) } => format!("{} ({})", t.k("unit_kind", kind.as_str()), t.k("level", l.as_str())),
        Target::Place { kind, level: None } => format!("{} ({})", t.k("unit_kind", kind.as_str()), t.s("routing.containing")),
    }
}

fn conditions(t: Tr, r: &Reference, rule: &Rule) -> String {
    let w = &rule.when;
    let mut parts = Vec::new();
    let list = |v: Vec<String>| v.join(", ");
    if !w.categories.is_empty() {
        let names =
            w.categories.iter().map(|c| r.categories.get(c).map(|x| t.pick(&x.name_zh, Some(&x.name_en)).to_string()).unwrap_or(c.clone()));
        parts.push(format!("{}: {}", t.s("field.category"), list(names.collect())));
    }
    if let Some(g) = &w.region {
        let name = r.regions.get(g.as_str()).map(|x| t.pick(&x.name, x.name_en.as_deref()).to_string()).unwrap_or_default();
        parts.push(format!("{}: {g} {name}", t.s("field.region")));
    }
    if !w.channels.is_empty() {
        parts.push(format!("{}: {}", t.s("field.channel"), list(w.channels.iter().map(|c| t.k("channel", c.as_str())).collect())));
    }
    if !w.urgency.is_empty() {
        parts.push(format!("{}: {}", t.s("field.urgency"), list(w.urgency.iter().map(|c| t.k("urgency", c.as_str())).collect())));
    }
    if !w.tiers.is_empty() {
        parts.push(format!("{}: {}", t.s("routing.tiers"), list(w.tiers.iter().map(|c| t.k("tier", c.as_str())).collect())));
    }
    if !w.keywords.is_empty() {
        parts.push(format!("{}: {}", t.s("routing.keywords"), w.keywords.join(", ")));
    }
    if parts.is_empty() { t.s("routing.any").to_string() } else { parts.join("; ") }
}

/// The lead in the order it is tried: the place first for events, the owner first for
/// facilities.
fn lead(t: Tr, r: &Reference, rule: &Rule) -> String {
    let place = rule.place.as_ref().map(|x| format!("{}: {}", t.s("routing.place"), target(t, r, x)));
    let owner = rule.owner.as_ref().map(|x| format!("{}: {}", t.s("routing.owner"), target(t, r, x)));
    let order = match rule.subject {
        Subject::Event => [place, owner],
        Subject::Facility => [owner, place],
    };
    order.into_iter().flatten().collect::<Vec<_>>().join(" → ")
}

/// The editor's text for a rule set: the rules only (the store gives the version).
fn editor_json(rules: &RuleSet) -> String {
    serde_json::to_string_pretty(&serde_json::json!({ "rules": rules.rules })).unwrap_or_default()
}

async fn routing_page(
    st: &AppState,
    staff: &PageStaff,
    t: Tr,
    q: RoutingQuery,
    json: Option<String>,
    errors: Vec<FieldProblem>,
) -> Result<RoutingPage, PageError> {
    let r = st.svc.reference();
    let rules = &r.rules;
    let rows = rules
        .rules
        .iter()
        .map(|x| RuleRow {
            id: x.id.clone(),
            name: x.name.clone(),
            priority: x.priority,
            enabled: x.enabled,
            conditions: conditions(t, &r, x),
            lead: lead(t, &r, x),
            co: x.co.iter().map(|c| target(t, &r, c)).collect::<Vec<_>>().join(", "),
        })
        .collect();
    let mut history = Vec::new();
    for v in (1..=rules.version).rev().take(HISTORY as usize) {
        if let Some(set) = st.svc.store.rules(Some(v)).await? {
            history.push(VersionRow {
                version: v,
                ids: set.rules.iter().map(|x| x.id.as_str()).collect::<Vec<_>>().join(", "),
                json: editor_json(&set),
            });
        }
    }
    let json = match (json, q.from) {
        (Some(j), _) => j,
        (None, Some(v)) => st.svc.store.rules(Some(v)).await?.map(|s| editor_json(&s)).unwrap_or_else(|| editor_json(rules)),
        (None, None) => editor_json(rules),
    };
    let (decision, test_errors) = if q.test.is_some() { try_rules(st, staff, t, &q) } else { (None, Vec::new()) };
    let ch = if q.channel.is_empty() { "phone" } else { q.channel.as_str() };
    let urg = if q.urgency.is_empty() { "routine" } else { q.urgency.as_str() };
    Ok(RoutingPage {
        c: Chrome::staff("/admin/routing", staff),
        t,
        version: rules.version,
        rows,
        json,
        errors,
        saved_version: q.saved,
        saved: None,
        history,
        categories: super::staff::categories(st, t, &q.category),
        regions: region_options(st, t, &q.region),
        channels: fengqiao_domain::Channel::ALL
            .iter()
            .map(|c| Opt { value: c.as_str().into(), label: t.k("channel", c.as_str()), selected: c.as_str() == ch })
            .collect(),
        urgencies: fengqiao_domain::Urgency::ALL
            .iter()
            .map(|u| Opt { value: u.as_str().into(), label: t.k("urgency", u.as_str()), selected: u.as_str() == urg })
            .collect(),
        decision,
        test_errors,
        q,
    })
}

fn problems(t: Tr, list: Vec<fengqiao_domain::error::FieldError>) -> Vec<FieldProblem> {
    list.into_iter()
        .map(|f| {
            let key = format!("field.{}", f.field);
            FieldProblem {
                label: if t.has(&key) { t.s(&key).into() } else { f.field.clone() },
                field: f.field,
                message: t.domain(&f.message),
            }
        })
        .collect()
}

/// Routes the described case by the rules in force; nothing is written.
fn try_rules(st: &AppState, staff: &PageStaff, t: Tr, q: &RoutingQuery) -> (Option<DecisionView>, Vec<FieldProblem>) {
    let some = |s: &str| Some(s.trim().to_string()).filter(|s| !s.is_empty());
    let draft = fengqiao_domain::case::CaseDraft {
        category: q.category.trim().to_string(),
        channel: some(&q.channel),
        description: q.description.clone(),
        urgency: some(&q.urgency),
        region: some(&q.region),
        address: some(&q.address),
        anonymous: true,
        ..Default::default()
    };
    match st.svc.route_draft(&staff.actor, draft) {
        Ok((region, d)) => {
            let r = st.svc.reference();
            let view = DecisionView {
                region: r
                    .regions
                    .get(region.as_str())
                    .map(|g| format!("{region} {}", t.pick(&g.name, g.name_en.as_deref())))
                    .unwrap_or(region.to_string()),
                version: d.version,
                rule: d.rule.unwrap_or_default(),
                lead: d.lead.map(|u| unit_name(t, &r, &u.0)).unwrap_or_default(),
                co: d.co_units.iter().map(|u| unit_name(t, &r, &u.0)).collect::<Vec<_>>().join(", "),
                trace: d
                    .trace
                    .into_iter()
                    .map(|s| TraceRow {
                        outcome: t
                            .s(match s.outcome {
                                StepOutcome::Disabled => "routing.outcome.disabled",
                                StepOutcome::NotMatched => "routing.outcome.not_matched",
                                StepOutcome::NoUnit => "routing.outcome.no_unit",
                                StepOutcome::Chosen => "routing.outcome.chosen",
                            })
                            .into(),
                        chosen: s.outcome == StepOutcome::Chosen,
                        rule: s.rule,
                        detail: s.detail,
                    })
                    .collect(),
            };
            (Some(view), Vec::new())
        }
        Err(StoreError::Domain(DomainError::Invalid(list))) => (None, problems(t, list)),
        Err(e) => {
            let e = PageError::from(e);
            (
                None,
                vec![FieldProblem {
                    field: "test".into(),
                    label: t.s("routing.test").into(),
                    message: e.detail.unwrap_or_else(|| t.s(e.key).into()),
                }],
            )
        }
    }
}

pub async fn page(State(st): State<AppState>, staff: PageStaff, t: Tr, Query(q): Query<RoutingQuery>) -> Result<Response, PageError> {
    admin_only(&staff)?;
    Ok(render(&routing_page(&st, &staff, t, q, None, Vec::new()).await?))
}

/// Saves the editor's JSON as the next version of the rules.
pub async fn save(State(st): State<AppState>, staff: PageStaff, t: Tr, PageForm(f): PageForm<RulesForm>) -> Result<Response, PageError> {
    admin_only(&staff)?;
    staff.check_csrf(&f.csrf)?;
    let refuse = async |errs: Vec<FieldProblem>| -> Result<Response, PageError> {
        let page = routing_page(&st, &staff, t, RoutingQuery::default(), Some(f.rules.clone()), errs).await?;
        Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)).into_response())
    };
    let rules: RuleSet = match serde_json::from_str(&f.rules) {
        Ok(r) => r,
        Err(e) => {
            let msg = format!("{} {e}", t.s("routing.bad_json"));
            return refuse(vec![FieldProblem { field: "rules".into(), label: t.s("field.rules").into(), message: msg }]).await;
        }
    };
    match st.svc.save_rules(&staff.actor, &rules).await {
        Ok(v) => Ok(Redirect::to(&format!("/admin/routing?saved={v}")).into_response()),
        Err(StoreError::Domain(DomainError::Invalid(list))) => refuse(problems(t, list)).await,
        Err(e) => Err(e.into()),
    }
}

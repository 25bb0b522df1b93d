//! Staff pages of mediation: the list with the figures (`/mediations`), one mediation's panel
//! with a form for each step (`/mediations/{id}`), and the printable agreement
//! (`/mediations/{id}/agreement`, Chinese or English by `?lang=`, print CSS in
//! `/assets/mediation.css`). Reads go through `Scope::for_actor`; forms carry the CSRF token;
//! people are masked by role as on the case page.

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use fengqiao_domain::mediation::{
    AgreementForm, FiguresBy, Mediation, MediationFigures, MediationKind, MediationStatus, MemberRole, Place, SessionOutcome, Source,
};
use fengqiao_domain::{CaseId, PartyRole, Timestamp};
use fengqiao_store::{MediationFilter, Scope};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::pages::{Chrome, PageError, PageStaff, Tr, local_time, render};

const CSS: &str = include_str!("../../assets/mediation.css");

/// The page routes (merged under the pages' layer: language, security headers, error pages).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/mediations", get(list).post(open))
        .route("/mediations/{id}", get(panel))
        .route("/mediations/{id}/act/{action}", post(act))
        .route("/mediations/{id}/agreement", get(agreement))
}

/// The print stylesheet, served beside the pages' own.
pub fn asset_routes() -> Router<AppState> {
    Router::new().route(
        "/assets/mediation.css",
        get(|| async {
            (
                [
                    (header::CONTENT_TYPE, "text/css; charset=utf-8"),
                    (header::CACHE_CONTROL, "public, max-age=3600"),
                    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
                ],
                CSS,
            )
                .into_response()
        }),
    )
}

pub struct Opt {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

fn opts<T: Copy>(all: &[T], code: impl Fn(T) -> &'static str, t: Tr, group: &str, selected: Option<&str>) -> Vec<Opt> {
    all.iter()
        .map(|v| {
            let c = code(*v);
            Opt { value: c.to_string(), label: t.k(group, c), selected: Some(c) == selected }
        })
        .collect()
}

pub struct Row {
    pub id: i64,
    pub case_id: i64,
    pub category: String,
    pub kind: String,
    pub source: String,
    pub status: String,
    pub status_code: &'static str,
    pub opened: String,
    pub amount: String,
}

pub struct FigRow {
    pub key: String,
    pub opened: i64,
    pub agreed: i64,
    pub agreement_rate: String,
    pub fulfilment_rate: String,
    pub breached: i64,
    pub amount: String,
    pub median_hours: String,
    pub prevented_criminal: i64,
    pub prevented_group_petition: i64,
    pub confirmed: i64,
}

fn pct(r: Option<f64>) -> String {
    r.map(|x| format!("{:.1}%", x * 100.0)).unwrap_or_else(|| "—".into())
}

fn yuan(fen: i64) -> String {
    format!("{}.{:02}", fen / 100, (fen % 100).abs())
}

fn fig_row(key: String, f: &MediationFigures) -> FigRow {
    FigRow {
        key,
        opened: f.opened,
        agreed: f.agreed,
        agreement_rate: pct(f.agreement_rate),
        fulfilment_rate: pct(f.fulfilment_rate),
        breached: f.breached,
        amount: yuan(f.amount_fen),
        median_hours: f.median_hours_to_agreement.map(|h| format!("{h:.1}")).unwrap_or_else(|| "—".into()),
        prevented_criminal: f.prevented_criminal,
        prevented_group_petition: f.prevented_group_petition,
        confirmed: f.judicially_confirmed,
    }
}

pub struct BookingRow {
    pub what: String,
    pub when: String,
    pub mediation: i64,
    pub session: u32,
}

#[derive(Template)]
#[template(path = "mediation_list.html")]
struct ListPage {
    bookings: Vec<BookingRow>,
    case: String,
    c: Chrome,
    t: Tr,
    rows: Vec<Row>,
    total: FigRow,
    groups: Vec<FigRow>,
    by: Vec<Opt>,
    kinds: Vec<Opt>,
    sources: Vec<Opt>,
    flash: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct ListQuery {
    by: Option<String>,
    error: Option<String>,
    /// Only this case's mediations, and the opening form filled with it.
    case: Option<i64>,
}

fn row(m: &Mediation, t: Tr, st: &AppState) -> Row {
    Row {
        id: m.id,
        case_id: m.case_id.0,
        category: category_name(st, t, &m.category),
        kind: t.k("mediation_kind", m.kind.as_str()),
        source: t.k("mediation_source", m.source.as_str()),
        status: t.k("mediation_status", m.status.as_str()),
        status_code: m.status.as_str(),
        opened: local_time(m.opened_at, &st.tz),
        amount: m.amount_fen.map(yuan).unwrap_or_default(),
    }
}

fn category_name(st: &AppState, t: Tr, code: &str) -> String {
    st.svc
        .reference()
        .categories
        .get(code)
        .map(|c| t.pick(&c.name_zh, Some(c.name_en.as_str())).to_string())
        .unwrap_or_else(|| code.to_string())
}

async fn list(State(st): State<AppState>, staff: PageStaff, t: Tr, Query(q): Query<ListQuery>) -> Result<Response, PageError> {
    list_page(&st, &staff, t, q).await
}

async fn list_page(st: &AppState, staff: &PageStaff, t: Tr, q: ListQuery) -> Result<Response, PageError> {
    let by = q.by.as_deref().and_then(FiguresBy::parse).unwrap_or(FiguresBy::Unit);
    let now = st.svc.now();
    let from = now.plus_ms(-365 * fengqiao_domain::clock::DAY_MS);
    let (total, groups) = super::compute_figures(st, &staff.actor, from, now.plus_ms(1), by, MediationFilter::default())
        .await
        .map_err(|e| PageError { status: e.status, key: "error.invalid", detail: Some(e.message) })?;
    let ms = st
        .svc
        .store
        .mediations(&Scope::for_actor(&staff.actor), &MediationFilter { case_id: q.case, limit: 200, ..Default::default() })
        .await?;
    // The room calendar: what is booked in the next two weeks.
    let booked =
        st.svc.store.mediation_bookings(&Scope::for_actor(&staff.actor), now, now.plus_ms(14 * fengqiao_domain::clock::DAY_MS)).await?;
    let bookings = booked
        .iter()
        .map(|b| {
            let (kind, name) = b.resource.split_once(':').unwrap_or(("", &b.resource));
            let what = match kind {
                "room" => format!("{} {}", t.s("mediation.room"), name.split_once('/').map(|(_, r)| r).unwrap_or(name)),
                _ => format!("{} {}", t.s("mediation.mediator"), name.trim_start_matches("user:")),
            };
            BookingRow {
                what,
                when: format!("{} – {}", local_time(b.start, &st.tz), local_time(b.end, &st.tz)),
                mediation: b.mediation_id,
                session: b.session,
            }
        })
        .collect();
    let page = ListPage {
        bookings,
        case: q.case.map(|c| c.to_string()).unwrap_or_default(),
        c: Chrome::staff("/mediations", staff),
        t,
        rows: ms.iter().map(|m| row(m, t, st)).collect(),
        total: fig_row(t.s("mediation.all").to_string(), &total),
        groups: groups.iter().map(|(k, f)| fig_row(k.clone(), f)).collect(),
        by: opts(FiguresBy::ALL, FiguresBy::as_str, t, "figures_by", Some(by.as_str())),
        kinds: opts(MediationKind::ALL, MediationKind::as_str, t, "mediation_kind", None),
        sources: opts(Source::ALL, Source::as_str, t, "mediation_source", None),
        flash: q.error,
    };
    Ok(render(&page))
}

/// A form's fields in order, repeated names kept.
fn form_pairs(body: &[u8]) -> Result<Vec<(String, String)>, PageError> {
    serde_urlencoded::from_bytes(body).map_err(|e| PageError {
        status: StatusCode::BAD_REQUEST,
        key: "error.bad_form",
        detail: Some(e.to_string()),
    })
}

fn field<'a>(f: &'a [(String, String)], k: &str) -> Option<&'a str> {
    f.iter().find(|(n, _)| n == k).map(|(_, v)| v.trim()).filter(|v| !v.is_empty())
}

fn all<'a>(f: &'a [(String, String)], k: &str) -> Vec<&'a str> {
    f.iter().filter(|(n, _)| n == k).map(|(_, v)| v.trim()).collect()
}

/// A failed form: the page again with the problem said in the reader's language.
fn said(t: Tr, e: crate::ApiError) -> String {
    if e.details.is_empty() {
        format!("{}: {}", t.s(&format!("error.{}", e.code)), t.domain(&e.message))
    } else {
        format!(
            "{}: {}",
            t.s(&format!("error.{}", e.code)),
            e.details.iter().map(|d| format!("{}: {}", d.field, t.domain(&d.message))).collect::<Vec<_>>().join("; ")
        )
    }
}

async fn open(State(st): State<AppState>, staff: PageStaff, t: Tr, body: axum::body::Bytes) -> Result<Response, PageError> {
    let f = form_pairs(&body)?;
    staff.check_csrf(field(&f, "csrf").unwrap_or_default())?;
    let outcome = async {
        let case: i64 = field(&f, "case_id")
            .and_then(|c| c.trim_start_matches('#').parse().ok())
            .ok_or_else(|| crate::ApiError::invalid("case_id", "a case number"))?;
        let amount = match field(&f, "amount") {
            Some(a) => Some(a.parse::<f64>().map_err(|_| crate::ApiError::invalid("amount", "a number of yuan"))?),
            None => None,
        };
        let input = super::parse_open(field(&f, "kind").unwrap_or_default(), field(&f, "source").unwrap_or_default(), amount)?;
        st.svc.open_mediation(&staff.actor, CaseId(case), &input).await.map_err(crate::ApiError::from)
    }
    .await;
    match outcome {
        Ok(m) => Ok(Redirect::to(&format!("/mediations/{}", m.id)).into_response()),
        Err(e) if e.status.is_server_error() => Err(PageError { status: e.status, key: "error.unavailable", detail: None }),
        // A refusal of who asks (not theirs to open, or a case they may not see) keeps its
        // status, on the list page with the message: a redirect would read as success.
        Err(e) if matches!(e.status, StatusCode::FORBIDDEN | StatusCode::NOT_FOUND) => {
            let status = e.status;
            let mut r = list_page(&st, &staff, t, ListQuery { error: Some(said(t, e)), ..Default::default() }).await?;
            *r.status_mut() = status;
            Ok(r)
        }
        Err(e) => Ok(Redirect::to(&format!("/mediations?error={}", crate::pages::urlencode(&said(t, e)))).into_response()),
    }
}

pub struct PartyRow {
    pub id: i64,
    pub role: String,
    pub name: String,
    pub consent: String,
    pub consent_code: &'static str,
    pub principal: bool,
}

pub struct MemberRow {
    pub name: String,
    pub role: String,
    pub lead: bool,
    pub conflicts: String,
    pub override_reason: String,
}

pub struct SessionRow {
    pub no: u32,
    pub when: String,
    pub place: String,
    pub mediators: String,
    pub present: String,
    pub minutes: String,
    pub outcome: String,
    pub cancelled: String,
    pub open: bool,
}

pub struct TermRow {
    pub index: usize,
    pub no: usize,
    pub text: String,
    pub how: String,
    pub due: String,
    pub status: String,
    pub status_code: &'static str,
}

pub struct VersionRow {
    pub version: u32,
    pub form: String,
    pub state: String,
    pub signed: String,
}

#[derive(Template)]
#[template(path = "mediation.html")]
struct PanelPage {
    c: Chrome,
    t: Tr,
    id: i64,
    case_id: i64,
    version: i64,
    status: String,
    status_code: &'static str,
    facts: Vec<(String, String)>,
    parties: Vec<PartyRow>,
    team: Vec<MemberRow>,
    sessions: Vec<SessionRow>,
    versions: Vec<VersionRow>,
    terms: Vec<TermRow>,
    confirmation: Vec<(String, String)>,
    /// Forms to show, by action name.
    can: Vec<Act>,
    signers: Vec<Opt>,
    roles: Vec<Opt>,
    outcomes: Vec<Opt>,
    tiers: Vec<Opt>,
    units: Vec<Opt>,
    draft: Option<fengqiao_domain::mediation::AgreementContent>,
    /// The case's return visits, each party rating separately (the case's own records).
    visits: Vec<(String, String, String)>,
    case_status: String,
    flash: Option<String>,
    ok: bool,
}

pub struct Act {
    pub name: &'static str,
}

#[derive(Deserialize, Default)]
pub struct PanelQuery {
    done: Option<String>,
}

async fn load(st: &AppState, staff: &PageStaff, id: &str) -> Result<Mediation, PageError> {
    let id: i64 = id.parse().map_err(|_| PageError::not_found())?;
    st.svc.store.mediation(&Scope::for_actor(&staff.actor), id).await?.ok_or_else(PageError::not_found)
}

/// Party names as the reader may see them (masked for roles without personal data).
async fn names(
    st: &AppState,
    staff: &PageStaff,
    m: &Mediation,
) -> Result<std::collections::HashMap<i64, crate::api::PersonView>, PageError> {
    let ids: Vec<i64> = m.parties.iter().map(|p| p.person_id).collect();
    let unmasked = staff.actor.role().is_some_and(|r| r.sees_personal_data());
    Ok(st.svc.store.persons(&ids).await?.into_iter().map(|p| (p.id, crate::api::person_view(p, unmasked))).collect())
}

async fn panel_page(
    st: &AppState,
    staff: &PageStaff,
    t: Tr,
    m: Mediation,
    flash: Option<String>,
    ok: bool,
) -> Result<PanelPage, PageError> {
    use MediationStatus as S;
    let tz = &st.tz;
    let people = names(st, staff, &m).await?;
    let name = |id: i64| people.get(&id).and_then(|p| p.name.clone()).unwrap_or_else(|| format!("#{id}"));
    let principals = m.principals();
    let current = m.current_agreement();
    let mut can = Vec::new();
    if matches!(m.status, S::Consenting | S::Mediating) {
        can.extend(["consent", "assign"]);
    }
    if m.status == S::Mediating {
        can.extend(["schedule", "record_oral"]);
        if m.sessions.iter().any(|s| s.outcome.is_none() && s.cancelled.is_none()) {
            can.extend(["record_session", "cancel_session"]);
        }
        match current {
            Some(a) if a.is_frozen() => can.extend(["revise", "sign"]),
            Some(_) => can.extend(["draft", "sign"]),
            None => can.push("draft"),
        }
    }
    if matches!(m.status, S::Agreed | S::Fulfilled) && m.confirmation.applied.is_none() {
        can.push("apply_confirmation");
    }
    if m.confirmation.applied.is_some() && m.confirmation.decision.is_none() {
        can.push("decide_confirmation");
    }
    if m.status == S::Agreed {
        can.push("fulfil");
    }
    can.push("judge");
    let mut facts = vec![
        (t.s("mediation.case").to_string(), format!("#{}", m.case_id.0)),
        (t.s("mediation.category").to_string(), category_name(st, t, &m.category)),
        (t.s("mediation.kind").to_string(), t.k("mediation_kind", m.kind.as_str())),
        (t.s("mediation.source").to_string(), t.k("mediation_source", m.source.as_str())),
        (t.s("mediation.amount").to_string(), m.amount_fen.map(yuan).unwrap_or_else(|| "—".into())),
        (t.s("mediation.opened").to_string(), local_time(m.opened_at, tz)),
    ];
    if let Some(d) = m.first_session_due {
        facts.push((t.s("mediation.first_due").to_string(), local_time(d, tz)));
    }
    if let Some(d) = m.second_session_due {
        facts.push((t.s("mediation.second_due").to_string(), local_time(d, tz)));
    }
    if let Some(n) = &m.outcome_note {
        facts.push((t.s("mediation.outcome").to_string(), n.clone()));
    }
    facts.push((
        t.s("mediation.judgements").to_string(),
        format!(
            "{} {} · {} {}",
            t.s("mediation.prevented_criminal"),
            if m.prevented_criminal { "✓" } else { "—" },
            t.s("mediation.prevented_group_petition"),
            if m.prevented_group_petition { "✓" } else { "—" }
        ),
    ));
    let member_name = |id: &str| m.team.iter().find(|x| x.id == id).map(|x| x.name.clone()).unwrap_or_else(|| id.to_string());
    let sessions = m
        .sessions
        .iter()
        .map(|s| SessionRow {
            no: s.no,
            when: format!("{} – {}", local_time(s.start, tz), local_time(s.end, tz)),
            place: match &s.place {
                Place::Room(r) => format!("{} {r}", t.s("mediation.room")),
                Place::Online(o) => format!("{} {o}", t.s("mediation.online")),
            },
            mediators: s.mediators.iter().map(|x| member_name(x)).collect::<Vec<_>>().join("、"),
            present: s.present.iter().map(|p| name(*p)).collect::<Vec<_>>().join("、"),
            minutes: s.minutes.clone().unwrap_or_default(),
            outcome: s.outcome.map(|o| t.k("session_outcome", o.as_str())).unwrap_or_default(),
            cancelled: s.cancelled.clone().unwrap_or_default(),
            open: s.outcome.is_none() && s.cancelled.is_none(),
        })
        .collect();
    let versions = m
        .agreements
        .iter()
        .map(|a| VersionRow {
            version: a.version,
            form: t.k("agreement_form", a.form.as_str()),
            state: if a.effective_at.is_some() {
                t.s("mediation.effective").to_string()
            } else if a.superseded {
                t.s("mediation.superseded").to_string()
            } else if a.is_frozen() {
                t.s("mediation.signing").to_string()
            } else {
                t.s("mediation.draft").to_string()
            },
            signed: {
                let mut v: Vec<String> = a.party_signatures.iter().map(|(p, _)| name(*p)).collect();
                if a.mediator_signed.is_some() {
                    v.push(t.s("mediation.mediator").to_string());
                }
                if a.sealed.is_some() {
                    v.push(t.s("mediation.seal").to_string());
                }
                v.join("、")
            },
        })
        .collect();
    let terms = m
        .effective_agreement()
        .map(|a| {
            a.terms
                .iter()
                .enumerate()
                .map(|(i, x)| {
                    let late = x.status == fengqiao_domain::mediation::TermStatus::Pending && x.due < st.svc.now();
                    TermRow {
                        index: i,
                        no: i + 1,
                        text: x.text.clone(),
                        how: x.how.clone(),
                        due: local_time(x.due, tz),
                        status: if late { t.s("mediation.term_overdue").to_string() } else { t.k("term_status", x.status.as_str()) },
                        status_code: x.status.as_str(),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    let mut confirmation = Vec::new();
    if let Some(d) = &m.confirmation.last_day {
        confirmation.push((t.s("mediation.confirm_last_day").to_string(), d.clone()));
    }
    if let Some(a) = &m.confirmation.applied {
        confirmation.push((t.s("mediation.confirm_applied").to_string(), format!("{} · {}", a.court, local_time(a.at, tz))));
    }
    if let Some(d) = &m.confirmation.decision {
        confirmation.push((
            t.s("mediation.confirm_decision").to_string(),
            format!("{} · {}", if d.confirmed { t.s("mediation.confirmed") } else { t.s("mediation.not_confirmed") }, local_time(d.at, tz)),
        ));
    }
    let mut signers: Vec<Opt> = Vec::new();
    if let Some(a) = current.filter(|a| a.form == AgreementForm::Written && a.effective_at.is_none()) {
        for p in &a.signers {
            if !a.party_signatures.iter().any(|(q, _)| q == p) {
                signers.push(Opt { value: format!("party:{p}"), label: name(*p), selected: false });
            }
        }
        if a.mediator_signed.is_none() {
            signers.push(Opt { value: "mediator".into(), label: t.s("mediation.mediator").to_string(), selected: false });
        }
        if a.sealed.is_none() {
            signers.push(Opt { value: "seal".into(), label: t.s("mediation.seal").to_string(), selected: false });
        }
    }
    let case = st.svc.store.case(&Scope::for_actor(&staff.actor), m.case_id).await?;
    let visits = case
        .as_ref()
        .map(|c| {
            c.visits
                .iter()
                .map(|v| {
                    let who = v.party.map(name).unwrap_or_default();
                    let rating = match (v.reached, v.rating) {
                        (_, Some(r)) => t.k("rating", r.as_str()),
                        (true, None) => "—".to_string(),
                        (false, None) => t.s("mediation.unreached").to_string(),
                    };
                    (local_time(v.at, tz), who, rating)
                })
                .collect()
        })
        .unwrap_or_default();
    let case_status = case.as_ref().map(|c| t.k("status", c.status.as_str())).unwrap_or_default();
    let r = st.svc.reference();
    let mut units: Vec<Opt> = r
        .units
        .values()
        .map(|u| Opt { value: u.id.0.clone(), label: t.pick(&u.name, u.name_en.as_deref()).to_string(), selected: false })
        .collect();
    units.sort_by(|a, b| a.value.cmp(&b.value));
    Ok(PanelPage {
        c: Chrome::staff(&format!("/mediations/{}", m.id), staff),
        t,
        id: m.id,
        case_id: m.case_id.0,
        version: m.version,
        status: t.k("mediation_status", m.status.as_str()),
        status_code: m.status.as_str(),
        facts,
        parties: m
            .parties
            .iter()
            .map(|p| PartyRow {
                id: p.person_id,
                role: t.k("party", p.role.as_str()),
                name: name(p.person_id),
                consent: t.k("consent", p.consent.as_str()),
                consent_code: p.consent.as_str(),
                principal: principals.contains(&p.person_id),
            })
            .collect(),
        team: m
            .team
            .iter()
            .map(|x| MemberRow {
                name: x.name.clone(),
                role: t.k("member_role", x.role.as_str()),
                lead: x.lead,
                conflicts: x.conflicts.join("; "),
                override_reason: x.override_reason.clone().unwrap_or_default(),
            })
            .collect(),
        sessions,
        versions,
        terms,
        confirmation,
        can: can.into_iter().map(|name| Act { name }).collect(),
        signers,
        roles: opts(MemberRole::ALL, MemberRole::as_str, t, "member_role", None),
        outcomes: opts(SessionOutcome::ALL, SessionOutcome::as_str, t, "session_outcome", None),
        tiers: opts(fengqiao_domain::Tier::ALL, fengqiao_domain::Tier::as_str, t, "tier", None),
        units,
        draft: current.filter(|a| !a.is_frozen() || a.effective_at.is_none()).map(|a| a.content.clone()),
        visits,
        case_status,
        flash,
        ok,
    })
}

async fn panel(
    State(st): State<AppState>,
    staff: PageStaff,
    t: Tr,
    Path(id): Path<String>,
    Query(q): Query<PanelQuery>,
) -> Result<Response, PageError> {
    let m = load(&st, &staff, &id).await?;
    let flash = q
        .done
        .as_deref()
        .filter(|d| fengqiao_domain::mediation::MediationCommand::NAMES.contains(d))
        .map(|d| format!("{} ✓", t.k("mediation_action", d)));
    Ok(render(&panel_page(&st, &staff, t, m, flash, true).await?))
}

/// The JSON body of an action from its form.
fn action_body(action: &str, f: &[(String, String)]) -> Value {
    let s = |k: &str| field(f, k).map(|v| json!(v)).unwrap_or(Value::Null);
    let n = |k: &str| field(f, k).and_then(|v| v.parse::<i64>().ok()).map(|v| json!(v)).unwrap_or(Value::Null);
    let yes = |k: &str| matches!(field(f, k), Some("yes" | "on" | "true"));
    let content = || {
        let (texts, hows, dues) = (all(f, "term_text"), all(f, "term_how"), all(f, "term_due"));
        let terms: Vec<Value> = texts
            .iter()
            .enumerate()
            .filter(|(i, x)| !x.is_empty() || hows.get(*i).is_some_and(|h| !h.is_empty()))
            .map(|(i, x)| json!({ "text": x, "how": hows.get(i).copied().unwrap_or(""), "due": dues.get(i).copied().unwrap_or("") }))
            .collect();
        json!({ "facts": field(f, "facts").unwrap_or(""), "matters": field(f, "matters").unwrap_or(""), "responsibility": field(f, "responsibility").unwrap_or(""), "terms": terms })
    };
    let mut b = match action {
        "consent" => json!({ "party": n("party"), "agree": yes("agree"), "note": s("note") }),
        "assign" => json!({
            "user_id": s("user_id"), "name": field(f, "name").unwrap_or(""), "role": s("role"), "lead": yes("lead"), "override_reason": s("override_reason"),
            "member": { "village": s("village"), "id_number": s("id_number"), "phone": s("phone") },
        }),
        "schedule" => json!({ "start": s("start"), "end": s("end"), "room": s("room"), "online": s("online") }),
        "cancel_session" => json!({ "session": n("session"), "reason": field(f, "reason").unwrap_or("") }),
        "record_session" => json!({
            "session": n("session"), "minutes": field(f, "minutes").unwrap_or(""), "outcome": s("outcome"),
            "present": all(f, "present").iter().filter_map(|p| p.parse::<i64>().ok()).collect::<Vec<_>>(),
        }),
        "draft" | "revise" | "record_oral" => json!({ "content": content() }),
        "sign" => match field(f, "signer") {
            Some(p) if p.starts_with("party:") => json!({ "signer": { "party": p[6..].parse::<i64>().unwrap_or(0) } }),
            Some(x) => json!({ "signer": x }),
            None => json!({ "signer": null }),
        },
        "apply_confirmation" => json!({ "court": field(f, "court").unwrap_or("") }),
        "decide_confirmation" => json!({ "confirmed": yes("confirmed"), "note": s("note") }),
        "fulfil" => json!({ "term": n("term"), "fulfilled": yes("fulfilled"), "note": s("note"), "court": yes("court") }),
        "judge" => json!({ "prevented_criminal": yes("prevented_criminal"), "prevented_group_petition": yes("prevented_group_petition") }),
        _ => json!({}),
    };
    b["action"] = json!(action);
    match field(f, "then") {
        Some("transfer") => b["then"] = json!({ "to": "transfer", "unit": s("then_unit") }),
        Some("escalate") => b["then"] = json!({ "to": "escalate", "unit": s("then_unit"), "tier": s("then_tier") }),
        Some("resolve") => b["then"] = json!({ "to": "resolve" }),
        _ => {}
    }
    b
}

async fn act(
    State(st): State<AppState>,
    staff: PageStaff,
    t: Tr,
    Path((id, action)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Result<Response, PageError> {
    let f = form_pairs(&body)?;
    staff.check_csrf(field(&f, "csrf").unwrap_or_default())?;
    if !fengqiao_domain::mediation::MediationCommand::NAMES.contains(&action.as_str()) {
        return Err(PageError::not_found());
    }
    let m = load(&st, &staff, &id).await?;
    let version = field(&f, "version").and_then(|v| v.parse::<i64>().ok());
    let outcome = async {
        let (cmd, then, member) = super::parse_action(action_body(&action, &f), &st.tz)?;
        st.svc.act_mediation(&staff.actor, m.id, version, &cmd, then.as_ref(), member.as_ref()).await.map_err(crate::ApiError::from)
    }
    .await;
    match outcome {
        Ok(m) => Ok(Redirect::to(&format!("/mediations/{}?done={action}", m.id)).into_response()),
        Err(e) if e.status == StatusCode::NOT_FOUND => Err(PageError::not_found()),
        Err(e) if e.status.is_server_error() => Err(PageError { status: e.status, key: "error.unavailable", detail: None }),
        Err(e) => {
            let status = e.status;
            let message = format!("{} — {}", t.k("mediation_action", &action), said(t, e));
            let page = panel_page(&st, &staff, t, m, Some(message), false).await?;
            Ok((status, render(&page)).into_response())
        }
    }
}

// ---- the printable agreement ----

pub struct DocParty {
    pub role: String,
    pub name: String,
    pub id_number: String,
    pub address: String,
    pub phone: String,
    pub signed: String,
    /// Signs the agreement (a representative acts for a party and does not).
    pub signs: bool,
}

pub struct DocTerm {
    pub text: String,
    pub how: String,
    pub due: String,
}

#[derive(Template)]
#[template(path = "mediation_agreement.html")]
struct AgreementDoc {
    t: Tr,
    title: String,
    number: String,
    unit: String,
    version: u32,
    oral: bool,
    effective: String,
    superseded: bool,
    parties: Vec<DocParty>,
    facts: String,
    matters: String,
    responsibility: String,
    terms: Vec<DocTerm>,
    copies: usize,
    mediator: String,
    mediator_signed: String,
    sealed: String,
    confirm_last_day: String,
    other_lang: &'static str,
    other_lang_label: &'static str,
    id: i64,
}

#[derive(Deserialize, Default)]
pub struct DocQuery {
    version: Option<u32>,
}

fn local_date(t: Timestamp, tz: &jiff::tz::TimeZone) -> String {
    t.local_date(tz).map(|d| d.to_string()).unwrap_or_default()
}

async fn agreement(
    State(st): State<AppState>,
    staff: PageStaff,
    t: Tr,
    Path(id): Path<String>,
    Query(q): Query<DocQuery>,
) -> Result<Response, PageError> {
    let m = load(&st, &staff, &id).await?;
    let a = match q.version {
        Some(v) => m.agreements.iter().find(|a| a.version == v),
        None => m.current_agreement(),
    }
    .ok_or_else(PageError::not_found)?;
    let tz = &st.tz;
    let people = names(&st, &staff, &m).await?;
    let r = st.svc.reference();
    let unit =
        r.units.get(m.unit.as_str()).map(|u| t.pick(&u.name, u.name_en.as_deref()).to_string()).unwrap_or_else(|| m.unit.to_string());
    let year = m.opened_at.local_date(tz).map(|d| d.year()).unwrap_or(0);
    let parties = m
        .parties
        .iter()
        .map(|p| {
            let v = people.get(&p.person_id);
            let signed = if p.role == PartyRole::Representative {
                String::new()
            } else {
                a.party_signatures.iter().find(|(q, _)| *q == p.person_id).map(|(_, at)| local_date(*at, tz)).unwrap_or_default()
            };
            DocParty {
                role: t.k("party", p.role.as_str()),
                name: v.and_then(|x| x.name.clone()).unwrap_or_else(|| format!("#{}", p.person_id)),
                id_number: v.and_then(|x| x.id_number.clone()).unwrap_or_default(),
                address: v.and_then(|x| x.address.clone()).unwrap_or_default(),
                phone: v.and_then(|x| x.phone.clone()).unwrap_or_default(),
                signed,
                signs: a.signers.contains(&p.person_id),
            }
        })
        .collect::<Vec<_>>();
    let lead = m.team.iter().find(|x| x.lead).map(|x| x.name.clone()).unwrap_or_default();
    let doc = AgreementDoc {
        t,
        title: if a.form == AgreementForm::Oral {
            t.s("agreement.title_oral").to_string()
        } else if m.kind == MediationKind::Police {
            t.s("agreement.title_police").to_string()
        } else {
            t.s("agreement.title").to_string()
        },
        number: t.s("agreement.number").replace("{year}", &year.to_string()).replace("{n}", &m.id.to_string()),
        unit,
        version: a.version,
        oral: a.form == AgreementForm::Oral,
        effective: a.effective_at.map(|e| local_date(e, tz)).unwrap_or_default(),
        superseded: a.superseded,
        copies: a.signers.len() + 1,
        parties,
        facts: a.content.facts.clone(),
        matters: a.content.matters.clone(),
        responsibility: a.content.responsibility.clone(),
        terms: a.content.terms.iter().map(|x| DocTerm { text: x.text.clone(), how: x.how.clone(), due: local_date(x.due, tz) }).collect(),
        mediator: a.mediator_signed.as_ref().map(|_| lead.clone()).unwrap_or_default(),
        mediator_signed: a.mediator_signed.as_ref().map(|s| local_date(s.at, tz)).unwrap_or_default(),
        sealed: a.sealed.as_ref().map(|s| local_date(s.at, tz)).unwrap_or_default(),
        confirm_last_day: if a.effective_at.is_some() { m.confirmation.last_day.clone().unwrap_or_default() } else { String::new() },
        other_lang: if t.is_en() { "zh" } else { "en" },
        other_lang_label: if t.is_en() { "中文" } else { "English" },
        id: m.id,
    };
    Ok(render(&doc))
}

/// Keys of every enumerated value these pages label, for the catalogue test.
#[cfg(test)]
fn label_keys() -> Vec<String> {
    let mut k = Vec::new();
    k.extend(MediationStatus::ALL.iter().map(|v| format!("mediation_status.{}", v.as_str())));
    k.extend(MediationKind::ALL.iter().map(|v| format!("mediation_kind.{}", v.as_str())));
    k.extend(Source::ALL.iter().map(|v| format!("mediation_source.{}", v.as_str())));
    k.extend(MemberRole::ALL.iter().map(|v| format!("member_role.{}", v.as_str())));
    k.extend(fengqiao_domain::mediation::Consent::ALL.iter().map(|v| format!("consent.{}", v.as_str())));
    k.extend(SessionOutcome::ALL.iter().map(|v| format!("session_outcome.{}", v.as_str())));
    k.extend(fengqiao_domain::mediation::TermStatus::ALL.iter().map(|v| format!("term_status.{}", v.as_str())));
    k.extend(AgreementForm::ALL.iter().map(|v| format!("agreement_form.{}", v.as_str())));
    k.extend(FiguresBy::ALL.iter().map(|v| format!("figures_by.{}", v.as_str())));
    k.extend(fengqiao_domain::mediation::MediationCommand::NAMES.iter().map(|v| format!("mediation_action.{v}")));
    k
}

#[cfg(test)]
mod tests {
    use crate::pages::{Lang, Tr};

    #[test]
    fn every_mediation_label_and_key_is_in_both_catalogues() {
        let mut keys = super::label_keys();
        for src in [
            include_str!("pages.rs"),
            include_str!("../../templates/mediation.html"),
            include_str!("../../templates/mediation_list.html"),
            include_str!("../../templates/mediation_agreement.html"),
        ] {
            for opener in ["t.s(\"", "t.n(\""] {
                for part in src.split(opener).skip(1) {
                    keys.push(part.chars().take_while(|c| *c != '"').collect());
                }
            }
        }
        for k in &keys {
            assert!(Tr(Lang::Zh).has(k) && Tr(Lang::En).has(k), "{k} is missing from a catalogue");
        }
        assert!(keys.len() > 150, "{}", keys.len());
    }
}

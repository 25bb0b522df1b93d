//! The resident portal, no sign-in: the landing page, the report form (category questions,
//! a map pin or an address, a photo checked by its content), and tracking by code.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use fengqiao_domain::category::QuestionType;
use fengqiao_domain::{Actor, Category, Channel, DomainError, EventKind, PersonInput, RegionLevel, TrackingCode};
use fengqiao_store::{NewAttachment, StoreError};
use serde::Deserialize;

use super::map::{self, MapView};
use super::{Chrome, PageError, Tr, local_time, render};
use crate::AppState;

/// The largest photo a resident may attach.
pub const MAX_PHOTO_BYTES: usize = 5 * 1024 * 1024;

#[derive(Template)]
#[template(path = "landing.html")]
struct Landing {
    c: Chrome,
    t: Tr,
}

pub async fn landing(t: Tr) -> Response {
    render(&Landing { c: Chrome::bare("/"), t })
}

/// One extra question of a category, ready for the form.
pub struct QuestionView {
    /// The form field's name: `q.CATEGORY.CODE`.
    pub name: String,
    pub id: String,
    pub label: String,
    /// `string`, `number`, `datetime`, `text`, `single` or `multi`.
    pub kind: &'static str,
    pub required: bool,
    pub value: String,
    pub choices: Vec<ChoiceView>,
}

pub struct ChoiceView {
    pub key: String,
    pub label: String,
    pub checked: bool,
}

pub struct CategoryView {
    pub code: String,
    pub name: String,
    pub emergency: bool,
    pub selected: bool,
    pub questions: Vec<QuestionView>,
}

pub struct RegionOption {
    pub code: String,
    pub name: String,
    pub selected: bool,
}

pub struct RegionGroup {
    pub name: String,
    pub options: Vec<RegionOption>,
}

/// What the resident typed, kept when the form comes back with errors.
#[derive(Default)]
pub struct ReportValues {
    pub category: String,
    pub description: String,
    pub address: String,
    pub region: String,
    pub lat: String,
    pub lon: String,
    pub name: String,
    pub phone: String,
    pub anonymous: bool,
    pub idem: String,
    /// Every submitted field, for the category questions.
    pub raw: HashMap<String, Vec<String>>,
}

pub struct FieldProblem {
    pub field: String,
    pub label: String,
    pub message: String,
}

#[derive(Template)]
#[template(path = "report.html")]
struct ReportPage {
    c: Chrome,
    t: Tr,
    requests: Vec<CategoryView>,
    disputes: Vec<CategoryView>,
    regions: Vec<RegionGroup>,
    map: Option<MapView>,
    v: ReportValues,
    errors: Vec<FieldProblem>,
    max_photo_mb: usize,
}

#[derive(Template)]
#[template(path = "report_done.html")]
struct ReportDone {
    c: Chrome,
    t: Tr,
    code: String,
    emergency: bool,
    photo: bool,
}

fn question_views(t: Tr, c: &Category, v: &ReportValues) -> Vec<QuestionView> {
    c.questions
        .iter()
        .map(|q| {
            let name = format!("q.{}.{}", c.code, q.code);
            let given = v.raw.get(&name).cloned().unwrap_or_default();
            QuestionView {
                id: format!("q-{}-{}", c.code, q.code),
                label: t.pick(&q.label_zh, Some(&q.label_en)).to_string(),
                kind: match q.datatype {
                    QuestionType::String => "string",
                    QuestionType::Number => "number",
                    QuestionType::Datetime => "datetime",
                    QuestionType::Text => "text",
                    QuestionType::SingleValueList => "single",
                    QuestionType::MultiValueList => "multi",
                },
                required: q.required,
                value: given.first().cloned().unwrap_or_default(),
                choices: q
                    .values
                    .iter()
                    .map(|ch| ChoiceView {
                        key: ch.key.clone(),
                        label: t.pick(&ch.name_zh, Some(&ch.name_en)).to_string(),
                        checked: given.contains(&ch.key),
                    })
                    .collect(),
                name,
            }
        })
        .collect()
}

/// The villages (grouped by town) a resident may pick, for the no-JavaScript way to place a
/// report.
pub fn region_groups_within(st: &AppState, t: Tr, selected: &str, within: &str) -> Vec<RegionGroup> {
    let r = st.svc.reference();
    let mut towns: Vec<_> = r.regions.values().filter(|g| g.level() == RegionLevel::Town && g.code.as_str().starts_with(within)).collect();
    towns.sort_by(|a, b| a.code.cmp(&b.code));
    towns
        .into_iter()
        .map(|town| {
            let mut vs: Vec<_> = r.regions.values().filter(|g| g.level() == RegionLevel::Village && town.code.contains(&g.code)).collect();
            vs.sort_by(|a, b| a.code.cmp(&b.code));
            let mut options = vec![RegionOption {
                code: town.code.to_string(),
                name: t.pick(&town.name, town.name_en.as_deref()).to_string(),
                selected: selected == town.code.as_str(),
            }];
            options.extend(vs.into_iter().map(|g| RegionOption {
                code: g.code.to_string(),
                name: format!("— {}", t.pick(&g.name, g.name_en.as_deref())),
                selected: selected == g.code.as_str(),
            }));
            RegionGroup { name: t.pick(&town.name, town.name_en.as_deref()).to_string(), options }
        })
        .collect()
}

/// The county with its towns and villages, for placing a pin.
pub fn county_map(st: &AppState, t: Tr, label: String) -> Option<MapView> {
    let r = st.svc.reference();
    let county = r.county.as_ref()?;
    let towns = map::children(r.regions.values(), county.code.prefix(), RegionLevel::Town);
    let frame: Vec<_> = if county.boundary.is_some() { vec![county] } else { towns.clone() };
    let mut m = MapView::new(&frame, label, st.map_tiles.as_deref())?;
    for v in map::children(r.regions.values(), county.code.prefix(), RegionLevel::Village) {
        let name = t.pick(&v.name, v.name_en.as_deref()).to_string();
        m.add_region(v, &name, "village", name.clone(), false);
    }
    for town in towns {
        let name = t.pick(&town.name, town.name_en.as_deref()).to_string();
        m.add_region(town, &name, "town", name.clone(), true);
    }
    Some(m)
}

fn report_page(st: &AppState, t: Tr, v: ReportValues, errors: Vec<FieldProblem>) -> ReportPage {
    let r = st.svc.reference();
    let mut cats: Vec<&Category> = r.categories.values().collect();
    cats.sort_by(|a, b| b.emergency.cmp(&a.emergency).then(a.code.cmp(&b.code)));
    let view = |c: &Category| CategoryView {
        code: c.code.clone(),
        name: t.pick(&c.name_zh, Some(&c.name_en)).to_string(),
        emergency: c.emergency,
        selected: v.category == c.code,
        questions: question_views(t, c, &v),
    };
    let requests = cats.iter().filter(|c| c.kind == fengqiao_domain::CategoryKind::Request).map(|c| view(c)).collect();
    let disputes = cats.iter().filter(|c| c.kind == fengqiao_domain::CategoryKind::Dispute).map(|c| view(c)).collect();
    let county = r.county.as_ref().map(|c| c.code.prefix().to_string()).unwrap_or_default();
    ReportPage {
        c: Chrome::bare("/report"),
        t,
        requests,
        disputes,
        regions: region_groups_within(st, t, &v.region, &county),
        map: county_map(st, t, t.s("report.map_label").to_string()),
        v,
        errors,
        max_photo_mb: MAX_PHOTO_BYTES / (1024 * 1024),
    }
}

#[derive(Deserialize)]
pub struct ReportQuery {
    category: Option<String>,
}

pub async fn report_form(State(st): State<AppState>, t: Tr, Query(q): Query<ReportQuery>) -> Response {
    let v = ReportValues { category: q.category.unwrap_or_default(), idem: crate::api::random_secret(), ..Default::default() };
    render(&report_page(&st, t, v, Vec::new()))
}

/// What a photo's first bytes say it is; anything else is refused whatever its name says.
pub fn sniff_image(b: &[u8]) -> Option<&'static str> {
    if b.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if b.starts_with(&[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A]) {
        Some("image/png")
    } else if b.len() >= 12 && &b[..4] == b"RIFF" && &b[8..12] == b"WEBP" {
        Some("image/webp")
    } else {
        None
    }
}

fn problem(t: Tr, field: &str, message: impl Into<String>) -> FieldProblem {
    // `answers.X` and `reporter.phone` label as their first part.
    let head = field.split('.').next().unwrap_or(field);
    let key = format!("field.{head}");
    let label = if t.has(&key) { t.s(&key).to_string() } else { field.to_string() };
    FieldProblem { field: field.to_string(), label, message: t.domain(&message.into()) }
}

fn first(raw: &HashMap<String, Vec<String>>, k: &str) -> String {
    raw.get(k).and_then(|v| v.first()).map(|s| s.trim().to_string()).unwrap_or_default()
}

/// Turns the form into a draft, or the problems with it.
fn draft_of(st: &AppState, t: Tr, v: &ReportValues) -> Result<fengqiao_domain::case::CaseDraft, Vec<FieldProblem>> {
    let mut errs = Vec::new();
    let r = st.svc.reference();
    let mut answers = serde_json::Map::new();
    if let Some(c) = r.categories.get(&v.category) {
        for q in &c.questions {
            let name = format!("q.{}.{}", c.code, q.code);
            let given: Vec<String> =
                v.raw.get(&name).cloned().unwrap_or_default().into_iter().map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect();
            if given.is_empty() {
                continue;
            }
            let value = match q.datatype {
                QuestionType::MultiValueList => serde_json::Value::Array(given.into_iter().map(serde_json::Value::String).collect()),
                QuestionType::Number => match given[0].parse::<f64>().ok().and_then(serde_json::Number::from_f64) {
                    Some(n) => serde_json::Value::Number(n),
                    None => serde_json::Value::String(given[0].clone()),
                },
                // `datetime-local` gives a local time without zone: read it in the deployment's.
                QuestionType::Datetime => match given[0].parse::<jiff::civil::DateTime>().ok().and_then(|d| d.to_zoned(st.tz.clone()).ok())
                {
                    Some(z) => serde_json::Value::String(fengqiao_domain::Timestamp(z.timestamp().as_millisecond()).to_rfc3339()),
                    None => serde_json::Value::String(given[0].clone()),
                },
                _ => serde_json::Value::String(given[0].clone()),
            };
            answers.insert(q.code.clone(), value);
        }
    }
    let coord = |s: &str, field: &str, errs: &mut Vec<FieldProblem>| -> Option<f64> {
        if s.is_empty() {
            return None;
        }
        match s.parse::<f64>() {
            Ok(x) if x.is_finite() => Some(x),
            _ => {
                errs.push(problem(t, field, t.s("report.bad_number")));
                None
            }
        }
    };
    let lat = coord(&v.lat, "location.lat", &mut errs);
    let lon = coord(&v.lon, "location.lon", &mut errs);
    let reporter = (!v.anonymous && (!v.name.is_empty() || !v.phone.is_empty())).then(|| PersonInput {
        name: Some(v.name.clone()).filter(|s| !s.is_empty()),
        phone: Some(v.phone.clone()).filter(|s| !s.is_empty()),
        ..Default::default()
    });
    if !v.anonymous && reporter.is_none() {
        errs.push(problem(t, "reporter", t.s("report.contact_or_anonymous")));
    }
    if v.category.is_empty() {
        errs.push(problem(t, "category", t.s("report.choose_category")));
    }
    if !errs.is_empty() {
        return Err(errs);
    }
    Ok(fengqiao_domain::case::CaseDraft {
        category: v.category.clone(),
        description: v.description.clone(),
        region: Some(v.region.clone()).filter(|s| !s.is_empty()),
        lat,
        lon,
        address: Some(v.address.clone()).filter(|s| !s.is_empty()),
        anonymous: v.anonymous,
        reporter,
        answers,
        ..Default::default()
    })
}

pub async fn report_submit(State(st): State<AppState>, t: Tr, mut form: Multipart) -> Result<Response, PageError> {
    let mut raw: HashMap<String, Vec<String>> = HashMap::new();
    let mut photo: Option<Vec<u8>> = None;
    let mut errs = Vec::new();
    let too_large = || PageError { status: StatusCode::PAYLOAD_TOO_LARGE, key: "error.too_large", detail: None };
    while let Some(field) = form.next_field().await.map_err(|_| too_large())? {
        let name = field.name().unwrap_or_default().to_string();
        if name == "photo" {
            let bytes = field.bytes().await.map_err(|_| too_large())?;
            if !bytes.is_empty() {
                photo = Some(bytes.to_vec());
            }
        } else {
            let text = field.text().await.map_err(|_| PageError::new(StatusCode::BAD_REQUEST, "error.bad_form"))?;
            raw.entry(name).or_default().push(text);
        }
        if raw.len() > 200 {
            return Err(PageError::new(StatusCode::BAD_REQUEST, "error.bad_form"));
        }
    }
    let v = ReportValues {
        category: first(&raw, "category"),
        description: first(&raw, "description"),
        address: first(&raw, "address"),
        region: first(&raw, "region"),
        lat: first(&raw, "lat"),
        lon: first(&raw, "lon"),
        name: first(&raw, "name"),
        phone: first(&raw, "phone"),
        anonymous: !first(&raw, "anonymous").is_empty(),
        idem: Some(first(&raw, "idem")).filter(|k| !k.is_empty() && k.len() <= 100).unwrap_or_else(crate::api::random_secret),
        raw,
    };
    let photo_type = match &photo {
        None => None,
        Some(b) if b.len() > MAX_PHOTO_BYTES => {
            errs.push(problem(t, "photo", t.n("report.photo_too_large", MAX_PHOTO_BYTES / (1024 * 1024))));
            None
        }
        Some(b) => match sniff_image(b) {
            Some(ct) => Some(ct),
            None => {
                errs.push(problem(t, "photo", t.s("report.photo_type")));
                None
            }
        },
    };
    let draft = match draft_of(&st, t, &v) {
        Ok(d) if errs.is_empty() => d,
        Ok(_) => return Ok(invalid(&st, t, v, errs)),
        Err(mut e) => {
            e.append(&mut errs);
            return Ok(invalid(&st, t, v, e));
        }
    };
    // A double click or a resubmitted form makes one case: the form's key is the
    // idempotency key, and the body hash covers what was typed.
    let body_hash = crate::api::body_hash(&draft);
    let created = match st.svc.create(draft, &Actor::Resident, Channel::Web, Some((format!("form:{}", v.idem), body_hash))).await {
        Ok(c) => c,
        Err(StoreError::Domain(DomainError::Invalid(list))) => {
            let e = list.into_iter().map(|f| problem(t, &f.field, f.message)).collect();
            return Ok(invalid(&st, t, v, e));
        }
        Err(e) => return Err(e.into()),
    };
    let case = created.case;
    if let (Some(bytes), Some(ct), false) = (photo, photo_type, created.replayed) {
        let a = NewAttachment { case_id: case.id, content_type: ct.to_string(), data: bytes, at: st.svc.now(), actor: "resident".into() };
        st.svc.store.add_attachment(&a).await?;
    }
    let r = st.svc.reference();
    let emergency = r.categories.get(&case.category).is_some_and(|c| c.emergency) || case.urgency == fengqiao_domain::Urgency::Emergency;
    let page =
        ReportDone { c: Chrome::bare("/report"), t, code: case.tracking_code.as_str().to_string(), emergency, photo: photo_type.is_some() };
    Ok((StatusCode::CREATED, render(&page)).into_response())
}

fn invalid(st: &AppState, t: Tr, v: ReportValues, errors: Vec<FieldProblem>) -> Response {
    (StatusCode::UNPROCESSABLE_ENTITY, render(&report_page(st, t, v, errors))).into_response()
}

#[derive(Deserialize)]
pub struct TrackQuery {
    code: Option<String>,
}

#[derive(Template)]
#[template(path = "track.html")]
struct TrackForm {
    c: Chrome,
    t: Tr,
    code: String,
    not_found: bool,
}

/// `/track` shows the form; `/track?code=X` goes to `/track/X`.
pub async fn track_lookup(t: Tr, Query(q): Query<TrackQuery>) -> Response {
    match q.code.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(code) => match TrackingCode::parse(code) {
            Some(c) => Redirect::to(&format!("/track/{}", c.as_str())).into_response(),
            None => (StatusCode::NOT_FOUND, render(&TrackForm { c: Chrome::bare("/track"), t, code: code.to_string(), not_found: true }))
                .into_response(),
        },
        None => render(&TrackForm { c: Chrome::bare("/track"), t, code: String::new(), not_found: false }),
    }
}

pub struct PublicEvent {
    pub at: String,
    pub kind: String,
}

#[derive(Template)]
#[template(path = "track_case.html")]
struct TrackCase {
    c: Chrome,
    t: Tr,
    code: String,
    category: String,
    status: String,
    status_code: &'static str,
    created: String,
    unit: Option<String>,
    due: Option<String>,
    overdue: bool,
    events: Vec<PublicEvent>,
}

/// What a resident sees with their code: status, public timeline, the unit, the deadline;
/// never a person's data, never staff names, never internal notes.
pub async fn track_page(State(st): State<AppState>, t: Tr, Path(code): Path<String>) -> Result<Response, PageError> {
    let code = TrackingCode::parse(&code).ok_or_else(PageError::not_found)?;
    let c = st.svc.store.case_by_tracking(&code).await?.ok_or_else(PageError::not_found)?;
    let events = st.svc.store.case_events(&fengqiao_store::Scope::All, c.id).await?.unwrap_or_default();
    let r = st.svc.reference();
    let events = events
        .iter()
        .filter_map(|e| {
            let kind: EventKind = serde_json::from_str(&e.payload).ok()?;
            kind.is_public().then(|| PublicEvent { at: local_time(e.at, &st.tz), kind: t.k("event", kind.name()) })
        })
        .collect();
    let now = st.svc.now();
    let page = TrackCase {
        c: Chrome::bare("/track"),
        t,
        code: c.tracking_code.as_str().to_string(),
        category: r.categories.get(&c.category).map(|k| t.pick(&k.name_zh, Some(&k.name_en)).to_string()).unwrap_or(c.category.clone()),
        status: t.k("status", c.status.as_str()),
        status_code: c.status.as_str(),
        created: local_time(c.created_at, &st.tz),
        unit: c.lead_unit.as_ref().and_then(|u| r.units.get(&u.0)).map(|u| t.pick(&u.name, u.name_en.as_deref()).to_string()),
        due: c.handling_due.filter(|_| c.status.is_open()).map(|d| local_time(d, &st.tz)),
        // Overdue while being handled: a reopened case has a resolution from its last round.
        overdue: c.status.is_open()
            && !matches!(c.status, fengqiao_domain::Status::Resolved | fengqiao_domain::Status::ReturnVisit)
            && c.handling_due.is_some_and(|d| d < now),
        events,
    };
    Ok(render(&page))
}

//! Administration, for administrators only: units, staff accounts, categories with their
//! deadline policies, region names and regions imported as GeoJSON. Every change goes through the store's `put_*`, which
//! writes it to the audit chain, and then reloads the reference data the service holds.

use askama::Template;
use axum::extract::{Multipart, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use fengqiao_domain::category::DeadlinePolicy;
use fengqiao_domain::{Category, CategoryKind, DomainError, Region, RegionCode, Role, Unit, UnitId, UnitKind, User};
use fengqiao_store::{Credentials, StoreError};
use serde::Deserialize;

use super::public::FieldProblem;
use super::staff::Opt;
use super::{Chrome, PageError, PageForm, PageStaff, Tr, render};
use crate::AppState;

pub(super) fn admin_only(staff: &PageStaff) -> Result<(), PageError> {
    if staff.user.role == Role::Admin { Ok(()) } else { Err(PageError::new(StatusCode::FORBIDDEN, "error.forbidden")) }
}

fn problem(t: Tr, field: &str, message: &str) -> FieldProblem {
    let key = format!("field.{field}");
    FieldProblem { field: field.into(), label: if t.has(&key) { t.s(&key).into() } else { field.into() }, message: t.s(message).into() }
}

/// Identifiers of units and accounts: short, lower-case, safe in URLs and logs.
fn valid_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= 40 && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

fn text(s: &str, max: usize) -> Option<String> {
    let s = s.trim();
    (!s.is_empty() && s.chars().count() <= max).then(|| s.to_string())
}

pub(super) fn region_options(st: &AppState, t: Tr, selected: &str) -> Vec<Opt> {
    let r = st.svc.reference();
    let mut v: Vec<&Region> = r.regions.values().filter(|g| g.level() != fengqiao_domain::RegionLevel::Grid).collect();
    v.sort_by(|a, b| a.code.cmp(&b.code));
    v.into_iter()
        .map(|g| {
            let indent = match g.level() {
                fengqiao_domain::RegionLevel::County => "",
                fengqiao_domain::RegionLevel::Town => "— ",
                _ => "— — ",
            };
            Opt {
                value: g.code.to_string(),
                label: format!("{indent}{} {}", g.code, t.pick(&g.name, g.name_en.as_deref())),
                selected: g.code.as_str() == selected,
            }
        })
        .collect()
}

#[derive(Deserialize, Default)]
pub struct Saved {
    saved: Option<String>,
    code: Option<String>,
    /// How many regions an import saved.
    imported: Option<usize>,
}

// ---- Units ----

#[derive(Deserialize, Default)]
pub struct UnitForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    name_en: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    region: String,
    /// Category codes the unit handles, separated by commas or spaces; empty: all.
    #[serde(default)]
    handles: String,
}

pub struct UnitRow {
    pub id: String,
    pub name: String,
    pub kind: String,
    pub region: String,
    pub handles: String,
}

#[derive(Template)]
#[template(path = "admin_units.html")]
struct UnitsPage {
    c: Chrome,
    t: Tr,
    rows: Vec<UnitRow>,
    v: UnitForm,
    kinds: Vec<Opt>,
    regions: Vec<Opt>,
    errors: Vec<FieldProblem>,
    saved: Option<String>,
}

fn units_page(st: &AppState, staff: &PageStaff, t: Tr, v: UnitForm, errors: Vec<FieldProblem>, saved: Option<String>) -> UnitsPage {
    let r = st.svc.reference();
    let mut units: Vec<&Unit> = r.units.values().collect();
    units.sort_by(|a, b| a.id.cmp(&b.id));
    let rows = units
        .iter()
        .map(|u| UnitRow {
            id: u.id.0.clone(),
            name: t.pick(&u.name, u.name_en.as_deref()).into(),
            kind: t.k("unit_kind", u.kind.as_str()),
            region: r
                .regions
                .get(u.region.as_str())
                .map(|g| t.pick(&g.name, g.name_en.as_deref()).to_string())
                .unwrap_or(u.region.to_string()),
            handles: if u.handles.is_empty() {
                t.s("admin.handles_all").to_string()
            } else {
                u.handles
                    .iter()
                    .map(|c| r.categories.get(c).map(|k| t.pick(&k.name_zh, Some(&k.name_en)).to_string()).unwrap_or(c.clone()))
                    .collect::<Vec<_>>()
                    .join("、")
            },
        })
        .collect();
    UnitsPage {
        c: Chrome::staff("/admin/units", staff),
        t,
        rows,
        kinds: UnitKind::ALL
            .iter()
            .map(|k| Opt { value: k.as_str().into(), label: t.k("unit_kind", k.as_str()), selected: k.as_str() == v.kind })
            .collect(),
        regions: region_options(st, t, &v.region),
        v,
        errors,
        saved,
    }
}

pub async fn units(State(st): State<AppState>, staff: PageStaff, t: Tr, Query(q): Query<Saved>) -> Result<Response, PageError> {
    admin_only(&staff)?;
    let r = st.svc.reference();
    // `?code=ID` fills the form with that unit, to change it.
    let v = match q.code.as_deref().and_then(|c| r.units.get(c)) {
        Some(u) => UnitForm {
            id: u.id.0.clone(),
            name: u.name.clone(),
            name_en: u.name_en.clone().unwrap_or_default(),
            kind: u.kind.as_str().into(),
            region: u.region.to_string(),
            handles: u.handles.join(", "),
            ..Default::default()
        },
        None => UnitForm::default(),
    };
    Ok(render(&units_page(&st, &staff, t, v, Vec::new(), q.saved)))
}

pub async fn save_unit(
    State(st): State<AppState>,
    staff: PageStaff,
    t: Tr,
    PageForm(v): PageForm<UnitForm>,
) -> Result<Response, PageError> {
    admin_only(&staff)?;
    staff.check_csrf(&v.csrf)?;
    let mut errs = Vec::new();
    let id = v.id.trim();
    if !valid_id(id) {
        errs.push(problem(t, "id", "admin.bad_id"));
    }
    let name = text(&v.name, 100);
    if name.is_none() {
        errs.push(problem(t, "name", "admin.bad_name"));
    }
    let kind = UnitKind::parse(&v.kind);
    if kind.is_none() {
        errs.push(problem(t, "kind", "report.choose"));
    }
    let region = RegionCode::parse(&v.region).ok().filter(|c| st.svc.reference().regions.contains_key(c.as_str()));
    if region.is_none() {
        errs.push(problem(t, "region", "report.choose"));
    }
    let mut handles: Vec<String> = v
        .handles
        .split(|c: char| c == ',' || c == '，' || c == '、' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect();
    handles.sort();
    handles.dedup();
    let unknown: Vec<&str> =
        handles.iter().filter(|c| !st.svc.reference().categories.contains_key(c.as_str())).map(String::as_str).collect();
    if !unknown.is_empty() {
        errs.push(FieldProblem {
            field: "handles".into(),
            label: t.s("admin.handles").into(),
            message: format!("{} {}", t.s("admin.unknown_categories"), unknown.join(", ")),
        });
    }
    let (Some(name), Some(kind), Some(region), true) = (name, kind, region, errs.is_empty()) else {
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&units_page(&st, &staff, t, v, errs, None))).into_response());
    };
    let unit = Unit { id: UnitId(id.into()), name, name_en: text(&v.name_en, 200), kind, region, handles };
    st.svc.store.put_unit(&unit, &staff.actor.label(), st.svc.now()).await?;
    st.svc.reload().await?;
    Ok(Redirect::to(&format!("/admin/units?saved={}", super::urlencode(id))).into_response())
}

// ---- Users ----

#[derive(Deserialize, Default)]
pub struct UserForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    unit: String,
    #[serde(default)]
    jurisdiction: String,
    #[serde(default)]
    password: String,
}

pub struct UserRow {
    pub id: String,
    pub name: String,
    pub role: String,
    pub unit: String,
    pub jurisdiction: String,
}

#[derive(Template)]
#[template(path = "admin_users.html")]
struct UsersPage {
    c: Chrome,
    t: Tr,
    rows: Vec<UserRow>,
    v: UserForm,
    roles: Vec<Opt>,
    units: Vec<Opt>,
    regions: Vec<Opt>,
    errors: Vec<FieldProblem>,
    saved: Option<String>,
}

async fn users_page(
    st: &AppState,
    staff: &PageStaff,
    t: Tr,
    v: UserForm,
    errors: Vec<FieldProblem>,
    saved: Option<String>,
) -> Result<UsersPage, PageError> {
    let r = st.svc.reference();
    let mut users = st.svc.store.users().await?;
    users.sort_by(|a, b| a.id.cmp(&b.id));
    let rows = users
        .iter()
        .map(|u| UserRow {
            id: u.id.clone(),
            name: u.name.clone(),
            role: t.k("role", u.role.as_str()),
            unit: u
                .unit
                .as_ref()
                .and_then(|x| r.units.get(&x.0))
                .map(|x| t.pick(&x.name, x.name_en.as_deref()).to_string())
                .unwrap_or_default(),
            jurisdiction: r
                .regions
                .get(u.jurisdiction.as_str())
                .map(|g| t.pick(&g.name, g.name_en.as_deref()).to_string())
                .unwrap_or(u.jurisdiction.to_string()),
        })
        .collect();
    let mut units: Vec<Opt> = r
        .units
        .values()
        .map(|u| Opt {
            value: u.id.0.clone(),
            label: format!("{} {}", u.id, t.pick(&u.name, u.name_en.as_deref())),
            selected: u.id.0 == v.unit,
        })
        .collect();
    units.sort_by(|a, b| a.value.cmp(&b.value));
    Ok(UsersPage {
        c: Chrome::staff("/admin/users", staff),
        t,
        rows,
        roles: Role::ALL
            .iter()
            .map(|x| Opt { value: x.as_str().into(), label: t.k("role", x.as_str()), selected: x.as_str() == v.role })
            .collect(),
        units,
        regions: region_options(st, t, &v.jurisdiction),
        v,
        errors,
        saved,
    })
}

pub async fn users(State(st): State<AppState>, staff: PageStaff, t: Tr, Query(q): Query<Saved>) -> Result<Response, PageError> {
    admin_only(&staff)?;
    let v = match q.code.as_deref() {
        Some(id) => match st.svc.store.user_credentials(id).await? {
            Some((u, _)) => UserForm {
                id: u.id,
                name: u.name,
                role: u.role.as_str().into(),
                unit: u.unit.map(|x| x.0).unwrap_or_default(),
                jurisdiction: u.jurisdiction.to_string(),
                ..Default::default()
            },
            None => UserForm::default(),
        },
        None => UserForm::default(),
    };
    Ok(render(&users_page(&st, &staff, t, v, Vec::new(), q.saved).await?))
}

pub async fn save_user(
    State(st): State<AppState>,
    staff: PageStaff,
    t: Tr,
    PageForm(v): PageForm<UserForm>,
) -> Result<Response, PageError> {
    admin_only(&staff)?;
    staff.check_csrf(&v.csrf)?;
    let r = st.svc.reference();
    let mut errs = Vec::new();
    let id = v.id.trim();
    if !valid_id(id) {
        errs.push(problem(t, "id", "admin.bad_id"));
    }
    let name = text(&v.name, 100);
    if name.is_none() {
        errs.push(problem(t, "name", "admin.bad_name"));
    }
    let role = Role::parse(&v.role);
    if role.is_none() {
        errs.push(problem(t, "role", "report.choose"));
    }
    let unit = Some(v.unit.trim()).filter(|u| !u.is_empty()).map(|u| UnitId(u.into()));
    if unit.as_ref().is_some_and(|u| !r.units.contains_key(&u.0)) {
        errs.push(problem(t, "unit", "report.choose"));
    }
    if role.is_some_and(|x| x.handles()) && unit.is_none() {
        errs.push(problem(t, "unit", "admin.needs_unit"));
    }
    let jurisdiction = RegionCode::parse(&v.jurisdiction).ok().filter(|c| r.regions.contains_key(c.as_str()));
    if jurisdiction.is_none() {
        errs.push(problem(t, "jurisdiction", "report.choose"));
    }
    let password = Some(v.password.as_str()).filter(|p| !p.is_empty());
    if password.is_some_and(|p| p.chars().count() < 10) {
        errs.push(problem(t, "password", "admin.short_password"));
    }
    let (Some(name), Some(role), Some(jurisdiction), true) = (name, role, jurisdiction, errs.is_empty()) else {
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&users_page(&st, &staff, t, v, errs, None).await?)).into_response());
    };
    // Secrets left empty are kept as they are.
    let creds = Credentials {
        token_hash: None,
        password_hash: password
            .map(crate::auth::hash_password)
            .transpose()
            .map_err(|_| PageError::new(StatusCode::INTERNAL_SERVER_ERROR, "error.unavailable"))?,
    };
    let user = User { id: id.into(), name, role, unit, jurisdiction };
    st.svc.store.put_user(&user, &creds, &staff.actor.label(), st.svc.now()).await?;
    // A changed role or scope must not linger in cached token look-ups.
    st.tokens.clear();
    Ok(Redirect::to(&format!("/admin/users?saved={}", super::urlencode(id))).into_response())
}

// ---- Categories and their deadline policies ----

#[derive(Deserialize, Default)]
pub struct CategoryForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    name_zh: String,
    #[serde(default)]
    name_en: String,
    #[serde(default)]
    public: Option<String>,
    #[serde(default)]
    emergency: Option<String>,
    #[serde(default)]
    response_hours: String,
    #[serde(default)]
    handling_hours: String,
    #[serde(default)]
    visit_hours: String,
}

pub struct CategoryRow {
    pub code: String,
    pub name: String,
    pub kind: String,
    pub public: bool,
    pub emergency: bool,
    pub policy: String,
    pub questions: usize,
}

#[derive(Template)]
#[template(path = "admin_categories.html")]
struct CategoriesPage {
    c: Chrome,
    t: Tr,
    rows: Vec<CategoryRow>,
    v: CategoryForm,
    existing: bool,
    errors: Vec<FieldProblem>,
    saved: Option<String>,
}

fn categories_page(
    st: &AppState,
    staff: &PageStaff,
    t: Tr,
    v: CategoryForm,
    errors: Vec<FieldProblem>,
    saved: Option<String>,
) -> CategoriesPage {
    let r = st.svc.reference();
    let mut cats: Vec<&Category> = r.categories.values().collect();
    cats.sort_by(|a, b| a.code.cmp(&b.code));
    let rows = cats
        .iter()
        .map(|c| CategoryRow {
            code: c.code.clone(),
            name: t.pick(&c.name_zh, Some(&c.name_en)).into(),
            kind: t.k(
                "kind",
                match c.kind {
                    CategoryKind::Dispute => "dispute",
                    CategoryKind::Request => "request",
                },
            ),
            public: c.public,
            emergency: c.emergency,
            policy: format!("{} / {} / {}", c.policy.routine.response, c.policy.routine.handling, c.policy.routine.visit),
            questions: c.questions.len(),
        })
        .collect();
    CategoriesPage {
        c: Chrome::staff("/admin/categories", staff),
        t,
        rows,
        existing: r.categories.contains_key(v.code.trim()),
        v,
        errors,
        saved,
    }
}

pub async fn categories(State(st): State<AppState>, staff: PageStaff, t: Tr, Query(q): Query<Saved>) -> Result<Response, PageError> {
    admin_only(&staff)?;
    let r = st.svc.reference();
    let v = match q.code.as_deref().and_then(|c| r.categories.get(c)) {
        Some(c) => CategoryForm {
            code: c.code.clone(),
            kind: match c.kind {
                CategoryKind::Dispute => "dispute".into(),
                CategoryKind::Request => "request".into(),
            },
            name_zh: c.name_zh.clone(),
            name_en: c.name_en.clone(),
            public: c.public.then(|| "1".into()),
            emergency: c.emergency.then(|| "1".into()),
            response_hours: c.policy.routine.response.to_string(),
            handling_hours: c.policy.routine.handling.to_string(),
            visit_hours: c.policy.routine.visit.to_string(),
            ..Default::default()
        },
        None => CategoryForm {
            response_hours: DeadlinePolicy::DEFAULT.routine.response.to_string(),
            handling_hours: DeadlinePolicy::DEFAULT.routine.handling.to_string(),
            visit_hours: DeadlinePolicy::DEFAULT.routine.visit.to_string(),
            kind: "request".into(),
            ..Default::default()
        },
    };
    Ok(render(&categories_page(&st, &staff, t, v, Vec::new(), q.saved)))
}

pub async fn save_category(
    State(st): State<AppState>,
    staff: PageStaff,
    t: Tr,
    PageForm(v): PageForm<CategoryForm>,
) -> Result<Response, PageError> {
    admin_only(&staff)?;
    staff.check_csrf(&v.csrf)?;
    let mut errs = Vec::new();
    let code = v.code.trim();
    if !valid_id(code) {
        errs.push(problem(t, "code", "admin.bad_id"));
    }
    let (zh, en) = (text(&v.name_zh, 100), text(&v.name_en, 200));
    if zh.is_none() {
        errs.push(problem(t, "name_zh", "admin.bad_name"));
    }
    if en.is_none() {
        errs.push(problem(t, "name_en", "admin.bad_name"));
    }
    let kind = match v.kind.as_str() {
        "dispute" => Some(CategoryKind::Dispute),
        "request" => Some(CategoryKind::Request),
        _ => {
            errs.push(problem(t, "kind", "report.choose"));
            None
        }
    };
    // The routine deadlines, each a span with its unit (24h, 30d, 8wh, 5wd); urgent and
    // emergency cases keep theirs.
    let mut span = |field: &str, s: &str| -> fengqiao_domain::Span {
        match fengqiao_domain::Span::parse(s) {
            Ok(x) => x,
            Err(_) => {
                errs.push(problem(t, field, "admin.bad_hours"));
                fengqiao_domain::Span::Hours(1)
            }
        }
    };
    let routine = fengqiao_domain::Sla::new(
        span("response_hours", &v.response_hours),
        span("handling_hours", &v.handling_hours),
        span("visit_hours", &v.visit_hours),
    );
    let r = st.svc.reference();
    let existing = r.categories.get(code);
    let base = existing.map(|c| c.policy).unwrap_or(DeadlinePolicy::DEFAULT);
    let policy = DeadlinePolicy { routine, ..base };
    // A category's kind decides whether cases have parties; changing it would strand them.
    if existing.is_some_and(|c| Some(c.kind) != kind) {
        errs.push(problem(t, "kind", "admin.kind_fixed"));
    }
    let (Some(name_zh), Some(name_en), Some(kind), true) = (zh, en, kind, errs.is_empty()) else {
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&categories_page(&st, &staff, t, v, errs, None))).into_response());
    };
    let cat = Category {
        code: code.into(),
        kind,
        name_zh,
        name_en,
        public: v.public.is_some(),
        questions: existing.map(|c| c.questions.clone()).unwrap_or_default(),
        policy,
        emergency: v.emergency.is_some(),
    };
    st.svc.store.put_category(&cat, &staff.actor.label(), st.svc.now()).await?;
    st.svc.reload().await?;
    Ok(Redirect::to(&format!("/admin/categories?saved={}", super::urlencode(code))).into_response())
}

// ---- Regions ----

#[derive(Deserialize, Default)]
pub struct RegionForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    name_en: String,
    #[serde(default)]
    population: String,
}

pub struct RegionRow {
    pub code: String,
    pub level: String,
    pub name: String,
    pub name_en: String,
    pub population: u32,
    pub boundary: bool,
}

#[derive(Template)]
#[template(path = "admin_regions.html")]
struct RegionsPage {
    c: Chrome,
    t: Tr,
    rows: Vec<RegionRow>,
    v: RegionForm,
    errors: Vec<FieldProblem>,
    saved: Option<String>,
    imported: Option<usize>,
}

fn regions_page(st: &AppState, staff: &PageStaff, t: Tr, v: RegionForm, errors: Vec<FieldProblem>, saved: Option<String>) -> RegionsPage {
    let r = st.svc.reference();
    let mut regions: Vec<&Region> = r.regions.values().filter(|g| g.level() != fengqiao_domain::RegionLevel::Grid).collect();
    regions.sort_by(|a, b| a.code.cmp(&b.code));
    let rows = regions
        .iter()
        .map(|g| RegionRow {
            code: g.code.to_string(),
            level: t.k("level", g.level().as_str()),
            name: g.name.clone(),
            name_en: g.name_en.clone().unwrap_or_default(),
            population: g.population,
            boundary: g.boundary.is_some(),
        })
        .collect();
    RegionsPage { c: Chrome::staff("/admin/regions", staff), t, rows, v, errors, saved, imported: None }
}

pub async fn regions(State(st): State<AppState>, staff: PageStaff, t: Tr, Query(q): Query<Saved>) -> Result<Response, PageError> {
    admin_only(&staff)?;
    let r = st.svc.reference();
    let v = match q.code.as_deref().and_then(|c| r.regions.get(c)) {
        Some(g) => RegionForm {
            code: g.code.to_string(),
            name: g.name.clone(),
            name_en: g.name_en.clone().unwrap_or_default(),
            population: g.population.to_string(),
            ..Default::default()
        },
        None => RegionForm::default(),
    };
    let mut page = regions_page(&st, &staff, t, v, Vec::new(), q.saved);
    page.imported = q.imported;
    Ok(render(&page))
}

/// The largest GeoJSON file an administrator may upload (boundaries of a whole county).
pub const MAX_GEOJSON_BYTES: usize = 32 * 1024 * 1024;

/// Imports a GeoJSON FeatureCollection uploaded as a file: all or nothing; on refusal the
/// page lists every problem by feature and nothing is saved.
pub async fn import_regions(State(st): State<AppState>, staff: PageStaff, t: Tr, mut form: Multipart) -> Result<Response, PageError> {
    admin_only(&staff)?;
    let too_large = || PageError { status: StatusCode::PAYLOAD_TOO_LARGE, key: "error.too_large", detail: None };
    let (mut csrf, mut file) = (String::new(), None::<Vec<u8>>);
    while let Some(field) = form.next_field().await.map_err(|_| too_large())? {
        match field.name().unwrap_or_default() {
            "csrf" => csrf = field.text().await.map_err(|_| PageError::new(StatusCode::BAD_REQUEST, "error.bad_form"))?,
            "geojson" => file = Some(field.bytes().await.map_err(|_| too_large())?.to_vec()),
            _ => {}
        }
    }
    staff.check_csrf(&csrf)?;
    let refuse = |errs: Vec<FieldProblem>| -> Response {
        let page = regions_page(&st, &staff, t, RegionForm::default(), errs, None);
        (StatusCode::UNPROCESSABLE_ENTITY, render(&page)).into_response()
    };
    let text = match file.filter(|b| !b.is_empty()).map(String::from_utf8) {
        None => return Ok(refuse(vec![problem(t, "geojson", "admin.no_file")])),
        Some(Err(_)) => return Ok(refuse(vec![problem(t, "geojson", "admin.not_utf8")])),
        Some(Ok(s)) => s,
    };
    match st.svc.import_regions(&staff.actor, &text).await {
        Ok(n) => Ok(Redirect::to(&format!("/admin/regions?imported={n}")).into_response()),
        Err(StoreError::Domain(DomainError::Invalid(list))) => Ok(refuse(
            list.into_iter().map(|f| FieldProblem { label: f.field.clone(), field: f.field, message: t.domain(&f.message) }).collect(),
        )),
        Err(e) => Err(e.into()),
    }
}

/// Renames a region or corrects its population; its code, level and boundary stay (they are
/// loaded with the division data, not typed in).
pub async fn save_region(
    State(st): State<AppState>,
    staff: PageStaff,
    t: Tr,
    PageForm(v): PageForm<RegionForm>,
) -> Result<Response, PageError> {
    admin_only(&staff)?;
    staff.check_csrf(&v.csrf)?;
    let mut errs = Vec::new();
    let existing = st.svc.reference().regions.get(v.code.trim()).cloned();
    if existing.is_none() {
        errs.push(problem(t, "code", "admin.no_region"));
    }
    let name = text(&v.name, 100);
    if name.is_none() {
        errs.push(problem(t, "name", "admin.bad_name"));
    }
    let population = v.population.trim().parse::<u32>().ok();
    if population.is_none() {
        errs.push(problem(t, "population", "report.bad_number"));
    }
    let (Some(mut g), Some(name), Some(population), true) = (existing, name, population, errs.is_empty()) else {
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&regions_page(&st, &staff, t, v, errs, None))).into_response());
    };
    g.name = name;
    g.name_en = text(&v.name_en, 200);
    g.population = population;
    st.svc.store.put_region(&g, &staff.actor.label(), st.svc.now()).await?;
    st.svc.reload().await?;
    Ok(Redirect::to(&format!("/admin/regions?saved={}", g.code)).into_response())
}

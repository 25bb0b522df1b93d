//! The API keys page (`/admin/api-keys`, administrators only): the keys of Open311 client
//! applications with their scopes, unit, rate and dates; a form that creates a key and shows
//! its secret once (only its SHA-256 is stored); and revocation. Every change goes through
//! the store, which writes it to the audit chain. A revoked key stops working at once for
//! new look-ups and within the Open311 key cache's lifetime (30 s) for a key in use.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use fengqiao_domain::DomainError;
use fengqiao_store::{ApiScope, StoreError};
use serde::Deserialize;

use super::admin::admin_only;
use super::public::FieldProblem;
use super::staff::Opt;
use super::{Chrome, PageError, PageForm, PageStaff, Tr, local_time, render};
use crate::AppState;
use crate::open311::{DEFAULT_RATE_PER_MINUTE, make_key};

pub struct KeyRow {
    pub name: String,
    pub scopes: String,
    pub unit: String,
    pub rate: u32,
    pub created: String,
    pub revoked: String,
}

#[derive(Deserialize, Default)]
pub struct KeyForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    scope_submit: Option<String>,
    #[serde(default)]
    scope_update: Option<String>,
    #[serde(default)]
    unit: String,
    #[serde(default)]
    rate: String,
}

#[derive(Deserialize, Default)]
pub struct KeysQuery {
    revoked: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

#[derive(Template)]
#[template(path = "admin_api_keys.html")]
struct KeysPage {
    c: Chrome,
    t: Tr,
    rows: Vec<KeyRow>,
    v: KeyForm,
    units: Vec<Opt>,
    default_rate: u32,
    errors: Vec<FieldProblem>,
    /// The secret of the key just created: shown this once.
    created: Option<(String, String)>,
    revoked: Option<String>,
    /// The administration frame's flash (unused here).
    saved: Option<String>,
}

async fn keys_page(
    st: &AppState,
    staff: &PageStaff,
    t: Tr,
    v: KeyForm,
    errors: Vec<FieldProblem>,
    created: Option<(String, String)>,
) -> Result<KeysPage, PageError> {
    let r = st.svc.reference();
    let mut keys = st.svc.store.api_keys().await?;
    keys.sort_by(|a, b| a.name.cmp(&b.name));
    let rows = keys
        .iter()
        .map(|k| KeyRow {
            name: k.name.clone(),
            scopes: k.scopes.iter().map(|s| t.k("scope", s.as_str())).collect::<Vec<_>>().join(", "),
            unit: k
                .unit
                .as_ref()
                .map(|u| match r.units.get(&u.0) {
                    Some(x) => format!("{u} {}", t.pick(&x.name, x.name_en.as_deref())),
                    None => u.to_string(),
                })
                .unwrap_or_default(),
            rate: k.rate_per_minute.unwrap_or(DEFAULT_RATE_PER_MINUTE),
            created: local_time(k.created_at, &st.tz),
            revoked: k.revoked_at.map(|x| local_time(x, &st.tz)).unwrap_or_default(),
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
    Ok(KeysPage {
        c: Chrome::staff("/admin/api-keys", staff),
        t,
        rows,
        v,
        units,
        default_rate: DEFAULT_RATE_PER_MINUTE,
        errors,
        created,
        revoked: None,
        saved: None,
    })
}

pub async fn page(State(st): State<AppState>, staff: PageStaff, t: Tr, Query(q): Query<KeysQuery>) -> Result<Response, PageError> {
    admin_only(&staff)?;
    let mut p = keys_page(&st, &staff, t, KeyForm::default(), Vec::new(), None).await?;
    p.revoked = q.revoked;
    Ok(render(&p))
}

fn field_problem(t: Tr, field: &str, message: String) -> FieldProblem {
    let key = format!("field.{field}");
    FieldProblem { field: field.into(), label: if t.has(&key) { t.s(&key).into() } else { field.into() }, message }
}

/// Creates a key; the page that answers shows its secret once (it is never in a URL).
pub async fn create(State(st): State<AppState>, staff: PageStaff, t: Tr, PageForm(v): PageForm<KeyForm>) -> Result<Response, PageError> {
    admin_only(&staff)?;
    staff.check_csrf(&v.csrf)?;
    let mut errs = Vec::new();
    let unit = Some(v.unit.trim().to_string()).filter(|u| !u.is_empty());
    if unit.as_ref().is_some_and(|u| !st.svc.reference().units.contains_key(u)) {
        errs.push(field_problem(t, "unit", t.s("report.choose").into()));
    }
    let rate = match v.rate.trim() {
        "" => None,
        s => match s.parse::<u32>() {
            Ok(n) if (1..=1_000_000).contains(&n) => Some(n),
            _ => {
                errs.push(field_problem(t, "rate", t.s("keys.bad_rate").into()));
                None
            }
        },
    };
    let mut scopes = Vec::new();
    if v.scope_submit.is_some() {
        scopes.push(ApiScope::Submit.as_str().to_string());
    }
    if v.scope_update.is_some() {
        scopes.push(ApiScope::Update.as_str().to_string());
    }
    if scopes.is_empty() {
        errs.push(field_problem(t, "scopes", t.s("keys.no_scope").into()));
    }
    let made = make_key(v.name.trim(), &scopes, unit, rate, st.svc.now());
    let (key, secret) = match made {
        Ok(k) if errs.is_empty() => k,
        Ok(_) => return refuse(&st, &staff, t, v, errs).await,
        Err(DomainError::Invalid(list)) => {
            errs.extend(list.into_iter().map(|f| field_problem(t, &f.field, f.message)));
            return refuse(&st, &staff, t, v, errs).await;
        }
        Err(e) => return Err(StoreError::Domain(e).into()),
    };
    match st.svc.store.create_api_key(&key, &staff.actor.label(), st.svc.now()).await {
        Ok(()) => {}
        Err(StoreError::Domain(DomainError::Invalid(list))) => {
            return refuse(&st, &staff, t, v, list.into_iter().map(|f| field_problem(t, &f.field, f.message)).collect()).await;
        }
        Err(e) => return Err(e.into()),
    }
    let page = keys_page(&st, &staff, t, KeyForm::default(), Vec::new(), Some((key.name, secret))).await?;
    Ok((StatusCode::CREATED, render(&page)).into_response())
}

async fn refuse(st: &AppState, staff: &PageStaff, t: Tr, v: KeyForm, errs: Vec<FieldProblem>) -> Result<Response, PageError> {
    Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&keys_page(st, staff, t, v, errs, None).await?)).into_response())
}

pub async fn revoke(
    State(st): State<AppState>,
    staff: PageStaff,
    Path(name): Path<String>,
    PageForm(f): PageForm<CsrfForm>,
) -> Result<Response, PageError> {
    admin_only(&staff)?;
    staff.check_csrf(&f.csrf)?;
    if !st.svc.store.revoke_api_key(&name, &staff.actor.label(), st.svc.now()).await? {
        return Err(PageError::not_found());
    }
    Ok(Redirect::to(&format!("/admin/api-keys?revoked={}", super::urlencode(&name))).into_response())
}

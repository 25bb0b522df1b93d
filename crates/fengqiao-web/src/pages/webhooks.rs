//! The notifications page (`/admin/webhooks`, administrators only): webhook subscriptions (a
//! secret is written once and never shown), the dead-letter list with a button that queues a
//! message again, recent deliveries, and the e-mail addresses staff notices go to. Every change
//! goes through the store, which writes it to the audit chain.

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use fengqiao_domain::DomainError;
use fengqiao_domain::webhook::{HookKind, SubscriptionInput};
use fengqiao_store::StoreError;
use fengqiao_store::webhooks::{OutboxFilter, OutboxItem};
use serde::Deserialize;

use super::admin::admin_only;
use super::public::FieldProblem;
use super::staff::Opt;
use super::{Chrome, PageError, PageStaff, Tr, local_time, render};
use crate::AppState;

pub struct SubRow {
    pub id: i64,
    pub name: String,
    pub url: String,
    pub kinds: String,
    pub active: bool,
}

pub struct OutRow {
    pub id: i64,
    pub channel: String,
    pub target: String,
    pub kind: String,
    pub state: String,
    pub state_code: String,
    pub attempts: u32,
    pub error: String,
    pub created: String,
}

pub struct EmailRow {
    pub user: String,
    pub email: String,
}

#[derive(Template)]
#[template(path = "admin_webhooks.html")]
struct HooksPage {
    c: Chrome,
    t: Tr,
    subs: Vec<SubRow>,
    kinds: Vec<Opt>,
    dead: Vec<OutRow>,
    recent: Vec<OutRow>,
    emails: Vec<EmailRow>,
    users: Vec<Opt>,
    name: String,
    url: String,
    errors: Vec<FieldProblem>,
    saved: Option<String>,
    smtp: bool,
}

#[derive(Deserialize, Default)]
pub struct Flash {
    saved: Option<String>,
}

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

fn out_row(t: Tr, st: &AppState, o: &OutboxItem, subs: &[SubRow]) -> OutRow {
    OutRow {
        id: o.id,
        channel: t.k("outbox_channel", &o.channel),
        target: match o.channel.as_str() {
            "webhook" => subs.iter().find(|s| s.id.to_string() == o.target).map(|s| s.name.clone()).unwrap_or(o.target.clone()),
            _ => o.target.clone(),
        },
        kind: if t.has(&format!("hook_kind.{}", o.kind)) { t.k("hook_kind", &o.kind) } else { o.kind.clone() },
        state: t.k("outbox_state", &o.state),
        state_code: o.state.clone(),
        attempts: o.attempts,
        error: o.last_error.clone().unwrap_or_default(),
        created: local_time(o.created_at, &st.tz),
    }
}

async fn hooks_page(
    st: &AppState,
    staff: &PageStaff,
    t: Tr,
    name: String,
    url: String,
    errors: Vec<FieldProblem>,
    saved: Option<String>,
) -> Result<HooksPage, PageError> {
    let subs: Vec<SubRow> = st
        .svc
        .store
        .subscriptions()
        .await?
        .into_iter()
        .map(|s| SubRow {
            id: s.id,
            name: s.name,
            url: s.url,
            kinds: s.kinds.iter().map(|k| t.k("hook_kind", k.as_str())).collect::<Vec<_>>().join("、"),
            active: s.active,
        })
        .collect();
    let dead = st.svc.store.outbox(&OutboxFilter { state: Some("dead".into()), limit: 200, ..Default::default() }).await?;
    let recent = st.svc.store.outbox(&OutboxFilter { limit: 50, ..Default::default() }).await?;
    let emails: Vec<EmailRow> = st.svc.store.user_emails().await?.into_iter().map(|(user, email)| EmailRow { user, email }).collect();
    let mut users: Vec<Opt> = st
        .svc
        .store
        .users()
        .await?
        .into_iter()
        .map(|u| Opt { label: format!("{} {}", u.id, u.name), value: u.id, selected: false })
        .collect();
    users.sort_by(|a, b| a.value.cmp(&b.value));
    Ok(HooksPage {
        c: Chrome::staff("/admin/webhooks", staff),
        t,
        kinds: HookKind::ALL
            .iter()
            .map(|k| Opt { value: k.as_str().into(), label: t.k("hook_kind", k.as_str()), selected: false })
            .collect(),
        dead: dead.iter().map(|o| out_row(t, st, o, &subs)).collect(),
        recent: recent.iter().map(|o| out_row(t, st, o, &subs)).collect(),
        subs,
        emails,
        users,
        name,
        url,
        errors,
        saved,
        smtp: st.svc.config.outbound.smtp.is_some(),
    })
}

pub async fn page(State(st): State<AppState>, staff: PageStaff, t: Tr, Query(f): Query<Flash>) -> Result<Response, PageError> {
    admin_only(&staff)?;
    Ok(render(&hooks_page(&st, &staff, t, String::new(), String::new(), Vec::new(), f.saved).await?))
}

/// Registers a subscription.
pub async fn create(State(st): State<AppState>, staff: PageStaff, t: Tr, body: Bytes) -> Result<Response, PageError> {
    admin_only(&staff)?;
    let p = pairs(&body)?;
    staff.check_csrf(field(&p, "csrf"))?;
    let input = SubscriptionInput {
        name: field(&p, "name").into(),
        url: field(&p, "url").into(),
        secret: Some(field(&p, "secret").to_string()),
        kinds: p.iter().filter(|(k, _)| k == "kinds").map(|(_, v)| v.clone()).collect(),
        active: true,
    };
    match input.validate(None, st.svc.now()) {
        Ok(s) => {
            let s = st.svc.store.save_subscription(&s, &staff.actor.label(), st.svc.now()).await?;
            Ok(Redirect::to(&format!("/admin/webhooks?saved={}", super::urlencode(&s.name))).into_response())
        }
        Err(DomainError::Invalid(list)) => {
            let errors = list
                .into_iter()
                .map(|e| {
                    let key = format!("hook.field.{}", e.field.split('[').next().unwrap_or(&e.field));
                    FieldProblem { label: if t.has(&key) { t.s(&key).into() } else { e.field.clone() }, field: e.field, message: e.message }
                })
                .collect();
            let page = hooks_page(&st, &staff, t, input.name, input.url, errors, None).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)).into_response())
        }
        Err(e) => Err(StoreError::Domain(e).into()),
    }
}

/// Turns a subscription on or off (its secret is kept).
pub async fn toggle(State(st): State<AppState>, staff: PageStaff, Path(id): Path<String>, body: Bytes) -> Result<Response, PageError> {
    admin_only(&staff)?;
    let p = pairs(&body)?;
    staff.check_csrf(field(&p, "csrf"))?;
    let id: i64 = id.parse().map_err(|_| PageError::not_found())?;
    let mut s = st.svc.store.subscriptions().await?.into_iter().find(|s| s.id == id).ok_or_else(PageError::not_found)?;
    s.active = !s.active;
    let s = st.svc.store.save_subscription(&s, &staff.actor.label(), st.svc.now()).await?;
    Ok(Redirect::to(&format!("/admin/webhooks?saved={}", super::urlencode(&s.name))).into_response())
}

/// Queues a dead message again.
pub async fn requeue(State(st): State<AppState>, staff: PageStaff, Path(id): Path<String>, body: Bytes) -> Result<Response, PageError> {
    admin_only(&staff)?;
    let p = pairs(&body)?;
    staff.check_csrf(field(&p, "csrf"))?;
    let id: i64 = id.parse().map_err(|_| PageError::not_found())?;
    if !st.svc.store.requeue_outbox(id, &staff.actor.label(), st.svc.now()).await? {
        return Err(PageError::not_found());
    }
    Ok(Redirect::to(&format!("/admin/webhooks?saved=%23{id}")).into_response())
}

/// Sets (or, empty, removes) a user's e-mail address.
pub async fn set_email(State(st): State<AppState>, staff: PageStaff, body: Bytes) -> Result<Response, PageError> {
    admin_only(&staff)?;
    let p = pairs(&body)?;
    staff.check_csrf(field(&p, "csrf"))?;
    let user = field(&p, "user").trim().to_string();
    let email = field(&p, "email").trim();
    let email = (!email.is_empty()).then_some(email);
    if let Some(e) = email {
        crate::webhooks::check_email(e).map_err(|e| PageError { status: e.status, key: "error.invalid", detail: Some(e.message) })?;
    }
    st.svc.store.set_user_email(&user, email, &staff.actor.label(), st.svc.now()).await?;
    Ok(Redirect::to(&format!("/admin/webhooks?saved={}", super::urlencode(&user))).into_response())
}

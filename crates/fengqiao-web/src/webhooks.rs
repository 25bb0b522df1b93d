//! `/api/v1/webhooks`, `/api/v1/outbox` and staff e-mail addresses, for administrators: register
//! and change webhook subscriptions, read the outbox (the dead-letter list is
//! `?state=dead`), queue a dead message again, and set the address staff notices are
//! e-mailed to.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use fengqiao_domain::Role;
use fengqiao_domain::webhook::{Subscription, SubscriptionInput};
use fengqiao_store::webhooks::{OutboxFilter, OutboxItem};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api::ApiQuery;
use crate::auth::Staff;
use crate::problems::ObjJson;
use crate::{ApiError, AppState};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/webhooks", get(list).post(create))
        .route("/api/v1/webhooks/{id}", put(update))
        .route("/api/v1/outbox", get(outbox))
        .route("/api/v1/outbox/{id}/requeue", post(requeue))
        .route("/api/v1/users/{id}/email", put(set_email))
}

fn admin(staff: &Staff) -> Result<(), ApiError> {
    if staff.user.role == Role::Admin {
        Ok(())
    } else {
        Err(ApiError::new(StatusCode::FORBIDDEN, "forbidden", "only an administrator manages webhooks and the outbox"))
    }
}

/// A subscription without its secret.
pub(crate) fn sub_view(s: &Subscription) -> Value {
    json!({ "id": s.id, "name": s.name, "url": s.url, "kinds": s.kinds, "active": s.active, "created_at": s.created_at })
}

pub(crate) fn item_view(o: &OutboxItem) -> Value {
    let mut v = serde_json::to_value(o).unwrap_or_default();
    v["body"] = serde_json::from_str(&o.body).unwrap_or(Value::Null);
    v
}

async fn list(State(st): State<AppState>, staff: Staff) -> Result<Json<Value>, ApiError> {
    admin(&staff)?;
    let subs = st.svc.store.subscriptions().await?;
    Ok(Json(json!({ "items": subs.iter().map(sub_view).collect::<Vec<_>>() })))
}

async fn create(
    State(st): State<AppState>,
    staff: Staff,
    ObjJson(b): ObjJson<SubscriptionInput>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    admin(&staff)?;
    let s = b.validate(None, st.svc.now())?;
    let s = st.svc.store.save_subscription(&s, &staff.actor.label(), st.svc.now()).await?;
    Ok((StatusCode::CREATED, Json(sub_view(&s))))
}

async fn update(
    State(st): State<AppState>,
    staff: Staff,
    Path(id): Path<String>,
    ObjJson(b): ObjJson<SubscriptionInput>,
) -> Result<Json<Value>, ApiError> {
    admin(&staff)?;
    let id: i64 = id.parse().map_err(|_| ApiError::not_found())?;
    let subs = st.svc.store.subscriptions().await?;
    let old = subs.iter().find(|s| s.id == id).ok_or_else(ApiError::not_found)?;
    let s = b.validate(Some(old), st.svc.now())?;
    let s = st.svc.store.save_subscription(&s, &staff.actor.label(), st.svc.now()).await?;
    Ok(Json(sub_view(&s)))
}

#[derive(Deserialize)]
struct OutboxQuery {
    state: Option<String>,
    channel: Option<String>,
    limit: Option<i64>,
}

async fn outbox(State(st): State<AppState>, staff: Staff, ApiQuery(q): ApiQuery<OutboxQuery>) -> Result<Json<Value>, ApiError> {
    admin(&staff)?;
    let state = q.state.filter(|s| !s.is_empty());
    if let Some(s) = &state
        && !["pending", "delivered", "dead"].contains(&s.as_str())
    {
        return Err(ApiError::invalid("state", "pending, delivered or dead"));
    }
    let channel = q.channel.filter(|s| !s.is_empty());
    if let Some(c) = &channel
        && !["webhook", "email"].contains(&c.as_str())
    {
        return Err(ApiError::invalid("channel", "webhook or email"));
    }
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::invalid("limit", "between 1 and 1000"));
    }
    let items = st.svc.store.outbox(&OutboxFilter { state, channel, limit }).await?;
    Ok(Json(json!({ "items": items.iter().map(item_view).collect::<Vec<_>>() })))
}

async fn requeue(State(st): State<AppState>, staff: Staff, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    admin(&staff)?;
    let id: i64 = id.parse().map_err(|_| ApiError::not_found())?;
    if !st.svc.store.requeue_outbox(id, &staff.actor.label(), st.svc.now()).await? {
        return Err(ApiError::not_found());
    }
    Ok(Json(json!({ "id": id, "state": "pending" })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EmailBody {
    email: Option<String>,
}

/// A plausible address: one `@`, no spaces or angle brackets, at most 254 characters.
pub(crate) fn check_email(s: &str) -> Result<(), ApiError> {
    let ok = s.len() <= 254
        && s.split('@').count() == 2
        && s.split('@').all(|p| !p.is_empty())
        && !s.chars().any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | ',' | ';'));
    if ok { Ok(()) } else { Err(ApiError::invalid("email", "an e-mail address such as name@example.org")) }
}

async fn set_email(
    State(st): State<AppState>,
    staff: Staff,
    Path(id): Path<String>,
    ObjJson(b): ObjJson<EmailBody>,
) -> Result<Json<Value>, ApiError> {
    admin(&staff)?;
    let email = b.email.as_deref().map(str::trim).filter(|e| !e.is_empty());
    if let Some(e) = email {
        check_email(e)?;
    }
    st.svc.store.set_user_email(&id, email, &staff.actor.label(), st.svc.now()).await?;
    Ok(Json(json!({ "user": id, "email": email })))
}

//! API keys of client applications: who is calling the Open311 API, what the key may do,
//! and how often. Keys are long random strings; only their SHA-256 is stored. Each key has
//! a token bucket in memory (`rate_per_minute` requests a minute, bursts up to the same
//! number), so one client cannot starve the others. Administrators manage keys through
//! `/api/v1/api-keys` or the CLI.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use fengqiao_domain::{DomainError, Role, UnitId};
use fengqiao_store::{ApiKey, ApiScope, StoreError};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api::ApiJson;
use crate::auth::Staff;
use crate::{ApiError, AppState};

/// Requests a minute when a key does not say otherwise.
pub const DEFAULT_RATE_PER_MINUTE: u32 = 600;

/// A new key: 32 random bytes, hex, with a prefix that makes a leaked key easy to spot.
pub fn new_secret() -> String {
    use rand::RngCore;
    let mut b = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut b);
    format!("fq311_{}", hex::encode(b))
}

/// Builds a key record from its parts, checking each (the secret is returned once).
pub fn make_key(
    name: &str,
    scopes: &[String],
    unit: Option<String>,
    rate_per_minute: Option<u32>,
    now: fengqiao_domain::Timestamp,
) -> Result<(ApiKey, String), DomainError> {
    ApiKey::check_name(name)?;
    let mut parsed = Vec::new();
    for s in scopes {
        match ApiScope::parse(s.trim()) {
            Some(sc) if !parsed.contains(&sc) => parsed.push(sc),
            Some(_) => {}
            None => return Err(DomainError::invalid("scopes", format!("unknown scope '{s}': expected submit or update"))),
        }
    }
    if parsed.is_empty() {
        parsed.push(ApiScope::Submit);
    }
    parsed.sort();
    if rate_per_minute == Some(0) {
        return Err(DomainError::invalid("rate_per_minute", "at least 1"));
    }
    let secret = new_secret();
    let key = ApiKey {
        name: name.to_string(),
        key_hash: crate::token_hash(&secret),
        scopes: parsed,
        unit: unit.filter(|u| !u.trim().is_empty()).map(UnitId),
        rate_per_minute,
        created_at: now,
        revoked_at: None,
    };
    Ok((key, secret))
}

/// Recently seen keys and each key's bucket.
#[derive(Default)]
pub struct KeyState {
    cache: Mutex<HashMap<String, (Option<ApiKey>, Instant)>>,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl KeyState {
    /// A key revoked by another process stops working within this time.
    const TTL: Duration = Duration::from_secs(30);

    pub async fn lookup(&self, st: &AppState, secret: &str) -> Result<Option<ApiKey>, StoreError> {
        let hash = crate::token_hash(secret);
        if let Some((k, at)) = self.cache.lock().expect("not poisoned").get(&hash)
            && at.elapsed() < Self::TTL
        {
            return Ok(k.clone());
        }
        let k = st.svc.store.api_key_by_hash(&hash).await?;
        let mut m = self.cache.lock().expect("not poisoned");
        if m.len() > 10_000 {
            m.clear();
        }
        m.insert(hash, (k.clone(), Instant::now()));
        Ok(k)
    }

    pub fn forget(&self) {
        self.cache.lock().expect("not poisoned").clear();
    }

    /// Takes one token from the key's bucket; `Err(seconds)` until the next one if empty.
    pub fn take(&self, key: &ApiKey) -> Result<(), u64> {
        let rate = key.rate_per_minute.unwrap_or(DEFAULT_RATE_PER_MINUTE).max(1) as f64;
        let mut m = self.buckets.lock().expect("not poisoned");
        let (tokens, last) = m.entry(key.name.clone()).or_insert((rate, Instant::now()));
        *tokens = (*tokens + last.elapsed().as_secs_f64() * rate / 60.0).min(rate);
        *last = Instant::now();
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - *tokens) * 60.0 / rate).ceil().max(1.0) as u64)
        }
    }
}

fn admin(staff: &Staff) -> Result<(), ApiError> {
    if staff.user.role == Role::Admin {
        Ok(())
    } else {
        Err(ApiError::new(StatusCode::FORBIDDEN, "forbidden", "only administrators manage API keys"))
    }
}

fn view(k: &ApiKey, st: &AppState) -> Value {
    json!({
        "name": k.name, "scopes": k.scopes, "unit": k.unit,
        "rate_per_minute": k.rate_per_minute.unwrap_or(DEFAULT_RATE_PER_MINUTE),
        "created_at": k.created_at.to_rfc3339_in(&st.tz),
        "revoked_at": k.revoked_at.map(|t| t.to_rfc3339_in(&st.tz)),
    })
}

pub async fn list(State(st): State<AppState>, staff: Staff) -> Result<Json<Value>, ApiError> {
    admin(&staff)?;
    let keys = st.svc.store.api_keys().await?;
    Ok(Json(json!({ "items": keys.iter().map(|k| view(k, &st)).collect::<Vec<_>>() })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewKey {
    name: String,
    #[serde(default)]
    scopes: Vec<String>,
    #[serde(default)]
    unit: Option<String>,
    #[serde(default)]
    rate_per_minute: Option<u32>,
}

/// Creates a key and returns its secret, the only time it is shown.
pub async fn create(State(st): State<AppState>, staff: Staff, ApiJson(req): ApiJson<NewKey>) -> Result<Response, ApiError> {
    admin(&staff)?;
    if let Some(u) = req.unit.as_deref().filter(|u| !u.is_empty())
        && !st.svc.reference().units.contains_key(u)
    {
        return Err(ApiError::invalid("unit", format!("unknown unit '{u}'")));
    }
    let (key, secret) = make_key(&req.name, &req.scopes, req.unit, req.rate_per_minute, st.svc.now())?;
    st.svc.store.create_api_key(&key, &staff.actor.label(), st.svc.now()).await?;
    let mut v = view(&key, &st);
    v["key"] = Value::String(secret);
    Ok((StatusCode::CREATED, Json(v)).into_response())
}

pub async fn revoke(
    State(st): State<AppState>,
    Extension(keys): Extension<Arc<KeyState>>,
    staff: Staff,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    admin(&staff)?;
    if !st.svc.store.revoke_api_key(&name, &staff.actor.label(), st.svc.now()).await? {
        return Err(ApiError::not_found());
    }
    keys.forget();
    Ok(StatusCode::NO_CONTENT)
}

//! The HTTP layer: the JSON API under `/api/v1`, the server-rendered pages, resident
//! tracking, `/healthz` and `/metrics`. The only crate that knows HTTP; it turns requests
//! into domain values, calls the [`Service`], and maps every error to one JSON shape with a
//! stable code (the pages render theirs).

// The OpenAPI document's schemas are large `json!` literals.
#![recursion_limit = "256"]

mod api;
mod auth;
mod deadlines;
mod duty;
mod error;
mod mediation;
mod metrics;
pub mod open311;
pub mod openapi;
pub mod pages;
mod supervision;
mod triage;
// Residents by phone and community consultation.
mod consultation;
mod residents;
pub mod sms_gateway;
// Problem-solving records (SARA), webhooks and the outbox.
mod problems;
mod webhooks;
// Early warnings.
mod alerts;
// Hot spots, emerging patterns and bursting topics.
mod analytics;

use std::sync::Arc;

use axum::Router;
use fengqiao_store::Service;

pub use auth::{hash_password, verify_password};
pub use error::ApiError;
pub use metrics::Metrics;

/// Everything a handler needs.
#[derive(Clone)]
pub struct AppState {
    pub svc: Arc<Service>,
    pub metrics: Arc<Metrics>,
    /// The deployment's time zone: dates in queries are local dates there.
    pub tz: jiff::tz::TimeZone,
    pub tokens: Arc<auth::TokenCache>,
    pub throttle: Arc<auth::Throttle>,
    /// Mark session cookies Secure (the deployment is served over TLS).
    pub secure_cookies: bool,
    /// How long a browser session lasts.
    pub session_ttl: std::time::Duration,
    /// Per-address budgets of the public routes, shared by the resident pages and the public
    /// JSON endpoints so that neither is a way around the other.
    pub public_limits: Arc<pages::RateLimiter>,
    /// Background tiles for the maps (`map_tile_url`); `None` draws boundaries only.
    pub map_tiles: Option<Arc<pages::MapTiles>>,
    /// `/figures`, the same for every reader, reused for a minute.
    pub public_figures: Arc<pages::PublicFiguresCache>,
    /// Sends one-time sign-in codes (the outbox sender has its own handle).
    pub sms: Arc<dyn fengqiao_store::SmsProvider>,
    /// How often codes may be asked for, per phone and per address.
    pub code_limits: Arc<residents::CodeLimiter>,
}

impl AppState {
    pub fn new(svc: Arc<Service>, tz: jiff::tz::TimeZone) -> AppState {
        AppState {
            svc,
            metrics: Arc::new(Metrics::default()),
            tz,
            tokens: Arc::new(auth::TokenCache::default()),
            throttle: Arc::new(auth::Throttle::default()),
            secure_cookies: false,
            session_ttl: std::time::Duration::from_secs(12 * 3600),
            public_limits: Arc::new(pages::RateLimiter::default()),
            map_tiles: None,
            public_figures: Arc::default(),
            sms: Arc::new(fengqiao_store::residents::NoSms),
            code_limits: Arc::default(),
        }
    }
}

/// The whole application as a router, for `serve` and for tests (`tower::ServiceExt::oneshot`).
pub fn router(state: AppState) -> Router {
    api::routes(state.clone())
        .merge(pages::routes(state.clone()))
        .merge(open311::routes())
        .merge(supervision::routes())
        .merge(duty::routes())
        .merge(mediation::routes())
        .merge(triage::routes())
        .merge(problems::routes())
        .merge(webhooks::routes())
        .merge(openapi::routes())
        .merge(residents::routes(state.clone()))
        .merge(consultation::routes(state.clone()))
        .merge(alerts::routes())
        .merge(analytics::routes())
        .layer(axum::middleware::from_fn_with_state(state.clone(), metrics::track))
        .layer(axum::extract::DefaultBodyLimit::max(1024 * 1024))
        .with_state(state)
}

/// Hex SHA-256 of an API token, as stored.
pub fn token_hash(token: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(token.as_bytes()))
}

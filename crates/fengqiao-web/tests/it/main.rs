//! API tests through the router (`oneshot`), plus one on a real socket.

mod admin_pages;
mod api;
mod authz;
mod authz_pages;
mod deadlines;
mod geo;
mod joint;
mod mediation;
mod open311;
mod openapi;
mod pages;
mod supervision;
mod triage;
// Residents by phone and community consultation.
mod consultation;
mod residents;
// Problem-solving records, webhooks and e-mail.
mod outbound;
mod problem_pages;
mod problems;
// Early warnings.
mod alerts;
// Hot spots, emerging patterns and bursting topics.
mod analytics;

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use fengqiao_store::Credentials;
use fengqiao_store::contract::{T0, seed, staff};
use fengqiao_web::{AppState, router, token_hash};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

pub struct App {
    pub router: Router,
    pub svc: Arc<fengqiao_store::Service>,
    _dir: tempfile::TempDir,
}

/// A fresh SQLite store with the contract's small county; every staff user's token is
/// `tok-ID`.
pub async fn app() -> App {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    let store: Arc<dyn fengqiao_store::Store> = Arc::new(fengqiao_store_sql::sqlite::SqlStore::connect(&url).await.unwrap());
    let svc = seed(&store).await;
    for u in staff() {
        store
            .put_user(&u, &Credentials { token_hash: Some(token_hash(&format!("tok-{}", u.id))), password_hash: None }, "system:test", T0)
            .await
            .unwrap();
    }
    let state = AppState::new(svc.clone(), jiff::tz::TimeZone::get("Asia/Shanghai").unwrap());
    App { router: router(state), svc, _dir: dir }
}

pub struct Resp {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: Value,
    pub text: String,
}

impl App {
    pub async fn call(&self, method: &str, uri: &str, who: Option<&str>, body: Option<&str>, headers: &[(&str, &str)]) -> Resp {
        let mut b = Request::builder().method(method).uri(uri);
        if let Some(w) = who {
            b = b.header("authorization", format!("Bearer tok-{w}"));
        }
        if body.is_some() {
            b = b.header("content-type", "application/json");
        }
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let req = b.body(body.map(|s| Body::from(s.to_string())).unwrap_or_else(Body::empty)).unwrap();
        let resp = self.router.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8_lossy(&bytes).to_string();
        Resp { status, headers, body: serde_json::from_slice(&bytes).unwrap_or(Value::Null), text }
    }

    pub async fn get(&self, uri: &str, who: &str) -> Resp {
        self.call("GET", uri, Some(who), None, &[]).await
    }

    pub async fn post(&self, uri: &str, who: &str, body: &str) -> Resp {
        self.call("POST", uri, Some(who), Some(body), &[]).await
    }

    pub async fn events(&self) -> i64 {
        self.svc.store.audit_head().await.unwrap().0
    }
}

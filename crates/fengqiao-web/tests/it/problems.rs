//! Problem-solving records (SARA) over HTTP: opened from cases and from filters, scoped by role
//! and jurisdiction, worked through the stages, and before-and-after figures that match the
//! counts computed independently.

use std::sync::Arc;

use axum::http::StatusCode;
use fengqiao_domain::ManualClock;
use fengqiao_domain::clock::DAY_MS;
use fengqiao_store::contract::{T0, seed, staff};
use fengqiao_store::{Credentials, Service, ServiceConfig};
use fengqiao_web::{AppState, router, token_hash};
use serde_json::{Value, json};

use crate::App;

/// A fresh SQLite store with the contract's county, on a clock the test moves; an
/// administrator `admin` joins the contract's staff. Tokens are `tok-ID`.
pub async fn app_with(clock: ManualClock, config: ServiceConfig) -> App {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    let store: Arc<dyn fengqiao_store::Store> = Arc::new(fengqiao_store_sql::sqlite::SqlStore::connect(&url).await.unwrap());
    seed(&store).await;
    let mut users = staff();
    users.push(fengqiao_store::contract::user("admin", fengqiao_domain::Role::Admin, None, fengqiao_store::contract::COUNTY));
    for u in users {
        let creds = Credentials { token_hash: Some(token_hash(&format!("tok-{}", u.id))), password_hash: None };
        store.put_user(&u, &creds, "system:test", T0).await.unwrap();
    }
    let config = ServiceConfig { checkpoint_every: 0, audit_key: Some(fengqiao_store::contract::AUDIT_KEY.to_vec()), ..config };
    let svc = Arc::new(Service::new(store, Arc::new(clock), config).await.unwrap());
    let state = AppState::new(svc.clone(), jiff::tz::TimeZone::get("Asia/Shanghai").unwrap());
    App { router: router(state), svc, _dir: dir }
}

/// A case created, filed and dispatched; accepted by the lead unit's handler when `accept`.
pub async fn dispatched(app: &App, category: &str, region: &str, unit: &str, accept: Option<&str>) -> i64 {
    let body = json!({ "category": category, "description": "夜市噪声扰民", "region": region }).to_string();
    let r = app.post("/api/v1/cases", "intake", &body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let id = r.body["id"].as_i64().unwrap();
    assert_eq!(app.post(&format!("/api/v1/cases/{id}/transitions/file"), "intake", "{}").await.status, StatusCode::OK);
    let r = app.post(&format!("/api/v1/cases/{id}/transitions/dispatch"), "intake", &json!({ "lead_unit": unit }).to_string()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    if let Some(h) = accept {
        let r = app.post(&format!("/api/v1/cases/{id}/transitions/accept"), h, "{}").await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    }
    id
}

const A1: &str = "330681101001";
const B1: &str = "330681102001";

async fn cmd(app: &App, id: i64, who: &str, body: Value) -> crate::Resp {
    app.post(&format!("/api/v1/problems/{id}/commands"), who, &body.to_string()).await
}

/// The figures endpoint's counts for a place, category and period: the independent check.
async fn figures_of(app: &App, from: i64, to: i64) -> (u64, u64) {
    let ts = |ms: i64| fengqiao_domain::Timestamp(ms).to_rfc3339();
    let uri = format!("/api/v1/figures?region={A1}&category=noise&from={}&to={}", ts(from), ts(to)).replace('+', "%2B");
    let r = app.get(&uri, "sup").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let f = &r.body["figures"];
    (f["cohort"].as_u64().unwrap(), f["response_rate"]["numerator"].as_u64().unwrap())
}

#[tokio::test]
async fn a_problem_from_cases_to_assessment_with_before_and_after_figures() {
    let clock = ManualClock::new(T0);
    let app = app_with(clock.clone(), ServiceConfig::default()).await;
    // Before: three noise cases in village A1 (two answered in time), one in village B1, a
    // street light in A1 (another category).
    let a = dispatched(&app, "noise", A1, "vc-a1", Some("handler-a1")).await;
    let b = dispatched(&app, "noise", A1, "vc-a1", Some("handler-a1")).await;
    let c = dispatched(&app, "noise", A1, "vc-a1", None).await;
    let far = dispatched(&app, "noise", B1, "vc-b1", Some("handler-b1")).await;
    dispatched(&app, "street_light", A1, "vc-a1", Some("handler-a1")).await;
    clock.advance_ms(10 * DAY_MS);

    // Refused: a case outside the opener's jurisdiction, a blank title; every problem listed
    // and nothing written.
    let before = app.events().await;
    let r = app.post("/api/v1/problems", "sup-a", &json!({ "title": " ", "case_ids": [a, far] }).to_string()).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
    let fields: Vec<&str> = r.body["error"]["details"].as_array().unwrap().iter().map(|d| d["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["case_ids[1]", "title"]);
    let r = app.post("/api/v1/problems", "handler-a1", &json!({ "title": "x", "case_ids": [a] }).to_string()).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    assert_eq!(app.events().await, before);

    // From a set of filters: the town-A supervisor's noise cases.
    let r = app
        .post(
            "/api/v1/problems",
            "sup-a",
            &json!({ "title": "夜市噪声", "filter": { "category": "noise", "created_to": "2026-01-02" } }).to_string(),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let p = r.body.clone();
    let id = p["id"].as_i64().unwrap();
    assert_eq!(p["case_ids"], json!([a, b, c]));
    assert_eq!((p["stage"].as_str(), p["region"].as_str(), p["regions"].clone()), (Some("scanning"), Some(A1), json!([A1])));
    assert_eq!(p["categories"], json!(["noise"]));

    // Scope: the county and the town see it; village B's handler does not, village A's once
    // its unit is named responsible.
    let listed = |who: &'static str| {
        let app = &app;
        async move {
            app.get("/api/v1/problems", who).await.body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["id"].as_i64().unwrap())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(listed("sup").await, [id]);
    assert_eq!(listed("handler-a1").await, Vec::<i64>::new());
    assert_eq!(app.get(&format!("/api/v1/problems/{id}"), "handler-b1").await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.get(&format!("/api/v1/problems/{id}/figures"), "handler-b1").await.status, StatusCode::NOT_FOUND);
    let r = cmd(&app, id, "sup-a", json!({ "command": "set_responsible", "units": ["vc-a1"], "users": ["sup-a"] })).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(listed("handler-a1").await, [id]);
    assert_eq!(listed("handler-b1").await, Vec::<i64>::new());
    assert_eq!(app.get(&format!("/api/v1/problems?case={far}"), "sup").await.body["items"], json!([]));

    // Scanning → analysis → response, with what each stage needs.
    assert_eq!(cmd(&app, id, "handler-a1", json!({ "command": "advance" })).await.status, StatusCode::FORBIDDEN);
    assert_eq!(cmd(&app, id, "sup-a", json!({ "command": "advance", "note": "三起同类投诉" })).await.status, StatusCode::OK);
    let r = cmd(&app, id, "sup-a", json!({ "command": "advance" })).await;
    assert_eq!((r.status, r.body["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("precondition_failed")));
    let r = cmd(&app, id, "sup-a", json!({ "command": "write", "analysis": "周末夜市 22 点后音响扰民" })).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r =
        cmd(&app, id, "sup-a", json!({ "command": "add_action", "text": "夜市 22 点收摊", "owner": "unit:vc-a1", "due": "2026-01-20" }))
            .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(
        (r.body["actions"][0]["owner"].as_str(), r.body["actions"][0]["due_local"].as_str()),
        (Some("unit:vc-a1"), Some("2026-01-20T23:59:59+08:00"))
    );
    let bad = cmd(&app, id, "sup-a", json!({ "command": "add_action", "text": "", "owner": "unit:nope", "due": "2026-01-20" })).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    let fields: Vec<&str> = bad.body["error"]["details"].as_array().unwrap().iter().map(|d| d["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["owner", "text"]);
    let r = cmd(&app, id, "handler-b1", json!({ "command": "set_action_status", "action": 1, "status": "done" })).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = cmd(&app, id, "handler-a1", json!({ "command": "set_action_status", "action": 1, "status": "done" })).await;
    assert_eq!((r.status, r.body["actions"][0]["status"].as_str()), (StatusCode::OK, Some("done")), "{}", r.text);
    let version = r.body["version"].as_i64().unwrap();
    let stale = app
        .call(
            "POST",
            &format!("/api/v1/problems/{id}/commands"),
            Some("sup-a"),
            Some(r#"{"command":"advance"}"#),
            &[("if-match", &format!("\"{}\"", version - 1))],
        )
        .await;
    assert_eq!((stale.status, stale.body["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("stale_version")));
    let r = app
        .call(
            "POST",
            &format!("/api/v1/problems/{id}/commands"),
            Some("sup-a"),
            Some(r#"{"command":"advance"}"#),
            &[("if-match", &format!("\"{version}\""))],
        )
        .await;
    assert_eq!((r.status, r.body["stage"].as_str()), (StatusCode::OK, Some("response")), "{}", r.text);
    let start = r.body["response_started_at"].as_i64().unwrap();
    assert_eq!(start, T0.0 + 10 * DAY_MS);

    // After the response starts: two more noise cases in A1 (one answered), one in B1.
    clock.advance_ms(5 * DAY_MS);
    dispatched(&app, "noise", A1, "vc-a1", Some("handler-a1")).await;
    dispatched(&app, "noise", A1, "vc-a1", None).await;
    dispatched(&app, "noise", B1, "vc-b1", Some("handler-b1")).await;

    let f = app.get(&format!("/api/v1/problems/{id}/figures"), "sup-a").await;
    assert_eq!(f.status, StatusCode::OK, "{}", f.text);
    let window = 90 * DAY_MS;
    assert_eq!((f.body["before"]["from"].as_i64(), f.body["before"]["to"].as_i64()), (Some(start - window), Some(start)));
    assert_eq!((f.body["after"]["from"].as_i64(), f.body["after"]["to"].as_i64()), (Some(start), Some(start + window)));
    let counts = |w: &str| (f.body[w]["counts"]["cohort"].as_u64().unwrap(), f.body[w]["counts"]["responded"].as_u64().unwrap());
    // Counted by hand above, and by the figures endpoint over the same place, category and period.
    assert_eq!(counts("before"), (3, 2));
    assert_eq!(counts("after"), (2, 1));
    assert_eq!(figures_of(&app, start - window, start).await, counts("before"));
    assert_eq!(figures_of(&app, start, start + window).await, counts("after"));
    assert_eq!(f.body["before"]["figures"]["response_rate"]["denominator"], 3);
    assert_eq!(f.body["after"]["figures"]["cohort"], 2);

    // Assessment, a return to the response, and closing with the assessment written.
    assert_eq!(cmd(&app, id, "sup-a", json!({ "command": "advance" })).await.body["stage"], "assessment");
    let r = cmd(&app, id, "sup-a", json!({ "command": "return", "to": "scanning", "note": "x" })).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = cmd(&app, id, "sup-a", json!({ "command": "return", "to": "response", "note": "仍有新投诉" })).await;
    assert_eq!(r.body["stage"], "response", "{}", r.text);
    assert_eq!(
        cmd(&app, id, "sup-a", json!({ "command": "advance" })).await.body["response_started_at"],
        start,
        "the response starts once"
    );
    assert_eq!(cmd(&app, id, "sup-a", json!({ "command": "advance" })).await.status, StatusCode::CONFLICT, "no assessment written");
    assert_eq!(cmd(&app, id, "sup-a", json!({ "command": "write", "assessment": "响应率下降，需继续跟踪" })).await.status, StatusCode::OK);
    let r = cmd(&app, id, "sup-a", json!({ "command": "advance" })).await;
    assert_eq!(r.body["stage"], "closed");
    let stages: Vec<(&str, &str)> =
        r.body["history"].as_array().unwrap().iter().map(|h| (h["from"].as_str().unwrap(), h["to"].as_str().unwrap())).collect();
    assert_eq!(
        stages,
        [
            ("scanning", "analysis"),
            ("analysis", "response"),
            ("response", "assessment"),
            ("assessment", "response"),
            ("response", "assessment"),
            ("assessment", "closed")
        ]
    );
    assert_eq!(cmd(&app, id, "sup-a", json!({ "command": "advance" })).await.status, StatusCode::CONFLICT);
    assert_eq!(app.get("/api/v1/problems?stage=closed", "sup").await.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(app.get("/api/v1/problems?stage=maybe", "sup").await.status, StatusCode::UNPROCESSABLE_ENTITY);

    // Every change is in the chain, which still verifies.
    let log = app.svc.store.audit_events(0, 100_000).await.unwrap();
    assert_eq!(log.iter().filter(|e| e.kind.starts_with("problem_")).count(), 12);
    assert!(matches!(
        app.svc.verify_audit(fengqiao_store::contract::AUDIT_KEY, |_| {}).await.unwrap(),
        fengqiao_domain::audit::VerifyOutcome::Ok { .. }
    ));
}

//! Supervision orders over HTTP: issue, scope, answer, review, and the figures.

use axum::http::StatusCode;
use serde_json::json;

use crate::app;

#[tokio::test]
async fn supervision_orders_over_http() {
    let app = app().await;
    let c = app.post("/api/v1/cases", "intake", r#"{"category":"street_light","description":"路灯坏了","region":"330681101001"}"#).await;
    let id = c.body["id"].as_i64().unwrap();
    app.post(&format!("/api/v1/cases/{id}/transitions/file"), "intake", "{}").await;
    let r = app.post(&format!("/api/v1/cases/{id}/transitions/dispatch"), "intake", r#"{"lead_unit":"vc-a1"}"#).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);

    let before = app.events().await;
    let issue = |who: &'static str, body: serde_json::Value| {
        let app = &app;
        async move { app.post("/api/v1/supervision", who, &body.to_string()).await }
    };
    assert_eq!(issue("handler-a1", json!({"case_id": id, "due": "2026-01-05", "note": "x"})).await.status, StatusCode::FORBIDDEN);
    assert_eq!(
        issue("sup", json!({"case_id": id, "unit": "vc-a1", "due": "2026-01-05", "note": "x"})).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(issue("sup", json!({"case_id": id, "due": "soon", "note": "x"})).await.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(issue("sup", json!({"case_id": id, "due": "2026-01-05", "note": "  "})).await.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(issue("sup", json!({"case_id": 999, "due": "2026-01-05", "note": "x"})).await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.events().await, before, "refused orders write nothing");

    let r = issue("sup-a", json!({"case_id": id, "due": "2026-01-05", "note": "三日内修复并回复"})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(
        (r.body["unit"].as_str(), r.body["status"].as_str(), r.body["overdue"].as_bool()),
        (Some("vc-a1"), Some("open"), Some(false))
    );
    assert_eq!(r.body["due_local"], "2026-01-05T23:59:59+08:00");
    let oid = r.body["id"].as_i64().unwrap();
    assert_eq!(issue("sup", json!({"unit": "vc-b1", "due": "2026-01-02", "note": "清理积压"})).await.status, StatusCode::CREATED);

    let ids = |who: &'static str| {
        let app = &app;
        async move {
            app.get("/api/v1/supervision", who).await.body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|o| o["id"].as_i64().unwrap())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(ids("sup").await, [2, 1]);
    assert_eq!(ids("handler-a1").await, [1]);
    assert_eq!(ids("handler-b1").await, [2]);
    assert_eq!(app.get(&format!("/api/v1/supervision/{oid}"), "handler-b1").await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.get(&format!("/api/v1/supervision?case={id}"), "sup").await.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(app.get("/api/v1/supervision?status=maybe", "sup").await.status, StatusCode::UNPROCESSABLE_ENTITY);

    let r = app
        .call(
            "POST",
            &format!("/api/v1/supervision/{oid}/answer"),
            Some("handler-a1"),
            Some(r#"{"text":"已更换"}"#),
            &[("if-match", "\"1\"")],
        )
        .await;
    assert_eq!((r.status, r.body["status"].as_str()), (StatusCode::OK, Some("answered")), "{}", r.text);
    let r = app
        .call(
            "POST",
            &format!("/api/v1/supervision/{oid}/answer"),
            Some("handler-a1"),
            Some(r#"{"text":"again"}"#),
            &[("if-match", "\"1\"")],
        )
        .await;
    assert_eq!((r.status, r.body["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("stale_version")));
    let r = app.post(&format!("/api/v1/supervision/{oid}/review"), "handler-a1", r#"{"accept":true}"#).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = app.post(&format!("/api/v1/supervision/{oid}/review"), "sup-a", r#"{"accept":false}"#).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "returning needs a note");
    let r = app.post(&format!("/api/v1/supervision/{oid}/review"), "sup-a", r#"{"accept":true,"note":"已核实"}"#).await;
    assert_eq!(r.body["status"], "closed", "{}", r.text);

    let f = app.get("/api/v1/figures?from=2025-12-01&to=2026-02-01", "sup").await;
    assert_eq!(f.status, StatusCode::OK, "{}", f.text);
    assert_eq!(f.body["supervision"]["issued"], 2);
    assert_eq!(f.body["supervision"]["closed"], 1);
    assert_eq!(f.body["supervision"]["open"], 1);
    assert_eq!(app.get("/api/v1/figures?from=2025-12-01&to=2026-02-01", "sup-a").await.body["supervision"]["issued"], 1, "scoped");
}

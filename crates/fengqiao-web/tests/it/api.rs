use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::app;

const CASE: &str =
    r#"{"category":"street_light","description":"村口路灯不亮","region":"330681101001","reporter":{"name":"王五","phone":"13800138000"}}"#;

#[tokio::test]
async fn health_metrics_and_authentication() {
    let app = app().await;
    let r = app.call("GET", "/healthz", None, None, &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["backend"], "sqlite");
    // Ready only once the figures' facts are loaded and triage is built (`serve` does both
    // at start); until then it says what it waits for.
    let r = app.call("GET", "/readyz", None, None, &[]).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.body["status"], "warming");
    assert_eq!(r.body["waiting_for"], serde_json::json!(["figures", "triage"]));
    app.svc.warm_figures().await.unwrap();
    let r = app.call("GET", "/readyz", None, None, &[]).await;
    assert_eq!((r.status, &r.body["waiting_for"]), (StatusCode::SERVICE_UNAVAILABLE, &serde_json::json!(["triage"])));
    app.svc.refresh_triage().await.unwrap();
    let r = app.call("GET", "/readyz", None, None, &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["status"], "ready");
    for bad in [None, Some("nobody")] {
        let r = app.call("GET", "/api/v1/cases", bad, None, &[]).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert_eq!(r.body["error"]["code"], "unauthenticated");
    }
    let r = app.call("GET", "/metrics", None, None, &[]).await;
    assert!(r.text.contains("fengqiao_http_requests_total{method=\"GET\",route=\"/api/v1/cases\",status=\"401\"} 2"), "{}", r.text);
    assert!(r.text.contains("fengqiao_audit_events"));
}

#[tokio::test]
async fn create_is_idempotent_and_bad_input_changes_nothing() {
    let app = app().await;
    let key = [("idempotency-key", "abc-1")];
    let a = app.call("POST", "/api/v1/cases", Some("intake"), Some(CASE), &key).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    assert_eq!(a.headers["location"], format!("/api/v1/cases/{}", a.body["id"]));
    assert_eq!(a.body["status"], "received");
    assert_eq!(a.body["channel"], "counter");
    let b = app.call("POST", "/api/v1/cases", Some("intake"), Some(CASE), &key).await;
    assert_eq!(b.status, StatusCode::OK);
    assert_eq!(a.body["id"], b.body["id"]);
    let before = app.events().await;
    let other = CASE.replace("不亮", "闪烁");
    let c = app.call("POST", "/api/v1/cases", Some("intake"), Some(&other), &key).await;
    assert_eq!((c.status, c.body["error"]["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("idempotency_key_reused")));

    let long = "长".repeat(4001);
    let cases: Vec<(String, StatusCode, &str, Option<&str>)> = vec![
        ("{not json".into(), StatusCode::BAD_REQUEST, "malformed_json", None),
        ("[1,2]".into(), StatusCode::UNPROCESSABLE_ENTITY, "invalid_input", None),
        (CASE.replace("street_light", "nope"), StatusCode::UNPROCESSABLE_ENTITY, "invalid_input", Some("category")),
        (CASE.replace("330681101001", "330681109009"), StatusCode::UNPROCESSABLE_ENTITY, "invalid_input", Some("region")),
        (
            r#"{"category":"noise","description":"x","lat":39.9,"lon":116.4}"#.into(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
            Some("location"),
        ),
        (
            r#"{"category":"noise","description":"x","lat":91,"lon":120.1}"#.into(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
            Some("location.lat"),
        ),
        (CASE.replace("村口路灯不亮", &long), StatusCode::UNPROCESSABLE_ENTITY, "invalid_input", Some("description")),
        (CASE.replace("13800138000", "12"), StatusCode::UNPROCESSABLE_ENTITY, "invalid_input", Some("reporter.phone")),
    ];
    for (body, status, code, field) in cases {
        let r = app.call("POST", "/api/v1/cases", Some("intake"), Some(&body), &[]).await;
        assert_eq!(r.status, status, "{body:.80}: {}", r.text);
        assert_eq!(r.body["error"]["code"], code);
        assert!(r.body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()));
        if let Some(f) = field {
            assert!(r.body["error"]["details"].as_array().unwrap().iter().any(|d| d["field"] == f), "{}", r.text);
        }
    }
    let huge = format!(r#"{{"category":"noise","description":"{}"}}"#, "x".repeat(2 * 1024 * 1024));
    let r = app.call("POST", "/api/v1/cases", Some("intake"), Some(&huge), &[]).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(app.events().await, before, "rejected requests wrote nothing");
}

async fn create(app: &crate::App, body: &str) -> i64 {
    let r = app.post("/api/v1/cases", "intake", body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    r.body["id"].as_i64().unwrap()
}

fn act(id: i64, action: &str) -> String {
    format!("/api/v1/cases/{id}/transitions/{action}")
}

#[tokio::test]
async fn a_case_from_intake_to_closure() {
    let app = app().await;
    let id = create(&app, CASE).await;
    let ok = |r: &crate::Resp| assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    ok(&app.post(&act(id, "file"), "intake", "{}").await);
    ok(&app.post(&act(id, "dispatch"), "intake", r#"{"lead_unit":"vc-a1"}"#).await);
    // Another village's handler cannot see or act on it.
    assert_eq!(app.get(&format!("/api/v1/cases/{id}"), "handler-b1").await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.post(&act(id, "accept"), "handler-b1", "{}").await.status, StatusCode::NOT_FOUND);
    let r = app.post(&act(id, "accept"), "handler-a1", "{}").await;
    ok(&r);
    let version = r.body["version"].as_i64().unwrap();
    // A stale If-Match is refused and changes nothing.
    let before = app.events().await;
    let stale = app.call("POST", &act(id, "start"), Some("handler-a1"), Some("{}"), &[("if-match", &format!("\"{}\"", version - 1))]).await;
    assert_eq!((stale.status, stale.body["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("stale_version")));
    assert_eq!(app.events().await, before);
    ok(&app.call("POST", &act(id, "start"), Some("handler-a1"), Some("{}"), &[("if-match", &format!("\"{version}\""))]).await);
    let illegal = app.post(&act(id, "close"), "intake", "{}").await;
    assert_eq!((illegal.status, illegal.body["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("illegal_transition")));
    assert_eq!(app.post(&act(id, "teleport"), "intake", "{}").await.status, StatusCode::NOT_FOUND);
    let missing = app.post(&act(id, "resolve"), "handler-a1", "{}").await;
    assert_eq!(missing.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", missing.text);
    ok(&app.post(&act(id, "resolve"), "handler-a1", r#"{"feedback":"已更换灯泡"}"#).await);
    // The handler may not collect their own rating.
    assert_eq!(
        app.post(&act(id, "record_visit"), "handler-a1", r#"{"channel":"phone","reached":true,"rating":"satisfied"}"#).await.status,
        StatusCode::FORBIDDEN
    );
    let gate = app.post(&act(id, "close"), "intake", "{}").await;
    assert_eq!((gate.status, gate.body["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("precondition_failed")));
    ok(&app.post(&act(id, "record_visit"), "intake", r#"{"channel":"phone","reached":true,"rating":"satisfied"}"#).await);
    let closed = app.post(&act(id, "close"), "intake", "{}").await;
    ok(&closed);
    assert_eq!(closed.body["status"], "closed");
    let tl = app.get(&format!("/api/v1/cases/{id}/timeline"), "sup").await;
    let kinds: Vec<&str> = tl.body["items"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["created", "filed", "dispatched", "accepted", "started", "resolved", "visit_recorded", "closed"]);
    assert_eq!(tl.body["items"][3]["actor"], "user:handler-a1");
    let f = app.get("/api/v1/figures?from=2025-12-01&to=2026-02-01", "sup").await;
    assert_eq!(f.status, StatusCode::OK, "{}", f.text);
    assert_eq!(f.body["figures"]["cohort"], 1);
    assert_eq!(f.body["figures"]["satisfaction_rate"]["value"], 1.0);
    let bad = app.get("/api/v1/figures?from=2026-02-01&to=2026-01-01", "sup").await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn scoping_and_masking() {
    let app = app().await;
    let id = create(&app, CASE).await;
    let in_b = create(&app, &CASE.replace("330681101001", "330681102001")).await;
    // The town-A supervisor sees A's case, not B's; guessing B's id gives 404.
    assert_eq!(app.get(&format!("/api/v1/cases/{id}"), "sup-a").await.status, StatusCode::OK);
    assert_eq!(app.get(&format!("/api/v1/cases/{in_b}"), "sup-a").await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.get(&format!("/api/v1/cases/{in_b}/timeline"), "sup-a").await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.get("/api/v1/cases/99999", "sup").await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.get("/api/v1/cases/abc", "sup").await.status, StatusCode::NOT_FOUND);
    let list = app.get("/api/v1/cases", "sup-a").await;
    let ids: Vec<i64> = list.body["items"].as_array().unwrap().iter().map(|c| c["id"].as_i64().unwrap()).collect();
    assert_eq!(ids, vec![id]);
    // A filter cannot widen the scope.
    let list = app.get("/api/v1/cases?region=330681102000", "sup-a").await;
    assert!(list.body["items"].as_array().unwrap().is_empty());
    // Intake staff see the phone; a handler sees it masked.
    app.post(&act(id, "file"), "intake", "{}").await;
    app.post(&act(id, "dispatch"), "intake", r#"{"lead_unit":"vc-a1"}"#).await;
    let full = app.get(&format!("/api/v1/cases/{id}"), "intake").await;
    assert_eq!(full.body["people"][0]["phone"], "13800138000");
    let masked = app.get(&format!("/api/v1/cases/{id}"), "handler-a1").await;
    assert_eq!(masked.body["people"][0]["phone"], "138****8000");
    assert_eq!(masked.body["people"][0]["name"], "王*");
    // Keyset pagination.
    for _ in 0..4 {
        create(&app, CASE).await;
    }
    let p1 = app.get("/api/v1/cases?limit=2&order=asc", "sup").await;
    let next = p1.body["next_after"].as_i64().unwrap();
    let p2 = app.get(&format!("/api/v1/cases?limit=2&order=asc&after={next}"), "sup").await;
    let first: Vec<i64> = p2.body["items"].as_array().unwrap().iter().map(|c| c["id"].as_i64().unwrap()).collect();
    assert_eq!(first, vec![next + 1, next + 2]);
    assert_eq!(app.get("/api/v1/cases?limit=0", "sup").await.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.get("/api/v1/cases?status=flying", "sup").await.status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn residents_submit_and_track_without_seeing_others() {
    let app = app().await;
    let r = app.call("POST", "/api/v1/public/cases", None, Some(r#"{"category":"help_request","description":"老人走失","region":"330681101001","reporter":{"name":"赵六","phone":"13911112222"}}"#), &[]).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert!(r.body["notice"].as_str().unwrap().contains("110"), "emergency categories tell the resident to call 110");
    let code = r.body["tracking_code"].as_str().unwrap().to_string();
    let t = app.call("GET", &format!("/api/v1/public/track/{}", code.to_lowercase()), None, None, &[]).await;
    assert_eq!(t.status, StatusCode::OK);
    assert_eq!(t.body["status"], "received");
    assert!(!t.text.contains("13911112222") && !t.text.contains("赵六"));
    assert_eq!(app.call("GET", "/api/v1/public/track/AAAAAAAAAAAA", None, None, &[]).await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.call("GET", "/api/v1/public/track/short", None, None, &[]).await.status, StatusCode::NOT_FOUND);
    let case: Value = app.get("/api/v1/cases?limit=1", "sup").await.body["items"][0].clone();
    assert_eq!(case["channel"], "web");
    assert_eq!(case["urgency"], "emergency");
    let _ = json!({});
}

/// The same router on a real socket, spoken to over plain HTTP/1.1.
#[tokio::test]
async fn serves_on_a_real_socket() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = app().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = app.router.clone();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.unwrap();
    let mut buf = String::new();
    s.read_to_string(&mut buf).await.unwrap();
    assert!(buf.starts_with("HTTP/1.1 200"), "{buf}");
    assert!(buf.contains("\"status\":\"ok\""));
}

/// Browser sessions: password sign-in, the cookie, CSRF on every change, sign-out, throttling.
#[tokio::test]
async fn sessions_csrf_and_throttling() {
    let app = app().await;
    let store = &app.svc.store;
    let (user, mut creds) = store.user_credentials("intake").await.unwrap().unwrap();
    creds.password_hash = Some(fengqiao_web::hash_password("correct horse battery").unwrap());
    store.put_user(&user, &creds, "system:test", app.svc.now()).await.unwrap();

    let bad = app.call("POST", "/api/v1/session", None, Some(r#"{"user":"intake","password":"wrong password"}"#), &[]).await;
    assert_eq!((bad.status, bad.body["error"]["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("bad_credentials")));
    let nobody = app.call("POST", "/api/v1/session", None, Some(r#"{"user":"nobody","password":"whatever it is"}"#), &[]).await;
    assert_eq!(nobody.status, StatusCode::UNAUTHORIZED);

    let ok = app.call("POST", "/api/v1/session", None, Some(r#"{"user":"intake","password":"correct horse battery"}"#), &[]).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);
    let set = ok.headers["set-cookie"].to_str().unwrap().to_string();
    assert!(set.contains("HttpOnly") && set.contains("SameSite=Strict"), "{set}");
    let cookie = set.split(';').next().unwrap().to_string();
    let csrf = ok.body["csrf_token"].as_str().unwrap().to_string();

    let me = app.call("GET", "/api/v1/me", None, None, &[("cookie", &cookie)]).await;
    assert_eq!(me.body["user"]["id"], "intake");
    let before = app.events().await;
    let forged = app.call("POST", "/api/v1/cases", None, Some(CASE), &[("cookie", &cookie)]).await;
    assert_eq!((forged.status, forged.body["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("csrf_failed")));
    let wrong = app.call("POST", "/api/v1/cases", None, Some(CASE), &[("cookie", &cookie), ("x-csrf-token", "0000")]).await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    assert_eq!(app.events().await, before, "a refused request wrote nothing");
    let made = app.call("POST", "/api/v1/cases", None, Some(CASE), &[("cookie", &cookie), ("x-csrf-token", &csrf)]).await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.text);

    // Sign out ends the session.
    let out = app.call("DELETE", "/api/v1/session", None, None, &[("cookie", &cookie), ("x-csrf-token", &csrf)]).await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    assert_eq!(app.call("GET", "/api/v1/me", None, None, &[("cookie", &cookie)]).await.status, StatusCode::UNAUTHORIZED);

    // Sign out everywhere ends every session of the user.
    let mut cookies = Vec::new();
    for _ in 0..2 {
        let r = app.call("POST", "/api/v1/session", None, Some(r#"{"user":"intake","password":"correct horse battery"}"#), &[]).await;
        cookies.push((
            r.headers["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string(),
            r.body["csrf_token"].as_str().unwrap().to_string(),
        ));
    }
    let all =
        app.call("DELETE", "/api/v1/session/everywhere", None, None, &[("cookie", &cookies[0].0), ("x-csrf-token", &cookies[0].1)]).await;
    assert_eq!(all.body["ended_sessions"], 2);
    assert_eq!(app.call("GET", "/api/v1/me", None, None, &[("cookie", &cookies[1].0)]).await.status, StatusCode::UNAUTHORIZED);

    // Five failures lock the account out for a while, even with the right password.
    for _ in 0..5 {
        app.call("POST", "/api/v1/session", None, Some(r#"{"user":"intake","password":"guess guess guess"}"#), &[]).await;
    }
    let locked = app.call("POST", "/api/v1/session", None, Some(r#"{"user":"intake","password":"correct horse battery"}"#), &[]).await;
    assert_eq!((locked.status, locked.body["error"]["code"].as_str()), (StatusCode::TOO_MANY_REQUESTS, Some("throttled")));
}

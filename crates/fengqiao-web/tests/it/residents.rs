//! Residents by phone over HTTP: the SMS file provider receives the receipt, status and
//! return-visit messages; one-time-code sign-in (wrong, expired, too many attempts, success,
//! rate limits); "my cases" shows only the resident's own cases; rating at the return visit;
//! and community consultation with one support per resident under concurrent requests.

use std::sync::Arc;

use axum::http::StatusCode;
use fengqiao_domain::ManualClock;
use fengqiao_store::Credentials;
use fengqiao_store::contract::{T0, seed, staff};
use fengqiao_store::residents::FileSms;
use fengqiao_web::{AppState, router, token_hash};
use serde_json::{Value, json};

use crate::App;

pub struct Residents {
    pub app: App,
    pub clock: ManualClock,
    pub sms_file: std::path::PathBuf,
}

/// The test county with a manual clock and the file SMS provider.
pub async fn residents_app() -> Residents {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    let store: Arc<dyn fengqiao_store::Store> = Arc::new(fengqiao_store_sql::sqlite::SqlStore::connect(&url).await.unwrap());
    let base = seed(&store).await;
    for u in staff() {
        store
            .put_user(&u, &Credentials { token_hash: Some(token_hash(&format!("tok-{}", u.id))), password_hash: None }, "system:test", T0)
            .await
            .unwrap();
    }
    let clock = ManualClock::new(T0);
    let svc = Arc::new(fengqiao_store::Service::new(store.clone(), Arc::new(clock.clone()), base.config.clone()).await.unwrap());
    let sms_file = dir.path().join("sms.jsonl");
    let mut state = AppState::new(svc.clone(), jiff::tz::TimeZone::get("Asia/Shanghai").unwrap());
    state.sms = Arc::new(FileSms::new(&sms_file));
    Residents { app: App { router: router(state), svc, _dir: dir }, clock, sms_file }
}

impl Residents {
    pub fn texts_to(&self, phone: &str) -> Vec<String> {
        FileSms::read(&self.sms_file).into_iter().filter(|(p, _)| p == phone).map(|(_, t)| t).collect()
    }

    /// The newest code sent to the phone.
    pub fn last_code(&self, phone: &str) -> String {
        let t = self.texts_to(phone).into_iter().rev().find(|t| t.contains("验证码")).expect("a code was sent");
        t.chars().filter(|c| c.is_ascii_digit()).take(6).collect()
    }

    /// Signs a resident in; returns the cookie header value and the CSRF token.
    pub async fn sign_in(&self, phone: &str) -> (String, String) {
        let r = self.app.call("POST", "/api/v1/resident/code", None, Some(&json!({ "phone": phone }).to_string()), &[]).await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
        let code = self.last_code(phone);
        let r =
            self.app.call("POST", "/api/v1/resident/session", None, Some(&json!({ "phone": phone, "code": code }).to_string()), &[]).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let cookie = r.headers["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
        assert!(r.headers["set-cookie"].to_str().unwrap().contains("HttpOnly"));
        (cookie, r.body["csrf"].as_str().unwrap().to_string())
    }

    pub async fn as_resident(&self, method: &str, uri: &str, who: &(String, String), body: Option<Value>) -> crate::Resp {
        let body = body.map(|b| b.to_string());
        self.app.call(method, uri, None, body.as_deref(), &[("cookie", &who.0), ("x-csrf-token", &who.1)]).await
    }

    pub async fn send_outbox(&self) -> fengqiao_store::residents::SmsReport {
        let sender = fengqiao_store::SmsSender::new(self.app.svc.clone(), Arc::new(FileSms::new(&self.sms_file)), Default::default());
        sender.run_due(self.app.svc.now()).await.unwrap()
    }
}

const CASE: &str =
    r#"{"category":"street_light","description":"村口路灯不亮","region":"330681101001","reporter":{"name":"王五","phone":"13800138000"}}"#;

#[tokio::test]
async fn the_file_provider_receives_receipt_status_and_visit_messages() {
    let t = residents_app().await;
    let app = &t.app;
    let c = app.post("/api/v1/cases", "intake", CASE).await;
    assert_eq!(c.status, StatusCode::CREATED, "{}", c.text);
    let (id, code) = (c.body["id"].as_i64().unwrap(), c.body["tracking_code"].as_str().unwrap().to_string());
    // Queued with the case, sent by the background sender, not by the request.
    assert!(t.texts_to("13800138000").is_empty());
    assert_eq!(t.send_outbox().await.sent, 1);
    let texts = t.texts_to("13800138000");
    assert_eq!(texts.len(), 1);
    assert!(texts[0].contains(&code), "the receipt carries the tracking code: {texts:?}");
    for (who, action, body) in [
        ("intake", "file", "{}"),
        ("intake", "dispatch", r#"{"lead_unit":"vc-a1"}"#),
        ("handler-a1", "accept", "{}"),
        ("handler-a1", "resolve", r#"{"feedback":"已更换灯泡"}"#),
    ] {
        let r = app.post(&format!("/api/v1/cases/{id}/transitions/{action}"), who, body).await;
        assert_eq!(r.status, StatusCode::OK, "{action}: {}", r.text);
    }
    assert_eq!(t.send_outbox().await.sent, 4);
    assert_eq!(t.send_outbox().await.sent, 0, "each message is sent once");
    let texts = t.texts_to("13800138000");
    assert_eq!(texts.len(), 5);
    assert!(texts[1].contains("已受理") && texts[2].contains("已分派") && texts[3].contains("已签收"), "{texts:?}");
    assert!(texts[4].contains("评价") && texts[4].contains(&code), "the return-visit request: {}", texts[4]);
    // An anonymous report texts nobody.
    app.post("/api/v1/cases", "intake", r#"{"category":"street_light","description":"匿名","region":"330681101001"}"#).await;
    assert_eq!(t.send_outbox().await.sent, 0);
    // Administrators see what was sent, phones masked; others may not look.
    let admin = fengqiao_store::contract::user("admin", fengqiao_domain::Role::Admin, None, "330681000000");
    let creds = Credentials { token_hash: Some(token_hash("tok-admin")), password_hash: None };
    app.svc.store.put_user(&admin, &creds, "system:test", T0).await.unwrap();
    let r = app.get("/api/v1/sms/outbox?limit=10", "admin").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let items = r.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 5);
    assert!(items.iter().all(|m| m["state"] == "sent" && m["phone"] == "138****8000" && m["case_id"] == id));
    assert_eq!(app.get("/api/v1/sms/outbox", "sup").await.status, StatusCode::FORBIDDEN);
    assert_eq!(app.get("/api/v1/sms/outbox?limit=0", "admin").await.status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn one_time_code_sign_in() {
    let t = residents_app().await;
    let app = &t.app;
    let code_for = |phone: &str| json!({ "phone": phone }).to_string();
    let r = app.call("POST", "/api/v1/resident/code", None, Some(&code_for("12")), &[]).await;
    assert_eq!((r.status, r.body["error"]["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_input")));
    let r = app.call("POST", "/api/v1/resident/code", None, Some(&code_for("+86 138-0013-8000")), &[]).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    assert_eq!((r.body["phone"].as_str(), r.body["expires_in"].as_i64()), (Some("13800138000"), Some(600)));
    let code = t.last_code("13800138000");
    let sign_in = |code: String| {
        let app = &t.app;
        async move {
            app.call("POST", "/api/v1/resident/session", None, Some(&json!({ "phone": "13800138000", "code": code }).to_string()), &[])
                .await
        }
    };
    let wrong = if code == "000000" { "111111" } else { "000000" }.to_string();
    let r = sign_in(wrong.clone()).await;
    assert_eq!((r.status, r.body["error"]["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("wrong_code")));
    assert!(r.headers.get("set-cookie").is_none());
    // Expired after ten minutes.
    t.clock.advance_ms(10 * 60_000);
    assert_eq!(sign_in(code.clone()).await.body["error"]["code"], "code_expired");
    assert_eq!(sign_in(code).await.body["error"]["code"], "no_code", "an expired code is gone");
    // Too many attempts: the right code no longer works after five wrong ones.
    app.call("POST", "/api/v1/resident/code", None, Some(&code_for("13800138000")), &[]).await;
    let code = t.last_code("13800138000");
    let wrong = if code == "000000" { "111111" } else { "000000" }.to_string();
    for _ in 0..5 {
        assert_eq!(sign_in(wrong.clone()).await.body["error"]["code"], "wrong_code");
    }
    assert_eq!(sign_in(code).await.body["error"]["code"], "too_many_attempts");
    // A third code in the window is the last one this phone may ask for.
    let r = app.call("POST", "/api/v1/resident/code", None, Some(&code_for("13800138000")), &[]).await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let code = t.last_code("13800138000");
    let r = app.call("POST", "/api/v1/resident/code", None, Some(&code_for("13800138000")), &[]).await;
    assert_eq!((r.status, r.body["error"]["code"].as_str()), (StatusCode::TOO_MANY_REQUESTS, Some("rate_limited")));
    // Success: a resident session, not a staff one.
    let r = sign_in(code.clone()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["resident"]["verified_by"], "otp");
    let cookie = r.headers["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.starts_with("fq_resident=") && cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
    let who = (cookie.split(';').next().unwrap().to_string(), r.body["csrf"].as_str().unwrap().to_string());
    assert_eq!(sign_in(code).await.body["error"]["code"], "no_code", "a code signs in once");
    let me = t.as_resident("GET", "/api/v1/resident/me", &who, None).await;
    assert_eq!((me.status, me.body["phone"].as_str()), (StatusCode::OK, Some("13800138000")));
    let staff = app.call("GET", "/api/v1/me", None, None, &[("cookie", &who.0)]).await;
    assert_eq!(staff.status, StatusCode::UNAUTHORIZED, "a resident is not staff");
    // Writes need the CSRF token.
    let r = app.call("PUT", "/api/v1/resident/region", None, Some(r#"{"region":"330681101001"}"#), &[("cookie", &who.0)]).await;
    assert_eq!((r.status, r.body["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("csrf_failed")));
    let r = t.as_resident("PUT", "/api/v1/resident/region", &who, Some(json!({ "region": "330681101001" }))).await;
    assert_eq!((r.status, r.body["region"].as_str()), (StatusCode::OK, Some("330681101001")));
    // Signing out ends the session.
    assert_eq!(t.as_resident("DELETE", "/api/v1/resident/session", &who, None).await.status, StatusCode::NO_CONTENT);
    assert_eq!(t.as_resident("GET", "/api/v1/resident/me", &who, None).await.status, StatusCode::UNAUTHORIZED);
    // No code or phone reached the log.
    let events = app.svc.store.audit_events(0, 10_000).await.unwrap();
    assert!(events.iter().all(|e| !e.payload.contains("13800138000")));
}

#[tokio::test]
async fn my_cases_are_only_my_own_and_i_rate_at_the_return_visit() {
    let t = residents_app().await;
    let app = &t.app;
    let mine = app.post("/api/v1/cases", "intake", CASE).await.body;
    let other = app
        .post(
            "/api/v1/cases",
            "intake",
            &CASE.replace("13800138000", "13700137000").replace("王五", "赵六").replace("村口路灯不亮", "别人的事"),
        )
        .await
        .body;
    // As a party to someone else's dispute, a phone does not see the dispute.
    let dispute = json!({ "category": "neighbour", "description": "邻里纠纷", "region": "330681101001",
        "reporter": { "name": "孙七", "phone": "13600136000" },
        "parties": [{ "role": "applicant", "name": "孙七", "phone": "13600136000" }, { "role": "respondent", "name": "王五", "phone": "13800138000" }] });
    let d = app.post("/api/v1/cases", "intake", &dispute.to_string()).await;
    assert_eq!(d.status, StatusCode::CREATED, "{}", d.text);
    let who = t.sign_in("13800138000").await;
    let r = t.as_resident("GET", "/api/v1/resident/cases", &who, None).await;
    assert_eq!(r.status, StatusCode::OK);
    let codes: Vec<&str> = r.body["items"].as_array().unwrap().iter().map(|c| c["tracking_code"].as_str().unwrap()).collect();
    assert_eq!(codes, [mine["tracking_code"].as_str().unwrap()]);
    assert!(!r.text.contains("赵六") && !r.text.contains("13700137000") && !r.text.contains(other["tracking_code"].as_str().unwrap()));
    assert!(!r.text.contains("王五"), "the public view only: {}", r.text);
    // The page too.
    let page = app.call("GET", "/resident", None, None, &[("cookie", &who.0)]).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text.contains(mine["tracking_code"].as_str().unwrap()) && !page.text.contains(other["tracking_code"].as_str().unwrap()));
    assert_eq!(app.call("GET", "/resident", None, None, &[]).await.status, StatusCode::SEE_OTHER);

    // Rating: only at the return visit, only one's own case.
    let code = mine["tracking_code"].as_str().unwrap();
    let rate = |code: String, rating: &'static str| {
        let t = &t;
        let who = who.clone();
        async move { t.as_resident("POST", &format!("/api/v1/resident/cases/{code}/rating"), &who, Some(json!({ "rating": rating }))).await }
    };
    assert_eq!(rate(code.to_string(), "satisfied").await.status, StatusCode::CONFLICT, "not resolved yet");
    assert_eq!(rate(other["tracking_code"].as_str().unwrap().to_string(), "satisfied").await.status, StatusCode::NOT_FOUND);
    assert_eq!(rate(code.to_string(), "great").await.status, StatusCode::UNPROCESSABLE_ENTITY);
    let id = mine["id"].as_i64().unwrap();
    for (who, action, body) in [
        ("intake", "file", "{}"),
        ("intake", "dispatch", r#"{"lead_unit":"vc-a1"}"#),
        ("handler-a1", "accept", "{}"),
        ("handler-a1", "resolve", r#"{"feedback":"已更换灯泡"}"#),
    ] {
        assert_eq!(app.post(&format!("/api/v1/cases/{id}/transitions/{action}"), who, body).await.status, StatusCode::OK);
    }
    let listed = t.as_resident("GET", "/api/v1/resident/cases", &who, None).await;
    assert_eq!(listed.body["items"][0]["can_rate"], true);
    let r = rate(code.to_string(), "satisfied").await;
    assert_eq!(
        (r.status, r.body["status"].as_str(), r.body["can_rate"].as_bool()),
        (StatusCode::OK, Some("return_visit"), Some(false)),
        "{}",
        r.text
    );
    // The rating counts: the case may now close.
    let r = app.post(&format!("/api/v1/cases/{id}/transitions/close"), "intake", "{}").await;
    assert_eq!(
        (r.status, r.body["status"].as_str(), r.body["final_rating"].as_str()),
        (StatusCode::OK, Some("closed"), Some("satisfied")),
        "{}",
        r.text
    );
}

#[tokio::test]
async fn resident_pages_sign_in_with_a_code() {
    let t = residents_app().await;
    let app = &t.app;
    let form = |uri: &str, body: String, headers: Vec<(&'static str, String)>| {
        let app = &t.app;
        let uri = uri.to_string();
        async move {
            let mut h: Vec<(&str, &str)> = vec![("content-type", "application/x-www-form-urlencoded")];
            h.extend(headers.iter().map(|(k, v)| (*k, v.as_str())));
            // `call` sends JSON; a form is built by hand.
            let mut b = axum::http::Request::builder().method("POST").uri(&uri);
            for (k, v) in &h {
                b = b.header(*k, *v);
            }
            use tower::ServiceExt;
            let resp = app.router.clone().oneshot(b.body(axum::body::Body::from(body)).unwrap()).await.unwrap();
            let status = resp.status();
            let headers = resp.headers().clone();
            let bytes = http_body_util::BodyExt::collect(resp.into_body()).await.unwrap().to_bytes();
            (status, headers, String::from_utf8_lossy(&bytes).to_string())
        }
    };
    let page = app.call("GET", "/resident/login", None, None, &[]).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text.contains("居民登录"));
    let (s, _, text) = form("/resident/code", "phone=13800138000".into(), vec![]).await;
    assert_eq!(s, StatusCode::OK, "{text}");
    assert!(text.contains("id=\"code-form\""));
    let code = t.last_code("13800138000");
    let (s, _, text) = form("/resident/login", "phone=13800138000&code=99999x".into(), vec![]).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert!(text.contains("验证码不正确"), "{text}");
    let (s, h, _) = form("/resident/login", format!("phone=13800138000&code={code}"), vec![]).await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let cookie = h["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
    let home = app.call("GET", "/resident", None, None, &[("cookie", &cookie)]).await;
    assert_eq!(home.status, StatusCode::OK);
    assert!(home.text.contains("138****8000"), "masked on the page");
    let at = home.text.find("name=\"csrf\" value=\"").unwrap();
    let csrf: String = home.text[at + 19..].chars().take_while(|c| *c != '"').collect();
    // Where I live, then rating a resolved case from the page.
    let (s, h, _) = form("/resident/region", format!("csrf={csrf}&region=330681101001"), vec![("cookie", cookie.clone())]).await;
    assert_eq!((s, h["location"].to_str().unwrap()), (StatusCode::SEE_OTHER, "/resident"));
    let c = app.post("/api/v1/cases", "intake", CASE).await.body;
    let (id, code) = (c["id"].as_i64().unwrap(), c["tracking_code"].as_str().unwrap().to_string());
    for (who, action, body) in [
        ("intake", "file", "{}"),
        ("intake", "dispatch", r#"{"lead_unit":"vc-a1"}"#),
        ("handler-a1", "accept", "{}"),
        ("handler-a1", "resolve", r#"{"feedback":"已更换灯泡"}"#),
    ] {
        assert_eq!(app.post(&format!("/api/v1/cases/{id}/transitions/{action}"), who, body).await.status, StatusCode::OK);
    }
    let home = app.call("GET", "/resident", None, None, &[("cookie", &cookie)]).await;
    assert!(home.text.contains(&format!("/resident/cases/{code}/rate")) && home.text.contains("甲一村"));
    let (s, _, _) =
        form(&format!("/resident/cases/{code}/rate"), "csrf=forged&rating=satisfied".into(), vec![("cookie", cookie.clone())]).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _, text) = form(
        &format!("/resident/cases/{code}/rate"),
        format!("csrf={csrf}&rating=basically_satisfied&comment=%E5%BE%88%E5%BF%AB"),
        vec![("cookie", cookie.clone())],
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{text}");
    assert!(text.contains("感谢您的评价") && !text.contains(&format!("/resident/cases/{code}/rate")));
    let case = app.get(&format!("/api/v1/cases/{id}"), "intake").await.body;
    assert_eq!(case["status"], "return_visit");
    let (s, _, _) = form("/resident/logout", format!("csrf={csrf}"), vec![("cookie", cookie.clone())]).await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    assert_eq!(app.call("GET", "/resident", None, None, &[("cookie", &cookie)]).await.status, StatusCode::SEE_OTHER, "signed out");
    // Staff register a resident in person (with the region).
    let r = app.post("/api/v1/residents", "intake", r#"{"phone":"13900139000","region":"330681101001"}"#).await;
    assert_eq!(
        (r.status, r.body["verified_by"].as_str(), r.body["region_by_staff"].as_bool()),
        (StatusCode::CREATED, Some("staff"), Some(true))
    );
    assert_eq!(
        app.post("/api/v1/residents", "handler-a1", r#"{"phone":"13900139000","region":"330681101001"}"#).await.status,
        StatusCode::FORBIDDEN
    );
    let r = app.post("/api/v1/residents", "intake", r#"{"phone":"1","region":"330681101000"}"#).await;
    assert_eq!(
        (r.status, r.body["error"]["details"].as_array().map(Vec::len)),
        (StatusCode::UNPROCESSABLE_ENTITY, Some(2)),
        "every problem listed"
    );
}

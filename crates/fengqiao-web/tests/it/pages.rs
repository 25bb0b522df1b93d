//! The pages through the router: status, key content, security headers, language, CSRF,
//! scoping across jurisdictions, uploads checked by content, rate limits and CSV exports.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use fengqiao_store::Credentials;
use fengqiao_store::contract::{T0, staff};
use http_body_util::BodyExt;
use tower::ServiceExt;

use crate::{App, app};

pub(crate) const PASSWORD: &str = "correct horse battery";

pub(crate) struct Page {
    pub(crate) status: StatusCode,
    pub(crate) headers: axum::http::HeaderMap,
    pub(crate) body: Vec<u8>,
    pub(crate) text: String,
}

impl Page {
    pub(crate) fn location(&self) -> &str {
        self.headers.get("location").and_then(|v| v.to_str().ok()).unwrap_or("")
    }
}

/// A browser: keeps the session cookie and reads CSRF tokens out of pages.
pub(crate) struct Browser<'a> {
    pub(crate) app: &'a App,
    pub(crate) cookie: Option<String>,
}

pub(crate) async fn send(app: &App, req: Request<Body>) -> Page {
    let resp = app.router.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await.unwrap().to_bytes().to_vec();
    let text = String::from_utf8_lossy(&body).to_string();
    Page { status, headers, body, text }
}

impl<'a> Browser<'a> {
    pub(crate) fn new(app: &'a App) -> Browser<'a> {
        Browser { app, cookie: None }
    }

    pub(crate) async fn get(&self, uri: &str) -> Page {
        let mut b = Request::builder().uri(uri);
        if let Some(c) = &self.cookie {
            b = b.header("cookie", c);
        }
        send(self.app, b.body(Body::empty()).unwrap()).await
    }

    pub(crate) async fn post_form(&self, uri: &str, fields: &[(&str, &str)]) -> Page {
        let body = fields.iter().map(|(k, v)| format!("{}={}", enc(k), enc(v))).collect::<Vec<_>>().join("&");
        let mut b = Request::builder().method("POST").uri(uri).header("content-type", "application/x-www-form-urlencoded");
        if let Some(c) = &self.cookie {
            b = b.header("cookie", c);
        }
        send(self.app, b.body(Body::from(body)).unwrap()).await
    }

    pub(crate) async fn sign_in(&mut self, user: &str) {
        let r = self.post_form("/login", &[("user", user), ("password", PASSWORD), ("next", "/work")]).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
        let set = r.headers.get("set-cookie").unwrap().to_str().unwrap();
        self.cookie = Some(set.split(';').next().unwrap().to_string());
    }

    /// The CSRF token of a page's forms.
    pub(crate) async fn csrf(&self, uri: &str) -> String {
        let p = self.get(uri).await;
        let at = p.text.find("name=\"csrf\" value=\"").expect("a form with a CSRF token");
        p.text[at + 19..].chars().take_while(|c| *c != '"').collect()
    }
}

pub(crate) fn enc(s: &str) -> String {
    fengqiao_web::pages::urlencode(s).replace('/', "%2F")
}

/// The app with a password for every staff user.
pub(crate) async fn pages_app() -> App {
    let app = app().await;
    let hash = fengqiao_web::hash_password(PASSWORD).unwrap();
    for u in staff() {
        let creds = Credentials { token_hash: Some(fengqiao_web::token_hash(&format!("tok-{}", u.id))), password_hash: Some(hash.clone()) };
        app.svc.store.put_user(&u, &creds, "system:test", T0).await.unwrap();
    }
    app
}

/// A multipart body from text fields and an optional file.
pub(crate) fn multipart(fields: &[(&str, &str)], file: Option<(&str, &str, &[u8])>) -> (String, Vec<u8>) {
    let boundary = "----fengqiao-test-boundary";
    let mut body = Vec::new();
    for (k, v) in fields {
        body.extend(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n").as_bytes());
    }
    if let Some((name, filename, bytes)) = file {
        body.extend(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\nContent-Type: image/jpeg\r\n\r\n")
                .as_bytes(),
        );
        body.extend(bytes);
        body.extend(b"\r\n");
    }
    body.extend(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

async fn report(app: &App, fields: &[(&str, &str)], file: Option<(&str, &str, &[u8])>) -> Page {
    let (ct, body) = multipart(fields, file);
    send(app, Request::builder().method("POST").uri("/report").header("content-type", ct).body(Body::from(body)).unwrap()).await
}

fn tracking_code(p: &Page) -> String {
    let at = p.text.find("id=\"tracking-code\">").expect("a tracking code");
    p.text[at + 19..].chars().take_while(|c| *c != '<').collect()
}

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";

fn street_light(desc: &str) -> Vec<(&'static str, String)> {
    vec![
        ("category", "street_light".into()),
        ("description", desc.into()),
        ("region", "330681101001".into()),
        ("name", "王五".into()),
        ("phone", "13800138000".into()),
    ]
}

fn borrow<'a>(v: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    v.iter().map(|(k, s)| (*k, s.as_str())).collect()
}

#[tokio::test]
async fn pages_carry_security_headers_and_switch_language() {
    let app = pages_app().await;
    let b = Browser::new(&app);
    let r = b.get("/").await;
    assert_eq!(r.status, StatusCode::OK);
    let csp = r.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("frame-ancestors 'none'") && csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(r.headers["x-content-type-options"], "nosniff");
    assert_eq!(r.headers["referrer-policy"], "no-referrer");
    assert!(r.text.contains("<html lang=\"zh-CN\">") && r.text.contains("我要反映问题"), "Chinese by default");
    assert!(!r.text.contains("<script>") && !r.text.contains("style=\""), "no inline script or style");

    let en = b.get("/?lang=en").await;
    assert!(en.text.contains("<html lang=\"en\">") && en.text.contains("Report a problem"));
    let set = en.headers["set-cookie"].to_str().unwrap();
    assert!(set.starts_with("fq_lang=en"), "{set}");
    // The cookie then keeps the language on other pages.
    let mut with_cookie = Browser::new(&app);
    with_cookie.cookie = Some("fq_lang=en".into());
    assert!(with_cookie.get("/track").await.text.contains("Tracking code"));

    for (path, ct) in [("/assets/app.css", "text/css"), ("/assets/app.js", "text/javascript")] {
        let r = b.get(path).await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(r.headers["content-type"].to_str().unwrap().starts_with(ct));
        assert!(r.body.len() > 1000);
    }
    let missing = b.get("/nowhere-at-all").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn report_form_renders_category_questions() {
    let app = pages_app().await;
    let r = Browser::new(&app).get("/report?lang=en").await;
    assert_eq!(r.status, StatusCode::OK);
    // road_damage's required single-choice question, with its values and a required mark.
    assert!(r.text.contains("name=\"q.road_damage.road_kind\""), "question rendered");
    assert!(r.text.contains("value=\"county\">County road"));
    assert!(r.text.contains("data-required=\"1\""));
    // noise's multi-choice question as checkboxes.
    assert!(r.text.contains("type=\"checkbox\" name=\"q.noise.time_of_day\" value=\"night\""));
    // Emergency categories say so in the list.
    assert!(r.text.contains("data-emergency=\"1\">Public-order hazard — emergency: call 110"));
    // Every field has a label.
    for id in ["category", "description", "photo", "address", "region", "lat", "lon", "name", "phone", "anonymous"] {
        assert!(r.text.contains(&format!("id=\"{id}\"")), "{id}");
        assert!(r.text.contains(&format!("for=\"{id}\"")) || id == "anonymous", "label for {id}");
    }
    // The map: region outlines as SVG paths with the projection for the click handler.
    assert!(r.text.contains("<svg") && r.text.contains("data-kx=") && r.text.contains("class=\"town\""));
}

#[tokio::test]
async fn a_resident_reports_with_a_photo_and_tracks_it() {
    let app = pages_app().await;
    let before = app.events().await;
    let mut fields = street_light("村口路灯不亮已经三天");
    fields.push(("idem", "form-key-1".into()));
    let r = report(&app, &borrow(&fields), Some(("photo", "lamp.png", PNG))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let code = tracking_code(&r);
    assert_eq!(code.len(), 12);
    assert!(r.text.contains("照片已保存"));
    // A resubmitted form (same key) makes no second case.
    let again = report(&app, &borrow(&fields), None).await;
    assert_eq!(tracking_code(&again), code);
    let case = app.svc.store.case_by_tracking(&fengqiao_domain::TrackingCode::parse(&code).unwrap()).await.unwrap().unwrap();
    assert_eq!((case.channel.as_str(), case.status.as_str()), ("web", "received"));
    let atts = app.svc.store.attachments(&fengqiao_store::Scope::All, case.id).await.unwrap();
    assert_eq!((atts.len(), atts[0].content_type.as_str()), (1, "image/png"));
    assert_eq!(app.events().await, before + 2, "the case and its photo");

    let t = Browser::new(&app).get(&format!("/track/{}", code.to_lowercase())).await;
    assert_eq!(t.status, StatusCode::OK);
    assert!(t.text.contains("已接收") && t.text.contains("已登记") && t.text.contains("路灯故障"), "{}", t.text);
    assert!(!t.text.contains("王五") && !t.text.contains("13800138000"), "no personal data on the tracking page");
    let lookup = Browser::new(&app).get(&format!("/track?code={code}")).await;
    assert_eq!(lookup.status, StatusCode::SEE_OTHER);
    assert_eq!(lookup.location(), format!("/track/{code}"));
    assert_eq!(Browser::new(&app).get("/track/0000-0000-0000").await.status, StatusCode::NOT_FOUND);
    let bad = Browser::new(&app).get("/track?code=nonsense").await;
    assert_eq!(bad.status, StatusCode::NOT_FOUND);
    assert!(bad.text.contains("查询码有误"));
}

#[tokio::test]
async fn uploads_are_checked_by_content_and_bad_input_changes_nothing() {
    let app = pages_app().await;
    let before = app.events().await;
    let fields = street_light("路灯不亮");
    // A script named .jpg, and a GIF: refused by their bytes.
    for bytes in [&b"<script>alert(1)</script>"[..], &b"GIF89a\x01\x00\x01\x00"[..]] {
        let r = report(&app, &borrow(&fields), Some(("photo", "lamp.jpg", bytes))).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(r.text.contains("data-field=\"photo\""), "{}", r.text);
        // What was typed comes back.
        assert!(r.text.contains("路灯不亮</textarea>"));
    }
    // A required question left unanswered, no contact and no category.
    let r = report(&app, &[("category", "road_damage"), ("description", "坑"), ("region", "330681101001"), ("anonymous", "1")], None).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text.contains("data-field=\"answers.road_kind\""), "{}", r.text);
    let r = report(&app, &[("description", "x"), ("region", "330681101001")], None).await;
    assert!(r.text.contains("data-field=\"category\"") && r.text.contains("data-field=\"reporter\""));
    // A point outside the county.
    let r =
        report(&app, &[("category", "noise"), ("description", "吵"), ("lat", "39.9"), ("lon", "116.4"), ("anonymous", "1")], None).await;
    assert!(r.text.contains("data-field=\"location\""), "{}", r.text);
    // A photo over the API's 1 MB body limit is fine; one over 5 MB is refused.
    let mut big = vec![0xFF, 0xD8, 0xFF, 0xE0];
    big.resize(3 * 1024 * 1024, 0);
    let mut too_big = big.clone();
    too_big.resize(5 * 1024 * 1024 + 1, 0);
    let r = report(&app, &borrow(&fields), Some(("photo", "big.jpg", &too_big))).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text.contains("data-field=\"photo\""));
    too_big.resize(7 * 1024 * 1024, 0);
    let r = report(&app, &borrow(&fields), Some(("photo", "big.jpg", &too_big))).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(r.text.contains("提交的内容过大"), "a page, not a bare status");
    assert_eq!(app.events().await, before, "nothing was written");
    let mut anonymous = borrow(&fields);
    anonymous.push(("idem", "big-photo"));
    let r = report(&app, &anonymous, Some(("photo", "big.jpg", &big))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    // With the required answer, and a pin instead of a region, it goes through.
    let ok = report(
        &app,
        &[
            ("category", "road_damage"),
            ("q.road_damage.road_kind", "village"),
            ("description", "坑"),
            ("lat", "29.1"),
            ("lon", "120.1"),
            ("anonymous", "1"),
        ],
        None,
    )
    .await;
    assert_eq!(ok.status, StatusCode::CREATED, "{}", ok.text);
}

#[tokio::test]
async fn emergency_categories_say_call_110_and_still_record() {
    let app = pages_app().await;
    let r =
        report(&app, &[("category", "public_security"), ("description", "有人打架"), ("region", "330681101001"), ("anonymous", "1")], None)
            .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert!(r.text.contains("请立即拨打 110"));
    let code = tracking_code(&r);
    let c = app.svc.store.case_by_tracking(&fengqiao_domain::TrackingCode::parse(&code).unwrap()).await.unwrap().unwrap();
    assert_eq!(c.urgency.as_str(), "emergency");
}

#[tokio::test]
async fn public_submissions_are_rate_limited() {
    let app = pages_app().await;
    for _ in 0..fengqiao_web::pages::RateLimiter::SUBMISSIONS {
        let r = report(&app, &[("description", "x")], None).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let r = report(&app, &[("description", "x")], None).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers.contains_key("retry-after"));
    assert!(r.text.contains("请求过于频繁"));
}

#[tokio::test]
async fn sign_in_and_out() {
    let app = pages_app().await;
    let anon = Browser::new(&app);
    let r = anon.get("/work").await;
    assert_eq!((r.status, r.location()), (StatusCode::SEE_OTHER, "/login?next=/work"));
    let r = anon.post_form("/login", &[("user", "intake"), ("password", "wrong password"), ("next", "/work")]).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.text.contains("账号或密码错误"));
    let r = anon.post_form("/login", &[("user", "intake")]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.text.contains("表单无法读取") && r.text.contains("password"), "a page naming the missing field");
    // Only our own paths may follow sign-in.
    let r = anon.post_form("/login", &[("user", "intake"), ("password", PASSWORD), ("next", "//evil.example/")]).await;
    assert_eq!(r.location(), "/work");
    let mut b = Browser::new(&app);
    b.sign_in("intake").await;
    let set_cookie = b.cookie.clone().unwrap();
    assert!(set_cookie.starts_with("fq_session="));
    let work = b.get("/work").await;
    assert_eq!(work.status, StatusCode::OK);
    assert!(work.text.contains("工作台") && work.text.contains("name=\"csrf\""));
    // Signing out needs the token too.
    assert_eq!(b.post_form("/logout", &[("csrf", "forged")]).await.status, StatusCode::FORBIDDEN);
    let csrf = b.csrf("/work").await;
    let out = b.post_form("/logout", &[("csrf", &csrf)]).await;
    assert_eq!((out.status, out.location()), (StatusCode::SEE_OTHER, "/login"));
    assert_eq!(b.get("/work").await.status, StatusCode::SEE_OTHER, "the session has ended");
}

async fn resident_case(app: &App, region: &str, desc: &str) -> i64 {
    let mut f = street_light(desc);
    f[2].1 = region.into();
    let r = report(app, &borrow(&f), Some(("photo", "p.png", PNG))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let code = tracking_code(&r);
    app.svc.store.case_by_tracking(&fengqiao_domain::TrackingCode::parse(&code).unwrap()).await.unwrap().unwrap().id.0
}

#[tokio::test]
async fn case_pages_are_scoped_and_masked() {
    let app = pages_app().await;
    let a = resident_case(&app, "330681101001", "甲村路灯").await;
    let b_case = resident_case(&app, "330681102001", "乙村路灯").await;
    let mut town_a = Browser::new(&app);
    town_a.sign_in("intake-a").await;
    let work = town_a.get("/work").await;
    assert!(work.text.contains("甲村路灯") && !work.text.contains("乙村路灯"), "the queue holds only the jurisdiction's cases");
    let page = town_a.get(&format!("/cases/{a}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text.contains("13800138000"), "intake sees the reporter's phone");
    assert!(page.text.contains(&format!("/cases/{a}/attachments/")), "the photo is linked");
    assert!(page.text.contains("id=\"act-file\"") && page.text.contains("id=\"act-cancel\""));
    assert!(!page.text.contains("id=\"act-accept\""), "only what the lifecycle allows now");
    // Another jurisdiction's case, its photo and its actions: not found, never its data.
    for uri in [format!("/cases/{b_case}"), format!("/cases/{b_case}/attachments/2"), "/cases/99999".into(), "/cases/abc".into()] {
        let r = town_a.get(&uri).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{uri}");
        assert!(!r.text.contains("乙村路灯"));
    }
    let csrf = town_a.csrf(&format!("/cases/{a}")).await;
    let r = town_a.post_form(&format!("/cases/{b_case}/act/file"), &[("csrf", &csrf)]).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let photo = town_a.get(&format!("/cases/{a}/attachments/1")).await;
    assert_eq!(photo.status, StatusCode::OK);
    assert_eq!(photo.headers["content-type"], "image/png");
    assert_eq!(photo.headers["content-security-policy"], "default-src 'none'; sandbox");
    assert_eq!(photo.headers["x-content-type-options"], "nosniff");
    assert_eq!(photo.body, PNG);

    // Dispatched to village A1's committee, its handler sees the case with masked data.
    let mut sup = Browser::new(&app);
    sup.sign_in("sup").await;
    let csrf = sup.csrf(&format!("/cases/{a}")).await;
    sup.post_form(&format!("/cases/{a}/act/file"), &[("csrf", &csrf)]).await;
    let r = sup
        .post_form(
            &format!("/cases/{a}/act/dispatch"),
            &[("csrf", &csrf), ("lead_unit", "vc-a1"), ("co_units", "town-a"), ("co_units", "vc-b1")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let c = app.svc.store.case(&fengqiao_store::Scope::All, fengqiao_domain::CaseId(a)).await.unwrap().unwrap();
    assert_eq!(
        c.co_units,
        vec![fengqiao_domain::UnitId("town-a".into()), fengqiao_domain::UnitId("vc-b1".into())],
        "both co-handling units"
    );
    let mut handler = Browser::new(&app);
    handler.sign_in("handler-a1").await;
    let page = handler.get(&format!("/cases/{a}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.text.contains("13800138000") && page.text.contains("138****8000"), "masked for handlers");
    assert!(page.text.contains("id=\"act-accept\""));
}

async fn act(b: &Browser<'_>, id: i64, csrf: &str, action: &str, extra: Vec<(&'static str, String)>) -> Page {
    let mut f: Vec<(&str, &str)> = vec![("csrf", csrf)];
    f.extend(extra.iter().map(|(k, v)| (*k, v.as_str())));
    b.post_form(&format!("/cases/{id}/act/{action}"), &f).await
}

#[tokio::test]
async fn actions_need_the_csrf_token_and_follow_the_lifecycle_to_closure() {
    let app = pages_app().await;
    let id = resident_case(&app, "330681101001", "路灯坏了").await;
    let mut intake = Browser::new(&app);
    intake.sign_in("intake").await;
    let before = app.events().await;
    for token in ["", "forged"] {
        let r = intake.post_form(&format!("/cases/{id}/act/file"), &[("csrf", token)]).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        assert!(r.text.contains("表单已过期"));
    }
    // A token from another session does not work either.
    let mut other = Browser::new(&app);
    other.sign_in("sup").await;
    let foreign = other.csrf("/work").await;
    assert_eq!(intake.post_form(&format!("/cases/{id}/act/file"), &[("csrf", &foreign)]).await.status, StatusCode::FORBIDDEN);
    assert_eq!(app.events().await, before, "refused actions wrote nothing");

    let csrf = intake.csrf(&format!("/cases/{id}")).await;
    let r = act(&intake, id, &csrf, "file", vec![("severity", "minor".into())]).await;
    assert_eq!((r.status, r.location().to_string()), (StatusCode::SEE_OTHER, format!("/cases/{id}?done=file")));
    let done = intake.get(r.location()).await;
    assert!(done.text.contains("已完成") && done.text.contains("id=\"act-dispatch\""));
    // A stale version is refused with the page explaining why.
    let stale = act(&intake, id, &csrf, "dispatch", vec![("lead_unit", "vc-a1".into()), ("version", "1".into())]).await;
    assert_eq!(stale.status, StatusCode::CONFLICT);
    assert!(stale.text.contains("id=\"flash\""));
    // A missing reason is a clear error.
    let r = act(&intake, id, &csrf, "cancel", vec![]).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text.contains("reason: 必填"), "the field, and the domain's message in the reader's language: {}", r.text);
    assert_eq!(act(&intake, id, &csrf, "dispatch", vec![("lead_unit", "vc-a1".into())]).await.status, StatusCode::SEE_OTHER);

    let mut handler = Browser::new(&app);
    handler.sign_in("handler-a1").await;
    let hcsrf = handler.csrf(&format!("/cases/{id}")).await;
    for (action, extra) in [("accept", vec![]), ("resolve", vec![("feedback", "已更换灯泡")])] {
        let mut f = vec![("csrf", hcsrf.as_str())];
        f.extend(extra);
        let r = handler.post_form(&format!("/cases/{id}/act/{action}"), &f).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{action}: {}", r.text);
    }
    // The handler may not record the return visit on their own case.
    let page = handler.get(&format!("/cases/{id}")).await;
    assert!(!page.text.contains("id=\"act-record_visit\""));
    let page = intake.get(&format!("/cases/{id}")).await;
    assert!(page.text.contains("id=\"act-record_visit\""));
    let r = act(
        &intake,
        id,
        &csrf,
        "record_visit",
        vec![("party", "".into()), ("channel", "phone".into()), ("reached", "1".into()), ("rating", "satisfied".into())],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
    assert_eq!(act(&intake, id, &csrf, "close", vec![]).await.status, StatusCode::SEE_OTHER);
    let closed = intake.get(&format!("/cases/{id}?lang=en")).await;
    assert!(closed.text.contains("id=\"case-status\">Closed"), "closed");
    assert!(closed.text.contains("Return visit") && closed.text.contains("Satisfied"), "the timeline tells the story");
    assert!(closed.text.contains("id=\"act-reopen\""));
    let r = act(&intake, id, &csrf, "reopen", vec![("reason", "居民再次反映".into())]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
    let reopened = intake.get(&format!("/cases/{id}?lang=en")).await;
    assert!(reopened.text.contains("Reopened (times)") && reopened.text.contains("居民再次反映"), "{}", reopened.text);
    let r = act(&intake, id, &csrf, "nonsense", vec![]).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn staff_record_a_phone_case_quickly() {
    let app = pages_app().await;
    let mut b = Browser::new(&app);
    b.sign_in("intake-a").await;
    let form = b.get("/cases/new").await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(form.text.contains("autofocus") && form.text.contains("value=\"phone\" checked"));
    let csrf = b.csrf("/cases/new").await;
    let fields = [
        ("csrf", csrf.as_str()),
        ("idem", "k1"),
        ("channel", "phone"),
        ("category", "noise"),
        ("description", "楼上装修噪声"),
        ("region", "330681101001"),
        ("name", "李四"),
        ("phone", "13900139000"),
        ("urgency", "routine"),
    ];
    let r = b.post_form("/cases/new", &fields).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
    let page = b.get(r.location()).await;
    assert!(page.text.contains("楼上装修噪声") && page.text.contains("电话"));
    // The same form again makes no second case.
    assert_eq!(b.post_form("/cases/new", &fields).await.location(), r.location());
    // Outside the jurisdiction, without the token, or with bad input: refused.
    let mut outside = fields;
    outside[1] = ("idem", "k2");
    outside[5] = ("region", "330681102001");
    assert_eq!(b.post_form("/cases/new", &outside).await.status, StatusCode::UNPROCESSABLE_ENTITY);
    let mut no_token = fields;
    no_token[0] = ("csrf", "x");
    assert_eq!(b.post_form("/cases/new", &no_token).await.status, StatusCode::FORBIDDEN);
    let mut bad = fields;
    bad[1] = ("idem", "k3");
    bad[7] = ("phone", "12");
    let r = b.post_form("/cases/new", &bad).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text.contains("data-field=\"reporter.phone\""));
}

#[tokio::test]
async fn work_queue_filters_partial_updates_and_csv() {
    let app = pages_app().await;
    resident_case(&app, "330681101001", "第一件").await;
    resident_case(&app, "330681101001", "第二件").await;
    let mut b = Browser::new(&app);
    b.sign_in("intake").await;
    let all = b.get("/work").await;
    assert!(all.text.contains("第一件") && all.text.contains("第二件"));
    let searched = b.get("/work?q=%E7%AC%AC%E4%BA%8C").await;
    assert!(!searched.text.contains("第一件") && searched.text.contains("第二件"));
    let none = b.get("/work?status=closed").await;
    assert!(none.text.contains("没有符合条件的事项"));
    let mut req = Request::builder().uri("/work?category=street_light").header("x-partial", "1");
    req = req.header("cookie", b.cookie.clone().unwrap());
    let partial = send(&app, req.body(Body::empty()).unwrap()).await;
    assert!(partial.text.contains("第一件") && !partial.text.contains("<html"), "just the table");
    let csv = b.get("/work?format=csv").await;
    assert!(csv.headers["content-type"].to_str().unwrap().starts_with("text/csv"));
    let mut lines = csv.text.lines();
    assert_eq!(lines.next(), Some("id,tracking_code,title,category,status,region,unit,deadline,due_at,created"));
    assert_eq!(lines.count(), 2);
    assert_eq!(b.get("/work?status=bogus").await.status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn dashboard_figures_map_and_csv() {
    let app = pages_app().await;
    let id = resident_case(&app, "330681101001", "路灯").await;
    let mut sup = Browser::new(&app);
    sup.sign_in("sup").await;
    let csrf = sup.csrf("/work").await;
    for (action, extra) in [("file", vec![]), ("dispatch", vec![("lead_unit", "vc-a1")])] {
        let mut f = vec![("csrf", csrf.as_str())];
        f.extend(extra);
        assert_eq!(sup.post_form(&format!("/cases/{id}/act/{action}"), &f).await.status, StatusCode::SEE_OTHER);
    }
    let d = sup.get("/dashboard?days=7").await;
    assert_eq!(d.status, StatusCode::OK, "{}", d.text);
    assert!(d.text.contains("id=\"kpi-cohort\">1<"), "one case dispatched in the period");
    assert!(d.text.contains("data-figure=\"response_rate\""));
    assert!(d.text.contains("class=\"nodata\"") || d.text.contains("class=\"shade-"), "the towns are shaded");
    assert!(d.text.contains("甲镇") && d.text.contains("乙镇"));
    let csv = sup.get("/dashboard?days=7&format=csv&table=figures").await;
    assert!(csv.text.starts_with("figure,current,current_counts,previous,change_points\r\n"));
    assert!(csv.text.contains("response_rate,0.0%,0/1,"), "{}", csv.text);
    let regions = sup.get("/dashboard?days=7&format=csv&table=regions&shade=response_rate").await;
    assert!(regions.text.contains("330681101000,甲镇,response_rate,0.0%,0/1"), "{}", regions.text);
    assert_eq!(sup.get("/dashboard?days=8").await.status, StatusCode::UNPROCESSABLE_ENTITY);
    // A period ending before the case was dispatched (2026-01-01 08:00 local) counts nothing;
    // one ending that day counts it.
    assert!(sup.get("/dashboard?days=7&end=2025-12-31").await.text.contains("id=\"kpi-cohort\">0<"));
    assert!(sup.get("/dashboard?days=7&end=2026-01-01").await.text.contains("id=\"kpi-cohort\">1<"));
    assert_eq!(sup.get("/dashboard?end=2026-02-30").await.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(sup.get("/dashboard?format=csv&table=nope").await.status, StatusCode::UNPROCESSABLE_ENTITY);
    // A town supervisor's figures stop at the town: town B's region shows nothing of A's case.
    let mut sup_a = Browser::new(&app);
    sup_a.sign_in("sup-a").await;
    let other = sup_a.get("/dashboard?region=330681102000&days=7").await;
    assert!(other.text.contains("id=\"kpi-cohort\">0<"), "outside the scope counts nothing");
}

#[tokio::test]
async fn dashboard_lists_show_the_most_urgent_and_their_totals() {
    use fengqiao_store::contract::{VILLAGE_A1, actor, draft, staff};
    let app = pages_app().await;
    let intake = actor(&staff()[0]);
    // 52 emergencies dispatched now: each must be accepted within the day.
    for i in 0..52 {
        let mut urgent = draft("street_light", VILLAGE_A1, &format!("灯{i}"));
        urgent.urgency = Some("emergency".into());
        let c = app.svc.create(urgent, &intake, fengqiao_domain::Channel::Phone, None).await.unwrap().case;
        app.svc.act(&intake, c.id, None, &fengqiao_domain::Command::File { severity: None, note: None }).await.unwrap();
        let dispatch = fengqiao_domain::Command::Dispatch { lead_unit: fengqiao_domain::UnitId("vc-a1".into()), co_units: vec![] };
        app.svc.act(&intake, c.id, None, &dispatch).await.unwrap();
    }
    let mut sup = Browser::new(&app);
    sup.sign_in("sup").await;
    let d = sup.get("/dashboard").await;
    assert_eq!(d.status, StatusCode::OK, "{}", d.text);
    let soon = d.text.split("24 小时内到期").nth(1).expect("the list of cases due within a day");
    assert!(soon.starts_with(" (52)"), "the total, not the rows shown: {}", &soon[..40]);
    assert_eq!(soon.matches("<a href=\"/cases/").count(), 50, "the 50 most urgent are shown");
    assert!(d.text.contains("最紧急的 50 件"));
    let csv = sup.get("/dashboard?format=csv&table=soon").await;
    assert_eq!(csv.text.lines().count(), 1 + 52, "the export lists them all");
}

pub(crate) async fn with_admin(app: &App) {
    let admin = fengqiao_store::contract::user("admin", fengqiao_domain::Role::Admin, None, fengqiao_store::contract::COUNTY);
    let creds = Credentials { token_hash: None, password_hash: Some(fengqiao_web::hash_password(PASSWORD).unwrap()) };
    app.svc.store.put_user(&admin, &creds, "system:test", T0).await.unwrap();
}

#[tokio::test]
async fn administration_is_for_administrators_and_validates() {
    let app = pages_app().await;
    with_admin(&app).await;
    let mut sup = Browser::new(&app);
    sup.sign_in("sup").await;
    for page in ["/admin/units", "/admin/users", "/admin/categories", "/admin/regions"] {
        assert_eq!(sup.get(page).await.status, StatusCode::FORBIDDEN, "{page}");
    }
    let mut admin = Browser::new(&app);
    admin.sign_in("admin").await;
    let csrf = admin.csrf("/admin/units").await;
    let before = app.events().await;

    // Units.
    let unit = [
        ("csrf", csrf.as_str()),
        ("id", "ps-a"),
        ("name", "甲镇派出所"),
        ("name_en", "Town A police"),
        ("kind", "police_station"),
        ("region", "330681101000"),
    ];
    let r = admin.post_form("/admin/units", &unit).await;
    assert_eq!((r.status, r.location()), (StatusCode::SEE_OTHER, "/admin/units?saved=ps-a"));
    assert!(app.svc.reference().units.contains_key("ps-a"), "the service sees the new unit at once");
    assert!(admin.get("/admin/units?lang=en").await.text.contains("Town A police"));
    let mut bad = unit;
    bad[1] = ("id", "Bad Id!");
    bad[4] = ("kind", "castle");
    let r = admin.post_form("/admin/units", &bad).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text.contains("data-field=\"id\"") && r.text.contains("data-field=\"kind\""));
    let mut forged = unit;
    forged[0] = ("csrf", "nope");
    assert_eq!(admin.post_form("/admin/units", &forged).await.status, StatusCode::FORBIDDEN);
    // The categories a unit handles: known codes only, and nothing is saved otherwise.
    let mut handles = unit.to_vec();
    handles.push(("handles", "public_security, astrology"));
    let r = admin.post_form("/admin/units", &handles).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text.contains("data-field=\"handles\"") && r.text.contains("astrology"), "{}", r.text);
    assert!(app.svc.reference().units["ps-a"].handles.is_empty());
    handles[6] = ("handles", "public_security，noise");
    assert_eq!(admin.post_form("/admin/units", &handles).await.status, StatusCode::SEE_OTHER);
    assert_eq!(app.svc.reference().units["ps-a"].handles, ["noise", "public_security"]);
    assert!(admin.get("/admin/units?code=ps-a").await.text.contains("value=\"noise, public_security\""));

    // Accounts: a new handler needs a unit, then can sign in with the password given.
    let mut user = [
        ("csrf", csrf.as_str()),
        ("id", "police-a"),
        ("name", "民警甲"),
        ("role", "handler"),
        ("unit", ""),
        ("jurisdiction", "330681101000"),
        ("password", "ten chars or more"),
    ];
    let r = admin.post_form("/admin/users", &user).await;
    assert!(r.text.contains("data-field=\"unit\""), "{}", r.text);
    user[4] = ("unit", "ps-a");
    assert_eq!(admin.post_form("/admin/users", &user).await.status, StatusCode::SEE_OTHER);
    let r = Browser::new(&app).post_form("/login", &[("user", "police-a"), ("password", "ten chars or more")]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "the new account signs in");
    user[6] = ("password", "short");
    assert_eq!(admin.post_form("/admin/users", &user).await.status, StatusCode::UNPROCESSABLE_ENTITY);

    // Categories: the deadline policy changes; the kind of an existing one cannot.
    let cat = [
        ("csrf", csrf.as_str()),
        ("code", "street_light"),
        ("kind", "request"),
        ("name_zh", "路灯故障"),
        ("name_en", "Street light out"),
        ("public", "1"),
        ("response_hours", "2h"),
        ("handling_hours", "2wd"),
        ("visit_hours", "24h"),
    ];
    assert_eq!(admin.post_form("/admin/categories", &cat).await.status, StatusCode::SEE_OTHER);
    let policy = app.svc.reference().categories["street_light"].policy;
    use fengqiao_domain::Span;
    assert_eq!(policy.routine, fengqiao_domain::Sla::new(Span::Hours(2), Span::WorkingDays(2), Span::Hours(24)));
    let mut bad = cat;
    bad[2] = ("kind", "dispute");
    bad[6] = ("response_hours", "100 hours");
    let r = admin.post_form("/admin/categories", &bad).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text.contains("data-field=\"kind\"") && r.text.contains("data-field=\"response_hours\""));

    // Regions: renamed, boundary kept.
    let r = admin
        .post_form(
            "/admin/regions",
            &[("csrf", csrf.as_str()), ("code", "330681101000"), ("name", "甲街道"), ("name_en", "A Subdistrict"), ("population", "5000")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let g = app.svc.reference().regions["330681101000"].clone();
    assert_eq!((g.name.as_str(), g.population, g.boundary.is_some()), ("甲街道", 5000, true));
    assert_eq!(
        admin
            .post_form("/admin/regions", &[("csrf", csrf.as_str()), ("code", "330681199000"), ("name", "x"), ("population", "1")])
            .await
            .status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(app.events().await, before + 5, "each saved change is an audit event, refused ones none");
}

#[tokio::test]
async fn public_figures_suppress_small_cells() {
    let app = pages_app().await;
    let sup = fengqiao_store::contract::actor(&staff().into_iter().find(|u| u.id == "sup").unwrap());
    for i in 0..12 {
        let d = fengqiao_store::contract::draft("street_light", "330681101001", &format!("路灯 {i}"));
        let c = app.svc.create(d, &sup, fengqiao_domain::Channel::Web, None).await.unwrap().case;
        app.svc.act(&sup, c.id, None, &fengqiao_domain::Command::File { severity: None, note: None }).await.unwrap();
        let dispatch = fengqiao_domain::Command::Dispatch { lead_unit: fengqiao_domain::UnitId("vc-a1".into()), co_units: vec![] };
        app.svc.act(&sup, c.id, None, &dispatch).await.unwrap();
    }
    let r = Browser::new(&app).get("/figures").await;
    assert_eq!(r.status, StatusCode::OK);
    let row = |name: &str| {
        let at = r.text.find(&format!("<th scope=\"row\">{name}</th>")).unwrap_or_else(|| panic!("{name} row"));
        r.text[at..].split("</tr>").next().unwrap().to_string()
    };
    // Town A: 12 dispatched, none accepted yet: a real 0%. Town B: nothing, suppressed; and
    // since the county's 12 would give B's count away as 12 - A, A's count is hidden too.
    assert!(row("测试县").contains("<td class=\"num\">12</td><td class=\"num\">0.0%</td>"), "{}", row("测试县"));
    assert!(row("甲镇").contains("<td class=\"num\">*</td><td class=\"num\">0.0%</td>"), "{}", row("甲镇"));
    let suppressed = |s: &str| s.contains("<td class=\"num\">&#60;10</td>") || s.contains("<td class=\"num\">&lt;10</td>");
    assert!(suppressed(&row("乙镇")), "{}", row("乙镇"));
    // Satisfaction has no ratings anywhere yet: suppressed, never shown as 0% or 100%.
    assert!(!row("测试县").contains("100.0%"));
    assert!(!r.text.contains("13800138000") && !r.text.contains("王五"), "no personal data");
    assert_eq!(Browser::new(&app).get("/figures?days=5").await.status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn the_queue_reads_past_one_page_of_cases() {
    let app = pages_app().await;
    let intake = fengqiao_store::contract::actor(&staff().into_iter().find(|u| u.id == "intake").unwrap());
    let tasks: Vec<_> = (0..501)
        .map(|i| {
            let (svc, intake) = (app.svc.clone(), intake.clone());
            tokio::spawn(async move {
                let d = fengqiao_store::contract::draft("noise", "330681101001", &format!("噪声 {i}"));
                svc.create(d, &intake, fengqiao_domain::Channel::Phone, None).await.unwrap();
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let mut b = Browser::new(&app);
    b.sign_in("intake").await;
    let work = b.get("/work").await;
    assert!(work.text.contains("共 501 件"), "all of them, not just the first page");
    assert!(!work.text.contains("仅列出最新的一部分"), "not cut");
    assert_eq!(b.get("/work?format=csv").await.text.lines().count(), 502);
}

#[tokio::test]
async fn public_figures_are_computed_once_a_minute_not_per_reader() {
    let App { svc, _dir, .. } = pages_app().await;
    let state = fengqiao_web::AppState::new(svc.clone(), jiff::tz::TimeZone::get("Asia/Shanghai").unwrap());
    let cache = state.public_figures.clone();
    let app = App { router: fengqiao_web::router(state), svc, _dir };
    let first = Browser::new(&app).get("/figures?lang=en").await;
    assert_eq!(first.status, StatusCode::OK);
    let computed = cache.lock().await.get(&90).map(|(at, v)| (*at, v.len())).expect("the 90-day figures are kept");
    assert_eq!(computed.1, 3, "the county and its two towns");
    let again = Browser::new(&app).get("/figures").await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(cache.lock().await.get(&90).map(|(at, _)| *at), Some(computed.0), "a second reader is served the kept figures");
    // Another period is its own entry.
    assert_eq!(Browser::new(&app).get("/figures?days=30").await.status, StatusCode::OK);
    assert_eq!(cache.lock().await.len(), 2);
}

/// The case page shows the risk as triage scores it and lets staff judge it; the judgement
/// is shown with who made it and lands in the timeline.
#[tokio::test]
async fn the_case_page_shows_and_takes_a_risk_judgement() {
    let app = pages_app().await;
    let id = resident_case(&app, "330681101001", "邻居扬言要拿刀砍死我们全家").await;
    let mut intake = Browser::new(&app);
    intake.sign_in("intake").await;
    let page = intake.get(&format!("/cases/{id}")).await;
    assert!(page.text.contains("<dt>风险研判</dt><dd>红色 (0.97) · 威胁「砍死」 · 凶器「拿刀」 · 威胁「扬言」</dd>"), "{}", page.text);
    assert!(page.text.contains("id=\"act-judge_risk\""));
    let csrf = intake.csrf(&format!("/cases/{id}")).await;
    let before = app.events().await;
    // The verdict is required: without it nothing is written.
    let r = act(&intake, id, &csrf, "judge_risk", vec![("note", "x".into())]).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
    assert_eq!(app.events().await, before);
    let r = act(&intake, id, &csrf, "judge_risk", vec![("high", "1".into()), ("note", "已电话核实".into())]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
    let page = intake.get(&format!("/cases/{id}")).await;
    assert!(page.text.contains("人工研判") && page.text.contains("高风险，需立即处置 · 已电话核实 · user:intake"), "{}", page.text);
    assert!(page.text.contains("<strong>风险研判</strong>"), "in the timeline");

    // A second report of the same matter lists the earlier ones as possible duplicates, linked,
    // but only those the reader may open: town A's intake desk does not learn of town B's case.
    let in_b = resident_case(&app, "330681102001", "邻居扬言要拿刀砍死我们全家").await;
    let again = resident_case(&app, "330681101001", "邻居扬言要拿刀砍死我们全家！").await;
    let link = |n: i64| format!("<a href=\"/cases/{n}\">#{n} ");
    let page = intake.get(&format!("/cases/{again}")).await;
    assert!(page.text.contains("id=\"similar-cases\"") && page.text.contains("相似度"), "{}", page.text);
    assert!(page.text.contains(&link(id)) && page.text.contains(&link(in_b)), "the county desk sees both: {}", page.text);
    let mut town_a = Browser::new(&app);
    town_a.sign_in("intake-a").await;
    let page = town_a.get(&format!("/cases/{again}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text.contains(&link(id)) && !page.text.contains(&link(in_b)), "{}", page.text);
}

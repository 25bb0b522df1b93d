//! Community consultation over HTTP: staff open a matter, residents of the region propose,
//! comment and give one support each (also under many concurrent requests), a resident outside
//! the region cannot, the committee decides, the follow-through completes, and the public
//! page and API show it without personal data.

use axum::http::StatusCode;
use serde_json::json;

use crate::residents::residents_app;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn consultation_lifecycle_and_one_support_per_resident_under_concurrency() {
    let t = residents_app().await;
    let app = &t.app;
    let c =
        app.post("/api/v1/cases", "intake", r#"{"category":"street_light","description":"村口路灯不亮","region":"330681101001"}"#).await;
    let case_id = c.body["id"].as_i64().unwrap();

    // Opening: checked whole, scoped, written once.
    let before = app.events().await;
    let open = |who: &'static str, body: serde_json::Value| {
        let app = &t.app;
        async move { app.post("/api/v1/consultations", who, &body.to_string()).await }
    };
    let good = json!({ "region": "330681101000", "title": "村口停车难", "description": "村口车辆乱停，如何规划？",
        "source": { "kind": "cases", "ids": [case_id] }, "closes_at": "2026-01-10" });
    assert_eq!(open("handler-a1", good.clone()).await.status, StatusCode::FORBIDDEN);
    let mut far = good.clone();
    far["region"] = json!("330681102000");
    let r = open("sup-a", far).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    let r = open("sup-a", json!({ "region": "330681101000", "title": "", "description": "", "source": { "kind": "cases", "ids": [] }, "closes_at": "2025-01-01" })).await;
    assert_eq!((r.status, r.body["error"]["details"].as_array().map(Vec::len)), (StatusCode::UNPROCESSABLE_ENTITY, Some(4)), "{}", r.text);
    assert_eq!(app.events().await, before, "refused openings write nothing");
    let r = open("sup-a", good).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let id = r.body["id"].as_i64().unwrap();
    assert_eq!((r.body["status"].as_str(), r.body["accepting_input"].as_bool()), (Some("open"), Some(true)));
    assert_eq!(app.get("/api/v1/consultations", "sup").await.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(app.get(&format!("/api/v1/consultations/{id}"), "handler-b1").await.status, StatusCode::NOT_FOUND);

    // Residents: two of the region (one signed in by code and declaring the village, one
    // registered in person), one from elsewhere.
    let a = t.sign_in("13800000001").await;
    let r = t.as_resident("POST", &format!("/api/v1/consultations/{id}/proposals"), &a, Some(json!({ "text": "划线停车" }))).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "no region recorded yet: {}", r.text);
    t.as_resident("PUT", "/api/v1/resident/region", &a, Some(json!({ "region": "330681101001" }))).await;
    assert_eq!(
        app.post("/api/v1/residents", "intake", r#"{"phone":"13800000002","region":"330681101001"}"#).await.status,
        StatusCode::CREATED
    );
    let b = t.sign_in("13800000002").await;
    assert_eq!(
        app.post("/api/v1/residents", "intake", r#"{"phone":"13800000003","region":"330681102001"}"#).await.status,
        StatusCode::CREATED
    );
    let outsider = t.sign_in("13800000003").await;

    let propose = |who: &(String, String), text: &str| {
        let t = &t;
        let (who, text) = (who.clone(), text.to_string());
        async move { t.as_resident("POST", &format!("/api/v1/consultations/{id}/proposals"), &who, Some(json!({ "text": text }))).await }
    };
    let p1 = propose(&a, "村口划线停车").await;
    assert_eq!(p1.status, StatusCode::CREATED, "{}", p1.text);
    let p1 = p1.body["id"].as_i64().unwrap();
    let p2 = propose(&b, "建设立体车库").await.body["id"].as_i64().unwrap();
    assert_eq!(propose(&outsider, "我也要提").await.status, StatusCode::FORBIDDEN);
    assert_eq!(propose(&a, "  ").await.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = t
        .as_resident(
            "POST",
            &format!("/api/v1/consultations/{id}/comments"),
            &b,
            Some(json!({ "text": "留出消防通道", "proposal_id": p1 })),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let r = t.as_resident("POST", &format!("/api/v1/consultations/{id}/support"), &outsider, Some(json!({ "proposal_id": p1 }))).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "a resident outside the region cannot vote");

    // Many concurrent supports from one resident: exactly one counts.
    let before = app.events().await;
    let mut tasks = Vec::new();
    for i in 0..24 {
        let router = app.router.clone();
        let (cookie, csrf) = a.clone();
        let body = json!({ "proposal_id": if i % 2 == 0 { p1 } else { p2 } }).to_string();
        tasks.push(tokio::spawn(async move {
            use tower::ServiceExt;
            let req = axum::http::Request::builder()
                .method("POST")
                .uri(format!("/api/v1/consultations/{id}/support"))
                .header("content-type", "application/json")
                .header("cookie", cookie)
                .header("x-csrf-token", csrf)
                .body(axum::body::Body::from(body))
                .unwrap();
            router.oneshot(req).await.unwrap().status()
        }));
    }
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::CREATED).count(), 1, "{statuses:?}");
    assert!(statuses.iter().all(|s| *s == StatusCode::CREATED || *s == StatusCode::CONFLICT), "{statuses:?}");
    assert_eq!(app.events().await, before + 1, "one support, one event");
    let r = t.as_resident("POST", &format!("/api/v1/consultations/{id}/support"), &b, Some(json!({ "proposal_id": p2 }))).await;
    assert_eq!(r.status, StatusCode::CREATED);
    let public = app.call("GET", &format!("/api/v1/public/consultations/{id}"), None, None, &[]).await;
    assert_eq!(public.status, StatusCode::OK);
    assert_eq!(public.body["supporters"], 2);
    assert_eq!(public.body["proposals"].as_array().unwrap().iter().map(|p| p["supports"].as_i64().unwrap()).sum::<i64>(), 2);
    for secret in ["13800000001", "13800000002", "resident_id", "user:sup-a", "opened_by"] {
        assert!(!public.text.contains(secret), "the public view leaks {secret}: {}", public.text);
    }

    // The period ends; the committee decides (with the version); the follow-through completes.
    t.clock.set(fengqiao_domain::Timestamp::parse_rfc3339("2026-01-11T00:00:00+08:00").unwrap());
    assert_eq!(propose(&a, "晚了").await.status, StatusCode::UNAUTHORIZED, "the session has expired too");
    let a = t.sign_in("13800000001").await;
    assert_eq!(propose(&a, "晚了").await.status, StatusCode::CONFLICT);
    let act = |body: serde_json::Value, headers: Vec<(&'static str, String)>| {
        let app = &t.app;
        async move {
            let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            app.call("POST", &format!("/api/v1/consultations/{id}/actions"), Some("sup-a"), Some(&body.to_string()), &h).await
        }
    };
    let decide = json!({ "action": "decide", "text": "采纳划线停车方案", "answer": "村委会两周内完成划线并公示" });
    assert_eq!(act(decide.clone(), vec![("if-match", "9".into())]).await.status, StatusCode::CONFLICT);
    let r = act(json!({ "action": "progress", "percent": 10 }), vec![]).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "no progress before a decision");
    let r = act(decide, vec![("if-match", "1".into())]).await;
    assert_eq!((r.status, r.body["status"].as_str()), (StatusCode::OK, Some("decided")), "{}", r.text);
    assert_eq!(act(json!({ "action": "add_milestone", "title": "划线施工" }), vec![]).await.status, StatusCode::OK);
    assert_eq!(act(json!({ "action": "complete_milestone", "index": 0 }), vec![]).await.status, StatusCode::OK);
    assert_eq!(act(json!({ "action": "progress", "percent": 150 }), vec![]).await.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = act(json!({ "action": "progress", "percent": 100, "note": "已完成" }), vec![]).await;
    assert_eq!((r.status, r.body["status"].as_str(), r.body["progress"].as_i64()), (StatusCode::OK, Some("completed"), Some(100)));

    // The public page shows it all, in both languages, without personal data.
    let page = app.call("GET", &format!("/consultations/{id}"), None, None, &[]).await;
    assert_eq!(page.status, StatusCode::OK);
    for s in ["村口停车难", "村口划线停车", "采纳划线停车方案", "村委会两周内完成划线并公示", "划线施工", "100%", "留出消防通道"]
    {
        assert!(page.text.contains(s), "the public page lacks {s}");
    }
    assert!(!page.text.contains("13800000001") && !page.text.contains("sup-a"));
    let en = app.call("GET", &format!("/consultations/{id}?lang=en"), None, None, &[]).await;
    assert!(en.text.contains("Committee decision"));
    let list = app.call("GET", "/consultations", None, None, &[]).await;
    assert!(list.status == StatusCode::OK && list.text.contains("村口停车难"));
    assert!(matches!(
        app.svc.verify_audit(fengqiao_store::contract::AUDIT_KEY, |_| {}).await.unwrap(),
        fengqiao_domain::audit::VerifyOutcome::Ok { .. }
    ));
}

#[tokio::test]
async fn consultation_pages_for_staff_and_residents() {
    let t = residents_app().await;
    let app = &t.app;
    let r = app
        .post(
            "/api/v1/consultations",
            "sup-a",
            &json!({ "region": "330681101001", "title": "广场舞噪声", "description": "晚间广场舞音量过大", "source": { "kind": "hotspot", "note": "文化广场" }, "closes_at": "2026-01-20" }).to_string(),
        )
        .await;
    let id = r.body["id"].as_i64().unwrap();
    assert_eq!(
        app.post("/api/v1/residents", "intake", r#"{"phone":"13800000009","region":"330681101001"}"#).await.status,
        StatusCode::CREATED
    );
    let who = t.sign_in("13800000009").await;
    // Signed out: a link to sign in; signed in and eligible: the forms.
    let page = app.call("GET", &format!("/consultations/{id}"), None, None, &[]).await;
    assert!(page.text.contains("sign-in-to-take-part") && !page.text.contains("propose-form"));
    let page = app.call("GET", &format!("/consultations/{id}"), None, None, &[("cookie", &who.0)]).await;
    assert!(page.text.contains("propose-form"), "{}", page.text);
    let post = |uri: String, body: String, cookie: String| {
        let router = t.app.router.clone();
        async move {
            use tower::ServiceExt;
            let req = axum::http::Request::builder()
                .method("POST")
                .uri(uri)
                .header("content-type", "application/x-www-form-urlencoded")
                .header("cookie", cookie)
                .body(axum::body::Body::from(body))
                .unwrap();
            let resp = router.oneshot(req).await.unwrap();
            let status = resp.status();
            let bytes = http_body_util::BodyExt::collect(resp.into_body()).await.unwrap().to_bytes();
            (status, String::from_utf8_lossy(&bytes).to_string())
        }
    };
    let (s, _) = post(format!("/consultations/{id}/propose"), "csrf=wrong&text=x".into(), who.0.clone()).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, text) = post(format!("/consultations/{id}/propose"), format!("csrf={}&text=%E9%99%90%E6%97%B6", who.1), who.0.clone()).await;
    assert_eq!(s, StatusCode::SEE_OTHER, "{text}");
    let text = app.call("GET", &format!("/consultations/{id}?done=proposed"), None, None, &[("cookie", &who.0)]).await.text;
    assert!(text.contains("限时") && text.contains("support-form") && text.contains("建议已提交"));
    let pid =
        app.call("GET", &format!("/api/v1/public/consultations/{id}"), None, None, &[]).await.body["proposals"][0]["id"].as_i64().unwrap();
    let (s, text) = post(format!("/consultations/{id}/support"), format!("csrf={}&proposal_id={pid}", who.1), who.0.clone()).await;
    assert_eq!(s, StatusCode::SEE_OTHER, "{text}");
    let text = app.call("GET", &format!("/consultations/{id}"), None, None, &[("cookie", &who.0)]).await.text;
    assert!(!text.contains("support-form"), "supported once, the form is gone");
    let (s, text) = post(format!("/consultations/{id}/support"), format!("csrf={}&proposal_id={pid}", who.1), who.0.clone()).await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert!(text.contains("您已在本次议事中表达过支持"), "the refusal in the reader's language: {text}");
    // Comments on a proposal and on the matter.
    let (s, _) =
        post(format!("/consultations/{id}/comment"), format!("csrf={}&proposal_id={pid}&text=%E8%B5%9E%E6%88%90", who.1), who.0.clone())
            .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let (s, _) = post(format!("/consultations/{id}/comment"), format!("csrf={}&proposal_id=&text=%E5%A5%BD", who.1), who.0.clone()).await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let (s, _) = post(format!("/consultations/{id}/comment"), format!("csrf={}&proposal_id=&text=", who.1), who.0.clone()).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let public = app.call("GET", &format!("/api/v1/public/consultations/{id}"), None, None, &[]).await.body;
    let comments: Vec<(Option<i64>, &str)> =
        public["comments"].as_array().unwrap().iter().map(|c| (c["proposal_id"].as_i64(), c["text"].as_str().unwrap())).collect();
    assert_eq!(comments, [(Some(pid), "赞成"), (None, "好")]);
    // Signed out, a post goes to the sign-in page.
    let (s, _) = post(format!("/consultations/{id}/comment"), "csrf=x&text=y".into(), String::new()).await;
    assert_eq!(s, StatusCode::SEE_OTHER);

    // Staff pages: the list and the management page (session sign-in is the staff pages'
    // way in; the page redirects without it).
    assert_eq!(app.call("GET", "/work/consultations", None, None, &[]).await.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn staff_open_decide_and_follow_through_on_the_pages() {
    use crate::pages::{Browser, pages_app};
    let app = pages_app().await;
    let mut sup = Browser::new(&app);
    sup.sign_in("sup-a").await;
    let list = sup.get("/work/consultations").await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(list.text.contains("open-form") && list.text.contains("甲一村"), "the region choice lies in the jurisdiction");
    assert!(!list.text.contains("乙一村"));
    let csrf = sup.csrf("/work/consultations").await;
    // Bad input comes back with every problem and writes nothing.
    let before = app.events().await;
    let r = sup
        .post_form(
            "/work/consultations",
            &[
                ("csrf", &csrf),
                ("region", "330681101001"),
                ("title", ""),
                ("description", "d"),
                ("source_kind", "cases"),
                ("source", "1,x"),
                ("closes_at", "2026-01-20"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
    assert!(r.text.contains("id=\"error\""));
    assert_eq!(app.events().await, before);
    let r = sup
        .post_form(
            "/work/consultations",
            &[
                ("csrf", &csrf),
                ("region", "330681101001"),
                ("title", "垃圾分类点选址"),
                ("description", "新的垃圾分类投放点放在哪里"),
                ("source_kind", "hotspot"),
                ("source", "村委会门口"),
                ("closes_at", "2026-01-20"),
            ],
        )
        .await;
    assert_eq!((r.status, r.location()), (StatusCode::SEE_OTHER, "/work/consultations/1"), "{}", r.text);
    let page = sup.get("/work/consultations/1").await;
    assert!(page.text.contains("decide-form"));
    assert!(page.text.contains("热点 · 村委会门口"), "the source is shown to staff");
    let act = |action: &'static str, fields: Vec<(&'static str, String)>| {
        let sup = &sup;
        let csrf = csrf.clone();
        async move {
            let mut f: Vec<(&str, &str)> = vec![("csrf", csrf.as_str())];
            f.extend(fields.iter().map(|(k, v)| (*k, v.as_str())));
            sup.post_form(&format!("/work/consultations/1/act/{action}"), &f).await
        }
    };
    assert_eq!(
        act("decide", vec![("version", "7".into()), ("text", "x".into()), ("answer", "y".into())]).await.status,
        StatusCode::CONFLICT
    );
    let r = act("decide", vec![("version", "1".into()), ("text", "设在村委会东侧".into()), ("answer", "下周设置".into())]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
    assert_eq!(
        act("add_milestone", vec![("title", "采购垃圾桶".into()), ("due", "2026-01-25".into())]).await.status,
        StatusCode::SEE_OTHER
    );
    assert_eq!(act("complete_milestone", vec![("index", "0".into())]).await.status, StatusCode::SEE_OTHER);
    assert_eq!(act("progress", vec![("percent", "abc".into())]).await.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(act("progress", vec![("percent", "40".into()), ("note", "已采购".into())]).await.status, StatusCode::SEE_OTHER);
    let public = Browser::new(&app).get("/consultations/1").await;
    assert!(
        public.text.contains("设在村委会东侧")
            && public.text.contains("40%")
            && public.text.contains("采购垃圾桶")
            && public.text.contains("已采购")
    );
    // Another town's supervisor does not see it; forged forms are refused.
    let mut other = Browser::new(&app);
    other.sign_in("handler-b1").await;
    assert_eq!(other.get("/work/consultations/1").await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        sup.post_form("/work/consultations/1/act/progress", &[("csrf", "forged"), ("percent", "50")]).await.status,
        StatusCode::FORBIDDEN
    );
    // Registering a resident in person.
    let reg = sup.get("/work/residents").await;
    assert!(reg.text.contains("register-form"));
    let r = sup.post_form("/work/residents", &[("csrf", &csrf), ("phone", "13800000042"), ("region", "330681101001")]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.text.contains("138****0042"), "{}", r.text);
    assert!(app.svc.store.resident_by_phone("13800000042").await.unwrap().unwrap().region_by_staff);
}

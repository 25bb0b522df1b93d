//! The problem pages and the notifications page through the router: a problem opened from cases
//! chosen in a filtered list, worked through its forms, scoped by jurisdiction; webhooks,
//! dead letters and e-mail addresses managed by an administrator; CSRF everywhere.

use axum::http::StatusCode;
use fengqiao_domain::ManualClock;
use fengqiao_store::contract::{T0, staff, user};
use fengqiao_store::webhooks::{Attempt, OutboxFilter, WEBHOOK};
use fengqiao_store::{Credentials, ServiceConfig};

use crate::App;
use crate::pages::{Browser, PASSWORD};
use crate::problems::{app_with, dispatched};

async fn with_passwords(app: &App) {
    let hash = fengqiao_web::hash_password(PASSWORD).unwrap();
    let mut users = staff();
    users.push(user("admin", fengqiao_domain::Role::Admin, None, fengqiao_store::contract::COUNTY));
    for u in users {
        let creds = Credentials { token_hash: Some(fengqiao_web::token_hash(&format!("tok-{}", u.id))), password_hash: Some(hash.clone()) };
        app.svc.store.put_user(&u, &creds, "system:test", T0).await.unwrap();
    }
}

#[tokio::test]
async fn a_problem_is_opened_from_chosen_cases_and_worked_on_its_page() {
    let app = app_with(ManualClock::new(T0), ServiceConfig::default()).await;
    with_passwords(&app).await;
    let a = dispatched(&app, "noise", "330681101001", "vc-a1", Some("handler-a1")).await;
    let b = dispatched(&app, "noise", "330681101001", "vc-a1", None).await;
    let far = dispatched(&app, "noise", "330681102001", "vc-b1", None).await;
    let mut sup = Browser::new(&app);
    sup.sign_in("sup-a").await;

    // The filtered list offers the town's noise cases, ticked; not village B's.
    let p = sup.get("/problems/new?category=noise").await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.text);
    assert!(p.text.contains(&format!("name=\"case\" value=\"{a}\"")) && p.text.contains(&format!("name=\"case\" value=\"{b}\"")));
    assert!(!p.text.contains(&format!("name=\"case\" value=\"{far}\"")));
    let csrf = sup.csrf("/problems/new").await;
    let before = app.events().await;
    assert_eq!(
        sup.post_form("/problems/new", &[("csrf", "forged"), ("title", "x"), ("case", &a.to_string())]).await.status,
        StatusCode::FORBIDDEN
    );
    let r = sup.post_form("/problems/new", &[("csrf", &csrf), ("title", " "), ("case", &a.to_string()), ("case", &far.to_string())]).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
    assert!(r.text.contains("data-field=\"case_ids[1]\"") && r.text.contains("data-field=\"title\""), "{}", r.text);
    assert_eq!(app.events().await, before, "a refused form writes nothing");

    let r =
        sup.post_form("/problems/new", &[("csrf", &csrf), ("title", "夜市噪声"), ("case", &a.to_string()), ("case", &b.to_string())]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
    assert_eq!(r.location(), "/problems/1");
    let page = sup.get("/problems/1").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    assert!(
        page.text.contains("夜市噪声")
            && page.text.contains("id=\"before-after\"")
            && page.text.contains("aria-current=\"step\" data-stage=\"scanning\"")
    );
    assert!(page.headers.get("content-security-policy").is_some());
    assert!(sup.get("/problems/1?lang=en").await.text.contains("Before and after"));
    assert!(sup.get("/problems").await.text.contains("data-problem=\"1\""));

    // Worked through its forms.
    let csrf = sup.csrf("/problems/1").await;
    let act = |what: &'static str, fields: Vec<(&'static str, String)>| {
        let (sup, csrf) = (&sup, csrf.clone());
        async move {
            let mut f: Vec<(&str, &str)> = vec![("csrf", &csrf)];
            f.extend(fields.iter().map(|(k, v)| (*k, v.as_str())));
            sup.post_form(&format!("/problems/1/act/{what}"), &f).await
        }
    };
    assert_eq!(act("advance", vec![("note", "同类投诉集中".into())]).await.status, StatusCode::SEE_OTHER);
    assert_eq!(act("write", vec![("analysis", "周末夜间".into())]).await.status, StatusCode::SEE_OTHER);
    assert_eq!(
        act("add_action", vec![("text", "夜市 22 点收摊".into()), ("owner", "unit:vc-a1".into()), ("due", "2026-02-01".into())])
            .await
            .status,
        StatusCode::SEE_OTHER
    );
    assert_eq!(act("set_responsible", vec![("units", "vc-a1".into()), ("units", "town-a".into())]).await.status, StatusCode::SEE_OTHER);
    let bad = act("add_cases", vec![("case_ids", far.to_string())]).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "a case outside the scope");
    assert_eq!(act("nonsense", vec![]).await.status, StatusCode::NOT_FOUND);
    let page = sup.get("/problems/1").await;
    assert!(page.text.contains("aria-current=\"step\" data-stage=\"analysis\"") && page.text.contains("夜市 22 点收摊"), "{}", page.text);

    // Village B's handler does not see it; village A's updates its action.
    let mut hb = Browser::new(&app);
    hb.sign_in("handler-b1").await;
    assert_eq!(hb.get("/problems/1").await.status, StatusCode::NOT_FOUND);
    assert!(!hb.get("/problems").await.text.contains("data-problem=\"1\""));
    let mut ha = Browser::new(&app);
    ha.sign_in("handler-a1").await;
    let page = ha.get("/problems/1").await;
    assert!(!page.text.contains("id=\"advance-form\""), "handlers do not move the stages");
    let csrf = ha.csrf("/problems/1").await;
    let r = ha.post_form("/problems/1/act/set_action_status", &[("csrf", &csrf), ("action", "1"), ("status", "done")]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
    assert!(ha.get("/problems/1").await.text.contains("data-action=\"1\" data-status=\"done\""));
    let r = ha.post_form("/problems/1/act/advance", &[("csrf", &csrf)]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn the_notifications_page_manages_webhooks_dead_letters_and_addresses() {
    let app = app_with(ManualClock::new(T0), ServiceConfig::default()).await;
    with_passwords(&app).await;
    let mut sup = Browser::new(&app);
    sup.sign_in("sup").await;
    assert_eq!(sup.get("/admin/webhooks").await.status, StatusCode::FORBIDDEN);
    let mut admin = Browser::new(&app);
    admin.sign_in("admin").await;
    let p = admin.get("/admin/webhooks").await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.text);
    assert!(p.text.contains("id=\"no-hooks\"") && p.text.contains("href=\"/admin/webhooks\""));
    let csrf = admin.csrf("/admin/webhooks").await;

    let secret = "page-secret-0123456789";
    let r = admin.post_form("/admin/webhooks", &[("csrf", &csrf), ("name", "城管"), ("url", "ftp://x"), ("secret", "short")]).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text.contains("data-field=\"url\"") && r.text.contains("data-field=\"secret\"") && r.text.contains("data-field=\"kinds\""));
    let fields = [
        ("csrf", csrf.as_str()),
        ("name", "城管"),
        ("url", "http://127.0.0.1:9/h"),
        ("secret", secret),
        ("kinds", "case_created"),
        ("kinds", "breached"),
    ];
    let r = admin.post_form("/admin/webhooks", &fields).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
    let p = admin.get("/admin/webhooks").await;
    assert!(p.text.contains("data-hook=\"1\"") && !p.text.contains(secret), "the secret is never shown");

    // A dead message is listed and queued again from the page.
    dispatched(&app, "noise", "330681101001", "vc-a1", None).await;
    let store = &app.svc.store;
    let item = store.outbox(&OutboxFilter { channel: Some(WEBHOOK.into()), limit: 10, ..Default::default() }).await.unwrap().pop().unwrap();
    store.outbox_attempted(item.id, &Attempt::Failed { at: T0, error: "refused".into(), retry_at: None }).await.unwrap();
    let p = admin.get("/admin/webhooks").await;
    assert!(p.text.contains(&format!("data-outbox=\"{}\"", item.id)), "{}", p.text);
    assert_eq!(sup.post_form(&format!("/admin/outbox/{}/requeue", item.id), &[("csrf", &csrf)]).await.status, StatusCode::FORBIDDEN);
    let r = admin.post_form(&format!("/admin/outbox/{}/requeue", item.id), &[("csrf", &csrf)]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
    assert!(admin.get("/admin/webhooks").await.text.contains("id=\"no-dead\""));
    assert_eq!(admin.post_form(&format!("/admin/outbox/{}/requeue", item.id), &[("csrf", &csrf)]).await.status, StatusCode::NOT_FOUND);

    // Turning it off; an address for a user's notices.
    assert_eq!(admin.post_form("/admin/webhooks/1/toggle", &[("csrf", &csrf)]).await.status, StatusCode::SEE_OTHER);
    assert!(!store.subscriptions().await.unwrap()[0].active);
    assert_eq!(store.subscriptions().await.unwrap()[0].secret, secret, "the secret is kept");
    let r = admin.post_form("/admin/user-emails", &[("csrf", &csrf), ("user", "handler-a1"), ("email", "a1@example.org")]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
    assert!(admin.get("/admin/webhooks").await.text.contains("a1@example.org"));
    let r = admin.post_form("/admin/user-emails", &[("csrf", &csrf), ("user", "handler-a1"), ("email", "no address")]).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(store.user_emails().await.unwrap().len(), 1);
}

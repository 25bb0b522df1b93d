//! Early warnings through the router: alerts raised by the evaluator, listed, read,
//! acknowledged and closed by supervisors in their jurisdiction, the figures, reach, and the
//! `/alerts` page with its CSRF-protected forms.

use axum::http::StatusCode;
use fengqiao_store::contract::VILLAGE_A1;

use crate::App;
use crate::pages::{Browser, pages_app};

/// Three disputes between the same two parties in village A1, then an evaluation: one alert
/// per party. Returns the dispute ids.
async fn three_disputes(app: &App) -> Vec<i64> {
    let mut ids = Vec::new();
    for _ in 0..3 {
        let body = format!(
            r#"{{"category":"neighbour","description":"院墙滴水","region":"{VILLAGE_A1}","parties":[{{"role":"applicant","name":"张三","phone":"13900000001"}},{{"role":"respondent","name":"李四","phone":"13900000002"}}]}}"#
        );
        let r = app.post("/api/v1/cases", "intake", &body).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        ids.push(r.body["id"].as_i64().unwrap());
    }
    ids
}

#[tokio::test]
async fn alerts_are_raised_read_acknowledged_and_closed_in_jurisdiction() {
    let app = pages_app().await;
    let disputes = three_disputes(&app).await;
    let raised = app.svc.evaluate_alerts(app.svc.now()).await.unwrap();
    assert_eq!(raised.len(), 2, "one per party: {raised:?}");
    assert!(app.svc.evaluate_alerts(app.svc.now()).await.unwrap().is_empty(), "one alert per live condition");

    let list = app.get("/api/v1/alerts", "sup-a").await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.text);
    let items = list.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    let id = items[0]["id"].as_i64().unwrap();
    assert_eq!(items[0]["kind"], "same_parties");
    assert_eq!(items[0]["status"], "open");
    assert_eq!(items[0]["evidence"]["case_ids"].as_array().unwrap().iter().map(|v| v.as_i64().unwrap()).collect::<Vec<_>>(), disputes);
    assert_eq!(app.get("/api/v1/alerts", "handler-a1").await.body["items"].as_array().unwrap().len(), 0);
    assert_eq!(app.get("/api/v1/alerts", "intake").await.body["items"].as_array().unwrap().len(), 0);
    assert_eq!(app.get("/api/v1/alerts?kind=category_burst", "sup").await.body["items"].as_array().unwrap().len(), 0);
    assert_eq!(app.get("/api/v1/alerts?region=330681102000", "sup").await.body["items"].as_array().unwrap().len(), 0);
    let bad = app.get("/api/v1/alerts?status=bogus&kind=x&limit=0", "sup").await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad.body["error"]["details"].as_array().unwrap().len(), 3, "every problem listed: {}", bad.text);

    let one = app.get(&format!("/api/v1/alerts/{id}"), "sup").await;
    assert_eq!(one.status, StatusCode::OK);
    assert_eq!(one.body["recipients"], serde_json::json!(["user:sup", "user:sup-a"]));
    assert_eq!(app.get(&format!("/api/v1/alerts/{id}"), "intake").await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.get("/api/v1/alerts/nope", "sup").await.status, StatusCode::NOT_FOUND);
    let inbox = app.get("/api/v1/inbox", "sup-a").await;
    assert!(inbox.text.contains("early_warning"), "{}", inbox.text);

    // Refusals change nothing.
    let before = app.events().await;
    assert_eq!(app.post(&format!("/api/v1/alerts/{id}/acknowledge"), "handler-a1", "{}").await.status, StatusCode::NOT_FOUND);
    let r = app.post(&format!("/api/v1/alerts/{id}/close"), "sup-a", r#"{"note":" "}"#).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
    let r = app.call("POST", &format!("/api/v1/alerts/{id}/acknowledge"), Some("sup-a"), Some("{}"), &[("if-match", "\"5\"")]).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
    assert_eq!(app.events().await, before);

    let r = app
        .call("POST", &format!("/api/v1/alerts/{id}/acknowledge"), Some("sup-a"), Some(r#"{"note":"已联系"}"#), &[("if-match", "\"1\"")])
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!((r.body["status"].as_str(), r.body["acknowledged"]["by"].as_str()), (Some("acknowledged"), Some("user:sup-a")));
    assert_eq!(app.post(&format!("/api/v1/alerts/{id}/acknowledge"), "sup-a", "{}").await.status, StatusCode::CONFLICT);
    let r = app.post(&format!("/api/v1/alerts/{id}/close"), "sup", r#"{"note":"已调解"}"#).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["status"], "closed");
    assert_eq!(app.events().await, before + 2, "each step is an audit event");

    let f = app.get("/api/v1/alerts/figures", "sup").await;
    assert_eq!(f.status, StatusCode::OK, "{}", f.text);
    assert_eq!(f.body["alerts"], serde_json::json!({ "raised": 2, "closed": 1, "open": 1, "unacknowledged": 1 }));
    assert_eq!(app.get("/api/v1/alerts/figures", "handler-a1").await.body["alerts"]["raised"], 0);
    assert_eq!(app.get("/api/v1/alerts/figures?from=2026-02-01&to=2026-01-01", "sup").await.status, StatusCode::UNPROCESSABLE_ENTITY);

    // Closed while the condition holds: the next evaluation raises it again.
    assert_eq!(app.svc.evaluate_alerts(app.svc.now()).await.unwrap().len(), 1);
}

#[tokio::test]
async fn reach_counts_reports_per_thousand_and_flags_silent_places() {
    let app = pages_app().await;
    three_disputes(&app).await;
    let r = app.get("/api/v1/reach?level=village", "sup").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let grids = r.body["grids"].as_array().unwrap();
    assert_eq!(grids.len(), 2, "{}", r.text);
    assert_eq!(
        (grids[0]["region"].as_str(), grids[0]["reports"].as_i64(), grids[0]["per_1000"].as_f64()),
        (Some(VILLAGE_A1), Some(3), Some(3.0))
    );
    assert_eq!(grids[0]["silent"], false);
    assert_eq!((grids[1]["reports"].as_i64(), grids[1]["silent"].as_bool()), (Some(0), Some(true)));
    assert_eq!(grids[0]["by_channel"], serde_json::json!({ "counter": 3 }), "{}", r.text);
    assert_eq!(r.body["channels"], serde_json::json!([{ "channel": "counter", "reports": 3, "per_1000": 3.0 }]));
    assert_eq!(r.body["reports"], 3);
    // Town A's supervisor sees town A's villages only.
    let a = app.get("/api/v1/reach?level=village", "sup-a").await;
    assert_eq!(a.body["grids"].as_array().unwrap().len(), 1);
    assert_eq!(app.get("/api/v1/reach", "sup").await.body["grids"].as_array().unwrap().len(), 0, "the county has no grids");
    assert_eq!(app.get("/api/v1/reach", "intake").await.status, StatusCode::FORBIDDEN);
    assert_eq!(app.get("/api/v1/reach?level=house", "sup").await.status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn the_alerts_page_lists_links_and_acts_with_csrf() {
    let app = pages_app().await;
    let disputes = three_disputes(&app).await;
    app.svc.evaluate_alerts(app.svc.now()).await.unwrap();
    let mut sup = Browser::new(&app);
    sup.sign_in("sup-a").await;
    let p = sup.get("/alerts").await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.text);
    assert!(p.text.contains("data-alert=\"1\"") && p.text.contains("data-alert=\"2\""), "{}", p.text);
    assert!(p.text.contains(&format!("href=\"/cases/{}\"", disputes[0])));
    assert!(p.text.contains("同一当事人多次纠纷") && p.text.contains("href=\"/alerts\""));
    assert!(sup.get("/alerts?lang=en").await.text.contains("Early warnings"));

    let mut handler = Browser::new(&app);
    handler.sign_in("handler-a1").await;
    assert_eq!(handler.get("/alerts").await.status, StatusCode::FORBIDDEN);

    let csrf = sup.csrf("/alerts").await;
    let before = app.events().await;
    assert_eq!(sup.post_form("/alerts/1/act/acknowledge", &[("csrf", "forged"), ("note", "x")]).await.status, StatusCode::FORBIDDEN);
    let r = sup.post_form("/alerts/1/act/close", &[("csrf", &csrf), ("note", "")]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(r.location().starts_with("/alerts?error="), "{}", r.location());
    assert_eq!(app.events().await, before, "refused forms write nothing");
    let r = sup.post_form("/alerts/1/act/acknowledge", &[("csrf", &csrf), ("note", "已联系")]).await;
    assert_eq!((r.status, r.location()), (StatusCode::SEE_OTHER, "/alerts"));
    let r = sup.post_form("/alerts/1/act/close", &[("csrf", &csrf), ("note", "已调解")]).await;
    assert_eq!((r.status, r.location()), (StatusCode::SEE_OTHER, "/alerts"));
    let p = sup.get("/alerts?status=closed").await;
    assert!(p.text.contains("data-alert=\"1\"") && !p.text.contains("data-alert=\"2\"") && p.text.contains("已调解"), "{}", p.text);
    assert_eq!(
        app.svc.alert(&fengqiao_domain::Actor::System { job: "t".into() }, 1).await.unwrap().status,
        fengqiao_domain::alert::AlertStatus::Closed
    );
}

//! The calendar and inbox endpoints, and handing a case back down a tier, through the router.

use axum::http::StatusCode;
use fengqiao_store::Scheduler;

use crate::app;

#[tokio::test]
async fn the_calendar_of_a_year_with_and_without_data() {
    let app = app().await;
    let r = app.get("/api/v1/calendar?year=2026", "sup").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["working_days"], 248);
    assert_eq!(r.body["has_data"], true);
    assert_eq!(r.body["working_hours"], "08:30-12:00,13:30-17:30");
    assert_eq!(r.body["time_zone"], "Asia/Shanghai");
    let make_up: Vec<&str> = r.body["make_up_working_days"].as_array().unwrap().iter().map(|d| d["date"].as_str().unwrap()).collect();
    assert!(make_up.contains(&"2026-02-14") && make_up.contains(&"2026-02-28"), "{make_up:?}");
    let r = app.get("/api/v1/calendar?year=2027", "sup").await;
    assert_eq!(r.body["has_data"], false);
    assert!(r.body["warnings"][0].as_str().unwrap().contains("2027"), "{}", r.text);
    let r = app.get("/api/v1/calendar?year=twenty", "sup").await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.body["error"]["code"], "invalid_input");
    assert_eq!(app.call("GET", "/api/v1/calendar", None, None, &[]).await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn reminders_reach_the_lead_units_inbox_and_a_case_returns_down() {
    let app = app().await;
    let body = r#"{"category":"street_light","description":"村口路灯不亮","region":"330681101001"}"#;
    let r = app.post("/api/v1/cases", "intake", body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let id = r.body["id"].as_i64().unwrap();
    let act = |a: &str| format!("/api/v1/cases/{id}/transitions/{a}");
    assert_eq!(app.post(&act("file"), "intake", "{}").await.status, StatusCode::OK);
    let r = app.post(&act("dispatch"), "intake", r#"{"lead_unit":"vc-a1"}"#).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let case = app.svc.store.case(&fengqiao_store::Scope::All, fengqiao_domain::CaseId(id)).await.unwrap().unwrap();
    let done = Scheduler::new(app.svc.clone()).run_due(case.response_due.unwrap().plus_ms(-60_000)).await.unwrap();
    assert_eq!(done.done.len(), 1, "{done:?}");
    let r = app.get("/api/v1/inbox", "handler-a1").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let items = r.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!((items[0]["kind"].as_str(), items[0]["case_id"].as_i64()), (Some("reminder"), Some(id)));
    assert!(app.get("/api/v1/inbox", "handler-b1").await.body["items"].as_array().unwrap().is_empty());
    assert_eq!(app.get("/api/v1/inbox?limit=0", "handler-a1").await.status, StatusCode::UNPROCESSABLE_ENTITY);

    // Escalated to the town, decided there, handed back to the village.
    assert_eq!(app.post(&act("accept"), "handler-a1", "{}").await.status, StatusCode::OK);
    let r = app.post(&act("escalate"), "handler-a1", r#"{"to":"town-a","tier":"town","reason":"村里调不下来"}"#).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = app.post(&act("return_to_tier"), "sup", r#"{"to":"vc-a1","tier":"county","decision":"x"}"#).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
    let r = app.post(&act("return_to_tier"), "sup", r#"{"to":"vc-a1","tier":"village","decision":"镇调解中心意见：修复路灯"}"#).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(
        (r.body["tier"].as_str(), r.body["lead_unit"].as_str(), r.body["status"].as_str()),
        (Some("village"), Some("vc-a1"), Some("dispatched"))
    );
    let t = app.get(&format!("/api/v1/cases/{id}/timeline"), "sup").await;
    assert!(t.text.contains("returned"), "{}", t.text);
}

//! Joint handling through the API: a co-handling unit's own task, and a transfer the target
//! rejects, arbitrated by the common supervisor of both units.

use axum::http::StatusCode;
use fengqiao_store::contract::VILLAGE_A1;

use crate::app;

#[tokio::test]
async fn contested_transfer_goes_to_the_common_supervisor() {
    let app = app().await;
    let created = app
        .post("/api/v1/cases", "intake", &format!(r#"{{"category":"noise","description":"工地夜间施工","region":"{VILLAGE_A1}"}}"#))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let id = created.body["id"].as_i64().unwrap();
    let path = |a: &str| format!("/api/v1/cases/{id}/transitions/{a}");
    assert_eq!(app.post(&path("file"), "intake", "{}").await.status, StatusCode::OK);
    let d = app.post(&path("dispatch"), "intake", r#"{"lead_unit":"vc-a1","co_units":["vc-b1"]}"#).await;
    assert_eq!(d.status, StatusCode::OK, "{}", d.text);
    let tasks = &d.body["tasks"];
    assert_eq!((tasks[0]["unit"].as_str(), tasks[0]["due"].as_i64()), (Some("vc-b1"), d.body["handling_due"].as_i64()), "{}", d.text);

    // The co-handling unit sees the case and reports its own task; the lead cannot report it.
    assert_eq!(app.post(&path("complete_task"), "handler-a1", r#"{"report":"x"}"#).await.status, StatusCode::FORBIDDEN);
    let done = app.post(&path("complete_task"), "handler-b1", r#"{"report":"已协助核查施工许可"}"#).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.text);
    assert_eq!(done.body["tasks"][0]["report"], "已协助核查施工许可");
    assert!(done.body["tasks"][0]["done_at"].is_i64());

    // The lead transfers; the target rejects with a reason.
    let t = app.post(&path("transfer"), "handler-a1", r#"{"to":"vc-b1","reason":"施工方在乙一村"}"#).await;
    assert_eq!(t.status, StatusCode::OK, "{}", t.text);
    assert_eq!(t.body["transfer"]["to"], "vc-b1");
    let missing = app.post(&path("reject_transfer"), "handler-b1", r#"{"reason":" "}"#).await;
    assert_eq!(missing.status, StatusCode::UNPROCESSABLE_ENTITY, "a reason is required: {}", missing.text);
    let r = app.post(&path("reject_transfer"), "handler-b1", r#"{"reason":"工地在甲一村地界内"}"#).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let due = r.body["transfer"]["rejection"]["arbitration_due"].as_i64().unwrap();
    assert!(due > r.body["updated_at"].as_i64().unwrap());
    // The common supervisor (the county's, over both villages) is asked at once, with the
    // deadline; the town A supervisor, who sees only one side, is not.
    let asked = app.get("/api/v1/inbox", "sup").await;
    let items: Vec<&serde_json::Value> = asked.body["items"].as_array().unwrap().iter().filter(|i| i["kind"] == "arbitration").collect();
    assert_eq!(items.len(), 1, "{}", asked.text);
    assert_eq!((items[0]["case_id"].as_i64(), items[0]["due_at"].as_i64()), (Some(id), Some(due)));
    assert!(items[0]["message"].as_str().unwrap().contains("工地在甲一村地界内"));
    let town = app.get("/api/v1/inbox", "sup-a").await;
    assert!(town.body["items"].as_array().unwrap().iter().all(|i| i["kind"] != "arbitration"), "{}", town.text);

    // While contested, the target cannot accept it after all.
    let early = app.post(&path("accept"), "handler-b1", "{}").await;
    assert_eq!((early.status, early.body["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("precondition_failed")), "{}", early.text);
    // The town A supervisor sees the case but not vc-b1's area: not the common supervisor.
    let before = app.events().await;
    let wrong = app.post(&path("arbitrate_transfer"), "sup-a", r#"{"to":"vc-a1","decision":"归甲一村"}"#).await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN, "{}", wrong.text);
    assert!(wrong.text.contains("common supervisor"), "{}", wrong.text);
    assert_eq!(app.events().await, before, "a refused arbitration writes nothing");
    // The county supervisor covers both villages and decides.
    let a = app.post(&path("arbitrate_transfer"), "sup", r#"{"to":"vc-a1","decision":"工地位于甲一村，由甲一村办理"}"#).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert_eq!(a.body["lead_unit"], "vc-a1");
    assert!(a.body.get("transfer").is_none() || a.body["transfer"].is_null(), "{}", a.text);
    assert_eq!(app.post(&path("accept"), "handler-a1", "{}").await.status, StatusCode::OK);

    let timeline = app.get(&format!("/api/v1/cases/{id}/timeline"), "sup").await;
    let kinds: Vec<&str> = timeline.body["items"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds[kinds.len() - 5..],
        ["task_completed", "transferred", "transfer_rejected", "transfer_arbitrated", "accepted"],
        "{kinds:?}"
    );
}

/// A unit's rota through the API, and the duty officer's alert when a case reads as violence.
#[tokio::test]
async fn the_duty_officer_is_alerted_to_violence() {
    use fengqiao_domain::{RegionCode, Unit, UnitId, UnitKind};
    use fengqiao_store::Credentials;
    use fengqiao_store::contract::{T0, TOWN_A, user};
    let app = crate::pages::pages_app().await;
    let (store, sys) = (app.svc.store.clone(), "system:test");
    let unit = Unit {
        id: UnitId("ps-a".into()),
        name: "甲镇派出所".into(),
        name_en: None,
        kind: UnitKind::PoliceStation,
        region: RegionCode::parse(TOWN_A).unwrap(),
        handles: vec![],
    };
    store.put_unit(&unit, sys, T0).await.unwrap();
    let officer = user("officer", fengqiao_domain::Role::Handler, Some("ps-a"), TOWN_A);
    let creds = Credentials {
        token_hash: Some(fengqiao_web::token_hash("tok-officer")),
        password_hash: Some(fengqiao_web::hash_password(crate::pages::PASSWORD).unwrap()),
    };
    store.put_user(&officer, &creds, sys, T0).await.unwrap();
    app.svc.reload().await.unwrap();

    let body = r#"{"from":"2026-01-01","to":"2026-01-08","shifts":[
        {"user":"officer","starts_at":"2026-01-01T00:00:00+08:00","ends_at":"2026-01-02T08:00:00+08:00"}]}"#;
    assert_eq!(app.call("PUT", "/api/v1/units/ps-a/rota", Some("handler-a1"), Some(body), &[]).await.status, StatusCode::NOT_FOUND);
    let bad = r#"{"from":"2026-01-01","to":"2026-01-08","shifts":[{"user":"nobody","starts_at":"tomorrow","ends_at":"2026-01-02T08:00:00+08:00"}]}"#;
    let r = app.call("PUT", "/api/v1/units/ps-a/rota", Some("sup-a"), Some(bad), &[]).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
    assert!(r.text.contains("shifts[0].starts_at"), "{}", r.text);
    let r = app.call("PUT", "/api/v1/units/ps-a/rota", Some("sup-a"), Some(body), &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["shifts"][0]["on_duty_now"], true, "the test clock stands at the start of 2026: {}", r.text);
    let mine = app.get("/api/v1/units/ps-a/rota?from=2026-01-01", "officer").await;
    assert_eq!(mine.body["shifts"].as_array().unwrap().len(), 1, "{}", mine.text);

    let created = app
        .post(
            "/api/v1/cases",
            "intake",
            &format!(r#"{{"category":"neighbour","description":"两家因宅基地争吵，一方扬言要打人","region":"{VILLAGE_A1}"}}"#),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let inbox = app.get("/api/v1/inbox", "officer").await;
    let alerts: Vec<&serde_json::Value> = inbox.body["items"].as_array().unwrap().iter().filter(|i| i["kind"] == "risk_alert").collect();
    assert_eq!(alerts.len(), 2, "to the officer and to the station: {}", inbox.text);
    assert!(alerts.iter().all(|a| a["case_id"] == created.body["id"]));
    // The officer's workbench shows the alert first thing, linked to the case.
    let mut officer_page = crate::pages::Browser::new(&app);
    officer_page.sign_in("officer").await;
    let work = officer_page.get("/work").await;
    assert!(work.text.contains("id=\"alerts\"") && work.text.contains("风险预警"), "{}", work.text);
    assert!(work.text.contains(&format!("href=\"/cases/{}\"", created.body["id"])), "{}", work.text);
}

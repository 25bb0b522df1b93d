//! Dispute mediation over HTTP, on a clock the test moves: from application to a signed,
//! judicially confirmed and fulfilled agreement; a refusal; the police limits; the frozen
//! agreement; a breach that reopens the case; the figures and the printable agreement.

use std::sync::Arc;

use axum::http::StatusCode;
use fengqiao_domain::{ManualClock, Timestamp};
use fengqiao_store::Credentials;
use fengqiao_store::contract::{T0, seed, staff};
use fengqiao_web::{AppState, router, token_hash};
use serde_json::{Value, json};

use crate::{App, Resp};

/// The test app on a clock the test holds.
pub async fn app_with_clock() -> (App, ManualClock) {
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
    let svc = Arc::new(fengqiao_store::Service::new(store, Arc::new(clock.clone()), base.config.clone()).await.unwrap());
    let state = AppState::new(svc.clone(), jiff::tz::TimeZone::get("Asia/Shanghai").unwrap());
    (App { router: router(state), svc, _dir: dir }, clock)
}

fn at(s: &str) -> Timestamp {
    Timestamp::parse_rfc3339(s).unwrap()
}

fn ok(r: &Resp) {
    assert!(r.status.is_success(), "{} {}", r.status, r.text);
}

/// A neighbours' dispute in village A1 dispatched to its committee; returns (case id, party ids).
pub async fn dispute(app: &App) -> (i64, i64, i64) {
    let body = json!({
        "category": "neighbour",
        "description": "两家因院墙滴水发生争执",
        "region": "330681101001",
        "parties": [
            { "role": "applicant", "name": "张三", "phone": "13900000001", "address": "甲一村3号" },
            { "role": "respondent", "name": "李四", "phone": "13900000002" }
        ]
    });
    let r = app.post("/api/v1/cases", "intake", &body.to_string()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let id = r.body["id"].as_i64().unwrap();
    ok(&app.post(&format!("/api/v1/cases/{id}/transitions/file"), "intake", "{}").await);
    ok(&app.post(&format!("/api/v1/cases/{id}/transitions/dispatch"), "intake", r#"{"lead_unit":"vc-a1"}"#).await);
    let parties = &r.body["parties"];
    (id, parties[0]["person_id"].as_i64().unwrap(), parties[1]["person_id"].as_i64().unwrap())
}

pub async fn act(app: &App, mid: i64, who: &str, body: Value) -> Resp {
    app.post(&format!("/api/v1/mediations/{mid}/actions"), who, &body.to_string()).await
}

async fn case_status(app: &App, id: i64) -> String {
    app.get(&format!("/api/v1/cases/{id}"), "sup").await.body["status"].as_str().unwrap().to_string()
}

/// Opens a mediation, both parties consent, a mediator is assigned.
pub async fn ready(app: &App, kind: &str) -> (i64, i64, i64, i64) {
    let (cid, p1, p2) = dispute(app).await;
    let r = app
        .post(
            "/api/v1/mediations",
            "handler-a1",
            &json!({"case_id": cid, "kind": kind, "source": "party_applied", "amount": 3000}).to_string(),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let mid = r.body["id"].as_i64().unwrap();
    for p in [p1, p2] {
        ok(&act(app, mid, "handler-a1", json!({"action": "consent", "party": p, "agree": true})).await);
    }
    ok(&act(
        app,
        mid,
        "handler-a1",
        json!({"action": "assign", "user_id": "handler-a1", "name": "王调解", "role": "peoples_mediator", "lead": true}),
    )
    .await);
    (cid, mid, p1, p2)
}

pub fn content(due: &str) -> Value {
    json!({
        "facts": "李四家屋檐滴水至张三院内，双方争执",
        "matters": "屋檐改造与损失赔偿",
        "responsibility": "李四承担主要责任",
        "terms": [
            { "text": "李四赔偿张三3000元", "how": "银行转账", "due": due },
            { "text": "李四加装落水管", "how": "自行施工", "due": due }
        ]
    })
}

/// Holds a session and signs an agreement into effect.
pub async fn agree(app: &App, clock: &ManualClock, mid: i64, p1: i64, p2: i64) -> Resp {
    ok(&act(
        app,
        mid,
        "handler-a1",
        json!({"action": "schedule", "start": "2026-01-05T10:00", "end": "2026-01-05T11:30", "room": "第一调解室"}),
    )
    .await);
    clock.set(at("2026-01-05T03:00:00Z"));
    ok(&act(
        app,
        mid,
        "handler-a1",
        json!({"action": "record_session", "session": 1, "present": [p1, p2], "minutes": "双方陈述，同意赔偿", "outcome": "agreed"}),
    )
    .await);
    ok(&act(app, mid, "handler-a1", json!({"action": "draft", "content": content("2026-01-20")})).await);
    for s in [json!({"party": p1}), json!({"party": p2}), json!("mediator")] {
        ok(&act(app, mid, "handler-a1", json!({"action": "sign", "signer": s})).await);
    }
    let r = act(app, mid, "handler-a1", json!({"action": "sign", "signer": "seal"})).await;
    ok(&r);
    r
}

#[tokio::test]
async fn a_dispute_from_application_to_a_confirmed_and_fulfilled_agreement() {
    let (app, clock) = app_with_clock().await;
    let (cid, p1, p2) = dispute(&app).await;
    // Bad input: every problem listed, nothing written.
    let before = app.events().await;
    let r =
        app.post("/api/v1/mediations", "handler-a1", &json!({"case_id": cid, "kind": "x", "source": "y", "amount": -1}).to_string()).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
    let fields: Vec<&str> = r.body["error"]["details"].as_array().unwrap().iter().map(|d| d["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["kind", "source", "amount"]);
    assert_eq!(
        app.post("/api/v1/mediations", "handler-b1", &json!({"case_id": cid, "kind": "people", "source": "court"}).to_string())
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(app.events().await, before);

    let r = app
        .post(
            "/api/v1/mediations",
            "handler-a1",
            &json!({"case_id": cid, "kind": "people", "source": "party_applied", "amount": 3000}).to_string(),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!((r.body["status"].as_str(), r.body["amount_fen"].as_i64()), (Some("consenting"), Some(300_000)));
    let mid = r.body["id"].as_i64().unwrap();
    // No session before both parties consent.
    let r = act(
        &app,
        mid,
        "handler-a1",
        json!({"action": "schedule", "start": "2026-01-05T10:00", "end": "2026-01-05T11:00", "room": "第一调解室"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
    for p in [p1, p2] {
        ok(&act(&app, mid, "handler-a1", json!({"action": "consent", "party": p, "agree": true})).await);
    }
    // The conflict check: a member sharing the applicant's family name and village is flagged.
    let r = act(
        &app,
        mid,
        "handler-a1",
        json!({"action": "assign", "name": "张伯", "role": "respected_local", "member": {"village": "330681101001"}}),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
    assert!(r.text.contains("conflict of interest"), "{}", r.text);
    let r =
        act(&app, mid, "handler-a1", json!({"action": "assign", "user_id": "nobody", "name": "王调解", "role": "peoples_mediator"})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
    ok(&act(
        &app,
        mid,
        "handler-a1",
        json!({"action": "assign", "user_id": "handler-a1", "name": "王调解", "role": "peoples_mediator", "lead": true}),
    )
    .await);
    let r = agree(&app, &clock, mid, p1, p2).await;
    assert_eq!(r.body["status"], "agreed");
    // 2026-01-05 + 30 days = 2026-02-04, a Wednesday.
    assert_eq!(r.body["confirmation"]["last_day"], "2026-02-04");
    assert_eq!(r.body["confirmation"]["open"], true);
    // The case was resolved by the agreement, in the same commit.
    assert_eq!(case_status(&app, cid).await, "resolved");
    let r = act(&app, mid, "handler-a1", json!({"action": "apply_confirmation", "court": "诸暨市人民法院"})).await;
    ok(&r);
    assert_eq!(r.body["confirmation"]["open"], false);
    ok(&act(&app, mid, "sup", json!({"action": "decide_confirmation", "confirmed": true})).await);
    // Return visits: every party rates separately (the case core's own visits), then closure.
    for p in [p1, p2] {
        let r = app
            .post(
                &format!("/api/v1/cases/{cid}/transitions/record_visit"),
                "intake",
                &json!({"party": p, "channel": "phone", "reached": true, "rating": "satisfied"}).to_string(),
            )
            .await;
        ok(&r);
    }
    ok(&app.post(&format!("/api/v1/cases/{cid}/transitions/close"), "intake", "{}").await);
    clock.set(at("2026-01-15T03:00:00Z"));
    ok(&act(&app, mid, "handler-a1", json!({"action": "fulfil", "term": 0, "fulfilled": true})).await);
    let r = act(&app, mid, "handler-a1", json!({"action": "fulfil", "term": 1, "fulfilled": true, "note": "已加装"})).await;
    ok(&r);
    assert_eq!(r.body["status"], "fulfilled");
    assert_eq!(case_status(&app, cid).await, "closed");
    ok(&act(&app, mid, "handler-a1", json!({"action": "judge", "prevented_criminal": true, "prevented_group_petition": false})).await);

    let r = app.get("/api/v1/mediations/figures?by=mediator", "sup").await;
    ok(&r);
    let f = &r.body["figures"];
    assert_eq!((f["agreement_rate"].as_f64(), f["fulfilment_rate"].as_f64()), (Some(1.0), Some(1.0)));
    assert_eq!(
        (f["judicially_confirmed"].as_i64(), f["prevented_criminal"].as_i64(), f["amount_fen"].as_i64()),
        (Some(1), Some(1), Some(300_000))
    );
    assert_eq!(r.body["groups"][0]["key"], "王调解");
    // The room calendar, in scope.
    let r = app.get("/api/v1/mediations/calendar?from=2026-01-05&to=2026-01-06", "handler-a1").await;
    assert!(r.body["items"].as_array().unwrap().iter().any(|b| b["resource"] == "room:vc-a1/第一调解室"), "{}", r.text);
    assert!(
        app.get("/api/v1/mediations/calendar?from=2026-01-05&to=2026-01-06", "handler-b1").await.body["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert!(app.get(&format!("/api/v1/mediations/{mid}"), "handler-b1").await.status == StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_refusal_ends_the_mediation_and_the_case_moves_on() {
    let (app, _clock) = app_with_clock().await;
    let (cid, p1, p2) = dispute(&app).await;
    let r = app
        .post("/api/v1/mediations", "handler-a1", &json!({"case_id": cid, "kind": "people", "source": "hotline_12345"}).to_string())
        .await;
    let mid = r.body["id"].as_i64().unwrap();
    ok(&act(&app, mid, "handler-a1", json!({"action": "consent", "party": p1, "agree": true})).await);
    // A refusal must be recorded in the party's words; then it ends the mediation, and the
    // case is transferred on as asked.
    let r = act(&app, mid, "handler-a1", json!({"action": "consent", "party": p2, "agree": false})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = act(&app, mid, "handler-a1", json!({"action": "consent", "party": p2, "agree": false, "note": "不同意调解，要去法院", "then": {"to": "transfer", "unit": "town-a"}})).await;
    ok(&r);
    assert_eq!(r.body["status"], "refused");
    let c = app.get(&format!("/api/v1/cases/{cid}"), "sup").await;
    assert_eq!((c.body["status"].as_str(), c.body["lead_unit"].as_str()), (Some("dispatched"), Some("town-a")));
    // The case left the committee, and the mediation with it; nothing more happens in it.
    assert_eq!(app.get(&format!("/api/v1/mediations/{mid}"), "handler-a1").await.status, StatusCode::NOT_FOUND);
    let r = act(&app, mid, "sup", json!({"action": "assign", "name": "x", "role": "lawyer"})).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.body["error"]["code"], "illegal_transition");
    // Without a destination, a refusal resolves the case with that outcome.
    let (cid2, q1, _) = dispute(&app).await;
    let mid2 = app
        .post("/api/v1/mediations", "handler-a1", &json!({"case_id": cid2, "kind": "people", "source": "mediator_initiated"}).to_string())
        .await
        .body["id"]
        .as_i64()
        .unwrap();
    ok(&act(&app, mid2, "handler-a1", json!({"action": "consent", "party": q1, "agree": false, "note": "拒绝"})).await);
    assert_eq!(case_status(&app, cid2).await, "resolved");
}

#[tokio::test]
async fn police_mediation_limits_under_a_fake_clock() {
    let (app, clock) = app_with_clock().await;
    let (_, mid, p1, p2) = ready(&app, "police").await;
    let m = app.get(&format!("/api/v1/mediations/{mid}"), "handler-a1").await;
    // Opened on New Year's Day: the third working day after is Tuesday 01-06 (Sunday 01-04 is a
    // make-up working day), closing at 17:30.
    assert_eq!(m.body["first_session_due"].as_i64(), Some(at("2026-01-06T09:30:00Z").0));
    let before = app.events().await;
    let sched = |s: &str, e: &str| json!({"action": "schedule", "start": s, "end": e, "room": "第一调解室"});
    let r = act(&app, mid, "handler-a1", sched("2026-01-07T09:00", "2026-01-07T10:00")).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
    assert!(r.text.contains("first session must be held by"), "{}", r.text);
    assert_eq!(app.events().await, before);
    ok(&act(&app, mid, "handler-a1", sched("2026-01-06T09:00", "2026-01-06T10:00")).await);
    clock.set(at("2026-01-06T02:30:00Z"));
    ok(&act(
        &app,
        mid,
        "handler-a1",
        json!({"action": "record_session", "session": 1, "present": [p1, p2], "minutes": "未达成一致", "outcome": "continue"}),
    )
    .await);
    // Seven working days after 01-06: Thursday 01-15.
    let m = app.get(&format!("/api/v1/mediations/{mid}"), "handler-a1").await;
    assert_eq!(m.body["second_session_due"].as_i64(), Some(at("2026-01-15T09:30:00Z").0));
    assert_eq!(act(&app, mid, "handler-a1", sched("2026-01-16T09:00", "2026-01-16T10:00")).await.status, StatusCode::CONFLICT);
    ok(&act(&app, mid, "handler-a1", sched("2026-01-15T09:00", "2026-01-15T10:00")).await);
    let r = act(&app, mid, "handler-a1", sched("2026-01-15T14:00", "2026-01-15T15:00")).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert!(r.text.contains("at most 2 session"), "{}", r.text);
    // The second session fails: mediation ends, the parties are told they may sue.
    clock.set(at("2026-01-15T02:30:00Z"));
    let r = act(
        &app,
        mid,
        "handler-a1",
        json!({"action": "record_session", "session": 2, "present": [p1], "minutes": "李四拒绝赔偿", "outcome": "failed"}),
    )
    .await;
    ok(&r);
    assert_eq!(r.body["status"], "failed");
}

#[tokio::test]
async fn a_signed_agreement_cannot_be_edited_and_a_correction_is_a_new_version() {
    let (app, clock) = app_with_clock().await;
    let (_, mid, p1, p2) = ready(&app, "people").await;
    ok(&act(
        &app,
        mid,
        "handler-a1",
        json!({"action": "schedule", "start": "2026-01-05T10:00", "end": "2026-01-05T11:00", "online": "线上调解平台"}),
    )
    .await);
    clock.set(at("2026-01-05T03:00:00Z"));
    ok(&act(&app, mid, "handler-a1", json!({"action": "draft", "content": content("2026-01-20")})).await);
    ok(&act(&app, mid, "handler-a1", json!({"action": "sign", "signer": {"party": p1}})).await);
    let before = app.events().await;
    let r = act(&app, mid, "handler-a1", json!({"action": "draft", "content": content("2026-01-25")})).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
    assert!(r.text.contains("frozen"), "{}", r.text);
    assert_eq!(app.events().await, before, "a refused edit writes nothing");
    let r = act(&app, mid, "handler-a1", json!({"action": "revise", "content": content("2026-01-25")})).await;
    ok(&r);
    let versions = r.body["agreements"].as_array().unwrap();
    assert_eq!(versions.len(), 2);
    assert_eq!(versions[0]["superseded"], true);
    assert_eq!(versions[0]["party_signatures"].as_array().unwrap().len(), 1);
    assert!(versions[1]["party_signatures"].as_array().unwrap().is_empty());
    // Every problem of a bad draft is listed.
    let r = act(
        &app,
        mid,
        "handler-a1",
        json!({"action": "revise", "content": {"facts": "", "matters": "", "responsibility": "", "terms": []}}),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.body["error"]["details"].as_array().unwrap().len(), 4, "{}", r.text);
    let _ = p2;
}

#[tokio::test]
async fn a_breach_reopens_the_closed_case_and_is_counted() {
    let (app, clock) = app_with_clock().await;
    let (cid, mid, p1, p2) = ready(&app, "people").await;
    agree(&app, &clock, mid, p1, p2).await;
    for p in [p1, p2] {
        ok(&app
            .post(
                &format!("/api/v1/cases/{cid}/transitions/record_visit"),
                "intake",
                &json!({"party": p, "channel": "phone", "reached": true, "rating": "satisfied"}).to_string(),
            )
            .await);
    }
    ok(&app.post(&format!("/api/v1/cases/{cid}/transitions/close"), "intake", "{}").await);
    clock.set(at("2026-01-21T03:00:00Z"));
    // Reopening a closed case is a supervisor's (or intake's) act: a mediator's breach report
    // on a closed case is refused whole.
    let before = app.events().await;
    let r = act(&app, mid, "handler-a1", json!({"action": "fulfil", "term": 0, "fulfilled": false, "note": "逾期未付款"})).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    assert_eq!(app.events().await, before);
    let r = act(&app, mid, "sup", json!({"action": "fulfil", "term": 0, "fulfilled": false, "note": "逾期未付款", "court": true})).await;
    ok(&r);
    assert_eq!((r.body["status"].as_str(), r.body["court_referral"].as_bool()), (Some("breached"), Some(true)));
    assert_eq!(case_status(&app, cid).await, "in_progress");
    let r = app.get("/api/v1/mediations/figures", "sup").await;
    assert_eq!((r.body["figures"]["breached"].as_i64(), r.body["figures"]["fulfilment_rate"].as_f64()), (Some(1), Some(0.0)));
    // The reopened case is back in the handling queue.
    let r = app.get("/api/v1/cases?status=in_progress", "sup").await;
    let item = r.body["items"].as_array().unwrap().iter().find(|c| c["id"].as_i64() == Some(cid)).cloned();
    let item = item.unwrap_or_else(|| panic!("{}", r.text));
    // Handled again against a fresh deadline: not overdue the moment it reopens.
    use fengqiao_domain::Clock;
    assert!(item["handling_due"].as_i64().unwrap() > clock.now().0, "{item}");
    let r = app.get("/api/v1/cases?overdue=true", "sup").await;
    assert!(r.body["items"].as_array().unwrap().iter().all(|c| c["id"].as_i64() != Some(cid)), "{}", r.text);
}

#[tokio::test]
async fn the_pages_take_a_dispute_to_a_printable_agreement() {
    use crate::pages::{Browser, PASSWORD};
    let (app, clock) = app_with_clock().await;
    let hash = fengqiao_web::hash_password(PASSWORD).unwrap();
    for u in staff() {
        let creds = Credentials { token_hash: Some(token_hash(&format!("tok-{}", u.id))), password_hash: Some(hash.clone()) };
        app.svc.store.put_user(&u, &creds, "system:test", T0).await.unwrap();
    }
    let (cid, p1, p2) = dispute(&app).await;
    // Sessions last hours: the whole visit happens on one morning.
    clock.set(at("2026-01-05T00:30:00Z"));
    let mut b = Browser::new(&app);
    b.sign_in("handler-a1").await;
    // The dispute's page links its mediations; the opening form comes filled with the case.
    let case_page = b.get(&format!("/cases/{cid}")).await;
    assert!(case_page.text.contains(&format!("href=\"/mediations?case={cid}\"")), "{}", case_page.text);
    let list = b.get(&format!("/mediations?case={cid}")).await;
    assert!(list.text.contains(&format!("name=\"case_id\" type=\"text\" inputmode=\"numeric\" value=\"{cid}\"")), "{}", list.text);
    let csrf = b.csrf("/mediations").await;
    // Without the token nothing happens.
    let r = b.post_form("/mediations", &[("case_id", &cid.to_string()), ("kind", "people"), ("source", "party_applied")]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = b
        .post_form(
            "/mediations",
            &[("csrf", &csrf), ("case_id", &cid.to_string()), ("kind", "people"), ("source", "party_applied"), ("amount", "3000")],
        )
        .await;
    assert_eq!((r.status, r.location()), (StatusCode::SEE_OTHER, "/mediations/1"), "{}", r.text);
    let form = |action: &str, extra: &[(&str, &str)]| {
        let mut f: Vec<(String, String)> = vec![("csrf".into(), csrf.clone())];
        f.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        (format!("/mediations/1/act/{action}"), f)
    };
    let post = |(uri, f): (String, Vec<(String, String)>)| {
        let b = &b;
        async move {
            let fields: Vec<(&str, &str)> = f.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            b.post_form(&uri, &fields).await
        }
    };
    for p in [p1, p2] {
        let r = post(form("consent", &[("party", &p.to_string()), ("agree", "yes")])).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
    }
    assert_eq!(
        post(form("assign", &[("name", "王调解"), ("role", "peoples_mediator"), ("user_id", "handler-a1"), ("lead", "yes")])).await.status,
        StatusCode::SEE_OTHER
    );
    let r = post(form("schedule", &[("start", "2026-01-05T10:00"), ("end", "2026-01-05T11:00"), ("room", "第一调解室")])).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
    clock.set(at("2026-01-05T03:00:00Z"));
    let r = post(form(
        "record_session",
        &[("session", "1"), ("present", &p1.to_string()), ("present", &p2.to_string()), ("minutes", "双方同意"), ("outcome", "agreed")],
    ))
    .await;
    assert_eq!((r.status, r.location()), (StatusCode::SEE_OTHER, "/mediations/1?done=record_session"), "{}", r.text);
    let terms = [
        ("facts", "屋檐滴水"),
        ("matters", "赔偿"),
        ("responsibility", "李四负责"),
        ("term_text", "赔偿3000元"),
        ("term_how", "转账"),
        ("term_due", "2026-01-20"),
        ("term_text", ""),
        ("term_how", ""),
        ("term_due", ""),
    ];
    assert_eq!(post(form("draft", &terms)).await.status, StatusCode::SEE_OTHER);
    assert_eq!(post(form("sign", &[("signer", &format!("party:{p1}"))])).await.status, StatusCode::SEE_OTHER);
    // Editing a signed text is refused on the page, in the reader's language.
    let m = app.get("/api/v1/mediations/1", "sup").await;
    assert_eq!(m.body["agreements"][0]["party_signatures"].as_array().map(|a| a.len()), Some(1), "{}", m.text);
    let r = post(form("draft", &terms)).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert!(r.text.contains("id=\"flash\"") && r.text.contains("文本已锁定"), "{}", r.text);
    for s in [format!("party:{p2}"), "mediator".into(), "seal".into()] {
        assert_eq!(post(form("sign", &[("signer", &s)])).await.status, StatusCode::SEE_OTHER);
    }
    let panel = b.get("/mediations/1").await;
    assert!(panel.text.contains("已达成协议") && panel.text.contains("2026-02-04"), "{}", panel.text);
    // The printable agreement, in Chinese and English, with every signature.
    let doc = b.get("/mediations/1/agreement").await;
    assert_eq!(doc.status, StatusCode::OK);
    assert!(doc.headers.get("content-security-policy").is_some());
    // A handler sees people masked, as on the case page; a supervisor sees them whole.
    assert!(doc.text.contains("张*") && !doc.text.contains("张三"), "{}", doc.text);
    let mut sup = Browser::new(&app);
    sup.sign_in("sup").await;
    let doc = sup.get("/mediations/1/agreement").await;
    for s in [
        "人民调解协议书",
        "张三",
        "李四",
        "甲一村3号",
        "赔偿3000元",
        "2026-01-20",
        "签署于 2026-01-05",
        "2026-02-04",
        "/assets/mediation.css",
    ] {
        assert!(doc.text.contains(s), "{s} missing: {}", doc.text);
    }
    assert!(!doc.text.contains("not-effective"));
    let en = b.get("/mediations/1/agreement?lang=en").await;
    assert!(en.text.contains("People&#39;s Mediation Agreement") && en.text.contains("lang=\"en\""), "{}", en.text);
    let css = b.get("/assets/mediation.css").await;
    assert!(css.text.contains("@media print"));
    // Figures on the list page; another village's handler sees nothing of it.
    let list = b.get("/mediations?by=type").await;
    assert!(list.text.contains("id=\"mediation-figures\"") && list.text.contains("邻里纠纷"), "{}", list.text);
    let mut other = Browser::new(&app);
    other.sign_in("handler-b1").await;
    assert_eq!(other.get("/mediations/1").await.status, StatusCode::NOT_FOUND);
    assert_eq!(other.get("/mediations/1/agreement").await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_oral_agreement_is_recorded_by_the_mediator_and_the_visits_show_on_the_panel() {
    use crate::pages::{Browser, PASSWORD};
    let (app, clock) = app_with_clock().await;
    let (cid, mid, p1, p2) = ready(&app, "people").await;
    // Intake may see a mediation in its region but not act on it.
    let r = act(&app, mid, "intake", json!({"action": "record_oral", "content": content("2026-01-20")})).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    let r = act(&app, mid, "handler-a1", json!({"action": "record_oral", "content": {"facts": "口角", "matters": "道歉", "responsibility": "", "terms": [{"text": "李四当面道歉", "how": "当面", "due": "2026-01-03"}]}})).await;
    ok(&r);
    assert_eq!((r.body["status"].as_str(), r.body["agreements"][0]["form"].as_str()), (Some("agreed"), Some("oral")));
    assert_eq!(case_status(&app, cid).await, "resolved");
    // Signing an oral agreement is not a thing.
    assert_eq!(act(&app, mid, "handler-a1", json!({"action": "sign", "signer": "seal"})).await.status, StatusCode::CONFLICT);
    ok(&app
        .post(
            &format!("/api/v1/cases/{cid}/transitions/record_visit"),
            "intake",
            &json!({"party": p1, "channel": "phone", "reached": true, "rating": "satisfied"}).to_string(),
        )
        .await);
    ok(&app
        .post(
            &format!("/api/v1/cases/{cid}/transitions/record_visit"),
            "intake",
            &json!({"party": p2, "channel": "sms", "reached": false}).to_string(),
        )
        .await);
    clock.set(at("2026-01-01T01:00:00Z"));
    let hash = fengqiao_web::hash_password(PASSWORD).unwrap();
    for u in staff() {
        let creds = Credentials { token_hash: Some(token_hash(&format!("tok-{}", u.id))), password_hash: Some(hash.clone()) };
        app.svc.store.put_user(&u, &creds, "system:test", T0).await.unwrap();
    }
    let mut b = Browser::new(&app);
    b.sign_in("sup").await;
    let panel = b.get(&format!("/mediations/{mid}")).await;
    assert!(panel.text.contains("id=\"visits\"") && panel.text.contains("满意") && panel.text.contains("未联系上"), "{}", panel.text);
    let doc = b.get(&format!("/mediations/{mid}/agreement")).await;
    assert!(
        doc.text.contains("口头调解协议记录") && doc.text.contains("李四当面道歉") && !doc.text.contains("not-effective"),
        "{}",
        doc.text
    );
    assert!(!doc.text.contains("（印章）"), "an oral agreement carries no seal");
}

//! Triage over HTTP: risk, a category suggested by a model trained on the store's filed cases,
//! and similar recent cases, within the reader's scope.

use axum::http::StatusCode;
use fengqiao_domain::{Channel, Command};
use fengqiao_store::contract::{draft, staff};

use crate::app;

#[tokio::test]
async fn triage_suggests_scores_and_finds_similar_cases() {
    let app = app().await;
    let intake = fengqiao_domain::Actor::from_user(&staff().into_iter().find(|u| u.id == "intake").unwrap());
    // A history of filed cases to learn from: street lights and noise, in varied words.
    let lights = ["村口路灯不亮了", "路灯坏了晚上很黑", "小区门口的路灯一直闪", "路灯杆倒了挡住路", "主干道路灯全部熄灭"];
    let noise = ["夜间施工噪声太大", "广场舞音响太吵", "工厂机器噪音扰民", "楼上装修噪声不断", "半夜有人大声喧哗"];
    for i in 0..110 {
        for (cat, texts) in [("street_light", &lights), ("noise", &noise)] {
            let text = format!("{}，第{}次反映，{}号附近", texts[i % 5], i, i * 7 % 50);
            let c = app.svc.create(draft(cat, "330681101001", &text), &intake, Channel::Phone, None).await.unwrap().case;
            app.svc.act(&intake, c.id, None, &Command::File { severity: None, note: None }).await.unwrap();
        }
    }
    app.svc.refresh_triage().await.unwrap();
    assert!(app.svc.triage.has_classifier());

    let r = app.post("/api/v1/triage", "intake", r#"{"description":"我家门口那盏路灯坏了，晚上看不见"}"#).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["suggestion"]["category"], "street_light", "{}", r.text);
    assert!(r.body["suggestion"]["evidence"].as_array().is_some_and(|e| !e.is_empty()));
    assert_eq!(r.body["risk"]["level"], "none");
    let r = app.post("/api/v1/triage", "intake", r#"{"description":"邻居说再吵就拿刀砍死我，我很害怕"}"#).await;
    assert!(matches!(r.body["risk"]["level"].as_str(), Some("red" | "orange")), "{}", r.text);
    assert!(!r.body["risk"]["evidence"].as_array().unwrap().is_empty());
    assert_eq!(app.post("/api/v1/triage", "intake", r#"{"description":"  "}"#).await.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        app.post("/api/v1/triage", "intake", r#"{"description":"x","lat":95,"lon":120}"#).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );

    // A new report of a matter already reported finds the earlier one; the index learns it at once.
    let first = app
        .post(
            "/api/v1/cases",
            "intake",
            r#"{"category":"sanitation","description":"菜市场东门垃圾堆了三天没人清理，臭气熏天","region":"330681101001"}"#,
        )
        .await;
    let again = app
        .post(
            "/api/v1/cases",
            "intake",
            r#"{"category":"sanitation","description":"菜市场东门垃圾堆了三天没人清理，臭气熏天！","region":"330681101001"}"#,
        )
        .await;
    let (a, b) = (first.body["id"].as_i64().unwrap(), again.body["id"].as_i64().unwrap());
    let r = app.get(&format!("/api/v1/cases/{b}/triage"), "intake").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let similar: Vec<i64> = r.body["similar"].as_array().unwrap().iter().map(|s| s["id"].as_i64().unwrap()).collect();
    assert_eq!(similar, [a]);
    assert!(r.body["similar"][0]["similarity"].as_f64().unwrap() >= 0.6);
    // Outside the reader's scope: the case is a 404, and similar cases are not revealed.
    assert_eq!(app.get(&format!("/api/v1/cases/{b}/triage"), "handler-b1").await.status, StatusCode::NOT_FOUND);
    let r = app.post("/api/v1/triage", "handler-b1", r#"{"description":"菜市场东门垃圾堆了三天没人清理，臭气熏天"}"#).await;
    assert_eq!(r.body["similar"].as_array().unwrap().len(), 0, "{}", r.text);
    let r = app.post("/api/v1/triage", "intake", r#"{"description":"菜市场东门垃圾堆了三天没人清理，臭气熏天"}"#).await;
    assert_eq!(r.body["similar"].as_array().unwrap().len(), 2);
}

/// The learned half of the risk score: wired in at the first refresh, and taught by staff
/// judgements through the transition API.
#[tokio::test]
async fn staff_judgements_teach_the_risk_model() {
    let app = app().await;
    let risk = |r: &crate::Resp| -> (String, Vec<String>) {
        let kinds = r.body["risk"]["evidence"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap().to_string()).collect();
        (r.body["risk"]["level"].as_str().unwrap().to_string(), kinds)
    };
    // A phrasing no lexicon entry names; the shipped labelled set holds it as high risk.
    let quiet = r#"{"description":"她在微信里跟我说活着太累了，想一了百了"}"#;
    let before = app.post("/api/v1/triage", "intake", quiet).await;
    assert_eq!(risk(&before), ("none".to_string(), vec![]), "no model before the first refresh: {}", before.text);
    app.svc.refresh_triage().await.unwrap();
    let after = app.post("/api/v1/triage", "intake", quiet).await;
    let (level, kinds) = risk(&after);
    assert!(level == "orange" || level == "red", "{}", after.text);
    assert_eq!(kinds, ["learned"], "{}", after.text);
    assert!(!after.body["risk"]["evidence"][0]["matched"].as_str().unwrap().is_empty(), "the model names its words");
    let (_, seed_high) = app.svc.triage.risk_model_trained_on().unwrap();

    // A sign this deployment's staff read as danger and the shipped set does not know:
    // someone sharpening a blade for hours in public. Staff judge such cases high risk; the
    // model learns it.
    let probe = r#"{"description":"他在村口磨了一下午的镰刀"}"#;
    let (level, _) = risk(&app.post("/api/v1/triage", "intake", probe).await);
    assert!(level == "none" || level == "yellow", "the seed alone does not know it: {level}");
    let who = ["老李", "王家老二", "张师傅", "小刘", "赵大爷", "孙家男人"];
    let place = ["家门口", "晒谷场", "小卖部旁边", "祠堂前", "桥头"];
    let how_long = ["一上午", "一晚上", "好几个钟头", "一整天"];
    let tool = ["柴刀", "斧头", "镰刀", "杀猪刀"];
    for i in 0..30 {
        let text = format!("{}在{}磨了{}的{}（第{}次反映）", who[i % 6], place[i % 5], how_long[i % 4], tool[(i / 3) % 4], i);
        let body = serde_json::json!({"category": "street_light", "description": text, "region": "330681101001"}).to_string();
        let id = app.post("/api/v1/cases", "intake", &body).await.body["id"].as_i64().unwrap();
        let r = app.post(&format!("/api/v1/cases/{id}/transitions/judge_risk"), "intake", r#"{"high":true,"note":"网格员核实"}"#).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    }
    // A judgement needs its verdict; a handler of another unit cannot judge a case it cannot see.
    let id = app
        .post("/api/v1/cases", "intake", r#"{"category":"street_light","description":"路灯不亮","region":"330681101001"}"#)
        .await
        .body["id"]
        .as_i64()
        .unwrap();
    assert_eq!(
        app.post(&format!("/api/v1/cases/{id}/transitions/judge_risk"), "intake", "{}").await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        app.post(&format!("/api/v1/cases/{id}/transitions/judge_risk"), "handler-b1", r#"{"high":false}"#).await.status,
        StatusCode::NOT_FOUND
    );
    app.svc.refresh_triage().await.unwrap();
    assert_eq!(app.svc.triage.risk_model_trained_on().map(|(_, high)| high), Some(seed_high + 30));
    let taught = app.post("/api/v1/triage", "intake", probe).await;
    let (level, kinds) = risk(&taught);
    assert!(level == "orange" || level == "red", "{}", taught.text);
    assert!(kinds.contains(&"learned".to_string()), "{}", taught.text);
    // Ordinary reports stay ordinary.
    let plain = app.post("/api/v1/triage", "intake", r#"{"description":"小区门口的路灯一直闪，晚上看不清路"}"#).await;
    assert_eq!(risk(&plain).0, "none", "{}", plain.text);
}

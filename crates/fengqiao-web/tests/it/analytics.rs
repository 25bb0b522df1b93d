//! Perception through the router: the newest analytics run as JSON, within the caller's
//! jurisdiction (a supervisor of another town sees nothing of this one), alert counts in the
//! figures, and the dashboard's layers, trend and bursting topics.

use axum::http::StatusCode;
use fengqiao_domain::Role;
use fengqiao_store::Credentials;
use fengqiao_store::contract::{T0, TOWN_A, TOWN_B, VILLAGE_A1, VILLAGE_B1, user};
use serde_json::Value;

use crate::pages::{Browser, pages_app};

#[tokio::test]
async fn hotspots_and_topics_are_scoped_and_shown() {
    let app = pages_app().await;
    let sup_b = user("sup-b", Role::Supervisor, None, TOWN_B);
    let creds = Credentials { token_hash: Some(fengqiao_web::token_hash("tok-sup-b")), password_hash: None };
    app.svc.store.put_user(&sup_b, &creds, "system:test", T0).await.unwrap();

    // Before the first run: nothing, and said so.
    let none = app.get("/api/v1/analytics/hotspots", "sup").await;
    assert_eq!(none.status, StatusCode::OK, "{}", none.text);
    assert_eq!((none.body["run"].is_null(), none.body["items"].as_array().unwrap().len()), (true, 0));

    // Six cases about the night market's barbecue smoke in village A1 this week: the category
    // and its words burst in town A.
    let mut ids = Vec::new();
    for i in 0..6 {
        let body = format!(r#"{{"category":"noise","description":"夜市烧烤油烟扰民{i}","region":"{VILLAGE_A1}"}}"#);
        let r = app.post("/api/v1/cases", "intake", &body).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        ids.push(r.body["id"].as_i64().unwrap());
    }
    let (_, raised) = app.svc.run_perception(app.svc.now()).await.unwrap();
    assert!(raised.iter().any(|a| a.evidence.category.as_deref() == Some("noise")), "{raised:?}");

    let topics = app.get("/api/v1/analytics/topics", "sup-a").await;
    assert_eq!(topics.status, StatusCode::OK, "{}", topics.text);
    let items = topics.body["items"].as_array().unwrap();
    let noise = items.iter().find(|t| t["kind"] == "category" && t["key"] == "noise").expect("the category bursts");
    assert_eq!(noise["town"], TOWN_A);
    assert_eq!(noise["case_ids"].as_array().unwrap().iter().map(|v| v.as_i64().unwrap()).collect::<Vec<_>>(), ids);
    // The words of one complaint make one topic: the others are its related terms.
    let words: Vec<&Value> = items.iter().filter(|t| t["kind"] == "term").collect();
    assert_eq!(words.len(), 1, "{}", topics.text);
    assert_eq!(words[0]["key"], "夜市");
    assert!(words[0]["related"].as_array().unwrap().iter().any(|w| w == "烧烤"), "{}", topics.text);
    let terms = app.get("/api/v1/analytics/topics?kind=term", "sup").await;
    assert!(terms.body["items"].as_array().unwrap().iter().all(|t| t["kind"] == "term"));
    assert_eq!(topics.body["run"]["weeks"], 12);

    // Another town's supervisor sees nothing of town A, not even by asking for it.
    let b = app.get("/api/v1/analytics/topics", "sup-b").await;
    assert_eq!(b.status, StatusCode::OK);
    assert!(b.body["items"].as_array().unwrap().is_empty(), "{}", b.text);
    assert_eq!(b.body["towns"].as_array().unwrap().iter().map(|t| t["town"].as_str().unwrap()).collect::<Vec<_>>(), [TOWN_B]);
    let asked = app.get(&format!("/api/v1/analytics/topics?region={TOWN_A}"), "sup-b").await;
    assert!(asked.body["items"].as_array().unwrap().is_empty() && asked.body["towns"].as_array().unwrap().is_empty());
    let spots = app.get("/api/v1/analytics/hotspots", "sup-b").await;
    let regions: Vec<&str> = spots.body["items"].as_array().unwrap().iter().map(|v| v["region"].as_str().unwrap()).collect();
    assert_eq!(regions, [VILLAGE_B1]);
    let all = app.get("/api/v1/analytics/hotspots", "sup").await;
    let a1 = all.body["items"].as_array().unwrap().iter().find(|v| v["region"] == VILLAGE_A1).unwrap();
    assert_eq!(a1["counts"].as_array().unwrap().last().unwrap(), 6);
    assert!(all.body["run"]["notes"].as_array().unwrap().iter().any(|n| n.as_str().unwrap().contains("too few")), "{}", all.text);

    // Not for intake or handlers; bad parameters are named.
    assert_eq!(app.get("/api/v1/analytics/hotspots", "handler-a1").await.status, StatusCode::FORBIDDEN);
    assert_eq!(app.get("/api/v1/analytics/topics", "intake").await.status, StatusCode::FORBIDDEN);
    let bad = app.get("/api/v1/analytics/topics?kind=rumour&region=12", "sup").await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad.body["error"]["details"].as_array().unwrap().len(), 2, "{}", bad.text);
    assert_eq!(app.get("/api/v1/analytics/hotspots?region=x", "sup").await.status, StatusCode::UNPROCESSABLE_ENTITY);

    // The figures carry the alerts of the same place and period.
    // (The period ends just before `to`: the alerts were raised at the test clock's now.)
    let period = "from=2025-12-01&to=2026-01-02";
    let f = app.get(&format!("/api/v1/figures?region={TOWN_A}&{period}"), "sup").await;
    assert_eq!(f.status, StatusCode::OK, "{}", f.text);
    assert_eq!(f.body["alerts"]["raised"].as_i64().unwrap(), raised.len() as i64);
    assert_eq!(app.get(&format!("/api/v1/figures?region={TOWN_B}&{period}"), "sup").await.body["alerts"]["raised"], 0);
    assert_eq!(app.get(&format!("/api/v1/figures?region={TOWN_A}&{period}"), "sup-b").await.body["alerts"]["raised"], 0);
    assert_eq!(app.get(&format!("/api/v1/figures?{period}"), "handler-a1").await.body["alerts"]["raised"], 0, "alerts are for supervisors");

    // The dashboard: layers, the trend chart, the bursting topics with their cases.
    let mut sup = Browser::new(&app);
    sup.sign_in("sup").await;
    let d = sup.get("/dashboard").await;
    assert_eq!(d.status, StatusCode::OK, "{}", d.text);
    for needle in [
        "id=\"perception\"",
        "id=\"trend-chart\"",
        "id=\"topics\"",
        "烧烤",
        &format!("href=\"/cases/{}\"", ids[0]),
        "class=\"pin alert-pin",
    ] {
        assert!(d.text.contains(needle), "{needle} missing");
    }
    let e = sup.get("/dashboard?layer=emerging&alerts=0").await;
    assert_eq!(e.status, StatusCode::OK);
    assert!(!e.text.contains("class=\"pin alert-pin") && e.text.contains("em-none"));
    assert_eq!(sup.get("/dashboard?layer=heat").await.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(sup.get("/dashboard?alerts=yes").await.status, StatusCode::UNPROCESSABLE_ENTITY);
    let mut handler = Browser::new(&app);
    handler.sign_in("handler-a1").await;
    let h = handler.get("/dashboard").await;
    assert!(!h.text.contains("id=\"perception\""), "analytics are for supervisors");
}

/// The scan's clusters in `/api/v1/analytics/hotspots`: a reader sees a cluster when its
/// region (the villages' common town, else the county) is within the jurisdiction, as its
/// alert is; a cluster across two towns is the county's.
#[tokio::test]
async fn scan_clusters_are_scoped() {
    use fengqiao_domain::perception::ScanCluster;
    use fengqiao_domain::{RegionCode, Timestamp};
    let app = pages_app().await;
    let sup_b = user("sup-b", Role::Supervisor, None, TOWN_B);
    let creds = Credentials { token_hash: Some(fengqiao_web::token_hash("tok-sup-b")), password_hash: None };
    app.svc.store.put_user(&sup_b, &creds, "system:test", T0).await.unwrap();
    let (mut run, _) = app.svc.run_perception(app.svc.now()).await.unwrap();
    let rc = |s: &str| RegionCode::parse(s).unwrap();
    let cluster = |rank: u32, region: &str, villages: &[&str]| ScanCluster {
        rank,
        model: "poisson".into(),
        region: rc(region),
        center: rc(villages[0]),
        center_name: "村".into(),
        center_name_en: None,
        center_lon: 120.0,
        center_lat: 29.0,
        villages: villages.iter().map(|v| rc(v)).collect(),
        radius_m: 1500.0,
        start_slice: 9,
        start: T0,
        end: Timestamp(T0.0 + 1),
        observed: 30,
        expected: 8.5,
        relative_risk: Some(4.2),
        llr: 17.0,
        p: 0.001,
        recurrence_days: 7000.0,
        series: vec![0; 12],
        case_ids: vec![],
    };
    run.clusters =
        vec![cluster(1, TOWN_A, &[VILLAGE_A1]), cluster(2, "330681000000", &[VILLAGE_B1, VILLAGE_A1]), cluster(3, TOWN_B, &[VILLAGE_B1])];
    run.at = run.at.plus_ms(1);
    app.svc.store.save_perception_run(&run).await.unwrap();
    let ranks = |who: &'static str, query: String| {
        let app = &app;
        async move {
            let r = app.get(&format!("/api/v1/analytics/hotspots{query}"), who).await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.text);
            r.body["clusters"].as_array().unwrap().iter().map(|c| c["rank"].as_u64().unwrap()).collect::<Vec<_>>()
        }
    };
    assert_eq!(ranks("sup", String::new()).await, [1, 2, 3], "the county sees all");
    assert_eq!(ranks("sup-a", String::new()).await, [1], "town A: its own cluster, not the county's across towns");
    assert_eq!(ranks("sup-b", String::new()).await, [3]);
    assert_eq!(ranks("sup", format!("?region={TOWN_B}")).await, [3]);
    let all = app.get("/api/v1/analytics/hotspots", "sup").await;
    let first = &all.body["clusters"][0];
    assert_eq!(
        (first["villages"][0].as_str(), first["relative_risk"].as_f64(), first["p"].as_f64()),
        (Some(VILLAGE_A1), Some(4.2), Some(0.001))
    );

    // The dashboard's scan layer: the significant clusters' villages shaded, a legend entry
    // each with its relative risk and p-value; over town B only town B's cluster.
    let mut sup = Browser::new(&app);
    sup.sign_in("sup").await;
    let d = sup.get("/dashboard?layer=scan").await;
    assert_eq!(d.status, StatusCode::OK, "{}", d.text);
    assert_eq!(d.text.matches("class=\"sw scan-").count(), 3, "{}", d.text);
    assert!(d.text.contains("4.2") && d.text.contains("p = 0.001"));
    let b = sup.get(&format!("/dashboard?layer=scan&region={TOWN_B}")).await;
    assert_eq!(b.text.matches("class=\"sw scan-").count(), 1, "{}", b.text);
}

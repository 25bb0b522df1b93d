//! Regions over HTTP: the GeoJSON export and import, and point or address lookup.

use axum::http::StatusCode;
use fengqiao_store::Credentials;
use fengqiao_store::contract::{T0, user};
use fengqiao_web::token_hash;
use serde_json::json;

use crate::app;

#[tokio::test]
async fn geojson_import_export_and_locate() {
    let app = app().await;
    let admin = user("admin", fengqiao_domain::Role::Admin, None, "330681000000");
    let creds = Credentials { token_hash: Some(token_hash("tok-admin")), password_hash: None };
    app.svc.store.put_user(&admin, &creds, "system:test", T0).await.unwrap();

    let r = app.get("/api/v1/regions/geojson", "intake").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers["content-type"], "application/geo+json");
    assert_eq!(r.body["type"], "FeatureCollection");
    assert_eq!(r.body["features"].as_array().unwrap().len(), 5);
    let r = app.get("/api/v1/regions/geojson?within=330681101000", "intake").await;
    assert_eq!(r.body["features"].as_array().unwrap().len(), 2, "the town and its village");
    assert_eq!(app.get("/api/v1/regions/geojson?within=12", "intake").await.status, StatusCode::UNPROCESSABLE_ENTITY);

    let grid = json!({"type": "FeatureCollection", "features": [{"type": "Feature",
        "properties": {"code": "330681101001001", "name": "第一网格", "parent": "330681101001", "population": 400, "grid_worker": "handler-a1"},
        "geometry": {"type": "Polygon", "coordinates": [[[120.0, 29.0], [120.1, 29.0], [120.1, 29.1], [120.0, 29.1], [120.0, 29.0]]]}}]});
    let before = app.events().await;
    let r = app.post("/api/v1/regions/geojson", "sup", &grid.to_string()).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "only administrators import");
    let mut bad = grid.clone();
    bad["features"][0]["properties"]["parent"] = json!("330681102001");
    bad["features"][0]["geometry"]["coordinates"][0][2] = json!([120.0, 29.1]);
    let r = app.post("/api/v1/regions/geojson", "admin", &bad.to_string()).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
    let details = r.body["error"]["details"].as_array().unwrap();
    assert!(details.len() >= 2, "every problem is listed: {details:?}");
    assert!(details.iter().all(|d| d["field"] == "features[0]"));
    assert_eq!(app.events().await, before, "a refused file writes nothing");
    let r = app.post("/api/v1/regions/geojson", "admin", &grid.to_string()).await;
    assert_eq!((r.status, r.body["imported"].as_u64()), (StatusCode::OK, Some(1)), "{}", r.text);

    let r = app.get("/api/v1/locate?lat=29.05&lon=120.05", "intake").await;
    assert_eq!(r.body["region"], "330681101001001", "{}", r.text);
    assert_eq!(r.body["by"], "point");
    let chain: Vec<&str> = r.body["chain"].as_array().unwrap().iter().map(|c| c["code"].as_str().unwrap()).collect();
    assert_eq!(chain, ["330681000000", "330681101000", "330681101001", "330681101001001"]);
    assert_eq!(r.body["chain"][3]["grid_worker"], "handler-a1");
    let r = app.get("/api/v1/locate?address=%E4%B9%99%E4%B8%80%E6%9D%91%E6%9D%91%E5%8F%A3", "intake").await; // 乙一村村口
    assert_eq!((r.body["region"].as_str(), r.body["by"].as_str()), (Some("330681102001"), Some("address")), "{}", r.text);
    let r = app.get("/api/v1/locate?lat=95&lon=120", "intake").await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = app.get("/api/v1/locate?lat=10&lon=10", "intake").await;
    assert_eq!((r.status, &r.body["region"]), (StatusCode::OK, &serde_json::Value::Null));
    assert_eq!(app.call("GET", "/api/v1/locate?lat=29&lon=120", None, None, &[]).await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn routing_rules_over_http() {
    let app = app().await;
    let admin = user("admin", fengqiao_domain::Role::Admin, None, "330681000000");
    let creds = Credentials { token_hash: Some(token_hash("tok-admin")), password_hash: None };
    app.svc.store.put_user(&admin, &creds, "system:test", T0).await.unwrap();
    let r = app.get("/api/v1/routing/rules", "intake").await;
    assert_eq!((r.status, r.body["version"].as_i64()), (StatusCode::OK, Some(0)));

    let rules = json!({"rules": [{"id": "lights", "when": {"categories": ["street_light"]},
        "place": {"kind": "village_committee", "level": "village"}, "co": [{"unit": "town-a"}]}]});
    let put = |who: &'static str, body: String| {
        let app = &app;
        async move { app.call("PUT", "/api/v1/routing/rules", Some(who), Some(&body), &[]).await }
    };
    assert_eq!(put("sup", rules.to_string()).await.status, StatusCode::FORBIDDEN);
    let mut bad = rules.clone();
    bad["rules"][0]["co"][0]["unit"] = json!("nowhere");
    let r = put("admin", bad.to_string()).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
    assert_eq!(r.body["error"]["details"][0]["field"], "rules[0].co[0]");
    let r = put("admin", r#"{"rules": [{"id": 7}]}"#.into()).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "a malformed rule is refused: {}", r.text);
    let r = put("admin", rules.to_string()).await;
    assert_eq!((r.status, r.body["version"].as_i64()), (StatusCode::OK, Some(1)), "{}", r.text);
    assert_eq!(app.get("/api/v1/routing/rules/1", "intake").await.body["rules"][0]["id"], "lights");
    assert_eq!(app.get("/api/v1/routing/rules/9", "intake").await.status, StatusCode::NOT_FOUND);

    // "Test this rule": where a case would go, with nothing written.
    let before = app.events().await;
    let r =
        app.post("/api/v1/routing/test", "intake", r#"{"category":"street_light","description":"路灯不亮","address":"乙一村村口"}"#).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!((r.body["region"].as_str(), r.body["decision"]["lead"].as_str()), (Some("330681102001"), Some("vc-b1")));
    assert_eq!(r.body["decision"]["trace"][0]["outcome"], "chosen");
    assert_eq!(app.events().await, before);

    // Route a filed case: preview, then the transition.
    let c = app.post("/api/v1/cases", "intake", r#"{"category":"street_light","description":"路灯不亮","region":"330681101001"}"#).await;
    let id = c.body["id"].as_i64().unwrap();
    assert_eq!(app.post(&format!("/api/v1/cases/{id}/transitions/file"), "intake", "{}").await.status, StatusCode::OK);
    let preview = app.get(&format!("/api/v1/cases/{id}/route"), "intake").await;
    assert_eq!(preview.body["lead"], "vc-a1");
    let r = app.post(&format!("/api/v1/cases/{id}/transitions/route"), "intake", "{}").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!((r.body["status"].as_str(), r.body["lead_unit"].as_str()), (Some("dispatched"), Some("vc-a1")));
    assert_eq!(r.body["co_units"], json!(["town-a"]));
    assert_eq!(r.body["routing"], preview.body);
    // Outside the reader's jurisdiction the case does not exist.
    assert_eq!(app.get(&format!("/api/v1/cases/{id}/route"), "handler-b1").await.status, StatusCode::NOT_FOUND);
}

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

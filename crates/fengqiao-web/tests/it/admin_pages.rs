//! The administration pages added for geography, routing and API keys: regions imported as
//! GeoJSON, routing rules edited and tried, API keys created and revoked; and rate limits on
//! the public JSON endpoints.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::json;

use crate::pages::{Browser, Page, multipart, pages_app, send, with_admin};

/// Uploads a GeoJSON file through the regions page's import form.
async fn upload(b: &Browser<'_>, csrf: &str, geojson: &str) -> Page {
    let (ct, body) = multipart(&[("csrf", csrf)], Some(("geojson", "regions.geojson", geojson.as_bytes())));
    let mut req = Request::builder().method("POST").uri("/admin/regions/import?lang=en").header("content-type", ct);
    if let Some(c) = &b.cookie {
        req = req.header("cookie", c);
    }
    send(b.app, req.body(Body::from(body)).unwrap()).await
}

#[tokio::test]
async fn regions_are_imported_from_a_geojson_file_all_or_nothing() {
    let app = pages_app().await;
    with_admin(&app).await;
    let mut sup = Browser::new(&app);
    sup.sign_in("sup").await;
    let mut admin = Browser::new(&app);
    admin.sign_in("admin").await;
    let page = admin.get("/admin/regions").await;
    assert!(page.text.contains("id=\"import-form\"") && page.text.contains("href=\"/api/v1/regions/geojson\""), "{}", page.text);
    // The download link works with the page session.
    let export = admin.get("/api/v1/regions/geojson").await;
    assert_eq!(export.status, StatusCode::OK);
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&export.body).unwrap()["features"].as_array().unwrap().len(), 5);

    let csrf = admin.csrf("/admin/regions").await;
    let grid = json!({"type": "FeatureCollection", "features": [{"type": "Feature",
        "properties": {"code": "330681101001001", "name": "第一网格", "parent": "330681101001", "population": 400},
        "geometry": {"type": "Polygon", "coordinates": [[[120.0, 29.0], [120.1, 29.0], [120.1, 29.1], [120.0, 29.1], [120.0, 29.0]]]}}]});
    let mut bad = grid.clone();
    bad["features"][0]["properties"]["parent"] = json!("330681102001");
    bad["features"][0]["geometry"]["coordinates"][0][2] = json!([120.0, 29.1]);
    let mut two = bad.clone();
    two["features"].as_array_mut().unwrap().push(json!({"type": "Feature", "properties": {"name": "x"}, "geometry": null}));

    let before = app.events().await;
    let r = upload(&sup, &csrf, &grid.to_string()).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "only administrators import");
    let r = upload(&admin, "forged", &grid.to_string()).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "the CSRF token is checked");
    let r = upload(&admin, &csrf, &two.to_string()).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
    let listed = r.text.matches("data-field=\"features[0]\"").count();
    assert!(listed >= 2, "every problem of the first feature is listed: {}", r.text);
    assert!(r.text.contains("data-field=\"features[1]\""), "and those of the second: {}", r.text);
    let r = upload(&admin, &csrf, "not json").await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text.contains("data-field=\"file\""), "{}", r.text);
    let r = upload(&admin, &csrf, "").await;
    assert!(r.text.contains("data-field=\"geojson\"") && r.text.contains("choose a file"), "{}", r.text);
    assert_eq!(app.events().await, before, "a refused file changes nothing");
    assert!(!app.svc.reference().regions.contains_key("330681101001001"));

    let r = upload(&admin, &csrf, &grid.to_string()).await;
    assert_eq!((r.status, r.location()), (StatusCode::SEE_OTHER, "/admin/regions?imported=1"), "{}", r.text);
    assert!(admin.get("/admin/regions?imported=1&lang=en").await.text.contains("Regions imported: 1"));
    assert!(app.svc.reference().regions.contains_key("330681101001001"));
    assert!(app.events().await > before, "the import is in the audit chain");
}

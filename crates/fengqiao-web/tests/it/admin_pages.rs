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

#[tokio::test]
async fn routing_rules_are_shown_edited_versioned_and_tried() {
    let app = pages_app().await;
    with_admin(&app).await;
    let mut sup = Browser::new(&app);
    sup.sign_in("sup").await;
    assert_eq!(sup.get("/admin/routing").await.status, StatusCode::FORBIDDEN);
    let mut admin = Browser::new(&app);
    admin.sign_in("admin").await;
    let page = admin.get("/admin/routing?lang=en").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text.contains("id=\"no-rules\"") && page.text.contains("id=\"rules-form\""), "{}", page.text);
    let csrf = admin.csrf("/admin/routing").await;

    let rules = json!({"rules": [{"id": "lights", "name": "Street lights", "priority": 5, "when": {"categories": ["street_light"], "keywords": ["灯"]},
        "place": {"kind": "village_committee", "level": "village"}, "co": [{"unit": "town-a"}]}]});
    let mut bad = rules.clone();
    bad["rules"][0]["co"][0]["unit"] = json!("nowhere");
    bad["rules"]
        .as_array_mut()
        .unwrap()
        .push(json!({"id": "x", "when": {"categories": ["no_such_category"]}, "owner": {"unit": "nobody"}}));
    let before = app.events().await;
    let r = admin.post_form("/admin/routing?lang=en", &[("csrf", csrf.as_str()), ("rules", &bad.to_string())]).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
    assert!(r.text.contains("data-field=\"rules[0].co[0]\""), "{}", r.text);
    assert!(r.text.matches("data-field=\"rules[1]").count() >= 2, "every problem is listed: {}", r.text);
    assert!(r.text.contains("no_such_category"), "the refused text stays in the editor");
    let r = admin.post_form("/admin/routing", &[("csrf", csrf.as_str()), ("rules", "{\"rules\": [")]).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text.contains("data-field=\"rules\""), "{}", r.text);
    assert_eq!(admin.post_form("/admin/routing", &[("csrf", "forged"), ("rules", &rules.to_string())]).await.status, StatusCode::FORBIDDEN);
    assert_eq!(
        sup.post_form("/admin/routing", &[("csrf", csrf.as_str()), ("rules", &rules.to_string())]).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(app.events().await, before, "refused rules change nothing");
    assert_eq!(app.svc.reference().rules.version, 0);

    let r = admin.post_form("/admin/routing", &[("csrf", csrf.as_str()), ("rules", &rules.to_string())]).await;
    assert_eq!((r.status, r.location()), (StatusCode::SEE_OTHER, "/admin/routing?saved=1"), "{}", r.text);
    let mut second = rules.clone();
    second["rules"][0]["priority"] = json!(9);
    let r = admin.post_form("/admin/routing", &[("csrf", csrf.as_str()), ("rules", &second.to_string())]).await;
    assert_eq!(r.location(), "/admin/routing?saved=2");

    let page = admin.get("/admin/routing?saved=2&lang=en").await;
    assert!(page.text.contains("Saved rules version: 2"), "{}", page.text);
    let row_at = page.text.find("data-rule=\"lights\"").expect("the rule in a table row");
    let row: String = page.text[row_at..].chars().take(600).collect();
    assert!(row.contains("Street lights") && row.contains(">9<"), "{row}");
    assert!(row.contains("Category: Street light") && row.contains("Keywords: 灯"), "conditions readably: {row}");
    assert!(row.contains("place: Village committee (Village)"), "the lead: {row}");
    assert!(row.contains("town-a"), "co-handling: {row}");
    assert!(page.text.contains("data-version=\"2\"") && page.text.contains("data-version=\"1\""), "the history");
    let older = admin.get("/admin/routing?from=1").await;
    let editor_at = older.text.find("id=\"rules-json\"").unwrap();
    let editor: String = older.text[editor_at..].chars().take_while(|c| *c != '/').collect();
    assert!(editor.contains("priority&#34;: 5,"), "the editor holds version 1: {editor}");

    // "Test this rule": the decision and the trace, nothing written.
    let before = app.events().await;
    let page = admin
        .get("/admin/routing?lang=en&test=1&category=street_light&address=%E4%B9%99%E4%B8%80%E6%9D%91%E6%9D%91%E5%8F%A3&channel=phone&urgency=routine&description=%E8%B7%AF%E7%81%AF%E4%B8%8D%E4%BA%AE")
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text.contains("id=\"decision-region\">330681102001"), "{}", page.text);
    assert!(page.text.contains("id=\"decision-lead\">vc-b1"), "{}", page.text);
    assert!(page.text.contains("id=\"decision-rule\">lights"));
    assert!(page.text.contains("<li class=\"chosen\"><strong>lights</strong> — chosen"), "{}", page.text);
    // No keyword: the rule does not match, the case would go to triage, and the trace says why.
    let page = admin.get("/admin/routing?lang=en&test=1&category=street_light&region=330681101001&description=broken").await;
    assert!(page.text.contains("no rule routes it"), "{}", page.text);
    assert!(page.text.contains("not matched: none of the keywords"), "{}", page.text);
    let page = admin.get("/admin/routing?lang=en&test=1&category=nope&description=x").await;
    assert!(page.text.contains("id=\"test-errors\"") && page.text.contains("data-field=\"category\""), "{}", page.text);
    assert_eq!(app.events().await, before, "trying writes nothing");
}

#[tokio::test]
async fn api_keys_are_created_once_listed_and_revoked() {
    let app = pages_app().await;
    with_admin(&app).await;
    let mut sup = Browser::new(&app);
    sup.sign_in("sup").await;
    assert_eq!(sup.get("/admin/api-keys").await.status, StatusCode::FORBIDDEN);
    let mut admin = Browser::new(&app);
    admin.sign_in("admin").await;
    assert!(admin.get("/admin/api-keys").await.text.contains("id=\"no-keys\""));
    let csrf = admin.csrf("/admin/api-keys").await;

    let before = app.events().await;
    let bad = [("csrf", csrf.as_str()), ("name", "Bad Name"), ("unit", "nowhere"), ("rate", "0")];
    let r = admin.post_form("/admin/api-keys?lang=en", &bad).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    for f in ["name", "unit", "rate", "scopes"] {
        assert!(r.text.contains(&format!("data-field=\"{f}\"")), "{f}: {}", r.text);
    }
    let good = [
        ("csrf", csrf.as_str()),
        ("name", "fixmystreet"),
        ("scope_submit", "1"),
        ("scope_update", "1"),
        ("unit", "vc-a1"),
        ("rate", "120"),
    ];
    assert_eq!(
        admin.post_form("/admin/api-keys", &[("csrf", "forged"), ("name", "x"), ("scope_submit", "1")]).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(sup.post_form("/admin/api-keys", &good).await.status, StatusCode::FORBIDDEN);
    assert_eq!(app.events().await, before, "refused keys write nothing");

    let r = admin.post_form("/admin/api-keys?lang=en", &good).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let at = r.text.find("id=\"secret\">").expect("the secret shown once");
    let secret: String = r.text[at + 12..].chars().take_while(|c| *c != '<').collect();
    assert!(secret.starts_with("fq311_") && secret.len() > 60, "{secret}");
    assert_eq!(app.events().await, before + 1, "creation is an audit event");
    let key = app.svc.store.api_key_by_hash(&fengqiao_web::token_hash(&secret)).await.unwrap().expect("stored by its hash");
    assert_eq!(
        (key.name.as_str(), key.rate_per_minute, key.unit.as_ref().map(|u| u.0.as_str())),
        ("fixmystreet", Some(120), Some("vc-a1"))
    );
    let list = admin.get("/admin/api-keys?lang=en").await;
    assert!(list.text.contains("data-key=\"fixmystreet\"") && list.text.contains("submit requests, push updates"), "{}", list.text);
    assert!(!list.text.contains(&secret), "the secret is never shown again");
    let r = admin.post_form("/admin/api-keys", &good).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "names are unique");

    assert_eq!(admin.post_form("/admin/api-keys/fixmystreet/revoke", &[("csrf", "forged")]).await.status, StatusCode::FORBIDDEN);
    let r = admin.post_form("/admin/api-keys/fixmystreet/revoke", &[("csrf", csrf.as_str())]).await;
    assert_eq!((r.status, r.location()), (StatusCode::SEE_OTHER, "/admin/api-keys?revoked=fixmystreet"));
    assert_eq!(app.events().await, before + 2, "revocation is an audit event");
    let key = app.svc.store.api_key_by_hash(&fengqiao_web::token_hash(&secret)).await.unwrap().unwrap();
    assert!(key.revoked_at.is_some());
    let list = admin.get("/admin/api-keys").await;
    assert!(!list.text.contains("/admin/api-keys/fixmystreet/revoke"), "a revoked key offers no revoke button");
    assert_eq!(admin.post_form("/admin/api-keys/nobody/revoke", &[("csrf", csrf.as_str())]).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn public_json_endpoints_are_rate_limited_and_write_nothing_past_the_limit() {
    use fengqiao_web::pages::RateLimiter;
    let app = pages_app().await;
    let body = r#"{"category":"street_light","description":"路灯不亮","region":"330681101001","anonymous":true}"#;
    let mut code = String::new();
    for _ in 0..RateLimiter::SUBMISSIONS {
        let r = app.call("POST", "/api/v1/public/cases", None, Some(body), &[]).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        code = r.body["tracking_code"].as_str().unwrap().to_string();
    }
    let (events, cases) = (app.events().await, app.get("/api/v1/cases?limit=100", "sup").await.body["items"].as_array().unwrap().len());
    assert_eq!(cases, RateLimiter::SUBMISSIONS as usize);
    let r = app.call("POST", "/api/v1/public/cases", None, Some(body), &[]).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text);
    assert_eq!(r.body["error"]["code"], "rate_limited");
    assert!(r.headers["retry-after"].to_str().unwrap().parse::<u64>().unwrap() >= 1);
    assert_eq!(app.events().await, events, "nothing written past the limit");
    assert_eq!(app.get("/api/v1/cases?limit=100", "sup").await.body["items"].as_array().unwrap().len(), cases);
    // The pages share the budget: the report form is no way around it.
    let (ct, form) = multipart(&[("category", "street_light"), ("description", "x"), ("region", "330681101001"), ("anonymous", "1")], None);
    let r = send(&app, Request::builder().method("POST").uri("/report").header("content-type", ct).body(Body::from(form)).unwrap()).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(app.events().await, events);

    // Look-ups have their own, larger budget.
    for i in 0..RateLimiter::VIEWS {
        let r = app.call("GET", &format!("/api/v1/public/track/{code}"), None, None, &[]).await;
        assert_eq!(r.status, StatusCode::OK, "look-up {i}: {}", r.text);
    }
    let r = app.call("GET", &format!("/api/v1/public/track/{code}"), None, None, &[]).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.body["error"]["code"], "rate_limited");
    assert!(r.headers.contains_key("retry-after"));
    // Staff endpoints are not limited by the public budget.
    assert_eq!(app.get("/api/v1/cases?limit=1", "sup").await.status, StatusCode::OK);
}

#[tokio::test]
async fn map_tiles_are_drawn_and_allowed_only_when_configured() {
    use fengqiao_web::pages::MapTiles;
    for bad in [
        "ftp://tiles.example/{z}/{x}/{y}.png",
        "https://tiles.example/{z}/{x}.png",
        "https://{s}.tiles/{z}/{x}/{y}.png",
        "https://t.example/{z}/{x}/{y}.png; script-src *",
    ] {
        assert!(MapTiles::parse(bad).is_err(), "{bad}");
    }
    let tiles = MapTiles::parse("https://tiles.example:8443/base/{z}/{x}/{y}.png").unwrap();
    assert_eq!(tiles.origin, "https://tiles.example:8443");

    // Unset (the default): no tiles, and the policy allows no other image origin.
    let plain = pages_app().await;
    let r = send(&plain, Request::builder().uri("/report").body(Body::empty()).unwrap()).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.text.contains("class=\"mapsvg\"") && !r.text.contains("<image"), "a map without tiles");
    assert_eq!(r.headers["content-security-policy"], fengqiao_web::pages::CSP);

    let crate::App { svc, _dir, .. } = pages_app().await;
    let mut state = fengqiao_web::AppState::new(svc.clone(), jiff::tz::TimeZone::get("Asia/Shanghai").unwrap());
    state.map_tiles = Some(std::sync::Arc::new(tiles));
    let app = crate::App { router: fengqiao_web::router(state), svc, _dir };
    let r = send(&app, Request::builder().uri("/report").body(Body::empty()).unwrap()).await;
    assert_eq!(r.status, StatusCode::OK);
    let csp = r.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("img-src 'self' data: https://tiles.example:8443;"), "{csp}");
    assert!(csp.contains("script-src 'self';"), "the rest of the policy stays: {csp}");
    let images: Vec<&str> = r.text.split("<image href=\"").skip(1).map(|s| s.split('"').next().unwrap()).collect();
    assert!(!images.is_empty() && images.len() <= 64, "{} tiles", images.len());
    let zooms: std::collections::HashSet<&str> = images.iter().map(|h| h.split('/').nth(4).unwrap()).collect();
    assert_eq!(zooms.len(), 1, "one zoom level: {images:?}");
    // The tiles cover the county's test area (120–121 E, 29–30 N) at that zoom.
    let z: i32 = zooms.iter().next().unwrap().parse().unwrap();
    let n = 2f64.powi(z);
    let x = ((120.5 + 180.0) / 360.0 * n).floor() as i64;
    assert!(images.iter().any(|h| h.split('/').nth(5) == Some(&x.to_string())), "column {x} at zoom {z}: {images:?}");
    assert!(r.text.contains("class=\"mapsvg tiled\""));
}

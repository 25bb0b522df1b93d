//! Open311 GeoReport v2: every resource in JSON and XML, validated against the published JSON
//! Schemas (`tests/open311-schema/`, with Python's jsonschema under `FENGQIAO_TEST_PYTHON`),
//! every error branch, API keys and their limits, a replay of what FixMyStreet's client sends,
//! the unmodified `georeport` client on a real socket, and fuzzed submissions and queries.

use std::sync::Mutex;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use fengqiao_domain::{Point, Region, Role};
use fengqiao_store::Credentials;
use fengqiao_store::contract::{COUNTY, T0, VILLAGE_A1, user};
use fengqiao_web::open311::make_key;
use fengqiao_web::token_hash;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::{App, app};

type Pairs = Vec<(String, String)>;

pub struct Raw {
    pub status: StatusCode,
    pub content_type: String,
    pub text: String,
    pub json: Value,
}

async fn send(app: &App, method: &str, uri: &str, content_type: Option<&str>, body: Vec<u8>) -> Raw {
    let mut b = Request::builder().method(method).uri(uri).header("host", "test.example");
    if let Some(ct) = content_type {
        b = b.header("content-type", ct);
    }
    let resp = app.router.clone().oneshot(b.body(Body::from(body)).unwrap()).await.unwrap();
    let status = resp.status();
    let content_type = resp.headers().get("content-type").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    Raw { status, content_type, json: serde_json::from_str(&text).unwrap_or(Value::Null), text }
}

async fn get(app: &App, uri: &str) -> Raw {
    send(app, "GET", uri, None, Vec::new()).await
}

fn form(pairs: &[(&str, &str)]) -> Vec<u8> {
    let mut s = String::new();
    for (k, v) in pairs {
        if !s.is_empty() {
            s.push('&');
        }
        s.push_str(&enc(k));
        s.push('=');
        s.push_str(&enc(v));
    }
    s.into_bytes()
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}

async fn post_form(app: &App, uri: &str, pairs: &[(&str, &str)]) -> Raw {
    send(app, "POST", uri, Some("application/x-www-form-urlencoded"), form(pairs)).await
}

/// A multipart body with text fields and one file part, as FixMyStreet sends a photo.
async fn post_multipart(app: &App, uri: &str, pairs: &[(&str, &str)], file: Option<(&str, &[u8])>) -> Raw {
    let boundary = "----fengqiao-test-boundary";
    let mut body = Vec::new();
    for (k, v) in pairs {
        body.extend(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n").as_bytes());
    }
    if let Some((name, bytes)) = file {
        body.extend(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"photo.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n").as_bytes());
        body.extend(bytes);
        body.extend(b"\r\n");
    }
    body.extend(format!("--{boundary}--\r\n").as_bytes());
    send(app, "POST", uri, Some(&format!("multipart/form-data; boundary={boundary}")), body).await
}

/// Responses to validate with Python at the end of a test.
#[derive(Default)]
struct Checks(Mutex<Vec<Value>>);

impl Checks {
    /// Records a JSON response (and its XML twin, if given) for the schema check.
    fn add(&self, what: &str, schema: Option<&str>, json: &Raw, xml: Option<&Raw>, root: &str) {
        assert_eq!(json.content_type, "application/json; charset=utf-8", "{what}");
        if let Some(x) = xml {
            assert_eq!(x.content_type, "text/xml; charset=utf-8", "{what}");
            assert_eq!(x.status, json.status, "{what}: XML and JSON answer alike");
        }
        every_datetime_has_an_offset(&json.json, what);
        self.0
            .lock()
            .unwrap()
            .push(json!({ "what": what, "schema": schema, "json": json.json, "xml": xml.map(|x| x.text.clone()), "root": root }));
    }

    fn run(&self) {
        let Some(python) = python() else { return };
        let cases = self.0.lock().unwrap().clone();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("cases.json");
        std::fs::write(&file, serde_json::to_vec(&cases).unwrap()).unwrap();
        let here = env!("CARGO_MANIFEST_DIR");
        let out = std::process::Command::new(python)
            .arg(format!("{here}/tests/it/open311_check.py"))
            .arg(format!("{here}/tests/open311-schema"))
            .arg(&file)
            .output()
            .unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "schema check failed:\n{text}");
        assert!(text.contains(&format!("checked {} responses", cases.len())), "{text}");
    }
}

fn python() -> Option<String> {
    match std::env::var("FENGQIAO_TEST_PYTHON") {
        Ok(p) if !p.is_empty() => Some(p),
        _ => {
            assert!(std::env::var("CI").as_deref() != Ok("true"), "CI=true but FENGQIAO_TEST_PYTHON is not set");
            eprintln!("SKIP: FENGQIAO_TEST_PYTHON is not set; Open311 responses not checked against the JSON Schemas");
            None
        }
    }
}

fn every_datetime_has_an_offset(v: &Value, what: &str) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if (k.ends_with("_datetime") || k == "datetime" || k == "changeset")
                    && let Some(s) = x.as_str()
                {
                    let offset = s.ends_with('Z') || s.rfind(['+', '-']).is_some_and(|i| i >= 19 && s[i..].len() == 6);
                    assert!(offset && fengqiao_domain::Timestamp::parse_rfc3339(s).is_some(), "{what}: {k} = {s}");
                }
                every_datetime_has_an_offset(x, what);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| every_datetime_has_an_offset(x, what)),
        _ => {}
    }
}

/// The specification's error body, in JSON or XML, with this status.
fn assert_errors(r: &Raw, status: StatusCode, needle: &str) {
    assert_eq!(r.status, status, "{}", r.text);
    if r.content_type.starts_with("application/json") {
        let list = r.json.as_array().unwrap_or_else(|| panic!("not a list: {}", r.text));
        assert!(!list.is_empty());
        for e in list {
            assert_eq!(e["code"].as_u64(), Some(status.as_u16() as u64), "{}", r.text);
            assert!(e["description"].is_string());
        }
    } else {
        assert_eq!(r.content_type, "text/xml; charset=utf-8");
        assert!(r.text.starts_with("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<errors><error><code>"), "{}", r.text);
        assert!(r.text.contains(&format!("<code>{}</code>", status.as_u16())));
    }
    assert!(r.text.contains(needle), "expected '{needle}' in {}", r.text);
}

/// A key stored directly, returning its secret.
async fn key(app: &App, name: &str, scopes: &[&str], unit: Option<&str>, rate: Option<u32>) -> String {
    let scopes: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
    let (k, secret) = make_key(name, &scopes, unit.map(str::to_string), rate, T0).unwrap();
    app.svc.store.create_api_key(&k, "system:test", T0).await.unwrap();
    secret
}

/// Gives village A1 a centroid, so coarsened locations have somewhere to go.
async fn centroids(app: &App) {
    let r = app.svc.store.regions().await.unwrap();
    let mut v: Region = r.into_iter().find(|g| g.code.as_str() == VILLAGE_A1).unwrap();
    v.centroid = Some(Point { lon: 120.125, lat: 29.125 });
    app.svc.store.put_region(&v, "system:test", T0).await.unwrap();
    app.svc.reload().await.unwrap();
}

#[tokio::test]
async fn discovery_services_and_definitions() {
    let app = app().await;
    let checks = Checks::default();
    let (dj, dx) = (get(&app, "/open311/v2/discovery.json").await, get(&app, "/open311/v2/discovery.xml").await);
    assert_eq!(dj.status, StatusCode::OK);
    assert_eq!(dj.json["endpoints"][0]["url"], "http://test.example/open311/v2/");
    assert_eq!(dj.json["endpoints"][0]["formats"], json!(["text/xml", "application/json"]));
    checks.add("discovery", None, &dj, Some(&dx), "discovery");

    let (sj, sx) = (get(&app, "/open311/v2/services.json").await, get(&app, "/open311/v2/services.xml").await);
    assert_eq!(sj.status, StatusCode::OK);
    assert!(sx.text.starts_with("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<services><service>"), "{}", sx.text);
    let list = sj.json.as_array().unwrap();
    let codes: Vec<&str> = list.iter().map(|s| s["service_code"].as_str().unwrap()).collect();
    assert!(codes.contains(&"road_damage") && codes.contains(&"public_security"));
    assert!(!codes.contains(&"neighbour"), "disputes are not offered to third-party apps");
    let road = list.iter().find(|s| s["service_code"] == "road_damage").unwrap();
    assert_eq!(
        (road["metadata"].as_bool(), road["type"].as_str(), road["service_name"].as_str()),
        (Some(true), Some("realtime"), Some("道路破损"))
    );
    assert_eq!(list.iter().find(|s| s["service_code"] == "street_light").unwrap()["metadata"], false);
    checks.add("services", Some("services.json"), &sj, Some(&sx), "services");
    let en = get(&app, "/open311/v2/services.json?locale=en").await;
    assert_eq!(en.json.as_array().unwrap().iter().find(|s| s["service_code"] == "road_damage").unwrap()["service_name"], "Damaged road");

    for code in ["road_damage", "noise", "street_light"] {
        let j = get(&app, &format!("/open311/v2/services/{code}.json?jurisdiction_id={COUNTY}")).await;
        let x = get(&app, &format!("/open311/v2/services/{code}.xml")).await;
        assert_eq!(j.status, StatusCode::OK, "{}", j.text);
        assert_eq!(j.json["service_code"], code);
        checks.add(&format!("definition {code}"), Some("service-definition.json"), &j, Some(&x), "service_definition");
    }
    let road = get(&app, "/open311/v2/services/road_damage.json").await;
    let a = &road.json["attributes"][0];
    assert_eq!(
        (a["code"].as_str(), a["datatype"].as_str(), a["required"].as_bool(), a["order"].as_i64()),
        (Some("road_kind"), Some("singlevaluelist"), Some(true), Some(1))
    );
    assert_eq!(a["values"].as_array().unwrap().len(), 3);
    let noise = get(&app, "/open311/v2/services/noise.json").await;
    assert_eq!(noise.json["attributes"][0]["datatype"], "multivaluelist");

    assert_errors(&get(&app, "/open311/v2/services/neighbour.json").await, StatusCode::NOT_FOUND, "unknown service");
    assert_errors(&get(&app, "/open311/v2/services/nope.xml").await, StatusCode::NOT_FOUND, "unknown service");
    assert_errors(&get(&app, "/open311/v2/services.json?jurisdiction_id=elsewhere").await, StatusCode::NOT_FOUND, "jurisdiction_id");
    assert_errors(&get(&app, "/open311/v2/services.xml?jurisdiction_id=elsewhere").await, StatusCode::NOT_FOUND, "jurisdiction_id");
    assert_eq!(get(&app, &format!("/open311/v2/services.json?jurisdiction_id={COUNTY}")).await.status, StatusCode::OK);
    assert_eq!(get(&app, "/open311/v2/services.json?jurisdiction_id=").await.status, StatusCode::OK, "empty means absent");
    assert_errors(&get(&app, "/open311/v2/services.yaml").await, StatusCode::NOT_FOUND, "unknown format");
    assert_errors(&get(&app, "/open311/v2/nothing.json").await, StatusCode::NOT_FOUND, "no resource");
    checks.run();
}

#[tokio::test]
async fn submit_list_and_fetch() {
    let app = app().await;
    centroids(&app).await;
    let checks = Checks::default();
    let secret = key(&app, "cityapp", &["submit"], None, None).await;
    let post = post_form(
        &app,
        "/open311/v2/requests.json",
        &[
            ("api_key", &secret),
            ("service_code", "road_damage"),
            ("lat", "29.1"),
            ("long", "120.1"),
            ("address_string", "甲一村村口"),
            ("description", "王五报告：路面塌陷，联系电话 13800138000"),
            ("attribute[road_kind]", "village"),
            ("first_name", "五"),
            ("last_name", "王"),
            ("phone", "13800138000"),
            ("email", "wang@example.com"),
            ("device_id", "abc"),
            ("account_id", "acct-7"),
            ("jurisdiction_id", COUNTY),
        ],
    )
    .await;
    assert_eq!(post.status, StatusCode::OK, "{}", post.text);
    let one = &post.json[0];
    let id = one["service_request_id"].as_str().unwrap().to_string();
    let token = one["token"].as_str().unwrap().to_string();
    assert_eq!(one["account_id"], "acct-7");
    // Stored as any other intake: channel api, reporter kept, the key named in the log.
    let case = by_code(&app, &id).await;
    assert_eq!(id, token, "the service request id is the tracking code");
    assert_ne!(id, case.id.0.to_string(), "the internal id, which counts the cases, is never shown");
    assert_eq!((case.channel.as_str(), case.region.as_str(), case.category.as_str()), ("api", VILLAGE_A1, "road_damage"));
    assert_eq!(case.answers["road_kind"], "village");
    let people = app.svc.store.persons(&[case.reporter.unwrap()]).await.unwrap();
    assert_eq!((people[0].name.as_deref(), people[0].phone.as_deref()), (Some("王五"), Some("13800138000")));
    assert_eq!(people[0].email.as_deref(), Some("wang@example.com"), "kept to call back, with the other personal data");
    let events = app.svc.store.case_events(&fengqiao_store::Scope::All, case.id).await.unwrap().unwrap();
    assert_eq!((events[0].kind.as_str(), events[0].actor.as_str()), ("created", "apikey:cityapp"));

    // Multi-value attributes, a coarsened category, XML answer.
    let noise = post_form(
        &app,
        "/open311/v2/requests.xml",
        &[
            ("api_key", &secret),
            ("service_code", "noise"),
            ("lat", "29.2"),
            ("long", "120.2"),
            ("address_string", "甲一村3组12号"),
            ("description", "夜间施工"),
            ("attribute[time_of_day][]", "day"),
            ("attribute[time_of_day][]", "night"),
        ],
    )
    .await;
    assert_eq!(noise.status, StatusCode::OK, "{}", noise.text);
    assert!(noise.text.contains("<service_requests><request>") && noise.text.contains("<token>"), "{}", noise.text);
    let noise_id = noise.text.split("<service_request_id>").nth(1).unwrap().split('<').next().unwrap().to_string();

    // A private category, recorded by staff: never listed, never fetched.
    let private =
        app.post("/api/v1/cases", "intake", r#"{"category":"public_security","description":"深夜有人聚集","region":"330681101001"}"#).await;
    assert_eq!(private.status, StatusCode::CREATED);
    let private_id = private.body["tracking_code"].as_str().unwrap().to_string();

    let (tj, tx) =
        (get(&app, &format!("/open311/v2/tokens/{token}.json")).await, get(&app, &format!("/open311/v2/tokens/{token}.xml")).await);
    assert_eq!(tj.json, json!([{ "service_request_id": id, "token": token }]));
    checks.add("token", None, &tj, Some(&tx), "service_requests");

    let (rj, rx) =
        (get(&app, &format!("/open311/v2/requests/{id}.json")).await, get(&app, &format!("/open311/v2/requests/{id}.xml")).await);
    assert_eq!(rj.status, StatusCode::OK, "{}", rj.text);
    let r = &rj.json[0];
    assert_eq!(
        (r["status"].as_str(), r["service_code"].as_str(), r["lat"].as_f64(), r["long"].as_f64()),
        (Some("open"), Some("road_damage"), Some(29.1), Some(120.1))
    );
    assert_eq!(r["description"], "**报告：路面塌陷，联系电话 ***", "the reporter's name and phone numbers are blanked");
    assert_eq!(r["address"], "甲一村村口");
    assert!(!rj.text.contains("王") && !rj.text.contains("13800138000") && !rj.text.contains("wang@"), "no personal data: {}", rj.text);
    checks.add("one request", Some("requests.json"), &rj, Some(&rx), "service_requests");

    let n = get(&app, &format!("/open311/v2/requests/{noise_id}.json")).await;
    assert_eq!((n.json[0]["lat"].as_f64(), n.json[0]["long"].as_f64()), (Some(29.125), Some(120.125)), "coarsened to the village centroid");
    assert!(n.json[0]["address"].is_null());

    let (lj, lx) = (get(&app, "/open311/v2/requests.json").await, get(&app, "/open311/v2/requests.xml").await);
    assert_eq!(lj.status, StatusCode::OK, "{}", lj.text);
    let ids: Vec<&str> = lj.json.as_array().unwrap().iter().map(|r| r["service_request_id"].as_str().unwrap()).collect();
    assert_eq!(ids, [noise_id.as_str(), id.as_str()], "newest first, the private case absent");
    checks.add("list", Some("requests.json"), &lj, Some(&lx), "service_requests");
    assert_errors(&get(&app, &format!("/open311/v2/requests/{private_id}.json")).await, StatusCode::NOT_FOUND, "no request");
    let by_ids =
        get(&app, &format!("/open311/v2/requests.json?service_request_id={id},{private_id},zzz&service_code=noise&status=closed")).await;
    assert_eq!(by_ids.json.as_array().unwrap().len(), 1, "ids override the other filters but never show private cases");
    assert_eq!(get(&app, "/open311/v2/requests.json?service_code=noise").await.json.as_array().unwrap().len(), 1);
    assert_eq!(get(&app, "/open311/v2/requests.json?service_code=noise,road_damage&status=open").await.json.as_array().unwrap().len(), 2);
    assert_eq!(get(&app, "/open311/v2/requests.json?service_code=public_security").await.json, json!([]), "offered, but never listed");
    assert_eq!(get(&app, "/open311/v2/requests.json?status=closed").await.json, json!([]));
    assert_eq!(get(&app, "/open311/v2/requests.json?status=open,closed&status=").await.json.as_array().unwrap().len(), 2);
    assert_eq!(get(&app, "/open311/v2/requests.json?page_size=1&page=2").await.json[0]["service_request_id"], id.as_str());
    let window = get(&app, "/open311/v2/requests.json?start_date=2025-12-01T00:00:00Z&end_date=2025-12-31T00:00:00Z").await;
    assert_eq!(window.json, json!([]), "outside the window");
    let window = get(&app, "/open311/v2/requests.json?start_date=2025-12-15&end_date=2026-01-02T00:00:00%2B08:00").await;
    assert_eq!(window.json.as_array().unwrap().len(), 2, "{}", window.text);

    // Extensions: answers, our status and the public history.
    let (ej, ex) =
        (get(&app, "/open311/v2/requests.json?extensions=true").await, get(&app, "/open311/v2/requests.xml?extensions=true").await);
    let e = ej.json.as_array().unwrap().iter().find(|r| r["service_request_id"] == id.as_str()).unwrap();
    assert_eq!(e["attributes"]["road_kind"], "village");
    assert_eq!(
        (e["extended_attributes"]["status"].as_str(), e["extended_attributes"]["fixmystreet_status"].as_str()),
        (Some("received"), Some("FOR_TRIAGE"))
    );
    assert_eq!(e["notes"][0]["status"], "FOR_TRIAGE");
    checks.add("extensions", Some("requests.json"), &ej, Some(&ex), "service_requests");
    checks.run();
}

#[tokio::test]
async fn every_error_in_the_specification_format_and_nothing_written() {
    let app = app().await;
    let secret = key(&app, "cityapp", &["submit"], None, None).await;
    let updater = key(&app, "updater", &["update"], None, None).await;
    let revoked = key(&app, "old", &["submit"], None, None).await;
    app.svc.store.revoke_api_key("old", "system:test", T0).await.unwrap();
    let good: Vec<(&str, &str)> = vec![("service_code", "street_light"), ("lat", "29.1"), ("long", "120.1"), ("description", "灯不亮")];
    let with = |extra: &[(&'static str, &'static str)], drop: &[&str]| -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> =
            good.iter().filter(|(k, _)| !drop.contains(k)).map(|(k, v)| (k.to_string(), v.to_string())).collect();
        v.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        v
    };
    let long = "长".repeat(4001);
    let cases: Vec<(Pairs, Option<&str>, StatusCode, &str)> = vec![
        (with(&[], &[]), None, StatusCode::FORBIDDEN, "api_key: required"),
        (with(&[], &[]), Some("not-a-key"), StatusCode::FORBIDDEN, "invalid api_key"),
        (with(&[], &[]), Some(&revoked), StatusCode::FORBIDDEN, "revoked"),
        (with(&[], &[]), Some(&updater), StatusCode::FORBIDDEN, "may not submit"),
        (with(&[("service_code", "nope")], &["service_code"]), Some(&secret), StatusCode::NOT_FOUND, "unknown service"),
        (with(&[("service_code", "neighbour")], &["service_code"]), Some(&secret), StatusCode::NOT_FOUND, "unknown service"),
        (with(&[], &["service_code"]), Some(&secret), StatusCode::BAD_REQUEST, "service_code: required"),
        (with(&[], &["lat", "long"]), Some(&secret), StatusCode::BAD_REQUEST, "give lat and long"),
        (with(&[], &["long"]), Some(&secret), StatusCode::BAD_REQUEST, "long: required with lat"),
        (with(&[("lat", "91")], &["lat"]), Some(&secret), StatusCode::BAD_REQUEST, "lat"),
        (with(&[("lat", "north")], &["lat"]), Some(&secret), StatusCode::BAD_REQUEST, "lat: expected a decimal number"),
        (with(&[("lat", "39.9"), ("long", "116.4")], &["lat", "long"]), Some(&secret), StatusCode::BAD_REQUEST, "outside the county"),
        (with(&[("address_id", "999999999999")], &["lat", "long"]), Some(&secret), StatusCode::BAD_REQUEST, "address_id: unknown address"),
        (
            with(&[("description", Box::leak(long.clone().into_boxed_str()))], &["description"]),
            Some(&secret),
            StatusCode::BAD_REQUEST,
            "description: at most 4000",
        ),
        (with(&[("attribute[nope]", "1")], &[]), Some(&secret), StatusCode::BAD_REQUEST, "attribute[nope]"),
        (with(&[("media_url", "ftp://x")], &[]), Some(&secret), StatusCode::BAD_REQUEST, "media_url"),
        (with(&[("phone", "12")], &[]), Some(&secret), StatusCode::BAD_REQUEST, "phone"),
        (with(&[("jurisdiction_id", "elsewhere")], &[]), Some(&secret), StatusCode::NOT_FOUND, "jurisdiction_id"),
    ];
    let before = app.events().await;
    for (pairs, k, status, needle) in &cases {
        let mut pairs: Vec<(&str, &str)> = pairs.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        if let Some(k) = k {
            pairs.push(("api_key", k));
        }
        for f in ["json", "xml"] {
            let r = post_form(&app, &format!("/open311/v2/requests.{f}"), &pairs).await;
            assert_errors(&r, *status, needle);
        }
    }
    // Several problems at once are all listed.
    let r = post_form(&app, "/open311/v2/requests.json", &[("api_key", &secret), ("description", &long)]).await;
    let descriptions: Vec<&str> = r.json.as_array().unwrap().iter().map(|e| e["description"].as_str().unwrap()).collect();
    assert_eq!(descriptions.len(), 3, "{descriptions:?}");
    // A required attribute missing (road_damage needs road_kind), in the spec's words.
    let r =
        post_form(&app, "/open311/v2/requests.json", &[("api_key", &secret), ("service_code", "road_damage"), ("address_string", "村口")])
            .await;
    assert_errors(&r, StatusCode::BAD_REQUEST, "attribute[road_kind]: this question must be answered");
    let r = post_form(
        &app,
        "/open311/v2/requests.json",
        &[("api_key", &secret), ("service_code", "road_damage"), ("address_string", "村口"), ("attribute[road_kind]", "motorway")],
    )
    .await;
    assert_errors(&r, StatusCode::BAD_REQUEST, "attribute[road_kind]");
    let r = send(&app, "POST", "/open311/v2/requests.json", Some("application/json"), b"{}".to_vec()).await;
    assert_errors(&r, StatusCode::BAD_REQUEST, "form-urlencoded");
    let r = post_form(&app, "/open311/v2/services.json", &[("api_key", &secret)]).await;
    assert_errors(&r, StatusCode::METHOD_NOT_ALLOWED, "cannot be posted");
    assert_eq!(app.events().await, before, "no error wrote anything");

    for (uri, status, needle) in [
        ("/open311/v2/requests/424242.json", StatusCode::NOT_FOUND, "no request"),
        ("/open311/v2/requests/abc.xml", StatusCode::NOT_FOUND, "no request"),
        ("/open311/v2/tokens/ABCDEFGHJKMN.json", StatusCode::NOT_FOUND, "no token"),
        ("/open311/v2/tokens/not-a-token.xml", StatusCode::NOT_FOUND, "no token"),
        (
            "/open311/v2/requests.json?start_date=2025-01-01T00:00:00Z&end_date=2025-06-01T00:00:00Z",
            StatusCode::BAD_REQUEST,
            "at most 90 days",
        ),
        (
            "/open311/v2/requests.json?start_date=2025-06-01T00:00:00Z&end_date=2025-01-01T00:00:00Z",
            StatusCode::BAD_REQUEST,
            "must not be after",
        ),
        ("/open311/v2/requests.json?start_date=yesterday", StatusCode::BAD_REQUEST, "start_date"),
        ("/open311/v2/requests.json?status=pending", StatusCode::BAD_REQUEST, "status"),
        ("/open311/v2/requests.json?page_size=0", StatusCode::BAD_REQUEST, "page_size"),
        ("/open311/v2/requests.json?page_size=1001", StatusCode::BAD_REQUEST, "page_size"),
        ("/open311/v2/requests.json?extensions=maybe", StatusCode::BAD_REQUEST, "extensions"),
        ("/open311/v2/requests.json?service_code=nope", StatusCode::NOT_FOUND, "unknown service"),
        ("/open311/v2/requests.xml?jurisdiction_id=elsewhere", StatusCode::NOT_FOUND, "jurisdiction_id"),
        (
            "/open311/v2/servicerequestupdates.json?start_date=2020-01-01T00:00:00Z&end_date=2021-01-01T00:00:00Z",
            StatusCode::BAD_REQUEST,
            "90 days",
        ),
    ] {
        assert_errors(&get(&app, uri).await, status, needle);
    }
    // Several problems of a query at once.
    let r = get(&app, "/open311/v2/requests.json?status=x&page_size=0&start_date=bad").await;
    assert_eq!(r.json.as_array().unwrap().len(), 3, "{}", r.text);
}

#[tokio::test]
async fn keys_are_rate_limited_and_managed_by_administrators() {
    let app = app().await;
    let secret = key(&app, "tiny", &["submit"], None, Some(3)).await;
    let pairs = [("api_key", secret.as_str()), ("service_code", "street_light"), ("address_string", "村口"), ("description", "灯不亮")];
    for _ in 0..3 {
        assert_eq!(post_form(&app, "/open311/v2/requests.json", &pairs).await.status, StatusCode::OK);
    }
    let before = app.events().await;
    assert_errors(&post_form(&app, "/open311/v2/requests.xml", &pairs).await, StatusCode::TOO_MANY_REQUESTS, "rate limit");
    assert_eq!(app.events().await, before);
    // Another key has its own bucket.
    let other = key(&app, "other", &["submit"], None, Some(3)).await;
    let pairs2 = [("api_key", other.as_str()), ("service_code", "street_light"), ("address_string", "村口"), ("description", "灯不亮")];
    assert_eq!(post_form(&app, "/open311/v2/requests.json", &pairs2).await.status, StatusCode::OK);

    // The JSON API for administrators.
    let admin = user("admin", Role::Admin, None, COUNTY);
    app.svc
        .store
        .put_user(&admin, &Credentials { token_hash: Some(token_hash("tok-admin")), password_hash: None }, "system:test", T0)
        .await
        .unwrap();
    assert_eq!(app.get("/api/v1/api-keys", "intake").await.status, StatusCode::FORBIDDEN);
    assert_eq!(app.post("/api/v1/api-keys", "sup", r#"{"name":"x"}"#).await.status, StatusCode::FORBIDDEN);
    let bad = app.post("/api/v1/api-keys", "admin", r#"{"name":"Has Spaces"}"#).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.text);
    let bad = app.post("/api/v1/api-keys", "admin", r#"{"name":"fms","scopes":["everything"]}"#).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    let bad = app.post("/api/v1/api-keys", "admin", r#"{"name":"fms","unit":"nowhere"}"#).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    let before = app.events().await;
    let made = app.post("/api/v1/api-keys", "admin", r#"{"name":"fms","scopes":["submit","update"],"unit":"vc-a1"}"#).await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.text);
    assert_eq!(app.events().await, before + 1, "an audit event");
    let fms = made.body["key"].as_str().unwrap().to_string();
    assert!(fms.len() >= 64);
    assert_eq!(made.body["scopes"], json!(["submit", "update"]));
    assert_eq!(
        app.post("/api/v1/api-keys", "admin", r#"{"name":"fms"}"#).await.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "names are unique"
    );
    let listed = app.get("/api/v1/api-keys", "admin").await;
    let names: Vec<&str> = listed.body["items"].as_array().unwrap().iter().map(|k| k["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["fms", "other", "tiny"]);
    assert!(!listed.text.contains(&fms) && !listed.text.contains(&token_hash(&fms)), "neither the key nor its hash is shown again");
    let pairs3 = [("api_key", fms.as_str()), ("service_code", "street_light"), ("address_string", "村口"), ("description", "灯不亮")];
    assert_eq!(post_form(&app, "/open311/v2/requests.json", &pairs3).await.status, StatusCode::OK);
    assert_eq!(app.call("DELETE", "/api/v1/api-keys/fms", Some("admin"), None, &[]).await.status, StatusCode::NO_CONTENT);
    assert_eq!(app.call("DELETE", "/api/v1/api-keys/fms", Some("admin"), None, &[]).await.status, StatusCode::NOT_FOUND);
    assert_errors(&post_form(&app, "/open311/v2/requests.json", &pairs3).await, StatusCode::FORBIDDEN, "revoked");
}

/// What FixMyStreet's Open311 client sends when it writes: XML only, form-urlencoded or
/// multipart with a photo, `deviceid`, `address_id=#NOTPINPOINTED#`, `jurisdiction_id` in the
/// query string; then status updates pushed with `servicerequestupdates`.
#[tokio::test]
async fn fixmystreet_client_replay() {
    let app = app().await;
    let checks = Checks::default();
    let secret = key(&app, "fixmystreet", &["submit", "update"], Some("vc-a1"), None).await;
    let uri = format!("/open311/v2/requests.xml?jurisdiction_id={COUNTY}");
    let base = [
        ("api_key", secret.as_str()),
        ("service_code", "street_light"),
        ("lat", "29.1"),
        ("long", "120.1"),
        ("description", "Street light 12 is out"),
        ("email", "resident@example.org"),
        ("first_name", "Li"),
        ("last_name", "Lei"),
        ("deviceid", "fms-device-1"),
        ("attribute[title]", ""),
    ];
    let a = post_form(&app, &uri, &base).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert!(a.text.starts_with("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<service_requests><request>"), "{}", a.text);
    let id = a.text.split("<service_request_id>").nth(1).unwrap().split('<').next().unwrap().to_string();
    let token = a.text.split("<token>").nth(1).unwrap().split('<').next().unwrap().to_string();

    let mut unpinned = base.to_vec();
    unpinned.push(("address_id", "#NOTPINPOINTED#"));
    unpinned.push(("address_string", "Somewhere near the market"));
    // A phone photo is larger than the JSON API's 1 MiB body limit.
    let photo: Vec<u8> = b"\xff\xd8\xff\xe0".iter().copied().cycle().take(3 * 1024 * 1024).collect();
    let b = post_multipart(&app, &uri, &unpinned, Some(("photo", &photo))).await;
    assert_eq!(b.status, StatusCode::OK, "{}", b.text);
    let b_id = b.text.split("<service_request_id>").nth(1).unwrap().split('<').next().unwrap().to_string();
    let unplaced = by_code(&app, &b_id).await;
    let kept = app.svc.store.attachments(&fengqiao_store::Scope::All, unplaced.id).await.unwrap();
    assert_eq!(kept.len(), 1, "the photo is stored with the case");
    assert_eq!(kept[0].content_type, "image/jpeg", "its type from its bytes");
    // A file that is not a photo is refused, and nothing is written.
    let before = app.svc.store.audit_head().await.unwrap();
    let bad = post_multipart(&app, &uri, &unpinned, Some(("photo", b"#!/bin/sh\nrm -rf /\n"))).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.text);
    assert!(bad.text.contains("photo: expected a JPEG, PNG or WebP photo"), "{}", bad.text);
    assert_eq!(app.svc.store.audit_head().await.unwrap(), before, "a refused request writes nothing");
    assert!(unplaced.location.point.is_none(), "#NOTPINPOINTED# means no point");
    assert_eq!(unplaced.region.as_str(), COUNTY, "placed at the county for triage");
    let bare = [("api_key", secret.as_str()), ("service_code", "street_light"), ("address_id", "#NOTPINPOINTED#")];
    let c = post_multipart(&app, &uri, &bare, None).await;
    assert_eq!(c.status, StatusCode::OK, "{}", c.text);

    let (tx, tj) =
        (get(&app, &format!("/open311/v2/tokens/{token}.xml")).await, get(&app, &format!("/open311/v2/tokens/{token}.json")).await);
    assert!(tx.text.contains(&format!("<service_request_id>{id}</service_request_id>")), "{}", tx.text);
    checks.add("token", None, &tj, Some(&tx), "service_requests");

    // The case is dispatched to the key's unit by intake staff; the unit's system then reports.
    let path = format!("/api/v1/cases/{}/transitions", by_code(&app, &id).await.id.0);
    assert_eq!(app.post(&format!("{path}/file"), "intake", "{}").await.status, StatusCode::OK);
    assert_eq!(app.post(&format!("{path}/dispatch"), "intake", r#"{"lead_unit":"vc-a1"}"#).await.status, StatusCode::OK);
    let mut status_after = Vec::new();
    for (uid, st, text) in [
        ("u1", "INVESTIGATING", "Engineer assigned"),
        ("u2", "NOT_COUNCILS_RESPONSIBILITY", "Passed to the power company"),
        ("u3", "IN_PROGRESS", "Replacing the lamp"),
        ("u4", "FIXED", "Lamp replaced"),
    ] {
        let pairs = update(&secret, uid, &id, st, text);
        let r = post_form(&app, "/open311/v2/servicerequestupdates.xml", &pairs).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert!(r.text.contains("<service_request_updates><request_update><applied"), "{}", r.text);
        let case = by_code(&app, &id).await;
        status_after.push(case.status.as_str());
    }
    assert_eq!(status_after, ["accepted", "accepted", "in_progress", "resolved"]);
    let events = app.svc.store.case_events(&fengqiao_store::Scope::All, by_code(&app, &id).await.id).await.unwrap().unwrap();
    let resolved = events.iter().find(|e| e.kind == "resolved").unwrap();
    assert_eq!(resolved.actor, "user:apikey:fixmystreet");
    assert!(resolved.payload.contains("Lamp replaced"));
    // A retry of the same update changes nothing.
    let before = app.events().await;
    let pairs = update(&secret, "u4", &id, "FIXED", "Lamp replaced");
    let again = post_form(&app, "/open311/v2/servicerequestupdates.json", &pairs).await;
    assert_eq!(again.json, json!([{ "update_id": "u4", "applied": "resolve" }]));
    assert_eq!(app.events().await, before);
    // Errors of the update endpoint.
    let no_scope = key(&app, "submit-only", &["submit"], None, None).await;
    type Case<'a> = (Vec<(&'a str, &'a str)>, StatusCode, &'static str);
    let bad: Vec<Case> = vec![
        (
            vec![
                ("api_key", no_scope.as_str()),
                ("update_id", "x"),
                ("service_request_id", id.as_str()),
                ("status", "OPEN"),
                ("updated_datetime", "2026-01-01T09:00:00Z"),
            ],
            StatusCode::FORBIDDEN,
            "may not update",
        ),
        (
            vec![
                ("api_key", secret.as_str()),
                ("update_id", "x"),
                ("service_request_id", "999999"),
                ("status", "OPEN"),
                ("updated_datetime", "2026-01-01T09:00:00Z"),
            ],
            StatusCode::NOT_FOUND,
            "no request",
        ),
        (
            vec![
                ("api_key", secret.as_str()),
                ("update_id", "x"),
                ("service_request_id", id.as_str()),
                ("status", "MAYBE"),
                ("updated_datetime", "yesterday"),
            ],
            StatusCode::BAD_REQUEST,
            "status: unknown",
        ),
        (vec![("api_key", secret.as_str())], StatusCode::BAD_REQUEST, "update_id: required"),
    ];
    let before = app.events().await;
    for (pairs, status, needle) in &bad {
        assert_errors(&post_form(&app, "/open311/v2/servicerequestupdates.xml", pairs).await, *status, needle);
    }
    assert_eq!(app.events().await, before);

    // FixMyStreet polls our changes back.
    let (gj, gx) = (
        get(&app, "/open311/v2/servicerequestupdates.json?start_date=2025-12-31T00:00:00Z&end_date=2026-01-02T00:00:00Z").await,
        get(&app, "/open311/v2/servicerequestupdates.xml?start_date=2025-12-31T00:00:00Z&end_date=2026-01-02T00:00:00Z").await,
    );
    assert_eq!(gj.status, StatusCode::OK, "{}", gj.text);
    let mine: Vec<&str> = gj
        .json
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["service_request_id"] == id.as_str())
        .map(|u| u["external_status_code"].as_str().unwrap())
        .collect();
    assert_eq!(mine, ["FOR_TRIAGE", "FOR_TRIAGE", "ACTION_SCHEDULED", "INVESTIGATING", "IN_PROGRESS", "FIXED"]);
    assert!(gj.json.as_array().unwrap().iter().all(|u| u["status"] == "open" && u["update_id"].is_string()));
    checks.add("updates", None, &gj, Some(&gx), "service_request_updates");
    // The request's own view now says what happened.
    let (rj, rx) = (
        get(&app, &format!("/open311/v2/requests/{id}.json?extensions=true")).await,
        get(&app, &format!("/open311/v2/requests/{id}.xml?extensions=true")).await,
    );
    assert_eq!(rj.json[0]["extended_attributes"]["fixmystreet_status"], "FIXED");
    assert_eq!(rj.json[0]["status"], "open", "resolved is still open until the return visit closes it");
    checks.add("request after updates", Some("requests.json"), &rj, Some(&rx), "service_requests");
    checks.run();
}

/// An update as FixMyStreet posts it.
fn update<'a>(key: &'a str, update_id: &'a str, id: &'a str, status: &'a str, text: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("api_key", key),
        ("update_id", update_id),
        ("service_request_id", id),
        ("status", status),
        ("updated_datetime", "2026-01-01T09:00:00+08:00"),
        ("description", text),
        ("first_name", "Handler"),
        ("last_name", "One"),
        ("email", "handler@example.org"),
    ]
}

const GEOREPORT_SCRIPT: &str = r#"
import json, sys
from georeport import GeoReport
out = {}
for fmt in ("json", "xml"):
    c = GeoReport(sys.argv[1], jurisdiction=sys.argv[2], output_format=fmt)
    services = c.get_service_list()
    definition = c.get_service_definition("road_damage")
    requests = c.get_service_requests(service_code="road_damage,street_light", status="open")
    one = c.get_service_request(sys.argv[3])
    out[fmt] = {"services": services, "definition": definition, "requests": requests, "one": one}
print(json.dumps(out))
"#;

/// The PyPI `georeport` client, unmodified, against a real server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn georeport_client_reads_everything() {
    let Some(py) = python() else { return };
    let app = app().await;
    let secret = key(&app, "cityapp", &["submit"], None, None).await;
    let r = post_form(
        &app,
        "/open311/v2/requests.json",
        &[
            ("api_key", &secret),
            ("service_code", "road_damage"),
            ("lat", "29.1"),
            ("long", "120.1"),
            ("description", "坑"),
            ("attribute[road_kind]", "street"),
        ],
    )
    .await;
    let id = r.json[0]["service_request_id"].as_str().unwrap().to_string();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = app.router.clone();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("client.py");
    std::fs::write(&script, GEOREPORT_SCRIPT).unwrap();
    let (url, id2) = (format!("http://{addr}/open311/v2/"), id.clone());
    let out =
        tokio::task::spawn_blocking(move || std::process::Command::new(py).arg(&script).arg(url).arg(COUNTY).arg(id2).output().unwrap())
            .await
            .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    for fmt in ["json", "xml"] {
        let got = &v[fmt];
        let services = got["services"].as_array().unwrap_or_else(|| panic!("{fmt}: {got}"));
        assert!(services.iter().any(|s| s["service_code"] == "road_damage"), "{fmt}");
        assert_eq!(got["definition"]["service_code"], "road_damage", "{fmt}");
        // One request: JSON gives a list, xmltodict a single element.
        let requests = match &got["requests"] {
            Value::Array(a) => a.clone(),
            one => vec![one.clone()],
        };
        assert_eq!(requests.len(), 1, "{fmt}: {}", got["requests"]);
        assert_eq!(requests[0]["service_request_id"], id.as_str(), "{fmt}");
        assert_eq!(got["one"]["service_request_id"], id.as_str(), "{fmt}");
        assert_eq!(got["one"]["status"], "open", "{fmt}");
    }
    assert_eq!(v["json"]["one"]["lat"], 29.1);
    assert_eq!(v["xml"]["one"]["lat"], "29.1");
}

/// Values a careless or hostile client might send, per argument.
const FUZZ: &[(&str, &[&str])] = &[
    ("service_code", &["road_damage", "street_light", "noise", "neighbour", "public_security", "nope", "%00", ""]),
    ("lat", &["29.1", "29.99", "91", "-1", "NaN", "inf", "1e400", "29.1.1", ""]),
    ("long", &["120.1", "120.99", "181", "-0", "NaN", "abc", ""]),
    ("address_string", &["村口", "<x>&\"'", "", "\u{1}\u{7f}"]),
    ("address_id", &["330681101001", "330681000000", "#NOTPINPOINTED#", "12", "999999999999", ""]),
    ("description", &["灯坏了", "电话 13800138000", "", "\u{0}"]),
    ("attribute[road_kind]", &["village", "motorway", ""]),
    ("attribute[time_of_day][]", &["day", "night", "dusk"]),
    ("attribute[junk", &["1"]),
    ("attribute[amount]", &["12.5", "lots"]),
    ("phone", &["13800138000", "12", "+86 138-0013-8000", ""]),
    ("first_name", &["王", "Li", ""]),
    ("last_name", &["五", "Lei", ""]),
    ("email", &["a@b.c", "not an email"]),
    ("media_url", &["https://x.example/y.jpg", "ftp://x", "javascript:alert(1)"]),
    ("jurisdiction_id", &["330681000000", "elsewhere", ""]),
    ("deviceid", &["d1"]),
    ("account_id", &["acct", ""]),
];

/// Runs `cases` random inputs from `strategy` against one app, reporting the smallest failure.
fn fuzz<S: proptest::strategy::Strategy>(cases: u32, strategy: S, check: impl Fn(&App, &str, S::Value) + Send + Sync)
where
    S::Value: std::fmt::Debug,
{
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let (app, secret) = rt.block_on(async {
        let app = app().await;
        let secret = key(&app, "fuzz", &["submit"], None, Some(1_000_000)).await;
        (app, secret)
    });
    let mut runner = proptest::test_runner::TestRunner::new(proptest::test_runner::Config { cases, ..Default::default() });
    let result = runner.run(&strategy, |v| {
        let _guard = rt.enter();
        check(&app, &secret, v);
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

/// Random submissions: every answer is a success that wrote exactly one case, or an error in
/// the specification's format that wrote nothing; never a server error.
#[test]
fn fuzzed_submissions_answer_in_the_specification_format() {
    use proptest::prelude::*;
    let strategy = (
        proptest::collection::vec((0..FUZZ.len(), 0usize..16), 0..6),
        proptest::option::of(0..FUZZ.len()),
        0u8..6,
        any::<bool>(),
        any::<bool>(),
    );
    fuzz(96, strategy, |app, secret, (picks, long_field, key_kind, xml, multipart)| {
        // A valid submission, then each pick replaces or adds one argument.
        let mut pairs: Vec<(String, String)> =
            [("service_code", "street_light"), ("lat", "29.1"), ("long", "120.1"), ("description", "灯坏了")]
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
        for (f, v) in &picks {
            let (name, values) = FUZZ[*f];
            let value = values[*v % values.len()].to_string();
            match pairs.iter_mut().find(|(k, _)| k == name && !name.ends_with("[]")) {
                Some(p) => p.1 = value,
                None => pairs.push((name.to_string(), value)),
            }
        }
        if let Some(f) = long_field {
            pairs.push((FUZZ[f].0.to_string(), "长".repeat(4001)));
        }
        match key_kind {
            0 => {}
            1 => pairs.push(("api_key".into(), "wrong".into())),
            _ => pairs.push(("api_key".into(), secret.to_string())),
        }
        let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let uri = if xml { "/open311/v2/requests.xml" } else { "/open311/v2/requests.json" };
        futures_block(async {
            let before = app.events().await;
            let r = if multipart { post_multipart(app, uri, &pairs, None).await } else { post_form(app, uri, &pairs).await };
            let after = app.events().await;
            assert!(!r.status.is_server_error(), "{pairs:?} -> {} {}", r.status, r.text);
            if r.status == StatusCode::OK {
                assert_eq!(after, before + 1, "one created event");
                assert!(r.text.contains("service_request_id"), "{}", r.text);
            } else {
                assert!(matches!(r.status.as_u16(), 400 | 403 | 404), "{pairs:?} -> {}", r.status);
                assert_errors(&r, r.status, "");
                assert_eq!(after, before, "{pairs:?}: an error wrote something");
            }
            if xml {
                assert!(r.text.starts_with("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"));
                assert!(!r.text.chars().any(|c| (c as u32) < 0x20 && !matches!(c, '\n' | '\t' | '\r')), "no control characters in XML");
            }
        });
    });
}

/// Random list queries: a list or a 4xx error in the specification's format.
#[test]
fn fuzzed_queries_answer_in_the_specification_format() {
    use proptest::prelude::*;
    const Q: &[(&str, &[&str])] = &[
        ("service_request_id", &["1", "1,2,3", "x", ",,", "-5", "99999999999999999999"]),
        ("service_code", &["noise", "road_damage,noise", "neighbour", "nope", ","]),
        ("start_date", &["2025-12-01", "2025-12-01T00:00:00Z", "2026-01-01T00:00:00+08:00", "bad", "2026-13-45"]),
        ("end_date", &["2026-01-02", "2027-01-01T00:00:00Z", "bad"]),
        ("status", &["open", "closed", "open,closed", "maybe"]),
        ("page", &["1", "2", "0", "-1", "999999999999999999999"]),
        ("page_size", &["1", "1000", "1001", "x"]),
        ("extensions", &["true", "false", "yes"]),
    ];
    let strategy = (proptest::collection::vec((0usize..8, 0usize..8), 0..6), any::<bool>());
    fuzz(96, strategy, |app, _, (args, xml)| {
        let query: Vec<String> = args
            .iter()
            .map(|(f, v)| {
                let (name, values) = Q[*f];
                format!("{name}={}", enc(values[*v % values.len()]))
            })
            .collect();
        let uri = format!("/open311/v2/requests.{}?{}", if xml { "xml" } else { "json" }, query.join("&"));
        futures_block(async {
            let r = get(app, &uri).await;
            match r.status.as_u16() {
                200 => assert!(r.text.contains("service_requests") || r.json.is_array(), "{}", r.text),
                400 | 404 => assert_errors(&r, r.status, ""),
                _ => panic!("{uri} -> {} {}", r.status, r.text),
            }
        });
    });
}

/// Runs a future to completion on the runtime entered by [`fuzz`].
fn futures_block<F: std::future::Future>(f: F) -> F::Output {
    tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(f))
}

/// The stored case behind an Open311 service request id (its tracking code).
async fn by_code(app: &App, code: &str) -> fengqiao_domain::Case {
    let code = fengqiao_domain::TrackingCode::parse(code).expect("a tracking code");
    app.svc.store.case_by_tracking(&code).await.unwrap().expect("the case exists")
}

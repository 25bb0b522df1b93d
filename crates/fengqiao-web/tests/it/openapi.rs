//! The OpenAPI document: it lists exactly the routes the router has, it is valid OpenAPI 3.1
//! (with Python's openapi-spec-validator under `FENGQIAO_TEST_PYTHON`), its documentation page
//! works under the pages' CSP, and schemathesis finds no server error and no response that
//! disagrees with it on a real server, while rejected requests change nothing.

use std::collections::BTreeSet;

use axum::http::StatusCode;
use serde_json::Value;

use crate::app;

/// The API's routes as the source registers them: every `.route("/api/v1…", get(…).post(…))`
/// as (METHOD, path). Reading the source is the only way to list an axum router's routes.
fn registered() -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for src in [
        include_str!("../../src/api.rs"),
        include_str!("../../src/openapi.rs"),
        include_str!("../../src/supervision.rs"),
        include_str!("../../src/duty.rs"),
        include_str!("../../src/triage.rs"),
        include_str!("../../src/residents.rs"),
        include_str!("../../src/consultation.rs"),
        include_str!("../../src/mediation.rs"),
        include_str!("../../src/problems.rs"),
        include_str!("../../src/webhooks.rs"),
        include_str!("../../src/alerts.rs"),
        include_str!("../../src/analytics.rs"),
    ] {
        for chunk in src.split(".route(\"").skip(1) {
            let Some((path, rest)) = chunk.split_once('"') else { continue };
            if !path.starts_with("/api/v1/") {
                continue;
            }
            // The handlers end at the line's end: `, get(a).post(b))`.
            let line = rest.lines().next().unwrap_or("");
            for m in ["get", "post", "put", "delete", "patch"] {
                if line.contains(&format!("{m}(")) {
                    out.insert((m.to_uppercase(), path.to_string()));
                }
            }
        }
    }
    out
}

fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            out.insert((method.to_uppercase(), path.clone()));
        }
    }
    out
}

/// Every `$ref` in `v` names a schema the document defines.
fn refs_resolve(doc: &Value, v: &Value, at: &str) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get("$ref") {
                let name = r.strip_prefix("#/components/schemas/").unwrap_or_else(|| panic!("{at}: foreign $ref {r}"));
                assert!(doc["components"]["schemas"].get(name).is_some(), "{at}: $ref to undefined schema {name}");
            }
            for (k, x) in m {
                refs_resolve(doc, x, &format!("{at}/{k}"));
            }
        }
        Value::Array(a) => a.iter().enumerate().for_each(|(i, x)| refs_resolve(doc, x, &format!("{at}/{i}"))),
        _ => {}
    }
}

fn python() -> Option<String> {
    match std::env::var("FENGQIAO_TEST_PYTHON") {
        Ok(p) if !p.is_empty() => Some(p),
        _ => {
            assert!(std::env::var("CI").as_deref() != Ok("true"), "CI=true but FENGQIAO_TEST_PYTHON is not set");
            eprintln!("SKIP: FENGQIAO_TEST_PYTHON is not set; the OpenAPI document is not validated nor fuzzed with schemathesis");
            None
        }
    }
}

#[tokio::test]
async fn the_document_lists_every_route_and_each_is_served() {
    let app = app().await;
    let r = app.call("GET", "/api/v1/openapi.json", None, None, &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    let doc = r.body;
    assert_eq!(doc["openapi"], "3.1.0");
    let (reg, doc_ops) = (registered(), documented(&doc));
    assert!(reg.len() >= 20, "the route scan found too little: {reg:?}");
    let missing: Vec<_> = reg.difference(&doc_ops).collect();
    let stale: Vec<_> = doc_ops.difference(&reg).collect();
    assert!(missing.is_empty(), "routes missing from the document: {missing:?}");
    assert!(stale.is_empty(), "documented operations with no route: {stale:?}");
    refs_resolve(&doc, &doc, "#");

    // Each documented operation reaches a handler: an unrouted path is an empty 404 and a
    // wrong method a 405, while our handlers answer in the error shape or succeed.
    for (method, path) in &doc_ops {
        let uri = path.replace("{id}", "1").replace("{action}", "accept").replace("{version}", "1").replace("{code}", "ZZZZZZZZZZZZ");
        let r = app.call(method, &uri, Some("intake"), None, &[]).await;
        assert_ne!(r.status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        assert!(r.status != StatusCode::NOT_FOUND || r.body["error"]["code"].is_string(), "{method} {path} is not routed");
        let op = &doc["paths"][path][method.to_lowercase()];
        let code = r.status.as_u16().to_string();
        assert!(op["responses"].get(&code).is_some(), "{method} {path} answered {code}, which the document does not list: {}", r.text);
    }

    // Staff operations name both ways in; public ones none.
    assert_eq!(doc["paths"]["/api/v1/cases"]["post"]["security"].as_array().unwrap().len(), 2);
    assert_eq!(doc["paths"]["/api/v1/public/cases"]["post"]["security"], serde_json::json!([]));
    let err = &doc["components"]["schemas"]["Error"]["properties"]["error"];
    assert_eq!(err["required"], serde_json::json!(["code", "message", "details"]));
    assert!(doc["components"]["schemas"]["Status"]["enum"].as_array().unwrap().iter().any(|s| s == "return_visit"));

    if let Some(py) = python() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("openapi.json");
        std::fs::write(&file, serde_json::to_vec(&doc).unwrap()).unwrap();
        let out = std::process::Command::new(py)
            .args(["-c", "import sys; from openapi_spec_validator import validate; from openapi_spec_validator.readers import read_from_filename; s, _ = read_from_filename(sys.argv[1]); validate(s); print('valid')"])
            .arg(&file)
            .output()
            .unwrap();
        assert!(out.status.success(), "not valid OpenAPI 3.1: {}", String::from_utf8_lossy(&out.stderr));
    }
}

#[tokio::test]
async fn the_documentation_page_works_offline_under_the_csp() {
    let app = app().await;
    let page = app.call("GET", "/api/docs", None, None, &[]).await;
    assert_eq!(page.status, StatusCode::OK);
    let csp = page.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"), "{csp}");
    // No inline script, nothing from elsewhere: every script is ours, by URL.
    assert!(!page.text.contains("<script>") && !page.text.contains("http://") && !page.text.contains("https://"), "{}", page.text);
    assert!(page.text.contains(r#"<script src="/api/docs/docs.js" defer></script>"#));
    let js = app.call("GET", "/api/docs/docs.js", None, None, &[]).await;
    assert_eq!(js.status, StatusCode::OK);
    assert!(js.headers["content-type"].to_str().unwrap().starts_with("text/javascript"));
    assert!(js.text.contains("/api/v1/openapi.json") && !js.text.contains("innerHTML"));
}

/// Runs schemathesis against the server; returns its output, asserting it passed.
fn schemathesis(py: &str, url: &str, extra: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(py)
        .current_dir(dir.path())
        .args(["-m", "schemathesis.cli", "run", url, "-H", "Authorization: Bearer tok-intake"])
        .args(["--seed", "20261125", "--workers", "1", "--generation-database", "none"])
        .args(["--request-timeout", "30", "--no-color"])
        .args(extra)
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "schemathesis found problems:\n{text}");
    text
}

/// Property-based fuzzing of every operation on a real server: no 5xx, every status and body
/// as documented; and requests the document says are invalid are rejected and write nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_server_error_and_no_undocumented_response() {
    let Some(py) = python() else { return };
    let app = app().await;
    // Every request passes this watch: one whose answer is an error must leave the audit head
    // where it was. schemathesis sends one request at a time (`--workers 1`), so the head
    // before and after belongs to that request alone.
    let watch = Watch { svc: app.svc.clone(), broken: Default::default(), rejected: Default::default() };
    let router = app.router.clone().layer(axum::middleware::from_fn_with_state(watch.clone(), rejected_changes_nothing));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router.into_make_service_with_connect_info::<std::net::SocketAddr>()).await.unwrap() });
    let url = format!("http://{addr}/api/v1/openapi.json");

    // Negative mode: requests that break the schema must be refused (4xx). An operation without parameters or body has nothing to
    // break.
    let doc = app.call("GET", "/api/v1/openapi.json", None, None, &[]).await.body;
    let mut negative: Vec<String> =
        ["--mode", "negative", "--max-examples", "6", "-c", "not_a_server_error,negative_data_rejection,content_type_conformance"]
            .map(String::from)
            .to_vec();
    for item in doc["paths"].as_object().unwrap().values() {
        for op in item.as_object().unwrap().values() {
            if op["parameters"].as_array().unwrap().is_empty() && op.get("requestBody").is_none() {
                negative.extend(["--exclude-operation-id".to_string(), op["operationId"].as_str().unwrap().to_string()]);
            }
        }
    }
    let (p, u) = (py.clone(), url.clone());
    tokio::task::spawn_blocking(move || schemathesis(&p, &u, &negative.iter().map(String::as_str).collect::<Vec<_>>())).await.unwrap();

    // Positive mode: valid requests (cases are created, rules saved) answer as documented.
    let out = tokio::task::spawn_blocking(move || {
        schemathesis(
            &py,
            &url,
            &[
                "--mode",
                "positive",
                "--max-examples",
                "12",
                "-c",
                "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
            ],
        )
    })
    .await
    .unwrap();
    assert!(out.contains("passed"), "{out}");
    let broken = watch.broken.lock().unwrap().clone();
    assert!(broken.is_empty(), "rejected requests that changed the audit log: {broken:?}");
    let rejected = watch.rejected.load(std::sync::atomic::Ordering::Relaxed);
    assert!(rejected > 100, "only {rejected} requests were rejected: the fuzzing did not reach the handlers");
    // Valid requests reached the writes too.
    let scope = fengqiao_store::Scope::All;
    let (filter, page) = (Default::default(), fengqiao_store::Page { after: None, limit: 500, descending: true });
    let cases = app.svc.store.list_cases(&scope, &filter, &page).await.unwrap();
    eprintln!("{rejected} requests rejected, none wrote; {} cases created", cases.len());
    assert!(!cases.is_empty(), "no valid request created a case:\n{out}");
}

#[derive(Clone)]
struct Watch {
    svc: std::sync::Arc<fengqiao_store::Service>,
    broken: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    rejected: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

async fn rejected_changes_nothing(
    axum::extract::State(w): axum::extract::State<Watch>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let what = format!("{} {}", req.method(), req.uri());
    let before = w.svc.store.audit_head().await.unwrap();
    let resp = next.run(req).await;
    if resp.status().is_client_error() || resp.status().is_server_error() {
        w.rejected.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let after = w.svc.store.audit_head().await.unwrap();
        if after != before {
            w.broken.lock().unwrap().push(format!(
                "{what} answered {} but the audit head moved {} -> {}",
                resp.status(),
                before.0,
                after.0
            ));
        }
    }
    resp
}

//! The authorization matrix of the server-rendered pages: every page route (GET) and every
//! form (POST, with the session's CSRF token and a plausible body), by nobody and by each
//! staff role signed in through the real login form, against a written table of who may.
//!
//! - Nobody is sent to `/login` and changes nothing.
//! - A caller outside a row is refused with 403 or 404 and changes nothing (the audit head,
//!   the cases, mediations and problems of the fixture, and the reference lists); a case,
//!   problem, mediation or consultation of another jurisdiction is 404, as if it did not exist.
//! - A caller inside a row is answered 200 or 303 (201 for a new API key), never refused, and
//!   never sent back with an error.
//! - Whoever is outside town A (another village's handler, another town's supervisor) never
//!   sees a trace of town A's case on any page, allowed or not: its tracking code, its
//!   description, the party's name, the mediation's dispute, the problem or the alert.
//! - Every form refuses a request without the CSRF token, or with a forged one (403), and
//!   such a request changes nothing.
//!
//! The routes are read from the source (every `.route("…", get(…).post(…))` outside `/api/v1`
//! and `/open311`), so a page route the table does not classify fails the test.

use std::collections::BTreeSet;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use fengqiao_domain::Role;
use fengqiao_store::contract::{COUNTY, T0, TOWN_B, VILLAGE_A1, staff, user};
use fengqiao_store::webhooks::{Attempt, OutboxFilter, WEBHOOK};
use fengqiao_store::{Credentials, NewAttachment, Scope};
use serde_json::json;

use crate::pages::{Browser, PASSWORD, Page, enc, multipart, send};
use crate::{App, app};

/// The signed-in callers: intake at the county, the handler of the case's lead unit (village
/// A1) and of another village's unit (B1, town B), the supervisor of the case's town, the
/// county supervisor, the supervisor of the other town, an administrator. A mediator sees
/// what a handler sees (the same unit scope) and no page tells them apart, so the handlers
/// stand for both.
const WHO: [&str; 7] = ["intake", "handler-a1", "handler-b1", "sup-a", "sup", "sup-b", "admin"];
/// Outside town A, where every fixture lives: they must never see a trace of it.
const OUTSIDE: [&str; 2] = ["handler-b1", "sup-b"];
const ALL: &[&str] = &WHO;
/// Everyone whose scope holds the case in village A1 (the county, town A, its lead unit).
const CASE_READERS: &[&str] = &["intake", "handler-a1", "sup-a", "sup", "admin"];
/// Supervisors and administrators whose jurisdiction holds village A1.
const A_SUPERVISORS: &[&str] = &["sup-a", "sup", "admin"];
/// Supervisors and administrators anywhere (their own jurisdiction's data only).
const SUPERVISORS: &[&str] = &["sup-a", "sup", "sup-b", "admin"];
const ADMIN: &[&str] = &["admin"];

/// Who may call a route.
#[derive(Clone, Copy)]
enum May {
    /// Anyone, signed in or not (the resident portal, the documentation, assets, probes).
    Public,
    /// A public form (sign-in, a resident's report, a resident's code): exercised with their
    /// limits in `pages.rs` and `residents.rs`, not here.
    PublicForm,
    /// A signed-in resident only: a staff session is not a resident's, so nobody here may.
    Resident,
    /// These staff callers.
    Staff(&'static [&'static str]),
}

struct Row {
    method: &'static str,
    /// The route as registered.
    route: &'static str,
    /// The request: the route with real ids (`{case}`, `{mediation}`, …, filled per fixture).
    uri: &'static str,
    may: May,
    /// The form's fields besides `csrf` (values filled like the uri).
    form: &'static [(&'static str, &'static str)],
    /// The form names a place or record in town A: a caller outside it is refused field by
    /// field (422) or as not found (404), in the page that carries the form.
    names_town_a: bool,
}

const fn get(route: &'static str, uri: &'static str, may: May) -> Row {
    Row { method: "GET", route, uri, may, form: &[], names_town_a: false }
}

const fn post(route: &'static str, uri: &'static str, may: May, form: &'static [(&'static str, &'static str)]) -> Row {
    Row { method: "POST", route, uri, may, form, names_town_a: false }
}

/// A form naming a place or record in town A in its fields.
const fn post_a(route: &'static str, uri: &'static str, may: May, form: &'static [(&'static str, &'static str)]) -> Row {
    Row { method: "POST", route, uri, may, form, names_town_a: true }
}

fn table() -> Vec<Row> {
    use May::*;
    vec![
        // The resident portal, documentation, assets and probes.
        get("/", "/", Public),
        get("/report", "/report", Public),
        post("/report", "/report", PublicForm, &[]),
        get("/track", "/track", Public),
        get("/track/{code}", "/track/{code}", Public),
        get("/figures", "/figures", Public),
        get("/consultations", "/consultations", Public),
        get("/consultations/{id}", "/consultations/{consult}", Public),
        get("/login", "/login", Public),
        post("/login", "/login", PublicForm, &[]),
        get("/api/docs", "/api/docs", Public),
        get("/api/docs/docs.js", "/api/docs/docs.js", Public),
        get("/assets/app.css", "/assets/app.css", Public),
        get("/assets/app.js", "/assets/app.js", Public),
        get("/assets/mediation.css", "/assets/mediation.css", Public),
        get("/healthz", "/healthz", Public),
        get("/readyz", "/readyz", Public),
        get("/metrics", "/metrics", Public),
        // Residents signed in by phone.
        get("/resident/login", "/resident/login", Public),
        post("/resident/login", "/resident/login", PublicForm, &[]),
        post("/resident/code", "/resident/code", PublicForm, &[]),
        get("/resident", "/resident", Resident),
        post("/resident/logout", "/resident/logout", Resident, &[]),
        post("/resident/region", "/resident/region", Resident, &[("region", "330681101001")]),
        post("/resident/cases/{code}/rate", "/resident/cases/{code}/rate", Resident, &[("rating", "satisfied")]),
        post("/consultations/{id}/{what}", "/consultations/{consult}/propose", Resident, &[("text", "增设停车位")]),
        // The staff workbench.
        post("/logout", "/logout", Staff(ALL), &[]),
        get("/work", "/work", Staff(ALL)),
        // Lists and exports asked about town A by name show each caller only their own scope.
        get("/work", "/work?q={code}&region=330681101001&format=csv", Staff(ALL)),
        get("/cases/new", "/cases/new", Staff(ALL)),
        // Staff record cases where they work: the other town's people are refused the region.
        post_a(
            "/cases/new",
            "/cases/new",
            Staff(CASE_READERS),
            &[
                ("idem", "{nonce}"),
                ("channel", "phone"),
                ("category", "street_light"),
                ("description", "村口路灯不亮"),
                ("region", "330681101001"),
                ("urgency", "routine"),
            ],
        ),
        get("/cases/{id}", "/cases/{case}", Staff(CASE_READERS)),
        post("/cases/{id}/act/{action}", "/cases/{case}/act/accept", Staff(&["handler-a1", "sup-a", "sup", "admin"]), &[]),
        // Intake may correct the severity of a case it recorded; the lead unit's handlers too.
        post(
            "/cases/{id}/act/{action}",
            "/cases/{case}/act/set_severity",
            Staff(CASE_READERS),
            &[("severity", "serious"), ("reason", "涉及人数多")],
        ),
        // Judging the risk: the same people as severity (it appends an event, nothing else).
        post("/cases/{id}/act/{action}", "/cases/{case}/act/judge_risk", Staff(CASE_READERS), &[("high", "1"), ("note", "电话核实")]),
        get("/cases/{id}/attachments/{aid}", "/cases/{case}/attachments/{aid}", Staff(CASE_READERS)),
        get("/dashboard", "/dashboard", Staff(ALL)),
        get("/dashboard", "/dashboard?region=330681101000", Staff(ALL)),
        get("/dashboard", "/dashboard?region=330681101000&table=soon&format=csv", Staff(ALL)),
        get("/work/residents", "/work/residents", Staff(ALL)),
        post_a(
            "/work/residents",
            "/work/residents",
            Staff(&["intake", "sup-a", "sup", "admin"]),
            &[("phone", "139{nonce8}"), ("region", "330681101001")],
        ),
        // Administration.
        get("/admin/units", "/admin/units", Staff(ADMIN)),
        post(
            "/admin/units",
            "/admin/units",
            Staff(ADMIN),
            &[("id", "vc-a9"), ("name", "甲九村委会"), ("kind", "village_committee"), ("region", "330681101001")],
        ),
        get("/admin/users", "/admin/users", Staff(ADMIN)),
        post(
            "/admin/users",
            "/admin/users",
            Staff(ADMIN),
            &[
                ("id", "clerk-{nonce}"),
                ("name", "新坐席"),
                ("role", "intake"),
                ("jurisdiction", "330681000000"),
                ("password", "a long enough password"),
            ],
        ),
        get("/admin/categories", "/admin/categories", Staff(ADMIN)),
        post(
            "/admin/categories",
            "/admin/categories",
            Staff(ADMIN),
            &[
                ("code", "manhole"),
                ("kind", "request"),
                ("name_zh", "井盖缺失"),
                ("name_en", "Missing manhole cover"),
                ("response_hours", "24h"),
                ("handling_hours", "72h"),
                ("visit_hours", "48h"),
            ],
        ),
        get("/admin/regions", "/admin/regions", Staff(ADMIN)),
        post("/admin/regions", "/admin/regions", Staff(ADMIN), &[("code", "330681101001"), ("name", "甲一村"), ("population", "1200")]),
        post("/admin/regions/import", "/admin/regions/import", Staff(ADMIN), &[]),
        get("/admin/routing", "/admin/routing", Staff(ADMIN)),
        post("/admin/routing", "/admin/routing", Staff(ADMIN), &[("rules", r#"{"rules":[]}"#)]),
        get("/admin/api-keys", "/admin/api-keys", Staff(ADMIN)),
        post(
            "/admin/api-keys",
            "/admin/api-keys",
            Staff(ADMIN),
            &[("name", "app-{nonce}"), ("scope_submit", "1"), ("unit", ""), ("rate", "60")],
        ),
        post("/admin/api-keys/{name}/revoke", "/admin/api-keys/{key}/revoke", Staff(ADMIN), &[]),
        get("/admin/webhooks", "/admin/webhooks", Staff(ADMIN)),
        post(
            "/admin/webhooks",
            "/admin/webhooks",
            Staff(ADMIN),
            &[("name", "城管"), ("url", "http://127.0.0.1:9/h"), ("secret", "page-secret-0123456789"), ("kinds", "case_created")],
        ),
        post("/admin/webhooks/{id}/toggle", "/admin/webhooks/{hook}/toggle", Staff(ADMIN), &[]),
        post("/admin/outbox/{id}/requeue", "/admin/outbox/{dead}/requeue", Staff(ADMIN), &[]),
        post("/admin/user-emails", "/admin/user-emails", Staff(ADMIN), &[("user", "handler-a1"), ("email", "a1@example.org")]),
        // Problem-solving records: opened by intake, supervisors and administrators.
        get("/problems", "/problems", Staff(ALL)),
        get("/problems/new", "/problems/new", Staff(&["intake", "sup-a", "sup", "sup-b", "admin"])),
        get(
            "/problems/new",
            "/problems/new?region=330681101001&category=street_light",
            Staff(&["intake", "sup-a", "sup", "sup-b", "admin"]),
        ),
        post_a(
            "/problems/new",
            "/problems/new",
            Staff(&["intake", "sup-a", "sup", "admin"]),
            &[("title", "路灯集中故障"), ("case", "{case}")],
        ),
        get("/problems/{id}", "/problems/{problem}", Staff(&["intake", "sup-a", "sup", "admin"])),
        post(
            "/problems/{id}/act/{command}",
            "/problems/{problem}/act/write",
            Staff(&["intake", "sup-a", "sup", "admin"]),
            &[("analysis", "线路老化")],
        ),
        // Mediation: {dispute} has none yet, {mediation} is consented and assigned, {agreed}
        // has an oral agreement.
        get("/mediations", "/mediations", Staff(ALL)),
        get("/mediations", "/mediations?case={dispute}", Staff(ALL)),
        post_a(
            "/mediations",
            "/mediations",
            Staff(&["handler-a1", "sup-a", "sup", "admin"]),
            &[("case_id", "{dispute}"), ("kind", "people"), ("source", "party_applied")],
        ),
        get("/mediations/{id}", "/mediations/{mediation}", Staff(CASE_READERS)),
        post(
            "/mediations/{id}/act/{action}",
            "/mediations/{mediation}/act/schedule",
            Staff(&["handler-a1", "sup-a", "sup", "admin"]),
            &[("start", "{day}T10:00"), ("end", "{day}T11:30"), ("room", "第一调解室")],
        ),
        get("/mediations/{id}/agreement", "/mediations/{agreed}/agreement", Staff(CASE_READERS)),
        // Early warnings: supervisors and administrators, over their own jurisdiction.
        get("/alerts", "/alerts", Staff(SUPERVISORS)),
        post("/alerts/{id}/act/{command}", "/alerts/{alert}/act/acknowledge", Staff(A_SUPERVISORS), &[("note", "已联系")]),
        // Community consultation, staff side.
        get("/work/consultations", "/work/consultations", Staff(ALL)),
        post_a(
            "/work/consultations",
            "/work/consultations",
            Staff(&["intake", "sup-a", "sup", "admin"]),
            &[
                ("region", "330681101001"),
                ("title", "停车难"),
                ("description", "村口停车"),
                ("source_kind", "hotspot"),
                ("source", "停车投诉集中"),
                ("closes_at", "2026-01-20"),
            ],
        ),
        get("/work/consultations/{id}", "/work/consultations/{consult}", Staff(&["intake", "sup-a", "sup", "admin"])),
        post(
            "/work/consultations/{id}/act/{action}",
            "/work/consultations/{consult}/act/decide",
            Staff(A_SUPERVISORS),
            &[("text", "划定停车位"), ("answer", "本月内完成")],
        ),
    ]
}

/// The page routes as the source registers them: every `.route("…", get(…).post(…))` outside
/// the JSON API (`/api/v1`, checked by `authz.rs`) and Open311 (API keys, `open311.rs`).
/// The whole source tree is read, so a route in a new module is found too.
fn registered() -> BTreeSet<(String, String)> {
    fn walk(dir: &std::path::Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(std::fs::read_to_string(&p).unwrap());
            }
        }
    }
    let mut sources = Vec::new();
    walk(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut sources);
    let mut out = BTreeSet::new();
    for src in &sources {
        for chunk in src.split(".route(").skip(1) {
            let rest = chunk.trim_start();
            let Some(rest) = rest.strip_prefix('"') else { continue };
            let Some((path, rest)) = rest.split_once('"') else { continue };
            if path.starts_with("/api/v1/") || path.starts_with("/open311/") {
                continue;
            }
            // The handlers: up to the parenthesis that closes `.route(`.
            let mut depth = 1;
            let end = rest
                .char_indices()
                .find(|(_, c)| {
                    match c {
                        '(' => depth += 1,
                        ')' => depth -= 1,
                        _ => {}
                    }
                    depth == 0
                })
                .map(|(i, _)| i)
                .unwrap_or(rest.len());
            let handlers = &rest[..end];
            for m in ["get", "post", "put", "delete", "patch"] {
                let called = handlers
                    .match_indices(&format!("{m}("))
                    .any(|(i, _)| !handlers[..i].chars().next_back().is_some_and(|c| c.is_alphanumeric() || c == '_'));
                if called {
                    out.insert((m.to_uppercase(), path.to_string()));
                }
            }
        }
    }
    out
}

/// The same role in town A: what `w` would be allowed in its place.
fn twin(w: &str) -> Option<&'static str> {
    match w {
        "handler-b1" => Some("handler-a1"),
        "sup-b" => Some("sup-a"),
        _ => None,
    }
}

/// What each run is done on, all in village A1 (town A), with marks to look for in pages.
struct Fixture {
    case: i64,
    code: String,
    aid: i64,
    dispute: i64,
    mediation: i64,
    agreed: i64,
    problem: i64,
    consult: i64,
    alert: i64,
    hook: i64,
    dead: i64,
    key: String,
    nonce: u32,
}

/// Words that appear only in the fixture's own records: none may reach a caller outside town A.
const MARKS: [&str; 5] = ["欧阳秘密", "东头秘密路灯", "秘密院墙纠纷", "秘密问题标题", "秘密预警摘要"];

async fn fixture(app: &App, n: u32) -> Fixture {
    let ok = |r: &crate::Resp| assert!(r.status.is_success(), "{} {}", r.status, r.text);
    // A webhook first, so that the case's creation leaves a message to kill.
    let hook = app
        .post(
            "/api/v1/webhooks",
            "admin",
            &json!({"name": format!("hook-{n}"), "url": "http://127.0.0.1:9/h", "secret": "s3cret-s3cret-s3cret", "kinds": ["case_created"]})
                .to_string(),
        )
        .await;
    ok(&hook);
    let body = json!({
        "category": "street_light", "description": "东头秘密路灯不亮", "region": VILLAGE_A1,
        "reporter": {"name": "欧阳秘密", "phone": "13900000009"},
    });
    let c = app.post("/api/v1/cases", "intake", &body.to_string()).await;
    ok(&c);
    let case = c.body["id"].as_i64().unwrap();
    let code = c.body["tracking_code"].as_str().unwrap().to_string();
    ok(&app.post(&format!("/api/v1/cases/{case}/transitions/file"), "intake", "{}").await);
    ok(&app.post(&format!("/api/v1/cases/{case}/transitions/dispatch"), "intake", r#"{"lead_unit":"vc-a1"}"#).await);
    let store = &app.svc.store;
    let aid = store
        .add_attachment(&NewAttachment {
            case_id: fengqiao_domain::CaseId(case),
            content_type: "image/png".into(),
            data: b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec(),
            at: T0,
            actor: "system:test".into(),
        })
        .await
        .unwrap()
        .id;
    let items = store.outbox(&OutboxFilter { channel: Some(WEBHOOK.into()), limit: 1000, ..Default::default() }).await.unwrap();
    let target = hook.body["id"].to_string();
    let dead = items.iter().filter(|i| i.target == target).map(|i| i.id).max().unwrap();
    store.outbox_attempted(dead, &Attempt::Failed { at: T0, error: "refused".into(), retry_at: None }).await.unwrap();
    // The hook is switched off, so that the next fixtures' cases queue nothing more for it.
    let mut sub = store.subscriptions().await.unwrap().into_iter().find(|s| s.id == hook.body["id"].as_i64().unwrap()).unwrap();
    sub.active = false;
    store.save_subscription(&sub, "system:test", T0).await.unwrap();

    // Three disputes of the same parties: one without mediation, one consented and assigned,
    // one with an oral agreement.
    let mut disputes = Vec::new();
    for _ in 0..3 {
        let body = json!({
            "category": "neighbour", "description": "秘密院墙纠纷", "region": VILLAGE_A1,
            "parties": [{"role": "applicant", "name": "欧阳秘密", "phone": "13900000009"}, {"role": "respondent", "name": "李四", "phone": "13900000002"}],
        });
        let d = app.post("/api/v1/cases", "intake", &body.to_string()).await;
        ok(&d);
        let id = d.body["id"].as_i64().unwrap();
        ok(&app.post(&format!("/api/v1/cases/{id}/transitions/file"), "intake", "{}").await);
        ok(&app.post(&format!("/api/v1/cases/{id}/transitions/dispatch"), "intake", r#"{"lead_unit":"vc-a1"}"#).await);
        let parties: Vec<i64> = d.body["parties"].as_array().unwrap().iter().map(|p| p["person_id"].as_i64().unwrap()).collect();
        disputes.push((id, parties));
    }
    let mut mediations = Vec::new();
    for (id, parties) in &disputes[1..] {
        let m = app
            .post("/api/v1/mediations", "handler-a1", &json!({"case_id": id, "kind": "people", "source": "party_applied"}).to_string())
            .await;
        ok(&m);
        let mid = m.body["id"].as_i64().unwrap();
        for p in parties {
            ok(&crate::mediation::act(app, mid, "handler-a1", json!({"action": "consent", "party": p, "agree": true})).await);
        }
        let assign = json!({"action": "assign", "user_id": "handler-a1", "name": "王调解", "role": "peoples_mediator", "lead": true});
        ok(&crate::mediation::act(app, mid, "handler-a1", assign).await);
        mediations.push(mid);
    }
    let oral = json!({"action": "record_oral", "content": {"facts": "秘密院墙纠纷", "matters": "道歉", "responsibility": "", "terms": [{"text": "当面道歉", "how": "当面", "due": "2026-01-03"}]}});
    ok(&crate::mediation::act(app, mediations[1], "handler-a1", oral).await);

    let p = app.post("/api/v1/problems", "sup", &json!({"title": "秘密问题标题", "case_ids": [case]}).to_string()).await;
    ok(&p);
    let k = app
        .post(
            "/api/v1/consultations",
            "sup",
            r#"{"region":"330681101001","title":"路灯","description":"村道照明","source":{"kind":"hotspot","note":"村道照明投诉集中"},"closes_at":"2026-01-20"}"#,
        )
        .await;
    ok(&k);
    let key = format!("feed-{n}");
    ok(&app.post("/api/v1/api-keys", "admin", &json!({"name": key, "scopes": ["submit"]}).to_string()).await);
    Fixture {
        case,
        code,
        aid,
        dispute: disputes[0].0,
        mediation: mediations[0],
        agreed: mediations[1],
        problem: p.body["id"].as_i64().unwrap(),
        consult: k.body["id"].as_i64().unwrap(),
        alert: alert(app, case, n).await,
        hook: hook.body["id"].as_i64().unwrap(),
        dead,
        key,
        nonce: n,
    }
}

/// An open alert in village A1 over the fixture's case.
async fn alert(app: &App, case: i64, n: u32) -> i64 {
    use fengqiao_domain::alert::{Alert, AlertKind, AlertStatus, Evidence};
    let a = Alert {
        id: 0,
        kind: AlertKind::OverdueCluster,
        region: fengqiao_domain::RegionCode::parse(VILLAGE_A1).unwrap(),
        dedup_key: format!("overdue_cluster:pages:{n}"),
        summary: "秘密预警摘要".into(),
        evidence: Evidence {
            case_ids: vec![case],
            count: 1,
            threshold: 1.0,
            baseline: None,
            person_id: None,
            category: None,
            window_days: 0,
            ..Default::default()
        },
        status: AlertStatus::Open,
        raised_at: T0,
        acknowledged: None,
        closed: None,
        recipients: vec![],
        version: 1,
    };
    app.svc.store.raise_alerts(&[(a, vec![])], "system:test", T0).await.unwrap()[0].id
}

impl Fixture {
    fn fill(&self, s: &str) -> String {
        s.replace("{case}", &self.case.to_string())
            .replace("{code}", &self.code)
            .replace("{aid}", &self.aid.to_string())
            .replace("{dispute}", &self.dispute.to_string())
            .replace("{mediation}", &self.mediation.to_string())
            .replace("{agreed}", &self.agreed.to_string())
            .replace("{problem}", &self.problem.to_string())
            .replace("{consult}", &self.consult.to_string())
            .replace("{alert}", &self.alert.to_string())
            .replace("{hook}", &self.hook.to_string())
            .replace("{dead}", &self.dead.to_string())
            .replace("{key}", &self.key)
            // A day of its own for each fixture's session: the mediator is booked by the last.
            .replace("{day}", &jiff::civil::date(2026, 1, 5).checked_add(jiff::Span::new().days(self.nonce)).unwrap().to_string())
            .replace("{nonce8}", &format!("{:08}", self.nonce))
            .replace("{nonce}", &self.nonce.to_string())
    }

    /// Everything a refused form could have changed, as text: the audit head, the fixture's
    /// records, the reference lists, subscriptions, keys, addresses and the outbox.
    async fn state(&self, app: &App) -> String {
        let s = &app.svc.store;
        let all = Scope::All;
        format!(
            "{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}",
            s.audit_head().await.unwrap(),
            s.case(&all, fengqiao_domain::CaseId(self.case)).await.unwrap(),
            s.case(&all, fengqiao_domain::CaseId(self.dispute)).await.unwrap(),
            s.mediation(&all, self.mediation).await.unwrap(),
            s.problem(&all, self.problem).await.unwrap(),
            s.units().await.unwrap(),
            s.users().await.unwrap(),
            s.regions().await.unwrap().iter().map(|r| (r.code.to_string(), r.name.clone(), r.population)).collect::<Vec<_>>(),
            s.rules(None).await.unwrap(),
            s.subscriptions().await.unwrap(),
            s.api_keys().await.unwrap(),
            s.user_emails().await.unwrap(),
            s.outbox(&OutboxFilter { limit: 10_000, ..Default::default() }).await.unwrap(),
            app.svc.reference().categories.keys().collect::<Vec<_>>(),
        )
    }
}

/// The app with a password for every staff user, an administrator and a supervisor of town B.
async fn pages_app() -> App {
    let app = app().await;
    let hash = fengqiao_web::hash_password(PASSWORD).unwrap();
    let mut users = staff();
    users.push(user("admin", Role::Admin, None, COUNTY));
    users.push(user("sup-b", Role::Supervisor, None, TOWN_B));
    for u in users {
        let creds = Credentials { token_hash: Some(fengqiao_web::token_hash(&format!("tok-{}", u.id))), password_hash: Some(hash.clone()) };
        app.svc.store.put_user(&u, &creds, "system:test", T0).await.unwrap();
    }
    app
}

/// Sends a row's request as `b` (cookie or none) with this CSRF token (`None`: no field).
async fn call(app: &App, b: Option<&Browser<'_>>, row: &Row, f: &Fixture, csrf: Option<&str>) -> Page {
    let uri = f.fill(row.uri);
    let cookie = b.and_then(|b| b.cookie.clone());
    if row.method == "GET" {
        let mut r = Request::builder().uri(&uri);
        if let Some(c) = &cookie {
            r = r.header("cookie", c);
        }
        return send(app, r.body(Body::empty()).unwrap()).await;
    }
    let mut fields: Vec<(String, String)> = csrf.map(|c| ("csrf".to_string(), c.to_string())).into_iter().collect();
    fields.extend(row.form.iter().map(|(k, v)| (k.to_string(), f.fill(v))));
    let (ct, body) = if row.route == "/admin/regions/import" {
        // A file of one new grid cell inside village A1.
        let grid = json!({"type": "FeatureCollection", "features": [{"type": "Feature",
            "properties": {"code": format!("330681101001{:03}", f.nonce % 1000), "name": "网格", "parent": VILLAGE_A1, "population": 400},
            "geometry": {"type": "Polygon", "coordinates": [[[120.0, 29.0], [120.1, 29.0], [120.1, 29.1], [120.0, 29.1], [120.0, 29.0]]]}}]});
        let text: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let (ct, body) = multipart(&text, Some(("geojson", "regions.geojson", grid.to_string().as_bytes())));
        (ct, body)
    } else {
        let body = fields.iter().map(|(k, v)| format!("{}={}", enc(k), enc(v))).collect::<Vec<_>>().join("&");
        ("application/x-www-form-urlencoded".to_string(), body.into_bytes())
    };
    let mut r = Request::builder().method("POST").uri(&uri).header("content-type", ct);
    if let Some(c) = &cookie {
        r = r.header("cookie", c);
    }
    send(app, r.body(Body::from(body)).unwrap()).await
}

fn short(p: &Page) -> String {
    format!("{} {} {}", p.status.as_u16(), p.location(), p.text.chars().take(200).collect::<String>().replace('\n', " "))
}

#[tokio::test]
async fn every_page_and_form_against_every_role() {
    let app = pages_app().await;
    // Ready, as a server is once its figures are loaded and triage built: `/readyz` answers 200.
    app.svc.warm_figures().await.unwrap();
    app.svc.refresh_triage().await.unwrap();
    let rows = table();

    // Completeness: every registered page route has a row, and every row a route.
    let reg = registered();
    assert!(reg.len() >= 40, "the route scan found too little: {reg:?}");
    let classified: BTreeSet<(String, String)> = rows.iter().map(|r| (r.method.to_string(), r.route.to_string())).collect();
    let missing: Vec<_> = reg.difference(&classified).collect();
    let stale: Vec<_> = classified.difference(&reg).collect();
    assert!(missing.is_empty(), "page routes missing from the authorization table: {missing:?}");
    assert!(stale.is_empty(), "rows for routes that do not exist: {stale:?}");

    let mut browsers = Vec::new();
    for w in WHO {
        let mut b = Browser::new(&app);
        b.sign_in(w).await;
        let csrf = b.csrf("/work").await;
        browsers.push((w, b, csrf));
    }

    let mut n = 0;
    let mut f = fixture(&app, n).await;
    let mut failures = Vec::new();
    // The marks town A's supervisor is shown: each must be, or its absence elsewhere proves nothing.
    let mut shown = BTreeSet::new();
    let mut fail = |label: &str, why: &str, p: &Page| failures.push(format!("{label}: {why}, got {}", short(p)));
    for row in &rows {
        if matches!(row.may, May::PublicForm) {
            continue;
        }
        for who in std::iter::once(None).chain(WHO.iter().copied().map(Some)) {
            let label = format!("{} {} by {}", row.method, f.fill(row.uri), who.unwrap_or("nobody"));
            // Signing out ends the session: that row gets a session of its own.
            let mut own = None;
            let (b, csrf) = match who {
                None => (None, String::new()),
                Some(w) if row.route == "/logout" => {
                    let mut b = Browser::new(&app);
                    b.sign_in(w).await;
                    let csrf = b.csrf("/work").await;
                    own = Some(b);
                    (own.as_ref(), csrf)
                }
                Some(w) => {
                    let (_, b, csrf) = browsers.iter().find(|(x, ..)| *x == w).unwrap();
                    (Some(b), csrf.clone())
                }
            };
            let before = f.state(&app).await;
            let p = call(&app, b, row, &f, Some(&csrf)).await;
            let code = p.status.as_u16();
            let allowed = match (row.may, who) {
                (May::Public, _) => true,
                (May::Staff(may), Some(w)) => may.contains(&w),
                _ => false,
            };
            if code >= 500 {
                fail(&label, "a server error", &p);
            } else if allowed {
                let fine = match row.method {
                    "GET" => code == 200,
                    _ => matches!(code, 200 | 201) || (code == 303 && !p.location().contains("error=")),
                };
                if !fine {
                    fail(&label, "must be allowed", &p);
                }
            } else {
                let refused = match (row.may, who) {
                    // Staff pages send nobody to sign in, coming back afterwards for a page.
                    (May::Staff(_), None) => code == 303 && p.location().starts_with("/login"),
                    // Resident pages send whoever is not a signed-in resident to sign in.
                    (May::Resident, _) => (code == 303 && p.location().starts_with("/resident/login")) || matches!(code, 401 | 403),
                    // A form naming town A, sent from outside it, is refused field by field.
                    (_, Some(w)) if row.names_town_a && OUTSIDE.contains(&w) => matches!(code, 403 | 404 | 422),
                    _ => matches!(code, 403 | 404),
                };
                if !refused {
                    fail(&label, "must be refused", &p);
                }
                if f.state(&app).await != before {
                    fail(&label, "a refusal changed something", &p);
                }
                // A record of town A in the path does not exist for the other town: 404 for
                // whoever would be allowed in town A's place (the same role there).
                if let (May::Staff(may), Some(w)) = (row.may, who)
                    && let Some(twin) = twin(w)
                    && may.contains(&twin)
                    && ["{case}", "{mediation}", "{agreed}", "{problem}", "{consult}", "{alert}"].iter().any(|x| row.uri.contains(x))
                    && code != 404
                {
                    fail(&label, "another jurisdiction's record must be 404", &p);
                }
            }
            if who == Some("sup-a") && matches!(row.may, May::Staff(_)) {
                shown.extend(MARKS.iter().filter(|m| p.text.contains(*m)));
                if p.text.contains(&f.code) {
                    shown.insert("tracking code");
                }
            }
            // Whoever is outside town A sees no trace of it on a staff page, allowed or not.
            // (The public tracking page shows a case to whoever holds its code.)
            if matches!(row.may, May::Staff(_)) && who.is_some_and(|w| OUTSIDE.contains(&w)) {
                let text = p.text.as_str();
                if let Some(m) = MARKS.iter().copied().chain([f.code.as_str()]).find(|m| text.contains(m)) {
                    fail(&label, &format!("leaks '{m}'"), &p);
                }
            }
            // A write leaves the fixture changed: the next caller gets a fresh one. An allowed
            // form must have written (signing out ends only a session), or the snapshot would
            // not see what a refused one wrote either.
            if row.method == "POST" {
                let changed = f.state(&app).await != before;
                if allowed && !changed && row.route != "/logout" {
                    fail(&label, "an allowed form wrote nothing", &p);
                }
                if changed {
                    n += 1;
                    f = fixture(&app, n).await;
                }
            }
            drop(own);
        }
    }

    let unseen: Vec<_> = MARKS.iter().chain(&["tracking code"]).filter(|m| !shown.contains(*m)).collect();
    assert!(unseen.is_empty(), "never shown to town A's supervisor, so their absence proves nothing: {unseen:?}");

    // CSRF: every form refuses a request without the token or with a forged one, for every
    // caller, and changes nothing.
    for row in rows.iter().filter(|r| r.method == "POST" && matches!(r.may, May::Staff(_))) {
        for (w, b, _) in &browsers {
            for (token, how) in [(None, "no CSRF token"), (Some("forged"), "a forged CSRF token")] {
                let label = format!("POST {} by {w} with {how}", f.fill(row.uri));
                let before = f.state(&app).await;
                let p = call(&app, Some(b), row, &f, token).await;
                if p.status != StatusCode::FORBIDDEN {
                    fail(&label, "must be 403", &p);
                }
                if f.state(&app).await != before {
                    fail(&label, "changed something", &p);
                }
            }
        }
    }
    assert!(failures.is_empty(), "{} mismatches:\n{}", failures.len(), failures.join("\n"));
}

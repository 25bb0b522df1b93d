//! The authorization matrix: every documented `/api/v1` operation, called by nobody and by
//! each staff role (with real ids, so a refusal is about who asks, not about what is asked),
//! against a written table of who may do what. Anonymous callers get 401 on every staff
//! operation; a role outside an operation's row gets 403 or 404 and changes nothing; a role
//! inside it is never refused for who it is. A documented operation missing from the table
//! fails the test, so a new route must be classified when it is added.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use fengqiao_domain::Role;
use fengqiao_store::Credentials;
use fengqiao_store::contract::{COUNTY, T0, VILLAGE_A1, user};

use crate::app;

/// The callers, besides nobody: intake at the county, the handler of the case's lead unit and
/// of another village's unit, the town A supervisor (the case's town), the county supervisor
/// and an administrator.
const WHO: [&str; 6] = ["intake", "handler-a1", "handler-b1", "sup-a", "sup", "admin"];
const ALL: &[&str] = &WHO;
const SUPERVISORS: &[&str] = &["sup-a", "sup", "admin"];

/// (method, path, who may, body). Reads a caller may make but that show only their scope are
/// "may"; a case outside the caller's scope does not exist for them (404), which counts as a
/// refusal here.
fn table() -> Vec<(&'static str, &'static str, &'static [&'static str], &'static str)> {
    vec![
        // Community police and village cadres record what they meet on patrol or a home visit.
        ("POST", "/api/v1/cases", ALL, r#"{"category":"noise","description":"x","region":"330681101001"}"#),
        ("GET", "/api/v1/cases", ALL, ""),
        ("GET", "/api/v1/cases/{case}", &["intake", "handler-a1", "sup-a", "sup", "admin"], ""),
        ("GET", "/api/v1/cases/{case}/timeline", &["intake", "handler-a1", "sup-a", "sup", "admin"], ""),
        ("POST", "/api/v1/cases/{case}/transitions/accept", &["handler-a1", "sup-a", "sup", "admin"], "{}"),
        ("GET", "/api/v1/figures", ALL, ""),
        ("GET", "/api/v1/regions", ALL, ""),
        ("GET", "/api/v1/regions/geojson", ALL, ""),
        ("POST", "/api/v1/regions/geojson", &["admin"], r#"{"type":"FeatureCollection","features":[]}"#),
        ("GET", "/api/v1/locate", ALL, ""),
        ("GET", "/api/v1/routing/rules", ALL, ""),
        ("PUT", "/api/v1/routing/rules", &["admin"], r#"{"rules":[]}"#),
        ("GET", "/api/v1/routing/rules/{version}", ALL, ""),
        ("POST", "/api/v1/routing/test", ALL, r#"{"category":"noise","description":"x","region":"330681101001"}"#),
        ("GET", "/api/v1/cases/{case}/route", &["intake", "handler-a1", "sup-a", "sup", "admin"], ""),
        ("GET", "/api/v1/units", ALL, ""),
        ("GET", "/api/v1/me", ALL, ""),
        ("DELETE", "/api/v1/session", ALL, ""),
        ("DELETE", "/api/v1/session/everywhere", ALL, ""),
        ("GET", "/api/v1/calendar", ALL, ""),
        ("GET", "/api/v1/inbox", ALL, ""),
        ("GET", "/api/v1/units/{unit}/rota", &["intake", "handler-a1", "sup-a", "sup", "admin"], ""),
        ("PUT", "/api/v1/units/{unit}/rota", SUPERVISORS, r#"{"from":"2026-01-01","to":"2026-01-08","shifts":[]}"#),
        ("POST", "/api/v1/supervision", SUPERVISORS, r#"{"unit":"vc-a1","due":"2026-01-09","note":"x"}"#),
        ("GET", "/api/v1/supervision", ALL, ""),
        ("GET", "/api/v1/supervision/{order}", &["intake", "handler-a1", "sup-a", "sup", "admin"], ""),
        ("POST", "/api/v1/supervision/{order}/answer", &["handler-a1"], r#"{"text":"已整改"}"#),
        ("POST", "/api/v1/supervision/{order}/review", SUPERVISORS, r#"{"accept":true}"#),
        ("POST", "/api/v1/triage", ALL, r#"{"text":"楼上漏水"}"#),
        ("GET", "/api/v1/cases/{case}/triage", &["intake", "handler-a1", "sup-a", "sup", "admin"], ""),
        // Residents and consultation.
        ("POST", "/api/v1/residents", &["intake", "sup-a", "sup", "admin"], r#"{"phone":"13900000001","region":"330681101001"}"#),
        ("GET", "/api/v1/sms/outbox", &["admin"], ""),
        (
            "POST",
            "/api/v1/consultations",
            &["intake", "sup-a", "sup", "admin"],
            r#"{"region":"330681101001","title":"停车难","description":"村口停车","source":{"kind":"hotspot","note":"x"},"closes_at":"2026-01-20"}"#,
        ),
        ("GET", "/api/v1/consultations", ALL, ""),
        ("GET", "/api/v1/consultations/{consult}", &["intake", "sup-a", "sup", "admin"], ""),
        (
            "POST",
            "/api/v1/consultations/{consult}/actions",
            SUPERVISORS,
            r#"{"action":"decide","text":"划定停车位","answer":"本月内完成"}"#,
        ),
        // Mediation: {dispute} is a second dispute with no mediation yet, {mediation} one opened
        // on the first by its lead unit, {party} that dispute's applicant.
        (
            "POST",
            "/api/v1/mediations",
            &["handler-a1", "sup-a", "sup", "admin"],
            r#"{"case_id":{dispute},"kind":"people","source":"party_applied"}"#,
        ),
        ("GET", "/api/v1/mediations", ALL, ""),
        ("GET", "/api/v1/mediations/{mediation}", &["intake", "handler-a1", "sup-a", "sup", "admin"], ""),
        (
            "POST",
            "/api/v1/mediations/{mediation}/actions",
            &["handler-a1", "sup-a", "sup", "admin"],
            r#"{"action":"consent","party":{party},"agree":true}"#,
        ),
        ("GET", "/api/v1/mediations/figures", ALL, ""),
        ("GET", "/api/v1/mediations/calendar", ALL, ""),
        // Problem-solving records ({problem}: opened by the county supervisor on the case).
        ("POST", "/api/v1/problems", &["intake", "sup-a", "sup", "admin"], r#"{"title":"路灯集中故障","case_ids":[{case}]}"#),
        ("GET", "/api/v1/problems", ALL, ""),
        ("GET", "/api/v1/problems/{problem}", &["intake", "sup-a", "sup", "admin"], ""),
        ("GET", "/api/v1/problems/{problem}/figures", &["intake", "sup-a", "sup", "admin"], ""),
        (
            "POST",
            "/api/v1/problems/{problem}/commands",
            &["intake", "sup-a", "sup", "admin"],
            r#"{"command":"write","analysis":"线路老化"}"#,
        ),
        // Outbound delivery: administrators only. `{missing}` names no message, so the
        // administrator's answer is 404 while everyone else is refused first.
        ("GET", "/api/v1/webhooks", &["admin"], ""),
        (
            "POST",
            "/api/v1/webhooks",
            &["admin"],
            r#"{"name":"city","url":"http://127.0.0.1:9/hook","secret":"s3cret-s3cret-s3cret","kinds":["case_created"]}"#,
        ),
        ("PUT", "/api/v1/webhooks/{webhook}", &["admin"], r#"{"name":"city","url":"http://127.0.0.1:9/hook2","kinds":["case_created"]}"#),
        ("GET", "/api/v1/outbox", &["admin"], ""),
        ("POST", "/api/v1/outbox/{missing}/requeue", &["admin"], ""),
        ("PUT", "/api/v1/users/{user}/email", &["admin"], r#"{"email":"handler@example.org"}"#),
        // Early warnings ({alert}: an open alert in village A1).
        ("GET", "/api/v1/alerts", ALL, ""),
        ("GET", "/api/v1/alerts/figures", ALL, ""),
        ("GET", "/api/v1/alerts/{alert}", SUPERVISORS, ""),
        ("POST", "/api/v1/alerts/{alert}/acknowledge", SUPERVISORS, r#"{"note":"已联系"}"#),
        ("POST", "/api/v1/alerts/{alert}/close", SUPERVISORS, r#"{"note":"已处置"}"#),
        ("GET", "/api/v1/reach", SUPERVISORS, ""),
        // Perception: the newest analytics run, within jurisdiction.
        ("GET", "/api/v1/analytics/hotspots", SUPERVISORS, ""),
        ("GET", "/api/v1/analytics/topics", SUPERVISORS, ""),
    ]
}

#[tokio::test]
async fn every_operation_against_every_role() {
    let app = app().await;
    let admin = user("admin", Role::Admin, None, COUNTY);
    let creds = Credentials { token_hash: Some(fengqiao_web::token_hash("tok-admin")), password_hash: None };
    app.svc.store.put_user(&admin, &creds, "system:test", T0).await.unwrap();
    let doc = app.call("GET", "/api/v1/openapi.json", None, None, &[]).await.body;

    // Every secured operation in the document has a row, and every row is documented.
    let mut documented = BTreeMap::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            // Staff operations accept a bearer token; resident and public ones are tested apart.
            let secured = op["security"].as_array().is_some_and(|s| s.iter().any(|x| x.get("bearer").is_some()));
            documented.insert((method.to_uppercase(), path.clone()), secured);
        }
    }
    let rows = table();
    let generic = |p: &str| {
        p.replace("{case}", "{id}")
            .replace("{order}", "{id}")
            .replace("{unit}", "{id}")
            .replace("{consult}", "{id}")
            .replace("{mediation}", "{id}")
            .replace("{problem}", "{id}")
            .replace("{webhook}", "{id}")
            .replace("{missing}", "{id}")
            .replace("{user}", "{id}")
            .replace("{alert}", "{id}")
            .replace("/transitions/accept", "/transitions/{action}")
    };
    for ((method, path), secured) in &documented {
        if *secured {
            assert!(rows.iter().any(|(m, p, ..)| m == method && generic(p) == *path), "{method} {path} is not in the authorization table");
        }
    }
    for (m, p, ..) in &rows {
        assert_eq!(documented.get(&(m.to_string(), generic(p))), Some(&true), "{m} {p} is not a documented staff operation");
    }

    // Each caller gets a fresh case and order, so one caller's writes cannot decide another's.
    let mut failures = Vec::new();
    for (method, path, may, body) in rows {
        for who in std::iter::once(None).chain(WHO.iter().map(|w| Some(*w))) {
            let case = app
                .post(
                    "/api/v1/cases",
                    "intake",
                    &format!(r#"{{"category":"street_light","description":"路灯不亮","region":"{VILLAGE_A1}"}}"#),
                )
                .await;
            let id = case.body["id"].as_i64().unwrap();
            assert_eq!(app.post(&format!("/api/v1/cases/{id}/transitions/file"), "intake", "{}").await.status, StatusCode::OK);
            let d = app.post(&format!("/api/v1/cases/{id}/transitions/dispatch"), "intake", r#"{"lead_unit":"vc-a1"}"#).await;
            assert_eq!(d.status, StatusCode::OK, "{}", d.text);
            let order =
                app.post("/api/v1/supervision", "sup-a", &format!(r#"{{"case_id":{id},"due":"2026-01-09","note":"限期修复"}}"#)).await;
            assert_eq!(order.status, StatusCode::CREATED, "{}", order.text);
            let consult = app
                .post(
                    "/api/v1/consultations",
                    "sup",
                    r#"{"region":"330681101001","title":"路灯","description":"村道照明","source":{"kind":"hotspot","note":"村道照明投诉集中"},"closes_at":"2026-01-20"}"#,
                )
                .await;
            assert_eq!(consult.status, StatusCode::CREATED, "{}", consult.text);
            // Two disputes of village A1 dispatched to its committee; a mediation on the first.
            let mut disputes = Vec::new();
            for _ in 0..2 {
                let body = format!(
                    r#"{{"category":"neighbour","description":"院墙滴水","region":"{VILLAGE_A1}","parties":[{{"role":"applicant","name":"张三","phone":"13900000001"}},{{"role":"respondent","name":"李四","phone":"13900000002"}}]}}"#
                );
                let d = app.post("/api/v1/cases", "intake", &body).await;
                let did = d.body["id"].as_i64().unwrap();
                assert_eq!(app.post(&format!("/api/v1/cases/{did}/transitions/file"), "intake", "{}").await.status, StatusCode::OK);
                let r = app.post(&format!("/api/v1/cases/{did}/transitions/dispatch"), "intake", r#"{"lead_unit":"vc-a1"}"#).await;
                assert_eq!(r.status, StatusCode::OK, "{}", r.text);
                disputes.push((did, d.body["parties"][0]["person_id"].as_i64().unwrap()));
            }
            let m = app
                .post(
                    "/api/v1/mediations",
                    "handler-a1",
                    &format!(r#"{{"case_id":{},"kind":"people","source":"party_applied"}}"#, disputes[0].0),
                )
                .await;
            assert_eq!(m.status, StatusCode::CREATED, "{}", m.text);
            let problem = app.post("/api/v1/problems", "sup", &format!(r#"{{"title":"路灯","case_ids":[{id}]}}"#)).await;
            assert_eq!(problem.status, StatusCode::CREATED, "{}", problem.text);
            let hook = app
                .post(
                    "/api/v1/webhooks",
                    "admin",
                    r#"{"name":"hook","url":"http://127.0.0.1:9/h","secret":"s3cret-s3cret-s3cret","kinds":["case_created"]}"#,
                )
                .await;
            assert!(hook.status.is_success(), "{}", hook.text);
            let alert = alert_fixture(&app, id).await;
            let fill = |t: &str| {
                t.replace("{case}", &id.to_string())
                    .replace("{order}", &order.body["id"].to_string())
                    .replace("{consult}", &consult.body["id"].to_string())
                    .replace("{unit}", "vc-a1")
                    .replace("{version}", "1")
                    .replace("{dispute}", &disputes[1].0.to_string())
                    .replace("{mediation}", &m.body["id"].to_string())
                    .replace("{party}", &disputes[0].1.to_string())
                    .replace("{problem}", &problem.body["id"].to_string())
                    .replace("{webhook}", &hook.body["id"].to_string())
                    .replace("{missing}", "999999")
                    .replace("{user}", "handler-a1")
                    .replace("{alert}", &alert.to_string())
            };
            let (uri, body) = (fill(path), fill(body));
            let before = app.events().await;
            let r = app.call(method, &uri, who, (!body.is_empty()).then_some(body.as_str()), &[]).await;
            let label = format!("{method} {uri} by {}", who.unwrap_or("nobody"));
            let code = r.status.as_u16();
            let wrong = match who {
                _ if code >= 500 => Some("a server error"),
                None if code != 401 => Some("must be 401"),
                Some(w) if may.contains(&w) && path.contains("{missing}") && code == 404 => None,
                Some(w) if may.contains(&w) && matches!(code, 401 | 403 | 404) => Some("must be allowed"),
                Some(w) if !may.contains(&w) && !matches!(code, 403 | 404) => Some("must be refused"),
                Some(w) if !may.contains(&w) && app.events().await != before => Some("a refusal wrote"),
                _ => None,
            };
            if let Some(why) = wrong {
                failures.push(format!("{label}: {why}, got {code} {}", r.text.chars().take(160).collect::<String>()));
            }
        }
    }
    assert!(failures.is_empty(), "{} mismatches:\n{}", failures.len(), failures.join("\n"));
}

/// An open alert in village A1, its own per caller (keyed by the caller's fresh case).
async fn alert_fixture(app: &crate::App, case: i64) -> i64 {
    use fengqiao_domain::alert::{Alert, AlertKind, AlertStatus, Evidence};
    let a = Alert {
        id: 0,
        kind: AlertKind::OverdueCluster,
        region: fengqiao_domain::RegionCode::parse(VILLAGE_A1).unwrap(),
        dedup_key: format!("overdue_cluster:test:{case}"),
        summary: "test".into(),
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

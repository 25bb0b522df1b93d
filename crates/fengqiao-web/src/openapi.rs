//! The OpenAPI 3.1 document of `/api/v1`, served at `/api/v1/openapi.json`, and the offline
//! documentation page at `/api/docs` that renders it.
//!
//! The document is written here, next to the router, as JSON Schema built from the domain's
//! own vocabularies (`Status::ALL`, `Channel::ALL`, … so a new value appears without an edit)
//! rather than derived by a macro: that keeps the pure domain crate free of an OpenAPI
//! dependency. Codes a request may name (categories, units) and the county's box come from
//! the reference data in force, so the document is this deployment's. Drift is caught by tests instead: one compares every `.route(…)` of the API
//! with the document's operations, and a schemathesis run checks every response against it.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use fengqiao_domain::unit::UnitKind;
use fengqiao_domain::{Channel, Severity, Status, Tier, Urgency};
use serde_json::{Map, Value, json};

use crate::AppState;

// Problem-solving records, webhooks and the outbox.
mod sara;
// Early warnings.
mod alerts;
mod analytics;

const DOCS_HTML: &str = include_str!("../assets/api-docs.html");
const DOCS_JS: &str = include_str!("../assets/api-docs.js");

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/openapi.json", get(openapi_json))
        .route("/api/docs", get(|| async { page("text/html; charset=utf-8", DOCS_HTML) }))
        .route("/api/docs/docs.js", get(|| async { page("text/javascript; charset=utf-8", DOCS_JS) }))
}

async fn openapi_json(State(st): State<AppState>) -> Json<Value> {
    let r = st.svc.reference();
    let mut categories: Vec<&str> = r.categories.keys().map(String::as_str).collect();
    let mut units: Vec<&str> = r.units.keys().map(String::as_str).collect();
    categories.sort_unstable();
    units.sort_unstable();
    // Points must lie in the county: its box, with a margin wider than the GCJ-02 offset so a
    // point outside the margin is outside the county in either datum.
    let bounds = r.county.as_ref().and_then(|c| c.boundary.as_ref()).map(|b| {
        let (min, max) = b.bbox();
        ((min.lat - 0.02, max.lat + 0.02), (min.lon - 0.02, max.lon + 0.02))
    });
    // A draft the deployment accepts, as the example: a category without required questions,
    // placed at the county's centroid (else in the county).
    let mut plain: Vec<&str> = r.categories.values().filter(|c| c.questions.iter().all(|q| !q.required)).map(|c| c.code.as_str()).collect();
    plain.sort_unstable();
    let example = plain.first().map(|category| {
        let mut d = json!({ "category": category, "title": "路灯不亮", "description": "村口路灯坏了三天。The street light at the village gate has been out for three days." });
        match r.county.as_ref().map(|c| (c.centroid, &c.code)) {
            Some((Some(p), _)) => {
                d["lat"] = json!(p.lat);
                d["lon"] = json!(p.lon);
            }
            Some((None, code)) => d["region"] = json!(code),
            None => {}
        }
        d
    });
    Json(document(&Deployment { categories: &categories, units: &units, bounds, example }))
}

fn page(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_SECURITY_POLICY, crate::pages::CSP),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}

fn names<T: Copy>(all: &[T], f: impl Fn(T) -> &'static str) -> Value {
    Value::Array(all.iter().map(|v| Value::String(f(*v).into())).collect())
}

fn r(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn or_null(mut s: Value) -> Value {
    if let Some(Value::String(t)) = s.get("type").cloned() {
        s["type"] = json!([t, "null"]);
        if let Some(Value::Array(e)) = s.get_mut("enum") {
            e.push(Value::Null);
        }
        s
    } else {
        json!({ "oneOf": [s, { "type": "null" }] })
    }
}

/// An object schema: `required` lists the names that must be present; every property is
/// described in `props`.
fn obj(required: &[&str], props: Value) -> Value {
    json!({ "type": "object", "required": required, "properties": props })
}

fn int() -> Value {
    json!({ "type": "integer" })
}
fn string() -> Value {
    json!({ "type": "string" })
}
fn boolean() -> Value {
    json!({ "type": "boolean" })
}
fn ms() -> Value {
    json!({ "type": "integer", "description": "milliseconds since the Unix epoch, UTC" })
}
fn items(of: Value) -> Value {
    obj(&["items"], json!({ "items": { "type": "array", "items": of } }))
}

/// A code from the deployment's reference data, listed when there is any, so clients and
/// fuzzers know the values a request may name.
fn code_of(values: &[&str], what: &str) -> Value {
    if values.is_empty() {
        json!({ "type": "string", "description": what })
    } else {
        json!({ "type": "string", "enum": values, "description": what })
    }
}

/// What the document takes from the deployment's reference data.
pub struct Deployment<'a> {
    pub categories: &'a [&'a str],
    pub units: &'a [&'a str],
    /// ((min lat, max lat), (min lon, max lon)) a point may have.
    pub bounds: Option<((f64, f64), (f64, f64))>,
    /// A case draft the deployment would accept.
    pub example: Option<Value>,
}

fn schemas(d: &Deployment) -> Value {
    let ((lat_min, lat_max), (lon_min, lon_max)) = d.bounds.unwrap_or(((-90.0, 90.0), (-180.0, 180.0)));
    let status = json!({ "type": "string", "enum": names(Status::ALL, Status::as_str) });
    let channel = json!({ "type": "string", "enum": names(Channel::ALL, Channel::as_str) });
    let urgency = json!({ "type": "string", "enum": names(Urgency::ALL, Urgency::as_str) });
    let severity = json!({ "type": "string", "enum": names(Severity::ALL, Severity::as_str) });
    let tier = json!({ "type": "string", "enum": names(Tier::ALL, Tier::as_str) });
    let region_code = json!({ "type": "string", "pattern": "^[0-9]{12}([0-9]{3})?$",
        "description": "a 12-digit division code (county 6 + township 3 + village 3 digits) or a 15-digit grid code" });
    let person_input = obj(
        &[],
        json!({
            "name": or_null(string()), "phone": or_null(string()), "id_number": or_null(string()),
            "address": or_null(string()), "email": or_null(string()), "organisation": boolean(),
        }),
    );
    let mut party_draft = person_input.clone();
    party_draft["required"] = json!(["role"]);
    party_draft["properties"]["role"] = json!({ "type": "string", "enum": ["applicant", "respondent", "third_party", "representative"] });
    let rate = obj(
        &["numerator", "denominator", "value"],
        json!({ "numerator": int(), "denominator": int(), "value": or_null(json!({ "type": "number" })) }),
    );
    let target = json!({ "oneOf": [
        obj(&["unit"], json!({ "unit": r("UnitId") })),
        obj(&["kind"], json!({ "kind": { "type": "string", "enum": names(&UnitKind::ALL, UnitKind::as_str) },
            "level": or_null(json!({ "type": "string", "enum": ["county", "town", "village", "grid"] })) })),
    ]});
    json!({
        "Error": obj(&["error"], json!({ "error": obj(&["code", "message", "details"], json!({
            "code": { "type": "string", "description": "stable, for clients to branch on: invalid_input, malformed_json, not_found, unauthenticated, forbidden, csrf_failed, illegal_transition, precondition_failed, stale_version, idempotency_key_reused, unknown_action, unsupported_media_type, payload_too_large, throttled, storage_unavailable, …" },
            "message": string(),
            "details": { "type": "array", "items": obj(&["field", "message"], json!({ "field": string(), "message": string() })) },
        })) })),
        "Status": status, "Channel": channel, "Urgency": urgency, "Severity": severity, "Tier": tier,
        "RegionCode": region_code,
        "CategoryCode": code_of(d.categories, "a category code in force (GET /api/v1/categories)"),
        "UnitId": code_of(d.units, "a unit id (GET /api/v1/units)"),
        "PersonInput": person_input,
        "PartyDraft": party_draft,
        "CaseDraft": obj(&["category", "description"], json!({
            "category": r("CategoryCode"),
            "channel": or_null(r("Channel")), "title": or_null(string()),
            "description": { "type": "string", "pattern": "\\S", "description": "what happened; not blank" }, "urgency": or_null(r("Urgency")), "severity": or_null(r("Severity")),
            "region": or_null(r("RegionCode")),
            "lat": or_null(json!({ "type": "number", "minimum": lat_min, "maximum": lat_max })),
            "lon": or_null(json!({ "type": "number", "minimum": lon_min, "maximum": lon_max })),
            "crs": or_null(json!({ "type": "string", "enum": ["WGS84", "GCJ-02"] })),
            "address": or_null(string()), "anonymous": boolean(),
            "reporter": or_null(r("PersonInput")),
            "parties": { "type": "array", "items": r("PartyDraft") },
            "answers": { "type": "object", "description": "answers to the category's questions" },
        })),
        "Person": obj(&["id", "organisation", "erased"], json!({
            "id": int(), "name": or_null(string()), "phone": or_null(string()), "id_number": or_null(string()),
            "address": or_null(string()), "email": or_null(string()), "organisation": boolean(), "erased": boolean(),
        })),
        "Case": obj(
            &["id", "tracking_code", "category", "kind", "channel", "status", "urgency", "severity", "tier", "first_tier",
              "region", "location", "title", "description", "reporter", "parties", "lead_unit", "co_units", "version",
              "created_at", "updated_at", "visits", "people"],
            json!({
                "id": int(), "tracking_code": string(), "category": string(), "kind": string(),
                "channel": r("Channel"), "status": r("Status"), "urgency": r("Urgency"), "severity": r("Severity"),
                "tier": r("Tier"), "first_tier": r("Tier"), "region": r("RegionCode"),
                "location": { "type": "object" }, "title": string(), "description": string(),
                "answers": { "type": "object" }, "reporter": or_null(int()),
                "parties": { "type": "array", "items": obj(&["person_id", "role"], json!({ "person_id": int(), "role": string(), "organisation": boolean() })) },
                "lead_unit": or_null(string()), "co_units": { "type": "array", "items": string() },
                "version": { "type": "integer", "description": "the optimistic-concurrency token: send it back in If-Match" },
                "created_at": ms(), "updated_at": ms(), "response_due": or_null(ms()), "handling_due": or_null(ms()),
                "visit_due": or_null(ms()), "visits": { "type": "array", "items": { "type": "object" } },
                "routing": or_null(r("RouteDecision")),
                "transfer": obj(&["to", "reason", "at"], json!({
                    "from": or_null(string()), "to": string(), "reason": string(), "at": ms(),
                    "rejection": obj(&["reason", "at", "arbitration_due"], json!({ "reason": string(), "at": ms(), "arbitration_due": ms() })),
                })),
                "tasks": { "type": "array", "description": "one per co-handling unit, each with its own deadline",
                    "items": obj(&["unit", "due"], json!({ "unit": string(), "due": ms(), "done_at": ms(), "report": string() })) },
                "people": { "type": "array", "items": r("Person"), "description": "masked unless the viewer's role sees personal data" },
            }),
        ),
        "CaseSummary": obj(
            &["id", "tracking_code", "title", "category", "status", "urgency", "severity", "tier", "channel", "region", "lead_unit", "version", "created_at", "handling_due", "response_due"],
            json!({
                "id": int(), "tracking_code": string(), "title": string(), "category": string(), "status": r("Status"),
                "urgency": r("Urgency"), "severity": r("Severity"), "tier": r("Tier"), "channel": r("Channel"),
                "region": r("RegionCode"), "lead_unit": or_null(string()), "version": int(), "created_at": ms(),
                "handling_due": or_null(ms()), "response_due": or_null(ms()),
            }),
        ),
        "CaseList": obj(&["items", "next_after"], json!({
            "items": { "type": "array", "items": r("CaseSummary") },
            "next_after": or_null(json!({ "type": "integer", "description": "pass as `after` for the next page" })),
        })),
        "Timeline": items(obj(&["seq", "at", "at_local", "actor", "kind", "data", "hash"], json!({
            "seq": int(), "at": ms(), "at_local": string(), "actor": string(), "kind": string(), "data": {}, "hash": string(),
        }))),
        "Transition": {
            "type": "object",
            "description": "the command's fields for the action in the path (for example `reason` for cancel, `lead_unit` and `co_units` for dispatch, `feedback` for resolve); `expected_version` may stand in for If-Match",
            "properties": {
                "expected_version": int(), "reason": string(), "note": or_null(string()), "severity": r("Severity"),
                "lead_unit": r("UnitId"), "co_units": { "type": "array", "items": r("UnitId") }, "to": r("UnitId"), "tier": r("Tier"),
                "hours": { "type": "integer", "minimum": 0 }, "approve": boolean(), "feedback": string(), "ok": boolean(),
                "party": or_null(int()), "channel": { "type": "string", "enum": ["phone", "sms", "in_person", "web", "letter"] },
                "reached": boolean(),
                "rating": or_null(json!({ "type": "string", "enum": ["satisfied", "basically_satisfied", "dissatisfied"] })),
                "comment": or_null(string()), "into": int(),
                "decision": string(), "report": string(),
                "high": { "type": "boolean", "description": "judge_risk: whether the case carries a high risk of escalation" },
            },
        },
        "Rate": rate,
        "Figures": obj(&["period", "region", "unit", "category", "figures", "alerts"], json!({
            "alerts": r("AlertCounts"),
            "period": obj(&["from", "to"], json!({ "from": string(), "to": string() })),
            "region": or_null(string()), "unit": or_null(string()), "category": or_null(string()),
            "figures": obj(&["cohort", "response_rate", "resolution_rate", "satisfaction_rate", "on_time_closure_rate", "locally_settled_rate", "rework_rate", "reopen_rate", "repeat_rate", "flagged_closures", "stages", "score"], json!({
                "cohort": int(), "response_rate": r("Rate"), "resolution_rate": r("Rate"), "satisfaction_rate": r("Rate"),
                "on_time_closure_rate": r("Rate"), "locally_settled_rate": r("Rate"), "rework_rate": r("Rate"),
                "reopen_rate": r("Rate"), "repeat_rate": r("Rate"), "flagged_closures": int(),
                "stages": { "type": "array", "items": obj(&["stage", "cases"], json!({ "stage": string(), "cases": int() })) },
                "score": or_null(json!({ "type": "number" })),
            })),
        })),
        "Categories": items(obj(&["code", "kind", "name_zh", "name_en", "public", "questions", "policy", "emergency"], json!({
            "code": string(), "kind": string(), "name_zh": string(), "name_en": string(),
            "public": { "type": "boolean", "description": "whether its cases may appear on public pages" },
            "questions": { "type": "array", "items": { "type": "object" }, "description": "extra questions, answered in a draft's `answers`" },
            "policy": { "type": "object", "description": "the deadlines" },
            "emergency": { "type": "boolean", "description": "residents are told to call 110 at once" },
        }))),
        "Regions": items(obj(&["code", "name", "level", "parent"], json!({
            "code": r("RegionCode"), "name": string(), "name_en": or_null(string()), "level": string(),
            "parent": or_null(r("RegionCode")), "population": or_null(int()),
            "centroid": or_null(json!({ "type": "object" })),
        }))),
        "FeatureCollection": obj(&["type", "features"], json!({ "type": { "const": "FeatureCollection" }, "features": { "type": "array", "items": { "type": "object" } } })),
        "SupervisionOrder": obj(&["id", "unit", "region", "issued_by", "issued_at", "due", "note", "status", "answers", "version", "overdue"], json!({
            "id": int(), "case_id": or_null(int()), "unit": string(), "region": string(), "issued_by": string(), "issued_at": ms(),
            "due": ms(), "due_local": string(), "note": string(), "status": { "type": "string", "enum": ["open", "answered", "closed"] },
            "answers": { "type": "array", "items": obj(&["by", "at", "text"], json!({ "by": string(), "at": ms(), "text": string() })) },
            "first_answered_at": or_null(ms()), "closed_at": or_null(ms()), "close_note": or_null(string()),
            "version": int(), "overdue": boolean() })),
        "Triage": obj(&["risk", "suggestion", "similar"], json!({
            "risk": { "type": "object", "description": "score in [0, 1], level (none, yellow, orange, red) and the matched evidence" },
            "suggestion": or_null(json!({ "type": "object", "description": "category, confidence, source (rule or model), evidence words, needs_human" })),
            "similar": { "type": "array", "items": obj(&["id", "similarity"], json!({ "id": int(), "similarity": { "type": "number" }, "distance_m": or_null(json!({ "type": "number" })) })) } })),
        "Located": obj(&["region", "by", "chain", "matched"], json!({
            "region": or_null(r("RegionCode")), "by": { "type": "string", "enum": ["point", "address"] },
            "chain": { "type": "array", "items": obj(&["code", "name", "level"], json!({ "code": r("RegionCode"), "name": string(), "level": string() })) },
            "matched": { "type": "array", "items": string() },
        })),
        "Target": target,
        "Rule": obj(&["id"], json!({
            "id": string(), "name": string(), "priority": int(), "enabled": boolean(),
            "when": obj(&[], json!({
                "categories": { "type": "array", "items": string() }, "region": r("RegionCode"),
                "channels": { "type": "array", "items": r("Channel") }, "urgency": { "type": "array", "items": r("Urgency") },
                "tiers": { "type": "array", "items": r("Tier") }, "keywords": { "type": "array", "items": string() },
            })),
            "subject": { "type": "string", "enum": ["event", "facility"] },
            "place": r("Target"), "owner": r("Target"), "co": { "type": "array", "items": r("Target") },
        })),
        "RuleSet": obj(&["rules"], json!({ "version": int(), "rules": { "type": "array", "items": r("Rule") } })),
        "RouteDecision": obj(&["version", "rule", "lead", "co_units", "trace"], json!({
            "version": int(), "rule": or_null(string()), "lead": or_null(string()),
            "co_units": { "type": "array", "items": string() },
            "trace": { "type": "array", "items": obj(&["rule", "outcome", "detail"], json!({
                "rule": string(), "outcome": { "type": "string", "enum": ["disabled", "not_matched", "no_unit", "chosen"] }, "detail": string(),
            })) },
        })),
        "Units": items(obj(&["id", "name", "kind", "region"], json!({ "id": string(), "name": string(), "name_en": or_null(string()), "kind": string(), "region": r("RegionCode"),
            "handles": { "type": "array", "items": string(), "description": "category codes the unit handles; absent: every category" } }))),
        "User": obj(&["id", "name", "role", "unit", "jurisdiction"], json!({ "id": string(), "name": string(), "role": string(), "unit": or_null(string()), "jurisdiction": r("RegionCode") })),
        "SignIn": obj(&["user", "password"], json!({ "user": string(), "password": string() })),
        "Receipt": obj(&["tracking_code", "status", "notice"], json!({ "tracking_code": string(), "status": r("Status"), "notice": string() })),
        "Tracking": obj(&["tracking_code", "category", "status", "created_at", "handling_unit", "handling_due", "timeline"], json!({
            "tracking_code": string(), "category": string(), "status": r("Status"), "created_at": string(),
            "handling_unit": or_null(obj(&["name"], json!({ "name": string(), "name_en": or_null(string()) }))),
            "handling_due": or_null(string()),
            "timeline": { "type": "array", "items": obj(&["at", "kind"], json!({ "at": string(), "kind": string() })) },
        })),
        // Residents by phone and community consultation.
        "Resident": obj(&["id", "phone", "region", "verified_by", "region_by_staff"], json!({
            "id": int(), "phone": string(), "region": or_null(string()),
            "verified_by": { "type": "string", "enum": ["otp", "staff"] }, "region_by_staff": boolean() })),
        "MyCase": obj(&["tracking_code", "category", "status", "created_at", "can_rate"], json!({
            "tracking_code": string(), "category": string(), "category_name": or_null(string()), "status": r("Status"),
            "created_at": string(), "unit": or_null(string()), "handling_due": or_null(string()), "can_rate": boolean() })),
        "Consultation": obj(&["id", "region", "title", "description", "source", "opened_at", "closes_at", "accepting_input", "status", "milestones", "progress", "proposals", "comments", "supporters"], json!({
            "id": int(), "region": string(), "region_name": or_null(string()), "title": string(), "description": string(),
            "source": { "type": "object" }, "opened_at": string(), "closes_at": string(), "accepting_input": boolean(),
            "status": { "type": "string", "enum": ["open", "decided", "completed"] },
            "decision": or_null(json!({ "type": "object" })),
            "milestones": { "type": "array", "items": { "type": "object" } },
            "progress": { "type": "integer", "minimum": 0, "maximum": 100 }, "progress_note": or_null(string()),
            "proposals": { "type": "array", "items": obj(&["id", "text", "at", "supports"], json!({ "id": int(), "text": string(), "at": string(), "supports": int() })) },
            "comments": { "type": "array", "items": obj(&["id", "text", "at"], json!({ "id": int(), "proposal_id": or_null(int()), "text": string(), "at": string() })) },
            "supporters": int(), "version": int(), "opened_by": string() })),
    })
}

/// Who may call an operation.
#[derive(Clone, Copy, PartialEq)]
enum Auth {
    /// Anyone.
    Public,
    /// A staff user, by bearer token or session cookie (+ CSRF token on writes).
    Staff,
    /// A resident signed in with a one-time code (their own cookie, + CSRF token on writes).
    Resident,
}

struct Op {
    method: &'static str,
    path: &'static str,
    summary: &'static str,
    auth: Auth,
    params: Value,
    body: Option<Value>,
    /// The success status and its body (`None` for no body).
    ok: (&'static str, Option<Value>),
    /// Error statuses besides the ones every operation of its kind can give.
    errors: &'static [&'static str],
}

fn path_param(name: &str, schema: Value, description: &str) -> Value {
    json!({ "name": name, "in": "path", "required": true, "schema": schema, "description": description })
}
fn query(name: &str, schema: Value, description: &str) -> Value {
    json!({ "name": name, "in": "query", "required": false, "schema": schema, "description": description })
}
fn idempotency_key() -> Value {
    json!({ "name": "Idempotency-Key", "in": "header", "required": false,
        "schema": { "type": "string", "minLength": 1, "maxLength": 200 },
        "description": "Retrying with the same key and the same body returns the first result (200) instead of creating again; the same key with another body is 422 idempotency_key_reused." })
}

fn operations() -> Vec<Op> {
    let case_id = path_param("id", json!({ "type": "integer", "minimum": 1 }), "the case id (anything but a positive integer is 404)");
    let date = json!({ "anyOf": [{ "type": "string", "format": "date" }, { "type": "string", "format": "date-time" }],
        "description": "a local date YYYY-MM-DD or an RFC 3339 time" });
    vec![
        Op {
            method: "post",
            path: "/api/v1/cases",
            summary: "Register a case at the counter",
            auth: Auth::Staff,
            params: json!([idempotency_key()]),
            body: Some(r("CaseDraft")),
            ok: ("201", Some(r("Case"))),
            errors: &["400", "403", "413", "415", "422"],
        },
        Op {
            method: "get",
            path: "/api/v1/cases",
            summary: "Cases in the caller's scope, newest first, by keyset pages",
            auth: Auth::Staff,
            params: json!([
                query("limit", json!({ "type": "integer", "minimum": 1, "maximum": 500, "default": 50 }), "page size"),
                query("after", int(), "the `next_after` of the previous page"),
                query("order", json!({ "type": "string", "enum": ["asc", "desc"] }), "by id"),
                query("status", r("Status"), ""),
                query("category", string(), "a category code"),
                query("region", r("RegionCode"), "a region subtree"),
                query("lead_unit", string(), "a unit id"),
                query("channel", r("Channel"), ""),
                query("urgency", r("Urgency"), ""),
                query("created_from", date.clone(), "inclusive"),
                query("created_to", date.clone(), "exclusive"),
                query("overdue", boolean(), "only cases past their handling deadline"),
            ]),
            body: None,
            ok: ("200", Some(r("CaseList"))),
            errors: &["400", "422"],
        },
        Op {
            method: "get",
            path: "/api/v1/cases/{id}",
            summary: "One case with its people",
            auth: Auth::Staff,
            params: json!([case_id.clone()]),
            body: None,
            ok: ("200", Some(r("Case"))),
            errors: &["404"],
        },
        Op {
            method: "get",
            path: "/api/v1/cases/{id}/timeline",
            summary: "The case's events from the audit log",
            auth: Auth::Staff,
            params: json!([case_id.clone()]),
            body: None,
            ok: ("200", Some(r("Timeline"))),
            errors: &["404"],
        },
        Op {
            method: "post",
            path: "/api/v1/cases/{id}/transitions/{action}",
            summary: "Move a case through its lifecycle",
            auth: Auth::Staff,
            params: json!([
                case_id.clone(),
                json!({ "name": "action", "in": "path", "required": true, "schema": { "type": "string", "enum": [
                    "file", "cancel", "dispatch", "route", "accept", "start", "transfer", "reject_transfer", "arbitrate_transfer", "complete_task", "escalate", "return_to_tier", "request_extension",
                    "decide_extension", "defer", "resume", "resolve", "verify", "record_visit", "close", "reopen", "merge", "set_severity", "judge_risk"] } }),
                json!({ "name": "If-Match", "in": "header", "required": false, "schema": { "type": "string", "pattern": "^(W/)?\"?[0-9]{1,18}\"?$" },
                    "description": "the case version the client last saw (a number, optionally quoted); a stale one is 409 stale_version" }),
            ]),
            body: Some(r("Transition")),
            ok: ("200", Some(r("Case"))),
            errors: &["400", "403", "404", "409", "413", "422"],
        },
        Op {
            method: "get",
            path: "/api/v1/figures",
            summary: "The supervision figures over a period (default: the last 30 days)",
            auth: Auth::Staff,
            params: json!([
                query("region", r("RegionCode"), ""),
                query("unit", string(), "a unit id"),
                query("category", string(), ""),
                query("from", date.clone(), "default: 30 days before `to`"),
                query("to", date.clone(), "default: now"),
            ]),
            body: None,
            ok: ("200", Some(r("Figures"))),
            errors: &["400", "403", "422"],
        },
        Op {
            method: "get",
            path: "/api/v1/categories",
            summary: "The case categories",
            auth: Auth::Public,
            params: json!([]),
            body: None,
            ok: ("200", Some(r("Categories"))),
            errors: &[],
        },
        Op {
            method: "get",
            path: "/api/v1/regions",
            summary: "Every region, without boundaries",
            auth: Auth::Staff,
            params: json!([]),
            body: None,
            ok: ("200", Some(r("Regions"))),
            errors: &[],
        },
        Op {
            method: "get",
            path: "/api/v1/regions/geojson",
            summary: "Regions with boundaries as GeoJSON (application/geo+json)",
            auth: Auth::Staff,
            params: json!([query(
                "within",
                json!({ "type": "string", "pattern": "^([0-9]{12}([0-9]{3})?)?$" }),
                "only this region's subtree; empty means every region"
            )]),
            body: None,
            ok: ("200", Some(r("FeatureCollection"))),
            errors: &["400", "422"],
        },
        Op {
            method: "post",
            path: "/api/v1/regions/geojson",
            summary: "Import regions from a GeoJSON FeatureCollection: all or nothing, every problem listed by feature",
            auth: Auth::Staff,
            params: json!([]),
            body: Some(r("FeatureCollection")),
            ok: ("200", Some(obj(&["imported"], json!({ "imported": int() })))),
            errors: &["400", "403", "413", "415", "422"],
        },
        Op {
            method: "get",
            path: "/api/v1/locate",
            summary: "The region a point (lat, lon) or an address lies in, with its chain of ancestors",
            auth: Auth::Staff,
            params: json!([
                query("lat", json!({ "type": "number" }), ""),
                query("lon", json!({ "type": "number" }), ""),
                query("crs", json!({ "type": "string", "enum": ["WGS84", "GCJ-02"] }), "default WGS84"),
                query("address", string(), "used when no point is given"),
            ]),
            body: None,
            ok: ("200", Some(r("Located"))),
            errors: &["400", "422"],
        },
        Op {
            method: "get",
            path: "/api/v1/routing/rules",
            summary: "The routing rules in force",
            auth: Auth::Staff,
            params: json!([]),
            body: None,
            ok: ("200", Some(r("RuleSet"))),
            errors: &[],
        },
        Op {
            method: "put",
            path: "/api/v1/routing/rules",
            summary: "Save the next version of the routing rules (administrators)",
            auth: Auth::Staff,
            params: json!([]),
            body: Some(r("RuleSet")),
            ok: ("200", Some(obj(&["version"], json!({ "version": int() })))),
            errors: &["400", "403", "413", "415", "422"],
        },
        Op {
            method: "get",
            path: "/api/v1/routing/rules/{version}",
            summary: "A saved version of the routing rules",
            auth: Auth::Staff,
            params: json!([path_param("version", json!({ "type": "integer", "minimum": 0, "maximum": i64::MAX }), "a version number")]),
            body: None,
            ok: ("200", Some(r("RuleSet"))),
            errors: &["404", "422"],
        },
        Op {
            method: "post",
            path: "/api/v1/routing/test",
            summary: "Where a case described like this would go, and why (nothing is written)",
            auth: Auth::Staff,
            params: json!([]),
            body: Some(r("CaseDraft")),
            ok: ("200", Some(obj(&["region", "decision"], json!({ "region": r("RegionCode"), "decision": r("RouteDecision") })))),
            errors: &["400", "403", "413", "415", "422"],
        },
        Op {
            method: "get",
            path: "/api/v1/cases/{id}/route",
            summary: "What routing would decide for this case now (nothing is written)",
            auth: Auth::Staff,
            params: json!([case_id]),
            body: None,
            ok: ("200", Some(r("RouteDecision"))),
            errors: &["403", "404"],
        },
        Op {
            method: "get",
            path: "/api/v1/units",
            summary: "Every unit",
            auth: Auth::Staff,
            params: json!([]),
            body: None,
            ok: ("200", Some(r("Units"))),
            errors: &[],
        },
        Op {
            method: "get",
            path: "/api/v1/me",
            summary: "The signed-in user",
            auth: Auth::Staff,
            params: json!([]),
            body: None,
            ok: ("200", Some(obj(&["user"], json!({ "user": r("User") })))),
            errors: &[],
        },
        Op {
            method: "post",
            path: "/api/v1/session",
            summary: "Sign in with a password: sets the HttpOnly session cookie and returns the CSRF token to send in X-CSRF-Token",
            auth: Auth::Public,
            params: json!([]),
            body: Some(r("SignIn")),
            ok: ("200", Some(obj(&["user", "csrf_token"], json!({ "user": r("User"), "csrf_token": string() })))),
            errors: &["400", "401", "413", "415", "422", "429"],
        },
        Op {
            method: "delete",
            path: "/api/v1/session",
            summary: "Sign out this session",
            auth: Auth::Staff,
            params: json!([]),
            body: None,
            ok: ("204", None),
            errors: &["403"],
        },
        Op {
            method: "delete",
            path: "/api/v1/session/everywhere",
            summary: "End every session of the user",
            auth: Auth::Staff,
            params: json!([]),
            body: None,
            ok: ("200", Some(obj(&["ended_sessions"], json!({ "ended_sessions": int() })))),
            errors: &["403"],
        },
        Op {
            method: "post",
            path: "/api/v1/public/cases",
            summary: "A resident's own submission (channel web, no sign-in)",
            auth: Auth::Public,
            params: json!([idempotency_key()]),
            body: Some(r("CaseDraft")),
            ok: ("201", Some(r("Receipt"))),
            errors: &["400", "413", "415", "422", "429"],
        },
        Op {
            method: "get",
            path: "/api/v1/public/track/{code}",
            summary: "What a resident sees with their tracking code",
            auth: Auth::Public,
            params: json!([path_param("code", string(), "the 12-character tracking code")]),
            body: None,
            ok: ("200", Some(r("Tracking"))),
            errors: &["404", "429"],
        },
        Op {
            method: "get",
            path: "/api/v1/calendar",
            summary: "A year's working and rest days, holidays, make-up working days, working hours and warnings",
            auth: Auth::Staff,
            params: json!([query("year", json!({ "type": "integer", "minimum": 1900, "maximum": 2200 }), "default: this year")]),
            body: None,
            ok: ("200", Some(json!({ "type": "object" }))),
            errors: &["422"],
        },
        Op {
            method: "get",
            path: "/api/v1/inbox",
            summary: "Reminders and deadline notices for the caller and the caller's unit, newest first",
            auth: Auth::Staff,
            params: json!([query("limit", json!({ "type": "integer", "minimum": 1, "maximum": 500, "default": 50 }), "")]),
            body: None,
            ok: ("200", Some(json!({ "type": "object" }))),
            errors: &["422"],
        },
        Op {
            method: "get",
            path: "/api/v1/units/{id}/rota",
            summary: "A unit's on-duty rota over a window (default: the week from today), for its staff and those over it",
            auth: Auth::Staff,
            params: json!([
                path_param("id", string(), "a unit id"),
                query("from", date.clone(), "default: the start of today"),
                query("to", date.clone(), "default: seven days after from; at most 62 days"),
            ]),
            body: None,
            ok: (
                "200",
                Some(obj(
                    &["unit", "from", "to", "shifts"],
                    json!({
                        "unit": string(), "from": string(), "to": string(),
                        "shifts": { "type": "array", "items": obj(&["user", "starts_at", "ends_at", "on_duty_now"], json!({
                            "user": string(), "starts_at": string(), "ends_at": string(), "on_duty_now": boolean() })) },
                    }),
                )),
            ),
            errors: &["403", "404", "422"],
        },
        Op {
            method: "put",
            path: "/api/v1/units/{id}/rota",
            summary: "Replace the unit's shifts that start in [from, to): an administrator or a supervisor over the unit; checked whole",
            auth: Auth::Staff,
            params: json!([path_param("id", string(), "a unit id")]),
            body: Some(obj(
                &["from", "to", "shifts"],
                json!({
                    "from": date.clone(), "to": date.clone(),
                    "shifts": { "type": "array", "items": obj(&["user", "starts_at", "ends_at"], json!({
                        "user": string(),
                        "starts_at": { "type": "string", "format": "date-time" },
                        "ends_at": { "type": "string", "format": "date-time" } })) },
                }),
            )),
            ok: (
                "200",
                Some(obj(
                    &["unit", "from", "to", "shifts"],
                    json!({
                        "unit": string(), "from": string(), "to": string(),
                        "shifts": { "type": "array", "items": obj(&["user", "starts_at", "ends_at", "on_duty_now"], json!({
                            "user": string(), "starts_at": string(), "ends_at": string(), "on_duty_now": boolean() })) },
                    }),
                )),
            ),
            errors: &["400", "403", "404", "413", "415", "422"],
        },
        Op {
            method: "post",
            path: "/api/v1/supervision",
            summary: "Issue a supervision order (督办) on a case (to its lead unit) or on a unit",
            auth: Auth::Staff,
            params: json!([]),
            body: Some(obj(
                &["due", "note"],
                json!({
                "case_id": or_null(int()), "unit": or_null(string()),
                "due": date.clone(), "note": { "type": "string", "minLength": 1, "maxLength": 2000 } }),
            )),
            ok: ("201", Some(r("SupervisionOrder"))),
            errors: &["400", "403", "404", "409", "413", "415", "422"],
        },
        Op {
            method: "get",
            path: "/api/v1/supervision",
            summary: "Supervision orders in the caller's scope, newest first",
            auth: Auth::Staff,
            params: json!([
                query("status", json!({ "type": "string", "enum": ["open", "answered", "closed"] }), ""),
                query("case", json!({ "type": "integer" }), "orders on this case"),
                query("unit", string(), "orders addressed to this unit"),
                query("region", string(), "orders in this region's subtree"),
                query("overdue", boolean(), "only open orders past their deadline"),
                query("limit", json!({ "type": "integer", "minimum": 1, "maximum": 1000, "default": 100 }), ""),
            ]),
            body: None,
            ok: ("200", Some(items(r("SupervisionOrder")))),
            errors: &["422"],
        },
        Op {
            method: "get",
            path: "/api/v1/supervision/{id}",
            summary: "One supervision order",
            auth: Auth::Staff,
            params: json!([path_param("id", json!({ "type": "integer", "minimum": 1 }), "the order id")]),
            body: None,
            ok: ("200", Some(r("SupervisionOrder"))),
            errors: &["404"],
        },
        Op {
            method: "post",
            path: "/api/v1/supervision/{id}/answer",
            summary: "The addressed unit answers an open order",
            auth: Auth::Staff,
            params: json!([path_param("id", json!({ "type": "integer", "minimum": 1 }), "the order id")]),
            body: Some(obj(&["text"], json!({ "text": { "type": "string", "minLength": 1, "maxLength": 2000 } }))),
            ok: ("200", Some(r("SupervisionOrder"))),
            errors: &["400", "403", "404", "409", "413", "415", "422"],
        },
        Op {
            method: "post",
            path: "/api/v1/supervision/{id}/review",
            summary: "The supervisor accepts an answer (closing the order) or returns it with a note",
            auth: Auth::Staff,
            params: json!([path_param("id", json!({ "type": "integer", "minimum": 1 }), "the order id")]),
            body: Some(obj(&["accept"], json!({ "accept": boolean(), "note": or_null(string()) }))),
            ok: ("200", Some(r("SupervisionOrder"))),
            errors: &["400", "403", "404", "409", "413", "415", "422"],
        },
        Op {
            method: "post",
            path: "/api/v1/triage",
            summary: "Risk, a suggested category and similar recent cases for a text at intake",
            auth: Auth::Staff,
            params: json!([]),
            body: Some(obj(
                &["description"],
                json!({
                "title": or_null(string()), "description": { "type": "string", "minLength": 1, "maxLength": 4000 },
                "lat": or_null(json!({ "type": "number" })), "lon": or_null(json!({ "type": "number" })),
                "crs": or_null(json!({ "type": "string", "enum": ["WGS84", "GCJ-02"] })) }),
            )),
            ok: ("200", Some(r("Triage"))),
            errors: &["400", "413", "415", "422"],
        },
        Op {
            method: "get",
            path: "/api/v1/cases/{id}/triage",
            summary: "Risk, a suggested category and similar recent cases for a stored case",
            auth: Auth::Staff,
            params: json!([case_id.clone()]),
            body: None,
            ok: ("200", Some(r("Triage"))),
            errors: &["404"],
        },
        // Residents by phone and community consultation.
        Op {
            method: "post",
            path: "/api/v1/resident/code",
            summary: "Send a one-time sign-in code (6 digits, 10 minutes) by SMS to a resident's phone",
            auth: Auth::Public,
            params: json!([]),
            body: Some(obj(&["phone"], json!({ "phone": string() }))),
            ok: ("202", Some(obj(&["phone", "expires_in"], json!({ "phone": string(), "expires_in": int() })))),
            errors: &["400", "413", "415", "422", "429"],
        },
        Op {
            method: "post",
            path: "/api/v1/resident/session",
            summary: "Sign a resident in with the code; sets the resident session cookie",
            auth: Auth::Public,
            params: json!([]),
            body: Some(obj(&["phone", "code"], json!({ "phone": string(), "code": string() }))),
            ok: ("200", Some(obj(&["resident", "csrf"], json!({ "resident": r("Resident"), "csrf": string() })))),
            errors: &["400", "401", "413", "415", "422"],
        },
        Op {
            method: "delete",
            path: "/api/v1/resident/session",
            summary: "Sign the resident out",
            auth: Auth::Resident,
            params: json!([]),
            body: None,
            ok: ("204", None),
            errors: &[],
        },
        Op {
            method: "get",
            path: "/api/v1/resident/me",
            summary: "The signed-in resident's roll entry",
            auth: Auth::Resident,
            params: json!([]),
            body: None,
            ok: ("200", Some(r("Resident"))),
            errors: &[],
        },
        Op {
            method: "put",
            path: "/api/v1/resident/region",
            summary: "The resident records the village or community where they live (unless staff recorded it in person)",
            auth: Auth::Resident,
            params: json!([]),
            body: Some(obj(&["region"], json!({ "region": string() }))),
            ok: ("200", Some(r("Resident"))),
            errors: &["400", "409", "413", "415", "422"],
        },
        Op {
            method: "get",
            path: "/api/v1/resident/cases",
            summary: "My cases: those whose reporter gave the resident's phone, public view only",
            auth: Auth::Resident,
            params: json!([]),
            body: None,
            ok: ("200", Some(items(r("MyCase")))),
            errors: &[],
        },
        Op {
            method: "post",
            path: "/api/v1/resident/cases/{code}/rating",
            summary: "The resident rates the outcome of their own case at the return visit",
            auth: Auth::Resident,
            params: json!([path_param("code", string(), "the tracking code")]),
            body: Some(obj(
                &["rating"],
                json!({ "rating": { "type": "string", "enum": ["satisfied", "basically_satisfied", "dissatisfied"] }, "comment": or_null(string()) }),
            )),
            ok: ("200", Some(r("MyCase"))),
            errors: &["400", "404", "409", "413", "415", "422"],
        },
        Op {
            method: "post",
            path: "/api/v1/residents",
            summary: "Staff register a resident in person on the roll, with the region where they live (verifies them)",
            auth: Auth::Staff,
            params: json!([]),
            body: Some(obj(&["phone", "region"], json!({ "phone": string(), "region": string() }))),
            ok: ("201", Some(r("Resident"))),
            errors: &["400", "403", "413", "415", "422"],
        },
        Op {
            method: "get",
            path: "/api/v1/sms/outbox",
            summary: "The newest text messages to residents and what became of them (administrators; phones masked)",
            auth: Auth::Staff,
            params: json!([query("limit", json!({ "type": "integer", "minimum": 1, "maximum": 1000, "default": 100 }), "")]),
            body: None,
            ok: (
                "200",
                Some(items(obj(
                    &["id", "kind", "created_at", "attempts", "state"],
                    json!({
                "id": int(), "case_id": or_null(int()), "kind": string(), "phone": or_null(string()), "created_at": string(),
                "attempts": int(), "state": { "type": "string", "enum": ["queued", "sent", "gave_up"] },
                "sent_at": or_null(string()), "last_error": or_null(string()) }),
                ))),
            ),
            errors: &["403", "422"],
        },
        Op {
            method: "post",
            path: "/api/v1/consultations",
            summary: "Open a community consultation (议事协商) to a region's residents for a period",
            auth: Auth::Staff,
            params: json!([]),
            body: Some(obj(
                &["region", "title", "description", "source", "closes_at"],
                json!({
                "region": string(), "title": string(), "description": string(), "closes_at": date.clone(),
                "source": { "oneOf": [
                    obj(&["kind", "note"], json!({ "kind": { "const": "hotspot" }, "note": string() })),
                    obj(&["kind", "reference"], json!({ "kind": { "const": "alert" }, "reference": string() })),
                    obj(&["kind", "ids"], json!({ "kind": { "const": "cases" }, "ids": { "type": "array", "items": int() } })),
                ] } }),
            )),
            ok: ("201", Some(r("Consultation"))),
            errors: &["400", "403", "413", "415", "422"],
        },
        Op {
            method: "get",
            path: "/api/v1/consultations",
            summary: "Consultations in the caller's jurisdiction, newest first",
            auth: Auth::Staff,
            params: json!([]),
            body: None,
            ok: ("200", Some(items(r("Consultation")))),
            errors: &[],
        },
        Op {
            method: "get",
            path: "/api/v1/consultations/{id}",
            summary: "One consultation with its proposals, supports and comments",
            auth: Auth::Staff,
            params: json!([path_param("id", json!({ "type": "integer", "minimum": 1 }), "the consultation id")]),
            body: None,
            ok: ("200", Some(r("Consultation"))),
            errors: &["404"],
        },
        Op {
            method: "post",
            path: "/api/v1/consultations/{id}/actions",
            summary: "The committee's decision and answer, milestones and progress of the follow-through",
            auth: Auth::Staff,
            params: json!([
                path_param("id", json!({ "type": "integer", "minimum": 1 }), "the consultation id"),
                json!({ "name": "If-Match", "in": "header", "required": false, "schema": { "type": "string", "pattern": "^(W/)?\"?[0-9]{1,18}\"?$" },
                    "description": "the version the client last saw; a stale one is 409 stale_version" }),
            ]),
            body: Some(json!({ "oneOf": [
                obj(&["action", "text", "answer"], json!({ "action": { "const": "decide" }, "text": string(), "answer": string() })),
                obj(&["action", "title"], json!({ "action": { "const": "add_milestone" }, "title": string(), "due": or_null(ms()) })),
                obj(&["action", "index"], json!({ "action": { "const": "complete_milestone" }, "index": { "type": "integer", "minimum": 0 } })),
                obj(&["action", "percent"], json!({ "action": { "const": "progress" }, "percent": { "type": "integer", "minimum": 0, "maximum": 100 }, "note": or_null(string()) })),
            ] })),
            ok: ("200", Some(r("Consultation"))),
            errors: &["400", "403", "404", "409", "413", "415", "422"],
        },
        Op {
            method: "post",
            path: "/api/v1/consultations/{id}/proposals",
            summary: "A resident of the region proposes, while the consultation is open",
            auth: Auth::Resident,
            params: json!([path_param("id", json!({ "type": "integer", "minimum": 1 }), "the consultation id")]),
            body: Some(obj(&["text"], json!({ "text": string() }))),
            ok: ("201", Some(obj(&["id"], json!({ "id": int() })))),
            errors: &["400", "404", "409", "413", "415", "422"],
        },
        Op {
            method: "post",
            path: "/api/v1/consultations/{id}/comments",
            summary: "A resident of the region comments on the matter or on a proposal",
            auth: Auth::Resident,
            params: json!([path_param("id", json!({ "type": "integer", "minimum": 1 }), "the consultation id")]),
            body: Some(obj(&["text"], json!({ "text": string(), "proposal_id": or_null(int()) }))),
            ok: ("201", Some(obj(&["id"], json!({ "id": int() })))),
            errors: &["400", "404", "409", "413", "415", "422"],
        },
        Op {
            method: "post",
            path: "/api/v1/consultations/{id}/support",
            summary: "A resident of the region gives their one support to a proposal (a second is 409)",
            auth: Auth::Resident,
            params: json!([path_param("id", json!({ "type": "integer", "minimum": 1 }), "the consultation id")]),
            body: Some(obj(&["proposal_id"], json!({ "proposal_id": int() }))),
            ok: ("201", Some(obj(&["proposal_id"], json!({ "proposal_id": int() })))),
            errors: &["400", "404", "409", "413", "415", "422"],
        },
        Op {
            method: "get",
            path: "/api/v1/public/consultations",
            summary: "Every consultation, public view (no personal data)",
            auth: Auth::Public,
            params: json!([]),
            body: None,
            ok: ("200", Some(items(r("Consultation")))),
            errors: &["429"],
        },
        Op {
            method: "get",
            path: "/api/v1/public/consultations/{id}",
            summary: "One consultation, public view: proposals and comments without authors, supports, decision, results",
            auth: Auth::Public,
            params: json!([path_param("id", json!({ "type": "integer", "minimum": 1 }), "the consultation id")]),
            body: None,
            ok: ("200", Some(r("Consultation"))),
            errors: &["404", "429"],
        },
        Op {
            method: "get",
            path: "/api/v1/openapi.json",
            summary: "This document",
            auth: Auth::Public,
            params: json!([]),
            body: None,
            ok: ("200", Some(json!({ "type": "object" }))),
            errors: &[],
        },
    ]
}

const ERROR_TEXT: &[(&str, &str)] = &[
    ("400", "malformed request (bad JSON, a body that is not an object)"),
    ("401", "no or unknown bearer token or session"),
    ("403", "the role may not do this, or the CSRF token is missing (csrf_failed)"),
    ("404", "no such resource, or outside the caller's scope"),
    ("409", "illegal transition, unmet precondition, or a stale If-Match version"),
    ("413", "the body exceeds 1 MiB"),
    ("415", "send Content-Type: application/json"),
    ("422", "invalid input: `details` names every field and what is wrong"),
    ("429", "too many failed sign-ins, or too many public requests from one address: wait `Retry-After` seconds"),
    ("503", "the database could not complete the request; nothing was changed"),
];

/// The whole OpenAPI 3.1 document for a deployment.
pub fn document(d: &Deployment) -> Value {
    let mut paths = Map::new();
    for op in operations().into_iter().chain(mediation_operations()).chain(sara::ops()).chain(alerts::ops()).chain(analytics::ops()) {
        let mut responses = Map::new();
        let ok = match &op.ok.1 {
            Some(schema) => {
                let media =
                    if op.path == "/api/v1/regions/geojson" && op.method == "get" { "application/geo+json" } else { "application/json" };
                json!({ "description": "success", "content": { media: { "schema": schema } } })
            }
            None => json!({ "description": "success, no body" }),
        };
        responses.insert(op.ok.0.into(), ok);
        if op.body.is_some() && op.path.ends_with("cases") {
            responses.insert("200".into(), json!({ "description": "a replay: the Idempotency-Key was seen with the same body", "content": { "application/json": { "schema": op.ok.1.clone().unwrap_or(Value::Null) } } }));
        }
        let mut errs: Vec<&str> = op.errors.to_vec();
        if op.auth != Auth::Public {
            errs.push("401");
            if op.method != "get" {
                errs.push("403");
            }
        }
        errs.push("503");
        for (code, text) in ERROR_TEXT {
            if errs.contains(code) {
                responses
                    .insert((*code).into(), json!({ "description": text, "content": { "application/json": { "schema": r("Error") } } }));
            }
        }
        let mut o = json!({
            "operationId": format!("{}_{}", op.method, op.path.trim_start_matches("/api/v1/").replace(['/', '.'], "_").replace(['{', '}'], "")),
            "summary": op.summary,
            "parameters": op.params,
            "responses": responses,
        });
        o["security"] = match op.auth {
            Auth::Public => json!([]),
            Auth::Staff => json!([{ "bearer": [] }, { "session": [], "csrf": [] }]),
            Auth::Resident => json!([{ "resident": [], "csrf": [] }]),
        };
        if let Some(b) = op.body {
            let mut media = json!({ "schema": b });
            if let (Some(ex), true) = (&d.example, b == r("CaseDraft")) {
                media["example"] = ex.clone();
            }
            o["requestBody"] = json!({ "required": true, "content": { "application/json": media } });
        }
        let path = paths.entry(op.path).or_insert_with(|| json!({}));
        path[op.method] = o;
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "fengqiao API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Cases, their lifecycle, figures and reference data. Every error is `{\"error\": {\"code\", \"message\", \"details\": [{\"field\", \"message\"}]}}` with a stable `code`; a rejected request changes nothing. Times are milliseconds since the epoch (UTC) unless named `*_local` or given as text. Staff calls authenticate with `Authorization: Bearer TOKEN`, or with the session cookie from `POST /api/v1/session`, in which case every non-GET request must also send `X-CSRF-Token`.",
            "license": { "name": "Apache-2.0", "identifier": "Apache-2.0" },
        },
        "servers": [{ "url": "/" }],
        "paths": paths,
        "components": {
            "schemas": analytics::with_schemas(alerts::with_schemas(sara::with_schemas(with_mediation_schemas(schemas(d))))),
            "securitySchemes": {
                "bearer": { "type": "http", "scheme": "bearer", "description": "an API token issued to a staff user" },
                "session": { "type": "apiKey", "in": "cookie", "name": crate::auth::SESSION_COOKIE, "description": "set by POST /api/v1/session" },
                "csrf": { "type": "apiKey", "in": "header", "name": "X-CSRF-Token", "description": "the session's csrf_token; required with the cookie on every non-GET request" },
                "resident": { "type": "apiKey", "in": "cookie", "name": crate::residents::RESIDENT_COOKIE, "description": "a resident's session, set by POST /api/v1/resident/session" },
            },
        },
    })
}

// ---- mediation ----

fn with_mediation_schemas(mut s: Value) -> Value {
    use fengqiao_domain::mediation::{MediationKind, MediationStatus, Source};
    s["Mediation"] = obj(
        &[
            "id",
            "case_id",
            "unit",
            "region",
            "category",
            "kind",
            "source",
            "parties",
            "team",
            "sessions",
            "agreements",
            "confirmation",
            "status",
            "opened_at",
            "version",
        ],
        json!({
            "id": int(), "case_id": int(), "unit": string(), "region": string(), "category": string(),
            "kind": { "type": "string", "enum": names(MediationKind::ALL, MediationKind::as_str) },
            "source": { "type": "string", "enum": names(Source::ALL, Source::as_str) },
            "amount_fen": or_null(int()),
            "parties": { "type": "array", "items": obj(&["person_id", "role", "consent"], json!({ "person_id": int(), "role": string(), "consent": { "type": "string", "enum": ["pending", "agreed", "refused"] } })) },
            "team": { "type": "array", "items": obj(&["id", "name", "role", "lead"], json!({ "id": string(), "name": string(), "role": string(), "lead": boolean(), "conflicts": { "type": "array", "items": string() }, "override_reason": or_null(string()) })) },
            "sessions": { "type": "array", "items": { "type": "object", "description": "no, start, end, place, mediators, invited, present, minutes, outcome, cancelled" } },
            "agreements": { "type": "array", "items": { "type": "object", "description": "every version, oldest first: form, content (facts, matters, responsibility, terms), signers, party_signatures, mediator_signed, sealed, effective_at, superseded, terms with their fulfilment" } },
            "confirmation": obj(&["open"], json!({ "last_day": or_null(string()), "due": or_null(ms()), "due_local": string(), "open": boolean(), "applied": or_null(json!({ "type": "object" })), "decision": or_null(json!({ "type": "object" })) })),
            "status": { "type": "string", "enum": names(MediationStatus::ALL, MediationStatus::as_str) },
            "police": or_null(json!({ "type": "object" })), "first_session_due": or_null(ms()), "second_session_due": or_null(ms()),
            "prevented_criminal": boolean(), "prevented_group_petition": boolean(), "court_referral": boolean(),
            "opened_at": ms(), "agreed_at": or_null(ms()), "ended_at": or_null(ms()), "version": int(),
            "overdue_terms": { "type": "integer", "description": "terms past their due date with no fulfilment recorded" },
        }),
    );
    s["MediationFigures"] = obj(
        &["opened", "agreed", "fulfilled", "breached"],
        json!({
            "opened": int(), "concluded": int(), "agreed": int(), "refused": int(), "failed": int(), "fulfilled": int(), "breached": int(),
            "agreement_rate": or_null(json!({ "type": "number" })), "fulfilment_rate": or_null(json!({ "type": "number" })),
            "amount_fen": int(), "amount_agreed_fen": int(), "median_hours_to_agreement": or_null(json!({ "type": "number" })),
            "prevented_criminal": int(), "prevented_group_petition": int(), "judicially_confirmed": int(),
        }),
    );
    s
}

fn mediation_operations() -> Vec<Op> {
    use fengqiao_domain::mediation::{FiguresBy, MediationCommand, MediationKind, MediationStatus, Source};
    let id = path_param("id", json!({ "type": "integer", "minimum": 1 }), "the mediation id");
    let date = json!({ "anyOf": [{ "type": "string", "format": "date" }, { "type": "string", "format": "date-time" }],
        "description": "a local date YYYY-MM-DD or an RFC 3339 time" });
    vec![
        Op {
            method: "post",
            path: "/api/v1/mediations",
            summary: "Open a mediation on a dispute case (its parties' consent is recorded next)",
            auth: Auth::Staff,
            params: json!([]),
            body: Some(obj(
                &["case_id", "kind", "source"],
                json!({
                    "case_id": int(),
                    "kind": { "type": "string", "enum": names(MediationKind::ALL, MediationKind::as_str) },
                    "source": { "type": "string", "enum": names(Source::ALL, Source::as_str) },
                    "amount": or_null(json!({ "type": "number", "minimum": 0, "description": "the amount involved, in yuan" })),
                }),
            )),
            ok: ("201", Some(r("Mediation"))),
            errors: &["400", "403", "404", "409", "413", "415", "422"],
        },
        Op {
            method: "get",
            path: "/api/v1/mediations",
            summary: "Mediations in the caller's scope, newest first",
            auth: Auth::Staff,
            params: json!([
                query("case", int(), "mediations of this case"),
                query("status", json!({ "type": "string", "enum": names(MediationStatus::ALL, MediationStatus::as_str) }), ""),
                query("unit", string(), ""),
                query("region", string(), "mediations in this region's subtree"),
                query("category", string(), "the dispute type"),
                query("limit", json!({ "type": "integer", "minimum": 1, "maximum": 1000, "default": 100 }), ""),
            ]),
            body: None,
            ok: ("200", Some(items(r("Mediation")))),
            errors: &["422"],
        },
        Op {
            method: "get",
            path: "/api/v1/mediations/{id}",
            summary: "One mediation, with every session and agreement version",
            auth: Auth::Staff,
            params: json!([id.clone()]),
            body: None,
            ok: ("200", Some(r("Mediation"))),
            errors: &["404"],
        },
        Op {
            method: "post",
            path: "/api/v1/mediations/{id}/actions",
            summary: "Act on a mediation: consent (a refusal ends it), assign (with the conflict check), schedule, cancel_session, record_session, draft, revise, sign, record_oral, apply_confirmation, decide_confirmation, fulfil, judge. `then` says where the case goes after a refusal, a failure or a breach (resolve, transfer, escalate); `member` carries a new member's identity data for the conflict check. Times may be RFC 3339, local YYYY-MM-DDTHH:MM, or milliseconds. Send If-Match: VERSION to act only on that version.",
            auth: Auth::Staff,
            params: json!([id.clone(), { "name": "If-Match", "in": "header", "required": false, "schema": { "type": "string" }, "description": "the mediation version" }]),
            body: Some(json!({
                "type": "object",
                "required": ["action"],
                "properties": {
                    "action": { "type": "string", "enum": MediationCommand::NAMES },
                    "then": or_null(json!({ "type": "object", "required": ["to"], "properties": { "to": { "type": "string", "enum": ["resolve", "transfer", "escalate"] }, "unit": string(), "tier": r("Tier") } })),
                    "member": or_null(json!({ "type": "object", "properties": { "id_number": string(), "phone": string(), "village": string(), "related_parties": { "type": "array", "items": int() } } })),
                },
                "additionalProperties": true,
            })),
            ok: ("200", Some(r("Mediation"))),
            errors: &["400", "403", "404", "409", "413", "415", "422"],
        },
        Op {
            method: "get",
            path: "/api/v1/mediations/figures",
            summary: "Mediation figures over mediations opened in a period (default: the last 365 days): agreement and fulfilment rates, amounts, time to agreement, disputes prevented from turning criminal or into group petitions, overall and by mediator, unit, type or region",
            auth: Auth::Staff,
            params: json!([
                query("from", date.clone(), ""),
                query("to", date.clone(), ""),
                query("by", json!({ "type": "string", "enum": names(FiguresBy::ALL, FiguresBy::as_str), "default": "unit" }), ""),
                query("unit", string(), ""),
                query("region", string(), ""),
                query("category", string(), ""),
            ]),
            body: None,
            ok: (
                "200",
                Some(obj(
                    &["figures", "groups"],
                    json!({ "from": ms(), "to": ms(), "by": string(), "figures": r("MediationFigures"),
                "groups": { "type": "array", "items": obj(&["key", "figures"], json!({ "key": string(), "figures": r("MediationFigures") })) } }),
                )),
            ),
            errors: &["422"],
        },
        Op {
            method: "get",
            path: "/api/v1/mediations/calendar",
            summary: "Rooms and mediators booked by sessions in a period (default: the next 14 days), in the caller's scope",
            auth: Auth::Staff,
            params: json!([query("from", date.clone(), ""), query("to", date, "")]),
            body: None,
            ok: (
                "200",
                Some(items(obj(
                    &["mediation_id", "session", "resource", "start", "end"],
                    json!({
                "mediation_id": int(), "session": int(), "resource": { "type": "string", "description": "room:UNIT/NAME or member:ID" }, "start": ms(), "end": ms() }),
                ))),
            ),
            errors: &["422"],
        },
    ]
}

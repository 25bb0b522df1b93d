//! The document's operations and schemas for early warnings.

use serde_json::{Value, json};

use super::{Auth, Op, int, items, ms, obj, or_null, path_param, query, r, string};

/// Adds this module's schemas to the document's.
pub(super) fn with_schemas(mut all: Value) -> Value {
    let step = obj(&["by", "at", "note"], json!({ "by": string(), "at": ms(), "note": string() }));
    let extra = json!({
        "AlertKind": { "type": "string", "enum": fengqiao_domain::alert::AlertKind::ALL.iter().map(|k| k.as_str()).collect::<Vec<_>>() },
        "AlertStatus": { "type": "string", "enum": ["open", "acknowledged", "closed"] },
        "Alert": obj(
            &["id", "kind", "region", "dedup_key", "summary", "evidence", "status", "raised_at", "version"],
            json!({
                "id": int(), "kind": r("AlertKind"), "region": r("RegionCode"),
                "dedup_key": { "type": "string", "description": "rule, subject and window: one live alert per key" },
                "summary": string(),
                "evidence": obj(&["case_ids", "count", "threshold", "window_days"], json!({
                    "case_ids": { "type": "array", "items": int() }, "count": int(), "threshold": { "type": "number" },
                    "baseline": or_null(json!({ "type": "number", "description": "a burst's weekly mean over its baseline weeks; an emerging hot spot's weekly mean before the latest week; rising severity's earlier share" })),
                    "person_id": or_null(int()), "category": or_null(string()), "window_days": int(),
                    "term": string(), "pattern": string(),
                    "figures": { "type": "object", "additionalProperties": { "type": "number" }, "description": "the statistics behind an analytics alert (z, p, q, shares…)" },
                    "series": { "type": "array", "items": int(), "description": "weekly counts, oldest first" },
                    "regions": { "type": "array", "items": r("RegionCode"), "description": "the places behind the alert when several: a scan cluster's villages, the centre first" } })),
                "status": r("AlertStatus"), "raised_at": ms(), "raised_local": string(),
                "acknowledged": or_null(step.clone()), "closed": or_null(step),
                "recipients": { "type": "array", "items": string() }, "version": int(),
            }),
        ),
        "Reach": obj(&["from", "to", "level", "population", "reports", "silent_min_population", "grids", "channels"], json!({
            "from": ms(), "to": ms(), "level": { "type": "string", "enum": ["town", "village", "grid"] },
            "population": int(), "reports": int(), "silent_min_population": int(),
            "period": obj(&["from", "to"], json!({ "from": string(), "to": string() })),
            "grids": { "type": "array", "items": obj(&["region", "name", "population", "reports", "per_1000", "silent", "by_channel"], json!({
                "region": string(), "name": string(), "population": int(), "reports": int(),
                "per_1000": or_null(json!({ "type": "number" })), "silent": { "type": "boolean" },
                "by_channel": { "type": "object", "additionalProperties": int() } })) },
            "channels": { "type": "array", "items": obj(&["channel", "reports", "per_1000"], json!({
                "channel": string(), "reports": int(), "per_1000": or_null(json!({ "type": "number" })) })) } })),
        "AlertCounts": obj(&["raised", "closed", "open", "unacknowledged"], json!({
            "raised": int(), "closed": int(), "open": int(), "unacknowledged": int() })),
    });
    if let (Some(a), Value::Object(b)) = (all.as_object_mut(), extra) {
        a.extend(b);
    }
    all
}

pub(super) fn ops() -> Vec<Op> {
    let id = || path_param("id", json!({ "type": "integer", "minimum": 1 }), "the alert id");
    let note = |required: &[&str]| obj(required, json!({ "note": { "type": "string", "maxLength": 2000 } }));
    let writes: &[&str] = &["400", "403", "404", "409", "413", "415", "422"];
    vec![
        Op {
            method: "get",
            path: "/api/v1/alerts",
            summary: "Early-warning alerts over the caller's jurisdiction (supervisors and administrators), newest first",
            auth: Auth::Staff,
            params: json!([
                query("status", r("AlertStatus"), ""),
                query("kind", r("AlertKind"), ""),
                query("region", string(), "alerts in this region's subtree"),
                query("limit", json!({ "type": "integer", "minimum": 1, "maximum": 1000, "default": 100 }), ""),
            ]),
            body: None,
            ok: ("200", Some(items(r("Alert")))),
            errors: &["422"],
        },
        Op {
            method: "get",
            path: "/api/v1/alerts/figures",
            summary: "Alerts raised and closed in a period (default: the last 30 days) and live now, in the caller's jurisdiction",
            auth: Auth::Staff,
            params: json!([
                query("from", string(), "an RFC 3339 time or a local date"),
                query("to", string(), "an RFC 3339 time or a local date (default: now)"),
            ]),
            body: None,
            ok: (
                "200",
                Some(obj(
                    &["period", "alerts"],
                    json!({ "period": obj(&["from", "to"], json!({ "from": string(), "to": string() })), "alerts": r("AlertCounts") }),
                )),
            ),
            errors: &["422"],
        },
        Op {
            method: "get",
            path: "/api/v1/alerts/{id}",
            summary: "One alert with its evidence",
            auth: Auth::Staff,
            params: json!([id()]),
            body: None,
            ok: ("200", Some(r("Alert"))),
            errors: &["404"],
        },
        Op {
            method: "post",
            path: "/api/v1/alerts/{id}/acknowledge",
            summary: "A supervisor over the place acknowledges an open alert (optional If-Match: the version)",
            auth: Auth::Staff,
            params: json!([id()]),
            body: Some(note(&[])),
            ok: ("200", Some(r("Alert"))),
            errors: writes,
        },
        Op {
            method: "post",
            path: "/api/v1/alerts/{id}/close",
            summary: "A supervisor over the place closes an alert, saying how it was dealt with",
            auth: Auth::Staff,
            params: json!([id()]),
            body: Some(note(&["note"])),
            ok: ("200", Some(r("Alert"))),
            errors: writes,
        },
        Op {
            method: "get",
            path: "/api/v1/reach",
            summary: "Reports per 1,000 residents by grid (or village, town) and by channel over a period (default: the last 30 days) in a supervisor's jurisdiction, silent places flagged",
            auth: Auth::Staff,
            params: json!([
                query("from", string(), "an RFC 3339 time or a local date"),
                query("to", string(), "an RFC 3339 time or a local date (default: now)"),
                query("level", json!({ "type": "string", "enum": ["grid", "village", "town"], "default": "grid" }), ""),
            ]),
            body: None,
            ok: ("200", Some(r("Reach"))),
            errors: &["403", "422"],
        },
    ]
}

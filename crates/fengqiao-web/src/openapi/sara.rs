//! The document's operations and schemas for problem-solving records, webhooks, the outbox and
//! staff e-mail addresses.

use fengqiao_domain::problem::{ActionStatus, Stage};
use fengqiao_domain::webhook::HookKind;
use serde_json::{Value, json};

use super::{Auth, Op, boolean, int, items, ms, names, obj, or_null, path_param, query, r, string};

/// Adds this module's schemas to the document's.
pub(super) fn with_schemas(mut all: Value) -> Value {
    let stage = json!({ "type": "string", "enum": names(&Stage::ALL, Stage::as_str) });
    let action_status = json!({ "type": "string", "enum": names(&ActionStatus::ALL, ActionStatus::as_str) });
    let hook_kind = json!({ "type": "string", "enum": names(&HookKind::ALL, HookKind::as_str) });
    let rate = obj(
        &["numerator", "denominator", "value"],
        json!({ "numerator": int(), "denominator": int(), "value": or_null(json!({ "type": "number" })) }),
    );
    let window = obj(
        &["from", "to", "counts", "figures"],
        json!({ "from": ms(), "to": ms(), "counts": { "type": "object", "description": "the numerators and denominators (FigureCounts), summed over every place and category" },
            "figures": obj(&["cohort", "response_rate", "resolution_rate", "satisfaction_rate"], json!({
                "cohort": int(), "response_rate": rate.clone(), "resolution_rate": rate.clone(), "satisfaction_rate": rate.clone(),
                "on_time_closure_rate": rate.clone(), "locally_settled_rate": rate.clone(), "rework_rate": rate.clone(),
                "reopen_rate": rate.clone(), "repeat_rate": rate, "score": or_null(json!({ "type": "number" })) })) }),
    );
    let extra = json!({
        "ProblemStage": stage,
        "ActionStatus": action_status,
        "HookKind": hook_kind,
        "Problem": obj(
            &["id", "title", "region", "regions", "categories", "case_ids", "stage", "actions", "history", "window_days", "version"],
            json!({
                "id": int(), "title": string(), "description": string(), "region": r("RegionCode"),
                "regions": { "type": "array", "items": r("RegionCode") }, "categories": { "type": "array", "items": string() },
                "case_ids": { "type": "array", "items": int() }, "stage": r("ProblemStage"),
                "analysis": string(), "assessment": string(),
                "units": { "type": "array", "items": string() }, "users": { "type": "array", "items": string() },
                "actions": { "type": "array", "items": obj(&["id", "text", "owner", "due", "status", "overdue"], json!({
                    "id": int(), "text": string(), "owner": { "type": "string", "description": "unit:ID or user:ID" }, "due": ms(),
                    "due_local": string(), "status": r("ActionStatus"), "updated_at": ms(), "done_at": or_null(ms()), "overdue": boolean() })) },
                "history": { "type": "array", "items": obj(&["from", "to", "at", "by"], json!({
                    "from": r("ProblemStage"), "to": r("ProblemStage"), "at": ms(), "by": string(), "note": or_null(string()) })) },
                "window_days": int(), "created_by": string(), "created_at": ms(),
                "response_started_at": or_null(ms()), "closed_at": or_null(ms()), "version": int(),
            }),
        ),
        "ProblemFigures": obj(&["regions", "categories", "before", "after"], json!({
            "regions": { "type": "array", "items": string() }, "categories": { "type": "array", "items": string() },
            "before": window.clone(), "after": or_null(window) })),
        "Subscription": obj(&["id", "name", "url", "kinds", "active"], json!({
            "id": int(), "name": string(), "url": string(), "kinds": { "type": "array", "items": r("HookKind") }, "active": boolean(), "created_at": ms() })),
        "OutboxItem": obj(&["id", "channel", "target", "kind", "state", "attempts"], json!({
            "id": int(), "channel": { "type": "string", "enum": ["webhook", "email"] }, "target": string(), "kind": string(),
            "body": { "description": "the JSON delivered (webhooks) or {to, subject, text} (e-mail)" },
            "state": { "type": "string", "enum": ["pending", "delivered", "dead"] }, "attempts": int(), "next_at": ms(),
            "last_error": or_null(string()), "created_at": ms(), "done_at": or_null(ms()) })),
    });
    if let (Some(a), Value::Object(b)) = (all.as_object_mut(), extra) {
        a.extend(b);
    }
    all
}

pub(super) fn ops() -> Vec<Op> {
    let id = || path_param("id", json!({ "type": "integer", "minimum": 1 }), "the problem id");
    let text = |max: u32| json!({ "type": "string", "minLength": 1, "maxLength": max });
    let date = json!({ "anyOf": [{ "type": "string", "format": "date" }, { "type": "string", "format": "date-time" }],
        "description": "a local date YYYY-MM-DD (the end of that day) or an RFC 3339 time" });
    let command = json!({ "oneOf": [
        obj(&["command"], json!({ "command": { "const": "advance" }, "note": or_null(string()) })),
        obj(&["command", "to", "note"], json!({ "command": { "const": "return" }, "to": { "type": "string", "enum": ["analysis", "response"] }, "note": text(2000) })),
        obj(&["command"], json!({ "command": { "const": "write" }, "analysis": or_null(string()), "assessment": or_null(string()) })),
        obj(&["command", "case_ids"], json!({ "command": { "const": "add_cases" }, "case_ids": { "type": "array", "items": int(), "minItems": 1 } })),
        obj(&["command"], json!({ "command": { "const": "set_responsible" }, "units": { "type": "array", "items": string() }, "users": { "type": "array", "items": string() } })),
        obj(&["command", "text", "owner", "due"], json!({ "command": { "const": "add_action" }, "text": text(2000), "owner": { "type": "string", "pattern": "^(unit|user):.+$" }, "due": date.clone() })),
        obj(&["command", "action", "status"], json!({ "command": { "const": "set_action_status" }, "action": { "type": "integer", "minimum": 1 }, "status": r("ActionStatus") })),
    ]});
    let sub_body = obj(
        &["name", "url", "kinds"],
        json!({ "name": text(100), "url": { "type": "string", "pattern": "^http://" },
            "secret": or_null(json!({ "type": "string", "minLength": 16, "description": "the HMAC key; omit on a change to keep it" })),
            "kinds": { "type": "array", "items": r("HookKind"), "minItems": 1 }, "active": boolean() }),
    );
    let writes: &[&str] = &["400", "403", "404", "409", "413", "415", "422"];
    vec![
        Op {
            method: "post",
            path: "/api/v1/problems",
            summary: "Open a problem-solving record (SARA) from cases named or found by filters",
            auth: Auth::Staff,
            params: json!([]),
            body: Some(obj(
                &["title"],
                json!({
                "title": text(200), "description": or_null(string()),
                "case_ids": { "type": "array", "items": int() },
                "filter": or_null(obj(&[], json!({ "status": or_null(r("Status")), "category": or_null(string()), "region": or_null(r("RegionCode")),
                    "lead_unit": or_null(string()), "created_from": or_null(date.clone()), "created_to": or_null(date.clone()) }))),
                "regions": { "type": "array", "items": r("RegionCode"), "description": "the places the figures are for (default: the cases' places)" },
                "categories": { "type": "array", "items": string(), "description": "the categories the figures are for (default: the cases')" },
                "window_days": or_null(json!({ "type": "integer", "minimum": 1, "maximum": 730, "default": 90 })) }),
            )),
            ok: ("201", Some(r("Problem"))),
            errors: writes,
        },
        Op {
            method: "get",
            path: "/api/v1/problems",
            summary: "Problems in the caller's scope, newest first",
            auth: Auth::Staff,
            params: json!([
                query("stage", r("ProblemStage"), ""),
                query("region", string(), "problems in this region's subtree"),
                query("case", json!({ "type": "integer" }), "problems holding this case"),
                query("limit", json!({ "type": "integer", "minimum": 1, "maximum": 1000, "default": 100 }), ""),
            ]),
            body: None,
            ok: ("200", Some(items(r("Problem")))),
            errors: &["422"],
        },
        Op {
            method: "get",
            path: "/api/v1/problems/{id}",
            summary: "One problem",
            auth: Auth::Staff,
            params: json!([id()]),
            body: None,
            ok: ("200", Some(r("Problem"))),
            errors: &["404"],
        },
        Op {
            method: "get",
            path: "/api/v1/problems/{id}/figures",
            summary: "The closed-loop figures of the problem's places and categories before and after the response started",
            auth: Auth::Staff,
            params: json!([id()]),
            body: None,
            ok: ("200", Some(r("ProblemFigures"))),
            errors: &["404"],
        },
        Op {
            method: "post",
            path: "/api/v1/problems/{id}/commands",
            summary: "Move the problem on or back, write the analysis or assessment, add cases, name who is responsible, plan or update actions",
            auth: Auth::Staff,
            params: json!([id(), { "name": "If-Match", "in": "header", "required": false, "schema": { "type": "string" }, "description": "the version the change is for" }]),
            body: Some(command),
            ok: ("200", Some(r("Problem"))),
            errors: writes,
        },
        Op {
            method: "get",
            path: "/api/v1/webhooks",
            summary: "Webhook subscriptions (administrators; secrets are never shown)",
            auth: Auth::Staff,
            params: json!([]),
            body: None,
            ok: ("200", Some(items(r("Subscription")))),
            errors: &["403"],
        },
        Op {
            method: "post",
            path: "/api/v1/webhooks",
            summary: "Register a webhook subscription (administrators)",
            auth: Auth::Staff,
            params: json!([]),
            body: Some(sub_body.clone()),
            ok: ("201", Some(r("Subscription"))),
            errors: writes,
        },
        Op {
            method: "put",
            path: "/api/v1/webhooks/{id}",
            summary: "Change a webhook subscription (administrators)",
            auth: Auth::Staff,
            params: json!([path_param("id", json!({ "type": "integer", "minimum": 1 }), "the subscription id")]),
            body: Some(sub_body),
            ok: ("200", Some(r("Subscription"))),
            errors: writes,
        },
        Op {
            method: "get",
            path: "/api/v1/outbox",
            summary: "Outbound webhooks and e-mail, newest first; state=dead is the dead-letter list (administrators)",
            auth: Auth::Staff,
            params: json!([
                query("state", json!({ "type": "string", "enum": ["pending", "delivered", "dead"] }), ""),
                query("channel", json!({ "type": "string", "enum": ["webhook", "email"] }), ""),
                query("limit", json!({ "type": "integer", "minimum": 1, "maximum": 1000, "default": 100 }), ""),
            ]),
            body: None,
            ok: ("200", Some(items(r("OutboxItem")))),
            errors: &["403", "422"],
        },
        Op {
            method: "post",
            path: "/api/v1/outbox/{id}/requeue",
            summary: "Queue a dead message again (administrators)",
            auth: Auth::Staff,
            params: json!([path_param("id", json!({ "type": "integer", "minimum": 1 }), "the message id")]),
            body: None,
            ok: ("200", Some(obj(&["id", "state"], json!({ "id": int(), "state": string() })))),
            errors: &["403", "404"],
        },
        Op {
            method: "put",
            path: "/api/v1/users/{id}/email",
            summary: "Set or remove the address a user's notices are e-mailed to (administrators)",
            auth: Auth::Staff,
            params: json!([path_param("id", string(), "the user id")]),
            body: Some(obj(&["email"], json!({ "email": or_null(json!({ "type": "string", "format": "email" })) }))),
            ok: ("200", Some(obj(&["user", "email"], json!({ "user": string(), "email": or_null(string()) })))),
            errors: writes,
        },
    ]
}

//! The document's operations and schemas for the analytics run (hot spots, emerging
//! patterns, bursting topics, rising severity).

use serde_json::{Value, json};

use super::{Auth, Op, int, ms, obj, or_null, query, r, string};

fn number() -> Value {
    json!({ "type": "number" })
}

fn counts() -> Value {
    json!({ "type": "array", "items": int(), "description": "per weekly slice, oldest first" })
}

/// Adds this module's schemas to the document's.
pub(super) fn with_schemas(mut all: Value) -> Value {
    let ids = json!({ "type": "array", "items": int(), "description": "the cases behind the finding (at most 200)" });
    let run = obj(
        &["at", "at_local", "from", "weeks", "slice_days", "cases", "permutations", "scan_replicates", "seed", "took_ms", "notes"],
        json!({
            "at": ms(), "at_local": string(),
            "from": { "type": "integer", "description": "the first slice's start, milliseconds since the Unix epoch; the last slice ends just after `at`" },
            "weeks": int(), "slice_days": int(), "cases": int(), "permutations": int(), "seed": int(), "took_ms": int(),
            "scan_replicates": { "type": "integer", "description": "Monte Carlo replicates of the space–time scan; 0 when it was left out" },
            "notes": { "type": "array", "items": string(), "description": "why part of the analysis was left out" },
        }),
    );
    let extra = json!({
        "AnalyticsRun": run,
        "VillageSpot": obj(
            &["region", "name", "population", "counts", "rate_per_1000", "eb_rate_per_1000", "z", "class", "pattern", "trend_tau", "trend_p", "case_ids"],
            json!({
                "region": r("RegionCode"), "name": string(), "name_en": or_null(string()), "population": int(), "counts": counts(),
                "rate_per_1000": number(),
                "eb_rate_per_1000": { "type": "number", "description": "the latest week's rate smoothed by empirical Bayes" },
                "z": { "type": "number", "description": "Gi* z of the smoothed rate (queen contiguity)" },
                "p_sim": or_null(json!({ "type": "number", "description": "permutation pseudo p-value (the nearer tail)" })),
                "q": or_null(json!({ "type": "number", "description": "two-sided p adjusted by Benjamini–Hochberg" })),
                "class": { "type": "integer", "minimum": -3, "maximum": 3, "description": "3/2/1: hot spot at 99/95/90% confidence (on q); negative: cold spot; 0: neither" },
                "pattern": { "type": "string", "description": "emerging hot spot category: new_hot_spot, consecutive_hot_spot, intensifying_hot_spot, persistent_hot_spot, diminishing_hot_spot, sporadic_hot_spot, oscillating_hot_spot, historical_hot_spot, the same for cold spots, or no_pattern" },
                "trend_tau": number(), "trend_p": number(), "case_ids": ids.clone(),
            }),
        ),
        "Topic": obj(
            &["town", "kind", "key", "count", "baseline", "expected", "p", "series", "case_ids"],
            json!({
                "town": r("RegionCode"), "kind": { "type": "string", "enum": ["category", "term"] },
                "key": { "type": "string", "description": "the category code or the term" },
                "count": { "type": "integer", "description": "cases in the last 7 days" },
                "baseline": { "type": "number", "description": "weekly mean over the baseline weeks" },
                "expected": { "type": "number", "description": "the Poisson mean tested against: (baseline sum + 1) / weeks" },
                "p": { "type": "number", "description": "P(X ≥ count)" },
                "series": counts(), "case_ids": ids.clone(),
                "related": { "type": "array", "items": string(), "description": "other bursting terms of mostly the same cases, folded into this one" },
            }),
        ),
        "SeverityRise": obj(
            &["town", "recent_serious", "recent_total", "earlier_serious", "earlier_total", "recent_share", "earlier_share", "z", "p", "case_ids"],
            json!({
                "town": r("RegionCode"), "recent_serious": int(), "recent_total": int(), "earlier_serious": int(), "earlier_total": int(),
                "recent_share": number(), "earlier_share": number(), "z": number(),
                "p": { "type": "number", "description": "one-sided two-proportion z test" }, "case_ids": ids.clone(),
            }),
        ),
        "ScanCluster": obj(
            &["rank", "model", "region", "center", "center_name", "center_lon", "center_lat", "villages", "radius_m", "start_slice", "start", "end",
              "observed", "expected", "relative_risk", "llr", "p", "recurrence_days", "series", "case_ids"],
            json!({
                "rank": { "type": "integer", "description": "1: the most likely cluster; then the secondary ones, sharing no village with an earlier one" },
                "model": { "type": "string", "enum": ["poisson", "permutation"], "description": "Poisson against the villages' populations (adjusted for the weekly trend), or space–time permutation when no village has a population" },
                "region": { "$ref": "#/components/schemas/RegionCode", "description": "the villages' common town, else the county: where its alert goes, and who sees it" },
                "center": r("RegionCode"), "center_name": string(), "center_name_en": or_null(string()),
                "center_lon": number(), "center_lat": number(),
                "villages": { "type": "array", "items": r("RegionCode"), "description": "the villages in the circle, nearest the centre first" },
                "radius_m": { "type": "number", "description": "from the centre to the farthest village in the circle, in metres" },
                "start_slice": { "type": "integer", "description": "the window's first weekly slice (0-based); the window ends with the run" },
                "start": ms(), "end": ms(),
                "observed": int(), "expected": number(),
                "relative_risk": or_null(json!({ "type": "number", "description": "inside over outside, each observed over expected; null when every case is inside" })),
                "llr": { "type": "number", "description": "log likelihood ratio" },
                "p": { "type": "number", "description": "Monte Carlo p-value" },
                "recurrence_days": { "type": "number", "description": "days between clusters this strong by chance alone (slice length / p)" },
                "series": counts(), "case_ids": ids,
            }),
        ),
        "TownTrend": obj(&["town", "counts", "serious"], json!({ "town": r("RegionCode"), "counts": counts(), "serious": counts() })),
    });
    if let (Some(a), Value::Object(b)) = (all.as_object_mut(), extra) {
        a.extend(b);
    }
    all
}

pub(super) fn ops() -> Vec<Op> {
    let region = || query("region", r("RegionCode"), "only this region's subtree (within the caller's jurisdiction)");
    let array = |name: &str| json!({ "type": "array", "items": r(name) });
    vec![
        Op {
            method: "get",
            path: "/api/v1/analytics/hotspots",
            summary: "Hot spots of the latest week and emerging hot spot patterns over the run's weeks, by village, and the space–time scan's clusters (those whose region, the villages' common town or else the county, is within the jurisdiction), from the newest analytics run, in the caller's jurisdiction (supervisors and administrators); `run` is null before the first run",
            auth: Auth::Staff,
            params: json!([region()]),
            body: None,
            ok: (
                "200",
                Some(obj(
                    &["run", "items", "clusters"],
                    json!({ "run": or_null(r("AnalyticsRun")), "items": array("VillageSpot"), "clusters": array("ScanCluster") }),
                )),
            ),
            errors: &["403", "422"],
        },
        Op {
            method: "get",
            path: "/api/v1/analytics/topics",
            summary: "Categories and terms bursting in a town over the last 7 days, towns whose share of serious cases is rising, and each town's weekly counts, from the newest analytics run, in the caller's jurisdiction",
            auth: Auth::Staff,
            params: json!([
                region(),
                query("kind", json!({ "type": "string", "enum": ["category", "term"] }), "only bursting categories, or terms")
            ]),
            body: None,
            ok: (
                "200",
                Some(obj(
                    &["run", "items", "severity", "towns"],
                    json!({ "run": or_null(r("AnalyticsRun")), "items": array("Topic"), "severity": array("SeverityRise"), "towns": array("TownTrend") }),
                )),
            ),
            errors: &["403", "422"],
        },
    ]
}

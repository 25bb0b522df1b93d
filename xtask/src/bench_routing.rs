//! Routing decisions with 500 rules: each decision walks the rules in priority order, checks
//! their conditions, resolves the lead (place or owner, most local unit) and co-handlers, and
//! writes the full trace, as intake does. The target is absolute (p99 under 1 ms); there is no
//! reference tool for this step.

use std::time::Instant;

use fengqiao_domain::routing::{RouteInput, RuleSet};
use fengqiao_domain::{Channel, RegionCode, Tier, Unit, UnitId, UnitKind, Urgency};
use serde_json::json;

/// splitmix64: deterministic, so every run routes the same cases through the same rules.
struct Mix(u64);

impl Mix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const KEYWORDS: &[&str] = &["刀", "打人", "漏水", "噪声", "欠薪", "占道", "垃圾", "停电", "围堵", "上访", "knife", "flood", "noise"];

pub fn run(smoke: bool) -> anyhow::Result<()> {
    let (towns, villages, n_rules, n_cases) = if smoke { (3, 5, 50, 2_000) } else { (12, 25, 500, 100_000) };
    let categories: Vec<String> = (0..30).map(|i| format!("cat{i:02}")).collect();
    let county = "330699000000";
    let mut units = Vec::new();
    let unit = |id: String, kind: UnitKind, region: &str| Unit {
        id: UnitId(id.clone()),
        name: id,
        name_en: None,
        kind,
        region: RegionCode::parse(region).expect("a valid code"),
        handles: vec![],
    };
    let mut village_codes = Vec::new();
    for t in 1..=towns {
        let town = format!("330699{:03}000", 100 + t);
        units.push(unit(format!("ps-{t}"), UnitKind::PoliceStation, &town));
        units.push(unit(format!("jo-{t}"), UnitKind::JudicialOffice, &town));
        units.push(unit(format!("tmc-{t}"), UnitKind::TownMediationCentre, &town));
        for v in 1..=villages {
            let code = format!("330699{:03}{:03}", 100 + t, v);
            units.push(unit(format!("vc-{t}-{v}"), UnitKind::VillageCommittee, &code));
            village_codes.push(code);
        }
    }
    units.push(unit("cmc".into(), UnitKind::CountyMediationCentre, county));
    for d in 0..10 {
        units.push(unit(format!("dept-{d}"), UnitKind::GovernmentDepartment, county));
    }
    let mut rng = Mix(20261125);
    let kinds = ["police_station", "judicial_office", "village_committee", "town_mediation_centre", "county_mediation_centre"];
    let mut rules = Vec::with_capacity(n_rules);
    for i in 0..n_rules {
        let mut when = serde_json::Map::new();
        let cats: Vec<&String> = (0..1 + rng.below(3)).map(|_| &categories[rng.below(categories.len())]).collect();
        when.insert("categories".into(), json!(cats));
        match rng.below(3) {
            0 => {
                when.insert("region".into(), json!(format!("330699{:03}000", 101 + rng.below(towns))));
            }
            1 => {
                when.insert("region".into(), json!(village_codes[rng.below(village_codes.len())]));
            }
            _ => {}
        }
        if rng.below(4) == 0 {
            when.insert("keywords".into(), json!([KEYWORDS[rng.below(KEYWORDS.len())], KEYWORDS[rng.below(KEYWORDS.len())]]));
        }
        if rng.below(5) == 0 {
            when.insert("urgency".into(), json!(["urgent", "emergency"]));
        }
        if rng.below(6) == 0 {
            when.insert("channels".into(), json!(["phone", "web"]));
        }
        let place = json!({ "kind": kinds[rng.below(kinds.len())] });
        let owner = json!({ "unit": format!("dept-{}", rng.below(10)) });
        let facility = rng.below(3) == 0;
        rules.push(json!({
            "id": format!("r{i:03}"),
            "priority": rng.below(20),
            "subject": if facility { "facility" } else { "event" },
            "when": when,
            "place": place,
            "owner": owner,
            "co": [{ "kind": "village_committee", "level": "village" }],
        }));
    }
    let set: RuleSet = serde_json::from_value(json!({ "version": 1, "rules": rules }))?;
    let refs: Vec<&Unit> = units.iter().collect();
    let regions: Vec<RegionCode> = village_codes.iter().map(|c| RegionCode::parse(c).expect("valid")).collect();
    let texts: Vec<String> = (0..64)
        .map(|i| {
            let mut t = String::from("村口道路两侧有人长期占用，附近居民多次反映，希望尽快处理。");
            if i % 4 == 0 {
                t.push_str(KEYWORDS[i % KEYWORDS.len()]);
            }
            t
        })
        .collect();
    let channels = [Channel::Phone, Channel::Web, Channel::Counter, Channel::Hotline12345];
    let urgencies = [Urgency::Routine, Urgency::Routine, Urgency::Urgent, Urgency::Emergency];
    let mut times = Vec::with_capacity(n_cases);
    let (mut routed, mut trace_steps) = (0usize, 0usize);
    for _ in 0..n_cases {
        let x = RouteInput {
            category: &categories[rng.below(categories.len())],
            region: &regions[rng.below(regions.len())],
            channel: channels[rng.below(channels.len())],
            urgency: urgencies[rng.below(urgencies.len())],
            tier: Tier::Village,
            text: &texts[rng.below(texts.len())],
        };
        let t = Instant::now();
        let d = set.route(&x, &refs);
        times.push(t.elapsed().as_secs_f64() * 1e3);
        routed += d.lead.is_some() as usize;
        trace_steps += d.trace.len();
    }
    times.sort_by(|a, b| a.total_cmp(b));
    let q = |p: f64| times[((times.len() as f64 * p) as usize).min(times.len() - 1)];
    let p99 = q(0.99);
    println!(
        "\n== Routing: {} rules, {} units, {} decisions ({} routed to a lead, {:.0} trace steps each on average) ==",
        set.rules.len(),
        units.len(),
        n_cases,
        routed,
        trace_steps as f64 / n_cases as f64
    );
    println!(
        "decision time: p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms (target p99 < 1 ms with 500 rules{}): {}",
        q(0.5),
        p99,
        times[times.len() - 1],
        if smoke { "; not meaningful at smoke scale" } else { "" },
        if p99 < 1.0 { "PASS" } else { "MISS" }
    );
    Ok(())
}

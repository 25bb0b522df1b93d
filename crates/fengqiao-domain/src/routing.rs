//! Routing rules: which unit leads a case, which units handle it jointly, and why.
//!
//! A rule set is an ordered list of rules, edited by an administrator and saved as a new
//! version each time (cases record the version that routed them). A rule matches on category,
//! region subtree, channel, urgency, tier and keywords, and names its lead either as a unit or
//! by its role relative to the case's place ("the villagers' committee of the case's village",
//! "the police station whose area contains it"). Events (事件) go to the place first, then to
//! the owner; facilities (部件) to the owner first, then to the place (GB/T 30428). The first
//! rule, by priority, that matches and resolves to a unit wins; every rule looked at leaves a
//! step in the trace, so a routed case shows why it went where it went. A case no rule routes
//! goes to the triage queue, never nowhere.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::case::{Channel, Tier, Urgency};
use crate::error::FieldError;
use crate::region::{RegionCode, RegionLevel};
use crate::unit::{Unit, UnitId, UnitKind};

/// What a rule routes: an event at a place, or a facility with an owner.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Subject {
    /// 事件: the place's unit first, then the owner (先属地后属主).
    #[default]
    Event,
    /// 部件: the owner first, then the place's unit (先属主后属地).
    Facility,
}

/// A unit named directly, or by its kind relative to the case's place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Target {
    Unit {
        unit: UnitId,
    },
    /// The unit of this kind whose service area contains the case's region, the most local
    /// first; with `level`, only a unit serving exactly the case's region at that level (the
    /// case's village, town or county).
    Place {
        kind: UnitKind,
        #[serde(default)]
        level: Option<RegionLevel>,
    },
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conditions {
    /// Category codes; empty matches every category.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<String>,
    /// The region subtree the case must lie in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<RegionCode>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub channels: Vec<Channel>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urgency: Vec<Urgency>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tiers: Vec<Tier>,
    /// Any of these words in the title or description (case-insensitive).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keywords: Vec<String>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    pub id: String,
    #[serde(default)]
    pub name: String,
    /// Higher first; equal priorities keep their order in the set.
    #[serde(default)]
    pub priority: i32,
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default)]
    pub when: Conditions,
    #[serde(default)]
    pub subject: Subject,
    /// The unit responsible for the place (属地).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub place: Option<Target>,
    /// The unit that owns the matter or the facility (属主): a department, a utility.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<Target>,
    /// Co-handling units, each resolved like the lead; those that resolve join the case.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub co: Vec<Target>,
}

/// The rules in force. `version` is given by the store when the set is saved.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleSet {
    #[serde(default)]
    pub version: i64,
    pub rules: Vec<Rule>,
}

/// What routing looks at.
#[derive(Debug, Clone)]
pub struct RouteInput<'a> {
    pub category: &'a str,
    pub region: &'a RegionCode,
    pub channel: Channel,
    pub urgency: Urgency,
    pub tier: Tier,
    pub text: &'a str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepOutcome {
    Disabled,
    NotMatched,
    NoUnit,
    Chosen,
}

/// One rule looked at, and what came of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceStep {
    pub rule: String,
    pub outcome: StepOutcome,
    pub detail: String,
}

/// The answer, with the trace that explains it. `lead` is `None` when the case must go to
/// the triage queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteDecision {
    pub version: i64,
    pub rule: Option<String>,
    pub lead: Option<UnitId>,
    pub co_units: Vec<UnitId>,
    pub trace: Vec<TraceStep>,
}

fn level_name(l: RegionLevel) -> &'static str {
    l.as_str()
}

impl Target {
    fn describe(&self) -> String {
        match self {
            Target::Unit { unit } => format!("unit {unit}"),
            Target::Place { kind, level: Some(l) } => format!("the {} of the case's {}", kind.as_str(), level_name(*l)),
            Target::Place { kind, level: None } => format!("the {} whose area contains the case", kind.as_str()),
        }
    }

    /// The unit this target names for a case in `region`, if there is one.
    fn resolve(&self, region: &RegionCode, category: &str, units: &[&Unit]) -> Option<UnitId> {
        match self {
            Target::Unit { unit } => units.iter().find(|u| &u.id == unit).map(|u| u.id.clone()),
            Target::Place { kind, level } => {
                let wanted = match level {
                    Some(l) => Some(region.ancestor_at(*l)?),
                    None => None,
                };
                units
                    .iter()
                    .filter(|u| u.kind == *kind && u.serves(region) && u.handles_category(category))
                    .filter(|u| wanted.as_ref().is_none_or(|w| &u.region == w))
                    // The most local unit: the deepest service area, then the smallest id.
                    .max_by(|a, b| a.region.prefix().len().cmp(&b.region.prefix().len()).then(b.id.cmp(&a.id)))
                    .map(|u| u.id.clone())
            }
        }
    }
}

impl Conditions {
    /// `None` when every condition holds, else the first that does not.
    fn mismatch(&self, x: &RouteInput<'_>) -> Option<String> {
        if !self.categories.is_empty() && !self.categories.iter().any(|c| c == x.category) {
            return Some(format!("category {} is not one of {}", x.category, self.categories.join(", ")));
        }
        if let Some(r) = &self.region
            && !r.contains(x.region)
        {
            return Some(format!("region {} lies outside {r}", x.region));
        }
        if !self.channels.is_empty() && !self.channels.contains(&x.channel) {
            return Some(format!("channel {} is not listed", x.channel));
        }
        if !self.urgency.is_empty() && !self.urgency.contains(&x.urgency) {
            return Some(format!("urgency {} is not listed", x.urgency));
        }
        if !self.tiers.is_empty() && !self.tiers.contains(&x.tier) {
            return Some(format!("tier {} is not listed", x.tier));
        }
        if !self.keywords.is_empty() {
            let text = x.text.to_lowercase();
            if !self.keywords.iter().any(|k| text.contains(&k.to_lowercase())) {
                return Some(format!("none of the keywords {} appears", self.keywords.join(", ")));
            }
        }
        None
    }
}

impl RuleSet {
    /// Rules in the order they are tried.
    fn ordered(&self) -> Vec<&Rule> {
        let mut v: Vec<&Rule> = self.rules.iter().collect();
        v.sort_by_key(|r| std::cmp::Reverse(r.priority)); // stable: equal priorities keep their order
        v
    }

    /// Routes one case.
    pub fn route(&self, x: &RouteInput<'_>, units: &[&Unit]) -> RouteDecision {
        let mut trace = Vec::new();
        for rule in self.ordered() {
            let step = |outcome, detail: String| TraceStep { rule: rule.id.clone(), outcome, detail };
            if !rule.enabled {
                trace.push(step(StepOutcome::Disabled, "disabled".into()));
                continue;
            }
            if let Some(why) = rule.when.mismatch(x) {
                trace.push(step(StepOutcome::NotMatched, why));
                continue;
            }
            let order: Vec<(&str, &Target)> = match rule.subject {
                Subject::Event => {
                    [("place", &rule.place), ("owner", &rule.owner)].into_iter().filter_map(|(n, t)| t.as_ref().map(|t| (n, t))).collect()
                }
                Subject::Facility => {
                    [("owner", &rule.owner), ("place", &rule.place)].into_iter().filter_map(|(n, t)| t.as_ref().map(|t| (n, t))).collect()
                }
            };
            let mut tried = Vec::new();
            let mut lead = None;
            for (what, target) in &order {
                match target.resolve(x.region, x.category, units) {
                    Some(u) => {
                        lead = Some((u, *what, target.describe()));
                        break;
                    }
                    None => tried.push(format!("{what}: no unit is {}", target.describe())),
                }
            }
            let Some((lead, what, described)) = lead else {
                trace.push(step(
                    StepOutcome::NoUnit,
                    format!("matched, but {}", if tried.is_empty() { "it names no unit".into() } else { tried.join("; ") }),
                ));
                continue;
            };
            let mut co_units = Vec::new();
            let mut co_notes = Vec::new();
            for t in &rule.co {
                match t.resolve(x.region, x.category, units) {
                    Some(u) if u != lead && !co_units.contains(&u) => co_units.push(u),
                    Some(_) => {}
                    None => co_notes.push(format!("co-handling: no unit is {}", t.describe())),
                }
            }
            let order_text = match (rule.subject, order.len()) {
                (_, 1) => "",
                (Subject::Event, _) => "an event goes to its place first, then its owner; ",
                (Subject::Facility, _) => "a facility goes to its owner first, then its place; ",
            };
            let mut detail = format!("matched; {order_text}lead {lead} ({what}: {described})");
            if !tried.is_empty() {
                detail.push_str(&format!("; {}", tried.join("; ")));
            }
            if !co_units.is_empty() {
                detail.push_str(&format!("; co-handling {}", co_units.iter().map(|u| u.as_str()).collect::<Vec<_>>().join(", ")));
            }
            if !co_notes.is_empty() {
                detail.push_str(&format!("; {}", co_notes.join("; ")));
            }
            trace.push(step(StepOutcome::Chosen, detail));
            return RouteDecision { version: self.version, rule: Some(rule.id.clone()), lead: Some(lead), co_units, trace };
        }
        RouteDecision { version: self.version, rule: None, lead: None, co_units: Vec::new(), trace }
    }

    /// Checks a rule set against the reference data; every problem is listed.
    pub fn problems(&self, units: &HashMap<String, Unit>, categories: &HashSet<String>, county: Option<&RegionCode>) -> Vec<FieldError> {
        let mut errs = Vec::new();
        let mut ids = HashSet::new();
        if self.rules.len() > 5000 {
            errs.push(FieldError::new("rules", "at most 5000 rules"));
        }
        for (i, r) in self.rules.iter().enumerate() {
            let f = |s: &str| format!("rules[{i}].{s}");
            if r.id.trim().is_empty() || r.id.len() > 64 {
                errs.push(FieldError::new(f("id"), "an id of 1 to 64 characters is required"));
            } else if !ids.insert(r.id.as_str()) {
                errs.push(FieldError::new(f("id"), format!("'{}' is used by an earlier rule", r.id)));
            }
            for c in &r.when.categories {
                if !categories.contains(c) {
                    errs.push(FieldError::new(f("when.categories"), format!("unknown category '{c}'")));
                }
            }
            if let (Some(reg), Some(county)) = (&r.when.region, county)
                && !county.contains(reg)
            {
                errs.push(FieldError::new(f("when.region"), format!("{reg} lies outside the county")));
            }
            if r.when.keywords.iter().any(|k| k.trim().is_empty()) {
                errs.push(FieldError::new(f("when.keywords"), "a keyword may not be empty"));
            }
            if r.place.is_none() && r.owner.is_none() {
                errs.push(FieldError::new(f("place"), "a rule needs a place or an owner to name its lead"));
            }
            let named =
                [("place", r.place.as_ref()), ("owner", r.owner.as_ref())].into_iter().filter_map(|(n, t)| t.map(|t| (n.to_string(), t)));
            let co = r.co.iter().enumerate().map(|(j, t)| (format!("co[{j}]"), t));
            for (name, t) in named.chain(co) {
                if let Target::Unit { unit } = t
                    && !units.contains_key(unit.as_str())
                {
                    errs.push(FieldError::new(f(&name), format!("unknown unit '{unit}'")));
                }
            }
        }
        errs
    }
}

/// Rules a new deployment starts with, naming units only by their kind relative to the
/// case's place, so they route as soon as units exist: emergencies and signs of violence to
/// the police station, public-order matters too; cases escalated to the town or the county to
/// the conflict-mediation centre there; land matters to the judicial office; everything else
/// to the committee of the case's village (small matters are settled in the village), with
/// the town's mediation centre as the owner when a village has no committee.
pub fn default_rules() -> RuleSet {
    let rules = serde_json::json!([
        {"id": "emergency", "name": "紧急警情 Emergencies", "priority": 100, "when": {"urgency": ["emergency"]},
         "place": {"kind": "police_station"}, "co": [{"kind": "village_committee", "level": "village"}]},
        {"id": "violence", "name": "暴力风险 Signs of violence", "priority": 90,
         "when": {"keywords": ["持刀", "拿刀", "砍", "打人", "殴打", "威胁", "报复", "自杀", "轻生", "跳楼", "knife", "threat", "suicide", "weapon", "assault"]},
         "place": {"kind": "police_station"}, "co": [{"kind": "village_committee", "level": "village"}]},
        {"id": "county-tier", "name": "县级调处 County tier", "priority": 80, "when": {"tiers": ["county"]},
         "place": {"kind": "county_mediation_centre"}},
        {"id": "public-order", "name": "治安类 Public order", "priority": 50,
         "when": {"categories": ["public_security", "fraud_report", "help_request", "noise", "traffic_accident"]},
         "place": {"kind": "police_station"}},
        {"id": "town-disputes", "name": "乡镇矛调 Town tier disputes", "priority": 40, "when": {"tiers": ["town"],
         "categories": ["marriage_family", "neighbour", "housing_homestead", "contract", "production_business", "damages",
                        "forest_land", "land_requisition", "pollution", "labour", "consumer", "medical", "property_management", "other_dispute"]},
         "place": {"kind": "town_mediation_centre", "level": "town"}},
        {"id": "town-requests", "name": "乡镇诉求 Town tier requests", "priority": 30, "when": {"tiers": ["town"]},
         "place": {"kind": "judicial_office", "level": "town"}},
        {"id": "land", "name": "土地类 Land", "priority": 20, "when": {"categories": ["forest_land", "land_requisition"]},
         "place": {"kind": "judicial_office"}},
        {"id": "village", "name": "属地村社 The village first", "priority": -100,
         "place": {"kind": "village_committee", "level": "village"}, "owner": {"kind": "town_mediation_centre", "level": "town"}}
    ]);
    RuleSet { version: 0, rules: serde_json::from_value(rules).expect("the default rules are well-formed") }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(id: &str, kind: UnitKind, region: &str) -> Unit {
        Unit { id: UnitId(id.into()), name: id.into(), name_en: None, kind, region: RegionCode::parse(region).unwrap(), handles: vec![] }
    }

    fn units() -> Vec<Unit> {
        vec![
            unit("vc-a1", UnitKind::VillageCommittee, "330681101001"),
            unit("vc-a2", UnitKind::VillageCommittee, "330681101002"),
            unit("ps-a", UnitKind::PoliceStation, "330681101000"),
            unit("ps-county", UnitKind::PoliceStation, "330681000000"),
            unit("water-co", UnitKind::ServiceProvider, "330681000000"),
            unit("jo-a", UnitKind::JudicialOffice, "330681101000"),
        ]
    }

    fn rules() -> RuleSet {
        serde_json::from_value(serde_json::json!({"version": 3, "rules": [
            {"id": "security", "priority": 10, "when": {"categories": ["public_security"]},
             "place": {"kind": "police_station"}},
            {"id": "water", "subject": "facility", "when": {"categories": ["water_supply"]},
             "place": {"kind": "village_committee", "level": "village"}, "owner": {"unit": "water-co"}},
            {"id": "knife", "priority": 20, "when": {"keywords": ["刀", "knife"]},
             "place": {"kind": "police_station"}, "co": [{"kind": "village_committee", "level": "village"}]},
            {"id": "neighbours", "when": {"categories": ["neighbour"]},
             "place": {"kind": "village_committee", "level": "village"}, "owner": {"kind": "judicial_office"},
             "co": [{"kind": "mediation_committee"}]}
        ]}))
        .unwrap()
    }

    fn route(category: &str, region: &str, text: &str) -> RouteDecision {
        let us = units();
        let refs: Vec<&Unit> = us.iter().collect();
        let region = RegionCode::parse(region).unwrap();
        let x = RouteInput { category, region: &region, channel: Channel::Phone, urgency: Urgency::Routine, tier: Tier::Village, text };
        rules().route(&x, &refs)
    }

    fn outcomes(d: &RouteDecision) -> Vec<(String, StepOutcome)> {
        d.trace.iter().map(|s| (s.rule.clone(), s.outcome)).collect()
    }

    #[test]
    fn the_most_local_unit_of_the_place_leads_an_event() {
        let d = route("public_security", "330681101001", "路口有人聚集");
        assert_eq!(d.lead, Some(UnitId("ps-a".into())), "the town's station, not the county's");
        assert_eq!(d.rule.as_deref(), Some("security"));
        assert_eq!(d.version, 3);
        assert_eq!(outcomes(&d), vec![("knife".into(), StepOutcome::NotMatched), ("security".into(), StepOutcome::Chosen)]);
        assert_eq!(d.trace[0].detail, "none of the keywords 刀, knife appears");
    }

    #[test]
    fn a_unit_that_does_not_handle_the_category_is_passed_over() {
        let mut us = units();
        // The town's station takes only traffic matters; public security goes to the county's.
        us.iter_mut().find(|u| u.id.0 == "ps-a").unwrap().handles = vec!["traffic".into()];
        let refs: Vec<&Unit> = us.iter().collect();
        let region = RegionCode::parse("330681101001").unwrap();
        let x = |category| RouteInput {
            category,
            region: &region,
            channel: Channel::Phone,
            urgency: Urgency::Routine,
            tier: Tier::Village,
            text: "",
        };
        assert_eq!(rules().route(&x("public_security"), &refs).lead, Some(UnitId("ps-county".into())));
        // Without the county's station there is none, and the case goes to triage with the reason.
        let no_county: Vec<&Unit> = us.iter().filter(|u| u.id.0 != "ps-county").collect();
        let d = rules().route(&x("public_security"), &no_county);
        assert_eq!(d.lead, None);
        assert!(d.trace.iter().any(|s| s.outcome == StepOutcome::NoUnit), "{:?}", d.trace);
    }

    #[test]
    fn a_facility_goes_to_its_owner_first() {
        let d = route("water_supply", "330681101002", "水管爆了");
        assert_eq!(d.lead, Some(UnitId("water-co".into())));
        assert!(d.trace.last().unwrap().detail.contains("a facility goes to its owner first"), "{:?}", d.trace);
    }

    #[test]
    fn an_event_falls_back_to_the_owner_when_the_place_has_no_unit() {
        // Village 003 has no committee: the judicial office (the owner) leads, and the trace says why.
        let d = route("neighbour", "330681101003", "邻居占道");
        assert_eq!(d.lead, Some(UnitId("jo-a".into())));
        let last = &d.trace.last().unwrap().detail;
        assert_eq!(
            last,
            "matched; an event goes to its place first, then its owner; lead jo-a (owner: the judicial_office whose area contains the case); \
             place: no unit is the village_committee of the case's village; co-handling: no unit is the mediation_committee whose area contains the case"
        );
    }

    #[test]
    fn keywords_and_priority_add_co_handlers() {
        let d = route("neighbour", "330681101001", "对方拿刀威胁");
        assert_eq!((d.lead.clone(), d.co_units.clone()), (Some(UnitId("ps-a".into())), vec![UnitId("vc-a1".into())]));
        assert_eq!(outcomes(&d), vec![("knife".into(), StepOutcome::Chosen)]);
    }

    #[test]
    fn nothing_matches_means_triage() {
        let d = route("street_light", "330681101001", "路灯坏了");
        assert_eq!(d.lead, None);
        assert_eq!(d.trace.len(), 4, "every rule leaves a step");
        assert!(d.trace.iter().all(|s| s.outcome == StepOutcome::NotMatched));
    }

    #[test]
    fn a_bad_rule_set_lists_every_problem() {
        let mut set = rules();
        set.rules[1].owner = Some(Target::Unit { unit: UnitId("nope".into()) });
        set.rules[2].id = "security".into();
        set.rules[3].when.categories.push("astrology".into());
        set.rules.push(Rule {
            id: "empty".into(),
            name: String::new(),
            priority: 0,
            enabled: true,
            when: Conditions::default(),
            subject: Subject::Event,
            place: None,
            owner: None,
            co: vec![],
        });
        let us: HashMap<String, Unit> = units().into_iter().map(|u| (u.id.0.clone(), u)).collect();
        let cats: HashSet<String> = ["public_security", "water_supply", "neighbour"].iter().map(|s| s.to_string()).collect();
        let errs = set.problems(&us, &cats, None);
        let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["rules[1].owner", "rules[2].id", "rules[3].when.categories", "rules[4].place"], "{errs:?}");
    }
}

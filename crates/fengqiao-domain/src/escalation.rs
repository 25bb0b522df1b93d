//! The escalation ladder (village → town → county) as configuration: which cases start at which
//! tier, which climb automatically when a deadline is missed, and which unit takes them there
//! (the town's conflict-mediation centre, then the county's).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::case::{Case, Severity, Status, Tier, starting_tier};
use crate::region::RegionLevel;
use crate::unit::{Unit, UnitId, UnitKind};

/// Which deadline a breach is of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Deadline {
    /// Not accepted by the response deadline.
    Response,
    /// Not resolved by the handling deadline.
    Handling,
    /// Not closed by the return-visit deadline.
    Visit,
    /// Not resolved by the deadline of the tier the case was escalated to.
    Tier,
}

impl Deadline {
    pub const ALL: [Deadline; 4] = [Deadline::Response, Deadline::Handling, Deadline::Visit, Deadline::Tier];

    pub fn as_str(self) -> &'static str {
        match self {
            Deadline::Response => "response",
            Deadline::Handling => "handling",
            Deadline::Visit => "visit",
            Deadline::Tier => "tier",
        }
    }

    pub fn parse(s: &str) -> Option<Deadline> {
        Deadline::ALL.into_iter().find(|d| d.as_str() == s)
    }

    /// The statuses in which this deadline runs: the step it guards is not done and the
    /// clock is not paused (a deferred case is in none of them).
    pub fn statuses(self) -> &'static [Status] {
        match self {
            Deadline::Response => &[Status::Dispatched],
            Deadline::Handling | Deadline::Tier => &[Status::Dispatched, Status::Accepted, Status::InProgress],
            Deadline::Visit => &[Status::Resolved, Status::ReturnVisit],
        }
    }

    /// The case's deadline of this kind, if it is running.
    pub fn running(self, c: &Case) -> Option<crate::Timestamp> {
        if !self.statuses().contains(&c.status) {
            return None;
        }
        match self {
            // The response deadline is of the first acceptance (what the response rate
            // counts); a case back in `dispatched` after an escalation was already answered.
            Deadline::Response => c.response_due.filter(|_| c.accepted_at.is_none()),
            Deadline::Handling => c.handling_due,
            Deadline::Visit => c.visit_due,
            Deadline::Tier => c.tier_due,
        }
    }
}

/// Which cases escalate by themselves on a missed deadline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AutoEscalation {
    pub enabled: bool,
    /// The deadlines whose breach escalates (default: handling, and the deadline of the tier
    /// an escalated case is at, so a case the town misses climbs to the county).
    pub on: Vec<Deadline>,
    /// Severities that escalate (empty: all).
    pub severities: Vec<Severity>,
    /// Categories that escalate (empty: all).
    pub categories: Vec<String>,
}

impl Default for AutoEscalation {
    fn default() -> Self {
        AutoEscalation { enabled: true, on: vec![Deadline::Handling, Deadline::Tier], severities: Vec::new(), categories: Vec::new() }
    }
}

/// The ladder's configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct EscalationLadder {
    /// The tier a case starts at, by severity (default: minor and ordinary in the village,
    /// serious in the town, major at the county).
    pub start_by_severity: BTreeMap<Severity, Tier>,
    /// Categories that start at least at this tier whatever the severity.
    pub start_by_category: BTreeMap<String, Tier>,
    pub auto: AutoEscalation,
    /// The kind of unit that takes a case escalated to the town tier, in the case's town.
    pub town_unit: UnitKind,
    /// The kind of unit that takes a case escalated to the county tier, in the county.
    pub county_unit: UnitKind,
}

impl Default for EscalationLadder {
    fn default() -> Self {
        EscalationLadder {
            start_by_severity: Severity::ALL.iter().map(|s| (*s, starting_tier(*s))).collect(),
            start_by_category: BTreeMap::new(),
            auto: AutoEscalation::default(),
            town_unit: UnitKind::TownMediationCentre,
            county_unit: UnitKind::CountyMediationCentre,
        }
    }
}

impl EscalationLadder {
    /// The tier a new case of this severity and category starts at.
    pub fn starting_tier(&self, severity: Severity, category: &str) -> Tier {
        let by_sev = self.start_by_severity.get(&severity).copied().unwrap_or_else(|| starting_tier(severity));
        self.start_by_category.get(category).map_or(by_sev, |t| by_sev.max(*t))
    }

    /// Whether a breach of `deadline` escalates this case by itself.
    pub fn escalates_on(&self, c: &Case, deadline: Deadline) -> bool {
        let a = &self.auto;
        a.enabled
            && a.on.contains(&deadline)
            && (a.severities.is_empty() || a.severities.contains(&c.severity))
            && (a.categories.is_empty() || a.categories.contains(&c.category))
            && next_tier(c.tier).is_some()
    }

    /// The tier above the case's and the unit there that takes it: the unit of the ladder's
    /// kind whose area is the case's town (for the town tier) or county (for the county tier).
    pub fn target<'a>(&self, c: &Case, units: impl IntoIterator<Item = &'a Unit>) -> Option<(Tier, UnitId)> {
        let tier = next_tier(c.tier)?;
        let (kind, level) = match tier {
            Tier::Town => (self.town_unit, RegionLevel::Town),
            Tier::County => (self.county_unit, RegionLevel::County),
            Tier::Village => return None,
        };
        let area = c.region.ancestor_at(level)?;
        let mut found: Vec<&Unit> = units.into_iter().filter(|u| u.kind == kind && u.region == area).collect();
        found.sort_by(|a, b| a.id.cmp(&b.id));
        found.first().map(|u| (tier, u.id.clone()))
    }
}

/// The tier above, if any.
pub fn next_tier(t: Tier) -> Option<Tier> {
    match t {
        Tier::Village => Some(Tier::Town),
        Tier::Town => Some(Tier::County),
        Tier::County => None,
    }
}

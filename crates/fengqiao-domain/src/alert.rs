//! Early warnings (预警): deterministic rules over the case data that raise alerts to the
//! supervisors over a place, and the alert's own small lifecycle
//! (open → acknowledged → closed, each step with who, when and a note).
//!
//! The rules are pure functions of facts the store reads at a time `now`:
//! - **same parties**: a person who is reporter or party in ≥ `parties_min_cases` dispute cases
//!   created in the last `parties_window_days` days;
//! - **overdue cluster**: ≥ `overdue_min_cases` open cases past their handling deadline in one
//!   village (a grid's cases count for its village);
//! - **category burst**: cases of one category in one town over the last 7 days ≥
//!   max(`burst_min_count`, `burst_factor` × the weekly mean over the 8 weeks before).
//!
//! Each alert has a stable dedup key (rule, subject, window) so one condition raises one
//! alert while it is open or acknowledged; after it is closed the same condition may raise a
//! new one.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::clock::DAY_MS;
use crate::{Actor, DomainError, RegionCode, RegionLevel, Role, Timestamp};

/// Weeks of baseline behind a burst.
pub const BASELINE_WEEKS: i64 = 8;
/// The burst window.
pub const BURST_DAYS: i64 = 7;
/// The longest note on an acknowledgement or closure.
pub const MAX_NOTE: usize = 2000;

/// The thresholds (the `[warnings]` section of the configuration).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WarningRules {
    pub parties_min_cases: u32,
    pub parties_window_days: u32,
    pub overdue_min_cases: u32,
    pub burst_min_count: u32,
    pub burst_factor: f64,
    /// Reach: a grid with at least this many residents and no report in the period is silent.
    pub silent_min_population: u32,
    /// Minutes between evaluations in the scheduler (0: never).
    pub every_minutes: u32,
}

impl Default for WarningRules {
    fn default() -> Self {
        WarningRules {
            parties_min_cases: 3,
            parties_window_days: 30,
            overdue_min_cases: 3,
            burst_min_count: 5,
            burst_factor: 2.0,
            silent_min_population: 500,
            every_minutes: 60,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    SameParties,
    OverdueCluster,
    CategoryBurst,
}

impl AlertKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::SameParties => "same_parties",
            AlertKind::OverdueCluster => "overdue_cluster",
            AlertKind::CategoryBurst => "category_burst",
        }
    }
    pub fn parse(s: &str) -> Option<AlertKind> {
        [AlertKind::SameParties, AlertKind::OverdueCluster, AlertKind::CategoryBurst].into_iter().find(|k| k.as_str() == s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertStatus {
    Open,
    Acknowledged,
    Closed,
}

impl AlertStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertStatus::Open => "open",
            AlertStatus::Acknowledged => "acknowledged",
            AlertStatus::Closed => "closed",
        }
    }
    pub fn parse(s: &str) -> Option<AlertStatus> {
        [AlertStatus::Open, AlertStatus::Acknowledged, AlertStatus::Closed].into_iter().find(|k| k.as_str() == s)
    }
}

/// Why an alert was raised: the cases behind it, the count against its threshold, and for a
/// burst the baseline it rose above.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    pub case_ids: Vec<i64>,
    pub count: u32,
    pub threshold: f64,
    #[serde(default)]
    pub baseline: Option<f64>,
    #[serde(default)]
    pub person_id: Option<i64>,
    #[serde(default)]
    pub category: Option<String>,
    pub window_days: u32,
}

/// Who took a step, when, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub by: String,
    pub at: Timestamp,
    pub note: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// 0 until stored.
    pub id: i64,
    pub kind: AlertKind,
    /// The place: the person's latest case's village, the village, or the town.
    pub region: RegionCode,
    pub dedup_key: String,
    pub summary: String,
    pub evidence: Evidence,
    pub status: AlertStatus,
    pub raised_at: Timestamp,
    #[serde(default)]
    pub acknowledged: Option<Step>,
    #[serde(default)]
    pub closed: Option<Step>,
    /// The inbox recipients told when it was raised.
    #[serde(default)]
    pub recipients: Vec<String>,
    pub version: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum AlertCommand {
    Acknowledge { note: String },
    Close { note: String },
}

impl Alert {
    /// Applies a command: only a supervisor or administrator whose jurisdiction covers the
    /// alert's place may act; acknowledging needs an open alert, closing one not yet closed.
    /// Returns the event's name.
    pub fn act(&mut self, actor: &Actor, cmd: &AlertCommand, now: Timestamp) -> Result<&'static str, DomainError> {
        match actor {
            Actor::System { .. } => {}
            Actor::User { role: Role::Supervisor | Role::Admin, jurisdiction, .. } if jurisdiction.contains(&self.region) => {}
            _ => return Err(DomainError::Forbidden("only a supervisor over the place may act on its alerts".into())),
        }
        let (note, command) = match cmd {
            AlertCommand::Acknowledge { note } => (note, "acknowledge"),
            AlertCommand::Close { note } => (note, "close"),
        };
        let note = note.trim();
        if note.chars().count() > MAX_NOTE {
            return Err(DomainError::invalid("note", format!("at most {MAX_NOTE} characters")));
        }
        if matches!(cmd, AlertCommand::Close { .. }) && note.is_empty() {
            return Err(DomainError::invalid("note", "say how the alert was dealt with"));
        }
        let step = Step { by: actor.label(), at: now, note: note.to_string() };
        let event = match (cmd, self.status) {
            (AlertCommand::Acknowledge { .. }, AlertStatus::Open) => {
                self.status = AlertStatus::Acknowledged;
                self.acknowledged = Some(step);
                "alert_acknowledged"
            }
            (AlertCommand::Close { .. }, AlertStatus::Open | AlertStatus::Acknowledged) => {
                self.status = AlertStatus::Closed;
                self.closed = Some(step);
                "alert_closed"
            }
            _ => return Err(DomainError::IllegalTransition { command, status: self.status.as_str() }),
        };
        self.version += 1;
        Ok(event)
    }
}

/// A person's part in a dispute case.
#[derive(Debug, Clone, PartialEq)]
pub struct PartyFact {
    pub person_id: i64,
    pub case_id: i64,
    pub region: RegionCode,
    pub created_at: Timestamp,
}

/// An open case past its handling deadline.
#[derive(Debug, Clone, PartialEq)]
pub struct OverdueFact {
    pub case_id: i64,
    pub region: RegionCode,
}

/// A case created in the burst window or its baseline.
#[derive(Debug, Clone, PartialEq)]
pub struct CategoryFact {
    pub case_id: i64,
    pub region: RegionCode,
    pub category: String,
    pub created_at: Timestamp,
}

/// What the store reads for one evaluation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AlertFacts {
    /// Dispute cases created in `(now − parties window, now]`.
    pub parties: Vec<PartyFact>,
    pub overdue: Vec<OverdueFact>,
    /// Cases created in `(now − (8 weeks + 7 days), now]`.
    pub categories: Vec<CategoryFact>,
}

impl WarningRules {
    /// Where the parties rule starts looking.
    pub fn parties_since(&self, now: Timestamp) -> Timestamp {
        now.plus_ms(-(self.parties_window_days as i64) * DAY_MS)
    }
    /// Where the burst's baseline starts.
    pub fn burst_since(&self, now: Timestamp) -> Timestamp {
        now.plus_ms(-(BASELINE_WEEKS * 7 + BURST_DAYS) * DAY_MS)
    }

    /// The alerts the facts call for at `now`, in a stable order (kind, then dedup key).
    /// Not yet stored: the store drops those whose dedup key is already open.
    pub fn evaluate(&self, now: Timestamp, facts: &AlertFacts) -> Vec<Alert> {
        let mut out = Vec::new();
        let new = |kind: AlertKind, region: RegionCode, dedup_key: String, summary: String, evidence: Evidence| Alert {
            id: 0,
            kind,
            region,
            dedup_key,
            summary,
            evidence,
            status: AlertStatus::Open,
            raised_at: now,
            acknowledged: None,
            closed: None,
            recipients: vec![],
            version: 1,
        };

        // The same parties again and again.
        let since = self.parties_since(now);
        let mut by_person: BTreeMap<i64, Vec<&PartyFact>> = BTreeMap::new();
        for p in facts.parties.iter().filter(|p| p.created_at > since && p.created_at <= now) {
            by_person.entry(p.person_id).or_default().push(p);
        }
        for (person, mut list) in by_person {
            list.sort_by_key(|p| (p.created_at, p.case_id));
            list.dedup_by_key(|p| p.case_id);
            if list.len() < self.parties_min_cases.max(1) as usize {
                continue;
            }
            let last = list.last().expect("not empty");
            let region = last.region.ancestor_at(RegionLevel::Village).unwrap_or_else(|| last.region.clone());
            let n = list.len() as u32;
            out.push(new(
                AlertKind::SameParties,
                region,
                format!("same_parties:person:{person}:{}d", self.parties_window_days),
                format!(
                    "同一当事人{}天内{}起纠纷 The same person in {n} disputes within {} days",
                    self.parties_window_days, n, self.parties_window_days
                ),
                Evidence {
                    case_ids: list.iter().map(|p| p.case_id).collect(),
                    count: n,
                    threshold: self.parties_min_cases as f64,
                    baseline: None,
                    person_id: Some(person),
                    category: None,
                    window_days: self.parties_window_days,
                },
            ));
        }

        // Overdue cases gathering in one village.
        let mut by_village: BTreeMap<RegionCode, BTreeSet<i64>> = BTreeMap::new();
        for o in &facts.overdue {
            if let Some(v) = o.region.ancestor_at(RegionLevel::Village) {
                by_village.entry(v).or_default().insert(o.case_id);
            }
        }
        for (village, ids) in by_village {
            if ids.len() < self.overdue_min_cases.max(1) as usize {
                continue;
            }
            let n = ids.len() as u32;
            out.push(new(
                AlertKind::OverdueCluster,
                village.clone(),
                format!("overdue_cluster:region:{village}"),
                format!("{n}起案件超期未办结 {n} open cases past their handling deadline"),
                Evidence {
                    case_ids: ids.into_iter().collect(),
                    count: n,
                    threshold: self.overdue_min_cases as f64,
                    baseline: None,
                    person_id: None,
                    category: None,
                    window_days: 0,
                },
            ));
        }

        // A category bursting in a town.
        let recent_from = now.plus_ms(-BURST_DAYS * DAY_MS);
        let base_from = self.burst_since(now);
        let mut recent: BTreeMap<(RegionCode, String), Vec<i64>> = BTreeMap::new();
        let mut baseline: BTreeMap<(RegionCode, String), u32> = BTreeMap::new();
        for c in &facts.categories {
            let Some(town) = c.region.ancestor_at(RegionLevel::Town) else { continue };
            let key = (town, c.category.clone());
            if c.created_at > recent_from && c.created_at <= now {
                recent.entry(key).or_default().push(c.case_id);
            } else if c.created_at > base_from && c.created_at <= recent_from {
                *baseline.entry(key).or_default() += 1;
            }
        }
        for (key, mut ids) in recent {
            let mean = baseline.get(&key).copied().unwrap_or(0) as f64 / BASELINE_WEEKS as f64;
            let threshold = (self.burst_min_count as f64).max(self.burst_factor * mean);
            let n = ids.len() as u32;
            if (n as f64) < threshold || n == 0 {
                continue;
            }
            ids.sort_unstable();
            let (town, category) = key;
            out.push(new(
                AlertKind::CategoryBurst,
                town.clone(),
                format!("category_burst:region:{town}:{category}:{BURST_DAYS}d"),
                format!("{category}类案件7天内{n}起，高于基线 {category}: {n} cases in 7 days, above the weekly mean {mean:.2}"),
                Evidence {
                    case_ids: ids,
                    count: n,
                    threshold,
                    baseline: Some(mean),
                    person_id: None,
                    category: Some(category),
                    window_days: BURST_DAYS as u32,
                },
            ));
        }
        out.sort_by(|a, b| (a.kind, &a.dedup_key).cmp(&(b.kind, &b.dedup_key)));
        out
    }
}

/// Counts of alerts in a period, for the figures.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertCounts {
    /// Raised in the period.
    pub raised: i64,
    /// Closed in the period.
    pub closed: i64,
    /// Open or acknowledged now.
    pub open: i64,
    /// Of those, not yet acknowledged.
    pub unacknowledged: i64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::UnitId;

    const NOW: Timestamp = Timestamp(1_767_225_600_000 + 100 * DAY_MS);
    fn rc(s: &str) -> RegionCode {
        RegionCode::parse(s).unwrap()
    }
    fn days_ago(d: f64) -> Timestamp {
        NOW.plus_ms(-(d * DAY_MS as f64) as i64)
    }

    #[test]
    fn same_parties_fires_at_the_threshold_only_within_the_window() {
        let r = WarningRules::default();
        let mut f = AlertFacts::default();
        for (i, d) in [1.0, 10.0, 40.0].iter().enumerate() {
            f.parties.push(PartyFact { person_id: 7, case_id: i as i64 + 1, region: rc("330681101001001"), created_at: days_ago(*d) });
        }
        assert!(r.evaluate(NOW, &f).is_empty(), "the third case is outside 30 days");
        f.parties.push(PartyFact { person_id: 7, case_id: 9, region: rc("330681101001"), created_at: days_ago(29.9) });
        let a = r.evaluate(NOW, &f);
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].evidence.case_ids, [9, 2, 1]);
        assert_eq!(a[0].dedup_key, "same_parties:person:7:30d");
        assert_eq!(a[0].region.as_str(), "330681101001");
    }

    #[test]
    fn overdue_cluster_counts_by_village() {
        let r = WarningRules::default();
        let f = AlertFacts {
            overdue: vec![
                OverdueFact { case_id: 1, region: rc("330681101001") },
                OverdueFact { case_id: 2, region: rc("330681101001002") },
                OverdueFact { case_id: 3, region: rc("330681101002") },
            ],
            ..Default::default()
        };
        assert!(r.evaluate(NOW, &f).is_empty());
        let f2 = AlertFacts { overdue: [f.overdue.clone(), vec![OverdueFact { case_id: 4, region: rc("330681101001") }]].concat(), ..f };
        let a = r.evaluate(NOW, &f2);
        assert_eq!(a.len(), 1);
        assert_eq!(
            (a[0].kind, a[0].region.as_str(), a[0].evidence.case_ids.clone()),
            (AlertKind::OverdueCluster, "330681101001", vec![1, 2, 4])
        );
    }

    #[test]
    fn burst_needs_both_the_minimum_and_the_factor() {
        let r = WarningRules::default();
        let cat =
            |id: i64, d: f64| CategoryFact { case_id: id, region: rc("330681101001"), category: "noise".into(), created_at: days_ago(d) };
        // 5 in the last week, a baseline of 24 over 8 weeks (mean 3): 5 < 2 × 3.
        let mut f = AlertFacts::default();
        for i in 0..5 {
            f.categories.push(cat(i, 1.0 + i as f64));
        }
        for i in 0..24 {
            f.categories.push(cat(100 + i, 8.0 + i as f64 * 2.0));
        }
        assert!(r.evaluate(NOW, &f).is_empty());
        f.categories.push(cat(5, 0.5));
        let a = r.evaluate(NOW, &f);
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].evidence.baseline, Some(3.0));
        assert_eq!(a[0].evidence.threshold, 6.0);
        assert_eq!(a[0].region.as_str(), "330681101000");
        assert_eq!(a[0].evidence.case_ids, [0, 1, 2, 3, 4, 5]);
        // Without a baseline the minimum rules.
        let f = AlertFacts { categories: (0..4).map(|i| cat(i, 1.0)).collect(), ..Default::default() };
        assert!(r.evaluate(NOW, &f).is_empty());
    }

    #[test]
    fn lifecycle_steps_and_who_may_take_them() {
        let rules = WarningRules::default();
        let f =
            AlertFacts { overdue: (1..=3).map(|i| OverdueFact { case_id: i, region: rc("330681101001") }).collect(), ..Default::default() };
        let mut a = rules.evaluate(NOW, &f).remove(0);
        let sup_b = Actor::User { id: "b".into(), role: Role::Supervisor, unit: None, jurisdiction: rc("330681102000") };
        let handler = Actor::User { id: "h".into(), role: Role::Handler, unit: Some(UnitId("u".into())), jurisdiction: rc("330681101001") };
        let sup = Actor::User { id: "s".into(), role: Role::Supervisor, unit: None, jurisdiction: rc("330681000000") };
        let ack = AlertCommand::Acknowledge { note: "在办".into() };
        assert!(matches!(a.act(&sup_b, &ack, NOW), Err(DomainError::Forbidden(_))));
        assert!(matches!(a.act(&handler, &ack, NOW), Err(DomainError::Forbidden(_))));
        assert!(matches!(a.act(&sup, &AlertCommand::Close { note: " ".into() }, NOW), Err(DomainError::Invalid(_))));
        assert_eq!(a.status, AlertStatus::Open);
        assert_eq!(a.act(&sup, &ack, NOW).unwrap(), "alert_acknowledged");
        assert!(matches!(a.act(&sup, &ack, NOW), Err(DomainError::IllegalTransition { .. })));
        assert_eq!(a.act(&sup, &AlertCommand::Close { note: "已督办".into() }, NOW).unwrap(), "alert_closed");
        assert_eq!((a.status, a.version, a.closed.as_ref().unwrap().by.as_str()), (AlertStatus::Closed, 3, "user:s"));
        assert!(a.act(&sup, &AlertCommand::Close { note: "x".into() }, NOW).is_err());
    }

    proptest::proptest! {
        /// Random commands by random actors: a refusal changes nothing; a success moves the
        /// status forward only, bumps the version by one and records who and when.
        #[test]
        fn the_lifecycle_only_moves_forward(steps in proptest::collection::vec((0usize..4, 0usize..2, 0usize..3), 0..12)) {
            let rules = WarningRules::default();
            let f = AlertFacts { overdue: (1..=3).map(|i| OverdueFact { case_id: i, region: rc("330681101001") }).collect(), ..Default::default() };
            let mut a = rules.evaluate(NOW, &f).remove(0);
            let actors = [
                Actor::User { id: "s".into(), role: Role::Supervisor, unit: None, jurisdiction: rc("330681000000") },
                Actor::User { id: "a".into(), role: Role::Admin, unit: None, jurisdiction: rc("330681101000") },
                Actor::User { id: "b".into(), role: Role::Supervisor, unit: None, jurisdiction: rc("330681102000") },
                Actor::User { id: "h".into(), role: Role::Handler, unit: Some(UnitId("u".into())), jurisdiction: rc("330681101001") },
            ];
            let rank = |s: AlertStatus| match s { AlertStatus::Open => 0, AlertStatus::Acknowledged => 1, AlertStatus::Closed => 2 };
            for (i, (who, what, note)) in steps.into_iter().enumerate() {
                let note = ["", " ", "已处置"][note].to_string();
                let cmd = if what == 0 { AlertCommand::Acknowledge { note } } else { AlertCommand::Close { note } };
                let before = a.clone();
                let at = NOW.plus_ms(i as i64);
                match a.act(&actors[who], &cmd, at) {
                    Err(_) => proptest::prop_assert_eq!(&a, &before),
                    Ok(_) => {
                        proptest::prop_assert!(who < 2, "only supervisors over the place act");
                        proptest::prop_assert!(rank(a.status) > rank(before.status));
                        proptest::prop_assert_eq!(a.version, before.version + 1);
                        let step = if a.status == AlertStatus::Closed { a.closed.as_ref() } else { a.acknowledged.as_ref() };
                        proptest::prop_assert_eq!(step.map(|s| (s.by.clone(), s.at)), Some((actors[who].label(), at)));
                        proptest::prop_assert!(a.status != AlertStatus::Closed || !a.closed.as_ref().unwrap().note.is_empty());
                    }
                }
            }
        }
    }
}

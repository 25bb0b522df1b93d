//! Early warnings (预警): deterministic rules over the case data that raise alerts to the
//! supervisors over a place, and the alert's own small lifecycle
//! (open → acknowledged → closed, each step with who, when and a note).
//!
//! The rules are pure functions of facts the store reads at a time `now`
//! ([`WarningRules::evaluate`], run by the hourly evaluation):
//! - **same parties**: a person who is reporter or party in ≥ `parties_min_cases` dispute cases
//!   created in the last `parties_window_days` days;
//! - **overdue cluster**: ≥ `overdue_min_cases` open cases past their handling deadline in one
//!   village (a grid's cases count for its village);
//!
//! and of an analytics run ([`WarningRules::perception_alerts`], raised when a run finishes;
//! the statistics are in [`crate::perception`]):
//! - **emerging hot spot**: a village whose emerging hot spot pattern over the run's weeks is a
//!   new, consecutive or intensifying hot spot, and whose own count in the last 7 days is above
//!   its weekly mean before and at least `hotspot_min_cases` (a quiet neighbour of a growing
//!   cluster is in the hot spot on the map, but is not alerted);
//! - **category burst** and **term burst**: a category, or a term of the cases' texts, in one
//!   town, whose count over the last 7 days `c` against the counts of the `burst_baseline_weeks`
//!   weeks before (mean `m`, sum `S`, `k` weeks) has `c ≥ burst_min_count`,
//!   `c ≥ burst_factor × m` and `P(X ≥ c) < burst_alpha` for `X ~ Poisson((S + 1)/k)`;
//! - **rising severity**: a town whose share of serious and major cases over the last
//!   `severity_recent_weeks` weeks is above its share over the run's earlier weeks by the
//!   one-sided two-proportion z test at `severity_alpha`, with at least
//!   `severity_min_cases` serious or major cases in the recent weeks.
//! - **scan cluster**: a cluster of the prospective space–time scan with a Monte Carlo p-value
//!   of at most `scan_alpha` and at least `scan_min_cases` cases, raised at the most local
//!   region holding all its villages (their town, else the county).
//!
//! Each alert has a stable dedup key (rule, subject, window) so one condition raises one
//! alert while it is open or acknowledged; after it is closed the same condition may raise a
//! new one.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::clock::DAY_MS;
use crate::perception::{ALERTING_PATTERNS, PerceptionRun, TopicKind};
use crate::{Actor, DomainError, RegionCode, RegionLevel, Role, Timestamp};

/// The burst window: the latest slice of an analytics run.
pub const BURST_DAYS: i64 = crate::perception::SLICE_DAYS;
/// The longest note on an acknowledgement or closure.
pub const MAX_NOTE: usize = 2000;

/// The thresholds (the `[warnings]` section of the configuration).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WarningRules {
    pub parties_min_cases: u32,
    pub parties_window_days: u32,
    pub overdue_min_cases: u32,
    /// A burst: at least this many cases in the last 7 days…
    pub burst_min_count: u32,
    /// …at least this many times the baseline's weekly mean…
    pub burst_factor: f64,
    /// …and a Poisson tail probability below this.
    pub burst_alpha: f64,
    /// Weeks of baseline before the last 7 days (fewer when the run has fewer weeks).
    pub burst_baseline_weeks: u32,
    /// An emerging hot spot: at least this many cases in the village in the last 7 days.
    pub hotspot_min_cases: u32,
    /// Rising severity: the recent weeks compared with the run's earlier ones…
    pub severity_recent_weeks: u32,
    /// …with at least this many serious or major cases in them…
    pub severity_min_cases: u32,
    /// …and a one-sided two-proportion z test below this.
    pub severity_alpha: f64,
    /// A scan cluster: a p-value at most this…
    pub scan_alpha: f64,
    /// …and at least this many cases in the cluster's window.
    pub scan_min_cases: u32,
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
            burst_alpha: 0.001,
            burst_baseline_weeks: 8,
            hotspot_min_cases: 5,
            severity_recent_weeks: 4,
            severity_min_cases: 3,
            severity_alpha: 0.01,
            scan_alpha: 0.05,
            scan_min_cases: 5,
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
    TermBurst,
    EmergingHotspot,
    RisingSeverity,
    ScanCluster,
}

impl AlertKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::SameParties => "same_parties",
            AlertKind::OverdueCluster => "overdue_cluster",
            AlertKind::CategoryBurst => "category_burst",
            AlertKind::TermBurst => "term_burst",
            AlertKind::EmergingHotspot => "emerging_hotspot",
            AlertKind::RisingSeverity => "rising_severity",
            AlertKind::ScanCluster => "scan_cluster",
        }
    }
    pub const ALL: [AlertKind; 7] = [
        AlertKind::SameParties,
        AlertKind::OverdueCluster,
        AlertKind::CategoryBurst,
        AlertKind::TermBurst,
        AlertKind::EmergingHotspot,
        AlertKind::RisingSeverity,
        AlertKind::ScanCluster,
    ];
    pub fn parse(s: &str) -> Option<AlertKind> {
        AlertKind::ALL.into_iter().find(|k| k.as_str() == s)
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
/// burst the baseline it rose above; for the analytics rules the statistics behind it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
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
    /// A term burst's term.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub term: Option<String>,
    /// An emerging hot spot's pattern (`new_hot_spot`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    /// The statistics behind an analytics alert by name (`z`, `p`, `q`, `share`, …).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub figures: BTreeMap<String, f64>,
    /// Counts per weekly slice, oldest first, when the rule looked at a series.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub series: Vec<u32>,
    /// The places behind the alert when they are several (a scan cluster's villages, the
    /// centre first).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub regions: Vec<RegionCode>,
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

/// What the store reads for one evaluation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AlertFacts {
    /// Dispute cases created in `(now − parties window, now]`.
    pub parties: Vec<PartyFact>,
    pub overdue: Vec<OverdueFact>,
}

impl WarningRules {
    /// Where the parties rule starts looking.
    pub fn parties_since(&self, now: Timestamp) -> Timestamp {
        now.plus_ms(-(self.parties_window_days as i64) * DAY_MS)
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
                    ..Default::default()
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
                    ..Default::default()
                },
            ));
        }

        out.sort_by(|a, b| (a.kind, &a.dedup_key).cmp(&(b.kind, &b.dedup_key)));
        out
    }
}

impl WarningRules {
    /// The alerts an analytics run calls for, in a stable order (kind, then dedup key); the
    /// run has already applied the thresholds (bursts and severity rises are listed only when
    /// they pass). Not yet stored: the store drops those whose dedup key is already live.
    ///
    /// A scan cluster is keyed by its centre and the ISO week its window starts in: the
    /// run's weekly slices end at the run, so the window's start moves by up to a week between
    /// runs while the cluster goes on, and a daily key would raise it again every day.
    pub fn perception_alerts(&self, run: &PerceptionRun) -> Vec<Alert> {
        let now = run.at;
        let mut out = Vec::new();
        for v in &run.villages {
            let latest = v.counts.last().copied().unwrap_or(0);
            let earlier = &v.counts[..v.counts.len().saturating_sub(1)];
            let mean = if earlier.is_empty() { 0.0 } else { earlier.iter().map(|&c| c as f64).sum::<f64>() / earlier.len() as f64 };
            // Gi* looks at a neighbourhood: a quiet village next to a growing cluster is in the
            // hot spot too. It is shown on the map; the alert goes to the places that grew.
            if !ALERTING_PATTERNS.contains(&v.pattern.as_str()) || latest as f64 <= mean || latest < self.hotspot_min_cases {
                continue;
            }
            let mut figures = BTreeMap::from([
                ("z".to_string(), v.z),
                ("trend_tau".to_string(), v.trend_tau),
                ("trend_p".to_string(), v.trend_p),
                ("rate_per_1000".to_string(), v.rate_per_1000),
                ("eb_rate_per_1000".to_string(), v.eb_rate_per_1000),
            ]);
            if let Some(q) = v.q {
                figures.insert("q".into(), q);
            }
            let pattern_zh = match v.pattern.as_str() {
                "new_hot_spot" => "新热点",
                "consecutive_hot_spot" => "连续热点",
                _ => "加剧热点",
            };
            out.push(new_alert(
                now,
                AlertKind::EmergingHotspot,
                v.region.clone(),
                format!("emerging_hotspot:region:{}", v.region),
                format!(
                    "{}成为{pattern_zh}，近7天{latest}起 {} is a {}: {latest} cases in the last 7 days",
                    v.name,
                    v.name_en.as_deref().unwrap_or(&v.name),
                    v.pattern.replace('_', " ")
                ),
                Evidence {
                    case_ids: v.case_ids.clone(),
                    count: latest,
                    threshold: 0.0,
                    baseline: Some(mean),
                    window_days: BURST_DAYS as u32,
                    pattern: Some(v.pattern.clone()),
                    figures,
                    series: v.counts.clone(),
                    ..Default::default()
                },
            ));
        }
        for t in &run.topics {
            let figures = BTreeMap::from([("p".to_string(), t.p), ("expected".to_string(), t.expected)]);
            let threshold = (self.burst_min_count as f64).max(self.burst_factor * t.baseline);
            let evidence = Evidence {
                case_ids: t.case_ids.clone(),
                count: t.count,
                threshold,
                baseline: Some(t.baseline),
                window_days: BURST_DAYS as u32,
                figures,
                series: t.series.clone(),
                ..Default::default()
            };
            let (n, mean, town) = (t.count, t.baseline, &t.town);
            let alert = match t.kind {
                TopicKind::Category => new_alert(
                    now,
                    AlertKind::CategoryBurst,
                    town.clone(),
                    format!("category_burst:region:{town}:{}:{BURST_DAYS}d", t.key),
                    format!("{0}类案件7天内{n}起，高于基线 {0}: {n} cases in 7 days, above the weekly mean {mean:.2}", t.key),
                    Evidence { category: Some(t.key.clone()), ..evidence },
                ),
                TopicKind::Term => new_alert(
                    now,
                    AlertKind::TermBurst,
                    town.clone(),
                    format!("term_burst:region:{town}:{}:{BURST_DAYS}d", t.key),
                    format!(
                        "“{0}”{1}7天内出现在{n}起案件中，高于基线 \"{0}\"{2}: in {n} cases in 7 days, above the weekly mean {mean:.2}",
                        t.key,
                        if t.related.is_empty() { String::new() } else { format!("（及{}）", t.related.join("、")) },
                        if t.related.is_empty() { String::new() } else { format!(" (with {})", t.related.join(", ")) },
                    ),
                    Evidence { term: Some(t.key.clone()), ..evidence },
                ),
            };
            out.push(alert);
        }
        for s in &run.severity {
            let figures = BTreeMap::from([
                ("recent_share".to_string(), s.recent_share),
                ("earlier_share".to_string(), s.earlier_share),
                ("z".to_string(), s.z),
                ("p".to_string(), s.p),
            ]);
            let (a, b) = (s.recent_share * 100.0, s.earlier_share * 100.0);
            out.push(new_alert(
                now,
                AlertKind::RisingSeverity,
                s.town.clone(),
                format!("rising_severity:region:{}", s.town),
                format!(
                    "近{w}周重大、较大案件占比{a:.0}%（此前{b:.0}%） serious and major cases: {a:.0}% of the last {w} weeks' cases, up from {b:.0}%",
                    w = self.severity_recent_weeks
                ),
                Evidence {
                    case_ids: s.case_ids.clone(),
                    count: s.recent_serious,
                    threshold: self.severity_min_cases as f64,
                    baseline: Some(s.earlier_share),
                    window_days: self.severity_recent_weeks * BURST_DAYS as u32,
                    figures,
                    ..Default::default()
                },
            ));
        }
        for c in &run.clusters {
            if c.p > self.scan_alpha || c.observed < self.scan_min_cases as u64 {
                continue;
            }
            let mut figures = BTreeMap::from([
                ("observed".to_string(), c.observed as f64),
                ("expected".to_string(), c.expected),
                ("llr".to_string(), c.llr),
                ("p".to_string(), c.p),
                ("recurrence_days".to_string(), c.recurrence_days),
                ("radius_m".to_string(), c.radius_m),
                ("villages".to_string(), c.villages.len() as f64),
            ]);
            if let Some(rr) = c.relative_risk {
                figures.insert("relative_risk".into(), rr);
            }
            let week = jiff::Timestamp::from_millisecond(c.start.0)
                .map(|t| {
                    let w = t.to_zoned(jiff::tz::TimeZone::UTC).date().iso_week_date();
                    format!("{}-W{:02}", w.year(), w.week())
                })
                .unwrap_or_else(|_| c.start.0.to_string());
            let days = (run.weeks.saturating_sub(c.start_slice)) * run.slice_days;
            let rr = c.relative_risk.map(|r| format!("{r:.1}")).unwrap_or_else(|| "∞".into());
            let n = c.villages.len();
            out.push(new_alert(
                now,
                AlertKind::ScanCluster,
                c.region.clone(),
                format!("scan_cluster:region:{}:{week}", c.center),
                format!(
                    "以{}为中心的{n}个村近{days}天{obs}起，预期{exp:.1}（相对危险度{rr}，p={p}） {n} villages around {}: {obs} cases in {days} days, {exp:.1} expected (RR {rr}, p = {p})",
                    c.center_name,
                    c.center_name_en.as_deref().unwrap_or(&c.center_name),
                    obs = c.observed,
                    exp = c.expected,
                    p = c.p,
                ),
                Evidence {
                    case_ids: c.case_ids.clone(),
                    count: c.observed.min(u32::MAX as u64) as u32,
                    threshold: self.scan_min_cases as f64,
                    baseline: Some(c.expected),
                    window_days: days,
                    figures,
                    series: c.series.clone(),
                    regions: c.villages.clone(),
                    ..Default::default()
                },
            ));
        }
        out.sort_by(|a, b| (a.kind, &a.dedup_key).cmp(&(b.kind, &b.dedup_key)));
        out
    }
}

fn new_alert(now: Timestamp, kind: AlertKind, region: RegionCode, dedup_key: String, summary: String, evidence: Evidence) -> Alert {
    Alert {
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
    fn an_analytics_run_raises_its_findings_with_their_evidence() {
        use crate::perception::{PerceptionRun, ScanCluster, SeverityRise, Topic, TopicKind, VillageSpot};
        let spot = |code: &str, pattern: &str| VillageSpot {
            region: rc(code),
            name: "枫溪村".into(),
            name_en: Some("Fengxi".into()),
            population: 1000,
            counts: vec![1, 1, 2, 6],
            rate_per_1000: 6.0,
            eb_rate_per_1000: 5.0,
            z: 3.2,
            p_sim: Some(0.001),
            q: Some(0.01),
            class: 3,
            pattern: pattern.into(),
            trend_tau: 0.8,
            trend_p: 0.01,
            case_ids: vec![7, 8],
        };
        let from = NOW.plus_ms(-28 * DAY_MS + 1);
        let scan = |rank: u32, p: f64, observed: u64| ScanCluster {
            rank,
            model: "poisson".into(),
            region: rc("330681101000"),
            center: rc("330681101001"),
            center_name: "枫溪村".into(),
            center_name_en: Some("Fengxi".into()),
            center_lon: 120.0,
            center_lat: 29.0,
            villages: vec![rc("330681101001"), rc("330681101002")],
            radius_m: 2000.0,
            start_slice: 2,
            start: from.plus_ms(14 * DAY_MS),
            end: NOW,
            observed,
            expected: 3.0,
            relative_risk: Some(3.5),
            llr: 6.0,
            p,
            recurrence_days: 7.0 / p,
            series: vec![1, 0, 5, 7],
            case_ids: vec![21, 22],
        };
        let run = PerceptionRun {
            at: NOW,
            from,
            weeks: 4,
            slice_days: 7,
            max_case_id: 9,
            cases: 10,
            permutations: 99,
            seed: 1,
            took_ms: 0,
            villages: vec![
                spot("330681101001", "new_hot_spot"),
                spot("330681101002", "persistent_hot_spot"),
                VillageSpot { counts: vec![2, 2, 2, 2], ..spot("330681101003", "consecutive_hot_spot") },
            ],
            topics: vec![Topic {
                town: rc("330681101000"),
                kind: TopicKind::Term,
                key: "噪音".into(),
                count: 6,
                baseline: 0.5,
                expected: 0.625,
                p: 1e-5,
                series: vec![1, 0, 6],
                case_ids: vec![1, 2, 3, 4, 5, 6],
                related: vec!["扰民".into()],
            }],
            severity: vec![SeverityRise {
                town: rc("330681102000"),
                recent_serious: 4,
                recent_total: 8,
                earlier_serious: 1,
                earlier_total: 20,
                recent_share: 0.5,
                earlier_share: 0.05,
                z: 2.9,
                p: 0.002,
                case_ids: vec![11, 12, 13, 14],
            }],
            towns: vec![],
            clusters: vec![
                scan(1, 0.002, 12),
                ScanCluster { center: rc("330681102001"), ..scan(2, 0.2, 9) },
                ScanCluster { center: rc("330681102002"), relative_risk: None, ..scan(3, 0.01, 4) },
            ],
            scan_replicates: 999,
            notes: vec![],
        };
        let a = WarningRules::default().perception_alerts(&run);
        let kinds: Vec<_> = a.iter().map(|x| (x.kind, x.dedup_key.as_str())).collect();
        assert_eq!(
            kinds,
            [
                (AlertKind::TermBurst, "term_burst:region:330681101000:噪音:7d"),
                (AlertKind::EmergingHotspot, "emerging_hotspot:region:330681101001"),
                (AlertKind::RisingSeverity, "rising_severity:region:330681102000"),
                (AlertKind::ScanCluster, "scan_cluster:region:330681101001:2026-W13"),
            ],
            "a persistent hot spot is known, not news; a neighbour that did not grow is not alerted; \
             a scan cluster needs its p-value and its cases"
        );
        let s = &a[3];
        assert_eq!((s.region.as_str(), s.evidence.count, s.evidence.window_days, s.evidence.regions.len()), ("330681101000", 12, 14, 2));
        assert_eq!(
            (s.evidence.figures["relative_risk"], s.evidence.figures["recurrence_days"], s.evidence.baseline),
            (3.5, 3500.0, Some(3.0))
        );
        assert!(s.summary.contains("近14天12起") && s.summary.contains("12 cases in 14 days"), "{}", s.summary);
        assert_eq!((a[0].evidence.term.as_deref(), a[0].evidence.count, a[0].evidence.threshold), (Some("噪音"), 6, 5.0));
        assert!(a[0].summary.contains("（及扰民）") && a[0].summary.contains("(with 扰民)"), "{}", a[0].summary);
        assert_eq!(a[1].evidence.pattern.as_deref(), Some("new_hot_spot"));
        assert_eq!((a[1].evidence.case_ids.clone(), a[1].evidence.series.clone()), (vec![7, 8], vec![1, 1, 2, 6]));
        assert_eq!(a[1].evidence.figures["q"], 0.01);
        assert_eq!((a[2].evidence.count, a[2].evidence.baseline), (4, Some(0.05)));
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

//! Perception (态势感知): what one analytics run over the case stream found, and the settings
//! of the run (`[analytics]`).
//!
//! The service computes a run from the store (case counts grouped in SQL by village, weekly
//! slice and category; the texts of the last weeks for terms) with the statistics of
//! `fengqiao-analysis`, stores it whole, and raises alerts from it
//! ([`crate::alert::WarningRules::perception_alerts`]). Pages and the API read the stored run,
//! filtered to the reader's jurisdiction.
//!
//! Time slices are weeks ending at the run's time: slice `t` of `T` covers
//! `[at + 1 ms − (T − t) weeks, at + 1 ms − (T − t − 1) weeks)`, so the last slice is the seven
//! days up to and including `at`.

use serde::{Deserialize, Serialize};

use crate::clock::DAY_MS;
use crate::{RegionCode, Timestamp};

/// Days in one time slice.
pub const SLICE_DAYS: i64 = 7;
/// Fewest slices a run may have: emerging hot spot categories mean little with fewer.
pub const MIN_WEEKS: u32 = 10;
/// Most case ids kept as the evidence of one finding (the count is always the full count).
pub const MAX_EVIDENCE_IDS: usize = 200;

/// The analytics run's settings (`[analytics]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AnalyticsConfig {
    /// Weekly slices in the space–time cube (at least 10).
    pub weeks: u32,
    /// Permutations for Gi*'s pseudo p-values.
    pub permutations: u32,
    /// Seed of the permutation table: the same data give the same p-values.
    pub seed: u64,
    /// Significance of a bin and of the trend in the emerging hot spot analysis.
    pub emerging_alpha: f64,
    /// Earlier slices in a bin's neighbourhood (ArcGIS's neighbourhood time step).
    pub time_window: u32,
    /// Re-run when cases have arrived since the last run, at most this often (0: never).
    pub every_minutes: u32,
    /// The local hour of the nightly full run (0–23).
    pub full_at_hour: u32,
    /// Shortest term, in characters, that counts as a topic.
    pub min_term_chars: u32,
    /// Monte Carlo replicates of the space–time scan (99–99999; 0 leaves the scan out).
    pub scan_replicates: u32,
}

impl Default for AnalyticsConfig {
    fn default() -> Self {
        AnalyticsConfig {
            weeks: 12,
            permutations: 9999,
            seed: 20_260_101,
            emerging_alpha: 0.05,
            time_window: 1,
            every_minutes: 15,
            full_at_hour: 3,
            min_term_chars: 2,
            scan_replicates: 999,
        }
    }
}

impl AnalyticsConfig {
    /// Every problem with the settings, by field.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if !(MIN_WEEKS..=104).contains(&self.weeks) {
            out.push(format!("analytics.weeks: {} is not between {MIN_WEEKS} and 104", self.weeks));
        }
        if !(99..=99_999).contains(&self.permutations) {
            out.push(format!("analytics.permutations: {} is not between 99 and 99999", self.permutations));
        }
        if !(self.emerging_alpha > 0.0 && self.emerging_alpha < 1.0) {
            out.push(format!("analytics.emerging_alpha: {} is not in (0, 1)", self.emerging_alpha));
        }
        if self.time_window >= self.weeks {
            out.push(format!("analytics.time_window: {} must be less than weeks", self.time_window));
        }
        if self.full_at_hour > 23 {
            out.push(format!("analytics.full_at_hour: {} is not an hour (0–23)", self.full_at_hour));
        }
        if self.scan_replicates != 0 && !(99..=99_999).contains(&self.scan_replicates) {
            out.push(format!("analytics.scan_replicates: {} is neither 0 nor between 99 and 99999", self.scan_replicates));
        }
        if self.min_term_chars == 0 {
            out.push("analytics.min_term_chars: at least 1".into());
        }
        out
    }

    /// Where the first slice of a run at `at` starts.
    pub fn cube_from(&self, at: Timestamp) -> Timestamp {
        at.plus_ms(1 - self.weeks as i64 * SLICE_DAYS * DAY_MS)
    }
}

/// One village in the run: its weekly counts, the hot spot statistics of the latest week, and
/// its emerging hot spot pattern over all the weeks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VillageSpot {
    pub region: RegionCode,
    pub name: String,
    #[serde(default)]
    pub name_en: Option<String>,
    pub population: u32,
    /// Cases per slice, oldest first (a grid's cases count for its village).
    pub counts: Vec<u32>,
    /// Cases per 1,000 residents in the latest slice.
    pub rate_per_1000: f64,
    /// The same, smoothed by empirical Bayes toward the county's rate.
    pub eb_rate_per_1000: f64,
    /// Gi* z of the smoothed rate in the latest slice (queen contiguity, binary weights).
    pub z: f64,
    /// Gi* pseudo p-value (the nearer tail) from the seeded permutations; `None` for a
    /// village without neighbours.
    #[serde(default)]
    pub p_sim: Option<f64>,
    /// The two-sided p-value `min(1, 2·p_sim)` adjusted by Benjamini–Hochberg over the villages.
    #[serde(default)]
    pub q: Option<f64>,
    /// +3/+2/+1: a hot spot at 99/95/90% confidence (on `q`); −3/−2/−1 a cold spot; 0 neither.
    pub class: i8,
    /// The emerging hot spot category (`new_hot_spot`, `intensifying_hot_spot`, …,
    /// `no_pattern`).
    pub pattern: String,
    /// Mann–Kendall τ and p of the village's Gi* z series.
    pub trend_tau: f64,
    pub trend_p: f64,
    /// The cases of the latest slice (at most [`MAX_EVIDENCE_IDS`]).
    pub case_ids: Vec<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TopicKind {
    Category,
    Term,
}

impl TopicKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TopicKind::Category => "category",
            TopicKind::Term => "term",
        }
    }
}

/// A category or term bursting in a town: its count in the latest slice significantly above
/// its own baseline (see [`crate::alert::WarningRules`] for the rule).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Topic {
    pub town: RegionCode,
    pub kind: TopicKind,
    /// The category code or the term.
    pub key: String,
    /// Cases in the latest slice.
    pub count: u32,
    /// Mean cases per slice over the baseline slices.
    pub baseline: f64,
    /// The Poisson mean tested against.
    pub expected: f64,
    /// `P(X ≥ count)`.
    pub p: f64,
    /// Counts per slice, the baseline's oldest first, the latest last.
    pub series: Vec<u32>,
    /// The cases of the latest slice (at most [`MAX_EVIDENCE_IDS`]).
    pub case_ids: Vec<i64>,
    /// Other bursting terms found in mostly the same cases (folded into this one, which has
    /// the smallest p-value): one matter, one topic.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub related: Vec<String>,
}

/// Share of a term's cases that must also carry a stronger term for it to be folded into it.
pub const FOLD_OVERLAP: f64 = 0.8;

/// A town's share of serious and major cases rising.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeverityRise {
    pub town: RegionCode,
    pub recent_serious: u32,
    pub recent_total: u32,
    pub earlier_serious: u32,
    pub earlier_total: u32,
    pub recent_share: f64,
    pub earlier_share: f64,
    pub z: f64,
    pub p: f64,
    /// The serious and major cases of the recent slices (at most [`MAX_EVIDENCE_IDS`]).
    pub case_ids: Vec<i64>,
}

/// A town's weekly counts, for the trend charts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TownTrend {
    pub town: RegionCode,
    pub counts: Vec<u32>,
    /// Of those, serious or major.
    pub serious: Vec<u32>,
}

/// Largest share of the population (or, under the permutation model, of the cases) inside a
/// scan circle, and of the run's weeks in a scan window: SaTScan's customary 50%.
pub const SCAN_MAX_FRACTION: f64 = 0.5;
/// Most clusters a run keeps: the most likely and the secondary ones.
pub const SCAN_MAX_CLUSTERS: usize = 10;

/// A cluster of the prospective space–time scan (Kulldorff): villages around a centre whose
/// cases over the last weeks, up to the run, are more than their expectation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScanCluster {
    /// 1 for the most likely cluster, then the secondary ones by decreasing likelihood ratio.
    pub rank: u32,
    /// `poisson` (against the villages' populations, adjusted for the county's weekly trend)
    /// or `permutation` (space–time permutation, when no village has a population).
    pub model: String,
    /// The most local region holding every village of the cluster: their town when they share
    /// one, else the county. Its alert goes there, and readers over it see the cluster.
    pub region: RegionCode,
    /// The village at the circle's centre.
    pub center: RegionCode,
    pub center_name: String,
    #[serde(default)]
    pub center_name_en: Option<String>,
    /// The centre's longitude and latitude (its boundary's centroid).
    pub center_lon: f64,
    pub center_lat: f64,
    /// The villages inside the circle, nearest first.
    pub villages: Vec<RegionCode>,
    /// From the centre to the farthest village inside, in metres.
    pub radius_m: f64,
    /// The first slice of the window (0-based) and its start; the window ends with the run.
    pub start_slice: u32,
    pub start: Timestamp,
    pub end: Timestamp,
    pub observed: u64,
    pub expected: f64,
    /// Inside over outside, each observed over expected; `None` when every case is inside.
    pub relative_risk: Option<f64>,
    pub llr: f64,
    /// Monte Carlo p-value: (1 + replicates at least as extreme) / (replicates + 1).
    pub p: f64,
    /// 1 / p in days: how often a cluster this strong turns up by chance alone.
    pub recurrence_days: f64,
    /// The cluster's villages' cases per slice, oldest first, over all the run's weeks.
    pub series: Vec<u32>,
    /// Cases of the window in the cluster's villages that the run read (at most
    /// [`MAX_EVIDENCE_IDS`]).
    pub case_ids: Vec<i64>,
}

/// One analytics run, stored whole.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PerceptionRun {
    pub at: Timestamp,
    /// The start of the first slice.
    pub from: Timestamp,
    pub weeks: u32,
    pub slice_days: u32,
    /// The newest case id when the run read the store: a later run is due once cases beyond it
    /// arrive.
    pub max_case_id: i64,
    /// Cases in the cube (all levels).
    pub cases: i64,
    pub permutations: u32,
    pub seed: u64,
    /// Wall time of the computation, for the operators.
    pub took_ms: u64,
    pub villages: Vec<VillageSpot>,
    pub topics: Vec<Topic>,
    pub severity: Vec<SeverityRise>,
    pub towns: Vec<TownTrend>,
    /// The space–time scan's clusters, significant or not, by rank (runs stored before the
    /// scan have none).
    #[serde(default)]
    pub clusters: Vec<ScanCluster>,
    /// Monte Carlo replicates of the scan (0: not scanned).
    #[serde(default)]
    pub scan_replicates: u32,
    /// Why part of the analysis was left out (no boundaries, no cases in the latest week…).
    pub notes: Vec<String>,
}

impl PerceptionRun {
    /// The run as a reader whose jurisdiction is `root` sees it: only places inside it.
    pub fn within(&self, root: &RegionCode) -> PerceptionRun {
        PerceptionRun {
            villages: self.villages.iter().filter(|v| root.contains(&v.region)).cloned().collect(),
            topics: self.topics.iter().filter(|t| root.contains(&t.town)).cloned().collect(),
            severity: self.severity.iter().filter(|s| root.contains(&s.town)).cloned().collect(),
            towns: self.towns.iter().filter(|t| root.contains(&t.town)).cloned().collect(),
            // A cluster is seen by the readers of its alert: those over its region.
            clusters: self.clusters.iter().filter(|c| root.contains(&c.region)).cloned().collect(),
            ..self.clone()
        }
    }

    /// The start of slice `t`.
    pub fn slice_start(&self, t: usize) -> Timestamp {
        self.from.plus_ms(t as i64 * self.slice_days as i64 * DAY_MS)
    }
}

/// Emerging patterns that raise an alert: a place becoming, or growing as, a hot spot.
pub const ALERTING_PATTERNS: [&str; 3] = ["new_hot_spot", "consecutive_hot_spot", "intensifying_hot_spot"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_checked() {
        assert!(AnalyticsConfig::default().problems().is_empty());
        let bad = AnalyticsConfig { weeks: 8, emerging_alpha: 0.0, full_at_hour: 24, ..Default::default() };
        let p = bad.problems();
        assert_eq!(p.len(), 3, "{p:?}");
        assert!(p[0].starts_with("analytics.weeks"));
    }

    #[test]
    fn the_last_slice_ends_with_the_run() {
        let c = AnalyticsConfig::default();
        let at = Timestamp(1_767_225_600_000);
        let from = c.cube_from(at);
        assert_eq!(from.plus_ms(12 * 7 * DAY_MS), at.plus_ms(1));
    }

    #[test]
    fn within_keeps_only_the_jurisdiction() {
        let rc = |s: &str| RegionCode::parse(s).unwrap();
        let topic = |town: &str| Topic {
            town: rc(town),
            kind: TopicKind::Term,
            key: "噪音".into(),
            count: 5,
            baseline: 0.0,
            expected: 0.125,
            p: 1e-6,
            series: vec![0, 5],
            case_ids: vec![1],
            related: vec![],
        };
        let run = PerceptionRun {
            at: Timestamp(0),
            from: Timestamp(0),
            weeks: 12,
            slice_days: 7,
            max_case_id: 0,
            cases: 0,
            permutations: 99,
            seed: 1,
            took_ms: 0,
            villages: vec![],
            topics: vec![topic("330681101000"), topic("330681102000")],
            severity: vec![],
            towns: vec![],
            clusters: vec![],
            scan_replicates: 0,
            notes: vec![],
        };
        assert_eq!(run.within(&rc("330681101000")).topics.len(), 1);
        assert_eq!(run.within(&rc("330681000000")).topics.len(), 2);
        assert!(run.within(&rc("330681103001")).topics.is_empty());
    }
}

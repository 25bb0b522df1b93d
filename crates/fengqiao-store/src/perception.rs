//! Perception in the running service: one analytics run over the case stream (hot spots of
//! the latest week, emerging hot spot patterns over the weeks, bursting categories and terms,
//! rising severity), stored whole and turned into alerts.
//!
//! The store counts the cases in SQL by (region, weekly slice, category) over the run's weeks
//! ([`crate::Store::case_cube`]) and reads the texts of the burst window and its baseline only
//! ([`crate::Store::case_texts`]); the statistics run on a blocking thread. A run is a pure
//! function of those rows, the regions and the settings, so the same data give the same run
//! (the permutation table is seeded).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use fengqiao_analysis::burst::{BurstRule, burst, proportion_rise};
use fengqiao_analysis::spatial::scan::{ScanError, ScanLocation, ScanModel, ScanOptions, prospective_scan};
use fengqiao_analysis::spatial::{PermutationTable, Transform, Weights, benjamini_hochberg, emerging_hot_spots, empirical_bayes, gi_star};
use fengqiao_analysis::text::Tokenizer;
use fengqiao_domain::alert::{Alert, WarningRules};
use fengqiao_domain::clock::DAY_MS;
use fengqiao_domain::geo::Point;
use fengqiao_domain::perception::{
    AnalyticsConfig, FOLD_OVERLAP, MAX_EVIDENCE_IDS, PerceptionRun, SCAN_MAX_CLUSTERS, SCAN_MAX_FRACTION, SLICE_DAYS, ScanCluster,
    SeverityRise, Topic, TopicKind, TownTrend, VillageSpot,
};
use fengqiao_domain::{Actor, DomainError, Region, RegionCode, RegionLevel, Role, Timestamp};

use crate::{CaseCube, CaseText, Scope, Service, StoreError};

/// What the run reads from the store.
pub struct RunInput<'a> {
    pub at: Timestamp,
    pub regions: Vec<&'a Region>,
    pub cube: &'a CaseCube,
    /// The cases of the text window (see [`text_window_slices`]).
    pub texts: &'a [CaseText],
}

/// How many of the last slices' texts a run reads: the burst baseline and the latest slice, or
/// the recent slices of the severity rule, whichever reach further back.
pub fn text_window_slices(cfg: &AnalyticsConfig, rules: &WarningRules) -> usize {
    let t = cfg.weeks as usize;
    let burst = baseline_weeks(cfg, rules) + 1;
    let severity = recent_weeks(cfg, rules);
    burst.max(severity).min(t)
}

fn baseline_weeks(cfg: &AnalyticsConfig, rules: &WarningRules) -> usize {
    (rules.burst_baseline_weeks as usize).clamp(1, cfg.weeks as usize - 1)
}

fn recent_weeks(cfg: &AnalyticsConfig, rules: &WarningRules) -> usize {
    (rules.severity_recent_weeks as usize).clamp(1, cfg.weeks as usize - 1)
}

fn evidence(mut ids: Vec<i64>) -> Vec<i64> {
    ids.sort_unstable();
    ids.dedup();
    ids.truncate(MAX_EVIDENCE_IDS);
    ids
}

/// Computes a run (no IO). `took_ms` is left 0 for the caller to fill.
pub fn compute(cfg: &AnalyticsConfig, rules: &WarningRules, input: &RunInput<'_>) -> PerceptionRun {
    let t = cfg.weeks as usize;
    let at = input.at;
    let from = cfg.cube_from(at);
    let slice_ms = SLICE_DAYS * DAY_MS;
    let slice_of = |ts: Timestamp| -> Option<usize> {
        let d = ts.0 - from.0;
        (d >= 0 && d < slice_ms * t as i64).then(|| (d / slice_ms) as usize)
    };
    let mut notes = Vec::new();

    // The sites: villages with residents (a rate needs a population), by code.
    let mut villages: Vec<&Region> = input.regions.iter().copied().filter(|r| r.level() == RegionLevel::Village).collect();
    villages.sort_by(|a, b| a.code.cmp(&b.code));
    let unpeopled = villages.iter().filter(|v| v.population == 0).count();
    if unpeopled > 0 {
        notes.push(format!("{unpeopled} villages without a population are left out of the hot spot analysis"));
    }
    villages.retain(|v| v.population > 0);
    let index: HashMap<&str, usize> = villages.iter().enumerate().map(|(i, v)| (v.code.as_str(), i)).collect();
    let mut towns: Vec<RegionCode> = input.regions.iter().filter(|r| r.level() == RegionLevel::Town).map(|r| r.code.clone()).collect();
    towns.sort();

    // Counts by village and slice, by town and slice (all and serious), by town, category and slice.
    let n = villages.len();
    let mut counts = vec![vec![0u32; n]; t];
    let mut town_counts: BTreeMap<RegionCode, (Vec<u32>, Vec<u32>)> = towns.iter().map(|c| (c.clone(), (vec![0; t], vec![0; t]))).collect();
    let mut categories: BTreeMap<(RegionCode, String), Vec<u32>> = BTreeMap::new();
    let mut cases = 0i64;
    for cell in &input.cube.cells {
        let s = cell.slice as usize;
        if s >= t {
            continue;
        }
        cases += cell.cases;
        let Ok(code) = RegionCode::parse(&cell.region) else { continue };
        if let Some(&i) = code.ancestor_at(RegionLevel::Village).and_then(|v| index.get(v.as_str()).copied()).as_ref() {
            counts[s][i] += cell.cases as u32;
        }
        if let Some(town) = code.ancestor_at(RegionLevel::Town) {
            let e = town_counts.entry(town.clone()).or_insert_with(|| (vec![0; t], vec![0; t]));
            e.0[s] += cell.cases as u32;
            e.1[s] += cell.serious as u32;
            categories.entry((town, cell.category.clone())).or_insert_with(|| vec![0; t])[s] += cell.cases as u32;
        }
    }

    // The cases of the latest slice by village (the evidence of a hot spot).
    let latest_from = from.plus_ms((t as i64 - 1) * slice_ms);
    let mut latest_ids: Vec<Vec<i64>> = vec![Vec::new(); n];
    for c in input.texts.iter().filter(|c| c.created_at >= latest_from) {
        if let Some(&i) =
            RegionCode::parse(&c.region).ok().and_then(|r| r.ancestor_at(RegionLevel::Village)).and_then(|v| index.get(v.as_str()))
        {
            latest_ids[i].push(c.id);
        }
    }

    let mut spots: Vec<VillageSpot> = villages
        .iter()
        .enumerate()
        .map(|(i, v)| VillageSpot {
            region: v.code.clone(),
            name: v.name.clone(),
            name_en: v.name_en.clone(),
            population: v.population,
            counts: (0..t).map(|s| counts[s][i]).collect(),
            rate_per_1000: counts[t - 1][i] as f64 * 1000.0 / v.population as f64,
            eb_rate_per_1000: 0.0,
            z: 0.0,
            p_sim: None,
            q: None,
            class: 0,
            pattern: "no_pattern".into(),
            trend_tau: 0.0,
            trend_p: 1.0,
            case_ids: evidence(std::mem::take(&mut latest_ids[i])),
        })
        .collect();

    if n >= 3 {
        // Queen contiguity of the village boundaries; a village without one is an island.
        let polygons: Vec<Vec<Vec<(f64, f64)>>> = villages
            .iter()
            .map(|v| {
                v.polygons()
                    .flat_map(|p| std::iter::once(&p.exterior).chain(p.holes.iter()))
                    .map(|ring| ring.iter().map(|pt| (pt.lon, pt.lat)).collect())
                    .collect()
            })
            .collect();
        let weights = match Weights::queen(&polygons) {
            Ok(w) => Some(w),
            Err(e) => {
                notes.push(format!("village contiguity: {e}"));
                None
            }
        };
        if let Some(w) = &weights {
            if w.islands() == n {
                notes.push("no two villages share a boundary: hot spots need village boundaries".into());
            }
            let population: Vec<f64> = villages.iter().map(|v| v.population as f64).collect();
            // The latest week's rates smoothed toward the county's rate of that week.
            let events: Vec<f64> = counts[t - 1].iter().map(|&x| x as f64).collect();
            let latest: Vec<f64> =
                empirical_bayes(&events, &population).unwrap_or_else(|_| vec![0.0; n]).into_iter().map(|r| r * 1000.0).collect();
            for (i, s) in spots.iter_mut().enumerate() {
                s.eb_rate_per_1000 = latest[i];
            }
            // Gi* of the latest week's smoothed rates, with seeded permutations and BH.
            let latest = &latest;
            if latest.iter().sum::<f64>() <= 0.0 {
                notes.push("no cases in the latest week: no hot spots".into());
            } else {
                let width = w.max_cardinality();
                let table = PermutationTable::seeded(n, width, cfg.permutations as usize, cfg.seed).ok();
                match gi_star(latest, w, Transform::Binary, table.as_ref()) {
                    Ok(g) => {
                        let two_sided: Vec<Option<f64>> = g.p_sim.iter().map(|p| p.map(|p| (2.0 * p).min(1.0))).collect();
                        let q = benjamini_hochberg(&two_sided);
                        for (i, s) in spots.iter_mut().enumerate() {
                            s.z = if g.z[i].is_finite() { g.z[i] } else { 0.0 };
                            s.p_sim = g.p_sim[i];
                            s.q = q[i];
                            let level = match q[i] {
                                Some(q) if q <= 0.01 => 3,
                                Some(q) if q <= 0.05 => 2,
                                Some(q) if q <= 0.10 => 1,
                                _ => 0,
                            };
                            s.class = if s.z > 0.0 { level } else { -level };
                        }
                    }
                    Err(e) => notes.push(format!("Gi*: {e}")),
                }
            }
            // The emerging hot spot patterns over every slice, on the raw rates: smoothing each
            // week toward its own county rate would carry one cluster's rise into every village.
            let rates: Vec<Vec<f64>> =
                counts.iter().map(|c| c.iter().zip(&population).map(|(&x, p)| x as f64 * 1000.0 / p).collect()).collect();
            match emerging_hot_spots(&rates, w, cfg.time_window as usize, cfg.emerging_alpha) {
                Ok(sites) => {
                    for (s, e) in spots.iter_mut().zip(sites) {
                        s.pattern = e.category.name().replace(' ', "_");
                        s.trend_tau = if e.trend.tau.is_finite() { e.trend.tau } else { 0.0 };
                        s.trend_p = if e.trend.p.is_finite() { e.trend.p } else { 1.0 };
                    }
                }
                Err(e) => notes.push(format!("emerging hot spots: {e}")),
            }
        }
    } else {
        notes.push(format!("{n} villages with a population: too few for hot spots"));
    }

    // Bursts: categories from the counts, terms from the texts of the window.
    let base = baseline_weeks(cfg, rules);
    let rule = BurstRule { min_count: rules.burst_min_count, factor: rules.burst_factor, alpha: rules.burst_alpha };
    let window = t - base - 1..t;
    let town_of = |region: &str| RegionCode::parse(region).ok().and_then(|r| r.ancestor_at(RegionLevel::Town));
    let mut latest_by_key: HashMap<(RegionCode, TopicKind, String), Vec<i64>> = HashMap::new();
    let mut terms: HashMap<(RegionCode, String), Vec<u32>> = HashMap::new();
    // Tokenising is the costly part: in parallel, then counted in order.
    let tokenizer = Tokenizer::shared();
    let words: Vec<BTreeSet<String>> = {
        use rayon::prelude::*;
        input
            .texts
            .par_iter()
            .map(|c| {
                if slice_of(c.created_at).is_none_or(|s| !window.contains(&s)) {
                    return BTreeSet::new();
                }
                // Names are left out, those of the case's people and those the segmenter tags:
                // a resident who calls a few times is not a topic.
                tokenizer
                    .topic_terms(&without_names(&c.text, &c.names))
                    .into_iter()
                    .filter(|w| w.chars().count() >= cfg.min_term_chars as usize && !w.chars().all(|ch| ch.is_ascii_digit()))
                    .collect()
            })
            .collect()
    };
    for (c, words) in input.texts.iter().zip(words) {
        let Some(s) = slice_of(c.created_at).filter(|s| window.contains(s)) else { continue };
        let Some(town) = town_of(&c.region) else { continue };
        for w in words {
            terms.entry((town.clone(), w.clone())).or_insert_with(|| vec![0; base + 1])[s - window.start] += 1;
            if s == t - 1 {
                latest_by_key.entry((town.clone(), TopicKind::Term, w)).or_default().push(c.id);
            }
        }
        if s == t - 1 {
            latest_by_key.entry((town, TopicKind::Category, c.category.clone())).or_default().push(c.id);
        }
    }
    let mut topics = Vec::new();
    let series_of = |kind: TopicKind, town: &RegionCode, key: &str, series: Vec<u32>| -> Option<Topic> {
        let (latest, baseline) = series.split_last()?;
        let b = burst(*latest, baseline, &rule);
        b.bursting.then(|| Topic {
            town: town.clone(),
            kind,
            key: key.to_string(),
            count: b.count,
            baseline: b.baseline,
            expected: b.expected,
            p: b.p,
            series: series.clone(),
            case_ids: evidence(latest_by_key.get(&(town.clone(), kind, key.to_string())).cloned().unwrap_or_default()),
            related: vec![],
        })
    };
    for ((town, category), series) in &categories {
        topics.extend(series_of(TopicKind::Category, town, category, series[window.clone()].to_vec()));
    }
    let mut bursting_terms: Vec<Topic> =
        terms.iter().filter_map(|((town, term), series)| series_of(TopicKind::Term, town, term, series.clone())).collect();
    topics.extend(fold_terms(&mut bursting_terms, &latest_by_key));
    topics.sort_by(|a, b| (&a.town, a.kind, &a.key).cmp(&(&b.town, b.kind, &b.key)));

    // Rising severity: the recent weeks' share of serious and major cases against the earlier.
    let recent = recent_weeks(cfg, rules);
    let mut serious_ids: HashMap<RegionCode, Vec<i64>> = HashMap::new();
    for c in input.texts.iter().filter(|c| c.serious) {
        if let (Some(s), Some(town)) = (slice_of(c.created_at), town_of(&c.region))
            && s >= t - recent
        {
            serious_ids.entry(town).or_default().push(c.id);
        }
    }
    let mut severity = Vec::new();
    for (town, (all, serious)) in &town_counts {
        let sum = |v: &[u32]| v.iter().sum::<u32>();
        let (n1, s1) = (sum(&all[t - recent..]), sum(&serious[t - recent..]));
        let (n0, s0) = (sum(&all[..t - recent]), sum(&serious[..t - recent]));
        if s1 < rules.severity_min_cases.max(1) {
            continue;
        }
        if let Some(r) = proportion_rise(s1, n1, s0, n0)
            && r.z > 0.0
            && r.p < rules.severity_alpha
        {
            severity.push(SeverityRise {
                town: town.clone(),
                recent_serious: s1,
                recent_total: n1,
                earlier_serious: s0,
                earlier_total: n0,
                recent_share: r.recent_share,
                earlier_share: r.earlier_share,
                z: r.z,
                p: r.p,
                case_ids: evidence(serious_ids.get(town).cloned().unwrap_or_default()),
            });
        }
    }

    let clusters = if cfg.scan_replicates == 0 { Vec::new() } else { scan_clusters(cfg, input, from, &mut notes) };

    PerceptionRun {
        at,
        from,
        weeks: cfg.weeks,
        slice_days: SLICE_DAYS as u32,
        max_case_id: input.cube.max_case_id,
        cases,
        permutations: cfg.permutations,
        seed: cfg.seed,
        took_ms: 0,
        villages: spots,
        topics,
        severity,
        towns: town_counts.into_iter().map(|(town, (counts, serious))| TownTrend { town, counts, serious }).collect(),
        clusters,
        scan_replicates: cfg.scan_replicates,
        notes,
    }
}

/// Metres per degree of latitude (and of longitude at the equator) on a sphere of the earth's
/// mean radius.
const METRES_PER_DEGREE: f64 = 6_371_008.8 * std::f64::consts::PI / 180.0;

/// The prospective space–time scan over the villages and the run's weeks, all categories.
///
/// Villages are placed at their centroid (given, else their boundary's), projected to metres
/// by an equirectangular projection at the villages' mean latitude, which keeps distances
/// isotropic within a county. The Poisson model counts against the villages' populations
/// (the villages without one are left out, their cases with them); when no village has a
/// population, the space–time permutation model scans the cases alone.
fn scan_clusters(cfg: &AnalyticsConfig, input: &RunInput<'_>, from: Timestamp, notes: &mut Vec<String>) -> Vec<ScanCluster> {
    let t = cfg.weeks as usize;
    let slice_ms = SLICE_DAYS * DAY_MS;
    let mut villages: Vec<(&Region, Point)> = input
        .regions
        .iter()
        .copied()
        .filter(|r| r.level() == RegionLevel::Village)
        .filter_map(|r| r.centroid.or_else(|| r.polygons().next().map(|p| p.centroid())).map(|c| (r, c)))
        .collect();
    villages.sort_by(|a, b| a.0.code.cmp(&b.0.code));
    let model = if villages.iter().any(|(v, _)| v.population > 0) {
        villages.retain(|(v, _)| v.population > 0);
        ScanModel::Poisson
    } else {
        ScanModel::SpaceTimePermutation
    };
    if villages.len() < 2 {
        notes.push(format!("{} villages with a place: too few for the space–time scan", villages.len()));
        return Vec::new();
    }
    let index: HashMap<&str, usize> = villages.iter().enumerate().map(|(i, (v, _))| (v.code.as_str(), i)).collect();
    let mut counts = vec![vec![0u64; t]; villages.len()];
    for cell in &input.cube.cells {
        let s = cell.slice as usize;
        let village = RegionCode::parse(&cell.region).ok().and_then(|c| c.ancestor_at(RegionLevel::Village));
        if let Some(&i) = village.as_ref().and_then(|v| index.get(v.as_str()))
            && s < t
        {
            counts[i][s] += cell.cases.max(0) as u64;
        }
    }
    let lat0 = villages.iter().map(|(_, c)| c.lat).sum::<f64>() / villages.len() as f64;
    let kx = METRES_PER_DEGREE * lat0.to_radians().cos();
    let locs: Vec<ScanLocation> = villages
        .iter()
        .map(|(v, c)| ScanLocation { x: c.lon * kx, y: c.lat * METRES_PER_DEGREE, population: v.population as f64 })
        .collect();
    let opts = ScanOptions {
        model,
        max_population_fraction: SCAN_MAX_FRACTION,
        max_time_fraction: SCAN_MAX_FRACTION,
        replicates: cfg.scan_replicates as usize,
        seed: cfg.seed,
        max_clusters: SCAN_MAX_CLUSTERS,
    };
    let result = match prospective_scan(&locs, &counts, &opts) {
        Ok(r) => r,
        Err(ScanError::NoCases) => return Vec::new(),
        Err(e) => {
            notes.push(format!("space–time scan ({}): {e}", e.code()));
            return Vec::new();
        }
    };
    result
        .clusters
        .iter()
        .enumerate()
        .map(|(rank, c)| {
            let (centre, point) = villages[c.center];
            let codes: Vec<RegionCode> = c.locations.iter().map(|&i| villages[i].0.code.clone()).collect();
            let town = centre.code.ancestor_at(RegionLevel::Town);
            let region = match &town {
                Some(town) if codes.iter().all(|v| town.contains(v)) => town.clone(),
                _ => centre.code.ancestor_at(RegionLevel::County).unwrap_or_else(|| centre.code.clone()),
            };
            let inside: HashSet<&str> = codes.iter().map(|c| c.as_str()).collect();
            let series = (0..t).map(|s| c.locations.iter().map(|&i| counts[i][s]).sum::<u64>().min(u32::MAX as u64) as u32).collect();
            let start = from.plus_ms(c.start as i64 * slice_ms);
            let ids = input
                .texts
                .iter()
                .filter(|x| x.created_at >= start && x.created_at <= input.at)
                .filter(|x| {
                    RegionCode::parse(&x.region)
                        .ok()
                        .and_then(|r| r.ancestor_at(RegionLevel::Village))
                        .is_some_and(|v| inside.contains(v.as_str()))
                })
                .map(|x| x.id)
                .collect();
            ScanCluster {
                rank: rank as u32 + 1,
                model: model.name().to_string(),
                region,
                center: centre.code.clone(),
                center_name: centre.name.clone(),
                center_name_en: centre.name_en.clone(),
                center_lon: point.lon,
                center_lat: point.lat,
                villages: codes,
                radius_m: c.radius,
                start_slice: c.start as u32,
                start,
                end: input.at,
                observed: c.observed,
                expected: c.expected,
                relative_risk: c.relative_risk.is_finite().then_some(c.relative_risk),
                llr: c.llr,
                p: c.p_value,
                recurrence_days: c.recurrence_slices * SLICE_DAYS as f64,
                series,
                case_ids: evidence(ids),
            }
        })
        .collect()
}

/// `text` with each Chinese name of `names` (two Han characters or more) blanked out. Given
/// names alone are left, since they are often ordinary words too (建设, 红梅), and so are
/// names in Latin letters, which would also match inside longer words.
fn without_names(text: &str, names: &[String]) -> String {
    let mut out = text.to_string();
    for name in names.iter().map(|n| n.trim()) {
        if name.chars().count() >= 2 && name.chars().all(fengqiao_analysis::text::tokenize::is_han) {
            out = out.replace(name, " ");
        }
    }
    out
}

/// Folds bursting terms that mostly share their cases: within a town, the most surprising
/// first (the largest count over its expected count, then the most cases, then the term), a
/// term joins an earlier kept term's `related` list when at least [`FOLD_OVERLAP`] of the
/// smaller of their two sets of latest cases is in both. One complaint's several words make
/// one topic, named by its most unusual word rather than by a common one that also rose.
fn fold_terms(terms: &mut [Topic], cases: &HashMap<(RegionCode, TopicKind, String), Vec<i64>>) -> Vec<Topic> {
    let surprise = |t: &Topic| t.count as f64 / t.expected.max(f64::MIN_POSITIVE);
    terms.sort_by(|a, b| a.town.cmp(&b.town).then(surprise(b).total_cmp(&surprise(a))).then(b.count.cmp(&a.count)).then(a.key.cmp(&b.key)));
    let mut kept: Vec<(Topic, HashSet<i64>)> = Vec::new();
    for t in terms.iter() {
        let mine: HashSet<i64> = cases.get(&(t.town.clone(), TopicKind::Term, t.key.clone())).into_iter().flatten().copied().collect();
        let host = kept.iter_mut().find(|(k, ids)| {
            let shared = mine.iter().filter(|i| ids.contains(i)).count() as f64;
            k.town == t.town && !mine.is_empty() && shared >= FOLD_OVERLAP * mine.len().min(ids.len()) as f64
        });
        match host {
            Some((k, _)) => k.related.push(t.key.clone()),
            None => kept.push((t.clone(), mine)),
        }
    }
    kept.into_iter().map(|(t, _)| t).collect()
}

impl Service {
    /// Runs the analytics at `now`: reads the counts and texts, computes the run on a blocking
    /// thread, stores it, and raises the alerts it calls for (none already live). Returns the
    /// run and the new alerts.
    pub async fn run_perception(&self, now: Timestamp) -> Result<(PerceptionRun, Vec<Alert>), StoreError> {
        let cfg = self.config.analytics.clone();
        let rules = self.config.warnings.clone();
        if let Some(p) = cfg.problems().into_iter().next() {
            return Err(DomainError::invalid("analytics", p).into());
        }
        let started = std::time::Instant::now();
        let slice_ms = SLICE_DAYS * DAY_MS;
        let from = cfg.cube_from(now);
        let cube = self.store.case_cube(&Scope::All, from, slice_ms, cfg.weeks).await?;
        let text_from = from.plus_ms((cfg.weeks as i64 - text_window_slices(&cfg, &rules) as i64) * slice_ms);
        let texts = self.store.case_texts(&Scope::All, text_from, now.plus_ms(1)).await?;
        let reference = self.reference();
        let mut run = tokio::task::spawn_blocking(move || {
            let input = RunInput { at: now, regions: reference.regions.values().collect(), cube: &cube, texts: &texts };
            compute(&cfg, &rules, &input)
        })
        .await
        .map_err(|e| StoreError::Backend(format!("the analytics run stopped: {e}")))?;
        run.took_ms = started.elapsed().as_millis() as u64;
        self.store.save_perception_run(&run).await?;
        let alerts = self.raise(now, self.config.warnings.perception_alerts(&run)).await?;
        tracing::info!(
            took_ms = run.took_ms,
            cases = run.cases,
            hot = run.villages.iter().filter(|v| v.class > 0).count(),
            topics = run.topics.len(),
            clusters = run.clusters.iter().filter(|c| c.p <= self.config.warnings.scan_alpha).count(),
            alerts = alerts.len(),
            "analytics run"
        );
        Ok((run, alerts))
    }

    /// The newest run as the actor may see it: supervisors and administrators, within their
    /// jurisdiction; `None` before the first run.
    pub async fn perception(&self, actor: &Actor) -> Result<Option<PerceptionRun>, StoreError> {
        let root = match actor {
            Actor::User { role: Role::Supervisor | Role::Admin, jurisdiction, .. } => jurisdiction.clone(),
            Actor::System { .. } => return self.store.perception_run().await,
            _ => return Err(DomainError::Forbidden("analytics are for supervisors and administrators".into()).into()),
        };
        Ok(self.store.perception_run().await?.map(|r| r.within(&root)))
    }
}

#[cfg(test)]
mod tests {
    use super::without_names;

    #[test]
    fn the_case_peoples_chinese_names_are_blanked() {
        let names = vec!["吴桂兰".to_string(), "欧阳振华".to_string(), "Li Na".to_string(), "王建设".to_string()];
        let t = without_names("吴桂兰家的光伏板，欧阳振华的车挡路，王建设说要建设围墙；Lighting by Li Na", &names);
        for gone in ["吴桂兰", "欧阳振华", "王建设"] {
            assert!(!t.contains(gone), "{gone} in {t}");
        }
        // Ordinary words that are also a given name, and Latin-letter names, stay.
        assert!(t.contains("要建设围墙") && t.contains("Lighting by Li Na") && t.contains("光伏板"), "{t}");
        assert_eq!(without_names("路灯坏了", &[]), "路灯坏了");
    }
}

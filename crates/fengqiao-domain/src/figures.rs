//! The closed-loop figures. Each rate states its numerator, denominator and cohort; the
//! cohort is always the cases dispatched within the period (in the chosen region subtree and
//! unit). The formulas are written out in ARCHITECTURE.md and must stay in step with this file.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::case::{CaseId, ClosureFlag, Rating, Status, Tier};
use crate::clock::{HOUR_MS, Timestamp};

/// What the figures need to know about one case (derived from its events).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseFacts {
    pub id: CaseId,
    pub category: String,
    pub region: String,
    pub lead_unit: Option<String>,
    pub status: Status,
    pub created_at: Timestamp,
    pub dispatched_at: Option<Timestamp>,
    pub accepted_at: Option<Timestamp>,
    pub resolved_at: Option<Timestamp>,
    pub closed_at: Option<Timestamp>,
    pub response_due: Option<Timestamp>,
    pub handling_due: Option<Timestamp>,
    pub visit_due: Option<Timestamp>,
    pub first_tier: Tier,
    pub escalations: u32,
    pub reworks: u32,
    pub reopens: u32,
    pub was_deferred: bool,
    /// A round before a reopening missed its deadline: never on time again.
    pub missed_deadline: bool,
    pub final_rating: Option<Rating>,
    pub first_rating: Option<Rating>,
    pub closure_flag: Option<ClosureFlag>,
    /// The reporter and parties (person ids; one id per identity key).
    pub persons: Vec<i64>,
}

/// A later case that may make an earlier one a repeat.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LaterCase {
    pub id: CaseId,
    pub created_at: Timestamp,
    pub category: String,
    pub region: String,
    pub persons: Vec<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FiguresConfig {
    /// A new case within this many days of a closure makes the closed case a repeat.
    pub repeat_window_days: u32,
    /// Weights of the combined score; only rates with a denominator count.
    pub weights: ScoreWeights,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoreWeights {
    pub response: f64,
    pub resolution: f64,
    pub satisfaction: f64,
    pub on_time: f64,
    pub locally_settled: f64,
}

impl Default for FiguresConfig {
    fn default() -> Self {
        // 30 / 35 / 35 for the three Beijing rates is one county's published weighting.
        FiguresConfig {
            repeat_window_days: 90,
            weights: ScoreWeights { response: 30.0, resolution: 35.0, satisfaction: 35.0, on_time: 0.0, locally_settled: 0.0 },
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Rate {
    pub numerator: u64,
    pub denominator: u64,
    /// `None` when the denominator is zero: no cases, no rate (never a fake 0% or 100%).
    pub value: Option<f64>,
}

impl Rate {
    pub fn new(numerator: u64, denominator: u64) -> Rate {
        Rate { numerator, denominator, value: (denominator > 0).then(|| numerator as f64 / denominator as f64) }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageTime {
    pub stage: String,
    /// Cases that entered the stage.
    pub cases: u64,
    /// Of those, cases that have left it (the rest are censored at `now`).
    pub completed: u64,
    pub median_hours: Option<f64>,
    pub p90_hours: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Figures {
    pub cohort: u64,
    pub response_rate: Rate,
    pub resolution_rate: Rate,
    pub satisfaction_rate: Rate,
    pub on_time_closure_rate: Rate,
    pub locally_settled_rate: Rate,
    pub rework_rate: Rate,
    pub reopen_rate: Rate,
    pub repeat_rate: Rate,
    pub flagged_closures: u64,
    pub stages: Vec<StageTime>,
    pub score: Option<f64>,
}

/// Kaplan–Meier quantiles of durations where unfinished cases are censored, not dropped:
/// dropping them would make slow units look fast. `obs` is (duration in ms, finished); the
/// quantiles are in hours.
pub fn km_quantiles(obs: &mut [(i64, bool)], qs: &[f64]) -> Vec<Option<f64>> {
    obs.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
    km_sorted(obs.iter().copied(), obs.len(), qs, HOUR_MS as f64)
}

/// The quantiles of the Kaplan–Meier curve over observations sorted by duration, finished
/// before censored at the same duration (a case censored at t was still at risk at t), in
/// hours of `per_hour` units.
fn km_sorted(sorted: impl Iterator<Item = (i64, bool)>, n: usize, qs: &[f64], per_hour: f64) -> Vec<Option<f64>> {
    let mut at_risk = n as f64;
    let mut surv = 1.0f64;
    let mut out = vec![None; qs.len()];
    let mut sorted = sorted.peekable();
    while let Some((t, done)) = sorted.next() {
        let (mut d, mut c) = if done { (1.0, 0.0) } else { (0.0, 1.0) };
        while let Some(&(_, done)) = sorted.peek().filter(|o| o.0 == t) {
            if done {
                d += 1.0
            } else {
                c += 1.0
            }
            sorted.next();
        }
        if d > 0.0 {
            surv *= 1.0 - d / at_risk;
            for (k, q) in qs.iter().enumerate() {
                if out[k].is_none() && surv <= 1.0 - q + 1e-12 {
                    out[k] = Some(t as f64 / per_hour);
                }
            }
        }
        at_risk -= d + c;
    }
    out
}

/// Below this many observations a comparison sort is as quick.
const RADIX_MIN: usize = 4096;

/// A stage observation as one sortable word: the duration in whole seconds, then 0 for
/// finished and 1 for censored, so finished sort first at equal durations. A year is 26 bits.
fn key(secs: u32, done: bool) -> u32 {
    (secs << 1) | u32::from(!done)
}

fn unkey(k: u32) -> (i64, bool) {
    ((k >> 1) as i64, k & 1 == 0)
}

/// LSD radix sort. A county-year is a million observations per stage: a year of seconds
/// (with the flag) is two passes of 14-bit digits. Every digit's counts come from one read of
/// the keys; a digit all keys share moves nothing and is skipped.
fn radix_sort(keys: &mut Vec<u32>) {
    let max = keys.iter().copied().max().unwrap_or(0);
    let bits = u32::BITS - max.leading_zeros();
    let passes = bits.div_ceil(14).max(1);
    let digit = bits.div_ceil(passes).max(1);
    let radix = 1usize << digit;
    let mut counts = vec![0usize; passes as usize * radix];
    for &k in keys.iter() {
        for p in 0..passes {
            counts[p as usize * radix + ((k >> (p * digit)) as usize & (radix - 1))] += 1;
        }
    }
    let mut buf = scratch(keys.len());
    buf.resize(keys.len(), 0);
    for p in 0..passes {
        let count = &mut counts[p as usize * radix..(p as usize + 1) * radix];
        if count.contains(&keys.len()) {
            continue;
        }
        let mut at = 0;
        for c in count.iter_mut() {
            (*c, at) = (at, at + *c);
        }
        let shift = p * digit;
        for &k in keys.iter() {
            let d = (k >> shift) as usize & (radix - 1);
            buf[count[d]] = k;
            count[d] += 1;
        }
        std::mem::swap(keys, &mut buf);
    }
    release(buf);
}

/// Buffers of sort keys kept between computations: a county-year's stage times need eight of
/// about 4 MB, and allocating them afresh each time costs page faults.
static SCRATCH: std::sync::Mutex<Vec<Vec<u32>>> = std::sync::Mutex::new(Vec::new());

/// An empty buffer with room for `n` keys, from the pool when it has one.
fn scratch(n: usize) -> Vec<u32> {
    let mut v = SCRATCH.lock().map(|mut p| p.pop()).ok().flatten().unwrap_or_default();
    v.clear();
    v.reserve(n);
    v
}

/// Gives a buffer back to the pool (small ones are not worth keeping; at most eight are).
fn release(v: Vec<u32>) {
    if v.capacity() >= 1 << 16
        && let Ok(mut pool) = SCRATCH.lock()
        && pool.len() < 8
    {
        pool.push(v);
    }
}

/// From this many cases the four stage times are computed side by side, and callers keep
/// the computation off their async workers.
pub const LARGE_COHORT: usize = 50_000;

/// The timestamps of one case that the stage times need: milliseconds, `i64::MIN` for none,
/// so a county-year's million of them is 32 MB and not 64.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StagePoints {
    dispatched: i64,
    accepted: i64,
    resolved: i64,
    closed: i64,
}

impl StagePoints {
    const NONE: i64 = i64::MIN;

    pub fn new(dispatched: Option<Timestamp>, accepted: Option<Timestamp>, resolved: Option<Timestamp>, closed: Option<Timestamp>) -> Self {
        let ms = |t: Option<Timestamp>| t.map_or(Self::NONE, |t| t.0);
        StagePoints { dispatched: ms(dispatched), accepted: ms(accepted), resolved: ms(resolved), closed: ms(closed) }
    }

    /// From milliseconds, `i64::MIN` meaning none (how the store keeps them).
    pub fn from_millis(dispatched: i64, accepted: i64, resolved: i64, closed: i64) -> Self {
        StagePoints { dispatched, accepted, resolved, closed }
    }

    fn at(ms: i64) -> Option<Timestamp> {
        (ms != Self::NONE).then_some(Timestamp(ms))
    }

    pub fn dispatched(&self) -> Option<Timestamp> {
        Self::at(self.dispatched)
    }

    pub fn accepted(&self) -> Option<Timestamp> {
        Self::at(self.accepted)
    }

    pub fn resolved(&self) -> Option<Timestamp> {
        Self::at(self.resolved)
    }

    pub fn closed(&self) -> Option<Timestamp> {
        Self::at(self.closed)
    }
}

fn stage(
    name: &str,
    cases: &[StagePoints],
    now: Timestamp,
    from: impl Fn(&StagePoints) -> Option<Timestamp>,
    to: impl Fn(&StagePoints) -> Option<Timestamp>,
) -> StageTime {
    // Straight into sortable words (whole seconds: the stage times are read in hours), sized
    // once: a county-year is a million per stage.
    let duration = |c: &StagePoints| -> Option<(i64, bool)> {
        let start = from(c)?;
        Some(match to(c) {
            Some(end) => ((end.0 - start.0).max(0), true),
            None => ((now.0 - start.0).max(0), false),
        })
    };
    let mut keys = scratch(cases.len());
    let mut completed = 0u64;
    for (t, done) in cases.iter().filter_map(duration) {
        // Durations are non-negative; beyond 68 years (never) they would share one word.
        let secs = (t / 1000).min(i64::from(u32::MAX >> 1)) as u32;
        completed += u64::from(done);
        keys.push(key(secs, done));
    }
    let n = keys.len();
    if n >= RADIX_MIN {
        radix_sort(&mut keys);
    } else {
        keys.sort_unstable();
    }
    let q = km_sorted(keys.iter().map(|&k| unkey(k)), n, &[0.5, 0.9], 3600.0);
    release(keys);
    StageTime { stage: name.to_string(), cases: n as u64, completed, median_hours: q[0], p90_hours: q[1] }
}

/// The numerators and denominators of every rate, for one cohort. The store computes these
/// in SQL; [`FigureCounts::from_facts`] is their definition in Rust, and the contract suite
/// checks that the two agree.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FigureCounts {
    /// Dispatched within the period.
    pub cohort: u64,
    /// Accepted by the response deadline.
    pub responded: u64,
    pub resolved: u64,
    /// With a first return-visit rating, flagged closures excluded.
    pub rated: u64,
    /// Of those, rated satisfied or basically satisfied.
    pub satisfied: u64,
    /// Closed as anonymous or unreachable.
    pub flagged: u64,
    /// Due for closure: closed, or the handling deadline has passed; deferred cases excluded.
    pub due: u64,
    /// Of those, resolved by the handling deadline and closed by the return-visit deadline.
    pub on_time: u64,
    /// Closed at least once.
    pub closed: u64,
    /// Closed without any escalation: at the first tier. A case a higher tier decided and
    /// handed back down (`returned`) keeps its escalation and so does not count.
    pub local: u64,
    /// Resolved and reworked at least once.
    pub reworked: u64,
    /// Closed and reopened at least once.
    pub reopened: u64,
    /// Closed and followed within the window by a case of the same person, or at the same
    /// place in the same category.
    pub repeats: u64,
}

impl FigureCounts {
    pub fn from_facts(cohort: &[CaseFacts], later: &[LaterCase], now: Timestamp, repeat_window_days: u32) -> FigureCounts {
        let dispatched: Vec<&CaseFacts> = cohort.iter().filter(|c| c.dispatched_at.is_some()).collect();
        let count = |f: &dyn Fn(&&CaseFacts) -> bool| dispatched.iter().filter(|c| f(c)).count() as u64;
        // A round that missed its deadline keeps the case due (and late), deferred or not.
        let due =
            |c: &&CaseFacts| c.missed_deadline || (!c.was_deferred && (c.closed_at.is_some() || c.handling_due.is_some_and(|d| d <= now)));
        let window = repeat_window_days as i64 * 24 * HOUR_MS;
        let mut by_person: HashMap<i64, Vec<(Timestamp, CaseId)>> = HashMap::new();
        let mut by_place: HashMap<(&str, &str), Vec<(Timestamp, CaseId)>> = HashMap::new();
        for l in later {
            for p in &l.persons {
                by_person.entry(*p).or_default().push((l.created_at, l.id));
            }
            by_place.entry((l.region.as_str(), l.category.as_str())).or_default().push((l.created_at, l.id));
        }
        for v in by_person.values_mut().chain(by_place.values_mut()) {
            v.sort();
        }
        let follows = |list: Option<&Vec<(Timestamp, CaseId)>>, after: Timestamp, me: CaseId| {
            list.is_some_and(|l| {
                let start = l.partition_point(|(t, _)| *t <= after);
                l[start..].iter().take_while(|(t, _)| t.0 <= after.0 + window).any(|(_, id)| *id != me)
            })
        };
        FigureCounts {
            cohort: dispatched.len() as u64,
            responded: count(&|c| matches!((c.accepted_at, c.response_due), (Some(a), Some(d)) if a <= d)),
            resolved: count(&|c| c.resolved_at.is_some()),
            // Satisfaction counts the first return visit's rating: later ratings follow the
            // rework the first one caused, and a case only closes once its ratings are good.
            rated: count(&|c| c.closure_flag.is_none() && c.first_rating.is_some()),
            satisfied: count(&|c| c.closure_flag.is_none() && c.first_rating.is_some_and(Rating::is_satisfied)),
            flagged: count(&|c| c.status == Status::Closed && c.closure_flag.is_some()),
            due: count(&due),
            on_time: count(&|c| {
                due(c)
                    && !c.missed_deadline
                    // Closed now: a reopened case in its new round is not on time yet.
                    && c.status == Status::Closed
                    && matches!((c.resolved_at, c.handling_due), (Some(r), Some(d)) if r <= d)
                    && matches!((c.closed_at, c.visit_due), (Some(cl), Some(v)) if cl <= v)
            }),
            closed: count(&|c| c.closed_at.is_some()),
            local: count(&|c| c.closed_at.is_some() && c.escalations == 0),
            reworked: count(&|c| c.resolved_at.is_some() && c.reworks > 0),
            reopened: count(&|c| c.closed_at.is_some() && c.reopens > 0),
            repeats: count(&|c| {
                let Some(cl) = c.closed_at else { return false };
                c.persons.iter().any(|p| follows(by_person.get(p), cl, c.id))
                    || follows(by_place.get(&(c.region.as_str(), c.category.as_str())), cl, c.id)
            }),
        }
    }
}

/// Every figure from the counts and the cohort's stage timestamps.
pub fn assemble(k: &FigureCounts, points: &[StagePoints], now: Timestamp, cfg: &FiguresConfig) -> Figures {
    type Edge = fn(&StagePoints) -> Option<Timestamp>;
    let specs: [(&str, Edge, Edge); 4] = [
        ("response", |c| c.dispatched(), |c| c.accepted()),
        ("handling", |c| c.accepted(), |c| c.resolved()),
        ("return_visit", |c| c.resolved(), |c| c.closed()),
        ("total", |c| c.dispatched(), |c| c.closed()),
    ];
    // A county-year is a million cases per stage: the four stages are independent, so they
    // are timed side by side (pure computation on threads; no IO).
    let stages: Vec<StageTime> = if points.len() >= LARGE_COHORT {
        std::thread::scope(|s| {
            let handles: Vec<_> = specs.iter().map(|&(name, from, to)| s.spawn(move || stage(name, points, now, from, to))).collect();
            handles.into_iter().map(|h| h.join().expect("a stage computation panicked")).collect()
        })
    } else {
        specs.iter().map(|&(name, from, to)| stage(name, points, now, from, to)).collect()
    };
    let f = Figures {
        cohort: k.cohort,
        response_rate: Rate::new(k.responded, k.cohort),
        resolution_rate: Rate::new(k.resolved, k.cohort),
        satisfaction_rate: Rate::new(k.satisfied, k.rated),
        on_time_closure_rate: Rate::new(k.on_time, k.due),
        locally_settled_rate: Rate::new(k.local, k.closed),
        rework_rate: Rate::new(k.reworked, k.resolved),
        reopen_rate: Rate::new(k.reopened, k.closed),
        repeat_rate: Rate::new(k.repeats, k.closed),
        flagged_closures: k.flagged,
        stages,
        score: None,
    };
    let w = &cfg.weights;
    let parts = [
        (w.response, f.response_rate.value),
        (w.resolution, f.resolution_rate.value),
        (w.satisfaction, f.satisfaction_rate.value),
        (w.on_time, f.on_time_closure_rate.value),
        (w.locally_settled, f.locally_settled_rate.value),
    ];
    let (num, den) =
        parts.iter().filter_map(|(w, v)| v.map(|v| (w * v, *w))).filter(|(_, w)| *w > 0.0).fold((0.0, 0.0), |a, b| (a.0 + b.0, a.1 + b.1));
    Figures { score: (den > 0.0).then(|| 100.0 * num / den), ..f }
}

/// Every figure for a cohort given as facts: the reference computation.
pub fn compute(cohort: &[CaseFacts], later: &[LaterCase], now: Timestamp, cfg: &FiguresConfig) -> Figures {
    let counts = FigureCounts::from_facts(cohort, later, now, cfg.repeat_window_days);
    let points: Vec<StagePoints> = cohort
        .iter()
        .filter(|c| c.dispatched_at.is_some())
        .map(|c| StagePoints::new(c.dispatched_at, c.accepted_at, c.resolved_at, c.closed_at))
        .collect();
    assemble(&counts, &points, now, cfg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_radix_sort_orders_as_the_comparison_does() {
        // Many ties, both kinds at the same time, and durations across several bytes.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let obs: Vec<(i64, bool)> = (0..20_000)
            .map(|i| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let t = if i % 3 == 0 { (x % 50) as i64 } else { (x % (1 << 31)) as i64 };
                (t, x & 1 == 0)
            })
            .collect();
        // And durations that share their middle digits (a pass with nothing to move).
        let shared: Vec<(i64, bool)> = obs.iter().map(|&(t, done)| ((t & 0x3ff) | (1 << 20) | ((t >> 28) << 28), done)).collect();
        for obs in [obs, shared] {
            let mut keys: Vec<u32> = obs.iter().map(|&(t, done)| key(t as u32, done)).collect();
            radix_sort(&mut keys);
            let fast: Vec<(i64, bool)> = keys.into_iter().map(unkey).collect();
            let mut slow = obs;
            slow.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
            assert_eq!(fast, slow);
        }
    }

    #[test]
    fn stage_times_in_whole_seconds_match_milliseconds_to_the_second() {
        // Enough cases for the radix sort, durations of milliseconds to months, a fifth open.
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let now = Timestamp(400 * 86_400_000);
        let points: Vec<StagePoints> = (0..30_000)
            .map(|i| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let start = (x % (200 * 86_400_000)) as i64;
                let took = if i % 7 == 0 { (x % 5_000) as i64 } else { (x % (90 * 86_400_000)) as i64 };
                StagePoints::new(Some(Timestamp(start)), (i % 5 != 0).then_some(Timestamp(start + took)), None, None)
            })
            .collect();
        let st = stage("response", &points, now, |p| p.dispatched(), |p| p.accepted());
        let mut obs: Vec<(i64, bool)> = points
            .iter()
            .map(|p| match p.accepted() {
                Some(a) => (a.0 - p.dispatched().unwrap().0, true),
                None => (now.0 - p.dispatched().unwrap().0, false),
            })
            .collect();
        let ms = km_quantiles(&mut obs, &[0.5, 0.9]);
        assert_eq!((st.cases, st.completed), (30_000, 24_000));
        assert!(st.median_hours.is_some());
        for (got, want) in [(st.median_hours, ms[0]), (st.p90_hours, ms[1])] {
            match (got, want) {
                (Some(got), Some(want)) => assert!((got - want).abs() <= 1.0 / 3600.0, "{got} h against {want} h"),
                (got, want) => assert_eq!(got, want),
            }
        }
    }

    #[test]
    fn km_with_censoring() {
        // Five cases of 1..5 hours, the 4-hour one still open: the median is 3 h; dropping
        // the open case would also give 3, but censoring two early cases must push it up.
        let h = HOUR_MS;
        let mut obs = vec![(h, true), (2 * h, true), (3 * h, true), (4 * h, false), (5 * h, true)];
        let q = km_quantiles(&mut obs, &[0.5, 0.9]);
        assert_eq!(q[0], Some(3.0));
        assert_eq!(q[1], Some(5.0));
        let mut open = vec![(h, false), (h, false), (2 * h, true), (3 * h, true)];
        assert_eq!(km_quantiles(&mut open, &[0.5])[0], Some(2.0));
        let mut none_done = vec![(h, false)];
        assert_eq!(km_quantiles(&mut none_done, &[0.5])[0], None);
    }
}

//! The prospective space–time scan statistic (Kulldorff 2001), with the Poisson model adjusted
//! for the overall time trend and the space–time permutation model (Kulldorff et al. 2005).
//!
//! A *window* is a cylinder: a circle around one location (the locations nearest to it, up to
//! a cap) times a run of time slices that ends in the latest slice (prospective surveillance:
//! only clusters still going on matter). Each window gets the likelihood ratio of "the rate
//! inside is higher than outside" against "one rate everywhere"; the window with the largest
//! is the most likely cluster, and its significance comes from Monte Carlo replicates of the
//! data drawn under the null hypothesis, each scanned the same way.
//!
//! Both models share one shape of expectation: the expected count of location `z` in slice
//! `t` is `w_z · C_t / W`, with `C_t` the cases of slice `t` and `w_z` the location's weight
//! (its population for the Poisson model; its cases over the whole period for the permutation
//! model), `W = Σ w`. Expected and observed counts therefore both sum to the total `C`, per
//! slice and overall, and a season that raises every place at once raises the expectation
//! with it instead of raising an alarm everywhere.

use rand::{Rng, SeedableRng};
use rayon::prelude::*;

/// One place scanned: coordinates in a plane (projected metres, or longitude and latitude
/// scaled to comparable units: distances are Euclidean) and its population at risk.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ScanLocation {
    pub x: f64,
    pub y: f64,
    /// Residents (Poisson model). The permutation model ignores it, so it may be 0 there.
    pub population: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ScanModel {
    /// Counts against a population at risk: μ_zt = C_t · P_z / P.
    Poisson,
    /// Cases only, no population: μ_zt = C_z· · C_·t / C; detects space–time interaction.
    SpaceTimePermutation,
}

impl ScanModel {
    /// `poisson` or `permutation`.
    pub fn parse(s: &str) -> Option<ScanModel> {
        match s {
            "poisson" => Some(ScanModel::Poisson),
            "permutation" | "space-time-permutation" => Some(ScanModel::SpaceTimePermutation),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ScanModel::Poisson => "poisson",
            ScanModel::SpaceTimePermutation => "permutation",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct ScanOptions {
    pub model: ScanModel,
    /// The largest circle holds at most this share of the total weight: of the population
    /// (Poisson) or of the cases over the whole period (permutation, as SaTScan). 0.5.
    pub max_population_fraction: f64,
    /// The longest window covers at most this share of the slices (rounded down). 0.5.
    pub max_time_fraction: f64,
    /// Monte Carlo replicates (at least 1; 999 gives p-values down to 0.001).
    pub replicates: usize,
    /// Seeds the replicates: the same seed and input give the same result on any number of
    /// threads.
    pub seed: u64,
    /// How many clusters to report at most: the most likely, then secondary clusters in
    /// decreasing likelihood ratio, each sharing no location with an earlier one.
    pub max_clusters: usize,
}

impl Default for ScanOptions {
    fn default() -> Self {
        ScanOptions {
            model: ScanModel::Poisson,
            max_population_fraction: 0.5,
            max_time_fraction: 0.5,
            replicates: 999,
            seed: 1,
            max_clusters: 10,
        }
    }
}

/// One reported cluster. Slices are 0-based indices into the counts' columns.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ScanCluster {
    /// The location at the circle's centre.
    pub center: usize,
    /// The locations inside the circle, nearest first (the centre first).
    pub locations: Vec<usize>,
    /// The distance from the centre to the farthest location inside.
    pub radius: f64,
    /// The first slice of the window, inclusive.
    pub start: usize,
    /// The last slice of the window: always the latest slice.
    pub end: usize,
    pub observed: u64,
    pub expected: f64,
    /// (observed / expected) inside over (observed / expected) outside, as SaTScan reports it;
    /// infinite when every case is inside.
    pub relative_risk: f64,
    /// c·ln(c/μ) + (C − c)·ln((C − c)/(C − μ)).
    pub llr: f64,
    /// (1 + replicates whose largest likelihood ratio is ≥ this one's) / (replicates + 1).
    pub p_value: f64,
    /// 1 / p_value: how many slices on average between clusters this strong by chance alone.
    pub recurrence_slices: f64,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ScanResult {
    /// At most `max_clusters`, by decreasing likelihood ratio; empty when no window has more
    /// cases than expected.
    pub clusters: Vec<ScanCluster>,
    pub total_cases: u64,
    pub slices: usize,
    /// The longest window, in slices.
    pub max_window_slices: usize,
    /// Distinct circles scanned (each combined with every window length).
    pub circles: usize,
    pub replicates: usize,
}

/// Why a scan refused its input. Nothing is computed from bad input.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ScanError {
    #[error("there are no locations")]
    NoLocations,
    #[error("the counts have {rows} rows but there are {locations} locations")]
    Rows { rows: usize, locations: usize },
    /// A location, by its 0-based index.
    #[error("location {index}: {reason}")]
    Location { index: usize, reason: String },
    /// A row of counts, by its 0-based location index.
    #[error("counts of location {index}: {reason}")]
    Counts { index: usize, reason: String },
    #[error("{option}: {reason}")]
    Option { option: &'static str, reason: String },
    #[error("there are no cases to scan")]
    NoCases,
    #[error("{0}")]
    NoWindow(String),
}

impl ScanError {
    /// A stable code for the kind of error.
    pub fn code(&self) -> &'static str {
        match self {
            ScanError::NoLocations => "scan_no_locations",
            ScanError::Rows { .. } => "scan_rows",
            ScanError::Location { .. } => "scan_location",
            ScanError::Counts { .. } => "scan_counts",
            ScanError::Option { .. } => "scan_option",
            ScanError::NoCases => "scan_no_cases",
            ScanError::NoWindow(_) => "scan_no_window",
        }
    }
}

/// The log likelihood ratio of a window with `c` cases where `mu` were expected, out of
/// `total`, for a high rate: 0 unless c > μ. The observed data and every replicate go through
/// this one function, so a replicate equal to the data ties with it exactly.
#[inline]
pub fn log_likelihood_ratio(c: f64, mu: f64, total: f64) -> f64 {
    if c <= mu {
        return 0.0;
    }
    let inside = c * (c / mu).ln();
    if c < total { inside + (total - c) * ((total - c) / (total - mu)).ln() } else { inside }
}

/// The expected count of every location in every slice, `[location][slice]`, under the null
/// hypothesis of the model: `w_z · C_t / W` (see the module's description).
pub fn expected_counts(locs: &[ScanLocation], counts: &[Vec<u64>], model: ScanModel) -> Result<Vec<Vec<f64>>, ScanError> {
    let opts = ScanOptions { model, ..ScanOptions::default() };
    let input = Input::check(locs, counts, &opts)?;
    let per_slice: Vec<f64> = (0..input.slices).map(|t| counts.iter().map(|row| row[t]).sum::<u64>() as f64).collect();
    Ok(input.weight.iter().map(|&w| per_slice.iter().map(|&ct| w * ct / input.weight_total).collect()).collect())
}

/// Scans `counts[location][slice]` (the last column is the latest slice) for clusters of high
/// rate that are still going on, with Monte Carlo p-values.
pub fn prospective_scan(locs: &[ScanLocation], counts: &[Vec<u64>], opts: &ScanOptions) -> Result<ScanResult, ScanError> {
    let input = Input::check(locs, counts, opts)?;
    let scan = Scan::new(locs, counts, &input, opts)?;
    let bests = scan.observed();
    let picked = scan.select(&bests, opts.max_clusters);
    let mut result = ScanResult {
        clusters: Vec::new(),
        total_cases: input.total,
        slices: input.slices,
        max_window_slices: scan.len,
        circles: scan.steps.len(),
        replicates: opts.replicates,
    };
    if picked.is_empty() {
        return Ok(result);
    }
    // Only whether a replicate's maximum reaches each reported ratio matters, so a replicate
    // looks closely only at windows that could reach the smallest, and stops once it reaches
    // the largest.
    let floor = picked.iter().map(|b| b.llr).fold(f64::INFINITY, f64::min);
    let top = picked[0].llr;
    let sampler = Sampler::new(counts, &input, scan.len, opts.model);
    let maxima: Vec<f64> = (0..opts.replicates)
        .into_par_iter()
        .map_init(
            || Buffers { cells: vec![0; scan.n * scan.len], sums: vec![0.0; scan.n * scan.len], left: Vec::new() },
            |buf, r| {
                let mut rng = replicate_rng(opts.seed, r as u64);
                sampler.draw(&mut rng, scan.len, buf);
                scan.replicate_max(&buf.sums, floor, top)
            },
        )
        .collect();
    let total = input.total as f64;
    for b in picked {
        let rank = 1 + maxima.iter().filter(|&&m| m >= b.llr).count();
        let p = rank as f64 / (opts.replicates as f64 + 1.0);
        let centre = b.centre as usize;
        let members: Vec<usize> = scan.members(centre, b.end as usize).iter().map(|&j| j as usize).collect();
        let far = members.last().map(|&j| dist(&locs[centre], &locs[j])).unwrap_or(0.0);
        let rr = if b.c < total { (b.c / b.mu) / ((total - b.c) / (total - b.mu)) } else { f64::INFINITY };
        result.clusters.push(ScanCluster {
            center: centre,
            locations: members,
            radius: far,
            start: input.slices - 1 - b.l as usize,
            end: input.slices - 1,
            observed: b.c as u64,
            expected: b.mu,
            relative_risk: rr,
            llr: b.llr,
            p_value: p,
            recurrence_slices: 1.0 / p,
        });
    }
    Ok(result)
}

fn dist(a: &ScanLocation, b: &ScanLocation) -> f64 {
    ((a.x - b.x).powi(2) + (a.y - b.y).powi(2)).sqrt()
}

/// Each replicate's generator depends on the seed and its own index only, so the result does
/// not depend on how replicates are spread over threads.
fn replicate_rng(seed: u64, r: u64) -> rand::rngs::StdRng {
    let mut s = [0u8; 32];
    s[..8].copy_from_slice(&seed.to_le_bytes());
    s[8..16].copy_from_slice(&r.to_le_bytes());
    s[16..24].copy_from_slice(b"scan-rep");
    rand::rngs::StdRng::from_seed(s)
}

/// The checked input: sizes, each location's weight and the totals.
struct Input {
    slices: usize,
    weight: Vec<f64>,
    weight_total: f64,
    total: u64,
}

impl Input {
    fn check(locs: &[ScanLocation], counts: &[Vec<u64>], opts: &ScanOptions) -> Result<Input, ScanError> {
        let n = locs.len();
        if n == 0 {
            return Err(ScanError::NoLocations);
        }
        if counts.len() != n {
            return Err(ScanError::Rows { rows: counts.len(), locations: n });
        }
        let slices = counts[0].len();
        if slices == 0 {
            return Err(ScanError::Counts { index: 0, reason: "no time slices".into() });
        }
        for (i, row) in counts.iter().enumerate() {
            if row.len() != slices {
                return Err(ScanError::Counts { index: i, reason: format!("{} slices where location 0 has {slices}", row.len()) });
            }
        }
        for (i, l) in locs.iter().enumerate() {
            if !l.x.is_finite() || !l.y.is_finite() {
                return Err(ScanError::Location { index: i, reason: format!("coordinates ({}, {}) are not finite", l.x, l.y) });
            }
            if opts.model == ScanModel::Poisson && !(l.population.is_finite() && l.population >= 0.0) {
                return Err(ScanError::Location { index: i, reason: format!("population {} is not a finite number ≥ 0", l.population) });
            }
        }
        let frac = |v: f64, option: &'static str| {
            if v > 0.0 && v <= 1.0 { Ok(()) } else { Err(ScanError::Option { option, reason: format!("{v} is not a fraction in (0, 1]") }) }
        };
        frac(opts.max_population_fraction, "max_population_fraction")?;
        frac(opts.max_time_fraction, "max_time_fraction")?;
        if opts.replicates == 0 {
            return Err(ScanError::Option { option: "replicates", reason: "at least 1 replicate is needed for p-values".into() });
        }
        if opts.max_clusters == 0 {
            return Err(ScanError::Option { option: "max_clusters", reason: "at least 1 cluster must be reported".into() });
        }
        let mut row_totals = Vec::with_capacity(n);
        let mut total: u64 = 0;
        for (i, row) in counts.iter().enumerate() {
            let s = row.iter().try_fold(0u64, |a, &c| a.checked_add(c));
            let s = s.ok_or_else(|| ScanError::Counts { index: i, reason: "the counts overflow".into() })?;
            total = total.checked_add(s).ok_or_else(|| ScanError::Counts { index: i, reason: "the counts overflow".into() })?;
            row_totals.push(s);
        }
        if total == 0 {
            return Err(ScanError::NoCases);
        }
        // Counts are held as f64 (exact below 2⁵³). The permutation model keeps the smaller
        // limit it had when it held one label per case.
        let limit = match opts.model {
            ScanModel::Poisson => 1u64 << 50,
            ScanModel::SpaceTimePermutation => u32::MAX as u64,
        };
        if total > limit {
            return Err(ScanError::Counts { index: 0, reason: format!("{total} cases in all, more than the {limit} this model handles") });
        }
        let weight: Vec<f64> = match opts.model {
            ScanModel::Poisson => {
                for (i, (l, &s)) in locs.iter().zip(&row_totals).enumerate() {
                    if l.population == 0.0 && s > 0 {
                        return Err(ScanError::Location { index: i, reason: format!("{s} cases but no population") });
                    }
                }
                locs.iter().map(|l| l.population).collect()
            }
            ScanModel::SpaceTimePermutation => row_totals.iter().map(|&s| s as f64).collect(),
        };
        let weight_total: f64 = weight.iter().sum();
        if !(weight_total > 0.0 && weight_total.is_finite()) {
            return Err(ScanError::Location { index: 0, reason: "the total population is not a positive finite number".into() });
        }
        Ok(Input { slices, weight, weight_total, total })
    }
}

/// The circles (each centre's neighbour order, and where each circle ends in it) and the
/// observed cases, shared read-only by every replicate.
struct Scan {
    n: usize,
    /// The longest window in slices; window index `l` covers the last `l + 1` slices.
    len: usize,
    /// Per centre, `order[offsets[i]..offsets[i + 1]]`: the locations nearest first, up to
    /// the largest circle allowed.
    order: Vec<u32>,
    offsets: Vec<usize>,
    /// Circles: (centre, how many of its `order` are inside), by centre then size. Locations
    /// at the same distance enter together, and a ring of locations with no weight makes no
    /// new circle (its cases and expectation are those of the circle before).
    steps: Vec<(u32, u32)>,
    step_offsets: Vec<usize>,
    weight: Vec<f64>,
    inv_weight_total: f64,
    /// Cases of all locations in the last `l + 1` slices, for each window length.
    slice_sums: Vec<f64>,
    total: f64,
    /// Observed: location `z`'s cases in the last `l + 1` slices at `z * len + l`.
    sums: Vec<f64>,
}

/// The best window of a centre among its circles up to some size.
#[derive(Clone, Copy, Debug)]
struct Best {
    llr: f64,
    centre: u32,
    /// How many of the centre's `order` are inside.
    end: u32,
    /// Window length index.
    l: u32,
    c: f64,
    mu: f64,
}

impl Scan {
    fn new(locs: &[ScanLocation], counts: &[Vec<u64>], input: &Input, opts: &ScanOptions) -> Result<Scan, ScanError> {
        let n = locs.len();
        let slices = input.slices;
        let len = (opts.max_time_fraction * slices as f64 + 1e-9).floor() as usize;
        if len == 0 {
            return Err(ScanError::NoWindow(format!(
                "{slices} slices: a window of at most {} of them is shorter than one slice",
                opts.max_time_fraction
            )));
        }
        let cap = opts.max_population_fraction * input.weight_total;
        // Sums of weights are rounded, so a circle of exactly the cap is not refused for it.
        let cap = cap + cap * 1e-12;
        let weight = &input.weight;
        let per_centre: Vec<(Vec<u32>, Vec<u32>)> = (0..n)
            .into_par_iter()
            .map(|i| {
                let mut near: Vec<(f64, u32)> = (0..n)
                    .map(|j| {
                        let (dx, dy) = (locs[j].x - locs[i].x, locs[j].y - locs[i].y);
                        (dx * dx + dy * dy, j as u32)
                    })
                    .collect();
                // The centre first (ties at distance 0 by index, the centre before the rest).
                near.sort_by(|a, b| a.0.total_cmp(&b.0).then((a.1 != i as u32).cmp(&(b.1 != i as u32))).then(a.1.cmp(&b.1)));
                let (mut order, mut ends) = (Vec::new(), Vec::new());
                let mut inside = 0.0;
                let mut pos = 0;
                while pos < n {
                    let mut g = pos;
                    let mut ring = 0.0;
                    while g < n && near[g].0 == near[pos].0 {
                        ring += weight[near[g].1 as usize];
                        g += 1;
                    }
                    if inside + ring > cap {
                        break;
                    }
                    inside += ring;
                    order.extend(near[pos..g].iter().map(|x| x.1));
                    if ring > 0.0 {
                        ends.push(g as u32);
                    }
                    pos = g;
                }
                order.truncate(ends.last().copied().unwrap_or(0) as usize);
                (order, ends)
            })
            .collect();
        let (mut order, mut offsets, mut steps, mut step_offsets) = (Vec::new(), vec![0], Vec::new(), vec![0]);
        for (i, (o, e)) in per_centre.into_iter().enumerate() {
            order.extend(o);
            offsets.push(order.len());
            steps.extend(e.into_iter().map(|end| (i as u32, end)));
            step_offsets.push(steps.len());
        }
        if steps.is_empty() {
            return Err(ScanError::NoWindow(format!(
                "no circle holds at most {} of the {}",
                opts.max_population_fraction,
                if opts.model == ScanModel::Poisson { "population" } else { "cases" }
            )));
        }
        let mut sums = vec![0.0; n * len];
        for (z, row) in counts.iter().enumerate() {
            let mut acc = 0u64;
            for l in 0..len {
                acc += row[slices - 1 - l];
                sums[z * len + l] = acc as f64;
            }
        }
        let mut slice_sums = vec![0.0; len];
        let mut acc = 0u64;
        for (l, s) in slice_sums.iter_mut().enumerate() {
            acc += counts.iter().map(|row| row[slices - 1 - l]).sum::<u64>();
            *s = acc as f64;
        }
        Ok(Scan {
            n,
            len,
            order,
            offsets,
            steps,
            step_offsets,
            weight: input.weight.clone(),
            inv_weight_total: 1.0 / input.weight_total,
            slice_sums,
            total: input.total as f64,
            sums,
        })
    }

    fn members(&self, centre: usize, end: usize) -> &[u32] {
        &self.order[self.offsets[centre]..self.offsets[centre] + end]
    }

    /// Walks centre `i`'s circles, calling `visit(step, share, cases)` with the circle's
    /// share of the weight and its cases in each window length.
    #[inline]
    fn walk(&self, i: usize, sums: &[f64], acc: &mut [f64], mut visit: impl FnMut(usize, f64, &[f64]) -> bool) {
        let len = self.len;
        acc.fill(0.0);
        let order = &self.order[self.offsets[i]..self.offsets[i + 1]];
        let mut inside = 0.0;
        let mut pos = 0usize;
        for s in self.step_offsets[i]..self.step_offsets[i + 1] {
            let end = self.steps[s].1 as usize;
            for &j in &order[pos..end] {
                let j = j as usize;
                inside += self.weight[j];
                for (a, &v) in acc.iter_mut().zip(&sums[j * len..(j + 1) * len]) {
                    *a += v;
                }
            }
            pos = end;
            if !visit(s, inside * self.inv_weight_total, acc) {
                return;
            }
        }
    }

    /// For every circle, the best window among the centre's circles up to it (the first of
    /// equal ratios: smaller circle, then shorter window).
    fn observed(&self) -> Vec<Best> {
        let per_centre: Vec<Vec<Best>> = (0..self.n)
            .into_par_iter()
            .map(|i| {
                let mut acc = vec![0.0; self.len];
                let mut out = Vec::with_capacity(self.step_offsets[i + 1] - self.step_offsets[i]);
                let mut best = Best { llr: 0.0, centre: i as u32, end: 0, l: 0, c: 0.0, mu: 0.0 };
                self.walk(i, &self.sums, &mut acc, |s, share, acc| {
                    for (l, &c) in acc.iter().enumerate() {
                        let mu = share * self.slice_sums[l];
                        let v = log_likelihood_ratio(c, mu, self.total);
                        if v > best.llr {
                            best = Best { llr: v, centre: i as u32, end: self.steps[s].1, l: l as u32, c, mu };
                        }
                    }
                    out.push(best);
                    true
                });
                out
            })
            .collect();
        per_centre.concat()
    }

    /// The most likely cluster, then the best windows that share no location with an earlier
    /// pick: a centre's circles grow by prefixes of its order, so those left are the circles
    /// before its first picked location, and the best of them is a prefix maximum.
    fn select(&self, bests: &[Best], max_clusters: usize) -> Vec<Best> {
        let mut taken = vec![false; self.n];
        let mut picked: Vec<Best> = Vec::new();
        while picked.len() < max_clusters {
            let mut choice: Option<Best> = None;
            for i in 0..self.n {
                let order = &self.order[self.offsets[i]..self.offsets[i + 1]];
                let free = order.iter().position(|&j| taken[j as usize]).unwrap_or(order.len()) as u32;
                let steps = &self.steps[self.step_offsets[i]..self.step_offsets[i + 1]];
                let k = steps.partition_point(|&(_, end)| end <= free);
                if k == 0 {
                    continue;
                }
                let b = bests[self.step_offsets[i] + k - 1];
                if b.llr > 0.0 && choice.is_none_or(|c| b.llr > c.llr) {
                    choice = Some(b);
                }
            }
            let Some(b) = choice else { break };
            for &j in self.members(b.centre as usize, b.end as usize) {
                taken[j as usize] = true;
            }
            picked.push(b);
        }
        picked
    }

    /// A replicate's largest ratio, exactly when it is at least `floor`; stops as soon as it
    /// reaches `top`. Below `floor` the value returned is some smaller number.
    ///
    /// The full ratio costs two logarithms; most windows are ruled out first by the bound
    /// LLR ≤ C·(c − μ)² / (μ·(C − μ)) (from ln x ≤ x − 1 on both terms), which needs none.
    fn replicate_max(&self, sums: &[f64], floor: f64, top: f64) -> f64 {
        let total = self.total;
        let need = floor * (1.0 - 1e-9);
        let mut best = f64::NEG_INFINITY;
        let mut acc = vec![0.0; self.len];
        for i in 0..self.n {
            self.walk(i, sums, &mut acc, |_, share, acc| {
                for (&c, &d) in acc.iter().zip(&self.slice_sums) {
                    let mu = share * d;
                    let e = c - mu;
                    if e > 0.0 && e * e * total >= need * mu * (total - mu) {
                        let v = log_likelihood_ratio(c, mu, total);
                        if v > best {
                            best = v;
                        }
                    }
                }
                best < top
            });
            if best >= top {
                break;
            }
        }
        best
    }
}

struct Buffers {
    cells: Vec<u64>,
    sums: Vec<f64>,
    /// Permutation model: the slice labels not yet dealt, per recent slice.
    left: Vec<u64>,
}

/// Draws a replicate's cases in the last `len` slices (the only ones a window sees).
enum Sampler {
    /// Each slice keeps its cases, spread over the locations in proportion to population:
    /// multinomial over (location, slice) in proportion to μ, conditional on every slice's
    /// total, so the expectations are those of the data. The multinomial is drawn as a
    /// binomial per location of what the locations before it left (`w_z` over the weight of
    /// `z` and every later location, `rest`): one draw per location and recent slice instead of
    /// one per case.
    Poisson { weight: Vec<f64>, rest: Vec<f64>, last: usize, per_slice: Vec<u64>, ln_fact: LnFactorials },
    /// The slice labels of all cases shuffled among them: every location keeps its cases and
    /// every slice its total. Only the labels of the last `len` slices matter. Location by
    /// location, how many of its cases draw each recent slice's label is hypergeometric given
    /// the labels not yet dealt (the older slices' labels counted as one more kind); dealt in
    /// sequence this is exactly a uniform shuffle, at one draw per location and recent slice
    /// instead of one per case.
    Permutation { per_location: Vec<u64>, per_slice: Vec<u64>, total: u64, ln_fact: LnFactorials },
}

impl Sampler {
    fn new(counts: &[Vec<u64>], input: &Input, len: usize, model: ScanModel) -> Sampler {
        let slices = input.slices;
        match model {
            ScanModel::Poisson => {
                let per_slice: Vec<u64> = (0..len).map(|l| counts.iter().map(|row| row[slices - 1 - l]).sum()).collect();
                let mut rest = vec![0.0; input.weight.len()];
                let mut acc = 0.0;
                for (r, w) in rest.iter_mut().zip(&input.weight).rev() {
                    acc += w;
                    *r = acc;
                }
                let most = per_slice.iter().copied().max().unwrap_or(0);
                let last = input.weight.iter().rposition(|&w| w > 0.0).unwrap_or(0);
                Sampler::Poisson { weight: input.weight.clone(), rest, last, per_slice, ln_fact: LnFactorials::new(most) }
            }
            ScanModel::SpaceTimePermutation => {
                let per_location: Vec<u64> = counts.iter().map(|row| row.iter().sum()).collect();
                let total = per_location.iter().sum();
                Sampler::Permutation {
                    per_location,
                    per_slice: (0..len).map(|l| counts.iter().map(|row| row[slices - 1 - l]).sum()).collect(),
                    total,
                    ln_fact: LnFactorials::new(total),
                }
            }
        }
    }

    /// Fills `buf.sums` with the replicate's cases of each location in the last `l + 1`
    /// slices, at `z * len + l`.
    fn draw(&self, rng: &mut impl Rng, len: usize, buf: &mut Buffers) {
        buf.cells.fill(0);
        match self {
            Sampler::Poisson { weight, rest, last, per_slice, ln_fact } => {
                for (l, &c) in per_slice.iter().enumerate() {
                    let mut left = c;
                    for (z, (&w, &r)) in weight.iter().zip(rest).enumerate() {
                        if left == 0 {
                            break;
                        }
                        // The last location with weight takes what is left, whatever rounding
                        // did to the sums.
                        let x = if z == *last { left } else { binomial(rng, ln_fact, left, if r > 0.0 { (w / r).min(1.0) } else { 0.0 }) };
                        buf.cells[z * len + l] = x;
                        left -= x;
                    }
                }
            }
            Sampler::Permutation { per_location, per_slice, total, ln_fact } => {
                buf.left.clear();
                buf.left.extend_from_slice(per_slice);
                // Labels not yet dealt, of every slice (recent and older).
                let mut pool = *total;
                for (z, &n) in per_location.iter().enumerate() {
                    let (mut m, mut rest) = (n, pool);
                    for (l, left) in buf.left.iter_mut().enumerate() {
                        if m == 0 {
                            break;
                        }
                        let x = hypergeometric(rng, ln_fact, rest, *left, m);
                        buf.cells[z * len + l] = x;
                        rest -= *left;
                        *left -= x;
                        m -= x;
                    }
                    pool -= n;
                }
            }
        }
        for (cells, sums) in buf.cells.chunks_exact(len).zip(buf.sums.chunks_exact_mut(len)) {
            let mut acc = 0u64;
            for (c, s) in cells.iter().zip(sums) {
                acc += c;
                *s = acc as f64;
            }
        }
    }
}

/// ln k! for k = 0..=n, each from the log-gamma function (no running sum, so no error builds
/// up along the table).
/// Counts up to this are looked up; larger ones (rare: a slice of millions of cases) are
/// computed, so the table stays small whatever the input.
const LN_FACT_TABLE: u64 = 1 << 22;

struct LnFactorials(Vec<f64>);

impl LnFactorials {
    fn new(n: u64) -> LnFactorials {
        LnFactorials((0..=n.min(LN_FACT_TABLE)).map(|k| libm::lgamma(k as f64 + 1.0)).collect())
    }

    #[inline]
    fn ln(&self, k: u64) -> f64 {
        match self.0.get(k as usize) {
            Some(&v) => v,
            None => libm::lgamma(k as f64 + 1.0),
        }
    }

    #[inline]
    fn choose(&self, n: u64, k: u64) -> f64 {
        self.ln(n) - self.ln(k) - self.ln(n - k)
    }
}

/// An exact draw of how many of `draws` items taken without replacement from `total`, of
/// which `good` are marked, are marked.
fn hypergeometric(rng: &mut impl Rng, ln_fact: &LnFactorials, total: u64, good: u64, draws: u64) -> u64 {
    let bad = total - good;
    let (lo, hi) = (draws.saturating_sub(bad), good.min(draws));
    if lo == hi {
        return lo;
    }
    let mode = (((draws + 1) as f64 * (good + 1) as f64 / (total + 2) as f64) as u64).clamp(lo, hi);
    let p_mode = (ln_fact.choose(good, mode) + ln_fact.choose(bad, draws - mode) - ln_fact.choose(total, draws)).exp();
    // P(k + 1) / P(k) and P(k − 1) / P(k).
    let up = |k: u64| ((good - k) as f64 * (draws - k) as f64) / ((k + 1) as f64 * (bad + k + 1 - draws) as f64);
    let down = |k: u64| (k as f64 * (bad + k - draws) as f64) / ((good - k + 1) as f64 * (draws - k + 1) as f64);
    invert_from_mode(rng, lo, hi, mode, p_mode, up, down)
}

/// An exact draw from Binomial(`n`, `p`).
fn binomial(rng: &mut impl Rng, ln_fact: &LnFactorials, n: u64, p: f64) -> u64 {
    if n == 0 || p <= 0.0 {
        return 0;
    }
    if p >= 1.0 {
        return n;
    }
    let q = 1.0 - p;
    let mode = (((n + 1) as f64 * p) as u64).min(n);
    let p_mode = (ln_fact.choose(n, mode) + mode as f64 * p.ln() + (n - mode) as f64 * q.ln()).exp();
    let (odds, inverse) = (p / q, q / p);
    let up = |k: u64| (n - k) as f64 / (k + 1) as f64 * odds;
    let down = |k: u64| k as f64 / (n - k + 1) as f64 * inverse;
    invert_from_mode(rng, 0, n, mode, p_mode, up, down)
}

/// Inversion of a discrete distribution on `lo..=hi` searching outward from its mode, each
/// next probability from the last by the ratio of neighbouring terms (`up(k)` = P(k+1)/P(k),
/// `down(k)` = P(k−1)/P(k)); the likelier side is taken first, so the expected number of
/// steps is of the order of the standard deviation. The order of the walk depends only on the
/// distribution, so this is inversion on a fixed ordering of the support: exact.
fn invert_from_mode(
    rng: &mut impl Rng,
    lo: u64,
    hi: u64,
    mode: u64,
    p_mode: f64,
    up: impl Fn(u64) -> f64,
    down: impl Fn(u64) -> f64,
) -> u64 {
    let mut u = rng.r#gen::<f64>() - p_mode;
    let (mut below, mut p_below) = (mode, p_mode);
    let (mut above, mut p_above) = (mode, p_mode);
    while u > 0.0 {
        let next_down = if below > lo { p_below * down(below) } else { -1.0 };
        let next_up = if above < hi { p_above * up(above) } else { -1.0 };
        if next_down < 0.0 && next_up < 0.0 {
            // Only rounding is left: the mode is as good an answer as any.
            return mode;
        }
        if next_down >= next_up {
            below -= 1;
            p_below = next_down;
            u -= p_below;
            if u <= 0.0 {
                return below;
            }
        } else {
            above += 1;
            p_above = next_up;
            u -= p_above;
            if u <= 0.0 {
                return above;
            }
        }
    }
    mode
}

/// Walker's alias table (Vose's construction): a draw in proportion to the weights costs two
/// random numbers.
pub(crate) struct Alias {
    prob: Vec<f64>,
    alias: Vec<u32>,
}

impl Alias {
    /// Weights must be finite, ≥ 0 and not all 0.
    pub(crate) fn new(w: &[f64]) -> Alias {
        let n = w.len();
        let total: f64 = w.iter().sum();
        let mut scaled: Vec<f64> = w.iter().map(|&x| x * n as f64 / total).collect();
        let mut prob = vec![1.0; n];
        let mut alias: Vec<u32> = (0..n as u32).collect();
        let (mut small, mut large): (Vec<usize>, Vec<usize>) = (0..n).partition(|&i| scaled[i] < 1.0);
        while let (Some(&s), Some(&g)) = (small.last(), large.last()) {
            small.pop();
            prob[s] = scaled[s];
            alias[s] = g as u32;
            scaled[g] -= 1.0 - scaled[s];
            if scaled[g] < 1.0 {
                large.pop();
                small.push(g);
            }
        }
        // What is left is 1 up to rounding; a leftover with no weight at all must never be
        // drawn for itself.
        for &i in small.iter().chain(&large) {
            prob[i] = if w[i] > 0.0 { 1.0 } else { 0.0 };
            if w[i] == 0.0 {
                alias[i] = w.iter().position(|&x| x > 0.0).unwrap_or(0) as u32;
            }
        }
        Alias { prob, alias }
    }

    #[inline]
    pub(crate) fn sample(&self, rng: &mut impl Rng) -> usize {
        let i = rng.gen_range(0..self.prob.len());
        if rng.r#gen::<f64>() < self.prob[i] { i } else { self.alias[i] as usize }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(pops: &[f64]) -> Vec<ScanLocation> {
        pops.iter().enumerate().map(|(i, &p)| ScanLocation { x: i as f64, y: 0.0, population: p }).collect()
    }

    fn opts(model: ScanModel) -> ScanOptions {
        ScanOptions { model, replicates: 99, seed: 3, max_clusters: 5, ..ScanOptions::default() }
    }

    /// Random points and counts: a few busy places over a quiet background.
    fn random_data(seed: u64, n: usize, t: usize) -> (Vec<ScanLocation>, Vec<Vec<u64>>) {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let locs: Vec<ScanLocation> = (0..n)
            .map(|_| ScanLocation {
                x: rng.gen_range(0.0..100.0),
                y: rng.gen_range(0.0..100.0),
                population: rng.gen_range(10.0..500.0f64).round(),
            })
            .collect();
        let counts =
            (0..n).map(|_| (0..t).map(|_| if rng.gen_bool(0.1) { rng.gen_range(3..12) } else { rng.gen_range(0..3) }).collect()).collect();
        (locs, counts)
    }

    /// Every circle (all locations within the distance of some location) and window length,
    /// by brute force; then the greedy non-overlapping picks by ratio.
    fn brute_force(locs: &[ScanLocation], counts: &[Vec<u64>], model: ScanModel, k: usize) -> Vec<(f64, Vec<usize>)> {
        let n = locs.len();
        let t = counts[0].len();
        let len = t / 2;
        let w: Vec<f64> = match model {
            ScanModel::Poisson => locs.iter().map(|l| l.population).collect(),
            ScanModel::SpaceTimePermutation => counts.iter().map(|r| r.iter().sum::<u64>() as f64).collect(),
        };
        let wt: f64 = w.iter().sum();
        let total: f64 = counts.iter().flatten().sum::<u64>() as f64;
        let mut all = Vec::new();
        for i in 0..n {
            for j in 0..n {
                let r = dist(&locs[i], &locs[j]);
                let set: Vec<usize> = (0..n).filter(|&z| dist(&locs[i], &locs[z]) <= r).collect();
                let ws: f64 = set.iter().map(|&z| w[z]).sum();
                if ws > 0.5 * wt * (1.0 + 1e-12) {
                    continue;
                }
                for l in 1..=len {
                    let c: u64 = set.iter().map(|&z| counts[z][t - l..].iter().sum::<u64>()).sum();
                    let d: u64 = counts.iter().map(|row| row[t - l..].iter().sum::<u64>()).sum();
                    let mu = ws / wt * d as f64;
                    let v = log_likelihood_ratio(c as f64, mu, total);
                    if v > 0.0 {
                        all.push((v, set.clone()));
                    }
                }
            }
        }
        all.sort_by(|a, b| b.0.total_cmp(&a.0));
        let mut picked: Vec<(f64, Vec<usize>)> = Vec::new();
        for (v, set) in all {
            if picked.len() == k {
                break;
            }
            if picked.iter().all(|(_, p)| !p.iter().any(|z| set.contains(z))) {
                picked.push((v, set));
            }
        }
        picked
    }

    #[test]
    fn a_hand_computed_poisson_window() {
        // Four villages of 100 in a row; village 0 has 6 cases in the last of two slices.
        let locs = line(&[100.0; 4]);
        let counts = vec![vec![1, 6], vec![1, 1], vec![1, 1], vec![1, 1]];
        let r = prospective_scan(&locs, &counts, &opts(ScanModel::Poisson)).unwrap();
        assert_eq!((r.total_cases, r.slices, r.max_window_slices), (13, 2, 1));
        // Circles within half the population: {0}, {0,1}, {1}, {2}, {3}, {3,2}; {1} cannot
        // grow, since 0 and 2 are equally near and together exceed the cap.
        assert_eq!(r.circles, 6);
        assert_eq!(r.clusters.len(), 1, "{:?}", r.clusters);
        let c = &r.clusters[0];
        // 9 cases in the last slice, village 0 holds a quarter of the population: μ = 2.25.
        let (obs, mu, total) = (6.0f64, 2.25f64, 13.0f64);
        let llr = obs * (obs / mu).ln() + (total - obs) * ((total - obs) / (total - mu)).ln();
        assert_eq!((c.center, c.locations.clone(), c.start, c.end, c.observed), (0, vec![0], 1, 1, 6));
        assert!((c.expected - mu).abs() < 1e-12);
        assert!((c.llr - llr).abs() < 1e-12, "{} vs {llr}", c.llr);
        assert!((c.relative_risk - (obs / mu) / ((total - obs) / (total - mu))).abs() < 1e-12);
        assert_eq!(c.radius, 0.0);
        assert!((c.recurrence_slices * c.p_value - 1.0).abs() < 1e-12);
        // The circle {0, 1} (LLR about 1.0) is below, and overlaps, the chosen one.
        assert!(c.llr > 2.88 && c.llr < 2.89);
    }

    #[test]
    fn a_hand_computed_permutation_window() {
        // The permutation model needs no population.
        let locs = line(&[0.0; 4]);
        let counts = vec![vec![3, 5], vec![4, 1], vec![4, 1], vec![4, 1]];
        let r = prospective_scan(&locs, &counts, &opts(ScanModel::SpaceTimePermutation)).unwrap();
        let c = &r.clusters[0];
        // μ = C_z· · C_·t / C = 8 · 8 / 23.
        let (obs, mu, total) = (5.0f64, 64.0 / 23.0, 23.0f64);
        let llr = obs * (obs / mu).ln() + (total - obs) * ((total - obs) / (total - mu)).ln();
        assert_eq!((c.center, c.locations.clone(), c.start, c.observed), (0, vec![0], 1, 5));
        assert!((c.expected - mu).abs() < 1e-12 && (c.llr - llr).abs() < 1e-12);
        assert_eq!(r.clusters.len(), 1);
    }

    #[test]
    fn expectations_sum_to_the_observed_margins() {
        let (locs, counts) = random_data(1, 30, 9);
        let total: u64 = counts.iter().flatten().sum();
        for model in [ScanModel::Poisson, ScanModel::SpaceTimePermutation] {
            let mu = expected_counts(&locs, &counts, model).unwrap();
            let sum: f64 = mu.iter().flatten().sum();
            assert!((sum - total as f64).abs() < 1e-9 * total as f64);
            for t in 0..9 {
                let ct: u64 = counts.iter().map(|r| r[t]).sum();
                let mt: f64 = mu.iter().map(|r| r[t]).sum();
                assert!((mt - ct as f64).abs() < 1e-9 * total as f64, "slice {t}");
            }
            if model == ScanModel::SpaceTimePermutation {
                for (m, c) in mu.iter().zip(&counts) {
                    assert!((m.iter().sum::<f64>() - c.iter().sum::<u64>() as f64).abs() < 1e-9);
                }
            } else {
                let p: f64 = locs.iter().map(|l| l.population).sum();
                for (m, l) in mu.iter().zip(&locs) {
                    assert!((m.iter().sum::<f64>() - total as f64 * l.population / p).abs() < 1e-9);
                }
            }
        }
    }

    #[test]
    fn clusters_agree_with_a_brute_force_scan() {
        for seed in 0..6 {
            let (locs, counts) = random_data(seed, 25, 8);
            for model in [ScanModel::Poisson, ScanModel::SpaceTimePermutation] {
                let r = prospective_scan(&locs, &counts, &opts(model)).unwrap();
                let want = brute_force(&locs, &counts, model, 5);
                assert_eq!(r.clusters.len(), want.len(), "seed {seed} {model:?}");
                for (c, (v, set)) in r.clusters.iter().zip(&want) {
                    assert!((c.llr - v).abs() <= 1e-9 * v, "seed {seed} {model:?}: {} vs {v}", c.llr);
                    let mut mine = c.locations.clone();
                    mine.sort();
                    assert_eq!(&mine, set, "seed {seed} {model:?}");
                    assert_eq!(c.end, 7);
                    assert!(c.end - c.start < 4);
                }
            }
        }
    }

    #[test]
    fn windows_respect_both_caps() {
        let (locs, counts) = random_data(7, 60, 11);
        for (model, frac) in [(ScanModel::Poisson, 0.5), (ScanModel::Poisson, 0.2), (ScanModel::SpaceTimePermutation, 0.3)] {
            let o = ScanOptions { max_population_fraction: frac, max_time_fraction: 0.4, ..opts(model) };
            let input = Input::check(&locs, &counts, &o).unwrap();
            let scan = Scan::new(&locs, &counts, &input, &o).unwrap();
            assert_eq!(scan.len, 4);
            let cap = frac * input.weight_total;
            for (s, &(i, end)) in scan.steps.iter().enumerate() {
                let members = scan.members(i as usize, end as usize);
                assert_eq!(members[0], i, "a circle starts at its centre");
                let w: f64 = members.iter().map(|&j| input.weight[j as usize]).sum();
                assert!(w <= cap * (1.0 + 1e-9), "circle {s}: {w} > {cap}");
                // A circle holds every location at most as far as its farthest.
                let far = dist(&locs[i as usize], &locs[*members.last().unwrap() as usize]);
                let within = (0..locs.len()).filter(|&z| dist(&locs[i as usize], &locs[z]) <= far).count();
                assert_eq!(within, members.len());
            }
            // The largest circle of each centre could not take its next ring.
            for i in 0..locs.len() {
                let steps = &scan.steps[scan.step_offsets[i]..scan.step_offsets[i + 1]];
                let Some(&(_, end)) = steps.last() else { continue };
                let members = scan.members(i, end as usize);
                let far = dist(&locs[i], &locs[*members.last().unwrap() as usize]);
                let w: f64 = members.iter().map(|&j| input.weight[j as usize]).sum();
                let next = (0..locs.len())
                    .filter(|&z| dist(&locs[i], &locs[z]) > far)
                    .map(|z| dist(&locs[i], &locs[z]))
                    .fold(f64::INFINITY, f64::min);
                let ring: f64 = (0..locs.len()).filter(|&z| dist(&locs[i], &locs[z]) == next).map(|z| input.weight[z]).sum();
                assert!(next.is_infinite() || w + ring > cap || ring == 0.0);
            }
            let r = prospective_scan(&locs, &counts, &o).unwrap();
            for c in &r.clusters {
                assert!(c.end - c.start < 4 && c.end == 10);
                let w: f64 = c.locations.iter().map(|&j| input.weight[j]).sum();
                assert!(w <= cap * (1.0 + 1e-9));
            }
        }
    }

    #[test]
    fn the_bound_never_prunes_a_window_that_matters() {
        let (locs, counts) = random_data(11, 40, 10);
        for model in [ScanModel::Poisson, ScanModel::SpaceTimePermutation] {
            let o = opts(model);
            let input = Input::check(&locs, &counts, &o).unwrap();
            let scan = Scan::new(&locs, &counts, &input, &o).unwrap();
            let sampler = Sampler::new(&counts, &input, scan.len, model);
            let mut buf = Buffers { cells: vec![0; scan.n * scan.len], sums: vec![0.0; scan.n * scan.len], left: Vec::new() };
            for r in 0..20 {
                sampler.draw(&mut replicate_rng(5, r), scan.len, &mut buf);
                // Each slice keeps its cases.
                for l in 0..scan.len {
                    let got: u64 = (0..scan.n).map(|z| buf.cells[z * scan.len + l]).sum();
                    let want: u64 = counts.iter().map(|row| row[row.len() - 1 - l]).sum();
                    assert_eq!(got, want);
                }
                if model == ScanModel::SpaceTimePermutation {
                    for (z, row) in counts.iter().enumerate() {
                        assert!(buf.sums[z * scan.len + scan.len - 1] <= row.iter().sum::<u64>() as f64);
                    }
                }
                // The exact maximum, every window evaluated.
                let mut max = 0.0f64;
                let mut acc = vec![0.0; scan.len];
                for i in 0..scan.n {
                    scan.walk(i, &buf.sums, &mut acc, |_, share, acc| {
                        for (l, &c) in acc.iter().enumerate() {
                            max = max.max(log_likelihood_ratio(c, share * scan.slice_sums[l], scan.total));
                        }
                        true
                    });
                }
                assert_eq!(scan.replicate_max(&buf.sums, 1e-300, f64::INFINITY), max);
                assert_eq!(scan.replicate_max(&buf.sums, max, f64::INFINITY), max);
                assert!(scan.replicate_max(&buf.sums, max * 1.01, f64::INFINITY) < max * 1.01);
                assert!(scan.replicate_max(&buf.sums, max * 0.5, max * 0.9) >= max * 0.9);
            }
        }
    }

    #[test]
    fn a_planted_cluster_is_found_with_a_small_p_value() {
        use super::super::scan_sim::{County, Scenario};
        let s = Scenario { locations: 80, slices: 20, cases: 1500, cluster_share: 0.04, cluster_slices: 2, ..Scenario::default() };
        let county = County::generate(&s, 9);
        let planted = county.circle(17, s.cluster_share);
        let mut rng = rand::rngs::StdRng::seed_from_u64(4);
        let counts = county.draw(s.cases, &planted, 2, 6.0, &mut rng);
        for model in [ScanModel::Poisson, ScanModel::SpaceTimePermutation] {
            let r = prospective_scan(&county.locations, &counts, &ScanOptions { replicates: 199, ..opts(model) }).unwrap();
            let c = &r.clusters[0];
            assert_eq!(c.p_value, 1.0 / 200.0, "{model:?} {c:?}");
            assert_eq!(c.recurrence_slices, 200.0);
            assert!(c.locations.iter().filter(|j| planted.contains(j)).count() * 2 >= planted.len(), "{model:?} {c:?} vs {planted:?}");
            assert!(c.end - c.start <= 3, "{c:?}");
            assert!(c.relative_risk > 3.0, "{c:?}");
            // Secondary clusters share no location with earlier ones, and rank below.
            for (k, a) in r.clusters.iter().enumerate() {
                for b in &r.clusters[..k] {
                    assert!(a.locations.iter().all(|j| !b.locations.contains(j)));
                    assert!(a.llr <= b.llr && a.p_value >= b.p_value);
                }
            }
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_result_on_any_number_of_threads() {
        let (locs, counts) = random_data(21, 40, 12);
        for model in [ScanModel::Poisson, ScanModel::SpaceTimePermutation] {
            let o = ScanOptions { replicates: 199, ..opts(model) };
            let a = prospective_scan(&locs, &counts, &o).unwrap();
            let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
            let b = one.install(|| prospective_scan(&locs, &counts, &o)).unwrap();
            let three = rayon::ThreadPoolBuilder::new().num_threads(3).build().unwrap();
            let c = three.install(|| prospective_scan(&locs, &counts, &o)).unwrap();
            assert_eq!(a, b);
            assert_eq!(a, c);
            // Other seeds draw other replicates: some p-value moves.
            let moved = (1..6).any(|s| prospective_scan(&locs, &counts, &ScanOptions { seed: 100 + s, ..o.clone() }).unwrap() != a);
            assert!(moved);
            assert!(a.clusters.iter().any(|c| c.p_value > 0.01), "the data should have clusters of middling significance");
        }
    }

    /// Samples against exact probabilities: a chi-square test over the support (cells with an
    /// expected count under 5 pooled). The bound is the 99.99th percentile of chi-square for the
    /// degrees of freedom (Wilson–Hilferty), so a wrong sampler fails and a right one passes at
    /// the fixed seed.
    fn assert_follows(what: &str, lo: u64, hi: u64, p: impl Fn(u64) -> f64, mut draw: impl FnMut() -> u64) {
        let n = 200_000u64;
        let mut seen = vec![0u64; (hi - lo + 1) as usize];
        for _ in 0..n {
            let x = draw();
            assert!((lo..=hi).contains(&x), "{what}: {x} outside {lo}..={hi}");
            seen[(x - lo) as usize] += 1;
        }
        let (mut chi2, mut df, mut pooled_o, mut pooled_e) = (0.0, 0i64, 0.0, 0.0);
        for k in lo..=hi {
            let (o, e) = (seen[(k - lo) as usize] as f64, n as f64 * p(k));
            if e < 5.0 {
                pooled_o += o;
                pooled_e += e;
            } else {
                chi2 += (o - e) * (o - e) / e;
                df += 1;
            }
        }
        if pooled_e > 0.0 {
            chi2 += (pooled_o - pooled_e) * (pooled_o - pooled_e) / pooled_e.max(1e-9);
            df += 1;
        }
        let d = (df - 1).max(1) as f64;
        let bound = d * (1.0 - 2.0 / (9.0 * d) + 3.719 * (2.0 / (9.0 * d)).sqrt()).powi(3);
        assert!(chi2 < bound, "{what}: chi-square {chi2:.1} on {d} df, bound {bound:.1}");
    }

    /// The hypergeometric and binomial draws follow their exact distributions, for small,
    /// skewed, symmetric and large parameters.
    #[test]
    fn hypergeometric_and_binomial_draws_follow_their_distributions() {
        use rand::SeedableRng;
        let ln_fact = LnFactorials::new(2_000_000);
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        for (total, good, draws) in [(100u64, 50u64, 49u64), (20, 3, 10), (1000, 990, 500), (1_000_000, 19_000, 2_500), (60, 59, 30)] {
            let p = |k: u64| (ln_fact.choose(good, k) + ln_fact.choose(total - good, draws - k) - ln_fact.choose(total, draws)).exp();
            let (lo, hi) = (draws.saturating_sub(total - good), good.min(draws));
            assert_follows(&format!("hypergeometric({total}, {good}, {draws})"), lo, hi, p, || {
                hypergeometric(&mut rng, &ln_fact, total, good, draws)
            });
        }
        for (n, q) in [(10u64, 0.5f64), (40, 0.03), (20_000, 0.0025), (1_000, 0.97), (7, 0.999)] {
            let p = |k: u64| (ln_fact.choose(n, k) + k as f64 * q.ln() + (n - k) as f64 * (1.0 - q).ln()).exp();
            assert_follows(&format!("binomial({n}, {q})"), 0, n, p, || binomial(&mut rng, &ln_fact, n, q));
        }
        assert_eq!(binomial(&mut rng, &ln_fact, 9, 0.0), 0);
        assert_eq!(binomial(&mut rng, &ln_fact, 9, 1.0), 9);
    }

    #[test]
    fn bad_input_is_refused() {
        let locs = line(&[10.0, 20.0, 30.0]);
        let counts = vec![vec![1, 2, 3, 4], vec![0, 1, 0, 1], vec![2, 2, 2, 2]];
        let o = opts(ScanModel::Poisson);
        assert!(prospective_scan(&locs, &counts, &o).is_ok());
        let err = |l: &[ScanLocation], c: &[Vec<u64>], o: &ScanOptions| prospective_scan(l, c, o).unwrap_err();
        assert_eq!(err(&[], &[], &o), ScanError::NoLocations);
        assert_eq!(err(&locs, &counts[..2], &o), ScanError::Rows { rows: 2, locations: 3 });
        let ragged = vec![vec![1, 2, 3, 4], vec![0, 1, 0], vec![2, 2, 2, 2]];
        assert!(matches!(err(&locs, &ragged, &o), ScanError::Counts { index: 1, .. }));
        assert!(matches!(err(&locs, &[vec![], vec![], vec![]], &o), ScanError::Counts { index: 0, .. }));
        let mut nan = locs.clone();
        nan[2].y = f64::NAN;
        assert!(matches!(err(&nan, &counts, &o), ScanError::Location { index: 2, .. }));
        let mut neg = locs.clone();
        neg[1].population = -1.0;
        assert!(matches!(err(&neg, &counts, &o), ScanError::Location { index: 1, .. }));
        let mut empty = locs.clone();
        empty[0].population = 0.0;
        let e = err(&empty, &counts, &o);
        assert!(matches!(&e, ScanError::Location { index: 0, reason } if reason.contains("no population")), "{e}");
        // The permutation model does not need the population.
        assert!(prospective_scan(&empty, &counts, &opts(ScanModel::SpaceTimePermutation)).is_ok());
        assert_eq!(err(&locs, &[vec![0; 4], vec![0; 4], vec![0; 4]], &o), ScanError::NoCases);
        for (bad, option) in [
            (ScanOptions { max_population_fraction: 0.0, ..o.clone() }, "max_population_fraction"),
            (ScanOptions { max_population_fraction: f64::NAN, ..o.clone() }, "max_population_fraction"),
            (ScanOptions { max_time_fraction: 1.5, ..o.clone() }, "max_time_fraction"),
            (ScanOptions { replicates: 0, ..o.clone() }, "replicates"),
            (ScanOptions { max_clusters: 0, ..o.clone() }, "max_clusters"),
        ] {
            assert!(matches!(err(&locs, &counts, &bad), ScanError::Option { option: o, .. } if o == option), "{option}");
        }
        // One slice cannot hold a window of at most half the period; one village of more
        // than half the population cannot make a circle.
        let e = err(&locs, &[vec![1], vec![1], vec![1]], &o);
        assert_eq!(e.code(), "scan_no_window");
        let e = err(&line(&[1000.0]), &[vec![1, 2]], &o);
        assert_eq!(e.code(), "scan_no_window");
        assert!(e.to_string().contains("population"), "{e}");
    }
}

//! Simulated counties and outbreaks that check the scan statistic: how often it raises an
//! alarm when nothing is going on (the type-I error, which should be the nominal level), and
//! how often it finds a planted cluster (the power).
//!
//! A county is a set of villages scattered over a square, with log-normal populations and a
//! seasonal swing shared by every village. A dataset puts a fixed number of cases into
//! (village, slice) cells with probability ∝ population × season, times the relative risk
//! inside the planted cluster: the villages nearest a random centre holding a given share of
//! the population, over the last few slices. Location and time are independent outside the
//! cluster, which is the null hypothesis of both models: the Poisson model's (rates
//! proportional to population, whatever the season) and the permutation model's (no
//! space–time interaction). Because replicates are drawn from the same conditional
//! distribution as null data, the Monte Carlo test is exact and the type-I error should be at
//! most α (equal to it up to ties, when (replicates + 1)·α is a whole number).

use rand::{Rng, SeedableRng};

use super::scan::{Alias, ScanError, ScanLocation, ScanModel, ScanOptions, prospective_scan};

/// The shape of a simulated county and of its planted clusters.
#[derive(Clone, Debug, PartialEq)]
pub struct Scenario {
    pub locations: usize,
    pub slices: usize,
    /// Cases per dataset (fixed: the tests are conditional on the total).
    pub cases: u64,
    /// Every village's rate in slice t is multiplied by 1 + seasonality · sin(2πt / 52).
    pub seasonality: f64,
    /// The planted cluster's share of the population (its nearest villages until reached).
    pub cluster_share: f64,
    /// The planted cluster's length: the last this many slices.
    pub cluster_slices: usize,
}

impl Default for Scenario {
    fn default() -> Self {
        Scenario { locations: 200, slices: 52, cases: 5000, seasonality: 0.5, cluster_share: 0.02, cluster_slices: 3 }
    }
}

/// Villages and the seasonal profile they share.
#[derive(Clone, Debug)]
pub struct County {
    pub locations: Vec<ScanLocation>,
    pub season: Vec<f64>,
}

fn rng_for(seed: u64, index: u64, purpose: &[u8; 8]) -> rand::rngs::StdRng {
    let mut s = [0u8; 32];
    s[..8].copy_from_slice(&seed.to_le_bytes());
    s[8..16].copy_from_slice(&index.to_le_bytes());
    s[16..24].copy_from_slice(purpose);
    rand::rngs::StdRng::from_seed(s)
}

impl County {
    /// Villages uniform over a 40 km square, populations log-normal (median 1,000, σ = 0.8 on
    /// the log scale, at least 50).
    pub fn generate(s: &Scenario, seed: u64) -> County {
        let mut rng = rng_for(seed, 0, b"county\0\0");
        let locations = (0..s.locations)
            .map(|_| {
                let (x, y) = (rng.gen_range(0.0..40_000.0), rng.gen_range(0.0..40_000.0));
                let (u1, u2): (f64, f64) = (1.0 - rng.r#gen::<f64>(), rng.r#gen::<f64>());
                let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
                ScanLocation { x, y, population: (1000.0 * (0.8 * z).exp()).round().max(50.0) }
            })
            .collect();
        let season = (0..s.slices).map(|t| 1.0 + s.seasonality * (std::f64::consts::TAU * t as f64 / 52.0).sin()).collect();
        County { locations, season }
    }

    /// The villages nearest `centre` (itself first) until they hold `share` of the population.
    pub fn circle(&self, centre: usize, share: f64) -> Vec<usize> {
        let c = self.locations[centre];
        let mut near: Vec<(f64, usize)> = self.locations.iter().enumerate().map(|(j, l)| ((l.x - c.x).hypot(l.y - c.y), j)).collect();
        near.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let total: f64 = self.locations.iter().map(|l| l.population).sum();
        let mut out = Vec::new();
        let mut inside = 0.0;
        for (_, j) in near {
            out.push(j);
            inside += self.locations[j].population;
            if inside >= share * total {
                break;
            }
        }
        out
    }

    /// `cases` cases over (village, slice) cells, in proportion to population × season, and
    /// `relative_risk` times that in `planted` over the last `planted_slices` slices.
    pub fn draw(&self, cases: u64, planted: &[usize], planted_slices: usize, relative_risk: f64, rng: &mut impl Rng) -> Vec<Vec<u64>> {
        let (n, t) = (self.locations.len(), self.season.len());
        let mut inside = vec![false; n];
        for &j in planted {
            inside[j] = true;
        }
        let mut w = Vec::with_capacity(n * t);
        for (z, l) in self.locations.iter().enumerate() {
            for (s, &f) in self.season.iter().enumerate() {
                let rr = if inside[z] && s + planted_slices >= t { relative_risk } else { 1.0 };
                w.push(l.population * f * rr);
            }
        }
        let alias = Alias::new(&w);
        let mut counts = vec![vec![0u64; t]; n];
        for _ in 0..cases {
            let k = alias.sample(rng);
            counts[k / t][k % t] += 1;
        }
        counts
    }
}

/// The outcome of many simulated datasets.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Trial {
    pub datasets: usize,
    /// Datasets whose most likely cluster had p ≤ α.
    pub rejected: usize,
    /// Of those, the ones whose most likely cluster shares a village with the planted one.
    pub located: usize,
}

/// Runs `datasets` scans of simulated data (a relative risk of 1 is the null hypothesis),
/// each with its own planted centre and data, and counts the alarms at level `alpha`.
pub fn trial(
    scenario: &Scenario,
    model: ScanModel,
    relative_risk: f64,
    datasets: usize,
    replicates: usize,
    alpha: f64,
    seed: u64,
) -> Result<Trial, ScanError> {
    let county = County::generate(scenario, seed);
    let mut out = Trial { datasets, rejected: 0, located: 0 };
    for d in 0..datasets {
        let mut rng = rng_for(seed, d as u64, b"dataset\0");
        let centre = rng.gen_range(0..scenario.locations);
        let planted = county.circle(centre, scenario.cluster_share);
        let counts = county.draw(scenario.cases, &planted, scenario.cluster_slices, relative_risk, &mut rng);
        let opts = ScanOptions { model, replicates, seed: rng.r#gen(), max_clusters: 1, ..ScanOptions::default() };
        let r = prospective_scan(&county.locations, &counts, &opts)?;
        if let Some(c) = r.clusters.first()
            && c.p_value <= alpha
        {
            out.rejected += 1;
            if c.locations.iter().any(|j| planted.contains(j)) {
                out.located += 1;
            }
        }
    }
    Ok(out)
}

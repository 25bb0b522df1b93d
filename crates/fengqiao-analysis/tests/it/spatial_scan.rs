//! The prospective space–time scan on simulated counties: under the null hypothesis the most
//! likely cluster is significant at α = 0.05 about 5% of the time, and a strong planted
//! cluster is found almost always. (The full table, with more datasets and replicates, comes
//! from `fengqiao analyze scan-validate`; see README.md.)

use fengqiao_analysis::spatial::ScanModel;
use fengqiao_analysis::spatial::scan_sim::{Scenario, trial};

/// P(X ≤ k) for X ~ Binomial(n, p).
fn binomial_cdf(k: usize, n: usize, p: f64) -> f64 {
    let mut term = (1.0 - p).powi(n as i32);
    let mut sum = term;
    for i in 0..k {
        term *= (n - i) as f64 / (i + 1) as f64 * p / (1.0 - p);
        sum += term;
    }
    sum
}

/// The central interval holding all but `tail` of each end of Binomial(n, p).
fn band(n: usize, p: f64, tail: f64) -> (usize, usize) {
    let lo = (0..=n).find(|&k| binomial_cdf(k, n, p) > tail).unwrap();
    let hi = (0..=n).find(|&k| binomial_cdf(k, n, p) >= 1.0 - tail).unwrap();
    (lo, hi)
}

fn scenario() -> Scenario {
    // A strong season (±60%), so a scan that ignored the time trend would alarm often.
    Scenario { locations: 30, slices: 10, cases: 400, seasonality: 0.6, cluster_share: 0.06, cluster_slices: 2 }
}

#[test]
fn the_type_one_error_is_near_the_nominal_level() {
    let datasets = 200;
    // 99 replicates: p ≤ 0.05 exactly when at most 4 replicates reach the data's ratio.
    let (lo, hi) = band(datasets, 0.05, 0.0005);
    assert_eq!((lo, hi), (2, 21));
    for (model, seed) in [(ScanModel::Poisson, 1), (ScanModel::SpaceTimePermutation, 2)] {
        let t = trial(&scenario(), model, 1.0, datasets, 99, 0.05, seed).unwrap();
        println!("{model:?}: {} of {datasets} null datasets rejected at α = 0.05", t.rejected);
        assert!((lo..=hi).contains(&t.rejected), "{model:?}: {} of {datasets} rejected, outside [{lo}, {hi}]", t.rejected);
    }
}

#[test]
fn a_strong_planted_cluster_is_found() {
    let datasets = 40;
    for (model, seed) in [(ScanModel::Poisson, 3), (ScanModel::SpaceTimePermutation, 4)] {
        let t = trial(&scenario(), model, 5.0, datasets, 99, 0.05, seed).unwrap();
        println!("{model:?}: relative risk 5, {} of {datasets} found, {} located", t.rejected, t.located);
        assert!(t.rejected >= 36, "{model:?}: power {} of {datasets}", t.rejected);
        assert!(t.located >= 34, "{model:?}: {} of {datasets} located", t.located);
    }
}

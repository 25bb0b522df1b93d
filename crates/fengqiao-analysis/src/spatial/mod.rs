//! Spatial and space–time statistics: hotspots, local autocorrelation, trends and scans.
//!
//! Every statistic here is defined as PySAL's `esda` 2.9 computes it, and the tests compare
//! the two on the same numbers: `weights` (edge lists, contiguity, nearest neighbours),
//! `local` (Getis–Ord Gi* and local Moran's I with conditional permutation inference),
//! `permutation` (the seeded or given permutation table), `fdr` (Benjamini–Hochberg) and
//! `smoothing` (empirical-Bayes rates). `scan` is Kulldorff's prospective space–time scan
//! statistic (as SaTScan defines it), with `scan_sim` simulating counties and outbreaks to
//! check its type-I error and power.

pub mod fdr;
pub mod local;
pub mod permutation;
pub mod scan;
pub mod scan_sim;
pub mod smoothing;
pub mod trend;
pub mod weights;

pub use fdr::benjamini_hochberg;
pub use local::{GiStar, LocalMoran, Moments, gi_star, local_moran};
pub use permutation::PermutationTable;
pub use scan::{ScanCluster, ScanError, ScanLocation, ScanModel, ScanOptions, ScanResult, expected_counts, prospective_scan};
pub use smoothing::empirical_bayes;
pub use trend::{Emerging, EmergingSite, MannKendall, Spot, classify, emerging_hot_spots, mann_kendall};
pub use weights::{Edge, Transform, Weights};

/// Why a spatial computation refused its input. Nothing is computed from bad input.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SpatialError {
    #[error("{0}")]
    Invalid(String),
    /// An edge of an edge list, by its 0-based position among the edges.
    #[error("edge {index}: {reason}")]
    Edge { index: usize, reason: String },
    /// A value, by its 0-based site index.
    #[error("value {index}: {reason}")]
    Value { index: usize, reason: String },
    /// A row of a permutation table, by its 0-based position.
    #[error("permutation {index}: {reason}")]
    Permutation { index: usize, reason: String },
}

/// The upper tail of the standard normal, P(Z > x), as `scipy.stats.norm.sf`.
pub fn normal_sf(x: f64) -> f64 {
    0.5 * libm::erfc(x / std::f64::consts::SQRT_2)
}

/// The sum of `a` in numpy's order (pairwise, eight accumulators per block of at most 128),
/// so that means, variances and standardised values agree with esda's to the last bit and a
/// tie between a permuted and an observed statistic rounds the same way.
pub(crate) fn pairwise_sum(a: &[f64]) -> f64 {
    let n = a.len();
    if n < 8 {
        let mut r = 0.0;
        for &x in a {
            r += x;
        }
        r
    } else if n <= 128 {
        let mut r = [0.0; 8];
        r.copy_from_slice(&a[..8]);
        let mut i = 8;
        while i < n - n % 8 {
            for j in 0..8 {
                r[j] += a[i + j];
            }
            i += 8;
        }
        let mut res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for &x in &a[i..] {
            res += x;
        }
        res
    } else {
        let mut n2 = n / 2;
        n2 -= n2 % 8;
        pairwise_sum(&a[..n2]) + pairwise_sum(&a[n2..])
    }
}

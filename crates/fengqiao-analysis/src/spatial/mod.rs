//! Spatial and space–time statistics: hotspots, local autocorrelation, trends and scans.
//!
//! Every statistic here is defined as PySAL's `esda` 2.9 computes it, and the tests compare
//! the two on the same numbers: `weights` (edge lists, contiguity, nearest neighbours),
//! `local` (Getis–Ord Gi* and local Moran's I with conditional permutation inference),
//! `permutation` (the seeded or given permutation table), `fdr` (Benjamini–Hochberg) and
//! `smoothing` (empirical-Bayes rates).

pub mod fdr;
pub mod local;
pub mod permutation;
pub mod smoothing;
pub mod weights;

pub use fdr::benjamini_hochberg;
pub use local::{GiStar, LocalMoran, Moments, gi_star, local_moran};
pub use permutation::PermutationTable;
pub use smoothing::empirical_bayes;
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

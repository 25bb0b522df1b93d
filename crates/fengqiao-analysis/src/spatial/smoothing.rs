//! Empirical-Bayes smoothing of rates such as cases per population (esda's
//! `smoothing.Empirical_Bayes`, Marshall's global estimator): small populations' rates are
//! pulled toward the overall rate, large ones keep theirs.

use super::SpatialError;

/// The smoothed rate of each area from its `events` (cases) and `base` (population):
/// with the overall rate `m = Σe / Σb`, the between-area variance
/// `s² = Σ bᵢ (rᵢ − m)² / Σb − m / b̄`, and the weight `wᵢ = s² / (s² + m / bᵢ)`,
/// `EBᵢ = wᵢ rᵢ + (1 − wᵢ) m`. When `s²` comes out negative (the rates vary less than
/// chance alone would make them) it is taken as 0, so every area gets the overall rate;
/// esda keeps the negative value, which gives weights outside [0, 1].
pub fn empirical_bayes(events: &[f64], base: &[f64]) -> Result<Vec<f64>, SpatialError> {
    if events.len() != base.len() {
        return Err(SpatialError::Invalid(format!("{} event counts but {} populations", events.len(), base.len())));
    }
    if events.is_empty() {
        return Err(SpatialError::Invalid("no areas".into()));
    }
    for (i, (&e, &b)) in events.iter().zip(base).enumerate() {
        if !(e.is_finite() && e >= 0.0) {
            return Err(SpatialError::Value { index: i, reason: format!("event count {e} is not a finite non-negative number") });
        }
        if !(b.is_finite() && b > 0.0) {
            return Err(SpatialError::Value { index: i, reason: format!("population {b} is not a finite positive number") });
        }
    }
    let e_sum: f64 = events.iter().sum();
    let b_sum: f64 = base.iter().sum();
    let m = e_sum / b_sum;
    let b_mean = b_sum / base.len() as f64;
    let left = events.iter().zip(base).map(|(&e, &b)| b * (e / b - m) * (e / b - m)).sum::<f64>() / b_sum;
    let s2 = (left - m / b_mean).max(0.0);
    Ok(events
        .iter()
        .zip(base)
        .map(|(&e, &b)| {
            let w = if s2 + m / b > 0.0 { s2 / (s2 + m / b) } else { 0.0 };
            w * (e / b) + (1.0 - w) * m
        })
        .collect())
}

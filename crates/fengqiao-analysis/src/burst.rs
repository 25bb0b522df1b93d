//! Bursts and rises in counts over time: is this week's count of a term, a category or serious
//! cases significantly above what the same place saw before?
//!
//! - [`burst`]: a count in the latest window against the mean of the `k` windows before it,
//!   by the upper tail of a Poisson distribution, with a minimum count and a minimum ratio so a
//!   rare thing seen five times is news but one seen twice is not.
//! - [`proportion_rise`]: a share (serious cases among all) in recent windows against the
//!   earlier ones, by the one-sided two-proportion z test with a pooled variance.

use serde::Serialize;

use crate::spatial::normal_sf;

/// `P(X ≥ k)` for `X ~ Poisson(mu)`, summed in whichever tail is shorter so neither a large
/// mean nor a far tail loses precision (no `1 − almost 1` for small upper tails).
pub fn poisson_sf(k: u64, mu: f64) -> f64 {
    if k == 0 {
        return 1.0;
    }
    if mu <= 0.0 {
        return 0.0;
    }
    let kf = k as f64;
    let log_pmf = |i: f64| -mu + i * mu.ln() - libm::lgamma(i + 1.0);
    if kf > mu {
        // The upper tail from k: each term is the one before times mu / (i + 1), falling.
        let mut term = log_pmf(kf).exp();
        let mut sum = 0.0;
        let mut i = kf;
        while term > 0.0 && term > sum * 1e-17 {
            sum += term;
            i += 1.0;
            term *= mu / i;
        }
        sum.min(1.0)
    } else {
        // One minus the lower tail below k, summed downwards from k − 1.
        let mut i = kf - 1.0;
        let mut term = log_pmf(i).exp();
        let mut sum = 0.0;
        loop {
            sum += term;
            if i == 0.0 || term <= sum * 1e-17 {
                break;
            }
            term *= i / mu;
            i -= 1.0;
        }
        (1.0 - sum).clamp(0.0, 1.0)
    }
}

/// When a count is a burst.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BurstRule {
    /// Fewest cases in the latest window.
    pub min_count: u32,
    /// The latest count must be at least this many times the baseline's mean.
    pub factor: f64,
    /// The Poisson tail probability must be below this.
    pub alpha: f64,
}

/// One count tested against its own baseline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BurstTest {
    pub count: u32,
    /// The mean count per window over the baseline windows.
    pub baseline: f64,
    /// The Poisson mean tested against: `(Σ baseline + 1) / k`, one pseudo-case so that a
    /// term never seen before does not get a tail probability of exactly zero.
    pub expected: f64,
    /// `P(X ≥ count)` under `Poisson(expected)`.
    pub p: f64,
    pub bursting: bool,
}

/// Tests `latest` against `baseline` (one count per earlier window, any order): bursting when
/// `latest ≥ min_count`, `latest ≥ factor × mean(baseline)` and
/// `P(Poisson((Σ baseline + 1)/k) ≥ latest) < alpha`. With no baseline window the mean is 0
/// and the expected count 1.
pub fn burst(latest: u32, baseline: &[u32], rule: &BurstRule) -> BurstTest {
    let k = baseline.len().max(1) as f64;
    let total: f64 = baseline.iter().map(|&c| c as f64).sum();
    let mean = total / k;
    let expected = (total + 1.0) / k;
    let p = poisson_sf(latest as u64, expected);
    let bursting = latest >= rule.min_count.max(1) && latest as f64 >= rule.factor * mean && p < rule.alpha;
    BurstTest { count: latest, baseline: mean, expected, p, bursting }
}

/// A share in recent windows against the earlier ones.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProportionRise {
    pub recent_hits: u32,
    pub recent_total: u32,
    pub earlier_hits: u32,
    pub earlier_total: u32,
    pub recent_share: f64,
    pub earlier_share: f64,
    /// `(p₁ − p₀) / √(p̂(1 − p̂)(1/n₁ + 1/n₀))` with the pooled `p̂`.
    pub z: f64,
    /// One-sided: `P(Z > z)`.
    pub p: f64,
}

/// The one-sided two-proportion z test of `recent_hits / recent_total` above
/// `earlier_hits / earlier_total`. `None` when either period has no cases, or the pooled share
/// is 0 or 1 (no variance: nothing to test).
pub fn proportion_rise(recent_hits: u32, recent_total: u32, earlier_hits: u32, earlier_total: u32) -> Option<ProportionRise> {
    if recent_total == 0 || earlier_total == 0 || recent_hits > recent_total || earlier_hits > earlier_total {
        return None;
    }
    let (n1, n0) = (recent_total as f64, earlier_total as f64);
    let (p1, p0) = (recent_hits as f64 / n1, earlier_hits as f64 / n0);
    let pooled = (recent_hits + earlier_hits) as f64 / (n1 + n0);
    let var = pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n0);
    if var <= 0.0 {
        return None;
    }
    let z = (p1 - p0) / var.sqrt();
    Some(ProportionRise { recent_hits, recent_total, earlier_hits, earlier_total, recent_share: p1, earlier_share: p0, z, p: normal_sf(z) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poisson_tail_matches_known_values() {
        // 1 − Σ_{i<k} e^{−μ} μ^i / i!, summed with 80 decimal digits.
        let cases = [
            (1, 1.0, 0.632_120_558_828_557_7),
            (5, 0.125, 2.291_910_213_652_412e-7),
            (3, 2.0, 0.323_323_583_816_936_54),
            (10, 3.0, 0.001_102_488_130_115_479_8),
            (135, 100.0, 0.000_498_256_187_707_617_1),
            (80, 100.0, 0.982_548_677_483_724_5),
        ];
        for (k, mu, want) in cases {
            let got = poisson_sf(k, mu);
            assert!((got - want).abs() <= 1e-9 * want.max(1e-12) + 1e-15, "P(X ≥ {k}; {mu}) = {got}, want {want}");
        }
        assert_eq!(poisson_sf(0, 3.0), 1.0);
        assert_eq!(poisson_sf(4, 0.0), 0.0);
    }

    #[test]
    fn a_burst_needs_the_minimum_the_factor_and_significance() {
        let rule = BurstRule { min_count: 5, factor: 2.0, alpha: 0.001 };
        // Never seen before: 5 is a burst, 4 is below the minimum.
        assert!(burst(5, &[0; 8], &rule).bursting);
        assert!(!burst(4, &[0; 8], &rule).bursting);
        // A steady 3 a week: 6 meets the factor but is not improbable enough; 12 is.
        let steady = [3, 3, 3, 3, 3, 3, 3, 3];
        let t = burst(6, &steady, &rule);
        assert_eq!((t.baseline, t.expected), (3.0, 25.0 / 8.0));
        assert!(!t.bursting && t.p > 0.001, "{t:?}");
        assert!(burst(12, &steady, &rule).bursting);
        // A large steady mean: significant but not double is no burst.
        assert!(!burst(140, &[100; 8], &rule).bursting);
    }

    #[test]
    fn proportion_rise_is_one_sided() {
        let r = proportion_rise(6, 10, 4, 40).unwrap();
        assert!((r.recent_share - 0.6).abs() < 1e-12 && (r.earlier_share - 0.1).abs() < 1e-12);
        // pooled 10/50 = 0.2; var = 0.16 × (0.1 + 0.025) = 0.02; z = 0.5 / √0.02.
        assert!((r.z - 0.5 / 0.02f64.sqrt()).abs() < 1e-12);
        assert!(r.p < 0.001);
        let down = proportion_rise(1, 10, 20, 40).unwrap();
        assert!(down.z < 0.0 && down.p > 0.5);
        assert!(proportion_rise(0, 10, 0, 40).is_none(), "no serious case at all: nothing to test");
        assert!(proportion_rise(3, 3, 1, 0).is_none());
    }
}

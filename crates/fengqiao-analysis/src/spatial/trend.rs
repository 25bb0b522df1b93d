//! Trends over time slices: the Mann–Kendall test (as `pymannkendall.original_test`) and
//! emerging hot spot categories (ArcGIS Pro's definitions) over a space–time cube of Gi* z.

use super::{SpatialError, Weights, normal_sf};

/// The tie-corrected Mann–Kendall trend test of one series.
#[derive(Clone, Debug, PartialEq)]
pub struct MannKendall {
    /// S = Σ_{i<j} sign(xⱼ − xᵢ).
    pub s: f64,
    /// Var S = (n(n − 1)(2n + 5) − Σ t(t − 1)(2t + 5)) / 18 over groups of t tied values.
    pub var_s: f64,
    /// (S − 1)/√Var S for S > 0, (S + 1)/√Var S for S < 0, else 0.
    pub z: f64,
    /// Two-sided normal p-value of z.
    pub p: f64,
    /// Kendall's τ = S / (n(n − 1)/2).
    pub tau: f64,
    /// Theil–Sen slope: the median of (xⱼ − xᵢ)/(j − i) over i < j.
    pub slope: f64,
    /// median(x) − median(0..n) · slope.
    pub intercept: f64,
}

impl MannKendall {
    /// +1 for a significant increase at level `alpha`, −1 for a decrease, 0 for none.
    pub fn trend(&self, alpha: f64) -> i8 {
        if self.p < alpha { if self.z > 0.0 { 1 } else { -1 } } else { 0 }
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 }
}

/// Mann–Kendall of `x` (at least 3 finite values).
pub fn mann_kendall(x: &[f64]) -> Result<MannKendall, SpatialError> {
    let n = x.len();
    if n < 3 {
        return Err(SpatialError::Invalid(format!("{n} values: the Mann–Kendall test needs at least 3")));
    }
    if let Some(i) = x.iter().position(|v| !v.is_finite()) {
        return Err(SpatialError::Value { index: i, reason: format!("{} is not a finite number", x[i]) });
    }
    let mut s = 0.0;
    let mut slopes = Vec::with_capacity(n * (n - 1) / 2);
    for i in 0..n {
        for j in i + 1..n {
            s += match x[j].partial_cmp(&x[i]) {
                Some(std::cmp::Ordering::Greater) => 1.0,
                Some(std::cmp::Ordering::Less) => -1.0,
                _ => 0.0,
            };
            slopes.push((x[j] - x[i]) / (j - i) as f64);
        }
    }
    let mut sorted = x.to_vec();
    sorted.sort_by(f64::total_cmp);
    let nf = n as f64;
    let mut ties = 0.0;
    let mut k = 0;
    while k < n {
        let mut e = k;
        while e + 1 < n && sorted[e + 1] == sorted[k] {
            e += 1;
        }
        let t = (e - k + 1) as f64;
        ties += t * (t - 1.0) * (2.0 * t + 5.0);
        k = e + 1;
    }
    let var_s = (nf * (nf - 1.0) * (2.0 * nf + 5.0) - ties) / 18.0;
    let z = if s > 0.0 {
        (s - 1.0) / var_s.sqrt()
    } else if s < 0.0 {
        (s + 1.0) / var_s.sqrt()
    } else {
        0.0
    };
    let slope = median(&mut slopes);
    let intercept = median(&mut x.to_vec()) - (nf - 1.0) / 2.0 * slope;
    Ok(MannKendall { s, var_s, z, p: 2.0 * normal_sf(z.abs()), tau: s / (0.5 * nf * (nf - 1.0)), slope, intercept })
}

/// ArcGIS Pro's emerging hot spot categories; each hot one has its cold mirror.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Emerging {
    NoPattern,
    New(Spot),
    Consecutive(Spot),
    Intensifying(Spot),
    Persistent(Spot),
    Diminishing(Spot),
    Sporadic(Spot),
    Oscillating(Spot),
    Historical(Spot),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Spot {
    Hot,
    Cold,
}

impl Emerging {
    pub fn name(&self) -> String {
        let (kind, spot) = match self {
            Emerging::NoPattern => return "no pattern".into(),
            Emerging::New(s) => ("new", s),
            Emerging::Consecutive(s) => ("consecutive", s),
            Emerging::Intensifying(s) => ("intensifying", s),
            Emerging::Persistent(s) => ("persistent", s),
            Emerging::Diminishing(s) => ("diminishing", s),
            Emerging::Sporadic(s) => ("sporadic", s),
            Emerging::Oscillating(s) => ("oscillating", s),
            Emerging::Historical(s) => ("historical", s),
        };
        format!("{kind} {}", if *spot == Spot::Hot { "hot spot" } else { "cold spot" })
    }
}

/// The category of one location from its significance per time slice (+1 hot, −1 cold, 0
/// neither) and the Mann–Kendall trend of its Gi* z (+1 rising, −1 falling, 0 none).
pub fn classify(sig: &[i8], trend: i8) -> Emerging {
    let t = sig.len();
    if t == 0 {
        return Emerging::NoPattern;
    }
    let last = sig[t - 1];
    // The categories about the final slice first; then the historical ones.
    for (spot, s, rising) in [(Spot::Hot, 1i8, 1i8), (Spot::Cold, -1, -1)] {
        let count = sig.iter().filter(|&&x| x == s).count();
        let most = count * 10 >= t * 9;
        if last == s {
            let run = sig.iter().rev().take_while(|&&x| x == s).count();
            if count == 1 {
                return Emerging::New(spot);
            }
            if most {
                return if trend == rising {
                    Emerging::Intensifying(spot)
                } else if trend == -rising {
                    Emerging::Diminishing(spot)
                } else {
                    Emerging::Persistent(spot)
                };
            }
            if run >= 2 && run == count {
                return Emerging::Consecutive(spot);
            }
            if sig.contains(&-s) {
                return Emerging::Oscillating(spot);
            }
            return Emerging::Sporadic(spot);
        }
    }
    for (spot, s) in [(Spot::Hot, 1i8), (Spot::Cold, -1)] {
        if sig.iter().filter(|&&x| x == s).count() * 10 >= t * 9 {
            return Emerging::Historical(spot);
        }
    }
    Emerging::NoPattern
}

/// One location's result in an emerging hot spot analysis.
#[derive(Clone, Debug)]
pub struct EmergingSite {
    /// Gi* z of each time slice.
    pub z: Vec<f64>,
    /// Mann–Kendall test of `z` over time.
    pub trend: MannKendall,
    pub category: Emerging,
}

/// Emerging hot spot analysis over a space–time cube: `values[t][i]` is site `i`'s count in
/// slice `t`. Each bin's neighbours are its site's spatial neighbours and itself (binary), in
/// its own slice and the `time_window` slices before it; Gi* z is computed over all bins of the
/// cube, a bin is significant when its two-sided normal p-value is below `alpha`, and the
/// trend is the Mann–Kendall test of the site's z series at the same `alpha`.
pub fn emerging_hot_spots(
    values: &[Vec<f64>],
    weights: &Weights,
    time_window: usize,
    alpha: f64,
) -> Result<Vec<EmergingSite>, SpatialError> {
    let t = values.len();
    if t < 3 {
        return Err(SpatialError::Invalid(format!("{t} time slices: at least 3 are needed (10 or more for meaningful categories)")));
    }
    let n = weights.n();
    if let Some(k) = values.iter().position(|v| v.len() != n) {
        return Err(SpatialError::Invalid(format!("slice {k} has {} values but there are {n} sites", values[k].len())));
    }
    let all: Vec<f64> = values.iter().flatten().copied().collect();
    if let Some(k) = all.iter().position(|v| !v.is_finite()) {
        return Err(SpatialError::Value { index: k % n, reason: format!("slice {}: {} is not a finite number", k / n, all[k]) });
    }
    let big_n = all.len() as f64;
    let mean = super::pairwise_sum(&all) / big_n;
    let sd = (super::pairwise_sum(&all.iter().map(|v| v * v).collect::<Vec<_>>()) / big_n - mean * mean).sqrt();
    if sd.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
        return Err(SpatialError::Invalid("every bin has the same value; Gi* is undefined".into()));
    }
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let (nb, _) = weights.row(i);
        let mut z = Vec::with_capacity(t);
        for s in 0..t {
            let (mut sum, mut count) = (0.0, 0.0);
            for slice in &values[s.saturating_sub(time_window)..=s] {
                sum += slice[i] + nb.iter().map(|&j| slice[j as usize]).sum::<f64>();
                count += 1.0 + nb.len() as f64;
            }
            // Binary weights: Σw = Σw² = count.
            let denom = sd * ((big_n * count - count * count) / (big_n - 1.0)).sqrt();
            z.push((sum - mean * count) / denom);
        }
        let sig: Vec<i8> = z.iter().map(|&z| if 2.0 * normal_sf(z.abs()) < alpha { if z > 0.0 { 1 } else { -1 } } else { 0 }).collect();
        let trend = mann_kendall(&z)?;
        let category = classify(&sig, trend.trend(alpha));
        out.push(EmergingSite { z, trend, category });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sig(s: &str) -> Vec<i8> {
        s.chars()
            .map(|c| match c {
                'H' => 1,
                'C' => -1,
                _ => 0,
            })
            .collect()
    }

    #[test]
    fn categories_follow_the_definitions() {
        use Emerging::*;
        use Spot::*;
        let cases = [
            ("..........", 0, NoPattern),
            (".........H", 0, New(Hot)),
            (".......HHH", 0, Consecutive(Hot)),
            ("HHHHHHHHHH", 1, Intensifying(Hot)),
            ("HHHHHHHHHH", 0, Persistent(Hot)),
            (".HHHHHHHHH", -1, Diminishing(Hot)),
            ("H..H...H.H", 0, Sporadic(Hot)),
            ("HHH.HH.HHH", 0, Sporadic(Hot)),
            ("C...H...HH", 0, Oscillating(Hot)),
            ("HHHHHHHHH.", 0, Historical(Hot)),
            (".........C", 0, New(Cold)),
            ("CCCCCCCCCC", -1, Intensifying(Cold)),
            ("CCCCCCCCCC", 1, Diminishing(Cold)),
            ("..H.C...CC", 0, Oscillating(Cold)),
            ("CCCCCCCCC.", 0, Historical(Cold)),
            ("C.C.C.C.C.", 0, NoPattern),
        ];
        for (s, trend, want) in cases {
            assert_eq!(classify(&sig(s), trend), want, "{s} trend {trend}");
        }
        assert_eq!(Intensifying(Cold).name(), "intensifying cold spot");
    }

    #[test]
    fn a_growing_cluster_emerges() {
        // A 6×6 grid over 12 slices: one corner heats up from slice 4 on and keeps growing.
        let side = 6;
        let mut lists = vec![Vec::new(); side * side];
        for r in 0..side {
            for c in 0..side {
                for (dr, dc) in [(-1i64, 0i64), (1, 0), (0, -1), (0, 1), (-1, -1), (-1, 1), (1, -1), (1, 1)] {
                    let (rr, cc) = (r as i64 + dr, c as i64 + dc);
                    if (0..side as i64).contains(&rr) && (0..side as i64).contains(&cc) {
                        lists[r * side + c].push(rr as usize * side + cc as usize);
                    }
                }
            }
        }
        let w = Weights::from_neighbours(&lists).unwrap();
        let values: Vec<Vec<f64>> = (0..12)
            .map(|t| {
                (0..side * side)
                    .map(|i| if i < 2 * side && i % side < 2 && t >= 4 { 5.0 + 3.0 * t as f64 } else { 1.0 + (i * 7 + t * 3) as f64 % 3.0 })
                    .collect()
            })
            .collect();
        let res = emerging_hot_spots(&values, &w, 1, 0.05).unwrap();
        let corner = &res[0];
        assert!(corner.trend.trend(0.05) == 1, "{:?}", corner.trend);
        assert!(matches!(corner.category, Emerging::Consecutive(Spot::Hot) | Emerging::Intensifying(Spot::Hot)), "{:?}", corner.category);
        let far = &res[side * side - 1];
        assert!(!matches!(far.category, Emerging::New(Spot::Hot) | Emerging::Consecutive(Spot::Hot)));
    }
}

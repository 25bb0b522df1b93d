//! Local indicators with conditional permutation inference: Getis–Ord Gi* (hot and cold
//! spots) and local Moran's I (clusters and outliers), as esda 2.9's `G_Local(star=True)` and
//! `Moran_Local`.

use super::permutation::{PermutationTable, Site, count_at_least, pseudo_p};
use super::{SpatialError, Transform, Weights, normal_sf, pairwise_sum};

/// Gi* for every site, in site order.
#[derive(Clone, Debug)]
pub struct GiStar {
    pub stat: Vec<f64>,
    pub expected: Vec<f64>,
    pub variance: Vec<f64>,
    pub z: Vec<f64>,
    /// One-sided normal p-value of |z|: 1 − Φ(|z|), as esda's `p_norm`.
    pub p_norm: Vec<f64>,
    /// Folded pseudo p-value from the permutations; `None` for an island (no neighbour to
    /// permute, so the test has no power; esda reports 1/(N+1) there).
    pub p_sim: Vec<Option<f64>>,
}

/// Which analytical moments `LocalMoran::expected`/`variance` (and so `z`) hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Moments {
    /// Under total randomisation (Anselin 1995; esda's `EI`, `VI`).
    Total,
    /// Under conditional randomisation, given zᵢ (Sokal et al. 1998; esda's `EIc`, `VIc`).
    Conditional,
}

/// Local Moran's I for every site, in site order.
#[derive(Clone, Debug)]
pub struct LocalMoran {
    pub stat: Vec<f64>,
    pub expected: Vec<f64>,
    pub variance: Vec<f64>,
    pub z: Vec<f64>,
    pub p_norm: Vec<f64>,
    pub p_sim: Vec<Option<f64>>,
    /// 1 = high–high, 2 = low–high, 3 = low–low, 4 = high–low (the value, then its lag).
    pub quadrant: Vec<u8>,
}

fn check_values(values: &[f64], weights: &Weights) -> Result<(), SpatialError> {
    if values.len() != weights.n() {
        return Err(SpatialError::Invalid(format!("{} values but the weights have {} sites", values.len(), weights.n())));
    }
    if values.len() < 3 {
        return Err(SpatialError::Invalid(format!("{} sites: at least 3 are needed", values.len())));
    }
    if let Some(i) = values.iter().position(|v| !v.is_finite()) {
        return Err(SpatialError::Value { index: i, reason: format!("{} is not a finite number", values[i]) });
    }
    Ok(())
}

fn check_table(table: Option<&PermutationTable>, weights: &Weights) -> Result<(), SpatialError> {
    if let Some(t) = table
        && t.width() < weights.max_cardinality()
    {
        return Err(SpatialError::Invalid(format!(
            "the permutation table has {} columns, but a site has {} neighbours",
            t.width(),
            weights.max_cardinality()
        )));
    }
    Ok(())
}

/// Getis–Ord Gi* of `values` (non-negative, not all zero) with `weights` (as given, before
/// any transform). The focal site is its own neighbour: with weight 1 under
/// [`Transform::Binary`], and under [`Transform::Row`] with the largest weight of its row
/// before the row is standardised (esda's choice when asked for Gi* with row weights).
pub fn gi_star(values: &[f64], weights: &Weights, transform: Transform, table: Option<&PermutationTable>) -> Result<GiStar, SpatialError> {
    check_values(values, weights)?;
    check_table(table, weights)?;
    if let Some(i) = values.iter().position(|&v| v < 0.0) {
        return Err(SpatialError::Value { index: i, reason: format!("{} is negative; Gi* needs non-negative values", values[i]) });
    }
    let n = values.len();
    let sum = pairwise_sum(values);
    if sum <= 0.0 {
        return Err(SpatialError::Invalid("the values add up to zero; Gi* is undefined".into()));
    }
    // The neighbours' weights (transformed) and each site's own weight on the same scale.
    let (other, self_w): (Weights, Vec<f64>) = match transform {
        Transform::Binary => (weights.transformed(Transform::Binary), vec![1.0; n]),
        Transform::Row => {
            let mut self_w = vec![0.0; n];
            let mut other = weights.clone();
            for (i, s) in self_w.iter_mut().enumerate() {
                let (_, w) = weights.row(i);
                let max = w.iter().copied().fold(0.0, f64::max);
                let total: f64 = w.iter().sum::<f64>() + max;
                if total > 0.0 {
                    *s = max / total;
                }
            }
            other.rescale_rows(|i, w| {
                let (_, orig) = weights.row(i);
                let max = orig.iter().copied().fold(0.0, f64::max);
                let total: f64 = orig.iter().sum::<f64>() + max;
                w / total
            });
            (other, self_w)
        }
    };
    let nf = n as f64;
    let mean = sum / nf;
    let mean_sq = pairwise_sum(&values.iter().map(|v| v * v).collect::<Vec<_>>()) / nf;
    let var = mean_sq - mean * mean;
    let mut g = GiStar {
        stat: Vec::with_capacity(n),
        expected: Vec::with_capacity(n),
        variance: Vec::with_capacity(n),
        z: Vec::with_capacity(n),
        p_norm: Vec::with_capacity(n),
        p_sim: vec![None; n],
    };
    for i in 0..n {
        let (nb, w) = other.row(i);
        let lag: f64 = nb.iter().zip(w).map(|(&j, &w)| w * values[j as usize]).sum::<f64>() + self_w[i] * values[i];
        let stat = lag / sum;
        let card: f64 = w.iter().sum::<f64>() + self_w[i];
        let expected = card / nf;
        let variance = card * (nf - card) / (nf - 1.0) / (nf * nf) * var / (mean * mean);
        let z = (stat - expected) / variance.sqrt();
        g.stat.push(stat);
        g.expected.push(expected);
        g.variance.push(variance);
        g.z.push(z);
        g.p_norm.push(normal_sf(z.abs()));
    }
    if let Some(table) = table {
        let at_least =
            count_at_least(values, &other, table, &|i| Site { observed: g.stat[i], add: self_w[i] * values[i], mul: 1.0, div: Some(sum) });
        for (i, (p, &count)) in g.p_sim.iter_mut().zip(&at_least).enumerate() {
            if other.cardinality(i) > 0 {
                *p = Some(pseudo_p(count, table.permutations()));
            }
        }
    }
    Ok(g)
}

/// Local Moran's I of `values` (not all equal) with `weights` under `transform`;
/// `moments` chooses which analytical expectation and variance are reported.
pub fn local_moran(
    values: &[f64],
    weights: &Weights,
    transform: Transform,
    moments: Moments,
    table: Option<&PermutationTable>,
) -> Result<LocalMoran, SpatialError> {
    check_values(values, weights)?;
    check_table(table, weights)?;
    let n = values.len();
    let nf = n as f64;
    // As numpy: z = (y − ȳ) / σ with ȳ and σ² from pairwise sums.
    let mean = pairwise_sum(values) / nf;
    let sd = (pairwise_sum(&values.iter().map(|v| (v - mean) * (v - mean)).collect::<Vec<_>>()) / nf).sqrt();
    if sd.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
        return Err(SpatialError::Invalid("every value is the same; local Moran's I is undefined".into()));
    }
    let z: Vec<f64> = values.iter().map(|v| (v - mean) / sd).collect();
    let w = weights.transformed(transform);
    let den = pairwise_sum(&z.iter().map(|v| v * v).collect::<Vec<_>>());
    let m2 = den / nf;
    let m4 = z.iter().map(|v| v.powi(4)).sum::<f64>() / nf;
    let b2 = m4 / (m2 * m2);
    let n1 = nf - 1.0;
    let mut m = LocalMoran {
        stat: Vec::with_capacity(n),
        expected: Vec::with_capacity(n),
        variance: Vec::with_capacity(n),
        z: Vec::with_capacity(n),
        p_norm: Vec::with_capacity(n),
        p_sim: vec![None; n],
        quadrant: Vec::with_capacity(n),
    };
    for i in 0..n {
        let (nb, wr) = w.row(i);
        let lag: f64 = nb.iter().zip(wr).map(|(&j, &w)| w * z[j as usize]).sum();
        let stat = n1 * z[i] * lag / den;
        let wi: f64 = wr.iter().sum();
        let wi2: f64 = wr.iter().map(|w| w * w).sum();
        let (e, v) = match moments {
            Moments::Total => {
                let e = -wi / n1;
                let v = wi2 * (nf - b2) / n1 + (wi * wi - wi2) * (2.0 * b2 - nf) / (n1 * (nf - 2.0)) - (wi / n1).powi(2);
                (e, v)
            }
            Moments::Conditional => {
                let zi2 = z[i] * z[i];
                let e = -(zi2 * wi) / (n1 * m2);
                let v = (z[i] / m2).powi(2) * (nf / (nf - 2.0)) * (wi2 - wi * wi / n1) * (m2 - zi2 / n1);
                (e, v)
            }
        };
        let zs = (stat - e) / v.sqrt();
        m.stat.push(stat);
        m.expected.push(e);
        m.variance.push(v);
        m.z.push(zs);
        m.p_norm.push(normal_sf(zs.abs()));
        m.quadrant.push(match (z[i] > 0.0, lag > 0.0) {
            (true, true) => 1,
            (false, true) => 2,
            (false, false) => 3,
            (true, false) => 4,
        });
    }
    if let Some(table) = table {
        let scale = n1 / den;
        // esda's compiled kernel evaluates zᵢ · lag · scale as (zᵢ · scale) · lag.
        let at_least = count_at_least(&z, &w, table, &|i| Site { observed: m.stat[i], add: 0.0, mul: z[i] * scale, div: None });
        for (i, (p, &count)) in m.p_sim.iter_mut().zip(&at_least).enumerate() {
            if w.cardinality(i) > 0 {
                *p = Some(pseudo_p(count, table.permutations()));
            }
        }
    }
    Ok(m)
}

//! The permutation table of conditional randomisation, shared by every site as in esda's
//! `crand`, and the engine that counts how many permuted statistics reach the observed one.
//!
//! Row `p` of the table holds `width` distinct indices into "the other sites": the values in
//! their original order with the focal site removed. A site with k neighbours uses the first
//! k entries of every row, so its k neighbours are replaced by k distinct other sites drawn
//! without replacement, and the site keeps its own value (the conditional scheme).

use rand::SeedableRng;
use rayon::prelude::*;

use super::SpatialError;

#[derive(Clone, Debug, PartialEq)]
pub struct PermutationTable {
    width: usize,
    rows: usize,
    ids: Vec<u32>,
}

impl PermutationTable {
    /// `permutations` rows of `width` distinct draws from `0..n - 1`, from a seeded ChaCha
    /// generator: the same seed, sizes and version give the same table on every machine.
    pub fn seeded(n: usize, width: usize, permutations: usize, seed: u64) -> Result<Self, SpatialError> {
        if width > n.saturating_sub(1) {
            return Err(SpatialError::Invalid(format!("cannot draw {width} distinct other sites from {}", n.saturating_sub(1))));
        }
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut ids = Vec::with_capacity(width * permutations);
        for _ in 0..permutations {
            ids.extend(rand::seq::index::sample(&mut rng, n - 1, width).into_iter().map(|j| j as u32));
        }
        Ok(PermutationTable { width, rows: permutations, ids })
    }

    /// A given table over `n` sites: every row must have at least `width` entries (it keeps
    /// the first `width`), each in `0..n - 1` and distinct within those `width`.
    pub fn from_rows(n: usize, width: usize, rows: &[Vec<usize>]) -> Result<Self, SpatialError> {
        if rows.is_empty() {
            return Err(SpatialError::Invalid("the permutation table has no rows".into()));
        }
        let mut ids = Vec::with_capacity(width * rows.len());
        let mut seen = vec![usize::MAX; n];
        for (p, row) in rows.iter().enumerate() {
            if row.len() < width {
                return Err(SpatialError::Permutation {
                    index: p,
                    reason: format!("{} entries, but a site has {width} neighbours", row.len()),
                });
            }
            for &j in &row[..width] {
                if j + 1 >= n {
                    return Err(SpatialError::Permutation {
                        index: p,
                        reason: format!("index {j} is not below {} (the number of other sites)", n - 1),
                    });
                }
                if seen[j] == p {
                    return Err(SpatialError::Permutation { index: p, reason: format!("index {j} appears twice among the first {width}") });
                }
                seen[j] = p;
                ids.push(j as u32);
            }
        }
        Ok(PermutationTable { width, rows: rows.len(), ids })
    }

    pub fn permutations(&self) -> usize {
        self.rows
    }

    pub fn width(&self) -> usize {
        self.width
    }

    pub fn row(&self, p: usize) -> &[u32] {
        &self.ids[p * self.width..(p + 1) * self.width]
    }
}

/// For every site, how many permuted statistics are ≥ the observed one.
///
/// The permuted statistic of site `i` is `(Σ_c w_c · v[other_i(row[c])] + add_i)` divided by
/// `div_i` or multiplied by `mul_i`, where `other_i(j)` skips site `i`. The operations are
/// esda's, in its order, so that a permutation that redraws the site's own neighbours (a
/// mathematical tie with the observed value) usually rounds the same way as in esda.
pub(crate) fn count_at_least(
    values: &[f64],
    weights: &super::Weights,
    table: &PermutationTable,
    per_site: &(dyn Fn(usize) -> Site + Sync),
) -> Vec<u32> {
    let n = values.len();
    // Sites are independent; chunks keep scheduling overhead far below the work of a site.
    (0..n)
        .into_par_iter()
        .with_min_len(256)
        .map(|i| {
            let site = per_site(i);
            let (_, w) = weights.row(i);
            let k = w.len();
            let mut larger = 0u32;
            for p in 0..table.rows {
                let row = &table.ids[p * table.width..p * table.width + k];
                let mut acc = 0.0;
                for (c, &j) in row.iter().enumerate() {
                    let j = j as usize;
                    let j = if j >= i { j + 1 } else { j };
                    acc += w[c] * values[j];
                }
                if site.permuted(acc) >= site.observed {
                    larger += 1;
                }
            }
            larger
        })
        .collect()
}

/// How one site turns a permuted weighted sum of the other sites into its statistic:
/// `(sum + add) / div` when `div` is set, else `mul * (sum + add)`.
pub(crate) struct Site {
    pub observed: f64,
    pub add: f64,
    pub mul: f64,
    pub div: Option<f64>,
}

impl Site {
    #[inline]
    fn permuted(&self, sum: f64) -> f64 {
        match self.div {
            Some(d) => (sum + self.add) / d,
            None => self.mul * (sum + self.add),
        }
    }
}

/// esda's "directed" pseudo p-value: the smaller tail, `(min(G, N − G) + 1) / (N + 1)` with
/// `G` the permuted statistics ≥ the observed one.
pub fn pseudo_p(at_least: u32, permutations: usize) -> f64 {
    let g = at_least as usize;
    let larger = if permutations - g < g { permutations - g } else { g };
    (larger as f64 + 1.0) / (permutations as f64 + 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_checked_and_reproducible() {
        let a = PermutationTable::seeded(50, 8, 99, 7).unwrap();
        assert_eq!(a, PermutationTable::seeded(50, 8, 99, 7).unwrap());
        assert_ne!(a, PermutationTable::seeded(50, 8, 99, 8).unwrap());
        for p in 0..a.permutations() {
            let mut r = a.row(p).to_vec();
            r.sort();
            r.dedup();
            assert_eq!(r.len(), 8);
            assert!(r.iter().all(|&j| j < 49));
        }
        assert!(matches!(PermutationTable::from_rows(5, 2, &[vec![0, 1], vec![1, 1]]), Err(SpatialError::Permutation { index: 1, .. })));
        assert!(matches!(PermutationTable::from_rows(5, 2, &[vec![0, 4]]), Err(SpatialError::Permutation { index: 0, .. })));
        assert!(matches!(PermutationTable::from_rows(5, 2, &[vec![0]]), Err(SpatialError::Permutation { index: 0, .. })));
        assert_eq!(pseudo_p(999, 999), 1.0 / 1000.0);
        assert_eq!(pseudo_p(0, 999), 1.0 / 1000.0);
        assert_eq!(pseudo_p(600, 999), 400.0 / 1000.0);
    }
}

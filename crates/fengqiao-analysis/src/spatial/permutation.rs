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

/// The most distinct common weights a chunk keeps shared sums for.
const MAX_GROUPS: usize = 16;

/// For every site, how many permuted statistics are ≥ the observed one.
///
/// The permuted statistic of site `i` is `(Σ_c w_c · v[other_i(row[c])] + add_i)` divided by
/// `div_i` or multiplied by `mul_i`, where `other_i(j)` skips site `i`. The operations are
/// esda's, in its order, so that a permutation that redraws the site's own neighbours (a
/// mathematical tie with the observed value) usually rounds the same way as in esda.
///
/// Sites whose neighbours all weigh the same (binary weights, and row weights built from
/// them) share their permuted sums: with one weight `w`, the sum of row `p` for a site with k
/// neighbours is the k-th prefix sum of `w · v[other_i(row[c])]`, which depends on `i` only
/// through which entries are ≥ i. Sweeping the sites in order, a row's prefix sums change only
/// when `i` passes one of its entries, so each row is recomputed about `width` times over the
/// whole sweep instead of once per site, and a site costs one pass over `permutations` sums.
/// The recomputation uses the same operations in the same order as the per-site loop, so both
/// give the same bits. Other sites take the per-site loop.
pub(crate) fn count_at_least(
    values: &[f64],
    weights: &super::Weights,
    table: &PermutationTable,
    per_site: &(dyn Fn(usize) -> Site + Sync),
) -> Vec<u32> {
    let n = values.len();
    let (rows, width) = (table.rows, table.width);
    // changes[t]: the rows that hold index t among their entries.
    let mut starts = vec![0usize; n + 1];
    for &t in &table.ids {
        starts[t as usize + 1] += 1;
    }
    for t in 0..n {
        starts[t + 1] += starts[t];
    }
    let mut fill = starts.clone();
    let mut changes = vec![0u32; table.ids.len()];
    for (k, &t) in table.ids.iter().enumerate() {
        changes[fill[t as usize]] = (k / width.max(1)) as u32;
        fill[t as usize] += 1;
    }
    let threads = rayon::current_num_threads().max(1);
    let chunk = n.div_ceil(threads * 4).max(512);
    let chunks: Vec<(usize, usize)> = (0..n).step_by(chunk).map(|s| (s, (s + chunk).min(n))).collect();
    chunks
        .into_par_iter()
        .flat_map_iter(|(from, to)| {
            // One set of prefix sums per distinct common weight in this chunk.
            let mut groups: Vec<(u64, usize, Vec<f64>)> = Vec::new();
            let mut group_of = vec![usize::MAX; to - from];
            for i in from..to {
                let (_, w) = weights.row(i);
                if !w.is_empty() && w.iter().all(|x| x.to_bits() == w[0].to_bits()) {
                    let g = match groups.iter().position(|g| g.0 == w[0].to_bits()) {
                        Some(g) => g,
                        // Each group costs a recomputation on every change; a few cover
                        // binary and row weights, and the rest take the per-site loop.
                        None if groups.len() >= MAX_GROUPS => continue,
                        None => {
                            groups.push((w[0].to_bits(), 0, Vec::new()));
                            groups.len() - 1
                        }
                    };
                    groups[g].1 = groups[g].1.max(w.len());
                    group_of[i - from] = g;
                }
            }
            for g in &mut groups {
                g.2 = vec![0.0; g.1 * rows];
            }
            let prefix = |groups: &mut Vec<(u64, usize, Vec<f64>)>, p: usize, i: usize| {
                let row = &table.ids[p * width..(p + 1) * width];
                for (bits, k, sums) in groups.iter_mut() {
                    let w = f64::from_bits(*bits);
                    let mut acc = 0.0;
                    for (c, &j) in row[..*k].iter().enumerate() {
                        let j = j as usize;
                        acc += w * values[if j >= i { j + 1 } else { j }];
                        sums[c * rows + p] = acc;
                    }
                }
            };
            if !groups.is_empty() {
                for p in 0..rows {
                    prefix(&mut groups, p, from);
                }
            }
            let mut out = Vec::with_capacity(to - from);
            for i in from..to {
                if i > from && !groups.is_empty() {
                    for &p in &changes[starts[i - 1]..starts[i]] {
                        prefix(&mut groups, p as usize, i);
                    }
                }
                let site = per_site(i);
                let (_, w) = weights.row(i);
                let k = w.len();
                let g = group_of[i - from];
                let larger = if g != usize::MAX {
                    let sums = &groups[g].2[(k - 1) * rows..k * rows];
                    sums.iter().filter(|&&acc| site.permuted(acc) >= site.observed).count() as u32
                } else {
                    let mut larger = 0u32;
                    for p in 0..rows {
                        let mut acc = 0.0;
                        for (c, &j) in table.ids[p * width..p * width + k].iter().enumerate() {
                            let j = j as usize;
                            acc += w[c] * values[if j >= i { j + 1 } else { j }];
                        }
                        if site.permuted(acc) >= site.observed {
                            larger += 1;
                        }
                    }
                    larger
                };
                out.push(larger);
            }
            out
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
    fn shared_prefix_sums_equal_the_per_site_loop() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        let n = 3000;
        let values: Vec<f64> = (0..n).map(|_| rng.r#gen::<f64>()).collect();
        // Uniform rows of several weights and cardinalities, some weighted rows, some islands.
        let mut edges = Vec::new();
        for i in 0..n {
            let k = rng.gen_range(0..=6);
            // Three common weights, and rows with a weight of their own (more than the
            // groups a chunk keeps).
            let uniform = if i % 5 == 0 { rng.gen_range(0.1..2.0) } else { [1.0, 0.5, 0.25][i % 3] };
            for j in rand::seq::index::sample(&mut rng, n, k + 1).into_iter().filter(|&j| j != i).take(k) {
                let weight = if i % 7 == 0 { rng.gen_range(0.1..2.0) } else { uniform };
                edges.push(super::super::Edge { from: i, to: j, weight });
            }
        }
        let w = super::super::Weights::from_edges(n, &edges).unwrap();
        let table = PermutationTable::seeded(n, w.max_cardinality(), 199, 3).unwrap();
        let site = |i: usize| Site { observed: values[i] * 2.0, add: values[i], mul: 1.0, div: None };
        let got = count_at_least(&values, &w, &table, &site);
        for i in 0..n {
            let (_, wr) = w.row(i);
            let s = site(i);
            let want = (0..table.permutations())
                .filter(|&p| {
                    let mut acc = 0.0;
                    for (c, &j) in table.row(p)[..wr.len()].iter().enumerate() {
                        let j = j as usize;
                        acc += wr[c] * values[if j >= i { j + 1 } else { j }];
                    }
                    s.permuted(acc) >= s.observed
                })
                .count() as u32;
            assert_eq!(got[i], want, "site {i}");
        }
    }

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

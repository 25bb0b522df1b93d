//! Spatial weights: who neighbours whom and how much, in compressed rows, built from an edge
//! list, from polygons (queen contiguity) or from points (k nearest neighbours, distance band).

use std::collections::HashMap;

use super::SpatialError;

/// How the weights of a row are scaled before a statistic uses them, as libpysal's
/// `W.transform`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transform {
    /// `B`: every neighbour weighs 1, whatever weight the edge carried.
    Binary,
    /// `R`: each row divided by its sum, so a site's weights add up to 1 (an island's row stays
    /// empty).
    Row,
}

impl Transform {
    pub fn parse(s: &str) -> Result<Self, SpatialError> {
        match s.to_ascii_lowercase().as_str() {
            "binary" | "b" => Ok(Transform::Binary),
            "row" | "r" => Ok(Transform::Row),
            _ => Err(SpatialError::Invalid(format!("transform {s:?}: expected binary or row"))),
        }
    }
}

/// One directed edge of an edge list: row `from` has neighbour `to` with `weight`.
#[derive(Clone, Debug, PartialEq)]
pub struct Edge {
    pub from: usize,
    pub to: usize,
    pub weight: f64,
}

/// Weights in compressed rows over sites `0..n`. Row `i` lists its neighbours in ascending site
/// order (as a sorted CSR matrix does), never itself; a site with no neighbour is an island.
#[derive(Clone, Debug, PartialEq)]
pub struct Weights {
    offsets: Vec<usize>,
    neighbours: Vec<u32>,
    weights: Vec<f64>,
}

impl Weights {
    /// Builds weights from directed edges over `n` sites (symmetric only if the edges are).
    /// A self-edge, a repeated edge, an index out of range or a weight that is not a finite
    /// positive number is refused, naming the edge's position.
    pub fn from_edges(n: usize, edges: &[Edge]) -> Result<Self, SpatialError> {
        if n > u32::MAX as usize {
            return Err(SpatialError::Invalid(format!("{n} sites: at most {} are supported", u32::MAX)));
        }
        let mut counts = vec![0usize; n + 1];
        for (k, e) in edges.iter().enumerate() {
            if e.from >= n || e.to >= n {
                return Err(SpatialError::Edge { index: k, reason: format!("site out of range (there are {n} sites)") });
            }
            if e.from == e.to {
                return Err(SpatialError::Edge { index: k, reason: "a site cannot neighbour itself".into() });
            }
            if !(e.weight.is_finite() && e.weight > 0.0) {
                return Err(SpatialError::Edge { index: k, reason: format!("weight {} is not a finite positive number", e.weight) });
            }
            counts[e.from + 1] += 1;
        }
        for i in 0..n {
            counts[i + 1] += counts[i];
        }
        let offsets = counts;
        let mut fill = offsets.clone();
        let mut entries = vec![(0u32, 0.0f64, 0usize); edges.len()];
        for (k, e) in edges.iter().enumerate() {
            entries[fill[e.from]] = (e.to as u32, e.weight, k);
            fill[e.from] += 1;
        }
        for i in 0..n {
            let row = &mut entries[offsets[i]..offsets[i + 1]];
            row.sort_unstable_by_key(|x| x.0);
            if let Some(w) = row.windows(2).find(|w| w[0].0 == w[1].0) {
                let index = w[0].2.max(w[1].2);
                return Err(SpatialError::Edge { index, reason: "the same edge appears twice".into() });
            }
        }
        Ok(Weights { offsets, neighbours: entries.iter().map(|x| x.0).collect(), weights: entries.iter().map(|x| x.1).collect() })
    }

    /// Binary weights from neighbour lists (one list per site).
    pub fn from_neighbours(lists: &[Vec<usize>]) -> Result<Self, SpatialError> {
        let edges: Vec<Edge> =
            lists.iter().enumerate().flat_map(|(i, l)| l.iter().map(move |&j| Edge { from: i, to: j, weight: 1.0 })).collect();
        Weights::from_edges(lists.len(), &edges)
    }

    pub fn n(&self) -> usize {
        self.offsets.len() - 1
    }

    /// Site `i`'s neighbours and their weights.
    pub fn row(&self, i: usize) -> (&[u32], &[f64]) {
        let r = self.offsets[i]..self.offsets[i + 1];
        (&self.neighbours[r.clone()], &self.weights[r])
    }

    pub fn cardinality(&self, i: usize) -> usize {
        self.offsets[i + 1] - self.offsets[i]
    }

    pub fn max_cardinality(&self) -> usize {
        (0..self.n()).map(|i| self.cardinality(i)).max().unwrap_or(0)
    }

    pub fn islands(&self) -> usize {
        (0..self.n()).filter(|&i| self.cardinality(i) == 0).count()
    }

    /// The weights under `t`, as libpysal computes them from the original ones.
    pub fn transformed(&self, t: Transform) -> Weights {
        let mut out = self.clone();
        match t {
            Transform::Binary => out.weights.iter_mut().for_each(|w| *w = 1.0),
            Transform::Row => {
                for i in 0..self.n() {
                    let r = self.offsets[i]..self.offsets[i + 1];
                    let sum: f64 = self.weights[r.clone()].iter().sum();
                    out.weights[r].iter_mut().for_each(|w| *w /= sum);
                }
            }
        }
        out
    }

    /// Replaces each weight `w` of row `i` by `f(i, w)`.
    pub(crate) fn rescale_rows(&mut self, f: impl Fn(usize, f64) -> f64) {
        for i in 0..self.n() {
            for k in self.offsets[i]..self.offsets[i + 1] {
                self.weights[k] = f(i, self.weights[k]);
            }
        }
    }

    /// The directed edges, row by row.
    pub fn edges(&self) -> impl Iterator<Item = Edge> + '_ {
        (0..self.n()).flat_map(move |i| {
            let (nb, w) = self.row(i);
            nb.iter().zip(w).map(move |(&j, &w)| Edge { from: i, to: j as usize, weight: w })
        })
    }

    /// Queen contiguity: two polygons neighbour when they share at least one vertex (compared
    /// exactly, as libpysal does for shared boundaries digitised once). Each polygon is given
    /// as its rings' vertices; holes and parts may simply be more rings.
    pub fn queen(polygons: &[Vec<Vec<(f64, f64)>>]) -> Result<Self, SpatialError> {
        let mut by_vertex: HashMap<(u64, u64), Vec<usize>> = HashMap::new();
        for (i, rings) in polygons.iter().enumerate() {
            for ring in rings {
                for &(x, y) in ring {
                    if !(x.is_finite() && y.is_finite()) {
                        return Err(SpatialError::Invalid(format!("polygon {i} has a vertex that is not a finite number")));
                    }
                    // +0.0 and -0.0 are the same point.
                    let key = ((x + 0.0).to_bits(), (y + 0.0).to_bits());
                    let sites = by_vertex.entry(key).or_default();
                    if sites.last() != Some(&i) {
                        sites.push(i);
                    }
                }
            }
        }
        let mut lists = vec![Vec::new(); polygons.len()];
        for sites in by_vertex.values() {
            for &a in sites {
                for &b in sites {
                    if a != b {
                        lists[a].push(b);
                    }
                }
            }
        }
        for l in &mut lists {
            l.sort_unstable();
            l.dedup();
        }
        Weights::from_neighbours(&lists)
    }

    /// Each point's `k` nearest other points (Euclidean; ties broken by the lower index), as
    /// binary directed weights, like libpysal's `KNN`. Uses a uniform grid, so it stays close
    /// to O(n·k) for points spread over an area.
    pub fn knn(points: &[(f64, f64)], k: usize) -> Result<Self, SpatialError> {
        let n = points.len();
        if k == 0 || k >= n {
            return Err(SpatialError::Invalid(format!("k = {k} nearest neighbours needs 1 ≤ k < number of points ({n})")));
        }
        let grid = Grid::new(points, k.max(4))?;
        let lists: Vec<Vec<usize>> = {
            use rayon::prelude::*;
            (0..n).into_par_iter().map(|i| grid.nearest(points, i, k)).collect()
        };
        Weights::from_neighbours(&lists)
    }

    /// Every other point within `threshold` (inclusive), binary, like libpysal's
    /// `DistanceBand(..., binary=True)`. Points with none are islands.
    pub fn distance_band(points: &[(f64, f64)], threshold: f64) -> Result<Self, SpatialError> {
        if !(threshold.is_finite() && threshold > 0.0) {
            return Err(SpatialError::Invalid(format!("distance threshold {threshold} is not a finite positive number")));
        }
        let grid = Grid::with_cell(points, threshold)?;
        let lists: Vec<Vec<usize>> = {
            use rayon::prelude::*;
            (0..points.len()).into_par_iter().map(|i| grid.within(points, i, threshold)).collect()
        };
        Weights::from_neighbours(&lists)
    }
}

/// A uniform grid of point indices for neighbour queries.
struct Grid {
    x0: f64,
    y0: f64,
    cell: f64,
    nx: usize,
    ny: usize,
    starts: Vec<usize>,
    items: Vec<u32>,
}

impl Grid {
    /// A grid whose cells hold about `per_cell` points on average.
    fn new(points: &[(f64, f64)], per_cell: usize) -> Result<Self, SpatialError> {
        let (x0, y0, x1, y1) = bounds(points)?;
        let area = ((x1 - x0) * (y1 - y0)).max(f64::MIN_POSITIVE);
        let cells = (points.len() / per_cell).max(1) as f64;
        let mut cell = (area / cells).sqrt();
        if !(cell.is_finite() && cell > 0.0) {
            cell = ((x1 - x0).max(y1 - y0)).max(1.0);
        }
        Grid::with_cell(points, cell)
    }

    fn with_cell(points: &[(f64, f64)], cell: f64) -> Result<Self, SpatialError> {
        let (x0, y0, x1, y1) = bounds(points)?;
        // Cap the number of cells so a tiny cell over a wide extent cannot exhaust memory.
        let cap = (4 * points.len()).max(1024) as f64;
        let mut cell = cell;
        while ((x1 - x0) / cell + 1.0) * ((y1 - y0) / cell + 1.0) > cap {
            cell *= 2.0;
        }
        let nx = ((x1 - x0) / cell) as usize + 1;
        let ny = ((y1 - y0) / cell) as usize + 1;
        let mut starts = vec![0usize; nx * ny + 1];
        let key = |p: &(f64, f64)| {
            let cx = (((p.0 - x0) / cell) as usize).min(nx - 1);
            let cy = (((p.1 - y0) / cell) as usize).min(ny - 1);
            cy * nx + cx
        };
        for p in points {
            starts[key(p) + 1] += 1;
        }
        for c in 0..nx * ny {
            starts[c + 1] += starts[c];
        }
        let mut fill = starts.clone();
        let mut items = vec![0u32; points.len()];
        for (i, p) in points.iter().enumerate() {
            let c = key(p);
            items[fill[c]] = i as u32;
            fill[c] += 1;
        }
        Ok(Grid { x0, y0, cell, nx, ny, starts, items })
    }

    fn cell_of(&self, p: (f64, f64)) -> (usize, usize) {
        let cx = (((p.0 - self.x0) / self.cell) as usize).min(self.nx - 1);
        let cy = (((p.1 - self.y0) / self.cell) as usize).min(self.ny - 1);
        (cx, cy)
    }

    /// Points in the cells of the square ring at Chebyshev distance `r` around (cx, cy).
    fn ring(&self, cx: usize, cy: usize, r: usize, mut f: impl FnMut(usize)) {
        let (cx, cy, r) = (cx as i64, cy as i64, r as i64);
        for y in cy - r..=cy + r {
            if y < 0 || y >= self.ny as i64 {
                continue;
            }
            let full = y == cy - r || y == cy + r;
            let mut x = cx - r;
            while x <= cx + r {
                if x >= 0 && x < self.nx as i64 {
                    let c = y as usize * self.nx + x as usize;
                    for &j in &self.items[self.starts[c]..self.starts[c + 1]] {
                        f(j as usize);
                    }
                }
                x += if full || r == 0 { 1 } else { 2 * r };
            }
        }
    }

    fn nearest(&self, points: &[(f64, f64)], i: usize, k: usize) -> Vec<usize> {
        let p = points[i];
        let (cx, cy) = self.cell_of(p);
        let mut best: Vec<(f64, usize)> = Vec::with_capacity(4 * k);
        let max_r = self.nx.max(self.ny);
        for r in 0..=max_r {
            self.ring(cx, cy, r, |j| {
                if j != i {
                    best.push((dist2(p, points[j]), j));
                }
            });
            // Every point outside rings 0..=r is farther than r cells (r·cell) away.
            if best.len() >= k {
                best.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                best.truncate(k);
                let reach = r as f64 * self.cell;
                if best[k - 1].0 <= reach * reach {
                    break;
                }
            }
        }
        best.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        best.truncate(k);
        best.into_iter().map(|x| x.1).collect()
    }

    fn within(&self, points: &[(f64, f64)], i: usize, threshold: f64) -> Vec<usize> {
        let p = points[i];
        let (cx, cy) = self.cell_of(p);
        let reach = (threshold / self.cell).ceil() as usize;
        let t2 = threshold * threshold;
        let mut out = Vec::new();
        for r in 0..=reach {
            self.ring(cx, cy, r, |j| {
                if j != i && dist2(p, points[j]) <= t2 {
                    out.push(j);
                }
            });
        }
        out
    }
}

fn dist2(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (dx, dy) = (a.0 - b.0, a.1 - b.1);
    dx * dx + dy * dy
}

fn bounds(points: &[(f64, f64)]) -> Result<(f64, f64, f64, f64), SpatialError> {
    let mut b = (f64::INFINITY, f64::INFINITY, f64::NEG_INFINITY, f64::NEG_INFINITY);
    for (i, &(x, y)) in points.iter().enumerate() {
        if !(x.is_finite() && y.is_finite()) {
            return Err(SpatialError::Invalid(format!("point {i} has a coordinate that is not a finite number")));
        }
        b = (b.0.min(x), b.1.min(y), b.2.max(x), b.3.max(y));
    }
    if points.is_empty() {
        return Err(SpatialError::Invalid("no points".into()));
    }
    Ok(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brute_knn(points: &[(f64, f64)], i: usize, k: usize) -> Vec<usize> {
        let mut d: Vec<(f64, usize)> = (0..points.len()).filter(|&j| j != i).map(|j| (dist2(points[i], points[j]), j)).collect();
        d.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let mut v: Vec<usize> = d[..k].iter().map(|x| x.1).collect();
        v.sort();
        v
    }

    #[test]
    fn knn_and_distance_band_agree_with_brute_force() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        // Clustered points, so cells are uneven.
        let pts: Vec<(f64, f64)> = (0..600)
            .map(|i| {
                if i % 3 == 0 {
                    (rng.r#gen::<f64>() * 0.05, rng.r#gen::<f64>() * 0.05)
                } else {
                    (rng.r#gen::<f64>() * 10.0, rng.r#gen::<f64>())
                }
            })
            .collect();
        for k in [1, 5, 8] {
            let w = Weights::knn(&pts, k).unwrap();
            for i in 0..pts.len() {
                let got: Vec<usize> = w.row(i).0.iter().map(|&j| j as usize).collect();
                assert_eq!(got, brute_knn(&pts, i, k), "point {i}, k {k}");
            }
        }
        let w = Weights::distance_band(&pts, 0.3).unwrap();
        for i in 0..pts.len() {
            let got: Vec<usize> = w.row(i).0.iter().map(|&j| j as usize).collect();
            let want: Vec<usize> = (0..pts.len()).filter(|&j| j != i && dist2(pts[i], pts[j]) <= 0.09).collect();
            assert_eq!(got, want);
        }
    }

    #[test]
    fn queen_shares_a_vertex_and_edges_are_checked() {
        // Four unit squares in a 2×2 block: each touches the other three (two by an edge, one
        // by a corner); a fifth square apart is an island.
        let sq = |x: f64, y: f64| vec![vec![(x, y), (x + 1.0, y), (x + 1.0, y + 1.0), (x, y + 1.0), (x, y)]];
        let w = Weights::queen(&[sq(0.0, 0.0), sq(1.0, 0.0), sq(0.0, 1.0), sq(1.0, 1.0), sq(5.0, 5.0)]).unwrap();
        assert_eq!(w.row(0).0, &[1, 2, 3]);
        assert_eq!(w.row(3).0, &[0, 1, 2]);
        assert_eq!(w.islands(), 1);
        let e = |from, to, weight| Edge { from, to, weight };
        assert!(matches!(Weights::from_edges(3, &[e(0, 1, 1.0), e(0, 1, 2.0)]), Err(SpatialError::Edge { index: 1, .. })));
        assert!(matches!(Weights::from_edges(3, &[e(0, 0, 1.0)]), Err(SpatialError::Edge { index: 0, .. })));
        assert!(matches!(Weights::from_edges(3, &[e(0, 1, -1.0)]), Err(SpatialError::Edge { index: 0, .. })));
        let w = Weights::from_edges(3, &[e(0, 2, 3.0), e(0, 1, 1.0), e(1, 0, 2.0)]).unwrap();
        assert_eq!(w.row(0), (&[1u32, 2][..], &[1.0, 3.0][..]));
        assert_eq!(w.transformed(Transform::Row).row(0).1, &[0.25, 0.75]);
        assert_eq!(w.transformed(Transform::Binary).row(0).1, &[1.0, 1.0]);
        assert_eq!(w.cardinality(2), 0);
    }
}

//! Point → region lookup: an R-tree over the bounding boxes of every boundary part picks the
//! few candidates, and an exact point-in-polygon test on a banded edge index of each candidate
//! ring decides.
//!
//! Regions nest (county ⊃ town ⊃ village ⊃ grid), so a point lies in several; the lookup
//! answers the deepest one that contains it, which names all its ancestors by its code.

use rstar::{AABB, RTree, RTreeObject};

use crate::geo::{Point, Polygon};

/// A ring prepared for repeated containment tests: its edges are bucketed by horizontal bands
/// of the bounding box, so a ray cast looks only at the edges that cross the point's band
/// (about √n of them) instead of all n.
#[derive(Debug, Clone)]
struct PreparedRing {
    pts: Vec<Point>,
    min: Point,
    max: Point,
    band_h: f64,
    /// `starts[b]..starts[b + 1]` indexes `edges` for band `b`.
    starts: Vec<u32>,
    /// Edge `i` joins `pts[i]` and `pts[i + 1]`.
    edges: Vec<u32>,
}

impl PreparedRing {
    fn new(ring: &[Point]) -> PreparedRing {
        let mut pts = ring.to_vec();
        if pts.first() != pts.last()
            && let Some(&f) = pts.first()
        {
            pts.push(f);
        }
        let mut min = Point { lon: f64::INFINITY, lat: f64::INFINITY };
        let mut max = Point { lon: f64::NEG_INFINITY, lat: f64::NEG_INFINITY };
        for q in &pts {
            min.lon = min.lon.min(q.lon);
            min.lat = min.lat.min(q.lat);
            max.lon = max.lon.max(q.lon);
            max.lat = max.lat.max(q.lat);
        }
        let n_edges = pts.len().saturating_sub(1);
        let n_bands = ((n_edges as f64).sqrt().ceil() as usize).clamp(1, 1024);
        let height = (max.lat - min.lat).max(f64::MIN_POSITIVE);
        let band_h = height / n_bands as f64;
        let band = |y: f64| (((y - min.lat) / band_h) as usize).min(n_bands - 1);
        let mut counts = vec![0u32; n_bands + 1];
        for i in 0..n_edges {
            let (a, b) = (pts[i].lat, pts[i + 1].lat);
            for k in band(a.min(b))..=band(a.max(b)) {
                counts[k + 1] += 1;
            }
        }
        for k in 0..n_bands {
            counts[k + 1] += counts[k];
        }
        let mut fill = counts.clone();
        let mut edges = vec![0u32; counts[n_bands] as usize];
        for i in 0..n_edges {
            let (a, b) = (pts[i].lat, pts[i + 1].lat);
            for k in band(a.min(b))..=band(a.max(b)) {
                edges[fill[k] as usize] = i as u32;
                fill[k] += 1;
            }
        }
        PreparedRing { pts, min, max, band_h, starts: counts, edges }
    }

    /// Even–odd ray casting over the edges of the point's band; the same half-open rule as
    /// [`crate::geo::ring_contains`], so both agree on every point.
    fn contains(&self, p: Point) -> bool {
        if p.lon < self.min.lon || p.lon > self.max.lon || p.lat < self.min.lat || p.lat > self.max.lat {
            return false;
        }
        let n_bands = self.starts.len() - 1;
        let b = (((p.lat - self.min.lat) / self.band_h) as usize).min(n_bands - 1);
        let mut inside = false;
        for &i in &self.edges[self.starts[b] as usize..self.starts[b + 1] as usize] {
            let (a, c) = (self.pts[i as usize], self.pts[i as usize + 1]);
            if (a.lat > p.lat) != (c.lat > p.lat) {
                let x = (c.lon - a.lon) * (p.lat - a.lat) / (c.lat - a.lat) + a.lon;
                if p.lon < x {
                    inside = !inside;
                }
            }
        }
        inside
    }
}

#[derive(Debug, Clone)]
struct PreparedPolygon {
    exterior: PreparedRing,
    holes: Vec<PreparedRing>,
}

impl PreparedPolygon {
    fn contains(&self, p: Point) -> bool {
        self.exterior.contains(p) && !self.holes.iter().any(|h| h.contains(p))
    }
}

#[derive(Debug)]
struct Entry {
    envelope: AABB<[f64; 2]>,
    shape: u32,
    part: u32,
}

impl RTreeObject for Entry {
    type Envelope = AABB<[f64; 2]>;
    fn envelope(&self) -> Self::Envelope {
        self.envelope
    }
}

#[derive(Debug)]
struct Shape {
    key: usize,
    depth: u8,
    parts: Vec<PreparedPolygon>,
}

/// Which of a set of nested areas contains a point.
#[derive(Debug)]
pub struct RegionIndex {
    tree: RTree<Entry>,
    shapes: Vec<Shape>,
}

impl RegionIndex {
    /// Indexes areas given as `(key, depth, parts)`: `key` is the caller's handle (an index
    /// into its own list), `depth` orders nesting (a grid is deeper than its village).
    pub fn new<'a>(areas: impl IntoIterator<Item = (usize, u8, Vec<&'a Polygon>)>) -> RegionIndex {
        let mut shapes = Vec::new();
        let mut entries = Vec::new();
        for (key, depth, polys) in areas {
            let s = shapes.len() as u32;
            let mut parts = Vec::with_capacity(polys.len());
            for (j, poly) in polys.into_iter().enumerate() {
                let (lo, hi) = poly.bbox();
                if !(lo.lon.is_finite() && lo.lat.is_finite() && hi.lon.is_finite() && hi.lat.is_finite()) {
                    continue;
                }
                entries.push(Entry { envelope: AABB::from_corners([lo.lon, lo.lat], [hi.lon, hi.lat]), shape: s, part: j as u32 });
                parts.push(PreparedPolygon {
                    exterior: PreparedRing::new(&poly.exterior),
                    holes: poly.holes.iter().map(|h| PreparedRing::new(h)).collect(),
                });
            }
            shapes.push(Shape { key, depth, parts });
        }
        RegionIndex { tree: RTree::bulk_load(entries), shapes }
    }

    pub fn len(&self) -> usize {
        self.shapes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.shapes.is_empty()
    }

    /// The key of the deepest area containing the point, if any.
    pub fn locate(&self, p: Point) -> Option<usize> {
        let mut best: Option<&Shape> = None;
        for e in self.tree.locate_in_envelope_intersecting(AABB::from_point([p.lon, p.lat])) {
            let shape = &self.shapes[e.shape as usize];
            if best.is_some_and(|b| b.depth >= shape.depth) {
                continue;
            }
            if shape.parts[e.part as usize].contains(p) {
                best = Some(shape);
            }
        }
        best.map(|s| s.key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geo::ring_contains;

    fn square(x0: f64, y0: f64, s: f64) -> Polygon {
        let r = [(x0, y0), (x0 + s, y0), (x0 + s, y0 + s), (x0, y0 + s), (x0, y0)];
        Polygon { exterior: r.iter().map(|&(lon, lat)| Point { lon, lat }).collect(), holes: vec![] }
    }

    /// A star-shaped ring with many vertices: concave, so bands matter.
    fn star(cx: f64, cy: f64, n: usize) -> Vec<Point> {
        let mut v: Vec<Point> = (0..n)
            .map(|i| {
                let t = i as f64 / n as f64 * std::f64::consts::TAU;
                let r = if i % 2 == 0 { 1.0 } else { 0.45 + 0.3 * ((i * 7919) % 13) as f64 / 13.0 };
                Point { lon: cx + r * t.cos(), lat: cy + r * t.sin() }
            })
            .collect();
        v.push(v[0]);
        v
    }

    #[test]
    fn banded_rings_agree_with_plain_ray_casting() {
        let ring = star(120.0, 30.0, 500);
        let prepared = PreparedRing::new(&ring);
        let mut seed = 12345u64;
        let mut next = || {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (seed >> 11) as f64 / (1u64 << 53) as f64
        };
        for _ in 0..20_000 {
            let p = Point { lon: 118.8 + 2.4 * next(), lat: 28.8 + 2.4 * next() };
            assert_eq!(prepared.contains(p), ring_contains(&ring, p), "{p:?}");
        }
        // Vertices' own latitudes are the awkward case for band edges.
        for q in &ring {
            let p = Point { lon: q.lon - 1e-9, lat: q.lat };
            assert_eq!(prepared.contains(p), ring_contains(&ring, p));
        }
    }

    #[test]
    fn deepest_area_wins_and_holes_are_outside() {
        let town = square(0.0, 0.0, 10.0);
        let village = square(2.0, 2.0, 4.0);
        let mut with_hole = square(20.0, 0.0, 10.0);
        with_hole.holes.push(square(24.0, 4.0, 2.0).exterior);
        let island = square(40.0, 0.0, 1.0);
        let idx = RegionIndex::new([(7, 1, vec![&town]), (8, 2, vec![&village]), (9, 1, vec![&with_hole, &island])]);
        assert_eq!(idx.locate(Point { lon: 3.0, lat: 3.0 }), Some(8));
        assert_eq!(idx.locate(Point { lon: 8.0, lat: 8.0 }), Some(7));
        assert_eq!(idx.locate(Point { lon: 21.0, lat: 1.0 }), Some(9));
        assert_eq!(idx.locate(Point { lon: 25.0, lat: 5.0 }), None, "inside the hole");
        assert_eq!(idx.locate(Point { lon: 40.5, lat: 0.5 }), Some(9), "the second part");
        assert_eq!(idx.locate(Point { lon: 15.0, lat: 5.0 }), None);
    }
}

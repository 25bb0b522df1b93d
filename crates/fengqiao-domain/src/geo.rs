//! Points, rings and the GCJ-02 → WGS84 conversion.
//!
//! Chinese map apps report GCJ-02 ("Mars") coordinates, which are offset from WGS84 by up to a
//! few hundred metres. We store WGS84 only; the API converts on the way in.

use serde::{Deserialize, Serialize};

use crate::error::FieldError;

/// A WGS84 point. `lon` is x, `lat` is y.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Point {
    pub lon: f64,
    pub lat: f64,
}

impl Point {
    /// A point with finite coordinates in the WGS84 range.
    pub fn parse(lon: f64, lat: f64) -> Result<Point, FieldError> {
        if !lon.is_finite() || !(-180.0..=180.0).contains(&lon) {
            return Err(FieldError::new("location.lon", "longitude must be between -180 and 180"));
        }
        if !lat.is_finite() || !(-90.0..=90.0).contains(&lat) {
            return Err(FieldError::new("location.lat", "latitude must be between -90 and 90"));
        }
        Ok(Point { lon, lat })
    }
}

/// Coordinate reference system of an incoming point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Crs {
    #[default]
    #[serde(alias = "wgs84")]
    Wgs84,
    #[serde(rename = "GCJ-02", alias = "gcj-02", alias = "GCJ02", alias = "gcj02")]
    Gcj02,
}

/// A polygon: an outer ring and holes, each ring a closed list of points.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Polygon {
    pub exterior: Vec<Point>,
    #[serde(default)]
    pub holes: Vec<Vec<Point>>,
}

impl Polygon {
    /// Checks what GeoJSON readers rely on: at least 4 positions per ring, closed, finite
    /// WGS84 coordinates, no ring crossing itself, and every hole inside the exterior.
    /// Returns every problem found, each prefixed with the ring it concerns.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (i, ring) in std::iter::once(&self.exterior).chain(self.holes.iter()).enumerate() {
            let name = if i == 0 { "exterior ring".to_string() } else { format!("hole {i}") };
            if ring.len() < 4 {
                out.push(format!("{name} has {} positions; a ring needs at least 4", ring.len()));
                continue;
            }
            if let Some(q) = ring.iter().find(|q| Point::parse(q.lon, q.lat).is_err()) {
                out.push(format!("{name} has a position outside WGS84: [{}, {}]", q.lon, q.lat));
                continue;
            }
            if ring.first() != ring.last() {
                out.push(format!("{name} is not closed (its first and last positions differ)"));
                continue;
            }
            if let Some((a, b)) = self_intersection(ring) {
                out.push(format!("{name} crosses itself (segments {a} and {b})"));
            }
            if i > 0 && !ring_contains(&self.exterior, ring[0]) {
                out.push(format!("{name} lies outside the exterior ring"));
            }
        }
        out
    }

    /// Area-weighted centroid of the exterior ring (planar, in degrees: fine for placing a
    /// label or a coarsened point inside a small region).
    pub fn centroid(&self) -> Point {
        let r = &self.exterior;
        let (mut a, mut cx, mut cy) = (0.0, 0.0, 0.0);
        for w in r.windows(2) {
            let cross = w[0].lon * w[1].lat - w[1].lon * w[0].lat;
            a += cross;
            cx += (w[0].lon + w[1].lon) * cross;
            cy += (w[0].lat + w[1].lat) * cross;
        }
        if a.abs() < 1e-18 {
            let n = r.len().max(1) as f64;
            return Point { lon: r.iter().map(|p| p.lon).sum::<f64>() / n, lat: r.iter().map(|p| p.lat).sum::<f64>() / n };
        }
        Point { lon: cx / (3.0 * a), lat: cy / (3.0 * a) }
    }

    pub fn contains(&self, p: Point) -> bool {
        ring_contains(&self.exterior, p) && !self.holes.iter().any(|h| ring_contains(h, p))
    }

    pub fn bbox(&self) -> (Point, Point) {
        let mut min = Point { lon: f64::INFINITY, lat: f64::INFINITY };
        let mut max = Point { lon: f64::NEG_INFINITY, lat: f64::NEG_INFINITY };
        for q in &self.exterior {
            min.lon = min.lon.min(q.lon);
            min.lat = min.lat.min(q.lat);
            max.lon = max.lon.max(q.lon);
            max.lat = max.lat.max(q.lat);
        }
        (min, max)
    }
}

/// Even–odd ray casting. Points exactly on an edge may fall either way, which is acceptable
/// for deciding which area a report belongs to.
pub fn ring_contains(ring: &[Point], p: Point) -> bool {
    let n = ring.len();
    if n < 3 {
        return false;
    }
    let mut inside = false;
    let mut j = n - 1;
    for i in 0..n {
        let (a, b) = (ring[i], ring[j]);
        if (a.lat > p.lat) != (b.lat > p.lat) {
            let x = (b.lon - a.lon) * (p.lat - a.lat) / (b.lat - a.lat) + a.lon;
            if p.lon < x {
                inside = !inside;
            }
        }
        j = i;
    }
    inside
}

fn orient(a: Point, b: Point, c: Point) -> f64 {
    (b.lon - a.lon) * (c.lat - a.lat) - (b.lat - a.lat) * (c.lon - a.lon)
}

fn on_segment(a: Point, b: Point, c: Point) -> bool {
    c.lon >= a.lon.min(b.lon) && c.lon <= a.lon.max(b.lon) && c.lat >= a.lat.min(b.lat) && c.lat <= a.lat.max(b.lat)
}

fn segments_touch(a: Point, b: Point, c: Point, d: Point) -> bool {
    let (o1, o2, o3, o4) = (orient(a, b, c), orient(a, b, d), orient(c, d, a), orient(c, d, b));
    if ((o1 > 0.0 && o2 < 0.0) || (o1 < 0.0 && o2 > 0.0)) && ((o3 > 0.0 && o4 < 0.0) || (o3 < 0.0 && o4 > 0.0)) {
        return true;
    }
    (o1 == 0.0 && on_segment(a, b, c))
        || (o2 == 0.0 && on_segment(a, b, d))
        || (o3 == 0.0 && on_segment(c, d, a))
        || (o4 == 0.0 && on_segment(c, d, b))
}

/// The first pair of non-adjacent segments of a closed ring that touch or cross, found by a
/// sweep over the segments sorted by their west end (near-linear for real boundaries, which
/// have few segments overlapping in longitude at any point).
pub fn self_intersection(ring: &[Point]) -> Option<(usize, usize)> {
    let n = ring.len().checked_sub(1)?; // segments; the last position repeats the first
    if n < 3 {
        return None;
    }
    let mut order: Vec<usize> = (0..n).collect();
    let west = |i: usize| ring[i].lon.min(ring[i + 1].lon);
    let east = |i: usize| ring[i].lon.max(ring[i + 1].lon);
    order.sort_by(|&a, &b| west(a).total_cmp(&west(b)));
    for (k, &i) in order.iter().enumerate() {
        let e = east(i);
        for &j in &order[k + 1..] {
            if west(j) > e {
                break;
            }
            let adjacent = i.abs_diff(j) == 1 || i.abs_diff(j) == n - 1;
            if adjacent {
                // Neighbours share an endpoint; they are bad only if they fold back onto
                // each other (collinear and overlapping beyond the shared point).
                let (s, t) = if (i + 1) % n == j { (i, j) } else { (j, i) };
                let (a, b, c) = (ring[s], ring[s + 1], ring[t + 1]);
                if orient(a, b, c) == 0.0 && (c.lon - b.lon) * (a.lon - b.lon) + (c.lat - b.lat) * (a.lat - b.lat) > 0.0 {
                    return Some((i.min(j), i.max(j)));
                }
                continue;
            }
            if segments_touch(ring[i], ring[i + 1], ring[j], ring[j + 1]) {
                return Some((i.min(j), i.max(j)));
            }
        }
    }
    None
}

const GCJ_A: f64 = 6_378_245.0;
const GCJ_EE: f64 = 0.006_693_421_622_965_943;

fn out_of_china(lon: f64, lat: f64) -> bool {
    !(72.004..=137.8347).contains(&lon) || !(0.8293..=55.8271).contains(&lat)
}

fn transform_lat(x: f64, y: f64) -> f64 {
    use std::f64::consts::PI;
    let mut r = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * x.abs().sqrt();
    r += (20.0 * (6.0 * x * PI).sin() + 20.0 * (2.0 * x * PI).sin()) * 2.0 / 3.0;
    r += (20.0 * (y * PI).sin() + 40.0 * (y / 3.0 * PI).sin()) * 2.0 / 3.0;
    r += (160.0 * (y / 12.0 * PI).sin() + 320.0 * (y * PI / 30.0).sin()) * 2.0 / 3.0;
    r
}

fn transform_lon(x: f64, y: f64) -> f64 {
    use std::f64::consts::PI;
    let mut r = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * x.abs().sqrt();
    r += (20.0 * (6.0 * x * PI).sin() + 20.0 * (2.0 * x * PI).sin()) * 2.0 / 3.0;
    r += (20.0 * (x * PI).sin() + 40.0 * (x / 3.0 * PI).sin()) * 2.0 / 3.0;
    r += (150.0 * (x / 12.0 * PI).sin() + 300.0 * (x / 30.0 * PI).sin()) * 2.0 / 3.0;
    r
}

/// The published WGS84 → GCJ-02 obfuscation.
pub fn wgs84_to_gcj02(p: Point) -> Point {
    use std::f64::consts::PI;
    if out_of_china(p.lon, p.lat) {
        return p;
    }
    let dlat = transform_lat(p.lon - 105.0, p.lat - 35.0);
    let dlon = transform_lon(p.lon - 105.0, p.lat - 35.0);
    let radlat = p.lat / 180.0 * PI;
    let magic = 1.0 - GCJ_EE * radlat.sin() * radlat.sin();
    let sqrt_magic = magic.sqrt();
    let dlat = (dlat * 180.0) / ((GCJ_A * (1.0 - GCJ_EE)) / (magic * sqrt_magic) * PI);
    let dlon = (dlon * 180.0) / (GCJ_A / sqrt_magic * radlat.cos() * PI);
    Point { lon: p.lon + dlon, lat: p.lat + dlat }
}

/// GCJ-02 → WGS84 by fixed-point iteration on the forward transform; converges to well under a
/// centimetre in a few steps (the one-step inverse is off by metres).
pub fn gcj02_to_wgs84(g: Point) -> Point {
    if out_of_china(g.lon, g.lat) {
        return g;
    }
    let mut w = g;
    for _ in 0..10 {
        let f = wgs84_to_gcj02(w);
        let (dx, dy) = (f.lon - g.lon, f.lat - g.lat);
        w = Point { lon: w.lon - dx, lat: w.lat - dy };
        if dx.abs() < 1e-9 && dy.abs() < 1e-9 {
            break;
        }
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gcj_round_trip_is_tight() {
        let w = Point { lon: 120.2, lat: 29.7 };
        let g = wgs84_to_gcj02(w);
        assert!((g.lon - w.lon).abs() > 1e-4, "GCJ-02 must be offset inside China");
        let back = gcj02_to_wgs84(g);
        assert!((back.lon - w.lon).abs() < 1e-8 && (back.lat - w.lat).abs() < 1e-8);
    }

    fn ring(pts: &[(f64, f64)]) -> Vec<Point> {
        pts.iter().map(|&(lon, lat)| Point { lon, lat }).collect()
    }

    #[test]
    fn ring_problems_are_named() {
        let ok = Polygon { exterior: ring(&[(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0), (0.0, 0.0)]), holes: vec![] };
        assert!(ok.problems().is_empty(), "{:?}", ok.problems());
        let bowtie = Polygon { exterior: ring(&[(0.0, 0.0), (1.0, 1.0), (1.0, 0.0), (0.0, 1.0), (0.0, 0.0)]), holes: vec![] };
        assert!(bowtie.problems()[0].contains("crosses itself"), "{:?}", bowtie.problems());
        let open = Polygon { exterior: ring(&[(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)]), holes: vec![] };
        assert!(open.problems()[0].contains("not closed"));
        let short = Polygon { exterior: ring(&[(0.0, 0.0), (1.0, 0.0), (0.0, 0.0)]), holes: vec![] };
        assert!(short.problems()[0].contains("at least 4"));
        let far = Polygon { exterior: ring(&[(0.0, 0.0), (200.0, 0.0), (1.0, 1.0), (0.0, 0.0)]), holes: vec![] };
        assert!(far.problems()[0].contains("outside WGS84"));
        let stray_hole = Polygon { exterior: ok.exterior.clone(), holes: vec![ring(&[(2.0, 2.0), (3.0, 2.0), (3.0, 3.0), (2.0, 2.0)])] };
        assert!(stray_hole.problems()[0].contains("outside the exterior"));
        let spike = Polygon { exterior: ring(&[(0.0, 0.0), (2.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 0.0)]), holes: vec![] };
        assert!(!spike.problems().is_empty(), "a ring folding back on itself is invalid");
        assert!((ok.centroid().lon - 0.5).abs() < 1e-12 && (ok.centroid().lat - 0.5).abs() < 1e-12);
    }

    #[test]
    fn ring_containment() {
        let sq = vec![
            Point { lon: 0.0, lat: 0.0 },
            Point { lon: 1.0, lat: 0.0 },
            Point { lon: 1.0, lat: 1.0 },
            Point { lon: 0.0, lat: 1.0 },
            Point { lon: 0.0, lat: 0.0 },
        ];
        assert!(ring_contains(&sq, Point { lon: 0.5, lat: 0.5 }));
        assert!(!ring_contains(&sq, Point { lon: 1.5, lat: 0.5 }));
    }
}

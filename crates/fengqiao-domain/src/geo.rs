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

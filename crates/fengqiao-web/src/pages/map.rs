//! The map as inline SVG: region boundaries and points, projected from WGS84 by a plain
//! equirectangular projection scaled by the cosine of the middle latitude (good enough at a
//! county's size), with no tile server. The SVG carries its projection in `data-` attributes
//! so the page script can turn a click back into latitude and longitude.

use fengqiao_domain::geo::Point;
use fengqiao_domain::{Region, RegionLevel};

/// Width of the drawing in SVG units; the height follows the area's shape.
const WIDTH: f64 = 800.0;

pub struct MapView {
    pub width: f64,
    pub height: f64,
    pub min_lon: f64,
    pub max_lat: f64,
    /// SVG units per degree of longitude (already multiplied by cos(latitude)).
    pub kx: f64,
    /// SVG units per degree of latitude.
    pub ky: f64,
    pub shapes: Vec<Shape>,
    pub pins: Vec<Pin>,
    /// A caption for screen readers.
    pub label: String,
    /// Label size in SVG units, so names stay readable however tall the area is drawn.
    pub font: f64,
}

pub struct Shape {
    pub code: String,
    pub name: String,
    /// The SVG path (`d` attribute).
    pub d: String,
    /// `town`, `village`, `selected`, or `shade-N` for a choropleth class 0–4.
    pub class: String,
    /// Text shown on hover (and read by screen readers).
    pub title: String,
    pub label_x: f64,
    pub label_y: f64,
    /// Whether the name is written on the map.
    pub labelled: bool,
}

pub struct Pin {
    pub x: f64,
    pub y: f64,
    pub class: String,
    pub title: String,
}

impl MapView {
    /// A map framing `frame` (regions whose boundaries set the extent).
    pub fn new(frame: &[&Region], label: String) -> Option<MapView> {
        let mut lo = Point { lon: f64::MAX, lat: f64::MAX };
        let mut hi = Point { lon: f64::MIN, lat: f64::MIN };
        for r in frame {
            if let Some(b) = &r.boundary {
                let (a, z) = b.bbox();
                lo = Point { lon: lo.lon.min(a.lon), lat: lo.lat.min(a.lat) };
                hi = Point { lon: hi.lon.max(z.lon), lat: hi.lat.max(z.lat) };
            }
        }
        if lo.lon >= hi.lon || lo.lat >= hi.lat {
            return None;
        }
        // A small margin so boundary lines are not clipped.
        let (mx, my) = ((hi.lon - lo.lon) * 0.02, (hi.lat - lo.lat) * 0.02);
        let (lo, hi) = (Point { lon: lo.lon - mx, lat: lo.lat - my }, Point { lon: hi.lon + mx, lat: hi.lat + my });
        let cos = ((lo.lat + hi.lat) / 2.0).to_radians().cos();
        let kx = WIDTH / (hi.lon - lo.lon);
        let ky = kx / cos;
        let height = ((hi.lat - lo.lat) * ky).clamp(100.0, 1600.0);
        let font = (WIDTH.max(height) / 55.0).clamp(12.0, 30.0);
        Some(MapView { width: WIDTH, height, min_lon: lo.lon, max_lat: hi.lat, kx, ky, shapes: Vec::new(), pins: Vec::new(), label, font })
    }

    pub fn project(&self, p: Point) -> (f64, f64) {
        ((p.lon - self.min_lon) * self.kx, (self.max_lat - p.lat) * self.ky)
    }

    /// Adds a region's outline; regions without a boundary are skipped.
    pub fn add_region(&mut self, r: &Region, name: &str, class: &str, title: String, labelled: bool) {
        let Some(b) = &r.boundary else { return };
        let mut d = String::new();
        for ring in std::iter::once(&b.exterior).chain(b.holes.iter()) {
            for (i, p) in ring.iter().enumerate() {
                let (x, y) = self.project(*p);
                d.push_str(&format!("{}{x:.1},{y:.1}", if i == 0 { "M" } else { "L" }));
            }
            d.push('Z');
        }
        let c = r.centroid.unwrap_or_else(|| {
            let (a, z) = b.bbox();
            Point { lon: (a.lon + z.lon) / 2.0, lat: (a.lat + z.lat) / 2.0 }
        });
        let (label_x, label_y) = self.project(c);
        self.shapes.push(Shape {
            code: r.code.to_string(),
            name: name.to_string(),
            d,
            class: class.to_string(),
            title,
            label_x,
            label_y,
            labelled,
        });
    }

    pub fn add_pin(&mut self, p: Point, class: &str, title: String) {
        let (x, y) = self.project(p);
        self.pins.push(Pin { x, y, class: class.to_string(), title });
    }
}

/// Regions of one level under `parent` (by code prefix), with boundaries, sorted by code.
pub fn children<'a>(regions: impl Iterator<Item = &'a Region>, parent: &str, level: RegionLevel) -> Vec<&'a Region> {
    let mut v: Vec<&Region> =
        regions.filter(|r| r.level() == level && r.code.as_str().starts_with(parent) && r.boundary.is_some()).collect();
    v.sort_by(|a, b| a.code.cmp(&b.code));
    v
}

/// The choropleth class (0–4) of a value in [0, 1].
pub fn shade(v: f64) -> usize {
    ((v.clamp(0.0, 1.0) * 5.0) as usize).min(4)
}

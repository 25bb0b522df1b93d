//! The map as inline SVG: region boundaries and points, projected from WGS84 by a plain
//! equirectangular projection scaled by the cosine of the middle latitude (good enough at a
//! county's size). The SVG carries its projection in `data-` attributes so the page script
//! can turn a click back into latitude and longitude.
//!
//! Background tiles are optional ([`MapTiles`], from the server's `map_tile_url`): each
//! Web-Mercator tile covering the frame is drawn as an SVG `<image>` stretched to its corners
//! in our projection. Inside one tile the two projections differ by a linear stretch only up
//! to the tile's own latitude span, invisible at the zoom levels a county needs.

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
    /// Background tiles, drawn first (empty without a tile server).
    pub tiles: Vec<Tile>,
}

pub struct Tile {
    pub href: String,
    pub x: f64,
    pub y: f64,
    pub width: f64,
    pub height: f64,
}

/// A slippy-map tile server: a URL template with `{z}`, `{x}` and `{y}`, and its origin,
/// which the pages' Content-Security-Policy must allow as an image source.
#[derive(Debug, Clone, PartialEq)]
pub struct MapTiles {
    pub template: String,
    pub origin: String,
}

/// The most tiles one map may ask for (about a 2,000-pixel-wide screen's worth).
const MAX_TILES: usize = 64;

impl MapTiles {
    /// Checks a tile URL template: `http(s)://host[:port]/…` with `{z}`, `{x}` and `{y}`,
    /// and nothing that could break out of a CSP source or an attribute.
    pub fn parse(url: &str) -> Result<MapTiles, String> {
        let url = url.trim();
        let rest = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"))
            .ok_or_else(|| format!("map_tile_url '{url}' must start with https:// or http://"))?;
        for part in ["{z}", "{x}", "{y}"] {
            if !url.contains(part) {
                return Err(format!("map_tile_url '{url}' lacks {part}"));
            }
        }
        if url.chars().any(|c| c.is_whitespace() || c.is_control() || matches!(c, ';' | ',' | '\'' | '"' | '<' | '>')) {
            return Err(format!("map_tile_url '{url}' contains a character not allowed in a URL template"));
        }
        let host = rest.split('/').next().unwrap_or_default();
        if host.is_empty() || host.contains(['{', '}', '@']) {
            return Err(format!("map_tile_url '{url}' needs a fixed host name"));
        }
        let scheme = &url[..url.len() - rest.len()];
        Ok(MapTiles { template: url.to_string(), origin: format!("{scheme}{host}") })
    }

    /// The pages' Content-Security-Policy with the tile server allowed as an image source.
    pub fn csp(&self) -> String {
        super::CSP.replace("img-src 'self' data:", &format!("img-src 'self' data: {}", self.origin))
    }
}

/// Longitude of a tile column's west edge at zoom `z`.
fn tile_lon(x: f64, n: f64) -> f64 {
    x / n * 360.0 - 180.0
}

/// Latitude of a tile row's north edge at zoom `z` (Web Mercator).
fn tile_lat(y: f64, n: f64) -> f64 {
    (std::f64::consts::PI * (1.0 - 2.0 * y / n)).sinh().atan().to_degrees()
}

/// The tile column and row containing a point.
fn tile_of(lon: f64, lat: f64, n: f64) -> (f64, f64) {
    let lat = lat.clamp(-85.05, 85.05).to_radians();
    let x = ((lon + 180.0) / 360.0 * n).floor();
    let y = ((1.0 - (lat.tan() + 1.0 / lat.cos()).ln() / std::f64::consts::PI) / 2.0 * n).floor();
    (x.clamp(0.0, n - 1.0), y.clamp(0.0, n - 1.0))
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
    pub fn new(frame: &[&Region], label: String, tiles: Option<&MapTiles>) -> Option<MapView> {
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
        let mut m = MapView {
            width: WIDTH,
            height,
            min_lon: lo.lon,
            max_lat: hi.lat,
            kx,
            ky,
            shapes: Vec::new(),
            pins: Vec::new(),
            label,
            font,
            tiles: Vec::new(),
        };
        if let Some(src) = tiles {
            m.add_tiles(src);
        }
        Some(m)
    }

    /// Covers the frame with tiles about 256 SVG units wide (the zoom where a tile's width in
    /// longitude matches that), fewer and larger if that would take more than [`MAX_TILES`].
    fn add_tiles(&mut self, src: &MapTiles) {
        let (min_lon, max_lon) = (self.min_lon, self.min_lon + self.width / self.kx);
        let (min_lat, max_lat) = (self.max_lat - self.height / self.ky, self.max_lat);
        let mut z = (360.0 * self.kx / 256.0).log2().round().clamp(0.0, 19.0) as i32;
        loop {
            let n = 2f64.powi(z);
            let (x0, y0) = tile_of(min_lon, max_lat, n);
            let (x1, y1) = tile_of(max_lon, min_lat, n);
            let count = ((x1 - x0 + 1.0) * (y1 - y0 + 1.0)) as usize;
            if count > MAX_TILES && z > 0 {
                z -= 1;
                continue;
            }
            let mut y = y0;
            while y <= y1 {
                let mut x = x0;
                while x <= x1 {
                    let (left, top) = self.project(Point { lon: tile_lon(x, n), lat: tile_lat(y, n) });
                    let (right, bottom) = self.project(Point { lon: tile_lon(x + 1.0, n), lat: tile_lat(y + 1.0, n) });
                    let href =
                        src.template.replace("{z}", &z.to_string()).replace("{x}", &format!("{x:.0}")).replace("{y}", &format!("{y:.0}"));
                    self.tiles.push(Tile { href, x: left, y: top, width: right - left, height: bottom - top });
                    x += 1.0;
                }
                y += 1.0;
            }
            return;
        }
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

//! Point → region lookup against shapely's STRtree with exact containment, on the same
//! polygons and points: 10,000 grid polygons of about 500 vertices each (a 100 × 100
//! partition whose shared edges wiggle identically on both sides) and a million random
//! points. Both sides are timed on the lookup alone; index builds are reported apart.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, bail};

use crate::{ci, python_env};

const SHAPELY: &str = r#"
import json, sys, time
import numpy as np, shapely
from shapely import STRtree
fc = json.load(open(sys.argv[1]))
feats = [f for f in fc["features"] if f["geometry"]]
polys = [shapely.geometry.shape(f["geometry"]) for f in feats]
codes = [f["properties"]["code"] for f in feats]
pts = np.loadtxt(sys.argv[2], delimiter=",", skiprows=1, usecols=(1, 2))
geoms = shapely.points(pts)
t = time.perf_counter(); tree = STRtree(polys); build = time.perf_counter() - t
t = time.perf_counter(); pairs = tree.query(geoms, predicate="within"); took = time.perf_counter() - t
found = [""] * len(pts)
for i, j in zip(pairs[0], pairs[1]):
    found[i] = codes[j]
with open(sys.argv[3], "w") as f:
    f.write("\n".join(found))
print(json.dumps({"build": build, "took": took, "n": len(pts), "version": shapely.__version__}))
"#;

/// A deterministic uniform generator, so both tools see the same points.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The points of one cell edge from (x0, y0) to (x1, y1), without its end: a sine wiggle
/// across the edge whose phase depends only on the edge, so the neighbouring cell walks the
/// very same points backwards.
fn edge(x0: f64, y0: f64, x1: f64, y1: f64, per_edge: usize, amp: f64) -> Vec<(f64, f64)> {
    let (a, b, reversed) = if (x0, y0) <= (x1, y1) { ((x0, y0), (x1, y1), false) } else { ((x1, y1), (x0, y0), true) };
    let phase = ((a.0 * 7919.0 + a.1 * 104729.0).sin() * 1000.0).fract().abs() * std::f64::consts::TAU;
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let len = (dx * dx + dy * dy).sqrt();
    let (nx, ny) = (-dy / len, dx / len);
    let mut pts: Vec<(f64, f64)> = (0..=per_edge)
        .map(|k| {
            let t = k as f64 / per_edge as f64;
            let w = if k == 0 || k == per_edge {
                0.0
            } else {
                amp * (3.0 * std::f64::consts::TAU * t + phase).sin() * (std::f64::consts::PI * t).sin()
            };
            (a.0 + dx * t + nx * w, a.1 + dy * t + ny * w)
        })
        .collect();
    if reversed {
        pts.reverse();
    }
    pts.pop();
    pts
}

/// Writes the regions (county, towns and villages without geometry, grids with it) and the
/// points. Returns (grid polygons, vertices per polygon).
fn generate(dir: &Path, side: usize, per_edge: usize, points: usize) -> anyhow::Result<(usize, usize)> {
    let (x0, y0, size) = (120.0, 29.0, 1.0 / side as f64);
    let mut features = Vec::new();
    let plain = |code: String, parent: Option<String>| {
        serde_json::json!({"type": "Feature", "geometry": null,
        "properties": {"code": code, "name": code, "parent": parent, "population": 0}})
    };
    features.push(plain("330681000000".into(), None));
    let mut towns = std::collections::BTreeSet::new();
    let mut villages = std::collections::BTreeSet::new();
    let mut verts = 0;
    for row in 0..side {
        for col in 0..side {
            let n = row * side + col;
            // 20 grids per village, 25 villages per town.
            let (town, village, grid) = (n / 500 + 1, (n / 20) % 25 + 201, n % 20 + 1);
            let town_code = format!("330681{:03}000", 100 + town);
            let village_code = format!("330681{:03}{village:03}", 100 + town);
            towns.insert(town_code);
            villages.insert(village_code.clone());
            let (ax, ay) = (x0 + col as f64 * size, y0 + row as f64 * size);
            let corners = [(ax, ay), (ax + size, ay), (ax + size, ay + size), (ax, ay + size), (ax, ay)];
            let mut ring: Vec<(f64, f64)> = Vec::new();
            for w in corners.windows(2) {
                ring.extend(edge(w[0].0, w[0].1, w[1].0, w[1].1, per_edge, size * 0.08));
            }
            ring.push(ring[0]);
            verts = ring.len();
            let coords: Vec<[f64; 2]> = ring.iter().map(|&(x, y)| [x, y]).collect();
            features.push(serde_json::json!({"type": "Feature",
                "properties": {"code": format!("{village_code}{grid:03}"), "name": format!("grid {n}"), "parent": village_code, "population": 100},
                "geometry": {"type": "Polygon", "coordinates": [coords]}}));
        }
    }
    for t in &towns {
        features.push(plain(t.clone(), Some("330681000000".into())));
    }
    for v in &villages {
        features.push(plain(v.clone(), Some(format!("{}000", &v[..9]))));
    }
    let fc = serde_json::json!({"type": "FeatureCollection", "features": features});
    std::fs::write(dir.join("regions.geojson"), fc.to_string())?;
    let mut rng = Lcg(20261125);
    let mut csv = String::with_capacity(points * 40);
    csv.push_str("id,lon,lat\n");
    for i in 0..points {
        let _ = writeln!(csv, "{i},{:.9},{:.9}", x0 + rng.next(), y0 + rng.next());
    }
    std::fs::write(dir.join("points.csv"), csv)?;
    Ok((side * side, verts))
}

/// Runs fengqiao's offline lookup; returns (points per second, the codes found).
fn ours(bin: &Path, dir: &Path, threads: usize) -> anyhow::Result<(f64, Vec<String>)> {
    let out = Command::new(bin)
        .args(["regions", "locate", "--threads", &threads.to_string(), "--boundaries"])
        .arg(dir.join("regions.geojson"))
        .arg("--points")
        .arg(dir.join("points.csv"))
        .output()?;
    if !out.status.success() {
        bail!("fengqiao regions locate: {}", String::from_utf8_lossy(&out.stderr));
    }
    let err = String::from_utf8_lossy(&out.stderr);
    let rate: f64 = err
        .split_whitespace()
        .find_map(|w| w.strip_prefix('(').and_then(|w| w.parse().ok()))
        .with_context(|| format!("no rate in: {err}"))?;
    let found =
        String::from_utf8_lossy(&out.stdout).lines().skip(1).map(|l| l.split_once(',').map(|x| x.1).unwrap_or("").to_string()).collect();
    Ok((rate, found))
}

pub fn lookup(bin: &Path, dir: &Path, smoke: bool) -> anyhow::Result<()> {
    let (side, per_edge, n_points) = if smoke { (20, 125, 20_000) } else { (100, 125, 1_000_000) };
    let (polys, verts) = generate(dir, side, per_edge, n_points)?;
    println!("\n== point lookup: {polys} grid polygons of {verts} vertices, {n_points} random points");
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let (one, found) = ours(bin, dir, 1)?;
    let (all, _) = ours(bin, dir, cores)?;
    println!("fengqiao (R-tree + banded ray casting): {one:.0} points/s on 1 thread, {all:.0} points/s on {cores}");
    let py = match python_env() {
        Ok(p) => p,
        Err(e) if ci() => return Err(e.context("shapely is needed for the lookup benchmark")),
        Err(e) => {
            println!("SKIP: shapely reference ({e:#})");
            return Ok(());
        }
    };
    let out = Command::new(py)
        .arg("-c")
        .arg(SHAPELY)
        .arg(dir.join("regions.geojson"))
        .arg(dir.join("points.csv"))
        .arg(dir.join("shapely.txt"))
        .output()?;
    if !out.status.success() {
        bail!("shapely reference: {}", String::from_utf8_lossy(&out.stderr));
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let took = v["took"].as_f64().context("shapely timing")?;
    let theirs = n_points as f64 / took;
    let reference: Vec<String> = std::fs::read_to_string(dir.join("shapely.txt"))?.lines().map(str::to_string).collect();
    let differ = found.iter().zip(&reference).filter(|(a, b)| a != b).count();
    println!(
        "shapely {} STRtree.query(predicate='within'), 1 thread: {theirs:.0} points/s (tree built in {:.0} ms)",
        v["version"].as_str().unwrap_or("?"),
        v["build"].as_f64().unwrap_or(0.0) * 1e3
    );
    println!(
        "ratio: {:.1}x on 1 thread, {:.1}x on {cores} (target >= 5x; >= 200,000 points/s: {}); answers differing from shapely: {differ} of {n_points}",
        one / theirs,
        all / theirs,
        crate::bench::verdict(all >= 200_000.0 && all / theirs >= 5.0)
    );
    if differ > n_points / 10_000 {
        bail!("fengqiao and shapely disagree on {differ} points");
    }
    Ok(())
}

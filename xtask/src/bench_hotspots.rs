//! `bench --only hotspots`: Gi* and local Moran's I with conditional permutations,
//! `fengqiao analyze` against esda 2.9 (numba) on the same files, in the same run.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, bail};

use crate::{ci, python_env, root};

/// The esda side: builds the weights from the same edge list (not timed), compiles numba's
/// kernels on a small lattice, then times one call of each statistic.
const ESDA: &str = r#"
import csv, json, sys, time, warnings
warnings.filterwarnings("ignore")
import numpy as np
from libpysal.weights import W, lat2W
from esda.getisord import G_Local
from esda.moran import Moran_Local
values, weights, perms = sys.argv[1], sys.argv[2], int(sys.argv[3])
with open(values) as f:
    rows = list(csv.reader(f))[1:]
ids = [r[0] for r in rows]
y = np.array([float(r[1]) for r in rows])
nb = {s: [] for s in ids}
with open(weights) as f:
    for r in list(csv.reader(f))[1:]:
        nb[r[0]].append(r[1])
w = W(nb, id_order=ids, silence_warnings=True)
# Warm-up: compile the kernels (and start the parallel workers) on a small input.
small = lat2W(10, 10)
ys = np.random.default_rng(1).random(100) + 1
G_Local(ys, small, transform="B", star=True, permutations=9, n_jobs=-1, keep_simulations=False, seed=1)
Moran_Local(ys, lat2W(10, 10), transformation="r", permutations=9, n_jobs=-1, keep_simulations=False, seed=1)
t = time.perf_counter()
G_Local(y, w, transform="B", star=True, permutations=perms, n_jobs=-1, keep_simulations=False, seed=1)
gi = time.perf_counter() - t
w = W(nb, id_order=ids, silence_warnings=True)
t = time.perf_counter()
Moran_Local(y, w, transformation="r", permutations=perms, n_jobs=-1, keep_simulations=False, seed=1)
moran = time.perf_counter() - t
print(json.dumps({"gi": gi, "moran": moran}))
"#;

/// A small deterministic generator, so the data set is the same on every run.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn timed(bin: &Path, args: &[&str], out: &Path) -> anyhow::Result<f64> {
    let t = Instant::now();
    let o = Command::new(bin).args(args).env("FENGQIAO_LOG", "error").output()?;
    let secs = t.elapsed().as_secs_f64();
    if !o.status.success() {
        bail!("fengqiao {args:?}: {}", String::from_utf8_lossy(&o.stderr));
    }
    std::fs::write(out, &o.stdout)?;
    Ok(secs)
}

pub fn run(bin: &Path, smoke: bool) -> anyhow::Result<()> {
    let dir = &root().join("target").join("bench").join(format!("hotspots-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir)?;
    let (n, perms) = if smoke { (2_000, 99) } else { (100_000, 999) };
    println!("hotspots: {n} sites, 8 nearest neighbours each, {perms} permutations");
    // Random points over a 10 km square; case counts with a few planted clusters.
    let mut rng = SplitMix(20240622);
    let mut pts = String::from("id,x,y\n");
    let mut vals = String::from("id,value\n");
    for i in 0..n {
        let (x, y) = (rng.next() * 10_000.0, rng.next() * 10_000.0);
        let hot = [(2_000.0, 3_000.0), (7_500.0, 8_000.0)].iter().any(|(cx, cy)| (x - cx) * (x - cx) + (y - cy) * (y - cy) < 600.0 * 600.0);
        let v = -(1.0 - rng.next()).ln() * if hot { 12.0 } else { 4.0 };
        pts.push_str(&format!("g{i},{x:.3},{y:.3}\n"));
        vals.push_str(&format!("g{i},{v:.4}\n"));
    }
    let points = dir.join("points.csv");
    let values = dir.join("values.csv");
    let weights = dir.join("weights.csv");
    std::fs::write(&points, pts)?;
    std::fs::write(&values, vals)?;
    let p = |x: &PathBuf| x.to_str().unwrap_or_default().to_string();
    let knn = timed(bin, &["analyze", "weights", "--points", &p(&points), "--knn", "8"], &weights)?;
    println!("fengqiao analyze weights --knn 8 (grid index): {knn:.2} s");
    let perms_s = perms.to_string();
    let common = ["--values", &p(&values), "--weights", &p(&weights), "--permutations", &perms_s, "--seed", "1"];
    let args = |cmd: &'static str| -> Vec<&str> { [&["analyze", cmd][..], &common[..]].concat() };
    let gi = timed(bin, &args("gi-star"), &dir.join("gi.csv"))?;
    let moran = timed(bin, &args("local-moran"), &dir.join("moran.csv"))?;
    println!("fengqiao gi-star:     {gi:.2} s (whole command: reading both files, statistics, writing CSV)");
    println!("fengqiao local-moran: {moran:.2} s");

    let py = match std::env::var("FENGQIAO_TEST_PYTHON") {
        Ok(p) if !p.is_empty() => PathBuf::from(p),
        _ => match python_env() {
            Ok(p) => p,
            Err(e) if ci() => return Err(e.context("esda is needed for the hotspots reference")),
            Err(e) => {
                println!("SKIP: hotspots reference (esda not available: {e:#})");
                return Ok(());
            }
        },
    };
    let out = Command::new(&py).arg("-c").arg(ESDA).arg(&values).arg(&weights).arg(&perms_s).output().context("running esda")?;
    if !out.status.success() {
        bail!("esda reference failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |k: &str| -> anyhow::Result<f64> {
        let at = text.find(&format!("\"{k}\": ")).with_context(|| format!("esda printed {text}"))? + k.len() + 4;
        Ok(text[at..].chars().take_while(|c| c.is_ascii_digit() || *c == '.' || *c == 'e' || *c == '-').collect::<String>().parse()?)
    };
    let (egi, emoran) = (field("gi")?, field("moran")?);
    println!(
        "esda 2.9 G_Local(star=True, transform='B'): {egi:.2} s (one call after warm-up; n_jobs=-1, keep_simulations=False; file reading not timed)"
    );
    println!("esda 2.9 Moran_Local(transformation='r'):   {emoran:.2} s");
    let target = 20.0;
    for (name, ours, theirs) in [("Gi*", gi, egi), ("local Moran", moran, emoran)] {
        let ratio = theirs / ours;
        println!("{name}: fengqiao is {ratio:.1}× faster than esda (target ≥ {target}×) {}", if ratio >= target { "PASS" } else { "MISS" });
    }
    Ok(())
}

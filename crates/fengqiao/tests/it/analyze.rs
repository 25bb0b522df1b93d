//! `fengqiao analyze` against PySAL's esda 2.9 on the same values, weights and permutation
//! table: the statistics, moments and z to 1e-9, and the permutation p-values exactly.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use rand::{Rng, SeedableRng};

fn fq(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fengqiao")).args(args).env("FENGQIAO_LOG", "warn").output().expect("the fengqiao binary runs")
}

fn ok(args: &[&str]) -> String {
    let out = fq(args);
    assert!(out.status.success(), "fengqiao {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// The Python with esda, or `None` (and a SKIP line) when the variable is unset outside CI.
fn python() -> Option<PathBuf> {
    match std::env::var("FENGQIAO_TEST_PYTHON") {
        Ok(p) if !p.is_empty() => Some(PathBuf::from(p)),
        _ if std::env::var("CI").as_deref() == Ok("true") => panic!("CI=true but FENGQIAO_TEST_PYTHON is not set"),
        _ => {
            println!("SKIP: FENGQIAO_TEST_PYTHON is not set; not comparing with esda");
            None
        }
    }
}

/// Runs the reference script on a list of jobs (one process, so numba compiles once).
fn reference(py: &Path, dir: &Path, jobs: &[Vec<String>]) {
    let file = dir.join("jobs.txt");
    std::fs::write(&file, jobs.iter().map(|j| j.join(" ")).collect::<Vec<_>>().join("\n")).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/esda_reference.py");
    let out = Command::new(py).arg(script).arg(&file).output().expect("the reference Python runs");
    assert!(out.status.success(), "esda_reference.py failed: {}", String::from_utf8_lossy(&out.stderr));
}

/// A CSV as rows of column → text, keyed by the first column.
fn table(text: &str) -> (Vec<String>, Vec<HashMap<String, String>>) {
    let mut r = csv::Reader::from_reader(text.as_bytes());
    let h: Vec<String> = r.headers().unwrap().iter().map(String::from).collect();
    let rows = r.records().map(|rec| h.iter().cloned().zip(rec.unwrap().iter().map(String::from)).collect()).collect();
    (h, rows)
}

fn num(s: &str) -> f64 {
    if s.eq_ignore_ascii_case("nan") { f64::NAN } else { s.parse().unwrap_or_else(|_| panic!("{s:?} is not a number")) }
}

fn close(what: &str, id: &str, a: f64, b: f64) {
    let ok = (a.is_nan() && b.is_nan()) || (a - b).abs() <= 1e-9 * b.abs().max(1.0);
    assert!(ok, "{what} of {id}: fengqiao {a} vs esda {b}");
}

/// The permutation count behind a p-value, (min(G, N − G) + 1) / (N + 1) → min(G, N − G).
fn count(p: f64, perms: usize) -> i64 {
    (p * (perms as f64 + 1.0)).round() as i64 - 1
}

/// For each site, how many rows of the permutation table redraw exactly its own neighbours:
/// the permuted statistic then equals the observed one mathematically, and whether the
/// computed value lands a rounding step above or below it depends on the order of floating-
/// point operations (esda's kernel is compiled with fastmath), so such a tie may count on
/// one side and not the other.
fn self_draws(values: &Path, weights: &Path, table_file: &Path) -> HashMap<String, i64> {
    let (_, vals) = table(&std::fs::read_to_string(values).unwrap());
    let pos: HashMap<String, usize> = vals.iter().enumerate().map(|(i, r)| (r["id"].clone(), i)).collect();
    let mut nb: Vec<Vec<usize>> = vec![Vec::new(); vals.len()];
    for line in std::fs::read_to_string(weights).unwrap().lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        nb[pos[f[0]]].push(pos[f[1]]);
    }
    let rows: Vec<Vec<usize>> =
        std::fs::read_to_string(table_file).unwrap().lines().map(|l| l.split(',').map(|x| x.parse().unwrap()).collect()).collect();
    let mut out = HashMap::new();
    for (i, r) in vals.iter().enumerate() {
        let mut own: Vec<usize> = nb[i].iter().map(|&j| if j > i { j - 1 } else { j }).collect();
        own.sort();
        let k = own.len();
        let n = rows
            .iter()
            .filter(|row| {
                let mut d = row[..k].to_vec();
                d.sort();
                k > 0 && d == own
            })
            .count();
        out.insert(r["id"].clone(), n as i64);
    }
    out
}

/// Compares one statistic's CLI output with esda's. `cols` maps our columns to esda's.
/// Permutation counts must be equal, but for the redraws of a site's own neighbours.
fn compare(
    label: &str,
    ours: &str,
    theirs_file: &Path,
    cols: &[(&str, &str)],
    perms: usize,
    islands: &[String],
    ties: &HashMap<String, i64>,
) {
    let (_, ours) = table(ours);
    let (_, theirs) = table(&std::fs::read_to_string(theirs_file).unwrap());
    assert_eq!(ours.len(), theirs.len(), "{label}: row counts");
    let (mut p_checked, mut tied) = (0, 0);
    for (a, b) in ours.iter().zip(&theirs) {
        let id = &a["id"];
        assert_eq!(id, &b["id"], "{label}: row order");
        for (mine, esda) in cols {
            close(&format!("{label} {mine}"), id, num(&a[*mine]), num(&b[*esda]));
        }
        if islands.contains(id) {
            assert_eq!(a["p_sim"], "", "{label}: an island has no permutation p-value");
        } else {
            let (x, y) = (count(num(&a["p_sim"]), perms), count(num(&b["p_sim"]), perms));
            assert!((x - y).abs() <= ties[id], "{label} p_sim of {id}: {x} vs {y} permutations at least as extreme");
            p_checked += 1;
            if x != y {
                println!("{label}: {id} counts {x} vs {y}, within its {} redraws of its own neighbours", ties[id]);
                tied += 1;
            }
        }
        if let Some(q) = a.get("quadrant") {
            assert_eq!(num(q), num(&b["quadrant"]), "{label} quadrant of {id}");
        }
    }
    assert!(p_checked > 0 && tied * 50 <= p_checked, "{label}: {tied} of {p_checked} p_sim differ");
}

fn write_values(path: &Path, ids: &[String], y: &[f64]) {
    let mut s = String::from("id,value\n");
    for (id, v) in ids.iter().zip(y) {
        s += &format!("{id},{v}\n");
    }
    std::fs::write(path, s).unwrap();
}

/// A random permutation table: `perms` rows of `width` distinct indices below `n - 1`.
fn write_table(path: &Path, rng: &mut impl Rng, n: usize, width: usize, perms: usize) {
    let mut s = String::new();
    for _ in 0..perms {
        let row = rand::seq::index::sample(rng, n - 1, width).into_vec();
        s += &row.iter().map(|j| j.to_string()).collect::<Vec<_>>().join(",");
        s.push('\n');
    }
    std::fs::write(path, s).unwrap();
}

/// A 30×30 lattice of unit squares (as GeoJSON, so the weights come from queen contiguity)
/// whose values carry a planted high cluster.
fn lattice(dir: &Path, rng: &mut impl Rng) -> (Vec<String>, Vec<f64>, PathBuf) {
    let (mut ids, mut y, mut features) = (Vec::new(), Vec::new(), Vec::new());
    for r in 0..30 {
        for c in 0..30 {
            let id = format!("r{r:02}c{c:02}");
            let (x, yy) = (c as f64, r as f64);
            features.push(format!(
                r#"{{"type":"Feature","properties":{{"id":"{id}"}},"geometry":{{"type":"Polygon","coordinates":[[[{x},{yy}],[{},{yy}],[{},{}],[{x},{}],[{x},{yy}]]]}}}}"#,
                x + 1.0,
                x + 1.0,
                yy + 1.0,
                yy + 1.0
            ));
            let base: f64 = -(1.0 - rng.r#gen::<f64>()).ln() * 10.0;
            let cluster = (8..14).contains(&r) && (18..25).contains(&c);
            y.push(if cluster { base + 25.0 } else { base });
            ids.push(id);
        }
    }
    let geo = dir.join("lattice.geojson");
    std::fs::write(&geo, format!(r#"{{"type":"FeatureCollection","features":[{}]}}"#, features.join(","))).unwrap();
    let w = ok(&["analyze", "weights", "--polygons", geo.to_str().unwrap()]);
    let wf = dir.join("lattice-w.csv");
    std::fs::write(&wf, &w).unwrap();
    // Queen contiguity on a lattice: 8 neighbours inside, 5 on an edge, 3 at a corner.
    let mut degree: HashMap<String, usize> = HashMap::new();
    for line in w.lines().skip(1) {
        *degree.entry(line.split(',').next().unwrap().to_string()).or_default() += 1;
    }
    assert_eq!(degree["r10c10"], 8);
    assert_eq!(degree["r00c10"], 5);
    assert_eq!(degree["r29c29"], 3);
    assert_eq!(w.lines().count() - 1, 2 * (2 * 30 * 29 + 2 * 29 * 29));
    (ids, y, wf)
}

/// A random directed graph with weighted edges, 1 to 8 neighbours per site, and `islands`
/// sites with none.
fn irregular(dir: &Path, rng: &mut impl Rng, n: usize, islands: usize, name: &str) -> (Vec<String>, Vec<f64>, PathBuf, Vec<String>) {
    let ids: Vec<String> = (0..n).map(|i| format!("s{i}")).collect();
    let y: Vec<f64> = (0..n).map(|_| rng.r#gen::<f64>() * 100.0 + 0.5).collect();
    let mut s = String::from("from,to,weight\n");
    let island_ids: Vec<String> = ids[n - islands..].to_vec();
    for i in 0..n - islands {
        let k = rng.gen_range(1..=8);
        for j in rand::seq::index::sample(rng, n - islands, k + 1).into_iter().filter(|&j| j != i).take(k) {
            s += &format!("{},{},{}\n", ids[i], ids[j], rng.gen_range(0.5..3.0));
        }
    }
    let wf = dir.join(format!("{name}-w.csv"));
    std::fs::write(&wf, s).unwrap();
    (ids, y, wf, island_ids)
}

#[test]
fn gi_star_and_local_moran_agree_with_esda() {
    let Some(py) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut rng = rand::rngs::StdRng::seed_from_u64(2024);
    let perms = 999;
    let mut datasets = Vec::new();
    let (ids, y, w) = lattice(d, &mut rng);
    datasets.push(("lattice", ids, y, w, Vec::new()));
    let (ids, y, w, isl) = irregular(d, &mut rng, 400, 0, "irregular");
    datasets.push(("irregular", ids, y, w, isl));
    let (ids, y, w, isl) = irregular(d, &mut rng, 200, 6, "islands");
    datasets.push(("islands", ids, y, w, isl));

    let mut jobs = Vec::new();
    let mut runs = Vec::new();
    for (name, ids, y, w, islands) in &datasets {
        let vf = d.join(format!("{name}-v.csv"));
        write_values(&vf, ids, y);
        let tf = d.join(format!("{name}-t.csv"));
        write_table(&tf, &mut rng, ids.len(), 8, perms);
        // esda fills an island's Gi* self-weight with its row maximum under row weights, which
        // is 0; that case is left out.
        let cases: &[(&str, &str)] = if islands.is_empty() {
            &[("gi", "binary"), ("gi", "row"), ("moran", "row"), ("moran", "binary")]
        } else {
            &[("gi", "binary"), ("moran", "row")]
        };
        for (stat, transform) in cases {
            let out = d.join(format!("{name}-{stat}-{transform}.esda.csv"));
            let p = |p: &Path| p.to_str().unwrap().to_string();
            jobs.push(vec![stat.to_string(), p(&vf), p(w), p(&tf), transform[..1].to_uppercase(), p(&out)]);
            runs.push((name.to_string(), stat.to_string(), transform.to_string(), vf.clone(), w.clone(), tf.clone(), out, islands.clone()));
        }
    }
    reference(&py, d, &jobs);
    for (name, stat, transform, vf, w, tf, out, islands) in runs {
        let args = |cmd: &str, extra: &[&str]| {
            let mut a = vec!["analyze", cmd, "--values", vf.to_str().unwrap(), "--weights", w.to_str().unwrap()];
            a.extend(["--transform", transform.as_str(), "--permutation-table", tf.to_str().unwrap()]);
            a.extend(extra);
            ok(&a)
        };
        let label = format!("{name} {stat} {transform}");
        let ties = self_draws(&vf, &w, &tf);
        if stat == "gi" {
            let ours = args("gi-star", &[]);
            compare(
                &label,
                &ours,
                &out,
                &[("stat", "stat"), ("expected", "expected"), ("variance", "variance"), ("z", "z"), ("p_norm", "p_norm")],
                perms,
                &islands,
                &ties,
            );
        } else {
            let total = args("local-moran", &["--moments", "total"]);
            compare(&label, &total, &out, &[("stat", "stat"), ("expected", "ei"), ("variance", "vi")], perms, &islands, &ties);
            let cond = args("local-moran", &[]);
            compare(&label, &cond, &out, &[("stat", "stat"), ("expected", "eic"), ("variance", "vic")], perms, &islands, &ties);
            // z is (I − E) / √V under each null.
            let (_, theirs) = table(&std::fs::read_to_string(&out).unwrap());
            for (moments, text) in [("total", &total), ("conditional", &cond)] {
                let (e, v) = if moments == "total" { ("ei", "vi") } else { ("eic", "vic") };
                for (a, b) in table(text).1.iter().zip(&theirs) {
                    let z = (num(&b["stat"]) - num(&b[e])) / num(&b[v]).sqrt();
                    close(&format!("{label} z ({moments})"), &a["id"], num(&a["z"]), z);
                }
            }
        }
    }

    // The planted cluster is found: its centre is a significant hot spot at FDR 5% and a
    // high–high cluster.
    let (vf, w) = (d.join("lattice-v.csv"), d.join("lattice-w.csv"));
    let gi =
        ok(&["analyze", "gi-star", "--values", vf.to_str().unwrap(), "--weights", w.to_str().unwrap(), "--seed", "7", "--fdr", "0.05"]);
    let (h, rows) = table(&gi);
    assert_eq!(h, ["id", "stat", "expected", "variance", "z", "p_norm", "p_sim", "p_fdr", "significant"]);
    let centre = rows.iter().find(|r| r["id"] == "r10c21").unwrap();
    assert!(num(&centre["z"]) > 3.0 && centre["significant"] == "true", "{centre:?}");
    let far = rows.iter().filter(|r| r["id"].starts_with("r2") && r["significant"] == "true" && num(&r["z"]) > 0.0).count();
    assert!(far < 20, "{far} hot spots far from the cluster");
    // The same seed gives the same output; another seed other p_sim.
    assert_eq!(
        gi,
        ok(&["analyze", "gi-star", "--values", vf.to_str().unwrap(), "--weights", w.to_str().unwrap(), "--seed", "7", "--fdr", "0.05"])
    );
    let lm = ok(&["analyze", "local-moran", "--values", vf.to_str().unwrap(), "--weights", w.to_str().unwrap()]);
    let (h, rows) = table(&lm);
    assert_eq!(h, ["id", "stat", "expected", "variance", "z", "p_norm", "p_sim", "quadrant"]);
    assert_eq!(rows.iter().find(|r| r["id"] == "r10c21").unwrap()["quadrant"], "1");
}

#[test]
fn rates_fdr_and_nearest_neighbours_agree_with_the_references() {
    let Some(py) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut rng = rand::rngs::StdRng::seed_from_u64(99);
    // Areas of very different populations, with rates that vary more than chance.
    let mut eb_in = String::from("id,cases,population\n");
    for i in 0..120 {
        let pop: f64 = (rng.gen_range(50.0f64..50_000.0)).round();
        let rate = rng.gen_range(0.0005..0.02);
        eb_in += &format!("a{i},{},{pop}\n", (pop * rate).round());
    }
    let eb_file = d.join("eb.csv");
    std::fs::write(&eb_file, &eb_in).unwrap();
    // Points without ties for kNN.
    let mut pts = String::from("id,x,y\n");
    for i in 0..500 {
        pts += &format!("p{i},{},{}\n", rng.gen_range(0.0..1000.0), rng.gen_range(0.0..300.0));
    }
    let pts_file = d.join("pts.csv");
    std::fs::write(&pts_file, &pts).unwrap();
    // p-values from a real run, for BH.
    let (ids, y, w, _) = irregular(d, &mut rng, 300, 0, "bh");
    let vf = d.join("bh-v.csv");
    write_values(&vf, &ids, &y);
    let gi = ok(&[
        "analyze",
        "gi-star",
        "--values",
        vf.to_str().unwrap(),
        "--weights",
        w.to_str().unwrap(),
        "--fdr",
        "0.1",
        "--permutations",
        "199",
    ]);
    let (_, gi_rows) = table(&gi);
    let p_file = d.join("p.txt");
    std::fs::write(&p_file, gi_rows.iter().map(|r| r["p_sim"].clone()).collect::<Vec<_>>().join("\n")).unwrap();

    let s = |p: &Path| p.to_str().unwrap().to_string();
    let jobs = vec![
        vec!["eb".into(), s(&eb_file), s(&d.join("eb.out"))],
        vec!["bh".into(), s(&p_file), s(&d.join("bh.out"))],
        vec!["knn".into(), s(&pts_file), "6".into(), s(&d.join("knn.out"))],
    ];
    reference(&py, d, &jobs);

    let (_, ours) = table(&ok(&["analyze", "eb-rate", "--input", eb_file.to_str().unwrap()]));
    let (_, theirs) = table(&std::fs::read_to_string(d.join("eb.out")).unwrap());
    for (a, b) in ours.iter().zip(&theirs) {
        close("eb_rate", &a["id"], num(&a["eb_rate"]), num(&b["eb_rate"]));
    }
    let (_, theirs) = table(&std::fs::read_to_string(d.join("bh.out")).unwrap());
    let mut sig = 0;
    for (a, b) in gi_rows.iter().zip(&theirs) {
        close("p_fdr", &a["id"], num(&a["p_fdr"]), num(&b["p_fdr"]));
        assert_eq!(a["significant"] == "true", num(&b["p_fdr"]) <= 0.1);
        sig += (a["significant"] == "true") as usize;
    }
    println!("{sig} of 300 sites significant at FDR 10% with 199 permutations");
    let edges = |text: &str| {
        let mut v: Vec<(String, String)> = text
            .lines()
            .skip(1)
            .map(|l| {
                let f: Vec<&str> = l.split(',').collect();
                (f[0].to_string(), f[1].to_string())
            })
            .collect();
        v.sort();
        v
    };
    let ours = ok(&["analyze", "weights", "--points", pts_file.to_str().unwrap(), "--knn", "6"]);
    assert_eq!(edges(&ours), edges(&std::fs::read_to_string(d.join("knn.out")).unwrap()));
}

#[test]
fn bad_files_are_refused_naming_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let file = |name: &str, text: &str| {
        let p = d.join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_string()
    };
    let v = file("v.csv", "id,value\na,1\nb,2\nc,3\nd,4\n");
    let w = file("w.csv", "from,to\na,b\nb,a\nb,c\nc,d\nd,a\n");
    assert!(ok(&["analyze", "gi-star", "--values", &v, "--weights", &w, "--permutations", "9"]).lines().count() == 5);
    let cases = [
        (file("v1.csv", "id,value\na,1\nb,x\nc,3\nd,4\n"), w.clone(), vec![], "v1.csv line 3"),
        (file("v2.csv", "id,value\na,1\nb,2\na,3\nd,4\n"), w.clone(), vec![], "v2.csv line 4"),
        (file("v3.csv", "name,count\na,1\n"), w.clone(), vec![], "v3.csv line 1"),
        (v.clone(), file("w1.csv", "from,to\na,b\nb,zz\n"), vec![], "w1.csv line 3"),
        (v.clone(), file("w2.csv", "from,to,weight\na,b,1\nb,c,1\na,b,2\n"), vec![], "w2.csv line 4"),
        (v.clone(), file("w3.csv", "from,to,weight\na,b,1\nb,c,-2\n"), vec![], "w3.csv line 3"),
        (v.clone(), file("w4.csv", "from,to\na,a\n"), vec![], "w4.csv line 2"),
        (v.clone(), w.clone(), vec!["--permutation-table".to_string(), file("t1.csv", "0,1\n2,3\n")], "t1.csv line 2"),
        (v.clone(), w.clone(), vec!["--permutation-table".to_string(), file("t2.csv", "0,1\n1,x\n")], "t2.csv line 2"),
        (v.clone(), w.clone(), vec!["--fdr".to_string(), "2".to_string()], "--fdr"),
        (file("v4.csv", "id,value\na,1\nb,-2\nc,3\nd,4\n"), w.clone(), vec![], "v4.csv line 3"),
    ];
    for (v, w, extra, want) in cases {
        let mut args = vec!["analyze", "gi-star", "--values", &v, "--weights", &w];
        args.extend(extra.iter().map(String::as_str));
        let out = fq(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(out.stdout.is_empty(), "{args:?} printed to stdout");
        assert!(err.contains(want), "{args:?}: {err}");
    }
    let out = fq(&["analyze", "local-moran", "--values", &file("v5.csv", "id,value\na,2\nb,2\nc,2\nd,2\n"), "--weights", &w]);
    assert!(!out.status.success() && out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("every value is the same"));
    let help = ok(&["analyze", "local-moran", "--help"]);
    for col in ["stat", "expected", "variance", "z", "p_norm", "p_sim", "quadrant"] {
        assert!(help.contains(&format!("  {col} ")), "--help documents {col}");
    }
}

#[test]
fn mann_kendall_agrees_with_pymannkendall_and_emerging_hot_spots_are_found() {
    let Some(py) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut rng = rand::rngs::StdRng::seed_from_u64(5);
    // Small integer counts, so series have many ties; some with a trend, given out of order.
    let mut s = String::from("id,time,value\n");
    for i in 0..60 {
        let len = rng.gen_range(3..40);
        let drift = [0.0, 0.3, -0.2][i % 3];
        let mut rows: Vec<String> =
            (0..len).map(|t| format!("t{i},{},{}\n", 2000 + t, (rng.gen_range(0.0..4.0f64) + drift * t as f64).round())).collect();
        rows.reverse();
        s += &rows.concat();
    }
    let f = d.join("series.csv");
    std::fs::write(&f, &s).unwrap();
    let out = d.join("mk.out");
    reference(&py, d, &[vec!["mk".into(), f.to_str().unwrap().into(), out.to_str().unwrap().into()]]);
    let (_, ours) = table(&ok(&["analyze", "trend", "--input", f.to_str().unwrap()]));
    let (_, theirs) = table(&std::fs::read_to_string(&out).unwrap());
    assert_eq!(ours.len(), 60);
    for (a, b) in ours.iter().zip(&theirs) {
        for k in ["s", "var_s", "z", "p", "tau", "slope", "intercept"] {
            close(k, &a["id"], num(&a[k]), num(&b[k]));
        }
        assert_eq!(a["trend"], b["trend"], "trend of {}", a["id"]);
    }

    // A 12×12 lattice over 12 slices: one block heats up from slice 8 on, one is hot
    // throughout and rising, one cools in the last slices; the rest is noise.
    let side = 12;
    let mut vals = String::from("id,time,value\n");
    let mut w = String::from("from,to\n");
    let id = |r: usize, c: usize| format!("r{r}c{c}");
    for r in 0..side {
        for c in 0..side {
            for (dr, dc) in [(-1i64, 0i64), (1, 0), (0, -1), (0, 1), (-1, -1), (-1, 1), (1, -1), (1, 1)] {
                let (rr, cc) = (r as i64 + dr, c as i64 + dc);
                if (0..side as i64).contains(&rr) && (0..side as i64).contains(&cc) {
                    w += &format!("{},{}\n", id(r, c), id(rr as usize, cc as usize));
                }
            }
            for t in 0..12 {
                let base = rng.gen_range(8.0..12.0f64);
                let v = if r < 3 && c < 3 && t >= 9 {
                    base + 30.0
                } else if r >= 9 && c >= 9 {
                    base + 12.0 + 2.0 * t as f64
                } else if r < 3 && c >= 9 && t >= 9 {
                    0.0
                } else {
                    base
                };
                vals += &format!("{},{t},{v:.3}\n", id(r, c));
            }
        }
    }
    let (vf, wf) = (d.join("cube.csv"), d.join("cube-w.csv"));
    std::fs::write(&vf, vals).unwrap();
    std::fs::write(&wf, w).unwrap();
    let (h, rows) = table(&ok(&["analyze", "emerging", "--values", vf.to_str().unwrap(), "--weights", wf.to_str().unwrap()]));
    assert_eq!(h, ["id", "category", "hot", "cold", "z_last", "trend_z", "trend_p"]);
    let cat = |r: usize, c: usize| rows.iter().find(|x| x["id"] == id(r, c)).unwrap()["category"].clone();
    assert_eq!(cat(1, 1), "consecutive hot spot");
    assert_eq!(cat(10, 10), "intensifying hot spot");
    assert_eq!(cat(1, 10), "consecutive cold spot");
    assert!(!cat(6, 5).contains("hot"), "{}", cat(6, 5));
}

/// Writes the two files of a scan: a 12×12 grid of villages (ids v00..v143) and weekly
/// counts 1..=20 with a planted outbreak in the 3×3 block around v26 over the last 2 weeks.
fn scan_files(dir: &Path) -> (PathBuf, PathBuf) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(31);
    let (mut locs, mut counts) = (String::from("id,x,y,population\n"), String::from("id,slice,count\n"));
    for r in 0..12 {
        for c in 0..12 {
            let id = format!("v{:02}", r * 12 + c);
            let pop = rng.gen_range(300..3000);
            locs += &format!("{id},{},{},{pop}\n", c * 1000, r * 1000);
            let outbreak = (1..=3).contains(&r) && (1..=3).contains(&c);
            for week in 1..=20 {
                let rate = pop as f64 / 1000.0 * if outbreak && week >= 19 { 8.0 } else { 1.0 };
                // A rough Poisson draw: the sum of 10 Bernoulli trials of rate / 10.
                let n = (0..10).filter(|_| rng.r#gen::<f64>() < (rate / 10.0).min(1.0)).count()
                    + if rate > 10.0 { rate as usize - 10 } else { 0 };
                if n > 0 {
                    counts += &format!("{id},{week},{n}\n");
                }
            }
        }
    }
    let (lf, cf) = (dir.join("villages.csv"), dir.join("weekly.csv"));
    std::fs::write(&lf, locs).unwrap();
    std::fs::write(&cf, counts).unwrap();
    (lf, cf)
}

#[test]
fn the_scan_finds_a_planted_outbreak_and_refuses_bad_files() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (lf, cf) = scan_files(d);
    let (l, c) = (lf.to_str().unwrap(), cf.to_str().unwrap());
    for model in ["poisson", "permutation"] {
        let args = [
            "analyze",
            "scan",
            "--locations",
            l,
            "--counts",
            c,
            "--model",
            model,
            "--replicates",
            "199",
            "--seed",
            "5",
            "--max-clusters",
            "3",
        ];
        let out = ok(&args);
        let (h, rows) = table(&out);
        assert_eq!(
            h,
            ["rank", "center", "locations", "start", "end", "observed", "expected", "relative_risk", "llr", "p_value", "recurrence"]
        );
        assert!(!rows.is_empty() && rows.len() <= 3, "{out}");
        let top = &rows[0];
        assert_eq!(top["rank"], "1");
        assert_eq!(top["end"], "20", "clusters reach the last week");
        assert!(num(&top["start"]) >= 11.0, "at most half of the 20 weeks: {top:?}");
        assert_eq!(num(&top["p_value"]), 1.0 / 200.0, "{model}: {top:?}");
        assert_eq!(num(&top["recurrence"]), 200.0);
        let block: Vec<String> = [13, 14, 15, 25, 26, 27, 37, 38, 39].iter().map(|i| format!("v{i:02}")).collect();
        let inside: Vec<&str> = top["locations"].split(';').collect();
        assert!(inside.contains(&top["center"].as_str()));
        assert!(inside.iter().filter(|id| block.contains(&id.to_string())).count() >= 5, "{model}: {top:?}");
        assert!(num(&top["observed"]) > 2.0 * num(&top["expected"]));
        // Later clusters share no village with earlier ones.
        let mut used: Vec<String> = Vec::new();
        for r in &rows {
            for id in r["locations"].split(';') {
                assert!(!used.contains(&id.to_string()), "{id} in two clusters");
            }
            used.extend(r["locations"].split(';').map(String::from));
        }
        // The same seed gives the same output.
        assert_eq!(out, ok(&args));
    }
    // The permutation model needs no population column.
    let nopop = d.join("nopop.csv");
    let text = std::fs::read_to_string(&lf).unwrap();
    std::fs::write(&nopop, text.lines().map(|line| line.rsplit_once(',').unwrap().0.to_string() + "\n").collect::<String>()).unwrap();
    let out =
        ok(&["analyze", "scan", "--locations", nopop.to_str().unwrap(), "--counts", c, "--model", "permutation", "--replicates", "99"]);
    assert!(out.lines().count() > 1);

    let file = |name: &str, text: &str| {
        let p = d.join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_string()
    };
    let locs = file("l.csv", "id,x,y,population\na,0,0,100\nb,1,0,100\nc,2,0,100\n");
    let counts = file("c.csv", "id,slice,count\na,1,1\na,2,5\nb,2,1\nc,1,2\n");
    assert!(ok(&["analyze", "scan", "--locations", &locs, "--counts", &counts, "--replicates", "9"]).starts_with("rank,"));
    let cases: Vec<(String, String, Vec<&str>, &str)> = vec![
        (file("l1.csv", "id,x,y,population\na,0,0,100\nb,x,0,100\n"), counts.clone(), vec![], "l1.csv line 3"),
        (file("l2.csv", "id,x,y,population\na,0,0,100\na,1,0,100\n"), counts.clone(), vec![], "l2.csv line 3"),
        (file("l3.csv", "id,x,y\na,0,0\nb,1,0\nc,2,0\n"), counts.clone(), vec![], "population column"),
        (file("l4.csv", "id,x,y,population\na,0,0,100\nb,1,0,0\nc,2,0,100\n"), counts.clone(), vec![], "l4.csv line 3"),
        (file("l5.csv", "id,x,y,population\na,0,0,100\nb,1,0,-5\nc,2,0,100\n"), counts.clone(), vec![], "l5.csv line 3"),
        (locs.clone(), file("c1.csv", "id,slice,count\na,1,1\nzz,2,5\n"), vec![], "c1.csv line 3"),
        (locs.clone(), file("c2.csv", "id,slice,count\na,1,1\na,1,5\n"), vec![], "c2.csv line 3"),
        (locs.clone(), file("c3.csv", "id,slice,count\na,1,1\nb,2,-1\n"), vec![], "c3.csv line 3"),
        (locs.clone(), file("c4.csv", "id,slice,count\na,1,1\nb,2.5,1\n"), vec![], "c4.csv line 3"),
        (locs.clone(), file("c5.csv", "id,slice,count\na,1,0\nb,2,0\n"), vec![], "no cases"),
        (locs.clone(), file("c6.csv", "id,week,count\na,1,1\n"), vec![], "c6.csv line 1"),
        (locs.clone(), counts.clone(), vec!["--model", "gravity"], "--model"),
        (locs.clone(), counts.clone(), vec!["--max-time-fraction", "0"], "--max-time-fraction"),
        (locs.clone(), counts.clone(), vec!["--replicates", "0"], "--replicates"),
        (locs.clone(), counts.clone(), vec!["--last-slice", "1"], "c.csv line 3"),
    ];
    for (l, c, extra, want) in cases {
        let mut args = vec!["analyze", "scan", "--locations", &l, "--counts", &c];
        args.extend(extra);
        let out = fq(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(out.stdout.is_empty(), "{args:?} printed to stdout");
        assert!(err.contains(want), "{args:?}: {err}");
    }
    let help = ok(&["analyze", "scan", "--help"]);
    for col in ["rank", "center", "locations", "observed", "expected", "relative_risk", "llr", "p_value", "recurrence"] {
        assert!(help.contains(&format!("  {col} ")), "--help documents {col}");
    }

    // The validation experiment runs and reports a table.
    let v = ok(&[
        "analyze",
        "scan-validate",
        "--datasets",
        "3",
        "--replicates",
        "19",
        "--locations",
        "20",
        "--slices",
        "8",
        "--cases",
        "200",
        "--relative-risks",
        "1,4",
    ]);
    let (h, rows) = table(&v);
    assert_eq!(h, ["model", "relative_risk", "datasets", "rejected", "rate", "ci_low", "ci_high", "located"]);
    assert_eq!(rows.len(), 4);
}

//! Text benchmarks against the reference tools, same data, same run: near-duplicates against
//! `datasketch` MinHashLSH (time, and recall and precision of both against exact ground truth)
//! and the category classifier against scikit-learn TF-IDF + LogisticRegression on the same
//! tokens (time and macro-F1 of both).

use std::collections::HashSet;
use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, bail};
use fengqiao_analysis::text::minhash::fold;
use fengqiao_analysis::text::{ClassifierConfig, Evaluation, LshParams, NearDupIndex, all_pairs, corpus, exact_pairs, tokenize};

use crate::{ci, python_env, root};

const DATASKETCH: &str = r#"
import sys, time
from datasketch import MinHash, MinHashLSH
folded_path, threshold, num_perm, out_path = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
folded = open(folded_path, encoding="utf-8").read().split("\n")[:-1]
t = time.perf_counter()
def grams(s):
    if len(s) == 0:
        return []
    if len(s) < 3:
        return [s.encode("utf-8")]
    return list({s[i:i + 3].encode("utf-8") for i in range(len(s) - 2)})
sets = [grams(s) for s in folded]
keep = [i for i, s in enumerate(sets) if s]
hashes = MinHash.bulk([sets[i] for i in keep], num_perm=num_perm)
lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
with lsh.insertion_session() as session:
    for i, m in zip(keep, hashes):
        session.insert(i, m)
pairs = set()
for i, m in zip(keep, hashes):
    for j in lsh.query(m):
        if j != i:
            pairs.add((min(i, j), max(i, j)))
elapsed = time.perf_counter() - t
with open(out_path, "w") as f:
    for a, b in pairs:
        f.write(f"{a} {b}\n")
print(elapsed, lsh.b, lsh.r)
"#;

const SKLEARN: &str = r#"
import sys, time
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
def read(path):
    return open(path, encoding="utf-8").read().split("\n")[:-1]
train_x, train_y, test_x, test_y = (read(p) for p in sys.argv[1:5])
t = time.perf_counter()
vec = TfidfVectorizer(analyzer=lambda s: s.split(" ") if s else [])
model = LogisticRegression(max_iter=1000)
model.fit(vec.fit_transform(train_x), train_y)
pred = model.predict(vec.transform(test_x))
elapsed = time.perf_counter() - t
print(elapsed, f1_score(test_y, pred, average="macro"))
"#;

fn verdict(ok: bool) -> &'static str {
    if ok { "PASS" } else { "MISS" }
}

/// The interpreter with the reference tools: `FENGQIAO_TEST_PYTHON` when set, else `./.venv`.
fn python() -> anyhow::Result<Option<std::path::PathBuf>> {
    if let Some(p) = std::env::var_os("FENGQIAO_TEST_PYTHON").filter(|p| !p.is_empty()) {
        return Ok(Some(p.into()));
    }
    match python_env() {
        Ok(p) => Ok(Some(p)),
        Err(e) if ci() => bail!("CI=true but the Python reference tools are missing: {e:#}"),
        Err(e) => {
            println!("SKIP: text reference tools ({e:#})");
            Ok(None)
        }
    }
}

fn write_lines<'a>(path: &Path, lines: impl IntoIterator<Item = &'a str>) -> anyhow::Result<()> {
    let mut w = std::io::BufWriter::new(std::fs::File::create(path)?);
    for l in lines {
        writeln!(w, "{l}")?;
    }
    w.flush()?;
    Ok(())
}

fn run_python(py: &Path, script: &str, args: &[&Path], extra: &[String]) -> anyhow::Result<Vec<String>> {
    let out = Command::new(py).arg("-c").arg(script).args(args).args(extra).output().context("running the Python reference")?;
    if !out.status.success() {
        bail!("the Python reference failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout).split_whitespace().map(str::to_string).collect())
}

pub fn run(smoke: bool) -> anyhow::Result<()> {
    let dir = root().join("target").join("bench").join(format!("text-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let py = python()?;
    duplicates(&dir, py.as_deref(), if smoke { 2_000 } else { 100_000 })?;
    classifier(&dir, py.as_deref(), if smoke { 2_000 } else { 50_000 })?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn duplicates(dir: &Path, py: Option<&Path>, n: usize) -> anyhow::Result<()> {
    let (threshold, num_perm) = (0.8, 128);
    let texts = corpus::near_duplicates(n, 2026);
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let params = LshParams::for_threshold(threshold, num_perm)?;
    let t = Instant::now();
    let ours = all_pairs(&refs, &params, 1)?;
    let ours_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let truth: HashSet<(usize, usize)> = exact_pairs(&refs, threshold)?.iter().map(|p| (p.a, p.b)).collect();
    let exact_s = t.elapsed().as_secs_f64();
    let found: HashSet<(usize, usize)> = ours.iter().map(|p| (p.a, p.b)).collect();
    let score = |got: &HashSet<(usize, usize)>| {
        let tp = got.intersection(&truth).count() as f64;
        (tp / truth.len().max(1) as f64, if got.is_empty() { 1.0 } else { tp / got.len() as f64 })
    };
    let (r, p) = score(&found);
    println!("\n== near-duplicates: {n} short texts, Jaccard of character 3-grams >= {threshold}, {num_perm} permutations ==");
    println!("ground truth (exact, prefix filtering): {} pairs in {exact_s:.2} s", truth.len());
    println!(
        "fengqiao MinHash LSH ({}x{} bands, candidates verified exactly): {ours_s:.2} s, {} pairs, recall {r:.4}, precision {p:.4}",
        params.bands,
        params.rows,
        found.len()
    );
    // The intake path: one text at a time, each queried against all before it, then added.
    let t = Instant::now();
    let mut index = NearDupIndex::new(params, 1)?;
    let incremental: usize = refs.iter().enumerate().map(|(i, t)| index.insert(i, t).len()).sum();
    let inc_s = t.elapsed().as_secs_f64();
    println!(
        "fengqiao NearDupIndex, one text at a time (insert + query, one thread): {inc_s:.2} s, {incremental} pairs{}",
        if incremental == found.len() { ", the same as the batch" } else { " (differs from the batch!)" }
    );
    let Some(py) = py else { return Ok(()) };
    let folded = dir.join("folded.txt");
    write_lines(&folded, texts.iter().map(|t| fold(t)).collect::<Vec<_>>().iter().map(String::as_str))?;
    let out_pairs = dir.join("datasketch-pairs.txt");
    let v = run_python(py, DATASKETCH, &[&folded], &[threshold.to_string(), num_perm.to_string(), out_pairs.display().to_string()])?;
    let ds_s: f64 = v.first().context("datasketch prints its time")?.parse()?;
    let got: HashSet<(usize, usize)> = std::fs::read_to_string(&out_pairs)?
        .lines()
        .filter_map(|l| {
            let mut it = l.split(' ').map(|x| x.parse::<usize>());
            Some((it.next()?.ok()?, it.next()?.ok()?))
        })
        .collect();
    let (dr, dp) = score(&got);
    println!(
        "datasketch MinHashLSH ({}x{} bands, raw candidates, same 3-grams): {ds_s:.2} s, {} pairs, recall {dr:.4}, precision {dp:.4}",
        v.get(1).map_or("?", String::as_str),
        v.get(2).map_or("?", String::as_str),
        got.len()
    );
    let ratio = ds_s / ours_s;
    println!("time ratio datasketch / fengqiao batch: {ratio:.1}x (target >= 10x): {}", verdict(ratio >= 10.0));
    println!("time ratio datasketch / fengqiao incremental index: {:.1}x", ds_s / inc_s);
    Ok(())
}

fn classifier(dir: &Path, py: Option<&Path>, n: usize) -> anyhow::Result<()> {
    let data = corpus::labelled(n, 77);
    let t = Instant::now();
    let docs: Vec<Vec<String>> = data.iter().map(|d| tokenize(&d.text)).collect();
    let tok_s = t.elapsed().as_secs_f64();
    let split = n * 4 / 5;
    let labels: Vec<&str> = data.iter().map(|d| d.label).collect();
    let t = Instant::now();
    let model = fengqiao_analysis::text::Classifier::train_tokens(&docs[..split], &labels[..split], &ClassifierConfig::default())?;
    let pred = model.predict_tokens(&docs[split..]);
    let ours_s = t.elapsed().as_secs_f64();
    let pred: Vec<&str> = pred.iter().map(|&i| model.labels()[i].as_str()).collect();
    let e = Evaluation::score(&labels[split..], &pred, 0);
    println!("\n== classifier: {n} labelled texts ({} train, {} test), 27 categories, the same tokens ==", split, n - split);
    println!("tokenising (jieba + UAX #29, not in either time): {tok_s:.2} s");
    println!("fengqiao TF-IDF + softmax regression (SGD): {ours_s:.3} s train+predict, macro-F1 {:.4}", e.macro_f1);
    let Some(py) = py else { return Ok(()) };
    let joined: Vec<String> = docs.iter().map(|d| d.join(" ")).collect();
    let files = ["train-x.txt", "train-y.txt", "test-x.txt", "test-y.txt"].map(|f| dir.join(f));
    write_lines(&files[0], joined[..split].iter().map(String::as_str))?;
    write_lines(&files[1], labels[..split].iter().copied())?;
    write_lines(&files[2], joined[split..].iter().map(String::as_str))?;
    write_lines(&files[3], labels[split..].iter().copied())?;
    let v = run_python(py, SKLEARN, &files.iter().map(|p| p.as_path()).collect::<Vec<_>>(), &[])?;
    let sk_s: f64 = v.first().context("sklearn prints its time")?.parse()?;
    let sk_f1: f64 = v.get(1).context("sklearn prints its macro-F1")?.parse()?;
    println!("scikit-learn TfidfVectorizer + LogisticRegression (lbfgs): {sk_s:.3} s, macro-F1 {sk_f1:.4}");
    let ratio = sk_s / ours_s;
    println!(
        "time ratio scikit-learn / fengqiao: {ratio:.1}x (target >= 10x): {}; macro-F1 difference {:+.4} (target within 0.01): {}",
        verdict(ratio >= 10.0),
        e.macro_f1 - sk_f1,
        verdict(e.macro_f1 >= sk_f1 - 0.01)
    );
    Ok(())
}

//! The text commands: `analyze duplicates` and `triage eval`, on generated data.

use std::collections::HashSet;
use std::path::Path;
use std::process::{Command, Output};

use fengqiao_analysis::text::{corpus, exact_pairs, jaccard, shingles};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fengqiao")).args(args).env("FENGQIAO_LOG", "warn").output().expect("the fengqiao binary runs")
}

fn write_csv(path: &Path, header: &[&str], rows: &[Vec<String>]) {
    let mut w = csv::Writer::from_path(path).unwrap();
    w.write_record(header).unwrap();
    for r in rows {
        w.write_record(r).unwrap();
    }
    w.flush().unwrap();
}

fn fails_with(out: &Output, needles: &[&str]) {
    assert!(!out.status.success(), "expected failure, got {}", String::from_utf8_lossy(&out.stdout));
    assert!(out.stdout.is_empty(), "nothing on stdout on failure");
    let err = String::from_utf8_lossy(&out.stderr);
    for n in needles {
        assert!(err.contains(n), "stderr lacks {n:?}: {err}");
    }
}

#[test]
fn duplicates_reports_true_pairs_with_their_exact_similarity() {
    let dir = tempfile::tempdir().unwrap();
    let mut texts = corpus::near_duplicates(800, 21);
    // A text with a comma, a quote and a newline survives the CSV round trip.
    texts[0] = "他说：\"这是第一次\"，\n然后又来了。".to_string();
    texts[1] = "他说:\"这是第一次\",\n然后又来了!".to_string();
    let rows: Vec<Vec<String>> = texts.iter().enumerate().map(|(i, t)| vec![format!("c{i}"), t.clone()]).collect();
    let file = dir.path().join("texts.csv");
    write_csv(&file, &["id", "text"], &rows);
    let out = run(&["analyze", "duplicates", "--input", file.to_str().unwrap(), "--threshold", "0.8"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut r = csv::Reader::from_reader(out.stdout.as_slice());
    assert_eq!(r.headers().unwrap(), vec!["id_a", "id_b", "similarity"]);
    let mut found = HashSet::new();
    for rec in r.records() {
        let rec = rec.unwrap();
        let a: usize = rec[0].strip_prefix('c').unwrap().parse().unwrap();
        let b: usize = rec[1].strip_prefix('c').unwrap().parse().unwrap();
        let s: f64 = rec[2].parse().unwrap();
        assert!(a < b, "id_a is the earlier row");
        assert_eq!(s, jaccard(&shingles(&texts[a]), &shingles(&texts[b])), "similarity is the exact Jaccard");
        assert!(s >= 0.8);
        found.insert((a, b));
    }
    assert!(found.contains(&(0, 1)), "full-width and ASCII punctuation fold together");
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let truth: HashSet<(usize, usize)> = exact_pairs(&refs, 0.8).unwrap().iter().map(|p| (p.a, p.b)).collect();
    assert!(found.is_subset(&truth));
    assert!(found.len() as f64 >= 0.9 * truth.len() as f64, "recall {} of {}", found.len(), truth.len());
}

#[test]
fn duplicates_refuses_bad_input_naming_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("a.csv");
    std::fs::write(&f, "id,body\n1,x\n").unwrap();
    fails_with(&run(&["analyze", "duplicates", "--input", f.to_str().unwrap()]), &["line 1", "'text'"]);
    std::fs::write(&f, "id,text\n1,路灯不亮\n2,路灯坏了\n1,又是路灯\n").unwrap();
    fails_with(&run(&["analyze", "duplicates", "--input", f.to_str().unwrap()]), &["line 4", "'1'", "line 2"]);
    std::fs::write(&f, "id,text\n1,路灯不亮\n2,路灯坏了,多余\n").unwrap();
    fails_with(&run(&["analyze", "duplicates", "--input", f.to_str().unwrap()]), &["line 3"]);
    std::fs::write(&f, "id,text\n1,路灯不亮\n").unwrap();
    fails_with(&run(&["analyze", "duplicates", "--input", f.to_str().unwrap(), "--threshold", "1.5"]), &["threshold"]);
    fails_with(&run(&["analyze", "duplicates", "--input", dir.path().join("missing.csv").to_str().unwrap()]), &["missing.csv"]);
}

#[test]
fn triage_eval_prints_accuracy_macro_f1_and_the_confusion_table() {
    let dir = tempfile::tempdir().unwrap();
    let data = corpus::labelled(1500, 8);
    let rows: Vec<Vec<String>> = data.iter().map(|d| vec![d.text.clone(), d.label.to_string()]).collect();
    let file = dir.path().join("labelled.csv");
    write_csv(&file, &["text", "label"], &rows);
    let out = run(&["triage", "eval", "--input", file.to_str().unwrap(), "--folds", "3"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let value = |name: &str| -> f64 {
        let line = text.lines().find(|l| l.starts_with(name)).unwrap_or_else(|| panic!("no {name} line in {text}"));
        let v = line.split_whitespace().nth(1).unwrap();
        assert_eq!(v.len(), 6, "four decimals: {line}");
        v.parse().unwrap()
    };
    let (acc, f1) = (value("accuracy "), value("macro_f1 "));
    assert!(acc > 0.85 && f1 > 0.85, "{text}");
    assert!(text.contains("confusion") && text.contains("noise") && text.contains("fraud_report"), "{text}");
    // The table's cells add up to the number of texts.
    let start = text.lines().position(|l| l.starts_with("confusion")).unwrap() + 2;
    let total: u64 = text.lines().skip(start).map(|l| l.split_whitespace().skip(2).map(|c| c.parse::<u64>().unwrap()).sum::<u64>()).sum();
    assert_eq!(total, 1500);

    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "text,label\n路灯不亮,street_light\n噪声扰民,\n").unwrap();
    fails_with(&run(&["triage", "eval", "--input", bad.to_str().unwrap()]), &["line 3", "label"]);
    std::fs::write(&bad, "text,label\n路灯不亮,street_light\n噪声扰民,noise\n").unwrap();
    fails_with(&run(&["triage", "eval", "--input", bad.to_str().unwrap(), "--folds", "3"]), &["at least 3 groups"]);
    fails_with(&run(&["triage", "eval", "--input", bad.to_str().unwrap(), "--folds", "1"]), &["--folds"]);
}

#[test]
fn help_documents_the_columns() {
    let out = run(&["analyze", "duplicates", "--help"]);
    let h = String::from_utf8_lossy(&out.stdout);
    assert!(h.contains("`id,text`") && h.contains("`id_a,id_b,similarity`") && h.contains("Jaccard"), "{h}");
    let out = run(&["triage", "eval", "--help"]);
    let h = String::from_utf8_lossy(&out.stdout);
    assert!(h.contains("`text,label`") && h.contains("macro_f1"), "{h}");
}

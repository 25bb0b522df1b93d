//! The command line, run as a user would: the built binary in a temporary data folder.

mod calendar;

use std::path::Path;
use std::process::{Command, Output};

fn fq(data: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fengqiao"))
        .arg("--data")
        .arg(data)
        .args(args)
        .env_remove("FENGQIAO_DATABASE_URL")
        .env_remove("FENGQIAO_DATA")
        .env("FENGQIAO_LOG", "warn")
        .output()
        .expect("the fengqiao binary runs")
}

fn ok(data: &Path, args: &[&str]) -> String {
    let out = fq(data, args);
    assert!(
        out.status.success(),
        "fengqiao {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Compares two row sets and names the first difference instead of printing both.
fn same(a: &[String], b: &[String]) {
    assert_eq!(a.len(), b.len(), "row counts differ");
    if let Some((x, y)) = a.iter().zip(b).find(|(x, y)| x != y) {
        panic!("rows differ:\n  {x}\n  {y}");
    }
}

/// The content of a case that survives export and import (ids, codes and times do not).
fn content(csv_text: &str) -> Vec<String> {
    let mut r = csv::Reader::from_reader(csv_text.as_bytes());
    let h = r.headers().unwrap().clone();
    let cols = ["category", "channel", "urgency", "severity", "region", "lat", "lon", "title", "description"];
    let idx: Vec<usize> = cols.iter().map(|c| h.iter().position(|x| x == *c).unwrap()).collect();
    let mut rows: Vec<String> = r
        .records()
        .map(|rec| {
            let rec = rec.unwrap();
            idx.iter().map(|i| rec.get(*i).unwrap().to_string()).collect::<Vec<_>>().join("|")
        })
        .collect();
    rows.sort();
    rows
}

#[test]
fn demo_export_import_backup_restore_and_audit() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a");
    let out = fq(&a, &["demo", "--no-serve", "--scale", "0.01", "--seed", "7"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("generated a county with 300 cases"), "{err}");
    assert!(err.contains("demo-admin"));
    assert!(ok(&a, &["audit", "verify"]).starts_with("ok: "));

    // The same seed gives the same county.
    let b = dir.path().join("b");
    fq(&b, &["demo", "--no-serve", "--scale", "0.01", "--seed", "7"]);
    let ea = ok(&a, &["export", "--format", "csv"]);
    let eb = ok(&b, &["export", "--format", "csv"]);
    same(&content(&ea), &content(&eb));
    assert_eq!(content(&ea).len(), 300);

    // Export → import → export: every case comes back with the same content.
    let file = dir.path().join("cases.csv");
    std::fs::write(&file, &ea).unwrap();
    let msg = ok(&a, &["import", "--format", "csv", file.to_str().unwrap()]);
    assert_eq!(msg.trim(), "imported 300 cases");
    let again = content(&ok(&a, &["export", "--format", "csv"]));
    let twice: Vec<String> = {
        let mut v = content(&ea);
        v.extend(content(&ea));
        v.sort();
        v
    };
    same(&again, &twice);
    // JSON Lines round trip too.
    let jsonl = ok(&b, &["export", "--format", "jsonl"]);
    assert_eq!(jsonl.lines().count(), 300);
    let jf = dir.path().join("cases.jsonl");
    std::fs::write(&jf, &jsonl).unwrap();
    assert_eq!(ok(&b, &["import", "--format", "jsonl", jf.to_str().unwrap()]).trim(), "imported 300 cases");

    // A file with one bad row imports nothing.
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "category,description,region\nnoise,吵,330699101001\nno_such,x,330699101001\n").unwrap();
    let before = ok(&a, &["export", "--format", "jsonl"]).lines().count();
    let out = fq(&a, &["import", "--format", "csv", bad.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("row 3") && err.contains("nothing was imported"), "{err}");
    assert_eq!(ok(&a, &["export", "--format", "jsonl"]).lines().count(), before);

    // Backup → restore into a new folder (with the audit key) → audit verify.
    let backup = dir.path().join("a.backup.jsonl");
    ok(&a, &["backup", backup.to_str().unwrap()]);
    let c = dir.path().join("c");
    std::fs::create_dir_all(&c).unwrap();
    std::fs::copy(a.join("audit.key"), c.join("audit.key")).unwrap();
    assert!(ok(&c, &["restore", backup.to_str().unwrap()]).starts_with("restored "));
    assert!(ok(&c, &["audit", "verify"]).starts_with("ok: "));
    same(&content(&ok(&c, &["export", "--format", "csv"])), &content(&ok(&a, &["export", "--format", "csv"])));
    // Restoring twice is refused: the store is no longer empty.
    assert!(!fq(&c, &["restore", backup.to_str().unwrap()]).status.success());
    // Without the right key the restore is refused before anything is written.
    let d = dir.path().join("d");
    let out = fq(&d, &["restore", backup.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("audit key"));
}

#[test]
fn init_user_and_refusals() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("x");
    let out = ok(&d, &["init", "--county-code", "330681000000", "--county-name", "诸暨"]);
    let token = out.split_whitespace().last().unwrap();
    assert!(token.starts_with("fq_") && token.len() > 40);
    assert!(!fq(&d, &["init", "--county-code", "330681000000", "--county-name", "again"]).status.success());
    let bad = fq(&dir.path().join("y"), &["init", "--county-code", "330681101000", "--county-name", "a town"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("county code"));
    let u = ok(&d, &["user", "--id", "desk1", "--name", "前台", "--role", "intake", "--jurisdiction", "330681000000"]);
    assert!(u.split_whitespace().last().unwrap().starts_with("fq_"));
    assert!(!fq(&d, &["user", "--id", "h", "--name", "h", "--role", "handler", "--jurisdiction", "330681000000"]).status.success());
    // The log of an initialised store verifies.
    ok(&d, &["audit", "checkpoint"]);
    assert!(ok(&d, &["audit", "verify"]).contains("1 signed checkpoints"));
}

/// On a generated county, the figures the database computes equal their definition in Rust,
/// for the whole county, a town, a unit and a category.
#[test]
fn figures_agree_with_their_definition_on_the_demo_county() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let cfg = fengqiao::Config { data: dir.path().to_path_buf(), ..Default::default() };
        let svc = fengqiao::open(&cfg).await.unwrap();
        let now = svc.now();
        fengqiao::load_demo(&svc, &fengqiao::demo::DemoOptions { seed: 11, scale: 0.05, now }, true).await.unwrap();
        let year = fengqiao_domain::clock::DAY_MS * 365;
        let window = 90 * fengqiao_domain::clock::DAY_MS;
        let base = fengqiao_store::FactsFilter { from: now.plus_ms(-year - 1), to: now, repeat_window_ms: window, ..Default::default() };
        let filters = [
            base.clone(),
            fengqiao_store::FactsFilter { region: Some("330699103000".into()), ..base.clone() },
            fengqiao_store::FactsFilter { unit: Some("ps-03".into()), ..base.clone() },
            fengqiao_store::FactsFilter { category: Some("neighbour".into()), ..base.clone() },
            fengqiao_store::FactsFilter { from: now.plus_ms(-60 * fengqiao_domain::clock::DAY_MS), ..base.clone() },
        ];
        for f in filters {
            let (cohort, later) = svc.store.case_facts(&fengqiao_store::Scope::All, &f).await.unwrap();
            let (counts, points) = svc.store.figure_counts(&fengqiao_store::Scope::All, &f, now).await.unwrap();
            let want = fengqiao_domain::figures::FigureCounts::from_facts(&cohort, &later, now, 90);
            assert_eq!(counts, want, "filter {f:?}");
            assert_eq!(points.len() as u64, counts.cohort);
        }
        let f = fengqiao_domain::figures::FigureCounts::from_facts(
            &svc.store.case_facts(&fengqiao_store::Scope::All, &base).await.unwrap().0,
            &[],
            now,
            90,
        );
        assert!(f.cohort > 1000 && f.rated > 0 && f.satisfied < f.rated, "the demo has dissatisfied first ratings: {f:?}");
    });
}

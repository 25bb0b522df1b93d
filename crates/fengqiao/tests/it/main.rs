//! The command line, run as a user would: the built binary in a temporary data folder.

mod analyze;
mod api_keys;
mod calendar;
mod text;
// Residents by phone: the SMS configuration.
mod sms;

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
    // 300 drawn at this scale, and the planted cluster's 56 (four villages, 14 each).
    assert!(err.contains("generated a county with 356 cases"), "{err}");
    assert!(err.contains("demo-admin"));
    assert!(ok(&a, &["audit", "verify"]).starts_with("ok: "));

    // The same seed gives the same county.
    let b = dir.path().join("b");
    fq(&b, &["demo", "--no-serve", "--scale", "0.01", "--seed", "7"]);
    let ea = ok(&a, &["export", "--format", "csv"]);
    let eb = ok(&b, &["export", "--format", "csv"]);
    same(&content(&ea), &content(&eb));
    assert_eq!(content(&ea).len(), 356);

    // Export → import → export: every case comes back with the same content.
    let file = dir.path().join("cases.csv");
    std::fs::write(&file, &ea).unwrap();
    let msg = ok(&a, &["import", "--format", "csv", file.to_str().unwrap()]);
    assert_eq!(msg.trim(), "imported 356 cases");
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
    assert_eq!(jsonl.lines().count(), 356);
    let jf = dir.path().join("cases.jsonl");
    std::fs::write(&jf, &jsonl).unwrap();
    assert_eq!(ok(&b, &["import", "--format", "jsonl", jf.to_str().unwrap()]).trim(), "imported 356 cases");

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
        // Two problem-solving records; the first is in its response, with both windows.
        let ps = svc
            .store
            .problems(&fengqiao_store::Scope::All, &fengqiao_store::ProblemFilter { limit: 10, ..Default::default() })
            .await
            .unwrap();
        assert_eq!(ps.len(), 2);
        let first = ps.iter().find(|p| p.id == 1).unwrap();
        assert_eq!(first.stage, fengqiao_domain::problem::Stage::Response);
        // The busiest town's largest category over 60 days: at this scale 5 to 11 cases,
        // depending on the day the year of cases ends.
        assert!(first.case_ids.len() >= 3 && first.actions.len() == 2 && !first.units.is_empty(), "{first:?}");
        // Two consultations on one village's roll: one open with proposals and supports, one
        // decided and half carried out.
        let cs = svc.store.consultations(&fengqiao_store::Scope::All, 10).await.unwrap();
        assert_eq!(cs.len(), 2);
        let statuses: Vec<&str> = cs.iter().map(|c| c.status.as_str()).collect();
        assert!(statuses.contains(&"open") && statuses.len() == 2 && statuses[0] != statuses[1], "{statuses:?}");
        let admin = fengqiao_domain::Actor::System { job: "test".into() };
        let figs = svc.problem_figures(&admin, first).await.unwrap();
        assert!(figs.before.counts.cohort > 0 && figs.after.as_ref().is_some_and(|a| a.counts.cohort > 0), "{figs:?}");
        assert!(matches!(
            svc.verify_audit(svc.config.audit_key.as_deref().unwrap(), |_| {}).await.unwrap(),
            fengqiao_domain::audit::VerifyOutcome::Ok { .. }
        ));
    });
}

#[test]
fn regions_export_import_and_offline_lookup() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    let out = fq(&data, &["demo", "--no-serve", "--scale", "0.01", "--seed", "3"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let exported = ok(&data, &["regions", "export"]);
    let path = dir.path().join("regions.geojson");
    std::fs::write(&path, &exported).unwrap();
    // Re-importing the export changes nothing but is accepted whole.
    let before = ok(&data, &["audit", "verify"]);
    assert!(ok(&data, &["regions", "import", path.to_str().unwrap()]).contains("imported"));
    assert!(ok(&data, &["audit", "verify"]).contains("ok"), "{before}");

    // A broken file is refused with every problem, and writes nothing.
    let mut doc: serde_json::Value = serde_json::from_str(&exported).unwrap();
    let n = doc["features"].as_array().unwrap().len();
    doc["features"][n - 1]["properties"]["parent"] = serde_json::json!("330699999999");
    doc["features"][n - 2]["properties"].as_object_mut().unwrap().remove("population");
    let bad = dir.path().join("bad.geojson");
    std::fs::write(&bad, doc.to_string()).unwrap();
    let head = ok(&data, &["export", "--format", "jsonl"]).len();
    let out = fq(&data, &["regions", "import", bad.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("feature {}", n - 1)) && err.contains(&format!("feature {}", n - 2)), "{err}");
    assert!(err.contains("nothing was imported"), "{err}");
    assert_eq!(ok(&data, &["export", "--format", "jsonl"]).len(), head);

    // Offline lookup against the file: each grid's centroid lies in that grid.
    let grids: Vec<(String, f64, f64)> = doc["features"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["properties"]["level"] == "grid")
        .map(|f| {
            let c = &f["properties"]["centroid"];
            (f["properties"]["code"].as_str().unwrap().to_string(), c[0].as_f64().unwrap(), c[1].as_f64().unwrap())
        })
        .collect();
    assert!(grids.len() > 20);
    let mut csv_text = String::from("id,lon,lat\n");
    for (code, lon, lat) in &grids {
        csv_text.push_str(&format!("{code},{lon},{lat}\n"));
    }
    csv_text.push_str("far,10.0,10.0\n");
    let pts = dir.path().join("points.csv");
    std::fs::write(&pts, csv_text).unwrap();
    let nowhere = dir.path().join("no-data-folder");
    let out = fq(&nowhere, &["regions", "locate", "--boundaries", path.to_str().unwrap(), "--points", pts.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!nowhere.exists(), "offline lookup opens no store");
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("id,region"));
    for ((code, _, _), line) in grids.iter().zip(lines.by_ref()) {
        assert_eq!(line, format!("{code},{code}"));
    }
    assert_eq!(lines.next(), Some("far,"));
    // A bad points file names its line.
    std::fs::write(&pts, "id,lon,lat\na,120.1,29.7\nb,east,29.7\n").unwrap();
    let out = fq(&nowhere, &["regions", "locate", "--boundaries", path.to_str().unwrap(), "--points", pts.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 3: lon is not a number"));
}

/// Routing traces on the demo county's rules, as snapshots: any change to the rules, their
/// order or the trace wording shows up here line by line.
#[test]
fn routing_traces_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    assert!(fq(&data, &["demo", "--no-serve", "--scale", "0.01", "--seed", "3"]).status.success());
    let check = |args: &[&str], expect: &str| {
        let mut all = vec!["routing", "test"];
        all.extend_from_slice(args);
        let got = ok(&data, &all);
        let want: String = expect.lines().map(|l| l.strip_prefix("        ").unwrap_or(l)).collect::<Vec<_>>().join("\n");
        assert_eq!(got.trim_end(), want.trim(), "routing trace changed for {args:?}");
    };
    check(
        &["--category", "street_light", "--description", "他扬言要报复", "--region", "330699105000", "--urgency", "urgent"],
        "
        region 330699105000
          emergency            not_matched  urgency urgent is not listed
          violence             chosen       matched; lead ps-05 (place: the police_station whose area contains the case); co-handling: no unit is the village_committee of the case's village
        lead ps-05 (rules version 1)",
    );
    check(
        &["--category", "water_supply", "--description", "停水两天", "--region", "330699105000"],
        "
        region 330699105000
          emergency            not_matched  urgency routine is not listed
          violence             not_matched  none of the keywords 持刀, 拿刀, 砍, 打人, 殴打, 威胁, 报复, 自杀, 轻生, 跳楼, knife, threat, suicide, weapon, assault appears
          county-tier          not_matched  tier village is not listed
          public-order         not_matched  category water_supply is not one of public_security, fraud_report, help_request, noise, traffic_accident
          town-disputes        not_matched  category water_supply is not one of marriage_family, neighbour, housing_homestead, contract, production_business, damages, forest_land, land_requisition, pollution, labour, consumer, medical, property_management, other_dispute
          town-requests        not_matched  tier village is not listed
          land                 not_matched  category water_supply is not one of forest_land, land_requisition
          labour               not_matched  category water_supply is not one of labour
          water                chosen       matched; a facility goes to its owner first, then its place; lead water-co (owner: unit water-co)
        lead water-co (rules version 1)",
    );
    check(
        &["--category", "neighbour", "--description", "邻居占用通道", "--region", "330699105000", "--severity", "major"],
        "
        region 330699105000
          emergency            not_matched  urgency routine is not listed
          violence             not_matched  none of the keywords 持刀, 拿刀, 砍, 打人, 殴打, 威胁, 报复, 自杀, 轻生, 跳楼, knife, threat, suicide, weapon, assault appears
          county-tier          chosen       matched; lead county-centre (place: the county_mediation_centre whose area contains the case)
        lead county-centre (rules version 1)",
    );
    // A rule set that refers to a unit that does not exist is refused whole.
    let bad = dir.path().join("rules.json");
    std::fs::write(&bad, r#"{"rules": [{"id": "x", "place": {"unit": "ghost"}}, {"id": "x", "owner": {"kind": "police_station"}}]}"#)
        .unwrap();
    let out = fq(&data, &["routing", "load", bad.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("rules[0].place: unknown unit 'ghost'") && err.contains("rules[1].id: 'x' is used by an earlier rule"), "{err}");
    assert!(ok(&data, &["routing", "show"]).contains("\"version\": 1"), "nothing was saved");
}

//! `fengqiao calendar show` and `fengqiao calendar load`, run as an administrator would.

use super::{fq, ok};

#[test]
fn show_a_year_and_load_the_next_one_whole_or_not_at_all() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    let out = ok(&data, &["calendar", "show", "--year", "2026"]);
    assert!(out.starts_with("year 2026: 248 working days, 117 rest days"), "{out}");
    assert!(out.contains("2026-02-14  workday") && out.contains("2026-02-16  holiday"), "{out}");
    let out = ok(&data, &["calendar", "show", "--year", "2027"]);
    assert!(out.contains("warning: no holiday data for 2027"), "{out}");

    let bad = dir.path().join("bad.csv");
    std::fs::write(
        &bad,
        "date,kind,name\n2027-01-01,holiday,元旦\n2027-02-29,holiday,x\n2027-02-03,workday,Wed\n2027-01-01,holiday,again\n",
    )
    .unwrap();
    let out = fq(&data, &["calendar", "load", bad.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("nothing was loaded (3 problems)"), "{err}");
    for line in ["line 3: bad date", "line 4: 2027-02-03 is a Wednesday", "line 5: duplicate date 2027-01-01"] {
        assert!(err.contains(line), "{line} missing from: {err}");
    }
    assert!(ok(&data, &["calendar", "show", "--year", "2027"]).contains("warning: no holiday data for 2027"));

    let good = dir.path().join("2027.csv");
    std::fs::write(&good, "date,kind,name\n2027-01-01,holiday,元旦 New Year's Day\n2027-02-06,workday,春节 (make-up working day)\n")
        .unwrap();
    assert_eq!(ok(&data, &["calendar", "load", good.to_str().unwrap()]).trim(), "loaded the holiday schedule of 2027");
    // The configuration file sets the hours and the ladder (the README's example parses).
    std::fs::write(
        data.join("fengqiao.toml"),
        r#"working_hours = "09:00-12:00,14:00-18:00"
[escalation]
start_by_severity = { minor = "village", ordinary = "village", serious = "town", major = "county" }
start_by_category = { land_requisition = "town" }
auto = { enabled = true, on = ["handling", "response"], severities = [], categories = [] }
[scheduler]
reminder_lead_minutes = 60
"#,
    )
    .unwrap();
    let out = ok(&data, &["calendar", "show", "--year", "2027"]);
    assert!(out.starts_with("year 2027: 261 working days"), "{out}");
    assert!(out.contains("working hours: 09:00-12:00,14:00-18:00 (Asia/Shanghai)"), "{out}");
    assert!(out.contains("2027-01-01  holiday  元旦") && !out.contains("warning: no holiday data for 2027"), "{out}");
}

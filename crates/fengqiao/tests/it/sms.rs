//! The `[sms]` configuration, as the README shows it: a checked gateway, a file, or a refusal
//! naming what is wrong before anything starts.

use super::{fq, ok};

#[test]
fn sms_configuration_is_checked_at_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    // The README's example parses and is accepted.
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(
        data.join("fengqiao.toml"),
        r#"[sms]
provider = "http"
url = "http://127.0.0.1:9000/send"
method = "POST"
body = "phone={phone}&text={text}"
content_type = "application/x-www-form-urlencoded"
auth_header = "X-Api-Key: SECRET"
interval_secs = 15
max_attempts = 6
max_age_hours = 24
"#,
    )
    .unwrap();
    ok(&data, &["calendar", "show", "--year", "2026"]);
    for (toml, problem) in [
        ("[sms]\nprovider = \"pigeon\"\n", "sms.provider"),
        ("[sms]\nprovider = \"http\"\nurl = \"https://sms.example/send\"\n", "sms.url"),
        ("[sms]\nprovider = \"http\"\nurl = \"http://127.0.0.1:9000/\"\nbody = \"to={phone}\"\n", "sms.body"),
        ("[sms]\nprovider = \"file\"\ncolour = \"blue\"\n", "colour"),
    ] {
        std::fs::write(data.join("fengqiao.toml"), toml).unwrap();
        let out = fq(&data, &["calendar", "show", "--year", "2026"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains(problem), "{toml}: {err}");
    }
    std::fs::write(data.join("fengqiao.toml"), "[sms]\nprovider = \"file\"\n").unwrap();
    ok(&data, &["calendar", "show", "--year", "2026"]);
}

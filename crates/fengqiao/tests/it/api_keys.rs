//! `fengqiao api-key`: create (the key is the last word), list, revoke, and the refusals.

use sha2::Digest;

use crate::{fq, ok};

#[test]
fn create_list_revoke() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("k");
    ok(&d, &["init", "--county-code", "330681000000", "--county-name", "诸暨"]);
    let out = ok(&d, &["api-key", "create", "--name", "fixmystreet", "--scope", "submit", "--scope", "update", "--rate-per-minute", "120"]);
    let key = out.split_whitespace().last().unwrap().to_string();
    assert!(key.starts_with("fq311_") && key.len() == 6 + 64, "{out}");
    assert!(out.contains("scopes: submit,update"), "{out}");
    // Only the hash is kept: the backup holds it, never the key.
    let backup = ok(&d, &["backup", "-"]);
    assert!(!backup.contains(&key));
    assert!(backup.contains(&hex::encode(sha2::Sha256::digest(key.as_bytes()))));
    for bad in [
        vec!["api-key", "create", "--name", "fixmystreet"],
        vec!["api-key", "create", "--name", "Bad Name"],
        vec!["api-key", "create", "--name", "x", "--scope", "everything"],
        vec!["api-key", "create", "--name", "x", "--unit", "nowhere"],
        vec!["api-key", "revoke", "nobody"],
    ] {
        let r = fq(&d, &bad);
        assert!(!r.status.success(), "{bad:?} should fail");
        assert!(!String::from_utf8_lossy(&r.stderr).is_empty());
    }
    let list = ok(&d, &["api-key", "list"]);
    let row = list.lines().find(|l| l.starts_with("fixmystreet\t")).unwrap();
    assert!(row.contains("submit,update\t\t120\t") && row.ends_with('\t'), "{row}");
    assert!(!list.contains(&key));
    assert!(ok(&d, &["api-key", "revoke", "fixmystreet"]).contains("revoked"));
    assert!(!fq(&d, &["api-key", "revoke", "fixmystreet"]).status.success());
    let list = ok(&d, &["api-key", "list"]);
    assert!(!list.lines().find(|l| l.starts_with("fixmystreet\t")).unwrap().ends_with('\t'), "a revocation time: {list}");
    ok(&d, &["audit", "verify"]);
}

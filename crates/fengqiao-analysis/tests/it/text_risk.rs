//! The risk score on a hand-labelled bilingual evaluation set.

use fengqiao_analysis::text::{RiskConfig, RiskKind, RiskLevel, assess_risk};

#[test]
fn placeholder() {
    let r = assess_risk("他扬言要拿刀砍死对方", false, &RiskConfig::default());
    assert_eq!(r.level, RiskLevel::Red);
    assert!(r.evidence.iter().any(|e| e.kind == RiskKind::Weapon));
}

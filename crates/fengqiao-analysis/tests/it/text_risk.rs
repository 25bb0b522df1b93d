//! The risk score on the shipped bilingual labelled set (`data/risk_labelled.csv`: residents'
//! reports written by hand, 113 of them with one variant in a different framing; `high_risk` is
//! the label, `repeat_dispute` the input flag).
//!
//! - The lexicon was revised against the `hand` and `variant` rows, so its recall there is an
//!   in-sample figure.
//! - The `second` rows were written after the lexicon's last revision; the lexicon caught 5 of
//!   their 16 high-risk texts. They are training rows of the learned model now.
//! - The `holdout` rows were written apart from both the lexicon and the model, by someone who
//!   saw neither, and train or tune nothing: recall there is the honest estimate of how the
//!   score carries over to new phrasings.

use fengqiao_analysis::text::{
    LabelledRisk, RiskConfig, RiskKind, RiskLevel, RiskModel, RiskModelConfig, assess_risk, assess_risk_with, grouped_folds, labelled_set,
    near_duplicate_groups, seed_examples,
};

fn in_sample(r: &LabelledRisk) -> bool {
    r.origin == "hand" || r.origin == "variant"
}

#[test]
fn recall_on_high_risk_complaints() {
    let rows = labelled_set();
    let zh = rows.iter().filter(|r| r.text.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c))).count();
    assert!(zh >= 150 && rows.len() - zh >= 120, "both languages: {zh} Chinese rows of {}", rows.len());
    let holdout: Vec<&LabelledRisk> = rows.iter().filter(|r| r.origin == "holdout").collect();
    assert!(holdout.iter().filter(|r| r.high_risk).count() >= 40 && holdout.iter().filter(|r| !r.high_risk).count() >= 40);

    let cfg = RiskConfig::default();
    let seed: Vec<(&str, bool)> = seed_examples().collect();
    assert!(seed.len() + holdout.len() == rows.len(), "the seed is every row but the holdout");
    let model = RiskModel::train(&seed, &RiskModelConfig::default()).expect("the seed trains a model");
    let (mut lexicon_in, mut lexicon_out, mut model_out, mut both_out) =
        (Counts::default(), Counts::default(), Counts::default(), Counts::default());
    for r in rows {
        let lexicon = assess_risk(&r.text, r.repeat_dispute, &cfg);
        if lexicon.high() {
            assert!(!lexicon.evidence.is_empty(), "a high score names its evidence: {}", r.text);
        }
        if in_sample(r) {
            lexicon_in.add(r.high_risk, lexicon.high());
        }
        if r.origin != "holdout" {
            continue;
        }
        let both = assess_risk_with(&r.text, r.repeat_dispute, &cfg, Some(&model));
        let learned = both.evidence.iter().any(|e| e.kind == RiskKind::Learned);
        lexicon_out.add(r.high_risk, lexicon.high());
        model_out.add(r.high_risk, learned);
        // The holdout's misses are counted, never printed: a lexicon revised against them
        // would make the holdout one more in-sample set.
        both_out.add(r.high_risk, both.high());
    }
    println!("lexicon, hand and variant rows (in-sample): {}", lexicon_in.report());
    println!("lexicon alone, holdout rows: {}", lexicon_out.report());
    println!("model alone (trained on the seed), holdout rows: {}", model_out.report());
    println!("lexicon and model, holdout rows: {}", both_out.report());
    assert!(lexicon_in.recall() >= 0.9, "lexicon recall in-sample {:.3}", lexicon_in.recall());
    assert!(lexicon_in.precision() >= 0.9, "lexicon precision in-sample {:.3}", lexicon_in.precision());
    // Floors a little under what the holdout gave when it was first measured (see
    // ARCHITECTURE.md): a change that loses the model's reach or floods the holdout's ordinary
    // reports with alarms fails here.
    assert!(both_out.recall() > lexicon_out.recall(), "the model adds recall on new phrasings");
    assert!(both_out.recall() >= HOLDOUT_RECALL_FLOOR, "recall on the holdout {:.3}", both_out.recall());
    assert!(both_out.fp <= HOLDOUT_FALSE_ALARMS_CEILING, "false alarms on the holdout: {}", both_out.fp);
}

/// First measured: lexicon 0.56, model 0.62, both 0.84 (42 of 50), with 4 false alarms of 50
/// ordinary reports, all four the lexicon's.
const HOLDOUT_RECALL_FLOOR: f64 = 0.8;
const HOLDOUT_FALSE_ALARMS_CEILING: u32 = 5;

/// Grouped five-fold cross-validation of the learned model on the seed rows (near-duplicates
/// and a text's variant in one fold), as `RiskModelConfig::default` was chosen.
#[test]
fn the_model_cross_validated_on_the_seed() {
    let rows: Vec<&LabelledRisk> = labelled_set().iter().filter(|r| r.origin != "holdout").collect();
    let texts: Vec<&str> = rows.iter().map(|r| r.text.as_str()).collect();
    let groups = near_duplicate_groups(&texts, 0.5).unwrap();
    let folds = grouped_folds(&groups, 5).unwrap();
    let cfg = RiskModelConfig::default();
    let mut counts = Counts::default();
    for k in 0..5 {
        let train: Vec<(&str, bool)> = (0..rows.len()).filter(|&i| folds[i] != k).map(|i| (texts[i], rows[i].high_risk)).collect();
        let model = RiskModel::train(&train, &cfg).unwrap();
        for i in (0..rows.len()).filter(|&i| folds[i] == k) {
            counts.add(rows[i].high_risk, model.signal(texts[i]).is_some());
        }
    }
    println!("model alone, grouped 5-fold on the seed: {}", counts.report());
    assert!(counts.recall() >= 0.5, "cross-validated recall {:.3}", counts.recall());
    assert!(counts.precision() >= 0.9, "cross-validated precision {:.3}", counts.precision());
}

#[derive(Default)]
struct Counts {
    tp: u32,
    fneg: u32,
    fp: u32,
    tn: u32,
}

impl Counts {
    fn add(&mut self, truth: bool, predicted: bool) {
        match (truth, predicted) {
            (true, true) => self.tp += 1,
            (true, false) => self.fneg += 1,
            (false, true) => self.fp += 1,
            (false, false) => self.tn += 1,
        }
    }
    fn recall(&self) -> f64 {
        self.tp as f64 / (self.tp + self.fneg) as f64
    }
    fn precision(&self) -> f64 {
        self.tp as f64 / (self.tp + self.fp) as f64
    }
    fn report(&self) -> String {
        format!(
            "{} high-risk, recall {:.3}; precision {:.3}; false alarms {} of {}",
            self.tp + self.fneg,
            self.recall(),
            self.precision(),
            self.fp,
            self.fp + self.tn
        )
    }
}

#[test]
fn levels_evidence_negation_and_the_repeat_flag() {
    let cfg = RiskConfig::default();
    let r = assess_risk("他扬言要拿刀砍死对方", false, &cfg);
    assert_eq!(r.level, RiskLevel::Red);
    let kinds: Vec<RiskKind> = r.evidence.iter().map(|e| e.kind).collect();
    assert!(kinds.contains(&RiskKind::Weapon) && kinds.contains(&RiskKind::Threat), "{r:?}");
    assert!(r.evidence.windows(2).all(|w| w[0].weight >= w[1].weight));

    assert_eq!(assess_risk("路灯不亮了", false, &cfg).level, RiskLevel::None);
    assert!(assess_risk("路灯不亮了", false, &cfg).evidence.is_empty());
    // Negated mentions do not count.
    assert_eq!(assess_risk("我没打人，是他先骂的", false, &cfg).level, RiskLevel::None);
    assert_eq!(assess_risk("He did not hit me, we just argued", false, &cfg).level, RiskLevel::None);
    assert!(assess_risk("He hit me in the face", false, &cfg).high());
    // Full-width text is normalised first.
    assert!(assess_risk("ＨＥ ＨＡＳ Ａ ＧＵＮ", false, &cfg).high());

    // The repeat flag adds weight and evidence of its own.
    let once = assess_risk("两家又为排水沟吵架", false, &cfg);
    let again = assess_risk("两家又为排水沟吵架", true, &cfg);
    assert!(again.score > once.score);
    assert!(again.evidence.iter().any(|e| e.kind == RiskKind::Repeat));
    assert_eq!(again.level, RiskLevel::Yellow);

    // Each kind's name is the one it is serialised under (the pages' catalogue keys).
    for k in [
        RiskKind::SelfHarm,
        RiskKind::Threat,
        RiskKind::Violence,
        RiskKind::Weapon,
        RiskKind::Gathering,
        RiskKind::Petition,
        RiskKind::Repeat,
        RiskKind::Learned,
    ] {
        assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
    }

    // Thresholds are configurable, and checked.
    let strict = RiskConfig::new(0.95, 0.9, 0.1, 0.3).unwrap();
    assert_eq!(assess_risk("他扬言要报复", false, &strict).level, RiskLevel::Yellow);
    assert!(RiskConfig::new(0.5, 0.8, 0.2, 0.3).is_err());
    assert!(RiskConfig::new(0.8, 0.5, 0.0, 0.3).is_err());
    let bad: Result<RiskConfig, _> = serde_json::from_str(r#"{"red":0.5,"orange":0.8,"yellow":0.2,"repeat_weight":0.3}"#);
    assert!(bad.unwrap_err().to_string().contains("yellow ≤ orange ≤ red"));
}

/// Generated ordinary complaints (the synthetic corpus: categories of everyday requests and
/// disputes, no threats written in) stand for a deployment's daily stream: how many the model
/// raises to orange or red beyond the lexicon is its false-alarm load.
#[test]
fn false_alarms_on_generated_ordinary_complaints() {
    let seed: Vec<(&str, bool)> = seed_examples().collect();
    let model = RiskModel::train(&seed, &RiskModelConfig::default()).unwrap();
    let cfg = RiskConfig::default();
    let texts = fengqiao_analysis::text::corpus::labelled(5_000, 3);
    let (mut lexicon, mut added) = (0usize, 0usize);
    for t in &texts {
        let alone = assess_risk(&t.text, false, &cfg).high();
        let both = assess_risk_with(&t.text, false, &cfg, Some(&model)).high();
        lexicon += alone as usize;
        added += (both && !alone) as usize;
    }
    let share = |n: usize| n as f64 / texts.len() as f64;
    println!(
        "of {} generated complaints: lexicon orange or red {lexicon} ({:.1}%), the model adds {added} ({:.1}%)",
        texts.len(),
        100.0 * share(lexicon),
        100.0 * share(added)
    );
    assert!(share(added) <= 0.015, "the model raises {added} of {} ordinary complaints", texts.len());
}

//! The learned half of the escalation-risk score: a two-class model (high risk or not) trained
//! on labelled texts, whose signal joins the lexicon's in [`assess_risk_with`].
//!
//! Why a model next to the lexicon: a keyword list catches the phrasings it was written from
//! and few others ("想一了百了", "爬上塔吊不下来" name no listed word). Character pairs and words
//! weighted by a logistic model carry over to new phrasings far better; the lexicon keeps its
//! negation handling, its kinds (which decide who is alerted) and its evidence.
//!
//! Features: the tokenizer's words (jieba for Chinese, UAX #29 for the rest) plus every
//! Han character and every pair of adjacent Han characters, so an unseen compound such as
//! 烧死 still shares 烧 and 死 with what the model has seen. The model is the category
//! classifier's TF-IDF logistic regression with two labels.
//!
//! Training data: the labelled set shipped with fengqiao (`data/risk_labelled.csv`, every row
//! except the `holdout` ones, which stay out so its recall can be measured honestly), plus the
//! deployment's own cases that staff have judged high risk or not.
//!
//! [`assess_risk_with`]: super::risk::assess_risk_with

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use super::classify::{Classifier, ClassifierConfig};
use super::tokenize::{is_han, normalize, tokenize};
use super::{TextError, setting};

const HIGH: &str = "high";
const ORDINARY: &str = "ordinary";

/// Settings of the learned risk signal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RiskModelConfig {
    /// The model's probability of "high risk" from which its signal counts; the signal's
    /// weight is that probability, so 0.65 alone makes a case orange and 0.8 red.
    pub threshold: f64,
    pub classifier: ClassifierConfig,
}

impl Default for RiskModelConfig {
    fn default() -> Self {
        // Chosen by grouped five-fold cross-validation on the shipped set without its holdout
        // rows: at 0.65 the model alone recalled 0.60 of the high-risk texts with 1% false
        // alarms; lower thresholds bought little recall for many more false alarms.
        RiskModelConfig { threshold: 0.65, classifier: ClassifierConfig { epochs: 4, ..ClassifierConfig::default() } }
    }
}

/// Fewest examples of each label to train on: below this a model says more about the few
/// texts than about risk.
pub const MIN_PER_LABEL: usize = 20;

/// A trained risk model.
#[derive(Debug, Clone)]
pub struct RiskModel {
    model: Classifier,
    threshold: f64,
    examples: usize,
    high: usize,
}

/// The learned signal on one text.
#[derive(Debug, Clone, PartialEq)]
pub struct LearnedSignal {
    /// The model's probability that the text is high risk.
    pub probability: f64,
    /// The features that pushed towards "high risk" most, strongest first.
    pub words: Vec<String>,
}

/// The features the model reads: the tokenizer's words, each Han character and each pair of
/// adjacent Han characters.
pub fn risk_features(text: &str) -> Vec<String> {
    let mut out = tokenize(text);
    let chars: Vec<char> = normalize(text).chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if is_han(c) {
            out.push(c.to_string());
            if let Some(&next) = chars.get(i + 1).filter(|n| is_han(**n)) {
                out.push([c, next].iter().collect());
            }
        }
    }
    out
}

impl RiskModel {
    /// Trains on (text, is high risk) pairs; refuses data with too few of either label.
    pub fn train(examples: &[(&str, bool)], config: &RiskModelConfig) -> Result<RiskModel, TextError> {
        if !(config.threshold > 0.0 && config.threshold < 1.0) {
            return Err(setting("threshold", "must be in (0, 1)"));
        }
        let high = examples.iter().filter(|e| e.1).count();
        let ordinary = examples.len() - high;
        if high < MIN_PER_LABEL || ordinary < MIN_PER_LABEL {
            return Err(TextError::Training(format!(
                "a risk model needs at least {MIN_PER_LABEL} high-risk and {MIN_PER_LABEL} ordinary texts, got {high} and {ordinary}"
            )));
        }
        let docs: Vec<Vec<String>> = examples.iter().map(|(t, _)| risk_features(t)).collect();
        let labels: Vec<&str> = examples.iter().map(|e| if e.1 { HIGH } else { ORDINARY }).collect();
        let model = Classifier::train_tokens(&docs, &labels, &config.classifier)?;
        Ok(RiskModel { model, threshold: config.threshold, examples: examples.len(), high })
    }

    /// The model's probability that `text` is high risk, and the features behind it.
    pub fn probability(&self, text: &str) -> LearnedSignal {
        let (probability, words) = self.model.explain_tokens(&risk_features(text), HIGH).expect("the model has a high-risk label");
        LearnedSignal { probability, words: words.into_iter().map(|w| w.0).collect() }
    }

    /// The signal when it counts (probability at or above the threshold).
    pub fn signal(&self, text: &str) -> Option<LearnedSignal> {
        Some(self.probability(text)).filter(|s| s.probability >= self.threshold)
    }

    pub fn threshold(&self) -> f64 {
        self.threshold
    }

    /// How many texts it was trained on, and how many of them were high risk.
    pub fn trained_on(&self) -> (usize, usize) {
        (self.examples, self.high)
    }
}

/// One row of the shipped labelled set.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelledRisk {
    pub text: String,
    pub high_risk: bool,
    /// The input flag "the same parties have disputed before".
    pub repeat_dispute: bool,
    /// `hand` (written by hand), `variant` (a hand row reframed as a hotline operator or a
    /// grid worker would write it), `second` (written after the lexicon's last revision) or
    /// `holdout` (written apart from the lexicon and the model and never used to train or tune
    /// either).
    pub origin: String,
}

/// The labelled set shipped with fengqiao: residents' reports in Chinese and English, each
/// marked high risk or not.
pub fn labelled_set() -> &'static [LabelledRisk] {
    static SET: OnceLock<Vec<LabelledRisk>> = OnceLock::new();
    SET.get_or_init(|| parse_labelled(include_str!("../../data/risk_labelled.csv")).expect("the shipped labelled set is valid"))
}

/// Reads a labelled set: CSV `text,high_risk,repeat_dispute,origin` with 0/1 flags.
pub fn parse_labelled(csv_text: &str) -> Result<Vec<LabelledRisk>, TextError> {
    let mut r = csv::Reader::from_reader(csv_text.as_bytes());
    let mut out = Vec::new();
    for (i, rec) in r.records().enumerate() {
        let rec = rec.map_err(|e| TextError::Training(format!("labelled set, row {}: {e}", i + 2)))?;
        let flag = |c: usize| match rec.get(c) {
            Some("1") => Ok(true),
            Some("0") => Ok(false),
            x => Err(TextError::Training(format!("labelled set, row {}: column {} must be 0 or 1, got {x:?}", i + 2, c + 1))),
        };
        out.push(LabelledRisk {
            text: rec.get(0).unwrap_or_default().to_string(),
            high_risk: flag(1)?,
            repeat_dispute: flag(2)?,
            origin: rec.get(3).unwrap_or_default().to_string(),
        });
    }
    Ok(out)
}

/// The shipped examples a deployment's model starts from: every labelled row but the holdout.
pub fn seed_examples() -> impl Iterator<Item = (&'static str, bool)> {
    labelled_set().iter().filter(|r| r.origin != "holdout").map(|r| (r.text.as_str(), r.high_risk))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn features_add_han_characters_and_pairs() {
        let f = risk_features("要烧死 burned");
        for want in ["烧", "死", "烧死", "要烧", "burned"] {
            assert!(f.iter().any(|t| t == want), "{want} in {f:?}");
        }
    }

    #[test]
    fn training_needs_both_labels_and_a_valid_threshold() {
        let few: Vec<(&str, bool)> = (0..30).map(|_| ("路灯坏了", false)).chain((0..5).map(|_| ("他要砍我", true))).collect();
        let e = RiskModel::train(&few, &RiskModelConfig::default()).unwrap_err();
        assert!(e.to_string().contains("at least 20 high-risk"), "{e}");
        let bad = RiskModelConfig { threshold: 1.0, ..RiskModelConfig::default() };
        assert!(RiskModel::train(&seed_examples().collect::<Vec<_>>(), &bad).is_err());
    }

    #[test]
    fn the_labelled_set_reads_and_rejects_bad_flags() {
        assert!(labelled_set().len() > 300);
        assert!(labelled_set().iter().any(|r| r.origin == "holdout"));
        let e = parse_labelled("text,high_risk,repeat_dispute,origin\nx,2,0,hand\n").unwrap_err();
        assert!(e.to_string().contains("row 2: column 2 must be 0 or 1"), "{e}");
    }
}

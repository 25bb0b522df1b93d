//! Text: tokenisation, the category classifier, the risk score and near-duplicate detection.
//!
//! Every entry point normalises with NFKC first, so full-width letters and digits, compatibility
//! ideographs and ligatures compare equal to their ordinary forms.

pub mod classify;
pub mod corpus;
pub mod eval;
pub mod minhash;
pub mod risk;
pub mod risk_model;
pub mod tokenize;

pub use classify::{Classifier, ClassifierConfig, KeywordRule, Suggestion, SuggestionSource};
pub use eval::{Evaluation, cross_validate, grouped_folds, near_duplicate_groups};
pub use minhash::{DuplicatePair, LshParams, Match, MinHasher, NearDupIndex, all_pairs, exact_pairs, jaccard, shingles};
pub use risk::{RiskAssessment, RiskConfig, RiskKind, RiskLevel, assess_risk, assess_risk_with};
pub use risk_model::{LabelledRisk, LearnedSignal, RiskModel, RiskModelConfig, labelled_set, risk_features, seed_examples};
pub use tokenize::{Tokenizer, normalize, tokenize};

/// What can go wrong in the text analyses: always bad input or bad settings, named.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TextError {
    #[error("invalid setting {name}: {message}")]
    Setting { name: &'static str, message: String },
    #[error("training data: {0}")]
    Training(String),
    #[error("keyword rule for '{category}': {message}")]
    Rule { category: String, message: String },
}

pub(crate) fn setting(name: &'static str, message: impl Into<String>) -> TextError {
    TextError::Setting { name, message: message.into() }
}

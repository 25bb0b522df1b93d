//! Triage in the running service: the escalation-risk score of a text, a category suggested by
//! a classifier trained on the deployment's own filed cases (retrained in the background), and
//! the recent cases that look like a new one (near-duplicate text, verified by exact Jaccard,
//! then narrowed by time and distance).
//!
//! The analyses themselves live in `fengqiao-analysis`; this module keeps their state: an
//! incremental near-duplicate index of recent cases, fed at start-up and by every creation, and
//! the current classifier.

use std::sync::{Mutex, RwLock};

use std::sync::Arc;

use fengqiao_analysis::text::{
    Classifier, ClassifierConfig, LshParams, NearDupIndex, RiskAssessment, RiskConfig, RiskModel, RiskModelConfig, Suggestion,
    assess_risk_with, seed_examples,
};
use fengqiao_domain::clock::DAY_MS;
use fengqiao_domain::{Case, CaseId, Point, Timestamp};
use serde::Serialize;

/// Settings of triage.
#[derive(Debug, Clone)]
pub struct TriageConfig {
    /// Jaccard similarity of character 3-grams at which two texts are near-duplicates.
    pub duplicate_threshold: f64,
    /// How far apart in time two reports of the same matter may be.
    pub duplicate_window_days: i64,
    /// How far apart two reports with points may be, in metres.
    pub duplicate_radius_m: f64,
    /// Cases kept in the near-duplicate index (the most recent).
    pub index_days: i64,
    /// Fewest filed cases to train a classifier on.
    pub min_training_cases: usize,
    /// Most recent filed cases to train on.
    pub max_training_cases: usize,
    pub classifier: ClassifierConfig,
    pub risk_model: RiskModelConfig,
}

impl Default for TriageConfig {
    fn default() -> Self {
        TriageConfig {
            duplicate_threshold: 0.6,
            duplicate_window_days: 30,
            duplicate_radius_m: 2000.0,
            index_days: 90,
            min_training_cases: 200,
            max_training_cases: 50_000,
            classifier: ClassifierConfig::default(),
            risk_model: RiskModelConfig::default(),
        }
    }
}

/// What triage says about a text.
#[derive(Debug, Clone, Serialize)]
pub struct TriageReport {
    pub risk: RiskAssessment,
    /// `None` until a classifier has been trained (too few filed cases).
    pub suggestion: Option<Suggestion>,
    pub similar: Vec<Similar>,
}

/// A recent case that looks like the one at hand.
#[derive(Debug, Clone, Serialize)]
pub struct Similar {
    pub id: CaseId,
    pub similarity: f64,
    /// Metres between the two points, when both have one.
    pub distance_m: Option<f64>,
}

pub struct Triage {
    pub config: TriageConfig,
    risk: RiskConfig,
    index: Mutex<NearDupIndex<CaseId>>,
    classifier: RwLock<Option<Classifier>>,
    /// The learned half of the risk score; `None` until the first refresh has trained it.
    risk_model: RwLock<Option<Arc<RiskModel>>>,
}

/// Great-circle distance in metres.
pub fn distance_m(a: Point, b: Point) -> f64 {
    let r = 6_371_000.0;
    let (p1, p2) = (a.lat.to_radians(), b.lat.to_radians());
    let dp = p2 - p1;
    let dl = (b.lon - a.lon).to_radians();
    let h = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * r * h.sqrt().asin()
}

/// The text triage reads: title and description.
pub fn case_text(c: &Case) -> String {
    format!("{}\n{}", c.title, c.description)
}

impl Triage {
    pub fn new(config: TriageConfig) -> Triage {
        let params = LshParams::for_threshold(config.duplicate_threshold, 128)
            .unwrap_or_else(|_| LshParams::for_threshold(0.6, 128).expect("0.6 with 128 permutations is a valid threshold"));
        let index = NearDupIndex::new(params, 7).expect("128 permutations are valid");
        Triage {
            config,
            risk: RiskConfig::default(),
            index: Mutex::new(index),
            classifier: RwLock::new(None),
            risk_model: RwLock::new(None),
        }
    }

    /// The escalation-risk score of a text alone (no classifier, no duplicates), with the
    /// learned model in use.
    pub fn risk_of(&self, text: &str) -> RiskAssessment {
        let model = self.risk_model();
        assess_risk_with(text, false, &self.risk, model.as_deref())
    }

    /// The lexicon's score alone (its kinds, no learned signal): what the duty alert reads.
    pub fn lexicon_risk_of(&self, text: &str) -> RiskAssessment {
        assess_risk_with(text, false, &self.risk, None)
    }

    fn risk_model(&self) -> Option<Arc<RiskModel>> {
        self.risk_model.read().expect("not poisoned").clone()
    }

    /// How many texts the risk model in use was trained on and how many were high risk.
    pub fn risk_model_trained_on(&self) -> Option<(usize, usize)> {
        self.risk_model.read().expect("not poisoned").as_ref().map(|m| m.trained_on())
    }

    /// Adds a case to the near-duplicate index.
    pub fn remember(&self, c: &Case) {
        self.index.lock().expect("not poisoned").add(c.id, &case_text(c));
    }

    /// Takes over a freshly built index and model (after a background refresh).
    pub fn replace_with(&self, fresh: Triage, model: Option<Classifier>, risk_model: Option<RiskModel>) {
        let index = fresh.index.into_inner().expect("not poisoned");
        *self.index.lock().expect("not poisoned") = index;
        *self.classifier.write().expect("not poisoned") = model;
        if let Some(m) = risk_model {
            *self.risk_model.write().expect("not poisoned") = Some(Arc::new(m));
        }
    }

    pub fn has_classifier(&self) -> bool {
        self.classifier.read().expect("not poisoned").is_some()
    }

    /// Trains a classifier on (text, category) pairs; `None` when there are too few.
    pub fn train(&self, examples: &[(String, String)]) -> Option<Classifier> {
        if examples.len() < self.config.min_training_cases {
            return None;
        }
        let texts: Vec<&str> = examples.iter().map(|(t, _)| t.as_str()).collect();
        let labels: Vec<&str> = examples.iter().map(|(_, l)| l.as_str()).collect();
        match Classifier::train(&texts, &labels, &self.config.classifier) {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::warn!(error = %e, "could not train the category classifier");
                None
            }
        }
    }

    /// Trains the risk model on the shipped labelled texts and the staff's judgements of the
    /// deployment's own cases (`(text, high risk)`). `None` (keeping the model in use) if
    /// training fails.
    pub fn train_risk(&self, judged: &[(String, bool)]) -> Option<RiskModel> {
        let mut examples: Vec<(&str, bool)> = seed_examples().collect();
        examples.extend(judged.iter().map(|(t, h)| (t.as_str(), *h)));
        match RiskModel::train(&examples, &self.config.risk_model) {
            Ok(m) => Some(m),
            Err(e) => {
                tracing::warn!(error = %e, "could not train the risk model");
                None
            }
        }
    }

    /// Risk and category of a text, and the indexed cases whose text is near it (before any
    /// check of time, place or the reader's scope, which the caller applies).
    pub fn assess(
        &self,
        text: &str,
        repeat_dispute: bool,
        exclude: Option<CaseId>,
    ) -> (RiskAssessment, Option<Suggestion>, Vec<(CaseId, f64)>) {
        let model = self.risk_model();
        let risk = assess_risk_with(text, repeat_dispute, &self.risk, model.as_deref());
        let suggestion = self.classifier.read().expect("not poisoned").as_ref().map(|c| c.suggest(text));
        let near = self
            .index
            .lock()
            .expect("not poisoned")
            .query(text)
            .into_iter()
            .filter(|m| Some(m.id) != exclude)
            .map(|m| (m.id, m.similarity))
            .collect();
        (risk, suggestion, near)
    }

    /// Whether a candidate is close enough in time and place to be the same matter.
    pub fn near_enough(&self, at: Timestamp, point: Option<Point>, other: &Case) -> Option<Option<f64>> {
        if (other.created_at.0 - at.0).abs() > self.config.duplicate_window_days * DAY_MS {
            return None;
        }
        match (point, other.location.point) {
            (Some(a), Some(b)) => {
                let d = distance_m(a, b);
                (d <= self.config.duplicate_radius_m).then_some(Some(d))
            }
            _ => Some(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances_are_metres() {
        let a = Point { lon: 120.0, lat: 30.0 };
        let b = Point { lon: 120.0, lat: 30.01 };
        assert!((distance_m(a, b) - 1112.0).abs() < 2.0, "{}", distance_m(a, b));
        assert_eq!(distance_m(a, a), 0.0);
    }
}

//! The category classifier: TF-IDF over tokens, multinomial logistic regression trained by
//! SGD, administrator keyword rules that take precedence, and suggestions that carry their
//! confidence and the words that drove them.
//!
//! TF-IDF: tf is the raw count, idf = ln((1 + n) / (1 + df)) + 1, each document L2-normalised
//! (scikit-learn's `TfidfVectorizer` defaults). The model minimises the mean cross-entropy
//! plus λ/2·‖W‖² by SGD with the step ηₜ = η₀ / (1 + η₀·λ·t); the L2 shrink is applied
//! lazily through one global scale factor so each step costs only the document's non-zeros.

use std::collections::HashMap;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::tokenize::{normalize, tokenize};
use super::{TextError, setting};

/// Settings of training and of suggestions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassifierConfig {
    pub epochs: u32,
    /// η₀, the initial SGD step.
    pub learning_rate: f64,
    /// λ, the L2 penalty per example.
    pub l2: f64,
    /// Below this confidence a suggestion goes to human triage.
    pub confidence_threshold: f64,
    /// How many contributing words a suggestion names.
    pub top_features: usize,
    pub seed: u64,
}

impl Default for ClassifierConfig {
    fn default() -> Self {
        ClassifierConfig { epochs: 4, learning_rate: 0.5, l2: 1e-5, confidence_threshold: 0.5, top_features: 5, seed: 17 }
    }
}

impl ClassifierConfig {
    fn check(&self) -> Result<(), TextError> {
        if self.epochs == 0 || self.epochs > 1000 {
            return Err(setting("epochs", "must be between 1 and 1000"));
        }
        if !(self.learning_rate > 0.0 && self.learning_rate.is_finite()) {
            return Err(setting("learning_rate", "must be a positive number"));
        }
        if !(self.l2 >= 0.0 && self.l2 < 1.0) {
            return Err(setting("l2", "must be in [0, 1)"));
        }
        if !(0.0..=1.0).contains(&self.confidence_threshold) {
            return Err(setting("confidence_threshold", "must be in [0, 1]"));
        }
        Ok(())
    }
}

/// An administrator's rule: a text containing any of the keywords (after NFKC and
/// lowercasing) gets the category, whatever the model says. Earlier rules win. A stored rule
/// is checked again when read, so an invalid one cannot be loaded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawRule")]
pub struct KeywordRule {
    category: String,
    keywords: Vec<String>,
}

impl KeywordRule {
    pub fn new(category: &str, keywords: &[&str]) -> Result<KeywordRule, TextError> {
        let err = |m: &str| TextError::Rule { category: category.to_string(), message: m.to_string() };
        if category.trim().is_empty() {
            return Err(err("the category is empty"));
        }
        let keywords: Vec<String> = keywords.iter().map(|k| normalize(k.trim())).collect();
        if keywords.is_empty() {
            return Err(err("at least one keyword is needed"));
        }
        if keywords.iter().any(|k| k.is_empty()) {
            return Err(err("a keyword is empty"));
        }
        Ok(KeywordRule { category: category.to_string(), keywords })
    }

    pub fn category(&self) -> &str {
        &self.category
    }

    fn matches<'a>(&'a self, normalized: &str) -> Vec<&'a str> {
        self.keywords.iter().filter(|k| normalized.contains(k.as_str())).map(String::as_str).collect()
    }
}

#[derive(Deserialize)]
struct RawRule {
    category: String,
    keywords: Vec<String>,
}

impl TryFrom<RawRule> for KeywordRule {
    type Error = TextError;
    fn try_from(r: RawRule) -> Result<KeywordRule, TextError> {
        KeywordRule::new(&r.category, &r.keywords.iter().map(String::as_str).collect::<Vec<_>>())
    }
}

/// Where a suggestion came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SuggestionSource {
    Rule,
    Model,
}

/// A suggested category with its confidence and the words behind it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Suggestion {
    pub category: String,
    /// The model's probability of the category (1 for a rule).
    pub confidence: f64,
    pub source: SuggestionSource,
    /// The matched keywords (rule), or the words with the largest positive contribution
    /// tf-idf × weight to the category's score (model), largest first.
    pub evidence: Vec<(String, f64)>,
    /// Confidence below the configured threshold: a person should decide.
    pub needs_human: bool,
}

/// A sparse TF-IDF row: (feature, value), L2-normalised.
type Row = Vec<(u32, f32)>;

/// A trained model with its rules; serialisable so it can be stored and swapped after
/// retraining in the background. A stored model is checked when read (dimensions agree, no
/// token twice), so a damaged one is refused instead of failing later.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawClassifier")]
pub struct Classifier {
    labels: Vec<String>,
    /// Rebuilt from `terms` when a model is read.
    #[serde(skip)]
    vocab: HashMap<String, u32>,
    /// The token of each feature, for naming the evidence.
    terms: Vec<String>,
    idf: Vec<f32>,
    /// Feature-major: the K class weights of feature j are `weights[j*K..(j+1)*K]`.
    weights: Vec<f32>,
    bias: Vec<f32>,
    rules: Vec<KeywordRule>,
    config: ClassifierConfig,
}

#[derive(Deserialize)]
struct RawClassifier {
    labels: Vec<String>,
    terms: Vec<String>,
    idf: Vec<f32>,
    weights: Vec<f32>,
    bias: Vec<f32>,
    rules: Vec<KeywordRule>,
    config: ClassifierConfig,
}

impl TryFrom<RawClassifier> for Classifier {
    type Error = TextError;
    fn try_from(r: RawClassifier) -> Result<Classifier, TextError> {
        let bad = |m: String| Err(TextError::Training(format!("stored model: {m}")));
        let (k, v) = (r.labels.len(), r.terms.len());
        if k < 2 || r.bias.len() != k {
            return bad(format!("{k} labels but {} biases", r.bias.len()));
        }
        if r.idf.len() != v || r.weights.len() != v * k {
            return bad(format!("{v} terms, {} idf values and {} weights for {k} labels", r.idf.len(), r.weights.len()));
        }
        r.config.check()?;
        let vocab: HashMap<String, u32> = r.terms.iter().enumerate().map(|(j, t)| (t.clone(), j as u32)).collect();
        if vocab.len() != v {
            return bad("a term appears twice".into());
        }
        Ok(Classifier {
            labels: r.labels,
            vocab,
            terms: r.terms,
            idf: r.idf,
            weights: r.weights,
            bias: r.bias,
            rules: r.rules,
            config: r.config,
        })
    }
}

impl Classifier {
    /// Trains on texts (tokenised here, in parallel).
    pub fn train(texts: &[&str], labels: &[&str], config: &ClassifierConfig) -> Result<Classifier, TextError> {
        let docs: Vec<Vec<String>> = texts.par_iter().map(|t| tokenize(t)).collect();
        Classifier::train_tokens(&docs, labels, config)
    }

    /// Trains on already tokenised documents.
    pub fn train_tokens(docs: &[Vec<String>], labels: &[&str], config: &ClassifierConfig) -> Result<Classifier, TextError> {
        config.check()?;
        if docs.len() != labels.len() {
            return Err(TextError::Training(format!("{} texts but {} labels", docs.len(), labels.len())));
        }
        if let Some(i) = labels.iter().position(|l| l.trim().is_empty()) {
            return Err(TextError::Training(format!("example {} has an empty label", i + 1)));
        }
        let mut label_names: Vec<String> = labels.iter().map(|l| l.to_string()).collect();
        label_names.sort();
        label_names.dedup();
        if label_names.len() < 2 {
            return Err(TextError::Training("at least two categories are needed".into()));
        }
        let label_index: HashMap<&str, usize> = label_names.iter().enumerate().map(|(i, l)| (l.as_str(), i)).collect();
        let y: Vec<usize> = labels.iter().map(|l| label_index[l]).collect();

        let mut vocab: HashMap<String, u32> = HashMap::new();
        let mut df: Vec<u32> = Vec::new();
        for d in docs {
            let mut ids: Vec<u32> = d
                .iter()
                .map(|t| match vocab.get(t) {
                    Some(&j) => j,
                    None => {
                        let n = vocab.len() as u32;
                        vocab.insert(t.clone(), n);
                        n
                    }
                })
                .collect();
            ids.sort_unstable();
            ids.dedup();
            df.resize(vocab.len(), 0);
            for i in ids {
                df[i as usize] += 1;
            }
        }
        let n = docs.len() as f64;
        let idf: Vec<f32> = df.iter().map(|&d| (((1.0 + n) / (1.0 + d as f64)).ln() + 1.0) as f32).collect();
        let k = label_names.len();
        let mut terms = vec![String::new(); vocab.len()];
        for (t, &j) in &vocab {
            terms[j as usize] = t.clone();
        }
        let mut model = Classifier {
            terms,
            labels: label_names,
            weights: vec![0.0; vocab.len() * k],
            bias: vec![0.0; k],
            vocab,
            idf,
            rules: Vec::new(),
            config: config.clone(),
        };
        let rows: Vec<Row> = docs.par_iter().map(|d| model.featurize(d)).collect();
        model.sgd(&rows, &y);
        Ok(model)
    }

    fn sgd(&mut self, rows: &[Row], y: &[usize]) {
        let k = self.labels.len();
        let c = &self.config;
        let (eta0, lambda) = (c.learning_rate, c.l2);
        let mut rng = rand::rngs::StdRng::seed_from_u64(c.seed);
        let mut order: Vec<usize> = (0..rows.len()).collect();
        // True weights are scale × stored weights, so the L2 shrink of every step is one
        // multiplication instead of a pass over the whole matrix.
        let mut scale = 1.0f64;
        let mut t = 0u64;
        let mut p = vec![0f32; k];
        for _ in 0..c.epochs {
            order.shuffle(&mut rng);
            for &i in &order {
                let eta = eta0 / (1.0 + eta0 * lambda * t as f64);
                t += 1;
                self.scores_into(&rows[i], scale as f32, &mut p);
                softmax(&mut p);
                scale *= 1.0 - eta * lambda;
                if scale < 1e-6 {
                    self.weights.iter_mut().for_each(|w| *w *= scale as f32);
                    scale = 1.0;
                }
                p[y[i]] -= 1.0;
                for &(j, x) in &rows[i] {
                    let w = &mut self.weights[j as usize * k..(j as usize + 1) * k];
                    let step = (eta / scale) as f32 * x;
                    for (wk, g) in w.iter_mut().zip(&p) {
                        *wk -= step * g;
                    }
                }
                for (b, g) in self.bias.iter_mut().zip(&p) {
                    *b -= eta as f32 * g;
                }
            }
        }
        self.weights.iter_mut().for_each(|w| *w *= scale as f32);
    }

    fn scores_into(&self, row: &Row, scale: f32, out: &mut [f32]) {
        let k = self.labels.len();
        out.copy_from_slice(&self.bias);
        for &(j, x) in row {
            let w = &self.weights[j as usize * k..(j as usize + 1) * k];
            let xs = x * scale;
            for (o, wk) in out.iter_mut().zip(w) {
                *o += xs * wk;
            }
        }
    }

    fn featurize(&self, tokens: &[String]) -> Row {
        // Complaints are short: sorting the ids and counting runs beats a hash map.
        let mut ids: Vec<u32> = tokens.iter().filter_map(|t| self.vocab.get(t).copied()).collect();
        ids.sort_unstable();
        let mut row: Row = ids.chunk_by(|a, b| a == b).map(|run| (run[0], run.len() as f32 * self.idf[run[0] as usize])).collect();
        let norm = row.iter().map(|e| e.1 * e.1).sum::<f32>().sqrt();
        if norm > 0.0 {
            row.iter_mut().for_each(|e| e.1 /= norm);
        }
        row
    }

    /// Replaces the keyword rules (earlier rules win).
    pub fn set_rules(&mut self, rules: Vec<KeywordRule>) {
        self.rules = rules;
    }

    pub fn rules(&self) -> &[KeywordRule] {
        &self.rules
    }

    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    pub fn config(&self) -> &ClassifierConfig {
        &self.config
    }

    /// Sets the confidence below which suggestions go to human triage.
    pub fn set_confidence_threshold(&mut self, t: f64) -> Result<(), TextError> {
        if !(0.0..=1.0).contains(&t) {
            return Err(setting("confidence_threshold", "must be in [0, 1]"));
        }
        self.config.confidence_threshold = t;
        Ok(())
    }

    /// The suggestion for one text: the first matching keyword rule, else the model.
    pub fn suggest(&self, text: &str) -> Suggestion {
        let normalized = normalize(text);
        for r in &self.rules {
            let hits = r.matches(&normalized);
            if !hits.is_empty() {
                return Suggestion {
                    category: r.category.clone(),
                    confidence: 1.0,
                    source: SuggestionSource::Rule,
                    evidence: hits.into_iter().map(|h| (h.to_string(), 1.0)).collect(),
                    needs_human: false,
                };
            }
        }
        self.suggest_tokens(&tokenize(text))
    }

    /// The model's suggestion for a tokenised text (no rules: they match on the text).
    pub fn suggest_tokens(&self, tokens: &[String]) -> Suggestion {
        let (row, p) = self.probabilities(tokens);
        let best = (0..p.len()).max_by(|&a, &b| p[a].total_cmp(&p[b]).then(b.cmp(&a))).unwrap_or(0);
        Suggestion {
            category: self.labels[best].clone(),
            confidence: p[best] as f64,
            source: SuggestionSource::Model,
            evidence: self.top_words(&row, best),
            needs_human: (p[best] as f64) < self.config.confidence_threshold,
        }
    }

    /// The model's probability of one label for a tokenised text, with the words that pushed
    /// towards it most. `None` for an unknown label.
    pub fn explain_tokens(&self, tokens: &[String], label: &str) -> Option<(f64, Vec<(String, f64)>)> {
        let target = self.labels.iter().position(|l| l == label)?;
        let (row, p) = self.probabilities(tokens);
        Some((p[target] as f64, self.top_words(&row, target)))
    }

    /// The TF-IDF row of a tokenised text and the model's probability of each label.
    fn probabilities(&self, tokens: &[String]) -> (Row, Vec<f32>) {
        let row = self.featurize(tokens);
        let mut p = vec![0f32; self.labels.len()];
        self.scores_into(&row, 1.0, &mut p);
        softmax(&mut p);
        (row, p)
    }

    /// The words with the largest positive contribution tf-idf × weight to a label's score,
    /// largest first, at most `top_features` of them.
    fn top_words(&self, row: &Row, label: usize) -> Vec<(String, f64)> {
        let k = self.labels.len();
        let mut words: Vec<(String, f64)> = row
            .iter()
            .filter_map(|&(j, x)| {
                let c = (x * self.weights[j as usize * k + label]) as f64;
                (c > 0.0).then(|| (self.terms[j as usize].clone(), c))
            })
            .collect();
        words.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        words.truncate(self.config.top_features);
        words
    }

    /// The model's category for each tokenised text, in parallel.
    pub fn predict_tokens(&self, docs: &[Vec<String>]) -> Vec<usize> {
        let k = self.labels.len();
        docs.par_iter()
            .map_init(
                || vec![0f32; k],
                |p, d| {
                    self.scores_into(&self.featurize(d), 1.0, p);
                    (0..k).max_by(|&a, &b| p[a].total_cmp(&p[b]).then(b.cmp(&a))).unwrap_or(0)
                },
            )
            .collect()
    }
}

fn softmax(z: &mut [f32]) {
    let m = z.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut s = 0.0;
    for v in z.iter_mut() {
        *v = (*v - m).exp();
        s += *v;
    }
    for v in z.iter_mut() {
        *v /= s;
    }
}

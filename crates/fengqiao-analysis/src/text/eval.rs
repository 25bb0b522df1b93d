//! K-fold evaluation of the classifier, grouped so near-duplicates never sit on both sides of a
//! split (a copy of a training text in the test fold would flatter the model).
//!
//! Groups are the connected components of the relation "Jaccard of the 3-gram sets ≥ 0.5"
//! (MinHash LSH pairs, union-find); groups go, largest first, to the fold with fewest texts.

use rayon::prelude::*;
use serde::Serialize;

use super::classify::{Classifier, ClassifierConfig};
use super::minhash::{LshParams, all_pairs};
use super::tokenize::tokenize;
use super::{TextError, setting};

/// The similarity at which two texts count as one group.
pub const GROUP_THRESHOLD: f64 = 0.5;

/// A group number for each text: texts linked by a chain of near-duplicate pairs
/// (Jaccard ≥ `threshold`) share one. Numbers are 0.. in order of first appearance.
pub fn near_duplicate_groups(texts: &[&str], threshold: f64) -> Result<Vec<usize>, TextError> {
    let params = LshParams::for_threshold(threshold, 128)?;
    let pairs = all_pairs(texts, &params, 1)?;
    let mut parent: Vec<usize> = (0..texts.len()).collect();
    fn find(p: &mut [usize], mut x: usize) -> usize {
        while p[x] != x {
            p[x] = p[p[x]];
            x = p[x];
        }
        x
    }
    for pr in pairs {
        let (a, b) = (find(&mut parent, pr.a), find(&mut parent, pr.b));
        if a != b {
            parent[a.max(b)] = a.min(b);
        }
    }
    let mut number = vec![usize::MAX; texts.len()];
    let mut next = 0;
    let mut out = Vec::with_capacity(texts.len());
    for i in 0..texts.len() {
        let r = find(&mut parent, i);
        if number[r] == usize::MAX {
            number[r] = next;
            next += 1;
        }
        out.push(number[r]);
    }
    Ok(out)
}

/// A fold (0..k) for each text, keeping every group in one fold. Deterministic.
pub fn grouped_folds(groups: &[usize], k: usize) -> Result<Vec<usize>, TextError> {
    let n_groups = groups.iter().max().map_or(0, |m| m + 1);
    if k < 2 {
        return Err(setting("folds", format!("must be at least 2, got {k}")));
    }
    if n_groups < k {
        return Err(setting("folds", format!("{k} folds need at least {k} groups of distinct texts, found {n_groups}")));
    }
    let mut size = vec![0usize; n_groups];
    for &g in groups {
        size[g] += 1;
    }
    let mut order: Vec<usize> = (0..n_groups).collect();
    order.sort_by_key(|&g| (std::cmp::Reverse(size[g]), g));
    let mut load = vec![0usize; k];
    let mut fold_of = vec![0usize; n_groups];
    for g in order {
        let f = (0..k).min_by_key(|&f| (load[f], f)).unwrap_or(0);
        fold_of[g] = f;
        load[f] += size[g];
    }
    Ok(groups.iter().map(|&g| fold_of[g]).collect())
}

/// Out-of-fold results: every text predicted once, by a model that never saw its group.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evaluation {
    pub labels: Vec<String>,
    /// `confusion[true][predicted]`, in the order of `labels`.
    pub confusion: Vec<Vec<u32>>,
    pub accuracy: f64,
    /// The unweighted mean of the per-category F1 over every category in the truth or the
    /// predictions (as scikit-learn's `f1_score(average="macro")`).
    pub macro_f1: f64,
    pub f1: Vec<f64>,
    pub groups: usize,
}

impl Evaluation {
    /// Scores predictions against truth (both as label strings).
    pub fn score(truth: &[&str], predicted: &[&str], groups: usize) -> Evaluation {
        let mut labels: Vec<String> = truth.iter().chain(predicted).map(|s| s.to_string()).collect();
        labels.sort();
        labels.dedup();
        let idx = |s: &str| labels.binary_search_by(|l| l.as_str().cmp(s)).unwrap_or(0);
        let k = labels.len();
        let mut confusion = vec![vec![0u32; k]; k];
        for (t, p) in truth.iter().zip(predicted) {
            confusion[idx(t)][idx(p)] += 1;
        }
        let correct: u32 = (0..k).map(|i| confusion[i][i]).sum();
        let accuracy = if truth.is_empty() { 0.0 } else { correct as f64 / truth.len() as f64 };
        let f1: Vec<f64> = (0..k)
            .map(|i| {
                let tp = confusion[i][i] as f64;
                let actual: u32 = confusion[i].iter().sum();
                let pred: u32 = confusion.iter().map(|r| r[i]).sum();
                if actual + pred == 0 { 0.0 } else { 2.0 * tp / (actual + pred) as f64 }
            })
            .collect();
        let macro_f1 = if k == 0 { 0.0 } else { f1.iter().sum::<f64>() / k as f64 };
        Evaluation { labels, confusion, accuracy, macro_f1, f1, groups }
    }
}

/// K-fold cross-validation of the classifier, grouped by near-duplicates.
pub fn cross_validate(texts: &[&str], labels: &[&str], k: usize, config: &ClassifierConfig) -> Result<Evaluation, TextError> {
    if texts.len() != labels.len() {
        return Err(TextError::Training(format!("{} texts but {} labels", texts.len(), labels.len())));
    }
    let groups = near_duplicate_groups(texts, GROUP_THRESHOLD)?;
    let n_groups = groups.iter().max().map_or(0, |m| m + 1);
    let folds = grouped_folds(&groups, k)?;
    let docs: Vec<Vec<String>> = texts.par_iter().map(|t| tokenize(t)).collect();
    let mut predicted: Vec<String> = vec![String::new(); texts.len()];
    for f in 0..k {
        let train: Vec<usize> = (0..texts.len()).filter(|&i| folds[i] != f).collect();
        let test: Vec<usize> = (0..texts.len()).filter(|&i| folds[i] == f).collect();
        let train_docs: Vec<Vec<String>> = train.iter().map(|&i| docs[i].clone()).collect();
        let train_labels: Vec<&str> = train.iter().map(|&i| labels[i]).collect();
        let model = Classifier::train_tokens(&train_docs, &train_labels, config)
            .map_err(|e| TextError::Training(format!("fold {}: {e}", f + 1)))?;
        let test_docs: Vec<Vec<String>> = test.iter().map(|&i| docs[i].clone()).collect();
        for (&i, p) in test.iter().zip(model.predict_tokens(&test_docs)) {
            predicted[i] = model.labels()[p].clone();
        }
    }
    let predicted: Vec<&str> = predicted.iter().map(String::as_str).collect();
    Ok(Evaluation::score(labels, &predicted, n_groups))
}

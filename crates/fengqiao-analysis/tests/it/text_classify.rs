//! The category classifier: held-out accuracy, keyword rules, explanations, serialisation and
//! grouped cross-validation.

use fengqiao_analysis::text::{
    Classifier, ClassifierConfig, KeywordRule, SuggestionSource, corpus, cross_validate, grouped_folds, near_duplicate_groups,
};

#[test]
fn held_out_accuracy_on_generated_complaints() {
    let data = corpus::labelled(6000, 1);
    let (train, test) = data.split_at(4500);
    let texts: Vec<&str> = train.iter().map(|d| d.text.as_str()).collect();
    let labels: Vec<&str> = train.iter().map(|d| d.label).collect();
    let model = Classifier::train(&texts, &labels, &ClassifierConfig::default()).unwrap();
    let correct = test.iter().filter(|d| model.suggest(&d.text).category == d.label).count();
    let acc = correct as f64 / test.len() as f64;
    println!("held-out accuracy {acc:.4} on {} texts, {} categories", test.len(), model.labels().len());
    assert!(acc >= 0.9, "accuracy {acc}");

    let s = model.suggest("楼下酒吧深夜喧哗，晚上根本睡不着");
    assert_eq!(s.category, "noise");
    assert_eq!(s.source, SuggestionSource::Model);
    assert!(!s.needs_human && s.confidence > 0.5, "{s:?}");
    assert!(!s.evidence.is_empty() && s.evidence.len() <= 5);
    assert!(s.evidence.windows(2).all(|w| w[0].1 >= w[1].1));
    assert!(s.evidence.iter().any(|(w, _)| ["喧哗", "酒吧", "深夜", "睡不着"].contains(&w.as_str())), "{:?}", s.evidence);
    // Words the model never saw give no confidence: a person decides.
    let unknown = model.suggest("zzz qqq");
    assert!(unknown.needs_human && unknown.evidence.is_empty(), "{unknown:?}");

    // The model survives serialisation unchanged.
    let json = serde_json::to_string(&model).unwrap();
    let back: Classifier = serde_json::from_str(&json).unwrap();
    assert_eq!(back, model);
    assert_eq!(back.suggest(&test[0].text), model.suggest(&test[0].text));
    // A damaged model is refused when read.
    let mut v: serde_json::Value = serde_json::from_str(&json).unwrap();
    v["bias"].as_array_mut().unwrap().pop();
    let e = serde_json::from_value::<Classifier>(v).unwrap_err();
    assert!(e.to_string().contains("stored model"), "{e}");
}

#[test]
fn keyword_rules_take_precedence_over_the_model() {
    let data = corpus::labelled(2000, 2);
    let texts: Vec<&str> = data.iter().map(|d| d.text.as_str()).collect();
    let labels: Vec<&str> = data.iter().map(|d| d.label).collect();
    let mut model = Classifier::train(&texts, &labels, &ClassifierConfig::default()).unwrap();
    let text = "接到冒充公检法的诈骗电话，对方让我转账到安全账户";
    assert_eq!(model.suggest(text).category, "fraud_report");
    model.set_rules(vec![
        KeywordRule::new("public_security", &["安全账户"]).unwrap(),
        KeywordRule::new("other_request", &["诈骗"]).unwrap(),
    ]);
    let s = model.suggest(text);
    assert_eq!(s.category, "public_security", "the first matching rule wins");
    assert_eq!((s.source, s.confidence, s.needs_human), (SuggestionSource::Rule, 1.0, false));
    assert_eq!(s.evidence, vec![("安全账户".to_string(), 1.0)]);
    // Rules match after NFKC and lowercasing.
    model.set_rules(vec![KeywordRule::new("street_light", &["LED"]).unwrap()]);
    assert_eq!(model.suggest("ｌｅｄ灯坏了").category, "street_light");
    assert!(KeywordRule::new("noise", &[]).is_err());
    assert!(KeywordRule::new("noise", &["  "]).is_err());
    assert!(KeywordRule::new(" ", &["x"]).is_err());
    // A stored rule is checked again when read.
    let bad: Result<KeywordRule, _> = serde_json::from_str(r#"{"category":"noise","keywords":[]}"#);
    assert!(bad.unwrap_err().to_string().contains("at least one keyword"));
}

#[test]
fn bad_training_input_is_refused_with_a_reason() {
    let c = ClassifierConfig::default();
    let e = Classifier::train(&["a b", "c d"], &["x", "x"], &c).unwrap_err();
    assert!(e.to_string().contains("two categories"), "{e}");
    let e = Classifier::train(&["a b", "c d"], &["x", ""], &c).unwrap_err();
    assert!(e.to_string().contains("example 2"), "{e}");
    let e = Classifier::train(&["a b"], &["x", "y"], &c).unwrap_err();
    assert!(e.to_string().contains("1 texts but 2 labels"), "{e}");
    let bad = ClassifierConfig { epochs: 0, ..c };
    assert!(Classifier::train(&["a", "b"], &["x", "y"], &bad).is_err());
}

#[test]
fn folds_never_split_a_group_of_near_duplicates() {
    let texts = corpus::near_duplicates(1200, 3);
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let groups = near_duplicate_groups(&refs, 0.5).unwrap();
    let folds = grouped_folds(&groups, 5).unwrap();
    let n_groups = groups.iter().max().unwrap() + 1;
    assert!(n_groups < 1200, "the generated data has near-duplicates");
    for g in 0..n_groups {
        let f: std::collections::HashSet<usize> = (0..1200).filter(|&i| groups[i] == g).map(|i| folds[i]).collect();
        assert_eq!(f.len(), 1, "group {g} spans folds {f:?}");
    }
    let mut sizes = [0usize; 5];
    folds.iter().for_each(|&f| sizes[f] += 1);
    assert!(sizes.iter().all(|&s| s > 200), "balanced folds: {sizes:?}");
    assert!(grouped_folds(&groups, 1).is_err());
    assert!(grouped_folds(&[0, 0, 1], 3).unwrap_err().to_string().contains("at least 3 groups"));
}

#[test]
fn grouped_cross_validation_reports_accuracy_and_macro_f1() {
    let data = corpus::labelled(3000, 4);
    let texts: Vec<&str> = data.iter().map(|d| d.text.as_str()).collect();
    let labels: Vec<&str> = data.iter().map(|d| d.label).collect();
    let e = cross_validate(&texts, &labels, 5, &ClassifierConfig::default()).unwrap();
    println!("5-fold grouped: accuracy {:.4}, macro-F1 {:.4}, {} groups", e.accuracy, e.macro_f1, e.groups);
    let total: u32 = e.confusion.iter().flatten().sum();
    assert_eq!(total, 3000, "every text predicted exactly once");
    assert_eq!(e.labels.len(), 27);
    assert!(e.accuracy > 0.85 && e.macro_f1 > 0.85, "{e:?}");
}

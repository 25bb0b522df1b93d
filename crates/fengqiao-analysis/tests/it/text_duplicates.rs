//! Near-duplicates: MinHash LSH against exact ground truth on generated data.

use std::collections::HashSet;

use fengqiao_analysis::text::corpus;
use fengqiao_analysis::text::minhash::{LshParams, NearDupIndex, all_pairs, exact_pairs, jaccard, shingles};

fn set(pairs: &[fengqiao_analysis::text::DuplicatePair]) -> HashSet<(usize, usize)> {
    pairs.iter().map(|p| (p.a, p.b)).collect()
}

#[test]
fn lsh_finds_the_true_pairs_and_reports_only_true_pairs() {
    let texts = corpus::near_duplicates(3000, 5);
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    for t in [0.5, 0.7, 0.8, 0.9] {
        let truth = exact_pairs(&refs, t).unwrap();
        // The exact method is itself checked against brute force on a slice.
        {
            let n = 500;
            let sets: Vec<Vec<u64>> = refs[..n].iter().map(|x| shingles(x)).collect();
            let mut brute = HashSet::new();
            for a in 0..n {
                for b in a + 1..n {
                    if jaccard(&sets[a], &sets[b]) >= t {
                        brute.insert((a, b));
                    }
                }
            }
            let exact_slice = set(&exact_pairs(&refs[..n], t).unwrap());
            assert_eq!(exact_slice, brute);
        }
        let params = LshParams::for_threshold(t, 128).unwrap();
        let found = all_pairs(&refs, &params, 42).unwrap();
        for p in &found {
            let j = jaccard(&shingles(refs[p.a]), &shingles(refs[p.b]));
            assert!(j >= t && (j - p.similarity).abs() < 1e-12, "pair {p:?} has Jaccard {j}");
        }
        let (f, g) = (set(&found), set(&truth));
        assert!(f.is_subset(&g));
        let recall = f.len() as f64 / g.len() as f64;
        println!(
            "threshold {t}: {} true pairs, {} found, recall {recall:.4}, precision 1, bands {}x{}",
            g.len(),
            f.len(),
            params.bands,
            params.rows
        );
        assert!(g.len() > 300, "the generator plants near-duplicates");
        assert!(recall >= 0.95, "recall {recall} at threshold {t}");
    }
}

#[test]
fn the_incremental_index_agrees_with_the_batch() {
    let texts = corpus::near_duplicates(1500, 9);
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let params = LshParams::for_threshold(0.7, 128).unwrap();
    let batch = set(&all_pairs(&refs, &params, 3).unwrap());
    let mut index = NearDupIndex::new(params, 3).unwrap();
    let mut incremental = HashSet::new();
    for (i, t) in refs.iter().enumerate() {
        let found = index.insert(i, t);
        assert!(found.windows(2).all(|w| w[0].similarity >= w[1].similarity), "most similar first");
        for m in found {
            assert!(m.similarity >= 0.7);
            incremental.insert((m.id, i));
        }
    }
    assert_eq!(index.len(), 1500);
    assert_eq!(incremental, batch);
    // A query neither finds itself before insertion nor changes the index.
    let mut fresh = NearDupIndex::new(params, 3).unwrap();
    fresh.insert("a", "夜间施工噪声扰民，晚上根本睡不着，请尽快处理。");
    let m = fresh.query("夜间施工噪声扰民,晚上根本睡不着,请尽快处理!");
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].id, "a");
    assert_eq!(m[0].similarity, 1.0);
    assert_eq!(fresh.len(), 1);
    assert!(fresh.query("路灯不亮").is_empty());
    // Adding without a search files the text exactly as inserting does: the same later answers.
    let mut added = NearDupIndex::new(params, 3).unwrap();
    for (i, t) in refs.iter().enumerate() {
        added.add(i, t);
    }
    for t in refs.iter().take(200) {
        assert_eq!(added.query(t), index.query(t));
    }
}

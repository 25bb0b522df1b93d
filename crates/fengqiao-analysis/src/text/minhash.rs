//! Near-duplicates: MinHash signatures over character 3-grams, LSH banding tuned to a Jaccard
//! threshold, and exact verification, so every reported pair truly has Jaccard ≥ the threshold.
//!
//! A text is folded (NFKC, lowercase, punctuation to spaces, runs of whitespace to one space),
//! then cut into overlapping 3-grams of characters. Three characters of at most 21 bits each
//! pack losslessly into one `u64`, so the shingle sets are exact and their Jaccard similarity
//! is the true one, not an estimate.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::{TextError, setting};

/// The folded form shingles are taken from: NFKC, lowercase, punctuation and symbols become
/// spaces, whitespace runs become one space, trimmed.
pub fn fold(text: &str) -> String {
    folded_chars(text).into_iter().filter_map(char::from_u32).collect()
}

fn folded_chars(text: &str) -> Vec<u32> {
    let mut out = Vec::with_capacity(text.len());
    let mut space = true;
    let mut push = |c: char| {
        if c.is_alphanumeric() {
            out.push(c as u32);
            space = false;
        } else if !space {
            out.push(' ' as u32);
            space = true;
        }
    };
    for c in super::tokenize::nfkc(text) {
        // Han characters and ASCII, nearly all of a complaint, skip the general lowercase.
        if c.is_ascii() {
            push(c.to_ascii_lowercase());
        } else if super::tokenize::is_han(c) {
            push(c);
        } else {
            c.to_lowercase().for_each(&mut push);
        }
    }
    if out.last() == Some(&(' ' as u32)) {
        out.pop();
    }
    out
}

/// The sorted, deduplicated set of character 3-grams of the folded text. A folded text shorter
/// than three characters is one shingle of itself (so two equal short texts still match); an
/// empty one has no shingles.
pub fn shingles(text: &str) -> Vec<u64> {
    let chars = folded_chars(text);
    let mut v: Vec<u64> = match chars.len() {
        0 => Vec::new(),
        1 | 2 => vec![pack(chars[0], chars.get(1).copied().unwrap_or(0), 0)],
        _ => chars.windows(3).map(|w| pack(w[0], w[1], w[2])).collect(),
    };
    v.sort_unstable();
    v.dedup();
    v
}

fn pack(a: u32, b: u32, c: u32) -> u64 {
    ((a as u64) << 42) | ((b as u64) << 21) | c as u64
}

/// Exact Jaccard similarity |A ∩ B| / |A ∪ B| of two sorted, deduplicated sets; two empty sets
/// have similarity 0 (an empty text is nobody's duplicate).
pub fn jaccard(a: &[u64], b: &[u64]) -> f64 {
    let (mut i, mut j, mut inter) = (0, 0, 0usize);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                inter += 1;
                i += 1;
                j += 1;
            }
        }
    }
    let union = a.len() + b.len() - inter;
    if union == 0 { 0.0 } else { inter as f64 / union as f64 }
}

fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// `num_perm` hash functions from the multiply-shift family (high 32 bits of a·x + b over a
/// mixed 64-bit key, a odd), fixed by a seed so signatures are comparable across runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MinHasher {
    a: Vec<u64>,
    b: Vec<u64>,
}

impl MinHasher {
    pub fn new(num_perm: usize, seed: u64) -> Result<MinHasher, TextError> {
        if !(2..=1024).contains(&num_perm) {
            return Err(setting("num_perm", format!("must be between 2 and 1024, got {num_perm}")));
        }
        let mut s = seed;
        let mut next = || {
            s = s.wrapping_add(1);
            splitmix64(s ^ 0x5851_F42D_4C95_7F2D)
        };
        let a = (0..num_perm).map(|_| next() | 1).collect();
        let b = (0..num_perm).map(|_| next()).collect();
        Ok(MinHasher { a, b })
    }

    pub fn num_perm(&self) -> usize {
        self.a.len()
    }

    /// The signature of a shingle set; all `u32::MAX` for an empty set.
    pub fn signature(&self, shingles: &[u64], out: &mut [u32]) {
        out.fill(u32::MAX);
        // Eight shingles at a time per permutation keeps eight independent multiply chains
        // in flight and the running minimum in a register.
        let mixed: Vec<u64> = shingles.iter().map(|&s| splitmix64(s)).collect();
        for ((o, &a), &b) in out.iter_mut().zip(&self.a).zip(&self.b) {
            let mut m = u32::MAX;
            let mut chunks = mixed.chunks_exact(8);
            for c in &mut chunks {
                let mut h = [0u32; 8];
                for (hk, &x) in h.iter_mut().zip(c) {
                    *hk = (a.wrapping_mul(x).wrapping_add(b) >> 32) as u32;
                }
                m = m.min(h.into_iter().min().unwrap_or(u32::MAX));
            }
            for &x in chunks.remainder() {
                m = m.min((a.wrapping_mul(x).wrapping_add(b) >> 32) as u32);
            }
            *o = m;
        }
    }
}

/// LSH banding: `bands` × `rows` signature values, chosen for a threshold.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LshParams {
    pub threshold: f64,
    pub num_perm: usize,
    pub bands: usize,
    pub rows: usize,
}

impl LshParams {
    /// The banding that minimises the weighted areas of false positives (collision probability
    /// 1 − (1 − sʳ)ᵇ integrated over s < T) and false negatives (its complement over s ≥ T),
    /// with b·r ≤ num_perm — the rule `datasketch` uses, so both tools band alike at equal
    /// weights. Candidates are verified exactly, so a false positive costs only time while a
    /// false negative is a missed duplicate: [`LshParams::for_threshold`] weighs misses more.
    pub fn optimal(threshold: f64, num_perm: usize, fp_weight: f64, fn_weight: f64) -> Result<LshParams, TextError> {
        if !(threshold > 0.0 && threshold <= 1.0) {
            return Err(setting("threshold", format!("must be in (0, 1], got {threshold}")));
        }
        if !(2..=1024).contains(&num_perm) {
            return Err(setting("num_perm", format!("must be between 2 and 1024, got {num_perm}")));
        }
        let p = |s: f64, b: usize, r: usize| 1.0 - (1.0 - s.powi(r as i32)).powi(b as i32);
        let integrate = |f: &dyn Fn(f64) -> f64, lo: f64, hi: f64| {
            let n = 200;
            let h = (hi - lo) / n as f64;
            (0..n).map(|i| f(lo + (i as f64 + 0.5) * h)).sum::<f64>() * h
        };
        let mut best = (f64::INFINITY, 1, 1);
        for b in 1..=num_perm {
            for r in 1..=num_perm / b {
                let fp = integrate(&|s| p(s, b, r), 0.0, threshold);
                let fneg = integrate(&|s| 1.0 - p(s, b, r), threshold, 1.0);
                let err = fp * fp_weight + fneg * fn_weight;
                if err < best.0 {
                    best = (err, b, r);
                }
            }
        }
        Ok(LshParams { threshold, num_perm, bands: best.1, rows: best.2 })
    }

    /// The banding used by default: misses weigh 0.9, false candidates 0.1.
    pub fn for_threshold(threshold: f64, num_perm: usize) -> Result<LshParams, TextError> {
        LshParams::optimal(threshold, num_perm, 0.1, 0.9)
    }

    fn band_key(&self, sig: &[u32], band: usize) -> u64 {
        let mut h = band as u64;
        for &v in &sig[band * self.rows..(band + 1) * self.rows] {
            h = splitmix64(h ^ v as u64);
        }
        h
    }
}

/// A band key is already a well-mixed hash; hashing it again would only cost time.
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | b as u64;
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

type Buckets = HashMap<u64, Vec<u32>, BuildHasherDefault<KeyHasher>>;

/// An earlier text found similar to a new one.
#[derive(Debug, Clone, PartialEq)]
pub struct Match<K> {
    pub id: K,
    /// Exact Jaccard similarity of the two 3-gram sets.
    pub similarity: f64,
}

/// An incremental index for intake: "which earlier cases look like this one?". Each text is
/// queried against everything inserted before it, then added.
pub struct NearDupIndex<K> {
    params: LshParams,
    hasher: MinHasher,
    bands: Vec<Buckets>,
    sets: Vec<Vec<u64>>,
    ids: Vec<K>,
    sig: Vec<u32>,
}

impl<K: Clone> NearDupIndex<K> {
    pub fn new(params: LshParams, seed: u64) -> Result<NearDupIndex<K>, TextError> {
        let hasher = MinHasher::new(params.num_perm, seed)?;
        Ok(NearDupIndex {
            bands: (0..params.bands).map(|_| Buckets::default()).collect(),
            sig: vec![0; params.num_perm],
            params,
            hasher,
            sets: Vec::new(),
            ids: Vec::new(),
        })
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Earlier texts with Jaccard ≥ the threshold, most similar first.
    pub fn query(&mut self, text: &str) -> Vec<Match<K>> {
        let set = shingles(text);
        self.hasher.signature(&set, &mut self.sig);
        self.candidates(&set)
    }

    /// Queries, then adds the text under `id`; returns the matches among earlier texts.
    pub fn insert(&mut self, id: K, text: &str) -> Vec<Match<K>> {
        let set = shingles(text);
        self.hasher.signature(&set, &mut self.sig);
        let found = self.candidates(&set);
        self.store(id, set);
        found
    }

    /// Adds a text without looking for its near-duplicates: what intake needs, since a burst
    /// of identical reports (a power cut, a flood) would otherwise make every addition verify
    /// against all the earlier ones.
    pub fn add(&mut self, id: K, text: &str) {
        let set = shingles(text);
        self.hasher.signature(&set, &mut self.sig);
        self.store(id, set);
    }

    /// Files a text's shingles under its band keys (`self.sig` holds its signature).
    fn store(&mut self, id: K, set: Vec<u64>) {
        if !set.is_empty() {
            let n = self.ids.len() as u32;
            for b in 0..self.params.bands {
                let key = self.params.band_key(&self.sig, b);
                self.bands[b].entry(key).or_default().push(n);
            }
        }
        self.sets.push(set);
        self.ids.push(id);
    }

    fn candidates(&self, set: &[u64]) -> Vec<Match<K>> {
        if set.is_empty() {
            return Vec::new();
        }
        let mut cand: Vec<u32> = Vec::new();
        for b in 0..self.params.bands {
            if let Some(v) = self.bands[b].get(&self.params.band_key(&self.sig, b)) {
                cand.extend_from_slice(v);
            }
        }
        cand.sort_unstable();
        cand.dedup();
        let mut out: Vec<Match<K>> = cand
            .into_iter()
            .filter_map(|i| {
                let s = jaccard(set, &self.sets[i as usize]);
                (s >= self.params.threshold).then(|| Match { id: self.ids[i as usize].clone(), similarity: s })
            })
            .collect();
        out.sort_by(|a, b| b.similarity.total_cmp(&a.similarity));
        out
    }
}

/// A pair of texts of a batch (indices, `a < b`) and their exact Jaccard similarity.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DuplicatePair {
    pub a: usize,
    pub b: usize,
    pub similarity: f64,
}

/// All pairs of a batch with Jaccard ≥ the threshold found by MinHash LSH, each verified
/// exactly, sorted by (a, b). Signatures, bands and verification run in parallel.
pub fn all_pairs(texts: &[&str], params: &LshParams, seed: u64) -> Result<Vec<DuplicatePair>, TextError> {
    let hasher = MinHasher::new(params.num_perm, seed)?;
    let sets: Vec<Vec<u64>> = texts.par_iter().map(|t| shingles(t)).collect();
    let np = params.num_perm;
    let mut sigs = vec![0u32; sets.len() * np];
    sigs.par_chunks_mut(np).zip(&sets).for_each(|(out, s)| hasher.signature(s, out));
    let mut cand: Vec<u64> = (0..params.bands)
        .into_par_iter()
        .flat_map_iter(|b| {
            let mut keys: Vec<(u64, u32)> = (0..sets.len())
                .filter(|&i| !sets[i].is_empty())
                .map(|i| (params.band_key(&sigs[i * np..(i + 1) * np], b), i as u32))
                .collect();
            keys.sort_unstable();
            let mut pairs = Vec::new();
            for run in keys.chunk_by(|x, y| x.0 == y.0) {
                for (k, x) in run.iter().enumerate() {
                    for y in &run[k + 1..] {
                        pairs.push(((x.1 as u64) << 32) | y.1 as u64);
                    }
                }
            }
            pairs
        })
        .collect();
    cand.par_sort_unstable();
    cand.dedup();
    Ok(verify(&sets, &cand, params.threshold))
}

fn verify(sets: &[Vec<u64>], cand: &[u64], threshold: f64) -> Vec<DuplicatePair> {
    cand.par_iter()
        .filter_map(|&p| {
            let (a, b) = ((p >> 32) as usize, (p & 0xFFFF_FFFF) as usize);
            // J ≥ T exactly when the overlap reaches T/(1+T)·(|A| + |B|); most candidates fail
            // that early, and only those that pass get their exact similarity.
            let need = (threshold / (1.0 + threshold) * (sets[a].len() + sets[b].len()) as f64 - 1e-9).ceil().max(0.0) as usize;
            if !overlap_at_least(&sets[a], &sets[b], need) {
                return None;
            }
            let s = jaccard(&sets[a], &sets[b]);
            (s >= threshold).then_some(DuplicatePair { a, b, similarity: s })
        })
        .collect()
}

/// Every pair with Jaccard ≥ `threshold`, exactly (the ground truth MinHash is measured
/// against), by prefix filtering with positions (PPJoin): with shingles ordered rarest first,
/// two sets with Jaccard ≥ T share a shingle among the first |x| − ⌈T·|x|⌉ + 1 of the larger
/// and the first |y| − ⌈2T/(1+T)·|y|⌉ + 1 of the smaller, and need an overlap of at least
/// ⌈T/(1+T)·(|x| + |y|)⌉, which the positions of a shared shingle bound from above.
/// Sorted by (a, b).
pub fn exact_pairs(texts: &[&str], threshold: f64) -> Result<Vec<DuplicatePair>, TextError> {
    if !(threshold > 0.0 && threshold <= 1.0) {
        return Err(setting("threshold", format!("must be in (0, 1], got {threshold}")));
    }
    let t = threshold;
    let sets: Vec<Vec<u64>> = texts.par_iter().map(|t| shingles(t)).collect();
    let mut freq: HashMap<u64, u32> = HashMap::new();
    for s in &sets {
        for &x in s {
            *freq.entry(x).or_default() += 1;
        }
    }
    let mut order: Vec<(u32, u64)> = freq.iter().map(|(&x, &f)| (f, x)).collect();
    order.sort_unstable();
    let rank: HashMap<u64, u32> = order.iter().enumerate().map(|(i, &(_, x))| (x, i as u32)).collect();
    let ranked: Vec<Vec<u32>> = sets
        .iter()
        .map(|s| {
            let mut v: Vec<u32> = s.iter().map(|x| rank[x]).collect();
            v.sort_unstable();
            v
        })
        .collect();
    let mut by_size: Vec<usize> = (0..sets.len()).filter(|&i| !sets[i].is_empty()).collect();
    by_size.sort_by_key(|&i| (sets[i].len(), i));
    // Rounding errors must only ever lengthen prefixes and lower bounds, never the reverse.
    let ceil = |v: f64| (v - 1e-9).ceil().max(0.0) as usize;
    let probe = |n: usize| (n + 1).saturating_sub(ceil(t * n as f64)).clamp(1, n);
    let indexed = |n: usize| (n + 1).saturating_sub(ceil(2.0 * t / (1.0 + t) * n as f64)).clamp(1, n);
    // Every set's indexing prefix, in order of size: a probe reads a list only up to the
    // probing set's own place, so the probes are independent and run in parallel.
    let mut index: Vec<Vec<(u32, u32)>> = vec![Vec::new(); order.len()];
    for (pos, &x) in by_size.iter().enumerate() {
        for (j, &tok) in ranked[x][..indexed(ranked[x].len())].iter().enumerate() {
            index[tok as usize].push((pos as u32, j as u32));
        }
    }
    const DEAD: u32 = u32::MAX;
    let mut cand: Vec<u64> = (0..by_size.len())
        .into_par_iter()
        .map_init(
            || (vec![0u32; by_size.len()], Vec::new()),
            |(overlap, touched), pos| {
                let x = by_size[pos];
                let n = ranked[x].len();
                let min_len = t * n as f64 - 1e-9;
                for (i, &tok) in ranked[x][..probe(n)].iter().enumerate() {
                    let list = &index[tok as usize];
                    // Lists are in order of size: skip the sets too small to reach T at once.
                    let from = list.partition_point(|&(py, _)| (ranked[by_size[py as usize]].len() as f64) < min_len);
                    for &(py, j) in &list[from..] {
                        if py as usize >= pos {
                            break;
                        }
                        let ny = ranked[by_size[py as usize]].len();
                        if overlap[py as usize] == DEAD {
                            continue;
                        }
                        let need = ceil(t / (1.0 + t) * (n + ny) as f64);
                        let acc = overlap[py as usize] as usize;
                        if acc == 0 {
                            touched.push(py);
                        }
                        overlap[py as usize] = if acc + 1 + (n - i - 1).min(ny - j as usize - 1) >= need { acc as u32 + 1 } else { DEAD };
                    }
                }
                let mut out = Vec::new();
                for &py in touched.iter() {
                    if overlap[py as usize] != DEAD {
                        let y = by_size[py as usize];
                        let (a, b) = (x.min(y) as u64, x.max(y) as u64);
                        out.push((a << 32) | b);
                    }
                    overlap[py as usize] = 0;
                }
                touched.clear();
                out
            },
        )
        .flatten_iter()
        .collect();
    cand.sort_unstable();
    // Most candidates fail: count the overlap with early exit once the rest cannot reach the
    // overlap needed, and take the exact similarity only of those that pass.
    let pass: Vec<u64> = cand
        .into_par_iter()
        .filter(|&p| {
            let (a, b) = (&ranked[(p >> 32) as usize], &ranked[(p & 0xFFFF_FFFF) as usize]);
            overlap_at_least(a, b, ceil(t / (1.0 + t) * (a.len() + b.len()) as f64))
        })
        .collect();
    Ok(verify(&sets, &pass, threshold))
}

/// Do two sorted sets share at least `need` elements? Stops as soon as the answer is known.
fn overlap_at_least<T: Ord>(a: &[T], b: &[T], need: usize) -> bool {
    let (mut i, mut j, mut inter) = (0, 0, 0);
    while i < a.len() && j < b.len() {
        if inter >= need {
            return true;
        }
        if inter + (a.len() - i).min(b.len() - j) < need {
            return false;
        }
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                inter += 1;
                i += 1;
                j += 1;
            }
        }
    }
    inter >= need
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding_and_shingles() {
        assert_eq!(fold("  Ｈｅｌｌｏ，　World!! "), "hello world");
        assert_eq!(fold("噪音，太吵了！！"), "噪音 太吵了");
        assert_eq!(shingles("abcd").len(), 2);
        assert_eq!(shingles("ab"), shingles("AB"));
        assert!(shingles(" ,. ").is_empty());
        assert_eq!(jaccard(&shingles("abcd"), &shingles("abce")), 1.0 / 3.0);
    }

    #[test]
    fn banding_fits_the_permutations() {
        let p = LshParams::optimal(0.8, 128, 0.5, 0.5).unwrap();
        assert!(p.bands * p.rows <= 128 && p.bands > 1 && p.rows > 1, "{p:?}");
        assert!(LshParams::optimal(0.0, 128, 0.5, 0.5).is_err());
    }
}

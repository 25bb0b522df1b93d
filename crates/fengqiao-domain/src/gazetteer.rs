//! Placing an address without a point: the regions' names (with and without their suffix:
//! 枫桥镇 and 枫桥), their English names and their aliases (known places) are searched in the
//! address, and the deepest region whose own name and ancestors' names best explain the
//! address wins. Two equally good answers in different places resolve to their common
//! ancestor, never to a guess.

use std::collections::HashMap;

use aho_corasick::{AhoCorasick, MatchKind};

use crate::region::{Region, RegionCode};

/// Suffixes of Chinese place names that addresses often leave out.
const SUFFIXES: &[&str] = &["街道办事处", "街道", "居委会", "村委会", "社区", "网格", "镇", "乡", "村", "县", "区", "市"];

/// Lower-cases, folds full-width ASCII to half-width and drops spaces and punctuation that
/// addresses sprinkle freely.
pub fn normalise(s: &str) -> String {
    s.chars()
        .filter_map(|c| {
            let c = match c as u32 {
                0xFF01..=0xFF5E => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
                0x3000 => ' ',
                _ => c,
            };
            if c.is_whitespace() || matches!(c, ',' | '，' | '、' | '.' | '。' | '-' | '·' | '(' | ')' | '（' | '）') {
                None
            } else {
                Some(c.to_lowercase().next().unwrap_or(c))
            }
        })
        .collect()
}

/// Where an address was placed, and the names that placed it there.
#[derive(Debug, Clone, PartialEq)]
pub struct Placement {
    pub region: RegionCode,
    pub matched: Vec<String>,
}

pub struct Gazetteer {
    matcher: Option<AhoCorasick>,
    /// For each pattern: the regions it names (a name may be shared).
    owners: Vec<Vec<usize>>,
    patterns: Vec<String>,
    codes: Vec<RegionCode>,
    by_code: HashMap<String, usize>,
}

impl Gazetteer {
    pub fn new(regions: &[Region]) -> Gazetteer {
        let mut index: HashMap<String, usize> = HashMap::new();
        let mut patterns: Vec<String> = Vec::new();
        let mut owners: Vec<Vec<usize>> = Vec::new();
        let mut add = |name: &str, r: usize, patterns: &mut Vec<String>, owners: &mut Vec<Vec<usize>>| {
            let n = normalise(name);
            // One-character names ("东", "新") match everywhere; they place nothing.
            if n.chars().count() < 2 {
                return;
            }
            let k = *index.entry(n.clone()).or_insert_with(|| {
                patterns.push(n);
                owners.push(Vec::new());
                patterns.len() - 1
            });
            if !owners[k].contains(&r) {
                owners[k].push(r);
            }
        };
        for (i, r) in regions.iter().enumerate() {
            add(&r.name, i, &mut patterns, &mut owners);
            if let Some(stem) = SUFFIXES.iter().find_map(|s| r.name.strip_suffix(s)) {
                add(stem, i, &mut patterns, &mut owners);
            }
            if let Some(en) = &r.name_en {
                add(en, i, &mut patterns, &mut owners);
            }
            for a in &r.aliases {
                add(a, i, &mut patterns, &mut owners);
            }
        }
        let matcher = if patterns.is_empty() { None } else { AhoCorasick::builder().match_kind(MatchKind::Standard).build(&patterns).ok() };
        Gazetteer {
            matcher,
            owners,
            patterns,
            codes: regions.iter().map(|r| r.code.clone()).collect(),
            by_code: regions.iter().enumerate().map(|(i, r)| (r.code.as_str().to_string(), i)).collect(),
        }
    }

    /// The region an address names, if any name in it is known.
    pub fn place(&self, address: &str) -> Option<Placement> {
        let text = normalise(address);
        let matcher = self.matcher.as_ref()?;
        // Every region named, with the longest name that named it.
        let mut named: HashMap<usize, (usize, &str)> = HashMap::new();
        for m in matcher.find_overlapping_iter(&text) {
            let pat = m.pattern().as_usize();
            for &r in &self.owners[pat] {
                let len = self.patterns[pat].chars().count();
                let e = named.entry(r).or_insert((0, ""));
                if len > e.0 {
                    *e = (len, &self.patterns[pat]);
                }
            }
        }
        if named.is_empty() {
            return None;
        }
        // Score each named region by how much of its chain of ancestors the address names:
        // "枫桥镇新村" prefers the 新村 under 枫桥镇 to the other 新村s.
        let score = |r: usize| -> (usize, usize, usize) {
            let mut support = 0;
            let mut chars = 0;
            let mut code = Some(self.codes[r].clone());
            while let Some(c) = code {
                if let Some(&i) = self.by_code.get(c.as_str())
                    && let Some((len, _)) = named.get(&i)
                {
                    support += 1;
                    chars += len;
                }
                code = c.parent();
            }
            (support, chars, self.codes[r].as_str().len())
        };
        let mut scored: Vec<(usize, (usize, usize, usize))> = named.keys().map(|&r| (r, score(r))).collect();
        scored.sort_by(|a, b| b.1.cmp(&a.1).then(self.codes[a.0].cmp(&self.codes[b.0])));
        let best = scored[0].1;
        let tied: Vec<usize> = scored.iter().take_while(|(_, s)| *s == best).map(|(r, _)| *r).collect();
        let region = if tied.len() == 1 { self.codes[tied[0]].clone() } else { common_ancestor(tied.iter().map(|&r| &self.codes[r]))? };
        let mut matched: Vec<(usize, String)> = Vec::new();
        let mut code = Some(region.clone());
        while let Some(c) = code {
            if let Some(&i) = self.by_code.get(c.as_str())
                && let Some((_, name)) = named.get(&i)
            {
                matched.push((c.as_str().len(), name.to_string()));
            }
            code = c.parent();
        }
        if matched.is_empty() {
            // The common ancestor itself was not named: report what was.
            matched = tied.iter().filter_map(|r| named.get(r)).map(|(_, n)| (0, n.to_string())).collect();
        }
        matched.reverse();
        Some(Placement { region, matched: matched.into_iter().map(|(_, n)| n).collect() })
    }
}

fn common_ancestor<'a>(mut codes: impl Iterator<Item = &'a RegionCode>) -> Option<RegionCode> {
    let first = codes.next()?.clone();
    codes.try_fold(first, |acc, c| {
        let mut a = Some(acc);
        while let Some(x) = a {
            if x.contains(c) {
                return Some(x);
            }
            a = x.parent();
        }
        None
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(code: &str, name: &str) -> Region {
        Region::new(RegionCode::parse(code).unwrap(), name, 100)
    }

    fn county() -> Vec<Region> {
        let mut v = vec![
            r("330681000000", "枫溪县"),
            r("330681101000", "枫桥镇"),
            r("330681102000", "店口镇"),
            r("330681101201", "新村"),
            r("330681102201", "新村"),
            r("330681102202", "湖西村"),
        ];
        v[5].aliases.push("店口农贸市场".into());
        v[1].name_en = Some("Fengqiao Town".into());
        v
    }

    #[test]
    fn an_address_finds_the_deepest_named_place() {
        let g = Gazetteer::new(&county());
        let p = g.place("浙江省枫溪县枫桥镇新村3组12号").unwrap();
        assert_eq!(p.region.as_str(), "330681101201");
        assert_eq!(p.matched, vec!["枫溪县", "枫桥镇", "新村"]);
        // Without the suffix, and with full-width digits and spaces.
        assert_eq!(g.place("店口 新村 ３号").unwrap().region.as_str(), "330681102201");
        // A landmark names its village.
        assert_eq!(g.place("店口农贸市场门口").unwrap().region.as_str(), "330681102202");
        assert_eq!(g.place("near fengqiao town hall").unwrap().region.as_str(), "330681101000");
    }

    #[test]
    fn an_ambiguous_name_stops_at_the_common_ancestor() {
        let g = Gazetteer::new(&county());
        let p = g.place("新村小卖部旁").unwrap();
        assert_eq!(p.region.as_str(), "330681000000", "two 新村 in different towns: only the county is certain");
        assert!(g.place("火星基地").is_none());
    }
}

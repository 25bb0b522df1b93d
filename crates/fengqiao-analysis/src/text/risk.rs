//! Urgency and escalation risk (风险研判): threats, violence, self-harm, weapons, group
//! gatherings and petitions, in Chinese and English, plus a "repeat dispute between the same
//! parties" flag; a score, a level and the matched evidence.
//!
//! Each kind of signal counts once, at the weight of its strongest match; the score is the
//! probability-style union 1 − Πₖ(1 − wₖ), so two independent signals outrank either alone and
//! the score stays in [0, 1]. A match right after a Chinese negation ("没有", "未") or within three words of an English one
//! ("not", "never")
//! does not count.

use serde::{Deserialize, Serialize};
use unicode_segmentation::UnicodeSegmentation;

use super::tokenize::normalize;
use super::{TextError, setting};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RiskKind {
    SelfHarm,
    Threat,
    Violence,
    Weapon,
    Gathering,
    Petition,
    /// The same parties have disputed before (an input flag, not found in the text).
    Repeat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RiskLevel {
    None,
    Yellow,
    Orange,
    Red,
}

impl RiskLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            RiskLevel::None => "none",
            RiskLevel::Yellow => "yellow",
            RiskLevel::Orange => "orange",
            RiskLevel::Red => "red",
        }
    }
}

/// Level thresholds on the score, and the weight of the repeat flag.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RiskConfig {
    pub red: f64,
    pub orange: f64,
    pub yellow: f64,
    pub repeat_weight: f64,
}

impl Default for RiskConfig {
    fn default() -> Self {
        RiskConfig { red: 0.8, orange: 0.5, yellow: 0.25, repeat_weight: 0.3 }
    }
}

impl RiskConfig {
    pub fn new(red: f64, orange: f64, yellow: f64, repeat_weight: f64) -> Result<RiskConfig, TextError> {
        if !(0.0 < yellow && yellow <= orange && orange <= red && red <= 1.0) {
            return Err(setting("risk thresholds", format!("need 0 < yellow ≤ orange ≤ red ≤ 1, got {yellow}, {orange}, {red}")));
        }
        if !(0.0..1.0).contains(&repeat_weight) {
            return Err(setting("repeat_weight", "must be in [0, 1)"));
        }
        Ok(RiskConfig { red, orange, yellow, repeat_weight })
    }

    pub fn level(&self, score: f64) -> RiskLevel {
        if score >= self.red {
            RiskLevel::Red
        } else if score >= self.orange {
            RiskLevel::Orange
        } else if score >= self.yellow {
            RiskLevel::Yellow
        } else {
            RiskLevel::None
        }
    }
}

/// One matched signal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    pub kind: RiskKind,
    /// The words of the text that matched (normalised).
    pub matched: String,
    pub weight: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RiskAssessment {
    pub score: f64,
    pub level: RiskLevel,
    /// Every signal that counted, strongest first.
    pub evidence: Vec<Evidence>,
}

impl RiskAssessment {
    /// Orange or red: escalate now.
    pub fn high(&self) -> bool {
        self.level >= RiskLevel::Orange
    }
}

use RiskKind::*;

/// Chinese patterns, matched as substrings of the normalised text.
const ZH: &[(&str, RiskKind, f64)] = &[
    ("不想活", SelfHarm, 0.9),
    ("活不下去", SelfHarm, 0.85),
    ("跳楼", SelfHarm, 0.9),
    ("跳河", SelfHarm, 0.9),
    ("喝农药", SelfHarm, 0.9),
    ("喝药", SelfHarm, 0.85),
    ("自杀", SelfHarm, 0.9),
    ("轻生", SelfHarm, 0.85),
    ("寻死", SelfHarm, 0.85),
    ("一死了之", SelfHarm, 0.9),
    ("死给你们看", SelfHarm, 0.9),
    ("割腕", SelfHarm, 0.9),
    ("同归于尽", Threat, 0.9),
    ("弄死", Threat, 0.75),
    ("打死", Threat, 0.7),
    ("砍死", Threat, 0.85),
    ("杀了", Threat, 0.8),
    ("要他的命", Threat, 0.8),
    ("要你的命", Threat, 0.8),
    ("报复", Threat, 0.6),
    ("放火", Threat, 0.8),
    ("烧了他", Threat, 0.8),
    ("炸了", Threat, 0.75),
    ("让他好看", Threat, 0.6),
    ("走着瞧", Threat, 0.5),
    ("不会放过", Threat, 0.6),
    ("扬言", Threat, 0.6),
    ("威胁", Threat, 0.55),
    ("恐吓", Threat, 0.55),
    ("打人", Violence, 0.6),
    ("打伤", Violence, 0.65),
    ("殴打", Violence, 0.65),
    ("打架", Violence, 0.55),
    ("斗殴", Violence, 0.65),
    ("动手", Violence, 0.5),
    ("推搡", Violence, 0.5),
    ("打了我", Violence, 0.6),
    ("被打", Violence, 0.6),
    ("持刀", Weapon, 0.8),
    ("拿刀", Weapon, 0.8),
    ("菜刀", Weapon, 0.65),
    ("砍刀", Weapon, 0.7),
    ("刀子", Weapon, 0.6),
    ("棍棒", Weapon, 0.55),
    ("铁棍", Weapon, 0.6),
    ("汽油", Weapon, 0.6),
    ("枪", Weapon, 0.6),
    ("炸药", Weapon, 0.85),
    ("聚集", Gathering, 0.5),
    ("围堵", Gathering, 0.55),
    ("堵路", Gathering, 0.5),
    ("拉横幅", Gathering, 0.55),
    ("拉条幅", Gathering, 0.55),
    ("集体去", Gathering, 0.5),
    ("一起去", Gathering, 0.4),
    ("几十人", Gathering, 0.5),
    ("上百人", Gathering, 0.55),
    ("一群人", Gathering, 0.45),
    ("静坐", Gathering, 0.5),
    ("闹事", Gathering, 0.5),
    ("上访", Petition, 0.5),
    ("信访", Petition, 0.35),
    ("越级", Petition, 0.5),
    ("去北京", Petition, 0.55),
    ("到北京", Petition, 0.55),
    ("进京", Petition, 0.55),
    ("去省里", Petition, 0.5),
    ("到省里", Petition, 0.5),
    ("找媒体", Petition, 0.4),
    ("曝光", Petition, 0.35),
];

/// English patterns, matched as whole-word sequences; a trailing `*` matches any ending.
const EN: &[(&str, RiskKind, f64)] = &[
    ("kill myself", SelfHarm, 0.9),
    ("end my life", SelfHarm, 0.9),
    ("take my own life", SelfHarm, 0.9),
    ("suicid*", SelfHarm, 0.9),
    ("jump off", SelfHarm, 0.8),
    ("no reason to live", SelfHarm, 0.85),
    ("can't go on", SelfHarm, 0.75),
    ("cannot go on", SelfHarm, 0.75),
    ("kill him", Threat, 0.8),
    ("kill her", Threat, 0.8),
    ("kill them", Threat, 0.8),
    ("kill you", Threat, 0.8),
    ("going to kill", Threat, 0.8),
    ("threat*", Threat, 0.6),
    ("revenge", Threat, 0.6),
    ("make him pay", Threat, 0.55),
    ("make them pay", Threat, 0.55),
    ("burn down", Threat, 0.8),
    ("set fire", Threat, 0.8),
    ("blow up", Threat, 0.75),
    ("hit me", Violence, 0.6),
    ("hit him", Violence, 0.6),
    ("hit her", Violence, 0.6),
    ("punch*", Violence, 0.6),
    ("beat me", Violence, 0.65),
    ("beat him", Violence, 0.65),
    ("beat her", Violence, 0.65),
    ("beaten", Violence, 0.65),
    ("assault*", Violence, 0.65),
    ("attack*", Violence, 0.6),
    ("fight*", Violence, 0.5),
    ("fist fight", Violence, 0.6),
    ("knife", Weapon, 0.75),
    ("knives", Weapon, 0.75),
    ("machete", Weapon, 0.8),
    ("gun", Weapon, 0.8),
    ("guns", Weapon, 0.8),
    ("petrol", Weapon, 0.6),
    ("gasoline", Weapon, 0.6),
    ("iron bar", Weapon, 0.6),
    ("explosive*", Weapon, 0.85),
    ("block the road", Gathering, 0.5),
    ("blockade", Gathering, 0.55),
    ("protest*", Gathering, 0.5),
    ("banner*", Gathering, 0.45),
    ("sit-in", Gathering, 0.5),
    ("gather*", Gathering, 0.45),
    ("mob", Gathering, 0.55),
    ("dozens of", Gathering, 0.4),
    ("all the villagers", Gathering, 0.45),
    ("petition*", Petition, 0.5),
    ("go to beijing", Petition, 0.55),
    ("provincial government", Petition, 0.45),
    ("higher authorities", Petition, 0.45),
    ("go to the media", Petition, 0.4),
    ("call the media", Petition, 0.4),
];

const NEG_ZH: &[&str] = &["没有", "没", "未", "不会", "并未", "别"];
const NEG_EN: &[&str] = &["no", "not", "never", "didn't", "don't", "won't", "without", "nobody", "wasn't", "weren't"];

/// Scores `text`; `repeat_dispute` says the same parties have disputed before.
pub fn assess_risk(text: &str, repeat_dispute: bool, config: &RiskConfig) -> RiskAssessment {
    let norm = normalize(text);
    let mut evidence: Vec<Evidence> = Vec::new();
    for &(pat, kind, weight) in ZH {
        for (at, _) in norm.match_indices(pat) {
            let before: String = norm[..at].chars().rev().take(3).collect::<Vec<_>>().into_iter().rev().collect();
            if !NEG_ZH.iter().any(|n| before.ends_with(n)) {
                evidence.push(Evidence { kind, matched: pat.to_string(), weight });
                break;
            }
        }
    }
    // Apostrophes are part of words under UAX #29 ("can't"), which the patterns expect.
    let words: Vec<&str> = norm.unicode_words().collect();
    for &(pat, kind, weight) in EN {
        let p: Vec<&str> = pat.split(' ').collect();
        for start in 0..words.len() {
            if start + p.len() > words.len() {
                break;
            }
            let hit = p.iter().zip(&words[start..]).all(|(pw, w)| match pw.strip_suffix('*') {
                Some(stem) => w.starts_with(stem),
                None => w == pw,
            });
            let negated = words[start.saturating_sub(3)..start].iter().any(|w| NEG_EN.contains(w));
            if hit && !negated {
                evidence.push(Evidence { kind, matched: words[start..start + p.len()].join(" "), weight });
                break;
            }
        }
    }
    if repeat_dispute && config.repeat_weight > 0.0 {
        evidence.push(Evidence { kind: Repeat, matched: "repeat dispute between the same parties".into(), weight: config.repeat_weight });
    }
    evidence.sort_by(|a, b| b.weight.total_cmp(&a.weight).then(a.kind.cmp(&b.kind)));
    let mut strongest: Vec<(RiskKind, f64)> = Vec::new();
    for e in &evidence {
        if !strongest.iter().any(|s| s.0 == e.kind) {
            strongest.push((e.kind, e.weight));
        }
    }
    let score = 1.0 - strongest.iter().map(|s| 1.0 - s.1).product::<f64>();
    RiskAssessment { score, level: config.level(score), evidence }
}

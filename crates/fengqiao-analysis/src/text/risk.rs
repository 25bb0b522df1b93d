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

use super::risk_model::RiskModel;
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
    /// The learned model ([`super::risk_model`]) judges the text high risk; its evidence names
    /// the features behind that.
    Learned,
}

impl RiskKind {
    /// The name it is serialised under.
    pub fn as_str(self) -> &'static str {
        match self {
            SelfHarm => "self_harm",
            Threat => "threat",
            Violence => "violence",
            Weapon => "weapon",
            Gathering => "gathering",
            Petition => "petition",
            Repeat => "repeat",
            Learned => "learned",
        }
    }
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

/// Level thresholds on the score, and the weight of the repeat flag; checked on construction
/// and when read from configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawRiskConfig")]
pub struct RiskConfig {
    red: f64,
    orange: f64,
    yellow: f64,
    repeat_weight: f64,
}

#[derive(Deserialize)]
struct RawRiskConfig {
    red: f64,
    orange: f64,
    yellow: f64,
    repeat_weight: f64,
}

impl TryFrom<RawRiskConfig> for RiskConfig {
    type Error = TextError;
    fn try_from(r: RawRiskConfig) -> Result<RiskConfig, TextError> {
        RiskConfig::new(r.red, r.orange, r.yellow, r.repeat_weight)
    }
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

    pub fn repeat_weight(&self) -> f64 {
        self.repeat_weight
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

/// Chinese patterns, matched as substrings of the normalised text; `…` stands for up to
/// four characters of the same clause (no punctuation), so "跳…楼" matches 跳楼 and 从楼顶跳下楼
/// alike but not across a sentence.
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
    ("遗书", SelfHarm, 0.85),
    ("不活了", SelfHarm, 0.85),
    ("活够了", SelfHarm, 0.85),
    ("自残", SelfHarm, 0.85),
    ("伤害自己", SelfHarm, 0.85),
    ("跳下去", SelfHarm, 0.75),
    ("想死", SelfHarm, 0.8),
    ("死了算了", SelfHarm, 0.85),
    ("不如死了", SelfHarm, 0.85),
    ("寻短见", SelfHarm, 0.9),
    ("上吊", SelfHarm, 0.9),
    ("烧炭", SelfHarm, 0.85),
    ("活着没意思", SelfHarm, 0.85),
    ("结束生命", SelfHarm, 0.9),
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
    ("让我好看", Threat, 0.6),
    ("让你好看", Threat, 0.6),
    ("走着瞧", Threat, 0.5),
    ("不会放过", Threat, 0.6),
    ("扬言", Threat, 0.6),
    ("威胁", Threat, 0.55),
    ("恐吓", Threat, 0.55),
    ("下手", Threat, 0.55),
    ("拼命", Threat, 0.65),
    ("拼了", Threat, 0.6),
    ("劈", Threat, 0.5),
    ("泼油漆", Threat, 0.6),
    ("泼粪", Threat, 0.6),
    ("砍人", Threat, 0.85),
    ("杀人", Threat, 0.85),
    ("出人命", Threat, 0.8),
    ("后果自负", Threat, 0.55),
    ("别怪我", Threat, 0.55),
    ("见血", Threat, 0.7),
    ("打断你的腿", Threat, 0.75),
    ("打断他的腿", Threat, 0.75),
    ("一条腿", Threat, 0.6),
    ("卸了", Threat, 0.6),
    ("带人来", Threat, 0.6),
    ("找人收拾", Threat, 0.7),
    ("收拾你", Threat, 0.6),
    ("收拾他", Threat, 0.6),
    ("等着瞧", Threat, 0.5),
    ("有你好看", Threat, 0.6),
    ("不得好死", Threat, 0.6),
    ("废了他", Threat, 0.7),
    ("打砸", Threat, 0.7),
    ("砸我家", Threat, 0.65),
    ("砸门", Threat, 0.6),
    ("等我出门", Threat, 0.55),
    ("堵我", Threat, 0.55),
    ("打人", Violence, 0.6),
    ("打伤", Violence, 0.65),
    ("殴打", Violence, 0.65),
    ("打架", Violence, 0.55),
    ("斗殴", Violence, 0.65),
    ("动手", Violence, 0.5),
    ("推搡", Violence, 0.5),
    ("打了我", Violence, 0.6),
    ("被打", Violence, 0.6),
    ("推下", Violence, 0.6),
    ("骨折", Violence, 0.6),
    ("打成", Violence, 0.55),
    ("鼻青脸肿", Violence, 0.65),
    ("伤人", Violence, 0.65),
    ("掐", Violence, 0.6),
    ("扇耳光", Violence, 0.6),
    ("打耳光", Violence, 0.6),
    ("家暴", Violence, 0.7),
    ("打骂", Violence, 0.55),
    ("拳打脚踢", Violence, 0.7),
    ("推倒", Violence, 0.6),
    ("打破", Violence, 0.55),
    ("流血", Violence, 0.6),
    ("砍伤", Violence, 0.75),
    ("打起来", Violence, 0.6),
    ("揍", Violence, 0.6),
    ("故意撞", Violence, 0.6),
    ("捅伤", Violence, 0.7),
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
    ("斧头", Weapon, 0.7),
    ("管制刀具", Weapon, 0.8),
    ("弹弓", Weapon, 0.45),
    ("棍子", Weapon, 0.6),
    ("木棍", Weapon, 0.6),
    ("砖头", Weapon, 0.55),
    ("酒瓶", Weapon, 0.55),
    ("铁锹", Weapon, 0.5),
    ("锄头", Weapon, 0.5),
    ("硫酸", Weapon, 0.85),
    ("雷管", Weapon, 0.85),
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
    ("几百户", Gathering, 0.5),
    ("几百人", Gathering, 0.55),
    ("上千人", Gathering, 0.6),
    ("很多亲戚", Gathering, 0.5),
    ("花圈", Gathering, 0.6),
    ("医闹", Gathering, 0.6),
    ("罢工", Gathering, 0.55),
    ("停工", Gathering, 0.4),
    ("集体", Gathering, 0.45),
    ("约好", Gathering, 0.35),
    ("好多村民", Gathering, 0.5),
    ("村民们", Gathering, 0.4),
    ("工人们", Gathering, 0.4),
    ("讨说法", Gathering, 0.5),
    ("堵在", Gathering, 0.5),
    ("堵门", Gathering, 0.55),
    ("围攻", Gathering, 0.6),
    ("围住", Gathering, 0.5),
    ("游行", Gathering, 0.55),
    ("集会", Gathering, 0.5),
    ("冲击", Gathering, 0.55),
    ("群体", Gathering, 0.45),
    ("多个工人", Gathering, 0.45),
    ("多名", Gathering, 0.35),
    ("上访", Petition, 0.5),
    ("信访", Petition, 0.35),
    ("越级", Petition, 0.5),
    ("去北京", Petition, 0.55),
    ("到北京", Petition, 0.55),
    ("进京", Petition, 0.55),
    ("去省里", Petition, 0.5),
    ("到省里", Petition, 0.5),
    ("找媒体", Petition, 0.4),
    ("跳…楼", SelfHarm, 0.85),
    ("跳…河", SelfHarm, 0.85),
    ("跳…江", SelfHarm, 0.85),
    ("跳…湖", SelfHarm, 0.85),
    ("跳…水库", SelfHarm, 0.85),
    ("跳…下去", SelfHarm, 0.75),
    ("喝…药", SelfHarm, 0.8),
    ("吃…安眠药", SelfHarm, 0.85),
    ("不想…活", SelfHarm, 0.85),
    ("死…算了", SelfHarm, 0.85),
    ("打…死", Threat, 0.7),
    ("弄…死", Threat, 0.75),
    ("砍…死", Threat, 0.85),
    ("捅…死", Threat, 0.85),
    ("掐…死", Threat, 0.85),
    ("要…命", Threat, 0.7),
    ("打断…腿", Threat, 0.75),
    ("打折…腿", Threat, 0.75),
    ("腿…打折", Threat, 0.75),
    ("腿…打断", Threat, 0.75),
    ("找人…收拾", Threat, 0.7),
    ("找人…打", Threat, 0.7),
    ("叫人…打", Threat, 0.7),
    ("烧…房子", Threat, 0.8),
    ("点火…烧", Threat, 0.8),
    ("拿…刀", Weapon, 0.75),
    ("拿…棍", Weapon, 0.6),
    ("拿…斧", Weapon, 0.75),
    ("拿…砖", Weapon, 0.55),
    ("抄起", Weapon, 0.5),
    ("操起", Weapon, 0.5),
    ("推…倒", Violence, 0.55),
    ("扔…石头", Violence, 0.6),
    ("砸…头", Violence, 0.7),
    ("打…头", Violence, 0.6),
    ("打…脸", Violence, 0.6),
    ("打群架", Violence, 0.7),
    ("一帮人", Gathering, 0.5),
    ("一伙人", Gathering, 0.5),
    ("几十…人", Gathering, 0.5),
    ("上百…人", Gathering, 0.55),
    ("几百…人", Gathering, 0.55),
    ("几十号", Gathering, 0.5),
    ("围着", Gathering, 0.4),
    ("围…不让走", Gathering, 0.6),
    ("去…上访", Petition, 0.55),
    ("到…上访", Petition, 0.55),
    ("去…讨说法", Petition, 0.5),
    ("曝光", Petition, 0.35),
    ("讨个说法", Petition, 0.5),
    ("局门口", Petition, 0.45),
    ("省政府", Petition, 0.55),
    ("中央", Petition, 0.5),
    ("国务院", Petition, 0.55),
    ("信访局", Petition, 0.5),
    ("去县政府", Petition, 0.5),
    ("到县政府", Petition, 0.5),
    ("去市里", Petition, 0.5),
    ("到市里", Petition, 0.5),
    ("政府门口", Petition, 0.5),
    ("去政府", Petition, 0.5),
    ("纪委", Petition, 0.4),
];

/// English patterns, matched as whole-word sequences; a trailing `*` matches any ending, and the
/// last word also matches with the endings -s, -es, -d, -ed and -ing.
const EN: &[(&str, RiskKind, f64)] = &[
    ("kill myself", SelfHarm, 0.9),
    ("end my life", SelfHarm, 0.9),
    ("end his life", SelfHarm, 0.9),
    ("end her life", SelfHarm, 0.9),
    ("kill himself", SelfHarm, 0.9),
    ("kill herself", SelfHarm, 0.9),
    ("take my own life", SelfHarm, 0.9),
    ("suicid*", SelfHarm, 0.9),
    ("jump off", SelfHarm, 0.8),
    ("no reason to live", SelfHarm, 0.85),
    ("can't go on", SelfHarm, 0.75),
    ("cannot go on", SelfHarm, 0.75),
    ("hurt himself", SelfHarm, 0.85),
    ("hurt herself", SelfHarm, 0.85),
    ("hurt myself", SelfHarm, 0.85),
    ("harm himself", SelfHarm, 0.85),
    ("harm herself", SelfHarm, 0.85),
    ("self harm", SelfHarm, 0.85),
    ("suicide note", SelfHarm, 0.9),
    ("want to die", SelfHarm, 0.85),
    ("wants to die", SelfHarm, 0.85),
    ("better off dead", SelfHarm, 0.85),
    ("hang myself", SelfHarm, 0.9),
    ("hang himself", SelfHarm, 0.9),
    ("hang herself", SelfHarm, 0.9),
    ("overdos*", SelfHarm, 0.8),
    ("not worth living", SelfHarm, 0.85),
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
    ("shoot", Threat, 0.8),
    ("pay for this", Threat, 0.55),
    ("get even", Threat, 0.55),
    ("you'll be sorry", Threat, 0.55),
    ("there will be blood", Threat, 0.8),
    ("regret it", Threat, 0.55),
    ("knows where", Threat, 0.55),
    ("break your legs", Threat, 0.75),
    ("break his legs", Threat, 0.75),
    ("hurt you", Threat, 0.6),
    ("hurt him", Threat, 0.6),
    ("hurt them", Threat, 0.6),
    ("come after", Threat, 0.6),
    ("watch your back", Threat, 0.6),
    ("teach him a lesson", Threat, 0.55),
    ("teach you a lesson", Threat, 0.55),
    ("at our door", Threat, 0.3),
    ("do worse", Threat, 0.55),
    ("hit me", Violence, 0.6),
    ("hit him", Violence, 0.6),
    ("hit her", Violence, 0.6),
    ("hit my", Violence, 0.6),
    ("hit his", Violence, 0.6),
    ("beat his", Violence, 0.65),
    ("beat my", Violence, 0.65),
    ("beat up", Violence, 0.65),
    ("stab*", Violence, 0.75),
    ("kick*", Violence, 0.5),
    ("punch*", Violence, 0.6),
    ("beat me", Violence, 0.65),
    ("beat him", Violence, 0.65),
    ("beat her", Violence, 0.65),
    ("beaten", Violence, 0.65),
    ("assault*", Violence, 0.65),
    ("attack*", Violence, 0.6),
    ("fight*", Violence, 0.5),
    ("fist fight", Violence, 0.6),
    ("broke our", Violence, 0.5),
    ("broke my", Violence, 0.5),
    ("beating", Violence, 0.6),
    ("bruis*", Violence, 0.55),
    ("fractur*", Violence, 0.55),
    ("wounded", Violence, 0.6),
    ("hit her with", Violence, 0.65),
    ("hit him with", Violence, 0.65),
    ("shov*", Violence, 0.6),
    ("slap*", Violence, 0.6),
    ("strangl*", Violence, 0.7),
    ("chok*", Violence, 0.6),
    ("bleeding", Violence, 0.6),
    ("injur*", Violence, 0.5),
    ("smash*", Violence, 0.55),
    ("domestic violence", Violence, 0.7),
    ("waving", Violence, 0.3),
    ("knife", Weapon, 0.75),
    ("knives", Weapon, 0.75),
    ("machete", Weapon, 0.8),
    ("gun", Weapon, 0.8),
    ("guns", Weapon, 0.8),
    ("petrol", Weapon, 0.6),
    ("gasoline", Weapon, 0.6),
    ("iron bar*", Weapon, 0.6),
    ("club*", Weapon, 0.4),
    ("explosive*", Weapon, 0.85),
    ("sticks", Weapon, 0.5),
    ("shovel", Weapon, 0.45),
    ("rifle", Weapon, 0.8),
    ("pistol", Weapon, 0.8),
    ("shotgun", Weapon, 0.8),
    ("crossbow", Weapon, 0.75),
    ("broken bottle", Weapon, 0.6),
    ("brick*", Weapon, 0.5),
    ("baseball bat", Weapon, 0.6),
    ("acid", Weapon, 0.7),
    ("firework*", Weapon, 0.5),
    ("axe", Weapon, 0.7),
    ("hammer", Weapon, 0.5),
    ("crowbar", Weapon, 0.6),
    ("block the road", Gathering, 0.5),
    ("blockade", Gathering, 0.55),
    ("protest*", Gathering, 0.5),
    ("banner*", Gathering, 0.5),
    ("sit in", Gathering, 0.5),
    ("gather*", Gathering, 0.5),
    ("mob", Gathering, 0.55),
    ("dozens of", Gathering, 0.4),
    ("all the villagers", Gathering, 0.45),
    ("camp* outside", Gathering, 0.55),
    ("strike", Gathering, 0.45),
    ("walkout", Gathering, 0.5),
    ("large group", Gathering, 0.45),
    ("en masse", Gathering, 0.5),
    ("march*", Gathering, 0.5),
    ("occupy", Gathering, 0.55),
    ("surround*", Gathering, 0.55),
    ("crowd*", Gathering, 0.45),
    ("hundreds of", Gathering, 0.45),
    ("rally", Gathering, 0.5),
    ("storm*", Gathering, 0.5),
    ("besieg*", Gathering, 0.6),
    ("demonstrat*", Gathering, 0.5),
    ("petition*", Petition, 0.5),
    ("go to beijing", Petition, 0.55),
    ("provincial government", Petition, 0.45),
    ("higher authorities", Petition, 0.45),
    ("go to the media", Petition, 0.4),
    ("call the media", Petition, 0.4),
    ("central government", Petition, 0.55),
    ("state council", Petition, 0.55),
    ("newspaper*", Petition, 0.35),
    ("go public", Petition, 0.4),
    ("district office", Petition, 0.4),
    ("county government", Petition, 0.45),
    ("city hall", Petition, 0.45),
    ("government office", Petition, 0.45),
];

const NEG_ZH: &[&str] = &["没有", "没", "未", "不会", "并未", "别"];
const NEG_EN: &[&str] = &["no", "not", "never", "didn't", "don't", "won't", "without", "nobody", "wasn't", "weren't"];

/// Scores `text`; `repeat_dispute` says the same parties have disputed before.
pub fn assess_risk(text: &str, repeat_dispute: bool, config: &RiskConfig) -> RiskAssessment {
    assess_risk_with(text, repeat_dispute, config, None)
}

/// The score with the learned model's signal (when a model is given and its probability
/// reaches its threshold) joining the lexicon's as one more kind, at the probability's weight.
pub fn assess_risk_with(text: &str, repeat_dispute: bool, config: &RiskConfig, model: Option<&RiskModel>) -> RiskAssessment {
    let norm = normalize(text);
    let mut evidence: Vec<Evidence> = Vec::new();
    // Every occurrence of every pattern's head, found in one pass, filed by head and in text
    // order; each pattern then takes its first occurrence that is not negated and whose tail
    // (if any) follows, as a scan per pattern would.
    let zh = zh_heads();
    let mut found: Vec<Vec<usize>> = vec![Vec::new(); zh.heads.len()];
    for m in zh.automaton.find_overlapping_iter(norm.as_str()) {
        found[m.pattern().as_usize()].push(m.start());
    }
    for (i, &(pat, kind, weight)) in ZH.iter().enumerate() {
        let (head, tail) = split_head(pat);
        for &at in &found[zh.head_of[i]] {
            let before: String = norm[..at].chars().rev().take(3).collect::<Vec<_>>().into_iter().rev().collect();
            if NEG_ZH.iter().any(|n| before.ends_with(n)) {
                continue;
            }
            let end = at + head.len();
            let matched = if tail.is_empty() { Some(end) } else { gap_match(&norm[end..], tail).map(|e| end + e) };
            if let Some(e) = matched {
                evidence.push(Evidence { kind, matched: norm[at..e].to_string(), weight });
                break;
            }
        }
    }
    // Apostrophes are part of words under UAX #29 ("can't"), which the patterns expect.
    let words: Vec<&str> = norm.unicode_words().collect();
    // Every English pattern starts with a letter a–z, so only the words that do can start a
    // match; Chinese text is one word per character under UAX #29, and skipping those keeps
    // intake's scoring cheap without changing any answer.
    let starts: Vec<usize> = (0..words.len()).filter(|&i| words[i].as_bytes().first().is_some_and(u8::is_ascii_lowercase)).collect();
    for &(pat, kind, weight) in EN {
        let p: Vec<&str> = pat.split(' ').collect();
        for &start in &starts {
            if start + p.len() > words.len() {
                break;
            }
            let last = p.len() - 1;
            let hit = p.iter().zip(&words[start..]).enumerate().all(|(i, (pw, w))| match pw.strip_suffix('*') {
                Some(stem) => w.starts_with(stem),
                None if i == last => w.strip_prefix(pw).is_some_and(|rest| ["", "s", "es", "d", "ed", "ing"].contains(&rest)),
                None => w == pw,
            });
            if hit && !words[start.saturating_sub(3)..start].iter().any(|w| NEG_EN.contains(w)) {
                evidence.push(Evidence { kind, matched: words[start..start + p.len()].join(" "), weight });
                break;
            }
        }
    }
    if let Some(signal) = model.and_then(|m| m.signal(text)) {
        evidence.push(Evidence { kind: Learned, matched: signal.words.join(" "), weight: signal.probability });
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

/// Where `tail` ends in `rest` if it starts within the first four characters of the clause.
/// A Chinese pattern's head and the tail that may follow it after a short gap (`跳…楼`).
fn split_head(pat: &str) -> (&str, &str) {
    pat.split_once('…').unwrap_or((pat, ""))
}

/// The distinct heads of the Chinese patterns in one automaton, and each pattern's head.
struct ZhHeads {
    heads: Vec<&'static str>,
    head_of: Vec<usize>,
    automaton: aho_corasick::AhoCorasick,
}

fn zh_heads() -> &'static ZhHeads {
    static HEADS: std::sync::OnceLock<ZhHeads> = std::sync::OnceLock::new();
    HEADS.get_or_init(|| {
        let mut heads: Vec<&'static str> = Vec::new();
        let head_of = ZH
            .iter()
            .map(|&(pat, _, _)| {
                let head = split_head(pat).0;
                heads.iter().position(|h| *h == head).unwrap_or_else(|| {
                    heads.push(head);
                    heads.len() - 1
                })
            })
            .collect();
        let automaton = aho_corasick::AhoCorasick::new(&heads).expect("the Chinese risk patterns build an automaton");
        ZhHeads { heads, head_of, automaton }
    })
}

fn gap_match(rest: &str, tail: &str) -> Option<usize> {
    for (n, (i, c)) in rest.char_indices().enumerate() {
        if rest[i..].starts_with(tail) {
            return Some(i + tail.len());
        }
        if n >= 4 || !c.is_alphanumeric() {
            return None;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `assess_risk` tries English patterns only at words starting with a–z: every pattern
    /// must start so, or it would silently never match.
    #[test]
    fn every_english_pattern_starts_with_a_lowercase_letter() {
        for (pat, ..) in EN {
            assert!(pat.as_bytes().first().is_some_and(u8::is_ascii_lowercase), "{pat}");
        }
    }

    #[test]
    fn english_in_chinese_text_is_still_found() {
        let r = assess_risk("邻居说 he said he would kill him 如果再吵", false, &RiskConfig::default());
        assert!(r.evidence.iter().any(|e| e.kind == RiskKind::Threat), "{r:?}");
    }
}

//! Tokenisation for Chinese and English: NFKC, lowercase, jieba for runs of Han characters,
//! Unicode word boundaries (UAX #29) for everything else, stop words of both languages removed.

use std::collections::HashSet;
use std::sync::OnceLock;

use jieba_rs::Jieba;
use unicode_normalization::UnicodeNormalization;
use unicode_segmentation::UnicodeSegmentation;

/// NFKC, then lowercase: the form every analysis compares texts in.
pub fn normalize(text: &str) -> String {
    nfkc(text).flat_map(char::to_lowercase).collect()
}

/// NFKC of `text` as characters, fast for the common case. Full-width ASCII forms (U+FF01–
/// U+FF5E) and the ideographic space, which fill Chinese text, are mapped first exactly as NFKC
/// maps them; when the quick check then says the text is already NFKC, it is taken as is,
/// else (a combining mark, a compatibility character) it goes through the full algorithm.
pub(crate) fn nfkc(text: &str) -> impl Iterator<Item = char> + '_ {
    use unicode_normalization::{IsNormalized, is_nfkc_quick};
    let narrow = |c: char| match c as u32 {
        0xFF01..=0xFF5E => char::from_u32(c as u32 - 0xFF01 + 0x21).unwrap_or(c),
        0x3000 => ' ',
        _ => c,
    };
    let quick = is_nfkc_quick(text.chars().map(narrow)) == IsNormalized::Yes;
    let (fast, slow) = if quick { (Some(text.chars().map(narrow)), None) } else { (None, Some(text.nfkc())) };
    fast.into_iter().flatten().chain(slow.into_iter().flatten())
}

/// Is `c` a Han ideograph (CJK unified, extensions, compatibility)? Runs of these go to the
/// Chinese segmenter; UAX #29 would split them into single characters.
pub fn is_han(c: char) -> bool {
    matches!(c as u32,
        0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x2A6DF | 0x2A700..=0x2EBEF | 0x30000..=0x3134F)
}

/// The segmenter with its dictionary loaded. Loading the dictionary takes a noticeable part of
/// a second, so there is one per process: [`tokenize`] uses it.
pub struct Tokenizer {
    jieba: Jieba,
}

impl Default for Tokenizer {
    fn default() -> Self {
        Tokenizer { jieba: Jieba::new() }
    }
}

impl Tokenizer {
    /// The process-wide tokenizer, built on first use.
    pub fn shared() -> &'static Tokenizer {
        static T: OnceLock<Tokenizer> = OnceLock::new();
        T.get_or_init(Tokenizer::default)
    }

    /// Tokens of `text` in order: normalised words, stop words and bare numbers removed.
    pub fn tokens(&self, text: &str) -> Vec<String> {
        self.words(text, false)
    }

    /// The tokens without people's names (jieba's part-of-speech tags `nr`, `nrfg`, `nrt`, from
    /// its dictionary or its tagging model for unknown words): the terms a trend may be about.
    /// Residents' names would otherwise burst whenever one person calls a few times, and a
    /// name is personal data, not a topic.
    pub fn topic_terms(&self, text: &str) -> Vec<String> {
        self.words(text, true)
    }

    fn words(&self, text: &str, drop_names: bool) -> Vec<String> {
        let norm = normalize(text);
        let mut out = Vec::new();
        let mut start = 0;
        let mut han = None;
        for (i, c) in norm.char_indices() {
            let h = is_han(c);
            if han.is_some_and(|prev| prev != h) {
                self.segment(&norm[start..i], han == Some(true), drop_names, &mut out);
                start = i;
            }
            han = Some(h);
        }
        if let Some(h) = han {
            self.segment(&norm[start..], h, drop_names, &mut out);
        }
        out
    }

    fn segment(&self, run: &str, han: bool, drop_names: bool, out: &mut Vec<String>) {
        if han && drop_names {
            for t in self.jieba.tag(run, true) {
                if !is_stop_zh(t.word) && !t.tag.starts_with("nr") {
                    out.push(t.word.to_string());
                }
            }
        } else if han {
            for t in self.jieba.cut(run, true) {
                if !is_stop_zh(t.word) {
                    out.push(t.word.to_string());
                }
            }
        } else {
            for w in run.unicode_words() {
                // House numbers, dates and amounts say nothing about a category and would
                // otherwise flood the vocabulary.
                if w.chars().all(|c| c.is_numeric() || c == '.' || c == ',') || is_stop_en(w) {
                    continue;
                }
                out.push(w.to_string());
            }
        }
    }
}

/// Tokens of `text` with the shared tokenizer.
pub fn tokenize(text: &str) -> Vec<String> {
    Tokenizer::shared().tokens(text)
}

fn stop_words() -> &'static HashSet<&'static str> {
    static S: OnceLock<HashSet<&'static str>> = OnceLock::new();
    S.get_or_init(|| STOP_EN.iter().chain(STOP_ZH).copied().collect())
}

fn is_stop_en(w: &str) -> bool {
    stop_words().contains(w)
}

fn is_stop_zh(w: &str) -> bool {
    stop_words().contains(w)
}

/// Is `w` (already normalised) an English or Chinese stop word?
pub fn is_stop_word(w: &str) -> bool {
    stop_words().contains(w)
}

/// English function words.
const STOP_EN: &[&str] = &[
    "a", "about", "after", "again", "all", "also", "am", "an", "and", "any", "are", "as", "at", "be", "been", "before", "being", "but",
    "by", "can", "could", "did", "do", "does", "doing", "for", "from", "had", "has", "have", "having", "he", "her", "here", "hers", "him",
    "his", "how", "i", "i'm", "if", "in", "into", "is", "it", "it's", "its", "just", "me", "more", "most", "my", "myself", "of", "off",
    "on", "once", "only", "or", "other", "our", "ours", "out", "over", "own", "same", "she", "should", "so", "some", "such", "than",
    "that", "the", "their", "them", "then", "there", "these", "they", "this", "those", "through", "to", "too", "under", "until", "up",
    "us", "very", "was", "we", "were", "what", "when", "where", "which", "while", "who", "whom", "why", "will", "with", "would", "you",
    "your", "yours",
];

/// Chinese function words and particles.
const STOP_ZH: &[&str] = &[
    "一个", "一些", "一直", "下", "与", "且", "个", "为", "为了", "么", "之", "也", "了", "些", "以", "们", "但", "但是", "你", "你们",
    "便", "其", "内", "再", "几", "则", "及", "可以", "各", "同时", "向", "吗", "吧", "呀", "呢", "和", "哦", "啊", "因为", "因此", "在",
    "她", "她们", "如果", "对", "就", "已", "已经", "并", "很", "我", "我们", "或", "或者", "所以", "把", "据", "是", "是否", "更", "最",
    "有些", "来", "此", "每", "比", "着", "等", "给", "而", "自己", "被", "让", "该", "这", "这个", "这些", "这样", "还", "那", "那个",
    "那些", "都", "里", "问", "阿", "随", "非常", "的", "着呢", "于", "从", "他", "他们", "它", "它们", "到", "得", "地",
];

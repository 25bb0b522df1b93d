//! The message catalogue: every visible string of the pages is a key looked up here, in
//! Simplified Chinese (the default) or English. Both catalogues are JSON objects compiled into
//! the binary; a test fails when a key is missing from either.

use std::collections::HashMap;
use std::sync::LazyLock;

const ZH: &str = include_str!("../../assets/i18n/zh.json");
const EN: &str = include_str!("../../assets/i18n/en.json");

/// The cookie that remembers the reader's language.
pub const LANG_COOKIE: &str = "fq_lang";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Zh,
    En,
}

impl Lang {
    pub fn parse(s: &str) -> Option<Lang> {
        match s {
            "zh" | "zh-CN" | "zh-Hans" => Some(Lang::Zh),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Lang::Zh => "zh",
            Lang::En => "en",
        }
    }

    /// The value of the `lang` attribute of `<html>`.
    pub fn html(self) -> &'static str {
        match self {
            Lang::Zh => "zh-CN",
            Lang::En => "en",
        }
    }
}

fn parse(name: &str, text: &str) -> HashMap<String, String> {
    // The catalogues are part of the source: a malformed one is a build defect the test
    // suite catches, so failing loudly at first use is right.
    serde_json::from_str(text).unwrap_or_else(|e| panic!("the {name} message catalogue is not a flat JSON object of strings: {e}"))
}

static CATALOGUES: LazyLock<[HashMap<String, String>; 2]> = LazyLock::new(|| [parse("zh", ZH), parse("en", EN)]);

/// The keys of each catalogue, for the completeness test.
pub fn keys(lang: Lang) -> Vec<String> {
    let mut k: Vec<String> = CATALOGUES[lang as usize].keys().cloned().collect();
    k.sort();
    k
}

/// A translator for one language; templates call `t.s("key")`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tr(pub Lang);

impl Tr {
    /// The message for `key`, or the key itself when missing (the tests keep that from
    /// happening).
    pub fn s<'a>(&self, key: &'a str) -> &'a str {
        match CATALOGUES[self.0 as usize].get(key) {
            Some(v) => v.as_str(),
            None => key,
        }
    }

    /// Whether the catalogue has the key.
    pub fn has(&self, key: &str) -> bool {
        CATALOGUES[self.0 as usize].contains_key(key)
    }

    /// The label of an enumerated value: `k("status", "closed")` looks up `status.closed`.
    pub fn k(&self, group: &str, value: &str) -> String {
        let key = format!("{group}.{value}");
        self.s(&key).to_string()
    }

    /// A message with `{n}` replaced.
    pub fn n(&self, key: &str, n: impl std::fmt::Display) -> String {
        self.s(key).replace("{n}", &n.to_string())
    }

    pub fn lang(&self) -> &'static str {
        self.0.code()
    }

    pub fn html_lang(&self) -> &'static str {
        self.0.html()
    }

    pub fn is_en(&self) -> bool {
        self.0 == Lang::En
    }

    /// Picks the Chinese or English name of something that has both.
    pub fn pick<'a>(&self, zh: &'a str, en: Option<&'a str>) -> &'a str {
        match (self.0, en) {
            (Lang::En, Some(e)) if !e.is_empty() => e,
            _ => zh,
        }
    }
}

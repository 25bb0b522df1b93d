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

/// Messages of the domain that pages show often, in the domain's (English) words, and the
/// catalogue keys that say them in the reader's language. Others are shown as they are.
const DOMAIN_MESSAGES: &[(&str, &str)] = &[
    ("required", "domain.required"),
    ("a reason is required", "domain.reason_required"),
    ("at most 2000 characters", "domain.max_2000"),
    ("at most 4000 characters", "domain.max_4000"),
    ("at most 300 characters", "domain.max_300"),
    ("describe the matter", "domain.describe"),
    ("say how the matter was handled", "domain.feedback"),
    ("give a region, a point or an address", "domain.location"),
    ("give both lat and lon, or neither", "domain.lat_lon"),
    ("the point lies outside the county", "domain.outside"),
    ("a phone number has 5 to 15 digits", "domain.phone"),
    ("a resident ID number has 17 digits and a check character", "domain.id_number"),
    ("the check character of the ID number does not match", "domain.id_check"),
    ("only disputes have parties", "domain.parties"),
    ("a rating needs a reached contact", "domain.rating"),
    ("the lead unit cannot also co-handle", "domain.co_lead"),
    ("the case is already with that unit", "domain.same_unit"),
    ("the case already has this severity", "domain.same_severity"),
    ("a case cannot be merged into itself", "domain.merge_self"),
    ("the target case is not open", "domain.merge_closed"),
    ("no such case", "domain.no_case"),
    ("between 1 and 2160 hours", "domain.hours"),
    ("expected routine, urgent or emergency", "domain.urgency"),
    ("expected minor, ordinary, serious or major", "domain.severity"),
    ("the FeatureCollection has no features", "domain.no_features"),
    // Residents by phone and community consultation.
    ("you have already given your support in this consultation", "domain.already_supported"),
    ("this consultation no longer takes proposals, comments or supports", "domain.consult_closed"),
    ("record where you live first", "domain.region_first"),
    ("this consultation is for residents of another region", "domain.other_region"),
    ("a resident lives in a village or community (or a grid in one)", "domain.resident_region"),
    ("the period must end in the future", "domain.period_future"),
    ("no such proposal in this consultation", "domain.no_proposal"),
    ("your region was recorded in person; ask the community to change it", "domain.region_by_staff"),
    // Mediation.
    ("the agreement has been signed and its text is frozen: correct it with a new version", "domain.mediation_frozen"),
    ("every party must consent before a session is scheduled", "domain.mediation_consent_first"),
    ("record the party's refusal in their words", "domain.mediation_refusal_words"),
    ("name a room or an online meeting, one of them", "domain.mediation_place"),
    ("the session has not started yet", "domain.mediation_not_started"),
    ("only a dispute is mediated", "domain.mediation_dispute_only"),
    ("a mediation needs at least two parties to the dispute", "domain.mediation_two_parties"),
];

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

    /// A domain message in the reader's language when the catalogue has it, else as it is.
    pub fn domain(&self, message: &str) -> String {
        match DOMAIN_MESSAGES.iter().find(|(m, _)| *m == message) {
            Some((_, key)) => self.s(key).to_string(),
            None => message.to_string(),
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Every key the templates and the page code pass as a literal to `t.s`, `t.n` or `t.has`.
    fn keys_in_source() -> Vec<String> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut texts = Vec::new();
        for dir in ["templates", "src/pages"] {
            for e in std::fs::read_dir(root.join(dir)).unwrap() {
                texts.push(std::fs::read_to_string(e.unwrap().path()).unwrap());
            }
        }
        let mut keys = Vec::new();
        for text in &texts {
            // Error pages and deadlines pass their keys around as plain literals.
            for (opener, prefix) in [("t.s(\"", ""), ("t.n(\"", ""), ("t.has(\"", ""), ("\"error.", "error."), ("\"due.", "due.")] {
                for part in text.split(opener).skip(1) {
                    let key: String = part.chars().take_while(|c| *c != '"').collect();
                    keys.push(format!("{prefix}{key}"));
                }
            }
        }
        // Template paths, format strings and this scan's own patterns are not keys.
        keys.retain(|k| !k.ends_with('.') && !k.contains('{') && !k.ends_with(".html"));
        keys.sort();
        keys.dedup();
        keys
    }

    #[test]
    fn domain_messages_are_in_both_catalogues_and_english_says_them_unchanged() {
        for (message, key) in DOMAIN_MESSAGES {
            assert!(Tr(Lang::Zh).has(key) && Tr(Lang::En).has(key), "{key}");
            assert_eq!(Tr(Lang::En).domain(message), *message, "{key}");
            assert_ne!(Tr(Lang::Zh).domain(message), *message, "{key}");
        }
        assert_eq!(Tr(Lang::Zh).domain("something else"), "something else");
    }

    #[test]
    fn both_catalogues_have_the_same_keys_and_no_empty_message() {
        let (zh, en) = (keys(Lang::Zh), keys(Lang::En));
        let only_zh: Vec<_> = zh.iter().filter(|k| !en.contains(k)).collect();
        let only_en: Vec<_> = en.iter().filter(|k| !zh.contains(k)).collect();
        assert!(only_zh.is_empty() && only_en.is_empty(), "missing in en: {only_zh:?}; missing in zh: {only_en:?}");
        for lang in [Lang::Zh, Lang::En] {
            for k in keys(lang) {
                assert!(!Tr(lang).s(&k).trim().is_empty(), "{k} is empty in {}", lang.code());
            }
        }
    }

    #[test]
    fn every_key_the_pages_use_exists() {
        let used = keys_in_source();
        assert!(used.len() > 100, "the scan found the keys ({})", used.len());
        // `key` is the error page's variable, not a literal key.
        let missing: Vec<_> = used.iter().filter(|k| k.as_str() != "key" && !(Tr(Lang::Zh).has(k) && Tr(Lang::En).has(k))).collect();
        assert!(missing.is_empty(), "keys used but not in both catalogues: {missing:?}");
    }

    #[test]
    fn every_enumerated_value_has_a_label() {
        use fengqiao_domain::*;
        let mut want: Vec<String> = Vec::new();
        want.extend(Status::ALL.iter().map(|s| format!("status.{s}")));
        want.extend(Channel::ALL.iter().map(|s| format!("channel.{s}")));
        want.extend(Urgency::ALL.iter().map(|s| format!("urgency.{s}")));
        want.extend(Severity::ALL.iter().map(|s| format!("severity.{s}")));
        want.extend(Tier::ALL.iter().map(|s| format!("tier.{s}")));
        want.extend(PartyRole::ALL.iter().map(|s| format!("party.{s}")));
        want.extend(Rating::ALL.iter().map(|s| format!("rating.{s}")));
        want.extend(ContactChannel::ALL.iter().map(|s| format!("contact.{s}")));
        want.extend(ClosureFlag::ALL.iter().map(|s| format!("closure.{s}")));
        want.extend(Role::ALL.iter().map(|s| format!("role.{}", s.as_str())));
        want.extend(UnitKind::ALL.iter().map(|s| format!("unit_kind.{}", s.as_str())));
        for a in [
            "file",
            "cancel",
            "dispatch",
            "accept",
            "start",
            "transfer",
            "escalate",
            "request_extension",
            "decide_extension",
            "defer",
            "resume",
            "resolve",
            "verify",
            "record_visit",
            "close",
            "reopen",
            "merge",
            "set_severity",
            "judge_risk",
            "route",
        ] {
            want.push(format!("action.{a}"));
        }
        for e in [
            "created",
            "filed",
            "cancelled",
            "dispatched",
            "accepted",
            "started",
            "transferred",
            "escalated",
            "extension_requested",
            "extension_decided",
            "deferred",
            "resumed",
            "resolved",
            "verified",
            "visit_recorded",
            "reworked",
            "closed",
            "reopened",
            "merged",
            "severity_changed",
            "risk_judged",
            "routed",
            "returned",
        ] {
            want.push(format!("event.{e}"));
        }
        for r in
            ["none", "yellow", "orange", "red", "self_harm", "threat", "violence", "weapon", "gathering", "petition", "repeat", "learned"]
        {
            want.push(format!("risk.{r}"));
        }
        for l in [RegionLevel::County, RegionLevel::Town, RegionLevel::Village, RegionLevel::Grid] {
            want.push(format!("level.{}", l.as_str()));
        }
        want.extend(["kind.request".to_string(), "kind.dispute".to_string()]);
        for s in ["response", "handling", "return_visit", "total"] {
            want.push(format!("stage.{s}"));
        }
        let missing: Vec<_> = want.iter().filter(|k| !(Tr(Lang::Zh).has(k) && Tr(Lang::En).has(k))).collect();
        assert!(missing.is_empty(), "labels missing: {missing:?}");
    }
}

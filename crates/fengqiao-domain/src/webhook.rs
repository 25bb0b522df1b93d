//! Outbound notifications: webhook subscriptions, which changes they hear of, their HMAC
//! signature, and the retry schedule shared with e-mail.
//!
//! A delivery's body is JSON; its signature is
//! `X-Fengqiao-Signature: sha256=HEX(HMAC-SHA256(secret, timestamp + "." + body))` with the
//! timestamp (seconds since the epoch) in `X-Fengqiao-Timestamp`, so a receiver can refuse
//! old or replayed deliveries.

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::clock::Timestamp;
use crate::error::{DomainError, FieldError};

/// What a subscription may hear of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HookKind {
    CaseCreated,
    StatusChanged,
    Escalated,
    Breached,
    SupervisionIssued,
    ProblemStageChanged,
}

impl HookKind {
    pub const ALL: [HookKind; 6] = [
        HookKind::CaseCreated,
        HookKind::StatusChanged,
        HookKind::Escalated,
        HookKind::Breached,
        HookKind::SupervisionIssued,
        HookKind::ProblemStageChanged,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            HookKind::CaseCreated => "case_created",
            HookKind::StatusChanged => "status_changed",
            HookKind::Escalated => "escalated",
            HookKind::Breached => "breached",
            HookKind::SupervisionIssued => "supervision_issued",
            HookKind::ProblemStageChanged => "problem_stage_changed",
        }
    }

    pub fn parse(s: &str) -> Option<HookKind> {
        HookKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The kinds an audit event of kind `event` is heard as.
    pub fn of_event(event: &str) -> Vec<HookKind> {
        let mut v = Vec::new();
        match event {
            "created" => v.push(HookKind::CaseCreated),
            "supervision_issued" => v.push(HookKind::SupervisionIssued),
            "problem_advanced" | "problem_returned" => v.push(HookKind::ProblemStageChanged),
            _ => {}
        }
        if event == "escalated" {
            v.push(HookKind::Escalated);
        }
        if status_after(event).is_some() {
            v.push(HookKind::StatusChanged);
        }
        v
    }
}

/// The status a case is in after an event of this kind, for the events that set one.
pub fn status_after(event: &str) -> Option<&'static str> {
    Some(match event {
        "filed" => "filed",
        "cancelled" => "cancelled",
        "dispatched" | "transferred" | "escalated" | "returned" => "dispatched",
        "accepted" => "accepted",
        "started" | "resumed" | "reworked" | "reopened" => "in_progress",
        "deferred" => "deferred",
        "resolved" => "resolved",
        "visit_recorded" => "return_visit",
        "closed" => "closed",
        "merged" => "merged",
        _ => return None,
    })
}

/// A registered receiver.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subscription {
    pub id: i64,
    pub name: String,
    /// `http://host[:port]/path`.
    pub url: String,
    /// The HMAC key; never shown again after it is set.
    pub secret: String,
    pub kinds: Vec<HookKind>,
    pub active: bool,
    pub created_at: Timestamp,
}

/// A parsed `http://` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpUrl {
    pub host: String,
    pub port: u16,
    /// Path and query, starting with `/`.
    pub target: String,
}

impl HttpUrl {
    /// Only plain `http://`: the server carries no TLS stack; reach an HTTPS receiver through
    /// a local forwarding proxy.
    pub fn parse(s: &str) -> Result<HttpUrl, String> {
        let rest = s.strip_prefix("http://").ok_or("the URL must start with http:// (use a local TLS-forwarding proxy for https)")?;
        let (authority, target) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if authority.contains('@') {
            return Err("no user information in the URL".into());
        }
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || authority.starts_with('[') => {
                (h, p.parse::<u16>().map_err(|_| format!("bad port '{p}'"))?)
            }
            _ => (authority, 80),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let ok = !host.is_empty() && host.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':'));
        if !ok {
            return Err("bad host".into());
        }
        if target.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err("the path must not contain spaces".into());
        }
        Ok(HttpUrl { host: host.to_string(), port, target: target.to_string() })
    }
}

/// What an administrator sends to register or change a subscription.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct SubscriptionInput {
    pub name: String,
    pub url: String,
    /// Empty on a change: keep the old secret.
    #[serde(default)]
    pub secret: Option<String>,
    pub kinds: Vec<String>,
    #[serde(default = "yes")]
    pub active: bool,
}

fn yes() -> bool {
    true
}

impl SubscriptionInput {
    /// Checked whole; `old` is the subscription being changed.
    pub fn validate(&self, old: Option<&Subscription>, now: Timestamp) -> Result<Subscription, DomainError> {
        let mut errs = Vec::new();
        let name = self.name.trim().to_string();
        if name.is_empty() || name.chars().count() > 100 {
            errs.push(FieldError::new("name", "1 to 100 characters"));
        }
        if let Err(e) = HttpUrl::parse(self.url.trim()) {
            errs.push(FieldError::new("url", e));
        }
        let secret = match (self.secret.as_deref().map(str::trim).filter(|s| !s.is_empty()), old) {
            (Some(s), _) if s.len() < 16 => {
                errs.push(FieldError::new("secret", "at least 16 characters"));
                String::new()
            }
            (Some(s), _) => s.to_string(),
            (None, Some(o)) => o.secret.clone(),
            (None, None) => {
                errs.push(FieldError::new("secret", "give a shared secret of at least 16 characters"));
                String::new()
            }
        };
        let mut kinds = Vec::new();
        for (i, k) in self.kinds.iter().enumerate() {
            match HookKind::parse(k.trim()) {
                Some(k) => kinds.push(k),
                None => {
                    errs.push(FieldError::new(format!("kinds[{i}]"), format!("one of {}", HookKind::ALL.map(HookKind::as_str).join(", "))))
                }
            }
        }
        if self.kinds.is_empty() {
            errs.push(FieldError::new("kinds", "choose at least one kind of change"));
        }
        if !errs.is_empty() {
            return Err(DomainError::Invalid(errs));
        }
        kinds.sort();
        kinds.dedup();
        Ok(Subscription {
            id: old.map(|o| o.id).unwrap_or(0),
            name,
            url: self.url.trim().to_string(),
            secret,
            kinds,
            active: self.active,
            created_at: old.map(|o| o.created_at).unwrap_or(now),
        })
    }
}

/// `sha256=HEX(HMAC-SHA256(secret, timestamp + "." + body))`.
pub fn signature(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let mut m = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    m.update(timestamp.to_string().as_bytes());
    m.update(b".");
    m.update(body);
    format!("sha256={}", hex::encode(m.finalize().into_bytes()))
}

/// Whether `header` is the signature of `body` at `timestamp`, compared in constant time.
pub fn verify(secret: &[u8], timestamp: i64, body: &[u8], header: &str) -> bool {
    let Some(hex_sig) = header.strip_prefix("sha256=") else { return false };
    let Ok(sig) = hex::decode(hex_sig) else { return false };
    let mut m = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    m.update(timestamp.to_string().as_bytes());
    m.update(b".");
    m.update(body);
    m.verify_slice(&sig).is_ok()
}

/// How outbound messages are retried.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RetryPolicy {
    /// Attempts before a message goes to the dead-letter list.
    pub max_attempts: u32,
    /// The wait after the first failure; doubled after each further one.
    pub first_delay_secs: u64,
    /// The longest wait.
    pub max_delay_secs: u64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy { max_attempts: 8, first_delay_secs: 30, max_delay_secs: 6 * 3600 }
    }
}

impl RetryPolicy {
    /// After `attempts` failed attempts: `None` when the message is dead, else when to retry.
    pub fn next_attempt(&self, attempts: u32, now: Timestamp) -> Option<Timestamp> {
        if attempts >= self.max_attempts {
            return None;
        }
        let shift = attempts.saturating_sub(1).min(30);
        let delay = self.first_delay_secs.saturating_mul(1u64 << shift).min(self.max_delay_secs.max(self.first_delay_secs));
        Some(now.plus_ms(delay as i64 * 1000))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_and_catch_changes() {
        // HMAC-SHA256("key", "1700000000.{}") computed independently.
        let s = signature(b"key", 1_700_000_000, b"{}");
        assert!(s.starts_with("sha256=") && s.len() == 7 + 64);
        assert!(verify(b"key", 1_700_000_000, b"{}", &s));
        assert!(!verify(b"key", 1_700_000_001, b"{}", &s));
        assert!(!verify(b"kez", 1_700_000_000, b"{}", &s));
        assert!(!verify(b"key", 1_700_000_000, b"{ }", &s));
        assert!(!verify(b"key", 1_700_000_000, b"{}", "md5=00"));
    }

    #[test]
    fn hmac_matches_rfc_4231_case_2() {
        let mut m = Hmac::<Sha256>::new_from_slice(b"Jefe").unwrap();
        m.update(b"what do ya want for nothing?");
        assert_eq!(hex::encode(m.finalize().into_bytes()), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    }

    #[test]
    fn backoff_doubles_to_a_cap_and_ends() {
        let p = RetryPolicy { max_attempts: 5, first_delay_secs: 10, max_delay_secs: 35 };
        let t = Timestamp(0);
        let d: Vec<Option<i64>> = (1..=5).map(|a| p.next_attempt(a, t).map(|x| x.0 / 1000)).collect();
        assert_eq!(d, [Some(10), Some(20), Some(35), Some(35), None]);
    }

    #[test]
    fn events_map_to_kinds() {
        assert_eq!(HookKind::of_event("created"), [HookKind::CaseCreated]);
        assert_eq!(HookKind::of_event("escalated"), [HookKind::Escalated, HookKind::StatusChanged]);
        assert_eq!(HookKind::of_event("routed"), []);
        assert_eq!(HookKind::of_event("closed"), [HookKind::StatusChanged]);
    }

    #[test]
    fn urls_and_inputs_are_checked_whole() {
        assert_eq!(
            HttpUrl::parse("http://127.0.0.1:9000/hook?x=1").unwrap(),
            HttpUrl { host: "127.0.0.1".into(), port: 9000, target: "/hook?x=1".into() }
        );
        assert_eq!(HttpUrl::parse("http://example.org").unwrap().port, 80);
        assert!(HttpUrl::parse("https://example.org/").is_err());
        assert!(HttpUrl::parse("http://u:p@example.org/").is_err());
        let bad = SubscriptionInput {
            name: "".into(),
            url: "ftp://x".into(),
            secret: Some("short".into()),
            kinds: vec!["nope".into()],
            active: true,
        };
        let Err(DomainError::Invalid(e)) = bad.validate(None, Timestamp(0)) else { panic!() };
        assert_eq!(e.iter().map(|e| e.field.as_str()).collect::<Vec<_>>(), ["name", "url", "secret", "kinds[0]"]);
        let ok = SubscriptionInput {
            name: "city".into(),
            url: "http://h/x".into(),
            secret: Some("0123456789abcdef".into()),
            kinds: vec!["breached".into(), "case_created".into(), "breached".into()],
            active: true,
        };
        let s = ok.validate(None, Timestamp(5)).unwrap();
        assert_eq!(s.kinds, [HookKind::CaseCreated, HookKind::Breached]);
        let keep = SubscriptionInput { secret: None, ..ok };
        assert_eq!(keep.validate(Some(&s), Timestamp(9)).unwrap().secret, "0123456789abcdef");
    }
}

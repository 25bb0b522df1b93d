//! Outbound delivery: webhooks (HTTP POST signed with HMAC) and e-mail (SMTP), from one
//! outbox.
//!
//! Rows enter the `outbox` in the same transaction as the change they tell of: a webhook row
//! for each subscription that hears of an event the transaction appended to the chain (or of
//! a missed deadline a job recorded), an e-mail row for each user with an address who is a
//! recipient of an inbox message the transaction wrote. A rolled-back change therefore queues
//! nothing, and a committed one cannot be lost. [`Outbound::run_due`], stepped by the
//! scheduler's loop, claims due rows (a lease, so two servers do not both send one), sends
//! them, and records the outcome: delivered, retried later with exponential backoff, or, after
//! `max_attempts`, dead — listed for an administrator, who can queue it again.
//!
//! This module holds the only network clients of the crate: a minimal HTTP/1.1 POST (plain
//! `http://`) and a minimal SMTP client (EHLO, optional AUTH PLAIN, MAIL FROM, RCPT TO, DATA,
//! QUIT; no TLS).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use fengqiao_domain::Timestamp;
use fengqiao_domain::webhook::{HttpUrl, RetryPolicy, Subscription, signature};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::{Service, StoreError};

/// `webhook` or `email`.
pub const WEBHOOK: &str = "webhook";
pub const EMAIL: &str = "email";

/// One message in the outbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxItem {
    pub id: i64,
    /// [`WEBHOOK`] or [`EMAIL`].
    pub channel: String,
    /// The subscription id (webhooks) or the e-mail address.
    pub target: String,
    /// The hook kind, or the inbox message kind for e-mail.
    pub kind: String,
    /// The JSON body of a webhook; `{"to","subject","text"}` for an e-mail.
    pub body: String,
    /// `pending`, `delivered` or `dead`.
    pub state: String,
    pub attempts: u32,
    pub next_at: Timestamp,
    pub last_error: Option<String>,
    pub created_at: Timestamp,
    pub done_at: Option<Timestamp>,
}

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Attempt {
    Delivered {
        at: Timestamp,
    },
    /// Failed; `retry_at` `None` moves the message to the dead-letter list.
    Failed {
        at: Timestamp,
        error: String,
        retry_at: Option<Timestamp>,
    },
}

/// Which outbox rows to list.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OutboxFilter {
    pub state: Option<String>,
    pub channel: Option<String>,
    pub limit: i64,
}

/// An SMTP relay.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    pub host: String,
    #[serde(default = "smtp_port")]
    pub port: u16,
    /// With a password: AUTH PLAIN (send it only over a trusted network: there is no TLS).
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    /// The sender address.
    pub from: String,
    /// The name given in EHLO.
    #[serde(default = "helo")]
    pub helo: String,
}

fn smtp_port() -> u16 {
    25
}
fn helo() -> String {
    "fengqiao".into()
}

impl std::fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpConfig").field("host", &self.host).field("port", &self.port).field("from", &self.from).finish_non_exhaustive()
    }
}

/// How outbound messages go out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OutboundConfig {
    pub retry: RetryPolicy,
    /// Seconds a send may take (connect, write, answer).
    pub timeout_secs: u64,
    /// Most messages per run.
    pub batch: i64,
    /// E-mail for staff notices; unset: e-mail stays queued.
    pub smtp: Option<SmtpConfig>,
    /// Delivered messages are deleted after this many days (dead ones are kept).
    pub keep_delivered_days: u32,
}

impl Default for OutboundConfig {
    fn default() -> Self {
        OutboundConfig { retry: RetryPolicy::default(), timeout_secs: 10, batch: 200, smtp: None, keep_delivered_days: 30 }
    }
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct OutboundReport {
    pub delivered: Vec<i64>,
    pub retried: Vec<i64>,
    pub dead: Vec<i64>,
}

/// Sends what is due.
pub struct Outbound {
    svc: Arc<Service>,
}

/// A claim lasts this long: a server that dies mid-send leaves the row to be retried then.
const LEASE_MS: i64 = 5 * 60_000;

impl Outbound {
    pub fn new(svc: Arc<Service>) -> Outbound {
        Outbound { svc }
    }

    /// Claims and sends every due message (e-mail only when SMTP is configured).
    pub async fn run_due(&self, now: Timestamp) -> Result<OutboundReport, StoreError> {
        let cfg = &self.svc.config.outbound;
        let mut channels = vec![WEBHOOK];
        if cfg.smtp.is_some() {
            channels.push(EMAIL);
        }
        self.svc.store.prune_outbox(now.plus_ms(-(cfg.keep_delivered_days as i64) * fengqiao_domain::clock::DAY_MS)).await?;
        let due = self.svc.store.claim_outbox(&channels, now, now.plus_ms(LEASE_MS), cfg.batch.max(1)).await?;
        let mut report = OutboundReport::default();
        if due.is_empty() {
            return Ok(report);
        }
        let subs: HashMap<String, Subscription> =
            self.svc.store.subscriptions().await?.into_iter().map(|s| (s.id.to_string(), s)).collect();
        let timeout = Duration::from_secs(cfg.timeout_secs.max(1));
        for item in due {
            let result = match item.channel.as_str() {
                WEBHOOK => match subs.get(&item.target) {
                    Some(s) if s.active => send_webhook(s, &item, now, timeout).await,
                    Some(_) => Err("the subscription is inactive".to_string()),
                    None => Err("the subscription no longer exists".to_string()),
                },
                EMAIL => match &cfg.smtp {
                    Some(smtp) => send_email(smtp, &item, now, timeout).await,
                    None => Err("SMTP is not configured".to_string()),
                },
                other => Err(format!("unknown channel {other}")),
            };
            let attempts = item.attempts + 1;
            let attempt = match result {
                Ok(()) => {
                    report.delivered.push(item.id);
                    Attempt::Delivered { at: now }
                }
                Err(error) => {
                    let retry_at = cfg.retry.next_attempt(attempts, now);
                    if retry_at.is_some() {
                        report.retried.push(item.id);
                    } else {
                        report.dead.push(item.id);
                    }
                    tracing::info!(id = item.id, channel = %item.channel, attempts, %error, "outbound delivery failed");
                    Attempt::Failed { at: now, error, retry_at }
                }
            };
            self.svc.store.outbox_attempted(item.id, &attempt).await?;
        }
        Ok(report)
    }
}

/// POSTs a webhook; any 2xx answer is a delivery.
async fn send_webhook(s: &Subscription, item: &OutboxItem, now: Timestamp, timeout: Duration) -> Result<(), String> {
    let url = HttpUrl::parse(&s.url)?;
    let ts = now.0.div_euclid(1000);
    let sig = signature(s.secret.as_bytes(), ts, item.body.as_bytes());
    let headers = [
        ("X-Fengqiao-Signature", sig),
        ("X-Fengqiao-Timestamp", ts.to_string()),
        ("X-Fengqiao-Event", item.kind.clone()),
        ("X-Fengqiao-Delivery", item.id.to_string()),
    ];
    let status =
        tokio::time::timeout(timeout, http_post(&url, &headers, item.body.as_bytes())).await.map_err(|_| "timed out".to_string())??;
    if (200..300).contains(&status) { Ok(()) } else { Err(format!("answered HTTP {status}")) }
}

/// A minimal HTTP/1.1 POST; returns the status code.
pub async fn http_post(url: &HttpUrl, headers: &[(&str, String)], body: &[u8]) -> Result<u16, String> {
    let mut stream = TcpStream::connect((url.host.as_str(), url.port)).await.map_err(|e| format!("connect: {e}"))?;
    let host = if url.port == 80 { url.host.clone() } else { format!("{}:{}", url.host, url.port) };
    let mut head = format!(
        "POST {} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: fengqiao\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
        url.target,
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.map_err(|e| format!("write: {e}"))?;
    stream.write_all(body).await.map_err(|e| format!("write: {e}"))?;
    stream.flush().await.map_err(|e| format!("write: {e}"))?;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).await.map_err(|e| format!("read: {e}"))?;
    let code = line
        .strip_prefix("HTTP/1.")
        .and_then(|r| r.get(2..5))
        .and_then(|c| c.parse::<u16>().ok())
        .ok_or_else(|| format!("not an HTTP answer: {:?}", line.trim_end()))?;
    // Drain a little so the peer does not see a reset before it finished writing.
    let mut sink = [0u8; 4096];
    let _ = tokio::time::timeout(Duration::from_millis(200), reader.read(&mut sink)).await;
    Ok(code)
}

#[derive(Deserialize)]
struct Mail {
    to: String,
    subject: String,
    text: String,
}

async fn send_email(smtp: &SmtpConfig, item: &OutboxItem, now: Timestamp, timeout: Duration) -> Result<(), String> {
    let mail: Mail = serde_json::from_str(&item.body).map_err(|e| format!("bad e-mail body: {e}"))?;
    tokio::time::timeout(timeout, smtp_send(smtp, &mail.to, &mail.subject, &mail.text, now, item.id))
        .await
        .map_err(|_| "timed out".to_string())?
}

/// Reads one SMTP reply (possibly multi-line) and checks its code class.
async fn reply(r: &mut BufReader<TcpStream>, want: u8) -> Result<String, String> {
    let mut all = String::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).await.map_err(|e| format!("read: {e}"))? == 0 {
            return Err("the server closed the connection".into());
        }
        all.push_str(&line);
        if line.len() < 4 || line.as_bytes()[3] != b'-' {
            break;
        }
    }
    if all.as_bytes().first() == Some(&want) { Ok(all) } else { Err(format!("SMTP: {}", all.trim_end())) }
}

async fn cmd(r: &mut BufReader<TcpStream>, line: &str, want: u8) -> Result<String, String> {
    r.get_mut().write_all(format!("{line}\r\n").as_bytes()).await.map_err(|e| format!("write: {e}"))?;
    reply(r, want).await
}

fn clean_address(a: &str) -> Result<&str, String> {
    let a = a.trim();
    if a.is_empty() || a.len() > 254 || !a.contains('@') || a.chars().any(|c| c.is_whitespace() || matches!(c, '<' | '>' | '\r' | '\n')) {
        return Err(format!("bad address {a:?}"));
    }
    Ok(a)
}

/// Sends one plain-text message (UTF-8, base64 body) through the relay.
pub async fn smtp_send(smtp: &SmtpConfig, to: &str, subject: &str, text: &str, now: Timestamp, id: i64) -> Result<(), String> {
    let to = clean_address(to)?;
    let from = clean_address(&smtp.from)?;
    let stream = TcpStream::connect((smtp.host.as_str(), smtp.port)).await.map_err(|e| format!("connect: {e}"))?;
    let mut r = BufReader::new(stream);
    reply(&mut r, b'2').await?;
    cmd(&mut r, &format!("EHLO {}", smtp.helo), b'2').await?;
    if let (Some(u), Some(p)) = (&smtp.username, &smtp.password) {
        let token = base64(format!("\0{u}\0{p}").as_bytes());
        cmd(&mut r, &format!("AUTH PLAIN {token}"), b'2').await?;
    }
    cmd(&mut r, &format!("MAIL FROM:<{from}>"), b'2').await?;
    cmd(&mut r, &format!("RCPT TO:<{to}>"), b'2').await?;
    cmd(&mut r, "DATA", b'3').await?;
    let date = jiff::Timestamp::from_millisecond(now.0).map(|t| t.strftime("%a, %d %b %Y %H:%M:%S +0000").to_string()).unwrap_or_default();
    let mut msg = format!(
        "From: <{from}>\r\nTo: <{to}>\r\nSubject: =?UTF-8?B?{}?=\r\nDate: {date}\r\nMessage-ID: <outbox-{id}-{}@{}>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n",
        base64(subject.as_bytes()),
        now.0,
        smtp.helo
    );
    let body = base64(text.as_bytes());
    for chunk in body.as_bytes().chunks(76) {
        msg.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        msg.push_str("\r\n");
    }
    msg.push('.');
    cmd(&mut r, &msg, b'2').await?;
    let _ = cmd(&mut r, "QUIT", b'2').await;
    Ok(())
}

/// Standard base64 with padding (RFC 4648).
pub fn base64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for c in data.chunks(3) {
        let n = (c[0] as u32) << 16 | (*c.get(1).unwrap_or(&0) as u32) << 8 | *c.get(2).unwrap_or(&0) as u32;
        out.push(A[(n >> 18) as usize & 63] as char);
        out.push(A[(n >> 12) as usize & 63] as char);
        out.push(if c.len() > 1 { A[(n >> 6) as usize & 63] as char } else { '=' });
        out.push(if c.len() > 2 { A[n as usize & 63] as char } else { '=' });
    }
    out
}

/// The webhook rows a transaction queues: for each event it appended, each subscription that
/// hears of one of its kinds. `(subscription id, hook kind, body)`; `next_id` numbers them.
pub fn webhook_rows(subs: &[Subscription], events: &[HookEvent], mut next_id: i64) -> Vec<OutboxItem> {
    let mut out = Vec::new();
    for e in events {
        for kind in &e.kinds {
            for s in subs.iter().filter(|s| s.active && s.kinds.contains(kind)) {
                next_id += 1;
                let body = serde_json::json!({
                    "id": next_id,
                    "kind": kind.as_str(),
                    "occurred_at": e.at.to_rfc3339(),
                    "case_id": e.case_id,
                    "status": e.status,
                    "event": { "seq": e.seq, "kind": e.event, "actor": e.actor, "payload": e.payload },
                });
                out.push(OutboxItem {
                    id: next_id,
                    channel: WEBHOOK.into(),
                    target: s.id.to_string(),
                    kind: kind.as_str().into(),
                    body: body.to_string(),
                    state: "pending".into(),
                    attempts: 0,
                    next_at: e.at,
                    last_error: None,
                    created_at: e.at,
                    done_at: None,
                });
            }
        }
    }
    out
}

/// A change as webhooks tell of it.
#[derive(Debug, Clone, PartialEq)]
pub struct HookEvent {
    pub kinds: Vec<fengqiao_domain::webhook::HookKind>,
    /// The audit event's sequence number (`None` for a breach, which is a job, not an event).
    pub seq: Option<i64>,
    pub case_id: Option<i64>,
    pub at: Timestamp,
    pub actor: String,
    pub event: String,
    pub payload: serde_json::Value,
    /// The case's status after the event, for status changes.
    pub status: Option<String>,
}

impl HookEvent {
    /// From a stored audit event; `None` when no subscription kind hears of it.
    pub fn of(e: &fengqiao_domain::audit::StoredEvent) -> Option<HookEvent> {
        let kinds = fengqiao_domain::webhook::HookKind::of_event(&e.kind);
        if kinds.is_empty() {
            return None;
        }
        Some(HookEvent {
            kinds,
            seq: Some(e.seq),
            case_id: e.case_id,
            at: e.at,
            actor: e.actor.clone(),
            event: e.kind.clone(),
            payload: serde_json::from_str(&e.payload).unwrap_or(serde_json::Value::Null),
            status: fengqiao_domain::webhook::status_after(&e.kind).map(str::to_string),
        })
    }
}

/// The e-mail rows for inbox messages: each recipient user with an address (a unit's message
/// goes to its users). `users` are `(user, address)`.
pub fn email_rows(users: &[(fengqiao_domain::User, String)], notices: &[crate::InboxItem], mut next_id: i64) -> Vec<OutboxItem> {
    let mut out = Vec::new();
    for n in notices {
        let to: Vec<&String> = users
            .iter()
            .filter(|(u, _)| match n.recipient.split_once(':') {
                Some(("unit", id)) => u.unit.as_ref().is_some_and(|x| x.0 == id),
                Some(("user", id)) => u.id == id,
                _ => false,
            })
            .map(|(_, a)| a)
            .collect();
        for addr in to {
            next_id += 1;
            let what = match n.kind.as_str() {
                "reminder" => "期限提醒 / deadline reminder",
                "breach" => "期限已过 / deadline missed",
                "escalation" => "案件升级 / escalated",
                other => other,
            };
            let subject = match n.case_id {
                Some(c) => format!("[枫桥 fengqiao] {what} #{c}"),
                None => format!("[枫桥 fengqiao] {what}"),
            };
            let body = serde_json::json!({ "to": addr, "subject": subject, "text": n.message });
            out.push(OutboxItem {
                id: next_id,
                channel: EMAIL.into(),
                target: addr.clone(),
                kind: n.kind.clone(),
                body: body.to_string(),
                state: "pending".into(),
                attempts: 0,
                next_at: n.created_at,
                last_error: None,
                created_at: n.created_at,
                done_at: None,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc_4648() {
        let cases =
            [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="), ("fooba", "Zm9vYmE="), ("foobar", "Zm9vYmFy")];
        for (i, o) in cases {
            assert_eq!(base64(i.as_bytes()), o);
        }
    }
}

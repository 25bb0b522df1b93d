//! Residents by phone: text messages (SMS) behind a provider, the resident roll with
//! one-time-code sign-in, "my cases", and community consultations.
//!
//! Messages about a case (the receipt with the tracking code, status changes, the request to
//! rate at the return visit) are queued in the `sms_outbox` table in the same transaction as
//! the case change, so sending never blocks or fails a case write. [`SmsSender`] sends them in
//! the background, like the deadline scheduler: each message is claimed for a lease before it
//! is sent, marked sent with an audit event afterwards, and retried with growing pauses when
//! the provider fails, up to `max_attempts`. One-time codes are sent at once (a resident is
//! waiting) and are never stored in clear.

use std::sync::Arc;

use async_trait::async_trait;
use fengqiao_domain::consultation::{Comment, ConsultCommand, ConsultSource, Consultation, Proposal, entry_text};
use fengqiao_domain::resident::{OtpCode, OtpRefusal, Resident};
use fengqiao_domain::{Actor, Case, DomainError, RegionCode, Status, Timestamp};
use rand::RngCore;
use serde::{Deserialize, Serialize};

use crate::{Scope, Service, StoreError};

/// One queued text message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SmsMessage {
    pub id: i64,
    /// The person it is for (a case's reporter); their phone is read when it is sent.
    pub person_id: Option<i64>,
    /// The phone, resolved from the person (`None` when erased or without one).
    pub phone: Option<String>,
    pub case_id: Option<i64>,
    /// `receipt`, `status` or `visit`.
    pub kind: String,
    pub text: String,
    pub created_at: Timestamp,
    pub attempts: i64,
    pub next_at: Timestamp,
    pub sent_at: Option<Timestamp>,
    pub failed_at: Option<Timestamp>,
    pub last_error: Option<String>,
}

/// What became of one attempt to send.
#[derive(Debug, Clone, PartialEq)]
pub enum SmsOutcome {
    Sent,
    /// Failed; try again at this time.
    Retry {
        at: Timestamp,
        error: String,
    },
    /// Given up (too many attempts, no phone, too old).
    GaveUp {
        error: String,
    },
}

/// A sender of text messages: a gateway, or a file in development and tests.
#[async_trait]
pub trait SmsProvider: Send + Sync + 'static {
    /// Sends one message; an error is retried by the caller.
    async fn send(&self, phone: &str, text: &str) -> Result<(), String>;
}

/// Appends one JSON line per message (`{"phone","text"}`) to a file: for development, the demo
/// and tests.
pub struct FileSms {
    path: std::path::PathBuf,
    lock: std::sync::Mutex<()>,
}

impl FileSms {
    pub fn new(path: impl Into<std::path::PathBuf>) -> FileSms {
        FileSms { path: path.into(), lock: std::sync::Mutex::new(()) }
    }

    /// Every message in the file, in order: `(phone, text)`.
    pub fn read(path: &std::path::Path) -> Vec<(String, String)> {
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .map(|v| (v["phone"].as_str().unwrap_or_default().to_string(), v["text"].as_str().unwrap_or_default().to_string()))
            .collect()
    }
}

#[async_trait]
impl SmsProvider for FileSms {
    async fn send(&self, phone: &str, text: &str) -> Result<(), String> {
        use std::io::Write;
        let line = serde_json::json!({ "phone": phone, "text": text }).to_string();
        let _guard = self.lock.lock().map_err(|e| e.to_string())?;
        let mut f =
            std::fs::OpenOptions::new().create(true).append(true).open(&self.path).map_err(|e| format!("{}: {e}", self.path.display()))?;
        writeln!(f, "{line}").map_err(|e| e.to_string())
    }
}

/// Sends nothing; for deployments without a provider (messages stay queued until one is set).
pub struct NoSms;

#[async_trait]
impl SmsProvider for NoSms {
    async fn send(&self, _phone: &str, _text: &str) -> Result<(), String> {
        Err("no SMS provider is configured".into())
    }
}

/// How messages are sent (`[sms]` in the configuration).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SmsConfig {
    /// `file`, `http` or `none`.
    pub provider: String,
    /// The file provider's file (default `DATA/sms.jsonl`).
    pub file: Option<std::path::PathBuf>,
    /// The HTTP gateway: its URL (`http://…`).
    pub url: String,
    /// `POST` (default) or `GET`.
    pub method: String,
    /// The request body, with `{phone}` and `{text}` replaced (encoded for `content_type`).
    pub body: String,
    /// `application/x-www-form-urlencoded` (default) or `application/json`.
    pub content_type: String,
    /// A header sent with every request, `Name: value` (an API key).
    pub auth_header: Option<String>,
    /// Seconds between sends of the outbox.
    pub interval_secs: u64,
    /// Attempts before a message is given up.
    pub max_attempts: i64,
    /// Messages older than this many hours when first tried are not sent (a restored or
    /// generated store does not text a year of history).
    pub max_age_hours: i64,
}

impl Default for SmsConfig {
    fn default() -> Self {
        SmsConfig {
            provider: "none".into(),
            file: None,
            url: String::new(),
            method: "POST".into(),
            body: "phone={phone}&text={text}".into(),
            content_type: "application/x-www-form-urlencoded".into(),
            auth_header: None,
            interval_secs: 15,
            max_attempts: 6,
            max_age_hours: 24,
        }
    }
}

/// The message for a case's reporter when its status becomes `status` (`None`: none). The
/// first message of a case (its receipt) has `previous` `None`.
pub fn case_message(case: &Case, previous: Option<Status>) -> Option<(&'static str, String)> {
    let code = case.tracking_code.as_str();
    match previous {
        // Imported cases (a migration of past casework) are not announced.
        None if case.channel == fengqiao_domain::Channel::Import => None,
        None => Some(("receipt", format!("【枫桥】您反映的事项已收到，查询码 {code}，可凭此码或本手机号登录查询办理进度。"))),
        Some(p) if p == case.status => None,
        Some(_) if case.status == Status::Resolved => {
            Some(("visit", format!("【枫桥】您反映的事项（查询码 {code}）已办结，请凭本手机号登录“我的事项”对办理结果评价。")))
        }
        Some(_) => Some(("status", format!("【枫桥】您反映的事项（查询码 {code}）状态更新为：{}。", status_zh(case.status)))),
    }
}

fn status_zh(s: Status) -> &'static str {
    match s {
        Status::Received => "已接收",
        Status::Filed => "已受理",
        Status::Cancelled => "已撤销",
        Status::Dispatched => "已分派",
        Status::Accepted => "已签收",
        Status::InProgress => "办理中",
        Status::Deferred => "缓办",
        Status::Resolved => "已办结待回访",
        Status::ReturnVisit => "回访中",
        Status::Closed => "已结案",
        Status::Merged => "已合并",
    }
}

/// What one run of the sender did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SmsReport {
    pub sent: u64,
    pub retried: u64,
    pub gave_up: u64,
}

/// Sends the outbox through a provider.
pub struct SmsSender {
    svc: Arc<Service>,
    provider: Arc<dyn SmsProvider>,
    config: SmsConfig,
}

impl SmsSender {
    pub fn new(svc: Arc<Service>, provider: Arc<dyn SmsProvider>, config: SmsConfig) -> SmsSender {
        SmsSender { svc, provider, config }
    }

    /// The pause before attempt `n + 1` after `n` failures: 1, 2, 4, … minutes, at most an hour.
    pub fn backoff_ms(attempts: i64) -> i64 {
        60_000 * (1i64 << attempts.clamp(0, 6)).min(60)
    }

    /// Sends every message due at `now`.
    pub async fn run_due(&self, now: Timestamp) -> Result<SmsReport, StoreError> {
        let store = &self.svc.store;
        let mut report = SmsReport::default();
        let lease = now.plus_ms(5 * 60_000);
        // Batches until the due messages run out: each one handled leaves the due set (sent,
        // retried later, given up or claimed), so this ends; a backlog drains in one run.
        for _ in 0..50 {
            let batch = store.sms_due(now, 200).await?;
            let last = batch.len() < 200;
            if batch.is_empty() {
                break;
            }
            self.send_batch(batch, now, lease, &mut report).await?;
            if last {
                break;
            }
        }
        Ok(report)
    }

    async fn send_batch(&self, batch: Vec<SmsMessage>, now: Timestamp, lease: Timestamp, report: &mut SmsReport) -> Result<(), StoreError> {
        let store = &self.svc.store;
        for m in batch {
            if !store.sms_claim(m.id, now, lease).await? {
                continue; // another sender has it
            }
            let outcome = if now.0 - m.created_at.0 > self.config.max_age_hours * fengqiao_domain::clock::HOUR_MS {
                SmsOutcome::GaveUp { error: "too old to send".into() }
            } else if let Some(phone) = &m.phone {
                match self.provider.send(phone, &m.text).await {
                    Ok(()) => SmsOutcome::Sent,
                    Err(e) if m.attempts + 1 >= self.config.max_attempts => SmsOutcome::GaveUp { error: e },
                    Err(e) => SmsOutcome::Retry { at: now.plus_ms(Self::backoff_ms(m.attempts)), error: e },
                }
            } else {
                SmsOutcome::GaveUp { error: "no phone (erased or never given)".into() }
            };
            match &outcome {
                SmsOutcome::Sent => report.sent += 1,
                SmsOutcome::Retry { error, .. } => {
                    tracing::warn!(message = m.id, error = %error, "SMS not sent; will retry");
                    report.retried += 1
                }
                SmsOutcome::GaveUp { .. } => report.gave_up += 1,
            }
            store.sms_done(m.id, &outcome, now).await?;
            if outcome == SmsOutcome::Sent {
                self.svc.note_written(1).await;
            }
        }
        Ok(())
    }

    /// Runs every `interval_secs` on the service's clock until the task is dropped.
    pub fn spawn(self) -> tokio::task::JoinHandle<()> {
        let every = std::time::Duration::from_secs(self.config.interval_secs.max(1));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if let Err(e) = self.run_due(self.svc.now()).await {
                    tracing::warn!(error = %e, "sending text messages failed; retrying at the next tick");
                }
            }
        })
    }
}

/// A resident's browser session (cookie), apart from staff sessions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResidentSession {
    pub id_hash: String,
    pub resident_id: i64,
    pub csrf: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

/// A proposal as everyone may see it (no author) with its supports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProposalView {
    pub id: i64,
    pub text: String,
    pub at: Timestamp,
    pub supports: i64,
}

/// A comment as everyone may see it (no author).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommentView {
    pub id: i64,
    pub proposal_id: Option<i64>,
    pub text: String,
    pub at: Timestamp,
}

/// The residents' input to a consultation, without who gave it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ConsultEntries {
    pub proposals: Vec<ProposalView>,
    pub comments: Vec<CommentView>,
    /// Residents who gave their support.
    pub supporters: i64,
}

/// A new proposal or comment.
#[derive(Debug, Clone, PartialEq)]
pub enum NewEntry {
    Proposal(Proposal),
    Comment(Comment),
}

/// Why a one-time code was refused, for the caller.
#[derive(Debug)]
pub enum SignInError {
    Refused(OtpRefusal),
    Store(StoreError),
}

impl From<StoreError> for SignInError {
    fn from(e: StoreError) -> Self {
        SignInError::Store(e)
    }
}

/// A fresh 6-digit code from the operating system's generator.
pub fn new_code() -> String {
    let mut b = [0u8; 8];
    rand::thread_rng().fill_bytes(&mut b);
    format!("{:06}", u64::from_le_bytes(b) % 1_000_000)
}

fn random_hex() -> String {
    let mut b = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut b);
    hex::encode(b)
}

/// The consultations' scope: staff see their jurisdiction's subtree; handlers none.
pub fn consult_scope(actor: &Actor) -> Scope {
    match Scope::for_actor(actor) {
        Scope::Unit { .. } => Scope::Nothing,
        s => s,
    }
}

impl Service {
    /// Sends a new one-time code to a phone (replacing any earlier one). The caller limits how
    /// often. Returns the normalised phone.
    pub async fn send_sign_in_code(&self, phone: &str, provider: &dyn SmsProvider) -> Result<String, StoreError> {
        let phone = fengqiao_domain::person::normalise_phone(phone).map_err(|e| DomainError::Invalid(vec![e]))?;
        let code = new_code();
        // Expired codes and sessions go now and then: whenever a code is asked for.
        self.store.purge_resident_auth(self.now()).await?;
        let otp = OtpCode::new(&phone, &random_hex(), &code, self.now());
        self.store.put_otp(&otp).await?;
        let text = format!("【枫桥】您的登录验证码为 {code}，10 分钟内有效。如非本人操作请忽略。");
        let mut last = String::new();
        for _ in 0..3 {
            match provider.send(&phone, &text).await {
                Ok(()) => return Ok(phone),
                Err(e) => last = e,
            }
        }
        // The code could not reach the phone: it must not stay usable.
        self.store.delete_otp(&phone).await?;
        Err(StoreError::Backend(format!("the code could not be sent: {last}")))
    }

    /// Checks a code; on success the phone is on the roll (added if new) and the resident is
    /// returned. A code is spent by success, by expiry and by too many attempts.
    pub async fn sign_in_with_code(&self, phone: &str, code: &str) -> Result<Resident, SignInError> {
        let phone = fengqiao_domain::person::normalise_phone(phone)
            .map_err(|e| SignInError::Store(StoreError::Domain(DomainError::Invalid(vec![e]))))?;
        let now = self.now();
        let Some(otp) = self.store.otp_attempt(&phone).await? else {
            return Err(SignInError::Refused(OtpRefusal::NoCode));
        };
        match otp.check(code, now) {
            Ok(()) => {}
            Err(r) => {
                if matches!(r, OtpRefusal::Expired | OtpRefusal::TooManyAttempts) {
                    self.store.delete_otp(&phone).await?;
                }
                return Err(SignInError::Refused(r));
            }
        }
        // Spent by whoever deletes it: of two concurrent right answers, one signs in.
        if !self.store.delete_otp(&phone).await? {
            return Err(SignInError::Refused(OtpRefusal::NoCode));
        }
        match self.store.resident_by_phone(&phone).await? {
            Some(r) => Ok(r),
            None => Ok(self.store.save_resident(&Resident::by_code(&phone, now), "resident_verified", "resident", now).await?),
        }
    }

    /// Staff register a resident in person: on the roll with their region, verified.
    pub async fn register_resident(&self, actor: &Actor, phone: &str, region: &str) -> Result<Resident, StoreError> {
        let code = RegionCode::parse(region.trim()).map_err(|e| DomainError::Invalid(vec![e]))?;
        if !self.reference().regions.contains_key(code.as_str()) {
            return Err(DomainError::invalid("region", "unknown region").into());
        }
        let mut r = Resident::register(actor, phone, &code, self.now())?;
        if let Some(old) = self.store.resident_by_phone(&r.phone).await? {
            r.id = old.id;
        }
        self.store.save_resident(&r, "resident_registered", &actor.label(), self.now()).await
    }

    /// A resident records where they live.
    pub async fn declare_region(&self, resident: &Resident, region: &str) -> Result<Resident, StoreError> {
        let code = RegionCode::parse(region.trim()).map_err(|e| DomainError::Invalid(vec![e]))?;
        if !self.reference().regions.contains_key(code.as_str()) {
            return Err(DomainError::invalid("region", "unknown region").into());
        }
        let mut r = resident.clone();
        r.declare_region(&code)?;
        self.store.save_resident(&r, "resident_region_declared", &format!("resident:{}", r.id), self.now()).await
    }

    /// Opens a consultation.
    pub async fn open_consultation(
        &self,
        actor: &Actor,
        region: &str,
        title: &str,
        description: &str,
        source: ConsultSource,
        closes_at: Timestamp,
    ) -> Result<Consultation, StoreError> {
        let code = RegionCode::parse(region.trim()).map_err(|e| DomainError::Invalid(vec![e]))?;
        if !self.reference().regions.contains_key(code.as_str()) {
            return Err(DomainError::invalid("region", "unknown region").into());
        }
        // Who may open it first, so nothing about cases is revealed to those who may not.
        let opened = Consultation::open(actor, code, title, description, source.clone(), closes_at, self.now());
        let mut errs = match opened {
            Err(DomainError::Invalid(errs)) => errs,
            Err(e) => return Err(e.into()),
            Ok(_) => Vec::new(),
        };
        if let ConsultSource::Cases { ids } = &source {
            // Only cases the opener may see, so a consultation cannot reveal others'.
            let scope = Scope::for_actor(actor);
            let mut missing = Vec::new();
            for id in ids {
                if self.store.case(&scope, fengqiao_domain::CaseId(*id)).await?.is_none() {
                    missing.push(id.to_string());
                }
            }
            if !missing.is_empty() {
                errs.push(fengqiao_domain::error::FieldError::new("source.ids", format!("no such case: {}", missing.join(", "))));
            }
        }
        if !errs.is_empty() {
            return Err(DomainError::Invalid(errs).into());
        }
        let c = Consultation::open(
            actor,
            RegionCode::parse(region.trim()).map_err(|e| DomainError::Invalid(vec![e]))?,
            title,
            description,
            source,
            closes_at,
            self.now(),
        )?;
        self.store.save_consultation(&c, None, "consultation_opened", &actor.label(), self.now()).await
    }

    /// A staff command on a consultation in the actor's scope.
    pub async fn act_consultation(
        &self,
        actor: &Actor,
        id: i64,
        expected_version: Option<i64>,
        cmd: &ConsultCommand,
    ) -> Result<Consultation, StoreError> {
        let mut c = self.store.consultation(&consult_scope(actor), id).await?.ok_or(StoreError::NotFound)?;
        let version = c.version;
        if let Some(v) = expected_version
            && v != version
        {
            return Err(StoreError::Conflict { current: version });
        }
        let event = c.act(actor, cmd, self.now())?;
        self.store.save_consultation(&c, Some(version), event, &actor.label(), self.now()).await
    }

    async fn consultation_for(&self, resident: &Resident, id: i64) -> Result<Consultation, StoreError> {
        let c = self.store.consultation(&Scope::All, id).await?.ok_or(StoreError::NotFound)?;
        resident.may_take_part(&c.region)?;
        c.check_input(self.now())?;
        Ok(c)
    }

    /// A resident proposes.
    pub async fn propose(&self, resident: &Resident, id: i64, text: &str) -> Result<i64, StoreError> {
        let c = self.consultation_for(resident, id).await?;
        let text = entry_text("text", text)?;
        let p = Proposal { id: 0, consultation_id: c.id, resident_id: resident.id, text, at: self.now() };
        self.store.add_consult_entry(&NewEntry::Proposal(p), self.now()).await
    }

    /// A resident comments, on the matter or on one of its proposals.
    pub async fn comment(&self, resident: &Resident, id: i64, proposal_id: Option<i64>, text: &str) -> Result<i64, StoreError> {
        let c = self.consultation_for(resident, id).await?;
        let text = entry_text("text", text)?;
        let cm = Comment { id: 0, consultation_id: c.id, proposal_id, resident_id: resident.id, text, at: self.now() };
        self.store.add_consult_entry(&NewEntry::Comment(cm), self.now()).await
    }

    /// A resident gives their one support to a proposal. A second support, however
    /// concurrent, is refused by the store's unique key.
    pub async fn support(&self, resident: &Resident, id: i64, proposal_id: i64) -> Result<(), StoreError> {
        let c = self.consultation_for(resident, id).await?;
        if self.store.support(c.id, proposal_id, resident.id, self.now()).await? {
            Ok(())
        } else {
            Err(DomainError::Precondition("you have already given your support in this consultation".into()).into())
        }
    }

    /// The resident's own cases (as reporter), newest first.
    pub async fn my_cases(&self, resident: &Resident) -> Result<Vec<Case>, StoreError> {
        self.store.cases_reported_by(&resident.phone).await
    }

    /// The resident rates the outcome of their own case at the return visit.
    pub async fn rate_as_resident(
        &self,
        resident: &Resident,
        code: &str,
        rating: fengqiao_domain::Rating,
        comment: Option<String>,
    ) -> Result<Case, StoreError> {
        let comment = comment.map(|c| c.trim().to_string()).filter(|c| !c.is_empty());
        if comment.as_ref().is_some_and(|c| c.chars().count() > 2000) {
            return Err(DomainError::invalid("comment", "at most 2000 characters").into());
        }
        let cmd = fengqiao_domain::Command::RecordVisit {
            party: None,
            channel: fengqiao_domain::ContactChannel::Web,
            reached: true,
            rating: Some(rating),
            comment,
        };
        for _ in 0..3 {
            let case = self.my_cases(resident).await?.into_iter().find(|c| c.tracking_code.as_str() == code).ok_or(StoreError::NotFound)?;
            let (events, next) = self.decide(&self.reference(), &case, &Actor::Resident, &cmd, self.now())?;
            match self.store.commit(case.version, &events, &next).await {
                Ok(()) => {
                    self.note_written(events.len()).await;
                    return Ok(next);
                }
                Err(StoreError::Conflict { .. }) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::Conflict { current: -1 })
    }
}

//! Values that cross the storage boundary.

use fengqiao_domain::audit::{Checkpoint, StoredEvent};
use fengqiao_domain::case::NewCase;
use fengqiao_domain::{Actor, Case, Category, DomainError, Region, Role, Timestamp, Unit, UnitId, User};
use serde::{Deserialize, Serialize};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// Optimistic concurrency: the case changed since the caller read it.
    #[error("the case was changed by someone else (now at version {current}); reload and try again")]
    Conflict { current: i64 },
    #[error("this Idempotency-Key was already used with a different request body")]
    IdempotencyMismatch,
    #[error("{0}")]
    Domain(#[from] DomainError),
    #[error("the store is not empty; restore needs an empty database")]
    NotEmpty,
    #[error("database error: {0}")]
    Backend(String),
}

/// Which cases a reader may see. Built from the actor, never from request parameters.
#[derive(Debug, Clone, PartialEq)]
pub enum Scope {
    /// The CLI and background jobs running as the operator.
    All,
    /// Every case whose region lies in the subtree with this code prefix.
    Region { prefix: String },
    /// Cases the unit leads or co-handles.
    Unit { unit: UnitId },
    /// Sees nothing (a role with no case access).
    Nothing,
}

impl Scope {
    pub fn for_actor(actor: &Actor) -> Scope {
        match actor {
            Actor::System { .. } => Scope::All,
            Actor::Resident => Scope::Nothing,
            Actor::User { role, unit, jurisdiction, .. } => match role {
                Role::Handler | Role::Mediator => match unit {
                    Some(u) => Scope::Unit { unit: u.clone() },
                    None => Scope::Nothing,
                },
                Role::Intake | Role::Supervisor | Role::Admin => Scope::Region { prefix: jurisdiction.prefix().to_string() },
            },
        }
    }

    /// The half-open code range `[lo, hi)` for a prefix: an index range scan on both backends.
    pub fn prefix_range(prefix: &str) -> (String, String) {
        let mut hi = prefix.to_string();
        hi.push('~');
        (prefix.to_string(), hi)
    }
}

/// Open cases, soonest breach first: what a work queue shows. A case's deadline is the one
/// it is working against in its status (response while dispatched, handling while accepted
/// or in progress, the return visit once resolved); cases with none (waiting for intake,
/// deferred) come after, oldest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueueQuery {
    /// Status names; empty means none.
    pub statuses: Vec<String>,
    pub category: Option<String>,
    /// A region code: cases in its subtree.
    pub region: Option<String>,
    /// Only cases whose deadline falls in `[due_from, due_to)`.
    pub due_from: Option<Timestamp>,
    pub due_to: Option<Timestamp>,
    pub limit: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CaseFilter {
    pub status: Option<String>,
    pub category: Option<String>,
    /// A region code: cases in its subtree.
    pub region: Option<String>,
    pub lead_unit: Option<String>,
    pub channel: Option<String>,
    pub urgency: Option<String>,
    pub created_from: Option<Timestamp>,
    pub created_to: Option<Timestamp>,
    /// Open cases whose handling deadline has passed at this time.
    pub overdue_at: Option<Timestamp>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Page {
    pub after: Option<i64>,
    pub limit: i64,
    pub descending: bool,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct FactsFilter {
    pub region: Option<String>,
    pub unit: Option<String>,
    pub category: Option<String>,
    pub from: Timestamp,
    pub to: Timestamp,
    /// How far past `to` a later case may fall and still make a closure a repeat.
    pub repeat_window_ms: i64,
}

/// Secrets of an account, stored hashed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Credentials {
    /// SHA-256 (hex) of the API token; tokens are long random strings, so a fast hash is right.
    pub token_hash: Option<String>,
    /// A PHC string (argon2id) for password sign-in.
    pub password_hash: Option<String>,
}

/// A browser session. The cookie carries a random id; the store keeps its SHA-256.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    pub id_hash: String,
    pub user_id: String,
    /// The token every state-changing request of this session must echo in `X-CSRF-Token`.
    pub csrf: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

/// A person's stored details. `None` everywhere once erased.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Person {
    pub id: i64,
    pub identity_key: Option<String>,
    pub name: Option<String>,
    pub phone: Option<String>,
    pub id_number: Option<String>,
    pub address: Option<String>,
    pub email: Option<String>,
    pub organisation: bool,
    pub erased_at: Option<Timestamp>,
}

/// One case to create.
#[derive(Debug, Clone)]
pub struct CreateCase {
    pub new: NewCase,
    pub tracking_code: fengqiao_domain::TrackingCode,
    pub at: Timestamp,
    pub actor: String,
    /// The client's key and the SHA-256 of the request body it came with.
    pub idempotency: Option<(String, String)>,
}

#[derive(Debug, Clone)]
pub struct Created {
    pub case: Case,
    /// The reporter and parties as stored by this request (`None` for a replay).
    pub people: Option<Vec<Person>>,
    /// True when an earlier request with the same Idempotency-Key made this case.
    pub replayed: bool,
}

/// One record of a backup file (JSON Lines, one record per line, in this order).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "record", rename_all = "snake_case")]
pub enum BackupRecord {
    Header {
        format: u32,
        backend: String,
        head_seq: i64,
        head_hash: String,
    },
    Region(Region),
    Unit(Unit),
    Category(Category),
    RoutingRules {
        rules: fengqiao_domain::routing::RuleSet,
        saved_at: Timestamp,
        actor: String,
    },
    User {
        user: User,
        credentials: Credentials,
    },
    Person(Person),
    Case(Box<Case>),
    Event(StoredEvent),
    Checkpoint(Checkpoint),
    Idempotency {
        key: String,
        body_hash: String,
        case_id: i64,
    },
    /// A case's file, its bytes as hex.
    Attachment {
        meta: AttachmentMeta,
        data_hex: String,
    },
    ApiKey(ApiKey),
    RequestUpdate(RequestUpdate),
    SupervisionOrder(fengqiao_domain::supervision::SupervisionOrder),
    /// A holiday schedule an administrator loaded (the deadlines it gave are in the events).
    CalendarYear {
        year: i16,
        csv: String,
    },
    /// A scheduled job that ran, so a restored deployment does not run it again.
    Job(JobRun),
    DutyShift(fengqiao_domain::duty::DutyShift),
    // Residents by phone and community consultation.
    Resident(fengqiao_domain::resident::Resident),
    Consultation(fengqiao_domain::consultation::Consultation),
    ConsultProposal(fengqiao_domain::consultation::Proposal),
    ConsultComment(fengqiao_domain::consultation::Comment),
    ConsultSupport {
        consultation_id: i64,
        resident_id: i64,
        proposal_id: i64,
        at: Timestamp,
    },
    /// A queued or sent text message (`phone` as stored: set only for messages to a phone
    /// rather than a person); its claim is not kept.
    Sms(crate::SmsMessage),
    Mediation(Box<fengqiao_domain::mediation::Mediation>),
    /// A problem-solving record (SARA).
    Problem(Box<fengqiao_domain::problem::Problem>),
    /// An early-warning alert.
    Alert(Box<fengqiao_domain::alert::Alert>),
}

pub const BACKUP_FORMAT: u32 = 1;

/// A file to attach to a case (a resident's photo), already checked by its content.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAttachment {
    pub case_id: fengqiao_domain::CaseId,
    /// `image/jpeg`, `image/png` or `image/webp`, from the magic bytes, never from the client.
    pub content_type: String,
    pub data: Vec<u8>,
    pub at: Timestamp,
    pub actor: String,
}

/// What is known about a stored attachment without reading its bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttachmentMeta {
    pub id: i64,
    pub case_id: fengqiao_domain::CaseId,
    pub content_type: String,
    pub size: i64,
    /// Hex SHA-256 of the content, also recorded in the audit chain.
    pub sha256: String,
    pub created_at: Timestamp,
}

/// What a client application's API key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApiScope {
    /// Submit new service requests (Open311 `POST requests`).
    Submit,
    /// Push status changes and notes on existing requests (`POST servicerequestupdates`).
    Update,
}

impl ApiScope {
    pub const ALL: [ApiScope; 2] = [ApiScope::Submit, ApiScope::Update];

    pub fn as_str(self) -> &'static str {
        match self {
            ApiScope::Submit => "submit",
            ApiScope::Update => "update",
        }
    }

    pub fn parse(s: &str) -> Option<ApiScope> {
        ApiScope::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

/// A client application's key for the Open311 API. The key itself is a long random string
/// shown once; only its SHA-256 is stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiKey {
    /// A short name, recorded on every case the key creates (`apikey:NAME`).
    pub name: String,
    /// SHA-256 (hex) of the key.
    pub key_hash: String,
    pub scopes: Vec<ApiScope>,
    /// The handling unit whose system pushes updates with this key: lifecycle changes it
    /// sends act as that unit's handler. Without one, updates are recorded as notes only.
    #[serde(default)]
    pub unit: Option<UnitId>,
    /// Requests a minute this key may make (`None`: the server's default).
    #[serde(default)]
    pub rate_per_minute: Option<u32>,
    pub created_at: Timestamp,
    #[serde(default)]
    pub revoked_at: Option<Timestamp>,
}

impl ApiKey {
    /// Names are what logs and events show: 1 to 64 of `a-z 0-9 - _ .`.
    pub fn check_name(name: &str) -> Result<(), DomainError> {
        let ok = !name.is_empty()
            && name.len() <= 64
            && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'));
        if ok { Ok(()) } else { Err(DomainError::invalid("name", "1 to 64 characters of a-z, 0-9, '-', '_' and '.'")) }
    }

    pub fn allows(&self, scope: ApiScope) -> bool {
        self.revoked_at.is_none() && self.scopes.contains(&scope)
    }
}

/// The public list of service requests (Open311 `GET requests`): only the given categories,
/// newest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PublicCaseQuery {
    /// When given, exactly the cases with these tracking codes (still only in `categories`);
    /// the other filters are ignored, as the specification says. Open311 names a request by
    /// its tracking code, never by the internal id, which would reveal how many cases exist.
    pub codes: Option<Vec<String>>,
    /// When given, exactly these internal ids (still only in `categories`), for joining events
    /// to their cases' tracking codes; the other filters are ignored.
    pub ids: Option<Vec<i64>>,
    /// The categories that may be listed, already narrowed by the client's `service_code`.
    pub categories: Vec<String>,
    /// `Some(true)`: open cases only; `Some(false)`: closed, cancelled or merged ones.
    pub open: Option<bool>,
    pub created_from: Option<Timestamp>,
    pub created_to: Option<Timestamp>,
    pub offset: i64,
    pub limit: i64,
}

/// One update another system pushed onto a case (mySociety `servicerequestupdates`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestUpdate {
    /// The sender's id for the update, unique per API key.
    pub update_id: String,
    pub key_name: String,
    pub case_id: i64,
    /// The status as sent (`OPEN`, `FIXED`, ...).
    pub status: String,
    pub description: String,
    /// When the sender says the update happened.
    pub updated_at: Timestamp,
    /// The lifecycle command it became, or `None` when it was recorded as a note only.
    pub applied: Option<String>,
    pub received_at: Timestamp,
}

/// Which supervision orders to list (within the reader's scope).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OrderFilter {
    pub status: Option<fengqiao_domain::supervision::OrderStatus>,
    pub case_id: Option<i64>,
    pub unit: Option<String>,
    /// A region code: orders in its subtree.
    pub region: Option<String>,
    pub issued_from: Option<Timestamp>,
    pub issued_to: Option<Timestamp>,
    /// Open orders whose deadline has passed at this time.
    pub overdue_at: Option<Timestamp>,
    /// Open orders due in `[from, to)`, soonest first (the scheduler's follow-up).
    pub open_due: Option<(Timestamp, Timestamp)>,
    pub limit: i64,
}

/// A case whose deadline falls in a sweep's window.
#[derive(Debug, Clone, PartialEq)]
pub struct DueCase {
    pub id: fengqiao_domain::CaseId,
    pub due: Timestamp,
    pub lead_unit: Option<UnitId>,
}

/// One run of a scheduled job: its kind (`reminder_handling`, `breach_response`, …), the case
/// and the due time it is for. The three together are unique: a job runs once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRun {
    pub kind: String,
    pub case_id: i64,
    pub due_at: Timestamp,
    pub done_at: Timestamp,
    /// What the job did, for the record (`reminded`, `escalated to tmc-01`, …).
    pub outcome: String,
}

/// A case change a job makes, committed with its claim (like [`Store::commit`]).
#[derive(Debug, Clone)]
pub struct JobCommit {
    pub expected_version: i64,
    pub events: Vec<fengqiao_domain::lifecycle::CaseEvent>,
    pub state: Case,
}

/// A message in a unit's or a user's in-app inbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InboxItem {
    /// Assigned by the store.
    #[serde(default)]
    pub id: i64,
    /// `unit:ID` or `user:ID`.
    pub recipient: String,
    pub case_id: Option<i64>,
    /// `reminder` or `breach`.
    pub kind: String,
    pub message: String,
    pub due_at: Option<Timestamp>,
    pub created_at: Timestamp,
}

/// Which mediations to list (within the reader's scope).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MediationFilter {
    pub case_id: Option<i64>,
    pub status: Option<fengqiao_domain::mediation::MediationStatus>,
    pub unit: Option<String>,
    /// A region code: mediations in its subtree.
    pub region: Option<String>,
    /// A category code (the dispute type).
    pub category: Option<String>,
    pub opened_from: Option<Timestamp>,
    pub opened_to: Option<Timestamp>,
    pub limit: i64,
}

/// One cell of the case cube: cases stored at one region, created in one time slice, of one
/// category, and how many of them are serious or major.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct CubeCell {
    /// The region as stored on the cases (any level).
    pub region: String,
    /// The slice: `(created_at − from) / slice_ms`.
    pub slice: u32,
    pub category: String,
    pub cases: i64,
    pub serious: i64,
}

/// Case counts grouped in the database, and the newest case id when they were read.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CaseCube {
    /// Ordered by region, slice, category.
    pub cells: Vec<CubeCell>,
    pub max_case_id: i64,
}

/// A case's text and the few columns the topic and severity analyses read.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CaseText {
    pub id: i64,
    pub region: String,
    pub category: String,
    /// Serious or major.
    pub serious: bool,
    pub created_at: fengqiao_domain::Timestamp,
    /// Title and description.
    pub text: String,
    /// The names of the case's people (reporter and parties) that are on record: the topic
    /// analysis takes them out of the text, since a person is not a topic.
    pub names: Vec<String>,
}

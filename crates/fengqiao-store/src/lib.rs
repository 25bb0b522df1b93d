//! Storage behind narrow traits, and the operations composed over them.
//!
//! [`Store`] is what every backend implements; [`contract`] is the test suite every backend
//! must pass (SQLite always, PostgreSQL whenever its URL is set). [`Service`] composes domain
//! rules with storage: it validates, decides and commits, so the HTTP layer and the CLI share
//! one way of changing a case.
//!
//! Invariants kept here:
//! - Role and jurisdiction scoping is a [`Scope`] passed into every case query, so a read
//!   outside the user's jurisdiction finds nothing rather than being filtered afterwards.
//! - A change and its audit event commit in one transaction; a creation is acknowledged only
//!   after that commit returns.

pub mod contract;
pub mod contract_sara;
pub mod duty;
pub mod mediation;
pub mod scheduler;
mod service;
pub mod triage;
mod types;
// Problem-solving records (SARA) and outbound delivery.
mod problems;
pub mod webhooks;
// Residents by phone: SMS, the resident roll, consultations.
pub mod residents;
// Early warnings.
pub mod alerts;
pub use alerts::AlertFilter;
// Hot spots, emerging patterns and bursting topics.
pub mod perception;

pub use problems::{ProblemFigures, ProblemFilter, ProblemInput, WindowFigures};
pub use residents::{ResidentSession, SmsConfig, SmsMessage, SmsOutcome, SmsProvider, SmsSender};
pub use scheduler::{Scheduler, SchedulerConfig, SweepReport};
pub use service::{CommitStats, OrderTarget, Reference, Service, ServiceConfig, new_tracking_code};
pub use types::*;

use async_trait::async_trait;
use fengqiao_domain::audit::{Checkpoint, StoredEvent};
use fengqiao_domain::figures::{CaseFacts, FigureCounts, LaterCase, StagePoints};
use fengqiao_domain::lifecycle::CaseEvent;
use fengqiao_domain::{Case, CaseId, Category, Region, TrackingCode, Unit, User};

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;

    // Reference data. Each change is also an audit event.
    async fn put_region(&self, r: &Region, actor: &str, at: fengqiao_domain::Timestamp) -> Result<(), StoreError>;
    /// Inserts a new supervision order (`expected_version` `None`; the store assigns its id) or
    /// updates one still at `expected_version` ([`StoreError::Conflict`] otherwise), with its
    /// audit event, in one transaction. Returns the order as stored.
    async fn save_order(
        &self,
        order: &fengqiao_domain::supervision::SupervisionOrder,
        expected_version: Option<i64>,
        event: &str,
        actor: &str,
        at: fengqiao_domain::Timestamp,
    ) -> Result<fengqiao_domain::supervision::SupervisionOrder, StoreError>;
    async fn order(&self, scope: &Scope, id: i64) -> Result<Option<fengqiao_domain::supervision::SupervisionOrder>, StoreError>;
    /// Orders in scope and filter, newest first.
    async fn orders(&self, scope: &Scope, filter: &OrderFilter) -> Result<Vec<fengqiao_domain::supervision::SupervisionOrder>, StoreError>;
    /// Saves many regions in one transaction (a GeoJSON import): all or none.
    async fn put_regions(&self, regions: &[Region], actor: &str, at: fengqiao_domain::Timestamp) -> Result<(), StoreError>;
    async fn regions(&self) -> Result<Vec<Region>, StoreError>;
    /// Saves a routing rule set as the next version (an audit event too); returns the version.
    async fn save_rules(
        &self,
        rules: &fengqiao_domain::routing::RuleSet,
        actor: &str,
        at: fengqiao_domain::Timestamp,
    ) -> Result<i64, StoreError>;
    /// The newest rule set, or a given version.
    async fn rules(&self, version: Option<i64>) -> Result<Option<fengqiao_domain::routing::RuleSet>, StoreError>;
    async fn put_unit(&self, u: &Unit, actor: &str, at: fengqiao_domain::Timestamp) -> Result<(), StoreError>;
    async fn units(&self) -> Result<Vec<Unit>, StoreError>;
    async fn put_category(&self, c: &Category, actor: &str, at: fengqiao_domain::Timestamp) -> Result<(), StoreError>;
    async fn categories(&self) -> Result<Vec<Category>, StoreError>;
    async fn put_user(&self, u: &User, creds: &Credentials, actor: &str, at: fengqiao_domain::Timestamp) -> Result<(), StoreError>;
    async fn users(&self) -> Result<Vec<User>, StoreError>;
    /// A user and their stored secrets, for password sign-in.
    async fn user_credentials(&self, user_id: &str) -> Result<Option<(User, Credentials)>, StoreError>;
    /// Sessions are authentication state, not case data: they are not audit events.
    async fn create_session(&self, s: &Session) -> Result<(), StoreError>;
    /// A live session (not expired at `now`) and its user.
    async fn session(&self, id_hash: &str, now: fengqiao_domain::Timestamp) -> Result<Option<(Session, User)>, StoreError>;
    async fn delete_session(&self, id_hash: &str) -> Result<(), StoreError>;
    /// Signs the user out everywhere; returns how many sessions ended.
    async fn delete_user_sessions(&self, user_id: &str) -> Result<u64, StoreError>;
    /// The user holding an API token, by the token's SHA-256.
    async fn user_by_token_hash(&self, token_hash: &str) -> Result<Option<User>, StoreError>;

    /// Creates cases in one transaction (group commit). Each entry gets its own outcome: an
    /// idempotency replay or mismatch affects only that entry.
    async fn create_cases(&self, batch: Vec<CreateCase>) -> Result<Vec<Result<Created, StoreError>>, StoreError>;
    async fn case(&self, scope: &Scope, id: CaseId) -> Result<Option<Case>, StoreError>;
    async fn case_by_tracking(&self, code: &TrackingCode) -> Result<Option<Case>, StoreError>;
    /// Cases in id order after `page.after`, newest first when `page.descending`.
    async fn list_cases(&self, scope: &Scope, filter: &CaseFilter, page: &Page) -> Result<Vec<Case>, StoreError>;
    /// The first `limit` cases of a work queue in the scope, and how many match in all.
    async fn queue(&self, scope: &Scope, q: &QueueQuery) -> Result<(Vec<Case>, u64), StoreError>;
    async fn case_events(&self, scope: &Scope, id: CaseId) -> Result<Option<Vec<StoredEvent>>, StoreError>;
    /// Appends events and stores the new state if the case is still at `expected_version`;
    /// [`StoreError::Conflict`] otherwise, and nothing is written.
    async fn commit(&self, expected_version: i64, events: &[CaseEvent], state: &Case) -> Result<(), StoreError>;

    /// Every case staff have judged for escalation risk, with their latest judgement (`true`:
    /// high risk), in case id order: the labels of the learned risk model.
    async fn risk_judgements(&self) -> Result<Vec<(CaseId, bool)>, StoreError>;

    async fn persons(&self, ids: &[i64]) -> Result<Vec<Person>, StoreError>;
    /// Every case any of these people is involved in (as reporter or party), with which of
    /// them: `(case id, person ids)`.
    async fn cases_of_persons(&self, ids: &[i64]) -> Result<Vec<(i64, Vec<i64>)>, StoreError>;
    /// Erases a person's data on a lawful request; the log keeps only the id.
    async fn erase_person(&self, id: i64, actor: &str, at: fengqiao_domain::Timestamp) -> Result<bool, StoreError>;

    /// Stores a file for a case and records its SHA-256 in the audit chain (as an
    /// `attachment_added` event outside the case's own events, so case replay is unaffected).
    async fn add_attachment(&self, a: &NewAttachment) -> Result<AttachmentMeta, StoreError>;
    /// The attachments of a case the scope may see, oldest first (empty outside the scope).
    async fn attachments(&self, scope: &Scope, case_id: CaseId) -> Result<Vec<AttachmentMeta>, StoreError>;
    /// One attachment and its bytes, if its case is in the scope.
    async fn attachment(&self, scope: &Scope, id: i64) -> Result<Option<(AttachmentMeta, Vec<u8>)>, StoreError>;

    /// The cohort (dispatched within the period, in scope and filter) and the later cases that
    /// may make its closures repeats.
    async fn case_facts(&self, scope: &Scope, filter: &FactsFilter) -> Result<(Vec<CaseFacts>, Vec<LaterCase>), StoreError>;
    /// The same cohort's rate counts, computed in the database, and its stage timestamps.
    /// Must equal `FigureCounts::from_facts` over [`Store::case_facts`] (the contract checks).
    async fn figure_counts(
        &self,
        scope: &Scope,
        filter: &FactsFilter,
        now: fengqiao_domain::Timestamp,
    ) -> Result<(FigureCounts, Vec<StagePoints>), StoreError>;
    /// The same counts for each region subtree in `regions` (codes), within the cohort the
    /// scope and filter give: what a map shaded by a figure needs, in one pass.
    async fn figure_counts_by_region(
        &self,
        scope: &Scope,
        filter: &FactsFilter,
        regions: &[String],
        now: fengqiao_domain::Timestamp,
    ) -> Result<Vec<FigureCounts>, StoreError>;

    /// Stores a new API key; refused if the name is taken (even by a revoked key, so a name
    /// in the log always means one key). An audit event like other reference data.
    async fn create_api_key(&self, key: &ApiKey, actor: &str, at: fengqiao_domain::Timestamp) -> Result<(), StoreError>;
    /// Revokes a key by name; `false` if there is no live key of that name.
    async fn revoke_api_key(&self, name: &str, actor: &str, at: fengqiao_domain::Timestamp) -> Result<bool, StoreError>;
    /// Every key, revoked ones included, by name.
    async fn api_keys(&self) -> Result<Vec<ApiKey>, StoreError>;
    /// A key by the SHA-256 of its secret, revoked or not.
    async fn api_key_by_hash(&self, key_hash: &str) -> Result<Option<ApiKey>, StoreError>;

    /// The public list of requests (Open311), newest first.
    async fn public_cases(&self, q: &PublicCaseQuery) -> Result<Vec<Case>, StoreError>;
    /// Case events at `[from, to)` of cases in `categories`, in time order, at most `limit`.
    async fn case_events_between(
        &self,
        categories: &[String],
        from: fengqiao_domain::Timestamp,
        to: fengqiao_domain::Timestamp,
        limit: i64,
    ) -> Result<Vec<StoredEvent>, StoreError>;
    /// Records an update pushed by another system, with its audit event, unless the same key
    /// already sent this `update_id`: then returns the stored one and writes nothing.
    async fn record_request_update(&self, u: &RequestUpdate, actor: &str) -> Result<(RequestUpdate, bool), StoreError>;
    /// The update a key already sent with this id, if any.
    async fn request_update(&self, key_name: &str, update_id: &str) -> Result<Option<RequestUpdate>, StoreError>;
    /// Updates received at `[from, to)` for cases in `categories`, in order of receipt.
    async fn request_updates(
        &self,
        categories: &[String],
        from: fengqiao_domain::Timestamp,
        to: fengqiao_domain::Timestamp,
        limit: i64,
    ) -> Result<Vec<RequestUpdate>, StoreError>;

    async fn audit_events(&self, after_seq: i64, limit: i64) -> Result<Vec<StoredEvent>, StoreError>;
    /// The newest sequence number and hash.
    async fn audit_head(&self) -> Result<(i64, String), StoreError>;
    async fn save_checkpoint(&self, c: &Checkpoint) -> Result<(), StoreError>;
    async fn checkpoints(&self) -> Result<Vec<Checkpoint>, StoreError>;

    /// Writes a consistent snapshot of everything, record by record, while others write.
    async fn export_snapshot(&self, sink: &mut (dyn FnMut(BackupRecord) -> Result<(), StoreError> + Send)) -> Result<u64, StoreError>;
    /// Loads a snapshot into an empty store, keeping ids and the audit chain as they were.
    async fn import_snapshot(&self, records: Vec<BackupRecord>) -> Result<u64, StoreError>;
    /// After a bulk load (restore, the demo): recomputes what live writes maintain as they go
    /// (each closed case's first follow-up) and refreshes the planner's statistics.
    async fn analyze(&self) -> Result<(), StoreError>;
    /// Whether the store holds no cases, regions or events (restore refuses otherwise).
    async fn is_empty(&self) -> Result<bool, StoreError>;

    // The deadline scheduler and the business calendar.
    /// Open cases whose `deadline` is running and falls in `[from, to)`, earliest first, at
    /// most `limit`, leaving out those whose job `job_kind` already ran for that due time.
    async fn due_cases(
        &self,
        deadline: fengqiao_domain::escalation::Deadline,
        from: fengqiao_domain::Timestamp,
        to: fengqiao_domain::Timestamp,
        job_kind: &str,
        limit: i64,
    ) -> Result<Vec<DueCase>, StoreError>;
    /// Claims a job and applies its effect (a case change and inbox messages) in one
    /// transaction. `Ok(false)`, and nothing written, when that (kind, case, due) already ran;
    /// [`StoreError::Conflict`] when the case changed since it was read.
    async fn run_job(&self, job: &JobRun, commit: Option<&JobCommit>, notices: &[InboxItem]) -> Result<bool, StoreError>;
    /// The jobs that ran for a case, oldest first.
    async fn jobs_of(&self, case_id: CaseId) -> Result<Vec<JobRun>, StoreError>;
    /// How far the sweep has got (`None` before its first run).
    async fn swept_to(&self) -> Result<Option<fengqiao_domain::Timestamp>, StoreError>;
    async fn set_swept_to(&self, t: fengqiao_domain::Timestamp) -> Result<(), StoreError>;
    /// The newest messages for any of the recipients, newest first.
    async fn inbox(&self, recipients: &[String], limit: i64) -> Result<Vec<InboxItem>, StoreError>;
    /// Stores a holiday schedule (one year's CSV) an administrator loaded; an audit event.
    async fn put_calendar_year(&self, year: i16, csv: &str, actor: &str, at: fengqiao_domain::Timestamp) -> Result<(), StoreError>;
    async fn calendar_years(&self) -> Result<Vec<(i16, String)>, StoreError>;

    // Problem-solving records (SARA), webhooks and e-mail.
    /// Inserts a new problem (`expected_version` `None`; the store assigns its id) or updates
    /// one still at `expected_version`, with its audit event, in one transaction.
    async fn save_problem(
        &self,
        p: &fengqiao_domain::problem::Problem,
        expected_version: Option<i64>,
        event: &str,
        actor: &str,
        at: fengqiao_domain::Timestamp,
    ) -> Result<fengqiao_domain::problem::Problem, StoreError>;
    /// A problem in scope: a region scope sees problems in its subtree, a unit scope those
    /// naming the unit (responsible, or owner of an action).
    async fn problem(&self, scope: &Scope, id: i64) -> Result<Option<fengqiao_domain::problem::Problem>, StoreError>;
    /// Problems in scope and filter, newest first.
    async fn problems(&self, scope: &Scope, filter: &ProblemFilter) -> Result<Vec<fengqiao_domain::problem::Problem>, StoreError>;
    /// Inserts (`id` 0) or replaces a webhook subscription; an audit event without the secret.
    async fn save_subscription(
        &self,
        s: &fengqiao_domain::webhook::Subscription,
        actor: &str,
        at: fengqiao_domain::Timestamp,
    ) -> Result<fengqiao_domain::webhook::Subscription, StoreError>;
    async fn subscriptions(&self) -> Result<Vec<fengqiao_domain::webhook::Subscription>, StoreError>;
    /// Sets (or with `None` removes) a user's e-mail address; an audit event.
    async fn set_user_email(
        &self,
        user_id: &str,
        email: Option<&str>,
        actor: &str,
        at: fengqiao_domain::Timestamp,
    ) -> Result<(), StoreError>;
    /// Every `(user id, address)`.
    async fn user_emails(&self) -> Result<Vec<(String, String)>, StoreError>;
    /// Claims up to `limit` pending messages of these channels due at `now`, leasing each
    /// until `lease_until` so no other server sends it meanwhile.
    async fn claim_outbox(
        &self,
        channels: &[&str],
        now: fengqiao_domain::Timestamp,
        lease_until: fengqiao_domain::Timestamp,
        limit: i64,
    ) -> Result<Vec<webhooks::OutboxItem>, StoreError>;
    /// Records an attempt: delivered, retry later, or dead.
    async fn outbox_attempted(&self, id: i64, attempt: &webhooks::Attempt) -> Result<(), StoreError>;
    /// Outbox messages, newest first.
    async fn outbox(&self, filter: &webhooks::OutboxFilter) -> Result<Vec<webhooks::OutboxItem>, StoreError>;
    /// Queues a dead message again (attempts reset, due now); an audit event. `false` when
    /// there is no dead message with that id.
    async fn requeue_outbox(&self, id: i64, actor: &str, at: fengqiao_domain::Timestamp) -> Result<bool, StoreError>;
    /// Deletes delivered messages delivered before `before`; returns how many.
    async fn prune_outbox(&self, before: fengqiao_domain::Timestamp) -> Result<u64, StoreError>;

    // Mediation.
    /// Inserts a new mediation (`expected_version` `None`; the store assigns its id) or updates
    /// one still at `expected_version`, with its audit event, its room and mediator bookings and
    /// the case change it causes (if any), in one transaction. A room or mediator another
    /// mediation holds at an overlapping time is refused (`DomainError::Precondition`) and
    /// nothing is written.
    async fn save_mediation(
        &self,
        m: &fengqiao_domain::mediation::Mediation,
        expected_version: Option<i64>,
        event: &str,
        actor: &str,
        at: fengqiao_domain::Timestamp,
        case: Option<&JobCommit>,
    ) -> Result<fengqiao_domain::mediation::Mediation, StoreError>;
    async fn mediation(&self, scope: &Scope, id: i64) -> Result<Option<fengqiao_domain::mediation::Mediation>, StoreError>;
    /// Mediations in scope and filter, newest first.
    async fn mediations(&self, scope: &Scope, filter: &MediationFilter) -> Result<Vec<fengqiao_domain::mediation::Mediation>, StoreError>;
    /// Bookings overlapping `[from, to)` of the mediations in scope, by start.
    async fn mediation_bookings(
        &self,
        scope: &Scope,
        from: fengqiao_domain::Timestamp,
        to: fengqiao_domain::Timestamp,
    ) -> Result<Vec<fengqiao_domain::mediation::Booking>, StoreError>;
    /// Mediations being fulfilled whose earliest unsettled term falls due in `[from, to)`,
    /// leaving out those whose job `job_kind` already ran for (case, that due date).
    async fn mediations_term_due(
        &self,
        from: fengqiao_domain::Timestamp,
        to: fengqiao_domain::Timestamp,
        job_kind: &str,
        limit: i64,
    ) -> Result<Vec<fengqiao_domain::mediation::Mediation>, StoreError>;
    /// Mediations whose judicial-confirmation window (not yet applied for) ends in `[from, to)`,
    /// leaving out those whose job `job_kind` already ran for (case, window end).
    async fn mediations_confirmation_due(
        &self,
        from: fengqiao_domain::Timestamp,
        to: fengqiao_domain::Timestamp,
        job_kind: &str,
        limit: i64,
    ) -> Result<Vec<fengqiao_domain::mediation::Mediation>, StoreError>;

    // ---- On-duty rotas ----
    /// Replaces a unit's shifts that start in `[from, to)` with `shifts` (checked by the
    /// caller); an audit event.
    async fn put_rota(
        &self,
        unit: &fengqiao_domain::UnitId,
        from: fengqiao_domain::Timestamp,
        to: fengqiao_domain::Timestamp,
        shifts: &[fengqiao_domain::duty::DutyShift],
        actor: &str,
        at: fengqiao_domain::Timestamp,
    ) -> Result<(), StoreError>;
    /// A unit's shifts that overlap `[from, to)`, by start.
    async fn rota(
        &self,
        unit: &fengqiao_domain::UnitId,
        from: fengqiao_domain::Timestamp,
        to: fengqiao_domain::Timestamp,
    ) -> Result<Vec<fengqiao_domain::duty::DutyShift>, StoreError>;
    /// Who is on duty at `at` in any of the units.
    async fn on_duty(
        &self,
        units: &[fengqiao_domain::UnitId],
        at: fengqiao_domain::Timestamp,
    ) -> Result<Vec<fengqiao_domain::duty::DutyShift>, StoreError>;
    // Residents by phone: the SMS outbox, the resident roll, one-time codes, resident
    // sessions, "my cases", and community consultations.
    /// Queued messages due at `now` (not sent, not given up, not claimed), oldest first, with
    /// each person's phone read now.
    async fn sms_due(&self, now: fengqiao_domain::Timestamp, limit: i64) -> Result<Vec<SmsMessage>, StoreError>;
    /// Claims a message until `lease_until`; `false` when another sender holds it or it is done.
    async fn sms_claim(
        &self,
        id: i64,
        now: fengqiao_domain::Timestamp,
        lease_until: fengqiao_domain::Timestamp,
    ) -> Result<bool, StoreError>;
    /// Records an attempt's outcome; a sent message is also an audit event (without the phone).
    async fn sms_done(&self, id: i64, outcome: &SmsOutcome, at: fengqiao_domain::Timestamp) -> Result<(), StoreError>;
    /// The newest messages, for administrators and tests.
    async fn sms_outbox(&self, limit: i64) -> Result<Vec<SmsMessage>, StoreError>;
    /// Inserts (id 0: the store assigns one) or updates a roll entry, with its audit event
    /// (no phone in it).
    async fn save_resident(
        &self,
        r: &fengqiao_domain::resident::Resident,
        event: &str,
        actor: &str,
        at: fengqiao_domain::Timestamp,
    ) -> Result<fengqiao_domain::resident::Resident, StoreError>;
    async fn resident(&self, id: i64) -> Result<Option<fengqiao_domain::resident::Resident>, StoreError>;
    async fn resident_by_phone(&self, phone: &str) -> Result<Option<fengqiao_domain::resident::Resident>, StoreError>;
    /// Stores a phone's new code, replacing any earlier one (authentication state, no event).
    async fn put_otp(&self, c: &fengqiao_domain::resident::OtpCode) -> Result<(), StoreError>;
    /// Counts one attempt on the phone's code atomically and returns the code with the count.
    async fn otp_attempt(&self, phone: &str) -> Result<Option<fengqiao_domain::resident::OtpCode>, StoreError>;
    /// Removes the phone's code; `false` when there was none (it was used or replaced).
    async fn delete_otp(&self, phone: &str) -> Result<bool, StoreError>;
    async fn create_resident_session(&self, s: &ResidentSession) -> Result<(), StoreError>;
    /// A live resident session and its roll entry.
    async fn resident_session(
        &self,
        id_hash: &str,
        now: fengqiao_domain::Timestamp,
    ) -> Result<Option<(ResidentSession, fengqiao_domain::resident::Resident)>, StoreError>;
    async fn delete_resident_session(&self, id_hash: &str) -> Result<(), StoreError>;
    /// Removes codes and resident sessions that expired before `now`; returns how many.
    async fn purge_resident_auth(&self, now: fengqiao_domain::Timestamp) -> Result<u64, StoreError>;
    /// The cases whose reporter gave this phone (not erased), newest first.
    async fn cases_reported_by(&self, phone: &str) -> Result<Vec<Case>, StoreError>;
    /// Inserts (`expected_version` `None`; the store assigns the id) or updates a consultation
    /// still at `expected_version`, with its audit event.
    async fn save_consultation(
        &self,
        c: &fengqiao_domain::consultation::Consultation,
        expected_version: Option<i64>,
        event: &str,
        actor: &str,
        at: fengqiao_domain::Timestamp,
    ) -> Result<fengqiao_domain::consultation::Consultation, StoreError>;
    async fn consultation(&self, scope: &Scope, id: i64) -> Result<Option<fengqiao_domain::consultation::Consultation>, StoreError>;
    /// Consultations in scope, newest first.
    async fn consultations(&self, scope: &Scope, limit: i64) -> Result<Vec<fengqiao_domain::consultation::Consultation>, StoreError>;
    /// Adds a proposal or comment (with its audit event) if the consultation still takes input
    /// at `at`; returns its id.
    async fn add_consult_entry(&self, e: &residents::NewEntry, at: fengqiao_domain::Timestamp) -> Result<i64, StoreError>;
    /// A resident's one support: `false`, and nothing written, when they already gave it.
    async fn support(
        &self,
        consultation_id: i64,
        proposal_id: i64,
        resident_id: i64,
        at: fengqiao_domain::Timestamp,
    ) -> Result<bool, StoreError>;
    /// The proposals (with supports) and comments, without their authors.
    async fn consult_entries(&self, consultation_id: i64) -> Result<residents::ConsultEntries, StoreError>;
    /// The proposal a resident supported, if any.
    async fn supported(&self, consultation_id: i64, resident_id: i64) -> Result<Option<i64>, StoreError>;

    // ---- Early warnings ----
    /// What the warning rules read at `now`: the reporters and parties of cases in
    /// `dispute_categories` created in `(parties_since, now]`, and the open cases past their
    /// handling deadline.
    async fn alert_facts(
        &self,
        now: fengqiao_domain::Timestamp,
        parties_since: fengqiao_domain::Timestamp,
        dispute_categories: &[String],
    ) -> Result<fengqiao_domain::alert::AlertFacts, StoreError>;
    /// Stores new alerts, each with its audit event and its inbox messages, in one
    /// transaction, leaving out any whose dedup key is already live (open or acknowledged).
    /// Returns the alerts stored, with their ids.
    async fn raise_alerts(
        &self,
        alerts: &[(fengqiao_domain::alert::Alert, Vec<InboxItem>)],
        actor: &str,
        at: fengqiao_domain::Timestamp,
    ) -> Result<Vec<fengqiao_domain::alert::Alert>, StoreError>;
    /// Updates an alert still at `expected_version`, with its audit event.
    async fn save_alert(
        &self,
        a: &fengqiao_domain::alert::Alert,
        expected_version: i64,
        event: &str,
        actor: &str,
        at: fengqiao_domain::Timestamp,
    ) -> Result<fengqiao_domain::alert::Alert, StoreError>;
    /// An alert in scope (a region scope sees its subtree's; a unit scope none).
    async fn alert(&self, scope: &Scope, id: i64) -> Result<Option<fengqiao_domain::alert::Alert>, StoreError>;
    /// Alerts in scope and filter, newest first.
    async fn alerts(&self, scope: &Scope, filter: &AlertFilter) -> Result<Vec<fengqiao_domain::alert::Alert>, StoreError>;
    /// Alerts in scope raised and closed in `[from, to)`, and live now.
    async fn alert_counts(
        &self,
        scope: &Scope,
        from: fengqiao_domain::Timestamp,
        to: fengqiao_domain::Timestamp,
    ) -> Result<fengqiao_domain::alert::AlertCounts, StoreError>;
    /// Cases in scope created in `[from, to)`, counted by (region, channel).
    async fn reports_by_region_channel(
        &self,
        scope: &Scope,
        from: fengqiao_domain::Timestamp,
        to: fengqiao_domain::Timestamp,
    ) -> Result<Vec<(String, String, i64)>, StoreError>;

    // ---- Perception ----
    /// Cases in scope created in `[from, from + slices × slice_ms)`, counted in the database
    /// by (region, slice, category) with how many are serious or major, and the newest case id.
    async fn case_cube(&self, scope: &Scope, from: fengqiao_domain::Timestamp, slice_ms: i64, slices: u32) -> Result<CaseCube, StoreError>;
    /// The cases in scope created in `[from, to)` with their texts, by id.
    async fn case_texts(
        &self,
        scope: &Scope,
        from: fengqiao_domain::Timestamp,
        to: fengqiao_domain::Timestamp,
    ) -> Result<Vec<CaseText>, StoreError>;
    /// Stores an analytics run (derived data: no audit event), keeping the newest few.
    async fn save_perception_run(&self, run: &fengqiao_domain::perception::PerceptionRun) -> Result<(), StoreError>;
    /// The newest analytics run.
    async fn perception_run(&self) -> Result<Option<fengqiao_domain::perception::PerceptionRun>, StoreError>;
}

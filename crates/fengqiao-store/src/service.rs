//! Operations over a [`Store`]: validation against reference data, lifecycle decisions, group
//! commit of creations, figures and audit checkpoints. The HTTP layer and the CLI both go
//! through here, so there is one way to change a case.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use fengqiao_domain::audit::{ChainVerifier, Checkpoint, VerifyOutcome};
use fengqiao_domain::calendar::{Calendar, CalendarSettings, HolidayTable};
use fengqiao_domain::case::{CaseDraft, IntakeContext};
use fengqiao_domain::escalation::EscalationLadder;
use fengqiao_domain::figures::{Figures, FiguresConfig};
use fengqiao_domain::lifecycle::{CaseEvent, DecideContext};
use fengqiao_domain::region::RegionLevel;
use fengqiao_domain::{
    Actor, Case, CaseId, Category, Channel, Clock, Command, DomainError, LifecycleConfig, Point, Region, RegionCode, Timestamp,
    TrackingCode, Unit,
};
use rand::RngCore;
use tokio::sync::oneshot;

use crate::scheduler::SchedulerConfig;
use crate::{CreateCase, Created, FactsFilter, Scope, Store, StoreError};

#[derive(Debug, Clone)]
pub struct ServiceConfig {
    pub lifecycle: LifecycleConfig,
    pub figures: FiguresConfig,
    /// Sign the chain head after this many new events (0: only when asked).
    pub checkpoint_every: i64,
    /// HMAC key for checkpoints; kept outside the database.
    pub audit_key: Option<Vec<u8>>,
    /// A file outside the database that also receives every checkpoint, so deleting the
    /// checkpoints table does not hide a rewrite.
    pub checkpoint_file: Option<std::path::PathBuf>,
    /// Largest group commit.
    pub max_batch: usize,
    /// Time zone, working hours, 24×7 or not; the holiday table comes with the program and
    /// from the years an administrator loaded.
    pub calendar: CalendarSettings,
    /// Starting tiers and automatic escalation.
    pub ladder: EscalationLadder,
    /// The deadline scheduler.
    pub scheduler: SchedulerConfig,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        ServiceConfig {
            lifecycle: LifecycleConfig::default(),
            figures: FiguresConfig::default(),
            checkpoint_every: 1000,
            audit_key: None,
            checkpoint_file: None,
            max_batch: 256,
            calendar: CalendarSettings::default(),
            ladder: EscalationLadder::default(),
            scheduler: SchedulerConfig::default(),
        }
    }
}

/// Reference data held in memory: read on every intake, changed rarely.
#[derive(Debug, Default)]
pub struct Reference {
    pub regions: HashMap<String, Region>,
    pub county: Option<Region>,
    pub categories: HashMap<String, Category>,
    pub units: HashMap<String, Unit>,
    /// The business calendar deadlines are computed on.
    pub calendar: Calendar,
    /// Regions with boundaries, most specific level first, for point lookup.
    by_level: Vec<String>,
}

impl Reference {
    pub fn load(regions: Vec<Region>, categories: Vec<Category>, units: Vec<Unit>) -> Reference {
        let county = regions.iter().find(|r| r.level() == RegionLevel::County).cloned();
        let mut by_level: Vec<&Region> = regions.iter().filter(|r| r.boundary.is_some() && r.level() != RegionLevel::County).collect();
        by_level.sort_by(|a, b| b.level().cmp(&a.level()).then(a.code.cmp(&b.code)));
        let by_level = by_level.into_iter().map(|r| r.code.as_str().to_string()).collect();
        Reference {
            regions: regions.into_iter().map(|r| (r.code.as_str().to_string(), r)).collect(),
            county,
            categories: categories.into_iter().map(|c| (c.code.clone(), c)).collect(),
            units: units.into_iter().map(|u| (u.id.0.clone(), u)).collect(),
            calendar: Calendar::default(),
            by_level,
        }
    }

    /// The most specific region whose boundary contains the point (a linear scan; the
    /// spatial index arrives with the geography work).
    pub fn region_of_point(&self, p: Point) -> Option<RegionCode> {
        self.by_level
            .iter()
            .filter_map(|c| self.regions.get(c))
            .find(|r| r.boundary.as_ref().is_some_and(|b| b.contains(p)))
            .map(|r| r.code.clone())
    }
}

type Pending = (CreateCase, oneshot::Sender<Result<Created, StoreError>>);

/// Group-commit counters, for `/metrics` and the intake benchmark.
#[derive(Debug, Default)]
pub struct CommitStats {
    /// Transactions that created cases (one durable commit each).
    pub batches: std::sync::atomic::AtomicU64,
    /// Cases those transactions created.
    pub cases: std::sync::atomic::AtomicU64,
}

pub struct Service {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub config: ServiceConfig,
    reference: RwLock<Arc<Reference>>,
    /// Creations waiting for the committer task.
    intake: tokio::sync::mpsc::Sender<Pending>,
    /// Events written by this process since the last checkpoint.
    unsigned: std::sync::atomic::AtomicI64,
    /// Held while a checkpoint is written, so concurrent writers sign the head once.
    checkpointing: tokio::sync::Mutex<()>,
    pub stats: Arc<CommitStats>,
}

/// The committer: takes every creation queued so far (up to `max_batch`), commits them in one
/// transaction and answers each. One task, so a burst costs one wake-up per request and one
/// fsync per batch.
fn spawn_committer(store: Arc<dyn Store>, stats: Arc<CommitStats>, max_batch: usize) -> tokio::sync::mpsc::Sender<Pending> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Pending>(max_batch * 16);
    tokio::spawn(async move {
        let mut buf: Vec<Pending> = Vec::with_capacity(max_batch);
        while rx.recv_many(&mut buf, max_batch).await > 0 {
            let (items, senders): (Vec<CreateCase>, Vec<_>) = buf.drain(..).unzip();
            stats.batches.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            stats.cases.fetch_add(items.len() as u64, std::sync::atomic::Ordering::Relaxed);
            match store.create_cases(items).await {
                Ok(results) => {
                    for (s, r) in senders.into_iter().zip(results) {
                        let _ = s.send(r);
                    }
                }
                Err(e) => {
                    let msg = e.to_string();
                    for s in senders {
                        let _ = s.send(Err(StoreError::Backend(msg.clone())));
                    }
                }
            }
        }
    });
    tx
}

/// 60 random bits from the operating system's generator.
pub fn new_tracking_code() -> TrackingCode {
    let mut b = [0u8; 8];
    rand::thread_rng().fill_bytes(&mut b);
    TrackingCode::from_random(b)
}

impl Service {
    pub async fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, config: ServiceConfig) -> Result<Service, StoreError> {
        let stats = Arc::new(CommitStats::default());
        let intake = spawn_committer(store.clone(), stats.clone(), config.max_batch.max(1));
        let svc = Service {
            store,
            clock,
            config,
            reference: RwLock::new(Arc::new(Reference::default())),
            intake,
            unsigned: std::sync::atomic::AtomicI64::new(0),
            checkpointing: tokio::sync::Mutex::new(()),
            stats,
        };
        svc.reload().await?;
        Ok(svc)
    }

    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Re-reads reference data after a change.
    pub async fn reload(&self) -> Result<(), StoreError> {
        let mut r = Reference::load(self.store.regions().await?, self.store.categories().await?, self.store.units().await?);
        r.calendar = self.build_calendar().await?;
        *self.reference.write().expect("not poisoned") = Arc::new(r);
        Ok(())
    }

    /// The configured calendar over the built-in holidays and every year loaded since.
    async fn build_calendar(&self) -> Result<Calendar, StoreError> {
        let mut table = HolidayTable::builtin();
        for (year, csv) in self.store.calendar_years().await? {
            match HolidayTable::parse_csv(&csv) {
                Ok(t) => table = table.merged(&t),
                // Checked whole before it was stored; a row that no longer parses is a bug
                // or a hand edit, and the rest of the calendar still works.
                Err(e) => tracing::warn!(year, problems = e.len(), "a stored holiday schedule does not parse; ignored"),
            }
        }
        Calendar::from_settings(&self.config.calendar, table).map_err(|e| DomainError::Invalid(vec![e]).into())
    }

    /// Loads holiday schedules (the CSV format of the built-in table). The file is checked
    /// whole and refused whole; each year it holds replaces that year's schedule. Returns the
    /// years loaded.
    pub async fn load_calendar(&self, csv: &str, actor: &Actor) -> Result<Vec<i16>, StoreError> {
        let table = HolidayTable::parse_csv(csv).map_err(DomainError::Invalid)?;
        let years: Vec<i16> = table.years().into_iter().collect();
        for y in &years {
            self.store.put_calendar_year(*y, &table.year_csv(*y), &actor.label(), self.now()).await?;
        }
        self.reload().await?;
        Ok(years)
    }

    /// The calendar in use.
    pub fn calendar(&self) -> Calendar {
        self.reference().calendar.clone()
    }

    pub fn reference(&self) -> Arc<Reference> {
        self.reference.read().expect("not poisoned").clone()
    }

    /// Validates a draft into a creation request (no IO).
    pub fn prepare(
        &self,
        draft: CaseDraft,
        actor: &Actor,
        default_channel: Channel,
        idempotency: Option<(String, String)>,
    ) -> Result<CreateCase, StoreError> {
        let r = self.reference();
        let county = r.county.as_ref().ok_or_else(|| StoreError::Backend("no county is configured; run `fengqiao init` first".into()))?;
        let point = draft.point().and_then(Result::ok);
        let region = draft.region.as_deref().and_then(|c| r.regions.get(c.trim()));
        let cx = IntakeContext {
            category: r.categories.get(draft.category.trim()),
            region,
            county,
            region_of_point: point.and_then(|p| r.region_of_point(p)),
            default_channel,
            ladder: Some(&self.config.ladder),
        };
        let new = draft.validate(&cx)?;
        Ok(CreateCase { new, tracking_code: new_tracking_code(), at: self.now(), actor: actor.label(), idempotency })
    }

    /// Validates and durably stores a new case. Concurrent calls are committed together in
    /// one transaction (group commit); each returns only after that commit.
    pub async fn create(
        &self,
        draft: CaseDraft,
        actor: &Actor,
        default_channel: Channel,
        idempotency: Option<(String, String)>,
    ) -> Result<Created, StoreError> {
        let item = self.prepare(draft, actor, default_channel, idempotency)?;
        let created = self.submit(item).await?;
        self.maybe_checkpoint().await;
        Ok(created)
    }

    /// Queues a prepared creation and waits for its commit.
    pub async fn submit(&self, item: CreateCase) -> Result<Created, StoreError> {
        let (tx, rx) = oneshot::channel();
        self.intake.send((item, tx)).await.map_err(|_| StoreError::Backend("the committer has stopped".into()))?;
        let created = rx.await.unwrap_or_else(|_| Err(StoreError::Backend("the commit was abandoned".into())))?;
        if !created.replayed {
            self.unsigned.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(created)
    }

    /// Runs a lifecycle command on a case as `actor`, optionally only if the case is still at
    /// `expected_version`.
    pub async fn act(&self, actor: &Actor, id: CaseId, expected_version: Option<i64>, cmd: &Command) -> Result<Case, StoreError> {
        let scope = Scope::for_actor(actor);
        let r = self.reference();
        for attempt in 0..3 {
            let case = self.store.case(&scope, id).await?.ok_or(StoreError::NotFound)?;
            if let Some(v) = expected_version
                && v != case.version
            {
                return Err(StoreError::Conflict { current: case.version });
            }
            self.check_references(&scope, &r, cmd).await?;
            let (events, next) = self.decide(&r, &case, actor, cmd, self.now())?;
            match self.store.commit(case.version, &events, &next).await {
                Ok(()) => {
                    self.unsigned.fetch_add(events.len() as i64, std::sync::atomic::Ordering::Relaxed);
                    self.maybe_checkpoint().await;
                    return Ok(next);
                }
                // Someone else changed the case between our read and write: if the caller
                // did not pin a version, decide again on the fresh state.
                Err(StoreError::Conflict { .. }) if expected_version.is_none() && attempt < 2 => {
                    continue;
                }
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::Conflict { current: -1 })
    }

    /// The events a command causes on a case at `now` and the state after them, with the
    /// deadlines computed on the calendar and the category's policy.
    pub fn decide(
        &self,
        r: &Reference,
        case: &Case,
        actor: &Actor,
        cmd: &Command,
        now: Timestamp,
    ) -> Result<(Vec<CaseEvent>, Case), StoreError> {
        let policy = r.categories.get(&case.category).map(|c| c.policy).unwrap_or(fengqiao_domain::DeadlinePolicy::DEFAULT);
        let cx = DecideContext { now, actor, config: &self.config.lifecycle, policy, calendar: &r.calendar };
        let kinds = case.decide(cmd, &cx)?;
        let mut next = case.clone();
        let events: Vec<CaseEvent> = kinds.into_iter().map(|kind| CaseEvent { at: now, actor: actor.label(), kind }).collect();
        for e in &events {
            next.apply(e);
        }
        Ok((events, next))
    }

    /// Counts events written outside [`Service::act`] (the scheduler's) towards the next
    /// checkpoint.
    pub async fn note_written(&self, events: usize) {
        self.unsigned.fetch_add(events as i64, std::sync::atomic::Ordering::Relaxed);
        self.maybe_checkpoint().await;
    }

    async fn check_references(&self, scope: &Scope, r: &Reference, cmd: &Command) -> Result<(), StoreError> {
        let unit = |u: &fengqiao_domain::UnitId, field: &str| -> Result<(), StoreError> {
            if r.units.contains_key(&u.0) { Ok(()) } else { Err(DomainError::invalid(field, format!("unknown unit '{u}'")).into()) }
        };
        match cmd {
            Command::Dispatch { lead_unit, co_units } => {
                unit(lead_unit, "lead_unit")?;
                for u in co_units {
                    unit(u, "co_units")?;
                }
            }
            Command::Transfer { to, .. } | Command::Escalate { to, .. } | Command::ReturnToTier { to, .. } => unit(to, "to")?,
            Command::Merge { into } => match self.store.case(scope, *into).await? {
                Some(t) if t.status.is_open() => {}
                Some(_) => {
                    return Err(DomainError::invalid("into", "the target case is not open").into());
                }
                None => return Err(DomainError::invalid("into", "no such case").into()),
            },
            _ => {}
        }
        Ok(())
    }

    pub async fn figures(&self, actor: &Actor, filter: &FactsFilter) -> Result<Figures, StoreError> {
        let scope = Scope::for_actor(actor);
        let now = self.now();
        let (counts, points) = self.store.figure_counts(&scope, filter, now).await?;
        Ok(fengqiao_domain::figures::assemble(&counts, &points, now, &self.config.figures))
    }

    /// Signs the chain head if enough events have accumulated since the last checkpoint.
    pub async fn maybe_checkpoint(&self) {
        if self.config.checkpoint_every <= 0 || self.config.audit_key.is_none() {
            return;
        }
        if self.unsigned.load(std::sync::atomic::Ordering::Relaxed) < self.config.checkpoint_every {
            return;
        }
        // Someone is already signing: their checkpoint covers our events too.
        let Ok(_guard) = self.checkpointing.try_lock() else { return };
        if let Err(e) = self.sign_head().await {
            tracing::warn!(error = %e, "could not write an audit checkpoint");
        }
    }

    /// Signs the current head of the chain and records it in the database and the file.
    pub async fn checkpoint(&self) -> Result<Option<Checkpoint>, StoreError> {
        let _guard = self.checkpointing.lock().await;
        self.sign_head().await
    }

    async fn sign_head(&self) -> Result<Option<Checkpoint>, StoreError> {
        let Some(key) = &self.config.audit_key else {
            return Ok(None);
        };
        let (seq, hash) = self.store.audit_head().await?;
        if seq == 0 {
            return Ok(None);
        }
        let cp = Checkpoint::sign(key, seq, &hash, self.now());
        self.store.save_checkpoint(&cp).await?;
        if let Some(path) = &self.config.checkpoint_file {
            use std::io::Write;
            let line = serde_json::to_string(&cp).map_err(|e| StoreError::Backend(e.to_string()))?;
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| StoreError::Backend(format!("{}: {e}", path.display())))?;
            writeln!(f, "{line}").and_then(|_| f.sync_all()).map_err(|e| StoreError::Backend(e.to_string()))?;
        }
        self.unsigned.store(0, std::sync::atomic::Ordering::Relaxed);
        Ok(Some(cp))
    }

    /// Checks the whole chain against every checkpoint from the database and the file.
    pub async fn verify_audit(&self, key: &[u8], mut progress: impl FnMut(i64)) -> Result<VerifyOutcome, StoreError> {
        let mut cps = self.store.checkpoints().await?;
        if let Some(path) = &self.config.checkpoint_file
            && let Ok(text) = std::fs::read_to_string(path)
        {
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                match serde_json::from_str::<Checkpoint>(line) {
                    Ok(c) => cps.push(c),
                    Err(_) => {
                        return Ok(VerifyOutcome::Broken { seq: 0, problem: format!("unreadable checkpoint line in {}", path.display()) });
                    }
                }
            }
        }
        cps.sort_by_key(|c| c.seq);
        cps.dedup_by(|a, b| a == b);
        let mut v = match ChainVerifier::new(key, &cps) {
            Ok(v) => v,
            Err((seq, problem)) => return Ok(VerifyOutcome::Broken { seq, problem }),
        };
        let mut after = 0;
        'outer: loop {
            let page = self.store.audit_events(after, 10_000).await?;
            if page.is_empty() {
                break;
            }
            for e in &page {
                if !v.push(e) {
                    break 'outer;
                }
            }
            after = page.last().map(|e| e.seq).unwrap_or(after);
            progress(after);
        }
        Ok(v.finish(&cps))
    }
}

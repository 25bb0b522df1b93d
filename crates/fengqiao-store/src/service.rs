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
use fengqiao_domain::gazetteer::{Gazetteer, Placement};
use fengqiao_domain::geoindex::RegionIndex;
use fengqiao_domain::lifecycle::{CaseEvent, DecideContext};
use fengqiao_domain::region::RegionLevel;
use fengqiao_domain::routing::{RouteDecision, RouteInput, RuleSet};
use fengqiao_domain::supervision::{OrderCommand, SupervisionOrder};
use fengqiao_domain::{
    Actor, Case, CaseId, Category, Channel, Clock, Command, DomainError, LifecycleConfig, Point, Region, RegionCode, Timestamp,
    TrackingCode, Unit,
};
use rand::RngCore;
use tokio::sync::oneshot;

use crate::scheduler::SchedulerConfig;
use crate::{CaseFilter, CreateCase, Created, FactsFilter, Page, Scope, Store, StoreError};

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
    /// Police mediation limits and the judicial-confirmation window.
    pub mediation: fengqiao_domain::mediation::MediationConfig,
    /// Webhook and e-mail delivery.
    pub outbound: crate::webhooks::OutboundConfig,
    /// Early-warning thresholds.
    pub warnings: fengqiao_domain::alert::WarningRules,
    /// The analytics run: weeks, permutations, schedule.
    pub analytics: fengqiao_domain::perception::AnalyticsConfig,
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
            mediation: Default::default(),
            outbound: Default::default(),
            warnings: Default::default(),
            analytics: Default::default(),
        }
    }
}

/// Reference data held in memory: read on every intake, changed rarely.
pub struct Reference {
    pub regions: HashMap<String, Region>,
    pub county: Option<Region>,
    pub categories: HashMap<String, Category>,
    pub units: HashMap<String, Unit>,
    /// The routing rules in force (empty until an administrator saves some).
    pub rules: RuleSet,
    /// Point lookup over every region with a boundary below the county.
    index: RegionIndex,
    /// The codes the index's keys point at.
    indexed: Vec<RegionCode>,
    gazetteer: Gazetteer,
    /// The business calendar deadlines are computed on.
    pub calendar: Calendar,
}

impl Default for Reference {
    fn default() -> Self {
        Reference::load(Vec::new(), Vec::new(), Vec::new())
    }
}

impl std::fmt::Debug for Reference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reference")
            .field("regions", &self.regions.len())
            .field("categories", &self.categories.len())
            .field("units", &self.units.len())
            .finish()
    }
}

impl Reference {
    pub fn load(regions: Vec<Region>, categories: Vec<Category>, units: Vec<Unit>) -> Reference {
        let county = regions.iter().find(|r| r.level() == RegionLevel::County).cloned();
        let areas: Vec<&Region> = regions.iter().filter(|r| r.boundary.is_some() && r.level() != RegionLevel::County).collect();
        let depth = |l: RegionLevel| match l {
            RegionLevel::County => 0,
            RegionLevel::Town => 1,
            RegionLevel::Village => 2,
            RegionLevel::Grid => 3,
        };
        let index = RegionIndex::new(areas.iter().enumerate().map(|(i, r)| (i, depth(r.level()), r.polygons().collect())));
        let indexed = areas.iter().map(|r| r.code.clone()).collect();
        let gazetteer = Gazetteer::new(&regions);
        Reference {
            regions: regions.into_iter().map(|r| (r.code.as_str().to_string(), r)).collect(),
            county,
            categories: categories.into_iter().map(|c| (c.code.clone(), c)).collect(),
            units: units.into_iter().map(|u| (u.id.0.clone(), u)).collect(),
            rules: RuleSet::default(),
            index,
            indexed,
            gazetteer,
            calendar: Calendar::default(),
        }
    }

    /// The most specific region whose boundary contains the point.
    pub fn region_of_point(&self, p: Point) -> Option<RegionCode> {
        self.index.locate(p).map(|i| self.indexed[i].clone())
    }

    /// What the rules in force decide for a case, with the trace.
    pub fn route(&self, case: &Case) -> RouteDecision {
        self.route_with(&case.category, &case.region, case.channel, case.urgency, case.tier, &case.title, &case.description)
    }

    /// What the rules in force would decide for a new case (the "test this rule" box).
    pub fn route_new(&self, n: &fengqiao_domain::case::NewCase) -> RouteDecision {
        self.route_with(&n.category, &n.region, n.channel, n.urgency, n.tier, &n.title, &n.description)
    }

    #[allow(clippy::too_many_arguments)]
    fn route_with(
        &self,
        category: &str,
        region: &RegionCode,
        channel: Channel,
        urgency: fengqiao_domain::Urgency,
        tier: fengqiao_domain::Tier,
        title: &str,
        description: &str,
    ) -> RouteDecision {
        let mut units: Vec<&Unit> = self.units.values().collect();
        units.sort_by(|a, b| a.id.cmp(&b.id));
        let text = format!("{title}\n{description}");
        self.rules.route(&RouteInput { category, region, channel, urgency, tier, text: &text }, &units)
    }

    /// The region an address names, through the gazetteer of region names and aliases.
    pub fn place_address(&self, address: &str) -> Option<Placement> {
        self.gazetteer.place(address)
    }
}

/// What a supervision order is issued on.
#[derive(Debug, Clone, PartialEq)]
pub enum OrderTarget {
    Case(CaseId),
    Unit(fengqiao_domain::UnitId),
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
    /// Whether the figures' facts have been loaded once (the readiness probe waits for it).
    figures_warm: std::sync::atomic::AtomicBool,
    /// Triage's first refresh has finished (its index and models are built).
    triage_warm: std::sync::atomic::AtomicBool,
    /// Risk, category suggestions and near-duplicates of recent cases.
    pub triage: crate::triage::Triage,
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
            figures_warm: std::sync::atomic::AtomicBool::new(false),
            triage_warm: std::sync::atomic::AtomicBool::new(false),
            triage: crate::triage::Triage::new(crate::triage::TriageConfig::default()),
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
        r.rules = self.store.rules(None).await?.unwrap_or_default();
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
            region_of_address: draft.address.as_deref().and_then(|a| r.place_address(a)).map(|p| p.region),
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

    /// Loads the recent cases into the near-duplicate index, trains the category classifier on
    /// the filed ones and the risk model on the shipped labelled texts and the staff's risk
    /// judgements. Run at start-up and then now and again in the background: the models follow
    /// the staff's confirmed and corrected categories and risks.
    pub async fn refresh_triage(&self) -> Result<(), StoreError> {
        let result = self.build_triage().await;
        // Ready once the first build has run, even a failed one: the lexicon and the store
        // work without the index and models, and a failure is logged and retried.
        self.triage_warm.store(true, std::sync::atomic::Ordering::Relaxed);
        result
    }

    async fn build_triage(&self) -> Result<(), StoreError> {
        let now = self.now();
        let cfg = &self.triage.config;
        let recent = CaseFilter { created_from: Some(now.plus_ms(-cfg.index_days * fengqiao_domain::clock::DAY_MS)), ..Default::default() };
        let mut after = None;
        let mut examples = Vec::new();
        let fresh = crate::triage::Triage::new(cfg.clone());
        loop {
            let page = self.store.list_cases(&Scope::All, &recent, &Page { after, limit: 1000, descending: false }).await?;
            for c in &page {
                fresh.remember(c);
                // A category is confirmed once staff have filed the case.
                if !matches!(c.status, fengqiao_domain::Status::Received | fengqiao_domain::Status::Cancelled)
                    && examples.len() < cfg.max_training_cases
                {
                    examples.push((crate::triage::case_text(c), c.category.clone()));
                }
            }
            match page.last() {
                Some(c) if page.len() == 1000 => after = Some(c.id.0),
                _ => break,
            }
        }
        // Staff judgements of risk, on any case ever judged, are the risk model's own labels.
        let mut judged = Vec::new();
        for (id, high) in self.store.risk_judgements().await? {
            if let Some(c) = self.store.case(&Scope::All, id).await? {
                judged.push((crate::triage::case_text(&c), high));
            }
        }
        // Training takes a CPU for a moment: off the async threads.
        let (fresh, model, risk_model) = tokio::task::spawn_blocking(move || {
            let model = fresh.train(&examples);
            let risk_model = fresh.train_risk(&judged);
            (fresh, model, risk_model)
        })
        .await
        .map_err(|e| StoreError::Backend(format!("training stopped: {e}")))?;
        self.triage.replace_with(fresh, model, risk_model);
        Ok(())
    }

    /// Risk, suggested category and similar recent cases for a text about to be recorded
    /// (the intake form), among the cases the actor may see.
    pub async fn triage_text(&self, actor: &Actor, text: &str, point: Option<Point>) -> Result<crate::triage::TriageReport, StoreError> {
        let (risk, suggestion, near) = self.triage.assess(text, false, None);
        let similar = self.similar(actor, self.now(), point, near).await?;
        Ok(crate::triage::TriageReport { risk, suggestion, similar })
    }

    /// The same for a stored case; a repeat dispute between the same parties raises the risk.
    pub async fn triage_case(&self, actor: &Actor, id: CaseId) -> Result<crate::triage::TriageReport, StoreError> {
        let scope = Scope::for_actor(actor);
        let case = self.store.case(&scope, id).await?.ok_or(StoreError::NotFound)?;
        let repeat = !case.parties.is_empty() && self.repeat_parties(&case).await?;
        let (risk, suggestion, near) = self.triage.assess(&crate::triage::case_text(&case), repeat, Some(case.id));
        let similar = self.similar(actor, case.created_at, case.location.point, near).await?;
        Ok(crate::triage::TriageReport { risk, suggestion, similar })
    }

    /// Whether every party of this dispute was a party to an earlier dispute too.
    async fn repeat_parties(&self, case: &Case) -> Result<bool, StoreError> {
        let ids: Vec<i64> = case.parties.iter().map(|p| p.person_id).collect();
        let earlier = self.store.cases_of_persons(&ids).await?;
        Ok(earlier.iter().any(|(cid, persons)| *cid < case.id.0 && ids.iter().all(|p| persons.contains(p))))
    }

    async fn similar(
        &self,
        actor: &Actor,
        at: Timestamp,
        point: Option<Point>,
        near: Vec<(CaseId, f64)>,
    ) -> Result<Vec<crate::triage::Similar>, StoreError> {
        let scope = Scope::for_actor(actor);
        let mut out = Vec::new();
        for (id, similarity) in near.into_iter().take(50) {
            // Outside the reader's scope a case does not exist, here too.
            let Some(other) = self.store.case(&scope, id).await? else { continue };
            if let Some(distance_m) = self.triage.near_enough(at, point, &other) {
                out.push(crate::triage::Similar { id, similarity, distance_m });
            }
        }
        Ok(out)
    }

    /// Queues a prepared creation and waits for its commit.
    pub async fn submit(&self, item: CreateCase) -> Result<Created, StoreError> {
        let (tx, rx) = oneshot::channel();
        self.intake.send((item, tx)).await.map_err(|_| StoreError::Backend("the committer has stopped".into()))?;
        let created = rx.await.unwrap_or_else(|_| Err(StoreError::Backend("the commit was abandoned".into())))?;
        if !created.replayed {
            self.unsigned.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            self.triage.remember(&created.case);
            // The case is stored; an alert that fails is logged and never fails the intake.
            if let Err(e) = crate::duty::alert_on_risk(self, &created.case).await {
                tracing::warn!(case = created.case.id.0, "the risk alert could not be recorded: {e}");
            }
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
            check_arbitrator(&r, &case, actor, cmd)?;
            let (events, next) = self.decide(&r, &case, actor, cmd, self.now())?;
            match self.store.commit(case.version, &events, &next).await {
                Ok(()) => {
                    self.unsigned.fetch_add(events.len() as i64, std::sync::atomic::Ordering::Relaxed);
                    if events.iter().any(|e| matches!(e.kind, fengqiao_domain::EventKind::TransferRejected { .. }))
                        && let Err(e) = self.ask_arbitrators(&r, &next).await
                    {
                        tracing::warn!(case = next.id.0, "the arbitration request could not be recorded: {e}");
                    }
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
        // Routing is decided here from the rules in force, never taken from the client.
        let routed;
        let cmd = match cmd {
            Command::Route { decision: None } => {
                routed = Command::Route { decision: Some(r.route(case)) };
                &routed
            }
            other => other,
        };
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

    /// Imports a GeoJSON FeatureCollection of regions: every feature is checked first (codes
    /// against their parents and the county, rings, orphans, the importer's jurisdiction) and
    /// any problem rejects the whole file with every problem listed; otherwise all regions are
    /// saved in one transaction. Returns how many were saved.
    pub async fn import_regions(&self, actor: &Actor, geojson: &str) -> Result<usize, StoreError> {
        let jurisdiction = match actor {
            Actor::System { .. } => None,
            Actor::User { role: fengqiao_domain::Role::Admin, jurisdiction, .. } => Some(jurisdiction.clone()),
            _ => return Err(DomainError::Forbidden("only an administrator may import regions".into()).into()),
        };
        let existing = self.store.regions().await?;
        let county = existing.iter().find(|r| r.level() == RegionLevel::County).map(|r| r.code.clone());
        let field = |e: &fengqiao_domain::geojson::FeatureError| match e.feature {
            Some(i) => fengqiao_domain::error::FieldError::new(format!("features[{i}]"), e.to_string()),
            None => fengqiao_domain::error::FieldError::new("file", e.message.clone()),
        };
        let regions = fengqiao_domain::geojson::parse_regions(geojson, &existing, county.as_ref())
            .map_err(|errs| DomainError::Invalid(errs.iter().map(field).collect()))?;
        if let Some(j) = &jurisdiction {
            let outside: Vec<_> = regions
                .iter()
                .enumerate()
                .filter(|(_, r)| !j.contains(&r.code))
                .map(|(i, r)| {
                    fengqiao_domain::error::FieldError::new(
                        format!("features[{i}]"),
                        format!("{} lies outside your jurisdiction {j}", r.code),
                    )
                })
                .collect();
            if !outside.is_empty() {
                return Err(DomainError::Invalid(outside).into());
            }
        }
        if regions.is_empty() {
            return Err(DomainError::invalid("file", "the FeatureCollection has no features").into());
        }
        self.store.put_regions(&regions, &actor.label(), self.now()).await?;
        self.reload().await?;
        Ok(regions.len())
    }

    /// Issues a supervision order on a case the actor may see (addressed to its lead unit) or on
    /// a unit in the actor's jurisdiction.
    pub async fn issue_order(
        &self,
        actor: &Actor,
        target: OrderTarget,
        due: Timestamp,
        note: &str,
    ) -> Result<SupervisionOrder, StoreError> {
        let r = self.reference();
        let (case_id, unit, region) = match target {
            OrderTarget::Case(id) => {
                let case = self.store.case(&Scope::for_actor(actor), id).await?.ok_or(StoreError::NotFound)?;
                let unit = case
                    .lead_unit
                    .clone()
                    .ok_or_else(|| DomainError::Precondition("the case has no lead unit yet: dispatch it first".into()))?;
                (Some(id), unit, case.region.clone())
            }
            OrderTarget::Unit(u) => {
                let unit = r.units.get(u.as_str()).ok_or_else(|| DomainError::invalid("unit", format!("unknown unit '{u}'")))?;
                (None, unit.id.clone(), unit.region.clone())
            }
        };
        let order = SupervisionOrder::issue(actor, case_id, unit, region, due, note, self.now())?;
        self.store.save_order(&order, None, "supervision_issued", &actor.label(), self.now()).await
    }

    /// Answers or reviews an order the actor may see, optionally only at `expected_version`.
    pub async fn act_order(
        &self,
        actor: &Actor,
        id: i64,
        expected_version: Option<i64>,
        cmd: &OrderCommand,
    ) -> Result<SupervisionOrder, StoreError> {
        let mut order = self.store.order(&Scope::for_actor(actor), id).await?.ok_or(StoreError::NotFound)?;
        let version = order.version;
        if let Some(v) = expected_version
            && v != version
        {
            return Err(StoreError::Conflict { current: version });
        }
        let event = order.act(actor, cmd, self.now())?;
        self.store.save_order(&order, Some(version), event, &actor.label(), self.now()).await
    }

    /// Saves a new version of the routing rules after checking them against the units,
    /// categories and county (every problem listed); returns the version.
    pub async fn save_rules(&self, actor: &Actor, rules: &RuleSet) -> Result<i64, StoreError> {
        if !matches!(actor, Actor::System { .. } | Actor::User { role: fengqiao_domain::Role::Admin, .. }) {
            return Err(DomainError::Forbidden("only an administrator may change the routing rules".into()).into());
        }
        let r = self.reference();
        let categories = r.categories.keys().cloned().collect();
        let errs = rules.problems(&r.units, &categories, r.county.as_ref().map(|c| &c.code));
        if !errs.is_empty() {
            return Err(DomainError::Invalid(errs).into());
        }
        let version = self.store.save_rules(rules, &actor.label(), self.now()).await?;
        self.reload().await?;
        Ok(version)
    }

    /// What the rules in force would decide for a case described by a draft (nothing is
    /// written; the draft is validated as at intake).
    pub fn route_draft(&self, actor: &Actor, draft: CaseDraft) -> Result<(RegionCode, RouteDecision), StoreError> {
        let item = self.prepare(draft, actor, Channel::Phone, None)?;
        Ok((item.new.region.clone(), self.reference().route_new(&item.new)))
    }

    /// What the rules in force would decide for a case the actor may see (nothing is written).
    pub async fn route_preview(&self, actor: &Actor, id: CaseId) -> Result<RouteDecision, StoreError> {
        let case = self.store.case(&Scope::for_actor(actor), id).await?.ok_or(StoreError::NotFound)?;
        Ok(self.reference().route(&case))
    }

    pub async fn figures(&self, actor: &Actor, filter: &FactsFilter) -> Result<Figures, StoreError> {
        let scope = Scope::for_actor(actor);
        let now = self.now();
        let (counts, points) = self.store.figure_counts(&scope, filter, now).await?;
        self.figures_warm.store(true, std::sync::atomic::Ordering::Relaxed);
        if points.len() < fengqiao_domain::figures::LARGE_COHORT {
            return Ok(fengqiao_domain::figures::assemble(&counts, &points, now, &self.config.figures));
        }
        // A county-year's stage times are a sort of a million durations per stage: off the
        // async workers, so the page's other reads go on meanwhile.
        let cfg = self.config.figures.clone();
        tokio::task::spawn_blocking(move || fengqiao_domain::figures::assemble(&counts, &points, now, &cfg))
            .await
            .map_err(|e| StoreError::Backend(format!("the figures computation stopped: {e}")))
    }

    /// Whether the figures have been computed once since start (their facts are in memory),
    /// so no request waits for the load.
    pub fn figures_ready(&self) -> bool {
        self.figures_warm.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Whether triage's first refresh since start has run: before that its near-duplicate
    /// index is empty and the lexicon scores risk alone.
    pub fn triage_ready(&self) -> bool {
        self.triage_warm.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Brings the store's figures facts up to date (the first time: loads them), computing
    /// nothing: what a server does at start so its first dashboard is quick.
    pub async fn warm_figures(&self) -> Result<(), StoreError> {
        let empty = FactsFilter { from: Timestamp(0), to: Timestamp(0), ..Default::default() };
        self.store.figure_counts(&Scope::All, &empty, self.now()).await?;
        self.figures_warm.store(true, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    /// The rates (not the stage times, which come out empty) for each region subtree in
    /// `regions`, within the actor's scope and the filter: one pass over the cohort.
    pub async fn figures_by_region(&self, actor: &Actor, filter: &FactsFilter, regions: &[String]) -> Result<Vec<Figures>, StoreError> {
        let scope = Scope::for_actor(actor);
        let now = self.now();
        let counts = self.store.figure_counts_by_region(&scope, filter, regions, now).await?;
        Ok(counts.iter().map(|k| fengqiao_domain::figures::assemble(k, &[], now, &self.config.figures)).collect())
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

/// A contested transfer is arbitrated by the common supervisor of both units: a supervisor
/// whose jurisdiction contains both units' service areas (the town's for two villages of one
/// town, the county's for units in two towns). One below that sees only one side.
fn check_arbitrator(r: &Reference, case: &fengqiao_domain::Case, actor: &Actor, cmd: &Command) -> Result<(), StoreError> {
    if !matches!(cmd, Command::ArbitrateTransfer { .. }) {
        return Ok(());
    }
    let Some(t) = &case.transfer else { return Ok(()) };
    let Actor::User { jurisdiction, .. } = actor else {
        return Err(DomainError::Forbidden("only a supervisor arbitrates a transfer".into()).into());
    };
    let area = |u: &Option<fengqiao_domain::UnitId>| u.as_ref().and_then(|u| r.units.get(&u.0)).map(|u| u.region.clone());
    for region in [area(&t.from), area(&Some(t.to.clone()))] {
        if !region.is_some_and(|reg| jurisdiction.contains(&reg)) {
            return Err(DomainError::Forbidden(
                "only the common supervisor of both units (whose jurisdiction covers both service areas) may arbitrate".into(),
            )
            .into());
        }
    }
    Ok(())
}

impl Service {
    /// Tells the common supervisors of a contested transfer's two units that they must
    /// arbitrate, and by when: the supervisors whose jurisdiction covers both service areas,
    /// the most local level only. Once per rejection (a job keyed by the case and the deadline).
    async fn ask_arbitrators(&self, r: &Reference, case: &fengqiao_domain::Case) -> Result<(), StoreError> {
        let Some(t) = &case.transfer else { return Ok(()) };
        let Some(rj) = &t.rejection else { return Ok(()) };
        let area = |u: &fengqiao_domain::UnitId| r.units.get(&u.0).map(|u| u.region.clone());
        let (Some(a), Some(b)) = (t.from.as_ref().and_then(area), area(&t.to)) else { return Ok(()) };
        let users = self.store.users().await?;
        let covering: Vec<&fengqiao_domain::User> = users
            .iter()
            .filter(|u| u.role == fengqiao_domain::Role::Supervisor && u.jurisdiction.contains(&a) && u.jurisdiction.contains(&b))
            .collect();
        let depth = covering.iter().map(|u| u.jurisdiction.prefix().len()).max();
        let to: Vec<String> =
            covering.iter().filter(|u| Some(u.jurisdiction.prefix().len()) == depth).map(|u| format!("user:{}", u.id)).collect();
        if to.is_empty() {
            return Ok(());
        }
        let when = rj.arbitration_due.to_rfc3339_in(r.calendar.time_zone());
        let unit = |u: &fengqiao_domain::UnitId| r.units.get(&u.0).map(|x| x.name.clone()).unwrap_or_else(|| u.0.clone());
        let from = t.from.as_ref().map(unit).unwrap_or_default();
        let message = format!(
            "案件 #{id} 转办争议：{from} → {to_unit}，接收单位拒绝（{why}），请于 {when} 前裁定 / case #{id}: the transfer from {from} to {to_unit} was rejected ({why}); arbitrate by {when}",
            id = case.id.0,
            to_unit = unit(&t.to),
            why = rj.reason,
        );
        let now = self.now();
        let notices: Vec<crate::InboxItem> = to
            .iter()
            .map(|who| crate::InboxItem {
                id: 0,
                recipient: who.clone(),
                case_id: Some(case.id.0),
                kind: "arbitration".into(),
                message: message.clone(),
                due_at: Some(rj.arbitration_due),
                created_at: now,
            })
            .collect();
        let job = crate::JobRun {
            kind: "arbitration".into(),
            case_id: case.id.0,
            due_at: rj.arbitration_due,
            done_at: now,
            outcome: format!("asked {}", to.join(", ")),
        };
        self.store.run_job(&job, None, &notices).await?;
        Ok(())
    }
}

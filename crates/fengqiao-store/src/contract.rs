//! The contract every storage backend must pass. Each check gets a fresh, empty store; the
//! backend's own test binary runs them all (SQLite always, PostgreSQL when its URL is set).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use fengqiao_domain::audit::VerifyOutcome;
use fengqiao_domain::case::{CaseDraft, PartyDraft};
use fengqiao_domain::category::builtin_categories;
use fengqiao_domain::clock::{DAY_MS, HOUR_MS};
use fengqiao_domain::geo::Polygon;
use fengqiao_domain::{
    Actor, CaseId, Channel, Command, ContactChannel, ManualClock, PersonInput, Point, Rating, Region, RegionCode, Role, Status, Timestamp,
    Unit, UnitId, UnitKind, User,
};

use fengqiao_domain::{Clock, DomainError};

use crate::{
    ApiKey, ApiScope, BackupRecord, CaseFilter, Credentials, FactsFilter, NewAttachment, Page, PublicCaseQuery, RequestUpdate, Scope,
    Service, ServiceConfig, Store, StoreError,
};

// Residents by phone and community consultation.
mod mediation;
pub mod residents;
// Early warnings.
mod alerts;
// Hot spots, emerging patterns and bursting topics.
mod perception;

pub type Check = fn(Arc<dyn Store>) -> Pin<Box<dyn Future<Output = ()> + Send>>;

/// Every check, by name.
pub fn checks() -> Vec<(&'static str, Check)> {
    vec![
        ("create_get_and_scope", |s| Box::pin(create_get_and_scope(s))),
        ("bad_input_writes_nothing", |s| Box::pin(bad_input_writes_nothing(s))),
        ("idempotency", |s| Box::pin(idempotency(s))),
        ("lifecycle_to_closure_and_replay", |s| Box::pin(lifecycle_to_closure_and_replay(s))),
        ("stale_update_is_refused", |s| Box::pin(stale_update_is_refused(s))),
        ("concurrent_creates_group_commit", |s| Box::pin(concurrent_creates_group_commit(s))),
        ("keyset_pagination_and_filters", |s| Box::pin(keyset_pagination_and_filters(s))),
        ("figures", |s| Box::pin(figures(s))),
        ("work_queue_soonest_breach_first", |s| Box::pin(work_queue_soonest_breach_first(s))),
        ("erasure_keeps_the_chain", |s| Box::pin(erasure_keeps_the_chain(s))),
        ("backup_round_trip", |s| Box::pin(backup_round_trip(s))),
        ("sessions", |s| Box::pin(sessions(s))),
        ("regions_geojson_and_placement", |s| Box::pin(regions_geojson_and_placement(s))),
        ("routing_rules_versions_and_triage", |s| Box::pin(routing_rules_versions_and_triage(s))),
        ("supervision_orders", |s| Box::pin(supervision_orders(s))),
        ("attachments", |s| Box::pin(attachments(s))),
        ("api_keys", |s| Box::pin(api_keys(s))),
        ("public_cases_and_request_updates", |s| Box::pin(public_cases_and_request_updates(s))),
        ("scheduler_runs_each_job_once", |s| Box::pin(scheduler_runs_each_job_once(s))),
        ("scheduler_resumes_after_a_restart", |s| Box::pin(scheduler_resumes_after_a_restart(s))),
        ("calendar_years_load_whole_or_not_at_all", |s| Box::pin(calendar_years_load_whole_or_not_at_all(s))),
        ("duty_rota_and_risk_alerts", |s| Box::pin(duty_rota_and_risk_alerts(s))),
        ("risk_judgements_keep_the_latest", |s| Box::pin(risk_judgements_keep_the_latest(s))),
        ("scheduler_follows_supervision_orders", |s| Box::pin(scheduler_follows_supervision_orders(s))),
        // Residents by phone and community consultation.
        ("sms_outbox_is_queued_with_the_case_and_sent_once", |s| Box::pin(residents::sms_outbox_is_queued_with_the_case_and_sent_once(s))),
        ("resident_roll_codes_and_my_cases", |s| Box::pin(residents::resident_roll_codes_and_my_cases(s))),
        ("consultation_takes_one_support_per_resident", |s| Box::pin(residents::consultation_takes_one_support_per_resident(s))),
        ("mediations", |s| Box::pin(mediation::mediations(s))),
        // Problem-solving records and the outbox.
        ("problems_scope_and_versions", |s| Box::pin(crate::contract_sara::problems_scope_and_versions(s))),
        ("outbox_in_the_transaction", |s| Box::pin(crate::contract_sara::outbox_in_the_transaction(s))),
        // Early warnings.
        ("early_warnings", |s| Box::pin(alerts::early_warnings(s))),
        // Perception.
        ("case_cube_and_texts", |s| Box::pin(perception::case_cube_and_texts(s))),
        ("perception_finds_a_growing_cluster", |s| Box::pin(perception::perception_finds_a_growing_cluster(s))),
        ("perception_of_a_quiet_county_raises_nothing", |s| Box::pin(perception::perception_of_a_quiet_county_raises_nothing(s))),
    ]
}

pub const COUNTY: &str = "330681000000";
pub const TOWN_A: &str = "330681101000";
pub const TOWN_B: &str = "330681102000";
pub const VILLAGE_A1: &str = "330681101001";
pub const VILLAGE_B1: &str = "330681102001";
pub const T0: Timestamp = Timestamp(1_767_225_600_000); // 2026-01-01T00:00:00Z
pub const AUDIT_KEY: &[u8] = b"contract-test-key";

fn square(lon: f64, lat: f64, size: f64) -> Polygon {
    let p = |x, y| Point { lon: x, lat: y };
    Polygon { exterior: vec![p(lon, lat), p(lon + size, lat), p(lon + size, lat + size), p(lon, lat + size), p(lon, lat)], holes: vec![] }
}

fn region(code: &str, name: &str, boundary: Option<Polygon>) -> Region {
    Region { boundary, ..Region::new(RegionCode::parse(code).unwrap(), name, 1000) }
}

pub fn user(id: &str, role: Role, unit: Option<&str>, jurisdiction: &str) -> User {
    User {
        id: id.into(),
        name: id.into(),
        role,
        unit: unit.map(|u| UnitId(u.into())),
        jurisdiction: RegionCode::parse(jurisdiction).unwrap(),
    }
}

pub fn actor(u: &User) -> Actor {
    Actor::from_user(u)
}

/// A small county: two towns of one village each, a unit per village, staff.
pub async fn seed(store: &Arc<dyn Store>) -> Arc<Service> {
    let sys = "system:contract";
    store.put_region(&region(COUNTY, "测试县", Some(square(120.0, 29.0, 1.0))), sys, T0).await.unwrap();
    store.put_region(&region(TOWN_A, "甲镇", Some(square(120.0, 29.0, 0.5))), sys, T0).await.unwrap();
    store.put_region(&region(TOWN_B, "乙镇", Some(square(120.5, 29.0, 0.5))), sys, T0).await.unwrap();
    store.put_region(&region(VILLAGE_A1, "甲一村", Some(square(120.0, 29.0, 0.25))), sys, T0).await.unwrap();
    store.put_region(&region(VILLAGE_B1, "乙一村", Some(square(120.5, 29.0, 0.25))), sys, T0).await.unwrap();
    for (id, kind, r) in [
        ("vc-a1", UnitKind::VillageCommittee, VILLAGE_A1),
        ("vc-b1", UnitKind::VillageCommittee, VILLAGE_B1),
        ("town-a", UnitKind::TownMediationCentre, TOWN_A),
        ("county-centre", UnitKind::CountyMediationCentre, COUNTY),
    ] {
        store
            .put_unit(
                &Unit {
                    id: UnitId(id.into()),
                    name: id.into(),
                    name_en: None,
                    kind,
                    region: RegionCode::parse(r).unwrap(),
                    handles: vec![],
                },
                sys,
                T0,
            )
            .await
            .unwrap();
    }
    for c in builtin_categories() {
        store.put_category(&c, sys, T0).await.unwrap();
    }
    for u in staff() {
        store.put_user(&u, &Credentials { token_hash: Some(format!("hash-{}", u.id)), password_hash: None }, sys, T0).await.unwrap();
    }
    let clock = ManualClock::new(T0);
    let cfg = ServiceConfig { audit_key: Some(AUDIT_KEY.to_vec()), checkpoint_every: 0, ..ServiceConfig::default() };
    Arc::new(Service::new(store.clone(), Arc::new(clock), cfg).await.unwrap())
}

pub fn staff() -> Vec<User> {
    vec![
        user("intake", Role::Intake, None, COUNTY),
        user("intake-a", Role::Intake, None, TOWN_A),
        user("handler-a1", Role::Handler, Some("vc-a1"), VILLAGE_A1),
        user("handler-b1", Role::Handler, Some("vc-b1"), VILLAGE_B1),
        user("sup-a", Role::Supervisor, None, TOWN_A),
        user("sup", Role::Supervisor, None, COUNTY),
    ]
}

fn staff_actor(id: &str) -> Actor {
    actor(&staff().into_iter().find(|u| u.id == id).unwrap())
}

pub fn draft(category: &str, region: &str, text: &str) -> CaseDraft {
    CaseDraft {
        category: category.into(),
        description: text.into(),
        region: Some(region.into()),
        reporter: Some(PersonInput { name: Some("王五".into()), phone: Some("13800138000".into()), ..Default::default() }),
        answers: if category == "road_damage" { serde_json::from_str(r#"{"road_kind":"village"}"#).unwrap() } else { Default::default() },
        ..Default::default()
    }
}

async fn event_count(store: &Arc<dyn Store>) -> i64 {
    store.audit_head().await.unwrap().0
}

async fn verify(svc: &Service) -> VerifyOutcome {
    svc.verify_audit(AUDIT_KEY, |_| {}).await.unwrap()
}

async fn create_get_and_scope(store: Arc<dyn Store>) {
    let svc = seed(&store).await;
    let intake = staff_actor("intake");
    let c = svc.create(draft("street_light", VILLAGE_A1, "村口路灯不亮"), &intake, Channel::Counter, None).await.unwrap().case;
    assert_eq!(c.status, Status::Received);
    assert_eq!(c.channel, Channel::Counter);
    assert_eq!(c.tracking_code.as_str().len(), 12);
    let got = store.case(&Scope::All, c.id).await.unwrap().unwrap();
    assert_eq!(got, c);
    assert_eq!(store.case_by_tracking(&c.tracking_code).await.unwrap().unwrap().id, c.id);
    // A town-B supervisor does not see a town-A case; a town-A one does.
    assert!(store.case(&Scope::for_actor(&staff_actor("sup-a")), c.id).await.unwrap().is_some());
    let b = Scope::Region { prefix: "330681102".into() };
    assert!(store.case(&b, c.id).await.unwrap().is_none());
    assert!(store.case_events(&b, c.id).await.unwrap().is_none());
    // A handler sees it only once their unit is on it.
    let h = Scope::for_actor(&staff_actor("handler-a1"));
    assert!(store.case(&h, c.id).await.unwrap().is_none());
    svc.act(&intake, c.id, None, &Command::File { severity: None, note: None }).await.unwrap();
    svc.act(&intake, c.id, None, &Command::Dispatch { lead_unit: UnitId("vc-a1".into()), co_units: vec![UnitId("town-a".into())] })
        .await
        .unwrap();
    assert!(store.case(&h, c.id).await.unwrap().is_some());
    assert!(store.case(&Scope::Unit { unit: UnitId("town-a".into()) }, c.id).await.unwrap().is_some(), "co-handling units see the case");
    assert!(store.case(&Scope::for_actor(&staff_actor("handler-b1")), c.id).await.unwrap().is_none());
    // A handler of another unit cannot act on it: to them it does not exist.
    let err = svc.act(&staff_actor("handler-b1"), c.id, None, &Command::Accept).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound));
    // A point inside village A1 places a case there without a region code.
    let mut d = draft("street_light", VILLAGE_A1, "灯坏了");
    d.region = None;
    d.lat = Some(29.1);
    d.lon = Some(120.1);
    let placed = svc.create(d, &intake, Channel::Phone, None).await.unwrap().case;
    assert_eq!(placed.region.as_str(), VILLAGE_A1);
}

async fn bad_input_writes_nothing(store: Arc<dyn Store>) {
    let svc = seed(&store).await;
    let intake = staff_actor("intake");
    let before = event_count(&store).await;
    let cases = [
        draft("no_such_category", VILLAGE_A1, "x"),
        draft("street_light", "330681999999", "x"),
        draft("street_light", VILLAGE_A1, ""),
        draft("street_light", VILLAGE_A1, &"长".repeat(4001)),
        CaseDraft { lat: Some(40.0), lon: Some(116.0), region: None, ..draft("street_light", VILLAGE_A1, "outside the county") },
        CaseDraft { lat: Some(95.0), lon: Some(120.1), region: None, ..draft("street_light", VILLAGE_A1, "not on earth") },
        CaseDraft {
            parties: vec![PartyDraft { role: "judge".into(), person: PersonInput::default() }],
            ..draft("neighbour", VILLAGE_A1, "bad party")
        },
        CaseDraft {
            answers: serde_json::from_str(r#"{"road_kind":"motorway"}"#).unwrap(),
            ..draft("road_damage", VILLAGE_A1, "bad answer")
        },
    ];
    for d in cases {
        let err = svc.create(d, &intake, Channel::Counter, None).await.unwrap_err();
        assert!(matches!(err, StoreError::Domain(_)), "{err:?}");
    }
    assert_eq!(event_count(&store).await, before);
    // An illegal transition changes nothing either.
    let c = svc.create(draft("street_light", VILLAGE_A1, "ok"), &intake, Channel::Counter, None).await.unwrap().case;
    let before = event_count(&store).await;
    assert!(svc.act(&intake, c.id, None, &Command::Close { note: None }).await.is_err());
    assert!(svc.act(&intake, c.id, None, &Command::Dispatch { lead_unit: UnitId("nope".into()), co_units: vec![] }).await.is_err());
    assert_eq!(event_count(&store).await, before);
    assert_eq!(store.case(&Scope::All, c.id).await.unwrap().unwrap(), c);
}

async fn idempotency(store: Arc<dyn Store>) {
    let svc = seed(&store).await;
    let intake = staff_actor("intake");
    let key = Some(("key-1".to_string(), "body-1".to_string()));
    let a = svc.create(draft("noise", VILLAGE_A1, "夜里很吵"), &intake, Channel::Web, key.clone()).await.unwrap();
    let b = svc.create(draft("noise", VILLAGE_A1, "夜里很吵"), &intake, Channel::Web, key).await.unwrap();
    assert!(!a.replayed && b.replayed);
    assert_eq!(a.case.id, b.case.id);
    let before = event_count(&store).await;
    let err = svc
        .create(draft("noise", VILLAGE_A1, "different"), &intake, Channel::Web, Some(("key-1".into(), "body-2".into())))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::IdempotencyMismatch));
    assert_eq!(event_count(&store).await, before);
    // The same key twice in one group commit makes one case.
    let (x, y) = tokio::join!(
        svc.create(draft("noise", VILLAGE_A1, "again"), &intake, Channel::Web, Some(("key-2".into(), "b".into()))),
        svc.create(draft("noise", VILLAGE_A1, "again"), &intake, Channel::Web, Some(("key-2".into(), "b".into()))),
    );
    assert_eq!(x.unwrap().case.id, y.unwrap().case.id);
}

async fn lifecycle_to_closure_and_replay(store: Arc<dyn Store>) {
    let clock = ManualClock::new(T0);
    let svc = seeded_with_clock(&store, clock.clone()).await;
    let intake = staff_actor("intake");
    let handler = staff_actor("handler-a1");
    let mut d = draft("neighbour", VILLAGE_A1, "两家因排水沟发生争执");
    d.parties = vec![
        PartyDraft {
            role: "applicant".into(),
            person: PersonInput { name: Some("张三".into()), phone: Some("13900000001".into()), ..Default::default() },
        },
        PartyDraft {
            role: "respondent".into(),
            person: PersonInput { name: Some("李四".into()), phone: Some("13900000002".into()), ..Default::default() },
        },
    ];
    let c = svc.create(d, &intake, Channel::Visit, None).await.unwrap().case;
    assert_eq!(c.parties.len(), 2);
    let (p1, p2) = (c.parties[0].person_id, c.parties[1].person_id);
    svc.act(&intake, c.id, None, &Command::File { severity: None, note: None }).await.unwrap();
    svc.act(&intake, c.id, None, &Command::Dispatch { lead_unit: UnitId("vc-a1".into()), co_units: vec![] }).await.unwrap();
    clock.advance_ms(2 * HOUR_MS);
    svc.act(&handler, c.id, None, &Command::Accept).await.unwrap();
    svc.act(&handler, c.id, None, &Command::Start).await.unwrap();
    clock.advance_ms(DAY_MS);
    svc.act(&handler, c.id, None, &Command::Resolve { feedback: "调解达成一致".into() }).await.unwrap();
    // One party's rating is not enough for a dispute.
    clock.advance_ms(HOUR_MS);
    svc.act(
        &intake,
        c.id,
        None,
        &Command::RecordVisit {
            party: Some(p1),
            channel: ContactChannel::Phone,
            reached: true,
            rating: Some(Rating::Satisfied),
            comment: None,
        },
    )
    .await
    .unwrap();
    let err = svc.act(&intake, c.id, None, &Command::Close { note: None }).await.unwrap_err();
    assert!(matches!(err, StoreError::Domain(ref e) if e.code() == "precondition_failed"), "{err:?}");
    svc.act(
        &intake,
        c.id,
        None,
        &Command::RecordVisit {
            party: Some(p2),
            channel: ContactChannel::InPerson,
            reached: true,
            rating: Some(Rating::BasicallySatisfied),
            comment: None,
        },
    )
    .await
    .unwrap();
    let closed = svc.act(&intake, c.id, None, &Command::Close { note: None }).await.unwrap();
    assert_eq!(closed.status, Status::Closed);
    assert_eq!(closed.final_rating, Some(Rating::BasicallySatisfied));
    // The stored events replay to the stored state.
    let events = store.case_events(&Scope::All, c.id).await.unwrap().unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["created", "filed", "dispatched", "accepted", "started", "resolved", "visit_recorded", "visit_recorded", "closed"]);
    assert_eq!(replay_stored(&store, c.id).await, store.case(&Scope::All, c.id).await.unwrap().unwrap());
    assert!(events.windows(2).all(|w| w[0].seq < w[1].seq && w[1].at >= w[0].at));
    assert_eq!(events[3].actor, "user:handler-a1");
    assert!(matches!(verify(&svc).await, VerifyOutcome::Ok { .. }));
    // Personal data is stored apart from the log.
    let all = store.audit_events(0, 10_000).await.unwrap();
    assert!(all.iter().all(|e| !e.payload.contains("13900000001") && !e.payload.contains("张三")));
    // Reopened weeks later, the case is handled again against a fresh deadline, not the one it
    // met: it is not overdue the moment it reopens.
    clock.advance_ms(40 * DAY_MS);
    let reopened = svc.act(&intake, c.id, None, &Command::Reopen { reason: "当事人再次反映".into() }).await.unwrap();
    assert_eq!((reopened.status, reopened.reopens), (Status::InProgress, 1));
    assert!(reopened.handling_due.unwrap() > clock.now(), "{:?} after {:?}", reopened.handling_due, clock.now());
    assert!(reopened.handling_due > closed.handling_due);
    assert_eq!(replay_stored(&store, c.id).await, reopened);
}

/// The case rebuilt from its stored events alone.
async fn replay_stored(store: &Arc<dyn Store>, id: CaseId) -> fengqiao_domain::Case {
    let events = store.case_events(&Scope::All, id).await.unwrap().unwrap();
    let domain_events: Vec<fengqiao_domain::lifecycle::CaseEvent> = events
        .iter()
        .map(|e| fengqiao_domain::lifecycle::CaseEvent {
            at: e.at,
            actor: e.actor.clone(),
            kind: serde_json::from_str(&e.payload).unwrap(),
        })
        .collect();
    fengqiao_domain::Case::replay(id, &domain_events).unwrap()
}

async fn seeded_with_clock(store: &Arc<dyn Store>, clock: ManualClock) -> Arc<Service> {
    let base = seed(store).await;
    let cfg = base.config.clone();
    Arc::new(Service::new(store.clone(), Arc::new(clock), cfg).await.unwrap())
}

async fn stale_update_is_refused(store: Arc<dyn Store>) {
    let svc = seed(&store).await;
    let intake = staff_actor("intake");
    let c = svc.create(draft("sanitation", VILLAGE_A1, "垃圾堆积"), &intake, Channel::Patrol, None).await.unwrap().case;
    let v1 = c.version;
    svc.act(&intake, c.id, Some(v1), &Command::File { severity: None, note: None }).await.unwrap();
    let before = event_count(&store).await;
    let err = svc.act(&intake, c.id, Some(v1), &Command::Cancel { reason: "dup".into() }).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict { current } if current == v1 + 1), "{err:?}");
    assert_eq!(event_count(&store).await, before);
    // The raw store refuses a commit at a stale version too.
    let fresh = store.case(&Scope::All, c.id).await.unwrap().unwrap();
    let err = store.commit(v1, &[], &fresh).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }));
}

async fn concurrent_creates_group_commit(store: Arc<dyn Store>) {
    let svc = seed(&store).await;
    let mut tasks = Vec::new();
    for i in 0..60 {
        let svc = svc.clone();
        tasks.push(tokio::spawn(async move {
            let intake = staff_actor("intake");
            svc.create(draft("sanitation", VILLAGE_A1, &format!("第{i}件")), &intake, Channel::Web, None).await.map(|c| c.case.id)
        }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        ids.push(t.await.unwrap().unwrap());
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 60);
    let listed =
        store.list_cases(&Scope::All, &CaseFilter::default(), &Page { after: None, limit: 1000, descending: false }).await.unwrap();
    assert_eq!(listed.len(), 60);
    assert!(matches!(verify(&svc).await, VerifyOutcome::Ok { .. }));
}

async fn keyset_pagination_and_filters(store: Arc<dyn Store>) {
    let svc = seed(&store).await;
    let intake = staff_actor("intake");
    for i in 0..7 {
        let (cat, r) = if i % 2 == 0 { ("noise", VILLAGE_A1) } else { ("sanitation", VILLAGE_B1) };
        svc.create(draft(cat, r, &format!("case {i}")), &intake, Channel::Web, None).await.unwrap();
    }
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = store.list_cases(&Scope::All, &CaseFilter::default(), &Page { after, limit: 3, descending: false }).await.unwrap();
        if page.is_empty() {
            break;
        }
        after = page.last().map(|c| c.id.0);
        seen.extend(page.into_iter().map(|c| c.id.0));
    }
    assert_eq!(seen, (1..=7).collect::<Vec<_>>());
    let desc = store.list_cases(&Scope::All, &CaseFilter::default(), &Page { after: Some(5), limit: 10, descending: true }).await.unwrap();
    assert_eq!(desc.iter().map(|c| c.id.0).collect::<Vec<_>>(), vec![4, 3, 2, 1]);
    let f = CaseFilter { category: Some("noise".into()), ..Default::default() };
    assert_eq!(store.list_cases(&Scope::All, &f, &Page { after: None, limit: 100, descending: false }).await.unwrap().len(), 4);
    let f = CaseFilter { region: Some(TOWN_B.into()), ..Default::default() };
    assert_eq!(store.list_cases(&Scope::All, &f, &Page { after: None, limit: 100, descending: false }).await.unwrap().len(), 3);
    // A filter never widens the scope.
    let a = Scope::Region { prefix: "330681101".into() };
    assert_eq!(store.list_cases(&a, &f, &Page { after: None, limit: 100, descending: false }).await.unwrap().len(), 0);
    // A scope and a filter combine to the narrower of the two, either way round.
    let page = Page { after: None, limit: 100, descending: false };
    let county = Scope::Region { prefix: "330681".into() };
    let in_village = CaseFilter { region: Some(VILLAGE_A1.into()), ..Default::default() };
    assert_eq!(store.list_cases(&county, &in_village, &page).await.unwrap().len(), 4);
    let whole_county = CaseFilter { region: Some(COUNTY.into()), ..Default::default() };
    let listed = store.list_cases(&a, &whole_county, &page).await.unwrap();
    assert_eq!(listed.len(), 4);
    assert!(listed.iter().all(|c| c.region.as_str().starts_with("330681101")));
}

async fn work_queue_soonest_breach_first(store: Arc<dyn Store>) {
    let clock = ManualClock::new(T0);
    let svc = seeded_with_clock(&store, clock.clone()).await;
    let intake = staff_actor("intake");
    let handler = staff_actor("handler-a1");
    // Received cases (no deadline), dispatched ones of two categories (their response
    // deadlines differ), and accepted ones (handling deadlines), created an hour apart.
    let mut ids = Vec::new();
    for i in 0..9 {
        clock.advance_ms(HOUR_MS);
        let c = match i % 3 {
            0 => svc.create(draft("noise", VILLAGE_A1, &format!("未处理{i}")), &intake, Channel::Phone, None).await.unwrap().case,
            1 => dispatched(&svc, "street_light").await,
            _ => {
                let c = dispatched(&svc, "noise").await;
                svc.act(&handler, c.id, None, &Command::Accept).await.unwrap()
            }
        };
        ids.push(c.id);
    }
    let open: Vec<String> =
        ["received", "filed", "dispatched", "accepted", "in_progress", "deferred", "resolved", "return_visit"].map(String::from).into();
    // The definition, over every case read whole.
    let due = |c: &fengqiao_domain::Case| match c.status {
        fengqiao_domain::Status::Dispatched => c.response_due,
        fengqiao_domain::Status::Accepted | fengqiao_domain::Status::InProgress => c.handling_due,
        fengqiao_domain::Status::Resolved | fengqiao_domain::Status::ReturnVisit => c.visit_due,
        _ => None,
    };
    let mut all = store.list_cases(&Scope::All, &CaseFilter::default(), &Page { after: None, limit: 100, descending: true }).await.unwrap();
    all.sort_by_key(|c| match due(c) {
        Some(d) => (0, d.0, -c.id.0),
        None => (1, c.created_at.0, -c.id.0),
    });
    let expected: Vec<_> = all.iter().map(|c| c.id).collect();
    let q = crate::QueueQuery { statuses: open.clone(), limit: 100, ..Default::default() };
    let (page, total) = store.queue(&Scope::All, &q).await.unwrap();
    assert_eq!(page.iter().map(|c| c.id).collect::<Vec<_>>(), expected);
    assert_eq!(total, 9);
    // A short page is the head of the same order, and still counts everything.
    let (page, total) = store.queue(&Scope::All, &crate::QueueQuery { limit: 4, ..q.clone() }).await.unwrap();
    assert_eq!((page.iter().map(|c| c.id).collect::<Vec<_>>(), total), (expected[..4].to_vec(), 9));
    // A deadline window keeps only cases due in it.
    let (from, to) = (svc.now(), svc.now().plus_ms(30 * DAY_MS));
    let (page, total) = store.queue(&Scope::All, &crate::QueueQuery { due_from: Some(from), due_to: Some(to), ..q.clone() }).await.unwrap();
    let want: Vec<_> = all.iter().filter(|c| due(c).is_some_and(|d| d >= from && d < to)).map(|c| c.id).collect();
    assert!(!want.is_empty() && want.len() < 9);
    assert_eq!((page.iter().map(|c| c.id).collect::<Vec<_>>(), total as usize), (want.clone(), want.len()));
    // Statuses, category and scope narrow it.
    let (page, _) = store.queue(&Scope::All, &crate::QueueQuery { statuses: vec!["received".into()], ..q.clone() }).await.unwrap();
    assert_eq!(page.len(), 3);
    let (page, _) = store.queue(&Scope::All, &crate::QueueQuery { category: Some("street_light".into()), ..q.clone() }).await.unwrap();
    assert_eq!(page.len(), 3);
    let unit = Scope::Unit { unit: UnitId("vc-a1".into()) };
    assert_eq!(store.queue(&unit, &q).await.unwrap().1, 6, "the unit's dispatched and accepted cases");
    let elsewhere = Scope::Region { prefix: "330681102".into() };
    assert_eq!(store.queue(&elsewhere, &q).await.unwrap(), (Vec::new(), 0));
    assert_eq!(store.queue(&Scope::All, &crate::QueueQuery { region: Some(TOWN_B.into()), ..q.clone() }).await.unwrap().1, 0);
    assert_eq!(store.queue(&Scope::All, &crate::QueueQuery { statuses: vec![], ..q }).await.unwrap().1, 0);
    let _ = ids;
}

async fn figures(store: Arc<dyn Store>) {
    let clock = ManualClock::new(T0);
    let svc = seeded_with_clock(&store, clock.clone()).await;
    let intake = staff_actor("intake");
    let handler = staff_actor("handler-a1");
    let sup = staff_actor("sup");
    // Four cases: one closed satisfied on time, one closed after escalation, one still open,
    // one closed as unreachable.
    let mut ids = Vec::new();
    for i in 0..4 {
        let c = svc.create(draft("street_light", VILLAGE_A1, &format!("灯{i}")), &intake, Channel::Phone, None).await.unwrap().case;
        svc.act(&intake, c.id, None, &Command::File { severity: None, note: None }).await.unwrap();
        svc.act(&intake, c.id, None, &Command::Dispatch { lead_unit: UnitId("vc-a1".into()), co_units: vec![] }).await.unwrap();
        ids.push(c.id);
    }
    // Read the figures now, so everything below reaches them as changes to what was read.
    let early = FactsFilter { from: T0, to: T0.plus_ms(DAY_MS), repeat_window_ms: 90 * DAY_MS, ..Default::default() };
    let f = svc.figures(&sup, &early).await.unwrap();
    assert_eq!((f.cohort, f.resolution_rate.numerator), (4, 0));
    clock.advance_ms(HOUR_MS);
    for id in &ids {
        svc.act(&handler, *id, None, &Command::Accept).await.unwrap();
    }
    svc.act(
        &sup,
        ids[1],
        None,
        &Command::Escalate { to: UnitId("town-a".into()), tier: fengqiao_domain::Tier::Town, reason: "needs the town".into() },
    )
    .await
    .unwrap();
    clock.advance_ms(HOUR_MS);
    for id in [ids[0], ids[3]] {
        svc.act(&handler, id, None, &Command::Resolve { feedback: "换了灯泡".into() }).await.unwrap();
    }
    svc.act(&sup, ids[1], None, &Command::Accept).await.unwrap();
    svc.act(&sup, ids[1], None, &Command::Resolve { feedback: "镇里处理".into() }).await.unwrap();
    for id in [ids[0], ids[1]] {
        svc.act(
            &intake,
            id,
            None,
            &Command::RecordVisit {
                party: None,
                channel: ContactChannel::Phone,
                reached: true,
                rating: Some(Rating::Satisfied),
                comment: None,
            },
        )
        .await
        .unwrap();
        svc.act(&intake, id, None, &Command::Close { note: None }).await.unwrap();
    }
    for (ch, dt) in [(ContactChannel::Phone, 0), (ContactChannel::Sms, 13 * HOUR_MS), (ContactChannel::Phone, 13 * HOUR_MS)] {
        clock.advance_ms(dt);
        svc.act(&intake, ids[3], None, &Command::RecordVisit { party: None, channel: ch, reached: false, rating: None, comment: None })
            .await
            .unwrap();
    }
    let c3 = svc.act(&intake, ids[3], None, &Command::Close { note: None }).await.unwrap();
    assert_eq!(c3.closure_flag, Some(fengqiao_domain::ClosureFlag::Unreachable));
    // The same reporter comes back within the window: the closed cases become repeats.
    clock.advance_ms(HOUR_MS);
    svc.create(draft("noise", VILLAGE_B1, "又来了"), &intake, Channel::Phone, None).await.unwrap();
    let filter = FactsFilter { from: T0, to: T0.plus_ms(DAY_MS), repeat_window_ms: 90 * DAY_MS, ..Default::default() };
    let f = svc.figures(&sup, &filter).await.unwrap();
    // The database's counts equal the Rust definition over the same cohort.
    let (cohort, later) = store.case_facts(&Scope::All, &filter).await.unwrap();
    let (counts, points) = store.figure_counts(&Scope::All, &filter, svc.now()).await.unwrap();
    assert_eq!(counts, fengqiao_domain::figures::FigureCounts::from_facts(&cohort, &later, svc.now(), 90));
    assert_eq!(points.len(), 4);
    assert_eq!(f.cohort, 4);
    assert_eq!((f.response_rate.numerator, f.response_rate.denominator), (4, 4));
    assert_eq!((f.resolution_rate.numerator, f.resolution_rate.denominator), (3, 4));
    assert_eq!((f.satisfaction_rate.numerator, f.satisfaction_rate.denominator), (2, 2), "the unreachable closure is excluded");
    assert_eq!(f.flagged_closures, 1);
    assert_eq!((f.locally_settled_rate.numerator, f.locally_settled_rate.denominator), (2, 3));
    assert_eq!((f.repeat_rate.numerator, f.repeat_rate.denominator), (3, 3));
    let response = f.stages.iter().find(|s| s.stage == "response").unwrap();
    assert_eq!(response.median_hours, Some(1.0));
    // Scoped: town B's supervisor sees an empty cohort, by the unit filter only its cases.
    let f_unit = svc.figures(&sup, &FactsFilter { unit: Some("town-a".into()), ..filter.clone() }).await.unwrap();
    assert_eq!(f_unit.cohort, 1);
    let other = actor(&user("sup-b", Role::Supervisor, None, TOWN_B));
    assert_eq!(svc.figures(&other, &filter).await.unwrap().cohort, 0);
    // By region in one pass: the same counts as one region at a time, nested or not.
    let parts = [TOWN_A, VILLAGE_A1, TOWN_B];
    let by = store.figure_counts_by_region(&Scope::All, &filter, &parts.map(String::from), svc.now()).await.unwrap();
    for (k, r) in by.iter().zip(parts) {
        let one = store.figure_counts(&Scope::All, &FactsFilter { region: Some(r.into()), ..filter.clone() }, svc.now()).await.unwrap().0;
        assert_eq!(*k, one, "{r}");
    }
    assert_eq!(by.iter().map(|k| k.cohort).collect::<Vec<_>>(), vec![4, 4, 0]);
    let scoped = store
        .figure_counts_by_region(&Scope::Region { prefix: "330681102".into() }, &filter, &parts.map(String::from), svc.now())
        .await
        .unwrap();
    assert!(scoped.iter().all(|k| k.cohort == 0), "a scope elsewhere counts nothing");
    // A late round stays late after a reopening, however fast the next round is: the stored
    // row keeps the miss for the figures, which read rows, not events.
    let before = store.figure_counts(&Scope::All, &filter, svc.now()).await.unwrap().0;
    let visit =
        Command::RecordVisit { party: None, channel: ContactChannel::Phone, reached: true, rating: Some(Rating::Satisfied), comment: None };
    clock.advance_ms(30 * DAY_MS);
    for (who, cmd) in [
        (&handler, Command::Resolve { feedback: "晚了".into() }),
        (&intake, visit.clone()),
        (&intake, Command::Close { note: None }),
        (&intake, Command::Reopen { reason: "又坏了".into() }),
        (&handler, Command::Resolve { feedback: "当天修好".into() }),
        (&intake, visit),
        (&intake, Command::Close { note: None }),
    ] {
        svc.act(who, ids[2], None, &cmd).await.unwrap();
    }
    let (after, _) = store.figure_counts(&Scope::All, &filter, svc.now()).await.unwrap();
    let (cohort, later) = store.case_facts(&Scope::All, &filter).await.unwrap();
    assert_eq!(after, fengqiao_domain::figures::FigureCounts::from_facts(&cohort, &later, svc.now(), 90));
    assert!(cohort.iter().any(|c| c.id == ids[2] && c.missed_deadline));
    assert_eq!((after.due, after.on_time), (before.due + 1, before.on_time));
}

async fn erasure_keeps_the_chain(store: Arc<dyn Store>) {
    let svc = seed(&store).await;
    let intake = staff_actor("intake");
    let mut d = draft("noise", VILLAGE_A1, "吵");
    d.reporter.as_mut().unwrap().email = Some("Zhang@Example.org".into());
    let c = svc.create(d, &intake, Channel::Web, None).await.unwrap().case;
    let pid = c.reporter.unwrap();
    let before = &store.persons(&[pid]).await.unwrap()[0];
    assert_eq!((before.phone.as_deref(), before.email.as_deref()), (Some("13800138000"), Some("Zhang@example.org")));
    assert!(store.erase_person(pid, "user:sup", svc.now()).await.unwrap());
    let p = &store.persons(&[pid]).await.unwrap()[0];
    assert!(p.name.is_none() && p.phone.is_none() && p.email.is_none() && p.erased_at.is_some());
    assert!(!store.erase_person(pid, "user:sup", svc.now()).await.unwrap());
    svc.checkpoint().await.unwrap();
    assert!(matches!(verify(&svc).await, VerifyOutcome::Ok { .. }));
}

async fn backup_round_trip(store: Arc<dyn Store>) {
    let svc = seed(&store).await;
    let intake = staff_actor("intake");
    for i in 0..5 {
        svc.create(draft("noise", VILLAGE_A1, &format!("{i}")), &intake, Channel::Web, Some((format!("k{i}"), "h".into()))).await.unwrap();
    }
    store.create_api_key(&api_key("app", "h1", &[ApiScope::Submit]), "user:admin", T0).await.unwrap();
    // A loaded year and a job that ran are part of the backup.
    svc.load_calendar("2027-01-01,holiday,元旦\n", &Actor::System { job: "cli".into() }).await.unwrap();
    let c = dispatched(&svc, "street_light").await;
    let swept = crate::Scheduler::new(svc.clone()).run_due(c.response_due.unwrap().plus_ms(1)).await.unwrap();
    assert_eq!(swept.done.len(), 1);
    svc.checkpoint().await.unwrap();
    let mut records = Vec::new();
    store
        .export_snapshot(&mut |r| {
            records.push(r);
            Ok(())
        })
        .await
        .unwrap();
    assert!(matches!(records[0], BackupRecord::Header { .. }));
    assert!(records.iter().any(|r| matches!(r, BackupRecord::ApiKey(k) if k.name == "app")), "keys are backed up");
    assert!(records.iter().any(|r| matches!(r, BackupRecord::CalendarYear { year: 2027, .. })));
    assert!(records.iter().any(|r| matches!(r, BackupRecord::Job(j) if j.case_id == c.id.0 && j.kind == "breach_response")));
    // Into the same store: refused, it is not empty.
    assert!(!store.is_empty().await.unwrap());
    // The records survive JSON Lines.
    let text: Vec<String> = records.iter().map(|r| serde_json::to_string(r).unwrap()).collect();
    let back: Vec<BackupRecord> = text.iter().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(back, records);
}

async fn regions_geojson_and_placement(store: Arc<dyn Store>) {
    let svc = seed(&store).await;
    let admin = Actor::from_user(&user("admin", Role::Admin, None, COUNTY));
    let intake = staff_actor("intake");
    let grid = |code: &str, x: f64, name: &str| {
        serde_json::json!({"type": "Feature",
            "properties": {"code": code, "name": name, "parent": VILLAGE_A1, "population": 300, "aliases": ["老街菜场"]},
            "geometry": {"type": "Polygon", "coordinates": [[[x, 29.0], [x + 0.1, 29.0], [x + 0.1, 29.1], [x, 29.1], [x, 29.0]]]}})
    };
    let good = serde_json::json!({"type": "FeatureCollection", "features": [grid("330681101001001", 120.0, "第一网格"), grid("330681101001002", 120.1, "第二网格")]});
    // Only an administrator imports, within their jurisdiction.
    assert!(matches!(svc.import_regions(&intake, &good.to_string()).await, Err(StoreError::Domain(DomainError::Forbidden(_)))));
    let town_admin = Actor::from_user(&user("admin-b", Role::Admin, None, TOWN_B));
    assert!(svc.import_regions(&town_admin, &good.to_string()).await.is_err());
    // A bad feature rejects the whole file and nothing is written.
    let before = (event_count(&store).await, store.regions().await.unwrap().len());
    let mut bad = good.clone();
    bad["features"].as_array_mut().unwrap().push(serde_json::json!({"type": "Feature",
        "properties": {"code": "330681101009001", "name": "孤儿网格", "population": 1},
        "geometry": {"type": "Polygon", "coordinates": [[[120.0, 29.0], [120.1, 29.1], [120.1, 29.0], [120.0, 29.1], [120.0, 29.0]]]}}));
    let Err(StoreError::Domain(DomainError::Invalid(errs))) = svc.import_regions(&admin, &bad.to_string()).await else {
        panic!("a bad file must be refused")
    };
    assert!(errs.iter().any(|e| e.field == "features[2]" && e.message.contains("crosses itself")), "{errs:?}");
    assert!(errs.iter().any(|e| e.field == "features[2]" && e.message.contains("orphan")), "{errs:?}");
    assert_eq!((event_count(&store).await, store.regions().await.unwrap().len()), before);
    // The good file lands whole; a point finds its grid, an alias its place.
    assert_eq!(svc.import_regions(&admin, &good.to_string()).await.unwrap(), 2);
    assert_eq!(store.regions().await.unwrap().len(), before.1 + 2);
    assert_eq!(event_count(&store).await, before.0 + 2);
    let at =
        |lon: f64, lat: f64| CaseDraft { lat: Some(lat), lon: Some(lon), region: None, ..draft("street_light", VILLAGE_A1, "灯坏了") };
    let c = svc.create(at(120.15, 29.05), &intake, Channel::Counter, None).await.unwrap().case;
    assert_eq!(c.region.as_str(), "330681101001002");
    let c = svc.create(at(120.3, 29.3), &intake, Channel::Counter, None).await.unwrap().case;
    assert_eq!(c.region.as_str(), TOWN_A, "outside the grids, inside the town");
    let by_address = |a: &str| CaseDraft { region: None, address: Some(a.into()), ..draft("street_light", VILLAGE_A1, "灯坏了") };
    let c = svc.create(by_address("乙镇乙一村3号"), &intake, Channel::Counter, None).await.unwrap().case;
    assert_eq!(c.region.as_str(), VILLAGE_B1);
    let c = svc.create(by_address("老街菜场对面"), &intake, Channel::Counter, None).await.unwrap().case;
    assert_eq!(c.region.as_str(), VILLAGE_A1, "the alias names both grids: their common village");
    let c = svc.create(by_address("不知道哪里"), &intake, Channel::Counter, None).await.unwrap().case;
    assert_eq!(c.region.as_str(), COUNTY, "an unknown place goes to the county's triage");
    // Export reads back the same regions.
    let all = store.regions().await.unwrap();
    let fc = fengqiao_domain::geojson::to_feature_collection(&all);
    let back = fengqiao_domain::geojson::parse_regions(&fc.to_string(), &[], None).unwrap();
    let without_centroid = |v: Vec<Region>| v.into_iter().map(|r| Region { centroid: None, ..r }).collect::<Vec<_>>();
    assert_eq!(without_centroid(back), without_centroid(all), "a missing centroid is computed on import; all else survives");
}

async fn routing_rules_versions_and_triage(store: Arc<dyn Store>) {
    use fengqiao_domain::routing::{RuleSet, StepOutcome};
    let svc = seed(&store).await;
    let admin = Actor::from_user(&user("admin", Role::Admin, None, COUNTY));
    let intake = staff_actor("intake");
    let rules: RuleSet = serde_json::from_value(serde_json::json!({"rules": [
        {"id": "lights", "when": {"categories": ["street_light"]}, "place": {"kind": "village_committee", "level": "village"},
         "co": [{"unit": "town-a"}]},
        {"id": "disputes-town-a", "when": {"categories": ["neighbour"], "region": TOWN_A}, "place": {"unit": "town-a"}}
    ]}))
    .unwrap();
    // Bad rules: every problem listed, nothing written; only administrators save.
    let mut bad = rules.clone();
    bad.rules[0].when.categories.push("astrology".into());
    bad.rules[1].place = Some(fengqiao_domain::routing::Target::Unit { unit: UnitId("nope".into()) });
    let before = event_count(&store).await;
    let Err(StoreError::Domain(DomainError::Invalid(errs))) = svc.save_rules(&admin, &bad).await else {
        panic!("bad rules must be refused")
    };
    assert_eq!(errs.iter().map(|e| e.field.as_str()).collect::<Vec<_>>(), ["rules[0].when.categories", "rules[1].place"]);
    assert!(matches!(svc.save_rules(&intake, &rules).await, Err(StoreError::Domain(DomainError::Forbidden(_)))));
    assert_eq!(event_count(&store).await, before);
    assert_eq!(store.rules(None).await.unwrap(), None);
    assert_eq!(svc.save_rules(&admin, &rules).await.unwrap(), 1);

    // A routed case records the decision and its trace, then is dispatched.
    let new = |cat: &str, region: &str| draft(cat, region, "村口的路灯坏了好几天");
    let c = svc.create(new("street_light", VILLAGE_B1), &intake, Channel::Phone, None).await.unwrap().case;
    svc.act(&intake, c.id, None, &Command::File { severity: None, note: None }).await.unwrap();
    let preview = svc.route_preview(&intake, c.id).await.unwrap();
    let c = svc.act(&intake, c.id, None, &Command::Route { decision: None }).await.unwrap();
    assert_eq!(c.status, Status::Dispatched);
    assert_eq!(c.lead_unit, Some(UnitId("vc-b1".into())));
    assert_eq!(c.co_units, vec![UnitId("town-a".into())]);
    let d = c.routing.clone().unwrap();
    assert_eq!((d.version, d.rule.as_deref()), (1, Some("lights")));
    assert_eq!(d, preview, "the preview is what routing then does");
    let kinds: Vec<String> = store.case_events(&Scope::All, c.id).await.unwrap().unwrap().iter().map(|e| e.kind.clone()).collect();
    assert_eq!(kinds[kinds.len() - 2..], ["routed".to_string(), "dispatched".to_string()]);
    // A client cannot forge the decision: it is not part of the command's JSON.
    let forged: Command = serde_json::from_str(r#"{"action":"route","decision":{"lead":"town-a"}}"#).unwrap();
    assert_eq!(forged, Command::Route { decision: None });

    // No rule matches: the case stays filed, in the triage queue, with the trace.
    let c = svc.create(new("neighbour", VILLAGE_B1), &intake, Channel::Phone, None).await.unwrap().case;
    svc.act(&intake, c.id, None, &Command::File { severity: None, note: None }).await.unwrap();
    let c = svc.act(&intake, c.id, None, &Command::Route { decision: None }).await.unwrap();
    assert_eq!((c.status, c.lead_unit.clone()), (Status::Filed, None));
    let d = c.routing.clone().unwrap();
    assert_eq!(d.lead, None);
    assert_eq!(d.trace.iter().map(|s| s.outcome).collect::<Vec<_>>(), [StepOutcome::NotMatched, StepOutcome::NotMatched]);
    assert!(d.trace[1].detail.contains("outside 330681101000"), "{:?}", d.trace);
    // It can still be dispatched by hand.
    let c = svc.act(&intake, c.id, None, &Command::Dispatch { lead_unit: UnitId("vc-b1".into()), co_units: vec![] }).await.unwrap();
    assert_eq!(c.status, Status::Dispatched);

    // A new version leaves the old one readable, and both travel in backups.
    let mut v2 = rules.clone();
    v2.rules.remove(0);
    assert_eq!(svc.save_rules(&admin, &v2).await.unwrap(), 2);
    assert_eq!(store.rules(Some(1)).await.unwrap().unwrap().rules, rules.rules);
    assert_eq!(store.rules(None).await.unwrap().unwrap().version, 2);
    let mut saved = Vec::new();
    store
        .export_snapshot(&mut |r| {
            if let BackupRecord::RoutingRules { rules, .. } = r {
                saved.push(rules.version);
            }
            Ok(())
        })
        .await
        .unwrap();
    assert_eq!(saved, [1, 2]);
    assert!(matches!(verify(&svc).await, VerifyOutcome::Ok { .. }));
}

async fn supervision_orders(store: Arc<dyn Store>) {
    use crate::{OrderFilter, OrderTarget};
    use fengqiao_domain::supervision::{OrderCommand, OrderCounts, OrderStatus};
    let svc = seed(&store).await;
    let intake = staff_actor("intake");
    let (sup_a, sup, h_a1, h_b1) = (staff_actor("sup-a"), staff_actor("sup"), staff_actor("handler-a1"), staff_actor("handler-b1"));
    let c = svc.create(draft("street_light", VILLAGE_A1, "路灯坏了一个月"), &intake, Channel::Phone, None).await.unwrap().case;
    let far = svc.create(draft("street_light", VILLAGE_B1, "路灯坏了"), &intake, Channel::Phone, None).await.unwrap().case;
    let due = T0.plus_ms(DAY_MS);
    // Not yet dispatched: no unit to answer.
    assert!(matches!(
        svc.issue_order(&sup_a, OrderTarget::Case(c.id), due, "三日内修复").await,
        Err(StoreError::Domain(DomainError::Precondition(_)))
    ));
    svc.act(&intake, c.id, None, &Command::File { severity: None, note: None }).await.unwrap();
    svc.act(&intake, c.id, None, &Command::Dispatch { lead_unit: UnitId("vc-a1".into()), co_units: vec![] }).await.unwrap();
    let before = event_count(&store).await;
    // Refusals write nothing: a handler may not issue, a supervisor not outside the jurisdiction.
    assert!(svc.issue_order(&h_a1, OrderTarget::Case(c.id), due, "x").await.is_err());
    assert!(matches!(svc.issue_order(&sup_a, OrderTarget::Case(far.id), due, "x").await, Err(StoreError::NotFound)));
    assert!(svc.issue_order(&sup_a, OrderTarget::Unit(UnitId("vc-b1".into())), due, "x").await.is_err());
    assert!(svc.issue_order(&sup_a, OrderTarget::Case(c.id), T0, "past deadline").await.is_err());
    assert_eq!(event_count(&store).await, before);

    let o = svc.issue_order(&sup_a, OrderTarget::Case(c.id), due, "三日内修复并回复").await.unwrap();
    assert_eq!((o.id, o.unit.as_str(), o.status), (1, "vc-a1", OrderStatus::Open));
    let u = svc.issue_order(&sup, OrderTarget::Unit(UnitId("vc-b1".into())), due, "本周内清理积压案件").await.unwrap();
    assert_eq!(u.id, 2);
    assert_eq!(event_count(&store).await, before + 2);
    // Who sees what: the addressed unit, the supervisors above it.
    let list = |a: &Actor| {
        let (svc, a) = (svc.clone(), a.clone());
        async move {
            svc.store
                .orders(&Scope::for_actor(&a), &OrderFilter { limit: 100, ..Default::default() })
                .await
                .unwrap()
                .iter()
                .map(|o| o.id)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(list(&sup).await, [2, 1]);
    assert_eq!(list(&sup_a).await, [1]);
    assert_eq!(list(&h_a1).await, [1]);
    assert_eq!(list(&h_b1).await, [2]);
    assert!(matches!(svc.act_order(&h_b1, 1, None, &OrderCommand::Answer { text: "x".into() }).await, Err(StoreError::NotFound)));
    // The unit answers; a stale second answer is refused; the supervisor reviews.
    let o = svc.act_order(&h_a1, 1, Some(1), &OrderCommand::Answer { text: "已更换灯泡".into() }).await.unwrap();
    assert_eq!((o.status, o.version), (OrderStatus::Answered, 2));
    assert!(matches!(
        svc.act_order(&h_a1, 1, Some(1), &OrderCommand::Answer { text: "again".into() }).await,
        Err(StoreError::Conflict { current: 2 })
    ));
    let o = svc.act_order(&sup_a, 1, None, &OrderCommand::Review { accept: true, note: None }).await.unwrap();
    assert_eq!(o.status, OrderStatus::Closed);
    // Counts for the figures; the unit order is overdue a day later.
    let all = svc.store.orders(&Scope::All, &OrderFilter { limit: 100, ..Default::default() }).await.unwrap();
    let c = OrderCounts::of(&all, T0.plus_ms(2 * DAY_MS));
    assert_eq!((c.issued, c.open, c.overdue, c.answered_on_time, c.closed), (2, 1, 1, 1, 1));
    let overdue = svc
        .store
        .orders(&Scope::All, &OrderFilter { overdue_at: Some(T0.plus_ms(2 * DAY_MS)), limit: 10, ..Default::default() })
        .await
        .unwrap();
    assert_eq!(overdue.iter().map(|o| o.id).collect::<Vec<_>>(), [2]);
    assert_eq!(
        svc.store.orders(&Scope::All, &OrderFilter { case_id: Some(c_id(&all)), limit: 10, ..Default::default() }).await.unwrap().len(),
        1
    );
    // Orders travel in backups.
    let mut saved = 0;
    store
        .export_snapshot(&mut |r| {
            if let BackupRecord::SupervisionOrder(_) = r {
                saved += 1;
            }
            Ok(())
        })
        .await
        .unwrap();
    assert_eq!(saved, 2);
    assert!(matches!(verify(&svc).await, VerifyOutcome::Ok { .. }));
}

fn c_id(orders: &[fengqiao_domain::supervision::SupervisionOrder]) -> i64 {
    orders.iter().find_map(|o| o.case_id).map(|c| c.0).unwrap_or(-1)
}

async fn sessions(store: Arc<dyn Store>) {
    seed(&store).await;
    let mk = |id: &str, user: &str, expires: i64| crate::Session {
        id_hash: id.into(),
        user_id: user.into(),
        csrf: format!("csrf-{id}"),
        created_at: T0,
        expires_at: T0.plus_ms(expires),
    };
    store.create_session(&mk("a", "intake", HOUR_MS)).await.unwrap();
    store.create_session(&mk("b", "intake", HOUR_MS)).await.unwrap();
    store.create_session(&mk("c", "sup", HOUR_MS)).await.unwrap();
    let (s, u) = store.session("a", T0).await.unwrap().unwrap();
    assert_eq!((s.csrf.as_str(), u.id.as_str()), ("csrf-a", "intake"));
    assert!(store.session("a", T0.plus_ms(2 * HOUR_MS)).await.unwrap().is_none(), "expired sessions do not count");
    assert!(store.session("zzz", T0).await.unwrap().is_none());
    store.delete_session("a").await.unwrap();
    assert!(store.session("a", T0).await.unwrap().is_none());
    assert_eq!(store.delete_user_sessions("intake").await.unwrap(), 1);
    assert!(store.session("b", T0).await.unwrap().is_none());
    assert!(store.session("c", T0).await.unwrap().is_some(), "other users keep their sessions");
    let (u, creds) = store.user_credentials("intake").await.unwrap().unwrap();
    assert_eq!(u.id, "intake");
    assert_eq!(creds.token_hash.as_deref(), Some("hash-intake"));
    assert!(store.user_credentials("nobody").await.unwrap().is_none());
}

async fn attachments(store: Arc<dyn Store>) {
    let svc = seed(&store).await;
    let intake = staff_actor("intake");
    let a = svc.create(draft("street_light", VILLAGE_A1, "路灯"), &intake, Channel::Web, None).await.unwrap().case;
    let b = svc.create(draft("street_light", VILLAGE_B1, "路灯"), &intake, Channel::Web, None).await.unwrap().case;
    let before = event_count(&store).await;
    let photo = |case_id, data: &[u8]| NewAttachment {
        case_id,
        content_type: "image/png".into(),
        data: data.to_vec(),
        at: T0,
        actor: "resident".into(),
    };
    let m1 = store.add_attachment(&photo(a.id, b"\x89PNG one")).await.unwrap();
    let m2 = store.add_attachment(&photo(a.id, b"\x89PNG two!")).await.unwrap();
    store.add_attachment(&photo(b.id, b"\x89PNG b")).await.unwrap();
    assert_eq!((m1.size, m2.id), (8, m1.id + 1));
    assert_eq!(m1.sha256.len(), 64);
    assert_eq!(event_count(&store).await, before + 3, "each attachment is an audit event");
    assert!(matches!(store.add_attachment(&photo(CaseId(999), b"x")).await, Err(StoreError::NotFound)));
    assert_eq!(event_count(&store).await, before + 3, "a refused attachment writes nothing");
    let listed = store.attachments(&Scope::All, a.id).await.unwrap();
    assert_eq!(listed, vec![m1.clone(), m2.clone()]);
    let (meta, data) = store.attachment(&Scope::All, m2.id).await.unwrap().unwrap();
    assert_eq!((meta, data.as_slice()), (m2.clone(), &b"\x89PNG two!"[..]));
    // Scoped like the case: town B's intake sees neither the list nor the bytes of town A's case.
    let other = Scope::for_actor(&actor(&user("intake-b", Role::Intake, None, TOWN_B)));
    assert!(store.attachments(&other, a.id).await.unwrap().is_empty());
    assert!(store.attachment(&other, m1.id).await.unwrap().is_none());
    assert!(
        store.attachment(&Scope::for_actor(&staff_actor("handler-a1")), m1.id).await.unwrap().is_none(),
        "not dispatched to the unit yet"
    );
    assert!(store.attachment(&Scope::All, 12345).await.unwrap().is_none());
    assert!(matches!(verify(&svc).await, VerifyOutcome::Ok { .. }));
    // Attachments travel with backups.
    let mut records = Vec::new();
    store
        .export_snapshot(&mut |r| {
            records.push(r);
            Ok(())
        })
        .await
        .unwrap();
    let hexed: Vec<_> = records.iter().filter(|r| matches!(r, BackupRecord::Attachment { .. })).collect();
    assert_eq!(hexed.len(), 3);
}

/// Restores `records` into `target` and checks it matches `source`; used by the backends'
/// tests, which can make a second empty store.
pub async fn restore_matches(source: &Arc<dyn Store>, target: &Arc<dyn Store>) {
    let mut records = Vec::new();
    source
        .export_snapshot(&mut |r| {
            records.push(r);
            Ok(())
        })
        .await
        .unwrap();
    assert!(target.is_empty().await.unwrap());
    target.import_snapshot(records).await.unwrap();
    assert_eq!(source.audit_head().await.unwrap(), target.audit_head().await.unwrap());
    let all = Page { after: None, limit: 100_000, descending: false };
    assert_eq!(
        source.list_cases(&Scope::All, &CaseFilter::default(), &all).await.unwrap(),
        target.list_cases(&Scope::All, &CaseFilter::default(), &all).await.unwrap()
    );
    assert_eq!(source.checkpoints().await.unwrap(), target.checkpoints().await.unwrap());
    for c in source.list_cases(&Scope::All, &CaseFilter::default(), &all).await.unwrap() {
        let (from, to) = (source.attachments(&Scope::All, c.id).await.unwrap(), target.attachments(&Scope::All, c.id).await.unwrap());
        assert_eq!(from, to);
        for m in from {
            assert_eq!(source.attachment(&Scope::All, m.id).await.unwrap(), target.attachment(&Scope::All, m.id).await.unwrap());
        }
    }
    assert_eq!(source.api_keys().await.unwrap(), target.api_keys().await.unwrap());
    // The figures: the restored store's first look loads every dispatched case at once (the
    // source's were read as they changed), co-handled ones included.
    let ever = FactsFilter { from: Timestamp(0), to: Timestamp(i64::MAX / 2), ..Default::default() };
    for scope in [Scope::All, Scope::Unit { unit: UnitId("town-a".into()) }] {
        let (a, b) = (source.figure_counts(&scope, &ever, T0).await.unwrap(), target.figure_counts(&scope, &ever, T0).await.unwrap());
        assert!(a.0.cohort > 0, "the backup has dispatched cases in {scope:?}");
        assert_eq!(a, b);
    }
    // The loaded holiday schedules and the jobs that ran come along, so the restored
    // deployment computes the same working time and runs no job twice.
    assert_eq!(source.calendar_years().await.unwrap(), target.calendar_years().await.unwrap());
    for c in source.list_cases(&Scope::All, &CaseFilter::default(), &all).await.unwrap() {
        assert_eq!(source.jobs_of(c.id).await.unwrap(), target.jobs_of(c.id).await.unwrap());
    }
    // Residents by phone and community consultation: the roll, consultations with their
    // input, and the text messages.
    residents::restored_alike(source, target).await;
    // Problem-solving records come along too.
    let every = crate::ProblemFilter { limit: 10_000, ..Default::default() };
    assert_eq!(source.problems(&Scope::All, &every).await.unwrap(), target.problems(&Scope::All, &every).await.unwrap());
    let clock = ManualClock::new(T0);
    let svc = Service::new(target.clone(), Arc::new(clock), ServiceConfig::default()).await.unwrap();
    assert!(matches!(svc.verify_audit(AUDIT_KEY, |_| {}).await.unwrap(), VerifyOutcome::Ok { .. }));
    // The restored store goes on numbering where the source stopped.
    let c = svc.create(draft("noise", VILLAGE_A1, "after restore"), &staff_actor("intake"), Channel::Web, None).await.unwrap().case;
    let max = source.list_cases(&Scope::All, &CaseFilter::default(), &all).await.unwrap().last().map(|c| c.id.0).unwrap_or(0);
    assert_eq!(c.id, CaseId(max + 1));
}

fn api_key(name: &str, hash: &str, scopes: &[ApiScope]) -> ApiKey {
    ApiKey {
        name: name.into(),
        key_hash: hash.into(),
        scopes: scopes.to_vec(),
        unit: None,
        rate_per_minute: None,
        created_at: T0,
        revoked_at: None,
    }
}

async fn api_keys(store: Arc<dyn Store>) {
    let svc = seed(&store).await;
    let before = event_count(&store).await;
    store.create_api_key(&api_key("fixmystreet", "h1", &[ApiScope::Submit, ApiScope::Update]), "user:admin", T0).await.unwrap();
    store.create_api_key(&api_key("app", "h2", &[ApiScope::Submit]), "user:admin", T0).await.unwrap();
    assert_eq!(event_count(&store).await, before + 2, "creating a key is an audit event");
    let logged = store.audit_events(before, 10).await.unwrap();
    assert_eq!(logged[0].kind, "api_key_created");
    assert!(!logged[0].payload.contains("h1"), "the log never holds the key's hash");
    // Names are unique, even once revoked; bad names are refused; neither writes anything.
    let dup = store.create_api_key(&api_key("app", "h3", &[ApiScope::Submit]), "user:admin", T0).await.unwrap_err();
    assert!(matches!(dup, StoreError::Domain(_)), "{dup:?}");
    assert!(store.create_api_key(&api_key("Bad Name", "h4", &[]), "user:admin", T0).await.is_err());
    assert_eq!(event_count(&store).await, before + 2);
    let k = store.api_key_by_hash("h1").await.unwrap().unwrap();
    assert_eq!(k.name, "fixmystreet");
    assert!(k.allows(ApiScope::Update));
    assert!(!store.api_key_by_hash("h2").await.unwrap().unwrap().allows(ApiScope::Update));
    assert!(store.api_key_by_hash("nope").await.unwrap().is_none());
    let later = T0.plus_ms(HOUR_MS);
    assert!(store.revoke_api_key("app", "user:admin", later).await.unwrap());
    assert!(!store.revoke_api_key("app", "user:admin", later).await.unwrap(), "already revoked");
    assert!(!store.revoke_api_key("nobody", "user:admin", later).await.unwrap());
    assert_eq!(event_count(&store).await, before + 3);
    let revoked = store.api_key_by_hash("h2").await.unwrap().unwrap();
    assert_eq!(revoked.revoked_at, Some(later));
    assert!(!revoked.allows(ApiScope::Submit));
    let names: Vec<String> = store.api_keys().await.unwrap().into_iter().map(|k| k.name).collect();
    assert_eq!(names, ["app", "fixmystreet"]);
    assert!(matches!(verify(&svc).await, VerifyOutcome::Ok { .. }));
}

async fn public_cases_and_request_updates(store: Arc<dyn Store>) {
    let svc = seed(&store).await;
    let intake = staff_actor("intake");
    // Cases a day apart: street lights (public), a road (public), a dispute (never public).
    let mut ids = Vec::new();
    for (i, cat) in ["street_light", "road_damage", "neighbour", "street_light"].iter().enumerate() {
        let mut item = svc.prepare(draft(cat, VILLAGE_A1, "路灯不亮"), &intake, Channel::Api, None).unwrap();
        item.at = T0.plus_ms(i as i64 * DAY_MS);
        ids.push(svc.submit(item).await.unwrap().case.id.0);
    }
    svc.act(&intake, CaseId(ids[3]), None, &Command::Cancel { reason: "重复".into() }).await.unwrap();
    let public: Vec<String> = vec!["street_light".into(), "road_damage".into()];
    let q = PublicCaseQuery { categories: public.clone(), limit: 100, ..Default::default() };
    let got = |v: Vec<fengqiao_domain::Case>| v.into_iter().map(|c| c.id.0).collect::<Vec<_>>();
    assert_eq!(got(store.public_cases(&q).await.unwrap()), [ids[3], ids[1], ids[0]], "newest first, no dispute");
    let open = PublicCaseQuery { open: Some(true), ..q.clone() };
    assert_eq!(got(store.public_cases(&open).await.unwrap()), [ids[1], ids[0]]);
    let closed = PublicCaseQuery { open: Some(false), ..q.clone() };
    assert_eq!(got(store.public_cases(&closed).await.unwrap()), [ids[3]]);
    let window = PublicCaseQuery { created_from: Some(T0.plus_ms(DAY_MS)), created_to: Some(T0.plus_ms(3 * DAY_MS)), ..q.clone() };
    assert_eq!(got(store.public_cases(&window).await.unwrap()), [ids[1]]);
    let page = PublicCaseQuery { offset: 1, limit: 1, ..q.clone() };
    assert_eq!(got(store.public_cases(&page).await.unwrap()), [ids[1]]);
    // Ids override the other filters but never the categories.
    let by_id = PublicCaseQuery { ids: Some(vec![ids[0], ids[2], ids[3]]), open: Some(true), ..q.clone() };
    assert_eq!(got(store.public_cases(&by_id).await.unwrap()), [ids[3], ids[0]]);
    // So do tracking codes, which are what Open311 clients see.
    let mut codes = Vec::new();
    for i in [ids[0], ids[2], ids[3]] {
        codes.push(store.case(&Scope::All, CaseId(i)).await.unwrap().unwrap().tracking_code.as_str().to_string());
    }
    codes.push("NO-SUCH-CODE".into());
    let by_code = PublicCaseQuery { codes: Some(codes), open: Some(true), ..q.clone() };
    assert_eq!(got(store.public_cases(&by_code).await.unwrap()), [ids[3], ids[0]]);
    assert!(store.public_cases(&PublicCaseQuery { codes: Some(vec![]), ..q.clone() }).await.unwrap().is_empty());
    assert!(store.public_cases(&PublicCaseQuery { categories: vec![], ..q.clone() }).await.unwrap().is_empty());

    let evs = store.case_events_between(&public, T0, T0.plus_ms(10 * DAY_MS), 100).await.unwrap();
    // In time order: the cancellation happened at T0, before the later cases were created.
    let order: Vec<(&str, Option<i64>)> = evs.iter().map(|e| (e.kind.as_str(), e.case_id)).collect();
    assert_eq!(order, [("created", Some(ids[0])), ("cancelled", Some(ids[3])), ("created", Some(ids[1])), ("created", Some(ids[3]))]);
    assert!(evs.iter().all(|e| e.case_id != Some(ids[2])));
    assert_eq!(store.case_events_between(&public, T0.plus_ms(DAY_MS), T0.plus_ms(2 * DAY_MS), 100).await.unwrap().len(), 1);

    let u = RequestUpdate {
        update_id: "u-1".into(),
        key_name: "fms".into(),
        case_id: ids[0],
        status: "INVESTIGATING".into(),
        description: "已派人查看".into(),
        updated_at: T0,
        applied: None,
        received_at: T0.plus_ms(HOUR_MS),
    };
    let before = event_count(&store).await;
    let (stored, new) = store.record_request_update(&u, "apikey:fms").await.unwrap();
    assert!(new);
    assert_eq!(stored, u);
    assert_eq!(event_count(&store).await, before + 1);
    let again = RequestUpdate { description: "changed".into(), ..u.clone() };
    let (stored, new) = store.record_request_update(&again, "apikey:fms").await.unwrap();
    assert!(!new, "the same update id from the same key is recorded once");
    assert_eq!(stored.description, u.description);
    assert_eq!(event_count(&store).await, before + 1);
    assert_eq!(store.request_update("fms", "u-1").await.unwrap(), Some(u.clone()));
    assert_eq!(store.request_update("other", "u-1").await.unwrap(), None, "update ids are per key");
    let dispute = RequestUpdate { update_id: "u-2".into(), case_id: ids[2], ..u.clone() };
    store.record_request_update(&dispute, "apikey:fms").await.unwrap();
    let listed = store.request_updates(&public, T0, T0.plus_ms(DAY_MS), 100).await.unwrap();
    assert_eq!(listed, vec![u.clone()], "only updates on listed categories");
    assert!(store.request_updates(&public, T0.plus_ms(2 * HOUR_MS), T0.plus_ms(DAY_MS), 100).await.unwrap().is_empty());
    // Replay of every case still works: updates are not case events.
    for id in &ids {
        let evs = store.case_events(&Scope::All, CaseId(*id)).await.unwrap().unwrap();
        assert!(evs.iter().all(|e| e.kind != "request_update_received"));
    }
    assert!(matches!(verify(&svc).await, VerifyOutcome::Ok { .. }));
}
/// A case filed and dispatched to the village committee of A1 at the clock's time.
async fn dispatched(svc: &Service, category: &str) -> fengqiao_domain::Case {
    let intake = staff_actor("intake");
    let c = svc.create(draft(category, VILLAGE_A1, "路灯不亮"), &intake, Channel::Phone, None).await.unwrap().case;
    svc.act(&intake, c.id, None, &Command::File { severity: None, note: None }).await.unwrap();
    svc.act(&intake, c.id, None, &Command::Dispatch { lead_unit: UnitId("vc-a1".into()), co_units: vec![] }).await.unwrap()
}

async fn scheduler_runs_each_job_once(store: Arc<dyn Store>) {
    use crate::Scheduler;
    let clock = ManualClock::new(T0);
    let svc = seeded_with_clock(&store, clock.clone()).await;
    // Dispatched on New Year's Day 2026 (08:00 in Shanghai): the response deadline is the
    // close of the next working day, Sunday 4 January (a make-up working day); handling
    // (three working days) ends on Tuesday 6 January.
    let a = dispatched(&svc, "street_light").await;
    let b = dispatched(&svc, "street_light").await;
    let tz = svc.calendar().time_zone().clone();
    assert_eq!(a.response_due.unwrap().to_rfc3339_in(&tz), "2026-01-04T17:30:00+08:00");
    assert_eq!(a.handling_due.unwrap().to_rfc3339_in(&tz), "2026-01-06T17:30:00+08:00");
    svc.act(&staff_actor("handler-a1"), a.id, None, &Command::Accept).await.unwrap();
    let s1 = Scheduler::new(svc.clone());
    assert!(s1.run_due(T0.plus_ms(HOUR_MS)).await.unwrap().done.is_empty());

    // Reminders before the response deadline: only b is still waiting for acceptance.
    let before = a.response_due.unwrap().plus_ms(-30 * 60_000);
    let r = s1.run_due(before).await.unwrap();
    let kinds: Vec<(String, i64)> = r.done.iter().map(|d| (d.kind.clone(), d.case_id)).collect();
    assert_eq!(kinds, vec![("reminder_response".to_string(), b.id.0)]);
    assert!(s1.run_due(before).await.unwrap().done.is_empty(), "a reminder is sent once");
    let inbox = store.inbox(&["unit:vc-a1".into()], 10).await.unwrap();
    assert_eq!(inbox.len(), 1);
    assert!(inbox[0].message.contains(&format!("#{}", b.id.0)) && inbox[0].kind == "reminder");

    // The response deadline passes for b: a notice, no escalation (the default ladder
    // escalates on the handling deadline).
    let r = s1.run_due(a.response_due.unwrap().plus_ms(60_000)).await.unwrap();
    assert_eq!(r.done.len(), 1);
    assert_eq!((r.done[0].kind.as_str(), r.done[0].case_id), ("breach_response", b.id.0));
    assert_eq!(store.case(&Scope::All, b.id).await.unwrap().unwrap().escalations, 0);

    // Two servers on the same store step past the handling deadline at the same moment:
    // each case is escalated once, to the town mediation centre of its town.
    let svc2 = Arc::new(Service::new(store.clone(), Arc::new(clock.clone()), svc.config.clone()).await.unwrap());
    let s2 = Scheduler::new(svc2);
    let after = a.handling_due.unwrap().plus_ms(60_000);
    let events_before = event_count(&store).await;
    let (r1, r2) = tokio::join!(s1.run_due(after), s2.run_due(after));
    let (r1, r2) = (r1.unwrap(), r2.unwrap());
    assert!(r1.failed.is_empty() && r2.failed.is_empty(), "{r1:?} {r2:?}");
    let mut done: Vec<(String, i64)> = r1.done.iter().chain(&r2.done).map(|d| (d.kind.clone(), d.case_id)).collect();
    done.sort();
    assert_eq!(done, vec![("breach_handling".to_string(), a.id.0), ("breach_handling".to_string(), b.id.0)]);
    assert_eq!(event_count(&store).await, events_before + 2, "one escalation event per case");
    for id in [a.id, b.id] {
        let c = store.case(&Scope::All, id).await.unwrap().unwrap();
        assert_eq!((c.tier, c.lead_unit.clone(), c.escalations), (fengqiao_domain::Tier::Town, Some(UnitId("town-a".into())), 1));
        let events = store.case_events(&Scope::All, id).await.unwrap().unwrap();
        let last = events.last().unwrap();
        assert_eq!((last.kind.as_str(), last.actor.as_str()), ("escalated", "system:deadline"));
        let kinds: Vec<String> = store.jobs_of(id).await.unwrap().into_iter().map(|j| j.kind).collect();
        assert!(kinds.contains(&"breach_handling".to_string()));
    }
    assert_eq!(store.inbox(&["unit:town-a".into()], 10).await.unwrap().len(), 2);
    // Stepping the same time again, from either, does nothing.
    assert!(s1.run_due(after).await.unwrap().done.is_empty());
    assert!(s2.run_due(after.plus_ms(HOUR_MS)).await.unwrap().done.is_empty());
    // The town has its own deadline (the handling span from the escalation: three working
    // days, to Friday 9 January); missed, the case climbs to the county's centre.
    let tier_due = store.case(&Scope::All, a.id).await.unwrap().unwrap().tier_due.unwrap();
    assert_eq!(tier_due.to_rfc3339_in(&tz), "2026-01-09T17:30:00+08:00");
    let r = s1.run_due(tier_due.plus_ms(60_000)).await.unwrap();
    let mut done: Vec<(String, i64, String)> = r.done.iter().map(|d| (d.kind.clone(), d.case_id, d.outcome.clone())).collect();
    done.sort();
    let to_county = "escalated to county-centre (county)".to_string();
    assert_eq!(done, vec![("breach_tier".into(), a.id.0, to_county.clone()), ("breach_tier".into(), b.id.0, to_county)]);
    let c = store.case(&Scope::All, a.id).await.unwrap().unwrap();
    assert_eq!((c.tier, c.escalations), (fengqiao_domain::Tier::County, 2));
    // Nothing is above the county: its missed deadline is noticed, not escalated.
    let r = s1.run_due(c.tier_due.unwrap().plus_ms(60_000)).await.unwrap();
    assert!(r.done.iter().all(|d| d.kind == "breach_tier" && d.outcome == "noticed unit:county-centre"), "{r:?}");
    assert_eq!(r.done.len(), 2);
    assert!(matches!(verify(&svc).await, VerifyOutcome::Ok { .. }));
}

async fn scheduler_resumes_after_a_restart(store: Arc<dyn Store>) {
    use crate::Scheduler;
    let clock = ManualClock::new(T0);
    let svc = seeded_with_clock(&store, clock.clone()).await;
    let c = dispatched(&svc, "street_light").await;
    Scheduler::new(svc.clone()).run_due(T0.plus_ms(HOUR_MS)).await.unwrap();
    drop(svc);
    // The server is down while the response deadline passes; a new process resumes from
    // where the last sweep stopped and catches the breach once.
    let due = c.response_due.unwrap();
    clock.set(due.plus_ms(5 * HOUR_MS));
    let restarted = seeded_with_clock(&store, clock.clone()).await;
    let s = Scheduler::new(restarted.clone());
    let r = s.run_due(clock.now()).await.unwrap();
    assert_eq!(r.done.iter().map(|d| (d.kind.as_str(), d.case_id, d.due_at)).collect::<Vec<_>>(), vec![("breach_response", c.id.0, due)]);
    let again = seeded_with_clock(&store, clock.clone()).await;
    assert!(Scheduler::new(again).run_due(clock.now()).await.unwrap().done.is_empty());
    // A moved deadline is a new job: deferral pauses the clock, resumption moves the handling
    // deadline, and its breach is a new due time.
    let h = staff_actor("handler-a1");
    restarted.act(&h, c.id, None, &Command::Accept).await.unwrap();
    restarted.act(&h, c.id, None, &Command::Defer { reason: "away".into() }).await.unwrap();
    clock.advance_ms(10 * DAY_MS);
    assert!(s.run_due(clock.now()).await.unwrap().done.is_empty(), "a deferred case is not due");
    let resumed = restarted.act(&h, c.id, None, &Command::Resume).await.unwrap();
    assert!(resumed.handling_due.unwrap() > clock.now());
    let r = s.run_due(resumed.handling_due.unwrap().plus_ms(1)).await.unwrap();
    assert!(
        r.done.iter().any(|d| d.kind == "breach_handling" && d.case_id == c.id.0 && d.due_at == resumed.handling_due.unwrap()),
        "{r:?}"
    );
}

async fn calendar_years_load_whole_or_not_at_all(store: Arc<dyn Store>) {
    let svc = seed(&store).await;
    let admin = Actor::System { job: "cli".into() };
    assert_eq!(svc.calendar().years_without_data([2026, 2027]), vec![2027]);
    let bad = "date,kind,name\n2027-01-01,holiday,元旦\n2027-13-01,holiday,x\n2027-02-03,workday,Wednesday\n";
    let before = event_count(&store).await;
    match svc.load_calendar(bad, &admin).await.unwrap_err() {
        StoreError::Domain(fengqiao_domain::DomainError::Invalid(errs)) => {
            let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
            assert_eq!(fields, vec!["line 3", "line 4"]);
        }
        e => panic!("{e:?}"),
    }
    assert!(store.calendar_years().await.unwrap().is_empty());
    assert_eq!(event_count(&store).await, before);
    let good = "date,kind,name\n2027-01-01,holiday,元旦\n2027-02-06,workday,春节 make-up\n";
    assert_eq!(svc.load_calendar(good, &admin).await.unwrap(), vec![2027]);
    assert_eq!(event_count(&store).await, before + 1);
    assert!(svc.calendar().years_without_data([2027]).is_empty());
    // A restarted server sees the loaded year.
    let again = seed(&store).await;
    let cal = again.calendar();
    assert!(!cal.is_working_day("2027-01-01".parse().unwrap()));
    assert!(cal.is_working_day("2027-02-06".parse().unwrap()));
    assert_eq!(store.calendar_years().await.unwrap()[0].0, 2027);
}

/// Staff judgements of risk are events of the case, readable back as the latest per case (the
/// learned risk model's labels); a refused judgement writes nothing.
async fn risk_judgements_keep_the_latest(store: Arc<dyn Store>) {
    let svc = seed(&store).await;
    let intake = staff_actor("intake");
    assert!(store.risk_judgements().await.unwrap().is_empty());
    let a = svc.create(draft("street_light", VILLAGE_A1, "他说要拿刀去找对方"), &intake, Channel::Counter, None).await.unwrap().case;
    let b = svc.create(draft("street_light", VILLAGE_A1, "路灯不亮"), &intake, Channel::Counter, None).await.unwrap().case;
    let judge = |high: bool| Command::JudgeRisk { high, note: Some(" 电话核实 ".into()) };
    svc.act(&intake, a.id, None, &judge(true)).await.unwrap();
    svc.act(&intake, b.id, None, &judge(true)).await.unwrap();
    let after = svc.act(&intake, b.id, None, &judge(false)).await.unwrap();
    // The judgement changes nothing of the case but its version.
    assert_eq!((after.status, after.severity, after.version), (b.status, b.severity, b.version + 2));
    let before = event_count(&store).await;
    let err = svc.act(&staff_actor("handler-b1"), a.id, None, &judge(false)).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound), "{err:?}");
    assert_eq!(event_count(&store).await, before, "a refused judgement writes nothing");
    assert_eq!(store.risk_judgements().await.unwrap(), vec![(a.id, true), (b.id, false)]);
    let events = store.case_events(&Scope::All, b.id).await.unwrap().unwrap();
    let last = events.last().unwrap();
    assert_eq!(last.kind, "risk_judged");
    assert!(last.payload.contains("\"note\":\"电话核实\""), "{}", last.payload);
    assert!(matches!(verify(&svc).await, VerifyOutcome::Ok { .. }));
}

async fn duty_rota_and_risk_alerts(store: Arc<dyn Store>) {
    use fengqiao_domain::duty::DutyShift;
    let sys = "system:contract";
    store
        .put_unit(
            &Unit {
                id: UnitId("ps-a".into()),
                name: "甲镇派出所".into(),
                name_en: None,
                kind: UnitKind::PoliceStation,
                region: RegionCode::parse(TOWN_A).unwrap(),
                handles: vec![],
            },
            sys,
            T0,
        )
        .await
        .unwrap();
    for id in ["officer-1", "officer-2"] {
        let u = user(id, Role::Handler, Some("ps-a"), TOWN_A);
        store.put_user(&u, &Credentials { token_hash: Some(format!("hash-{id}")), password_hash: None }, sys, T0).await.unwrap();
    }
    let svc = seed(&store).await;
    let ps = UnitId("ps-a".into());
    let shift = |who: &str, from_h: i64, to_h: i64| DutyShift {
        unit: ps.clone(),
        user: who.into(),
        starts_at: T0.plus_ms(from_h * HOUR_MS),
        ends_at: T0.plus_ms(to_h * HOUR_MS),
    };
    let (from, to) = (T0, T0.plus_ms(7 * DAY_MS));
    let week = vec![shift("officer-1", 0, 12), shift("officer-2", 12, 24), shift("officer-1", 24, 36)];
    // Only an administrator or a supervisor over the unit changes it; bad rotas change nothing.
    let handler = actor(&user("officer-1", Role::Handler, Some("ps-a"), TOWN_A));
    assert!(matches!(svc.save_rota(&handler, &ps, from, to, &week).await, Err(StoreError::Domain(DomainError::Forbidden(_)))));
    let sup_b = actor(&user("sup-b", Role::Supervisor, None, TOWN_B));
    assert!(matches!(svc.save_rota(&sup_b, &ps, from, to, &week).await, Err(StoreError::NotFound)), "outside the jurisdiction");
    let before = event_count(&store).await;
    let bad = vec![shift("officer-1", 0, 12), shift("officer-1", 6, 8), shift("handler-a1", 12, 24)];
    let Err(StoreError::Domain(DomainError::Invalid(errs))) = svc.save_rota(&staff_actor("sup-a"), &ps, from, to, &bad).await else {
        panic!("an overlapping shift and a stranger are refused");
    };
    let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(fields, ["shifts[1]", "shifts[2].user"], "{errs:?}");
    assert_eq!(event_count(&store).await, before);
    svc.save_rota(&staff_actor("sup-a"), &ps, from, to, &week).await.unwrap();
    assert_eq!(event_count(&store).await, before + 1, "a saved rota is an audit event");
    assert_eq!(svc.rota(&handler, &ps, T0.plus_ms(10 * HOUR_MS), T0.plus_ms(25 * HOUR_MS)).await.unwrap(), week);
    assert!(matches!(svc.rota(&staff_actor("handler-a1"), &ps, from, to).await, Err(StoreError::NotFound)), "another unit's rota");
    let on = |h: i64| {
        let store = store.clone();
        let ps = ps.clone();
        async move { store.on_duty(&[ps], T0.plus_ms(h * HOUR_MS)).await.unwrap().into_iter().map(|s| s.user).collect::<Vec<_>>() }
    };
    assert_eq!((on(0).await, on(12).await, on(40).await), (vec!["officer-1".to_string()], vec!["officer-2".to_string()], vec![]));
    // Saving the window again replaces it.
    svc.save_rota(&staff_actor("sup"), &ps, from, to, &[shift("officer-2", 0, 48)]).await.unwrap();
    assert_eq!(on(30).await, ["officer-2"]);

    // A case reading as violence alerts the station and its officer on duty, once.
    let intake = staff_actor("intake");
    let quiet = svc.create(draft("noise", VILLAGE_A1, "楼上装修太吵"), &intake, Channel::Web, None).await.unwrap().case;
    assert!(store.jobs_of(quiet.id).await.unwrap().is_empty());
    let loud =
        svc.create(draft("neighbour", VILLAGE_A1, "邻居因为占地吵起来，扬言要打人"), &intake, Channel::Phone, None).await.unwrap().case;
    let jobs = store.jobs_of(loud.id).await.unwrap();
    assert_eq!(jobs.iter().map(|j| j.kind.as_str()).collect::<Vec<_>>(), ["risk_alert"]);
    let inbox = store.inbox(&["user:officer-2".into(), "unit:ps-a".into()], 10).await.unwrap();
    let mut got: Vec<(&str, Option<i64>, &str)> = inbox.iter().map(|i| (i.recipient.as_str(), i.case_id, i.kind.as_str())).collect();
    got.sort();
    assert_eq!(got, [("unit:ps-a", Some(loud.id.0), "risk_alert"), ("user:officer-2", Some(loud.id.0), "risk_alert")]);
    assert!(inbox[0].message.contains(loud.tracking_code.as_str()) && inbox[0].message.contains("打人"));
    assert!(store.inbox(&["user:officer-1".into()], 10).await.unwrap().is_empty(), "off duty");

    // Rotas are part of a backup.
    let mut shifts = 0;
    store
        .export_snapshot(&mut |r| {
            if matches!(r, BackupRecord::DutyShift(_)) {
                shifts += 1;
            }
            Ok(())
        })
        .await
        .unwrap();
    assert_eq!(shifts, 1, "the week as saved last");
}

async fn scheduler_follows_supervision_orders(store: Arc<dyn Store>) {
    use crate::{OrderTarget, Scheduler};
    use fengqiao_domain::supervision::OrderCommand;
    let clock = ManualClock::new(T0);
    let svc = seeded_with_clock(&store, clock.clone()).await;
    let due = T0.plus_ms(DAY_MS);
    let o = svc.issue_order(&staff_actor("sup-a"), OrderTarget::Unit(UnitId("vc-a1".into())), due, "本周内清理积压案件").await.unwrap();
    let answered = svc.issue_order(&staff_actor("sup"), OrderTarget::Unit(UnitId("vc-b1".into())), due, "说明超期原因").await.unwrap();
    svc.act_order(&staff_actor("handler-b1"), answered.id, None, &OrderCommand::Answer { text: "已说明".into() }).await.unwrap();
    let s = Scheduler::new(svc.clone());
    assert!(s.run_due(T0.plus_ms(HOUR_MS)).await.unwrap().done.iter().all(|d| !d.kind.starts_with("order_")));
    // Before the deadline: a reminder to the unit, once; the answered order needs none.
    let soon = due.plus_ms(-HOUR_MS);
    let r = s.run_due(soon).await.unwrap();
    let orders: Vec<(&str, i64)> = r.done.iter().filter(|d| d.kind.starts_with("order_")).map(|d| (d.kind.as_str(), d.case_id)).collect();
    assert_eq!(orders, [("order_reminder", o.id)]);
    assert!(s.run_due(soon).await.unwrap().done.iter().all(|d| !d.kind.starts_with("order_")), "once");
    // Past it, still unanswered: the unit and the supervisor who issued it are told, once.
    let late = due.plus_ms(60_000);
    let r = s.run_due(late).await.unwrap();
    let orders: Vec<(&str, i64)> = r.done.iter().filter(|d| d.kind.starts_with("order_")).map(|d| (d.kind.as_str(), d.case_id)).collect();
    assert_eq!(orders, [("order_overdue", o.id)]);
    let to_sup = store.inbox(&["user:sup-a".into()], 10).await.unwrap();
    assert_eq!(to_sup.len(), 1);
    assert!(to_sup[0].kind == "order_overdue" && to_sup[0].message.contains(&format!("#{}", o.id)), "{to_sup:?}");
    let to_unit: Vec<String> = store.inbox(&["unit:vc-a1".into()], 10).await.unwrap().into_iter().map(|i| i.kind).collect();
    assert_eq!(to_unit, ["order_overdue", "order_reminder"]);
    assert!(store.inbox(&["unit:vc-b1".into()], 10).await.unwrap().is_empty(), "an answered order is not chased");
    let again = Scheduler::new(svc.clone()).run_due(late.plus_ms(60_000)).await.unwrap();
    assert!(again.done.iter().all(|d| !d.kind.starts_with("order_")), "a restarted scheduler does not repeat it");
}

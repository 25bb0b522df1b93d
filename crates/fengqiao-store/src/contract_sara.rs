//! The storage contract for problem-solving records and the outbox (webhooks and e-mail);
//! run by every backend with the rest of [`crate::contract`].

use std::sync::Arc;

use fengqiao_domain::audit::VerifyOutcome;
use fengqiao_domain::clock::{DAY_MS, HOUR_MS};
use fengqiao_domain::problem::{ActionStatus, Owner, ProblemCommand, Stage};
use fengqiao_domain::webhook::{HookKind, Subscription};
use fengqiao_domain::{Actor, Channel, Command, DomainError, ManualClock, UnitId};

use crate::contract::{AUDIT_KEY, T0, VILLAGE_A1, VILLAGE_B1, actor, draft, seed, staff};
use crate::webhooks::{Attempt, EMAIL, OutboxFilter, WEBHOOK};
use crate::{JobCommit, JobRun, ProblemFilter, ProblemInput, Scope, Service, ServiceConfig, Store, StoreError};

fn staff_actor(id: &str) -> Actor {
    actor(&staff().into_iter().find(|u| u.id == id).unwrap())
}

async fn head(store: &Arc<dyn Store>) -> i64 {
    store.audit_head().await.unwrap().0
}

pub async fn problems_scope_and_versions(store: Arc<dyn Store>) {
    let svc = seed(&store).await;
    let intake = staff_actor("intake");
    let (sup, sup_a, h_a1, h_b1) = (staff_actor("sup"), staff_actor("sup-a"), staff_actor("handler-a1"), staff_actor("handler-b1"));
    let a = svc.create(draft("noise", VILLAGE_A1, "夜市噪声"), &intake, Channel::Phone, None).await.unwrap().case;
    let a2 = svc.create(draft("noise", VILLAGE_A1, "夜市又吵"), &intake, Channel::Phone, None).await.unwrap().case;
    let b = svc.create(draft("noise", VILLAGE_B1, "乙村噪声"), &intake, Channel::Phone, None).await.unwrap().case;

    // Refusals list every problem and write nothing: a case outside the scope is no case.
    let before = head(&store).await;
    let bad = ProblemInput { title: " ".into(), case_ids: vec![a.id.0, b.id.0], categories: vec!["nope".into()], ..Default::default() };
    let Err(StoreError::Domain(DomainError::Invalid(errs))) = svc.open_problem(&sup_a, &bad).await else { panic!("refused") };
    let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(fields, ["case_ids[1]", "categories[0]", "title"], "{errs:?}");
    let by_handler = ProblemInput { title: "x".into(), case_ids: vec![a.id.0], ..Default::default() };
    assert!(svc.open_problem(&h_a1, &by_handler).await.is_err());
    assert_eq!(head(&store).await, before);

    // By filters: the town-A supervisor's noise cases.
    let by_filter = ProblemInput {
        title: "夜市噪声".into(),
        filter: Some(crate::CaseFilter { category: Some("noise".into()), ..Default::default() }),
        ..Default::default()
    };
    let p = svc.open_problem(&sup_a, &by_filter).await.unwrap();
    assert_eq!((p.id, p.stage, p.version), (1, Stage::Scanning, 1));
    assert_eq!(p.case_ids, [a.id, a2.id]);
    assert_eq!(p.regions.iter().map(|r| r.as_str()).collect::<Vec<_>>(), [VILLAGE_A1]);
    assert_eq!(p.region.as_str(), VILLAGE_A1);
    let q = svc
        .open_problem(&sup, &ProblemInput { title: "全县噪声".into(), case_ids: vec![a.id.0, b.id.0], ..Default::default() })
        .await
        .unwrap();
    assert_eq!(q.region.as_str(), crate::contract::COUNTY);
    assert_eq!(head(&store).await, before + 2);

    let ids = |a: &Actor, f: ProblemFilter| {
        let (svc, a) = (svc.clone(), a.clone());
        async move {
            svc.store
                .problems(&Scope::for_actor(&a), &ProblemFilter { limit: 100, ..f })
                .await
                .unwrap()
                .iter()
                .map(|p| p.id)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(ids(&sup, ProblemFilter::default()).await, [2, 1]);
    assert_eq!(ids(&sup_a, ProblemFilter::default()).await, [1]);
    assert_eq!(ids(&h_a1, ProblemFilter::default()).await, Vec::<i64>::new(), "a handler sees problems naming the unit");
    assert_eq!(ids(&sup, ProblemFilter { case_id: Some(b.id.0), ..Default::default() }).await, [2]);
    assert_eq!(ids(&sup, ProblemFilter { stage: Some(Stage::Analysis), ..Default::default() }).await, Vec::<i64>::new());

    // Responsible units see it; a stale version is refused.
    let set = ProblemCommand::SetResponsible { units: vec![UnitId("vc-a1".into())], users: vec!["sup-a".into()] };
    assert!(
        svc.act_problem(&sup_a, 1, None, &ProblemCommand::SetResponsible { units: vec![UnitId("zz".into())], users: vec![] })
            .await
            .is_err()
    );
    let p = svc.act_problem(&sup_a, 1, Some(1), &set).await.unwrap();
    assert_eq!(p.version, 2);
    assert!(matches!(svc.act_problem(&sup_a, 1, Some(1), &set).await, Err(StoreError::Conflict { current: 2 })));
    assert_eq!(ids(&h_a1, ProblemFilter::default()).await, [1]);
    assert_eq!(ids(&h_b1, ProblemFilter::default()).await, Vec::<i64>::new());
    assert!(matches!(svc.act_problem(&h_b1, 1, None, &ProblemCommand::Advance { note: None }).await, Err(StoreError::NotFound)));
    // Adding a case outside the actor's scope is refused.
    assert!(svc.act_problem(&sup_a, 1, None, &ProblemCommand::AddCases { case_ids: vec![b.id] }).await.is_err());
    // An action owned by another unit makes that unit see the problem.
    let add =
        ProblemCommand::AddAction {
            text: "调整夜市时间".into(), owner: Owner::Unit(UnitId("town-a".into())), due: T0.plus_ms(DAY_MS)
        };
    svc.act_problem(&sup_a, 1, None, &add).await.unwrap();
    assert!(store.problem(&Scope::Unit { unit: UnitId("town-a".into()) }, 1).await.unwrap().is_some());
    let p = svc.act_problem(&sup_a, 1, None, &ProblemCommand::Advance { note: Some("已确认".into()) }).await.unwrap();
    assert_eq!((p.stage, p.history.len()), (Stage::Analysis, 1));
    // The handler of an owning unit updates its action; nobody else's.
    assert!(svc.act_problem(&h_a1, 1, None, &ProblemCommand::SetActionStatus { action: 1, status: ActionStatus::Done }).await.is_err());
    assert_eq!(store.problem(&Scope::All, 1).await.unwrap().unwrap(), p, "refusals change nothing");
    assert!(matches!(verify(&svc).await, VerifyOutcome::Ok { .. }));
}

async fn verify(svc: &Service) -> VerifyOutcome {
    svc.verify_audit(AUDIT_KEY, |_| {}).await.unwrap()
}

fn sub(kinds: &[HookKind]) -> Subscription {
    Subscription {
        id: 0,
        name: "city".into(),
        url: "http://127.0.0.1:9/hook".into(),
        secret: "0123456789abcdef".into(),
        kinds: kinds.to_vec(),
        active: true,
        created_at: T0,
    }
}

async fn rows(store: &Arc<dyn Store>, channel: &str) -> Vec<crate::webhooks::OutboxItem> {
    let mut v = store.outbox(&OutboxFilter { channel: Some(channel.into()), limit: 1000, ..Default::default() }).await.unwrap();
    v.reverse();
    v
}

pub async fn outbox_in_the_transaction(store: Arc<dyn Store>) {
    let clock = ManualClock::new(T0);
    seed(&store).await;
    let cfg = ServiceConfig { audit_key: Some(AUDIT_KEY.to_vec()), checkpoint_every: 0, ..ServiceConfig::default() };
    let svc = Arc::new(Service::new(store.clone(), Arc::new(clock.clone()), cfg).await.unwrap());
    let intake = staff_actor("intake");
    // Nothing is queued before anyone subscribes.
    svc.create(draft("street_light", VILLAGE_A1, "不亮"), &intake, Channel::Phone, None).await.unwrap();
    assert!(rows(&store, WEBHOOK).await.is_empty());
    let s = store
        .save_subscription(&sub(&[HookKind::CaseCreated, HookKind::StatusChanged, HookKind::Breached]), "user:admin", T0)
        .await
        .unwrap();
    let other = store
        .save_subscription(&Subscription { name: "off".into(), active: false, ..sub(&HookKind::ALL) }, "user:admin", T0)
        .await
        .unwrap();
    assert_eq!((s.id, other.id), (1, 2));
    assert_eq!(store.subscriptions().await.unwrap().len(), 2);
    let log = store.audit_events(0, 10_000).await.unwrap();
    assert!(
        log.iter().filter(|e| e.kind == "webhook_saved").all(|e| !e.payload.contains("0123456789abcdef")),
        "the secret stays out of the log"
    );

    let c = svc.create(draft("street_light", VILLAGE_A1, "又不亮"), &intake, Channel::Phone, None).await.unwrap().case;
    svc.act(&intake, c.id, None, &Command::File { severity: None, note: None }).await.unwrap();
    let c = svc.act(&intake, c.id, None, &Command::Dispatch { lead_unit: UnitId("vc-a1".into()), co_units: vec![] }).await.unwrap();
    let hooks = rows(&store, WEBHOOK).await;
    let kinds: Vec<(&str, &str)> = hooks.iter().map(|h| (h.kind.as_str(), h.target.as_str())).collect();
    assert_eq!(kinds, [("case_created", "1"), ("status_changed", "1"), ("status_changed", "1")]);
    let body: serde_json::Value = serde_json::from_str(&hooks[2].body).unwrap();
    assert_eq!(
        (body["id"].as_i64(), body["case_id"].as_i64(), body["status"].as_str()),
        (Some(hooks[2].id), Some(c.id.0), Some("dispatched"))
    );
    assert_eq!(body["event"]["kind"], "dispatched");

    // A change that rolls back queues nothing: a stale commit, and a job whose case changed.
    let before = (head(&store).await, rows(&store, WEBHOOK).await.len());
    let (events, next) = svc.decide(&svc.reference(), &c, &staff_actor("handler-a1"), &Command::Accept, T0).unwrap();
    assert!(matches!(store.commit(c.version - 1, &events, &next).await, Err(StoreError::Conflict { .. })));
    let job = JobRun { kind: "breach_handling".into(), case_id: c.id.0, due_at: T0, done_at: T0, outcome: "x".into() };
    let stale = JobCommit { expected_version: c.version - 1, events: events.clone(), state: next.clone() };
    assert!(store.run_job(&job, Some(&stale), &[]).await.is_err());
    assert_eq!((head(&store).await, rows(&store, WEBHOOK).await.len()), before);
    assert!(store.jobs_of(c.id).await.unwrap().is_empty(), "the job's claim rolled back too");

    // Notices go by e-mail to users with an address: the unit's handler here.
    store.set_user_email("handler-a1", Some("a1@example.org"), "user:admin", T0).await.unwrap();
    assert!(matches!(store.set_user_email("nobody", Some("x@example.org"), "user:admin", T0).await, Err(StoreError::NotFound)));
    assert_eq!(store.user_emails().await.unwrap(), [("handler-a1".to_string(), "a1@example.org".to_string())]);
    let sched = crate::Scheduler::new(svc.clone());
    let r = sched.run_due(c.response_due.unwrap().plus_ms(60_000)).await.unwrap();
    assert!(r.done.iter().any(|d| d.kind == "breach_response"), "{r:?}");
    let hooks = rows(&store, WEBHOOK).await;
    let last = hooks.last().unwrap();
    assert_eq!(last.kind, "breached");
    assert_eq!(serde_json::from_str::<serde_json::Value>(&last.body).unwrap()["case_id"], c.id.0);
    let mails = rows(&store, EMAIL).await;
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert_eq!(mails[0].target, "a1@example.org");
    assert!(mails[0].body.contains(&format!("#{}", c.id.0)));

    // A second subscription hears of escalations, supervision orders and problem stages.
    let watch =
        Subscription { name: "watch".into(), ..sub(&[HookKind::Escalated, HookKind::SupervisionIssued, HookKind::ProblemStageChanged]) };
    let watch = store.save_subscription(&watch, "user:admin", T0).await.unwrap();
    let to_watch = |rows: Vec<crate::webhooks::OutboxItem>| {
        rows.into_iter().filter(|r| r.target == watch.id.to_string()).map(|r| r.kind).collect::<Vec<_>>()
    };
    let sup = staff_actor("sup");
    svc.issue_order(&sup, crate::OrderTarget::Case(c.id), c.response_due.unwrap().plus_ms(30 * DAY_MS), "限期办理").await.unwrap();
    let p = svc.open_problem(&sup, &ProblemInput { title: "路灯".into(), case_ids: vec![c.id.0], ..Default::default() }).await.unwrap();
    svc.act_problem(&sup, p.id, None, &ProblemCommand::Advance { note: None }).await.unwrap();
    let c = store.case(&Scope::All, c.id).await.unwrap().unwrap();
    let (events, next) = svc
        .decide(
            &svc.reference(),
            &c,
            &sup,
            &Command::Escalate { to: UnitId("town-a".into()), tier: fengqiao_domain::Tier::Town, reason: "久拖不决".into() },
            c.updated_at,
        )
        .unwrap();
    store.commit(c.version, &events, &next).await.unwrap();
    assert_eq!(to_watch(rows(&store, WEBHOOK).await), ["supervision_issued", "problem_stage_changed", "escalated"]);

    // Delivery bookkeeping: claim leases, failures back off, the last one is dead, an
    // administrator queues it again.
    let now = T0.plus_ms(30 * DAY_MS);
    let claimed = store.claim_outbox(&[WEBHOOK], now, now.plus_ms(60_000), 2).await.unwrap();
    assert_eq!(claimed.len(), 2);
    assert!(claimed.iter().all(|c| c.channel == WEBHOOK));
    let again = store.claim_outbox(&[WEBHOOK], now, now.plus_ms(60_000), 100).await.unwrap();
    assert!(again.iter().all(|x| !claimed.iter().any(|c| c.id == x.id)), "a leased row is not claimed twice");
    let (one, two) = (claimed[0].id, claimed[1].id);
    store.outbox_attempted(one, &Attempt::Delivered { at: now }).await.unwrap();
    store
        .outbox_attempted(two, &Attempt::Failed { at: now, error: "HTTP 500".into(), retry_at: Some(now.plus_ms(HOUR_MS)) })
        .await
        .unwrap();
    let all = store.outbox(&OutboxFilter { limit: 100, ..Default::default() }).await.unwrap();
    let get = |id: i64| all.iter().find(|x| x.id == id).unwrap().clone();
    assert_eq!((get(one).state.as_str(), get(one).attempts, get(one).done_at), ("delivered", 1, Some(now)));
    assert_eq!((get(two).state.as_str(), get(two).attempts, get(two).next_at), ("pending", 1, now.plus_ms(HOUR_MS)));
    assert_eq!(get(two).last_error.as_deref(), Some("HTTP 500"));
    assert!(!store.requeue_outbox(two, "user:admin", now).await.unwrap(), "only dead messages are queued again");
    store.outbox_attempted(two, &Attempt::Failed { at: now, error: "refused".into(), retry_at: None }).await.unwrap();
    let dead = store.outbox(&OutboxFilter { state: Some("dead".into()), limit: 10, ..Default::default() }).await.unwrap();
    assert_eq!(dead.iter().map(|d| (d.id, d.attempts)).collect::<Vec<_>>(), [(two, 2)]);
    let before = head(&store).await;
    assert!(store.requeue_outbox(two, "user:admin", now).await.unwrap());
    assert_eq!(head(&store).await, before + 1, "a re-queue is an audit event");
    let back = store.outbox(&OutboxFilter { limit: 100, ..Default::default() }).await.unwrap().into_iter().find(|x| x.id == two).unwrap();
    assert_eq!((back.state.as_str(), back.attempts, back.next_at), ("pending", 0, now));
    // Delivered messages are pruned after a while; pending and dead ones stay.
    let total = store.outbox(&OutboxFilter { limit: 1000, ..Default::default() }).await.unwrap().len();
    assert_eq!(store.prune_outbox(now).await.unwrap(), 0, "delivered at `now`, not before");
    assert_eq!(store.prune_outbox(now.plus_ms(1)).await.unwrap(), 1);
    assert_eq!(store.outbox(&OutboxFilter { limit: 1000, ..Default::default() }).await.unwrap().len(), total - 1);
    assert!(store.outbox(&OutboxFilter { limit: 1000, ..Default::default() }).await.unwrap().iter().all(|o| o.id != one));
    assert!(matches!(verify(&svc).await, VerifyOutcome::Ok { .. }));
}

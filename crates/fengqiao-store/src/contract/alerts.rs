//! The storage contract for early warnings: each rule fires on planted data and not below
//! its threshold, one alert per condition while it is live, a new one after it is closed,
//! scope, inbox messages, audit events and the figures.

use std::sync::Arc;

use fengqiao_domain::alert::{AlertCommand, AlertKind, AlertStatus};
use fengqiao_domain::clock::DAY_MS;
use fengqiao_domain::{Channel, Command, DomainError, ManualClock, Timestamp, UnitId};

use super::{T0, TOWN_A, VILLAGE_A1, VILLAGE_B1, draft, seeded_with_clock, staff_actor, verify};
use crate::{AlertFilter, Store, StoreError};

async fn head(store: &Arc<dyn Store>) -> i64 {
    store.audit_head().await.unwrap().0
}

pub async fn early_warnings(store: Arc<dyn Store>) {
    let clock = ManualClock::new(T0);
    // The space–time scan is off here: eight cases gathering in one village would also make a
    // cluster, and the perception contract tests the scan; these are the other rules.
    let svc = {
        let base = seeded_with_clock(&store, clock.clone()).await;
        let mut cfg = base.config.clone();
        cfg.analytics.scan_replicates = 0;
        Arc::new(crate::Service::new(store.clone(), Arc::new(clock.clone()), cfg).await.unwrap())
    };
    let intake = staff_actor("intake");
    let (sup, sup_a, handler) = (staff_actor("sup"), staff_actor("sup-a"), staff_actor("handler-a1"));
    let of_kind = |v: &[fengqiao_domain::alert::Alert], k: AlertKind| v.iter().filter(|a| a.kind == k).cloned().collect::<Vec<_>>();

    // The same reporter in two disputes: below the threshold of three.
    let mut disputes = Vec::new();
    for i in 0..2 {
        disputes.push(
            svc.create(draft("neighbour", VILLAGE_A1, &format!("排水沟争执{i}")), &intake, Channel::Phone, None).await.unwrap().case.id.0,
        );
        clock.advance_ms(DAY_MS);
    }
    // A dispute in another town by someone else does not count.
    let mut other = draft("neighbour", VILLAGE_B1, "乙村争执");
    other.reporter =
        Some(fengqiao_domain::PersonInput { name: Some("赵六".into()), phone: Some("13900139000".into()), ..Default::default() });
    svc.create(other, &intake, Channel::Phone, None).await.unwrap();
    let before = head(&store).await;
    assert!(svc.evaluate_alerts(svc.now()).await.unwrap().is_empty());
    assert_eq!(head(&store).await, before, "nothing raised, nothing written");

    disputes.push(svc.create(draft("neighbour", VILLAGE_A1, "排水沟又争执"), &intake, Channel::Phone, None).await.unwrap().case.id.0);
    let now = svc.now();
    let before = head(&store).await;
    let raised = svc.evaluate_alerts(now).await.unwrap();
    let parties = of_kind(&raised, AlertKind::SameParties);
    assert_eq!(parties.len(), 1, "{raised:?}");
    let p = &parties[0];
    assert_eq!(p.evidence.case_ids, disputes);
    assert_eq!((p.evidence.count, p.region.as_str(), p.status), (3, VILLAGE_A1, AlertStatus::Open));
    assert_eq!(p.recipients, ["user:sup", "user:sup-a"]);
    assert_eq!(head(&store).await, before + raised.len() as i64, "one audit event per alert");
    let inbox = store.inbox(&["user:sup-a".into()], 10).await.unwrap();
    assert!(inbox.iter().any(|m| m.kind == "early_warning" && m.message.contains(&format!("#{}", p.id))), "{inbox:?}");
    // The same condition again: one alert while it is live.
    let again = head(&store).await;
    assert!(svc.evaluate_alerts(now).await.unwrap().is_empty());
    assert!(svc.evaluate_alerts(now.plus_ms(1000)).await.unwrap().is_empty());
    assert_eq!(head(&store).await, again);

    // A burst, found by the analytics run: four noise cases in town A in a week are below the
    // minimum of five...
    let texts = ["广场舞音响太吵", "楼上装修电钻", "酒吧唱歌到凌晨", "工地夜间打桩", "货车鸣笛扰民"];
    let mut noise = Vec::new();
    for text in &texts[..4] {
        noise.push(svc.create(draft("noise", VILLAGE_A1, text), &intake, Channel::Phone, None).await.unwrap().case.id.0);
    }
    let (_, raised) = svc.run_perception(svc.now()).await.unwrap();
    assert!(raised.is_empty(), "{raised:?}");
    // ...a fifth makes a burst, with its cases and baseline as evidence (no term is shared by
    // five cases, so the category alone).
    noise.push(svc.create(draft("noise", VILLAGE_A1, texts[4]), &intake, Channel::Phone, None).await.unwrap().case.id.0);
    let (run, raised) = svc.run_perception(svc.now()).await.unwrap();
    let burst = of_kind(&raised, AlertKind::CategoryBurst);
    assert_eq!((burst.len(), raised.len()), (1, 1), "{raised:?}");
    assert_eq!((burst[0].region.as_str(), burst[0].evidence.case_ids.clone()), (TOWN_A, noise.clone()));
    assert_eq!((burst[0].evidence.baseline, burst[0].evidence.category.as_deref()), (Some(0.0), Some("noise")));
    assert_eq!(run.topics.len(), 1);
    assert!(svc.run_perception(svc.now()).await.unwrap().1.is_empty(), "live: raised once");

    // Overdue cases: two past their handling deadline are below three; a third makes a cluster.
    let mut dues = Vec::new();
    for id in &noise[..3] {
        let id = fengqiao_domain::CaseId(*id);
        svc.act(&intake, id, None, &Command::File { severity: None, note: None }).await.unwrap();
        let c = svc.act(&intake, id, None, &Command::Dispatch { lead_unit: UnitId("vc-a1".into()), co_units: vec![] }).await.unwrap();
        dues.push(c.handling_due.expect("dispatched cases have a handling deadline"));
        if dues.len() == 2 {
            clock.advance_ms(5 * DAY_MS);
        }
    }
    let between = Timestamp(dues[1].0.max(dues[0].0) + 1);
    assert!(between < dues[2], "the third is due later");
    assert!(of_kind(&svc.evaluate_alerts(between).await.unwrap(), AlertKind::OverdueCluster).is_empty());
    let late = Timestamp(dues[2].0 + 1);
    let overdue = of_kind(&svc.evaluate_alerts(late).await.unwrap(), AlertKind::OverdueCluster);
    assert_eq!(overdue.len(), 1);
    assert_eq!((overdue[0].region.as_str(), overdue[0].evidence.case_ids.clone()), (VILLAGE_A1, noise[..3].to_vec()));

    // Scope: supervisors in their jurisdiction; handlers and intake staff see none.
    let all = |a| {
        let svc = svc.clone();
        async move { svc.alerts(&a, &AlertFilter { limit: 100, ..Default::default() }).await.unwrap().len() }
    };
    assert_eq!(all(sup.clone()).await, 3);
    assert_eq!(all(sup_a.clone()).await, 3);
    assert_eq!(all(handler.clone()).await, 0);
    assert_eq!(all(intake.clone()).await, 0);
    let only = svc.alerts(&sup, &AlertFilter { kind: Some(AlertKind::CategoryBurst), limit: 10, ..Default::default() }).await.unwrap();
    assert_eq!(only.len(), 1);
    let in_b = svc.alerts(&sup, &AlertFilter { region: Some(VILLAGE_B1.into()), limit: 10, ..Default::default() }).await.unwrap();
    assert!(in_b.is_empty());
    assert!(matches!(svc.alert(&handler, p.id).await, Err(StoreError::NotFound)));

    // Acknowledge and close: bad input and wrong steps change nothing.
    let h0 = head(&store).await;
    assert!(matches!(
        svc.act_alert(&sup_a, p.id, None, &AlertCommand::Close { note: "  ".into() }).await,
        Err(StoreError::Domain(DomainError::Invalid(_)))
    ));
    assert!(matches!(
        svc.act_alert(&sup_a, p.id, Some(7), &AlertCommand::Acknowledge { note: String::new() }).await,
        Err(StoreError::Conflict { current: 1 })
    ));
    assert_eq!(head(&store).await, h0);
    let a = svc.act_alert(&sup_a, p.id, Some(1), &AlertCommand::Acknowledge { note: "已联系村调委会".into() }).await.unwrap();
    assert_eq!((a.status, a.version, a.acknowledged.as_ref().unwrap().by.as_str()), (AlertStatus::Acknowledged, 2, "user:sup-a"));
    assert!(matches!(
        svc.act_alert(&sup_a, p.id, None, &AlertCommand::Acknowledge { note: String::new() }).await,
        Err(StoreError::Domain(DomainError::IllegalTransition { .. }))
    ));
    // Still live: the condition raises nothing new.
    assert!(of_kind(&svc.evaluate_alerts(now).await.unwrap(), AlertKind::SameParties).is_empty());
    let closed_at = svc.now();
    let c = svc.act_alert(&sup, p.id, None, &AlertCommand::Close { note: "已调解".into() }).await.unwrap();
    assert_eq!((c.status, c.closed.as_ref().unwrap().at), (AlertStatus::Closed, closed_at));
    assert_eq!(svc.alert(&sup, p.id).await.unwrap(), c);
    assert_eq!(head(&store).await, h0 + 2);

    // Closed, and the condition still holds: a new alert.
    let renewed = of_kind(&svc.evaluate_alerts(now).await.unwrap(), AlertKind::SameParties);
    assert_eq!(renewed.len(), 1);
    assert_ne!(renewed[0].id, p.id);
    assert_eq!(renewed[0].dedup_key, p.dedup_key);
    let open = svc.alerts(&sup, &AlertFilter { status: Some(AlertStatus::Open), limit: 10, ..Default::default() }).await.unwrap();
    assert_eq!(open.len(), 3);

    // The figures: four raised, one closed, three live and unacknowledged.
    let end = late.plus_ms(DAY_MS);
    let f = svc.alert_figures(&sup, None, T0, end).await.unwrap();
    assert_eq!((f.raised, f.closed, f.open, f.unacknowledged), (4, 1, 3, 3));
    let f = svc.alert_figures(&sup, None, T0, late).await.unwrap();
    assert_eq!(f.raised, 3, "the overdue cluster was raised at {late:?}");
    let f = svc.alert_figures(&handler, None, T0, end).await.unwrap();
    assert_eq!(f.raised, 0);
    let f = svc.alert_figures(&sup, None, end, end.plus_ms(DAY_MS)).await.unwrap();
    assert_eq!((f.raised, f.closed, f.open), (0, 0, 3));
    // Narrowed to a place: town B has none; town A all; outside the jurisdiction nothing.
    let town = |c: &str| fengqiao_domain::RegionCode::parse(c).unwrap();
    assert_eq!(svc.alert_figures(&sup, Some(&town(VILLAGE_B1)), T0, end).await.unwrap().raised, 0);
    assert_eq!(svc.alert_figures(&sup, Some(&town(TOWN_A)), T0, end).await.unwrap().raised, 4);
    assert_eq!(svc.alert_figures(&sup_a, Some(&town(super::COUNTY)), T0, end).await.unwrap().raised, 4, "the jurisdiction still bounds it");
    assert_eq!(svc.alert_figures(&sup_a, Some(&town(super::TOWN_B)), T0, end).await.unwrap().raised, 0);

    // Reach: the cases by village and channel, per 1,000 residents, within jurisdiction.
    let reach = svc.reach(&sup, fengqiao_domain::RegionLevel::Village, T0, end).await.unwrap();
    let got: Vec<_> = reach.grids.iter().map(|g| (g.region.as_str(), g.reports, g.per_1000, g.silent)).collect();
    assert_eq!(got, [(VILLAGE_A1, 8, Some(8.0), false), (VILLAGE_B1, 1, Some(1.0), false)]);
    assert_eq!(reach.channels.iter().map(|c| (c.channel.as_str(), c.reports)).collect::<Vec<_>>(), [("phone", 9)]);
    let later = svc.reach(&sup_a, fengqiao_domain::RegionLevel::Village, end, end.plus_ms(DAY_MS)).await.unwrap();
    assert_eq!(later.grids.iter().map(|g| (g.region.as_str(), g.reports, g.silent)).collect::<Vec<_>>(), [(VILLAGE_A1, 0, true)]);
    assert!(matches!(
        svc.reach(&handler, fengqiao_domain::RegionLevel::Village, T0, end).await,
        Err(StoreError::Domain(DomainError::Forbidden(_)))
    ));

    // Alerts travel in backups, as stored.
    let mut saved = Vec::new();
    store
        .export_snapshot(&mut |r| {
            if let crate::BackupRecord::Alert(a) = r {
                saved.push(*a);
            }
            Ok(())
        })
        .await
        .unwrap();
    assert_eq!(saved.len(), 4);
    assert_eq!(saved.iter().find(|a| a.id == p.id), Some(&c));
    assert!(matches!(verify(&svc).await, fengqiao_domain::audit::VerifyOutcome::Ok { .. }), "the chain holds");
}

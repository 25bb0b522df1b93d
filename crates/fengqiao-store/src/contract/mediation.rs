//! The storage contract of mediations: scope, one transaction with the case, no double booking,
//! the confirmation reminder once, backups.

use std::sync::Arc;

use fengqiao_domain::audit::VerifyOutcome;
use fengqiao_domain::case::PartyDraft;
use fengqiao_domain::clock::HOUR_MS;
use fengqiao_domain::mediation::{
    AgreementContent, MediationCommand, MediationKind, MediationStatus, MemberRole, OpenMediation, SessionOutcome, Signer, Source,
    TermInput,
};
use fengqiao_domain::{Actor, Channel, Command, DomainError, ManualClock, PersonInput, Status, UnitId};

use super::{T0, VILLAGE_A1, draft, event_count, seeded_with_clock, staff_actor, verify};
use crate::mediation::{CaseFollow, MemberIdentity};
use crate::{BackupRecord, MediationFilter, Scheduler, Scope, Service, Store, StoreError};

async fn dispute(svc: &Service, intake: &Actor, text: &str) -> fengqiao_domain::Case {
    let mut d = draft("neighbour", VILLAGE_A1, text);
    d.parties = vec![
        PartyDraft {
            role: "applicant".into(),
            person: PersonInput {
                name: Some("张三".into()),
                phone: Some("13900000001".into()),
                address: Some("甲一村3号".into()),
                ..Default::default()
            },
        },
        PartyDraft {
            role: "respondent".into(),
            person: PersonInput { name: Some("李四".into()), phone: Some("13900000002".into()), ..Default::default() },
        },
    ];
    let c = svc.create(d, intake, Channel::Visit, None).await.unwrap().case;
    svc.act(intake, c.id, None, &Command::File { severity: None, note: None }).await.unwrap();
    svc.act(intake, c.id, None, &Command::Dispatch { lead_unit: UnitId("vc-a1".into()), co_units: vec![] }).await.unwrap()
}

fn schedule(start: fengqiao_domain::Timestamp, room: &str) -> MediationCommand {
    MediationCommand::Schedule {
        start,
        end: start.plus_hours(2),
        room: Some(room.into()),
        online: None,
        invited: vec![],
        mediators: vec![],
    }
}

pub(super) async fn mediations(store: Arc<dyn Store>) {
    let clock = ManualClock::new(T0);
    let svc = seeded_with_clock(&store, clock.clone()).await;
    let (intake, h_a1, h_b1, sup) = (staff_actor("intake"), staff_actor("handler-a1"), staff_actor("handler-b1"), staff_actor("sup"));
    let open = OpenMediation { kind: MediationKind::People, source: Source::PartyApplied, amount_fen: Some(500_000) };
    // Only a dispute is mediated; only within scope.
    let req = svc.create(draft("street_light", VILLAGE_A1, "路灯坏了"), &intake, Channel::Phone, None).await.unwrap().case;
    svc.act(&intake, req.id, None, &Command::File { severity: None, note: None }).await.unwrap();
    svc.act(&intake, req.id, None, &Command::Dispatch { lead_unit: UnitId("vc-a1".into()), co_units: vec![] }).await.unwrap();
    assert!(matches!(svc.open_mediation(&h_a1, req.id, &open).await, Err(StoreError::Domain(DomainError::Precondition(_)))));
    let c = dispute(&svc, &intake, "两家因排水沟发生争执").await;
    assert!(matches!(svc.open_mediation(&h_b1, c.id, &open).await, Err(StoreError::NotFound)));
    let m = svc.open_mediation(&h_a1, c.id, &open).await.unwrap();
    assert_eq!((m.id, m.status, m.parties.len()), (1, MediationStatus::Consenting, 2));
    assert!(svc.open_mediation(&h_a1, c.id, &open).await.is_err(), "one mediation under way per case");
    let (p1, p2) = (c.parties[0].person_id, c.parties[1].person_id);
    for p in [p1, p2] {
        svc.act_mediation(&h_a1, 1, None, &MediationCommand::Consent { party: p, agree: true, note: None }, None, None).await.unwrap();
    }
    // A member with the applicant's family name living in the applicant's village is flagged:
    // refused without a reason, and nothing is written.
    let before = event_count(&store).await;
    let assign = |reason: Option<&str>| MediationCommand::Assign {
        user_id: None,
        name: "张大伯".into(),
        role: MemberRole::RespectedLocal,
        lead: false,
        conflicts: vec![],
        override_reason: reason.map(String::from),
    };
    let who = MemberIdentity { village: Some(VILLAGE_A1.into()), ..Default::default() };
    let e = svc.act_mediation(&h_a1, 1, None, &assign(None), None, Some(&who)).await.unwrap_err();
    assert!(e.to_string().contains("family name and village"), "{e}");
    assert_eq!(event_count(&store).await, before);
    svc.act_mediation(&h_a1, 1, None, &assign(Some("双方当事人均同意")), None, Some(&who)).await.unwrap();
    let m = svc
        .act_mediation(
            &h_a1,
            1,
            None,
            &MediationCommand::Assign {
                user_id: Some("handler-a1".into()),
                name: "王调解".into(),
                role: MemberRole::PeoplesMediator,
                lead: true,
                conflicts: vec![],
                override_reason: None,
            },
            None,
            None,
        )
        .await
        .unwrap();
    assert_eq!(m.team[0].conflicts.len(), 1);
    assert!(m.team[1].conflicts.is_empty() && m.team[1].lead);
    // The room is booked; another mediation may not take it at an overlapping time.
    let s1 = T0.plus_hours(26);
    svc.act_mediation(&h_a1, 1, Some(m.version), &schedule(s1, "调解室"), None, None).await.unwrap();
    let c2 = dispute(&svc, &intake, "两家因宅基地边界争执").await;
    let m2 = svc.open_mediation(&h_a1, c2.id, &open).await.unwrap();
    for p in [c2.parties[0].person_id, c2.parties[1].person_id] {
        svc.act_mediation(&h_a1, m2.id, None, &MediationCommand::Consent { party: p, agree: true, note: None }, None, None).await.unwrap();
    }
    svc.act_mediation(
        &h_a1,
        m2.id,
        None,
        &MediationCommand::Assign {
            user_id: None,
            name: "赵律师".into(),
            role: MemberRole::Lawyer,
            lead: true,
            conflicts: vec![],
            override_reason: None,
        },
        None,
        None,
    )
    .await
    .unwrap();
    let before = event_count(&store).await;
    let e = svc.act_mediation(&h_a1, m2.id, None, &schedule(s1.plus_hours(1), "调解室"), None, None).await.unwrap_err();
    assert!(matches!(e, StoreError::Domain(DomainError::Precondition(ref s)) if s.contains("already booked")), "{e}");
    assert_eq!(event_count(&store).await, before);
    svc.act_mediation(&h_a1, m2.id, None, &schedule(s1.plus_hours(2), "调解室"), None, None).await.unwrap();
    // Two mediations asking for the same room at the same time at once: one gets it.
    let slot = s1.plus_hours(30);
    let (first, second) = (schedule(slot, "调解室"), schedule(slot.plus_hours(1), "调解室"));
    let (a, b) =
        tokio::join!(svc.act_mediation(&h_a1, 1, None, &first, None, None), svc.act_mediation(&h_a1, m2.id, None, &second, None, None));
    assert!(a.is_ok() != b.is_ok(), "exactly one booking wins: {a:?} {b:?}");
    let winner = if a.is_ok() { 1 } else { m2.id };
    let (no, v) = {
        let m = svc.store.mediation(&Scope::All, winner).await.unwrap().unwrap();
        (m.sessions.last().unwrap().no, m.version)
    };
    svc.act_mediation(&h_a1, winner, Some(v), &MediationCommand::CancelSession { session: no, reason: "改期".into() }, None, None)
        .await
        .unwrap();
    // The calendar is read in scope.
    let day = (T0, T0.plus_hours(72));
    assert_eq!(
        svc.store
            .mediation_bookings(&Scope::for_actor(&h_a1), day.0, day.1)
            .await
            .unwrap()
            .iter()
            .filter(|b| b.resource.starts_with("room:"))
            .count(),
        2
    );
    assert!(svc.store.mediation_bookings(&Scope::for_actor(&h_b1), day.0, day.1).await.unwrap().is_empty());
    // The second dispute: a party refuses; mediation ends and the case is resolved with that
    // outcome in the same commit.
    let m2 = svc
        .act_mediation(
            &h_a1,
            m2.id,
            None,
            &MediationCommand::Consent { party: c2.parties[1].person_id, agree: false, note: Some("不愿调解，要起诉".into()) },
            Some(&CaseFollow::Resolve),
            None,
        )
        .await
        .unwrap();
    assert_eq!(m2.status, MediationStatus::Refused);
    let c2 = svc.store.case(&Scope::All, c2.id).await.unwrap().unwrap();
    assert_eq!(c2.status, Status::Resolved);
    // Its planned session is called off, freeing the room.
    assert_eq!(
        svc.store.mediation_bookings(&Scope::All, day.0, day.1).await.unwrap().iter().filter(|b| b.mediation_id == m2.id).count(),
        0
    );

    // The first: session, agreement, signatures; the case is resolved as the agreement takes effect.
    clock.set(s1.plus_hours(2));
    svc.act_mediation(
        &h_a1,
        1,
        None,
        &MediationCommand::RecordSession {
            session: 1,
            present: vec![p1, p2],
            minutes: "双方同意赔偿".into(),
            outcome: SessionOutcome::Agreed,
        },
        None,
        None,
    )
    .await
    .unwrap();
    let content = AgreementContent {
        facts: "李四修排水沟时堵塞张三家出水口".into(),
        matters: "排水沟改道及损失赔偿".into(),
        responsibility: "李四负主要责任".into(),
        terms: vec![TermInput { text: "李四赔偿张三5000元".into(), how: "现金".into(), due: s1.plus_hours(24 * 10) }],
    };
    svc.act_mediation(&h_a1, 1, None, &MediationCommand::Draft { content }, None, None).await.unwrap();
    for s in [Signer::Party(p1), Signer::Party(p2), Signer::Mediator] {
        svc.act_mediation(&h_a1, 1, None, &MediationCommand::Sign { signer: s }, None, None).await.unwrap();
    }
    let m = svc.act_mediation(&h_a1, 1, None, &MediationCommand::Sign { signer: Signer::Seal }, None, None).await.unwrap();
    assert_eq!(m.status, MediationStatus::Agreed);
    assert_eq!(svc.store.case(&Scope::All, c.id).await.unwrap().unwrap().status, Status::Resolved);
    let due = m.confirmation.due.unwrap();
    // A term past its due date with nothing recorded: the unit is told once.
    let sched = Scheduler::new(svc.clone());
    let term_due = m.next_term_due().unwrap();
    let r = sched.run_due(term_due.plus_ms(-HOUR_MS)).await.unwrap();
    assert!(!r.done.iter().any(|d| d.kind == "breach_mediation_term"));
    let r = sched.run_due(term_due.plus_ms(HOUR_MS)).await.unwrap();
    assert_eq!(r.done.iter().filter(|d| d.kind == "breach_mediation_term").count(), 1, "{r:?}");
    let r = sched.run_due(term_due.plus_ms(2 * HOUR_MS)).await.unwrap();
    assert!(!r.done.iter().any(|d| d.kind == "breach_mediation_term"));
    assert_eq!(m.overdue_terms(term_due.plus_ms(1)), 1);
    // The reminder goes out once, within the lead before the window closes.
    let r = sched.run_due(due.plus_ms(-200 * HOUR_MS)).await.unwrap();
    assert!(!r.done.iter().any(|d| d.kind == "reminder_mediation_confirmation"));
    let r = sched.run_due(due.plus_ms(-100 * HOUR_MS)).await.unwrap();
    assert_eq!(r.done.iter().filter(|d| d.kind == "reminder_mediation_confirmation").count(), 1);
    let r = sched.run_due(due.plus_ms(-99 * HOUR_MS)).await.unwrap();
    assert!(!r.done.iter().any(|d| d.kind == "reminder_mediation_confirmation"));
    let inbox = svc.store.inbox(&["unit:vc-a1".into()], 10).await.unwrap();
    assert!(inbox.iter().any(|i| i.message.contains("司法确认")), "{inbox:?}");
    // The joint application and the decision; the filter and scope on lists.
    clock.set(due.plus_ms(-99 * HOUR_MS));
    svc.act_mediation(&h_a1, 1, None, &MediationCommand::ApplyConfirmation { court: "诸暨市人民法院".into() }, None, None).await.unwrap();
    svc.act_mediation(&sup, 1, None, &MediationCommand::DecideConfirmation { confirmed: true, note: None }, None, None).await.unwrap();
    assert!(svc.store.mediations_confirmation_due(T0, due.plus_ms(1), "reminder_mediation_confirmation", 10).await.unwrap().is_empty());
    let agreed = MediationFilter { status: Some(MediationStatus::Agreed), limit: 10, ..Default::default() };
    assert_eq!(svc.store.mediations(&Scope::for_actor(&h_a1), &agreed).await.unwrap().len(), 1);
    assert!(svc.store.mediations(&Scope::for_actor(&h_b1), &MediationFilter { limit: 10, ..Default::default() }).await.unwrap().is_empty());
    // A stale version is refused.
    assert!(matches!(
        svc.act_mediation(
            &h_a1,
            1,
            Some(1),
            &MediationCommand::Judge { prevented_criminal: true, prevented_group_petition: false },
            None,
            None
        )
        .await,
        Err(StoreError::Conflict { .. })
    ));
    // Mediations travel in backups, and the chain verifies.
    let mut saved = 0;
    store
        .export_snapshot(&mut |r| {
            if let BackupRecord::Mediation(_) = r {
                saved += 1;
            }
            Ok(())
        })
        .await
        .unwrap();
    assert_eq!(saved, 2);
    assert!(matches!(verify(&svc).await, VerifyOutcome::Ok { .. }));
}

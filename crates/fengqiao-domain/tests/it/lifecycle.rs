use fengqiao_domain::case::*;
use fengqiao_domain::category::{CategoryKind, DeadlinePolicy};
use fengqiao_domain::lifecycle::{CaseEvent, DecideContext};
use fengqiao_domain::{Actor, Calendar, Command, EventKind, LifecycleConfig, RegionCode, Role, Timestamp, UnitId};
use proptest::prelude::*;

fn created(kind: CategoryKind, anonymous: bool) -> CaseEvent {
    let parties = if kind == CategoryKind::Dispute {
        vec![
            Party { person_id: 1, role: PartyRole::Applicant, organisation: false },
            Party { person_id: 2, role: PartyRole::Respondent, organisation: false },
        ]
    } else {
        vec![]
    };
    CaseEvent {
        at: Timestamp(1_700_000_000_000),
        actor: "user:intake".into(),
        kind: EventKind::Created {
            tracking_code: TrackingCode::from_random([7; 8]),
            category: "neighbour".into(),
            kind,
            channel: Channel::Counter,
            urgency: Urgency::Routine,
            severity: Severity::Ordinary,
            tier: Tier::Village,
            region: RegionCode::parse("330681101001").unwrap(),
            location: Location { point: None, address: Some("x".into()) },
            title: "t".into(),
            description: "d".into(),
            answers: Default::default(),
            reporter: if anonymous { None } else { Some(3) },
            parties,
        },
    }
}

fn actor(role: Role, unit: &str) -> Actor {
    Actor::User {
        id: format!("{}-{unit}", role.as_str()),
        role,
        unit: Some(UnitId(unit.into())),
        jurisdiction: RegionCode::parse("330681000000").unwrap(),
    }
}

fn arb_actor() -> impl Strategy<Value = Actor> {
    (prop::sample::select(Role::ALL.to_vec()), prop::sample::select(vec!["u1", "u2", "u3"])).prop_map(|(r, u)| actor(r, u))
}

fn arb_command() -> impl Strategy<Value = Command> {
    let unit = prop::sample::select(vec!["u1", "u2", "u3"]).prop_map(|u| UnitId(u.into()));
    let party = prop::sample::select(vec![None, Some(1i64), Some(2), Some(9)]);
    let rating = prop::option::of(prop::sample::select(Rating::ALL.to_vec()));
    let channel = prop::sample::select(ContactChannel::ALL.to_vec());
    prop_oneof![
        Just(Command::File { severity: None, note: None }),
        Just(Command::Cancel { reason: "dup".into() }),
        (unit.clone(), prop::sample::subsequence(vec!["u1", "u2", "u3"], 0..=2))
            .prop_map(|(u, co)| Command::Dispatch { lead_unit: u, co_units: co.into_iter().map(|c| UnitId(c.into())).collect() }),
        Just(Command::RejectTransfer { reason: "not our area".into() }),
        unit.clone().prop_map(|u| Command::ArbitrateTransfer { to: u, decision: "the road is the town's".into() }),
        Just(Command::CompleteTask { report: "checked the drains".into() }),
        Just(Command::Accept),
        Just(Command::Start),
        unit.clone().prop_map(|u| Command::Transfer { to: u, reason: "not ours".into() }),
        (unit.clone(), prop::sample::select(Tier::ALL.to_vec()))
            .prop_map(|(u, t)| { Command::Escalate { to: u, tier: t, reason: "hard".into() } }),
        (unit.clone(), prop::sample::select(Tier::ALL.to_vec()))
            .prop_map(|(u, t)| { Command::ReturnToTier { to: u, tier: t, decision: "decided: pay 500".into() } }),
        (1u32..100).prop_map(|h| Command::RequestExtension { hours: h, reason: "waiting".into() }),
        any::<bool>().prop_map(|a| Command::DecideExtension { approve: a, note: None }),
        Just(Command::Defer { reason: "party away".into() }),
        Just(Command::Resume),
        Just(Command::Resolve { feedback: "fixed".into() }),
        any::<bool>().prop_map(|ok| Command::Verify { ok, note: None }),
        (party, channel, any::<bool>(), rating)
            .prop_map(|(party, channel, reached, rating)| { Command::RecordVisit { party, channel, reached, rating, comment: None } }),
        Just(Command::Close { note: None }),
        Just(Command::Reopen { reason: "complaint".into() }),
        Just(Command::Merge { into: CaseId(99) }),
        prop::sample::select(Severity::ALL.to_vec()).prop_map(|s| Command::SetSeverity { severity: s, reason: "r".into() }),
        any::<bool>().prop_map(|high| Command::JudgeRisk { high, note: None }),
    ]
}

fn check_invariants(c: &Case) {
    match c.status {
        Status::Received | Status::Filed | Status::Cancelled => {
            assert!(c.lead_unit.is_none() || c.status == Status::Cancelled)
        }
        _ => {}
    }
    if c.status == Status::Closed {
        // The closing gate: a rating, or a flagged closure, never neither.
        assert!(c.final_rating.is_some() != c.closure_flag.is_some(), "closed without rating or flag: {c:?}");
        if c.closure_flag == Some(ClosureFlag::Unreachable) {
            let since = c.resolved_at.unwrap();
            let failed: Vec<_> = c.visits.iter().filter(|v| v.at >= since && !v.reached).collect();
            assert!(failed.len() >= 3);
        }
        if let Some(r) = c.final_rating {
            assert!(r.is_satisfied(), "a dissatisfied rating must send the case back, not close it");
        }
    }
    if matches!(
        c.status,
        Status::Dispatched | Status::Accepted | Status::InProgress | Status::Deferred | Status::Resolved | Status::ReturnVisit
    ) {
        assert!(c.lead_unit.is_some() && c.dispatched_at.is_some() && c.handling_due.is_some());
    }
    assert!(c.tier >= c.first_tier);
    // Only a reopening judges a finished round's deadlines.
    assert!(!c.missed_deadline || c.reopens > 0);
    // A case goes back down only after it went up, so it never counts as settled locally.
    assert!(c.returns <= c.escalations);
    assert_eq!(c.status == Status::Deferred, c.deferred_since.is_some());
    assert!(c.transfers <= LifecycleConfig::default().max_transfers);
    // A pending transfer sits with its target, waiting; a contested one has a unit to go back to.
    if let Some(t) = &c.transfer {
        assert_eq!(c.status, Status::Dispatched, "{c:?}");
        assert_eq!(c.lead_unit.as_ref(), Some(&t.to));
        assert!(t.rejection.is_none() || t.from.is_some());
    }
    // Every joint task belongs to a co-handling unit, never to the lead, and once per unit.
    for k in &c.tasks {
        assert!(c.co_units.contains(&k.unit) && c.lead_unit.as_ref() != Some(&k.unit), "{c:?}");
        assert_eq!(k.done_at.is_some(), k.report.is_some());
    }
    let mut units: Vec<_> = c.tasks.iter().map(|k| &k.unit).collect();
    units.dedup();
    assert_eq!(units.len(), c.tasks.len());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    /// Random command sequences by random actors never reach an illegal state, and replaying
    /// the events rebuilds the state exactly.
    #[test]
    fn random_sequences_stay_legal_and_replay(
        dispute in any::<bool>(),
        anonymous in any::<bool>(),
        steps in prop::collection::vec((arb_actor(), arb_command(), 0i64..(30 * 3_600_000)), 1..80),
    ) {
        let kind = if dispute { CategoryKind::Dispute } else { CategoryKind::Request };
        let first = created(kind, anonymous);
        let mut case = Case::from_created(CaseId(1), first.at, &first.kind).unwrap();
        let mut events = vec![first];
        let mut now = events[0].at;
        let config = LifecycleConfig::default();
        let calendar = Calendar::china();
        for (actor, cmd, dt) in steps {
            now = now.plus_ms(dt);
            let cx = DecideContext { now, actor: &actor, config: &config, policy: DeadlinePolicy::DEFAULT, calendar: &calendar };
            let before = case.clone();
            match case.decide(&cmd, &cx) {
                Ok(evs) => {
                    prop_assert!(!evs.is_empty());
                    for kind in evs {
                        let e = CaseEvent { at: now, actor: actor.label(), kind };
                        case.apply(&e);
                        events.push(e);
                    }
                    check_invariants(&case);
                }
                Err(_) => prop_assert_eq!(&case, &before),
            }
        }
        let replayed = Case::replay(CaseId(1), &events).unwrap();
        prop_assert_eq!(replayed, case.clone());
        // Events survive a JSON round trip (they are stored as JSON).
        let json = serde_json::to_string(&events).unwrap();
        let back: Vec<CaseEvent> = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(Case::replay(CaseId(1), &back).unwrap(), case);
    }
}

/// Walks a request from intake to closure and checks the closing gate on the way.
#[test]
fn a_request_closes_only_after_a_rating() {
    let first = created(CategoryKind::Request, false);
    let mut case = Case::from_created(CaseId(1), first.at, &first.kind).unwrap();
    let config = LifecycleConfig::default();
    let calendar = Calendar::china();
    let intake = actor(Role::Intake, "desk");
    let handler = actor(Role::Handler, "u1");
    let mut now = first.at;
    let run = |case: &mut Case, a: &Actor, cmd: Command, now: Timestamp| -> Result<(), fengqiao_domain::DomainError> {
        let cx = DecideContext { now, actor: a, config: &config, policy: DeadlinePolicy::DEFAULT, calendar: &calendar };
        for kind in case.decide(&cmd, &cx)? {
            case.apply(&CaseEvent { at: now, actor: a.label(), kind });
        }
        Ok(())
    };
    run(&mut case, &intake, Command::File { severity: None, note: None }, now).unwrap();
    run(&mut case, &intake, Command::Dispatch { lead_unit: UnitId("u1".into()), co_units: vec![] }, now).unwrap();
    // Another unit's handler may not accept.
    assert!(run(&mut case, &actor(Role::Handler, "u2"), Command::Accept, now).is_err());
    run(&mut case, &handler, Command::Accept, now).unwrap();
    run(&mut case, &handler, Command::Resolve { feedback: "repaired".into() }, now).unwrap();
    let err = run(&mut case, &intake, Command::Close { note: None }, now).unwrap_err();
    assert_eq!(err.code(), "precondition_failed");
    // Two unanswered calls are not enough, and a dissatisfied rating sends it back.
    for ch in [ContactChannel::Phone, ContactChannel::Sms] {
        now = now.plus_hours(13);
        run(&mut case, &intake, Command::RecordVisit { party: None, channel: ch, reached: false, rating: None, comment: None }, now)
            .unwrap();
    }
    assert!(run(&mut case, &intake, Command::Close { note: None }, now).is_err());
    run(
        &mut case,
        &intake,
        Command::RecordVisit {
            party: None,
            channel: ContactChannel::Phone,
            reached: true,
            rating: Some(Rating::Dissatisfied),
            comment: None,
        },
        now,
    )
    .unwrap();
    assert_eq!(case.status, Status::InProgress);
    assert_eq!(case.reworks, 1);
    run(&mut case, &handler, Command::Resolve { feedback: "repaired again".into() }, now).unwrap();
    run(
        &mut case,
        &intake,
        Command::RecordVisit { party: None, channel: ContactChannel::Phone, reached: true, rating: Some(Rating::Satisfied), comment: None },
        now,
    )
    .unwrap();
    run(&mut case, &intake, Command::Close { note: None }, now).unwrap();
    assert_eq!(case.status, Status::Closed);
    assert_eq!(case.final_rating, Some(Rating::Satisfied));
    assert_eq!(case.closure_flag, None);
}

/// Three unanswered attempts over two channels and more than 24 hours allow a flagged closure.
#[test]
fn unreachable_closure_needs_attempts_channels_and_time() {
    let first = created(CategoryKind::Request, false);
    let mut case = Case::from_created(CaseId(1), first.at, &first.kind).unwrap();
    let config = LifecycleConfig::default();
    let calendar = Calendar::china();
    let intake = actor(Role::Intake, "desk");
    let handler = actor(Role::Handler, "u1");
    let mut now = first.at;
    let step = |case: &mut Case, a: &Actor, cmd: Command, now: Timestamp| -> bool {
        let cx = DecideContext { now, actor: a, config: &config, policy: DeadlinePolicy::DEFAULT, calendar: &calendar };
        match case.decide(&cmd, &cx) {
            Ok(evs) => {
                for kind in evs {
                    case.apply(&CaseEvent { at: now, actor: a.label(), kind });
                }
                true
            }
            Err(_) => false,
        }
    };
    assert!(step(&mut case, &intake, Command::File { severity: None, note: None }, now));
    assert!(step(&mut case, &intake, Command::Dispatch { lead_unit: UnitId("u1".into()), co_units: vec![] }, now));
    assert!(step(&mut case, &handler, Command::Accept, now));
    assert!(step(&mut case, &handler, Command::Resolve { feedback: "done".into() }, now));
    // Three phone calls within an hour: one channel, too short a span.
    for _ in 0..3 {
        now = now.plus_ms(600_000);
        assert!(step(
            &mut case,
            &intake,
            Command::RecordVisit { party: None, channel: ContactChannel::Phone, reached: false, rating: None, comment: None },
            now
        ));
    }
    assert!(!step(&mut case, &intake, Command::Close { note: None }, now));
    now = now.plus_hours(25);
    assert!(step(
        &mut case,
        &intake,
        Command::RecordVisit { party: None, channel: ContactChannel::Sms, reached: false, rating: None, comment: None },
        now
    ));
    assert!(step(&mut case, &intake, Command::Close { note: None }, now));
    assert_eq!(case.closure_flag, Some(ClosureFlag::Unreachable));
}

/// A transfer the target rejects goes to arbitration; meanwhile neither unit may act on it,
/// and the arbitrator's choice is final (the chosen unit cannot reject again).
#[test]
fn a_contested_transfer_waits_for_arbitration() {
    let first = created(CategoryKind::Request, false);
    let mut case = Case::from_created(CaseId(1), first.at, &first.kind).unwrap();
    let config = LifecycleConfig::default();
    let calendar = Calendar::china();
    let now = Timestamp(1_700_000_000_000);
    let run = |case: &mut Case, a: &Actor, cmd: Command| -> Result<Vec<EventKind>, fengqiao_domain::DomainError> {
        let cx = DecideContext { now, actor: a, config: &config, policy: DeadlinePolicy::DEFAULT, calendar: &calendar };
        let evs = case.decide(&cmd, &cx)?;
        for kind in &evs {
            case.apply(&CaseEvent { at: now, actor: a.label(), kind: kind.clone() });
        }
        Ok(evs)
    };
    let (u1, u2, u3) = (UnitId("u1".into()), UnitId("u2".into()), UnitId("u3".into()));
    let intake = actor(Role::Intake, "desk");
    run(&mut case, &intake, Command::File { severity: None, note: None }).unwrap();
    run(&mut case, &intake, Command::Dispatch { lead_unit: u1.clone(), co_units: vec![u3.clone()] }).unwrap();
    assert_eq!(case.tasks.len(), 1, "the co-handling unit has its own task");
    assert_eq!(case.tasks[0].due, case.handling_due.unwrap());
    // Only the co-handling unit reports its task, once.
    assert!(run(&mut case, &actor(Role::Handler, "u1"), Command::CompleteTask { report: "x".into() }).is_err());
    run(&mut case, &actor(Role::Handler, "u3"), Command::CompleteTask { report: "cleared the drain".into() }).unwrap();
    assert!(case.tasks[0].done_at.is_some());
    assert!(run(&mut case, &actor(Role::Handler, "u3"), Command::CompleteTask { report: "again".into() }).is_err());

    run(&mut case, &actor(Role::Handler, "u1"), Command::Transfer { to: u2.clone(), reason: "the road is u2's".into() }).unwrap();
    // The sender cannot reject its own transfer, nor a third unit.
    for who in ["u1", "u3"] {
        assert!(run(&mut case, &actor(Role::Handler, who), Command::RejectTransfer { reason: "no".into() }).is_err());
    }
    let evs = run(&mut case, &actor(Role::Handler, "u2"), Command::RejectTransfer { reason: "the road is u1's".into() }).unwrap();
    let EventKind::TransferRejected { arbitration_due, .. } = &evs[0] else { panic!("{evs:?}") };
    assert!(*arbitration_due > now, "a deadline for the arbitrator");
    // Contested: the target cannot accept, nobody can transfer or resolve, a handler cannot arbitrate.
    for (who, cmd) in [
        ("u2", Command::Accept),
        ("u2", Command::Transfer { to: u3.clone(), reason: "r".into() }),
        ("u1", Command::Resolve { feedback: "f".into() }),
    ] {
        let err = run(&mut case, &actor(Role::Handler, who), cmd).unwrap_err();
        assert!(matches!(err, fengqiao_domain::DomainError::Precondition(_)), "{err:?}");
    }
    assert!(run(&mut case, &actor(Role::Handler, "u2"), Command::ArbitrateTransfer { to: u2.clone(), decision: "d".into() }).is_err());
    let sup = actor(Role::Supervisor, "town");
    assert!(run(&mut case, &sup, Command::ArbitrateTransfer { to: u3.clone(), decision: "d".into() }).is_err(), "one of the two units");
    run(&mut case, &sup, Command::ArbitrateTransfer { to: u2.clone(), decision: "the road was handed to u2 in 2024".into() }).unwrap();
    assert_eq!((case.lead_unit.as_ref(), case.transfer.as_ref()), (Some(&u2), None));
    assert!(run(&mut case, &actor(Role::Handler, "u2"), Command::RejectTransfer { reason: "still no".into() }).is_err(), "final");
    run(&mut case, &actor(Role::Handler, "u2"), Command::Accept).unwrap();
    assert_eq!(case.transfers, 1, "arbitration is not another transfer");
}

//! Mediation: the state machine under random command sequences, the police limits on the
//! business calendar, the frozen agreement, the confirmation window and the conflict check.

use fengqiao_domain::case::{CaseId, Party, PartyRole};
use fengqiao_domain::mediation::*;
use fengqiao_domain::{Actor, Calendar, DomainError, RegionCode, Role, Timestamp, UnitId};
use proptest::prelude::*;

fn at(s: &str) -> Timestamp {
    Timestamp::parse_rfc3339(s).unwrap()
}

fn actor(role: Role, unit: &str) -> Actor {
    Actor::User {
        id: format!("{}-{unit}", role.as_str()),
        role,
        unit: Some(UnitId(unit.into())),
        jurisdiction: RegionCode::parse("330681000000").unwrap(),
    }
}

fn parties() -> Vec<Party> {
    vec![
        Party { person_id: 1, role: PartyRole::Applicant, organisation: false },
        Party { person_id: 2, role: PartyRole::Respondent, organisation: false },
        Party { person_id: 3, role: PartyRole::Representative, organisation: false },
    ]
}

fn open(kind: MediationKind, now: Timestamp, cal: &Calendar) -> Mediation {
    let unit = UnitId("u1".into());
    let region = RegionCode::parse("330681101001").unwrap();
    let ps = parties();
    let case = CaseForMediation {
        id: CaseId(9),
        is_dispute: true,
        open: true,
        lead_unit: Some(&unit),
        region: &region,
        category: "neighbour",
        parties: &ps,
    };
    Mediation::open(
        &actor(Role::Mediator, "u1"),
        &case,
        &OpenMediation { kind, source: Source::PartyApplied, amount_fen: Some(300_000) },
        &MediationConfig::default(),
        cal,
        now,
    )
    .unwrap()
}

fn content(due: Timestamp) -> AgreementContent {
    AgreementContent {
        facts: "两家因院墙滴水发生争执".into(),
        matters: "院墙滴水损坏".into(),
        responsibility: "乙方承担主要责任".into(),
        terms: vec![TermInput { text: "乙方赔偿甲方3000元".into(), how: "银行转账".into(), due }],
    }
}

struct Run {
    m: Mediation,
    cal: Calendar,
    cfg: MediationConfig,
    now: Timestamp,
}

impl Run {
    fn act(&mut self, who: &Actor, cmd: MediationCommand) -> Result<(&'static str, Effect), DomainError> {
        let cx = MediationContext { now: self.now, actor: who, calendar: &self.cal, config: &self.cfg };
        self.m.act(&cmd, &cx)
    }
}

fn assign(name: &str) -> MediationCommand {
    MediationCommand::Assign {
        user_id: None,
        name: name.into(),
        role: MemberRole::PeoplesMediator,
        lead: false,
        conflicts: vec![],
        override_reason: None,
    }
}

#[test]
fn police_mediation_keeps_to_one_session_and_one_more_in_working_days() {
    let cal = Calendar::china();
    // Monday 2026-03-09, 09:00 local.
    let t0 = at("2026-03-09T01:00:00Z");
    let mut r = Run { m: open(MediationKind::Police, t0, &cal), cal, cfg: MediationConfig::default(), now: t0 };
    let me = actor(Role::Mediator, "u1");
    // The first session is due by the close of the third working day: Thursday 17:30.
    assert_eq!(r.m.first_session_due, Some(at("2026-03-12T09:30:00Z")));
    r.act(&me, assign("老王")).unwrap();
    // Not before every party consents.
    let sched = |start: &str, end: &str| MediationCommand::Schedule {
        start: at(start),
        end: at(end),
        room: Some("调解室一".into()),
        online: None,
        invited: vec![],
        mediators: vec![],
    };
    assert!(matches!(r.act(&me, sched("2026-03-11T02:00:00Z", "2026-03-11T03:00:00Z")), Err(DomainError::Precondition(_))));
    r.act(&me, MediationCommand::Consent { party: 1, agree: true, note: None }).unwrap();
    assert!(
        r.act(&me, MediationCommand::Consent { party: 3, agree: true, note: None }).is_err(),
        "a representative's consent is not the party's"
    );
    r.act(&me, MediationCommand::Consent { party: 2, agree: true, note: None }).unwrap();
    assert_eq!(r.m.status, MediationStatus::Mediating);
    // Friday is past the first deadline.
    let e = r.act(&me, sched("2026-03-13T02:00:00Z", "2026-03-13T03:00:00Z")).unwrap_err();
    assert!(e.to_string().contains("first session"), "{e}");
    r.act(&me, sched("2026-03-11T02:00:00Z", "2026-03-11T03:00:00Z")).unwrap();
    r.now = at("2026-03-11T04:00:00Z");
    r.act(
        &me,
        MediationCommand::RecordSession {
            session: 1, present: vec![1, 2], minutes: "双方陈述".into(), outcome: SessionOutcome::Continue
        },
    )
    .unwrap();
    // The second within 7 working days of the first: Friday 2026-03-20 17:30.
    assert_eq!(r.m.second_session_due, Some(at("2026-03-20T09:30:00Z")));
    assert!(r.act(&me, sched("2026-03-23T02:00:00Z", "2026-03-23T03:00:00Z")).is_err());
    r.act(&me, sched("2026-03-19T02:00:00Z", "2026-03-19T03:00:00Z")).unwrap();
    // A third attempt is refused with the rule named.
    let e = r.act(&me, sched("2026-03-19T05:00:00Z", "2026-03-19T06:00:00Z")).unwrap_err();
    assert!(e.to_string().contains("at most 2 session"), "{e}");
    // A cancelled session frees its place in the count.
    r.act(&me, MediationCommand::CancelSession { session: 2, reason: "当事人生病".into() }).unwrap();
    r.act(&me, sched("2026-03-19T05:00:00Z", "2026-03-19T06:00:00Z")).unwrap();
    // People's mediation has no such limit.
    let t1 = at("2026-03-09T01:00:00Z");
    let cal = Calendar::china();
    let mut p = Run { m: open(MediationKind::People, t1, &cal), cal, cfg: MediationConfig::default(), now: t1 };
    p.act(&me, assign("老王")).unwrap();
    p.act(&me, MediationCommand::Consent { party: 1, agree: true, note: None }).unwrap();
    p.act(&me, MediationCommand::Consent { party: 2, agree: true, note: None }).unwrap();
    for d in 0..3 {
        let s = at("2026-04-20T02:00:00Z").plus_hours(24 * d);
        p.act(
            &me,
            MediationCommand::Schedule {
                start: s,
                end: s.plus_hours(1),
                room: Some("调解室一".into()),
                online: None,
                invited: vec![],
                mediators: vec![],
            },
        )
        .unwrap();
    }
}

#[test]
fn a_signed_agreement_is_frozen_and_corrected_by_a_new_version() {
    let cal = Calendar::china();
    // Friday 2026-03-06, 10:00 local.
    let t0 = at("2026-03-06T02:00:00Z");
    let mut r = Run { m: open(MediationKind::People, t0, &cal), cal, cfg: MediationConfig::default(), now: t0 };
    let me = actor(Role::Mediator, "u1");
    r.act(&me, assign("老王")).unwrap();
    r.act(&me, MediationCommand::Consent { party: 1, agree: true, note: None }).unwrap();
    r.act(&me, MediationCommand::Consent { party: 2, agree: true, note: None }).unwrap();
    let due = at("2026-04-30T00:00:00Z");
    // Every problem is listed at once.
    let e = r
        .act(
            &me,
            MediationCommand::Draft {
                content: AgreementContent {
                    facts: " ".into(),
                    matters: "".into(),
                    responsibility: "x".into(),
                    terms: vec![TermInput { text: "".into(), how: "h".into(), due: t0 }],
                },
            },
        )
        .unwrap_err();
    let DomainError::Invalid(errs) = e else { panic!() };
    let fields: Vec<_> = errs.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(fields, ["content.facts", "content.matters", "content.terms[0].text", "content.terms[0].due"]);
    r.act(&me, MediationCommand::Draft { content: content(due) }).unwrap();
    let mut edited = content(due);
    edited.facts.push_str("（补充）");
    r.act(&me, MediationCommand::Draft { content: edited.clone() }).unwrap();
    assert_eq!(r.m.agreements.len(), 1, "an unsigned draft is edited in place");
    r.act(&me, MediationCommand::Sign { signer: Signer::Party(1) }).unwrap();
    let before = r.m.clone();
    let e = r.act(&me, MediationCommand::Draft { content: content(due) }).unwrap_err();
    assert!(e.to_string().contains("frozen"), "{e}");
    assert_eq!(r.m, before, "a refused edit changes nothing");
    r.act(&me, MediationCommand::Revise { content: content(due) }).unwrap();
    assert_eq!(r.m.agreements.len(), 2);
    assert!(r.m.agreements[0].superseded);
    assert_eq!(r.m.agreements[0].content, edited, "the signed version is kept as signed");
    assert!(r.m.agreements[1].party_signatures.is_empty(), "a correction is signed again");
    for s in [Signer::Party(1), Signer::Party(2), Signer::Mediator] {
        assert_eq!(r.act(&me, MediationCommand::Sign { signer: s }).unwrap().1, Effect::None);
    }
    assert!(r.act(&me, MediationCommand::Sign { signer: Signer::Party(3) }).is_err(), "a representative is not a signer");
    assert_eq!(r.act(&me, MediationCommand::Sign { signer: Signer::Seal }).unwrap(), ("mediation_agreed", Effect::Agreed));
    assert_eq!(r.m.status, MediationStatus::Agreed);
    // 30 days from 2026-03-07 end on Sunday 04-05, a Qingming holiday, as is Monday: Tuesday.
    assert_eq!(r.m.confirmation.last_day.as_deref(), Some("2026-04-07"));
    assert_eq!(r.m.confirmation.due, Some(at("2026-04-07T16:00:00Z")));
    // After the window closes the application is refused.
    r.now = at("2026-04-07T16:00:00Z");
    assert!(r.act(&me, MediationCommand::ApplyConfirmation { court: "诸暨市人民法院".into() }).is_err());
    r.now = at("2026-04-07T15:59:00Z");
    r.act(&me, MediationCommand::ApplyConfirmation { court: "诸暨市人民法院".into() }).unwrap();
    r.act(&me, MediationCommand::DecideConfirmation { confirmed: true, note: None }).unwrap();
    // Terms: a breach ends it as breached and asks the case to follow.
    assert_eq!(
        r.act(&me, MediationCommand::Fulfil { term: 0, fulfilled: false, note: Some("未付款".into()), court: true }).unwrap().1,
        Effect::Breached
    );
    assert_eq!(r.m.status, MediationStatus::Breached);
    assert!(r.m.court_referral);
    let f = MediationFigures::of([&r.m]);
    assert_eq!((f.agreed, f.breached, f.fulfilment_rate, f.judicially_confirmed), (1, 1, Some(0.0), 1));
}

#[test]
fn the_window_ends_on_its_thirtieth_day_when_that_is_a_working_day() {
    let cal = Calendar::china();
    // Effective Tuesday 2026-03-10: day 30 is Thursday 2026-04-09.
    let (last, end) = confirmation_window(&cal, at("2026-03-10T03:00:00Z"), 30);
    assert_eq!(last.to_string(), "2026-04-09");
    assert_eq!(end, at("2026-04-09T16:00:00Z"));
}

#[test]
fn a_refusal_ends_the_mediation() {
    let cal = Calendar::china();
    let t0 = at("2026-03-09T01:00:00Z");
    let mut r = Run { m: open(MediationKind::People, t0, &cal), cal, cfg: MediationConfig::default(), now: t0 };
    let me = actor(Role::Mediator, "u1");
    r.act(&me, MediationCommand::Consent { party: 1, agree: true, note: None }).unwrap();
    assert!(
        r.act(&me, MediationCommand::Consent { party: 2, agree: false, note: None }).is_err(),
        "a refusal is recorded in the party's words"
    );
    assert_eq!(
        r.act(&me, MediationCommand::Consent { party: 2, agree: false, note: Some("不同意调解".into()) }).unwrap().1,
        Effect::Refused
    );
    assert_eq!(r.m.status, MediationStatus::Refused);
    assert!(matches!(r.act(&me, assign("老王")), Err(DomainError::IllegalTransition { .. })));
    // Another unit's mediator may not act.
    let mut r2 =
        Run { m: open(MediationKind::People, t0, &Calendar::china()), cal: Calendar::china(), cfg: MediationConfig::default(), now: t0 };
    assert!(matches!(r2.act(&actor(Role::Mediator, "u2"), assign("x")), Err(DomainError::Forbidden(_))));
    assert!(matches!(r2.act(&actor(Role::Intake, "u1"), assign("x")), Err(DomainError::Forbidden(_))));
}

#[test]
fn a_member_linked_to_a_party_is_flagged() {
    let village = RegionCode::parse("330681101001").unwrap();
    let parties = vec![
        PartyProfile { person_id: 1, identity_key: Some("id:1".into()), family_name: Some("王".into()), village: Some(village.clone()) },
        PartyProfile { person_id: 2, identity_key: Some("id:2".into()), family_name: Some("李".into()), village: None },
    ];
    assert!(
        conflicts(
            &MemberProfile {
                family_name: Some("王".into()),
                village: Some(RegionCode::parse("330681101002").unwrap()),
                ..Default::default()
            },
            &parties
        )
        .is_empty()
    );
    let same_village = conflicts(
        &MemberProfile {
            family_name: family_name("王建国"),
            village: Some(RegionCode::parse("330681101001001").unwrap()),
            ..Default::default()
        },
        &parties,
    );
    assert_eq!(same_village, ["shares family name and village with party #1"]);
    assert_eq!(conflicts(&MemberProfile { identity_key: Some("id:2".into()), ..Default::default() }, &parties).len(), 1);
    assert_eq!(conflicts(&MemberProfile { related_parties: vec![2], ..Default::default() }, &parties), ["declared a relation to party #2"]);
    assert_eq!(family_name("欧阳修").as_deref(), Some("欧阳"));
    assert_eq!(family_name("John Smith").as_deref(), Some("smith"));
    // Assigning a flagged member needs a reason.
    let cal = Calendar::china();
    let t0 = at("2026-03-09T01:00:00Z");
    let mut r = Run { m: open(MediationKind::People, t0, &cal), cal, cfg: MediationConfig::default(), now: t0 };
    let me = actor(Role::Mediator, "u1");
    let flagged = |reason: Option<&str>| MediationCommand::Assign {
        user_id: None,
        name: "王建国".into(),
        role: MemberRole::RespectedLocal,
        lead: false,
        conflicts: same_village.clone(),
        override_reason: reason.map(String::from),
    };
    let e = r.act(&me, flagged(None)).unwrap_err();
    assert!(e.to_string().contains("conflict of interest"), "{e}");
    r.act(&me, flagged(Some("双方均同意由其参与调解"))).unwrap();
    assert_eq!(r.m.team[0].conflicts.len(), 1);
    assert!(r.m.team[0].override_reason.is_some());
}

// ---- the state machine under random commands ----

fn arb_actor() -> impl Strategy<Value = Actor> {
    (prop::sample::select(Role::ALL.to_vec()), prop::sample::select(vec!["u1", "u2"])).prop_map(|(r, u)| actor(r, u))
}

fn arb_command() -> impl Strategy<Value = MediationCommand> {
    let party = prop::sample::select(vec![1i64, 1, 2, 2, 3, 9]);
    let day = 0i64..20;
    prop_oneof![
        3 => (party.clone(), prop::bool::weighted(0.97)).prop_map(|(p, a)| MediationCommand::Consent { party: p, agree: a, note: Some("n".into()) }),
        1 => (prop::bool::ANY, prop::bool::ANY).prop_map(|(c, o)| MediationCommand::Assign {
            user_id: None,
            name: "m".into(),
            role: MemberRole::Lawyer,
            lead: false,
            conflicts: if c { vec!["x".into()] } else { vec![] },
            override_reason: o.then(|| "r".into()),
        }),
        2 => (day.clone(), prop::sample::select(vec!["A", "B"])).prop_map(|(d, room)| {
            let s = Timestamp(1_773_018_000_000).plus_hours(24 * d);
            MediationCommand::Schedule { start: s, end: s.plus_hours(2), room: Some(room.into()), online: None, invited: vec![], mediators: vec![] }
        }),
        1 => (1u32..4).prop_map(|s| MediationCommand::CancelSession { session: s, reason: "r".into() }),
        2 => (1u32..4, prop::sample::select(SessionOutcome::ALL.to_vec())).prop_map(|(s, o)| MediationCommand::RecordSession { session: s, present: vec![1, 2], minutes: "m".into(), outcome: o }),
        2 => Just(MediationCommand::Draft { content: content(Timestamp(1_800_000_000_000)) }),
        1 => Just(MediationCommand::Revise { content: content(Timestamp(1_800_000_000_000)) }),
        4 => prop::sample::select(vec![Signer::Party(1), Signer::Party(2), Signer::Party(3), Signer::Mediator, Signer::Seal]).prop_map(|s| MediationCommand::Sign { signer: s }),
        1 => Just(MediationCommand::RecordOral { content: content(Timestamp(1_800_000_000_000)) }),
        1 => Just(MediationCommand::ApplyConfirmation { court: "c".into() }),
        1 => prop::bool::ANY.prop_map(|c| MediationCommand::DecideConfirmation { confirmed: c, note: Some("n".into()) }),
        3 => (0usize..2, prop::bool::weighted(0.8)).prop_map(|(t, f)| MediationCommand::Fulfil { term: t, fulfilled: f, note: Some("n".into()), court: false }),
        1 => (prop::bool::ANY, prop::bool::ANY).prop_map(|(a, b)| MediationCommand::Judge { prevented_criminal: a, prevented_group_petition: b }),
    ]
}

/// What must hold in every reachable state.
fn check_invariants(m: &Mediation) {
    use MediationStatus as S;
    let principals = m.principals();
    let consent = |c: Consent| m.parties.iter().filter(|p| principals.contains(&p.person_id)).all(|p| p.consent == c);
    match m.status {
        S::Consenting => assert!(!consent(Consent::Agreed) && m.parties.iter().all(|p| p.consent != Consent::Refused)),
        S::Refused => assert!(m.parties.iter().any(|p| p.consent == Consent::Refused)),
        _ => assert!(consent(Consent::Agreed), "{:?} without every consent", m.status),
    }
    assert_eq!(m.status.is_ended(), m.ended_at.is_some());
    assert_eq!(m.status.reached_agreement(), m.agreed_at.is_some(), "agreed_at in {:?}", m.status);
    if m.status.reached_agreement() {
        let a = m.effective_agreement().expect("an agreement in effect");
        assert!(
            a.form == AgreementForm::Oral
                || (a.party_signatures.len() == a.signers.len() && a.mediator_signed.is_some() && a.sealed.is_some())
        );
        assert!(m.confirmation.due.is_some());
        let terms = &a.terms;
        match m.status {
            S::Fulfilled => assert!(terms.iter().all(|t| t.status == TermStatus::Fulfilled)),
            S::Breached => assert!(terms.iter().any(|t| t.status == TermStatus::Breached)),
            _ => assert!(terms.iter().all(|t| t.status != TermStatus::Breached)),
        }
    } else {
        assert!(m.agreements.iter().all(|a| a.effective_at.is_none()));
    }
    // Only the last version may be current; every earlier one is superseded.
    for a in m.agreements.iter().rev().skip(1) {
        assert!(a.superseded);
    }
    if let Some(p) = m.police {
        assert!(m.held_or_planned().count() as u32 <= p.max_sessions);
    }
    assert!(m.confirmation.decision.is_none() || m.confirmation.applied.is_some());
    // The scheduler's term column: set exactly while a term of the agreement in effect is open.
    let pending = m.effective_agreement().map(|a| a.terms.iter().any(|t| t.status == TermStatus::Pending)).unwrap_or(false);
    assert_eq!(m.next_term_due().is_some(), m.status == S::Agreed && pending);
    if m.status == S::Agreed {
        assert!(pending, "an agreement being fulfilled has an open term");
    }
    // Police deadlines: the first from the opening, the second once a session was held.
    if m.police.is_some() {
        assert!(m.first_session_due.is_some());
        assert_eq!(m.second_session_due.is_some(), m.sessions.iter().any(|s| s.outcome.is_some()));
    } else {
        assert!(m.first_session_due.is_none() && m.second_session_due.is_none());
    }
    // No room or mediator is booked twice at once within the mediation.
    let b = m.bookings();
    for (i, x) in b.iter().enumerate() {
        for y in &b[i + 1..] {
            assert!(!(x.resource == y.resource && x.start < y.end && y.start < x.end), "double booking {x:?} {y:?}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn no_illegal_state_is_reachable(
        police in prop::bool::ANY,
        steps in prop::collection::vec((arb_actor(), arb_command(), 0i64..30), 1..100),
    ) {
        let cal = Calendar::china();
        let t0 = Timestamp(1_773_018_000_000);
        let kind = if police { MediationKind::Police } else { MediationKind::People };
        let mut r = Run { m: open(kind, t0, &cal), cal, cfg: MediationConfig::default(), now: t0 };
        for (who, cmd, hours) in steps {
            r.now = r.now.plus_hours(hours);
            let before = r.m.clone();
            match r.act(&who, cmd.clone()) {
                Ok(_) => {
                    prop_assert_eq!(r.m.version, before.version + 1);
                    // A signed version's text never changes.
                    for (a, b) in before.agreements.iter().zip(&r.m.agreements) {
                        if a.is_frozen() {
                            prop_assert_eq!(&a.content, &b.content);
                        }
                    }
                    prop_assert!(r.m.agreements.len() >= before.agreements.len());
                    if before.status.is_ended() {
                        prop_assert!(matches!(cmd, MediationCommand::Judge { .. } | MediationCommand::ApplyConfirmation { .. } | MediationCommand::DecideConfirmation { .. }), "{:?} after the end", cmd);
                        prop_assert_eq!(r.m.status, before.status);
                    }
                }
                Err(_) => prop_assert_eq!(&r.m, &before, "a refused command changed the mediation"),
            }
            check_invariants(&r.m);
        }
    }
}

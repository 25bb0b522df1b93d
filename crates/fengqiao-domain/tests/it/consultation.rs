//! Community consultation as a state machine under random command sequences by random staff,
//! and what a resident signed in by phone may do to a case (rate it at the return visit, and
//! nothing else).

use fengqiao_domain::case::*;
use fengqiao_domain::category::{CategoryKind, DeadlinePolicy};
use fengqiao_domain::consultation::{ConsultCommand, ConsultSource, ConsultStatus, Consultation};
use fengqiao_domain::lifecycle::DecideContext;
use fengqiao_domain::{Actor, Calendar, Command, DomainError, EventKind, LifecycleConfig, RegionCode, Role, Timestamp, UnitId};
use proptest::prelude::*;

const T0: Timestamp = Timestamp(1_767_225_600_000);

fn staff(role: Role, jurisdiction: &str) -> Actor {
    Actor::User { id: role.as_str().into(), role, unit: Some(UnitId("u1".into())), jurisdiction: RegionCode::parse(jurisdiction).unwrap() }
}

fn arb_actor() -> impl Strategy<Value = Actor> {
    (prop::sample::select(Role::ALL.to_vec()), prop::sample::select(vec!["330681000000", "330681101000", "330681102000"]))
        .prop_map(|(r, j)| staff(r, j))
}

fn arb_command() -> impl Strategy<Value = ConsultCommand> {
    prop_oneof![
        prop::sample::select(vec!["", "采纳"]).prop_map(|t| ConsultCommand::Decide { text: t.into(), answer: "答复".into() }),
        prop::sample::select(vec!["", "节点"]).prop_map(|t| ConsultCommand::AddMilestone { title: t.into(), due: None }),
        (0usize..4).prop_map(|index| ConsultCommand::CompleteMilestone { index }),
        (0u8..=120).prop_map(|percent| ConsultCommand::Progress { percent, note: None }),
    ]
}

proptest! {
    /// Whatever staff try: a refused command changes nothing; an accepted one bumps the version
    /// once; the status only moves forward (open → decided → completed); progress never goes
    /// back or past 100 and is 100 exactly when completed; a decision exists once decided;
    /// milestones are only added or marked done; only staff of the region's jurisdiction who
    /// are not handlers change anything.
    #[test]
    fn consultation_state_machine(steps in prop::collection::vec((arb_actor(), arb_command()), 0..40)) {
        let opener = staff(Role::Supervisor, "330681101000");
        let region = RegionCode::parse("330681101001").unwrap();
        let mut c = Consultation::open(&opener, region.clone(), "议题", "说明", ConsultSource::Cases { ids: vec![1] }, T0.plus_hours(48), T0).unwrap();
        let rank = |s: ConsultStatus| match s { ConsultStatus::Open => 0, ConsultStatus::Decided => 1, ConsultStatus::Completed => 2 };
        for (i, (actor, cmd)) in steps.iter().enumerate() {
            let before = c.clone();
            let now = T0.plus_hours(i as i64);
            match c.act(actor, cmd, now) {
                Err(_) => prop_assert_eq!(&c, &before, "a refused command changed the consultation"),
                Ok(_) => {
                    let Actor::User { role, jurisdiction, .. } = actor else { unreachable!() };
                    prop_assert!(!role.handles() && jurisdiction.contains(&region), "{:?} changed it", actor);
                    prop_assert_eq!(c.version, before.version + 1);
                    prop_assert!(rank(c.status) >= rank(before.status));
                    prop_assert!(c.progress >= before.progress && c.progress <= 100);
                    prop_assert!(c.milestones.len() >= before.milestones.len());
                    for (old, new) in before.milestones.iter().zip(&c.milestones) {
                        prop_assert_eq!(&old.title, &new.title);
                        prop_assert!(old.done_at.is_none() || old.done_at == new.done_at);
                    }
                }
            }
            prop_assert_eq!(c.status == ConsultStatus::Completed, c.progress == 100);
            prop_assert_eq!(c.status != ConsultStatus::Open, c.decision.is_some());
            prop_assert!(c.status == ConsultStatus::Open || !c.accepts_input(now));
        }
    }
}

fn resolved_case(kind: CategoryKind) -> Case {
    let created = EventKind::Created {
        tracking_code: TrackingCode::from_random([7; 8]),
        category: "street_light".into(),
        kind,
        channel: Channel::Web,
        urgency: Urgency::Routine,
        severity: Severity::Ordinary,
        tier: Tier::Village,
        region: RegionCode::parse("330681101001").unwrap(),
        location: Location { point: None, address: Some("x".into()) },
        title: "t".into(),
        description: "d".into(),
        answers: Default::default(),
        reporter: Some(3),
        parties: vec![],
    };
    let mut case = Case::from_created(CaseId(1), T0, &created).unwrap();
    let (config, calendar) = (LifecycleConfig::default(), Calendar::china());
    let steps = [
        (staff(Role::Intake, "330681000000"), Command::File { severity: None, note: None }),
        (staff(Role::Intake, "330681000000"), Command::Dispatch { lead_unit: UnitId("u1".into()), co_units: vec![] }),
        (staff(Role::Handler, "330681000000"), Command::Accept),
        (staff(Role::Handler, "330681000000"), Command::Resolve { feedback: "done".into() }),
    ];
    for (a, cmd) in steps {
        let cx = DecideContext { now: T0, actor: &a, config: &config, policy: DeadlinePolicy::DEFAULT, calendar: &calendar };
        for kind in case.decide(&cmd, &cx).unwrap() {
            case.apply(&fengqiao_domain::lifecycle::CaseEvent { at: T0, actor: a.label(), kind });
        }
    }
    case
}

#[test]
fn a_resident_only_rates_at_the_return_visit() {
    let case = resolved_case(CategoryKind::Request);
    assert_eq!(case.status, Status::Resolved);
    let (config, calendar) = (LifecycleConfig::default(), Calendar::china());
    let cx = DecideContext { now: T0, actor: &Actor::Resident, config: &config, policy: DeadlinePolicy::DEFAULT, calendar: &calendar };
    let rate = |rating: Option<Rating>, reached: bool, party: Option<i64>| Command::RecordVisit {
        party,
        channel: ContactChannel::Web,
        reached,
        rating,
        comment: None,
    };
    let events = case.decide(&rate(Some(Rating::Satisfied), true, None), &cx).unwrap();
    assert!(
        matches!(&events[..], [EventKind::VisitRecorded { visit }] if visit.by == "resident" && visit.rating == Some(Rating::Satisfied))
    );
    for cmd in [
        rate(None, true, None),
        rate(None, false, None),
        rate(Some(Rating::Satisfied), true, Some(3)),
        Command::Close { note: None },
        Command::Verify { ok: true, note: None },
        Command::Accept,
    ] {
        assert!(matches!(case.decide(&cmd, &cx), Err(DomainError::Forbidden(_))), "{cmd:?}");
    }
}

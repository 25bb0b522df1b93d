//! The business calendar: holidays and make-up working days, working-hour arithmetic, loading
//! a year, and deadlines computed on it by the lifecycle.

use fengqiao_domain::calendar::{Calendar, HolidayTable, Span};
use fengqiao_domain::case::*;
use fengqiao_domain::category::{CategoryKind, DeadlinePolicy, Sla, builtin_categories};
use fengqiao_domain::escalation::{Deadline, EscalationLadder};
use fengqiao_domain::figures::{CaseFacts, FigureCounts};
use fengqiao_domain::lifecycle::{CaseEvent, DecideContext};
use fengqiao_domain::{Actor, Command, EventKind, LifecycleConfig, RegionCode, Role, Timestamp, Unit, UnitId, UnitKind};
use jiff::civil::date;
use proptest::prelude::*;

/// A Shanghai wall-clock time.
fn at(s: &str) -> Timestamp {
    let z: jiff::Zoned = format!("{s}[Asia/Shanghai]").parse().unwrap();
    Timestamp(z.timestamp().as_millisecond())
}

fn show(t: Timestamp) -> String {
    t.to_rfc3339_in(&jiff::tz::TimeZone::get("Asia/Shanghai").unwrap())
}

#[test]
fn the_builtin_table_covers_2025_and_2026() {
    let cal = Calendar::china();
    assert_eq!(cal.table().years().into_iter().collect::<Vec<_>>(), vec![2025, 2026]);
    // 2026: 261 weekdays, 19 of them holidays, 6 make-up weekend working days.
    let y = cal.year_summary(2026).unwrap();
    assert_eq!((y.working_days, y.rest_days, y.make_up_working_days.len()), (248, 117, 6));
    assert!(y.warnings.is_empty() && y.has_data);
}

#[test]
fn spring_festival_2026_and_its_make_up_saturdays() {
    let cal = Calendar::china();
    // Saturday 14 February and Saturday 28 February are working days; the break runs from
    // Sunday 15 to Monday 23 February.
    assert!(cal.is_working_day(date(2026, 2, 14)));
    assert!(cal.is_working_day(date(2026, 2, 28)));
    for d in 15..=23 {
        assert!(!cal.is_working_day(date(2026, 2, d)), "2026-02-{d} is a holiday");
    }
    assert_eq!(cal.next_working_day(date(2026, 2, 14)), date(2026, 2, 24));
    assert_eq!(cal.next_working_day(date(2026, 2, 13)), date(2026, 2, 14));
    // Five working days from Friday the 13th: Sat 14, Tue 24, Wed 25, Thu 26, Fri 27.
    let t = at("2026-02-13T10:00:00");
    assert_eq!(show(cal.add_working_days(t, 5)), "2026-02-27T17:30:00+08:00");
    assert_eq!(show(cal.add_working_days(t, 6)), "2026-02-28T17:30:00+08:00");
    // Two working hours from Friday 17:00: half an hour, then the make-up Saturday.
    assert_eq!(show(cal.add_working_hours(at("2026-02-13T17:00:00"), 2)), "2026-02-14T10:00:00+08:00");
    // The whole break holds no working time.
    assert_eq!(cal.working_ms_between(at("2026-02-14T17:30:00"), at("2026-02-24T08:30:00")), 0);
}

#[test]
fn working_hours_cross_a_lunch_break_a_night_and_a_weekend() {
    let cal = Calendar::china();
    // Friday 16:00 + 8 working hours: 1.5 h on Friday, 3.5 h on Monday morning, 3 h after lunch.
    let t = at("2026-03-06T16:00:00");
    let due = cal.add_working_hours(t, 8);
    assert_eq!(show(due), "2026-03-09T16:30:00+08:00");
    assert_eq!(cal.working_ms_between(t, due), 8 * 3_600_000);
    // A start at night counts from the next morning; an end at a close stays at the close.
    assert_eq!(show(cal.add_working_hours(at("2026-03-09T22:00:00"), 1)), "2026-03-10T09:30:00+08:00");
    assert_eq!(show(cal.add_working_ms(at("2026-03-10T08:30:00"), 3 * 3_600_000 + 1_800_000)), "2026-03-10T12:00:00+08:00");
    // The 24x7 calendar is elapsed time.
    let open = Calendar::always_open();
    assert_eq!(open.add_working_hours(t, 8), t.plus_hours(8));
    assert_eq!(open.add(t, Span::WorkingDays(2)), t.plus_hours(48));
}

#[test]
fn a_year_without_data_counts_weekdays_and_warns() {
    let cal = Calendar::china();
    assert_eq!(cal.years_without_data([2025, 2026, 2027]), vec![2027]);
    // 1 January 2027 is a Friday: a working day until the 2027 schedule is loaded.
    assert!(cal.is_working_day(date(2027, 1, 1)));
    assert!(!cal.is_working_day(date(2027, 1, 2)));
    let y = cal.year_summary(2027).unwrap();
    assert!(!y.has_data);
    assert_eq!(y.working_days, 261);
    assert!(y.warnings[0].contains("2027"), "{:?}", y.warnings);
    assert!(cal.warnings_at(at("2026-11-25T10:00:00"))[0].contains("2027"));
    assert!(Calendar::always_open().years_without_data([2027]).is_empty());

    // Loading the year's schedule makes it count and silences the warning.
    let file = "date,kind,name\n2027-01-01,holiday,元旦\n2027-02-06,workday,春节 (make-up)\n";
    let loaded = cal.with_table(cal.table().merged(&HolidayTable::parse_csv(file).unwrap()));
    assert!(!loaded.is_working_day(date(2027, 1, 1)));
    assert!(loaded.is_working_day(date(2027, 2, 6)));
    assert!(loaded.years_without_data([2027]).is_empty());
    // Other years are kept; a reloaded year replaces its rows rather than mixing.
    assert!(!loaded.is_working_day(date(2026, 2, 16)));
    let again = loaded.table().merged(&HolidayTable::parse_csv("2027-05-01,holiday,劳动节\n").unwrap());
    assert_eq!(again.year(2027).len(), 1);
}

#[test]
fn a_bad_calendar_file_is_refused_with_every_problem_listed() {
    let file = "date,kind,name
2027-01-01,holiday,元旦
2027-02-30,holiday,no such day
2027-02-07,holliday,typo
2027-01-01,holiday,again
2027-02-03,workday,a Wednesday
2027-02-06,holiday,a Saturday off is fine
just one column
";
    let errs = HolidayTable::parse_csv(file).unwrap_err();
    let got: Vec<String> = errs.iter().map(|e| format!("{}: {}", e.field, e.message)).collect();
    assert_eq!(got.len(), 6, "{got:#?}");
    assert!(got[0].starts_with("line 3: bad date '2027-02-30'"), "{got:#?}");
    assert!(got[1].starts_with("line 4: unknown kind 'holliday'"), "{got:#?}");
    assert!(got[2].starts_with("line 5: duplicate date 2027-01-01"), "{got:#?}");
    assert!(got[3].starts_with("line 6: 2027-02-03 is a Wednesday"), "{got:#?}");
    assert!(got[4].starts_with("line 8: bad date 'just one column'"), "{got:#?}");
    assert!(got[5].starts_with("line 8: expected three columns"), "{got:#?}");
    assert!(HolidayTable::parse_csv("").is_err());
}

#[test]
fn spans_parse_and_print() {
    for s in ["24h", "30d", "8wh", "5wd"] {
        assert_eq!(Span::parse(s).unwrap().to_string(), s);
    }
    for bad in ["", "0h", "5", "5w", "h", "-1h", "5 days"] {
        assert!(Span::parse(bad).is_err(), "{bad}");
    }
    let sla: Sla = serde_json::from_str(r#"{"response":"1wd","handling":"5wd","visit":"3wd"}"#).unwrap();
    assert_eq!(sla, Sla::ROUTINE);
    assert!(serde_json::from_str::<Sla>(r#"{"response":"1ww","handling":"5wd","visit":"3wd"}"#).is_err());
}

#[test]
fn categories_stored_before_working_time_still_read() {
    // The earlier shape: plain hours, meaning elapsed hours.
    let old = r#"{"code":"noise","kind":"request","name_zh":"噪声扰民","name_en":"Noise","public":true,
                 "policy":{"response_hours":4,"handling_hours":24,"visit_hours":48}}"#;
    let c: fengqiao_domain::Category = serde_json::from_str(old).unwrap();
    assert_eq!(c.policy.routine, Sla::new(Span::Hours(4), Span::Hours(24), Span::Hours(48)));
    assert_eq!(c.policy.emergency, Sla::EMERGENCY);
    // The current shape round-trips, and urgent defaults to routine when left out.
    for c in builtin_categories() {
        let back: fengqiao_domain::Category = serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
        assert_eq!(back, c);
    }
    let p: DeadlinePolicy = serde_json::from_str(r#"{"routine":{"response":"2wh","handling":"3wd","visit":"1wd"}}"#).unwrap();
    assert_eq!(p.urgent, p.routine);
    let err = serde_json::from_str::<DeadlinePolicy>(r#"{"routine":{"response":"2wx","handling":"3wd","visit":"1wd"}}"#).unwrap_err();
    assert!(err.to_string().contains("the unit must be"), "{err}");
}

proptest! {
    /// Adding working time is monotone in the start and the amount, and the working time
    /// between a start and the end of an added span is the span.
    #[test]
    fn working_time_arithmetic_is_consistent(
        start in 0i64..(3 * 365 * 86_400_000),
        later in 0i64..(30 * 86_400_000),
        a in 0i64..(200 * 3_600_000),
        b in 0i64..(200 * 3_600_000),
        open in any::<bool>(),
    ) {
        let cal = if open { Calendar::always_open() } else { Calendar::china() };
        let t = at("2025-01-01T00:00:00").plus_ms(start);
        let (lo, hi) = (a.min(b), a.max(b));
        prop_assert!(cal.add_working_ms(t, lo) <= cal.add_working_ms(t, hi));
        prop_assert!(cal.add_working_ms(t, a) <= cal.add_working_ms(t.plus_ms(later), a));
        prop_assert_eq!(cal.working_ms_between(t, cal.add_working_ms(t, a)), a);
        let days = (a / 3_600_000 % 20) as u32 + 1;
        prop_assert!(cal.add_working_days(t, days) <= cal.add_working_days(t.plus_ms(later), days));
    }
}

// ---- deadlines in the lifecycle ----

fn actor(role: Role, unit: &str) -> Actor {
    Actor::User {
        id: format!("{}-{unit}", role.as_str()),
        role,
        unit: Some(UnitId(unit.into())),
        jurisdiction: RegionCode::parse("330681000000").unwrap(),
    }
}

struct Run {
    case: Case,
    events: Vec<CaseEvent>,
    calendar: Calendar,
    policy: DeadlinePolicy,
}

impl Run {
    fn new(urgency: Urgency, tier: Tier, t0: Timestamp) -> Run {
        let kind = EventKind::Created {
            tracking_code: TrackingCode::from_random([3; 8]),
            category: "other_request".into(),
            kind: CategoryKind::Request,
            channel: Channel::Counter,
            urgency,
            severity: Severity::Ordinary,
            tier,
            region: RegionCode::parse("330681101001").unwrap(),
            location: Location { point: None, address: Some("x".into()) },
            title: "t".into(),
            description: "d".into(),
            answers: Default::default(),
            reporter: Some(1),
            parties: vec![],
        };
        let first = CaseEvent { at: t0, actor: "user:intake".into(), kind };
        Run {
            case: Case::from_created(CaseId(1), t0, &first.kind).unwrap(),
            events: vec![first],
            calendar: Calendar::china(),
            policy: DeadlinePolicy::DEFAULT,
        }
    }

    fn act(&mut self, a: &Actor, cmd: Command, now: &str) -> Result<(), fengqiao_domain::DomainError> {
        let config = LifecycleConfig::default();
        let cx = DecideContext { now: at(now), actor: a, config: &config, policy: self.policy, calendar: &self.calendar };
        for kind in self.case.decide(&cmd, &cx)? {
            let e = CaseEvent { at: at(now), actor: a.label(), kind };
            self.case.apply(&e);
            self.events.push(e);
        }
        Ok(())
    }
}

#[test]
fn routine_deadlines_follow_the_calendar_and_survive_a_pause() {
    let intake = actor(Role::Intake, "desk");
    let h = actor(Role::Handler, "u1");
    let chief = actor(Role::Supervisor, "office");
    let mut r = Run::new(Urgency::Routine, Tier::Village, at("2026-02-13T09:00:00"));
    r.act(&intake, Command::File { severity: None, note: None }, "2026-02-13T09:30:00").unwrap();
    r.act(&intake, Command::Dispatch { lead_unit: UnitId("u1".into()), co_units: vec![] }, "2026-02-13T10:00:00").unwrap();
    // Response: the close of the next working day, the make-up Saturday; handling: five
    // working days across the Spring Festival.
    assert_eq!(show(r.case.response_due.unwrap()), "2026-02-14T17:30:00+08:00");
    assert_eq!(show(r.case.handling_due.unwrap()), "2026-02-27T17:30:00+08:00");
    r.act(&h, Command::Accept, "2026-02-14T09:00:00").unwrap();
    // Deferred on Thursday 26th at 17:30 with one working day (7.5 h) left, resumed on
    // Wednesday 4 March at 13:30: 4 h that afternoon and 3.5 h on Thursday morning.
    r.act(&h, Command::Defer { reason: "party away".into() }, "2026-02-26T17:30:00").unwrap();
    r.act(&h, Command::Resume, "2026-03-04T13:30:00").unwrap();
    assert_eq!(show(r.case.handling_due.unwrap()), "2026-03-05T12:00:00+08:00");
    // An extension of 8 hours is 8 working hours and moves the deadline only on approval.
    r.act(&h, Command::RequestExtension { hours: 8, reason: "waiting".into() }, "2026-03-05T09:00:00").unwrap();
    assert_eq!(show(r.case.handling_due.unwrap()), "2026-03-05T12:00:00+08:00");
    r.act(&chief, Command::DecideExtension { approve: true, note: None }, "2026-03-05T10:00:00").unwrap();
    assert_eq!(show(r.case.handling_due.unwrap()), "2026-03-06T14:00:00+08:00");
    r.act(&h, Command::Resolve { feedback: "done".into() }, "2026-03-06T16:00:00").unwrap();
    // Return visit: three working days from Friday → Wednesday 11 March at the close.
    assert_eq!(show(r.case.visit_due.unwrap()), "2026-03-11T17:30:00+08:00");
    // Replay rebuilds the same deadlines whatever the calendar is today.
    assert_eq!(Case::replay(CaseId(1), &r.events).unwrap(), r.case);
}

#[test]
fn emergencies_count_elapsed_hours_and_old_resume_events_still_replay() {
    let intake = actor(Role::Intake, "desk");
    let mut r = Run::new(Urgency::Emergency, Tier::Village, at("2026-02-15T23:00:00"));
    r.act(&intake, Command::File { severity: None, note: None }, "2026-02-15T23:10:00").unwrap();
    r.act(&intake, Command::Dispatch { lead_unit: UnitId("u1".into()), co_units: vec![] }, "2026-02-15T23:20:00").unwrap();
    assert_eq!(show(r.case.response_due.unwrap()), "2026-02-16T00:20:00+08:00");
    assert_eq!(show(r.case.handling_due.unwrap()), "2026-02-16T23:20:00+08:00");
    // A resume event of the earlier format (no deadline) moves the deadline by the pause.
    let ev: EventKind = serde_json::from_str(r#"{"type":"resumed","paused_ms":3600000}"#).unwrap();
    let mut c = r.case.clone();
    let before = c.handling_due.unwrap();
    c.apply(&CaseEvent { at: at("2026-02-16T10:00:00"), actor: "x".into(), kind: ev });
    assert_eq!(c.handling_due.unwrap(), before.plus_hours(1));
}

fn facts(c: &Case) -> CaseFacts {
    CaseFacts {
        id: c.id,
        category: c.category.clone(),
        region: c.region.as_str().into(),
        lead_unit: c.lead_unit.as_ref().map(|u| u.0.clone()),
        status: c.status,
        created_at: c.created_at,
        dispatched_at: c.dispatched_at,
        accepted_at: c.accepted_at,
        resolved_at: c.resolved_at,
        closed_at: c.closed_at,
        response_due: c.response_due,
        handling_due: c.handling_due,
        visit_due: c.visit_due,
        first_tier: c.first_tier,
        escalations: c.escalations,
        reworks: c.reworks,
        reopens: c.reopens,
        was_deferred: c.was_deferred,
        missed_deadline: c.missed_deadline,
        final_rating: c.final_rating,
        first_rating: c.first_rating,
        closure_flag: c.closure_flag,
        persons: vec![],
    }
}

#[test]
fn a_case_returned_to_the_village_is_not_settled_locally() {
    let intake = actor(Role::Intake, "desk");
    let village = actor(Role::Handler, "vc");
    let town = actor(Role::Mediator, "tmc");
    let mut r = Run::new(Urgency::Routine, Tier::Village, at("2026-03-02T09:00:00"));
    r.act(&intake, Command::File { severity: None, note: None }, "2026-03-02T09:10:00").unwrap();
    r.act(&intake, Command::Dispatch { lead_unit: UnitId("vc".into()), co_units: vec![] }, "2026-03-02T09:20:00").unwrap();
    r.act(&village, Command::Accept, "2026-03-02T10:00:00").unwrap();
    // Returning needs a higher tier first.
    let err = r
        .act(&village, Command::ReturnToTier { to: UnitId("x".into()), tier: Tier::Village, decision: "d".into() }, "2026-03-02T10:30:00")
        .unwrap_err();
    assert_eq!(err.code(), "invalid_input");
    r.act(&village, Command::Escalate { to: UnitId("tmc".into()), tier: Tier::Town, reason: "not settled".into() }, "2026-03-02T11:00:00")
        .unwrap();
    // Only the town's unit (or a supervisor) may hand it back, with its decision.
    assert_eq!(
        r.act(
            &village,
            Command::ReturnToTier { to: UnitId("vc".into()), tier: Tier::Village, decision: "d".into() },
            "2026-03-03T09:00:00"
        )
        .unwrap_err()
        .code(),
        "forbidden"
    );
    assert_eq!(
        r.act(&town, Command::ReturnToTier { to: UnitId("vc".into()), tier: Tier::Village, decision: " ".into() }, "2026-03-03T09:00:00")
            .unwrap_err()
            .code(),
        "invalid_input"
    );
    // The town gets its own deadline (routine handling, five working days); the case's
    // handling deadline, which the figures judge, does not move.
    assert_eq!(show(r.case.tier_due.unwrap()), "2026-03-09T17:30:00+08:00");
    assert_eq!(show(r.case.handling_due.unwrap()), "2026-03-09T17:30:00+08:00");
    r.act(&town, Command::Accept, "2026-03-03T09:00:00").unwrap();
    r.act(
        &town,
        Command::ReturnToTier { to: UnitId("vc".into()), tier: Tier::Village, decision: "调解意见：赔偿500元".into() },
        "2026-03-04T09:00:00",
    )
    .unwrap();
    assert_eq!((r.case.status, r.case.tier, r.case.lead_unit.clone()), (Status::Dispatched, Tier::Village, Some(UnitId("vc".into()))));
    assert_eq!((r.case.escalations, r.case.returns), (1, 1));
    assert_eq!(r.case.tier_due, None);
    r.act(&village, Command::Accept, "2026-03-04T10:00:00").unwrap();
    r.act(&village, Command::Resolve { feedback: "paid".into() }, "2026-03-05T10:00:00").unwrap();
    r.act(
        &intake,
        Command::RecordVisit { party: None, channel: ContactChannel::Phone, reached: true, rating: Some(Rating::Satisfied), comment: None },
        "2026-03-05T15:00:00",
    )
    .unwrap();
    r.act(&intake, Command::Close { note: None }, "2026-03-05T16:00:00").unwrap();
    assert_eq!(Case::replay(CaseId(1), &r.events).unwrap(), r.case);
    let k = FigureCounts::from_facts(&[facts(&r.case)], &[], at("2026-03-06T00:00:00"), 30);
    assert_eq!((k.closed, k.local), (1, 0), "closed at the village after a town decision is not local settlement");
}

fn unit(id: &str, kind: UnitKind, region: &str) -> Unit {
    Unit { id: UnitId(id.into()), name: id.into(), name_en: None, kind, region: RegionCode::parse(region).unwrap(), handles: vec![] }
}

#[test]
fn the_ladder_starts_escalates_and_finds_the_next_unit() {
    let mut ladder = EscalationLadder::default();
    assert_eq!(ladder.starting_tier(Severity::Ordinary, "neighbour"), Tier::Village);
    assert_eq!(ladder.starting_tier(Severity::Serious, "neighbour"), Tier::Town);
    ladder.start_by_category.insert("land_requisition".into(), Tier::County);
    assert_eq!(ladder.starting_tier(Severity::Minor, "land_requisition"), Tier::County);

    let units = [
        unit("tmc-01", UnitKind::TownMediationCentre, "330681101000"),
        unit("tmc-02", UnitKind::TownMediationCentre, "330681102000"),
        unit("jo-01", UnitKind::JudicialOffice, "330681101000"),
        unit("county-centre", UnitKind::CountyMediationCentre, "330681000000"),
    ];
    let mut r = Run::new(Urgency::Routine, Tier::Village, at("2026-03-02T09:00:00"));
    assert_eq!(ladder.target(&r.case, &units), Some((Tier::Town, UnitId("tmc-01".into()))));
    r.case.tier = Tier::Town;
    assert_eq!(ladder.target(&r.case, &units), Some((Tier::County, UnitId("county-centre".into()))));
    r.case.tier = Tier::County;
    assert_eq!(ladder.target(&r.case, &units), None);
    assert!(!ladder.escalates_on(&r.case, Deadline::Handling), "nothing above the county");
    r.case.tier = Tier::Village;
    assert!(ladder.escalates_on(&r.case, Deadline::Handling));
    assert!(!ladder.escalates_on(&r.case, Deadline::Response));
    ladder.auto.severities = vec![Severity::Serious];
    assert!(!ladder.escalates_on(&r.case, Deadline::Handling));

    // The scheduler escalates as a system actor, and may do nothing else.
    let sys = Actor::System { job: "deadline".into() };
    let intake = actor(Role::Intake, "desk");
    r.act(&intake, Command::File { severity: None, note: None }, "2026-03-02T09:10:00").unwrap();
    r.act(&intake, Command::Dispatch { lead_unit: UnitId("vc".into()), co_units: vec![] }, "2026-03-02T09:20:00").unwrap();
    assert_eq!(r.act(&sys, Command::Accept, "2026-03-03T09:00:00").unwrap_err().code(), "forbidden");
    r.act(
        &sys,
        Command::Escalate { to: UnitId("tmc-01".into()), tier: Tier::Town, reason: "handling deadline missed".into() },
        "2026-03-10T09:00:00",
    )
    .unwrap();
    assert_eq!(r.events.last().unwrap().actor, "system:deadline");
}

/// A reopened case is handled again against fresh deadlines (its tier's too, if it was
/// escalated), so it is not overdue the moment it reopens; a round that missed its own
/// deadline keeps the case late in the on-time figure however fast the next round is.
#[test]
fn a_reopened_case_gets_fresh_deadlines_and_keeps_its_misses() {
    let intake = actor(Role::Intake, "desk");
    let village = actor(Role::Handler, "vc");
    let town = actor(Role::Mediator, "tmc");
    let satisfied = || Command::RecordVisit {
        party: None,
        channel: ContactChannel::Phone,
        reached: true,
        rating: Some(Rating::Satisfied),
        comment: None,
    };
    let counts = |r: &Run, t: &str| {
        let k = FigureCounts::from_facts(&[facts(&r.case)], &[], at(t), 30);
        (k.due, k.on_time)
    };

    // Escalated and settled in time, then reopened a month later.
    let mut r = Run::new(Urgency::Routine, Tier::Village, at("2026-03-02T09:00:00"));
    r.act(&intake, Command::File { severity: None, note: None }, "2026-03-02T09:10:00").unwrap();
    r.act(&intake, Command::Dispatch { lead_unit: UnitId("vc".into()), co_units: vec![] }, "2026-03-02T09:20:00").unwrap();
    r.act(&village, Command::Accept, "2026-03-02T10:00:00").unwrap();
    r.act(&village, Command::Escalate { to: UnitId("tmc".into()), tier: Tier::Town, reason: "not settled".into() }, "2026-03-02T11:00:00")
        .unwrap();
    r.act(&town, Command::Accept, "2026-03-03T09:00:00").unwrap();
    r.act(&town, Command::Resolve { feedback: "settled".into() }, "2026-03-04T09:00:00").unwrap();
    r.act(&intake, satisfied(), "2026-03-04T15:00:00").unwrap();
    r.act(&intake, Command::Close { note: None }, "2026-03-04T16:00:00").unwrap();
    assert_eq!(counts(&r, "2026-04-01T00:00:00"), (1, 1));
    r.act(&intake, Command::Reopen { reason: "当事人再次反映".into() }, "2026-04-08T09:00:00").unwrap();
    assert_eq!((r.case.status, r.case.reopens, r.case.missed_deadline), (Status::InProgress, 1, false));
    // Five working days from the reopening, for the case and for the town it sits with.
    assert_eq!(show(r.case.handling_due.unwrap()), "2026-04-15T17:30:00+08:00");
    assert_eq!(r.case.tier_due, r.case.handling_due);
    assert_eq!(r.case.visit_due, None, "due again once the new round is resolved");
    assert_eq!(counts(&r, "2026-04-09T00:00:00"), (1, 0), "not on time again until closed again");
    r.act(&town, Command::Resolve { feedback: "settled again".into() }, "2026-04-10T09:00:00").unwrap();
    r.act(&intake, satisfied(), "2026-04-10T15:00:00").unwrap();
    r.act(&intake, Command::Close { note: None }, "2026-04-10T16:00:00").unwrap();
    assert_eq!(counts(&r, "2026-05-01T00:00:00"), (1, 1));
    assert_eq!(Case::replay(CaseId(1), &r.events).unwrap(), r.case);

    // Resolved late, reopened, then settled within the new round: still late.
    let mut r = Run::new(Urgency::Routine, Tier::Village, at("2026-03-02T09:00:00"));
    r.act(&intake, Command::File { severity: None, note: None }, "2026-03-02T09:10:00").unwrap();
    r.act(&intake, Command::Dispatch { lead_unit: UnitId("vc".into()), co_units: vec![] }, "2026-03-02T09:20:00").unwrap();
    r.act(&village, Command::Accept, "2026-03-02T10:00:00").unwrap();
    r.act(&village, Command::Resolve { feedback: "late".into() }, "2026-03-20T09:00:00").unwrap();
    r.act(&intake, satisfied(), "2026-03-20T15:00:00").unwrap();
    r.act(&intake, Command::Close { note: None }, "2026-03-20T16:00:00").unwrap();
    assert_eq!(counts(&r, "2026-04-01T00:00:00"), (1, 0));
    r.act(&intake, Command::Reopen { reason: "问题复发".into() }, "2026-04-08T09:00:00").unwrap();
    assert!(r.case.missed_deadline);
    assert_eq!(r.case.tier_due, None, "never escalated: no tier deadline");
    // A deferral in the new round does not take the case out of the count either.
    r.act(&village, Command::Defer { reason: "等配件".into() }, "2026-04-08T10:00:00").unwrap();
    r.act(&village, Command::Resume, "2026-04-08T15:00:00").unwrap();
    r.act(&village, Command::Resolve { feedback: "fixed".into() }, "2026-04-09T09:00:00").unwrap();
    r.act(&intake, satisfied(), "2026-04-09T15:00:00").unwrap();
    r.act(&intake, Command::Close { note: None }, "2026-04-09T16:00:00").unwrap();
    assert_eq!(counts(&r, "2026-05-01T00:00:00"), (1, 0));
    assert_eq!(Case::replay(CaseId(1), &r.events).unwrap(), r.case);

    // A reopening recorded before reopenings carried deadlines replays as it was stored: the
    // old deadline kept, no round judged.
    let mut events = r.events.clone();
    let reopen = events.iter().position(|e| matches!(e.kind, EventKind::Reopened { .. })).unwrap();
    events[reopen].kind = serde_json::from_str(r#"{"type":"reopened","reason":"问题复发"}"#).unwrap();
    let old = Case::replay(CaseId(1), &events[..=reopen]).unwrap();
    assert!(!old.missed_deadline);
    assert_eq!(old.handling_due, Case::replay(CaseId(1), &events[..reopen]).unwrap().handling_due);
}

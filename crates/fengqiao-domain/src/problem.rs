//! Problem-solving records (SARA): staff group related cases into a problem and work it
//! through scanning, analysis, response and assessment, with responsible units and users,
//! actions (owner, due date, status), and before-and-after figures from the case data around
//! the start of the response.
//!
//! ```text
//! scanning ─advance─▶ analysis ─advance─▶ response ─advance─▶ assessment ─advance─▶ closed
//!                        ▲                   ▲                    │
//!                        └───────return──────┴──────return────────┘
//! ```
//!
//! Advancing needs what the next stage builds on: analysis needs cases; response needs a
//! written analysis and at least one action; closing needs a written assessment. The response
//! starts once: `response_started_at` is the first entry into the response stage, so the
//! before/after windows do not move when an assessment sends the problem back.

use serde::{Deserialize, Serialize};

use crate::case::CaseId;
use crate::clock::{DAY_MS, Timestamp};
use crate::error::{DomainError, FieldError};
use crate::region::RegionCode;
use crate::unit::UnitId;
use crate::user::Actor;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Scanning,
    Analysis,
    Response,
    Assessment,
    Closed,
}

impl Stage {
    pub const ALL: [Stage; 5] = [Stage::Scanning, Stage::Analysis, Stage::Response, Stage::Assessment, Stage::Closed];

    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Scanning => "scanning",
            Stage::Analysis => "analysis",
            Stage::Response => "response",
            Stage::Assessment => "assessment",
            Stage::Closed => "closed",
        }
    }

    pub fn parse(s: &str) -> Option<Stage> {
        Stage::ALL.into_iter().find(|x| x.as_str() == s)
    }

    pub fn next(self) -> Option<Stage> {
        match self {
            Stage::Scanning => Some(Stage::Analysis),
            Stage::Analysis => Some(Stage::Response),
            Stage::Response => Some(Stage::Assessment),
            Stage::Assessment => Some(Stage::Closed),
            Stage::Closed => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionStatus {
    Planned,
    InProgress,
    Done,
    Dropped,
}

impl ActionStatus {
    pub const ALL: [ActionStatus; 4] = [ActionStatus::Planned, ActionStatus::InProgress, ActionStatus::Done, ActionStatus::Dropped];

    pub fn as_str(self) -> &'static str {
        match self {
            ActionStatus::Planned => "planned",
            ActionStatus::InProgress => "in_progress",
            ActionStatus::Done => "done",
            ActionStatus::Dropped => "dropped",
        }
    }

    pub fn parse(s: &str) -> Option<ActionStatus> {
        ActionStatus::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

/// Who owns an action: a unit or a user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "id", rename_all = "snake_case")]
pub enum Owner {
    Unit(UnitId),
    User(String),
}

impl Owner {
    /// `unit:ID` or `user:ID`.
    pub fn parse(s: &str) -> Option<Owner> {
        let (kind, id) = s.trim().split_once(':')?;
        let id = id.trim();
        if id.is_empty() {
            return None;
        }
        match kind {
            "unit" => Some(Owner::Unit(UnitId(id.to_string()))),
            "user" => Some(Owner::User(id.to_string())),
            _ => None,
        }
    }

    pub fn label(&self) -> String {
        match self {
            Owner::Unit(u) => format!("unit:{u}"),
            Owner::User(u) => format!("user:{u}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProblemAction {
    /// 1, 2, … within the problem.
    pub id: u32,
    pub text: String,
    pub owner: Owner,
    pub due: Timestamp,
    pub status: ActionStatus,
    pub updated_at: Timestamp,
    pub done_at: Option<Timestamp>,
}

impl ProblemAction {
    pub fn overdue(&self, now: Timestamp) -> bool {
        matches!(self.status, ActionStatus::Planned | ActionStatus::InProgress) && now > self.due
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageChange {
    pub from: Stage,
    pub to: Stage,
    pub at: Timestamp,
    pub by: String,
    pub note: Option<String>,
}

/// One problem.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Problem {
    pub id: i64,
    pub title: String,
    pub description: String,
    /// Where it belongs, for scoping: the nearest region containing every region below.
    pub region: RegionCode,
    /// The places the figures are taken for (none inside another).
    pub regions: Vec<RegionCode>,
    /// The categories the figures are taken for.
    pub categories: Vec<String>,
    pub case_ids: Vec<CaseId>,
    pub stage: Stage,
    pub analysis: String,
    pub assessment: String,
    pub units: Vec<UnitId>,
    pub users: Vec<String>,
    pub actions: Vec<ProblemAction>,
    pub history: Vec<StageChange>,
    /// Days in each of the before and after windows.
    pub window_days: u32,
    pub created_by: String,
    pub created_at: Timestamp,
    pub response_started_at: Option<Timestamp>,
    pub closed_at: Option<Timestamp>,
    /// Incremented by every change; the optimistic-concurrency token.
    pub version: i64,
}

/// What a new problem is made of once its cases are known.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NewProblem {
    pub title: String,
    pub description: String,
    /// The cases, each with its region and category (read in the creator's scope).
    pub cases: Vec<(CaseId, RegionCode, String)>,
    /// When given, the figures' places; else the cases' places.
    pub regions: Vec<RegionCode>,
    /// When given, the figures' categories; else the cases' categories.
    pub categories: Vec<String>,
    pub window_days: Option<u32>,
}

pub const MAX_CASES: usize = 1000;
pub const MAX_REGIONS: usize = 20;
pub const MAX_CATEGORIES: usize = 5;
pub const DEFAULT_WINDOW_DAYS: u32 = 90;

/// What may be done to a problem.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum ProblemCommand {
    /// To the next stage.
    Advance {
        #[serde(default)]
        note: Option<String>,
    },
    /// From assessment back to response or analysis (the response did not work).
    Return {
        to: Stage,
        note: String,
    },
    /// Writes the analysis or the assessment (the text of the stage it belongs to).
    Write {
        #[serde(default)]
        analysis: Option<String>,
        #[serde(default)]
        assessment: Option<String>,
    },
    /// Adds cases (already read in the actor's scope).
    AddCases {
        case_ids: Vec<CaseId>,
    },
    /// Sets the responsible units and users.
    SetResponsible {
        units: Vec<UnitId>,
        users: Vec<String>,
    },
    AddAction {
        text: String,
        owner: Owner,
        due: Timestamp,
    },
    SetActionStatus {
        action: u32,
        status: ActionStatus,
    },
}

impl ProblemCommand {
    pub fn name(&self) -> &'static str {
        match self {
            ProblemCommand::Advance { .. } => "advance",
            ProblemCommand::Return { .. } => "return",
            ProblemCommand::Write { .. } => "write",
            ProblemCommand::AddCases { .. } => "add_cases",
            ProblemCommand::SetResponsible { .. } => "set_responsible",
            ProblemCommand::AddAction { .. } => "add_action",
            ProblemCommand::SetActionStatus { .. } => "set_action_status",
        }
    }
}

fn text(field: &str, s: &str, max: usize, errs: &mut Vec<FieldError>) -> String {
    let t = s.trim();
    if t.is_empty() {
        errs.push(FieldError::new(field, "must not be blank"));
    } else if t.chars().count() > max {
        errs.push(FieldError::new(field, format!("at most {max} characters")));
    }
    t.to_string()
}

/// The nearest region containing all of `codes` (the county when they share nothing lower).
pub fn common_region(codes: &[RegionCode]) -> Option<RegionCode> {
    let mut best = codes.first()?.clone();
    while !codes.iter().all(|c| best.contains(c)) {
        best = best.parent()?;
    }
    Some(best)
}

/// Drops every region another one in the list contains, and duplicates; sorted.
pub fn outermost(codes: &[RegionCode]) -> Vec<RegionCode> {
    let mut v: Vec<RegionCode> = codes.to_vec();
    v.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    v.dedup();
    let keep: Vec<RegionCode> = v.iter().filter(|c| !v.iter().any(|o| o != *c && o.contains(c))).cloned().collect();
    keep
}

/// The outermost places of `codes`, each replaced by its parent, level by level, until at
/// most `max` remain (or only the county is left).
pub fn coarsen(codes: &[RegionCode], max: usize) -> Vec<RegionCode> {
    use crate::region::RegionLevel;
    let depth = |c: &RegionCode| match c.level() {
        RegionLevel::County => 0,
        RegionLevel::Town => 1,
        RegionLevel::Village => 2,
        RegionLevel::Grid => 3,
    };
    let mut v = outermost(codes);
    while v.len() > max {
        // Only the deepest places move up a level at a time.
        let deepest = v.iter().map(depth).max().unwrap_or(0);
        let up: Vec<RegionCode> =
            v.iter().map(|c| if depth(c) == deepest { c.parent().unwrap_or_else(|| c.clone()) } else { c.clone() }).collect();
        let next = outermost(&up);
        if next == v {
            break;
        }
        v = next;
    }
    v
}

fn who(actor: &Actor) -> Result<(crate::user::Role, Option<&UnitId>, &RegionCode, String), DomainError> {
    match actor {
        Actor::User { role, unit, jurisdiction, .. } => Ok((*role, unit.as_ref(), jurisdiction, actor.label())),
        _ => Err(DomainError::Forbidden("only staff work on problems".into())),
    }
}

/// Intake staff, supervisors and administrators open problems and move them on; handlers of a
/// responsible unit work on the actions.
fn leads(role: crate::user::Role) -> bool {
    matches!(role, crate::user::Role::Intake | crate::user::Role::Supervisor | crate::user::Role::Admin)
}

impl Problem {
    /// A new problem in the scanning stage, checked whole: every problem with the input listed.
    pub fn open(actor: &Actor, n: &NewProblem, now: Timestamp) -> Result<Problem, DomainError> {
        let (role, _, jurisdiction, label) = who(actor)?;
        if !leads(role) {
            return Err(DomainError::Forbidden(format!("a {} may not open a problem", role.as_str())));
        }
        let mut errs = Vec::new();
        let title = text("title", &n.title, 200, &mut errs);
        let description = n.description.trim().to_string();
        if description.chars().count() > 4000 {
            errs.push(FieldError::new("description", "at most 4000 characters"));
        }
        if n.cases.is_empty() {
            errs.push(FieldError::new("case_ids", "name at least one case (or filters that find some)"));
        } else if n.cases.len() > MAX_CASES {
            errs.push(FieldError::new("case_ids", format!("at most {MAX_CASES} cases")));
        }
        let window_days = n.window_days.unwrap_or(DEFAULT_WINDOW_DAYS);
        if !(1..=730).contains(&window_days) {
            errs.push(FieldError::new("window_days", "between 1 and 730"));
        }
        // Named places are kept as named; the cases' own places are coarsened (grids to
        // villages to towns) until there are few enough to count.
        let regions = if n.regions.is_empty() {
            coarsen(&n.cases.iter().map(|c| c.1.clone()).collect::<Vec<_>>(), MAX_REGIONS)
        } else {
            outermost(&n.regions)
        };
        for (i, r) in regions.iter().enumerate() {
            if !jurisdiction.contains(r) {
                errs.push(FieldError::new(format!("regions[{i}]"), format!("{r} lies outside your jurisdiction")));
            }
        }
        if regions.len() > MAX_REGIONS {
            errs.push(FieldError::new("regions", format!("at most {MAX_REGIONS} places (name a town instead of its villages)")));
        }
        let mut categories = if n.categories.is_empty() { n.cases.iter().map(|c| c.2.clone()).collect() } else { n.categories.clone() };
        categories.iter_mut().for_each(|c| *c = c.trim().to_string());
        categories.sort();
        categories.dedup();
        if categories.len() > MAX_CATEGORIES {
            errs.push(FieldError::new("categories", format!("at most {MAX_CATEGORIES} categories")));
        }
        if !errs.is_empty() {
            return Err(DomainError::Invalid(errs));
        }
        let mut case_ids: Vec<CaseId> = n.cases.iter().map(|c| c.0).collect();
        case_ids.sort();
        case_ids.dedup();
        let region = common_region(&regions).unwrap_or_else(|| jurisdiction.clone());
        Ok(Problem {
            id: 0,
            title,
            description,
            region,
            regions,
            categories,
            case_ids,
            stage: Stage::Scanning,
            analysis: String::new(),
            assessment: String::new(),
            units: Vec::new(),
            users: Vec::new(),
            actions: Vec::new(),
            history: Vec::new(),
            window_days,
            created_by: label,
            created_at: now,
            response_started_at: None,
            closed_at: None,
            version: 1,
        })
    }

    /// Whether the actor is named responsible (their unit, or themselves).
    pub fn responsible(&self, actor: &Actor) -> bool {
        match actor {
            Actor::User { id, unit, .. } => self.users.contains(id) || unit.as_ref().is_some_and(|u| self.units.contains(u)),
            _ => false,
        }
    }

    /// Applies a command, all or nothing; returns the audit event's kind.
    pub fn act(&mut self, actor: &Actor, cmd: &ProblemCommand, now: Timestamp) -> Result<&'static str, DomainError> {
        let (role, unit, _, label) = who(actor)?;
        let lead = leads(role);
        let mut next = self.clone();
        let kind = match cmd {
            ProblemCommand::Advance { note } => {
                if !lead {
                    return Err(DomainError::Forbidden("only intake staff, supervisors and administrators move a problem on".into()));
                }
                let Some(to) = self.stage.next() else {
                    return Err(DomainError::IllegalTransition { command: "advance", status: self.stage.as_str() });
                };
                let note = note.as_deref().map(str::trim).filter(|n| !n.is_empty()).map(str::to_string);
                match to {
                    Stage::Analysis if self.case_ids.is_empty() => {
                        return Err(DomainError::Precondition("a problem needs cases before analysis".into()));
                    }
                    Stage::Response if self.analysis.trim().is_empty() => {
                        return Err(DomainError::Precondition("write the analysis before the response".into()));
                    }
                    Stage::Response if self.actions.is_empty() => {
                        return Err(DomainError::Precondition("plan at least one action before the response".into()));
                    }
                    Stage::Closed if self.assessment.trim().is_empty() => {
                        return Err(DomainError::Precondition("write the assessment before closing".into()));
                    }
                    _ => {}
                }
                if to == Stage::Response {
                    next.response_started_at.get_or_insert(now);
                }
                if to == Stage::Closed {
                    next.closed_at = Some(now);
                }
                next.history.push(StageChange { from: self.stage, to, at: now, by: label, note });
                next.stage = to;
                "problem_advanced"
            }
            ProblemCommand::Return { to, note } => {
                if !lead {
                    return Err(DomainError::Forbidden("only intake staff, supervisors and administrators move a problem back".into()));
                }
                if self.stage != Stage::Assessment {
                    return Err(DomainError::IllegalTransition { command: "return", status: self.stage.as_str() });
                }
                let mut errs = Vec::new();
                if !matches!(to, Stage::Analysis | Stage::Response) {
                    errs.push(FieldError::new("to", "back to analysis or response"));
                }
                let note = text("note", note, 2000, &mut errs);
                if !errs.is_empty() {
                    return Err(DomainError::Invalid(errs));
                }
                next.history.push(StageChange { from: self.stage, to: *to, at: now, by: label, note: Some(note) });
                next.stage = *to;
                "problem_returned"
            }
            ProblemCommand::Write { analysis, assessment } => {
                if !lead {
                    return Err(DomainError::Forbidden("only intake staff, supervisors and administrators write the record".into()));
                }
                if self.stage == Stage::Closed {
                    return Err(DomainError::IllegalTransition { command: "write", status: self.stage.as_str() });
                }
                let mut errs = Vec::new();
                if analysis.is_none() && assessment.is_none() {
                    errs.push(FieldError::new("analysis", "give the analysis or the assessment"));
                }
                if let Some(a) = analysis {
                    next.analysis = text("analysis", a, 8000, &mut errs);
                }
                if let Some(a) = assessment {
                    if self.stage != Stage::Assessment {
                        errs.push(FieldError::new("assessment", "the assessment is written in the assessment stage"));
                    }
                    next.assessment = text("assessment", a, 8000, &mut errs);
                }
                if !errs.is_empty() {
                    return Err(DomainError::Invalid(errs));
                }
                "problem_written"
            }
            ProblemCommand::AddCases { case_ids } => {
                if !lead {
                    return Err(DomainError::Forbidden("only intake staff, supervisors and administrators add cases".into()));
                }
                if self.stage == Stage::Closed {
                    return Err(DomainError::IllegalTransition { command: "add_cases", status: self.stage.as_str() });
                }
                if case_ids.is_empty() {
                    return Err(DomainError::invalid("case_ids", "name at least one case"));
                }
                next.case_ids.extend(case_ids.iter().copied());
                next.case_ids.sort();
                next.case_ids.dedup();
                if next.case_ids.len() > MAX_CASES {
                    return Err(DomainError::invalid("case_ids", format!("at most {MAX_CASES} cases")));
                }
                "problem_cases_added"
            }
            ProblemCommand::SetResponsible { units, users } => {
                if !lead {
                    return Err(DomainError::Forbidden("only intake staff, supervisors and administrators name who is responsible".into()));
                }
                if self.stage == Stage::Closed {
                    return Err(DomainError::IllegalTransition { command: "set_responsible", status: self.stage.as_str() });
                }
                let mut units = units.clone();
                units.sort();
                units.dedup();
                let mut users: Vec<String> = users.iter().map(|u| u.trim().to_string()).filter(|u| !u.is_empty()).collect();
                users.sort();
                users.dedup();
                if units.len() + users.len() > 50 {
                    return Err(DomainError::invalid("units", "at most 50 responsible units and users"));
                }
                next.units = units;
                next.users = users;
                "problem_responsible_set"
            }
            ProblemCommand::AddAction { text: t, owner, due } => {
                if !lead {
                    return Err(DomainError::Forbidden("only intake staff, supervisors and administrators plan actions".into()));
                }
                if self.stage == Stage::Closed {
                    return Err(DomainError::IllegalTransition { command: "add_action", status: self.stage.as_str() });
                }
                let mut errs = Vec::new();
                let t = text("text", t, 2000, &mut errs);
                if *due <= now {
                    errs.push(FieldError::new("due", "the due date must be in the future"));
                }
                if self.actions.len() >= 200 {
                    errs.push(FieldError::new("text", "at most 200 actions"));
                }
                if !errs.is_empty() {
                    return Err(DomainError::Invalid(errs));
                }
                let id = self.actions.iter().map(|a| a.id).max().unwrap_or(0) + 1;
                next.actions.push(ProblemAction {
                    id,
                    text: t,
                    owner: owner.clone(),
                    due: *due,
                    status: ActionStatus::Planned,
                    updated_at: now,
                    done_at: None,
                });
                "problem_action_added"
            }
            ProblemCommand::SetActionStatus { action, status } => {
                if self.stage == Stage::Closed {
                    return Err(DomainError::IllegalTransition { command: "set_action_status", status: self.stage.as_str() });
                }
                let Some(a) = next.actions.iter_mut().find(|a| a.id == *action) else {
                    return Err(DomainError::invalid("action", format!("no action {action}")));
                };
                let owns = match &a.owner {
                    Owner::Unit(u) => unit == Some(u),
                    Owner::User(u) => actor.label() == format!("user:{u}"),
                };
                if !(lead || owns) {
                    return Err(DomainError::Forbidden("only the action's owner or the problem's leads update it".into()));
                }
                if a.status == *status {
                    return Err(DomainError::Precondition(format!("the action is already {}", status.as_str())));
                }
                a.status = *status;
                a.updated_at = now;
                a.done_at = (*status == ActionStatus::Done).then_some(now);
                "problem_action_updated"
            }
        };
        next.version += 1;
        *self = next;
        Ok(kind)
    }

    /// The before and after windows around the response start: `[start − w, start)` and
    /// `[start, start + w)`. Before the response starts, the before window ends now and there
    /// is no after window yet.
    pub fn windows(&self, now: Timestamp) -> (Window, Option<Window>) {
        let w = self.window_days as i64 * DAY_MS;
        match self.response_started_at {
            Some(s) => (Window { from: s.plus_ms(-w), to: s }, Some(Window { from: s, to: s.plus_ms(w) })),
            None => (Window { from: now.plus_ms(-w), to: now }, None),
        }
    }
}

/// A half-open period `[from, to)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    pub from: Timestamp,
    pub to: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::HOUR_MS;
    use crate::user::Role;
    use proptest::prelude::*;

    fn user(role: Role, unit: Option<&str>) -> Actor {
        Actor::User {
            id: "u1".into(),
            role,
            unit: unit.map(|u| UnitId(u.into())),
            jurisdiction: RegionCode::parse("330681101000").unwrap(),
        }
    }

    fn code(s: &str) -> RegionCode {
        RegionCode::parse(s).unwrap()
    }

    fn new_problem() -> NewProblem {
        NewProblem {
            title: "夜市噪声".into(),
            description: String::new(),
            cases: vec![
                (CaseId(1), code("330681101001"), "noise".into()),
                (CaseId(2), code("330681101002"), "noise".into()),
                (CaseId(1), code("330681101001"), "noise".into()),
            ],
            ..Default::default()
        }
    }

    const T0: Timestamp = Timestamp(1_767_225_600_000);

    #[test]
    fn regions_reduce_and_share_an_ancestor() {
        let v = outermost(&[code("330681101001"), code("330681101000"), code("330681102001"), code("330681101001")]);
        assert_eq!(v, vec![code("330681101000"), code("330681102001")]);
        assert_eq!(common_region(&v), Some(code("330681000000")));
        assert_eq!(common_region(&[code("330681101001"), code("330681101002")]), Some(code("330681101000")));
        let many: Vec<RegionCode> = (1..=60).map(|i| code(&format!("330681{:03}{:03}", 100 + i % 3, i))).collect();
        assert_eq!(
            coarsen(&many, 50),
            vec![code("330681100000"), code("330681101000"), code("330681102000")],
            "villages become their towns"
        );
        assert_eq!(coarsen(&many[..2], 50), outermost(&many[..2]), "few enough stay as they are");
    }

    #[test]
    fn open_checks_everything_at_once() {
        let sup = user(Role::Supervisor, None);
        assert!(matches!(Problem::open(&user(Role::Handler, Some("vc")), &new_problem(), T0), Err(DomainError::Forbidden(_))));
        let bad = NewProblem { title: " ".into(), cases: vec![], window_days: Some(0), ..Default::default() };
        let Err(DomainError::Invalid(errs)) = Problem::open(&sup, &bad, T0) else { panic!() };
        let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["title", "case_ids", "window_days"]);
        let far = NewProblem { regions: vec![code("330681102001")], ..new_problem() };
        assert!(Problem::open(&sup, &far, T0).is_err(), "outside the jurisdiction");
        let p = Problem::open(&sup, &new_problem(), T0).unwrap();
        assert_eq!(p.case_ids, [CaseId(1), CaseId(2)]);
        assert_eq!(p.region, code("330681101000"));
        assert_eq!(p.categories, ["noise"]);
        assert_eq!(p.stage, Stage::Scanning);
    }

    #[test]
    fn a_problem_goes_through_sara() {
        let sup = user(Role::Supervisor, None);
        let handler = user(Role::Handler, Some("vc"));
        let mut p = Problem::open(&sup, &new_problem(), T0).unwrap();
        let adv = ProblemCommand::Advance { note: None };
        assert_eq!(p.act(&sup, &adv, T0).unwrap(), "problem_advanced");
        assert!(matches!(p.act(&sup, &adv, T0), Err(DomainError::Precondition(_))), "no analysis yet");
        p.act(&sup, &ProblemCommand::Write { analysis: Some("集中在周末夜间".into()), assessment: None }, T0).unwrap();
        assert!(matches!(p.act(&sup, &adv, T0), Err(DomainError::Precondition(_))), "no action yet");
        let add =
            ProblemCommand::AddAction { text: "调整摊位".into(), owner: Owner::Unit(UnitId("vc".into())), due: T0.plus_hours(48) };
        assert!(p.act(&handler, &add, T0).is_err(), "handlers do not plan");
        p.act(&sup, &add, T0).unwrap();
        let v = p.version;
        assert!(
            p.act(&user(Role::Handler, Some("other")), &ProblemCommand::SetActionStatus { action: 1, status: ActionStatus::Done }, T0)
                .is_err()
        );
        assert_eq!(p.version, v, "a refused command changes nothing");
        p.act(&handler, &ProblemCommand::SetActionStatus { action: 1, status: ActionStatus::Done }, T0.plus_hours(1)).unwrap();
        assert_eq!(p.actions[0].done_at, Some(T0.plus_hours(1)));
        p.act(&sup, &adv, T0.plus_hours(2)).unwrap();
        assert_eq!((p.stage, p.response_started_at), (Stage::Response, Some(T0.plus_hours(2))));
        p.act(&sup, &adv, T0.plus_hours(3)).unwrap();
        p.act(&sup, &ProblemCommand::Return { to: Stage::Response, note: "仍有投诉".into() }, T0.plus_hours(4)).unwrap();
        p.act(&sup, &adv, T0.plus_hours(5)).unwrap();
        assert_eq!(p.response_started_at, Some(T0.plus_hours(2)), "the response starts once");
        assert!(p.act(&sup, &adv, T0).is_err(), "no assessment yet");
        p.act(&sup, &ProblemCommand::Write { analysis: None, assessment: Some("投诉下降".into()) }, T0).unwrap();
        p.act(&sup, &adv, T0.plus_hours(6)).unwrap();
        assert_eq!(p.stage, Stage::Closed);
        assert!(matches!(p.act(&sup, &adv, T0), Err(DomainError::IllegalTransition { .. })));
        let (before, after) = p.windows(T0);
        assert_eq!(before.to, T0.plus_hours(2));
        assert_eq!(after.unwrap().to.0 - after.unwrap().from.0, 90 * 24 * HOUR_MS);
    }

    fn command() -> impl Strategy<Value = (u8, ProblemCommand)> {
        let cmd = prop_oneof![
            Just(ProblemCommand::Advance { note: None }),
            Just(ProblemCommand::Return { to: Stage::Response, note: "n".into() }),
            Just(ProblemCommand::Return { to: Stage::Scanning, note: "n".into() }),
            Just(ProblemCommand::Write { analysis: Some("a".into()), assessment: None }),
            Just(ProblemCommand::Write { analysis: None, assessment: Some("b".into()) }),
            Just(ProblemCommand::Write { analysis: Some(" ".into()), assessment: None }),
            Just(ProblemCommand::AddAction { text: "x".into(), owner: Owner::Unit(UnitId("vc".into())), due: T0.plus_hours(1000) }),
            (1u32..4, 0usize..4).prop_map(|(a, s)| ProblemCommand::SetActionStatus { action: a, status: ActionStatus::ALL[s] }),
            Just(ProblemCommand::AddCases { case_ids: vec![CaseId(9)] }),
        ];
        (0u8..3, cmd)
    }

    proptest! {
        /// Random commands by random actors: a refused command changes nothing, an accepted
        /// one bumps the version once, and no stage is reached without what it needs.
        #[test]
        fn no_illegal_state_is_reachable(cmds in proptest::collection::vec(command(), 0..40)) {
            let actors = [user(Role::Supervisor, None), user(Role::Handler, Some("vc")), user(Role::Intake, None)];
            let mut p = Problem::open(&actors[0], &new_problem(), T0).unwrap();
            for (i, (who, cmd)) in cmds.iter().enumerate() {
                let before = p.clone();
                let now = T0.plus_hours(i as i64);
                match p.act(&actors[*who as usize], cmd, now) {
                    Ok(_) => prop_assert_eq!(p.version, before.version + 1),
                    Err(_) => prop_assert_eq!(&p, &before),
                }
                if p.stage >= Stage::Response {
                    prop_assert!(!p.analysis.trim().is_empty() && !p.actions.is_empty());
                    prop_assert!(p.response_started_at.is_some());
                }
                if p.stage == Stage::Closed {
                    prop_assert!(!p.assessment.trim().is_empty() && p.closed_at.is_some());
                }
                prop_assert_eq!(p.history.len(), p.history.iter().filter(|h| h.from != h.to).count());
            }
        }
    }
}

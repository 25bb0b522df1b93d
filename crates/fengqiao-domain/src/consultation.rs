//! Community consultation (议事协商): a matter, opened by staff from a hotspot, an alert or a
//! group of cases, is put to a region's residents for a set period. Residents on the roll who
//! live in the region's subtree propose, comment and give one support each; the committee
//! records its decision and official answer; the follow-through is tracked as milestones and a
//! progress percentage, shown on a public page without personal data.
//!
//! ```text
//! open ─(period ends)─▶ closed for input ─decide─▶ decided ─progress 100─▶ completed
//!   └───────────────────────decide──────────────────┘
//! ```

use serde::{Deserialize, Serialize};

use crate::clock::{DAY_MS, Timestamp};
use crate::error::{DomainError, FieldError};
use crate::region::RegionCode;
use crate::user::Actor;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsultStatus {
    Open,
    Decided,
    Completed,
}

impl ConsultStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ConsultStatus::Open => "open",
            ConsultStatus::Decided => "decided",
            ConsultStatus::Completed => "completed",
        }
    }

    pub fn parse(s: &str) -> Option<ConsultStatus> {
        [ConsultStatus::Open, ConsultStatus::Decided, ConsultStatus::Completed].into_iter().find(|x| x.as_str() == s)
    }
}

/// Where the matter came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ConsultSource {
    /// A hot spot of the figures or the map, described by staff.
    Hotspot { note: String },
    /// An early-warning alert, by its reference.
    Alert { reference: String },
    /// A group of related cases.
    Cases { ids: Vec<i64> },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// The committee's recorded decision.
    pub text: String,
    /// The official answer to the residents.
    pub answer: String,
    pub by: String,
    pub at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Milestone {
    pub title: String,
    #[serde(default)]
    pub due: Option<Timestamp>,
    #[serde(default)]
    pub done_at: Option<Timestamp>,
}

/// One consultation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Consultation {
    pub id: i64,
    /// Whose residents take part: those living in this region's subtree.
    pub region: RegionCode,
    pub title: String,
    pub description: String,
    pub source: ConsultSource,
    pub opened_by: String,
    pub opened_at: Timestamp,
    /// Proposals, comments and supports are taken until this time.
    pub closes_at: Timestamp,
    pub status: ConsultStatus,
    pub decision: Option<Decision>,
    pub milestones: Vec<Milestone>,
    /// 0 to 100.
    pub progress: u8,
    #[serde(default)]
    pub progress_note: Option<String>,
    /// Incremented by every change; the optimistic-concurrency token.
    pub version: i64,
}

/// What staff may do to a consultation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum ConsultCommand {
    /// The committee's decision and official answer; ends the period of input.
    Decide {
        text: String,
        answer: String,
    },
    AddMilestone {
        title: String,
        #[serde(default)]
        due: Option<Timestamp>,
    },
    CompleteMilestone {
        index: usize,
    },
    /// Progress of the follow-through; 100 completes the consultation.
    Progress {
        percent: u8,
        #[serde(default)]
        note: Option<String>,
    },
}

/// The longest period a consultation may stay open.
pub const MAX_PERIOD_DAYS: i64 = 90;

fn text(errs: &mut Vec<FieldError>, field: &str, s: &str, max: usize) -> String {
    let t = s.trim();
    if t.is_empty() {
        errs.push(FieldError::new(field, "required"));
    } else if t.chars().count() > max {
        errs.push(FieldError::new(field, format!("at most {max} characters")));
    }
    t.to_string()
}

/// A resident's proposal or comment text.
pub fn entry_text(field: &str, s: &str) -> Result<String, DomainError> {
    let mut errs = Vec::new();
    let t = text(&mut errs, field, s, 2000);
    if errs.is_empty() { Ok(t) } else { Err(DomainError::Invalid(errs)) }
}

fn staff_who_may_manage(actor: &Actor, region: &RegionCode) -> Result<(), DomainError> {
    let Actor::User { role, jurisdiction, .. } = actor else {
        return Err(DomainError::Forbidden("only staff manage consultations".into()));
    };
    if role.handles() {
        return Err(DomainError::Forbidden(format!("a {} may not manage consultations", role.as_str())));
    }
    if !jurisdiction.contains(region) {
        return Err(DomainError::Forbidden("the region lies outside your jurisdiction".into()));
    }
    Ok(())
}

impl Consultation {
    /// A new consultation, checked whole: staff (not handlers) within their jurisdiction, a
    /// title and description, a source, and a closing time in the future within
    /// [`MAX_PERIOD_DAYS`].
    pub fn open(
        actor: &Actor,
        region: RegionCode,
        title: &str,
        description: &str,
        source: ConsultSource,
        closes_at: Timestamp,
        now: Timestamp,
    ) -> Result<Consultation, DomainError> {
        staff_who_may_manage(actor, &region)?;
        let mut errs = Vec::new();
        let title = text(&mut errs, "title", title, 200);
        let description = text(&mut errs, "description", description, 4000);
        match &source {
            ConsultSource::Hotspot { note } if note.trim().is_empty() => errs.push(FieldError::new("source.note", "required")),
            ConsultSource::Alert { reference } if reference.trim().is_empty() => errs.push(FieldError::new("source.reference", "required")),
            ConsultSource::Cases { ids } if ids.is_empty() => errs.push(FieldError::new("source.ids", "name at least one case")),
            _ => {}
        }
        if closes_at <= now {
            errs.push(FieldError::new("closes_at", "the period must end in the future"));
        } else if closes_at.0 - now.0 > MAX_PERIOD_DAYS * DAY_MS {
            errs.push(FieldError::new("closes_at", format!("at most {MAX_PERIOD_DAYS} days")));
        }
        if !errs.is_empty() {
            return Err(DomainError::Invalid(errs));
        }
        Ok(Consultation {
            id: 0,
            region,
            title,
            description,
            source,
            opened_by: actor.label(),
            opened_at: now,
            closes_at,
            status: ConsultStatus::Open,
            decision: None,
            milestones: Vec::new(),
            progress: 0,
            progress_note: None,
            version: 1,
        })
    }

    /// Whether residents may still propose, comment and support.
    pub fn accepts_input(&self, now: Timestamp) -> bool {
        self.status == ConsultStatus::Open && now < self.closes_at
    }

    /// Refuses input after the period or the decision.
    pub fn check_input(&self, now: Timestamp) -> Result<(), DomainError> {
        if self.accepts_input(now) {
            Ok(())
        } else {
            Err(DomainError::Precondition("this consultation no longer takes proposals, comments or supports".into()))
        }
    }

    /// Applies a staff command, returning the audit event's kind. A refused command changes
    /// nothing.
    pub fn act(&mut self, actor: &Actor, cmd: &ConsultCommand, now: Timestamp) -> Result<&'static str, DomainError> {
        staff_who_may_manage(actor, &self.region)?;
        let illegal = |command: &'static str, s: ConsultStatus| DomainError::IllegalTransition { command, status: s.as_str() };
        let mut errs = Vec::new();
        let kind = match cmd {
            ConsultCommand::Decide { text: t, answer } => {
                if !actor.role().is_some_and(|r| r.supervises()) {
                    return Err(DomainError::Forbidden("only a supervisor records the committee's decision".into()));
                }
                if self.status != ConsultStatus::Open {
                    return Err(illegal("decide", self.status));
                }
                let t = text(&mut errs, "text", t, 4000);
                let answer = text(&mut errs, "answer", answer, 4000);
                if !errs.is_empty() {
                    return Err(DomainError::Invalid(errs));
                }
                self.decision = Some(Decision { text: t, answer, by: actor.label(), at: now });
                self.status = ConsultStatus::Decided;
                "consultation_decided"
            }
            ConsultCommand::AddMilestone { title, due } => {
                if self.status != ConsultStatus::Decided {
                    return Err(illegal("add_milestone", self.status));
                }
                let title = text(&mut errs, "title", title, 300);
                if !errs.is_empty() {
                    return Err(DomainError::Invalid(errs));
                }
                self.milestones.push(Milestone { title, due: *due, done_at: None });
                "consultation_milestone_added"
            }
            ConsultCommand::CompleteMilestone { index } => {
                if self.status != ConsultStatus::Decided {
                    return Err(illegal("complete_milestone", self.status));
                }
                match self.milestones.get_mut(*index) {
                    Some(m) if m.done_at.is_none() => m.done_at = Some(now),
                    Some(_) => return Err(DomainError::Precondition("that milestone is already done".into())),
                    None => return Err(DomainError::invalid("index", "no such milestone")),
                }
                "consultation_milestone_done"
            }
            ConsultCommand::Progress { percent, note } => {
                if self.status != ConsultStatus::Decided {
                    return Err(illegal("progress", self.status));
                }
                if *percent > 100 {
                    return Err(DomainError::invalid("percent", "between 0 and 100"));
                }
                if *percent < self.progress {
                    return Err(DomainError::invalid("percent", "progress does not go back"));
                }
                let note = note.as_deref().filter(|n| !n.trim().is_empty()).map(|n| text(&mut errs, "note", n, 2000));
                if !errs.is_empty() {
                    return Err(DomainError::Invalid(errs));
                }
                self.progress = *percent;
                self.progress_note = note;
                if *percent == 100 {
                    self.status = ConsultStatus::Completed;
                    "consultation_completed"
                } else {
                    "consultation_progress"
                }
            }
        };
        self.version += 1;
        Ok(kind)
    }
}

/// A resident's proposal. The author is kept for the one-support rule and never shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Proposal {
    pub id: i64,
    pub consultation_id: i64,
    pub resident_id: i64,
    pub text: String,
    pub at: Timestamp,
}

/// A resident's comment, on the matter or on one proposal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comment {
    pub id: i64,
    pub consultation_id: i64,
    #[serde(default)]
    pub proposal_id: Option<i64>,
    pub resident_id: i64,
    pub text: String,
    pub at: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::user::Role;

    fn user(role: Role, j: &str) -> Actor {
        Actor::User { id: "u".into(), role, unit: None, jurisdiction: RegionCode::parse(j).unwrap() }
    }

    #[test]
    fn a_consultation_is_opened_decided_and_followed_through() {
        let t0 = Timestamp(1_767_225_600_000);
        let village = RegionCode::parse("330681101001").unwrap();
        let src = || ConsultSource::Cases { ids: vec![1, 2] };
        let sup = user(Role::Supervisor, "330681101000");
        assert!(matches!(
            Consultation::open(&user(Role::Handler, "330681101000"), village.clone(), "t", "d", src(), t0.plus_hours(48), t0),
            Err(DomainError::Forbidden(_))
        ));
        assert!(matches!(
            Consultation::open(&user(Role::Supervisor, "330681102000"), village.clone(), "t", "d", src(), t0.plus_hours(48), t0),
            Err(DomainError::Forbidden(_))
        ));
        match Consultation::open(&sup, village.clone(), " ", "", ConsultSource::Cases { ids: vec![] }, t0, t0) {
            Err(DomainError::Invalid(e)) => assert_eq!(e.len(), 4, "{e:?}"),
            other => panic!("{other:?}"),
        }
        let mut c = Consultation::open(&sup, village, "村口停车", "如何规划停车位", src(), t0.plus_hours(48), t0).unwrap();
        assert!(c.accepts_input(t0.plus_hours(47)));
        assert!(!c.accepts_input(t0.plus_hours(48)));
        let progress = ConsultCommand::Progress { percent: 10, note: None };
        assert!(matches!(c.act(&sup, &progress, t0), Err(DomainError::IllegalTransition { .. })));
        let decide = ConsultCommand::Decide { text: "划线停车".into(), answer: "两周内完成".into() };
        assert!(matches!(c.act(&user(Role::Intake, "330681101000"), &decide, t0), Err(DomainError::Forbidden(_))));
        assert!(c.act(&sup, &ConsultCommand::Decide { text: "".into(), answer: "".into() }, t0).is_err());
        assert_eq!(c.version, 1, "refused commands change nothing");
        assert_eq!(c.act(&sup, &decide, t0.plus_hours(50)).unwrap(), "consultation_decided");
        assert!(!c.accepts_input(t0.plus_hours(1)), "a decision ends the input");
        assert_eq!(
            c.act(&sup, &ConsultCommand::AddMilestone { title: "划线".into(), due: None }, t0).unwrap(),
            "consultation_milestone_added"
        );
        assert!(c.act(&sup, &ConsultCommand::CompleteMilestone { index: 3 }, t0).is_err());
        c.act(&sup, &ConsultCommand::CompleteMilestone { index: 0 }, t0.plus_hours(60)).unwrap();
        assert!(c.act(&sup, &ConsultCommand::CompleteMilestone { index: 0 }, t0).is_err());
        c.act(&sup, &ConsultCommand::Progress { percent: 60, note: Some("已划线".into()) }, t0).unwrap();
        assert!(c.act(&sup, &ConsultCommand::Progress { percent: 50, note: None }, t0).is_err(), "no going back");
        assert!(c.act(&sup, &ConsultCommand::Progress { percent: 101, note: None }, t0).is_err());
        assert_eq!(c.act(&sup, &ConsultCommand::Progress { percent: 100, note: None }, t0).unwrap(), "consultation_completed");
        assert_eq!((c.status, c.progress, c.version), (ConsultStatus::Completed, 100, 6));
    }
}

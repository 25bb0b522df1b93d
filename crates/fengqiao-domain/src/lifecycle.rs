//! The case lifecycle as an explicit state machine.
//!
//! `decide` checks a command against the case's status, the actor's role and unit, and the
//! command's preconditions, and returns the events it causes; `apply` folds one event into the
//! state. State is never changed any other way, so replaying a case's events rebuilds it
//! exactly (a property test holds us to that).
//!
//! ```text
//! received ─file─▶ filed ─dispatch─▶ dispatched ─accept─▶ accepted ─start─▶ in_progress
//!    │               │                   ▲  │ transfer/escalate ▲             │  ▲  │ defer
//!    └──cancel───────┴─▶ cancelled       └──┘                   │             │  │  ▼
//!                                                               │   resolve   │  deferred
//!  closed ◀─close── return_visit ◀─visit── resolved ◀───────────┴─────────────┘  │ resume
//!    │                 │  dissatisfied / failed verification = rework ─▶ in_progress
//!    └─reopen─▶ in_progress                     any open status ─merge─▶ merged
//! ```
//!
//! Deadlines are computed here, on the business calendar and the category's policy for the
//! case's urgency, and recorded in the events. `escalate` moves a case up a tier and
//! `return_to_tier` hands it back down once the higher tier has decided.

use serde::{Deserialize, Serialize};

use crate::calendar::Calendar;
use crate::case::*;
use crate::category::{CategoryKind, DeadlinePolicy};
use crate::clock::{HOUR_MS, Timestamp};
use crate::error::DomainError;
use crate::region::RegionCode;
use crate::unit::UnitId;
use crate::user::{Actor, Role};

/// The resumption of a paused case: the event, with the handling deadline moved so the
/// working time left at the pause is left again.
fn resumed(case: &Case, cx: &DecideContext<'_>) -> EventKind {
    let now = cx.now;
    let since = case.deferred_since.unwrap_or(now);
    let working = cx.policy.for_urgency(case.urgency).handling.is_working();
    EventKind::Resumed {
        paused_ms: (now.0 - since.0).max(0),
        handling_due: case.handling_due.map(|d| cx.calendar.resume_deadline(d, since, now, working)),
        tier_due: case.tier_due.map(|d| cx.calendar.resume_deadline(d, since, now, working)),
    }
}

/// Rules an administrator may tune.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LifecycleConfig {
    /// Unanswered return-visit attempts after which a case may close as unreachable.
    pub unreachable_attempts: u32,
    /// Distinct contact channels those attempts must use.
    pub unreachable_min_channels: u32,
    /// Hours between the first and the last of those attempts.
    pub unreachable_min_span_hours: u32,
    /// Transfers allowed per case before it must be escalated instead, so no case ping-pongs.
    pub max_transfers: u32,
    /// Working hours the common supervisor has to arbitrate a rejected transfer.
    #[serde(default = "default_arbitration_hours")]
    pub arbitration_hours: u32,
}

fn default_arbitration_hours() -> u32 {
    8
}

impl Default for LifecycleConfig {
    fn default() -> Self {
        LifecycleConfig {
            unreachable_attempts: 3,
            unreachable_min_channels: 2,
            unreachable_min_span_hours: 24,
            max_transfers: 3,
            arbitration_hours: 8,
        }
    }
}

/// What a user asks to do to a case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Command {
    File {
        #[serde(default)]
        severity: Option<Severity>,
        #[serde(default)]
        note: Option<String>,
    },
    Cancel {
        reason: String,
    },
    Dispatch {
        lead_unit: UnitId,
        #[serde(default)]
        co_units: Vec<UnitId>,
    },
    /// Dispatch to the units the routing rules name, or leave the case in the triage queue
    /// with the trace of why no rule routed it. The decision is computed by the service from
    /// the rules in force, never taken from the client.
    Route {
        #[serde(skip)]
        decision: Option<crate::routing::RouteDecision>,
    },
    Accept,
    Start,
    Transfer {
        to: UnitId,
        reason: String,
    },
    /// The target of a transfer refuses it; the common supervisor then arbitrates.
    RejectTransfer {
        reason: String,
    },
    /// The common supervisor of both units decides which of them leads a contested transfer.
    ArbitrateTransfer {
        to: UnitId,
        decision: String,
    },
    /// A co-handling unit reports its part of the joint work done.
    CompleteTask {
        report: String,
    },
    Escalate {
        to: UnitId,
        tier: Tier,
        reason: String,
    },
    /// A higher tier has decided and hands the case back down to carry the decision out.
    ReturnToTier {
        to: UnitId,
        tier: Tier,
        decision: String,
    },
    RequestExtension {
        hours: u32,
        reason: String,
    },
    DecideExtension {
        approve: bool,
        #[serde(default)]
        note: Option<String>,
    },
    Defer {
        reason: String,
    },
    Resume,
    Resolve {
        feedback: String,
    },
    Verify {
        ok: bool,
        #[serde(default)]
        note: Option<String>,
    },
    RecordVisit {
        #[serde(default)]
        party: Option<i64>,
        channel: ContactChannel,
        reached: bool,
        #[serde(default)]
        rating: Option<Rating>,
        #[serde(default)]
        comment: Option<String>,
    },
    Close {
        #[serde(default)]
        note: Option<String>,
    },
    Reopen {
        reason: String,
    },
    Merge {
        into: CaseId,
    },
    SetSeverity {
        severity: Severity,
        reason: String,
    },
    /// Staff judge whether the case carries a high risk of escalation (violence, self-harm, a
    /// gathering, a petition). The judgement changes nothing in the case; it is the label the
    /// learned risk model trains on, so a miss or a false alarm of triage is taught back.
    JudgeRisk {
        high: bool,
        #[serde(default)]
        note: Option<String>,
    },
}

impl Command {
    pub fn name(&self) -> &'static str {
        match self {
            Command::File { .. } => "file",
            Command::Cancel { .. } => "cancel",
            Command::Dispatch { .. } => "dispatch",
            Command::Route { .. } => "route",
            Command::Accept => "accept",
            Command::Start => "start",
            Command::Transfer { .. } => "transfer",
            Command::RejectTransfer { .. } => "reject_transfer",
            Command::ArbitrateTransfer { .. } => "arbitrate_transfer",
            Command::CompleteTask { .. } => "complete_task",
            Command::Escalate { .. } => "escalate",
            Command::ReturnToTier { .. } => "return_to_tier",
            Command::RequestExtension { .. } => "request_extension",
            Command::DecideExtension { .. } => "decide_extension",
            Command::Defer { .. } => "defer",
            Command::Resume => "resume",
            Command::Resolve { .. } => "resolve",
            Command::Verify { .. } => "verify",
            Command::RecordVisit { .. } => "record_visit",
            Command::Close { .. } => "close",
            Command::Reopen { .. } => "reopen",
            Command::Merge { .. } => "merge",
            Command::SetSeverity { .. } => "set_severity",
            Command::JudgeRisk { .. } => "judge_risk",
        }
    }
}

/// What happened to a case. Events carry everything `apply` needs (deadlines are computed in
/// `decide` and recorded), so replay never depends on configuration that may have changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventKind {
    Created {
        tracking_code: TrackingCode,
        category: String,
        kind: CategoryKind,
        channel: Channel,
        urgency: Urgency,
        severity: Severity,
        tier: Tier,
        region: RegionCode,
        location: Location,
        title: String,
        description: String,
        #[serde(default)]
        answers: serde_json::Map<String, serde_json::Value>,
        reporter: Option<i64>,
        parties: Vec<Party>,
    },
    Filed {
        severity: Severity,
        note: Option<String>,
    },
    Cancelled {
        reason: String,
    },
    Dispatched {
        lead_unit: UnitId,
        co_units: Vec<UnitId>,
        response_due: Timestamp,
        handling_due: Timestamp,
    },
    /// The routing rules' decision and its trace (followed by `Dispatched` when they named a
    /// lead unit; alone when the case goes to the triage queue).
    Routed {
        decision: crate::routing::RouteDecision,
    },
    Accepted,
    Started,
    Transferred {
        from: Option<UnitId>,
        to: UnitId,
        reason: String,
        response_due: Timestamp,
    },
    TransferRejected {
        reason: String,
        arbitration_due: Timestamp,
    },
    TransferArbitrated {
        to: UnitId,
        decision: String,
        response_due: Timestamp,
    },
    TaskCompleted {
        unit: UnitId,
        report: String,
    },
    Escalated {
        from_tier: Tier,
        to_tier: Tier,
        to: UnitId,
        reason: String,
        response_due: Timestamp,
        /// The new tier's own deadline (the handling span from now); absent in older events.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tier_due: Option<Timestamp>,
    },
    /// Handed back down after the higher tier decided.
    Returned {
        from_tier: Tier,
        to_tier: Tier,
        to: UnitId,
        decision: String,
        response_due: Timestamp,
    },
    ExtensionRequested {
        hours: u32,
        reason: String,
    },
    ExtensionDecided {
        approve: bool,
        hours: u32,
        note: Option<String>,
        handling_due: Option<Timestamp>,
    },
    Deferred {
        reason: String,
    },
    Resumed {
        paused_ms: i64,
        /// The handling deadline after the pause, computed on the calendar. Absent in events
        /// written before working-time deadlines: those moved by the pause.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        handling_due: Option<Timestamp>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tier_due: Option<Timestamp>,
    },
    Resolved {
        feedback: String,
        visit_due: Timestamp,
    },
    Verified {
        ok: bool,
        note: Option<String>,
    },
    VisitRecorded {
        visit: Visit,
    },
    /// Sent back to the handler before closure: failed verification or a dissatisfied rating.
    Reworked {
        reason: String,
    },
    Closed {
        flag: Option<ClosureFlag>,
        rating: Option<Rating>,
        note: Option<String>,
    },
    Reopened {
        reason: String,
        /// The new handling deadline, from the category's policy at the reopening: the case is
        /// handled again, not judged against the deadline it already met. Absent in events
        /// written before reopening set one (those kept the old deadline).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        handling_due: Option<Timestamp>,
        /// A fresh deadline for the tier the case was escalated to, if it has one (escalated
        /// and not handed back): that tier handles it again, and is not escalated past at once.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tier_due: Option<Timestamp>,
    },
    Merged {
        into: CaseId,
    },
    SeverityChanged {
        from: Severity,
        to: Severity,
        reason: String,
    },
    RiskJudged {
        high: bool,
        #[serde(default)]
        note: Option<String>,
    },
}

impl EventKind {
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::Created { .. } => "created",
            EventKind::Filed { .. } => "filed",
            EventKind::Cancelled { .. } => "cancelled",
            EventKind::Dispatched { .. } => "dispatched",
            EventKind::Routed { .. } => "routed",
            EventKind::Accepted => "accepted",
            EventKind::Started => "started",
            EventKind::Transferred { .. } => "transferred",
            EventKind::TransferRejected { .. } => "transfer_rejected",
            EventKind::TransferArbitrated { .. } => "transfer_arbitrated",
            EventKind::TaskCompleted { .. } => "task_completed",
            EventKind::Escalated { .. } => "escalated",
            EventKind::Returned { .. } => "returned",
            EventKind::ExtensionRequested { .. } => "extension_requested",
            EventKind::ExtensionDecided { .. } => "extension_decided",
            EventKind::Deferred { .. } => "deferred",
            EventKind::Resumed { .. } => "resumed",
            EventKind::Resolved { .. } => "resolved",
            EventKind::Verified { .. } => "verified",
            EventKind::VisitRecorded { .. } => "visit_recorded",
            EventKind::Reworked { .. } => "reworked",
            EventKind::Closed { .. } => "closed",
            EventKind::Reopened { .. } => "reopened",
            EventKind::Merged { .. } => "merged",
            EventKind::SeverityChanged { .. } => "severity_changed",
            EventKind::RiskJudged { .. } => "risk_judged",
        }
    }

    /// Whether residents may see this event on the public tracking page.
    pub fn is_public(&self) -> bool {
        !matches!(
            self,
            EventKind::Verified { .. }
                | EventKind::ExtensionRequested { .. }
                | EventKind::SeverityChanged { .. }
                | EventKind::RiskJudged { .. }
                | EventKind::Routed { .. }
                | EventKind::TransferRejected { .. }
                | EventKind::TransferArbitrated { .. }
                | EventKind::TaskCompleted { .. }
        )
    }
}

/// One event of one case, as the domain sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseEvent {
    pub at: Timestamp,
    pub actor: String,
    #[serde(flatten)]
    pub kind: EventKind,
}

/// Everything `decide` needs besides the case and the command.
pub struct DecideContext<'a> {
    pub now: Timestamp,
    pub actor: &'a Actor,
    pub config: &'a LifecycleConfig,
    /// The deadline policy of the case's category.
    pub policy: DeadlinePolicy,
    /// The working days and hours deadlines are computed on.
    pub calendar: &'a Calendar,
}

fn non_empty(field: &str, s: &str) -> Result<(), DomainError> {
    if s.trim().is_empty() {
        Err(DomainError::invalid(field, "a reason is required"))
    } else if s.chars().count() > 2000 {
        Err(DomainError::invalid(field, "at most 2000 characters"))
    } else {
        Ok(())
    }
}

impl Case {
    /// The state right after a `Created` event.
    pub fn from_created(id: CaseId, at: Timestamp, ev: &EventKind) -> Option<Case> {
        let EventKind::Created {
            tracking_code,
            category,
            kind,
            channel,
            urgency,
            severity,
            tier,
            region,
            location,
            title,
            description,
            answers,
            reporter,
            parties,
        } = ev
        else {
            return None;
        };
        Some(Case {
            id,
            tracking_code: tracking_code.clone(),
            category: category.clone(),
            kind: *kind,
            channel: *channel,
            status: Status::Received,
            urgency: *urgency,
            severity: *severity,
            tier: *tier,
            first_tier: *tier,
            region: region.clone(),
            location: location.clone(),
            title: title.clone(),
            description: description.clone(),
            answers: answers.clone(),
            reporter: *reporter,
            parties: parties.clone(),
            lead_unit: None,
            co_units: Vec::new(),
            version: 1,
            created_at: at,
            updated_at: at,
            dispatched_at: None,
            accepted_at: None,
            resolved_at: None,
            closed_at: None,
            response_due: None,
            handling_due: None,
            visit_due: None,
            tier_due: None,
            deferred_since: None,
            deferred_ms: 0,
            was_deferred: false,
            missed_deadline: false,
            extension: None,
            visits: Vec::new(),
            closure_flag: None,
            final_rating: None,
            first_rating: None,
            transfers: 0,
            escalations: 0,
            returns: 0,
            reworks: 0,
            reopens: 0,
            merged_into: None,
            cancel_reason: None,
            resolution: None,
            routing: None,
            transfer: None,
            tasks: Vec::new(),
        })
    }

    /// Rebuilds a case from its events, the first being `Created`.
    pub fn replay(id: CaseId, events: &[CaseEvent]) -> Option<Case> {
        let (first, rest) = events.split_first()?;
        let mut case = Case::from_created(id, first.at, &first.kind)?;
        for e in rest {
            case.apply(e);
        }
        Some(case)
    }

    /// Whose ratings a return visit must collect: each party of a dispute, else the reporter.
    fn raters(&self) -> Vec<Option<i64>> {
        if self.kind == CategoryKind::Dispute && !self.parties.is_empty() {
            self.parties.iter().filter(|p| p.role != PartyRole::Representative).map(|p| Some(p.person_id)).collect()
        } else {
            vec![None]
        }
    }

    /// The latest rating of each rater since the last resolution, if all have rated.
    fn current_ratings(&self) -> Option<Vec<Rating>> {
        let since = self.resolved_at?;
        self.raters()
            .into_iter()
            .map(|who| self.visits.iter().rev().filter(|v| v.at >= since && v.party == who).find_map(|v| v.rating))
            .collect()
    }

    /// Why an unrated closure is allowed, if it is.
    fn unrated_closure(&self, cfg: &LifecycleConfig) -> Option<ClosureFlag> {
        if self.reporter.is_none() && self.parties.is_empty() {
            return Some(ClosureFlag::Anonymous);
        }
        let since = self.resolved_at?;
        let failed: Vec<&Visit> = self.visits.iter().filter(|v| v.at >= since && !v.reached).collect();
        let mut channels: Vec<ContactChannel> = failed.iter().map(|v| v.channel).collect();
        channels.sort();
        channels.dedup();
        let span = match (failed.first(), failed.last()) {
            (Some(a), Some(b)) => b.at.0 - a.at.0,
            _ => 0,
        };
        (failed.len() as u32 >= cfg.unreachable_attempts
            && channels.len() as u32 >= cfg.unreachable_min_channels
            && span >= cfg.unreachable_min_span_hours as i64 * HOUR_MS)
            .then_some(ClosureFlag::Unreachable)
    }

    /// Checks a command and returns the events it causes, or why it is refused.
    pub fn decide(&self, cmd: &Command, cx: &DecideContext<'_>) -> Result<Vec<EventKind>, DomainError> {
        use Status as S;
        // The scheduler (a system actor) may escalate a case whose deadline was missed, and
        // nothing else.
        let role = match cx.actor {
            Actor::System { .. } if matches!(cmd, Command::Escalate { .. }) => Role::Supervisor,
            // A resident signed in by phone rates their own case at the return visit (the
            // service checks it is theirs); as if the intake desk had reached them.
            Actor::Resident if matches!(cmd, Command::RecordVisit { party: None, reached: true, rating: Some(_), .. }) => Role::Intake,
            _ => cx.actor.role().ok_or_else(|| DomainError::Forbidden("only staff may change a case".into()))?,
        };
        let illegal = || DomainError::IllegalTransition { command: cmd.name(), status: self.status.as_str() };
        let staff = |allowed: &[Role]| -> Result<(), DomainError> {
            if allowed.contains(&role) || (role == Role::Admin && allowed.contains(&Role::Supervisor)) {
                Ok(())
            } else {
                Err(DomainError::Forbidden(format!("a {} may not {}", role.as_str(), cmd.name().replace('_', " "))))
            }
        };
        // Handlers act only on cases their unit leads; supervisors may act for them.
        let lead_handler = || -> Result<(), DomainError> {
            if role.supervises() {
                return Ok(());
            }
            if role.handles() && self.lead_unit.is_some() && cx.actor.unit() == self.lead_unit.as_ref() {
                Ok(())
            } else {
                Err(DomainError::Forbidden(format!("only the lead unit may {}", cmd.name().replace('_', " "))))
            }
        };
        let now = cx.now;
        let p = cx.policy.for_urgency(self.urgency);
        let cal = cx.calendar;
        // A contested transfer waits for the arbitrator: the units may not act on it meanwhile.
        if self.transfer.as_ref().is_some_and(|t| t.rejection.is_some())
            && matches!(
                cmd,
                Command::Accept | Command::Start | Command::Transfer { .. } | Command::RejectTransfer { .. } | Command::Resolve { .. }
            )
        {
            return Err(DomainError::Precondition("the transfer is contested and awaits the common supervisor's arbitration".into()));
        }
        let ev = match cmd {
            Command::File { severity, note } => {
                staff(&[Role::Intake, Role::Supervisor])?;
                if self.status != S::Received {
                    return Err(illegal());
                }
                vec![EventKind::Filed { severity: severity.unwrap_or(self.severity), note: note.clone() }]
            }
            Command::Cancel { reason } => {
                staff(&[Role::Intake, Role::Supervisor])?;
                if !matches!(self.status, S::Received | S::Filed) {
                    return Err(illegal());
                }
                non_empty("reason", reason)?;
                vec![EventKind::Cancelled { reason: reason.clone() }]
            }
            Command::Dispatch { lead_unit, co_units } => {
                staff(&[Role::Intake, Role::Supervisor])?;
                if self.status != S::Filed {
                    return Err(illegal());
                }
                if co_units.contains(lead_unit) {
                    return Err(DomainError::invalid("co_units", "the lead unit cannot also co-handle"));
                }
                let mut co = co_units.clone();
                co.sort();
                co.dedup();
                vec![EventKind::Dispatched {
                    lead_unit: lead_unit.clone(),
                    co_units: co,
                    response_due: cal.add(now, p.response),
                    handling_due: cal.add(now, p.handling),
                }]
            }
            Command::Route { decision } => {
                staff(&[Role::Intake, Role::Supervisor])?;
                if self.status != S::Filed {
                    return Err(illegal());
                }
                let Some(d) = decision else {
                    return Err(DomainError::Precondition("routing needs the rules in force".into()));
                };
                let mut evs = vec![EventKind::Routed { decision: d.clone() }];
                if let Some(lead) = &d.lead {
                    evs.extend(self.decide(&Command::Dispatch { lead_unit: lead.clone(), co_units: d.co_units.clone() }, cx)?);
                }
                evs
            }
            Command::Accept => {
                if self.status != S::Dispatched {
                    return Err(illegal());
                }
                lead_handler()?;
                vec![EventKind::Accepted]
            }
            Command::Start => {
                if self.status != S::Accepted {
                    return Err(illegal());
                }
                lead_handler()?;
                vec![EventKind::Started]
            }
            Command::Transfer { to, reason } => {
                if !matches!(self.status, S::Dispatched | S::Accepted | S::InProgress) {
                    return Err(illegal());
                }
                lead_handler()?;
                non_empty("reason", reason)?;
                if Some(to) == self.lead_unit.as_ref() {
                    return Err(DomainError::invalid("to", "the case is already with that unit"));
                }
                if self.transfers >= cx.config.max_transfers {
                    return Err(DomainError::Precondition(format!(
                        "this case has been transferred {} times, the limit; escalate it instead",
                        self.transfers
                    )));
                }
                vec![EventKind::Transferred {
                    from: self.lead_unit.clone(),
                    to: to.clone(),
                    reason: reason.clone(),
                    response_due: cal.add(now, p.response),
                }]
            }
            Command::RejectTransfer { reason } => {
                let Some(t) = &self.transfer else {
                    return Err(DomainError::Precondition("only a transfer not yet accepted can be rejected".into()));
                };
                if self.status != S::Dispatched || t.from.is_none() {
                    return Err(illegal());
                }
                // The target unit's own handlers reject; a supervisor arbitrates instead.
                if !(role.handles() && cx.actor.unit() == Some(&t.to)) {
                    return Err(DomainError::Forbidden("only the unit a case was transferred to may reject the transfer".into()));
                }
                non_empty("reason", reason)?;
                let hours = crate::calendar::Span::WorkingHours(cx.config.arbitration_hours.max(1));
                vec![EventKind::TransferRejected { reason: reason.clone(), arbitration_due: cal.add(now, hours) }]
            }
            Command::ArbitrateTransfer { to, decision } => {
                staff(&[Role::Supervisor])?;
                let Some(t) = self.transfer.as_ref().filter(|t| t.rejection.is_some()) else {
                    return Err(DomainError::Precondition("only a rejected transfer goes to arbitration".into()));
                };
                if self.status != S::Dispatched {
                    return Err(illegal());
                }
                non_empty("decision", decision)?;
                if Some(to) != t.from.as_ref() && *to != t.to {
                    return Err(DomainError::invalid("to", "the arbitrator chooses one of the two units"));
                }
                vec![EventKind::TransferArbitrated { to: to.clone(), decision: decision.clone(), response_due: cal.add(now, p.response) }]
            }
            Command::CompleteTask { report } => {
                if !matches!(self.status, S::Dispatched | S::Accepted | S::InProgress | S::Deferred) {
                    return Err(illegal());
                }
                let mine = cx.actor.unit().filter(|_| role.handles());
                let Some(task) = self.tasks.iter().find(|k| Some(&k.unit) == mine) else {
                    return Err(DomainError::Forbidden("only a co-handling unit reports its task".into()));
                };
                if task.done_at.is_some() {
                    return Err(DomainError::Precondition("this unit's task is already reported done".into()));
                }
                non_empty("report", report)?;
                vec![EventKind::TaskCompleted { unit: task.unit.clone(), report: report.clone() }]
            }
            Command::Escalate { to, tier, reason } => {
                if !matches!(self.status, S::Dispatched | S::Accepted | S::InProgress | S::Deferred) {
                    return Err(illegal());
                }
                lead_handler()?;
                non_empty("reason", reason)?;
                if *tier <= self.tier {
                    return Err(DomainError::invalid("tier", format!("escalation must go above the {} tier", self.tier)));
                }
                let mut evs = Vec::new();
                if self.deferred_since.is_some() {
                    evs.push(resumed(self, cx));
                }
                evs.push(EventKind::Escalated {
                    from_tier: self.tier,
                    to_tier: *tier,
                    to: to.clone(),
                    reason: reason.clone(),
                    response_due: cal.add(now, p.response),
                    tier_due: Some(cal.add(now, p.handling)),
                });
                evs
            }
            Command::ReturnToTier { to, tier, decision } => {
                if !matches!(self.status, S::Dispatched | S::Accepted | S::InProgress) {
                    return Err(illegal());
                }
                lead_handler()?;
                non_empty("decision", decision)?;
                if *tier >= self.tier {
                    return Err(DomainError::invalid("tier", format!("a case returns to a tier below the {} tier", self.tier)));
                }
                if *tier < self.first_tier {
                    return Err(DomainError::invalid(
                        "tier",
                        format!("the case started at the {} tier; it cannot go below it", self.first_tier),
                    ));
                }
                if Some(to) == self.lead_unit.as_ref() {
                    return Err(DomainError::invalid("to", "the case is already with that unit"));
                }
                vec![EventKind::Returned {
                    from_tier: self.tier,
                    to_tier: *tier,
                    to: to.clone(),
                    decision: decision.clone(),
                    response_due: cal.add(now, p.response),
                }]
            }
            Command::RequestExtension { hours, reason } => {
                if !matches!(self.status, S::Accepted | S::InProgress) {
                    return Err(illegal());
                }
                lead_handler()?;
                non_empty("reason", reason)?;
                if *hours == 0 || *hours > 24 * 90 {
                    return Err(DomainError::invalid("hours", "between 1 and 2160 hours"));
                }
                if self.extension.is_some() {
                    return Err(DomainError::Precondition("an extension request is already pending".into()));
                }
                vec![EventKind::ExtensionRequested { hours: *hours, reason: reason.clone() }]
            }
            Command::DecideExtension { approve, note } => {
                staff(&[Role::Supervisor])?;
                // Only while the case is being handled: an extension approved after the
                // resolution would move the deadline the round is judged by.
                if !matches!(self.status, S::Accepted | S::InProgress | S::Deferred) {
                    return Err(illegal());
                }
                let Some(req) = &self.extension else {
                    return Err(DomainError::Precondition("no extension request is pending".into()));
                };
                // Extension hours are of the same measure as the handling deadline: working
                // hours when it counts working time, elapsed hours otherwise.
                let base = self.handling_due.unwrap_or(now);
                let due = approve.then(|| {
                    if p.handling.is_working() { cal.add_working_hours(base, req.hours) } else { base.plus_hours(req.hours as i64) }
                });
                vec![EventKind::ExtensionDecided { approve: *approve, hours: req.hours, note: note.clone(), handling_due: due }]
            }
            Command::Defer { reason } => {
                if !matches!(self.status, S::Accepted | S::InProgress) {
                    return Err(illegal());
                }
                lead_handler()?;
                non_empty("reason", reason)?;
                vec![EventKind::Deferred { reason: reason.clone() }]
            }
            Command::Resume => {
                if self.status != S::Deferred {
                    return Err(illegal());
                }
                lead_handler()?;
                vec![resumed(self, cx)]
            }
            Command::Resolve { feedback } => {
                if !matches!(self.status, S::Accepted | S::InProgress) {
                    return Err(illegal());
                }
                lead_handler()?;
                if feedback.trim().is_empty() {
                    return Err(DomainError::invalid("feedback", "say how the matter was handled"));
                }
                if feedback.chars().count() > 4000 {
                    return Err(DomainError::invalid("feedback", "at most 4000 characters"));
                }
                vec![EventKind::Resolved { feedback: feedback.clone(), visit_due: cal.add(now, p.visit) }]
            }
            Command::Verify { ok, note } => {
                staff(&[Role::Intake, Role::Supervisor])?;
                if !matches!(self.status, S::Resolved | S::ReturnVisit) {
                    return Err(illegal());
                }
                let mut evs = vec![EventKind::Verified { ok: *ok, note: note.clone() }];
                if !ok {
                    evs.push(EventKind::Reworked { reason: note.clone().unwrap_or_else(|| "verification failed".into()) });
                }
                evs
            }
            Command::RecordVisit { party, channel, reached, rating, comment } => {
                // Return visits are made by someone other than the handler (intake staff, the
                // hotline, grid workers) so the rating is not collected by the rated.
                staff(&[Role::Intake, Role::Supervisor])?;
                if !matches!(self.status, S::Resolved | S::ReturnVisit) {
                    return Err(illegal());
                }
                if !reached && rating.is_some() {
                    return Err(DomainError::invalid("rating", "a rating needs a reached contact"));
                }
                if !self.raters().contains(party) {
                    return Err(DomainError::invalid(
                        "party",
                        if self.kind == CategoryKind::Dispute && !self.parties.is_empty() {
                            "name the party (person id) who was contacted"
                        } else {
                            "this case is rated by its reporter; leave party empty"
                        },
                    ));
                }
                let visit = Visit {
                    at: now,
                    by: cx.actor.label(),
                    channel: *channel,
                    party: *party,
                    reached: *reached,
                    rating: *rating,
                    comment: comment.clone(),
                };
                let mut evs = vec![EventKind::VisitRecorded { visit }];
                if *rating == Some(Rating::Dissatisfied) {
                    evs.push(EventKind::Reworked { reason: "the outcome was rated dissatisfied".into() });
                }
                evs
            }
            Command::Close { note } => {
                staff(&[Role::Intake, Role::Supervisor])?;
                if !matches!(self.status, S::Resolved | S::ReturnVisit) {
                    return Err(illegal());
                }
                let ratings = self.current_ratings();
                match ratings {
                    Some(rs) => {
                        let worst = rs.iter().copied().max().expect("at least one rater");
                        vec![EventKind::Closed { flag: None, rating: Some(worst), note: note.clone() }]
                    }
                    None => match self.unrated_closure(cx.config) {
                        Some(flag) => vec![EventKind::Closed { flag: Some(flag), rating: None, note: note.clone() }],
                        None => {
                            return Err(DomainError::Precondition(format!(
                                "a case closes only after a return visit in which {} rated the outcome, or after {} unanswered attempts over at least {} channels and {} hours",
                                if self.raters().len() > 1 { "every party" } else { "the reporter" },
                                cx.config.unreachable_attempts,
                                cx.config.unreachable_min_channels,
                                cx.config.unreachable_min_span_hours
                            )));
                        }
                    },
                }
            }
            Command::Reopen { reason } => {
                staff(&[Role::Intake, Role::Supervisor])?;
                if self.status != S::Closed {
                    return Err(illegal());
                }
                non_empty("reason", reason)?;
                vec![EventKind::Reopened {
                    reason: reason.clone(),
                    handling_due: Some(cal.add(now, p.handling)),
                    tier_due: self.tier_due.map(|_| cal.add(now, p.handling)),
                }]
            }
            Command::Merge { into } => {
                staff(&[Role::Intake, Role::Supervisor])?;
                if !self.status.is_open() {
                    return Err(illegal());
                }
                if *into == self.id {
                    return Err(DomainError::invalid("into", "a case cannot be merged into itself"));
                }
                vec![EventKind::Merged { into: *into }]
            }
            Command::SetSeverity { severity, reason } => {
                staff(&[Role::Intake, Role::Handler, Role::Mediator, Role::Supervisor])?;
                if !self.status.is_open() {
                    return Err(illegal());
                }
                if role.handles() {
                    lead_handler()?;
                }
                non_empty("reason", reason)?;
                if *severity == self.severity {
                    return Err(DomainError::invalid("severity", "the case already has this severity"));
                }
                vec![EventKind::SeverityChanged { from: self.severity, to: *severity, reason: reason.clone() }]
            }
            Command::JudgeRisk { high, note } => {
                // Also after closure: how a case turned out is often what shows its risk.
                staff(&[Role::Intake, Role::Handler, Role::Mediator, Role::Supervisor])?;
                if role.handles() {
                    lead_handler()?;
                }
                if self.status == Status::Merged {
                    return Err(illegal());
                }
                vec![EventKind::RiskJudged { high: *high, note: note.as_ref().map(|n| n.trim().to_string()).filter(|n| !n.is_empty()) }]
            }
        };
        Ok(ev)
    }

    /// Folds one event into the state. Total: an event is a fact, so it always applies.
    pub fn apply(&mut self, e: &CaseEvent) {
        use Status as S;
        self.version += 1;
        self.updated_at = e.at;
        match &e.kind {
            EventKind::Created { .. } => {}
            EventKind::Filed { severity, .. } => {
                self.status = S::Filed;
                self.severity = *severity;
            }
            EventKind::Cancelled { reason } => {
                self.status = S::Cancelled;
                self.cancel_reason = Some(reason.clone());
            }
            EventKind::Dispatched { lead_unit, co_units, response_due, handling_due } => {
                self.status = S::Dispatched;
                self.lead_unit = Some(lead_unit.clone());
                self.co_units = co_units.clone();
                // Each co-handling unit gets its own task, due with the handling deadline of
                // the dispatch; the lead's later extensions do not move it.
                self.tasks = co_units.iter().map(|u| CoTask { unit: u.clone(), due: *handling_due, done_at: None, report: None }).collect();
                self.transfer = None;
                self.dispatched_at.get_or_insert(e.at);
                self.response_due = Some(*response_due);
                self.handling_due = Some(*handling_due);
            }
            EventKind::Routed { decision } => self.routing = Some(decision.clone()),
            EventKind::Accepted => {
                self.transfer = None;
                self.status = S::Accepted;
                self.accepted_at.get_or_insert(e.at);
            }
            EventKind::Started => self.status = S::InProgress,
            EventKind::Transferred { from, to, reason, response_due } => {
                self.transfer =
                    Some(PendingTransfer { from: from.clone(), to: to.clone(), reason: reason.clone(), at: e.at, rejection: None });
                self.tasks.retain(|k| &k.unit != to);
                self.status = S::Dispatched;
                if self.accepted_at.is_none() {
                    self.response_due = Some(*response_due);
                }
                self.lead_unit = Some(to.clone());
                self.co_units.retain(|u| u != to);
                self.transfers += 1;
                self.extension = None;
            }
            EventKind::TransferRejected { reason, arbitration_due } => {
                if let Some(t) = &mut self.transfer {
                    t.rejection = Some(TransferRejection { reason: reason.clone(), at: e.at, arbitration_due: *arbitration_due });
                }
            }
            EventKind::TransferArbitrated { to, response_due, .. } => {
                self.transfer = None;
                self.status = S::Dispatched;
                if self.accepted_at.is_none() {
                    self.response_due = Some(*response_due);
                }
                self.lead_unit = Some(to.clone());
                self.co_units.retain(|u| u != to);
                self.tasks.retain(|k| &k.unit != to);
            }
            EventKind::TaskCompleted { unit, report } => {
                if let Some(k) = self.tasks.iter_mut().find(|k| &k.unit == unit) {
                    k.done_at = Some(e.at);
                    k.report = Some(report.clone());
                }
            }
            EventKind::Escalated { to_tier, to, tier_due, .. } => {
                self.transfer = None;
                self.tasks.retain(|k| &k.unit != to);
                self.status = S::Dispatched;
                self.tier_due = *tier_due;
                self.tier = *to_tier;
                self.lead_unit = Some(to.clone());
                self.co_units.retain(|u| u != to);
                self.escalations += 1;
                self.extension = None;
            }
            EventKind::Returned { to_tier, to, .. } => {
                self.transfer = None;
                self.tasks.retain(|k| &k.unit != to);
                self.status = S::Dispatched;
                self.tier = *to_tier;
                self.lead_unit = Some(to.clone());
                self.co_units.retain(|u| u != to);
                self.returns += 1;
                self.tier_due = None;
                self.extension = None;
            }
            EventKind::ExtensionRequested { hours, reason } => {
                self.extension = Some(ExtensionRequest { hours: *hours, reason: reason.clone(), requested_at: e.at, by: e.actor.clone() });
            }
            EventKind::ExtensionDecided { handling_due, .. } => {
                self.extension = None;
                if let Some(d) = handling_due {
                    self.handling_due = Some(*d);
                }
            }
            EventKind::Deferred { .. } => {
                self.status = S::Deferred;
                self.deferred_since = Some(e.at);
                self.was_deferred = true;
            }
            EventKind::Resumed { paused_ms, handling_due, tier_due } => {
                self.status = S::InProgress;
                self.deferred_since = None;
                self.deferred_ms += paused_ms;
                // The clock stood still while deferred: the event says where the deadline
                // moved (older events: by the pause).
                self.handling_due = match handling_due {
                    Some(d) => Some(*d),
                    None => self.handling_due.map(|d| d.plus_ms(*paused_ms)),
                };
                self.tier_due = tier_due.or(self.tier_due.map(|d| d.plus_ms(*paused_ms)));
            }
            EventKind::Resolved { feedback, visit_due } => {
                self.status = S::Resolved;
                self.resolved_at = Some(e.at);
                self.visit_due = Some(*visit_due);
                self.resolution = Some(feedback.clone());
            }
            EventKind::Verified { .. } => {}
            EventKind::VisitRecorded { visit } => {
                self.status = S::ReturnVisit;
                if let Some(r) = visit.rating
                    && self.reworks == 0
                    && self.reopens == 0
                {
                    self.first_rating = Some(self.first_rating.map_or(r, |f| f.max(r)));
                }
                self.visits.push(visit.clone());
            }
            EventKind::Reworked { .. } => {
                self.status = S::InProgress;
                self.reworks += 1;
            }
            EventKind::Closed { flag, rating, .. } => {
                self.status = S::Closed;
                self.closed_at = Some(e.at);
                self.closure_flag = *flag;
                self.final_rating = *rating;
            }
            EventKind::Reopened { handling_due, tier_due, .. } => {
                self.status = S::InProgress;
                // A new round, with its own deadlines. Events written before reopenings carried
                // deadlines keep the old ones, and the figures judge the last round by them.
                if let Some(d) = handling_due {
                    // The round that ends here is judged against its own deadlines first.
                    let late = |done: Option<Timestamp>, due: Option<Timestamp>| matches!((done, due), (Some(d), Some(due)) if d > due);
                    self.missed_deadline |= late(self.resolved_at, self.handling_due) || late(self.closed_at, self.visit_due);
                    self.handling_due = Some(*d);
                    // The return visit is due again once the new round is resolved.
                    self.visit_due = None;
                    for k in self.tasks.iter_mut().filter(|k| k.done_at.is_none()) {
                        k.due = *d;
                    }
                }
                if let Some(d) = tier_due {
                    self.tier_due = Some(*d);
                }
                self.reopens += 1;
                self.closure_flag = None;
                self.final_rating = None;
            }
            EventKind::Merged { into } => {
                self.status = S::Merged;
                if let Some(since) = self.deferred_since.take() {
                    self.deferred_ms += (e.at.0 - since.0).max(0);
                }
                self.merged_into = Some(*into);
            }
            EventKind::SeverityChanged { to, .. } => self.severity = *to,
            EventKind::RiskJudged { .. } => {}
        }
        // A transfer is pending only while the case waits, dispatched, at its target; any step
        // that moves it on (deferral, escalation, merging, ...) settles it.
        if self.status != S::Dispatched {
            self.transfer = None;
        }
    }
}

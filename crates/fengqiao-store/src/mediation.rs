//! Mediation in the service: opening one on a dispute case, acting on it with the conflict
//! check and the case's lifecycle following, and the judicial-confirmation reminders.
//!
//! A mediation's change and the case change it causes (a refusal or failure resolves or routes
//! the case on; an agreement resolves it; a breach reopens it) are decided through the case's
//! own lifecycle (`Service::decide`) and committed in one transaction with the mediation.

use fengqiao_domain::case::Status;
use fengqiao_domain::mediation::{self, Effect, Mediation, MediationCommand, MediationContext, MemberProfile, OpenMediation, PartyProfile};
use fengqiao_domain::{Actor, CaseId, Command, DomainError, PersonInput, RegionCode, Tier, Timestamp, UnitId};
use serde::{Deserialize, Serialize};

use crate::scheduler::{JobDone, SweepReport};
use crate::{InboxItem, JobCommit, JobRun, MediationFilter, Scope, Service, StoreError};

/// Where the case goes when a mediation ends without agreement or an agreement is breached.
/// Without one: a refusal or failure resolves the case with that outcome (the return visit
/// follows); a breach reopens it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "to", rename_all = "snake_case")]
pub enum CaseFollow {
    Resolve,
    Transfer { unit: UnitId },
    Escalate { unit: UnitId, tier: Tier },
}

/// Identity data of a prospective team member, used for the conflict check and not kept.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MemberIdentity {
    #[serde(default)]
    pub id_number: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    /// The member's village (a region code).
    #[serde(default)]
    pub village: Option<String>,
    /// Parties (person ids) the member declares a relation to.
    #[serde(default)]
    pub related_parties: Vec<i64>,
}

const REMINDER_JOB: &str = "reminder_mediation_confirmation";
const TERM_JOB: &str = "breach_mediation_term";

impl Service {
    /// Opens a mediation on a dispute case the actor may see.
    pub async fn open_mediation(&self, actor: &Actor, case_id: CaseId, input: &OpenMediation) -> Result<Mediation, StoreError> {
        let case = self.store.case(&Scope::for_actor(actor), case_id).await?.ok_or(StoreError::NotFound)?;
        let cx = mediation::CaseForMediation {
            id: case.id,
            is_dispute: case.kind == fengqiao_domain::CategoryKind::Dispute,
            open: case.status.is_open() && !matches!(case.status, Status::Received | Status::Filed),
            lead_unit: case.lead_unit.as_ref(),
            region: &case.region,
            category: &case.category,
            parties: &case.parties,
        };
        let now = self.now();
        let m = Mediation::open(actor, &cx, input, &self.config.mediation, &self.calendar(), now)?;
        let open =
            self.store.mediations(&Scope::All, &MediationFilter { case_id: Some(case_id.0), limit: 100, ..Default::default() }).await?;
        if let Some(o) = open.iter().find(|o| !o.status.is_ended()) {
            return Err(DomainError::Precondition(format!("mediation #{} of this case is still under way", o.id)).into());
        }
        let saved = self.store.save_mediation(&m, None, "mediation_opened", &actor.label(), now, None).await?;
        self.note_written(1).await;
        Ok(saved)
    }

    /// Acts on a mediation the actor may see, optionally only at `expected_version`. An
    /// assignment is checked against the parties first (`identity` is the member's data for
    /// that check); an outcome the case must follow is decided on the case in the same commit.
    pub async fn act_mediation(
        &self,
        actor: &Actor,
        id: i64,
        expected_version: Option<i64>,
        cmd: &MediationCommand,
        follow: Option<&CaseFollow>,
        identity: Option<&MemberIdentity>,
    ) -> Result<Mediation, StoreError> {
        let scope = Scope::for_actor(actor);
        let mut m = self.store.mediation(&scope, id).await?.ok_or(StoreError::NotFound)?;
        let version = m.version;
        if let Some(v) = expected_version
            && v != version
        {
            return Err(StoreError::Conflict { current: version });
        }
        let mut cmd = cmd.clone();
        if let MediationCommand::Assign { name, conflicts, user_id, .. } = &mut cmd {
            if let Some(u) = user_id.as_deref().map(str::trim).filter(|u| !u.is_empty())
                && self.store.user_credentials(u).await?.is_none()
            {
                return Err(DomainError::invalid("user_id", format!("no staff account '{u}'")).into());
            }
            *conflicts = self.member_conflicts(&m, name, identity.cloned().unwrap_or_default()).await?;
        }
        let now = self.now();
        let cal = self.calendar();
        let cx = MediationContext { now, actor, calendar: &cal, config: &self.config.mediation };
        let (event, effect) = m.act(&cmd, &cx)?;
        let commit = self.case_follows(actor, &m, effect, follow, now).await?;
        let n = commit.as_ref().map(|c| c.events.len()).unwrap_or(0);
        let saved = self.store.save_mediation(&m, Some(version), event, &actor.label(), now, commit.as_ref()).await?;
        self.note_written(n + 1).await;
        Ok(saved)
    }

    async fn member_conflicts(&self, m: &Mediation, name: &str, identity: MemberIdentity) -> Result<Vec<String>, StoreError> {
        let input = PersonInput {
            name: Some(name.to_string()),
            phone: identity.phone,
            id_number: identity.id_number,
            address: None,
            email: None,
            organisation: false,
        };
        let (_, key) = input.normalise("member").map_err(DomainError::Invalid)?;
        let village = match identity.village.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
            Some(v) => Some(
                RegionCode::parse(v)
                    .map_err(|e| DomainError::Invalid(vec![fengqiao_domain::error::FieldError::new("member.village", e.message)]))?,
            ),
            None => None,
        };
        let member = MemberProfile {
            identity_key: key.map(|k| k.0),
            family_name: mediation::family_name(name),
            village,
            related_parties: identity.related_parties,
        };
        let ids: Vec<i64> = m.parties.iter().map(|p| p.person_id).collect();
        let r = self.reference();
        let parties: Vec<PartyProfile> = self
            .store
            .persons(&ids)
            .await?
            .into_iter()
            .map(|p| PartyProfile {
                person_id: p.id,
                identity_key: p.identity_key.clone(),
                family_name: p.name.as_deref().and_then(mediation::family_name),
                village: p.address.as_deref().and_then(|a| r.place_address(a)).map(|pl| pl.region),
            })
            .collect();
        Ok(mediation::conflicts(&member, &parties))
    }

    /// The lifecycle commands the case follows a mediation's outcome with, decided in order on
    /// the case as it is now, as one commit.
    async fn case_follows(
        &self,
        actor: &Actor,
        m: &Mediation,
        effect: Effect,
        follow: Option<&CaseFollow>,
        now: Timestamp,
    ) -> Result<Option<JobCommit>, StoreError> {
        if effect == Effect::None {
            return Ok(None);
        }
        let case = self.store.case(&Scope::All, m.case_id).await?.ok_or(StoreError::NotFound)?;
        let r = self.reference();
        if let Some(CaseFollow::Transfer { unit } | CaseFollow::Escalate { unit, .. }) = follow
            && !r.units.contains_key(unit.as_str())
        {
            return Err(DomainError::invalid("then.unit", format!("unknown unit '{unit}'")).into());
        }
        let why = match effect {
            Effect::Refused => "当事人明确拒绝调解，调解终止 / a party refused mediation, which ended it".to_string(),
            Effect::Failed => {
                "调解不成，已告知当事人可依法向人民法院起诉 / mediation failed; the parties were told they may sue".to_string()
            }
            Effect::Agreed => format!("调解达成协议（调解 #{}） / settled by a mediation agreement (mediation #{})", m.id, m.id),
            Effect::Breached => {
                let court = if m.court_referral { "，已引导当事人向人民法院起诉 / referred to court" } else { "" };
                format!("调解协议未履行{court} / the mediation agreement was breached (mediation #{})", m.id)
            }
            Effect::None => unreachable!(),
        };
        // Bring the case to where the next command applies, through its own commands.
        let mut cmds = Vec::new();
        let mut status = case.status;
        let resolve = |cmds: &mut Vec<Command>, status: Status| match status {
            Status::Dispatched => cmds.extend([Command::Accept, Command::Resolve { feedback: why.clone() }]),
            Status::Accepted | Status::InProgress => cmds.push(Command::Resolve { feedback: why.clone() }),
            Status::Deferred => cmds.extend([Command::Resume, Command::Resolve { feedback: why.clone() }]),
            _ => {}
        };
        match effect {
            Effect::Agreed => resolve(&mut cmds, status),
            Effect::Refused | Effect::Failed | Effect::Breached => {
                if effect == Effect::Breached {
                    match status {
                        Status::Closed => cmds.push(Command::Reopen { reason: why.clone() }),
                        Status::Resolved | Status::ReturnVisit => cmds.push(Command::Verify { ok: false, note: Some(why.clone()) }),
                        _ => {}
                    }
                    if !cmds.is_empty() {
                        status = Status::InProgress;
                    }
                }
                match follow {
                    Some(CaseFollow::Resolve) => resolve(&mut cmds, status),
                    None if effect != Effect::Breached => resolve(&mut cmds, status),
                    None => {}
                    Some(CaseFollow::Transfer { unit }) => cmds.push(Command::Transfer { to: unit.clone(), reason: why.clone() }),
                    Some(CaseFollow::Escalate { unit, tier }) => {
                        cmds.push(Command::Escalate { to: unit.clone(), tier: *tier, reason: why.clone() })
                    }
                }
            }
            Effect::None => {}
        }
        if cmds.is_empty() {
            return Ok(None);
        }
        let mut state = case.clone();
        let mut events = Vec::new();
        for c in &cmds {
            let (evs, next) = self.decide(&r, &state, actor, c, now)?;
            events.extend(evs);
            state = next;
        }
        Ok(Some(JobCommit { expected_version: case.version, events, state }))
    }

    /// The mediation jobs of a sweep: a notice to the unit when a term's due date passed
    /// (`[from, now)`) with no fulfilment recorded, and the confirmation reminders.
    pub async fn remind_mediations(&self, from: Timestamp, now: Timestamp, report: &mut SweepReport) -> Result<(), StoreError> {
        let tz = self.calendar().time_zone().clone();
        for m in self.store.mediations_term_due(from, now, TERM_JOB, self.config.scheduler.batch).await? {
            let Some(due) = m.next_term_due() else { continue };
            let message = format!(
                "调解 #{} （案件 #{}）的协议条款已到履行期限 {}，请核实并记录履行情况 / a term of the agreement of mediation #{} (case #{}) fell due at {}: check and record whether it was fulfilled",
                m.id,
                m.case_id.0,
                due.to_rfc3339_in(&tz),
                m.id,
                m.case_id.0,
                due.to_rfc3339_in(&tz)
            );
            let outcome = format!("noticed unit:{}", m.unit);
            let notice = InboxItem {
                id: 0,
                recipient: format!("unit:{}", m.unit),
                case_id: Some(m.case_id.0),
                kind: "breach".into(),
                message,
                due_at: Some(due),
                created_at: now,
            };
            let job = JobRun { kind: TERM_JOB.into(), case_id: m.case_id.0, due_at: due, done_at: now, outcome: outcome.clone() };
            match self.store.run_job(&job, None, &[notice]).await {
                Ok(true) => report.done.push(JobDone { kind: TERM_JOB.into(), case_id: m.case_id.0, due_at: due, outcome }),
                Ok(false) => report.already_done += 1,
                Err(e) => report.failed.push(format!("{TERM_JOB} case {}: {e}", m.case_id.0)),
            }
        }
        self.remind_confirmations(now, report).await
    }

    /// Reminds the unit of each agreement whose judicial-confirmation window closes within the
    /// configured lead and has no joint application yet; once per (case, window end).
    async fn remind_confirmations(&self, now: Timestamp, report: &mut SweepReport) -> Result<(), StoreError> {
        let lead = self.config.mediation.confirmation_reminder_hours as i64 * fengqiao_domain::clock::HOUR_MS;
        if lead <= 0 {
            return Ok(());
        }
        let tz = self.calendar().time_zone().clone();
        for m in self.store.mediations_confirmation_due(now, now.plus_ms(lead), REMINDER_JOB, self.config.scheduler.batch).await? {
            let Some(due) = m.confirmation.due else { continue };
            let last = m.confirmation.last_day.clone().unwrap_or_default();
            let message = format!(
                "调解 #{} （案件 #{}）的司法确认申请期限至 {last} 届满 / the window to apply for judicial confirmation of mediation #{} (case #{}) closes at the end of {last} ({})",
                m.id,
                m.case_id.0,
                m.id,
                m.case_id.0,
                due.to_rfc3339_in(&tz)
            );
            let outcome = format!("reminded unit:{}", m.unit);
            let notice = InboxItem {
                id: 0,
                recipient: format!("unit:{}", m.unit),
                case_id: Some(m.case_id.0),
                kind: "reminder".into(),
                message,
                due_at: Some(due),
                created_at: now,
            };
            let job = JobRun { kind: REMINDER_JOB.into(), case_id: m.case_id.0, due_at: due, done_at: now, outcome: outcome.clone() };
            match self.store.run_job(&job, None, &[notice]).await {
                Ok(true) => report.done.push(JobDone { kind: REMINDER_JOB.into(), case_id: m.case_id.0, due_at: due, outcome }),
                Ok(false) => report.already_done += 1,
                Err(e) => report.failed.push(format!("{REMINDER_JOB} case {}: {e}", m.case_id.0)),
            }
        }
        Ok(())
    }
}

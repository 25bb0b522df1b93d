//! On-duty rotas in the running service, and the alert a new case raises when its text reads
//! as violence or self-harm: at once, to the inbox of the police unit that serves the place and
//! of every officer on duty there now.

use fengqiao_analysis::text::RiskKind;
use fengqiao_domain::duty::{DutyShift, check_rota};
use fengqiao_domain::error::FieldError;
use fengqiao_domain::{Actor, Case, DomainError, Role, Timestamp, Unit, UnitId, UnitKind};

use crate::{InboxItem, JobRun, Service, StoreError};

/// Who may change a unit's rota: an administrator, or a supervisor whose jurisdiction covers
/// the unit's service area.
fn may_manage(actor: &Actor, unit: &Unit) -> Result<(), StoreError> {
    match actor {
        Actor::System { .. } => Ok(()),
        Actor::User { role: Role::Admin, .. } => Ok(()),
        Actor::User { role: Role::Supervisor, jurisdiction, .. } if jurisdiction.contains(&unit.region) => Ok(()),
        _ => Err(DomainError::Forbidden("only an administrator or a supervisor over the unit may change its rota".into()).into()),
    }
}

/// Who may read it: the unit's own staff, and intake staff, supervisors and administrators
/// whose jurisdiction covers it.
fn may_read(actor: &Actor, unit: &Unit) -> Result<(), StoreError> {
    match actor {
        Actor::System { .. } => Ok(()),
        Actor::User { unit: Some(u), .. } if *u == unit.id => Ok(()),
        Actor::User { role: Role::Admin | Role::Supervisor | Role::Intake, jurisdiction, .. } if jurisdiction.contains(&unit.region) => {
            Ok(())
        }
        _ => Err(StoreError::NotFound),
    }
}

impl Service {
    /// Replaces a unit's rota over `[from, to)`. Checked whole: every shift inside the window,
    /// at most a week long, one shift at a time per person, and each person on the unit's staff.
    pub async fn save_rota(
        &self,
        actor: &Actor,
        unit: &UnitId,
        from: Timestamp,
        to: Timestamp,
        shifts: &[DutyShift],
    ) -> Result<(), StoreError> {
        let r = self.reference();
        let u = r.units.get(&unit.0).ok_or(StoreError::NotFound)?;
        may_read(actor, u)?;
        may_manage(actor, u)?;
        let mut errs = check_rota(from, to, shifts);
        let users = self.store.users().await?;
        for (i, s) in shifts.iter().enumerate() {
            if s.unit != *unit {
                errs.push(FieldError::new(format!("shifts[{i}].unit"), format!("this rota is {unit}'s")));
            }
            match users.iter().find(|x| x.id == s.user) {
                None => errs.push(FieldError::new(format!("shifts[{i}].user"), format!("no account '{}'", s.user))),
                Some(x) if x.unit.as_ref() != Some(unit) => {
                    errs.push(FieldError::new(format!("shifts[{i}].user"), format!("{} is not on {unit}'s staff", s.user)))
                }
                Some(_) => {}
            }
        }
        if !errs.is_empty() {
            return Err(DomainError::Invalid(errs).into());
        }
        self.store.put_rota(unit, from, to, shifts, &actor.label(), self.now()).await
    }

    /// A unit's shifts overlapping `[from, to)`; a unit the actor may not see does not exist.
    pub async fn rota(&self, actor: &Actor, unit: &UnitId, from: Timestamp, to: Timestamp) -> Result<Vec<DutyShift>, StoreError> {
        let r = self.reference();
        let u = r.units.get(&unit.0).ok_or(StoreError::NotFound)?;
        may_read(actor, u)?;
        self.store.rota(unit, from, to).await
    }
}

/// The units alerted for a case in `region`: the most local police units serving it (police
/// station or community police office), else the most local units of any kind, so an alert
/// always has somewhere to go in a configured county.
pub fn duty_units<'a>(units: impl Iterator<Item = &'a Unit> + Clone, region: &fengqiao_domain::RegionCode) -> Vec<&'a Unit> {
    let most_local = |list: Vec<&'a Unit>| -> Vec<&'a Unit> {
        let depth = list.iter().map(|u| u.region.prefix().len()).max();
        let mut v: Vec<&Unit> = list.into_iter().filter(|u| Some(u.region.prefix().len()) == depth).collect();
        v.sort_by(|a, b| a.id.cmp(&b.id));
        v
    };
    let police: Vec<&Unit> =
        units.clone().filter(|u| matches!(u.kind, UnitKind::PoliceStation | UnitKind::CommunityPoliceOffice) && u.serves(region)).collect();
    if !police.is_empty() {
        return most_local(police);
    }
    most_local(units.filter(|u| u.serves(region)).collect())
}

/// Alerts the duty officers when a new case's text shows violence or self-harm. Runs once per
/// case: the alert is a job keyed by the case and its creation time, recorded with its inbox
/// messages in one transaction.
pub(crate) async fn alert_on_risk(svc: &Service, case: &Case) -> Result<(), StoreError> {
    // Only the lexicon's kinds page anyone, so the learned model is not run here: intake
    // pays for the phrase automaton alone.
    let risk = svc.triage.lexicon_risk_of(&crate::triage::case_text(case));
    let signals: Vec<_> = risk.evidence.iter().filter(|e| matches!(e.kind, RiskKind::Violence | RiskKind::SelfHarm)).collect();
    if signals.is_empty() {
        return Ok(());
    }
    let r = svc.reference();
    let units = duty_units(r.units.values(), &case.region);
    if units.is_empty() {
        tracing::warn!(case = case.id.0, "a risk alert has no unit serving {} to go to", case.region);
        return Ok(());
    }
    let ids: Vec<UnitId> = units.iter().map(|u| u.id.clone()).collect();
    let now = svc.now();
    let on_duty = svc.store.on_duty(&ids, now).await?;
    let mut recipients: Vec<String> = ids.iter().map(|u| format!("unit:{u}")).collect();
    recipients.extend(on_duty.iter().map(|s| format!("user:{}", s.user)));
    recipients.dedup();
    let what: Vec<String> = signals
        .iter()
        .map(|e| format!("{} “{}”", if e.kind == RiskKind::SelfHarm { "自伤 self-harm" } else { "暴力 violence" }, e.matched))
        .collect();
    let message = format!(
        "风险预警 Risk alert: {} — {}。请值班人员立即核实处置 The duty officer must check it now.",
        case.tracking_code.as_str(),
        what.join("; ")
    );
    let job = JobRun {
        kind: "risk_alert".into(),
        case_id: case.id.0,
        due_at: case.created_at,
        done_at: now,
        outcome: format!("alerted {}", recipients.join(", ")),
    };
    let notices: Vec<InboxItem> = recipients
        .iter()
        .map(|to| InboxItem {
            id: 0,
            recipient: to.clone(),
            case_id: Some(case.id.0),
            kind: "risk_alert".into(),
            message: message.clone(),
            due_at: None,
            created_at: now,
        })
        .collect();
    svc.store.run_job(&job, None, &notices).await?;
    Ok(())
}

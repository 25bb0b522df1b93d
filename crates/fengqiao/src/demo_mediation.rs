//! Mediations for the demo county: a few disputes taken through the mediation steps by the
//! service itself (on a clock set just after each case's last change), so the mediation pages,
//! the room calendar and the figures show data. Cheap: at most six cases.

use std::sync::Arc;

use anyhow::anyhow;
use fengqiao_domain::clock::{DAY_MS, HOUR_MS};
use fengqiao_domain::mediation::{
    AgreementContent, MediationCommand, MediationKind, MemberRole, OpenMediation, SessionOutcome, Signer, Source, TermInput,
};
use fengqiao_domain::{Actor, CategoryKind, ManualClock, PartyRole, Role};
use fengqiao_store::{CaseFilter, Page, Scope, Service};

fn err(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow!("{e}")
}

/// Takes up to six open disputes of the demo through mediation; returns how many.
pub async fn mediations(svc: &Service) -> anyhow::Result<usize> {
    let now = svc.now();
    let r = svc.reference();
    let Some(county) = r.county.clone() else { return Ok(0) };
    let actor = Actor::User { id: "county-supervisor".into(), role: Role::Supervisor, unit: None, jurisdiction: county.code.clone() };
    let users = svc.store.users().await.map_err(err)?;
    let mut picked = Vec::new();
    for status in ["in_progress", "accepted"] {
        let f = CaseFilter { status: Some(status.into()), ..Default::default() };
        for c in svc.store.list_cases(&Scope::All, &f, &Page { after: None, limit: 500, descending: true }).await.map_err(err)? {
            let principals = c.parties.iter().filter(|p| p.role != PartyRole::Representative).count();
            if c.kind == CategoryKind::Dispute && principals >= 2 && c.updated_at.0 < now.0 - 8 * DAY_MS && picked.len() < 6 {
                picked.push(c);
            }
        }
    }
    let clock = ManualClock::new(now);
    let svc = Service::new(svc.store.clone(), Arc::new(clock.clone()), svc.config.clone()).await.map_err(err)?;
    let mut n = 0;
    for (i, case) in picked.iter().enumerate() {
        let t0 = if i == 5 { now.plus_ms(-HOUR_MS) } else { case.updated_at.plus_ms(HOUR_MS) };
        clock.set(t0);
        let (kind, source) = match i {
            0 => (MediationKind::People, Source::PartyApplied),
            1 => (MediationKind::People, Source::PoliceStation),
            2 => (MediationKind::Police, Source::PoliceStation),
            3 => (MediationKind::People, Source::Hotline12345),
            4 => (MediationKind::People, Source::Court),
            _ => (MediationKind::People, Source::MediatorInitiated),
        };
        let amount = Some(((case.id.0 * 7919) % 50 + 1) * 100_000);
        let m = svc.open_mediation(&actor, case.id, &OpenMediation { kind, source, amount_fen: amount }).await.map_err(err)?;
        let act = |cmd: MediationCommand| {
            let (svc, actor) = (&svc, &actor);
            async move { svc.act_mediation(actor, m.id, None, &cmd, None, None).await.map_err(err) }
        };
        let principals: Vec<i64> = m.principals();
        if i == 3 {
            act(MediationCommand::Consent {
                party: principals[1], agree: false, note: Some("不同意调解，要求依法处理".into())
            })
            .await?;
            n += 1;
            continue;
        }
        for p in &principals {
            act(MediationCommand::Consent { party: *p, agree: true, note: None }).await?;
        }
        let mediator = users
            .iter()
            .find(|u| u.role == Role::Mediator && u.jurisdiction.contains(&case.region))
            .map(|u| (u.id.clone(), u.name.clone()));
        let (uid, name) = mediator.unwrap_or_else(|| ("county-mediator".into(), "县调解中心调解员".into()));
        act(MediationCommand::Assign {
            user_id: Some(uid),
            name,
            role: MemberRole::PeoplesMediator,
            lead: true,
            conflicts: vec![],
            override_reason: None,
        })
        .await?;
        if i != 2 {
            act(MediationCommand::Assign {
                user_id: None,
                name: "周德明".into(),
                role: MemberRole::RespectedLocal,
                lead: false,
                conflicts: vec![],
                override_reason: None,
            })
            .await?;
        }
        // Another demo mediation may hold the room or the mediator then: try later slots.
        let first = if i == 5 { now.plus_ms(2 * DAY_MS) } else { t0.plus_ms(20 * HOUR_MS) };
        let room = format!("调解室{}", i % 2 + 1);
        let mut start = None;
        for k in 0..8 {
            let s = first.plus_ms(k * 3 * HOUR_MS);
            let cmd = MediationCommand::Schedule {
                start: s,
                end: s.plus_ms(90 * 60_000),
                room: Some(room.clone()),
                online: None,
                invited: vec![],
                mediators: vec![],
            };
            if act(cmd).await.is_ok() {
                start = Some(s);
                break;
            }
        }
        let Some(start) = start else { continue };
        let content = AgreementContent {
            facts: "双方因相邻关系发生纠纷，经调解员实地查看、分别听取意见。".into(),
            matters: "损失赔偿及今后相邻通行、排水的安排。".into(),
            responsibility: "被申请人承担主要责任，申请人承担次要责任。".into(),
            terms: vec![
                TermInput {
                    text: "被申请人向申请人赔偿损失".into(), how: "银行转账".into(), due: now.plus_ms(20 * DAY_MS)
                },
                TermInput { text: "双方共同疏通排水沟".into(), how: "双方出工".into(), due: now.plus_ms(30 * DAY_MS) },
            ],
        };
        if i == 5 {
            act(MediationCommand::Draft { content }).await?;
            n += 1;
            continue;
        }
        clock.set(start.plus_ms(2 * HOUR_MS));
        let outcome = if i == 2 { SessionOutcome::Failed } else { SessionOutcome::Agreed };
        act(MediationCommand::RecordSession {
            session: 1,
            present: principals.clone(),
            minutes: "双方陈述意见，调解员释法说理。".into(),
            outcome,
        })
        .await?;
        if i == 2 {
            n += 1;
            continue;
        }
        act(MediationCommand::Draft { content }).await?;
        for p in &principals {
            act(MediationCommand::Sign { signer: Signer::Party(*p) }).await?;
        }
        act(MediationCommand::Sign { signer: Signer::Mediator }).await?;
        act(MediationCommand::Sign { signer: Signer::Seal }).await?;
        act(MediationCommand::Judge { prevented_criminal: i == 0, prevented_group_petition: i == 1 }).await?;
        clock.set(start.plus_ms(3 * DAY_MS));
        match i {
            0 => {
                act(MediationCommand::Fulfil { term: 0, fulfilled: true, note: None, court: false }).await?;
                act(MediationCommand::Fulfil { term: 1, fulfilled: true, note: None, court: false }).await?;
            }
            1 => {
                act(MediationCommand::ApplyConfirmation { court: format!("{}人民法院", county.name) }).await?;
                act(MediationCommand::DecideConfirmation { confirmed: true, note: None }).await?;
            }
            4 => {
                act(MediationCommand::Fulfil { term: 0, fulfilled: false, note: Some("逾期未支付赔偿款".into()), court: true }).await?;
            }
            _ => {}
        }
        n += 1;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_mediation_policy_is_configuration() {
        let cfg: crate::config::Config =
            toml::from_str("[mediation]\nconfirmation_reminder_hours = 48\n[mediation.police]\nmax_sessions = 3\n").unwrap();
        let svc = cfg.service_config(None);
        assert_eq!((svc.mediation.police.max_sessions, svc.mediation.police.first_within_working_days), (3, 3));
        assert_eq!((svc.mediation.confirmation_reminder_hours, svc.mediation.confirmation_days), (48, 30));
        assert!(toml::from_str::<crate::config::Config>("[mediation]\nconfirmation_day = 30\n").is_err(), "unknown keys are refused");
    }
}

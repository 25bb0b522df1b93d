//! Community consultations for the demo county, made through the service: residents registered
//! in person on the roll of one village, a consultation open to them with proposals and
//! supports, and one already decided and being carried out, so the consultation pages (staff,
//! resident and public) show a matter at each stage.

use anyhow::anyhow;
use fengqiao_domain::clock::DAY_MS;
use fengqiao_domain::consultation::{ConsultCommand, ConsultSource};
use fengqiao_domain::{Actor, RegionLevel, Role};
use fengqiao_store::Service;

fn err(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow!("{e}")
}

/// Returns how many consultations it opened.
pub async fn consultations(svc: &Service) -> anyhow::Result<usize> {
    let r = svc.reference();
    let Some(county) = r.county.clone() else { return Ok(0) };
    let mut villages: Vec<_> = r.regions.values().filter(|g| g.level() == RegionLevel::Village).map(|g| g.code.clone()).collect();
    villages.sort();
    let Some(village) = villages.first().cloned() else { return Ok(0) };
    let sup = Actor::User { id: "county-supervisor".into(), role: Role::Supervisor, unit: None, jurisdiction: county.code.clone() };
    let now = svc.now();
    let mut roll = Vec::new();
    for i in 0..6 {
        roll.push(svc.register_resident(&sup, &format!("1700000{i:04}"), village.as_str()).await.map_err(err)?);
    }
    let open = svc
        .open_consultation(
            &sup,
            village.as_str(),
            "村口道路停车难，如何规划？",
            "村口道路两侧长期停满车辆，早晚高峰通行困难，近三个月相关投诉明显增多。请村民就停车位规划提出建议。",
            ConsultSource::Hotspot { note: "近三个月村口道路停车投诉集中".into() },
            now.plus_ms(10 * DAY_MS),
        )
        .await
        .map_err(err)?;
    let a = svc.propose(&roll[0], open.id, "利用村委会旁空地划设二十个停车位").await.map_err(err)?;
    let b = svc.propose(&roll[1], open.id, "村口道路一侧禁停，另一侧划线限时停车").await.map_err(err)?;
    for (who, p) in [(2, a), (3, a), (4, b)] {
        svc.support(&roll[who], open.id, p).await.map_err(err)?;
    }
    svc.comment(&roll[5], open.id, Some(a), "空地旁有小学，上下学时段要留出接送车位").await.map_err(err)?;

    let decided = svc
        .open_consultation(
            &sup,
            village.as_str(),
            "夜间广场舞音量扰民的约定",
            "广场舞音响晚间声音较大，附近住户反映影响休息。请大家商议活动时间和音量约定。",
            ConsultSource::Hotspot { note: "夜间噪声投诉".into() },
            now.plus_ms(7 * DAY_MS),
        )
        .await
        .map_err(err)?;
    let p = svc.propose(&roll[0], decided.id, "晚上八点半前结束，音量以不超过五十五分贝为限").await.map_err(err)?;
    for resident in &roll[1..4] {
        svc.support(resident, decided.id, p).await.map_err(err)?;
    }
    let steps = [
        ConsultCommand::Decide {
            text: "采纳村民建议：广场舞晚上八点半前结束，音量不超过五十五分贝。".into(),
            answer: "村委会已与广场舞队签订约定，并将在广场设置噪声显示屏。".into(),
        },
        ConsultCommand::AddMilestone { title: "与广场舞队签订约定".into(), due: Some(now.plus_ms(3 * DAY_MS)) },
        ConsultCommand::AddMilestone { title: "安装噪声显示屏".into(), due: Some(now.plus_ms(20 * DAY_MS)) },
        ConsultCommand::CompleteMilestone { index: 0 },
        ConsultCommand::Progress { percent: 50, note: Some("约定已签订，显示屏采购中".into()) },
    ];
    for cmd in &steps {
        svc.act_consultation(&sup, decided.id, None, cmd).await.map_err(err)?;
    }
    Ok(2)
}

//! The storage contract for perception: the case cube is counted in the database by region,
//! slice and category (with the serious ones), within scope; texts come with the few columns
//! the topics need; runs are stored and read back. Then the service on top: a growing cluster
//! of disputes in adjacent villages becomes a hot spot, an emerging pattern and an alert, a
//! rising share of serious cases in a town an alert, both seen only within jurisdiction; a
//! county whose counts do not change raises nothing.

use std::sync::Arc;

use fengqiao_domain::alert::AlertKind;
use fengqiao_domain::clock::DAY_MS;
use fengqiao_domain::perception::ALERTING_PATTERNS;
use fengqiao_domain::{Actor, CaseId, Channel, Command, ManualClock, RegionCode, Role, Severity};

use super::{T0, TOWN_A, TOWN_B, VILLAGE_A1, VILLAGE_B1, draft, region, seeded_with_clock, square, staff_actor};
use crate::{CubeCell, Scope, Service, Store};

const WEEK: i64 = 7 * DAY_MS;

pub async fn case_cube_and_texts(store: Arc<dyn Store>) {
    let clock = ManualClock::new(T0);
    let svc = seeded_with_clock(&store, clock.clone()).await;
    let intake = staff_actor("intake");
    let new = |cat: &'static str, village: &'static str, text: &'static str| {
        let (svc, intake) = (svc.clone(), intake.clone());
        async move { svc.create(draft(cat, village, text), &intake, Channel::Phone, None).await.unwrap().case.id }
    };
    clock.set(T0.plus_ms(DAY_MS));
    let a = new("noise", VILLAGE_A1, "夜市噪声").await;
    let b = new("noise", VILLAGE_A1, "广场舞音响").await;
    clock.set(T0.plus_ms(8 * DAY_MS));
    let mut dispute = draft("neighbour", VILLAGE_A1, "吴桂兰说吴永福占了她家宅基地纠纷");
    dispute.parties = [("applicant", "吴桂兰"), ("respondent", "吴永福")]
        .iter()
        .map(|(role, n)| fengqiao_domain::case::PartyDraft {
            role: role.to_string(),
            person: fengqiao_domain::PersonInput { name: Some(n.to_string()), ..Default::default() },
        })
        .collect();
    let c = svc.create(dispute, &intake, Channel::Visit, None).await.unwrap().case.id;
    svc.act(&intake, c, None, &Command::File { severity: Some(Severity::Serious), note: None }).await.unwrap();
    let d = new("noise", VILLAGE_B1, "装修噪声").await;
    // Outside the two slices asked for.
    clock.set(T0.plus_ms(15 * DAY_MS));
    let e = new("noise", VILLAGE_B1, "鸣笛").await;

    let cell = |region: &str, slice: u32, category: &str, cases: i64, serious: i64| CubeCell {
        region: region.into(),
        slice,
        category: category.into(),
        cases,
        serious,
    };
    let cube = store.case_cube(&Scope::All, T0, WEEK, 2).await.unwrap();
    assert_eq!(
        cube.cells,
        [cell(VILLAGE_A1, 0, "noise", 2, 0), cell(VILLAGE_A1, 1, "neighbour", 1, 1), cell(VILLAGE_B1, 1, "noise", 1, 0)]
    );
    assert_eq!(cube.max_case_id, e.0, "the newest case, in the window or not");
    let town_a = Scope::for_actor(&staff_actor("sup-a"));
    let cube = store.case_cube(&town_a, T0, WEEK, 3).await.unwrap();
    assert_eq!(cube.cells.iter().map(|c| c.region.as_str()).collect::<Vec<_>>(), [VILLAGE_A1, VILLAGE_A1], "scope is in the query");
    assert!(store.case_cube(&Scope::Nothing, T0, WEEK, 3).await.unwrap().cells.is_empty());
    assert!(store.case_cube(&Scope::All, T0, WEEK, 0).await.unwrap().cells.is_empty());

    let texts = store.case_texts(&Scope::All, T0.plus_ms(WEEK), T0.plus_ms(2 * WEEK)).await.unwrap();
    let got: Vec<_> = texts.iter().map(|t| (t.id, t.region.as_str(), t.category.as_str(), t.serious)).collect();
    assert_eq!(got, [(c.0, VILLAGE_A1, "neighbour", true), (d.0, VILLAGE_B1, "noise", false)]);
    assert!(texts[0].text.contains("宅基地纠纷"), "{:?}", texts[0].text);
    // With the names of the case's people on record (the reporter and the parties), for the
    // topics to leave out.
    let mut names = texts[0].names.clone();
    names.sort();
    assert_eq!(names, ["吴桂兰", "吴永福", "王五"]);
    assert_eq!(texts[1].names, ["王五"]);
    assert_eq!(texts[1].created_at, T0.plus_ms(8 * DAY_MS));
    let texts = store.case_texts(&town_a, T0, T0.plus_ms(3 * WEEK)).await.unwrap();
    assert_eq!(texts.iter().map(|t| t.id).collect::<Vec<_>>(), [a.0, b.0, c.0]);

    // Runs: none, then the newest of several.
    assert!(store.perception_run().await.unwrap().is_none());
    let (mut run, _) = svc.run_perception(T0.plus_ms(2 * WEEK)).await.unwrap();
    assert_eq!(store.perception_run().await.unwrap().as_ref(), Some(&run));
    for i in 1..=7 {
        run.at = T0.plus_ms(2 * WEEK + i);
        store.save_perception_run(&run).await.unwrap();
    }
    assert_eq!(store.perception_run().await.unwrap().map(|r| r.at), Some(T0.plus_ms(2 * WEEK + 7)));
}

/// Town A: a 4 × 4 block of villages, 0.05° squares sharing their corners. Town B keeps its
/// one village. The scan runs with 99 replicates (p-values down to 0.01).
async fn block_county(store: &Arc<dyn Store>, clock: ManualClock) -> (Arc<Service>, Vec<String>) {
    let base = seeded_with_clock(store, clock.clone()).await;
    let mut cfg = base.config.clone();
    cfg.analytics.scan_replicates = 99;
    let svc = Arc::new(Service::new(store.clone(), Arc::new(clock), cfg).await.unwrap());
    let mut villages = Vec::new();
    let mut regions = Vec::new();
    for row in 0..4 {
        for col in 0..4 {
            let code = format!("330681101{:03}", row * 4 + col + 1);
            let sq = square(120.0 + col as f64 * 0.05, 29.0 + row as f64 * 0.05, 0.05);
            regions.push(region(&code, &format!("甲{}村", row * 4 + col + 1), Some(sq)));
            villages.push(code);
        }
    }
    store.put_regions(&regions, "system:contract", T0).await.unwrap();
    svc.reload().await.unwrap();
    (svc, villages)
}

/// Every village in town A gets `1 + i % 2` cases a week over 12 weeks; `extra(week, i)` more.
async fn fill(svc: &Arc<Service>, clock: &ManualClock, villages: &[String], extra: impl Fn(usize, usize) -> usize) {
    let intake = staff_actor("intake");
    for week in 0..12 {
        clock.set(T0.plus_ms(week as i64 * WEEK + DAY_MS));
        for (i, v) in villages.iter().enumerate() {
            let steady = [("street_light", "路灯不亮"), ("sanitation", "垃圾清运不及时")];
            for (cat, text) in steady.iter().take(1 + i % 2) {
                svc.create(draft(cat, v, text), &intake, Channel::Phone, None).await.unwrap();
            }
            for _ in 0..extra(week, i) {
                svc.create(draft("neighbour", v, "邻居宅基地界址纠纷"), &intake, Channel::Phone, None).await.unwrap();
            }
        }
    }
}

fn supervisor(town: &str) -> Actor {
    Actor::User { id: format!("sup-{town}"), role: Role::Supervisor, unit: None, jurisdiction: RegionCode::parse(town).unwrap() }
}

pub async fn perception_finds_a_growing_cluster(store: Arc<dyn Store>) {
    let clock = ManualClock::new(T0);
    let (svc, villages) = block_county(&store, clock.clone()).await;
    // The corner 2 × 2 (villages 1, 2, 5, 6) heats up over the last three weeks.
    let cluster = [0usize, 1, 4, 5];
    fill(&svc, &clock, &villages, |week, i| if cluster.contains(&i) && week >= 9 { 2 * (week - 8) } else { 0 }).await;
    // Town B's village: three cases a week, two of them serious in the last four weeks.
    let intake = staff_actor("intake");
    for week in 0..12 {
        clock.set(T0.plus_ms(week as i64 * WEEK + 2 * DAY_MS));
        for k in 0..3 {
            let id = svc.create(draft("sanitation", VILLAGE_B1, "排水沟堵塞"), &intake, Channel::Phone, None).await.unwrap().case.id;
            if week >= 8 && k < 2 {
                svc.act(&intake, id, None, &Command::File { severity: Some(Severity::Major), note: None }).await.unwrap();
            }
        }
    }
    let now = T0.plus_ms(12 * WEEK - 1);
    clock.set(now);
    let (run, raised) = svc.run_perception(now).await.unwrap();
    assert_eq!((run.weeks, run.from, run.max_case_id), (12, T0, run.cases));
    let spot = |code: &str| run.villages.iter().find(|v| v.region.as_str() == code).unwrap();
    for &i in &cluster {
        let v = spot(&villages[i]);
        assert!(v.z > 1.5 && v.p_sim.is_some_and(|p| p < 0.15), "village {i} leans hot: {v:?}");
        assert!(ALERTING_PATTERNS.contains(&v.pattern.as_str()), "{v:?}");
        assert_eq!(v.counts[11] as usize, 1 + i % 2 + 6);
        assert_eq!(v.case_ids.len(), v.counts[11] as usize, "the latest week's cases are the evidence");
    }
    let corner = spot(&villages[0]);
    assert!(corner.class >= 2 && corner.q.is_some_and(|q| q <= 0.05), "the corner is a hot spot at 95% after FDR: {corner:?}");
    assert_eq!(corner.pattern, "consecutive_hot_spot");
    let far = spot(&villages[15]);
    assert!(far.class <= 0 && !ALERTING_PATTERNS.contains(&far.pattern.as_str()), "the far corner is no hot spot: {far:?}");
    // Alerts: the cluster's villages, the term and category of its disputes, town B's severity.
    let hot: Vec<&str> = raised.iter().filter(|a| a.kind == AlertKind::EmergingHotspot).map(|a| a.region.as_str()).collect();
    let grew: Vec<&str> = cluster.iter().map(|&i| villages[i].as_str()).collect();
    assert_eq!(hot, grew, "the villages that grew; their quiet neighbours are in the hot spot but not alerted");
    let burst = raised.iter().find(|a| a.kind == AlertKind::CategoryBurst).expect("the disputes burst");
    assert_eq!((burst.region.as_str(), burst.evidence.category.as_deref(), burst.evidence.count), (TOWN_A, Some("neighbour"), 24));
    let terms: Vec<&str> = raised.iter().filter(|a| a.kind == AlertKind::TermBurst).filter_map(|a| a.evidence.term.as_deref()).collect();
    assert!(terms.contains(&"宅基地"), "{terms:?}");
    let severe = raised.iter().find(|a| a.kind == AlertKind::RisingSeverity).expect("town B's share of serious cases rose");
    assert_eq!((severe.region.as_str(), severe.evidence.count, severe.evidence.case_ids.len()), (TOWN_B, 8, 8));
    assert!(severe.recipients.contains(&"user:sup".to_string()));
    // The space–time scan: its most likely cluster is the planted corner, growing over the
    // last weeks, in town A.
    let top = &run.clusters[0];
    assert_eq!((top.rank, top.model.as_str(), top.region.as_str()), (1, "poisson", TOWN_A), "{top:?}");
    for &i in &cluster {
        assert!(top.villages.iter().any(|v| v.as_str() == villages[i]), "village {i} is in the cluster: {top:?}");
    }
    assert!(top.villages.len() <= 8, "half the population at most: {top:?}");
    assert!(top.p <= 0.01 && top.relative_risk.is_some_and(|rr| rr > 2.0) && top.observed as f64 > 2.0 * top.expected, "{top:?}");
    assert!(top.start_slice >= 6 && top.start_slice <= 9 && top.end == now, "within the last half of the weeks: {top:?}");
    assert_eq!(top.start, T0.plus_ms(top.start_slice as i64 * WEEK));
    assert!((top.recurrence_days - 7.0 / top.p).abs() < 1e-9);
    assert_eq!(top.series.iter().map(|&c| c as u64).skip(top.start_slice as usize).sum::<u64>(), top.observed);
    assert_eq!(top.case_ids.len() as u64, top.observed, "the window's cases are the evidence");
    let scan: Vec<_> = raised.iter().filter(|a| a.kind == AlertKind::ScanCluster).collect();
    assert_eq!(scan.len(), 1, "{scan:?}");
    let a = scan[0];
    assert_eq!((a.region.as_str(), a.evidence.count as u64, &a.evidence.regions), (TOWN_A, top.observed, &top.villages));
    assert_eq!(a.evidence.series, top.series);
    assert!(a.evidence.figures["p"] <= 0.01 && a.evidence.figures.contains_key("relative_risk"), "{:?}", a.evidence.figures);
    assert!(a.dedup_key.starts_with(&format!("scan_cluster:region:{}:", top.center)), "{}", a.dedup_key);
    // Raised once while live.
    assert!(svc.run_perception(now.plus_ms(60_000)).await.unwrap().1.is_empty());

    // Within jurisdiction: town B's supervisor sees town B only, town A's only town A.
    let b = svc.perception(&supervisor(TOWN_B)).await.unwrap().unwrap();
    assert!(b.villages.iter().all(|v| v.region.as_str() == VILLAGE_B1) && !b.villages.is_empty());
    assert!(b.topics.is_empty());
    assert!(
        b.clusters.iter().all(|c| c.region.as_str() == TOWN_B && c.p > 0.05),
        "town A's cluster is not town B's to see: {:?}",
        b.clusters
    );
    assert_eq!(b.severity.len(), 1);
    let a = svc.perception(&supervisor(TOWN_A)).await.unwrap().unwrap();
    assert_eq!(a.villages.len(), 16);
    assert!(a.severity.is_empty() && !a.topics.is_empty());
    assert_eq!(a.clusters.first().map(|c| &c.villages), Some(&top.villages), "the cluster is town A's");
    assert!(svc.perception(&staff_actor("handler-a1")).await.is_err(), "not for handlers");
    // A case filed later marks the run stale for the scheduler's incremental run.
    let sched = crate::Scheduler::new(svc.clone());
    let later = now.plus_ms(20 * 60_000);
    // The nightly run of the day is claimed first, once.
    let first = sched.run_analytics(later).await.unwrap();
    assert!(first.is_some());
    assert!(sched.run_analytics(later.plus_ms(60_000)).await.unwrap().is_none(), "nothing new, and too soon");
    clock.set(later);
    let id: CaseId = svc.create(draft("noise", VILLAGE_A1, "夜市"), &intake, Channel::Phone, None).await.unwrap().case.id;
    assert!(sched.run_analytics(later.plus_ms(60_000)).await.unwrap().is_none(), "a new case, but too soon");
    let (rerun, _) = sched.run_analytics(later.plus_ms(16 * 60_000)).await.unwrap().expect("a new case, and 15 minutes on");
    assert_eq!(rerun.max_case_id, id.0);
}

pub async fn perception_of_a_quiet_county_raises_nothing(store: Arc<dyn Store>) {
    let clock = ManualClock::new(T0);
    let (svc, villages) = block_county(&store, clock.clone()).await;
    fill(&svc, &clock, &villages, |_, _| 0).await;
    let now = T0.plus_ms(12 * WEEK - 1);
    let (run, raised) = svc.run_perception(now).await.unwrap();
    assert!(raised.is_empty(), "{raised:?}");
    assert!(run.topics.is_empty() && run.severity.is_empty());
    assert!(run.villages.iter().all(|v| !ALERTING_PATTERNS.contains(&v.pattern.as_str())));
    assert!(run.clusters.iter().all(|c| c.p > 0.05), "no significant scan cluster: {:?}", run.clusters);
    assert_eq!(run.scan_replicates, 99);
    assert_eq!(run.cases, 16 * 12 * 3 / 2);
}

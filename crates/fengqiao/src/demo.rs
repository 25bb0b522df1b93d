//! `fengqiao demo`: a deterministic synthetic county. The same seed and scale give the same
//! county, people and casework every time.
//!
//! Geography: a convex county split into towns by a Voronoi partition of town seats, each
//! town into villages and communities by a Voronoi partition of village centres, and each
//! village into grids the same way (all cells convex, so clipping by half-planes is exact).
//! Casework: a year of cases ending today, with the category mix of the people's-mediation
//! statistics, a weekly and seasonal rhythm, handling times, escalations, ratings and repeat
//! disputes, produced by running the real lifecycle (`Case::decide`) on a moving clock. The
//! result is written as a backup snapshot through the same path as `fengqiao restore`.

use std::collections::HashMap;

use fengqiao_domain::audit::{StoredEvent, event_hash};
use fengqiao_domain::case::*;
use fengqiao_domain::category::{Category, CategoryKind, builtin_categories};
use fengqiao_domain::clock::{DAY_MS, HOUR_MS};
use fengqiao_domain::geo::Polygon;
use fengqiao_domain::lifecycle::{CaseEvent, DecideContext};
use fengqiao_domain::person::id_check_char;
use fengqiao_domain::routing::RouteInput;
use fengqiao_domain::{
    Actor, Command, EventKind, LifecycleConfig, Point, Region, RegionCode, Role, Timestamp, Unit, UnitId, UnitKind, User,
};
use fengqiao_store::{BackupRecord, Credentials, Person};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

pub const COUNTY_CODE: &str = "330699000000";

pub struct DemoOptions {
    pub seed: u64,
    /// 1.0 is about 30,000 cases a year.
    pub scale: f64,
    /// The last day of the simulated year.
    pub now: Timestamp,
}

/// A generated county: reference data, staff with their demo tokens, and the snapshot
/// records of people, cases and events.
pub struct Demo {
    pub regions: Vec<Region>,
    pub units: Vec<Unit>,
    pub categories: Vec<Category>,
    pub users: Vec<(User, String)>,
    pub persons: Vec<Person>,
    pub cases: Vec<Case>,
    /// Case events in time order, not yet numbered.
    pub events: Vec<(i64, CaseEvent)>,
}

const SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴", "徐", "孙", "胡", "朱", "高", "林", "何", "郭", "马", "罗", "楼", "骆",
    "宣", "蔡", "钱",
];
const GIVEN: &[&str] = &[
    "建国", "秀英", "伟", "芳", "国强", "丽华", "志明", "春燕", "海涛", "红梅", "永福", "桂兰", "晓东", "雪梅", "立新", "玉珍", "振华",
    "美玲", "德明", "金花", "文杰", "小红", "宏伟", "静",
];
const TOWN_NAMES: &[&str] =
    &["枫桥", "店口", "大唐", "次坞", "璜山", "牌头", "安华", "街亭", "草塔", "应店", "马剑", "五泄", "赵家", "东白湖", "陶朱", "暨阳"];
const VILLAGE_WORDS: &[&str] = &[
    "溪", "山", "塘", "桥", "湾", "坞", "岭", "畈", "家", "新", "青", "石", "竹", "枫", "杨", "上", "下", "东", "西", "南", "北", "前",
    "后", "里",
];

fn square_poly(pts: &[(f64, f64)]) -> Vec<Point> {
    let mut v: Vec<Point> = pts.iter().map(|(x, y)| Point { lon: *x, lat: *y }).collect();
    v.push(v[0]);
    v
}

/// Keeps the part of a convex ring closer to `a` than to `b` (Sutherland–Hodgman on the
/// bisector half-plane).
fn clip_closer(ring: &[Point], a: Point, b: Point) -> Vec<Point> {
    let (dx, dy) = (b.lon - a.lon, b.lat - a.lat);
    let c = (b.lon * b.lon + b.lat * b.lat - a.lon * a.lon - a.lat * a.lat) / 2.0;
    let side = |p: &Point| p.lon * dx + p.lat * dy - c; // <= 0: closer to a
    let mut out = Vec::new();
    let n = ring.len().saturating_sub(1); // the ring is closed
    for i in 0..n {
        let (p, q) = (ring[i], ring[i + 1]);
        let (sp, sq) = (side(&p), side(&q));
        if sp <= 0.0 {
            out.push(p);
        }
        if (sp <= 0.0) != (sq <= 0.0) {
            let t = sp / (sp - sq);
            out.push(Point { lon: p.lon + t * (q.lon - p.lon), lat: p.lat + t * (q.lat - p.lat) });
        }
    }
    if let Some(f) = out.first().copied() {
        out.push(f);
    }
    out
}

fn voronoi_cell(container: &[Point], sites: &[Point], i: usize) -> Vec<Point> {
    let mut cell = container.to_vec();
    for (j, s) in sites.iter().enumerate() {
        if j != i && cell.len() > 3 {
            cell = clip_closer(&cell, sites[i], *s);
        }
    }
    cell
}

fn centroid(ring: &[Point]) -> Point {
    let n = (ring.len() - 1).max(1) as f64;
    let (sx, sy) = ring[..ring.len() - 1].iter().fold((0.0, 0.0), |a, p| (a.0 + p.lon, a.1 + p.lat));
    Point { lon: sx / n, lat: sy / n }
}

/// A random point inside a convex ring (rejection sampling in its bounding box).
fn point_in(rng: &mut StdRng, poly: &Polygon) -> Point {
    let (min, max) = poly.bbox();
    for _ in 0..200 {
        let p = Point { lon: rng.gen_range(min.lon..max.lon), lat: rng.gen_range(min.lat..max.lat) };
        if poly.contains(p) {
            return p;
        }
    }
    centroid(&poly.exterior)
}

fn pick<'a, T>(rng: &mut StdRng, xs: &'a [T]) -> &'a T {
    &xs[rng.gen_range(0..xs.len())]
}

/// Picks an index by weight.
fn weighted(rng: &mut StdRng, weights: &[f64]) -> usize {
    let total: f64 = weights.iter().sum();
    let mut x = rng.r#gen::<f64>() * total;
    for (i, w) in weights.iter().enumerate() {
        if x < *w {
            return i;
        }
        x -= w;
    }
    weights.len() - 1
}

fn person_name(rng: &mut StdRng) -> String {
    format!("{}{}", pick(rng, SURNAMES), pick(rng, GIVEN))
}

struct Town {
    code: RegionCode,
    villages: Vec<usize>,
}

/// Category weights and text templates. `{v}` village, `{a}` and `{b}` names, `{x}` a detail.
struct Kind {
    code: &'static str,
    weight: f64,
    zh: &'static [&'static str],
    en: &'static [&'static str],
    details: &'static [&'static str],
}

const KINDS: &[Kind] = &[
    Kind {
        code: "damages",
        weight: 12.0,
        zh: &["{a}的电动车被{b}的货车刮擦，双方对赔偿金额有争议（{x}）。", "{v}{a}家的鸡被{b}家的狗咬死，要求赔偿。"],
        en: &["{a}'s e-bike was hit by {b}'s van; they disagree on compensation ({x})."],
        details: &["约两千元", "约五百元", "修车费八百元"],
    },
    Kind {
        code: "contract",
        weight: 7.0,
        zh: &["{a}承包{b}的果园，对租金支付时间发生纠纷。", "{a}为{b}装修房屋，尾款{x}未结清。"],
        en: &["{a} renovated {b}'s house and {x} of the fee is unpaid."],
        details: &["三万元", "八千元", "一万二千元"],
    },
    Kind {
        code: "neighbour",
        weight: 9.0,
        zh: &["{v}{a}与邻居{b}因{x}发生争执，情绪激动。", "{a}反映邻居{b}{x}，多次沟通未果。"],
        en: &["{a} and neighbour {b} quarrel over {x}."],
        details: &["排水沟", "宅前通道", "空调外机", "围墙高度", "堆放杂物"],
    },
    Kind {
        code: "marriage_family",
        weight: 7.0,
        zh: &["{a}与{b}因{x}产生家庭矛盾，请求调解。"],
        en: &["{a} and {b} are in a family dispute over {x}."],
        details: &["赡养老人", "子女抚养", "家庭财产分割", "彩礼返还"],
    },
    Kind {
        code: "housing_homestead",
        weight: 4.0,
        zh: &["{v}{a}与{b}对宅基地边界有争议（{x}）。"],
        en: &["{a} and {b} dispute a homestead boundary ({x})."],
        details: &["约两米", "老屋拆除后", "围墙越界"],
    },
    Kind {
        code: "labour",
        weight: 4.0,
        zh: &["{a}等{x}名工人反映{b}拖欠工资。"],
        en: &["{a} and {x} other workers say {b} owes them wages."],
        details: &["三", "五", "十二", "二十"],
    },
    Kind {
        code: "traffic_accident",
        weight: 3.0,
        zh: &["{a}与{b}在{v}路口发生轻微交通事故，就责任划分有争议。"],
        en: &["Minor crash at the {v} junction between {a} and {b}; liability disputed."],
        details: &[""],
    },
    Kind {
        code: "property_management",
        weight: 3.0,
        zh: &["{v}小区业主{a}对物业费{x}有异议。"],
        en: &["Resident {a} disputes the property fee ({x})."],
        details: &["上涨", "电梯维修分摊", "停车收费"],
    },
    Kind {
        code: "consumer",
        weight: 2.0,
        zh: &["{a}在{b}的店里购买的{x}有质量问题，商家拒绝退换。"],
        en: &["{a} bought a faulty {x} at {b}'s shop; refund refused."],
        details: &["电瓶车", "冰箱", "手机"],
    },
    Kind {
        code: "medical",
        weight: 1.0,
        zh: &["{a}对镇卫生院的诊疗结果不满，要求说法。"],
        en: &["{a} is unhappy with treatment at the town clinic."],
        details: &[""],
    },
    Kind {
        code: "forest_land",
        weight: 1.5,
        zh: &["{a}与{b}对{x}的山林权属有争议。"],
        en: &["{a} and {b} dispute the ownership of forest on {x}."],
        details: &["后山", "竹林", "茶园"],
    },
    Kind {
        code: "land_requisition",
        weight: 0.8,
        zh: &["{a}对征地补偿标准有异议。"],
        en: &["{a} objects to the land requisition compensation."],
        details: &[""],
    },
    Kind {
        code: "pollution",
        weight: 1.0,
        zh: &["{v}村民反映{b}的{x}污染环境。"],
        en: &["Villagers report pollution from {b}'s {x}."],
        details: &["养猪场", "小作坊", "石料厂"],
    },
    Kind {
        code: "other_dispute",
        weight: 1.5,
        zh: &["{a}与{b}之间的其他纠纷：{x}。"],
        en: &["Another dispute between {a} and {b}: {x}."],
        details: &["借款未还", "宠物伤人", "合伙分红"],
    },
    Kind {
        code: "road_damage",
        weight: 5.0,
        zh: &["{v}村道有坑洼，{x}。"],
        en: &["Potholes on the {v} road, {x}."],
        details: &["雨天积水", "电动车摔倒过", "影响通行"],
    },
    Kind {
        code: "street_light",
        weight: 4.0,
        zh: &["{v}{x}路灯不亮已一周。"],
        en: &["The street lights at {v} {x} have been out for a week."],
        details: &["村口", "桥头", "文化礼堂旁"],
    },
    Kind {
        code: "sanitation",
        weight: 5.0,
        zh: &["{v}{x}垃圾堆积无人清理。"],
        en: &["Rubbish is piling up at {v} {x}."],
        details: &["河边", "菜市场", "公交站"],
    },
    Kind {
        code: "noise",
        weight: 4.0,
        zh: &["{v}{x}夜间噪声扰民。"],
        en: &["Night-time noise from {x} in {v}."],
        details: &["广场舞", "工地", "KTV", "加工厂"],
    },
    Kind {
        code: "water_supply",
        weight: 2.0,
        zh: &["{v}停水{x}，无人通知。"],
        en: &["No water in {v} for {x}, with no notice."],
        details: &["两天", "一整天", "三天"],
    },
    Kind {
        code: "illegal_construction",
        weight: 2.0,
        zh: &["{b}在{v}违章搭建{x}。"],
        en: &["{b} is building an illegal {x} in {v}."],
        details: &["彩钢棚", "二层楼", "围墙"],
    },
    Kind {
        code: "public_security",
        weight: 3.0,
        zh: &["{v}{x}有可疑人员出没，村民担心。"],
        en: &["Suspicious people seen around {v} {x}."],
        details: &["夜间", "仓库附近", "学校门口"],
    },
    Kind {
        code: "fraud_report",
        weight: 1.5,
        zh: &["{a}接到冒充{x}的电话，被骗{b}元。"],
        en: &["{a} was defrauded by a caller posing as {x}."],
        details: &["公检法", "客服", "亲友"],
    },
    Kind {
        code: "help_request",
        weight: 2.0,
        zh: &["{a}家老人走失，最后出现在{v}{x}。"],
        en: &["{a}'s elderly relative went missing near {v} {x}."],
        details: &["村口", "集市", "河边"],
    },
    Kind {
        code: "policy_consultation",
        weight: 3.0,
        zh: &["{a}咨询{x}政策。"],
        en: &["{a} asks about the {x} policy."],
        details: &["医保缴费", "养老保险", "宅基地审批", "低保申请"],
    },
    Kind {
        code: "complaint_staff",
        weight: 0.7,
        zh: &["{a}投诉窗口工作人员{x}。"],
        en: &["{a} complains that counter staff {x}."],
        details: &["态度差", "推诿", "办事拖拉"],
    },
    Kind {
        code: "other_request",
        weight: 2.0,
        zh: &["{a}反映：{x}。"],
        en: &["{a} reports: {x}."],
        details: &["公交班次太少", "健身器材损坏", "河道需要清淤"],
    },
];

/// Seasonal factor by month (1..=12): disputes rise before the Spring Festival (wages, debts)
/// and noise in summer.
fn season(month: i8, code: &str) -> f64 {
    let base = match month {
        1 | 2 => 1.25,
        7 | 8 => 1.1,
        10 => 0.9,
        _ => 1.0,
    };
    match (code, month) {
        ("labour", 1 | 12) => base * 2.0,
        ("noise", 6..=8) => base * 1.6,
        ("water_supply", 7 | 8) => base * 1.5,
        _ => base,
    }
}

/// The planted cluster: the first village of the third town and up to three of its neighbours
/// in the same town (sharing a boundary vertex), as indices into `regions`.
fn plant_cluster(regions: &[Region], towns: &[Town]) -> Vec<usize> {
    let Some(town) = towns.get(2).or(towns.first()) else { return vec![] };
    let Some(&first) = town.villages.first() else { return vec![] };
    let corners = |i: usize| -> Vec<(u64, u64)> {
        regions[i].boundary.iter().flat_map(|b| b.exterior.iter()).map(|p| (p.lon.to_bits(), p.lat.to_bits())).collect()
    };
    let mine = corners(first);
    let mut out = vec![first];
    for &v in &town.villages[1..] {
        if out.len() < 4 && corners(v).iter().any(|c| mine.contains(c)) {
            out.push(v);
        }
    }
    out
}

pub fn generate(opts: &DemoOptions) -> Demo {
    let mut rng = StdRng::seed_from_u64(opts.seed);
    let tz = jiff::tz::TimeZone::get("Asia/Shanghai").expect("bundled tz database");
    let county_code = RegionCode::parse(COUNTY_CODE).expect("valid");
    // The county: an irregular convex octagon around 120.3E 29.75N.
    let county_ring = square_poly(&[
        (120.05, 29.62),
        (120.35, 29.52),
        (120.62, 29.6),
        (120.7, 29.78),
        (120.6, 29.96),
        (120.33, 30.02),
        (120.08, 29.95),
        (119.98, 29.78),
    ]);
    let county_poly = Polygon { exterior: county_ring.clone(), holes: vec![] };
    let mut regions = vec![Region {
        code: county_code.clone(),
        name: "枫溪县".into(),
        name_en: Some("Fengxi County".into()),
        population: 0,
        centroid: Some(centroid(&county_ring)),
        boundary: Some(county_poly.clone()),
        ..Region::new(county_code.clone(), "", 0)
    }];
    let n_towns = 12;
    let town_sites: Vec<Point> = (0..n_towns).map(|_| point_in(&mut rng, &county_poly)).collect();
    let mut towns = Vec::new();
    let mut village_idx = Vec::new(); // indices into regions
    for (ti, site) in town_sites.iter().enumerate() {
        let cell = voronoi_cell(&county_ring, &town_sites, ti);
        let is_subdistrict = ti < 2; // the county seat's two sub-districts
        let code = RegionCode::parse(&format!("330699{}{:02}000", if is_subdistrict { 0 } else { 1 }, ti + 1)).expect("valid");
        let name = format!("{}{}", TOWN_NAMES[ti % TOWN_NAMES.len()], if is_subdistrict { "街道" } else { "镇" });
        let poly = Polygon { exterior: cell.clone(), holes: vec![] };
        let tr = regions.len();
        regions.push(Region {
            code: code.clone(),
            name,
            name_en: None,
            population: 0,
            centroid: Some(*site),
            boundary: Some(poly.clone()),
            ..Region::new(code.clone(), "", 0)
        });
        let n_villages = rng.gen_range(20..32);
        let vsites: Vec<Point> = (0..n_villages).map(|_| point_in(&mut rng, &poly)).collect();
        let mut vs = Vec::new();
        for vi in 0..n_villages {
            let vcell = voronoi_cell(&cell, &vsites, vi);
            if vcell.len() < 4 {
                continue;
            }
            let community = is_subdistrict || vi < 3;
            let vcode =
                RegionCode::parse(&format!("{}{:03}", &code.as_str()[..9], if community { 1 + vi } else { 200 + vi })).expect("valid");
            let vname =
                format!("{}{}{}", pick(&mut rng, VILLAGE_WORDS), pick(&mut rng, VILLAGE_WORDS), if community { "社区" } else { "村" });
            let pop = if community { rng.gen_range(3000..9000) } else { rng.gen_range(600..3200) };
            let vpoly = Polygon { exterior: vcell.clone(), holes: vec![] };
            let idx = regions.len();
            regions.push(Region {
                code: vcode.clone(),
                name: vname,
                name_en: None,
                population: pop,
                centroid: Some(centroid(&vcell)),
                boundary: Some(vpoly.clone()),
                ..Region::new(vcode.clone(), "", 0)
            });
            vs.push(idx);
            village_idx.push(idx);
            // Grids: about one per 800 residents.
            let n_grids = ((pop / 800) as usize).clamp(1, 8);
            let gsites: Vec<Point> = (0..n_grids).map(|_| point_in(&mut rng, &vpoly)).collect();
            for gi in 0..n_grids {
                let gcell = voronoi_cell(&vcell, &gsites, gi);
                if gcell.len() < 4 {
                    continue;
                }
                let gcode = RegionCode::parse(&format!("{}{:03}", vcode.as_str(), gi + 1)).expect("valid");
                regions.push(Region {
                    code: gcode.clone(),
                    name: format!("第{}网格", gi + 1),
                    name_en: Some(format!("Grid {}", gi + 1)),
                    population: pop / n_grids as u32,
                    centroid: Some(centroid(&gcell)),
                    boundary: Some(Polygon { exterior: gcell, holes: vec![] }),
                    ..Region::new(gcode.clone(), "", 0)
                });
            }
        }
        let town_pop: u32 = vs.iter().map(|i| regions[*i].population).sum();
        regions[tr].population = town_pop;
        towns.push(Town { code, villages: vs });
    }
    regions[0].population = towns.iter().map(|t| regions.iter().find(|r| r.code == t.code).map(|r| r.population).unwrap_or(0)).sum();
    // Neighbouring cells compute their shared corners separately, equal only up to rounding;
    // snapped to a millionth of a degree (about 0.1 m) they are the same point, so neighbours
    // share vertices exactly, as digitised boundaries do (queen contiguity compares exactly).
    for r in &mut regions {
        if let Some(b) = &mut r.boundary {
            for p in &mut b.exterior {
                *p = Point { lon: (p.lon * 1e6).round() / 1e6, lat: (p.lat * 1e6).round() / 1e6 };
            }
            b.exterior.dedup();
        }
    }
    let planted = plant_cluster(&regions, &towns);

    // Units and staff.
    let mut units = Vec::new();
    let mut users: Vec<(User, String)> = Vec::new();
    let unit = |id: &str, name: &str, en: Option<&str>, kind: UnitKind, region: &RegionCode| Unit {
        id: UnitId(id.into()),
        name: name.into(),
        name_en: en.map(Into::into),
        kind,
        region: region.clone(),
        handles: vec![],
    };
    let staff = |id: &str, name: String, role: Role, unit: Option<&str>, j: &RegionCode| -> (User, String) {
        (User { id: id.into(), name, role, unit: unit.map(|u| UnitId(u.into())), jurisdiction: j.clone() }, format!("demo-{id}"))
    };
    for (id, name, en, kind) in [
        ("county-centre", "县社会矛盾纠纷调处化解中心", "County Conflict Mediation Centre", UnitKind::CountyMediationCentre),
        ("dept-labour", "县人力资源和社会保障局", "County Human Resources and Social Security Bureau", UnitKind::GovernmentDepartment),
        ("dept-housing", "县住房和城乡建设局", "County Housing and Urban-Rural Development Bureau", UnitKind::GovernmentDepartment),
        ("dept-environment", "县生态环境分局", "County Ecology and Environment Office", UnitKind::GovernmentDepartment),
        ("dept-market", "县市场监督管理局", "County Market Regulation Bureau", UnitKind::GovernmentDepartment),
        ("dept-health", "县卫生健康局", "County Health Bureau", UnitKind::GovernmentDepartment),
        ("dept-resources", "县自然资源和规划局", "County Natural Resources Bureau", UnitKind::GovernmentDepartment),
        ("water-co", "县水务集团", "County Water Company", UnitKind::ServiceProvider),
        ("law-firm-1", "枫溪律师事务所", "Fengxi Law Firm", UnitKind::LawFirm),
        ("social-org-1", "老娘舅调解志愿者协会", "Old Uncles Mediation Volunteers", UnitKind::SocialOrganisation),
    ] {
        units.push(unit(id, name, Some(en), kind, &county_code));
    }
    users.push(staff("admin", "系统管理员".into(), Role::Admin, None, &county_code));
    users.push(staff("county-supervisor", "县委政法委督查员".into(), Role::Supervisor, None, &county_code));
    users.push(staff("county-hotline", "12345热线坐席".into(), Role::Intake, None, &county_code));
    users.push(staff("county-mediator", "县调解中心调解员".into(), Role::Mediator, Some("county-centre"), &county_code));
    for (dept, _, _, _) in [
        ("dept-labour", 0, 0, 0),
        ("dept-housing", 0, 0, 0),
        ("dept-environment", 0, 0, 0),
        ("dept-market", 0, 0, 0),
        ("dept-health", 0, 0, 0),
        ("dept-resources", 0, 0, 0),
        ("water-co", 0, 0, 0),
    ] {
        users.push(staff(&format!("{dept}-staff"), format!("{}经办人", dept), Role::Handler, Some(dept), &county_code));
    }
    for (ti, t) in towns.iter().enumerate() {
        let tname = regions.iter().find(|r| r.code == t.code).map(|r| r.name.clone()).unwrap_or_default();
        let n = ti + 1;
        units.push(unit(&format!("ps-{n:02}"), &format!("{tname}派出所"), None, UnitKind::PoliceStation, &t.code));
        units.push(unit(&format!("jo-{n:02}"), &format!("{tname}司法所"), None, UnitKind::JudicialOffice, &t.code));
        units.push(unit(&format!("tmc-{n:02}"), &format!("{tname}矛调中心"), None, UnitKind::TownMediationCentre, &t.code));
        units.push(unit(&format!("pmc-{n:02}"), &format!("{tname}人民调解委员会"), None, UnitKind::MediationCommittee, &t.code));
        users.push(staff(&format!("town{n:02}-chief"), format!("{tname}派出所所长"), Role::Supervisor, None, &t.code));
        users.push(staff(&format!("town{n:02}-intake"), format!("{tname}综治中心受理员"), Role::Intake, None, &t.code));
        users.push(staff(&format!("town{n:02}-police"), format!("{tname}派出所民警"), Role::Handler, Some(&format!("ps-{n:02}")), &t.code));
        users.push(staff(
            &format!("town{n:02}-judicial"),
            format!("{tname}司法所所员"),
            Role::Mediator,
            Some(&format!("jo-{n:02}")),
            &t.code,
        ));
        users.push(staff(
            &format!("town{n:02}-mediator"),
            format!("{tname}矛调中心调解员"),
            Role::Mediator,
            Some(&format!("tmc-{n:02}")),
            &t.code,
        ));
        for (k, vi) in t.villages.iter().enumerate() {
            let v = &regions[*vi];
            let vid = format!("vc-{}", v.code.as_str());
            let kind_name = if v.name.ends_with("社区") { "居民委员会" } else { "村民委员会" };
            units.push(unit(&vid, &format!("{}{}", v.name, kind_name), None, UnitKind::VillageCommittee, &v.code));
            users.push(staff(&format!("v{}", v.code.as_str()), format!("{}网格员", v.name), Role::Handler, Some(&vid), &v.code));
            if k % 4 == 0 {
                units.push(unit(
                    &format!("cpo-{}", v.code.as_str()),
                    &format!("{}警务室", v.name),
                    None,
                    UnitKind::CommunityPoliceOffice,
                    &v.code,
                ));
            }
        }
    }

    // Every grid has its grid worker (the village's) and its community police officer (the
    // town station's).
    for r in regions.iter_mut().filter(|r| r.level() == fengqiao_domain::RegionLevel::Grid) {
        let village = r.code.as_str()[..12].to_string();
        let town = towns.iter().position(|t| r.code.as_str().starts_with(&t.code.as_str()[..9]));
        r.grid_worker = Some(format!("v{village}"));
        r.community_officer = town.map(|ti| format!("town{:02}-police", ti + 1));
    }

    // Residents: a pool per village, so the same people come back (repeat disputes).
    let mut persons: Vec<Person> = Vec::new();
    let mut seen_ids = std::collections::HashSet::new();
    let mut pool: HashMap<usize, Vec<i64>> = HashMap::new();
    for vi in &village_idx {
        let v = &regions[*vi];
        // The pool grows with the scale, so a larger county does not make everyone a repeat
        // reporter; a small one still has enough people to draw parties from.
        let n = ((v.population as f64 / 40.0 * opts.scale.max(1.0)) as u32).max(10);
        let ids = pool.entry(*vi).or_default();
        for _ in 0..n {
            let id = persons.len() as i64 + 1;
            let first17 = loop {
                let birth = format!("{}{:02}{:02}", rng.gen_range(1945..2003), rng.gen_range(1..13), rng.gen_range(1..29));
                let f = format!("330699{birth}{:03}", rng.gen_range(0..1000));
                if seen_ids.insert(f.clone()) {
                    break f;
                }
            };
            let id_number = format!("{first17}{}", id_check_char(&first17));
            let name = person_name(&mut rng);
            persons.push(Person {
                id,
                identity_key: Some(format!("id:{id_number}")),
                name: Some(name),
                phone: Some(format!(
                    "1{}{:09}",
                    pick(&mut rng, &["35", "37", "38", "39", "58", "59", "88"]),
                    rng.gen_range(0..1_000_000_000u64)
                )),
                id_number: Some(id_number),
                address: Some(format!("{}{}号", v.name, rng.gen_range(1..300))),
                email: None,
                organisation: false,
                erased_at: None,
            });
            ids.push(id);
        }
    }

    // Casework.
    let categories = builtin_categories();
    let cat_by_code: HashMap<&str, &Category> = categories.iter().map(|c| (c.code.as_str(), c)).collect();
    let cases_per_year = (30_000.0 * opts.scale).round().max(1.0) as usize;
    let start = opts.now.plus_ms(-365 * DAY_MS);
    let weights: Vec<f64> = KINDS.iter().map(|k| k.weight).collect();
    let village_weights: Vec<f64> = village_idx.iter().map(|i| regions[*i].population as f64).collect();
    let config = LifecycleConfig::default();
    // The rules are saved into the empty store as its first version.
    let rule_set = fengqiao_domain::routing::RuleSet { version: 1, ..rules() };
    let mut unit_refs: Vec<&Unit> = units.iter().collect();
    unit_refs.sort_by(|a, b| a.id.cmp(&b.id));
    // Deadlines on the default business calendar of the deployment's zone.
    let calendar = fengqiao_domain::Calendar::new(
        tz.clone(),
        fengqiao_domain::calendar::WorkingHours::default_office(),
        fengqiao_domain::calendar::HolidayTable::builtin(),
    );
    let user_actor: HashMap<String, Actor> = users.iter().map(|(u, _)| (u.id.clone(), Actor::from_user(u))).collect();
    let mut cases = Vec::with_capacity(cases_per_year);
    let mut events: Vec<(i64, CaseEvent)> = Vec::with_capacity(cases_per_year * 9);
    // Case arrival times: uniform over the year, thinned by weekday and season.
    let mut times: Vec<i64> = Vec::with_capacity(cases_per_year);
    while times.len() < cases_per_year {
        let t = Timestamp(rng.gen_range(start.0..opts.now.0));
        let Some(d) = t.local_date(&tz) else { continue };
        let weekday = d.weekday().to_monday_one_offset();
        let f = if weekday >= 6 { 0.55 } else { 1.0 } * season(d.month(), "");
        // Daytime arrivals: redraw the hour, most cases come between 8:00 and 20:00.
        let hour = if rng.gen_bool(0.85) { rng.gen_range(8..20) } else { rng.gen_range(0..24) };
        let day_start = fengqiao_domain::clock::start_of_day(d, &tz).unwrap_or(t);
        let t = day_start.plus_ms(hour * HOUR_MS + rng.gen_range(0..HOUR_MS));
        if t >= opts.now || rng.r#gen::<f64>() > f / 1.3 {
            continue;
        }
        times.push(t.0);
    }
    // The planted cluster: over the last four weeks, 2, 3, 4 and then 5 more disputes a week in
    // each of its villages, about a new nuisance (rooftop solar panels' glare), so the
    // analytics find an emerging hot spot, a category burst and a new term out of the box.
    let mut times: Vec<(i64, Option<usize>)> = times.into_iter().map(|t| (t, None)).collect();
    for (week, per_village) in [(4i64, 2), (3, 3), (2, 4), (1, 5)] {
        for &v in &planted {
            for k in 0..per_village {
                let at = opts.now.plus_ms(-week * 7 * DAY_MS + (k as i64 * 7 + 3) * DAY_MS / (per_village as i64 + 1) + 9 * HOUR_MS);
                if at < opts.now {
                    times.push((at.0, Some(v)));
                }
            }
        }
    }
    times.sort();
    // Pairs of people who keep coming back: about 4% of disputes repeat an earlier pair.
    let mut recent_pairs: Vec<(usize, i64, i64)> = Vec::new();
    for (n, (t0, plant)) in times.into_iter().enumerate() {
        let id = CaseId(n as i64 + 1);
        let t0 = Timestamp(t0);
        let month = t0.local_date(&tz).map(|d| d.month()).unwrap_or(1);
        let mut w = weights.clone();
        for (i, k) in KINDS.iter().enumerate() {
            w[i] *= season(month, k.code);
        }
        let kind = match plant {
            Some(_) => KINDS.iter().find(|k| k.code == "neighbour").expect("a neighbour kind"),
            None => &KINDS[weighted(&mut rng, &w)],
        };
        let cat = cat_by_code[kind.code];
        let mut vpos = match plant {
            Some(v) => village_idx.iter().position(|x| *x == v).unwrap_or(0),
            None => weighted(&mut rng, &village_weights),
        };
        let repeat = plant.is_none() && cat.kind == CategoryKind::Dispute && !recent_pairs.is_empty() && rng.gen_bool(0.04);
        let (a, b) = if repeat {
            let (v, a, b) = *pick(&mut rng, &recent_pairs);
            vpos = village_idx.iter().position(|x| *x == v).unwrap_or(vpos);
            (a, b)
        } else {
            let p = &pool[&village_idx[vpos]];
            (*pick(&mut rng, p), *pick(&mut rng, p))
        };
        let vi = village_idx[vpos];
        let v = &regions[vi];
        let town_pos = towns.iter().position(|t| t.villages.contains(&vi)).unwrap_or(0);
        let tn = town_pos + 1;
        let english = rng.gen_bool(0.08);
        let tpl = match plant {
            Some(_) if english => &"{b}'s new rooftop solar panels glare into {a}'s windows; they argue over moving them.",
            Some(_) => &"{b}家屋顶新装的光伏板反光照进{a}家，双方为光伏板挪位发生争执。",
            None if english => pick(&mut rng, kind.en),
            None => pick(&mut rng, kind.zh),
        };
        let name = |id: i64| persons[(id - 1) as usize].name.clone().unwrap_or_default();
        let detail: &str = kind.details[rng.gen_range(0..kind.details.len())];
        let text = tpl.replace("{v}", &v.name).replace("{a}", &name(a)).replace("{b}", &name(b)).replace("{x}", detail);
        let grid_codes: Vec<&Region> = regions.iter().filter(|r| r.code.parent().as_ref() == Some(&v.code)).collect();
        let (region, point) = match grid_codes.is_empty() {
            true => (v.code.clone(), v.boundary.as_ref().map(|p| point_in(&mut rng, p))),
            false => {
                let g = pick(&mut rng, &grid_codes);
                (g.code.clone(), g.boundary.as_ref().map(|p| point_in(&mut rng, p)))
            }
        };
        let severity = match rng.r#gen::<f64>() {
            x if x < 0.30 => Severity::Minor,
            x if x < 0.88 => Severity::Ordinary,
            x if x < 0.98 => Severity::Serious,
            _ => Severity::Major,
        };
        let channel = *pick(
            &mut rng,
            &[
                Channel::Phone,
                Channel::Hotline12345,
                Channel::Counter,
                Channel::Counter,
                Channel::Patrol,
                Channel::Visit,
                Channel::Web,
                Channel::Web,
            ],
        );
        let anonymous = cat.kind == CategoryKind::Request && rng.gen_bool(0.05);
        let parties = if cat.kind == CategoryKind::Dispute && a != b {
            vec![
                Party { person_id: a, role: PartyRole::Applicant, organisation: false },
                Party { person_id: b, role: PartyRole::Respondent, organisation: false },
            ]
        } else {
            vec![]
        };
        if cat.kind == CategoryKind::Dispute && a != b && !repeat {
            recent_pairs.push((vi, a, b));
            if recent_pairs.len() > 400 {
                recent_pairs.remove(0);
            }
        }
        let tracking = {
            let mut bytes = [0u8; 8];
            rng.fill(&mut bytes);
            TrackingCode::from_random(bytes)
        };
        let intake_id = match channel {
            Channel::Hotline12345 | Channel::Phone => "county-hotline".to_string(),
            Channel::Patrol | Channel::Visit => format!("v{}", v.code.as_str()),
            _ => format!("town{tn:02}-intake"),
        };
        let created = EventKind::Created {
            tracking_code: tracking,
            category: cat.code.clone(),
            kind: cat.kind,
            channel,
            urgency: if cat.emergency {
                Urgency::Emergency
            } else if rng.gen_bool(0.1) {
                Urgency::Urgent
            } else {
                Urgency::Routine
            },
            severity,
            tier: starting_tier(severity),
            region,
            location: Location { point, address: None },
            title: text.chars().take(40).collect::<String>().trim().to_string(),
            description: text,
            answers: match cat.code.as_str() {
                "road_damage" => serde_json::from_str(r#"{"road_kind":"village"}"#).expect("valid"),
                _ => Default::default(),
            },
            reporter: if anonymous { None } else { Some(a) },
            parties,
        };
        let reporter_actor = if channel == Channel::Web { "resident".to_string() } else { format!("user:{intake_id}") };
        let first = CaseEvent { at: t0, actor: reporter_actor, kind: created };
        let mut case = Case::from_created(id, t0, &first.kind).expect("created");
        events.push((id.0, first));

        let handler_of = |unit: &str| -> String {
            if let Some(code) = unit.strip_prefix("vc-") {
                format!("v{code}")
            } else if let Some(n) = unit.strip_prefix("ps-") {
                format!("town{n}-police")
            } else if let Some(n) = unit.strip_prefix("jo-") {
                format!("town{n}-judicial")
            } else if let Some(n) = unit.strip_prefix("tmc-") {
                format!("town{n}-mediator")
            } else if unit == "county-centre" {
                "county-mediator".into()
            } else {
                format!("{unit}-staff")
            }
        };
        let policy = cat.policy;
        let mut now = t0;
        let step = |case: &mut Case, who: &str, cmd: Command, at: Timestamp, events: &mut Vec<(i64, CaseEvent)>| -> bool {
            if at >= opts.now {
                return false;
            }
            let Some(actor) = user_actor.get(who) else {
                return false;
            };
            let cx = DecideContext { now: at, actor, config: &config, policy, calendar: &calendar };
            match case.decide(&cmd, &cx) {
                Ok(kinds) => {
                    for kind in kinds {
                        let e = CaseEvent { at, actor: actor.label(), kind };
                        case.apply(&e);
                        events.push((case.id.0, e));
                    }
                    true
                }
                Err(_) => false,
            }
        };
        let minutes = |rng: &mut StdRng, lo: i64, hi: i64| rng.gen_range(lo..hi) * 60_000;
        let intake = format!("town{tn:02}-intake");
        let chief = format!("town{tn:02}-chief");
        'life: {
            now = now.plus_ms(minutes(&mut rng, 5, 90));
            if rng.gen_bool(0.015) {
                step(&mut case, &intake, Command::Cancel { reason: "重复报送 / duplicate report".into() }, now, &mut events);
                break 'life;
            }
            if !step(&mut case, &intake, Command::File { severity: None, note: None }, now, &mut events) {
                break 'life;
            }
            now = now.plus_ms(minutes(&mut rng, 5, 240));
            // Routed by the county's rules, as staff would route it: the trace travels with
            // the case, and a case no rule routes waits in the triage queue.
            let text = format!("{}\n{}", case.title, case.description);
            let decision = rule_set.route(
                &RouteInput {
                    category: &case.category,
                    region: &case.region,
                    channel: case.channel,
                    urgency: case.urgency,
                    tier: case.tier,
                    text: &text,
                },
                &unit_refs,
            );
            let Some(lead) = decision.lead.clone() else {
                step(&mut case, &intake, Command::Route { decision: Some(decision) }, now, &mut events);
                break 'life;
            };
            if !step(&mut case, &intake, Command::Route { decision: Some(decision) }, now, &mut events) {
                break 'life;
            }
            let mut lead_unit = lead.0;
            // A few are sent to the wrong unit first and transferred.
            if rng.gen_bool(0.03) && lead_unit.starts_with("vc-") {
                now = now.plus_ms(minutes(&mut rng, 30, 600));
                let to = format!("ps-{tn:02}");
                if !step(
                    &mut case,
                    &handler_of(&lead_unit),
                    Command::Transfer { to: UnitId(to.clone()), reason: "属公安职责 / a police matter".into() },
                    now,
                    &mut events,
                ) {
                    break 'life;
                }
                lead_unit = to;
            }
            // Response: mostly within the deadline.
            // The time the policy allowed, as computed on the calendar at dispatch.
            let response_ms = case.response_due.map_or(DAY_MS, |d| (d.0 - now.0).max(HOUR_MS)) as f64;
            let handling_ms = case.handling_due.map_or(5 * DAY_MS, |d| (d.0 - now.0).max(HOUR_MS)) as f64;
            let resp = response_ms * if rng.gen_bool(0.92) { rng.gen_range(0.05..0.9) } else { rng.gen_range(1.1..3.0) };
            now = now.plus_ms(resp as i64);
            if !step(&mut case, &handler_of(&lead_unit), Command::Accept, now, &mut events) {
                break 'life;
            }
            now = now.plus_ms(minutes(&mut rng, 10, 300));
            if !step(&mut case, &handler_of(&lead_unit), Command::Start, now, &mut events) {
                break 'life;
            }
            // Some village matters turn out harder and go up a tier.
            if case.tier == Tier::Village && rng.gen_bool(if case.kind == CategoryKind::Dispute { 0.07 } else { 0.02 }) {
                now = now.plus_ms(minutes(&mut rng, 600, 4000));
                let to = if case.kind == CategoryKind::Dispute { format!("tmc-{tn:02}") } else { format!("jo-{tn:02}") };
                if !step(
                    &mut case,
                    &handler_of(&lead_unit),
                    Command::Escalate {
                        to: UnitId(to.clone()),
                        tier: Tier::Town,
                        reason: "村级调解未果 / not settled in the village".into(),
                    },
                    now,
                    &mut events,
                ) {
                    break 'life;
                }
                lead_unit = to;
                now = now.plus_ms(minutes(&mut rng, 30, 600));
                if !step(&mut case, &handler_of(&lead_unit), Command::Accept, now, &mut events)
                    || !step(&mut case, &handler_of(&lead_unit), Command::Start, now, &mut events)
                {
                    break 'life;
                }
            }
            if rng.gen_bool(0.03) {
                now = now.plus_ms(minutes(&mut rng, 60, 2000));
                if step(
                    &mut case,
                    &handler_of(&lead_unit),
                    Command::RequestExtension { hours: 72, reason: "需等待鉴定结果 / waiting for an assessment".into() },
                    now,
                    &mut events,
                ) {
                    now = now.plus_ms(minutes(&mut rng, 60, 1200));
                    step(&mut case, &chief, Command::DecideExtension { approve: rng.gen_bool(0.8), note: None }, now, &mut events);
                }
            }
            if rng.gen_bool(0.02) {
                now = now.plus_ms(minutes(&mut rng, 60, 1000));
                if step(
                    &mut case,
                    &handler_of(&lead_unit),
                    Command::Defer { reason: "当事人外出务工 / a party is away for work".into() },
                    now,
                    &mut events,
                ) {
                    now = now.plus_ms(rng.gen_range(2..20) * DAY_MS);
                    if !step(&mut case, &handler_of(&lead_unit), Command::Resume, now, &mut events) {
                        break 'life;
                    }
                }
            }
            let mut rounds = 0;
            loop {
                rounds += 1;
                let handling = handling_ms * if rng.gen_bool(0.86) { rng.gen_range(0.05..0.95) } else { rng.gen_range(1.05..2.5) };
                now = now.plus_ms((handling / rounds as f64) as i64);
                let feedback = if case.kind == CategoryKind::Dispute {
                    "经调解双方达成一致 / the parties reached agreement"
                } else {
                    "已处理完毕 / dealt with"
                };
                if !step(&mut case, &handler_of(&lead_unit), Command::Resolve { feedback: feedback.into() }, now, &mut events) {
                    break 'life;
                }
                // Return visit by the intake desk: each party of a dispute, else the reporter.
                let raters: Vec<Option<i64>> =
                    if case.parties.is_empty() { vec![None] } else { case.parties.iter().map(|p| Some(p.person_id)).collect() };
                let mut dissatisfied = false;
                for who in raters {
                    if case.reporter.is_none() && case.parties.is_empty() {
                        break;
                    }
                    now = now.plus_ms(minutes(&mut rng, 60, 2500));
                    if rng.gen_bool(0.04) {
                        // Unreachable: three attempts over two channels and more than a day.
                        for (ch, gap) in [(ContactChannel::Phone, 0), (ContactChannel::Sms, 14), (ContactChannel::Phone, 14)] {
                            now = now.plus_ms(gap * HOUR_MS);
                            step(
                                &mut case,
                                &intake,
                                Command::RecordVisit { party: who, channel: ch, reached: false, rating: None, comment: None },
                                now,
                                &mut events,
                            );
                        }
                        continue;
                    }
                    let rating = match rng.r#gen::<f64>() {
                        x if x < 0.78 => Rating::Satisfied,
                        x if x < 0.93 => Rating::BasicallySatisfied,
                        _ => Rating::Dissatisfied,
                    };
                    let ch = if rng.gen_bool(0.8) { ContactChannel::Phone } else { ContactChannel::InPerson };
                    if !step(
                        &mut case,
                        &intake,
                        Command::RecordVisit { party: who, channel: ch, reached: true, rating: Some(rating), comment: None },
                        now,
                        &mut events,
                    ) {
                        break 'life;
                    }
                    if rating == Rating::Dissatisfied {
                        dissatisfied = true;
                        break;
                    }
                }
                if dissatisfied && rounds < 3 {
                    continue;
                }
                now = now.plus_ms(minutes(&mut rng, 10, 600));
                if !step(&mut case, &intake, Command::Close { note: None }, now, &mut events) {
                    // Not closable yet (a rating is missing): the case waits.
                    break 'life;
                }
                // Now and then the resident complains again after closure: the case is reopened
                // and handled once more (by then it may still be open).
                if case.reopens == 0 && rng.gen_bool(0.01) {
                    now = now.plus_ms(rng.gen_range(3..40) * DAY_MS);
                    if step(
                        &mut case,
                        &chief,
                        Command::Reopen { reason: "群众再次反映 / the resident complained again".into() },
                        now,
                        &mut events,
                    ) {
                        rounds = 0;
                        continue;
                    }
                }
                break;
            }
        }
        let _ = now;
        cases.push(case);
    }
    events.sort_by(|a, b| a.1.at.cmp(&b.1.at).then(a.0.cmp(&b.0)));
    Demo { regions, units, categories, users, persons, cases, events }
}

impl Demo {
    /// The snapshot records for people, cases and events, chaining the events after the
    /// store's current head.
    pub fn records(self, head: (i64, String), mut emit: impl FnMut(BackupRecord) -> anyhow::Result<()>) -> anyhow::Result<()> {
        for p in self.persons {
            emit(BackupRecord::Person(p))?;
        }
        for c in self.cases {
            emit(BackupRecord::Case(Box::new(c)))?;
        }
        let (mut seq, mut prev) = head;
        for (case_id, e) in self.events {
            seq += 1;
            let payload = serde_json::to_string(&e.kind)?;
            let kind = e.kind.name();
            let hash = event_hash(&prev, seq, Some(case_id), e.at, &e.actor, kind, &payload);
            emit(BackupRecord::Event(StoredEvent {
                seq,
                case_id: Some(case_id),
                at: e.at,
                actor: e.actor,
                kind: kind.into(),
                payload,
                prev_hash: prev,
                hash: hash.clone(),
            }))?;
            prev = hash;
        }
        Ok(())
    }

    pub fn credentials(token: &str) -> Credentials {
        Credentials { token_hash: Some(fengqiao_web::token_hash(token)), password_hash: None }
    }
}

/// The demo county's routing rules: the defaults, plus its departments and utility as the
/// owners of the matters they are responsible for (the same choices the generator made when
/// it dispatched the year of cases).
pub fn rules() -> fengqiao_domain::routing::RuleSet {
    let mut set = fengqiao_domain::routing::default_rules();
    let owned = serde_json::json!([
        {"id": "labour", "name": "劳动争议 Labour", "priority": 20, "when": {"categories": ["labour"], "tiers": ["village"]}, "owner": {"unit": "dept-labour"},
         "co": [{"kind": "judicial_office", "level": "town"}]},
        {"id": "water", "name": "供水 Water", "priority": 20, "subject": "facility", "when": {"categories": ["water_supply"], "tiers": ["village"]},
         "owner": {"unit": "water-co"}, "place": {"kind": "village_committee", "level": "village"}},
        {"id": "pollution", "name": "环境污染 Pollution", "priority": 20, "when": {"categories": ["pollution"], "tiers": ["village"]}, "owner": {"unit": "dept-environment"}},
        {"id": "consumer", "name": "消费 Consumer", "priority": 20, "when": {"categories": ["consumer"], "tiers": ["village"]}, "owner": {"unit": "dept-market"}},
        {"id": "medical", "name": "医疗 Medical", "priority": 20, "when": {"categories": ["medical"], "tiers": ["village"]}, "owner": {"unit": "dept-health"}},
        {"id": "construction", "name": "违建 Illegal construction", "priority": 20, "subject": "facility",
         "when": {"categories": ["illegal_construction"], "tiers": ["village"]}, "owner": {"unit": "dept-housing"}}
    ]);
    set.rules.extend(serde_json::from_value::<Vec<fengqiao_domain::routing::Rule>>(owned).expect("the demo rules are well-formed"));
    set
}

/// Two problem-solving records over the generated casework, as a county supervisor would open
/// them: the category with most cases in the busiest town over the last four months (worked
/// into the response stage, so its before-and-after figures have both windows), and that
/// town's second category (still in analysis). Built with the domain's own commands.
pub fn problems(d: &Demo, now: Timestamp) -> Vec<fengqiao_domain::problem::Problem> {
    use fengqiao_domain::problem::{NewProblem, Owner, Problem, ProblemCommand};
    let Some((sup, _)) = d.users.iter().find(|(u, _)| u.id == "county-supervisor") else { return Vec::new() };
    let actor = Actor::from_user(sup);
    let from = now.plus_ms(-120 * DAY_MS);
    let recent: Vec<&Case> = d.cases.iter().filter(|c| c.created_at >= from && c.created_at < now.plus_ms(-60 * DAY_MS)).collect();
    // The busiest town and its two largest categories.
    let town_of = |c: &Case| c.region.ancestor_at(fengqiao_domain::RegionLevel::Town).map(|t| t.as_str().to_string()).unwrap_or_default();
    let mut by_town: HashMap<String, HashMap<String, Vec<&Case>>> = HashMap::new();
    for c in &recent {
        by_town.entry(town_of(c)).or_default().entry(c.category.clone()).or_default().push(c);
    }
    let Some((town, cats)) = by_town.iter().max_by_key(|(t, cats)| (cats.values().map(Vec::len).sum::<usize>(), t.to_string())) else {
        return Vec::new();
    };
    let mut cats: Vec<(&String, &Vec<&Case>)> = cats.iter().collect();
    cats.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(b.0)));
    let lead = d.units.iter().find(|u| u.region.as_str() == town.as_str()).map(|u| u.id.clone());
    let mut out = Vec::new();
    for (i, (category, cases)) in cats.into_iter().take(2).enumerate() {
        let name = d.categories.iter().find(|c| &c.code == category).map(|c| c.name_zh.clone()).unwrap_or(category.clone());
        let n = NewProblem {
            title: format!("{name}集中反映 / repeated {category} cases"),
            description: "演示数据：按镇和类别归并的同类案件。Demo data: cases of one category in one town.".into(),
            cases: cases.iter().take(fengqiao_domain::problem::MAX_CASES).map(|c| (c.id, c.region.clone(), c.category.clone())).collect(),
            regions: vec![RegionCode::parse(town).expect("a town code")],
            categories: vec![category.clone()],
            window_days: Some(60),
        };
        let opened = now.plus_ms(-60 * DAY_MS);
        let Ok(mut p) = Problem::open(&actor, &n, opened) else { continue };
        p.id = i as i64 + 1;
        let mut t = opened;
        let mut run = |p: &mut Problem, cmd: ProblemCommand| {
            t = t.plus_ms(DAY_MS);
            let _ = p.act(&actor, &cmd, t);
        };
        run(&mut p, ProblemCommand::Advance { note: Some("同类案件集中 / a cluster of similar cases".into()) });
        if let Some(u) = &lead {
            run(&mut p, ProblemCommand::SetResponsible { units: vec![u.clone()], users: vec!["county-supervisor".into()] });
        }
        if i == 0 {
            run(
                &mut p,
                ProblemCommand::Write {
                    analysis: Some(
                        "多发于夜间和周末，集中在人口密集的村社。Mostly at night and at weekends, in the most populous villages.".into(),
                    ),
                    assessment: None,
                },
            );
            let owner = lead.clone().map(Owner::Unit).unwrap_or(Owner::User("county-supervisor".into()));
            run(
                &mut p,
                ProblemCommand::AddAction {
                    text: "联合巡查并公示举报电话 / joint patrols and a published hotline".into(),
                    owner: owner.clone(),
                    due: now.plus_ms(30 * DAY_MS),
                },
            );
            run(
                &mut p,
                ProblemCommand::AddAction {
                    text: "召开村民议事会 / a residents' council meeting".into(),
                    owner,
                    due: now.plus_ms(-20 * DAY_MS),
                },
            );
            run(&mut p, ProblemCommand::Advance { note: None });
        }
        out.push(p);
    }
    out
}

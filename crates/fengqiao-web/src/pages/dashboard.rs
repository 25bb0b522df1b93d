//! The supervisor dashboard: the closed-loop figures for a region and period against the
//! previous period of the same length, overdue and about-to-breach cases, and the map of the
//! region's parts shaded by a chosen figure. Every table is also CSV (`?format=csv&table=…`).

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use fengqiao_domain::clock::DAY_MS;
use fengqiao_domain::figures::{Figures, Rate};
use fengqiao_domain::{RegionCode, RegionLevel, Timestamp};
use fengqiao_store::{CaseFilter, FactsFilter, Page, Scope};
use serde::Deserialize;

use super::map::{self, MapView};
use super::public::RegionGroup;
use super::staff::{CaseRow, Opt, case_row, queue_page};
use super::{Chrome, PageError, PageStaff, Tr, render};
use crate::AppState;

/// The rates, in the order shown; `true` when a higher value is better.
/// How long the public figures are reused before they are computed again.
pub const PUBLIC_FIGURES_TTL: std::time::Duration = std::time::Duration::from_secs(60);

/// The public figures per period (days): when computed, and the county's then each town's.
pub type PublicFiguresCache = tokio::sync::Mutex<std::collections::HashMap<i64, (std::time::Instant, std::sync::Arc<Vec<Figures>>)>>;

const RATES: [(&str, bool); 8] = [
    ("response_rate", true),
    ("resolution_rate", true),
    ("satisfaction_rate", true),
    ("on_time_closure_rate", true),
    ("locally_settled_rate", true),
    ("rework_rate", false),
    ("reopen_rate", false),
    ("repeat_rate", false),
];

fn rate<'a>(f: &'a Figures, name: &str) -> Option<&'a Rate> {
    Some(match name {
        "response_rate" => &f.response_rate,
        "resolution_rate" => &f.resolution_rate,
        "satisfaction_rate" => &f.satisfaction_rate,
        "on_time_closure_rate" => &f.on_time_closure_rate,
        "locally_settled_rate" => &f.locally_settled_rate,
        "rework_rate" => &f.rework_rate,
        "reopen_rate" => &f.reopen_rate,
        "repeat_rate" => &f.repeat_rate,
        _ => return None,
    })
}

fn pct(v: Option<f64>) -> String {
    v.map(|v| format!("{:.1}%", v * 100.0)).unwrap_or_else(|| "—".into())
}

#[derive(Deserialize, Default)]
pub struct DashQuery {
    region: Option<String>,
    /// The period's last day (a local date); today when absent.
    end: Option<String>,
    days: Option<i64>,
    shade: Option<String>,
    format: Option<String>,
    table: Option<String>,
    /// The perception map's layer: `hotspot`, `emerging` or `none`.
    layer: Option<String>,
    /// Live alerts on the perception map: `1` (default) or `0`.
    alerts: Option<String>,
}

pub struct FigureRow {
    pub key: String,
    pub label: String,
    pub now: String,
    pub now_counts: String,
    pub prev: String,
    pub delta: String,
    /// `better`, `worse` or empty.
    pub trend: &'static str,
}

pub struct StageRow {
    pub label: String,
    pub cases: u64,
    pub completed: u64,
    pub median: String,
    pub p90: String,
}

pub struct RegionFigure {
    pub code: String,
    pub name: String,
    pub value: String,
    pub counts: String,
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    c: Chrome,
    t: Tr,
    regions: Vec<RegionGroup>,
    periods: Vec<Opt>,
    shades: Vec<Opt>,
    period_text: String,
    prev_text: String,
    cohort: u64,
    prev_cohort: u64,
    score: String,
    prev_score: String,
    figures: Vec<FigureRow>,
    stages: Vec<StageRow>,
    overdue: Vec<CaseRow>,
    soon: Vec<CaseRow>,
    /// How many there are in all ("50+" when more than the page shows).
    overdue_total: String,
    soon_total: String,
    shown: usize,
    map: Option<MapView>,
    by_region: Vec<RegionFigure>,
    shade_label: String,
    end: String,
    query: String,
    perception: Option<PerceptionView>,
    region_code: String,
    days: i64,
}

fn hours(h: Option<f64>) -> String {
    h.map(|h| format!("{h:.1}")).unwrap_or_else(|| "—".into())
}

/// Cases of each list (overdue, about to breach) the page shows, most urgent first; the CSV
/// export and the work queue have the rest.
const SHOWN: usize = 50;
/// Rows of each list in its CSV export.
const CSV_ROWS: i64 = 10_000;

pub async fn dashboard(State(st): State<AppState>, staff: PageStaff, t: Tr, Query(q): Query<DashQuery>) -> Result<Response, PageError> {
    let invalid = |field: &str, msg: String| PageError {
        status: StatusCode::UNPROCESSABLE_ENTITY,
        key: "error.invalid",
        detail: Some(format!("{field}: {msg}")),
    };
    let region = match q.region.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(s) => RegionCode::parse(s).map_err(|e| invalid("region", e.message))?,
        None => staff.user.jurisdiction.clone(),
    };
    let days = q.days.unwrap_or(30);
    if ![7, 30, 90, 365].contains(&days) {
        return Err(invalid("days", "7, 30, 90 or 365".into()));
    }
    let shade = q.shade.clone().filter(|s| rate_exists(s)).unwrap_or_else(|| "resolution_rate".into());
    let layer = q.layer.clone().filter(|l| !l.is_empty()).unwrap_or_else(|| "hotspot".into());
    if !LAYERS.contains(&layer.as_str()) {
        return Err(invalid("layer", "hotspot, emerging, scan or none".into()));
    }
    let show_alerts = match q.alerts.as_deref() {
        None | Some("") | Some("1") => true,
        Some("0") => false,
        Some(_) => return Err(invalid("alerts", "1 or 0".into())),
    };
    let now = st.svc.now();
    let window = st.svc.config.figures.repeat_window_days as i64 * DAY_MS;
    let span = days * DAY_MS;
    let filter = |region: &RegionCode, from: Timestamp, to: Timestamp| FactsFilter {
        region: Some(region.to_string()),
        unit: None,
        category: None,
        from,
        to,
        repeat_window_ms: window,
    };
    // The period ends with its last day, or just after now, so what happened this very
    // moment counts.
    let end = match q.end.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(s) => Some(s.parse::<jiff::civil::Date>().map_err(|_| invalid("end", "expected a date, YYYY-MM-DD".into()))?),
        None => None,
    };
    let to = match end {
        Some(d) => d
            .tomorrow()
            .ok()
            .and_then(|next| fengqiao_domain::clock::start_of_day(next, &st.tz))
            .ok_or_else(|| invalid("end", "not a valid local date".into()))?,
        None => now.plus_ms(1),
    };
    let (from, prev_from) = (to.plus_ms(-span), to.plus_ms(-2 * span));
    // The parts of the region, each with the chosen figure for the current period.
    let r = st.svc.reference();
    let level = match region.level() {
        RegionLevel::County => Some(RegionLevel::Town),
        RegionLevel::Town => Some(RegionLevel::Village),
        RegionLevel::Village => Some(RegionLevel::Grid),
        RegionLevel::Grid => None,
    };
    let parts = level.map(|l| map::children(r.regions.values(), region.prefix(), l)).unwrap_or_default();
    let codes: Vec<String> = parts.iter().map(|p| p.code.to_string()).collect();
    let scope = Scope::for_actor(&staff.actor);
    // Five independent reads, side by side: the period's figures, the previous period's
    // rates (its stage times, a sort of every case's durations, would be thrown away), the
    // parts' rates, the overdue cases (open and past their handling deadline) and those about
    // to breach (a deadline within a day).
    // The page shows the most urgent few of each list, and their totals; the CSV has more.
    let csv = q.format.as_deref() == Some("csv");
    let (overdue_limit, soon_limit) = if csv { (CSV_ROWS, CSV_ROWS) } else { (SHOWN as i64 + 1, SHOWN as i64) };
    let (cur, prev, per_part, overdue_cases, (soon_cases, soon_count)) = tokio::try_join!(
        async { st.svc.figures(&staff.actor, &filter(&region, from, to)).await.map_err(PageError::from) },
        async {
            st.svc
                .figures_by_region(&staff.actor, &filter(&region, prev_from, from), &[region.to_string()])
                .await?
                .pop()
                .ok_or_else(|| PageError::from(fengqiao_store::StoreError::Backend("no figures for the previous period".into())))
        },
        async { st.svc.figures_by_region(&staff.actor, &filter(&region, from, to), &codes).await.map_err(PageError::from) },
        async {
            st.svc
                .store
                .list_cases(
                    &scope,
                    &CaseFilter { region: Some(region.to_string()), overdue_at: Some(now), ..Default::default() },
                    &Page { after: None, limit: overdue_limit, descending: false },
                )
                .await
                .map_err(PageError::from)
        },
        queue_page(&st, &staff, None, None, Some(region.as_str()), Some((now, now.plus_ms(DAY_MS))), soon_limit),
    )?;

    let figures: Vec<FigureRow> = RATES
        .iter()
        .filter_map(|(name, higher_better)| {
            let (a, b) = (rate(&cur, name)?, rate(&prev, name)?);
            let (delta, trend) = match (a.value, b.value) {
                (Some(x), Some(y)) => {
                    let d = (x - y) * 100.0;
                    let trend = if d.abs() < 0.05 {
                        ""
                    } else if (d > 0.0) == *higher_better {
                        "better"
                    } else {
                        "worse"
                    };
                    (format!("{d:+.1}"), trend)
                }
                _ => ("—".into(), ""),
            };
            Some(FigureRow {
                key: name.to_string(),
                label: t.k("figure", name),
                now: pct(a.value),
                now_counts: format!("{}/{}", a.numerator, a.denominator),
                prev: pct(b.value),
                delta,
                trend,
            })
        })
        .collect();
    let stages = cur
        .stages
        .iter()
        .map(|s| StageRow {
            label: t.k("stage", &s.stage),
            cases: s.cases,
            completed: s.completed,
            median: hours(s.median_hours),
            p90: hours(s.p90_hours),
        })
        .collect::<Vec<_>>();

    let overdue_total = if !csv && overdue_cases.len() > SHOWN { format!("{SHOWN}+") } else { overdue_cases.len().to_string() };
    let soon_total = soon_count.to_string();
    let shown = if csv { usize::MAX } else { SHOWN };
    let overdue: Vec<CaseRow> = overdue_cases.iter().take(shown).map(|c| case_row(&st, t, c, now)).collect();
    let soon: Vec<CaseRow> = soon_cases.iter().take(shown).map(|c| case_row(&st, t, c, now)).collect();

    let mut by_region = Vec::new();
    let mut shaded = Vec::new();
    for (p, f) in parts.iter().zip(per_part) {
        let rt = rate(&f, &shade).cloned().unwrap_or(Rate { numerator: 0, denominator: 0, value: None });
        let name = t.pick(&p.name, p.name_en.as_deref()).to_string();
        by_region.push(RegionFigure {
            code: p.code.to_string(),
            name: name.clone(),
            value: pct(rt.value),
            counts: format!("{}/{}", rt.numerator, rt.denominator),
        });
        shaded.push((*p, name, rt));
    }
    let shade_label = t.k("figure", &shade);

    if q.format.as_deref() == Some("csv") {
        let period = |s: &str| s.to_string();
        return match q.table.as_deref().unwrap_or("figures") {
            "figures" => Ok(csv_response(
                "figures.csv",
                &["figure", "current", "current_counts", "previous", "change_points"],
                figures.iter().map(|f| vec![f.key.clone(), f.now.clone(), f.now_counts.clone(), f.prev.clone(), period(&f.delta)]),
            )),
            "stages" => Ok(csv_response(
                "stages.csv",
                &["stage", "cases", "completed", "median_hours", "p90_hours"],
                stages.iter().map(|s| vec![s.label.clone(), s.cases.to_string(), s.completed.to_string(), s.median.clone(), s.p90.clone()]),
            )),
            "overdue" | "soon" => {
                let rows = if q.table.as_deref() == Some("overdue") { &overdue } else { &soon };
                Ok(csv_response(
                    "cases.csv",
                    &["id", "tracking_code", "title", "category", "status", "region", "unit", "deadline", "due_at"],
                    rows.iter().map(|r| {
                        vec![
                            r.id.to_string(),
                            r.code.clone(),
                            r.title.clone(),
                            r.category.clone(),
                            r.status.clone(),
                            r.region.clone(),
                            r.unit.clone(),
                            r.due_kind.clone(),
                            r.due_at.clone(),
                        ]
                    }),
                ))
            }
            "regions" => Ok(csv_response(
                "regions.csv",
                &["region", "name", "figure", "value", "counts"],
                by_region.iter().map(|x| vec![x.code.clone(), x.name.clone(), shade.clone(), x.value.clone(), x.counts.clone()]),
            )),
            other => Err(invalid("table", format!("unknown table '{other}'; figures, stages, overdue, soon or regions"))),
        };
    }

    let map = {
        let frame: Vec<_> = match r.regions.get(region.as_str()) {
            Some(g) if g.boundary.is_some() => vec![g],
            _ => parts.clone(),
        };
        MapView::new(&frame, t.s("dash.map_label").to_string(), st.map_tiles.as_deref()).map(|mut m| {
            for (p, name, rt) in &shaded {
                let class = match rt.value {
                    Some(v) => format!("shade-{}", map::shade(v)),
                    None => "nodata".to_string(),
                };
                m.add_region(
                    p,
                    name,
                    &class,
                    format!("{name}: {} ({}/{})", pct(rt.value), rt.numerator, rt.denominator),
                    parts.len() <= 30,
                );
            }
            m
        })
    };
    let jurisdiction = staff.user.jurisdiction.prefix().to_string();
    let mut regions = super::public::region_groups_within(&st, t, region.as_str(), &jurisdiction);
    if let Some(g) = r.regions.get(staff.user.jurisdiction.as_str()) {
        regions.insert(
            0,
            RegionGroup {
                name: t.s("dash.whole").into(),
                options: vec![super::public::RegionOption {
                    code: g.code.to_string(),
                    name: t.pick(&g.name, g.name_en.as_deref()).into(),
                    selected: g.code == region,
                }],
            },
        );
    }
    let perception = perception_view(&st, &staff, t, &region, &layer, show_alerts).await?;
    let fmt_day = |ts: Timestamp| super::local_time(ts, &st.tz).chars().take(10).collect::<String>();
    let page = DashboardPage {
        c: Chrome::staff("/dashboard", &staff),
        t,
        regions,
        periods: [7, 30, 90, 365].iter().map(|d| Opt { value: d.to_string(), label: t.n("dash.days", d), selected: *d == days }).collect(),
        shades: RATES.iter().map(|(n, _)| Opt { value: n.to_string(), label: t.k("figure", n), selected: *n == shade }).collect(),
        period_text: format!("{} – {}", fmt_day(from), fmt_day(to.plus_ms(-1))),
        prev_text: format!("{} – {}", fmt_day(prev_from), fmt_day(from.plus_ms(-1))),
        cohort: cur.cohort,
        prev_cohort: prev.cohort,
        score: cur.score.map(|s| format!("{s:.1}")).unwrap_or_else(|| "—".into()),
        prev_score: prev.score.map(|s| format!("{s:.1}")).unwrap_or_else(|| "—".into()),
        figures,
        stages,
        overdue,
        soon,
        overdue_total,
        soon_total,
        shown: SHOWN,
        map,
        by_region,
        shade_label,
        end: end.map(|d| d.to_string()).unwrap_or_default(),
        query: format!("region={}&days={days}&shade={shade}&end={}", region, end.map(|d| d.to_string()).unwrap_or_default()),
        perception,
        region_code: region.to_string(),
        days,
    };
    Ok(render(&page))
}

fn rate_exists(s: &str) -> bool {
    RATES.iter().any(|(n, _)| *n == s)
}

/// A CSV download. Cells that a spreadsheet would run as a formula are quoted with a leading
/// apostrophe, since titles come from residents.
pub fn csv_response(filename: &str, head: &[&str], rows: impl Iterator<Item = Vec<String>>) -> Response {
    fn cell(s: &str) -> String {
        let s = if s.starts_with(['=', '+', '-', '@']) && s.parse::<f64>().is_err() { format!("'{s}") } else { s.to_string() };
        if s.contains([',', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s }
    }
    let mut out = String::new();
    out.push_str(&head.iter().map(|h| cell(h)).collect::<Vec<_>>().join(","));
    out.push_str("\r\n");
    for r in rows {
        out.push_str(&r.iter().map(|c| cell(c)).collect::<Vec<_>>().join(","));
        out.push_str("\r\n");
    }
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{filename}\"")),
        ],
        out,
    )
        .into_response()
}

/// Public figures hide any rate whose denominator, and any count, is below this: a handful
/// of cases in a village could point at the people in them.
pub const MIN_CELL: u64 = 10;

pub struct PublicRow {
    pub name: String,
    pub cohort: String,
    pub rates: Vec<String>,
}

#[derive(Template)]
#[template(path = "figures.html")]
struct PublicFigures {
    c: Chrome,
    t: Tr,
    heads: Vec<String>,
    rows: Vec<PublicRow>,
    periods: Vec<Opt>,
    period_text: String,
    min_cell: u64,
}

#[derive(Deserialize, Default)]
pub struct PublicQuery {
    days: Option<i64>,
}

/// Closed-loop figures for the county and each town, for everyone, with small cells
/// suppressed. Only aggregates: no case, no person, no unit's name.
pub async fn public_figures(State(st): State<AppState>, t: Tr, Query(q): Query<PublicQuery>) -> Result<Response, PageError> {
    let days = q.days.unwrap_or(90);
    if ![30, 90, 365].contains(&days) {
        return Err(PageError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            key: "error.invalid",
            detail: Some("days: 30, 90 or 365".into()),
        });
    }
    const SHOWN: [&str; 4] = ["response_rate", "resolution_rate", "satisfaction_rate", "on_time_closure_rate"];
    let r = st.svc.reference();
    let Some(county) = r.county.clone() else { return Err(PageError::not_found()) };
    let now = st.svc.now();
    let to = now.plus_ms(1);
    let from = to.plus_ms(-days * DAY_MS);
    let actor = fengqiao_domain::Actor::System { job: "public-figures".into() };
    let window = st.svc.config.figures.repeat_window_days as i64 * DAY_MS;
    let mut areas = vec![&county];
    let towns = map::children(r.regions.values(), county.code.prefix(), RegionLevel::Town);
    areas.extend(towns.iter().copied());
    let mut rows = Vec::new();
    let mut cohorts = Vec::new();
    // The same for every reader: computed once per period and kept for a while (a county
    // and each town in one pass over the facts), so readers cannot make the server redo it.
    let figures = {
        let mut cache = st.public_figures.lock().await;
        match cache.get(&days) {
            Some((at, v)) if at.elapsed() < PUBLIC_FIGURES_TTL => v.clone(),
            _ => {
                let filter =
                    FactsFilter { region: Some(county.code.to_string()), unit: None, category: None, from, to, repeat_window_ms: window };
                let codes: Vec<String> = areas.iter().map(|g| g.code.to_string()).collect();
                let v = std::sync::Arc::new(st.svc.figures_by_region(&actor, &filter, &codes).await?);
                cache.insert(days, (std::time::Instant::now(), v.clone()));
                v
            }
        }
    };
    for (g, f) in areas.into_iter().zip(figures.iter()) {
        let small = format!("<{MIN_CELL}");
        cohorts.push(f.cohort);
        rows.push(PublicRow {
            name: t.pick(&g.name, g.name_en.as_deref()).to_string(),
            cohort: if f.cohort < MIN_CELL { small.clone() } else { f.cohort.to_string() },
            rates: SHOWN
                .iter()
                .map(|n| match rate(f, n) {
                    Some(x) if x.denominator >= MIN_CELL => pct(x.value),
                    _ => small.clone(),
                })
                .collect(),
        });
    }
    // With the county's total shown, a single hidden town count could be had by subtraction:
    // then hide the next smallest too.
    let hidden: Vec<usize> = (1..rows.len()).filter(|i| cohorts[*i] < MIN_CELL).collect();
    if hidden.len() == 1
        && let Some(i) = (1..rows.len()).filter(|i| cohorts[*i] >= MIN_CELL).min_by_key(|i| cohorts[*i])
    {
        rows[i].cohort = "*".into();
    }
    let fmt_day = |ts: Timestamp| super::local_time(ts, &st.tz).chars().take(10).collect::<String>();
    let page = PublicFigures {
        c: Chrome::bare("/figures"),
        t,
        heads: SHOWN.iter().map(|n| t.k("figure", n)).collect(),
        rows,
        periods: [30, 90, 365].iter().map(|d| Opt { value: d.to_string(), label: t.n("dash.days", d), selected: *d == days }).collect(),
        period_text: format!("{} – {}", fmt_day(from), fmt_day(now)),
        min_cell: MIN_CELL,
    };
    Ok(render(&page))
}

/// One bar of the weekly trend chart.
pub struct TrendBar {
    pub x: f64,
    pub y: f64,
    pub h: f64,
    /// The serious and major cases, drawn over the bar's foot.
    pub serious_y: f64,
    pub serious_h: f64,
    pub title: String,
}

pub struct TopicRow {
    pub town: String,
    pub kind: String,
    pub key: String,
    pub count: u32,
    pub baseline: String,
    pub p: String,
    pub cases: Vec<i64>,
}

pub struct SpotRow {
    pub code: String,
    pub name: String,
    pub class_label: String,
    pub pattern_label: String,
    pub latest: u32,
    pub eb_rate: String,
    pub z: String,
}

/// The perception part of the dashboard: the newest analytics run over the region.
pub struct PerceptionView {
    pub at: String,
    pub map: Option<MapView>,
    pub layers: Vec<Opt>,
    pub show_alerts: bool,
    /// (CSS class, label) of the chosen layer.
    pub legend: Vec<(String, String)>,
    pub bars: Vec<TrendBar>,
    pub chart_width: f64,
    pub chart_max: u32,
    pub first_week: String,
    pub topics: Vec<TopicRow>,
    pub spots: Vec<SpotRow>,
    pub notes: Vec<String>,
}

/// The map layers, in the order offered.
pub const LAYERS: [&str; 4] = ["hotspot", "emerging", "scan", "none"];

/// Distinct shades for the significant scan clusters, by rank (the rest share the last).
const SCAN_SHADES: usize = 4;

/// The CSS class of a Gi* class (−3…3).
fn gi_class(c: i8) -> String {
    match c {
        1..=3 => format!("gi-h{c}"),
        -3..=-1 => format!("gi-c{}", -c),
        _ => "gi-0".into(),
    }
}

/// The CSS class of an emerging pattern: new, consecutive and intensifying hot spots (what
/// raises an alert), other hot spots, cold spots, none.
fn pattern_class(p: &str) -> &'static str {
    if fengqiao_domain::perception::ALERTING_PATTERNS.contains(&p) {
        "em-rising"
    } else if p.ends_with("hot_spot") {
        "em-hot"
    } else if p.ends_with("cold_spot") {
        "em-cold"
    } else {
        "em-none"
    }
}

const CHART_HEIGHT: f64 = 120.0;

/// Builds the perception view for `region`, or `None` when the reader may not see analytics.
pub async fn perception_view(
    st: &AppState,
    staff: &PageStaff,
    t: Tr,
    region: &RegionCode,
    layer: &str,
    show_alerts: bool,
) -> Result<Option<PerceptionView>, PageError> {
    if !staff.user.role.supervises() {
        return Ok(None);
    }
    let Some(run) = st.svc.perception(&staff.actor).await? else {
        return Ok(Some(PerceptionView {
            at: String::new(),
            map: None,
            layers: vec![],
            show_alerts,
            legend: vec![],
            bars: vec![],
            chart_width: 0.0,
            chart_max: 0,
            first_week: String::new(),
            topics: vec![],
            spots: vec![],
            notes: vec![],
        }));
    };
    let run = run.within(region);
    let r = st.svc.reference();
    let name_of = |code: &RegionCode| {
        r.regions.get(code.as_str()).map(|g| t.pick(&g.name, g.name_en.as_deref()).to_string()).unwrap_or_else(|| code.to_string())
    };
    let class_label = |c: i8| match c {
        1..=3 => t.s(&format!("dash.gi.hot{c}")).to_string(),
        -3..=-1 => t.s(&format!("dash.gi.cold{}", -c)).to_string(),
        _ => t.s("dash.gi.none").to_string(),
    };
    let pattern_label = |p: &str| t.k("dash.pattern", p);

    // The significant scan clusters (by rank) and, for the scan layer, each village's cluster.
    let alpha = st.svc.config.warnings.scan_alpha;
    let significant: Vec<&fengqiao_domain::perception::ScanCluster> = run.clusters.iter().filter(|c| c.p <= alpha).collect();
    let cluster_of = |code: &RegionCode| significant.iter().position(|c| c.villages.contains(code));
    let scan_class = |k: usize| format!("scan-{}", k.min(SCAN_SHADES - 1) + 1);

    // The map: villages by the chosen layer, live alerts as pins at their places.
    let frame: Vec<&fengqiao_domain::Region> = match r.regions.get(region.as_str()) {
        Some(g) if g.boundary.is_some() => vec![g],
        _ => map::children(r.regions.values(), region.prefix(), RegionLevel::Village),
    };
    let map = MapView::new(&frame, t.s("dash.perception_map").to_string(), st.map_tiles.as_deref()).map(|mut m| {
        for v in &run.villages {
            let Some(g) = r.regions.get(v.region.as_str()) else { continue };
            let name = t.pick(&g.name, g.name_en.as_deref()).to_string();
            let class = match layer {
                "hotspot" => gi_class(v.class),
                "emerging" => pattern_class(&v.pattern).to_string(),
                "scan" => cluster_of(&v.region).map(scan_class).unwrap_or_else(|| "scan-0".into()),
                _ => "village".to_string(),
            };
            let latest = v.counts.last().copied().unwrap_or(0);
            let mut title = format!("{name}: {} · {} · {latest}", class_label(v.class), pattern_label(&v.pattern));
            if let Some(k) = cluster_of(&v.region) {
                title.push_str(&format!(" · {}", t.s("dash.scan_cluster").replace("{rank}", &significant[k].rank.to_string())));
            }
            m.add_region(g, &name, &class, title, run.villages.len() <= 30);
        }
        m
    });
    let mut map = map;
    if show_alerts && let Some(m) = map.as_mut() {
        let filter = fengqiao_store::AlertFilter { region: Some(region.to_string()), limit: 500, ..Default::default() };
        for a in st.svc.alerts(&staff.actor, &filter).await? {
            if a.status == fengqiao_domain::alert::AlertStatus::Closed {
                continue;
            }
            let Some(g) = r.regions.get(a.region.as_str()) else { continue };
            let at = g.centroid.or_else(|| {
                g.boundary.as_ref().map(|b| {
                    let (lo, hi) = b.bbox();
                    fengqiao_domain::Point { lon: (lo.lon + hi.lon) / 2.0, lat: (lo.lat + hi.lat) / 2.0 }
                })
            });
            if let Some(p) = at {
                m.add_pin(
                    p,
                    &format!("alert-pin a-{}", a.kind.as_str()),
                    format!("#{} {}: {}", a.id, t.k("alerts.kind", a.kind.as_str()), a.summary),
                );
            }
        }
    }
    let legend: Vec<(String, String)> = match layer {
        "hotspot" => [3i8, 2, 1, 0, -1, -2, -3].iter().map(|&c| (gi_class(c), class_label(c))).collect(),
        "emerging" => {
            ["em-rising", "em-hot", "em-cold", "em-none"].iter().map(|c| (c.to_string(), t.s(&format!("dash.{c}")).to_string())).collect()
        }
        "scan" if significant.is_empty() => vec![("scan-0".into(), t.s("dash.scan_none").to_string())],
        "scan" => significant
            .iter()
            .enumerate()
            .map(|(k, c)| {
                let rr = c.relative_risk.map(|r| format!("{r:.1}")).unwrap_or_else(|| "∞".into());
                let label = t
                    .s("dash.scan_legend")
                    .replace("{rank}", &c.rank.to_string())
                    .replace("{centre}", &name_of(&c.center))
                    .replace("{n}", &c.villages.len().to_string())
                    .replace("{from}", &super::local_time(c.start, &st.tz).chars().take(10).collect::<String>())
                    .replace("{observed}", &c.observed.to_string())
                    .replace("{expected}", &format!("{:.1}", c.expected))
                    .replace("{rr}", &rr)
                    .replace("{p}", &format!("{}", c.p));
                (scan_class(k), label)
            })
            .collect(),
        _ => vec![],
    };

    // Weekly counts of the region: its towns' (or its villages' when it is a village).
    let weeks = run.weeks as usize;
    let mut counts = vec![0u32; weeks];
    let mut serious = vec![0u32; weeks];
    if region.level() == RegionLevel::Village || region.level() == RegionLevel::Grid {
        for v in &run.villages {
            for (c, x) in counts.iter_mut().zip(&v.counts) {
                *c += x;
            }
        }
    } else {
        for tw in &run.towns {
            for (i, (c, s)) in tw.counts.iter().zip(&tw.serious).enumerate().take(weeks) {
                counts[i] += c;
                serious[i] += s;
            }
        }
    }
    let max = counts.iter().copied().max().unwrap_or(0).max(1);
    let step = 24.0;
    let fmt_day = |ts: Timestamp| super::local_time(ts, &st.tz).chars().take(10).collect::<String>();
    let bars = counts
        .iter()
        .zip(&serious)
        .enumerate()
        .map(|(i, (&c, &s))| {
            let h = c as f64 / max as f64 * CHART_HEIGHT;
            let sh = s as f64 / max as f64 * CHART_HEIGHT;
            TrendBar {
                x: i as f64 * step + 2.0,
                y: CHART_HEIGHT - h,
                h,
                serious_y: CHART_HEIGHT - sh,
                serious_h: sh,
                title: t
                    .s("dash.trend_bar")
                    .replace("{week}", &fmt_day(run.slice_start(i)))
                    .replace("{n}", &c.to_string())
                    .replace("{s}", &s.to_string()),
            }
        })
        .collect();

    let topics = run
        .topics
        .iter()
        .map(|tp| TopicRow {
            town: name_of(&tp.town),
            kind: t.k("dash.topic_kind", tp.kind.as_str()),
            key: match tp.kind {
                fengqiao_domain::perception::TopicKind::Category => {
                    r.categories.get(&tp.key).map(|k| t.pick(&k.name_zh, Some(&k.name_en)).to_string()).unwrap_or_else(|| tp.key.clone())
                }
                fengqiao_domain::perception::TopicKind::Term if tp.related.is_empty() => tp.key.clone(),
                fengqiao_domain::perception::TopicKind::Term => format!("{} ({})", tp.key, tp.related.join(", ")),
            },
            count: tp.count,
            baseline: format!("{:.2}", tp.baseline),
            p: format!("{:.1e}", tp.p),
            cases: tp.case_ids.iter().copied().take(30).collect(),
        })
        .collect();
    let mut spots: Vec<SpotRow> = run
        .villages
        .iter()
        .filter(|v| v.class > 0 || fengqiao_domain::perception::ALERTING_PATTERNS.contains(&v.pattern.as_str()))
        .map(|v| SpotRow {
            code: v.region.to_string(),
            name: name_of(&v.region),
            class_label: class_label(v.class),
            pattern_label: pattern_label(&v.pattern),
            latest: v.counts.last().copied().unwrap_or(0),
            eb_rate: format!("{:.2}", v.eb_rate_per_1000),
            z: format!("{:.2}", v.z),
        })
        .collect();
    spots.sort_by(|a, b| b.latest.cmp(&a.latest).then_with(|| a.code.cmp(&b.code)));
    Ok(Some(PerceptionView {
        at: super::local_time(run.at, &st.tz),
        map,
        layers: LAYERS.iter().map(|l| Opt { value: l.to_string(), label: t.k("dash.layer", l), selected: *l == layer }).collect(),
        show_alerts,
        legend,
        bars,
        chart_width: weeks as f64 * step + 4.0,
        chart_max: max,
        first_week: fmt_day(run.from),
        topics,
        spots,
        notes: run.notes.clone(),
    }))
}

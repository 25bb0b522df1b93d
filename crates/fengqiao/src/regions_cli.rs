//! `fengqiao regions`: GeoJSON import and export of the regions, and point or address lookup
//! (against the store, or against a GeoJSON file without any store, for analysts and for the
//! lookup benchmark).

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, anyhow, bail};
use clap::Subcommand;
use fengqiao_domain::geo::Point;
use fengqiao_domain::geoindex::RegionIndex;
use fengqiao_domain::region::RegionLevel;
use fengqiao_domain::{Actor, Region};
use fengqiao_store::{Service, StoreError};

#[derive(Subcommand)]
pub enum RegionsCmd {
    /// Import a GeoJSON FeatureCollection of regions (properties: code, name, name_en, level,
    /// parent, population, aliases, grid_worker, community_officer; geometry a Polygon,
    /// MultiPolygon or null). Every feature is checked first: one problem and nothing is
    /// written, and every problem is listed on standard error.
    Import {
        /// The GeoJSON file, or - for standard input.
        file: String,
    },
    /// Write the regions (optionally one subtree) as a GeoJSON FeatureCollection to standard
    /// output.
    Export {
        #[arg(long)]
        within: Option<String>,
    },
    /// Which region contains a point (`--lon --lat`), which region an address names
    /// (`--address`), or, with `--points FILE`, which contains each point of a CSV
    /// `id,lon,lat` (output: CSV `id,region`, empty when outside every region).
    Locate {
        #[arg(long, allow_hyphen_values = true)]
        lon: Option<f64>,
        #[arg(long, allow_hyphen_values = true)]
        lat: Option<f64>,
        #[arg(long)]
        address: Option<String>,
        #[arg(long)]
        points: Option<PathBuf>,
        /// Look up in this GeoJSON file's regions instead of the store's (no store is opened).
        #[arg(long)]
        boundaries: Option<PathBuf>,
        /// Threads for `--points` (default: every core).
        #[arg(long)]
        threads: Option<usize>,
    },
}

impl RegionsCmd {
    /// Whether the command works on files alone, without opening the store.
    pub fn offline(&self) -> bool {
        matches!(self, RegionsCmd::Locate { boundaries: Some(_), .. })
    }
}

fn read_input(file: &str) -> anyhow::Result<String> {
    if file == "-" {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)?;
        Ok(s)
    } else {
        std::fs::read_to_string(file).with_context(|| format!("reading {file}"))
    }
}

fn depth(l: RegionLevel) -> u8 {
    match l {
        RegionLevel::County => 0,
        RegionLevel::Town => 1,
        RegionLevel::Village => 2,
        RegionLevel::Grid => 3,
    }
}

/// Reads `id,lon,lat` rows, naming the first bad line.
fn read_points(path: &PathBuf) -> anyhow::Result<Vec<(String, Point)>> {
    let mut r = csv::ReaderBuilder::new().has_headers(true).from_path(path).with_context(|| format!("reading {}", path.display()))?;
    let mut out = Vec::new();
    for (i, rec) in r.records().enumerate() {
        let line = i + 2;
        let rec = rec.with_context(|| format!("{}: line {line}", path.display()))?;
        let num = |k: usize, what: &str| -> anyhow::Result<f64> {
            rec.get(k)
                .and_then(|s| s.trim().parse::<f64>().ok())
                .ok_or_else(|| anyhow!("{}: line {line}: {what} is not a number", path.display()))
        };
        let id = rec.get(0).unwrap_or_default().to_string();
        let p = Point::parse(num(1, "lon")?, num(2, "lat")?).map_err(|e| anyhow!("{}: line {line}: {}", path.display(), e.message))?;
        out.push((id, p));
    }
    Ok(out)
}

/// Looks up every point on all cores; returns the codes in input order.
fn locate_all(
    regions: &[Region],
    points: &[(String, Point)],
    threads: Option<usize>,
) -> (Vec<Option<usize>>, std::time::Duration, std::time::Duration) {
    let built = std::time::Instant::now();
    let areas: Vec<usize> =
        (0..regions.len()).filter(|&i| regions[i].boundary.is_some() && regions[i].level() != RegionLevel::County).collect();
    let index = RegionIndex::new(areas.iter().map(|&i| (i, depth(regions[i].level()), regions[i].polygons().collect())));
    let build_time = built.elapsed();
    let started = std::time::Instant::now();
    let threads = threads.unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)).max(1);
    let chunk = points.len().div_ceil(threads).max(1);
    let mut found = vec![None; points.len()];
    std::thread::scope(|s| {
        for (out, pts) in found.chunks_mut(chunk).zip(points.chunks(chunk)) {
            let index = &index;
            s.spawn(move || {
                for (o, (_, p)) in out.iter_mut().zip(pts) {
                    *o = index.locate(*p);
                }
            });
        }
    });
    (found, build_time, started.elapsed())
}

pub async fn run(svc: Option<&Service>, cmd: RegionsCmd, out: &mut impl Write) -> anyhow::Result<()> {
    let err = |e: StoreError| anyhow!("{e}");
    match cmd {
        RegionsCmd::Import { file } => {
            let svc = svc.context("the store is needed")?;
            let text = read_input(&file)?;
            match svc.import_regions(&Actor::System { job: "cli".into() }, &text).await {
                Ok(n) => writeln!(out, "imported {n} regions")?,
                Err(StoreError::Domain(fengqiao_domain::DomainError::Invalid(errs))) => {
                    for e in &errs {
                        eprintln!("{}", e.message);
                    }
                    bail!("{file}: {} problem(s); nothing was imported", errs.len());
                }
                Err(e) => return Err(err(e)),
            }
        }
        RegionsCmd::Export { within } => {
            let svc = svc.context("the store is needed")?;
            let within =
                within.map(|w| fengqiao_domain::RegionCode::parse(&w).map_err(|e| anyhow!("--within: {}", e.message))).transpose()?;
            let regions = svc.store.regions().await.map_err(err)?;
            let chosen = regions.iter().filter(|r| within.as_ref().is_none_or(|w| w.contains(&r.code)));
            serde_json::to_writer(&mut *out, &fengqiao_domain::geojson::to_feature_collection(chosen))?;
            writeln!(out)?;
        }
        RegionsCmd::Locate { lon, lat, address, points, boundaries, threads } => {
            let regions: Vec<Region> = match &boundaries {
                Some(path) => {
                    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
                    fengqiao_domain::geojson::parse_regions(&text, &[], None).map_err(|errs| {
                        for e in &errs {
                            eprintln!("{e}");
                        }
                        anyhow!("{}: {} problem(s)", path.display(), errs.len())
                    })?
                }
                None => svc.context("the store is needed")?.store.regions().await.map_err(err)?,
            };
            if let Some(path) = points {
                let pts = read_points(&path)?;
                let (found, build, took) = locate_all(&regions, &pts, threads);
                writeln!(out, "id,region")?;
                for ((id, _), f) in pts.iter().zip(&found) {
                    writeln!(out, "{id},{}", f.map(|i| regions[i].code.as_str()).unwrap_or(""))?;
                }
                let rate = pts.len() as f64 / took.as_secs_f64().max(1e-9);
                eprintln!(
                    "indexed {} regions in {:.1} ms; located {} points in {:.1} ms ({rate:.0} points/s)",
                    regions.len(),
                    build.as_secs_f64() * 1e3,
                    pts.len(),
                    took.as_secs_f64() * 1e3
                );
                return Ok(());
            }
            let gaz = fengqiao_domain::gazetteer::Gazetteer::new(&regions);
            let (code, matched) = match (lon, lat, address) {
                (Some(lon), Some(lat), _) => {
                    let p = Point::parse(lon, lat).map_err(|e| anyhow!("{}", e.message))?;
                    let (found, _, _) = locate_all(&regions, &[(String::new(), p)], Some(1));
                    (found[0].map(|i| regions[i].code.clone()), Vec::new())
                }
                (None, None, Some(a)) => match gaz.place(&a) {
                    Some(pl) => (Some(pl.region), pl.matched),
                    None => (None, Vec::new()),
                },
                _ => bail!("give --lon and --lat, --address, or --points FILE"),
            };
            match code {
                Some(c) => {
                    let mut chain = Vec::new();
                    let mut x = Some(c.clone());
                    while let Some(code) = x {
                        if let Some(r) = regions.iter().find(|r| r.code == code) {
                            chain.push(format!("{} {}", r.code, r.name));
                        }
                        x = code.parent();
                    }
                    chain.reverse();
                    writeln!(out, "{c}")?;
                    eprintln!("{}", chain.join(" > "));
                    if !matched.is_empty() {
                        eprintln!("matched: {}", matched.join(", "));
                    }
                }
                None => bail!("no region contains that place"),
            }
        }
    }
    Ok(())
}

#[derive(Subcommand)]
pub enum RoutingCmd {
    /// Print the routing rules in force (or `--version N`) as JSON.
    Show {
        #[arg(long)]
        version: Option<i64>,
    },
    /// Save a JSON rule set (`{"rules": [...]}`) as the next version. Every problem is listed
    /// and nothing is saved if there is one.
    Load {
        /// The JSON file, or - for standard input.
        file: String,
    },
    /// Where a case would go, and why: prints the decision and its trace.
    Test {
        #[arg(long)]
        category: String,
        #[arg(long)]
        description: String,
        /// A region code; or give --address.
        #[arg(long)]
        region: Option<String>,
        #[arg(long)]
        address: Option<String>,
        #[arg(long)]
        channel: Option<String>,
        #[arg(long)]
        urgency: Option<String>,
        #[arg(long)]
        severity: Option<String>,
    },
}

pub async fn routing(svc: &Service, cmd: RoutingCmd, out: &mut impl Write) -> anyhow::Result<()> {
    let err = |e: StoreError| anyhow!("{e}");
    let system = Actor::System { job: "cli".into() };
    match cmd {
        RoutingCmd::Show { version } => {
            let set = match version {
                Some(v) => svc.store.rules(Some(v)).await.map_err(err)?.ok_or_else(|| anyhow!("no rule set version {v}"))?,
                None => svc.reference().rules.clone(),
            };
            serde_json::to_writer_pretty(&mut *out, &set)?;
            writeln!(out)?;
        }
        RoutingCmd::Load { file } => {
            let text = read_input(&file)?;
            let set: fengqiao_domain::routing::RuleSet =
                serde_json::from_str(&text).with_context(|| format!("{file} is not a rule set"))?;
            match svc.save_rules(&system, &set).await {
                Ok(v) => writeln!(out, "saved {} rules as version {v}", set.rules.len())?,
                Err(StoreError::Domain(fengqiao_domain::DomainError::Invalid(errs))) => {
                    for e in &errs {
                        eprintln!("{}: {}", e.field, e.message);
                    }
                    bail!("{file}: {} problem(s); nothing was saved", errs.len());
                }
                Err(e) => return Err(err(e)),
            }
        }
        RoutingCmd::Test { category, description, region, address, channel, urgency, severity } => {
            let draft = fengqiao_domain::case::CaseDraft {
                category,
                description,
                region,
                address,
                channel,
                urgency,
                severity,
                ..Default::default()
            };
            let (region, d) = svc.route_draft(&system, draft).map_err(err)?;
            writeln!(out, "region {region}")?;
            for s in &d.trace {
                writeln!(out, "  {:<20} {:<12} {}", s.rule, serde_json::to_value(s.outcome)?.as_str().unwrap_or(""), s.detail)?;
            }
            match &d.lead {
                Some(l) => {
                    let co: Vec<&str> = d.co_units.iter().map(|u| u.as_str()).collect();
                    writeln!(
                        out,
                        "lead {l}{} (rules version {})",
                        if co.is_empty() { String::new() } else { format!(", co-handling {}", co.join(", ")) },
                        d.version
                    )?
                }
                None => writeln!(out, "no rule routes it: the triage queue (rules version {})", d.version)?,
            }
        }
    }
    Ok(())
}

//! `fengqiao analyze`: hotspot statistics over files (values, weights, permutation tables),
//! with CSV results on stdout. Reads files only: no store is opened.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow, bail};
use clap::{Args, Subcommand};
use fengqiao_analysis::spatial::scan_sim::{Scenario, trial};
use fengqiao_analysis::spatial::{
    Edge, Moments, PermutationTable, ScanError, ScanLocation, ScanModel, ScanOptions, SpatialError, Transform, Weights, benjamini_hochberg,
    emerging_hot_spots, empirical_bayes, gi_star, local_moran, mann_kendall, prospective_scan,
};

#[derive(Subcommand)]
pub enum AnalyzeCmd {
    /// Getis–Ord Gi* hot and cold spots (esda's G_Local with star=True).
    ///
    /// Output, one row per id in the order of the values file:
    ///   id        the site
    ///   stat      Gi* = Σⱼ w*ᵢⱼ yⱼ / Σⱼ yⱼ, the site itself included among its neighbours
    ///   expected  E[Gi*] = Wᵢ / n, Wᵢ the row's weight sum including the site itself
    ///   variance  Var[Gi*] = Wᵢ (n − Wᵢ) / (n − 1) / n² · s² / ȳ²
    ///   z         (stat − expected) / √variance; positive is a hot spot, negative a cold spot
    ///   p_norm    one-sided normal p-value 1 − Φ(|z|) (double it for a two-sided test)
    ///   p_sim     pseudo p-value of the conditional permutation test, (min(G, N − G) + 1) / (N + 1)
    ///             with G the permutations whose Gi* ≥ the observed; empty for an island
    ///   p_fdr, significant   with --fdr Q: the Benjamini–Hochberg adjusted p_sim and whether it is ≤ Q
    #[command(verbatim_doc_comment)]
    GiStar {
        #[command(flatten)]
        common: Common,
        /// binary: every neighbour and the site itself weigh 1; row: the site weighs its
        /// row's largest weight, then the row is scaled to sum to 1.
        #[arg(long, default_value = "binary")]
        transform: String,
    },
    /// Local Moran's I clusters and outliers (esda's Moran_Local).
    ///
    /// Output, one row per id in the order of the values file:
    ///   id        the site
    ///   stat      Iᵢ = (n − 1) zᵢ Σⱼ wᵢⱼ zⱼ / Σⱼ zⱼ², z standardised by the population sd
    ///   expected  E[Iᵢ]: conditional randomisation −zᵢ² Wᵢ / ((n − 1) m₂) (esda's EIc), or with
    ///             --moments total −Wᵢ / (n − 1) (esda's EI)
    ///   variance  Var[Iᵢ] under the same null (esda's VIc, or VI with --moments total)
    ///   z         (stat − expected) / √variance
    ///   p_norm    one-sided normal p-value 1 − Φ(|z|)
    ///   p_sim     pseudo p-value of the conditional permutation test, (min(G, N − G) + 1) / (N + 1)
    ///             with G the permutations whose Iᵢ ≥ the observed; empty for an island
    ///   quadrant  1 high–high, 2 low–high, 3 low–low, 4 high–low (the value, then its spatial lag)
    ///   p_fdr, significant   with --fdr Q: the Benjamini–Hochberg adjusted p_sim and whether it is ≤ Q
    #[command(verbatim_doc_comment)]
    LocalMoran {
        #[command(flatten)]
        common: Common,
        /// binary (every neighbour weighs 1) or row (each row scaled to sum to 1).
        #[arg(long, default_value = "row")]
        transform: String,
        /// Which analytical moments fill expected, variance and z: conditional or total.
        #[arg(long, default_value = "conditional")]
        moments: String,
    },
    /// Mann–Kendall trend test per id (as pymannkendall.original_test, ties corrected).
    ///
    /// Input: CSV id,time,value (time an integer; each id's values are ordered by it).
    /// Output, one row per id (in order of first appearance):
    ///   id, n      the site and its number of time slices
    ///   s          S = Σ_{i<j} sign(xⱼ − xᵢ)
    ///   var_s      Var S, corrected for ties
    ///   z, p       (S ∓ 1)/√Var S and its two-sided normal p-value
    ///   tau        Kendall's τ
    ///   slope, intercept   Theil–Sen slope per time slice and its intercept
    ///   trend      increasing, decreasing or no trend at --alpha
    #[command(verbatim_doc_comment)]
    Trend {
        #[arg(long)]
        input: PathBuf,
        #[arg(long, default_value_t = 0.05)]
        alpha: f64,
    },
    /// Emerging hot spot analysis over time slices (ArcGIS Pro's categories).
    ///
    /// Input: --values CSV id,time,value with a value for every id at every time (at least 3
    /// slices; 10 or more for meaningful categories), --weights as for gi-star (binary).
    /// Each bin's neighbours: its site and the site's neighbours, in its slice and the
    /// --time-window slices before. Output, one row per id:
    ///   id         the site
    ///   category   new, consecutive, intensifying, persistent, diminishing, sporadic,
    ///              oscillating or historical hot/cold spot, or no pattern
    ///   hot, cold  how many slices were significant hot / cold spots (two-sided p < --alpha)
    ///   z_last     Gi* z of the final slice
    ///   trend_z, trend_p   Mann–Kendall test of the site's Gi* z over time
    #[command(verbatim_doc_comment)]
    Emerging {
        #[arg(long)]
        values: PathBuf,
        #[arg(long)]
        weights: PathBuf,
        #[arg(long, default_value_t = 1)]
        time_window: usize,
        #[arg(long, default_value_t = 0.05)]
        alpha: f64,
    },
    /// Build a weights file (CSV from,to,weight) from points or polygons.
    Weights {
        /// CSV with header id,x,y (projected coordinates: distances are Euclidean).
        #[arg(long, conflicts_with = "polygons")]
        points: Option<PathBuf>,
        /// GeoJSON FeatureCollection of Polygon/MultiPolygon features with an "id" property;
        /// queen contiguity (a shared vertex makes neighbours).
        #[arg(long)]
        polygons: Option<PathBuf>,
        /// With --points: each point's k nearest other points.
        #[arg(long, conflicts_with = "distance")]
        knn: Option<usize>,
        /// With --points: every other point within this distance.
        #[arg(long)]
        distance: Option<f64>,
    },
    /// Empirical-Bayes smoothed rates from a CSV with header id,cases,population.
    ///
    /// Output: id,cases,population,rate,eb_rate, where rate = cases / population and eb_rate
    /// pulls it toward the overall rate in proportion to how small the population is.
    #[command(verbatim_doc_comment)]
    EbRate {
        #[arg(long)]
        input: PathBuf,
    },
    /// Prospective space–time scan statistic (Kulldorff, as SaTScan): clusters of high rate
    /// still going on in the latest slice, with Monte Carlo p-values.
    ///
    /// Input: --locations CSV id,x,y,population (projected coordinates: distances are
    /// Euclidean; population may be left out, or 0, for --model permutation) and --counts CSV
    /// id,slice,count (slice an integer, e.g. a week number; a missing row counts 0). The
    /// slices run from --first-slice to --last-slice (default: the smallest and largest in
    /// the counts); the last is the "now" every cluster must reach.
    /// Circles grow around each location through its nearest neighbours while they hold at
    /// most --max-population-fraction of the population (permutation model: of the cases);
    /// windows are the last 1 to --max-time-fraction × slices slices.
    /// Output, one row per cluster (the most likely first; each later one shares no location
    /// with an earlier one):
    ///   rank        1 for the most likely cluster
    ///   center      the id at the circle's centre
    ///   locations   the ids inside, nearest first, separated by ;
    ///   start, end  the window's first and last slice (end is always the last slice)
    ///   observed    cases in the window
    ///   expected    poisson: Σ C_t · P_z / P (the slice's cases shared by population);
    ///               permutation: Σ C_z· · C_·t / C
    ///   relative_risk   (observed/expected inside) / (observed/expected outside)
    ///   llr         log likelihood ratio c·ln(c/μ) + (C − c)·ln((C − c)/(C − μ))
    ///   p_value     (1 + replicates whose largest llr ≥ this llr) / (replicates + 1); later
    ///               clusters are compared with the same maxima (conservative)
    ///   recurrence  1 / p_value, in slices: how often a cluster this strong arises by chance
    #[command(verbatim_doc_comment)]
    Scan {
        #[arg(long)]
        locations: PathBuf,
        #[arg(long)]
        counts: PathBuf,
        /// poisson (cases against population, adjusted for the overall time trend) or
        /// permutation (space–time permutation: cases only).
        #[arg(long, default_value = "poisson")]
        model: String,
        /// Monte Carlo replicates.
        #[arg(long, default_value_t = 999)]
        replicates: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long, default_value_t = 10)]
        max_clusters: usize,
        #[arg(long, default_value_t = 0.5)]
        max_population_fraction: f64,
        #[arg(long, default_value_t = 0.5)]
        max_time_fraction: f64,
        #[arg(long, allow_hyphen_values = true)]
        first_slice: Option<i64>,
        #[arg(long, allow_hyphen_values = true)]
        last_slice: Option<i64>,
    },
    /// Checks the scan on simulated counties: the type-I error (relative risk 1) and the
    /// power against planted clusters.
    ///
    /// Villages scattered over a 40 km square with log-normal populations and a shared
    /// seasonal swing; each dataset puts --cases cases into (village, slice) cells in
    /// proportion to population × season, times the relative risk in a planted cluster (the
    /// villages nearest a random centre holding --cluster-share of the population, over the
    /// last --cluster-slices slices). Output, one row per model and relative risk:
    ///   model, relative_risk, datasets
    ///   rejected    datasets whose most likely cluster had p ≤ --alpha
    ///   rate        rejected / datasets (the type-I error at relative risk 1, else the power)
    ///   ci_low, ci_high   its 95% Wilson interval
    ///   located     rejected datasets whose cluster shares a village with the planted one
    /// The time per dataset goes to standard error.
    #[command(verbatim_doc_comment)]
    ScanValidate {
        /// poisson, permutation or both.
        #[arg(long, default_value = "both")]
        model: String,
        #[arg(long, default_value_t = 1000)]
        datasets: usize,
        #[arg(long, default_value_t = 999)]
        replicates: usize,
        /// Comma-separated; 1 is the null hypothesis.
        #[arg(long, default_value = "1,1.5,2,3")]
        relative_risks: String,
        #[arg(long, default_value_t = 200)]
        locations: usize,
        #[arg(long, default_value_t = 52)]
        slices: usize,
        #[arg(long, default_value_t = 5000)]
        cases: u64,
        #[arg(long, default_value_t = 0.5)]
        seasonality: f64,
        #[arg(long, default_value_t = 0.02)]
        cluster_share: f64,
        #[arg(long, default_value_t = 3)]
        cluster_slices: usize,
        #[arg(long, default_value_t = 0.05)]
        alpha: f64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

#[derive(Args)]
pub struct Common {
    /// CSV with header id,value: one row per site.
    #[arg(long)]
    values: PathBuf,
    /// CSV with header from,to[,weight]: one row per directed edge (weight 1 when absent);
    /// ids not in any edge are islands.
    #[arg(long)]
    weights: PathBuf,
    /// Number of conditional permutations (0 for none) [default: 999].
    #[arg(long)]
    permutations: Option<usize>,
    /// Seed of the permutation table.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// An explicit permutation table instead of a seeded one: one line per permutation of
    /// comma-separated 0-based indices into the other sites (the values file's rows with the
    /// focal site removed); a site with k neighbours uses the first k of each line.
    #[arg(long)]
    permutation_table: Option<PathBuf>,
    /// Add Benjamini–Hochberg columns at false discovery rate Q (on p_sim).
    #[arg(long)]
    fdr: Option<f64>,
}

/// Runs one analysis; all output is built first, so a failure prints nothing to stdout.
pub fn run(cmd: &AnalyzeCmd) -> anyhow::Result<()> {
    let out = match cmd {
        AnalyzeCmd::GiStar { common, transform } => {
            let t = Transform::parse(transform).map_err(|e| anyhow!("--transform: {e}"))?;
            let input = Input::read(common)?;
            let g = gi_star(&input.values, &input.weights, t, input.table.as_ref()).map_err(|e| input.explain(e))?;
            let extra: Vec<String> = vec![String::new(); g.stat.len()];
            table(&input, common, &g.stat, &g.expected, &g.variance, &g.z, &g.p_norm, &g.p_sim, None, &extra)?
        }
        AnalyzeCmd::LocalMoran { common, transform, moments } => {
            let t = Transform::parse(transform).map_err(|e| anyhow!("--transform: {e}"))?;
            let m = match moments.as_str() {
                "conditional" => Moments::Conditional,
                "total" => Moments::Total,
                other => bail!("--moments {other:?}: expected conditional or total"),
            };
            let input = Input::read(common)?;
            let r = local_moran(&input.values, &input.weights, t, m, input.table.as_ref()).map_err(|e| input.explain(e))?;
            let q: Vec<String> = r.quadrant.iter().map(|q| q.to_string()).collect();
            table(&input, common, &r.stat, &r.expected, &r.variance, &r.z, &r.p_norm, &r.p_sim, Some("quadrant"), &q)?
        }
        AnalyzeCmd::Weights { points, polygons, knn, distance } => weights_cmd(points.as_deref(), polygons.as_deref(), *knn, *distance)?,
        AnalyzeCmd::EbRate { input } => eb_cmd(input)?,
        AnalyzeCmd::Trend { input, alpha } => trend_cmd(input, *alpha)?,
        AnalyzeCmd::Emerging { values, weights, time_window, alpha } => emerging_cmd(values, weights, *time_window, *alpha)?,
        AnalyzeCmd::Scan {
            locations,
            counts,
            model,
            replicates,
            seed,
            max_clusters,
            max_population_fraction,
            max_time_fraction,
            first_slice,
            last_slice,
        } => {
            let model = ScanModel::parse(model).ok_or_else(|| anyhow!("--model {model:?}: expected poisson or permutation"))?;
            let opts = ScanOptions {
                model,
                max_population_fraction: *max_population_fraction,
                max_time_fraction: *max_time_fraction,
                replicates: *replicates,
                seed: *seed,
                max_clusters: *max_clusters,
            };
            scan_cmd(locations, counts, &opts, *first_slice, *last_slice)?
        }
        AnalyzeCmd::ScanValidate {
            model,
            datasets,
            replicates,
            relative_risks,
            locations,
            slices,
            cases,
            seasonality,
            cluster_share,
            cluster_slices,
            alpha,
            seed,
        } => {
            let scenario = Scenario {
                locations: *locations,
                slices: *slices,
                cases: *cases,
                seasonality: *seasonality,
                cluster_share: *cluster_share,
                cluster_slices: *cluster_slices,
            };
            scan_validate_cmd(model, &scenario, relative_risks, *datasets, *replicates, *alpha, *seed)?
        }
    };
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(out.as_bytes())?;
    stdout.flush()?;
    Ok(())
}

/// The parsed input files, with the line of each edge so errors can name it.
struct Input {
    ids: Vec<String>,
    values: Vec<f64>,
    weights: Weights,
    edge_lines: Vec<u64>,
    values_file: PathBuf,
    weights_file: PathBuf,
    value_lines: Vec<u64>,
    table: Option<PermutationTable>,
    table_file: Option<PathBuf>,
}

impl Input {
    fn read(c: &Common) -> anyhow::Result<Input> {
        if let Some(q) = c.fdr
            && !(q > 0.0 && q < 1.0)
        {
            bail!("--fdr {q}: the false discovery rate must be between 0 and 1");
        }
        let (ids, values, value_lines) = read_values(&c.values)?;
        // The ids side by side in one buffer, so the lookups of a large edge list stay in cache.
        let arena = ids.concat();
        let mut at = 0;
        let mut index: Ids = Ids::with_capacity_and_hasher(ids.len(), Default::default());
        for (i, id) in ids.iter().enumerate() {
            if let Some(first) = index.insert(&arena[at..at + id.len()], i) {
                bail!("{} line {}: id {id:?} already appeared on line {}", c.values.display(), value_lines[i], value_lines[first]);
            }
            at += id.len();
        }
        let (edges, edge_lines) = read_edges(&c.weights, &index)?;
        let mut input = Input {
            weights: Weights::from_edges(ids.len(), &edges).map_err(|e| explain_edges(e, &c.weights, &edge_lines))?,
            ids,
            values,
            edge_lines,
            values_file: c.values.clone(),
            weights_file: c.weights.clone(),
            value_lines,
            table: None,
            table_file: c.permutation_table.clone(),
        };
        let width = input.weights.max_cardinality();
        input.table = match (&c.permutation_table, c.permutations) {
            (Some(path), p) => {
                let rows = read_table(path)?;
                if let Some(p) = p
                    && p != rows.len()
                {
                    bail!("--permutations {p} but {} has {} permutations", path.display(), rows.len());
                }
                Some(PermutationTable::from_rows(input.values.len(), width, &rows).map_err(|e| input.explain(e))?)
            }
            (None, Some(0)) => None,
            (None, p) => Some(PermutationTable::seeded(input.values.len(), width, p.unwrap_or(999), c.seed).map_err(|e| input.explain(e))?),
        };
        if c.fdr.is_some() && input.table.is_none() {
            bail!("--fdr applies to p_sim, which needs permutations");
        }
        Ok(input)
    }

    /// Turns a library error into one that names the file and line.
    fn explain(&self, e: SpatialError) -> anyhow::Error {
        match e {
            SpatialError::Value { index, reason } => {
                anyhow!("{} line {}: {reason}", self.values_file.display(), self.value_lines.get(index).copied().unwrap_or(0))
            }
            SpatialError::Edge { .. } => explain_edges(e, &self.weights_file, &self.edge_lines),
            SpatialError::Permutation { index, reason } => {
                let f = self.table_file.as_deref().map(|p| p.display().to_string()).unwrap_or_else(|| "permutation table".into());
                anyhow!("{f} line {}: {reason}", index + 1)
            }
            SpatialError::Invalid(m) => anyhow!("{m}"),
        }
    }
}

fn explain_edges(e: SpatialError, file: &Path, lines: &[u64]) -> anyhow::Error {
    match e {
        SpatialError::Edge { index, reason } => anyhow!("{} line {}: {reason}", file.display(), lines.get(index).copied().unwrap_or(0)),
        other => anyhow!("{}: {other}", file.display()),
    }
}

fn reader(path: &Path) -> anyhow::Result<csv::Reader<std::fs::File>> {
    let f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    Ok(csv::ReaderBuilder::new().has_headers(true).flexible(true).trim(csv::Trim::All).from_reader(f))
}

/// Checks the header's leading column names, so a file of another shape is not misread.
fn expect_header<R: std::io::Read>(r: &mut csv::Reader<R>, path: &Path, names: &[&str], optional: &[&str]) -> anyhow::Result<usize> {
    let h = r.headers().with_context(|| format!("{} line 1", path.display()))?.clone();
    let all: Vec<&str> = names.iter().chain(optional).copied().collect();
    let ok = h.len() >= names.len() && h.len() <= all.len() && h.iter().zip(&all).all(|(a, b)| a.eq_ignore_ascii_case(b));
    if !ok {
        let want = if optional.is_empty() { names.join(",") } else { format!("{}[,{}]", names.join(","), optional.join(",")) };
        bail!("{} line 1: the header must be {want}, found {:?}", path.display(), h.iter().collect::<Vec<_>>().join(","));
    }
    Ok(h.len())
}

fn number(field: &str, what: &str, path: &Path, line: u64) -> anyhow::Result<f64> {
    let v: f64 = field.parse().map_err(|_| anyhow!("{} line {line}: {what} {field:?} is not a number", path.display()))?;
    if !v.is_finite() {
        bail!("{} line {line}: {what} {field:?} is not a finite number", path.display());
    }
    Ok(v)
}

/// Ids, values and line numbers; repeated ids are found when the ids are indexed.
fn read_values(path: &Path) -> anyhow::Result<(Vec<String>, Vec<f64>, Vec<u64>)> {
    let mut r = reader(path)?;
    expect_header(&mut r, path, &["id", "value"], &[])?;
    let (mut ids, mut values, mut lines) = (Vec::new(), Vec::new(), Vec::new());
    for rec in r.records() {
        let rec = rec.with_context(|| format!("reading {}", path.display()))?;
        let line = rec.position().map(|p| p.line()).unwrap_or(0);
        if rec.len() != 2 {
            bail!("{} line {line}: expected 2 fields (id,value), found {}", path.display(), rec.len());
        }
        let id = rec[0].to_string();
        if id.is_empty() {
            bail!("{} line {line}: the id is empty", path.display());
        }
        values.push(number(&rec[1], "value", path, line)?);
        ids.push(id);
        lines.push(line);
    }
    if ids.is_empty() {
        bail!("{}: no values", path.display());
    }
    Ok((ids, values, lines))
}

/// FNV-1a: ids are short and come from local files, so a keyed hash buys nothing here and
/// SipHash dominated reading large edge lists.
#[derive(Default)]
struct Fnv(u64);

impl std::hash::Hasher for Fnv {
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 { 0xcbf2_9ce4_8422_2325 } else { self.0 };
        for &b in bytes {
            h = (h ^ b as u64).wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }

    fn finish(&self) -> u64 {
        // The table takes its tag from the top bits, which FNV leaves poorly mixed.
        let h = (self.0 ^ (self.0 >> 32)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        h ^ (h >> 29)
    }
}

type Ids<'a> = HashMap<&'a str, usize, std::hash::BuildHasherDefault<Fnv>>;

fn read_edges(path: &Path, index: &Ids) -> anyhow::Result<(Vec<Edge>, Vec<u64>)> {
    use rayon::prelude::*;
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let header_end = bytes.iter().position(|&b| b == b'\n').unwrap_or(bytes.len());
    let mut hr = csv::ReaderBuilder::new().has_headers(true).trim(csv::Trim::Headers).from_reader(&bytes[..header_end]);
    let cols = expect_header(&mut hr, path, &["from", "to"], &["weight"])?;
    let body = &bytes[(header_end + 1).min(bytes.len())..];
    // Large lists are parsed in pieces cut at line ends, in parallel; a quote could hide a
    // line end inside a field, so a file with quotes is read in one piece.
    let pieces = if body.contains(&b'"') { 1 } else { (body.len() / (1 << 20)).clamp(1, 4 * rayon::current_num_threads()) };
    let mut cuts = vec![0usize];
    for k in 1..pieces {
        let at = (body.len() * k / pieces).max(*cuts.last().unwrap_or(&0));
        let end = body[at..].iter().position(|&b| b == b'\n').map(|p| at + p + 1).unwrap_or(body.len());
        cuts.push(end);
    }
    cuts.push(body.len());
    cuts.dedup();
    // The line on which each piece starts (the header is line 1).
    let mut first_line = vec![2u64];
    for w in cuts.windows(2).take(cuts.len().saturating_sub(2)) {
        let newlines = body[w[0]..w[1]].iter().filter(|&&b| b == b'\n').count() as u64;
        first_line.push(first_line[first_line.len() - 1] + newlines);
    }
    let parsed: Vec<anyhow::Result<(Vec<Edge>, Vec<u64>)>> = cuts
        .windows(2)
        .zip(&first_line)
        .collect::<Vec<_>>()
        .into_par_iter()
        .map(|(w, &line0)| {
            let piece = &body[w[0]..w[1]];
            let mut r = csv::ReaderBuilder::new().has_headers(false).flexible(true).trim(csv::Trim::None).from_reader(piece);
            let guess = piece.len() / 16;
            let (mut edges, mut lines) = (Vec::with_capacity(guess), Vec::with_capacity(guess));
            let mut rec = csv::StringRecord::new();
            while r.read_record(&mut rec).with_context(|| format!("reading {}", path.display()))? {
                let line = line0 + rec.position().map(|p| p.line()).unwrap_or(1) - 1;
                if rec.len() != cols {
                    bail!("{} line {line}: expected {cols} fields, found {}", path.display(), rec.len());
                }
                let site = |s: &str| {
                    index.get(s).copied().ok_or_else(|| anyhow!("{} line {line}: id {s:?} is not in the values file", path.display()))
                };
                let (from, to) = (site(rec[0].trim())?, site(rec[1].trim())?);
                let weight = if cols == 3 { number(rec[2].trim(), "weight", path, line)? } else { 1.0 };
                edges.push(Edge { from, to, weight });
                lines.push(line);
            }
            Ok((edges, lines))
        })
        .collect();
    let (mut edges, mut lines) = (Vec::new(), Vec::new());
    // In file order, so the first bad line is the one reported.
    for p in parsed {
        let (e, l) = p?;
        edges.extend(e);
        lines.extend(l);
    }
    Ok((edges, lines))
}

fn read_table(path: &Path) -> anyhow::Result<Vec<Vec<usize>>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut rows = Vec::new();
    for (k, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let row = line
            .split(',')
            .map(|s| s.trim().parse::<usize>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| anyhow!("{} line {}: expected comma-separated non-negative integers", path.display(), k + 1))?;
        rows.push(row);
    }
    Ok(rows)
}

#[allow(clippy::too_many_arguments)]
fn table(
    input: &Input,
    c: &Common,
    stat: &[f64],
    expected: &[f64],
    variance: &[f64],
    z: &[f64],
    p_norm: &[f64],
    p_sim: &[Option<f64>],
    extra_name: Option<&str>,
    extra: &[String],
) -> anyhow::Result<String> {
    let fdr = c.fdr.map(|q| (q, benjamini_hochberg(p_sim)));
    let mut out = String::with_capacity(128 * (stat.len() + 1));
    out.push_str("id,stat,expected,variance,z,p_norm,p_sim");
    if let Some(name) = extra_name {
        write!(out, ",{name}")?;
    }
    if fdr.is_some() {
        out.push_str(",p_fdr,significant");
    }
    out.push('\n');
    let opt = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
    for i in 0..stat.len() {
        write!(out, "{},{},{},{},{},{},{}", csv_field(&input.ids[i]), stat[i], expected[i], variance[i], z[i], p_norm[i], opt(p_sim[i]))?;
        if extra_name.is_some() {
            write!(out, ",{}", extra[i])?;
        }
        if let Some((q, adj)) = &fdr {
            write!(out, ",{},{}", opt(adj[i]), adj[i].is_some_and(|p| p <= *q))?;
        }
        out.push('\n');
    }
    Ok(out)
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_string() }
}

fn weights_cmd(points: Option<&Path>, polygons: Option<&Path>, knn: Option<usize>, distance: Option<f64>) -> anyhow::Result<String> {
    let (ids, w) = match (points, polygons) {
        (Some(path), None) => {
            let mut r = reader(path)?;
            expect_header(&mut r, path, &["id", "x", "y"], &[])?;
            let (mut ids, mut pts) = (Vec::new(), Vec::new());
            let mut seen = HashMap::new();
            for rec in r.records() {
                let rec = rec.with_context(|| format!("reading {}", path.display()))?;
                let line = rec.position().map(|p| p.line()).unwrap_or(0);
                if rec.len() != 3 {
                    bail!("{} line {line}: expected 3 fields (id,x,y), found {}", path.display(), rec.len());
                }
                if let Some(first) = seen.insert(rec[0].to_string(), line) {
                    bail!("{} line {line}: id {:?} already appeared on line {first}", path.display(), &rec[0]);
                }
                pts.push((number(&rec[1], "x", path, line)?, number(&rec[2], "y", path, line)?));
                ids.push(rec[0].to_string());
            }
            let w = match (knn, distance) {
                (Some(k), None) => Weights::knn(&pts, k),
                (None, Some(d)) => Weights::distance_band(&pts, d),
                _ => bail!("with --points, give --knn K or --distance D"),
            }
            .map_err(|e| anyhow!("{}: {e}", path.display()))?;
            (ids, w)
        }
        (None, Some(path)) => {
            if knn.is_some() || distance.is_some() {
                bail!("--knn and --distance apply to --points, not --polygons");
            }
            let (ids, rings) = read_polygons(path)?;
            (ids, Weights::queen(&rings).map_err(|e| anyhow!("{}: {e}", path.display()))?)
        }
        _ => bail!("give --points FILE or --polygons FILE"),
    };
    let fields: Vec<String> = ids.iter().map(|id| csv_field(id)).collect();
    let mut out = String::with_capacity(32 * (w.edges().size_hint().0 + 1));
    out.push_str("from,to,weight\n");
    for e in w.edges() {
        out.push_str(&fields[e.from]);
        out.push(',');
        out.push_str(&fields[e.to]);
        if e.weight == 1.0 {
            out.push_str(",1\n");
        } else {
            writeln!(out, ",{}", e.weight)?;
        }
    }
    Ok(out)
}

type Rings = Vec<Vec<(f64, f64)>>;

fn read_polygons(path: &Path) -> anyhow::Result<(Vec<String>, Vec<Rings>)> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let doc: serde_json::Value = serde_json::from_str(&text).with_context(|| format!("{}: not JSON", path.display()))?;
    let features = doc.get("features").and_then(|f| f.as_array()).ok_or_else(|| anyhow!("{}: not a FeatureCollection", path.display()))?;
    let (mut ids, mut polys) = (Vec::new(), Vec::new());
    let mut seen = HashMap::new();
    for (k, f) in features.iter().enumerate() {
        let id = match f.pointer("/properties/id") {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(serde_json::Value::Number(n)) => n.to_string(),
            _ => bail!("{} feature {k}: no \"id\" property", path.display()),
        };
        if seen.insert(id.clone(), k).is_some() {
            bail!("{} feature {k}: id {id:?} appears twice", path.display());
        }
        let geom = f.get("geometry").ok_or_else(|| anyhow!("{} feature {k}: no geometry", path.display()))?;
        let coords = geom.get("coordinates").ok_or_else(|| anyhow!("{} feature {k}: no coordinates", path.display()))?;
        let polygons: Vec<&serde_json::Value> = match geom.get("type").and_then(|t| t.as_str()) {
            Some("Polygon") => vec![coords],
            Some("MultiPolygon") => coords.as_array().map(|a| a.iter().collect()).unwrap_or_default(),
            other => bail!("{} feature {k}: geometry type {other:?} is not Polygon or MultiPolygon", path.display()),
        };
        let mut rings = Vec::new();
        for p in polygons {
            for ring in p.as_array().ok_or_else(|| anyhow!("{} feature {k}: a polygon is not a list of rings", path.display()))? {
                let pts = ring
                    .as_array()
                    .and_then(|r| r.iter().map(|pt| Some((pt.get(0)?.as_f64()?, pt.get(1)?.as_f64()?))).collect::<Option<Vec<_>>>())
                    .ok_or_else(|| anyhow!("{} feature {k}: a ring is not a list of [x, y] positions", path.display()))?;
                rings.push(pts);
            }
        }
        ids.push(id);
        polys.push(rings);
    }
    Ok((ids, polys))
}

fn eb_cmd(path: &Path) -> anyhow::Result<String> {
    let mut r = reader(path)?;
    expect_header(&mut r, path, &["id", "cases", "population"], &[])?;
    let (mut ids, mut e, mut b, mut lines) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for rec in r.records() {
        let rec = rec.with_context(|| format!("reading {}", path.display()))?;
        let line = rec.position().map(|p| p.line()).unwrap_or(0);
        if rec.len() != 3 {
            bail!("{} line {line}: expected 3 fields (id,cases,population), found {}", path.display(), rec.len());
        }
        ids.push(rec[0].to_string());
        e.push(number(&rec[1], "cases", path, line)?);
        b.push(number(&rec[2], "population", path, line)?);
        lines.push(line);
    }
    let eb = empirical_bayes(&e, &b).map_err(|err| match err {
        SpatialError::Value { index, reason } => anyhow!("{} line {}: {reason}", path.display(), lines[index]),
        other => anyhow!("{}: {other}", path.display()),
    })?;
    let mut out = String::from("id,cases,population,rate,eb_rate\n");
    for i in 0..ids.len() {
        writeln!(out, "{},{},{},{},{}", csv_field(&ids[i]), e[i], b[i], e[i] / b[i], eb[i])?;
    }
    Ok(out)
}

/// Series per id from a CSV id,time,value: ids in order of first appearance, each series
/// ordered by time.
type Series = (Vec<String>, Vec<Vec<(i64, f64)>>);

fn read_series(path: &Path) -> anyhow::Result<Series> {
    let mut r = reader(path)?;
    expect_header(&mut r, path, &["id", "time", "value"], &[])?;
    let (mut ids, mut series): (Vec<String>, Vec<Vec<(i64, f64)>>) = (Vec::new(), Vec::new());
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut seen: HashMap<(usize, i64), u64> = HashMap::new();
    for rec in r.records() {
        let rec = rec.with_context(|| format!("reading {}", path.display()))?;
        let line = rec.position().map(|p| p.line()).unwrap_or(0);
        if rec.len() != 3 {
            bail!("{} line {line}: expected 3 fields (id,time,value), found {}", path.display(), rec.len());
        }
        let time: i64 = rec[1].parse().map_err(|_| anyhow!("{} line {line}: time {:?} is not an integer", path.display(), &rec[1]))?;
        let value = number(&rec[2], "value", path, line)?;
        let k = *index.entry(rec[0].to_string()).or_insert_with(|| {
            ids.push(rec[0].to_string());
            series.push(Vec::new());
            ids.len() - 1
        });
        if let Some(first) = seen.insert((k, time), line) {
            bail!("{} line {line}: id {:?} at time {time} already appeared on line {first}", path.display(), &rec[0]);
        }
        series[k].push((time, value));
    }
    if ids.is_empty() {
        bail!("{}: no values", path.display());
    }
    for s in &mut series {
        s.sort_by_key(|x| x.0);
    }
    Ok((ids, series))
}

fn trend_cmd(path: &Path, alpha: f64) -> anyhow::Result<String> {
    if !(alpha > 0.0 && alpha < 1.0) {
        bail!("--alpha {alpha}: must be between 0 and 1");
    }
    let (ids, series) = read_series(path)?;
    let mut out = String::from("id,n,s,var_s,z,p,tau,slope,intercept,trend\n");
    for (id, s) in ids.iter().zip(&series) {
        let x: Vec<f64> = s.iter().map(|v| v.1).collect();
        let mk = mann_kendall(&x).map_err(|e| anyhow!("{}: id {id:?}: {e}", path.display()))?;
        let trend = match mk.trend(alpha) {
            1 => "increasing",
            -1 => "decreasing",
            _ => "no trend",
        };
        writeln!(
            out,
            "{},{},{},{},{},{},{},{},{},{trend}",
            csv_field(id),
            x.len(),
            mk.s,
            mk.var_s,
            mk.z,
            mk.p,
            mk.tau,
            mk.slope,
            mk.intercept
        )?;
    }
    Ok(out)
}

fn emerging_cmd(values: &Path, weights: &Path, time_window: usize, alpha: f64) -> anyhow::Result<String> {
    if !(alpha > 0.0 && alpha < 1.0) {
        bail!("--alpha {alpha}: must be between 0 and 1");
    }
    let (ids, series) = read_series(values)?;
    let times: Vec<i64> = series[0].iter().map(|x| x.0).collect();
    for (id, s) in ids.iter().zip(&series) {
        if s.iter().map(|x| x.0).ne(times.iter().copied()) {
            bail!("{}: id {id:?} does not have a value at exactly the times of id {:?} ({} slices)", values.display(), ids[0], times.len());
        }
    }
    let index: Ids = ids.iter().enumerate().map(|(i, s)| (s.as_str(), i)).collect();
    let (edges, lines) = read_edges(weights, &index)?;
    let w = Weights::from_edges(ids.len(), &edges).map_err(|e| explain_edges(e, weights, &lines))?;
    let cube: Vec<Vec<f64>> = (0..times.len()).map(|t| series.iter().map(|s| s[t].1).collect()).collect();
    let res = emerging_hot_spots(&cube, &w, time_window, alpha).map_err(|e| anyhow!("{}: {e}", values.display()))?;
    let mut out = String::from("id,category,hot,cold,z_last,trend_z,trend_p\n");
    for (id, r) in ids.iter().zip(&res) {
        let sig =
            |hot: bool| r.z.iter().filter(|&&z| 2.0 * fengqiao_analysis::spatial::normal_sf(z.abs()) < alpha && (z > 0.0) == hot).count();
        writeln!(
            out,
            "{},{},{},{},{},{},{}",
            csv_field(id),
            r.category.name(),
            sig(true),
            sig(false),
            r.z[r.z.len() - 1],
            r.trend.z,
            r.trend.p
        )?;
    }
    Ok(out)
}

/// One location row of a scan: its id, and the line it came from.
struct ScanSite {
    id: String,
    line: u64,
}

fn scan_cmd(locations: &Path, counts: &Path, opts: &ScanOptions, first: Option<i64>, last: Option<i64>) -> anyhow::Result<String> {
    let mut r = reader(locations)?;
    let cols = expect_header(&mut r, locations, &["id", "x", "y"], &["population"])?;
    if cols == 3 && opts.model == ScanModel::Poisson {
        bail!("{} line 1: the Poisson model needs a population column (id,x,y,population)", locations.display());
    }
    let (mut sites, mut locs): (Vec<ScanSite>, Vec<ScanLocation>) = (Vec::new(), Vec::new());
    let mut index: HashMap<String, usize> = HashMap::new();
    for rec in r.records() {
        let rec = rec.with_context(|| format!("reading {}", locations.display()))?;
        let line = rec.position().map(|p| p.line()).unwrap_or(0);
        if rec.len() != cols {
            bail!("{} line {line}: expected {cols} fields, found {}", locations.display(), rec.len());
        }
        if let Some(first) = index.insert(rec[0].to_string(), sites.len()) {
            bail!("{} line {line}: id {:?} already appeared on line {}", locations.display(), &rec[0], sites[first].line);
        }
        let population = if cols == 4 { number(&rec[3], "population", locations, line)? } else { 0.0 };
        if population < 0.0 {
            bail!("{} line {line}: population {population} is negative", locations.display());
        }
        locs.push(ScanLocation { x: number(&rec[1], "x", locations, line)?, y: number(&rec[2], "y", locations, line)?, population });
        sites.push(ScanSite { id: rec[0].to_string(), line });
    }
    if sites.is_empty() {
        bail!("{}: no locations", locations.display());
    }
    // The counts, then the slices they span.
    let mut r = reader(counts)?;
    expect_header(&mut r, counts, &["id", "slice", "count"], &[])?;
    let mut rows: Vec<(usize, i64, u64, u64)> = Vec::new();
    for rec in r.records() {
        let rec = rec.with_context(|| format!("reading {}", counts.display()))?;
        let line = rec.position().map(|p| p.line()).unwrap_or(0);
        if rec.len() != 3 {
            bail!("{} line {line}: expected 3 fields (id,slice,count), found {}", counts.display(), rec.len());
        }
        let z = *index
            .get(&rec[0])
            .ok_or_else(|| anyhow!("{} line {line}: id {:?} is not in {}", counts.display(), &rec[0], locations.display()))?;
        let slice: i64 = rec[1].parse().map_err(|_| anyhow!("{} line {line}: slice {:?} is not an integer", counts.display(), &rec[1]))?;
        let count: u64 =
            rec[2].parse().map_err(|_| anyhow!("{} line {line}: count {:?} is not a whole number ≥ 0", counts.display(), &rec[2]))?;
        rows.push((z, slice, count, line));
    }
    let first = first
        .or_else(|| rows.iter().map(|r| r.1).min())
        .ok_or_else(|| anyhow!("{}: no counts (give --first-slice and --last-slice)", counts.display()))?;
    let last = last.or_else(|| rows.iter().map(|r| r.1).max()).ok_or_else(|| anyhow!("{}: no counts", counts.display()))?;
    if last < first {
        bail!("the last slice {last} is before the first slice {first}");
    }
    let slices = usize::try_from(last - first + 1)
        .ok()
        .filter(|&s| s <= 100_000)
        .ok_or_else(|| anyhow!("slices {first} to {last}: more than 100,000"))?;
    let mut table = vec![vec![0u64; slices]; sites.len()];
    let mut seen: HashMap<(usize, i64), u64> = HashMap::new();
    for &(z, slice, count, line) in &rows {
        if slice < first || slice > last {
            bail!("{} line {line}: slice {slice} is outside the slices {first} to {last}", counts.display());
        }
        if let Some(before) = seen.insert((z, slice), line) {
            bail!("{} line {line}: id {:?} at slice {slice} already appeared on line {before}", counts.display(), sites[z].id);
        }
        table[z][(slice - first) as usize] = count;
    }
    let res = prospective_scan(&locs, &table, opts).map_err(|e| match e {
        ScanError::Location { index, reason } => anyhow!("{} line {}: {reason}", locations.display(), sites[index].line),
        ScanError::Counts { index, reason } => anyhow!("{}: id {:?}: {reason}", counts.display(), sites[index].id),
        ScanError::Option { option, reason } => anyhow!("--{}: {reason}", option.replace('_', "-")),
        ScanError::NoCases => anyhow!("{}: no cases in slices {first} to {last}", counts.display()),
        other => anyhow!("{other}"),
    })?;
    let mut out = String::from("rank,center,locations,start,end,observed,expected,relative_risk,llr,p_value,recurrence\n");
    for (k, c) in res.clusters.iter().enumerate() {
        let members: Vec<&str> = c.locations.iter().map(|&j| sites[j].id.as_str()).collect();
        writeln!(
            out,
            "{},{},{},{},{},{},{},{},{},{},{}",
            k + 1,
            csv_field(&sites[c.center].id),
            csv_field(&members.join(";")),
            first + c.start as i64,
            first + c.end as i64,
            c.observed,
            c.expected,
            c.relative_risk,
            c.llr,
            c.p_value,
            c.recurrence_slices
        )?;
    }
    Ok(out)
}

/// The 95% Wilson score interval of a proportion.
fn wilson(k: usize, n: usize) -> (f64, f64) {
    let (k, n, z) = (k as f64, n as f64, 1.959_963_984_540_054);
    let p = k / n;
    let centre = (p + z * z / (2.0 * n)) / (1.0 + z * z / n);
    let half = z / (1.0 + z * z / n) * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt();
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

fn scan_validate_cmd(
    model: &str,
    scenario: &Scenario,
    relative_risks: &str,
    datasets: usize,
    replicates: usize,
    alpha: f64,
    seed: u64,
) -> anyhow::Result<String> {
    let models = match model {
        "both" => vec![ScanModel::Poisson, ScanModel::SpaceTimePermutation],
        m => vec![ScanModel::parse(m).ok_or_else(|| anyhow!("--model {m:?}: expected poisson, permutation or both"))?],
    };
    let rrs = relative_risks
        .split(',')
        .map(|s| s.trim().parse::<f64>().ok().filter(|v| v.is_finite() && *v > 0.0))
        .collect::<Option<Vec<f64>>>()
        .ok_or_else(|| anyhow!("--relative-risks {relative_risks:?}: expected comma-separated positive numbers"))?;
    if !(alpha > 0.0 && alpha < 1.0) {
        bail!("--alpha {alpha}: must be between 0 and 1");
    }
    if datasets == 0 {
        bail!("--datasets must be at least 1");
    }
    if scenario.locations < 2 || scenario.slices < 2 || scenario.cluster_slices == 0 || scenario.cluster_slices > scenario.slices {
        bail!("--locations and --slices must be at least 2, and --cluster-slices between 1 and --slices");
    }
    if !(scenario.cluster_share > 0.0 && scenario.cluster_share <= 0.5 && scenario.seasonality >= 0.0 && scenario.seasonality < 1.0) {
        bail!("--cluster-share must be in (0, 0.5] and --seasonality in [0, 1)");
    }
    let mut out = String::from("model,relative_risk,datasets,rejected,rate,ci_low,ci_high,located\n");
    for model in models {
        for &rr in &rrs {
            let started = std::time::Instant::now();
            let t = trial(scenario, model, rr, datasets, replicates, alpha, seed).map_err(|e| anyhow!("{e}"))?;
            let secs = started.elapsed().as_secs_f64();
            eprintln!("{} rr {rr}: {datasets} datasets in {secs:.1} s ({:.3} s each)", model.name(), secs / datasets as f64);
            let (lo, hi) = wilson(t.rejected, t.datasets);
            writeln!(
                out,
                "{},{rr},{},{},{:.4},{:.4},{:.4},{}",
                model.name(),
                t.datasets,
                t.rejected,
                t.rejected as f64 / t.datasets as f64,
                lo,
                hi,
                t.located
            )?;
        }
    }
    Ok(out)
}

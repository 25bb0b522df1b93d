//! Text commands over CSV files, without a store: near-duplicate pairs
//! (`analyze duplicates`) and the category classifier's grouped cross-validation
//! (`triage eval`).

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, anyhow, bail};
use clap::Subcommand;
use fengqiao_analysis::text::{ClassifierConfig, LshParams, all_pairs, cross_validate};

#[derive(Subcommand)]
pub enum TextAnalyzeCmd {
    /// Near-duplicate texts. Reads a CSV with the header `id,text` (more columns are
    /// ignored): `id` names the text and must be unique; `text` is the text, Chinese or
    /// English. Writes the CSV `id_a,id_b,similarity` to standard output, one row per pair with
    /// similarity ≥ the threshold, `id_a` the earlier row; `similarity` is the exact Jaccard
    /// similarity of the two texts' sets of character 3-grams after NFKC, lowercasing and
    /// folding punctuation and whitespace. Candidates come from MinHash LSH, so a few pairs
    /// right at the threshold may be missed, but no reported pair is below it.
    Duplicates {
        /// The CSV file, or - for standard input.
        #[arg(long)]
        input: String,
        /// The Jaccard threshold T, in (0, 1].
        #[arg(long, default_value_t = 0.8)]
        threshold: f64,
        /// MinHash permutations (more: better recall, slower).
        #[arg(long, default_value_t = 128)]
        num_perm: usize,
    },
}

#[derive(Subcommand)]
pub enum TriageCmd {
    /// Cross-validate the category classifier. Reads a CSV with the header `text,label`
    /// (more columns are ignored): `text` is a complaint, Chinese or English; `label` its
    /// category code. Texts that are near-duplicates of each other (Jaccard ≥ 0.5) are kept in
    /// one fold. Prints `accuracy`, `macro_f1`, the per-category F1 and the confusion table.
    Eval {
        /// The CSV file, or - for standard input.
        #[arg(long)]
        input: String,
        /// Number of folds K (at least 2).
        #[arg(long, default_value_t = 5)]
        folds: usize,
    },
}

/// Reads the named columns of a CSV; every record must have them. Returns the values and
/// each record's line number.
fn read_columns(input: &str, wanted: &[&str]) -> anyhow::Result<Vec<(u64, Vec<String>)>> {
    let reader: Box<dyn std::io::Read> = if input == "-" {
        Box::new(std::io::stdin())
    } else {
        Box::new(std::fs::File::open(Path::new(input)).with_context(|| format!("opening {input}"))?)
    };
    let mut r = csv::ReaderBuilder::new().flexible(false).from_reader(reader);
    let headers = r.headers().with_context(|| format!("{input}: reading the header"))?.clone();
    let idx: Vec<usize> = wanted
        .iter()
        .map(|w| {
            headers
                .iter()
                .position(|h| h.trim() == *w)
                .ok_or_else(|| anyhow!("{input}: line 1: the header has no column '{w}' (expected {})", wanted.join(",")))
        })
        .collect::<anyhow::Result<_>>()?;
    let mut rows = Vec::new();
    for rec in r.records() {
        let rec = rec.map_err(|e| match e.position() {
            Some(p) => anyhow!("{input}: line {}: {e}", p.line()),
            None => anyhow!("{input}: {e}"),
        })?;
        let line = rec.position().map_or(0, |p| p.line());
        rows.push((line, idx.iter().map(|&i| rec.get(i).unwrap_or("").to_string()).collect()));
    }
    Ok(rows)
}

pub fn analyze(cmd: TextAnalyzeCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        TextAnalyzeCmd::Duplicates { input, threshold, num_perm } => {
            let params = LshParams::for_threshold(threshold, num_perm).map_err(|e| anyhow!("{e}"))?;
            let rows = read_columns(&input, &["id", "text"])?;
            let mut seen = std::collections::HashMap::new();
            for (line, v) in &rows {
                if v[0].trim().is_empty() {
                    bail!("{input}: line {line}: the id is empty");
                }
                if let Some(first) = seen.insert(v[0].as_str(), *line) {
                    bail!("{input}: line {line}: the id '{}' was already used on line {first}", v[0]);
                }
            }
            let texts: Vec<&str> = rows.iter().map(|(_, v)| v[1].as_str()).collect();
            let pairs = all_pairs(&texts, &params, 1).map_err(|e| anyhow!("{e}"))?;
            let mut out = csv::Writer::from_writer(std::io::BufWriter::new(std::io::stdout()));
            out.write_record(["id_a", "id_b", "similarity"])?;
            for p in &pairs {
                out.write_record([rows[p.a].1[0].as_str(), rows[p.b].1[0].as_str(), &p.similarity.to_string()])?;
            }
            out.flush()?;
            eprintln!(
                "{} pairs with Jaccard ≥ {threshold} among {} texts ({} bands of {} rows)",
                pairs.len(),
                rows.len(),
                params.bands,
                params.rows
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

pub fn triage(cmd: TriageCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        TriageCmd::Eval { input, folds } => {
            if folds < 2 {
                bail!("--folds must be at least 2");
            }
            let rows = read_columns(&input, &["text", "label"])?;
            for (line, v) in &rows {
                if v[0].trim().is_empty() {
                    bail!("{input}: line {line}: the text is empty");
                }
                if v[1].trim().is_empty() {
                    bail!("{input}: line {line}: the label is empty");
                }
            }
            let texts: Vec<&str> = rows.iter().map(|(_, v)| v[0].as_str()).collect();
            let labels: Vec<&str> = rows.iter().map(|(_, v)| v[1].trim()).collect();
            let e = cross_validate(&texts, &labels, folds, &ClassifierConfig::default()).map_err(|e| anyhow!("{input}: {e}"))?;
            let mut out = std::io::BufWriter::new(std::io::stdout());
            writeln!(out, "accuracy {:.4}", e.accuracy)?;
            writeln!(out, "macro_f1 {:.4}", e.macro_f1)?;
            writeln!(out, "texts {}, near-duplicate groups {}, folds {folds}", texts.len(), e.groups)?;
            writeln!(out, "\nper category: f1 (support)")?;
            let w = e.labels.iter().map(|l| l.chars().count()).max().unwrap_or(5).max(5);
            for (i, l) in e.labels.iter().enumerate() {
                let support: u32 = e.confusion[i].iter().sum();
                writeln!(out, "  {l:<w$}  {:.4} ({support})", e.f1[i])?;
            }
            writeln!(out, "\nconfusion (rows: true label, columns: predicted, numbered as the rows)")?;
            let cw = e.confusion.iter().flatten().max().map_or(1, |m| m.to_string().len()).max(e.labels.len().to_string().len()) + 1;
            write!(out, "{:<w$}    ", "")?;
            for j in 0..e.labels.len() {
                write!(out, "{:>cw$}", j + 1)?;
            }
            writeln!(out)?;
            for (i, l) in e.labels.iter().enumerate() {
                write!(out, "{:>2} {l:<w$} ", i + 1)?;
                for c in &e.confusion[i] {
                    write!(out, "{c:>cw$}")?;
                }
                writeln!(out)?;
            }
            out.flush()?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

//! The `fengqiao` command line. Data goes to stdout; progress and logs go to stderr.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, anyhow};
use clap::{Parser, Subcommand};
use fengqiao::{Config, demo, regions_cli};

mod text_cli;

mod analyze;

#[derive(Parser)]
#[command(name = "fengqiao", version, about = "One intake, routing, joint handling and follow-up for residents' requests and disputes.")]
struct Cli {
    /// Configuration file (default: DATA/fengqiao.toml when present).
    #[arg(long, global = true, env = "FENGQIAO_CONFIG")]
    config: Option<PathBuf>,
    /// Data folder: the SQLite database, the audit key and checkpoints.
    #[arg(long, global = true, env = "FENGQIAO_DATA")]
    data: Option<PathBuf>,
    /// Database URL: sqlite://PATH or postgres://USER@HOST/DB (default: SQLite in the data folder).
    #[arg(long, global = true, env = "FENGQIAO_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Serve the API.
    Serve {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: String,
    },
    /// Set up a new deployment: the county, the built-in categories and an administrator.
    /// Prints the administrator's API token as the last word of its output.
    Init {
        /// The county's 12-digit statistical division code (e.g. 330681000000).
        #[arg(long)]
        county_code: String,
        #[arg(long)]
        county_name: String,
    },
    /// Generate a realistic synthetic county (if the store is empty) and serve it.
    Demo {
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: String,
        /// Data size: 1.0 is about 30,000 cases over the past year.
        #[arg(long, default_value_t = 1.0)]
        scale: f64,
        #[arg(long, default_value_t = 20240622)]
        seed: u64,
        /// Generate only; do not serve.
        #[arg(long)]
        no_serve: bool,
    },
    /// Create cases from a CSV (header: category, description, region, lat, lon, address,
    /// urgency, severity, channel, title, answers, reporter_name, reporter_phone) or JSON Lines file
    /// of drafts. Every row is checked first; one bad row and nothing is imported.
    Import {
        #[arg(long, default_value = "csv")]
        format: String,
        /// Input file, or - for standard input.
        file: String,
    },
    /// Write every case (without personal data) as CSV or JSON Lines to standard output.
    Export {
        #[arg(long, default_value = "csv")]
        format: String,
        /// Only cases in this region's subtree.
        #[arg(long)]
        region: Option<String>,
    },
    /// Regions and their boundaries: GeoJSON import and export, point and address lookup.
    Regions {
        #[command(subcommand)]
        command: regions_cli::RegionsCmd,
    },
    /// The routing rules: show, load a new version, test where a case would go.
    Routing {
        #[command(subcommand)]
        command: regions_cli::RoutingCmd,
    },
    /// The tamper-evident log.
    Audit {
        #[command(subcommand)]
        command: AuditCmd,
    },
    /// Write an online, consistent backup (JSON Lines) to FILE, or - for standard output.
    Backup { file: String },
    /// Load a backup into an empty store.
    Restore { file: String },
    /// The business calendar: show a year, load holiday schedules, run the deadline sweep.
    Calendar {
        #[command(subcommand)]
        command: fengqiao::calendar_cli::CalendarCmd,
    },
    /// Add or update a staff account and print its new API token (last word of the output).
    User {
        #[arg(long)]
        id: String,
        #[arg(long)]
        name: String,
        /// intake, handler, mediator, supervisor or admin.
        #[arg(long)]
        role: String,
        #[arg(long)]
        unit: Option<String>,
        /// The region code whose subtree the user works in.
        #[arg(long)]
        jurisdiction: String,
        /// Also set a password for signing in to the pages, read from the first line of
        /// standard input (at least 10 characters).
        #[arg(long)]
        password_stdin: bool,
    },
    /// Analyses over files, CSV to standard output; opens no store: hotspot statistics
    /// (gi-star, local-moran, weights, eb-rate, trend, emerging), the space–time scan
    /// (scan, scan-validate) and near-duplicate texts
    /// (duplicates).
    Analyze {
        #[command(subcommand)]
        command: AnalyzeCmd,
    },
    /// Run the analytics over the store once (what `serve` does nightly and as cases arrive):
    /// hot spots, emerging patterns, bursting topics, rising severity, and their alerts.
    Analytics {
        /// The time to run at (RFC 3339); default now.
        #[arg(long)]
        at: Option<String>,
    },
    /// The category classifier: evaluate it on labelled texts.
    Triage {
        #[command(subcommand)]
        command: text_cli::TriageCmd,
    },
    /// API keys of client applications (Open311): create, revoke, list.
    ApiKey {
        #[command(subcommand)]
        command: fengqiao::api_keys::ApiKeyCmd,
    },
}

/// `fengqiao analyze`: the spatial statistics and the text analyses share one command.
#[derive(Subcommand)]
enum AnalyzeCmd {
    #[command(flatten)]
    Spatial(analyze::AnalyzeCmd),
    #[command(flatten)]
    Text(text_cli::TextAnalyzeCmd),
}

#[derive(Subcommand)]
enum AuditCmd {
    /// Check the whole chain and every signed checkpoint; exit 1 and name the first bad event.
    Verify,
    /// Sign the current head of the chain now.
    Checkpoint,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("FENGQIAO_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,fengqiao=info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    // Commands that work on files alone open no store (and create no data folder).
    let command = match cli.command {
        Cmd::Analyze { command: AnalyzeCmd::Spatial(command) } => {
            analyze::run(&command)?;
            return Ok(ExitCode::SUCCESS);
        }
        Cmd::Analyze { command: AnalyzeCmd::Text(command) } => return text_cli::analyze(command),
        Cmd::Triage { command } => return text_cli::triage(command),
        Cmd::Regions { command } if command.offline() => {
            let mut stdout = std::io::BufWriter::new(std::io::stdout());
            regions_cli::run(None, command, &mut stdout).await?;
            stdout.flush()?;
            return Ok(ExitCode::SUCCESS);
        }
        c => c,
    };
    let mut cfg = Config::load(cli.config.as_deref(), cli.data.as_deref())?;
    if let Some(url) = cli.database_url {
        cfg.database_url = url;
    }
    let mut stdout = std::io::BufWriter::new(std::io::stdout());
    let svc = fengqiao::open(&cfg).await?;
    match command {
        Cmd::Serve { listen } => fengqiao::serve(svc, &cfg, &listen).await?,
        Cmd::Init { county_code, county_name } => {
            let token = fengqiao::init(&svc, &county_code, &county_name).await?;
            writeln!(stdout, "initialised {} ({county_name}) in {}", county_code, cfg.data.display())?;
            writeln!(stdout, "administrator API token: {token}")?;
        }
        Cmd::Demo { listen, scale, seed, no_serve } => {
            if !(0.0001..=100.0).contains(&scale) {
                return Err(anyhow!("--scale must be between 0.0001 and 100"));
            }
            if svc.store.is_empty().await.map_err(|e| anyhow!("{e}"))? {
                let started = std::time::Instant::now();
                let now = svc.now();
                let n = fengqiao::load_demo(&svc, &demo::DemoOptions { seed, scale, now }, false).await?;
                eprintln!("generated a county with {n} cases in {:.1} s", started.elapsed().as_secs_f64());
            } else {
                eprintln!("using the data already in {}", cfg.data.display());
            }
            eprintln!("demo logins (API tokens; send as Authorization: Bearer TOKEN):");
            for (who, what) in [
                ("admin", "administrator"),
                ("county-supervisor", "county supervisor"),
                ("town03-intake", "town intake desk"),
                ("town03-police", "police station handler"),
            ] {
                eprintln!("  {what:<24} demo-{who}");
            }
            if !no_serve {
                // The demo texts residents into a file under its data folder.
                if cfg.sms.provider == "none" {
                    cfg.sms.provider = "file".into();
                    eprintln!("text messages (and sign-in codes) are written to {}", cfg.sms_file().display());
                }
                fengqiao::serve(svc, &cfg, &listen).await?;
            }
        }
        Cmd::Import { format, file } => {
            let input: Box<dyn std::io::Read> = if file == "-" {
                Box::new(std::io::stdin())
            } else {
                Box::new(std::fs::File::open(&file).with_context(|| format!("opening {file}"))?)
            };
            let n = fengqiao::import(&svc, &format, input, &mut std::io::stderr()).await?;
            writeln!(stdout, "imported {n} cases")?;
        }
        Cmd::Export { format, region } => {
            let filter = fengqiao_store::CaseFilter { region, ..Default::default() };
            let n = fengqiao::export(&svc, &format, &filter, &mut stdout).await?;
            eprintln!("exported {n} cases");
        }
        Cmd::Regions { command } => regions_cli::run(Some(&svc), command, &mut stdout).await?,
        Cmd::Routing { command } => regions_cli::routing(&svc, command, &mut stdout).await?,
        Cmd::Audit { command: AuditCmd::Verify } => {
            if !fengqiao::audit_verify(&svc, &mut stdout).await? {
                stdout.flush()?;
                return Ok(ExitCode::from(1));
            }
        }
        Cmd::Audit { command: AuditCmd::Checkpoint } => match svc.checkpoint().await.map_err(|e| anyhow!("{e}"))? {
            Some(cp) => writeln!(stdout, "signed the chain head at seq {}: {}", cp.seq, cp.hash)?,
            None => writeln!(stdout, "the log is empty; nothing to sign")?,
        },
        Cmd::Calendar { command } => fengqiao::calendar_cli::run(&svc, command, &mut stdout).await?,
        Cmd::Analytics { at } => {
            let at = match at {
                None => svc.now(),
                Some(s) => fengqiao_domain::Timestamp::parse_rfc3339(&s)
                    .ok_or_else(|| anyhow::anyhow!("--at: expected an RFC 3339 time such as 2026-03-02T09:00:00+08:00"))?,
            };
            let started = std::time::Instant::now();
            let (run, raised) = svc.run_perception(at).await.map_err(|e| anyhow::anyhow!("{e}"))?;
            let ms = started.elapsed().as_secs_f64() * 1000.0;
            writeln!(
                stdout,
                "analytics at {}: {} cases in {} weeks, {} villages ({} hot spots, {} emerging), {} bursting topics, {} towns of rising severity; {} alerts raised, in {ms:.1} ms",
                at.to_rfc3339_in(svc.calendar().time_zone()),
                run.cases,
                run.weeks,
                run.villages.len(),
                run.villages.iter().filter(|v| v.class > 0).count(),
                run.villages.iter().filter(|v| fengqiao_domain::perception::ALERTING_PATTERNS.contains(&v.pattern.as_str())).count(),
                run.topics.len(),
                run.severity.len(),
                raised.len()
            )?;
            for n in &run.notes {
                writeln!(stdout, "note: {n}")?;
            }
        }
        Cmd::Backup { file } => {
            let n = if file == "-" {
                fengqiao::backup(&svc, &mut stdout).await?
            } else {
                // Write beside the target and rename, so a failed backup never leaves a
                // truncated file under the real name.
                let tmp = format!("{file}.partial");
                let mut w = std::io::BufWriter::new(std::fs::File::create(&tmp).with_context(|| format!("creating {tmp}"))?);
                let n = fengqiao::backup(&svc, &mut w).await?;
                w.into_inner().map_err(|e| anyhow!("{e}"))?.sync_all()?;
                std::fs::rename(&tmp, &file)?;
                n
            };
            eprintln!("backed up {n} records");
        }
        Cmd::Restore { file } => {
            let n = fengqiao::restore(&svc, std::path::Path::new(&file)).await?;
            writeln!(stdout, "restored {n} records")?;
        }
        Cmd::User { id, name, role, unit, jurisdiction, password_stdin } => {
            let role = fengqiao_domain::Role::parse(&role)
                .ok_or_else(|| anyhow!("--role must be intake, handler, mediator, supervisor or admin"))?;
            let jurisdiction = fengqiao_domain::RegionCode::parse(&jurisdiction).map_err(|e| anyhow!("--jurisdiction: {}", e.message))?;
            let r = svc.reference();
            if !r.regions.contains_key(jurisdiction.as_str()) {
                return Err(anyhow!("--jurisdiction: no region {jurisdiction}"));
            }
            if let Some(u) = &unit
                && !r.units.contains_key(u)
            {
                return Err(anyhow!("--unit: no unit '{u}'"));
            }
            if role.handles() && unit.is_none() {
                return Err(anyhow!("a {} needs --unit", role.as_str()));
            }
            let token = fengqiao::new_token();
            let mut creds = demo::Demo::credentials(&token);
            if password_stdin {
                let mut line = String::new();
                std::io::stdin().read_line(&mut line)?;
                let pw = line.trim_end_matches(['\r', '\n']);
                if pw.chars().count() < 10 {
                    return Err(anyhow!("the password must have at least 10 characters"));
                }
                creds.password_hash = Some(fengqiao_web::hash_password(pw).map_err(|e| anyhow!("{e}"))?);
            }
            let user = fengqiao_domain::User { id: id.clone(), name, role, unit: unit.map(fengqiao_domain::UnitId), jurisdiction };
            svc.store.put_user(&user, &creds, "system:cli", svc.now()).await.map_err(|e| anyhow!("{e}"))?;
            writeln!(stdout, "user {id} saved; API token: {token}")?;
        }
        Cmd::Analyze { .. } | Cmd::Triage { .. } => unreachable!("dispatched above"),
        Cmd::ApiKey { command } => fengqiao::api_keys::run(&svc, command, &mut stdout).await?,
    }
    stdout.flush()?;
    Ok(ExitCode::SUCCESS)
}

//! The `fengqiao` program: configuration, the commands behind the CLI, and the demo county.
//! `main.rs` only parses arguments; everything a test or the benchmarks need is here.

pub mod api_keys;
pub mod calendar_cli;
pub mod config;
pub mod demo;
pub mod demo_consult;
pub mod demo_mediation;
pub mod regions_cli;

use std::io::{BufRead, Write};
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, anyhow, bail};
use fengqiao_domain::audit::VerifyOutcome;
use fengqiao_domain::case::CaseDraft;
use fengqiao_domain::category::builtin_categories;
use fengqiao_domain::{Actor, Channel, Region, RegionCode, SystemClock, Timestamp};
use fengqiao_store::{BackupRecord, CaseFilter, Page, Scope, Service, Store};
use futures_util::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use rand::RngCore;

pub use config::Config;

/// Opens the store and the audit key; creates the data folder and key when new.
pub async fn open(cfg: &Config) -> anyhow::Result<Arc<Service>> {
    std::fs::create_dir_all(&cfg.data).with_context(|| format!("creating the data folder {}", cfg.data.display()))?;
    let url = cfg.database_url();
    let store = fengqiao_store_sql::open(&url).await.map_err(|e| anyhow!("opening {}: {e}", config::redact_url(&url)))?;
    let key = audit_key(cfg, &store).await?;
    let svc = Service::new(store, Arc::new(SystemClock), cfg.service_config(Some(key))).await.map_err(|e| anyhow!("{e}"))?;
    Ok(Arc::new(svc))
}

/// Reads the checkpoint key, creating one for a store that has never been checkpointed.
async fn audit_key(cfg: &Config, store: &Arc<dyn Store>) -> anyhow::Result<Vec<u8>> {
    let path = cfg.audit_key_path();
    if path.exists() {
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        return hex::decode(text.trim()).with_context(|| format!("{} is not a hex key", path.display()));
    }
    if !store.checkpoints().await.map_err(|e| anyhow!("{e}"))?.is_empty() {
        bail!(
            "the audit key {} is missing but the log has signed checkpoints: restore the key file (without it the log cannot be verified)",
            path.display()
        );
    }
    let mut key = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut key);
    write_private(&path, &hex::encode(key))?;
    Ok(key.to_vec())
}

fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).with_context(|| format!("creating {}", path.display()))?;
    writeln!(f, "{text}")?;
    f.sync_all()?;
    Ok(())
}

fn err(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow!("{e}")
}

fn progress(len: u64, what: &str) -> ProgressBar {
    let pb = ProgressBar::with_draw_target(Some(len), indicatif::ProgressDrawTarget::stderr());
    pb.set_style(
        ProgressStyle::with_template("{msg:>10} [{bar:30}] {pos}/{len} ({per_sec}, {eta})").expect("valid template").progress_chars("=> "),
    );
    pb.set_message(what.to_string());
    pb
}

/// `fengqiao init`: a new deployment with the built-in categories, the county and an admin.
/// Returns the admin's API token.
pub async fn init(svc: &Service, county_code: &str, county_name: &str) -> anyhow::Result<String> {
    let store = &svc.store;
    if !store.regions().await.map_err(err)?.is_empty() {
        bail!("this store is already initialised");
    }
    let code = RegionCode::parse(county_code).map_err(|e| anyhow!("--county-code: {}", e.message))?;
    if code.level() != fengqiao_domain::RegionLevel::County {
        bail!("--county-code must be a county code (12 digits ending in 000000)");
    }
    let now = svc.now();
    let sys = "system:init";
    store.put_region(&Region::new(code.clone(), county_name, 0), sys, now).await.map_err(err)?;
    for c in builtin_categories() {
        store.put_category(&c, sys, now).await.map_err(err)?;
    }
    let token = new_token();
    let admin = fengqiao_domain::User {
        id: "admin".into(),
        name: "Administrator".into(),
        role: fengqiao_domain::Role::Admin,
        unit: None,
        jurisdiction: code,
    };
    store.put_user(&admin, &demo::Demo::credentials(&token), sys, now).await.map_err(err)?;
    store.save_rules(&fengqiao_domain::routing::default_rules(), sys, now).await.map_err(err)?;
    svc.reload().await.map_err(err)?;
    Ok(token)
}

pub fn new_token() -> String {
    let mut b = [0u8; 24];
    rand::thread_rng().fill_bytes(&mut b);
    format!("fq_{}", hex::encode(b))
}

/// Loads a generated county into an empty store. Returns the number of cases.
pub async fn load_demo(svc: &Service, opts: &demo::DemoOptions, quiet: bool) -> anyhow::Result<usize> {
    let store = &svc.store;
    if !store.is_empty().await.map_err(err)? {
        bail!("the store already holds data; use a new --data folder for the demo");
    }
    let d = demo::generate(opts);
    let n_cases = d.cases.len();
    let problems = demo::problems(&d, opts.now);
    let sys = "system:demo";
    let at = opts.now.plus_ms(-366 * fengqiao_domain::clock::DAY_MS);
    store.put_regions(&d.regions, sys, at).await.map_err(err)?;
    for u in &d.units {
        store.put_unit(u, sys, at).await.map_err(err)?;
    }
    for c in &d.categories {
        store.put_category(c, sys, at).await.map_err(err)?;
    }
    for (u, token) in &d.users {
        store.put_user(u, &demo::Demo::credentials(token), sys, at).await.map_err(err)?;
    }
    store.save_rules(&demo::rules(), sys, at).await.map_err(err)?;
    // Each police station's officer is on duty for the coming fortnight, in day-long shifts,
    // so a risk alert in the demo reaches a person as well as the station.
    let day = fengqiao_domain::clock::DAY_MS;
    let from = fengqiao_domain::Timestamp(opts.now.0 - opts.now.0.rem_euclid(day));
    let to = from.plus_ms(14 * day);
    for u in d.units.iter().filter(|u| u.kind == fengqiao_domain::UnitKind::PoliceStation) {
        let officers: Vec<&str> = d.users.iter().filter(|(x, _)| x.unit.as_ref() == Some(&u.id)).map(|(x, _)| x.id.as_str()).collect();
        let shifts: Vec<fengqiao_domain::duty::DutyShift> = (0..14)
            .filter_map(|i| {
                let who = officers.get(i as usize % officers.len().max(1))?;
                Some(fengqiao_domain::duty::DutyShift {
                    unit: u.id.clone(),
                    user: who.to_string(),
                    starts_at: from.plus_ms(i * day),
                    ends_at: from.plus_ms((i + 1) * day),
                })
            })
            .collect();
        store.put_rota(&u.id, from, to, &shifts, sys, at).await.map_err(err)?;
    }
    let head = store.audit_head().await.map_err(err)?;
    let total = (d.persons.len() + d.cases.len() + d.events.len()) as u64;
    let pb = if quiet { ProgressBar::hidden() } else { progress(total, "demo") };
    let mut chunk = Vec::with_capacity(5000);
    let mut chunks = Vec::new();
    d.records(head, |r| {
        chunk.push(r);
        if chunk.len() == 5000 {
            chunks.push(std::mem::take(&mut chunk));
        }
        Ok(())
    })?;
    chunks.push(chunk);
    for c in chunks {
        let n = c.len() as u64;
        store.import_snapshot(c).await.map_err(err)?;
        pb.inc(n);
    }
    pb.finish_and_clear();
    store.analyze().await.map_err(err)?;
    for p in &problems {
        store.save_problem(p, None, "problem_opened", "user:county-supervisor", opts.now).await.map_err(err)?;
    }
    svc.reload().await.map_err(err)?;
    demo_mediation::mediations(svc).await?;
    demo_consult::consultations(svc).await?;
    // The analytics over the year, so the dashboard shows hot spots and the planted cluster's
    // alerts are waiting when the server starts.
    svc.run_perception(opts.now).await.map_err(err)?;
    svc.checkpoint().await.map_err(err)?;
    Ok(n_cases)
}

/// Serves until Ctrl-C or SIGTERM, checkpointing the audit chain once a minute.
pub async fn serve(svc: Arc<Service>, cfg: &Config, listen: &str) -> anyhow::Result<()> {
    if svc.reference().county.is_none() {
        bail!("this store has no county yet: run `fengqiao init` (or `fengqiao demo`) first");
    }
    let mut state = fengqiao_web::AppState::new(svc.clone(), cfg.time_zone()?);
    state.secure_cookies = cfg.secure_cookies;
    state.map_tiles = cfg.map_tiles()?.map(Arc::new);
    // Text messages: codes are sent at once, the outbox in the background.
    let sms = cfg.sms_provider()?;
    state.sms = sms.clone();
    let sms_sender = (!matches!(cfg.sms.provider.as_str(), "none" | ""))
        .then(|| fengqiao_store::SmsSender::new(svc.clone(), sms, cfg.sms.clone()).spawn());
    let app = fengqiao_web::router(state);
    let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("listening on {listen}"))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, backend = svc.store.backend(), "serving");
    eprintln!("fengqiao is listening on http://{addr}");
    for w in svc.calendar().warnings_at(svc.now()) {
        tracing::warn!("{w}");
    }
    let scheduler = svc.config.scheduler.enabled.then(|| fengqiao_store::Scheduler::new(svc.clone()).spawn());
    let ticker = {
        let svc = svc.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(std::time::Duration::from_secs(60));
            loop {
                every.tick().await;
                if let Err(e) = svc.checkpoint().await {
                    tracing::warn!(error = %e, "audit checkpoint failed");
                }
            }
        })
    };
    // The figures' facts load on first use (seconds at a million cases): load them now, in the
    // background, so the first supervisor to open the dashboard does not wait for it.
    {
        let svc = svc.clone();
        tokio::spawn(async move {
            if let Err(e) = svc.warm_figures().await {
                tracing::warn!(error = %e, "loading the figures' facts failed");
            }
        });
    }
    // Triage's index of recent cases and its models: built now (in the background, so the
    // server answers at once) and rebuilt hourly, so the models follow the staff's corrections
    // and judgements. `/readyz` waits for the first build; a failed one is retried soon.
    let triage = {
        let svc = svc.clone();
        tokio::spawn(async move {
            loop {
                let wait = match svc.refresh_triage().await {
                    Ok(()) => 3600,
                    Err(e) => {
                        tracing::warn!(error = %e, "refreshing triage failed");
                        if svc.triage_ready() { 3600 } else { 30 }
                    }
                };
                tokio::time::sleep(std::time::Duration::from_secs(wait)).await;
            }
        })
    };
    axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>()).with_graceful_shutdown(shutdown()).await?;
    ticker.abort();
    triage.abort();
    if let Some(s) = scheduler {
        s.abort();
    }
    if let Some(s) = sms_sender {
        s.abort();
    }
    svc.checkpoint().await.map_err(err)?;
    Ok(())
}

async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

/// `fengqiao audit verify`: prints the outcome; `Ok(false)` when the log is broken.
pub async fn audit_verify(svc: &Service, out: &mut impl Write) -> anyhow::Result<bool> {
    let key = svc.config.audit_key.clone().ok_or_else(|| anyhow!("no audit key"))?;
    let (head, _) = svc.store.audit_head().await.map_err(err)?;
    let pb = progress(head.max(0) as u64, "verify");
    let outcome = svc.verify_audit(&key, |seq| pb.set_position(seq as u64)).await.map_err(err)?;
    pb.finish_and_clear();
    match outcome {
        VerifyOutcome::Ok { events, checkpoints, head_seq } => {
            writeln!(out, "ok: {events} events, chain head at seq {head_seq}, {checkpoints} signed checkpoints verified")?;
            Ok(true)
        }
        VerifyOutcome::Broken { seq, problem } => {
            writeln!(out, "BROKEN at seq {seq}: {problem}")?;
            Ok(false)
        }
    }
}

/// `fengqiao backup`: a consistent snapshot as JSON Lines, taken while the server runs.
pub async fn backup(svc: &Service, out: &mut (impl Write + Send)) -> anyhow::Result<u64> {
    let pb = progress(0, "backup");
    let mut io_err = None;
    let n = svc
        .store
        .export_snapshot(&mut |r| {
            if io_err.is_some() {
                return Ok(());
            }
            match serde_json::to_writer(&mut *out, &r).map_err(anyhow::Error::from).and_then(|_| out.write_all(b"\n").map_err(Into::into)) {
                Ok(()) => pb.inc(1),
                Err(e) => io_err = Some(e),
            }
            Ok(())
        })
        .await
        .map_err(err)?;
    pb.finish_and_clear();
    if let Some(e) = io_err {
        return Err(e);
    }
    out.flush()?;
    Ok(n)
}

/// `fengqiao restore`: loads a backup into an empty store. A first pass checks the header
/// and that this deployment's audit key signed the backup's checkpoints, so a restore that
/// could never verify is refused before anything is written.
pub async fn restore(svc: &Service, path: &Path) -> anyhow::Result<u64> {
    if !svc.store.is_empty().await.map_err(err)? {
        bail!("restore needs an empty store; point --data or --database-url at a new one");
    }
    let open = || -> anyhow::Result<std::io::BufReader<std::fs::File>> {
        Ok(std::io::BufReader::new(std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?))
    };
    let key = svc.config.audit_key.clone().unwrap_or_default();
    for (i, line) in open()?.lines().enumerate() {
        let line = line?;
        if !line.contains("\"record\":\"checkpoint\"") {
            continue;
        }
        let rec: BackupRecord = serde_json::from_str(&line).with_context(|| format!("backup line {}", i + 1))?;
        if let BackupRecord::Checkpoint(c) = rec
            && !c.is_valid(&key)
        {
            bail!(
                "the backup's checkpoints were signed with a different audit key: copy the source deployment's audit.key to {} before restoring",
                "the data folder (or the file named by audit_key_file)"
            );
        }
    }
    let input = open()?;
    let pb = progress(0, "restore");
    let mut chunk = Vec::with_capacity(5000);
    let mut total = 0u64;
    let mut header = false;
    for (i, line) in input.lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let rec: BackupRecord = serde_json::from_str(&line).with_context(|| format!("backup line {}", i + 1))?;
        if i == 0 {
            match &rec {
                BackupRecord::Header { format, .. } if *format == fengqiao_store::BACKUP_FORMAT => header = true,
                BackupRecord::Header { format, .. } => {
                    bail!("backup format {format} is not supported (expected {})", fengqiao_store::BACKUP_FORMAT)
                }
                _ => bail!("not a fengqiao backup: the first line is not a header"),
            }
        }
        chunk.push(rec);
        if chunk.len() == 5000 {
            total += svc.store.import_snapshot(std::mem::take(&mut chunk)).await.map_err(err)?;
            pb.set_position(total);
        }
    }
    if !header {
        bail!("the backup is empty");
    }
    total += svc.store.import_snapshot(chunk).await.map_err(err)?;
    pb.finish_and_clear();
    svc.store.analyze().await.map_err(err)?;
    svc.reload().await.map_err(err)?;
    Ok(total)
}

/// Export columns. `answers` holds the category's extra questions as a JSON object.
pub const CSV_COLUMNS: [&str; 21] = [
    "id",
    "tracking_code",
    "created_at",
    "status",
    "category",
    "channel",
    "urgency",
    "severity",
    "tier",
    "region",
    "lat",
    "lon",
    "address",
    "lead_unit",
    "title",
    "description",
    "answers",
    "dispatched_at",
    "resolved_at",
    "closed_at",
    "final_rating",
];

/// `fengqiao export`: every case (no personal data) as CSV or JSON Lines on `out`.
pub async fn export(svc: &Service, format: &str, filter: &CaseFilter, out: &mut impl Write) -> anyhow::Result<u64> {
    if format != "csv" && format != "jsonl" {
        bail!("--format must be csv or jsonl");
    }
    let mut csv = (format == "csv").then(|| csv::Writer::from_writer(Vec::new()));
    if let Some(w) = csv.as_mut() {
        w.write_record(CSV_COLUMNS)?;
    }
    let pb = progress(0, "export");
    let mut after = None;
    let mut n = 0;
    loop {
        let page = svc.store.list_cases(&Scope::All, filter, &Page { after, limit: 2000, descending: false }).await.map_err(err)?;
        let Some(last) = page.last() else { break };
        after = Some(last.id.0);
        for c in &page {
            if let Some(w) = csv.as_mut() {
                let t = |o: Option<Timestamp>| o.map(|t| t.to_rfc3339()).unwrap_or_default();
                let p = c.location.point;
                w.write_record([
                    c.id.0.to_string(),
                    c.tracking_code.as_str().to_string(),
                    c.created_at.to_rfc3339(),
                    c.status.to_string(),
                    c.category.clone(),
                    c.channel.to_string(),
                    c.urgency.to_string(),
                    c.severity.to_string(),
                    c.tier.to_string(),
                    c.region.to_string(),
                    p.map(|p| p.lat.to_string()).unwrap_or_default(),
                    p.map(|p| p.lon.to_string()).unwrap_or_default(),
                    c.location.address.clone().unwrap_or_default(),
                    c.lead_unit.as_ref().map(|u| u.0.clone()).unwrap_or_default(),
                    c.title.clone(),
                    c.description.clone(),
                    if c.answers.is_empty() { String::new() } else { serde_json::to_string(&c.answers)? },
                    t(c.dispatched_at),
                    t(c.resolved_at),
                    t(c.closed_at),
                    c.final_rating.map(|r| r.to_string()).unwrap_or_default(),
                ])?;
                w.flush()?;
                out.write_all(&std::mem::replace(w, csv::Writer::from_writer(Vec::new())).into_inner().map_err(|e| anyhow!("{e}"))?)?;
            } else {
                serde_json::to_writer(&mut *out, c)?;
                out.write_all(b"\n")?;
            }
            n += 1;
        }
        pb.set_position(n);
    }
    if let Some(w) = csv {
        out.write_all(&w.into_inner().map_err(|e| anyhow!("{e}"))?)?;
    }
    pb.finish_and_clear();
    out.flush()?;
    Ok(n)
}

/// One row to import: a case draft, from a CSV row (columns by header name) or a JSON line
/// (a draft, or a case as `export --format jsonl` writes it).
fn draft_from_json(v: serde_json::Value) -> anyhow::Result<CaseDraft> {
    if v.get("tracking_code").is_some() {
        let c: fengqiao_domain::Case = serde_json::from_value(v)?;
        return Ok(CaseDraft {
            category: c.category,
            channel: Some(c.channel.to_string()),
            title: Some(c.title),
            description: c.description,
            urgency: Some(c.urgency.to_string()),
            severity: Some(c.severity.to_string()),
            region: Some(c.region.to_string()),
            lat: c.location.point.map(|p| p.lat),
            lon: c.location.point.map(|p| p.lon),
            address: c.location.address,
            answers: c.answers,
            anonymous: true,
            ..Default::default()
        });
    }
    Ok(serde_json::from_value(v)?)
}

/// `fengqiao import`: validates every row first and writes nothing if any is bad; then
/// creates the cases (committed in groups). Returns the number created.
pub async fn import(svc: &Service, format: &str, input: impl std::io::Read, err_out: &mut impl Write) -> anyhow::Result<usize> {
    let mut drafts: Vec<(usize, CaseDraft)> = Vec::new();
    match format {
        "csv" => {
            let mut r = csv::Reader::from_reader(input);
            let headers = r.headers()?.clone();
            let col = |name: &str| headers.iter().position(|h| h == name);
            if col("category").is_none() || col("description").is_none() {
                bail!("the CSV needs at least the columns category and description");
            }
            for (i, rec) in r.records().enumerate() {
                let rec = rec.with_context(|| format!("CSV row {}", i + 2))?;
                let get = |name: &str| col(name).and_then(|c| rec.get(c)).map(str::trim).filter(|s| !s.is_empty()).map(String::from);
                let num = |name: &str| -> anyhow::Result<Option<f64>> {
                    get(name).map(|s| s.parse::<f64>().with_context(|| format!("row {}: {name} is not a number", i + 2))).transpose()
                };
                let answers = match get("answers") {
                    None => Default::default(),
                    Some(a) => serde_json::from_str(&a).with_context(|| format!("row {}: answers must be a JSON object", i + 2))?,
                };
                let reporter = match (get("reporter_name"), get("reporter_phone")) {
                    (None, None) => None,
                    (name, phone) => Some(fengqiao_domain::PersonInput { name, phone, ..Default::default() }),
                };
                drafts.push((
                    i + 2,
                    CaseDraft {
                        category: get("category").unwrap_or_default(),
                        channel: get("channel"),
                        title: get("title"),
                        description: get("description").unwrap_or_default(),
                        urgency: get("urgency"),
                        severity: get("severity"),
                        region: get("region"),
                        lat: num("lat")?,
                        lon: num("lon")?,
                        address: get("address"),
                        anonymous: reporter.is_none(),
                        reporter,
                        answers,
                        ..Default::default()
                    },
                ));
            }
        }
        "jsonl" => {
            for (i, line) in std::io::BufReader::new(input).lines().enumerate() {
                let line = line?;
                if line.trim().is_empty() {
                    continue;
                }
                let v: serde_json::Value = serde_json::from_str(&line).with_context(|| format!("line {}: not JSON", i + 1))?;
                drafts.push((i + 1, draft_from_json(v).with_context(|| format!("line {}", i + 1))?));
            }
        }
        _ => bail!("--format must be csv or jsonl"),
    }
    let actor = Actor::System { job: "import".into() };
    let mut prepared = Vec::with_capacity(drafts.len());
    let mut bad = 0;
    for (line, d) in drafts {
        match svc.prepare(d, &actor, Channel::Import, None) {
            Ok(p) => prepared.push(p),
            Err(e) => {
                bad += 1;
                writeln!(err_out, "row {line}: {e}")?;
            }
        }
    }
    if bad > 0 {
        bail!("{bad} rows are invalid; nothing was imported");
    }
    let pb = progress(prepared.len() as u64, "import");
    let n = prepared.len();
    let mut results = futures_util::stream::iter(prepared.into_iter().map(|p| svc.submit(p))).buffer_unordered(256);
    while let Some(r) = results.next().await {
        r.map_err(err)?;
        pb.inc(1);
    }
    pb.finish_and_clear();
    svc.checkpoint().await.map_err(err)?;
    Ok(n)
}

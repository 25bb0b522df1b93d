//! Benchmarks. Each prints what it measured, against what, and the ratio or target; `--smoke`
//! runs each once at a small scale so none of them rots (CI does this).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

#[path = "bench_perception.rs"]
mod bench_perception;
#[path = "bench_sweep.rs"]
mod bench_sweep;

use crate::http::{Conn, load};
use crate::{Server, build_release, ci, free_port, postgres_url, redact, root};

pub struct Options {
    pub smoke: bool,
    pub scale: Option<f64>,
    pub only: Option<String>,
}

fn bench_dir(name: &str) -> anyhow::Result<PathBuf> {
    let d = root().join("target").join("bench").join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d)?;
    Ok(d)
}

fn fq(bin: &Path, data: &Path, db_url: Option<&str>, args: &[&str]) -> anyhow::Result<String> {
    let mut cmd = Command::new(bin);
    cmd.arg("--data").arg(data).args(args).env("FENGQIAO_LOG", "error");
    match db_url {
        Some(u) => cmd.env("FENGQIAO_DATABASE_URL", u),
        None => cmd.env_remove("FENGQIAO_DATABASE_URL"),
    };
    let out = cmd.output()?;
    if !out.status.success() {
        bail!("fengqiao {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

pub(crate) fn verdict(ok: bool) -> &'static str {
    if ok { "PASS" } else { "MISS" }
}

pub fn run(o: &Options) -> anyhow::Result<()> {
    let want = |name: &str| o.only.as_deref().is_none_or(|x| x == name);
    println!(
        "machine: {} cores; fengqiao {}",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        if o.smoke { "(smoke run: small scale, figures are not meaningful)" } else { "" }
    );
    if want("text") {
        crate::bench_text::run(o.smoke)?;
    }
    if want("pages") {
        crate::bench_pages::run(o.scale, o.smoke)?;
    }
    if want("routing") {
        crate::bench_routing::run(o.smoke)?;
    }
    // The in-process benchmarks above need no server binary; build it only when one does.
    if !["intake", "lookup", "queries", "open311", "hotspots", "sweep", "perception"].into_iter().any(want) {
        return Ok(());
    }
    let bin = build_release()?;
    if want("intake") {
        intake(&bin, o.smoke)?;
    }
    if want("lookup") {
        crate::bench_lookup::lookup(&bin, &bench_dir("lookup")?, o.smoke)?;
    }
    if want("queries") {
        let scale = o.scale.unwrap_or(if o.smoke { 0.3 } else { 33.4 });
        queries(&bin, scale, o.smoke)?;
    }
    if want("open311") {
        crate::bench_open311::run(&bin, o.scale.unwrap_or(if o.smoke { 0.3 } else { 33.4 }), o.smoke)?;
    }
    if want("hotspots") {
        crate::bench_hotspots::run(&bin, o.smoke)?;
    }
    if want("sweep") {
        bench_sweep::run(&bin, o)?;
    }
    if want("perception") {
        bench_perception::run(&bin, o)?;
    }
    Ok(())
}

/// A minimal loop committing one row per transaction with the same durability settings, on
/// the same disk: the reference the group commit must beat.
const SQLITE_LOOP: &str = r#"
import sqlite3, sys, time, json
path, seconds = sys.argv[1], float(sys.argv[2])
db = sqlite3.connect(path, isolation_level=None)
db.execute("PRAGMA journal_mode=WAL")
db.execute("PRAGMA synchronous=FULL")
db.execute("CREATE TABLE IF NOT EXISTS cases (id INTEGER PRIMARY KEY, tracking_code TEXT UNIQUE, state TEXT NOT NULL)")
body = json.dumps({"category": "noise", "description": "夜间施工噪声扰民，影响休息" * 3, "region": "330699101201"})
n, start = 0, time.time()
while time.time() - start < seconds:
    db.execute("BEGIN")
    db.execute("INSERT INTO cases (tracking_code, state) VALUES (?, ?)", ("T%012d" % n, body))
    db.execute("COMMIT")
    n += 1
print(n / (time.time() - start))
"#;

fn intake(bin: &Path, smoke: bool) -> anyhow::Result<()> {
    let seconds = if smoke { 2.0 } else { 10.0 };
    let clients = 32;
    let dir = bench_dir("intake")?;
    let out = fq(bin, &dir, None, &["init", "--county-code", "330699000000", "--county-name", "Bench County"])?;
    let token = out.split_whitespace().last().context("init prints a token")?.to_string();
    // The reference loop first, on the same disk, before the server competes for it.
    let reference = match Command::new("python3").arg("-c").arg(SQLITE_LOOP).arg(dir.join("reference.db")).arg(seconds.to_string()).output()
    {
        Ok(out) if out.status.success() => Some(String::from_utf8_lossy(&out.stdout).trim().parse::<f64>()?),
        _ if ci() => bail!("python3 with sqlite3 is needed for the intake reference loop"),
        _ => {
            println!("SKIP: intake reference loop (python3 with sqlite3 not found)");
            None
        }
    };
    let server = Server::start(bin, &dir, None, free_port())?;
    let body = r#"{"category":"noise","description":"夜间施工噪声扰民，影响休息夜间施工噪声扰民，影响休息夜间施工噪声扰民，影响休息","region":"330699000000","address":"人民路1号"}"#;
    let auth = format!("Bearer {token}");
    // Warm-up is included: the server starts cold, as it would after a deploy.
    let cpu_before = cpu_seconds(server.child.id());
    let (lat, errors) = load(&server.addr, clients, seconds, ("POST", "/api/v1/cases"), &[("Authorization", &auth)], Some(body), 201);
    let cpu = cpu_seconds(server.child.id()).zip(cpu_before).map(|(a, b)| a - b);
    let rate = lat.len() as f64 / seconds;
    // The floor of HTTP alone on this machine: the same request from the same clients,
    // refused at authentication before the body is read. No intake can be faster than this.
    let (floor, _) = load(&server.addr, clients, seconds, ("POST", "/api/v1/cases"), &[], Some(body), 401);
    let floor_rate = floor.len() as f64 / seconds;
    let metrics = Conn::open(&server.addr)?.request("GET", "/metrics", &[], None)?.body;
    let metric = |name: &str| {
        metrics
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().last())
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let (commits, cases) = (metric("fengqiao_intake_commits_total"), metric("fengqiao_intake_cases_total"));
    println!("\n== durable intake over HTTP (SQLite, WAL, synchronous=FULL; one WAL fsync per commit) ==");
    println!("clients {clients}, {seconds} s; errors {errors}");
    println!("fengqiao: {rate:.0} cases/s, latency p50 {:.1} ms, p99 {:.1} ms", percentile(&lat, 0.5), percentile(&lat, 0.99));
    println!(
        "group commit: {commits:.0} commits for {cases:.0} cases = {:.1} cases per fsync'd commit",
        if commits > 0.0 { cases / commits } else { 0.0 }
    );
    if let Some(cpu) = cpu.filter(|_| !lat.is_empty()) {
        println!(
            "server CPU: {:.2} cores, {:.0} us per case (the machine has {} cores)",
            cpu / seconds,
            cpu / lat.len() as f64 * 1e6,
            std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
        );
    }
    if let Some(r) = reference {
        let ratio = rate / r;
        println!("reference (python sqlite3, one case per transaction, same settings, same disk): {r:.0} cases/s");
        println!(
            "HTTP floor (the same request refused at authentication, nothing stored): {floor_rate:.0} requests/s = {:.1}x the reference",
            floor_rate / r
        );
        println!(
            "ratio {ratio:.1}x (target >= 3x): {}; p99 {:.1} ms (target < 50 ms): {}",
            verdict(ratio >= 3.0),
            percentile(&lat, 0.99),
            verdict(percentile(&lat, 0.99) < 50.0)
        );
    }
    if lat.is_empty() {
        bail!("no case was created");
    }
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// CPU time (user and system) a process has used so far, from `/proc` (Linux only).
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The fields after the command name, which is in parentheses and may hold spaces.
    let rest: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: f64 = rest.get(11)?.parse::<f64>().ok()? + rest.get(12)?.parse::<f64>().ok()?;
    // Linux reports these in clock ticks of 1/100 s (USER_HZ) on every platform it runs on.
    Some(ticks / 100.0)
}

/// A county generated before (`fengqiao demo --no-serve --scale S --data DIR`), named by
/// `FENGQIAO_BENCH_DATA`: the SQLite benchmarks that read a county use it as it is (and leave
/// it), instead of generating one, since a million cases take a quarter of an hour to make.
pub fn reused_county() -> Option<PathBuf> {
    std::env::var_os("FENGQIAO_BENCH_DATA").map(PathBuf::from).filter(|p| p.join("fengqiao.db").exists())
}

/// Generates a county into `data` (SQLite) or the database at `db_url`.
pub fn generate(bin: &Path, data: &Path, db_url: Option<&str>, scale: f64) -> anyhow::Result<Duration> {
    let t = Instant::now();
    fq(bin, data, db_url, &["demo", "--no-serve", "--scale", &scale.to_string()])?;
    Ok(t.elapsed())
}

fn timed(c: &mut Conn, path: &str, token: &str, n: usize) -> anyhow::Result<Vec<f64>> {
    let auth = format!("Bearer {token}");
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let r = c.request("GET", path, &[("Authorization", &auth)], None)?;
        if r.status != 200 {
            bail!("GET {path}: {} {}", r.status, r.body);
        }
        v.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    v.sort_by(|a, b| a.total_cmp(b));
    Ok(v)
}

fn fresh_pg_database(base: &str, name: &str) -> anyhow::Result<String> {
    let run = |sql: &str| Command::new("psql").arg(base).args(["-q", "-c", sql]).output();
    run(&format!("DROP DATABASE IF EXISTS {name}"))?;
    let out = run(&format!("CREATE DATABASE {name}"))?;
    if !out.status.success() {
        bail!("creating database {name}: {}", String::from_utf8_lossy(&out.stderr));
    }
    let (head, _) = base.rsplit_once('/').context("a database URL")?;
    Ok(format!("{head}/{name}"))
}

/// SQLite, and PostgreSQL (a fresh database named `db`) when a server and psql are there.
fn backends(what: &str, db: &str) -> anyhow::Result<Vec<(&'static str, Option<String>)>> {
    let mut v: Vec<(&'static str, Option<String>)> = vec![("sqlite", None)];
    match postgres_url() {
        Some(base) if Command::new("psql").arg("--version").output().is_ok() => v.push(("postgres", Some(fresh_pg_database(&base, db)?))),
        _ if ci() => bail!("CI=true: the {what} needs PostgreSQL and psql"),
        _ => println!("SKIP: {what} on PostgreSQL (not reachable, or psql missing)"),
    }
    Ok(v)
}

fn queries(bin: &Path, scale: f64, smoke: bool) -> anyhow::Result<()> {
    let backends = backends("query benchmark", "fengqiao_bench")?;
    let n = if smoke { 3 } else { 20 };
    for (name, url) in backends {
        let reuse = if url.is_none() { reused_county() } else { None };
        let dir = match &reuse {
            Some(d) => d.clone(),
            None => bench_dir(&format!("queries-{name}"))?,
        };
        let took = if reuse.is_some() { Duration::ZERO } else { generate(bin, &dir, url.as_deref(), scale)? };
        let server = Server::start(bin, &dir, url.as_deref(), free_port())?;
        let warm = crate::http::wait_warm(&server.addr, Duration::from_secs(1200))?;
        let mut c = Conn::open(&server.addr)?;
        let total: serde_count::Count = serde_count::count(&mut c)?;
        println!(
            "\n== queries on {name} ({} cases, generated in {:.0} s; {n} runs each, server time + loopback HTTP) ==",
            total.0,
            took.as_secs_f64()
        );
        println!("ready (figures' facts loaded, triage built) {:.1} s after the server answered", warm.as_secs_f64());
        let sup = "demo-county-supervisor";
        let year = timed(&mut c, "/api/v1/figures?from=2000-01-01", sup, n)?;
        println!(
            "figures, county, whole year: p50 {:.0} ms, p95 {:.0} ms (target < 200 ms): {}",
            percentile(&year, 0.5),
            percentile(&year, 0.95),
            verdict(percentile(&year, 0.95) < 200.0)
        );
        let list = timed(&mut c, "/api/v1/cases?limit=50", sup, n)?;
        let filtered = timed(&mut c, "/api/v1/cases?limit=50&status=closed&region=330699103000", sup, n)?;
        let deep = timed(&mut c, "/api/v1/cases?limit=50&after=5000", sup, n)?;
        let town = timed(&mut c, "/api/v1/cases?limit=50", "demo-town03-intake", n)?;
        for (what, v) in [
            ("first page", &list),
            ("filtered by status and town", &filtered),
            ("keyset page after id 5000", &deep),
            ("a town's intake desk (scoped)", &town),
        ] {
            println!(
                "list, {what}: p50 {:.1} ms, p95 {:.1} ms (target < 50 ms): {}",
                percentile(v, 0.5),
                percentile(v, 0.95),
                verdict(percentile(v, 0.95) < 50.0)
            );
        }
        drop(server);
        if reuse.is_none() {
            let _ = std::fs::remove_dir_all(&dir);
        }
        if let Some(u) = url {
            let _ =
                Command::new("psql").arg(postgres_url().unwrap_or(u)).args(["-q", "-c", "DROP DATABASE IF EXISTS fengqiao_bench"]).output();
        }
    }
    Ok(())
}

/// Counting cases through the API (the audit head is a proxy that needs no JSON parser).
mod serde_count {
    pub struct Count(pub i64);
    pub fn count(c: &mut crate::http::Conn) -> anyhow::Result<Count> {
        let r = c.request("GET", "/api/v1/cases?limit=1", &[("Authorization", "Bearer demo-county-supervisor")], None)?;
        let id = r
            .body
            .split("\"id\":")
            .nth(1)
            .and_then(|s| s.split(|ch: char| !ch.is_ascii_digit()).next())
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        Ok(Count(id))
    }
}

/// Kills the server with SIGKILL while clients write, restarts it, and checks that every
/// case whose creation was acknowledged is there.
pub fn crash(smoke: bool) -> anyhow::Result<()> {
    let bin = build_release()?;
    let backends = backends("crash test", "fengqiao_crash")?;
    let rounds = if smoke { 1 } else { 5 };
    for (name, url) in backends {
        let dir = bench_dir(&format!("crash-{name}"))?;
        let out = fq(&bin, &dir, url.as_deref(), &["init", "--county-code", "330699000000", "--county-name", "Crash County"])?;
        let token = out.split_whitespace().last().context("a token")?.to_string();
        let mut acknowledged: Vec<String> = Vec::new();
        for round in 0..rounds {
            let mut server = Server::start(&bin, &dir, url.as_deref(), free_port())?;
            let acks = Arc::new(Mutex::new(Vec::new()));
            let mut threads = Vec::new();
            for t in 0..16 {
                let (acks, addr, token) = (acks.clone(), server.addr.clone(), token.clone());
                threads.push(std::thread::spawn(move || {
                    let Ok(mut c) = Conn::open(&addr) else { return };
                    let auth = format!("Bearer {token}");
                    for i in 0.. {
                        let body = format!(r#"{{"category":"noise","description":"round {round} client {t} case {i}","region":"330699000000","address":"x"}}"#);
                        match c.request("POST", "/api/v1/cases", &[("Authorization", &auth)], Some(&body)) {
                            Ok(r) if r.status == 201 => {
                                if let Some(code) = r.body.split("\"tracking_code\":\"").nth(1).and_then(|s| s.split('"').next()) {
                                    acks.lock().expect("not poisoned").push(code.to_string());
                                }
                            }
                            Ok(_) => {}
                            Err(_) => return, // the server is gone
                        }
                    }
                }));
            }
            std::thread::sleep(Duration::from_millis(if smoke { 1500 } else { 3000 }));
            server.kill(); // SIGKILL: no shutdown hook runs
            for t in threads {
                let _ = t.join();
            }
            acknowledged.extend(acks.lock().expect("not poisoned").drain(..));
        }
        // The server must come back up on what was left on disk; then every acknowledged
        // case must be in the store. The store is read through `export` (the public tracking
        // endpoint is rate-limited per address, as it should be).
        let server = Server::start(&bin, &dir, url.as_deref(), free_port())?;
        drop(server);
        let exported = fq(&bin, &dir, url.as_deref(), &["export", "--format", "csv"])?;
        let mut lines = exported.lines();
        let header: Vec<&str> = lines.next().unwrap_or("").split(',').collect();
        let col = header.iter().position(|h| *h == "tracking_code").context("export has a tracking_code column")?;
        let stored: std::collections::HashSet<&str> = lines.filter_map(|l| l.split(',').nth(col)).collect();
        let lost = acknowledged.iter().filter(|code| !stored.contains(code.as_str())).count();
        let verify = fq(&bin, &dir, url.as_deref(), &["audit", "verify"])?;
        println!(
            "crash ({name}{}): {rounds} SIGKILLs under write load; {} acknowledged, {lost} lost; audit: {}",
            url.as_deref().map(|u| format!(" {}", redact(u))).unwrap_or_default(),
            acknowledged.len(),
            verify.trim()
        );
        if lost > 0 || acknowledged.is_empty() {
            bail!("{lost} acknowledged cases were lost on {name}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(())
}

//! `cargo xtask bench --only open311`: the Open311 interface on the demo county. The public
//! list (`GET requests.json`, default 90-day window, up to 1,000 requests) against its target
//! (p95 < 100 ms at 1,000,000 cases), and the rate of Open311 submissions (form-urlencoded,
//! API key) against JSON API creations (bearer token) in the same run, as a ratio.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::http::Conn;
use crate::{Server, free_port, root};

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[(((sorted.len() as f64 - 1.0) * q).round() as usize).min(sorted.len() - 1)]
}

fn fq(bin: &Path, data: &Path, args: &[&str]) -> anyhow::Result<String> {
    let out =
        Command::new(bin).arg("--data").arg(data).args(args).env("FENGQIAO_LOG", "error").env_remove("FENGQIAO_DATABASE_URL").output()?;
    if !out.status.success() {
        bail!("fengqiao {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}

/// Creations a second from `clients` connections for `seconds`, and their latencies.
fn load(addr: &str, clients: usize, seconds: f64, make: Arc<dyn Fn(&mut Conn) -> bool + Send + Sync>) -> (f64, Vec<f64>, u64) {
    let stop = Arc::new(AtomicBool::new(false));
    let lat = Arc::new(Mutex::new(Vec::new()));
    let errors = Arc::new(Mutex::new(0u64));
    let mut threads = Vec::new();
    for _ in 0..clients {
        let (stop, lat, errors, addr, make) = (stop.clone(), lat.clone(), errors.clone(), addr.to_string(), make.clone());
        threads.push(std::thread::spawn(move || {
            let Ok(mut c) = Conn::open(&addr) else { return };
            let mut mine = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                if make(&mut c) {
                    mine.push(t.elapsed().as_secs_f64() * 1000.0);
                } else {
                    *errors.lock().expect("not poisoned") += 1;
                }
            }
            lat.lock().expect("not poisoned").extend(mine);
        }));
    }
    std::thread::sleep(Duration::from_secs_f64(seconds));
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        let _ = t.join();
    }
    let mut v = lat.lock().expect("not poisoned").clone();
    v.sort_by(|a, b| a.total_cmp(b));
    let errors = *errors.lock().expect("not poisoned");
    (v.len() as f64 / seconds, v, errors)
}

pub fn run(bin: &Path, scale: f64, smoke: bool) -> anyhow::Result<()> {
    let dir: PathBuf = root().join("target").join("bench").join(format!("open311-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let took = crate::bench::generate(bin, &dir, None, scale)?;
    let out = fq(bin, &dir, &["api-key", "create", "--name", "bench", "--rate-per-minute", "1000000000"])?;
    let key = out.split_whitespace().last().context("api-key create prints the key")?.to_string();
    let server = Server::start(bin, &dir, None, free_port())?;
    let mut c = Conn::open(&server.addr)?;

    let n = if smoke { 5 } else { 30 };
    let mut list = Vec::with_capacity(n);
    let mut listed = 0;
    for _ in 0..n {
        let t = Instant::now();
        let r = c.request("GET", "/open311/v2/requests.json", &[], None)?;
        list.push(t.elapsed().as_secs_f64() * 1000.0);
        if r.status != 200 {
            bail!("GET requests.json: {} {}", r.status, r.body);
        }
        listed = r.body.matches("\"service_request_id\"").count();
    }
    list.sort_by(|a, b| a.total_cmp(b));
    let total = c.request("GET", "/healthz", &[], None)?.body;
    println!("\n== Open311 on SQLite (demo county at scale {scale}, generated in {:.0} s; {total}) ==", took.as_secs_f64());
    println!(
        "GET requests.json, default 90-day window ({listed} requests): p50 {:.0} ms, p95 {:.0} ms (target < 100 ms at 1,000,000 cases{}): {}",
        percentile(&list, 0.5),
        percentile(&list, 0.95),
        if smoke { "; not meaningful at smoke scale" } else { "" },
        if percentile(&list, 0.95) < 100.0 { "PASS" } else { "MISS" }
    );

    let (seconds, clients) = (if smoke { 2.0 } else { 10.0 }, 32);
    let form = format!(
        "api_key={}&service_code=noise&address_id=330699000000&address_string={}&description={}",
        enc(&key),
        enc("人民路1号"),
        enc("夜间施工噪声扰民，影响休息夜间施工噪声扰民，影响休息夜间施工噪声扰民，影响休息")
    );
    let json = r#"{"category":"noise","description":"夜间施工噪声扰民，影响休息夜间施工噪声扰民，影响休息夜间施工噪声扰民，影响休息","region":"330699000000","address":"人民路1号"}"#;
    let form = Arc::new(form);
    let open311 = {
        let form = form.clone();
        Arc::new(move |c: &mut Conn| {
            c.request("POST", "/open311/v2/requests.json", &[("Content-Type", "application/x-www-form-urlencoded")], Some(&form))
                .is_ok_and(|r| r.status == 200)
        })
    };
    let api = Arc::new(move |c: &mut Conn| {
        c.request("POST", "/api/v1/cases", &[("Authorization", "Bearer demo-admin")], Some(json)).is_ok_and(|r| r.status == 201)
    });
    // Alternate so neither side always meets a warmer or fuller database.
    let (r1, l1, e1) = load(&server.addr, clients, seconds, open311.clone());
    let (r2, l2, e2) = load(&server.addr, clients, seconds, api);
    let (r3, l3, e3) = load(&server.addr, clients, seconds, open311);
    let open_rate = (r1 + r3) / 2.0;
    let mut open_lat: Vec<f64> = l1.into_iter().chain(l3).collect();
    open_lat.sort_by(|a, b| a.total_cmp(b));
    println!("POST, {clients} clients, {seconds} s each (Open311 twice, around the JSON API):");
    println!(
        "  Open311 requests.json (form, api_key): {open_rate:.0} cases/s, p99 {:.1} ms, errors {}",
        percentile(&open_lat, 0.99),
        e1 + e3
    );
    println!("  JSON API /api/v1/cases (bearer token): {r2:.0} cases/s, p99 {:.1} ms, errors {e2}", percentile(&l2, 0.99));
    let ratio = open_rate / r2;
    println!("  ratio Open311 / JSON API {ratio:.2} (target >= 0.8): {}", if ratio >= 0.8 { "PASS" } else { "MISS" });
    if open_lat.is_empty() || l2.is_empty() {
        bail!("no case was created");
    }
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

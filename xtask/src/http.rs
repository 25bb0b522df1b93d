//! A minimal blocking HTTP/1.1 client with keep-alive, enough to drive the server from
//! another process without pulling an HTTP stack into the build.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub struct Conn {
    addr: String,
    reader: BufReader<TcpStream>,
}

pub struct Response {
    pub status: u16,
    pub body: String,
}

impl Conn {
    pub fn open(addr: &str) -> std::io::Result<Conn> {
        let s = TcpStream::connect(addr)?;
        s.set_nodelay(true)?;
        s.set_read_timeout(Some(Duration::from_secs(60)))?;
        Ok(Conn { addr: addr.to_string(), reader: BufReader::new(s) })
    }

    pub fn request(&mut self, method: &str, path: &str, headers: &[(&str, &str)], body: Option<&str>) -> std::io::Result<Response> {
        let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {}\r\n", self.addr);
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        if let Some(b) = body {
            if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-type")) {
                req.push_str("Content-Type: application/json\r\n");
            }
            req.push_str(&format!("Content-Length: {}\r\n", b.len()));
        }
        req.push_str("\r\n");
        if let Some(b) = body {
            req.push_str(b);
        }
        self.reader.get_mut().write_all(req.as_bytes())?;
        let mut line = String::new();
        self.reader.read_line(&mut line)?;
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| std::io::Error::other(format!("bad status line {line:?}")))?;
        let mut len = 0usize;
        loop {
            line.clear();
            self.reader.read_line(&mut line)?;
            if line == "\r\n" || line.is_empty() {
                break;
            }
            if let Some((k, v)) = line.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                len = v.trim().parse().unwrap_or(0);
            }
        }
        let mut buf = vec![0u8; len];
        self.reader.read_exact(&mut buf)?;
        Ok(Response { status, body: String::from_utf8_lossy(&buf).into_owned() })
    }
}

/// Waits until the server answers `/healthz`.
pub fn wait_ready(addr: &str, timeout: Duration) -> anyhow::Result<()> {
    let start = std::time::Instant::now();
    while start.elapsed() < timeout {
        if let Ok(mut c) = Conn::open(addr)
            && c.request("GET", "/healthz", &[], None).map(|r| r.status == 200).unwrap_or(false)
        {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    anyhow::bail!("the server at {addr} did not become ready")
}

/// Waits until `/readyz` answers 200 (the figures' facts are loaded, triage built) and says how long that
/// took: benchmarks of a warm server start measuring after it, and report it.
pub fn wait_warm(addr: &str, timeout: Duration) -> anyhow::Result<Duration> {
    let start = std::time::Instant::now();
    let mut c = Conn::open(addr)?;
    while start.elapsed() < timeout {
        if c.request("GET", "/readyz", &[], None)?.status == 200 {
            return Ok(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    anyhow::bail!("the server at {addr} was not ready (figures and triage) within {timeout:?}")
}

/// `clients` keep-alive connections sending the same request for `seconds`: the latencies (ms,
/// sorted) of the answers with status `expect`, and the count of the others. A connection that
/// fails is opened again.
pub fn load(
    addr: &str,
    clients: usize,
    seconds: f64,
    (method, path): (&str, &str),
    headers: &[(&str, &str)],
    body: Option<&str>,
    expect: u16,
) -> (Vec<f64>, u64) {
    let stop = Arc::new(AtomicBool::new(false));
    let errors = Arc::new(AtomicU64::new(0));
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let owned = |s: &str| s.to_string();
    let headers: Vec<(String, String)> = headers.iter().map(|(k, v)| (owned(k), owned(v))).collect();
    let mut threads = Vec::new();
    for _ in 0..clients {
        let (stop, errors, latencies, headers) = (stop.clone(), errors.clone(), latencies.clone(), headers.clone());
        let (addr, method, path, body) = (owned(addr), owned(method), owned(path), body.map(owned));
        threads.push(std::thread::spawn(move || {
            let Ok(mut c) = Conn::open(&addr) else {
                errors.fetch_add(1, Ordering::Relaxed);
                return;
            };
            let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let mut mine = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                match c.request(&method, &path, &headers, body.as_deref()) {
                    Ok(r) if r.status == expect => mine.push(t.elapsed().as_secs_f64() * 1000.0),
                    Ok(_) => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(_) => {
                        errors.fetch_add(1, Ordering::Relaxed);
                        match Conn::open(&addr) {
                            Ok(fresh) => c = fresh,
                            Err(_) => return,
                        }
                    }
                }
            }
            latencies.lock().expect("not poisoned").extend(mine);
        }));
    }
    std::thread::sleep(Duration::from_secs_f64(seconds));
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        let _ = t.join();
    }
    let mut lat = std::mem::take(&mut *latencies.lock().expect("not poisoned"));
    lat.sort_by(|a, b| a.total_cmp(b));
    (lat, errors.load(Ordering::Relaxed))
}

//! Project automation: `cargo xtask test` (the whole suite), `cargo xtask bench` (performance
//! against reference tools, reported as ratios), `cargo xtask crash` (SIGKILL under write
//! load loses no acknowledged case) and `cargo xtask gen` (large data sets).

mod bench;
mod bench_hotspots;
mod bench_lookup;
mod bench_open311;
mod bench_pages;
mod bench_routing;
mod bench_text;
mod http;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::{Context, bail};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str| args.iter().any(|a| a == name);
    let value = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    match args.first().map(String::as_str) {
        Some("test") => test(),
        Some("bench") => bench::run(&bench::Options {
            smoke: flag("--smoke"),
            scale: value("--scale").map(|s| s.parse()).transpose()?,
            only: value("--only"),
        }),
        Some("crash") => bench::crash(flag("--smoke")),
        Some("gen") => {
            let scale: f64 = value("--scale").unwrap_or_else(|| "33.4".into()).parse()?;
            let data = PathBuf::from(value("--data").context("--data DIR is required")?);
            let bin = build_release()?;
            bench::generate(&bin, &data, value("--database-url").as_deref(), scale)?;
            Ok(())
        }
        _ => {
            eprintln!(
                "usage: cargo xtask <command>\n\n  test                         run the whole test suite (PostgreSQL when reachable)\n  bench [--smoke] [--scale S] [--only NAME]\n                               benchmarks against the reference tools, as ratios\n  crash [--smoke]              SIGKILL the server under write load; check no acknowledged case is lost\n  gen --data DIR [--scale S] [--database-url URL]\n                               generate a county (scale 33.4 is about 1,000,000 cases)"
            );
            std::process::exit(2);
        }
    }
}

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask lives in the workspace").to_path_buf()
}

pub fn ci() -> bool {
    std::env::var("CI").as_deref() == Ok("true")
}

/// The PostgreSQL URL for tests: the one given, else the local server if it answers.
pub fn postgres_url() -> Option<String> {
    if let Ok(u) = std::env::var("FENGQIAO_TEST_POSTGRES_URL")
        && !u.is_empty()
    {
        return Some(u);
    }
    let local = "127.0.0.1:5432";
    let up = std::net::TcpStream::connect_timeout(&local.parse().expect("valid address"), std::time::Duration::from_millis(500)).is_ok();
    up.then(|| "postgres://postgres@127.0.0.1:5432/postgres".to_string())
}

fn test() -> anyhow::Result<()> {
    let mut cmd = Command::new(env!("CARGO"));
    cmd.current_dir(root()).args(["test", "--workspace", "--no-fail-fast"]);
    match python_env() {
        Ok(py) => {
            eprintln!("Python reference tools: {}", py.display());
            cmd.env("FENGQIAO_TEST_PYTHON", py);
        }
        Err(e) if ci() => bail!("CI=true but the Python reference tools could not be installed: {e:#}"),
        Err(e) => eprintln!("SKIP: the tests that compare with Python reference tools ({e:#})"),
    }
    match postgres_url() {
        Some(url) => {
            eprintln!("PostgreSQL: running the contract suite against {}", redact(&url));
            cmd.env("FENGQIAO_TEST_POSTGRES_URL", url);
        }
        None if ci() => {
            bail!("CI=true but no PostgreSQL is reachable (set FENGQIAO_TEST_POSTGRES_URL)")
        }
        None => eprintln!(
            "SKIP: PostgreSQL is not reachable on 127.0.0.1:5432 and FENGQIAO_TEST_POSTGRES_URL is unset; the contract suite runs on SQLite only"
        ),
    }
    let status = cmd.status().context("running cargo test")?;
    if !status.success() {
        bail!("tests failed");
    }
    e2e()
}

/// The end-to-end test of the pages in Debian's chromium (`e2e/`, `node --test`), against
/// the debug binary the tests just built. Skipped without node, npm or chromium, except in CI.
fn e2e() -> anyhow::Result<()> {
    let runs = |prog: &str| Command::new(prog).arg("--version").stdout(std::process::Stdio::null()).status().is_ok_and(|s| s.success());
    let chromium = std::path::Path::new("/usr/bin/chromium");
    let missing: Vec<&str> = [("node", runs("node")), ("npm", runs("npm")), ("/usr/bin/chromium", chromium.exists())]
        .into_iter()
        .filter(|(_, ok)| !ok)
        .map(|(name, _)| name)
        .collect();
    if !missing.is_empty() {
        if ci() {
            bail!("CI=true but the browser test cannot run: {} missing", missing.join(", "));
        }
        eprintln!("SKIP: the end-to-end browser test ({} missing; on Debian: apt-get install chromium nodejs npm)", missing.join(", "));
        return Ok(());
    }
    let status = Command::new(env!("CARGO"))
        .current_dir(root())
        .args(["build", "--quiet", "-p", "fengqiao"])
        .status()
        .context("building fengqiao")?;
    if !status.success() {
        bail!("building the fengqiao binary failed");
    }
    let dir = root().join("e2e");
    let status =
        Command::new("npm").current_dir(&dir).args(["install", "--no-audit", "--no-fund"]).status().context("npm install in e2e/")?;
    if !status.success() {
        bail!("npm install in e2e/ failed");
    }
    let bin = root().join("target").join("debug").join("fengqiao");
    eprintln!("End-to-end: chromium against {} (screenshots in target/e2e-screenshots/)", bin.display());
    let status = Command::new("node").current_dir(&dir).arg("--test").env("FENGQIAO_BIN", &bin).status().context("node --test in e2e/")?;
    if !status.success() {
        bail!("the end-to-end browser test failed");
    }
    Ok(())
}

/// The virtual environment with the reference tools of `xtask/requirements.txt`, made or
/// brought up to date in `./.venv`; returns its interpreter. Installs only when the
/// requirements changed since the last successful install.
pub fn python_env() -> anyhow::Result<PathBuf> {
    let venv = root().join(".venv");
    let py = venv.join("bin").join("python");
    let reqs = root().join("xtask").join("requirements.txt");
    let wanted = std::fs::read_to_string(&reqs).context("reading xtask/requirements.txt")?;
    let stamp = venv.join(".fengqiao-requirements");
    if py.exists() && std::fs::read_to_string(&stamp).ok().as_deref() == Some(wanted.as_str()) {
        return Ok(py);
    }
    if !py.exists() {
        let status = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .context("python3 -m venv (is python3 with venv installed?)")?;
        if !status.success() {
            bail!("python3 -m venv failed (on Debian: apt-get install python3-venv)");
        }
    }
    eprintln!("installing the Python reference tools into .venv (once)");
    let status = Command::new(&py)
        .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r"])
        .arg(&reqs)
        .status()
        .context("running pip")?;
    if !status.success() {
        bail!("pip install -r xtask/requirements.txt failed");
    }
    std::fs::write(&stamp, wanted)?;
    Ok(py)
}

pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://***@{}", &url[..s], &url[at + 1..]),
        _ => url.to_string(),
    }
}

/// Builds the release binary and returns its path.
pub fn build_release() -> anyhow::Result<PathBuf> {
    let status = Command::new(env!("CARGO")).current_dir(root()).args(["build", "--release", "--quiet", "-p", "fengqiao"]).status()?;
    if !status.success() {
        bail!("building fengqiao failed");
    }
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root().join("target"));
    Ok(target.join("release").join("fengqiao"))
}

/// A running `fengqiao serve`, killed on drop.
pub struct Server {
    pub child: Child,
    pub addr: String,
}

impl Server {
    pub fn start(bin: &Path, data: &Path, db_url: Option<&str>, port: u16) -> anyhow::Result<Server> {
        let addr = format!("127.0.0.1:{port}");
        let mut cmd = Command::new(bin);
        cmd.arg("--data")
            .arg(data)
            .args(["serve", "--listen", &addr])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .env("FENGQIAO_LOG", "error");
        match db_url {
            Some(u) => cmd.env("FENGQIAO_DATABASE_URL", u),
            None => cmd.env_remove("FENGQIAO_DATABASE_URL"),
        };
        let child = cmd.spawn()?;
        let s = Server { child, addr };
        http::wait_ready(&s.addr, std::time::Duration::from_secs(60))?;
        Ok(s)
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A free TCP port on loopback.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).unwrap_or(18089)
}

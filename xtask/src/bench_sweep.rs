//! `cargo xtask bench --only sweep`: one deadline sweep over the demo county, timed inside the
//! process (`fengqiao calendar sweep` prints its own duration), on SQLite and PostgreSQL.
//!
//! The first sweep does the work the county has due (reminders, notices, escalations of the
//! last `catch_up_hours`); the second finds it all done, which is the steady state a server
//! sees every minute: index range scans of open cases by due time. Target: under 1 s for one
//! sweep over a county of 1,000,000 cases.

use std::path::Path;

use super::{Options, backends, bench_dir, fq, generate, verdict};

/// The number of jobs a sweep did, from `fengqiao calendar sweep`'s line (`…: N jobs (…`).
fn jobs(out: &str) -> anyhow::Result<u64> {
    out.split(": ")
        .find_map(|part| part.split_once(" jobs").and_then(|(n, _)| n.trim().parse::<u64>().ok()))
        .ok_or_else(|| anyhow::anyhow!("unexpected sweep output: {out}"))
}

fn millis(out: &str) -> anyhow::Result<f64> {
    out.rsplit(" in ")
        .next()
        .and_then(|s| s.trim().trim_end_matches("ms").trim().parse::<f64>().ok())
        .ok_or_else(|| anyhow::anyhow!("unexpected sweep output: {out}"))
}

pub fn run(bin: &Path, o: &Options) -> anyhow::Result<()> {
    let scale = o.scale.unwrap_or(if o.smoke { 0.3 } else { 33.4 });
    for (name, url) in backends("sweep benchmark", "fengqiao_sweep")? {
        let dir = bench_dir(&format!("sweep-{name}"))?;
        let took = generate(bin, &dir, url.as_deref(), scale)?;
        println!(
            "\n== deadline sweep on {name} (demo county at scale {scale}, about {:.0} cases, generated in {:.0} s) ==",
            30_000.0 * scale,
            took.as_secs_f64()
        );
        // A sweep does at most `batch` jobs of each kind, so after generating a county the
        // backlog can take several sweeps; the steady state is a sweep that finds nothing left.
        let mut steady = None;
        for i in 1..=10 {
            let out = fq(bin, &dir, url.as_deref(), &["calendar", "sweep"])?;
            let ms = millis(&out)?;
            println!("sweep {i}: {}", out.trim());
            if jobs(&out)? == 0 {
                steady = Some(ms);
                break;
            }
        }
        match steady {
            Some(b) => println!("steady-state sweep: {b:.1} ms (target < 1000 ms at 1,000,000 cases): {}", verdict(b < 1000.0)),
            None => println!("steady-state sweep: not reached in 10 sweeps: MISS"),
        }
        let _ = std::fs::remove_dir_all(&dir);
        if url.is_some()
            && let Some(base) = crate::postgres_url()
        {
            let _ = std::process::Command::new("psql").arg(base).args(["-q", "-c", "DROP DATABASE IF EXISTS fengqiao_sweep"]).output();
        }
    }
    Ok(())
}

//! `cargo xtask bench --only perception`: one full analytics run over the demo county, timed
//! inside the process (`fengqiao analytics` prints its own duration), on SQLite and PostgreSQL.
//!
//! A run counts the last 12 weeks' cases in SQL by village, week and category, reads the texts
//! of the last 9 weeks for the term bursts, and computes Gi* with 9,999 seeded permutations,
//! the emerging hot spot patterns, the bursts and the severity test. Target: under 60 s for a
//! full run over a county of 1,000,000 cases.

use std::path::Path;

use super::{Options, backends, bench_dir, fq, generate, verdict};

fn millis(out: &str) -> anyhow::Result<f64> {
    out.lines()
        .next()
        .and_then(|l| l.rsplit(" in ").next())
        .and_then(|s| s.trim().trim_end_matches("ms").trim().parse::<f64>().ok())
        .ok_or_else(|| anyhow::anyhow!("unexpected analytics output: {out}"))
}

pub fn run(bin: &Path, o: &Options) -> anyhow::Result<()> {
    let scale = o.scale.unwrap_or(if o.smoke { 0.3 } else { 33.4 });
    for (name, url) in backends("analytics benchmark", "fengqiao_perception")? {
        let dir = bench_dir(&format!("perception-{name}"))?;
        let took = generate(bin, &dir, url.as_deref(), scale)?;
        println!(
            "\n== analytics run on {name} (demo county at scale {scale}, about {:.0} cases, generated in {:.0} s) ==",
            30_000.0 * scale,
            took.as_secs_f64()
        );
        let mut best = f64::INFINITY;
        for i in 1..=if o.smoke { 1 } else { 3 } {
            let out = fq(bin, &dir, url.as_deref(), &["analytics"])?;
            let ms = millis(&out)?;
            println!("run {i}: {}", out.trim());
            best = best.min(ms);
        }
        println!("full analytics run: {:.0} ms (target < 60000 ms at 1,000,000 cases): {}", best, verdict(best < 60_000.0));
        let _ = std::fs::remove_dir_all(&dir);
        if url.is_some()
            && let Some(base) = crate::postgres_url()
        {
            let _ = std::process::Command::new("psql").arg(base).args(["-q", "-c", "DROP DATABASE IF EXISTS fengqiao_perception"]).output();
        }
    }
    Ok(())
}

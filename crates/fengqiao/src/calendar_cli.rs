//! `fengqiao calendar`: load an official holiday schedule, show a year's working days.

use std::io::Write;

use anyhow::{Context, anyhow};
use clap::Subcommand;
use fengqiao_domain::{Actor, DomainError, Timestamp};
use fengqiao_store::{Service, StoreError};

#[derive(Subcommand)]
pub enum CalendarCmd {
    /// Load holiday schedules from a CSV file (`date,kind,name`; kind is `holiday` or
    /// `workday`). The file is checked whole and refused whole; each year in it replaces that
    /// year's schedule.
    Load { file: String },
    /// Show a year's working days, holidays and make-up working days, and any warning.
    Show {
        #[arg(long)]
        year: Option<i16>,
    },
    /// Run the deadline sweep once (what `serve` does every minute): reminders, breach
    /// notices, automatic escalations. Each job runs once, so this is safe beside a server.
    Sweep {
        /// The time to sweep at (RFC 3339); default now.
        #[arg(long)]
        at: Option<String>,
    },
}

pub async fn run(svc: &std::sync::Arc<Service>, cmd: CalendarCmd, out: &mut impl Write) -> anyhow::Result<()> {
    match cmd {
        CalendarCmd::Load { file } => {
            let text = if file == "-" {
                std::io::read_to_string(std::io::stdin()).context("reading standard input")?
            } else {
                std::fs::read_to_string(&file).with_context(|| format!("reading {file}"))?
            };
            let actor = Actor::System { job: "cli".into() };
            match svc.load_calendar(&text, &actor).await {
                Ok(years) => {
                    let list: Vec<String> = years.iter().map(|y| y.to_string()).collect();
                    writeln!(out, "loaded the holiday schedule of {}", list.join(", "))?;
                }
                Err(StoreError::Domain(DomainError::Invalid(errs))) => {
                    let lines: Vec<String> = errs.iter().map(|e| format!("  {}: {}", e.field, e.message)).collect();
                    return Err(anyhow!("{file} was refused, nothing was loaded ({} problems):\n{}", errs.len(), lines.join("\n")));
                }
                Err(e) => return Err(anyhow!("{e}")),
            }
        }
        CalendarCmd::Show { year } => {
            let cal = svc.calendar();
            let now = svc.now();
            let year = year.or_else(|| now.local_date(cal.time_zone()).map(|d| d.year())).unwrap_or(2026);
            let y = cal.year_summary(year).ok_or_else(|| anyhow!("--year: {year} is out of range"))?;
            writeln!(out, "year {year}: {} working days, {} rest days", y.working_days, y.rest_days)?;
            match cal.working_hours() {
                Some(h) => writeln!(out, "working hours: {h} ({})", cal.time_zone().iana_name().unwrap_or("local time"))?,
                None => writeln!(out, "open around the clock (24x7): holidays and hours are not counted")?,
            }
            for d in &y.holidays {
                writeln!(out, "{}  holiday  {}", d.date, d.name)?;
            }
            for d in &y.make_up_working_days {
                writeln!(out, "{}  workday  {}", d.date, d.name)?;
            }
            for w in y.warnings.iter().chain(cal.warnings_at(now).iter().filter(|w| !y.warnings.contains(w))) {
                writeln!(out, "warning: {w}")?;
            }
        }
        CalendarCmd::Sweep { at } => {
            let at = match at {
                None => svc.now(),
                Some(s) => Timestamp::parse_rfc3339(&s)
                    .ok_or_else(|| anyhow!("--at: expected an RFC 3339 time such as 2026-03-02T09:00:00+08:00"))?,
            };
            let started = std::time::Instant::now();
            let r = fengqiao_store::Scheduler::new(std::sync::Arc::clone(svc)).run_due(at).await.map_err(|e| anyhow!("{e}"))?;
            let ms = started.elapsed().as_secs_f64() * 1000.0;
            let count = |p: &str| r.done.iter().filter(|d| d.kind.starts_with(p)).count();
            let escalated = r.done.iter().filter(|d| d.outcome.starts_with("escalated")).count();
            writeln!(
                out,
                "swept at {}: {} jobs ({} reminders, {} missed deadlines of which {escalated} escalated), {} already done, {} failed, in {ms:.1} ms",
                at.to_rfc3339_in(svc.calendar().time_zone()),
                r.done.len(),
                count("reminder_"),
                count("breach_"),
                r.already_done,
                r.failed.len()
            )?;
            for f in &r.failed {
                eprintln!("failed: {f}");
            }
        }
    }
    Ok(())
}

//! `fengqiao calendar`: load an official holiday schedule, show a year's working days.

use std::io::Write;

use anyhow::{Context, anyhow};
use clap::Subcommand;
use fengqiao_domain::{Actor, DomainError};
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
}

pub async fn run(svc: &Service, cmd: CalendarCmd, out: &mut impl Write) -> anyhow::Result<()> {
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
    }
    Ok(())
}

//! The deadline scheduler: a sweep, run inside the server every `interval_secs`, that sends
//! reminders before a deadline, notices when one is missed, and escalates a case up the ladder
//! when its configuration says a missed deadline should.
//!
//! Jobs are rows of the `jobs` table keyed by (kind, case, due time). A job's row is inserted
//! in the same transaction as its effect (the escalation's events, the inbox messages), so a
//! job runs at most once for a due time whatever the number of servers and restarts; a moved
//! deadline is a new due time and so a new job. The sweep reads open cases by due time on
//! indexes of `(status, deadline)` and resumes after a restart from `swept_to`, looking back
//! `catch_up_hours` for anything the last run left. Tests step it with [`Scheduler::run_due`].

use std::sync::Arc;

use fengqiao_domain::alert::Alert;
use fengqiao_domain::escalation::Deadline;
use fengqiao_domain::perception::PerceptionRun;
use fengqiao_domain::{Actor, Command, Timestamp};
use serde::{Deserialize, Serialize};

use crate::{InboxItem, JobCommit, JobRun, Scope, Service, StoreError};

/// How the scheduler runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SchedulerConfig {
    /// Run the sweep inside `serve`.
    pub enabled: bool,
    /// Seconds between sweeps.
    pub interval_secs: u64,
    /// How long before a deadline its reminder is sent.
    pub reminder_lead_minutes: u32,
    /// How far back a sweep looks before where the last one stopped (and, on the very first
    /// run, before now): breaches older than that are not acted on after a long outage.
    pub catch_up_hours: u32,
    /// Most jobs of one kind per sweep; the rest wait for the next.
    pub batch: i64,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig { enabled: true, interval_secs: 60, reminder_lead_minutes: 120, catch_up_hours: 72, batch: 1000 }
    }
}

/// One job that ran.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobDone {
    pub kind: String,
    pub case_id: i64,
    pub due_at: Timestamp,
    pub outcome: String,
}

/// What a sweep did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SweepReport {
    pub done: Vec<JobDone>,
    /// Jobs another server (or an earlier sweep) had already run.
    pub already_done: u64,
    /// Jobs that failed (they are retried by the next sweep while in its window).
    pub failed: Vec<String>,
}

pub struct Scheduler {
    svc: Arc<Service>,
}

const SYSTEM_JOB: &str = "deadline";

impl Scheduler {
    pub fn new(svc: Arc<Service>) -> Scheduler {
        Scheduler { svc }
    }

    /// Runs every job due at `now` and returns what it did.
    pub async fn run_due(&self, now: Timestamp) -> Result<SweepReport, StoreError> {
        let cfg = &self.svc.config.scheduler;
        let store = &self.svc.store;
        let lookback = cfg.catch_up_hours as i64 * fengqiao_domain::clock::HOUR_MS;
        let from = store.swept_to().await?.unwrap_or(now).plus_ms(-lookback).min(now);
        let lead = cfg.reminder_lead_minutes as i64 * 60_000;
        let mut report = SweepReport::default();
        for deadline in Deadline::ALL {
            // Missed: due in [from, now). A deadline at now is not missed yet.
            let kind = format!("breach_{}", deadline.as_str());
            for due in store.due_cases(deadline, from, now, &kind, cfg.batch).await? {
                match self.breach(deadline, &kind, due.id, due.due, now).await {
                    Ok(Some(done)) => report.done.push(done),
                    Ok(None) => report.already_done += 1,
                    Err(e) => report.failed.push(format!("{kind} case {}: {e}", due.id.0)),
                }
            }
            // Coming up: due in [now, now + lead).
            if lead > 0 {
                let kind = format!("reminder_{}", deadline.as_str());
                for due in store.due_cases(deadline, now, now.plus_ms(lead), &kind, cfg.batch).await? {
                    let Some(unit) = due.lead_unit else { continue };
                    let cal = self.svc.calendar();
                    let message = format!(
                        "案件 #{} 的{}期限将于 {} 到期 / the {} deadline of case #{} is at {}",
                        due.id.0,
                        zh(deadline),
                        due.due.to_rfc3339_in(cal.time_zone()),
                        deadline.as_str(),
                        due.id.0,
                        due.due.to_rfc3339_in(cal.time_zone())
                    );
                    let outcome = format!("reminded unit:{unit}");
                    let notice = notice(format!("unit:{unit}"), due.id.0, "reminder", message, due.due, now);
                    let job = JobRun { kind: kind.clone(), case_id: due.id.0, due_at: due.due, done_at: now, outcome: outcome.clone() };
                    match store.run_job(&job, None, &[notice]).await {
                        Ok(true) => report.done.push(JobDone { kind: kind.clone(), case_id: due.id.0, due_at: due.due, outcome }),
                        Ok(false) => report.already_done += 1,
                        Err(e) => report.failed.push(format!("{kind} case {}: {e}", due.id.0)),
                    }
                }
            }
        }
        self.follow_orders(from, now, lead, &mut report).await?;
        // Mediation: agreement terms past due, confirmation windows closing soon.
        self.svc.remind_mediations(from, now, &mut report).await?;
        store.set_swept_to(now).await?;
        if !report.done.is_empty() || !report.failed.is_empty() {
            tracing::info!(done = report.done.len(), already_done = report.already_done, failed = report.failed.len(), "deadline sweep");
        }
        Ok(report)
    }

    /// A missed deadline: escalate when the ladder says so and a unit above is found, else
    /// tell the lead unit. `Ok(None)` when the job had already run.
    async fn breach(
        &self,
        deadline: Deadline,
        kind: &str,
        id: fengqiao_domain::CaseId,
        due: Timestamp,
        now: Timestamp,
    ) -> Result<Option<JobDone>, StoreError> {
        let svc = &self.svc;
        let Some(case) = svc.store.case(&Scope::All, id).await? else { return Ok(None) };
        // Read again: the case may have moved on since the query.
        if deadline.running(&case) != Some(due) {
            return Ok(None);
        }
        let r = svc.reference();
        let unit = case.lead_unit.clone().map(|u| format!("unit:{u}"));
        let when = due.to_rfc3339_in(r.calendar.time_zone());
        let mut notices = Vec::new();
        let mut commit = None;
        let mut outcome = String::from("noticed");
        let target = if svc.config.ladder.escalates_on(&case, deadline) { svc.config.ladder.target(&case, r.units.values()) } else { None };
        if let Some((tier, to)) = target {
            let actor = Actor::System { job: SYSTEM_JOB.into() };
            let reason = format!("{}期限 {} 已过，自动升级 / the {} deadline ({when}) was missed", zh(deadline), when, deadline.as_str());
            let cmd = Command::Escalate { to: to.clone(), tier, reason };
            let (events, state) = svc.decide(&r, &case, &actor, &cmd, now)?;
            let msg = format!(
                "案件 #{} 已自动升级至{} / case #{} was escalated to {} ({}) after its {} deadline was missed",
                id.0,
                to,
                id.0,
                to,
                tier,
                deadline.as_str()
            );
            notices.push(notice(format!("unit:{to}"), id.0, "escalation", msg.clone(), due, now));
            if let Some(u) = &unit {
                notices.push(notice(u.clone(), id.0, "escalation", msg, due, now));
            }
            outcome = format!("escalated to {to} ({tier})");
            commit = Some(JobCommit { expected_version: case.version, events, state });
        } else if let Some(u) = &unit {
            let msg = format!(
                "案件 #{} 的{}期限 {} 已过 / the {} deadline of case #{} ({when}) was missed",
                id.0,
                zh(deadline),
                when,
                deadline.as_str(),
                id.0
            );
            notices.push(notice(u.clone(), id.0, "breach", msg, due, now));
            outcome = format!("noticed {u}");
        }
        let job = JobRun { kind: kind.to_string(), case_id: id.0, due_at: due, done_at: now, outcome: outcome.clone() };
        if !svc.store.run_job(&job, commit.as_ref(), &notices).await? {
            return Ok(None);
        }
        if let Some(c) = &commit {
            svc.note_written(c.events.len()).await;
        }
        Ok(Some(JobDone { kind: kind.to_string(), case_id: id.0, due_at: due, outcome }))
    }

    /// Follows open supervision orders: a reminder to the addressed unit before the deadline,
    /// and when it passes unanswered, a notice to the unit and to whoever issued the order.
    /// These jobs are keyed by the order's id in the `case_id` column (their kinds,
    /// `order_reminder` and `order_overdue`, tell them apart from case jobs).
    async fn follow_orders(&self, from: Timestamp, now: Timestamp, lead: i64, report: &mut SweepReport) -> Result<(), StoreError> {
        let (svc, batch) = (&self.svc, self.svc.config.scheduler.batch);
        let tz = svc.calendar().time_zone().clone();
        let windows = [("order_overdue", from, now), ("order_reminder", now, now.plus_ms(lead))];
        for (kind, a, b) in windows {
            if b <= a {
                continue;
            }
            let filter = crate::OrderFilter { open_due: Some((a, b)), limit: batch, ..Default::default() };
            for o in svc.store.orders(&Scope::All, &filter).await? {
                let about = o.case_id.map(|c| format!("（案件 #{0} / case #{0}）", c.0)).unwrap_or_default();
                let when = o.due.to_rfc3339_in(&tz);
                let (message, mut to) = if kind == "order_overdue" {
                    (
                        format!("督办件 #{}{about} 已超过答复期限 {when} / supervision order #{} is past its deadline {when}", o.id, o.id),
                        vec![format!("unit:{}", o.unit)],
                    )
                } else {
                    (
                        format!("督办件 #{}{about} 将于 {when} 到期，请及时答复 / supervision order #{} is due at {when}", o.id, o.id),
                        vec![format!("unit:{}", o.unit)],
                    )
                };
                if kind == "order_overdue" && o.issued_by.starts_with("user:") {
                    to.push(o.issued_by.clone());
                }
                let notices: Vec<InboxItem> = to
                    .iter()
                    .map(|r| InboxItem {
                        id: 0,
                        recipient: r.clone(),
                        case_id: o.case_id.map(|c| c.0),
                        kind: kind.into(),
                        message: message.clone(),
                        due_at: Some(o.due),
                        created_at: now,
                    })
                    .collect();
                let outcome = format!("noticed {}", to.join(", "));
                let job = JobRun { kind: kind.into(), case_id: o.id, due_at: o.due, done_at: now, outcome: outcome.clone() };
                match svc.store.run_job(&job, None, &notices).await {
                    Ok(true) => report.done.push(JobDone { kind: kind.into(), case_id: o.id, due_at: o.due, outcome }),
                    Ok(false) => report.already_done += 1,
                    Err(e) => report.failed.push(format!("{kind} order {}: {e}", o.id)),
                }
            }
        }
        Ok(())
    }

    /// Runs the analytics if one is due at `now`, and returns it with the alerts it raised:
    ///
    /// - the nightly full run, at `analytics.full_at_hour` local time, once per due time
    ///   whatever the number of servers (claimed as the job `analytics_full` keyed by its due
    ///   time, like the deadline jobs; a server started after a missed night runs it at once);
    /// - else a fresh run when cases have arrived since the newest run and that run is at least
    ///   `analytics.every_minutes` old (0: only the nightly run).
    ///
    /// Raising alerts twice is harmless: an alert whose condition is already live is not
    /// stored again.
    pub async fn run_analytics(&self, now: Timestamp) -> Result<Option<(PerceptionRun, Vec<Alert>)>, StoreError> {
        let svc = &self.svc;
        let cfg = &svc.config.analytics;
        let tz = svc.calendar().time_zone().clone();
        let at_hour = |d: jiff::civil::Date| {
            fengqiao_domain::clock::start_of_day(d, &tz).map(|t| t.plus_ms(cfg.full_at_hour as i64 * fengqiao_domain::clock::HOUR_MS))
        };
        let today = now.local_date(&tz);
        let due = today.and_then(at_hour).and_then(|d| if d <= now { Some(d) } else { today?.yesterday().ok().and_then(at_hour) });
        if let Some(due) = due {
            let job = JobRun { kind: "analytics_full".into(), case_id: 0, due_at: due, done_at: now, outcome: "full analytics run".into() };
            if svc.store.run_job(&job, None, &[]).await? {
                return svc.run_perception(now).await.map(Some);
            }
        }
        let every = cfg.every_minutes as i64 * 60_000;
        if every == 0 {
            return Ok(None);
        }
        match svc.store.perception_run().await? {
            Some(last) if now.0 - last.at.0 < every => Ok(None),
            // An empty cube: only the newest case id.
            Some(last) if svc.store.case_cube(&Scope::All, now, 1, 0).await?.max_case_id <= last.max_case_id => Ok(None),
            _ => svc.run_perception(now).await.map(Some),
        }
    }

    /// Runs the sweep every `interval_secs` on the service's clock until the task is dropped.
    pub fn spawn(self) -> tokio::task::JoinHandle<()> {
        let every = std::time::Duration::from_secs(self.svc.config.scheduler.interval_secs.max(1));
        // The analytics in a task of their own: a full run over many cases takes a while and
        // must not hold up the deadline sweep.
        let analytics = Scheduler::new(self.svc.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if let Err(e) = analytics.run_analytics(analytics.svc.now()).await {
                    tracing::warn!(error = %e, "the analytics run failed; retrying at the next tick");
                }
            }
        });
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            // Early warnings: evaluated every `warnings.every_minutes`, from the first tick.
            let mut warned_at: Option<Timestamp> = None;
            loop {
                tick.tick().await;
                let warn_every = self.svc.config.warnings.every_minutes as i64 * 60_000;
                let now = self.svc.now();
                if warn_every > 0 && warned_at.is_none_or(|t| now.0 - t.0 >= warn_every) {
                    warned_at = Some(now);
                    match self.svc.evaluate_alerts(now).await {
                        Ok(raised) if !raised.is_empty() => tracing::info!(alerts = raised.len(), "early warnings raised"),
                        Ok(_) => {}
                        Err(e) => tracing::warn!(error = %e, "the early-warning evaluation failed; retrying at the next interval"),
                    }
                }
                if let Err(e) = self.run_due(self.svc.now()).await {
                    tracing::warn!(error = %e, "the deadline sweep failed; retrying at the next tick");
                }
                // Then the webhooks and e-mail that are due, including what the sweep queued.
                if let Err(e) = crate::webhooks::Outbound::new(self.svc.clone()).run_due(self.svc.now()).await {
                    tracing::warn!(error = %e, "outbound delivery failed; retrying at the next tick");
                }
            }
        })
    }
}

fn zh(d: Deadline) -> &'static str {
    match d {
        Deadline::Response => "响应",
        Deadline::Handling => "办理",
        Deadline::Visit => "回访",
        Deadline::Tier => "本级办理",
    }
}

fn notice(recipient: String, case_id: i64, kind: &str, message: String, due: Timestamp, now: Timestamp) -> InboxItem {
    InboxItem { id: 0, recipient, case_id: Some(case_id), kind: kind.into(), message, due_at: Some(due), created_at: now }
}

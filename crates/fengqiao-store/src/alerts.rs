//! Early warnings in the running service: evaluating the rules at a time, telling the
//! supervisors over the place, and acknowledging and closing alerts within jurisdiction.

use fengqiao_domain::alert::{Alert, AlertCommand, AlertCounts, AlertKind, AlertStatus};
use fengqiao_domain::{Actor, CategoryKind, Role, Timestamp};

use crate::{InboxItem, Scope, Service, StoreError};

/// Which alerts to list (within the reader's scope).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AlertFilter {
    pub status: Option<AlertStatus>,
    pub kind: Option<AlertKind>,
    /// A region code: alerts in its subtree.
    pub region: Option<String>,
    pub limit: i64,
}

/// Alerts are for supervisors and administrators, in their jurisdiction; the evaluator (a
/// system actor) sees all; anyone else sees none.
pub fn alert_scope(actor: &Actor) -> Scope {
    match actor {
        Actor::System { .. } => Scope::All,
        Actor::User { role: Role::Supervisor | Role::Admin, .. } => Scope::for_actor(actor),
        _ => Scope::Nothing,
    }
}

impl Service {
    /// Runs the warning rules at `now` and stores the alerts not already live, each with an
    /// inbox message to every supervisor whose jurisdiction covers its place. Returns the new
    /// alerts. Running it again at the same state raises nothing.
    pub async fn evaluate_alerts(&self, now: Timestamp) -> Result<Vec<Alert>, StoreError> {
        let rules = &self.config.warnings;
        let r = self.reference();
        let mut disputes: Vec<String> = r.categories.values().filter(|c| c.kind == CategoryKind::Dispute).map(|c| c.code.clone()).collect();
        disputes.sort();
        let facts = self.store.alert_facts(now, rules.parties_since(now), &disputes).await?;
        self.raise(now, rules.evaluate(now, &facts)).await
    }

    /// Stores the alerts not already live, each with an inbox message to every supervisor
    /// whose jurisdiction covers its place. Returns the new alerts.
    pub(crate) async fn raise(&self, now: Timestamp, found: Vec<Alert>) -> Result<Vec<Alert>, StoreError> {
        if found.is_empty() {
            return Ok(found);
        }
        let users = self.store.users().await?;
        let batch: Vec<(Alert, Vec<InboxItem>)> = found
            .into_iter()
            .map(|a| {
                let mut to: Vec<String> = users
                    .iter()
                    .filter(|u| u.role == Role::Supervisor && u.jurisdiction.contains(&a.region))
                    .map(|u| format!("user:{}", u.id))
                    .collect();
                to.sort();
                let notices = to
                    .into_iter()
                    .map(|recipient| InboxItem {
                        id: 0,
                        recipient,
                        case_id: None,
                        kind: "early_warning".into(),
                        message: format!("预警 Early warning {}: {}", a.region, a.summary),
                        due_at: None,
                        created_at: now,
                    })
                    .collect();
                (a, notices)
            })
            .collect();
        self.store.raise_alerts(&batch, "system:warnings", now).await
    }

    /// An alert the actor may see.
    pub async fn alert(&self, actor: &Actor, id: i64) -> Result<Alert, StoreError> {
        self.store.alert(&alert_scope(actor), id).await?.ok_or(StoreError::NotFound)
    }

    /// Alerts the actor may see, newest first.
    pub async fn alerts(&self, actor: &Actor, filter: &AlertFilter) -> Result<Vec<Alert>, StoreError> {
        self.store.alerts(&alert_scope(actor), filter).await
    }

    /// Acknowledges or closes an alert the actor may see, optionally only at `expected_version`.
    pub async fn act_alert(&self, actor: &Actor, id: i64, expected_version: Option<i64>, cmd: &AlertCommand) -> Result<Alert, StoreError> {
        let mut a = self.alert(actor, id).await?;
        let version = a.version;
        if let Some(v) = expected_version
            && v != version
        {
            return Err(StoreError::Conflict { current: version });
        }
        let now = self.now();
        let event = a.act(actor, cmd, now)?;
        self.store.save_alert(&a, version, event, &actor.label(), now).await
    }

    /// Alerts raised and closed in `[from, to)` and live now, in the actor's scope, narrowed to
    /// `region`'s subtree when given (a region outside the scope counts nothing).
    pub async fn alert_figures(
        &self,
        actor: &Actor,
        region: Option<&fengqiao_domain::RegionCode>,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<AlertCounts, StoreError> {
        let scope = match (alert_scope(actor), region) {
            (scope, None) => scope,
            (Scope::All, Some(r)) => Scope::Region { prefix: r.prefix().to_string() },
            (Scope::Region { prefix }, Some(r)) if r.prefix().starts_with(&prefix) => Scope::Region { prefix: r.prefix().to_string() },
            (Scope::Region { prefix }, Some(r)) if prefix.starts_with(r.prefix()) => Scope::Region { prefix },
            _ => Scope::Nothing,
        };
        self.store.alert_counts(&scope, from, to).await
    }
}

/// One place's reach over a period.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PlaceReach {
    pub region: String,
    pub name: String,
    pub population: u32,
    /// Cases reported in the place or below it.
    pub reports: i64,
    /// Reports per 1,000 residents (`None` without a population).
    pub per_1000: Option<f64>,
    /// Enough residents and no report: a quiet place may be an unheard one.
    pub silent: bool,
    pub by_channel: std::collections::BTreeMap<String, i64>,
}

/// Reports by channel over the whole jurisdiction.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ChannelReach {
    pub channel: String,
    pub reports: i64,
    /// Per 1,000 residents of the jurisdiction.
    pub per_1000: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Reach {
    pub from: Timestamp,
    pub to: Timestamp,
    pub level: fengqiao_domain::RegionLevel,
    pub population: u64,
    pub reports: i64,
    pub silent_min_population: u32,
    pub grids: Vec<PlaceReach>,
    pub channels: Vec<ChannelReach>,
}

fn per_1000(reports: i64, population: u64) -> Option<f64> {
    (population > 0).then(|| reports as f64 * 1000.0 / population as f64)
}

impl Service {
    /// Reports per 1,000 residents by place (grids, or another level) and by channel over
    /// `[from, to)` in a supervisor's jurisdiction, silent places flagged.
    pub async fn reach(
        &self,
        actor: &Actor,
        level: fengqiao_domain::RegionLevel,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Reach, StoreError> {
        let root = match actor {
            Actor::User { role: Role::Supervisor | Role::Admin, jurisdiction, .. } => jurisdiction.clone(),
            _ => return Err(fengqiao_domain::DomainError::Forbidden("reach is for supervisors and administrators".into()).into()),
        };
        let r = self.reference();
        let rows = self.store.reports_by_region_channel(&alert_scope(actor), from, to).await?;
        let mut places: Vec<&fengqiao_domain::Region> =
            r.regions.values().filter(|g| g.level() == level && root.contains(&g.code)).collect();
        places.sort_by(|a, b| a.code.cmp(&b.code));
        let min = self.config.warnings.silent_min_population;
        let grids = places
            .into_iter()
            .map(|g| {
                let mut by_channel = std::collections::BTreeMap::new();
                for (region, channel, n) in &rows {
                    if region.starts_with(g.code.prefix()) {
                        *by_channel.entry(channel.clone()).or_insert(0) += n;
                    }
                }
                let reports: i64 = by_channel.values().sum();
                PlaceReach {
                    region: g.code.as_str().to_string(),
                    name: g.name.clone(),
                    population: g.population,
                    reports,
                    per_1000: per_1000(reports, g.population as u64),
                    silent: reports == 0 && g.population >= min && g.population > 0,
                    by_channel,
                }
            })
            .collect();
        let population = r.regions.get(root.as_str()).map(|g| g.population as u64).unwrap_or(0);
        let mut by_channel: std::collections::BTreeMap<String, i64> = std::collections::BTreeMap::new();
        for (_, channel, n) in &rows {
            *by_channel.entry(channel.clone()).or_insert(0) += n;
        }
        let reports = by_channel.values().sum();
        let channels = by_channel
            .into_iter()
            .map(|(channel, reports)| ChannelReach { channel, reports, per_1000: per_1000(reports, population) })
            .collect();
        Ok(Reach { from, to, level, population, reports, silent_min_population: min, grids, channels })
    }
}

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
        let facts = self.store.alert_facts(now, rules.parties_since(now), &disputes, rules.burst_since(now)).await?;
        let found = rules.evaluate(now, &facts);
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

    /// Alerts raised and closed in `[from, to)` and live now, in the actor's scope.
    pub async fn alert_figures(&self, actor: &Actor, from: Timestamp, to: Timestamp) -> Result<AlertCounts, StoreError> {
        self.store.alert_counts(&alert_scope(actor), from, to).await
    }
}

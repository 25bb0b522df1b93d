//! Staff accounts, roles and the actor a command is attributed to.

use serde::{Deserialize, Serialize};

use crate::region::RegionCode;
use crate::unit::UnitId;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Intake staff, hotline operators, grid workers and community police officers: record
    /// cases, file and dispatch them, make return visits.
    Intake,
    /// Staff of a handling unit: accept, handle, transfer, resolve.
    Handler,
    /// A mediator: handles disputes like a handler.
    Mediator,
    /// Station chief, town or county political-legal office: approves, escalates, reopens,
    /// reads figures for the supervised subtree.
    Supervisor,
    /// Configures regions, units, users and categories; may act as a supervisor.
    Admin,
}

impl Role {
    pub const ALL: [Role; 5] = [Role::Intake, Role::Handler, Role::Mediator, Role::Supervisor, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Intake => "intake",
            Role::Handler => "handler",
            Role::Mediator => "mediator",
            Role::Supervisor => "supervisor",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    pub fn handles(self) -> bool {
        matches!(self, Role::Handler | Role::Mediator)
    }

    pub fn supervises(self) -> bool {
        matches!(self, Role::Supervisor | Role::Admin)
    }

    /// Whether this role sees personal data (phones, ID numbers) unmasked.
    pub fn sees_personal_data(self) -> bool {
        matches!(self, Role::Intake | Role::Mediator | Role::Supervisor | Role::Admin)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    pub id: String,
    pub name: String,
    pub role: Role,
    /// The unit the user works for, if any.
    pub unit: Option<UnitId>,
    /// The root of the region subtree the user may see and act in.
    pub jurisdiction: RegionCode,
}

/// Who issued a command: a signed-in user, a resident (by tracking code), or the system itself
/// (the scheduler, an import).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Actor {
    User { id: String, role: Role, unit: Option<UnitId>, jurisdiction: RegionCode },
    Resident,
    System { job: String },
}

impl Actor {
    pub fn from_user(u: &User) -> Actor {
        Actor::User { id: u.id.clone(), role: u.role, unit: u.unit.clone(), jurisdiction: u.jurisdiction.clone() }
    }

    /// A short attribution for the event log: `user:ID`, `resident`, `system:JOB`.
    pub fn label(&self) -> String {
        match self {
            Actor::User { id, .. } => format!("user:{id}"),
            Actor::Resident => "resident".into(),
            Actor::System { job } => format!("system:{job}"),
        }
    }

    pub fn role(&self) -> Option<Role> {
        match self {
            Actor::User { role, .. } => Some(*role),
            _ => None,
        }
    }

    pub fn unit(&self) -> Option<&UnitId> {
        match self {
            Actor::User { unit, .. } => unit.as_ref(),
            _ => None,
        }
    }
}

//! The language of the field: regions, units, users, categories, cases and their lifecycle,
//! the tamper-evident event chain and the closed-loop figures.
//!
//! Invariant: this crate does no IO and has no async. Everything here is a function of its
//! arguments (time comes in as a [`Timestamp`] from the caller's clock), so it cannot fail for
//! reasons outside itself and every rule can be tested exhaustively.

pub mod audit;
pub mod calendar;
pub mod case;
pub mod category;
pub mod clock;
pub mod duty;
pub mod error;
pub mod escalation;
pub mod figures;
pub mod gazetteer;
pub mod geo;
pub mod geoindex;
pub mod geojson;
pub mod lifecycle;
pub mod mediation;
pub mod person;
pub mod region;
pub mod routing;
pub mod supervision;
pub mod unit;
pub mod user;
// Residents by phone and community consultation.
pub mod consultation;
pub mod resident;
// Problem-solving records (SARA) and outbound notifications.
pub mod problem;
pub mod webhook;

pub use calendar::{Calendar, Span};
pub use case::*;
pub use category::{Category, CategoryKind, DeadlinePolicy, Sla};
pub use clock::{Clock, ManualClock, SystemClock, Timestamp};
pub use error::DomainError;
pub use geo::Point;
pub use lifecycle::{Command, EventKind, LifecycleConfig};
pub use person::{IdentityKey, PersonInput};
pub use region::{Region, RegionCode, RegionLevel};
pub use unit::{Unit, UnitId, UnitKind};
pub use user::{Actor, Role, User};
// Early warnings.
pub mod alert;
pub mod perception;

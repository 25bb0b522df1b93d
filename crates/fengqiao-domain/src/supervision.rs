//! Supervision orders (督办): a supervisor requires a unit to act on a case, or on a matter of
//! its own, by a deadline; the unit must answer; the supervisor accepts the answer (closing the
//! order) or returns it. Open and overdue orders feed the figures.
//!
//! ```text
//! issue ─▶ open ─answer─▶ answered ─accept─▶ closed
//!           ▲                 │
//!           └────return───────┘
//! ```

use serde::{Deserialize, Serialize};

use crate::case::CaseId;
use crate::clock::Timestamp;
use crate::error::DomainError;
use crate::region::RegionCode;
use crate::unit::UnitId;
use crate::user::Actor;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    Open,
    Answered,
    Closed,
}

impl OrderStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Open => "open",
            OrderStatus::Answered => "answered",
            OrderStatus::Closed => "closed",
        }
    }

    pub fn parse(s: &str) -> Option<OrderStatus> {
        [OrderStatus::Open, OrderStatus::Answered, OrderStatus::Closed].into_iter().find(|x| x.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderAnswer {
    pub by: String,
    pub at: Timestamp,
    pub text: String,
}

/// One supervision order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SupervisionOrder {
    pub id: i64,
    /// The case it concerns, or `None` for an order on a unit's work in general.
    pub case_id: Option<CaseId>,
    /// The unit that must answer: the case's lead unit when issued, or the unit named.
    pub unit: UnitId,
    /// Where it belongs, for scoping: the case's region, or the unit's.
    pub region: RegionCode,
    pub issued_by: String,
    pub issued_at: Timestamp,
    pub due: Timestamp,
    pub note: String,
    pub status: OrderStatus,
    pub answers: Vec<OrderAnswer>,
    /// When the first answer came (on-time answers are those by `due`).
    pub first_answered_at: Option<Timestamp>,
    pub closed_at: Option<Timestamp>,
    pub close_note: Option<String>,
    /// Incremented by every change; the optimistic-concurrency token.
    pub version: i64,
}

/// What may be done to an order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum OrderCommand {
    Answer {
        text: String,
    },
    /// The issuer's side: accept the answer (close) or return it for more work.
    Review {
        accept: bool,
        note: Option<String>,
    },
}

fn text_field(field: &str, s: &str, what: &str) -> Result<String, DomainError> {
    let t = s.trim();
    if t.is_empty() {
        Err(DomainError::invalid(field, what.to_string()))
    } else if t.chars().count() > 2000 {
        Err(DomainError::invalid(field, "at most 2000 characters"))
    } else {
        Ok(t.to_string())
    }
}

impl SupervisionOrder {
    /// A new order, checked: only supervisors and administrators issue, within their
    /// jurisdiction, with a note and a deadline in the future.
    #[allow(clippy::too_many_arguments)]
    pub fn issue(
        actor: &Actor,
        case_id: Option<CaseId>,
        unit: UnitId,
        region: RegionCode,
        due: Timestamp,
        note: &str,
        now: Timestamp,
    ) -> Result<SupervisionOrder, DomainError> {
        let Actor::User { role, jurisdiction, .. } = actor else {
            return Err(DomainError::Forbidden("only staff issue supervision orders".into()));
        };
        if !role.supervises() {
            return Err(DomainError::Forbidden(format!("a {} may not issue supervision orders", role.as_str())));
        }
        if !jurisdiction.contains(&region) {
            return Err(DomainError::Forbidden("the target lies outside your jurisdiction".into()));
        }
        let note = text_field("note", note, "say what must be done")?;
        if due <= now {
            return Err(DomainError::invalid("due", "the deadline must be in the future"));
        }
        Ok(SupervisionOrder {
            id: 0,
            case_id,
            unit,
            region,
            issued_by: actor.label(),
            issued_at: now,
            due,
            note,
            status: OrderStatus::Open,
            answers: Vec::new(),
            first_answered_at: None,
            closed_at: None,
            close_note: None,
            version: 1,
        })
    }

    /// Applies a command, returning the audit event's kind.
    pub fn act(&mut self, actor: &Actor, cmd: &OrderCommand, now: Timestamp) -> Result<&'static str, DomainError> {
        let Actor::User { role, unit, .. } = actor else {
            return Err(DomainError::Forbidden("only staff act on supervision orders".into()));
        };
        match cmd {
            OrderCommand::Answer { text } => {
                // Only the unit's own staff: a supervisor answering would be supervising itself.
                let ours = role.handles() && unit.as_ref() == Some(&self.unit);
                if !ours {
                    return Err(DomainError::Forbidden("only the unit the order names may answer it".into()));
                }
                if self.status != OrderStatus::Open {
                    return Err(DomainError::IllegalTransition { command: "answer", status: self.status.as_str() });
                }
                let text = text_field("text", text, "say what was done")?;
                self.answers.push(OrderAnswer { by: actor.label(), at: now, text });
                self.first_answered_at.get_or_insert(now);
                self.status = OrderStatus::Answered;
                self.version += 1;
                Ok("supervision_answered")
            }
            OrderCommand::Review { accept, note } => {
                if !role.supervises() {
                    return Err(DomainError::Forbidden("only a supervisor reviews an answer".into()));
                }
                if self.status != OrderStatus::Answered {
                    return Err(DomainError::IllegalTransition { command: "review", status: self.status.as_str() });
                }
                let note = note.as_deref().map(|n| text_field("note", n, "give a note")).transpose()?;
                if !*accept && note.is_none() {
                    return Err(DomainError::invalid("note", "say why the answer is returned"));
                }
                // Checked in full above: a refused command changes nothing.
                self.version += 1;
                if *accept {
                    self.status = OrderStatus::Closed;
                    self.closed_at = Some(now);
                    self.close_note = note;
                    Ok("supervision_closed")
                } else {
                    self.status = OrderStatus::Open;
                    self.close_note = note;
                    Ok("supervision_returned")
                }
            }
        }
    }

    /// Unanswered past its deadline.
    pub fn overdue(&self, now: Timestamp) -> bool {
        self.status == OrderStatus::Open && now > self.due
    }
}

/// Supervision orders issued in a period, for the figures.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderCounts {
    pub issued: i64,
    /// Still waiting for the unit's answer.
    pub open: i64,
    /// Open and past the deadline now.
    pub overdue: i64,
    /// First answered by the deadline.
    pub answered_on_time: i64,
    pub answered_late: i64,
    pub closed: i64,
}

impl OrderCounts {
    pub fn of<'a>(orders: impl IntoIterator<Item = &'a SupervisionOrder>, now: Timestamp) -> OrderCounts {
        let mut c = OrderCounts::default();
        for o in orders {
            c.issued += 1;
            match o.status {
                OrderStatus::Open => c.open += 1,
                OrderStatus::Closed => c.closed += 1,
                OrderStatus::Answered => {}
            }
            if o.overdue(now) {
                c.overdue += 1;
            }
            match o.first_answered_at {
                Some(a) if a <= o.due => c.answered_on_time += 1,
                Some(_) => c.answered_late += 1,
                None => {}
            }
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::HOUR_MS;
    use crate::user::Role;

    fn user(role: Role, unit: Option<&str>) -> Actor {
        Actor::User { id: "u".into(), role, unit: unit.map(|u| UnitId(u.into())), jurisdiction: RegionCode::parse("330681101000").unwrap() }
    }

    #[test]
    fn an_order_is_answered_reviewed_and_counted() {
        let t0 = Timestamp(1_767_225_600_000);
        let village = RegionCode::parse("330681101001").unwrap();
        let sup = user(Role::Supervisor, None);
        assert!(matches!(
            SupervisionOrder::issue(
                &user(Role::Handler, Some("vc")),
                None,
                UnitId("vc".into()),
                village.clone(),
                t0.plus_hours(24),
                "x",
                t0
            ),
            Err(DomainError::Forbidden(_))
        ));
        let far = RegionCode::parse("330681102001").unwrap();
        assert!(SupervisionOrder::issue(&sup, None, UnitId("vc".into()), far, t0.plus_hours(24), "x", t0).is_err(), "outside jurisdiction");
        assert!(SupervisionOrder::issue(&sup, None, UnitId("vc".into()), village.clone(), t0, "x", t0).is_err(), "due must be ahead");
        assert!(
            SupervisionOrder::issue(&sup, None, UnitId("vc".into()), village.clone(), t0.plus_hours(1), " ", t0).is_err(),
            "a note is needed"
        );
        let mut o =
            SupervisionOrder::issue(&sup, Some(CaseId(7)), UnitId("vc".into()), village, t0.plus_hours(24), "三日内回复整改情况", t0)
                .unwrap();
        // Another unit's handler may not answer; the named unit's may.
        assert!(o.act(&user(Role::Handler, Some("other")), &OrderCommand::Answer { text: "done".into() }, t0).is_err());
        assert!(
            o.act(&user(Role::Supervisor, None), &OrderCommand::Review { accept: true, note: None }, t0).is_err(),
            "nothing to review yet"
        );
        assert_eq!(
            o.act(&user(Role::Handler, Some("vc")), &OrderCommand::Answer { text: "已整改".into() }, t0.plus_hours(2)).unwrap(),
            "supervision_answered"
        );
        // Returned without a note: refused; with one: open again.
        assert!(o.act(&sup, &OrderCommand::Review { accept: false, note: None }, t0.plus_hours(3)).is_err());
        assert_eq!(
            o.act(&sup, &OrderCommand::Review { accept: false, note: Some("缺少照片".into()) }, t0.plus_hours(3)).unwrap(),
            "supervision_returned"
        );
        assert_eq!(o.status, OrderStatus::Open);
        assert!(o.overdue(t0.plus_hours(30)));
        let counts = OrderCounts::of([&o], t0.plus_hours(30));
        assert_eq!((counts.issued, counts.open, counts.overdue, counts.answered_on_time), (1, 1, 1, 1));
        o.act(&user(Role::Handler, Some("vc")), &OrderCommand::Answer { text: "补充照片".into() }, t0.plus_hours(31)).unwrap();
        assert_eq!(o.act(&sup, &OrderCommand::Review { accept: true, note: None }, t0.plus_hours(32)).unwrap(), "supervision_closed");
        assert_eq!((o.status, o.answers.len(), o.version), (OrderStatus::Closed, 2, 5));
        assert!(!o.overdue(t0.plus_hours(100)));
        let late = SupervisionOrder { first_answered_at: Some(t0.plus_ms(48 * HOUR_MS)), ..o.clone() };
        let c = OrderCounts::of([&o, &late], t0.plus_hours(100));
        assert_eq!((c.issued, c.closed, c.answered_on_time, c.answered_late, c.overdue), (2, 2, 1, 1, 0));
    }
}

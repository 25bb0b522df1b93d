//! On-duty rotas (值班表): who in a unit is on duty when. The duty officer of the police unit
//! serving a place is the one alerted at once when a case there reads as violence or
//! self-harm.

use serde::{Deserialize, Serialize};

use crate::clock::{HOUR_MS, Timestamp};
use crate::error::FieldError;
use crate::unit::UnitId;

/// The longest shift accepted: a week, so a typo in a date cannot put someone on duty for a year.
pub const MAX_SHIFT_MS: i64 = 7 * 24 * HOUR_MS;

/// One person on duty for a unit over `[starts_at, ends_at)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DutyShift {
    pub unit: UnitId,
    pub user: String,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
}

/// Checks a unit's rota for `[from, to)` as a whole: every shift starts in the window, ends
/// after it starts and lasts at most a week, and no person has two overlapping shifts. Several
/// people may be on duty at once. Every problem is listed, by index.
pub fn check_rota(from: Timestamp, to: Timestamp, shifts: &[DutyShift]) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if to <= from {
        errs.push(FieldError::new("to", "the window must end after it starts"));
    }
    for (i, s) in shifts.iter().enumerate() {
        if s.starts_at < from || s.starts_at >= to {
            errs.push(FieldError::new(format!("shifts[{i}].starts_at"), "a shift must start inside the window"));
        }
        if s.ends_at <= s.starts_at {
            errs.push(FieldError::new(format!("shifts[{i}].ends_at"), "a shift must end after it starts"));
        } else if s.ends_at.0 - s.starts_at.0 > MAX_SHIFT_MS {
            errs.push(FieldError::new(format!("shifts[{i}].ends_at"), "a shift lasts at most 7 days"));
        }
    }
    let mut order: Vec<usize> = (0..shifts.len()).collect();
    order.sort_by(|&a, &b| (&shifts[a].user, shifts[a].starts_at).cmp(&(&shifts[b].user, shifts[b].starts_at)));
    for w in order.windows(2) {
        let (a, b) = (&shifts[w[0]], &shifts[w[1]]);
        if a.user == b.user && b.starts_at < a.ends_at {
            errs.push(FieldError::new(format!("shifts[{}]", w[1]), format!("{} is already on duty then (shifts[{}])", b.user, w[0])));
        }
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shift(user: &str, from_h: i64, to_h: i64) -> DutyShift {
        DutyShift {
            unit: UnitId("ps".into()),
            user: user.into(),
            starts_at: Timestamp(from_h * HOUR_MS),
            ends_at: Timestamp(to_h * HOUR_MS),
        }
    }

    #[test]
    fn a_rota_is_checked_whole() {
        let (from, to) = (Timestamp(0), Timestamp(24 * 7 * HOUR_MS));
        assert!(
            check_rota(from, to, &[shift("a", 0, 12), shift("b", 0, 12), shift("a", 12, 24)]).is_empty(),
            "two on duty at once is fine"
        );
        let errs =
            check_rota(from, to, &[shift("a", 0, 12), shift("a", 11, 20), shift("b", 5, 5), shift("c", 200, 210), shift("d", 1, 400)]);
        let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["shifts[2].ends_at", "shifts[3].starts_at", "shifts[4].ends_at", "shifts[1]"], "{errs:?}");
        assert_eq!(check_rota(to, from, &[]).len(), 1);
    }
}

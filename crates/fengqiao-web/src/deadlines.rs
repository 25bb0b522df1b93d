//! The business calendar (`GET /api/v1/calendar?year=`) and the in-app inbox of deadline
//! reminders and breach notices (`GET /api/v1/inbox`).

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api::ApiQuery;
use crate::auth::Staff;
use crate::{ApiError, AppState};

#[derive(Deserialize)]
pub struct YearQuery {
    year: Option<String>,
}

/// A year's working and rest days, holidays and make-up working days, the working hours and
/// any warning (a year without holiday data is counted Monday to Friday).
pub async fn calendar(State(st): State<AppState>, _staff: Staff, ApiQuery(q): ApiQuery<YearQuery>) -> Result<Json<Value>, ApiError> {
    let cal = st.svc.calendar();
    let now = st.svc.now();
    // An empty `year=` is a malformed year, not "this year".
    let year = match q.year.as_deref().map(str::trim) {
        None => now.local_date(cal.time_zone()).map(|d| d.year()).unwrap_or(2026),
        Some(s) => s
            .parse::<i16>()
            .ok()
            .filter(|y| (1900..=2200).contains(y))
            .ok_or_else(|| ApiError::invalid("year", "a year between 1900 and 2200"))?,
    };
    let summary = cal.year_summary(year).ok_or_else(|| ApiError::invalid("year", "a year between 1900 and 2200"))?;
    let mut warnings = summary.warnings.clone();
    for w in cal.warnings_at(now) {
        if !warnings.contains(&w) {
            warnings.push(w);
        }
    }
    Ok(Json(json!({
        "year": summary.year,
        "time_zone": cal.time_zone().iana_name(),
        "always_open": cal.is_always_open(),
        "working_hours": cal.working_hours().map(|h| h.to_string()),
        "has_data": summary.has_data,
        "working_days": summary.working_days,
        "rest_days": summary.rest_days,
        "holidays": summary.holidays,
        "make_up_working_days": summary.make_up_working_days,
        "years_with_data": cal.table().years(),
        "warnings": warnings,
    })))
}

#[derive(Deserialize)]
pub struct InboxQuery {
    limit: Option<i64>,
}

/// The newest reminders and notices for the caller and the caller's unit.
pub async fn inbox(State(st): State<AppState>, staff: Staff, ApiQuery(q): ApiQuery<InboxQuery>) -> Result<Json<Value>, ApiError> {
    let limit = q.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::invalid("limit", "between 1 and 500"));
    }
    let mut to = vec![format!("user:{}", staff.user.id)];
    if let Some(u) = &staff.user.unit {
        to.push(format!("unit:{u}"));
    }
    let items = st.svc.store.inbox(&to, limit).await?;
    Ok(Json(json!({ "items": items })))
}

//! `/api/v1/units/{id}/rota`: a unit's on-duty rota, read by its staff and set by an
//! administrator or a supervisor over the unit.

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use fengqiao_domain::clock::DAY_MS;
use fengqiao_domain::duty::DutyShift;
use fengqiao_domain::{Timestamp, UnitId};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api::{ApiJson, ApiQuery, parse_time};
use crate::auth::Staff;
use crate::{ApiError, AppState};

pub fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/units/{id}/rota", get(read).put(save))
}

#[derive(Deserialize)]
struct Window {
    /// RFC 3339, or a local date (its start). Default: the start of today.
    #[serde(default)]
    from: Option<String>,
    /// Default: seven days after `from`.
    #[serde(default)]
    to: Option<String>,
}

fn window(st: &AppState, from: Option<&str>, to: Option<&str>) -> Result<(Timestamp, Timestamp), ApiError> {
    let from = match from.filter(|s| !s.trim().is_empty()) {
        Some(s) => parse_time("from", s, &st.tz)?,
        None => {
            let now = st.svc.now();
            now.local_date(&st.tz).and_then(|d| fengqiao_domain::clock::start_of_day(d, &st.tz)).unwrap_or(now)
        }
    };
    let to = match to.filter(|s| !s.trim().is_empty()) {
        Some(s) => parse_time("to", s, &st.tz)?,
        None => from.plus_ms(7 * DAY_MS),
    };
    if to <= from {
        return Err(ApiError::invalid("to", "the window must end after it starts"));
    }
    if to.0 - from.0 > 62 * DAY_MS {
        return Err(ApiError::invalid("to", "at most 62 days at a time"));
    }
    Ok((from, to))
}

fn view(st: &AppState, unit: &str, from: Timestamp, to: Timestamp, shifts: &[DutyShift]) -> Value {
    let now = st.svc.now();
    json!({
        "unit": unit,
        "from": from.to_rfc3339_in(&st.tz),
        "to": to.to_rfc3339_in(&st.tz),
        "shifts": shifts.iter().map(|s| json!({
            "user": s.user,
            "starts_at": s.starts_at.to_rfc3339_in(&st.tz),
            "ends_at": s.ends_at.to_rfc3339_in(&st.tz),
            "on_duty_now": s.starts_at <= now && now < s.ends_at,
        })).collect::<Vec<_>>(),
    })
}

async fn read(
    State(st): State<AppState>,
    staff: Staff,
    Path(id): Path<String>,
    ApiQuery(w): ApiQuery<Window>,
) -> Result<Json<Value>, ApiError> {
    let (from, to) = window(&st, w.from.as_deref(), w.to.as_deref())?;
    let shifts = st.svc.rota(&staff.actor, &UnitId(id.clone()), from, to).await?;
    Ok(Json(view(&st, &id, from, to, &shifts)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ShiftBody {
    user: String,
    starts_at: String,
    ends_at: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RotaBody {
    from: String,
    to: String,
    shifts: Vec<ShiftBody>,
}

async fn save(
    State(st): State<AppState>,
    staff: Staff,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<RotaBody>,
) -> Result<Json<Value>, ApiError> {
    let (from, to) = window(&st, Some(&b.from), Some(&b.to))?;
    let unit = UnitId(id.clone());
    let mut shifts = Vec::with_capacity(b.shifts.len());
    let mut errs = Vec::new();
    for (i, s) in b.shifts.iter().enumerate() {
        let t = |field: &str, v: &str| {
            Timestamp::parse_rfc3339(v).ok_or_else(|| {
                fengqiao_domain::error::FieldError::new(format!("shifts[{i}].{field}"), "expected an RFC 3339 date-time with its offset")
            })
        };
        match (t("starts_at", &s.starts_at), t("ends_at", &s.ends_at)) {
            (Ok(a), Ok(z)) => shifts.push(DutyShift { unit: unit.clone(), user: s.user.trim().to_string(), starts_at: a, ends_at: z }),
            (a, z) => errs.extend([a.err(), z.err()].into_iter().flatten()),
        }
    }
    if !errs.is_empty() {
        return Err(fengqiao_store::StoreError::Domain(fengqiao_domain::DomainError::Invalid(errs)).into());
    }
    st.svc.save_rota(&staff.actor, &unit, from, to, &shifts).await?;
    let saved = st.svc.rota(&staff.actor, &unit, from, to).await?;
    Ok(Json(view(&st, &id, from, to, &saved)))
}

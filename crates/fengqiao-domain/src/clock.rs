//! Time: one clock abstraction so tests can move time, and a millisecond timestamp type.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use serde::{Deserialize, Serialize};

/// Milliseconds since the Unix epoch, UTC. Stored as an integer in every backend so the two
/// databases cannot disagree about time zones or precision.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(pub i64);

pub const HOUR_MS: i64 = 3_600_000;
pub const DAY_MS: i64 = 24 * HOUR_MS;

impl Timestamp {
    pub fn millis(self) -> i64 {
        self.0
    }
    pub fn plus_ms(self, ms: i64) -> Timestamp {
        Timestamp(self.0.saturating_add(ms))
    }
    pub fn plus_hours(self, h: i64) -> Timestamp {
        self.plus_ms(h * HOUR_MS)
    }
    /// RFC 3339 in UTC, e.g. `2026-03-01T08:00:00Z`.
    pub fn to_rfc3339(self) -> String {
        match jiff::Timestamp::from_millisecond(self.0) {
            Ok(t) => t.to_string(),
            Err(_) => self.0.to_string(),
        }
    }
    /// RFC 3339 in the given IANA zone, e.g. `2026-03-01T16:00:00+08:00`.
    pub fn to_rfc3339_in(self, tz: &jiff::tz::TimeZone) -> String {
        match jiff::Timestamp::from_millisecond(self.0) {
            Ok(t) => t.to_zoned(tz.clone()).strftime("%Y-%m-%dT%H:%M:%S%:z").to_string(),
            Err(_) => self.0.to_string(),
        }
    }
    pub fn parse_rfc3339(s: &str) -> Option<Timestamp> {
        s.parse::<jiff::Timestamp>().ok().map(|t| Timestamp(t.as_millisecond()))
    }
    /// The local calendar date in the zone, as `YYYY-MM-DD`.
    pub fn local_date(self, tz: &jiff::tz::TimeZone) -> Option<jiff::civil::Date> {
        jiff::Timestamp::from_millisecond(self.0).ok().map(|t| t.to_zoned(tz.clone()).date())
    }
}

/// The start of a local calendar day in the zone, as a timestamp.
pub fn start_of_day(date: jiff::civil::Date, tz: &jiff::tz::TimeZone) -> Option<Timestamp> {
    date.to_zoned(tz.clone()).ok().map(|z| Timestamp(z.timestamp().as_millisecond()))
}

/// Where "now" comes from. The server uses [`SystemClock`]; tests use [`ManualClock`].
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> Timestamp;
}

#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp(jiff::Timestamp::now().as_millisecond())
    }
}

/// A clock that only moves when told to. Cloning shares the same time.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    pub fn new(at: Timestamp) -> Self {
        ManualClock(Arc::new(AtomicI64::new(at.0)))
    }
    pub fn advance_ms(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
    pub fn set(&self, at: Timestamp) {
        self.0.store(at.0, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.0.load(Ordering::SeqCst))
    }
}

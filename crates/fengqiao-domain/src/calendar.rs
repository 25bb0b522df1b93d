//! The business calendar (工作日历): China's public holidays and make-up working days (调休上班),
//! working hours in the deployment's time zone, and the arithmetic of working time that every
//! deadline is computed with.
//!
//! A date is a working day when the holiday table says so (`workday`), is not one when the
//! table says `holiday`, and otherwise when it falls Monday to Friday. A year the table has no
//! data for is counted Monday to Friday, and [`Calendar::years_without_data`] names it so an
//! administrator sees the warning. Working time is the union of the configured periods
//! (default 08:30–12:00 and 13:30–17:30) on working days; [`Calendar::always_open`] is the
//! plain 24×7 calendar, where working time is elapsed time.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use jiff::civil::{Date, Time, Weekday};
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};

use crate::clock::{HOUR_MS, Timestamp};
use crate::error::FieldError;

/// The official schedules the program ships with (see `data/SOURCE.txt`).
pub const BUILTIN_HOLIDAYS_CSV: &str = include_str!("../data/cn-public-holidays.csv");

/// Whole days the arithmetic looks ahead before giving up: a calendar with no working time in
/// a hundred years is misconfigured, and an unbounded loop would hang a request.
const MAX_DAYS: u32 = 366 * 100;

/// What the holiday table says about one date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DayKind {
    /// A day off: a public holiday or a weekday swapped into the break.
    Holiday,
    /// A Saturday or Sunday that is an official working day (调休上班).
    Workday,
}

impl DayKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DayKind::Holiday => "holiday",
            DayKind::Workday => "workday",
        }
    }
}

/// One row of the holiday table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpecialDay {
    pub date: Date,
    pub kind: DayKind,
    pub name: String,
}

/// The holiday and make-up working days of the years it has data for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HolidayTable {
    days: BTreeMap<Date, SpecialDay>,
}

fn is_weekend(d: Date) -> bool {
    matches!(d.weekday(), Weekday::Saturday | Weekday::Sunday)
}

impl HolidayTable {
    /// The 2025 and 2026 schedules of the State Council.
    pub fn builtin() -> HolidayTable {
        HolidayTable::parse_csv(BUILTIN_HOLIDAYS_CSV).expect("the built-in holiday table is valid (a test checks it)")
    }

    /// Parses a `date,kind,name` file (a header line is optional). The file is checked whole:
    /// every bad row is listed (field `line N`), and nothing is returned unless all are good.
    pub fn parse_csv(text: &str) -> Result<HolidayTable, Vec<FieldError>> {
        let mut errs = Vec::new();
        let mut days: BTreeMap<Date, SpecialDay> = BTreeMap::new();
        for (i, line) in text.lines().enumerate() {
            let n = i + 1;
            let line = line.trim().trim_start_matches('\u{feff}');
            if line.is_empty() || line.starts_with('#') || (n == 1 && line.starts_with("date,")) {
                continue;
            }
            let field = format!("line {n}");
            let mut cols = line.splitn(3, ',');
            let (date_s, kind_s, name) = (cols.next().unwrap_or("").trim(), cols.next().map(str::trim), cols.next().unwrap_or("").trim());
            let date = match date_s.parse::<Date>() {
                Ok(d) if date_s.len() == 10 => Some(d),
                _ => {
                    errs.push(FieldError::new(&field, format!("bad date '{date_s}': expected YYYY-MM-DD")));
                    None
                }
            };
            let kind = match kind_s {
                Some("holiday") => Some(DayKind::Holiday),
                Some("workday") => Some(DayKind::Workday),
                Some(k) => {
                    errs.push(FieldError::new(&field, format!("unknown kind '{k}': expected holiday or workday")));
                    None
                }
                None => {
                    errs.push(FieldError::new(&field, "expected three columns: date,kind,name"));
                    None
                }
            };
            let Some(date) = date else { continue };
            if let Some(prev) = days.get(&date) {
                errs.push(FieldError::new(&field, format!("duplicate date {date} (already listed as {})", prev.kind.as_str())));
                continue;
            }
            let Some(kind) = kind else { continue };
            // A holiday on a Saturday or Sunday is harmless (the day was off anyway); a
            // make-up working day on a weekday means the row is wrong.
            if kind == DayKind::Workday && !is_weekend(date) {
                errs.push(FieldError::new(
                    &field,
                    format!("{date} is a {:?}: a make-up working day must be a Saturday or Sunday", date.weekday()),
                ));
                continue;
            }
            days.insert(date, SpecialDay { date, kind, name: name.to_string() });
        }
        if days.is_empty() && errs.is_empty() {
            errs.push(FieldError::new("file", "no rows: expected date,kind,name lines"));
        }
        if errs.is_empty() { Ok(HolidayTable { days }) } else { Err(errs) }
    }

    /// The years this table has data for.
    pub fn years(&self) -> BTreeSet<i16> {
        self.days.keys().map(|d| d.year()).collect()
    }

    /// This table with every year of `other` replaced by `other`'s rows (a corrected schedule
    /// replaces the old one of the same year rather than mixing with it).
    pub fn merged(&self, other: &HolidayTable) -> HolidayTable {
        let replaced = other.years();
        let mut days: BTreeMap<Date, SpecialDay> =
            self.days.iter().filter(|(d, _)| !replaced.contains(&d.year())).map(|(d, s)| (*d, s.clone())).collect();
        days.extend(other.days.iter().map(|(d, s)| (*d, s.clone())));
        HolidayTable { days }
    }

    /// The rows of one year.
    pub fn year(&self, year: i16) -> Vec<SpecialDay> {
        self.days.values().filter(|s| s.date.year() == year).cloned().collect()
    }

    /// The rows of one year as a CSV file of the same format (what is stored).
    pub fn year_csv(&self, year: i16) -> String {
        let mut out = String::from("date,kind,name\n");
        for s in self.year(year) {
            out.push_str(&format!("{},{},{}\n", s.date, s.kind.as_str(), s.name));
        }
        out
    }

    pub fn get(&self, d: Date) -> Option<&SpecialDay> {
        self.days.get(&d)
    }
}

/// The working periods of a working day, in local time: sorted, non-empty, non-overlapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkingHours(Vec<(Time, Time)>);

impl WorkingHours {
    /// 08:30–12:00 and 13:30–17:30, the usual hours of township and county offices.
    pub fn default_office() -> WorkingHours {
        WorkingHours(vec![
            (jiff::civil::time(8, 30, 0, 0), jiff::civil::time(12, 0, 0, 0)),
            (jiff::civil::time(13, 30, 0, 0), jiff::civil::time(17, 30, 0, 0)),
        ])
    }

    /// Parses `08:30-12:00,13:30-17:30`.
    pub fn parse(s: &str) -> Result<WorkingHours, FieldError> {
        let bad = |m: String| FieldError::new("working_hours", m);
        let mut v = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (a, b) = part.split_once('-').ok_or_else(|| bad(format!("'{part}': expected HH:MM-HH:MM")))?;
            let t = |x: &str| x.trim().parse::<Time>().map_err(|_| bad(format!("'{x}' is not a time of day (HH:MM)")));
            let (a, b) = (t(a)?, t(b)?);
            if a >= b {
                return Err(bad(format!("'{part}': the period must end after it starts")));
            }
            v.push((a, b));
        }
        if v.is_empty() {
            return Err(bad("give at least one period, e.g. 08:30-12:00,13:30-17:30".into()));
        }
        v.sort();
        if v.windows(2).any(|w| w[0].1 > w[1].0) {
            return Err(bad("the periods overlap".into()));
        }
        Ok(WorkingHours(v))
    }

    /// Working milliseconds in one working day.
    pub fn day_ms(&self) -> i64 {
        self.0.iter().map(|(a, b)| (b.duration_since(*a).as_millis()) as i64).sum()
    }
}

impl fmt::Display for WorkingHours {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.0.iter().map(|(a, b)| format!("{}-{}", a.strftime("%H:%M"), b.strftime("%H:%M"))).collect();
        f.write_str(&parts.join(","))
    }
}

/// A length of time a deadline policy allows, in the unit the policy means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Span {
    /// Elapsed hours, nights and holidays included (`24h`): emergencies.
    Hours(u32),
    /// Elapsed days of 24 hours (`30d`): statutory periods counted in calendar days.
    Days(u32),
    /// Hours of working time (`8wh`).
    WorkingHours(u32),
    /// Working days, counted from the next day (the day it starts is not counted, as in
    /// art. 201 of the Civil Code) and due at the close of the last one (`5wd`).
    WorkingDays(u32),
}

impl Span {
    pub fn parse(s: &str) -> Result<Span, String> {
        let s = s.trim();
        let digits = s.bytes().take_while(u8::is_ascii_digit).count();
        let (num, unit) = s.split_at(digits);
        let n: u32 = num.parse().map_err(|_| format!("'{s}': expected a number and a unit, e.g. 24h, 30d, 8wh or 5wd"))?;
        if n == 0 || n > 24 * 366 {
            return Err(format!("'{s}': between 1 and 8784"));
        }
        match unit {
            "h" => Ok(Span::Hours(n)),
            "d" => Ok(Span::Days(n)),
            "wh" => Ok(Span::WorkingHours(n)),
            "wd" => Ok(Span::WorkingDays(n)),
            _ => Err(format!("'{s}': the unit must be h (hours), d (days), wh (working hours) or wd (working days)")),
        }
    }

    /// Whether the span counts only working time (so a pause or an extension is measured in
    /// working time too).
    pub fn is_working(self) -> bool {
        matches!(self, Span::WorkingHours(_) | Span::WorkingDays(_))
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Span::Hours(n) => write!(f, "{n}h"),
            Span::Days(n) => write!(f, "{n}d"),
            Span::WorkingHours(n) => write!(f, "{n}wh"),
            Span::WorkingDays(n) => write!(f, "{n}wd"),
        }
    }
}

impl TryFrom<String> for Span {
    type Error = String;
    fn try_from(s: String) -> Result<Span, String> {
        Span::parse(&s)
    }
}

impl From<Span> for String {
    fn from(s: Span) -> String {
        s.to_string()
    }
}

/// How a deployment's calendar is configured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CalendarSettings {
    /// An IANA time zone; the working hours are local to it.
    pub time_zone: String,
    /// `HH:MM-HH:MM` periods, comma-separated.
    pub working_hours: String,
    /// Count every hour of every day (a 24×7 service): holidays and hours are ignored.
    pub always_open: bool,
}

impl Default for CalendarSettings {
    fn default() -> Self {
        CalendarSettings {
            time_zone: "Asia/Shanghai".into(),
            working_hours: WorkingHours::default_office().to_string(),
            always_open: false,
        }
    }
}

/// A year's summary, for the administrator.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct YearSummary {
    pub year: i16,
    pub has_data: bool,
    pub working_days: u32,
    pub rest_days: u32,
    pub holidays: Vec<SpecialDay>,
    pub make_up_working_days: Vec<SpecialDay>,
    pub warnings: Vec<String>,
}

/// Working days and hours. Cheap to clone (the table is small).
#[derive(Debug, Clone)]
pub struct Calendar {
    tz: TimeZone,
    /// `None`: open around the clock, every day.
    hours: Option<WorkingHours>,
    table: HolidayTable,
}

impl Default for Calendar {
    fn default() -> Self {
        Calendar::china()
    }
}

fn ts_of(z: &jiff::Zoned) -> Timestamp {
    Timestamp(z.timestamp().as_millisecond())
}

impl Calendar {
    /// Asia/Shanghai, office hours and the built-in holiday table.
    pub fn china() -> Calendar {
        Calendar {
            tz: TimeZone::get("Asia/Shanghai").unwrap_or(TimeZone::UTC),
            hours: Some(WorkingHours::default_office()),
            table: HolidayTable::builtin(),
        }
    }

    /// Every hour of every day is working time.
    pub fn always_open() -> Calendar {
        Calendar { tz: TimeZone::UTC, hours: None, table: HolidayTable::default() }
    }

    pub fn new(tz: TimeZone, hours: WorkingHours, table: HolidayTable) -> Calendar {
        Calendar { tz, hours: Some(hours), table }
    }

    /// Builds the calendar a deployment configured, over `table`.
    pub fn from_settings(s: &CalendarSettings, table: HolidayTable) -> Result<Calendar, FieldError> {
        let tz =
            TimeZone::get(s.time_zone.trim()).map_err(|_| FieldError::new("time_zone", format!("unknown time zone '{}'", s.time_zone)))?;
        if s.always_open {
            return Ok(Calendar { tz, hours: None, table });
        }
        Ok(Calendar::new(tz, WorkingHours::parse(&s.working_hours)?, table))
    }

    pub fn time_zone(&self) -> &TimeZone {
        &self.tz
    }

    pub fn working_hours(&self) -> Option<&WorkingHours> {
        self.hours.as_ref()
    }

    pub fn table(&self) -> &HolidayTable {
        &self.table
    }

    /// The same hours over a different table (after an administrator loads a year).
    pub fn with_table(&self, table: HolidayTable) -> Calendar {
        Calendar { tz: self.tz.clone(), hours: self.hours.clone(), table }
    }

    pub fn is_always_open(&self) -> bool {
        self.hours.is_none()
    }

    pub fn is_working_day(&self, d: Date) -> bool {
        if self.hours.is_none() {
            return true;
        }
        match self.table.get(d) {
            Some(s) => s.kind == DayKind::Workday,
            None => !is_weekend(d),
        }
    }

    /// The first working day after `d`.
    pub fn next_working_day(&self, d: Date) -> Date {
        let mut d = d;
        for _ in 0..MAX_DAYS {
            match d.tomorrow() {
                Ok(n) => d = n,
                Err(_) => return d,
            }
            if self.is_working_day(d) {
                return d;
            }
        }
        d
    }

    fn local_date(&self, t: Timestamp) -> Date {
        t.local_date(&self.tz).unwrap_or_else(|| jiff::civil::date(1970, 1, 1))
    }

    /// The working periods of a date as timestamps (empty on a rest day).
    fn periods(&self, d: Date) -> Vec<(Timestamp, Timestamp)> {
        let Some(hours) = &self.hours else {
            let a = crate::clock::start_of_day(d, &self.tz);
            let b = d.tomorrow().ok().and_then(|n| crate::clock::start_of_day(n, &self.tz));
            return a.zip(b).into_iter().collect();
        };
        if !self.is_working_day(d) {
            return Vec::new();
        }
        hours
            .0
            .iter()
            .filter_map(|(a, b)| {
                let a = d.to_datetime(*a).to_zoned(self.tz.clone()).ok()?;
                let b = d.to_datetime(*b).to_zoned(self.tz.clone()).ok()?;
                Some((ts_of(&a), ts_of(&b)))
            })
            .collect()
    }

    /// The instant `ms` of working time after `t`. A start outside working time counts from
    /// the next working period; an end exactly at a period's close stays at that close.
    pub fn add_working_ms(&self, t: Timestamp, ms: i64) -> Timestamp {
        if ms <= 0 {
            return t;
        }
        if self.hours.is_none() {
            return t.plus_ms(ms);
        }
        let mut left = ms;
        let mut d = self.local_date(t);
        for _ in 0..MAX_DAYS {
            for (a, b) in self.periods(d) {
                if b <= t {
                    continue;
                }
                let start = a.max(t);
                let avail = b.0 - start.0;
                if left <= avail {
                    return start.plus_ms(left);
                }
                left -= avail;
            }
            match d.tomorrow() {
                Ok(n) => d = n,
                Err(_) => break,
            }
        }
        Timestamp(i64::MAX)
    }

    pub fn add_working_hours(&self, t: Timestamp, hours: u32) -> Timestamp {
        self.add_working_ms(t, hours as i64 * HOUR_MS)
    }

    /// The close of the `n`-th working day after the date of `t` (that date is not counted).
    /// On the 24×7 calendar, `n` whole days later.
    pub fn add_working_days(&self, t: Timestamp, n: u32) -> Timestamp {
        if self.hours.is_none() {
            return t.plus_ms(n as i64 * 24 * HOUR_MS);
        }
        let mut d = self.local_date(t);
        for _ in 0..n {
            d = self.next_working_day(d);
        }
        self.periods(d).last().map(|p| p.1).unwrap_or(t)
    }

    /// Working milliseconds in `[a, b)` (negative when `b < a`).
    pub fn working_ms_between(&self, a: Timestamp, b: Timestamp) -> i64 {
        if b < a {
            return -self.working_ms_between(b, a);
        }
        if self.hours.is_none() {
            return b.0 - a.0;
        }
        let (mut d, last) = (self.local_date(a), self.local_date(b));
        let mut sum = 0;
        while d <= last {
            for (s, e) in self.periods(d) {
                let (s, e) = (s.max(a), e.min(b));
                if e > s {
                    sum += e.0 - s.0;
                }
            }
            match d.tomorrow() {
                Ok(n) => d = n,
                Err(_) => break,
            }
        }
        sum
    }

    /// When a span starting at `t` ends.
    pub fn add(&self, t: Timestamp, span: Span) -> Timestamp {
        match span {
            Span::Hours(h) => t.plus_hours(h as i64),
            Span::Days(d) => t.plus_hours(d as i64 * 24),
            Span::WorkingHours(h) => self.add_working_hours(t, h),
            Span::WorkingDays(n) => self.add_working_days(t, n),
        }
    }

    /// Moves a deadline past a pause from `since` to `now`. For a working-time deadline the
    /// working time that was left at `since` is left again at `now`; otherwise (and for a
    /// deadline already missed when the pause began) it moves by the elapsed pause.
    pub fn resume_deadline(&self, due: Timestamp, since: Timestamp, now: Timestamp, working: bool) -> Timestamp {
        if working && due > since && !self.is_always_open() {
            let left = self.working_ms_between(since, due);
            if left > 0 {
                return self.add_working_ms(now, left);
            }
        }
        due.plus_ms((now.0 - since.0).max(0))
    }

    /// Of the given years, those the holiday table has no data for (counted Monday–Friday):
    /// the administrator should load their official schedule.
    pub fn years_without_data(&self, years: impl IntoIterator<Item = i16>) -> Vec<i16> {
        if self.hours.is_none() {
            return Vec::new();
        }
        let known = self.table.years();
        let mut v: Vec<i16> = years.into_iter().filter(|y| !known.contains(y)).collect();
        v.sort();
        v.dedup();
        v
    }

    /// The years around `now` that deadlines may fall in (this year and the next) without
    /// data: what the server warns about at start-up and `/api/v1/calendar` lists.
    pub fn warnings_at(&self, now: Timestamp) -> Vec<String> {
        let y = self.local_date(now).year();
        self.years_without_data([y, y.saturating_add(1)])
            .into_iter()
            .map(|y| format!("no holiday data for {y}: Monday to Friday are counted as working days until its official schedule is loaded"))
            .collect()
    }

    /// Working and rest days of one year, its holidays and make-up working days.
    pub fn year_summary(&self, year: i16) -> Option<YearSummary> {
        let first = Date::new(year, 1, 1).ok()?;
        let mut d = first;
        let (mut working, mut rest) = (0, 0);
        while d.year() == year {
            if self.is_working_day(d) {
                working += 1;
            } else {
                rest += 1;
            }
            match d.tomorrow() {
                Ok(n) => d = n,
                Err(_) => break,
            }
        }
        let rows = self.table.year(year);
        let has_data = !rows.is_empty() || self.hours.is_none();
        let warnings = if has_data {
            Vec::new()
        } else {
            vec![format!("no holiday data for {year}: Monday to Friday are counted as working days until its official schedule is loaded")]
        };
        Some(YearSummary {
            year,
            has_data,
            working_days: working,
            rest_days: rest,
            holidays: rows.iter().filter(|s| s.kind == DayKind::Holiday).cloned().collect(),
            make_up_working_days: rows.iter().filter(|s| s.kind == DayKind::Workday).cloned().collect(),
            warnings,
        })
    }
}

//! The figures' facts, kept in memory.
//!
//! The closed-loop figures read a handful of columns of every case dispatched in a period. For
//! a county and a year that is every case, and reading a million rows through SQL takes
//! seconds. So each store keeps one compact row per dispatched case in memory, filed by the
//! week it was dispatched, and brings it up to date before every computation by reading only
//! the rows written since it last looked: every write to `cases` records its transaction's
//! write mark in `touched`, drawn in order under the chain head's lock, so a row committed
//! later always carries a higher mark than any already read (see `Facts::watermark`).
//!
//! The counts here must equal `FigureCounts::from_facts` over `Store::case_facts`; the
//! contract suite checks it on both backends, as it did for the SQL aggregate this replaces.

use std::collections::{BTreeMap, HashMap};

use fengqiao_domain::Timestamp;
use fengqiao_domain::figures::{FigureCounts, StagePoints};
use fengqiao_store::{FactsFilter, Scope};

/// No time recorded.
const NONE: i64 = i64::MIN;
const WEEK_MS: i64 = 7 * 24 * 3_600_000;

const DEFERRED: u16 = 1;
const FLAGGED: u16 = 1 << 1;
const CLOSED_STATUS: u16 = 1 << 2;
const RATED: u16 = 1 << 3;
const SATISFIED: u16 = 1 << 4;
const ESCALATED: u16 = 1 << 5;
const REWORKED: u16 = 1 << 6;
const REOPENED: u16 = 1 << 7;
const MISSED: u16 = 1 << 8;

/// One case as read from its row (strings not yet interned).
#[derive(Debug, Clone, Default)]
pub(crate) struct FactRow {
    pub id: i64,
    pub touched: i64,
    pub region: String,
    pub category: String,
    pub lead_unit: Option<String>,
    pub status: String,
    pub dispatched_at: Option<i64>,
    pub accepted_at: Option<i64>,
    pub resolved_at: Option<i64>,
    pub closed_at: Option<i64>,
    pub response_due: Option<i64>,
    pub handling_due: Option<i64>,
    pub visit_due: Option<i64>,
    pub followed_at: Option<i64>,
    pub escalations: i64,
    pub reworks: i64,
    pub reopens: i64,
    pub was_deferred: bool,
    pub first_rating: Option<String>,
    pub closure_flag: Option<String>,
    pub missed_deadline: bool,
    /// Co-handling units (not the lead).
    pub co_units: Vec<String>,
}

impl FactRow {
    /// One row as `load_all_facts` packs it: the columns as text in their order, joined by
    /// the unit separator, empty for NULL. `None` if it is not such a row.
    pub fn parse_packed(rec: &str) -> Option<FactRow> {
        let f: Vec<&str> = rec.split('\u{1f}').collect();
        if f.len() != 21 {
            return None;
        }
        let int = |s: &str| s.parse::<i64>().ok();
        let time = |s: &str| if s.is_empty() { Some(None) } else { int(s).map(Some) };
        let text = |s: &str| (!s.is_empty()).then(|| s.to_string());
        // SQLite stores booleans as 0 and 1; PostgreSQL writes them as true and false.
        let flag = |s: &str| match s {
            "1" | "true" => Some(true),
            "0" | "false" => Some(false),
            _ => None,
        };
        Some(FactRow {
            id: int(f[0])?,
            touched: int(f[1])?,
            region: f[2].to_string(),
            category: f[3].to_string(),
            lead_unit: text(f[4]),
            status: f[5].to_string(),
            dispatched_at: time(f[6])?,
            accepted_at: time(f[7])?,
            resolved_at: time(f[8])?,
            closed_at: time(f[9])?,
            response_due: time(f[10])?,
            handling_due: time(f[11])?,
            visit_due: time(f[12])?,
            followed_at: time(f[13])?,
            escalations: int(f[14])?,
            reworks: int(f[15])?,
            reopens: int(f[16])?,
            was_deferred: flag(f[17])?,
            first_rating: text(f[18]),
            closure_flag: text(f[19]),
            missed_deadline: flag(f[20])?,
            co_units: Vec::new(),
        })
    }
}

/// The compact form: times as plain integers (`NONE` when absent), names interned.
#[derive(Debug, Clone)]
struct Fact {
    id: i64,
    dispatched: i64,
    accepted: i64,
    resolved: i64,
    closed: i64,
    response_due: i64,
    handling_due: i64,
    visit_due: i64,
    followed: i64,
    region: u32,
    category: u32,
    /// `u32::MAX` for no lead unit.
    unit: u32,
    flags: u16,
    co_units: Option<Box<[u32]>>,
}

#[derive(Debug, Default)]
struct Interner {
    ids: HashMap<String, u32>,
    names: Vec<String>,
}

impl Interner {
    fn intern(&mut self, s: &str) -> u32 {
        if let Some(&i) = self.ids.get(s) {
            return i;
        }
        let i = self.names.len() as u32;
        self.names.push(s.to_string());
        self.ids.insert(s.to_string(), i);
        i
    }

    fn get(&self, s: &str) -> Option<u32> {
        self.ids.get(s).copied()
    }
}

/// Every dispatched case's facts, by dispatch week.
#[derive(Debug, Default)]
pub(crate) struct Facts {
    /// Whether the first full load has happened.
    pub loaded: bool,
    /// Every row with `touched` above this has to be read again: the highest write mark
    /// committed before the last read (or read in it). Marks are drawn under the chain head's
    /// lock and committed in order, so a write committed after that read carries a higher one.
    pub watermark: i64,
    weeks: BTreeMap<i64, Vec<Fact>>,
    /// Where each case is: (week, index in that week).
    at: HashMap<i64, (i64, u32)>,
    regions: Interner,
    categories: Interner,
    units: Interner,
}

fn t(o: Option<i64>) -> i64 {
    o.unwrap_or(NONE)
}

/// `a <= b`, both recorded (SQL's comparison with NULL is never true).
fn le(a: i64, b: i64) -> bool {
    a != NONE && b != NONE && a <= b
}

impl Facts {
    #[cfg(test)]
    fn len(&self) -> usize {
        self.at.len()
    }

    /// Adds or replaces a case's facts; a case not (or no longer) dispatched is dropped.
    pub fn upsert(&mut self, r: &FactRow) {
        self.watermark = self.watermark.max(r.touched);
        self.remove(r.id);
        let Some(dispatched) = r.dispatched_at else { return };
        let mut flags = 0;
        for (on, bit) in [
            (r.was_deferred, DEFERRED),
            (r.closure_flag.is_some(), FLAGGED),
            (r.status == "closed", CLOSED_STATUS),
            (r.first_rating.is_some(), RATED),
            (matches!(r.first_rating.as_deref(), Some("satisfied" | "basically_satisfied")), SATISFIED),
            (r.escalations > 0, ESCALATED),
            (r.reworks > 0, REWORKED),
            (r.reopens > 0, REOPENED),
            (r.missed_deadline, MISSED),
        ] {
            if on {
                flags |= bit;
            }
        }
        let co_units = (!r.co_units.is_empty()).then(|| r.co_units.iter().map(|u| self.units.intern(u)).collect::<Box<[u32]>>());
        let fact = Fact {
            id: r.id,
            dispatched,
            accepted: t(r.accepted_at),
            resolved: t(r.resolved_at),
            closed: t(r.closed_at),
            response_due: t(r.response_due),
            handling_due: t(r.handling_due),
            visit_due: t(r.visit_due),
            followed: t(r.followed_at),
            region: self.regions.intern(&r.region),
            category: self.categories.intern(&r.category),
            unit: r.lead_unit.as_deref().map(|u| self.units.intern(u)).unwrap_or(u32::MAX),
            flags,
            co_units,
        };
        let week = dispatched.div_euclid(WEEK_MS);
        let v = self.weeks.entry(week).or_default();
        self.at.insert(r.id, (week, v.len() as u32));
        v.push(fact);
    }

    fn remove(&mut self, id: i64) {
        let Some((week, i)) = self.at.remove(&id) else { return };
        let Some(v) = self.weeks.get_mut(&week) else { return };
        v.swap_remove(i as usize);
        if let Some(moved) = v.get(i as usize) {
            self.at.insert(moved.id, (week, i));
        }
        if v.is_empty() {
            self.weeks.remove(&week);
        }
    }

    /// Which interned regions lie under every given prefix (`None`: any region).
    fn regions_under(&self, prefixes: &[&str]) -> Vec<bool> {
        self.regions.names.iter().map(|r| prefixes.iter().all(|p| r.starts_with(p))).collect()
    }

    /// The cases of the cohort: dispatched in `[from, to)`, in the scope, narrowed by the
    /// filter (region subtree, lead unit, category).
    /// The cohort: the weeks the period spans and the test each of their cases must pass.
    /// `None` when nothing can match.
    fn cohort<'a>(&'a self, scope: &Scope, f: &FactsFilter, region_prefix: Option<&str>) -> Option<Cohort<'a>> {
        let mut prefixes: Vec<&str> = Vec::new();
        let mut unit_scope: Option<u32> = None;
        match scope {
            Scope::All => {}
            Scope::Nothing => return None,
            Scope::Region { prefix } => prefixes.push(prefix),
            Scope::Unit { unit } => unit_scope = Some(self.units.get(&unit.0)?),
        }
        if let Some(p) = region_prefix {
            prefixes.push(p);
        }
        let lead = match &f.unit {
            Some(u) => Some(self.units.get(u)?),
            None => None,
        };
        let category = match &f.category {
            Some(c) => Some(self.categories.get(c)?),
            None => None,
        };
        let (from, to) = (f.from.0, f.to.0);
        if from >= to {
            // An empty period (the server's warm-up asks for one): no weeks to walk.
            return None;
        }
        let regions = (!prefixes.is_empty()).then(|| self.regions_under(&prefixes));
        let weeks =
            self.weeks.range(from.div_euclid(WEEK_MS)..=to.saturating_sub(1).div_euclid(WEEK_MS)).map(|(_, v)| v.as_slice()).collect();
        Some(Cohort { weeks, from, to, regions, lead, category, unit_scope })
    }

    /// The cohort's counts in each of the region subtrees `parts` (by code prefix), in one
    /// pass. The subtrees may nest (a county and its towns): a case counts in each it is under.
    pub fn counts_by(
        &self,
        scope: &Scope,
        f: &FactsFilter,
        region_prefix: Option<&str>,
        parts: &[String],
        now: Timestamp,
    ) -> Vec<FigureCounts> {
        let parts_of: Vec<Vec<usize>> = self
            .regions
            .names
            .iter()
            .map(|r| parts.iter().enumerate().filter(|(_, p)| r.starts_with(p.as_str())).map(|(i, _)| i).collect())
            .collect();
        let Some(cohort) = self.cohort(scope, f, region_prefix) else { return vec![FigureCounts::default(); parts.len()] };
        let pieces = cohort.split(|cases, _| {
            let mut out = vec![FigureCounts::default(); parts.len()];
            for c in cases {
                for &i in &parts_of[c.region as usize] {
                    add(&mut out[i], c, now.0, f.repeat_window_ms);
                }
            }
            out
        });
        let mut out = vec![FigureCounts::default(); parts.len()];
        for piece in pieces {
            for (o, k) in out.iter_mut().zip(piece) {
                merge(o, &k);
            }
        }
        out
    }

    /// The cohort's counts and, if asked, its stage timestamps.
    pub fn counts(
        &self,
        scope: &Scope,
        f: &FactsFilter,
        region_prefix: Option<&str>,
        now: Timestamp,
        points: bool,
    ) -> (FigureCounts, Vec<StagePoints>) {
        let Some(cohort) = self.cohort(scope, f, region_prefix) else { return (FigureCounts::default(), Vec::new()) };
        let pieces = cohort.split(|cases, size| {
            let mut k = FigureCounts::default();
            let mut pts = if points { Vec::with_capacity(size) } else { Vec::new() };
            for c in cases {
                add(&mut k, c, now.0, f.repeat_window_ms);
                if points {
                    // The facts' "none" is the points' too.
                    pts.push(StagePoints::from_millis(c.dispatched, c.accepted, c.resolved, c.closed));
                }
            }
            (k, pts)
        });
        let mut k = FigureCounts::default();
        let mut pts = Vec::with_capacity(pieces.iter().map(|p| p.1.len()).sum());
        for (pk, pp) in pieces {
            merge(&mut k, &pk);
            pts.extend(pp);
        }
        (k, pts)
    }
}

/// The cases of a period that pass a figures filter, by dispatch week.
struct Cohort<'a> {
    weeks: Vec<&'a [Fact]>,
    from: i64,
    to: i64,
    /// Which interned regions are inside every region prefix asked for.
    regions: Option<Vec<bool>>,
    lead: Option<u32>,
    category: Option<u32>,
    /// A unit's scope: its lead and co-handled cases.
    unit_scope: Option<u32>,
}

/// Below this many cases a pass runs on the calling thread.
const SPLIT_MIN: usize = 100_000;

impl Cohort<'_> {
    fn keeps(&self, c: &Fact) -> bool {
        c.dispatched >= self.from
            && c.dispatched < self.to
            && self.regions.as_ref().is_none_or(|r| r[c.region as usize])
            && self.lead.is_none_or(|u| c.unit == u)
            && self.category.is_none_or(|k| c.category == k)
            && self.unit_scope.is_none_or(|u| c.unit == u || c.co_units.as_deref().is_some_and(|co| co.contains(&u)))
    }

    /// Runs `pass` over the cohort in pieces of about equal size, one per core when the
    /// cohort is large (a county-year is a million cases), and returns each piece's result.
    /// `pass` gets the piece's cases and how many its weeks hold (at most that many pass).
    fn split<T: Send>(&self, pass: impl Fn(&mut dyn Iterator<Item = &Fact>, usize) -> T + Sync) -> Vec<T> {
        let total: usize = self.weeks.iter().map(|w| w.len()).sum();
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(8);
        if threads < 2 || total < SPLIT_MIN {
            return vec![pass(&mut self.weeks.iter().flat_map(|w| w.iter()).filter(|c| self.keeps(c)), total)];
        }
        // Consecutive runs of weeks, cut when a piece reaches its share.
        let share = total.div_ceil(threads);
        let mut pieces: Vec<&[&[Fact]]> = Vec::new();
        let (mut start, mut size) = (0, 0);
        for (i, w) in self.weeks.iter().enumerate() {
            size += w.len();
            if size >= share {
                pieces.push(&self.weeks[start..=i]);
                (start, size) = (i + 1, 0);
            }
        }
        if start < self.weeks.len() {
            pieces.push(&self.weeks[start..]);
        }
        std::thread::scope(|s| {
            let handles: Vec<_> = pieces
                .iter()
                .map(|piece| {
                    let pass = &pass;
                    let size = piece.iter().map(|w| w.len()).sum();
                    s.spawn(move || pass(&mut piece.iter().flat_map(|w| w.iter()).filter(|c| self.keeps(c)), size))
                })
                .collect();
            handles.into_iter().map(|h| h.join().expect("a figures pass panicked")).collect()
        })
    }
}

/// Adds one piece's counts to another's.
fn merge(k: &mut FigureCounts, o: &FigureCounts) {
    let FigureCounts { cohort, responded, resolved, rated, satisfied, flagged, due, on_time, closed, local, reworked, reopened, repeats } =
        *o;
    k.cohort += cohort;
    k.responded += responded;
    k.resolved += resolved;
    k.rated += rated;
    k.satisfied += satisfied;
    k.flagged += flagged;
    k.due += due;
    k.on_time += on_time;
    k.closed += closed;
    k.local += local;
    k.reworked += reworked;
    k.reopened += reopened;
    k.repeats += repeats;
}

/// One case's contribution to the counts: the same conditions, term by term, as
/// `FigureCounts::from_facts` (and the SQL aggregate the contract suite once checked).
fn add(k: &mut FigureCounts, c: &Fact, now: i64, window: i64) {
    let has = |bit: u16| c.flags & bit != 0;
    let closed = c.closed != NONE;
    k.cohort += 1;
    k.responded += le(c.accepted, c.response_due) as u64;
    k.resolved += (c.resolved != NONE) as u64;
    k.rated += (!has(FLAGGED) && has(RATED)) as u64;
    k.satisfied += (!has(FLAGGED) && has(SATISFIED)) as u64;
    k.flagged += (has(CLOSED_STATUS) && has(FLAGGED)) as u64;
    let due = has(MISSED) || (!has(DEFERRED) && (closed || le(c.handling_due, now)));
    k.due += due as u64;
    k.on_time += (due && !has(MISSED) && has(CLOSED_STATUS) && le(c.resolved, c.handling_due) && le(c.closed, c.visit_due)) as u64;
    k.closed += closed as u64;
    k.local += (closed && !has(ESCALATED)) as u64;
    k.reworked += (c.resolved != NONE && has(REWORKED)) as u64;
    k.reopened += (closed && has(REOPENED)) as u64;
    k.repeats += (closed && c.followed != NONE && le(c.followed, c.closed.saturating_add(window))) as u64;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: i64, touched: i64, region: &str, dispatched: Option<i64>) -> FactRow {
        FactRow {
            id,
            touched,
            region: region.into(),
            category: "noise".into(),
            status: "dispatched".into(),
            dispatched_at: dispatched,
            ..Default::default()
        }
    }

    fn filter(from: i64, to: i64) -> FactsFilter {
        FactsFilter { region: None, unit: None, category: None, from: Timestamp(from), to: Timestamp(to), repeat_window_ms: 0 }
    }

    #[test]
    fn upserts_move_cases_between_weeks_and_drop_undispatched_ones() {
        let mut f = Facts::default();
        f.upsert(&row(1, 5, "3306", Some(10)));
        f.upsert(&row(2, 6, "3306", Some(10 + 3 * WEEK_MS)));
        f.upsert(&row(3, 7, "3307", None));
        assert_eq!(f.len(), 2);
        assert_eq!(f.watermark, 7);
        // Case 1 is re-dispatched a week later; case 2 loses its dispatch (never in practice,
        // but the facts must follow the row).
        f.upsert(&row(1, 8, "3306", Some(10 + WEEK_MS)));
        f.upsert(&row(2, 8, "3306", None));
        assert_eq!(f.len(), 1);
        let (k, p) = f.counts(&Scope::All, &filter(0, 10 * WEEK_MS), None, Timestamp(0), true);
        assert_eq!((k.cohort, p.len()), (1, 1));
        assert_eq!(f.counts(&Scope::All, &filter(0, WEEK_MS), None, Timestamp(0), false).0.cohort, 0);
    }

    #[test]
    fn scope_and_filters_narrow_and_never_widen() {
        let mut f = Facts::default();
        f.upsert(&row(1, 1, "330601", Some(100)));
        f.upsert(&row(2, 1, "330602", Some(100)));
        let mut co = row(3, 1, "330701", Some(100));
        co.lead_unit = Some("a".into());
        co.co_units = vec!["b".into()];
        f.upsert(&co);
        let all = filter(0, 1000);
        let n = |s: &Scope, p: Option<&str>| f.counts(s, &all, p, Timestamp(0), false).0.cohort;
        assert_eq!(n(&Scope::All, None), 3);
        assert_eq!(n(&Scope::Region { prefix: "3306".into() }, None), 2);
        assert_eq!(n(&Scope::Region { prefix: "3306".into() }, Some("330602")), 1);
        assert_eq!(n(&Scope::Region { prefix: "3306".into() }, Some("3307")), 0);
        assert_eq!(n(&Scope::Unit { unit: fengqiao_domain::UnitId("b".into()) }, None), 1);
        assert_eq!(n(&Scope::Unit { unit: fengqiao_domain::UnitId("zz".into()) }, None), 0);
        assert_eq!(n(&Scope::Nothing, None), 0);
        // Nested subtrees each count their own cases.
        let by = f.counts_by(&Scope::All, &all, None, &["3306".into(), "330601".into(), "3399".into()], Timestamp(0));
        assert_eq!(by.iter().map(|k| k.cohort).collect::<Vec<_>>(), vec![2, 1, 0]);
        // An empty or inverted period counts nothing.
        assert_eq!(f.counts(&Scope::All, &filter(0, 0), None, Timestamp(0), true).0.cohort, 0);
        assert_eq!(f.counts(&Scope::All, &filter(500, 100), None, Timestamp(0), true).0.cohort, 0);
        // The period is half-open.
        assert_eq!(f.counts(&Scope::All, &filter(0, 100), None, Timestamp(0), false).0.cohort, 0);
        assert_eq!(f.counts(&Scope::All, &filter(100, 101), None, Timestamp(0), false).0.cohort, 3);
    }

    #[test]
    fn packed_rows_parse_from_either_backend_and_nothing_else() {
        let f = |v: [&str; 21]| v.join("\u{1f}");
        let sqlite = f([
            "7",
            "3",
            "330601",
            "noise",
            "",
            "closed",
            "100",
            "",
            "300",
            "400",
            "",
            "",
            "",
            "",
            "0",
            "1",
            "0",
            "1",
            "satisfied",
            "",
            "0",
        ]);
        let r = FactRow::parse_packed(&sqlite).unwrap();
        assert_eq!(
            (r.id, r.touched, r.region.as_str(), r.lead_unit, r.accepted_at, r.resolved_at),
            (7, 3, "330601", None, None, Some(300))
        );
        assert!(r.was_deferred && r.reworks == 1 && r.first_rating.as_deref() == Some("satisfied") && r.closure_flag.is_none());
        assert!(!r.missed_deadline);
        assert!(FactRow::parse_packed(&format!("{}true", &sqlite[..sqlite.len() - 1])).unwrap().missed_deadline);
        let pg = sqlite.replace("\u{1f}1\u{1f}satisfied", "\u{1f}true\u{1f}satisfied");
        assert!(FactRow::parse_packed(&pg).unwrap().was_deferred);
        assert!(FactRow::parse_packed(&sqlite.replace("\u{1f}1\u{1f}satisfied", "\u{1f}yes\u{1f}satisfied")).is_none());
        assert!(FactRow::parse_packed(&sqlite.replacen("100", "x", 1)).is_none());
        assert!(FactRow::parse_packed(&f(["7"; 21])[2..]).is_none());
    }

    #[test]
    fn a_large_cohort_split_across_threads_counts_as_one_pass() {
        // Enough cases (over `SPLIT_MIN`) that the counts run in pieces on a machine with
        // more than one core, with every counted condition varied.
        let mut f = Facts::default();
        let n = 150_000i64;
        for id in 1..=n {
            let mut r = row(id, 1, ["330601", "330602", "330701"][(id % 3) as usize], Some(id * 40_000));
            r.accepted_at = (id % 5 != 0).then_some(id * 40_000 + (id % 7) * 3_600_000);
            r.response_due = Some(id * 40_000 + 4 * 3_600_000);
            r.resolved_at = (id % 4 != 0).then_some(id * 40_000 + (id % 11) * 86_400_000);
            r.handling_due = Some(id * 40_000 + 5 * 86_400_000);
            r.closed_at = (id % 6 != 0).then_some(id * 40_000 + (id % 13) * 86_400_000);
            r.status = if id % 6 != 0 { "closed".into() } else { "resolved".into() };
            r.first_rating = (id % 3 != 1).then(|| ["satisfied", "dissatisfied"][(id % 2) as usize].into());
            r.escalations = id % 9 / 8;
            r.reworks = id % 10 / 9;
            r.followed_at = (id % 17 == 0).then_some(id * 40_000 + 20 * 86_400_000);
            r.missed_deadline = id % 19 == 0;
            f.upsert(&r);
        }
        let (all, now) = (FactsFilter { repeat_window_ms: 30 * 86_400_000, ..filter(0, (n + 1) * 40_000) }, Timestamp(n * 40_000));
        let cohort = f.cohort(&Scope::All, &all, None).expect("a cohort");
        let mut one = FigureCounts::default();
        for c in cohort.weeks.iter().flat_map(|w| w.iter()).filter(|c| cohort.keeps(c)) {
            add(&mut one, c, now.0, all.repeat_window_ms);
        }
        assert_eq!(one.cohort, n as u64);
        let (k, pts) = f.counts(&Scope::All, &all, None, now, true);
        assert_eq!(k, one);
        assert_eq!(pts.len(), n as usize);
        let by = f.counts_by(&Scope::All, &all, None, &["3306".into(), "330602".into()], now);
        let town = f.counts(&Scope::All, &all, Some("3306"), now, false).0;
        assert_eq!(by[0], town);
        assert_eq!(by[1], f.counts(&Scope::All, &all, Some("330602"), now, false).0);
        assert_eq!(by[0].cohort, 100_000);
    }
}

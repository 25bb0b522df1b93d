// The query layer shared by both backends. This file is `include!`d into `sqlite.rs` and
// `postgres.rs` after each defines `DB`, `BACKEND`, `MIGRATIONS`, `SNAPSHOT_BEGIN` and
// `MIGRATION_LOCK`; it must stay portable SQL (numbered `$n` parameters, `ON CONFLICT`,
// `RETURNING`, integers for time).

use async_trait::async_trait;
use fengqiao_domain::audit::{Checkpoint, StoredEvent, event_hash};
use fengqiao_domain::figures::{CaseFacts, FigureCounts, LaterCase, StagePoints};
use fengqiao_domain::lifecycle::{CaseEvent, EventKind};
use fengqiao_domain::{Case, CaseId, Category, Region, Timestamp, TrackingCode, Unit, UnitId, User};
use fengqiao_domain::duty::DutyShift;
use fengqiao_domain::escalation::Deadline;
use fengqiao_store::{
    AttachmentMeta, BackupRecord, CaseFilter, CreateCase, Created, Credentials, DueCase, FactsFilter, InboxItem, JobCommit, JobRun, NewAttachment, Page, Person,
    Scope, Session,
};
use futures_util::TryStreamExt;
use sqlx::{Pool, QueryBuilder, Row, Transaction};

pub struct SqlStore {
    pool: Pool<DB>,
    /// The figures' facts in memory (see `crate::facts`).
    facts: std::sync::Arc<FactsCache>,
}

/// The facts and the lock that lets one reader at a time bring them up to date.
#[derive(Default)]
struct FactsCache {
    refresh: tokio::sync::Mutex<()>,
    data: std::sync::RwLock<crate::facts::Facts>,
}

type Tx<'a> = Transaction<'a, DB>;

fn to_json<T: serde::Serialize>(v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(backend_err)
}

fn from_json<T: serde::de::DeserializeOwned>(s: &str) -> Result<T, StoreError> {
    serde_json::from_str(s).map_err(|e| StoreError::Backend(format!("stored JSON does not parse: {e}")))
}

fn ts(o: Option<Timestamp>) -> Option<i64> {
    o.map(|t| t.0)
}

/// Rows per multi-row INSERT: well under SQLite's 32,766 and PostgreSQL's 65,535 bound
/// parameters at 26 columns.
const ROWS_PER_STATEMENT: usize = 400;

/// The write mark: every writing transaction draws the next one when it takes the chain
/// head's lock, and every write to a `cases` row records it in `touched`. Marks are committed
/// in order, so a reader that saw mark M committed will find every later write above M, and
/// the figures' in-memory facts read again only what changed.
const TOUCHED: &str = "SELECT touch FROM audit_head WHERE id = 1";

const CASE_COLUMNS: &str = "id, tracking_code, version, status, category, channel, urgency, region, lead_unit, created_at, dispatched_at, accepted_at, resolved_at, closed_at, response_due, handling_due, visit_due, first_tier, escalations, reworks, reopens, was_deferred, final_rating, closure_flag, first_rating, tier_due, touched, missed_deadline";

/// The next event of the chain after `head`, which it advances.
fn chain(head: &mut (i64, String), case_id: Option<i64>, at: Timestamp, actor: &str, kind: &str, payload: String) -> StoredEvent {
    let seq = head.0 + 1;
    let hash = event_hash(&head.1, seq, case_id, at, actor, kind, &payload);
    let e = StoredEvent { seq, case_id, at, actor: actor.to_string(), kind: kind.to_string(), payload, prev_hash: head.1.clone(), hash: hash.clone() };
    *head = (seq, hash);
    e
}

impl SqlStore {
    fn with_pool(pool: Pool<DB>) -> SqlStore {
        SqlStore { pool, facts: Default::default() }
    }

    /// Brings the facts up to date: everything on first use, then the rows written since.
    async fn refresh_facts(&self) -> Result<(), StoreError> {
        let _one = self.facts.refresh.lock().await;
        let (loaded, mark) = {
            let f = self.facts.data.read().map_err(|_| StoreError::Backend("figures facts lock poisoned".into()))?;
            (f.loaded, f.watermark)
        };
        let cols = "c.id, c.touched, c.region, c.category, c.lead_unit, c.status, c.dispatched_at, c.accepted_at, c.resolved_at, c.closed_at, c.response_due, \
                    c.handling_due, c.visit_due, c.followed_at, c.escalations, c.reworks, c.reopens, c.was_deferred, c.first_rating, c.closure_flag, c.missed_deadline";
        // One statement each, so each reads one snapshot; the co-handling units are read
        // after the rows, so they are at least as new (a newer set is corrected next time,
        // when its row's mark is read).
        let rows_sql = format!("SELECT {cols} FROM cases c WHERE c.touched > $1");
        let units_sql = if loaded {
            "SELECT u.case_id, u.unit_id FROM case_units u JOIN cases c ON c.id = u.case_id WHERE c.touched > $1 AND NOT u.lead"
        } else {
            "SELECT u.case_id, u.unit_id FROM case_units u WHERE NOT u.lead AND u.case_id >= $1"
        };
        // The mark committed before reading: every row written after this read carries more.
        let head: i64 = sqlx::query_scalar(TOUCHED).fetch_one(&self.pool).await.map_err(backend_err)?;
        let first = if loaded { mark } else { 0 };
        let mut co: std::collections::HashMap<i64, Vec<String>> = std::collections::HashMap::new();
        let mut rows = Vec::new();
        if loaded {
            let mut stream = sqlx::query(&rows_sql).bind(first).fetch(&self.pool);
            while let Some(r) = stream.try_next().await.map_err(backend_err)? {
                rows.push(fact_row(&r)?);
            }
        } else {
            rows = self.load_all_facts().await?;
        }
        {
            let mut stream = sqlx::query_as::<_, (i64, String)>(units_sql).bind(first).fetch(&self.pool);
            while let Some((case, unit)) = stream.try_next().await.map_err(backend_err)? {
                co.entry(case).or_default().push(unit);
            }
        }
        let mut f = self.facts.data.write().map_err(|_| StoreError::Backend("figures facts lock poisoned".into()))?;
        for mut r in rows {
            if let Some(u) = co.remove(&r.id) {
                r.co_units = u;
            }
            f.upsert(&r);
        }
        f.watermark = f.watermark.max(head);
        f.loaded = true;
        Ok(())
    }

    /// Every dispatched case's facts, for the first load: a million rows decoded column by
    /// column take seconds more than the reading, so each run of ids comes back as one text
    /// (fields and rows joined by the ASCII unit and record separators) and is split here.
    async fn load_all_facts(&self) -> Result<Vec<crate::facts::FactRow>, StoreError> {
        const CHUNK: i64 = 50_000;
        let text = |col: &str| format!("COALESCE(CAST({col} AS TEXT), '')");
        let fields = [
            "c.id", "c.touched", "c.region", "c.category", "c.lead_unit", "c.status", "c.dispatched_at", "c.accepted_at", "c.resolved_at",
            "c.closed_at", "c.response_due", "c.handling_due", "c.visit_due", "c.followed_at", "c.escalations", "c.reworks", "c.reopens",
            "c.was_deferred", "c.first_rating", "c.closure_flag", "c.missed_deadline",
        ];
        let joined = fields.iter().map(|c| text(c)).collect::<Vec<_>>().join(" || '\u{1f}' || ");
        let sql = format!("SELECT {STRING_AGG}({joined}, '\u{1e}') FROM cases c WHERE c.id > $1 AND c.id <= $2 AND c.dispatched_at IS NOT NULL");
        let last: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM cases").fetch_one(&self.pool).await.map_err(backend_err)?;
        let mut rows = Vec::new();
        let mut after = 0;
        while after < last {
            let chunk: Option<String> = sqlx::query_scalar(&sql).bind(after).bind(after + CHUNK).fetch_one(&self.pool).await.map_err(backend_err)?;
            for rec in chunk.as_deref().unwrap_or("").split('\u{1e}').filter(|r| !r.is_empty()) {
                rows.push(crate::facts::FactRow::parse_packed(rec).ok_or_else(|| StoreError::Backend(format!("a case's facts do not parse: {rec:?}")))?);
            }
            after += CHUNK;
        }
        Ok(rows)
    }

    /// Counts over the facts, for the whole cohort (`regions` empty) or for each region
    /// subtree in `regions`; stage timestamps only for the whole cohort.
    async fn fact_counts(&self, scope: &Scope, f: &FactsFilter, regions: &[String], now: Timestamp) -> Result<Vec<(FigureCounts, Vec<StagePoints>)>, StoreError> {
        let own = f.region.as_deref().map(region_prefix).transpose()?;
        let parts = regions.iter().map(|r| region_prefix(r)).collect::<Result<Vec<_>, _>>()?;
        self.refresh_facts().await?;
        let (cache, scope, f) = (self.facts.clone(), scope.clone(), f.clone());
        // A county-year scan is tens of milliseconds of CPU: off the async workers.
        tokio::task::spawn_blocking(move || {
            let facts = cache.data.read().map_err(|_| StoreError::Backend("figures facts lock poisoned".into()))?;
            if parts.is_empty() {
                return Ok(vec![facts.counts(&scope, &f, own.as_deref(), now, true)]);
            }
            Ok(facts.counts_by(&scope, &f, own.as_deref(), &parts, now).into_iter().map(|k| (k, Vec::new())).collect())
        })
        .await
        .map_err(backend_err)?
    }

    pub fn pool(&self) -> &Pool<DB> {
        &self.pool
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(backend_err)?;
        if let Some(lock) = MIGRATION_LOCK {
            sqlx::query(lock).execute(&mut *tx).await.map_err(backend_err)?;
        }
        sqlx::query("CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY)").execute(&mut *tx).await.map_err(backend_err)?;
        let done: Vec<i64> = sqlx::query_scalar("SELECT version FROM schema_migrations").fetch_all(&mut *tx).await.map_err(backend_err)?;
        for (version, sql) in MIGRATIONS {
            if done.contains(version) {
                continue;
            }
            sqlx::raw_sql(sql).execute(&mut *tx).await.map_err(|e| StoreError::Backend(format!("migration {version}: {e}")))?;
            sqlx::query("INSERT INTO schema_migrations (version) VALUES ($1)").bind(version).execute(&mut *tx).await.map_err(backend_err)?;
        }
        tx.commit().await.map_err(backend_err)
    }

    /// Starts a writing transaction by locking the chain head. Returns the head.
    async fn begin_write(&self) -> Result<(Tx<'_>, i64, String), StoreError> {
        let mut tx = self.pool.begin().await.map_err(backend_err)?;
        // Taking the lock also draws this transaction's write mark (see `TOUCHED`).
        let row = sqlx::query("UPDATE audit_head SET touch = touch + 1 WHERE id = 1 RETURNING seq, hash").fetch_one(&mut *tx).await.map_err(backend_err)?;
        let seq: i64 = row.try_get("seq").map_err(backend_err)?;
        let hash: String = row.try_get("hash").map_err(backend_err)?;
        Ok((tx, seq, hash))
    }

    /// Why a versioned update of a row in `table` changed nothing: someone saved a newer
    /// version (a conflict, with that version), or the row does not exist.
    async fn stale(tx: &mut Tx<'_>, table: &'static str, id: i64) -> StoreError {
        let current = sqlx::query_scalar::<_, i64>(&format!("SELECT version FROM {table} WHERE id = $1")).bind(id).fetch_optional(&mut **tx).await;
        match current {
            Ok(Some(v)) => StoreError::Conflict { current: v },
            Ok(None) => StoreError::NotFound,
            Err(e) => backend_err(e),
        }
    }

    async fn finish_write(mut tx: Tx<'_>, head: (i64, String)) -> Result<(), StoreError> {
        // Webhooks are queued in the transaction of the change they tell of.
        Self::queue_webhooks(&mut tx, head.0).await?;
        sqlx::query("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1").bind(head.0).bind(&head.1).execute(&mut *tx).await.map_err(backend_err)?;
        tx.commit().await.map_err(backend_err)
    }

    /// Appends one event to the chain inside a writing transaction.
    async fn append(tx: &mut Tx<'_>, head: &mut (i64, String), case_id: Option<i64>, at: Timestamp, actor: &str, kind: &str, payload: &str) -> Result<(), StoreError> {
        let e = chain(head, case_id, at, actor, kind, payload.to_string());
        Self::insert_events(tx, std::slice::from_ref(&e)).await
    }

    /// Inserts events, many rows per statement: a statement costs a round trip to the
    /// database (a thread hop on SQLite), so batches are written in few statements.
    async fn insert_events(tx: &mut Tx<'_>, events: &[StoredEvent]) -> Result<(), StoreError> {
        for chunk in events.chunks(ROWS_PER_STATEMENT) {
            let mut q = QueryBuilder::<DB>::new("INSERT INTO events (seq, case_id, at, actor, kind, payload, prev_hash, hash) ");
            q.push_values(chunk, |mut b, e| {
                b.push_bind(e.seq)
                    .push_bind(e.case_id)
                    .push_bind(e.at.0)
                    .push_bind(e.actor.clone())
                    .push_bind(e.kind.clone())
                    .push_bind(e.payload.clone())
                    .push_bind(e.prev_hash.clone())
                    .push_bind(e.hash.clone());
            });
            q.build().execute(&mut **tx).await.map_err(backend_err)?;
        }
        Ok(())
    }

    async fn insert_shifts(tx: &mut Tx<'_>, shifts: &[DutyShift]) -> Result<(), StoreError> {
        for chunk in shifts.chunks(ROWS_PER_STATEMENT) {
            let mut q = QueryBuilder::<DB>::new("INSERT INTO duty_shifts (unit, user_id, starts_at, ends_at) ");
            q.push_values(chunk, |mut b, s| {
                b.push_bind(s.unit.0.clone()).push_bind(s.user.clone()).push_bind(s.starts_at.0).push_bind(s.ends_at.0);
            });
            q.build().execute(&mut **tx).await.map_err(backend_err)?;
        }
        Ok(())
    }

    async fn insert_persons(tx: &mut Tx<'_>, persons: &[Person]) -> Result<(), StoreError> {
        for chunk in persons.chunks(ROWS_PER_STATEMENT) {
            let mut q = QueryBuilder::<DB>::new("INSERT INTO persons (id, identity_key, name, phone, id_number, address, email, organisation, erased_at) ");
            q.push_values(chunk, |mut b, p| {
                b.push_bind(p.id)
                    .push_bind(p.identity_key.clone())
                    .push_bind(p.name.clone())
                    .push_bind(p.phone.clone())
                    .push_bind(p.id_number.clone())
                    .push_bind(p.address.clone())
                    .push_bind(p.email.clone())
                    .push_bind(p.organisation)
                    .push_bind(ts(p.erased_at));
            });
            q.build().execute(&mut **tx).await.map_err(backend_err)?;
        }
        Ok(())
    }

    /// Inserts new cases with their unit and person index rows.
    async fn insert_cases(tx: &mut Tx<'_>, cases: &[Case]) -> Result<(), StoreError> {
        let touched: i64 = sqlx::query_scalar(TOUCHED).fetch_one(&mut **tx).await.map_err(backend_err)?;
        for chunk in cases.chunks(ROWS_PER_STATEMENT / 2) {
            let mut q = QueryBuilder::<DB>::new(format!("INSERT INTO cases ({CASE_COLUMNS}) "));
            q.push_values(chunk, |mut b, c| {
                b.push_bind(c.id.0)
                    .push_bind(c.tracking_code.as_str().to_string())
                    .push_bind(c.version)
                    .push_bind(c.status.as_str())
                    .push_bind(c.category.clone())
                    .push_bind(c.channel.as_str())
                    .push_bind(c.urgency.as_str())
                    .push_bind(c.region.as_str().to_string())
                    .push_bind(c.lead_unit.as_ref().map(|u| u.0.clone()))
                    .push_bind(c.created_at.0)
                    .push_bind(ts(c.dispatched_at))
                    .push_bind(ts(c.accepted_at))
                    .push_bind(ts(c.resolved_at))
                    .push_bind(ts(c.closed_at))
                    .push_bind(ts(c.response_due))
                    .push_bind(ts(c.handling_due))
                    .push_bind(ts(c.visit_due))
                    .push_bind(c.first_tier.as_str())
                    .push_bind(c.escalations as i64)
                    .push_bind(c.reworks as i64)
                    .push_bind(c.reopens as i64)
                    .push_bind(c.was_deferred)
                    .push_bind(c.final_rating.map(|r| r.as_str()))
                    .push_bind(c.closure_flag.map(|f| f.as_str()))
                    .push_bind(c.first_rating.map(|r| r.as_str()))
                    .push_bind(ts(c.tier_due))
                    .push_bind(touched)
                    .push_bind(c.missed_deadline);
            });
            q.build().execute(&mut **tx).await.map_err(backend_err)?;
            let states = chunk.iter().map(|c| Ok((c.id.0, to_json(c)?))).collect::<Result<Vec<_>, StoreError>>()?;
            let mut q = QueryBuilder::<DB>::new("INSERT INTO case_states (id, state) ");
            q.push_values(states, |mut b, (id, st)| {
                b.push_bind(id).push_bind(st);
            });
            q.build().execute(&mut **tx).await.map_err(backend_err)?;
        }
        let units: Vec<(String, i64, bool)> = cases
            .iter()
            .flat_map(|c| c.lead_unit.iter().map(move |u| (u.0.clone(), c.id.0, true)).chain(c.co_units.iter().map(move |u| (u.0.clone(), c.id.0, false))))
            .collect();
        Self::insert_case_units(tx, &units).await?;
        let persons: Vec<(i64, i64)> =
            cases.iter().flat_map(|c| c.reporter.iter().copied().chain(c.parties.iter().map(|p| p.person_id)).map(move |p| (p, c.id.0))).collect();
        for chunk in persons.chunks(ROWS_PER_STATEMENT) {
            let mut q = QueryBuilder::<DB>::new("INSERT INTO case_persons (person_id, case_id) ");
            q.push_values(chunk, |mut b, (p, c)| {
                b.push_bind(*p).push_bind(*c);
            });
            q.push(" ON CONFLICT DO NOTHING");
            q.build().execute(&mut **tx).await.map_err(backend_err)?;
        }
        Ok(())
    }

    async fn insert_case_units(tx: &mut Tx<'_>, units: &[(String, i64, bool)]) -> Result<(), StoreError> {
        for chunk in units.chunks(ROWS_PER_STATEMENT) {
            let mut q = QueryBuilder::<DB>::new("INSERT INTO case_units (unit_id, case_id, lead) ");
            q.push_values(chunk, |mut b, (u, c, lead)| {
                b.push_bind(u.clone()).push_bind(*c).push_bind(*lead);
            });
            q.push(" ON CONFLICT DO NOTHING");
            q.build().execute(&mut **tx).await.map_err(backend_err)?;
        }
        Ok(())
    }

    /// New cases make earlier closed cases of the same people, or at the same place in the
    /// same category, repeats: record the first such arrival on each of them. One statement
    /// per place and per person in the batch, each on an index of the unfollowed cases.
    async fn mark_followed(tx: &mut Tx<'_>, cases: &[Case]) -> Result<(), StoreError> {
        use std::collections::BTreeMap;
        let mut places: BTreeMap<(&str, &str), i64> = BTreeMap::new();
        let mut people: BTreeMap<i64, i64> = BTreeMap::new();
        for c in cases {
            let t = places.entry((c.region.as_str(), c.category.as_str())).or_insert(c.created_at.0);
            *t = (*t).min(c.created_at.0);
            for p in c.reporter.iter().copied().chain(c.parties.iter().map(|p| p.person_id)) {
                let t = people.entry(p).or_insert(c.created_at.0);
                *t = (*t).min(c.created_at.0);
            }
        }
        for ((region, category), t) in places {
            sqlx::query("UPDATE cases SET followed_at = $1, touched = (SELECT touch FROM audit_head) WHERE region = $2 AND category = $3 AND closed_at IS NOT NULL AND followed_at IS NULL AND closed_at < $1")
                .bind(t)
                .bind(region)
                .bind(category)
                .execute(&mut **tx)
                .await
                .map_err(backend_err)?;
        }
        for (person, t) in people {
            sqlx::query(
                "UPDATE cases SET followed_at = $1, touched = (SELECT touch FROM audit_head) WHERE id IN (SELECT case_id FROM case_persons WHERE person_id = $2) AND closed_at IS NOT NULL AND followed_at IS NULL AND closed_at < $1",
            )
            .bind(t)
            .bind(person)
            .execute(&mut **tx)
            .await
            .map_err(backend_err)?;
        }
        Ok(())
    }

    /// Recomputes every closed case's first follow-up after a bulk load, whose cases arrive
    /// with their whole history rather than one by one.
    async fn recompute_followed(&self) -> Result<(), StoreError> {
        // Under the chain head's lock like any write, for its write mark; it appends no event.
        let (mut tx, s, h) = self.begin_write().await?;
        sqlx::query(
            "UPDATE cases AS c SET followed_at = (SELECT MIN(t) FROM (
                 SELECT MIN(l.created_at) AS t FROM cases l WHERE l.region = c.region AND l.category = c.category AND l.created_at > c.closed_at AND l.id <> c.id
                 UNION ALL
                 SELECT MIN(l.created_at) AS t FROM case_persons a JOIN case_persons b ON b.person_id = a.person_id JOIN cases l ON l.id = b.case_id
                 WHERE a.case_id = c.id AND l.id <> c.id AND l.created_at > c.closed_at) AS f),
                 touched = (SELECT touch FROM audit_head)
             WHERE c.closed_at IS NOT NULL",
        )
        .execute(&mut *tx)
        .await
        .map_err(backend_err)?;
        Self::finish_write(tx, (s, h)).await
    }

    /// Rewrites an existing case's row and unit index from its new state.
    async fn update_case(tx: &mut Tx<'_>, c: &Case) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE cases SET version = $2, status = $3, category = $4, urgency = $5, region = $6, lead_unit = $7, dispatched_at = $8, accepted_at = $9, resolved_at = $10,
             closed_at = $11, response_due = $12, handling_due = $13, visit_due = $14, escalations = $15, reworks = $16, reopens = $17, was_deferred = $18,
             final_rating = $19, closure_flag = $20, first_rating = $21, tier_due = $22, missed_deadline = $23, touched = (SELECT touch FROM audit_head) WHERE id = $1",
        )
        .bind(c.id.0)
        .bind(c.version)
        .bind(c.status.as_str())
        .bind(&c.category)
        .bind(c.urgency.as_str())
        .bind(c.region.as_str())
        .bind(c.lead_unit.as_ref().map(|u| u.0.clone()))
        .bind(ts(c.dispatched_at))
        .bind(ts(c.accepted_at))
        .bind(ts(c.resolved_at))
        .bind(ts(c.closed_at))
        .bind(ts(c.response_due))
        .bind(ts(c.handling_due))
        .bind(ts(c.visit_due))
        .bind(c.escalations as i64)
        .bind(c.reworks as i64)
        .bind(c.reopens as i64)
        .bind(c.was_deferred)
        .bind(c.final_rating.map(|r| r.as_str()))
        .bind(c.closure_flag.map(|f| f.as_str()))
        .bind(c.first_rating.map(|r| r.as_str()))
        .bind(ts(c.tier_due))
        .bind(c.missed_deadline)
        .execute(&mut **tx)
        .await
        .map_err(backend_err)?;
        sqlx::query("UPDATE case_states SET state = $2 WHERE id = $1").bind(c.id.0).bind(to_json(c)?).execute(&mut **tx).await.map_err(backend_err)?;
        sqlx::query("DELETE FROM case_units WHERE case_id = $1").bind(c.id.0).execute(&mut **tx).await.map_err(backend_err)?;
        let units: Vec<(String, i64, bool)> =
            c.lead_unit.iter().map(|u| (u.0.clone(), c.id.0, true)).chain(c.co_units.iter().map(|u| (u.0.clone(), c.id.0, false))).collect();
        Self::insert_case_units(tx, &units).await
    }

    /// A case's new state and its events, if the case is still at `expected_version`.
    async fn commit_in(tx: &mut Tx<'_>, head: &mut (i64, String), expected_version: i64, events: &[CaseEvent], state: &Case) -> Result<(), StoreError> {
        let current: Option<(i64, String)> = sqlx::query_as("SELECT version, status FROM cases WHERE id = $1").bind(state.id.0).fetch_optional(&mut **tx).await.map_err(backend_err)?;
        let previous = match current {
            None => return Err(StoreError::NotFound),
            Some((v, _)) if v != expected_version => return Err(StoreError::Conflict { current: v }),
            Some((_, status)) => fengqiao_domain::Status::parse(&status),
        };
        Self::update_case(tx, state).await?;
        Self::queue_case_sms(tx, state, previous).await?;
        if events.iter().any(|e| matches!(e.kind, EventKind::Closed { .. })) {
            // A new closure: only cases arriving after it make it a repeat.
            sqlx::query("UPDATE cases SET followed_at = NULL, touched = (SELECT touch FROM audit_head) WHERE id = $1").bind(state.id.0).execute(&mut **tx).await.map_err(backend_err)?;
        }
        let mut stored = Vec::with_capacity(events.len());
        for e in events {
            stored.push(chain(head, Some(state.id.0), e.at, &e.actor, e.kind.name(), to_json(&e.kind)?));
        }
        Self::insert_events(tx, &stored).await
    }

    /// Inserts a supervision order row (a new order, or one being restored).
    async fn insert_order(tx: &mut Tx<'_>, o: &fengqiao_domain::supervision::SupervisionOrder) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO supervision_orders (id, region, unit, case_id, status, due, issued_at, version, body) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)")
            .bind(o.id)
            .bind(o.region.as_str())
            .bind(o.unit.as_str())
            .bind(o.case_id.map(|c| c.0))
            .bind(o.status.as_str())
            .bind(o.due.0)
            .bind(o.issued_at.0)
            .bind(o.version)
            .bind(to_json(o)?)
            .execute(&mut **tx)
            .await
            .map_err(backend_err)?;
        Ok(())
    }

    async fn put_body(&self, table: &str, key_col: &str, key: &str, body: String, actor: &str, at: Timestamp, kind: &str) -> Result<(), StoreError> {
        let (mut tx, s, h) = self.begin_write().await?;
        let mut head = (s, h);
        sqlx::query(&format!("INSERT INTO {table} ({key_col}, body) VALUES ($1, $2) ON CONFLICT ({key_col}) DO UPDATE SET body = excluded.body"))
            .bind(key)
            .bind(&body)
            .execute(&mut *tx)
            .await
            .map_err(backend_err)?;
        Self::append(&mut tx, &mut head, None, at, actor, kind, &body).await?;
        Self::finish_write(tx, head).await
    }

    async fn bodies<T: serde::de::DeserializeOwned>(&self, sql: &str) -> Result<Vec<T>, StoreError> {
        let rows: Vec<String> = sqlx::query_scalar(sql).fetch_all(&self.pool).await.map_err(backend_err)?;
        rows.iter().map(|s| from_json(s)).collect()
    }
}

/// Appends the scope's condition to a WHERE clause that already has at least one term.
fn push_scope(q: &mut QueryBuilder<'_, DB>, scope: &Scope, id_col: &str, region_col: &str) {
    match scope {
        Scope::All => {}
        Scope::Nothing => {
            q.push(" AND 1 = 0");
        }
        Scope::Region { prefix } => push_prefix(q, region_col, prefix),
        Scope::Unit { unit } => {
            q.push(format!(" AND {id_col} IN (SELECT case_id FROM case_units WHERE unit_id = ")).push_bind(unit.0.clone()).push(")");
        }
    }
}

/// Orders belong to a region and a unit: a region scope sees its subtree's, a unit scope the
/// orders addressed to the unit.
fn push_order_scope(q: &mut QueryBuilder<'_, DB>, scope: &Scope) {
    match scope {
        Scope::All => {}
        Scope::Nothing => {
            q.push(" AND 1 = 0");
        }
        Scope::Region { prefix } => {
            let (lo, hi) = Scope::prefix_range(prefix);
            q.push(" AND region >= ").push_bind(lo).push(" AND region < ").push_bind(hi);
        }
        Scope::Unit { unit } => {
            q.push(" AND unit = ").push_bind(unit.0.clone());
        }
    }
}

fn push_region(q: &mut QueryBuilder<'_, DB>, region: &Option<String>, col: &str) -> Result<(), StoreError> {
    if let Some(r) = region {
        push_prefix(q, col, &region_prefix(r)?);
    }
    Ok(())
}

fn region_prefix(r: &str) -> Result<String, StoreError> {
    let code = fengqiao_domain::RegionCode::parse(r).map_err(|e| StoreError::Domain(fengqiao_domain::DomainError::Invalid(vec![e])))?;
    Ok(code.prefix().to_string())
}

/// A scope and a region filter on cases, as one region range: the narrower of the two when
/// one holds the other, nothing when they are apart. Two ranges on the same column make
/// PostgreSQL multiply their selectivities and expect a handful of rows, so it reads every
/// row of a town's status instead of walking the id index to the first page.
fn push_scope_region(q: &mut QueryBuilder<'_, DB>, scope: &Scope, region: &Option<String>, id_col: &str, region_col: &str) -> Result<(), StoreError> {
    let (Scope::Region { prefix: outer }, Some(r)) = (scope, region) else {
        push_scope(q, scope, id_col, region_col);
        return push_region(q, region, region_col);
    };
    let inner = region_prefix(r)?;
    if inner.starts_with(outer.as_str()) {
        push_prefix(q, region_col, &inner);
    } else if outer.starts_with(inner.as_str()) {
        push_prefix(q, region_col, outer);
    } else {
        q.push(" AND 1 = 0");
    }
    Ok(())
}

/// Cases in any of these statuses (and, with `overdue_at`, past their handling deadline then),
/// as one index range per status. The open statuses hold a few per cent of the cases, but
/// neither planner can know that from `status IN (…)` (SQLite keeps no value statistics, and
/// averages say each status holds a tenth), so both would scan the table instead.
fn push_statuses(q: &mut QueryBuilder<'_, DB>, statuses: &[&str], overdue_at: Option<Timestamp>) {
    q.push(" AND id IN (");
    for (i, st) in statuses.iter().enumerate() {
        if i > 0 {
            q.push(" UNION ALL ");
        }
        q.push("SELECT id FROM cases WHERE status = ").push_bind(st.to_string());
        if let Some(t) = overdue_at {
            q.push(" AND handling_due < ").push_bind(t.0);
        }
    }
    q.push(")");
}

/// Cases in the region subtree with this code prefix. A county (or wider) holds most or all
/// of a deployment's cases, so its range is kept off the region index (`col || ''` is not
/// indexable on either backend): the planners, without value statistics on SQLite, would
/// otherwise walk the whole index for a range that excludes nothing, instead of the status
/// or id order the query can use.
fn push_prefix(q: &mut QueryBuilder<'_, DB>, col: &str, prefix: &str) {
    let (lo, hi) = Scope::prefix_range(prefix);
    let col = if prefix.len() <= 6 { format!("({col} || '')") } else { col.to_string() };
    q.push(format!(" AND {col} >= ")).push_bind(lo).push(format!(" AND {col} < ")).push_bind(hi);
}

/// The figures' cohort: dispatched within the period, in scope, narrowed by the filter.
fn push_cohort(q: &mut QueryBuilder<'_, DB>, scope: &Scope, f: &FactsFilter, alias: &str) -> Result<(), StoreError> {
    q.push(format!(" {alias}.dispatched_at >= ")).push_bind(f.from.0).push(format!(" AND {alias}.dispatched_at < ")).push_bind(f.to.0);
    push_scope_region(q, scope, &f.region, &format!("{alias}.id"), &format!("{alias}.region"))?;
    if let Some(u) = &f.unit {
        q.push(format!(" AND {alias}.lead_unit = ")).push_bind(u.clone());
    }
    if let Some(c) = &f.category {
        q.push(format!(" AND {alias}.category = ")).push_bind(c.clone());
    }
    Ok(())
}

fn fact_row(r: &<DB as sqlx::Database>::Row) -> Result<crate::facts::FactRow, StoreError> {
    Ok(crate::facts::FactRow {
        id: r.try_get("id").map_err(backend_err)?,
        touched: r.try_get("touched").map_err(backend_err)?,
        region: r.try_get("region").map_err(backend_err)?,
        category: r.try_get("category").map_err(backend_err)?,
        lead_unit: r.try_get("lead_unit").map_err(backend_err)?,
        status: r.try_get("status").map_err(backend_err)?,
        dispatched_at: r.try_get("dispatched_at").map_err(backend_err)?,
        accepted_at: r.try_get("accepted_at").map_err(backend_err)?,
        resolved_at: r.try_get("resolved_at").map_err(backend_err)?,
        closed_at: r.try_get("closed_at").map_err(backend_err)?,
        response_due: r.try_get("response_due").map_err(backend_err)?,
        handling_due: r.try_get("handling_due").map_err(backend_err)?,
        visit_due: r.try_get("visit_due").map_err(backend_err)?,
        followed_at: r.try_get("followed_at").map_err(backend_err)?,
        escalations: r.try_get("escalations").map_err(backend_err)?,
        reworks: r.try_get("reworks").map_err(backend_err)?,
        reopens: r.try_get("reopens").map_err(backend_err)?,
        was_deferred: r.try_get("was_deferred").map_err(backend_err)?,
        first_rating: r.try_get("first_rating").map_err(backend_err)?,
        closure_flag: r.try_get("closure_flag").map_err(backend_err)?,
        missed_deadline: r.try_get("missed_deadline").map_err(backend_err)?,
        co_units: Vec::new(),
    })
}

fn person_from_row(r: &<DB as sqlx::Database>::Row) -> Result<Person, StoreError> {
    Ok(Person {
        id: r.try_get("id").map_err(backend_err)?,
        identity_key: r.try_get("identity_key").map_err(backend_err)?,
        name: r.try_get("name").map_err(backend_err)?,
        phone: r.try_get("phone").map_err(backend_err)?,
        id_number: r.try_get("id_number").map_err(backend_err)?,
        address: r.try_get("address").map_err(backend_err)?,
        email: r.try_get("email").map_err(backend_err)?,
        organisation: r.try_get("organisation").map_err(backend_err)?,
        erased_at: r.try_get::<Option<i64>, _>("erased_at").map_err(backend_err)?.map(Timestamp),
    })
}

fn attachment_from_row(r: &<DB as sqlx::Database>::Row) -> Result<AttachmentMeta, StoreError> {
    Ok(AttachmentMeta {
        id: r.try_get("id").map_err(backend_err)?,
        case_id: CaseId(r.try_get("case_id").map_err(backend_err)?),
        content_type: r.try_get("content_type").map_err(backend_err)?,
        size: r.try_get("size").map_err(backend_err)?,
        sha256: r.try_get("sha256").map_err(backend_err)?,
        created_at: Timestamp(r.try_get("created_at").map_err(backend_err)?),
    })
}

fn event_from_row(r: &<DB as sqlx::Database>::Row) -> Result<StoredEvent, StoreError> {
    Ok(StoredEvent {
        seq: r.try_get("seq").map_err(backend_err)?,
        case_id: r.try_get("case_id").map_err(backend_err)?,
        at: Timestamp(r.try_get("at").map_err(backend_err)?),
        actor: r.try_get("actor").map_err(backend_err)?,
        kind: r.try_get("kind").map_err(backend_err)?,
        payload: r.try_get("payload").map_err(backend_err)?,
        prev_hash: r.try_get("prev_hash").map_err(backend_err)?,
        hash: r.try_get("hash").map_err(backend_err)?,
    })
}

#[async_trait]
impl fengqiao_store::Store for SqlStore {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    async fn put_region(&self, r: &Region, actor: &str, at: Timestamp) -> Result<(), StoreError> {
        self.put_body("regions", "code", r.code.as_str(), to_json(r)?, actor, at, "region_saved").await
    }

    async fn put_regions(&self, regions: &[Region], actor: &str, at: Timestamp) -> Result<(), StoreError> {
        let (mut tx, s, h) = self.begin_write().await?;
        let mut head = (s, h);
        let mut events = Vec::with_capacity(regions.len());
        for r in regions {
            let body = to_json(r)?;
            sqlx::query("INSERT INTO regions (code, body) VALUES ($1, $2) ON CONFLICT (code) DO UPDATE SET body = excluded.body")
                .bind(r.code.as_str())
                .bind(&body)
                .execute(&mut *tx)
                .await
                .map_err(backend_err)?;
            events.push(chain(&mut head, None, at, actor, "region_saved", body));
        }
        Self::insert_events(&mut tx, &events).await?;
        Self::finish_write(tx, head).await
    }

    async fn save_order(
        &self,
        order: &fengqiao_domain::supervision::SupervisionOrder,
        expected_version: Option<i64>,
        event: &str,
        actor: &str,
        at: Timestamp,
    ) -> Result<fengqiao_domain::supervision::SupervisionOrder, StoreError> {
        let (mut tx, s, h) = self.begin_write().await?;
        let mut head = (s, h);
        let mut order = order.clone();
        match expected_version {
            None => {
                // Writers are serialised by the head lock, so MAX + 1 cannot race.
                order.id = sqlx::query_scalar::<_, i64>("SELECT COALESCE(MAX(id), 0) + 1 FROM supervision_orders").fetch_one(&mut *tx).await.map_err(backend_err)?;
                Self::insert_order(&mut tx, &order).await?;
            }
            Some(v) => {
                let done = sqlx::query("UPDATE supervision_orders SET status = $1, version = $2, body = $3 WHERE id = $4 AND version = $5")
                    .bind(order.status.as_str())
                    .bind(order.version)
                    .bind(to_json(&order)?)
                    .bind(order.id)
                    .bind(v)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend_err)?;
                if done.rows_affected() != 1 {
                    return Err(Self::stale(&mut tx, "supervision_orders", order.id).await);
                }
            }
        }
        Self::append(&mut tx, &mut head, None, at, actor, event, &to_json(&order)?).await?;
        Self::finish_write(tx, head).await?;
        Ok(order)
    }

    async fn order(&self, scope: &Scope, id: i64) -> Result<Option<fengqiao_domain::supervision::SupervisionOrder>, StoreError> {
        let mut q = QueryBuilder::<DB>::new("SELECT body FROM supervision_orders WHERE id = ");
        q.push_bind(id);
        push_order_scope(&mut q, scope);
        let body: Option<String> = q.build_query_scalar().fetch_optional(&self.pool).await.map_err(backend_err)?;
        body.map(|b| from_json(&b)).transpose()
    }

    async fn orders(&self, scope: &Scope, f: &fengqiao_store::OrderFilter) -> Result<Vec<fengqiao_domain::supervision::SupervisionOrder>, StoreError> {
        let mut q = QueryBuilder::<DB>::new("SELECT body FROM supervision_orders WHERE 1 = 1");
        push_order_scope(&mut q, scope);
        if let Some(s) = f.status {
            q.push(" AND status = ").push_bind(s.as_str());
        }
        if let Some(c) = f.case_id {
            q.push(" AND case_id = ").push_bind(c);
        }
        if let Some(u) = &f.unit {
            q.push(" AND unit = ").push_bind(u.clone());
        }
        push_region(&mut q, &f.region, "region")?;
        if let Some(t) = f.issued_from {
            q.push(" AND issued_at >= ").push_bind(t.0);
        }
        if let Some(t) = f.issued_to {
            q.push(" AND issued_at < ").push_bind(t.0);
        }
        if let Some(t) = f.overdue_at {
            q.push(" AND status = 'open' AND due < ").push_bind(t.0);
        }
        if let Some((from, to)) = f.open_due {
            q.push(" AND status = 'open' AND due >= ").push_bind(from.0).push(" AND due < ").push_bind(to.0);
            q.push(" ORDER BY due, id LIMIT ").push_bind(f.limit.clamp(1, 10_000));
        } else {
            q.push(" ORDER BY id DESC LIMIT ").push_bind(f.limit.clamp(1, 10_000));
        }
        let rows: Vec<String> = q.build_query_scalar().fetch_all(&self.pool).await.map_err(backend_err)?;
        rows.iter().map(|b| from_json(b)).collect()
    }

    async fn regions(&self) -> Result<Vec<Region>, StoreError> {
        self.bodies("SELECT body FROM regions ORDER BY code").await
    }

    async fn save_rules(&self, rules: &fengqiao_domain::routing::RuleSet, actor: &str, at: Timestamp) -> Result<i64, StoreError> {
        let (mut tx, s, h) = self.begin_write().await?;
        let mut head = (s, h);
        // Writers are serialised by the head lock, so MAX + 1 cannot race.
        let version: i64 = sqlx::query_scalar::<_, i64>("SELECT COALESCE(MAX(version), 0) + 1 FROM routing_rules")
            .fetch_one(&mut *tx)
            .await
            .map_err(backend_err)?;
        let body = to_json(&fengqiao_domain::routing::RuleSet { version, rules: rules.rules.clone() })?;
        sqlx::query("INSERT INTO routing_rules (version, body, saved_at, actor) VALUES ($1, $2, $3, $4)")
            .bind(version)
            .bind(&body)
            .bind(at.0)
            .bind(actor)
            .execute(&mut *tx)
            .await
            .map_err(backend_err)?;
        Self::append(&mut tx, &mut head, None, at, actor, "routing_rules_saved", &body).await?;
        Self::finish_write(tx, head).await?;
        Ok(version)
    }

    async fn rules(&self, version: Option<i64>) -> Result<Option<fengqiao_domain::routing::RuleSet>, StoreError> {
        let body: Option<String> = match version {
            Some(v) => sqlx::query_scalar("SELECT body FROM routing_rules WHERE version = $1").bind(v).fetch_optional(&self.pool).await,
            None => sqlx::query_scalar("SELECT body FROM routing_rules ORDER BY version DESC LIMIT 1").fetch_optional(&self.pool).await,
        }
        .map_err(backend_err)?;
        body.map(|b| from_json(&b)).transpose()
    }

    async fn put_unit(&self, u: &Unit, actor: &str, at: Timestamp) -> Result<(), StoreError> {
        self.put_body("units", "id", &u.id.0, to_json(u)?, actor, at, "unit_saved").await
    }

    async fn units(&self) -> Result<Vec<Unit>, StoreError> {
        self.bodies("SELECT body FROM units ORDER BY id").await
    }

    async fn put_category(&self, c: &Category, actor: &str, at: Timestamp) -> Result<(), StoreError> {
        self.put_body("categories", "code", &c.code, to_json(c)?, actor, at, "category_saved").await
    }

    async fn categories(&self) -> Result<Vec<Category>, StoreError> {
        self.bodies("SELECT body FROM categories ORDER BY code").await
    }

    async fn put_user(&self, u: &User, creds: &Credentials, actor: &str, at: Timestamp) -> Result<(), StoreError> {
        let body = to_json(u)?;
        let (mut tx, s, h) = self.begin_write().await?;
        let mut head = (s, h);
        sqlx::query(
            "INSERT INTO users (id, body, token_hash, password_hash) VALUES ($1, $2, $3, $4)
             ON CONFLICT (id) DO UPDATE SET body = excluded.body, token_hash = COALESCE(excluded.token_hash, users.token_hash), password_hash = COALESCE(excluded.password_hash, users.password_hash)",
        )
        .bind(&u.id)
        .bind(&body)
        .bind(&creds.token_hash)
        .bind(&creds.password_hash)
        .execute(&mut *tx)
        .await
        .map_err(backend_err)?;
        // The log records the account, never its secrets.
        Self::append(&mut tx, &mut head, None, at, actor, "user_saved", &body).await?;
        Self::finish_write(tx, head).await
    }

    async fn users(&self) -> Result<Vec<User>, StoreError> {
        self.bodies("SELECT body FROM users ORDER BY id").await
    }

    async fn user_credentials(&self, user_id: &str) -> Result<Option<(User, Credentials)>, StoreError> {
        let row: Option<(String, Option<String>, Option<String>)> =
            sqlx::query_as("SELECT body, token_hash, password_hash FROM users WHERE id = $1").bind(user_id).fetch_optional(&self.pool).await.map_err(backend_err)?;
        match row {
            None => Ok(None),
            Some((body, token_hash, password_hash)) => Ok(Some((from_json(&body)?, Credentials { token_hash, password_hash }))),
        }
    }

    async fn create_session(&self, s: &Session) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO sessions (id_hash, user_id, csrf, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(&s.id_hash)
            .bind(&s.user_id)
            .bind(&s.csrf)
            .bind(s.created_at.0)
            .bind(s.expires_at.0)
            .execute(&self.pool)
            .await
            .map_err(backend_err)?;
        // Expired sessions are swept as new ones are made.
        sqlx::query("DELETE FROM sessions WHERE expires_at < $1").bind(s.created_at.0).execute(&self.pool).await.map_err(backend_err)?;
        Ok(())
    }

    async fn session(&self, id_hash: &str, now: Timestamp) -> Result<Option<(Session, User)>, StoreError> {
        let row: Option<(String, String, i64, i64, String)> = sqlx::query_as(
            "SELECT s.user_id, s.csrf, s.created_at, s.expires_at, u.body FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id_hash = $1 AND s.expires_at > $2",
        )
        .bind(id_hash)
        .bind(now.0)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend_err)?;
        match row {
            None => Ok(None),
            Some((user_id, csrf, created_at, expires_at, body)) => Ok(Some((
                Session { id_hash: id_hash.to_string(), user_id, csrf, created_at: Timestamp(created_at), expires_at: Timestamp(expires_at) },
                from_json(&body)?,
            ))),
        }
    }

    async fn delete_session(&self, id_hash: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sessions WHERE id_hash = $1").bind(id_hash).execute(&self.pool).await.map_err(backend_err)?;
        Ok(())
    }

    async fn delete_user_sessions(&self, user_id: &str) -> Result<u64, StoreError> {
        Ok(sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(user_id).execute(&self.pool).await.map_err(backend_err)?.rows_affected())
    }

    async fn user_by_token_hash(&self, token_hash: &str) -> Result<Option<User>, StoreError> {
        let body: Option<String> = sqlx::query_scalar("SELECT body FROM users WHERE token_hash = $1").bind(token_hash).fetch_optional(&self.pool).await.map_err(backend_err)?;
        body.map(|b| from_json(&b)).transpose()
    }

    async fn create_cases(&self, batch: Vec<CreateCase>) -> Result<Vec<Result<Created, StoreError>>, StoreError> {
        use std::collections::HashMap;
        let (mut tx, s, h) = self.begin_write().await?;
        let mut head = (s, h);
        let (mut next_case, mut next_person): (i64, i64) =
            sqlx::query_as("SELECT (SELECT COALESCE(MAX(id), 0) FROM cases), (SELECT COALESCE(MAX(id), 0) FROM persons)").fetch_one(&mut *tx).await.map_err(backend_err)?;
        // Everything the batch needs to look up, in one query per table.
        let keys: Vec<String> = batch.iter().filter_map(|b| b.idempotency.as_ref().map(|(k, _)| k.clone())).collect();
        let mut prior: HashMap<String, (String, i64)> = HashMap::new();
        for chunk in keys.chunks(ROWS_PER_STATEMENT) {
            let mut q = QueryBuilder::<DB>::new("SELECT key, body_hash, case_id FROM idempotency WHERE key IN (");
            let mut sep = q.separated(", ");
            for k in chunk {
                sep.push_bind(k.clone());
            }
            q.push(")");
            for (k, h, id) in q.build_query_as::<(String, String, i64)>().fetch_all(&mut *tx).await.map_err(backend_err)? {
                prior.insert(k, (h, id));
            }
        }
        let ikeys: Vec<String> = batch
            .iter()
            .flat_map(|b| b.new.reporter.iter().filter_map(|(_, k)| k.clone()).chain(b.new.parties.iter().filter_map(|(_, _, k)| k.clone())))
            .map(|k| k.0)
            .collect();
        let mut known: HashMap<String, i64> = HashMap::new();
        for chunk in ikeys.chunks(ROWS_PER_STATEMENT) {
            let mut q = QueryBuilder::<DB>::new("SELECT identity_key, id FROM persons WHERE identity_key IN (");
            let mut sep = q.separated(", ");
            for k in chunk {
                sep.push_bind(k.clone());
            }
            q.push(")");
            for (k, id) in q.build_query_as::<(String, i64)>().fetch_all(&mut *tx).await.map_err(backend_err)? {
                known.insert(k, id);
            }
        }

        enum Outcome {
            Failed(StoreError),
            Replay(i64),
            New(usize),
        }
        let mut outcomes = Vec::with_capacity(batch.len());
        let mut new_persons: Vec<Person> = Vec::new();
        let mut people_of: Vec<Vec<Person>> = Vec::new();
        let mut known_updates: Vec<(i64, fengqiao_domain::PersonInput)> = Vec::new();
        let mut cases: Vec<Case> = Vec::new();
        // Whether each new case's reporter gave a phone (and so gets a receipt by SMS).
        let mut with_phone: Vec<bool> = Vec::new();
        let mut events: Vec<StoredEvent> = Vec::new();
        let mut idem_rows: Vec<(String, String, i64)> = Vec::new();
        let mut in_batch: HashMap<String, (String, usize)> = HashMap::new();
        for item in &batch {
            if let Some((key, body_hash)) = &item.idempotency {
                let seen = prior.get(key).map(|(h, id)| (h.clone(), Outcome::Replay(*id))).or_else(|| in_batch.get(key).map(|(h, i)| (h.clone(), Outcome::New(*i))));
                if let Some((h, outcome)) = seen {
                    outcomes.push(if &h == body_hash { outcome } else { Outcome::Failed(StoreError::IdempotencyMismatch) });
                    continue;
                }
            }
            let new = &item.new;
            let mut people = Vec::new();
            let mut person = |p: &fengqiao_domain::PersonInput, k: &Option<fengqiao_domain::IdentityKey>| -> i64 {
                let found = k.as_ref().and_then(|k| known.get(&k.0).copied());
                let id = match found {
                    Some(id) => {
                        known_updates.push((id, p.clone()));
                        id
                    }
                    None => {
                        next_person += 1;
                        let row = Person {
                            id: next_person,
                            identity_key: k.as_ref().map(|k| k.0.clone()),
                            name: p.name.clone(),
                            phone: p.phone.clone(),
                            id_number: p.id_number.clone(),
                            address: p.address.clone(),
                            email: p.email.clone(),
                            organisation: p.organisation,
                            erased_at: None,
                        };
                        if let Some(k) = k {
                            known.insert(k.0.clone(), next_person);
                        }
                        new_persons.push(row);
                        next_person
                    }
                };
                people.push(Person {
                    id,
                    identity_key: None,
                    name: p.name.clone(),
                    phone: p.phone.clone(),
                    id_number: p.id_number.clone(),
                    address: p.address.clone(),
                    email: p.email.clone(),
                    organisation: p.organisation,
                    erased_at: None,
                });
                id
            };
            let reporter = new.reporter.as_ref().map(|(p, k)| person(p, k));
            let parties: Vec<fengqiao_domain::Party> =
                new.parties.iter().map(|(role, p, k)| fengqiao_domain::Party { person_id: person(p, k), role: *role, organisation: p.organisation }).collect();
            next_case += 1;
            let kind = EventKind::Created {
                tracking_code: item.tracking_code.clone(),
                category: new.category.clone(),
                kind: new.kind,
                channel: new.channel,
                urgency: new.urgency,
                severity: new.severity,
                tier: new.tier,
                region: new.region.clone(),
                location: new.location.clone(),
                title: new.title.clone(),
                description: new.description.clone(),
                answers: new.answers.clone(),
                reporter,
                parties,
            };
            let case = Case::from_created(CaseId(next_case), item.at, &kind).expect("a Created event");
            events.push(chain(&mut head, Some(next_case), item.at, &item.actor, kind.name(), to_json(&kind)?));
            if let Some((key, body_hash)) = &item.idempotency {
                idem_rows.push((key.clone(), body_hash.clone(), next_case));
                in_batch.insert(key.clone(), (body_hash.clone(), cases.len()));
            }
            outcomes.push(Outcome::New(cases.len()));
            // A bulk import by the operator (`system:…`) brings in past casework: no receipt.
            with_phone.push(new.reporter.as_ref().is_some_and(|(p, _)| p.phone.is_some()) && !item.actor.starts_with("system:"));
            cases.push(case);
            people_of.push(people);
        }
        Self::insert_persons(&mut tx, &new_persons).await?;
        for (id, p) in &known_updates {
            // Keep what we knew; fill in what was missing.
            sqlx::query("UPDATE persons SET name = COALESCE(name, $2), phone = COALESCE(phone, $3), address = COALESCE(address, $4), email = COALESCE(email, $5) WHERE id = $1 AND erased_at IS NULL")
                .bind(id)
                .bind(&p.name)
                .bind(&p.phone)
                .bind(&p.address)
                .bind(&p.email)
                .execute(&mut *tx)
                .await
                .map_err(backend_err)?;
        }
        Self::insert_cases(&mut tx, &cases).await?;
        Self::queue_receipts(&mut tx, &cases, &with_phone).await?;
        Self::mark_followed(&mut tx, &cases).await?;
        Self::insert_events(&mut tx, &events).await?;
        for chunk in idem_rows.chunks(ROWS_PER_STATEMENT) {
            let mut q = QueryBuilder::<DB>::new("INSERT INTO idempotency (key, body_hash, case_id) ");
            q.push_values(chunk, |mut b, (k, h, id)| {
                b.push_bind(k.clone()).push_bind(h.clone()).push_bind(*id);
            });
            q.build().execute(&mut *tx).await.map_err(backend_err)?;
        }
        let replayed: Vec<i64> = outcomes.iter().filter_map(|o| if let Outcome::Replay(id) = o { Some(*id) } else { None }).collect();
        let mut earlier: HashMap<i64, Case> = HashMap::new();
        if !replayed.is_empty() {
            let mut q = QueryBuilder::<DB>::new("SELECT state FROM case_states WHERE id IN (");
            let mut sep = q.separated(", ");
            for id in &replayed {
                sep.push_bind(*id);
            }
            q.push(")");
            for st in q.build_query_scalar::<String>().fetch_all(&mut *tx).await.map_err(backend_err)? {
                let c: Case = from_json(&st)?;
                earlier.insert(c.id.0, c);
            }
        }
        Self::finish_write(tx, head).await?;
        let fresh: Vec<bool> = {
            let mut seen = vec![false; cases.len()];
            outcomes
                .iter()
                .map(|o| match o {
                    Outcome::New(i) => !std::mem::replace(&mut seen[*i], true),
                    _ => false,
                })
                .collect()
        };
        Ok(outcomes
            .into_iter()
            .zip(fresh)
            .map(|(o, first)| match o {
                Outcome::Failed(e) => Err(e),
                Outcome::New(i) => Ok(Created { case: cases[i].clone(), people: Some(people_of[i].clone()), replayed: !first }),
                Outcome::Replay(id) => earlier.get(&id).cloned().map(|case| Created { case, people: None, replayed: true }).ok_or(StoreError::NotFound),
            })
            .collect())
    }

    async fn case(&self, scope: &Scope, id: CaseId) -> Result<Option<Case>, StoreError> {
        let mut q = QueryBuilder::<DB>::new("SELECT state FROM case_states WHERE id IN (SELECT id FROM cases WHERE id = ");
        q.push_bind(id.0);
        push_scope(&mut q, scope, "id", "region");
        q.push(")");
        let row: Option<String> = q.build_query_scalar().fetch_optional(&self.pool).await.map_err(backend_err)?;
        row.map(|s| from_json(&s)).transpose()
    }

    async fn case_by_tracking(&self, code: &TrackingCode) -> Result<Option<Case>, StoreError> {
        let row: Option<String> = sqlx::query_scalar("SELECT s.state FROM case_states s JOIN cases c ON c.id = s.id WHERE c.tracking_code = $1").bind(code.as_str()).fetch_optional(&self.pool).await.map_err(backend_err)?;
        row.map(|s| from_json(&s)).transpose()
    }

    async fn list_cases(&self, scope: &Scope, f: &CaseFilter, page: &Page) -> Result<Vec<Case>, StoreError> {
        // Choose the page on the narrow table, then read only its states.
        let mut q = QueryBuilder::<DB>::new("SELECT state FROM case_states WHERE id IN (SELECT id FROM cases WHERE 1 = 1");
        push_scope_region(&mut q, scope, &f.region, "id", "region")?;
        for (col, v) in [("status", &f.status), ("category", &f.category), ("lead_unit", &f.lead_unit), ("channel", &f.channel), ("urgency", &f.urgency)] {
            if let Some(v) = v {
                q.push(format!(" AND {col} = ")).push_bind(v.clone());
            }
        }
        if let Some(t) = f.created_from {
            q.push(" AND created_at >= ").push_bind(t.0);
        }
        if let Some(t) = f.created_to {
            q.push(" AND created_at < ").push_bind(t.0);
        }
        if let Some(t) = f.overdue_at {
            q.push(" AND resolved_at IS NULL");
            push_statuses(&mut q, &["received", "filed", "dispatched", "accepted", "in_progress", "resolved", "return_visit"], Some(t));
        }
        if let Some(after) = page.after {
            q.push(if page.descending { " AND id < " } else { " AND id > " }).push_bind(after);
        }
        q.push(if page.descending { " ORDER BY id DESC LIMIT " } else { " ORDER BY id LIMIT " }).push_bind(page.limit);
        q.push(if page.descending { ") ORDER BY id DESC" } else { ") ORDER BY id" });
        let rows: Vec<String> = q.build_query_scalar().fetch_all(&self.pool).await.map_err(backend_err)?;
        rows.iter().map(|s| from_json(s)).collect()
    }

    async fn queue(&self, scope: &Scope, qq: &fengqiao_store::QueueQuery) -> Result<(Vec<Case>, u64), StoreError> {
        if qq.statuses.is_empty() || qq.limit <= 0 || matches!(scope, Scope::Nothing) {
            return Ok((Vec::new(), 0));
        }
        // One query per status, each on the deadline that status works against: read in
        // order from a (status, deadline) index and stopped at the page, so the cost follows
        // the page, not the tens of thousands of open cases. The heads are merged here and
        // only the page's states are read. Counts come from the (status, region) index.
        let mut total: i64 = 0;
        let mut heads: Vec<(bool, i64, i64)> = Vec::new();
        for st in &qq.statuses {
            let due = match st.as_str() {
                "dispatched" => Some("response_due"),
                "accepted" | "in_progress" => Some("handling_due"),
                "resolved" | "return_visit" => Some("visit_due"),
                _ => None,
            };
            if due.is_none() && (qq.due_from.is_some() || qq.due_to.is_some()) {
                continue;
            }
            let filter = |q: &mut QueryBuilder<'_, DB>| -> Result<(), StoreError> {
                q.push(" FROM cases WHERE status = ").push_bind(st.clone());
                push_scope_region(q, scope, &qq.region, "id", "region")?;
                if let Some(c) = &qq.category {
                    q.push(" AND category = ").push_bind(c.clone());
                }
                if let Some(col) = due {
                    if let Some(t) = qq.due_from {
                        q.push(format!(" AND {col} >= ")).push_bind(t.0);
                    }
                    if let Some(t) = qq.due_to {
                        q.push(format!(" AND {col} < ")).push_bind(t.0);
                    }
                }
                Ok(())
            };
            let mut q = QueryBuilder::<DB>::new("SELECT COUNT(*)");
            filter(&mut q)?;
            let n: i64 = q.build_query_scalar().fetch_one(&self.pool).await.map_err(backend_err)?;
            total += n;
            if n == 0 {
                continue;
            }
            let order = due.unwrap_or("created_at");
            let mut q = QueryBuilder::<DB>::new(format!("SELECT id, {order}"));
            filter(&mut q)?;
            // A case with no recorded deadline sorts with those that have none.
            let nulls = if due.is_some() { format!(" AND {order} IS NOT NULL") } else { String::new() };
            q.push(format!("{nulls} ORDER BY {order}, id DESC LIMIT ")).push_bind(qq.limit);
            let rows: Vec<(i64, i64)> = q.build_query_as().fetch_all(&self.pool).await.map_err(backend_err)?;
            heads.extend(rows.into_iter().map(|(id, t)| (due.is_none(), t, id)));
            if due.is_some() && qq.due_from.is_none() && qq.due_to.is_none() {
                // Open cases without a recorded deadline (none in practice) still show.
                let mut q = QueryBuilder::<DB>::new("SELECT id, created_at");
                filter(&mut q)?;
                q.push(format!(" AND {order} IS NULL ORDER BY created_at, id DESC LIMIT ")).push_bind(qq.limit);
                let rows: Vec<(i64, i64)> = q.build_query_as().fetch_all(&self.pool).await.map_err(backend_err)?;
                heads.extend(rows.into_iter().map(|(id, t)| (true, t, id)));
            }
        }
        heads.sort_by_key(|&(none, t, id)| (none, t, std::cmp::Reverse(id)));
        heads.truncate(qq.limit as usize);
        if heads.is_empty() {
            return Ok((Vec::new(), total.max(0) as u64));
        }
        let mut q = QueryBuilder::<DB>::new("SELECT id, state FROM case_states WHERE id IN (");
        let mut sep = q.separated(", ");
        for (_, _, id) in &heads {
            sep.push_bind(*id);
        }
        q.push(")");
        let rows: Vec<(i64, String)> = q.build_query_as().fetch_all(&self.pool).await.map_err(backend_err)?;
        let mut by_id: std::collections::HashMap<i64, String> = rows.into_iter().collect();
        let cases = heads.iter().filter_map(|(_, _, id)| by_id.remove(id)).map(|s| from_json(&s)).collect::<Result<Vec<Case>, _>>()?;
        Ok((cases, total.max(0) as u64))
    }

    async fn case_events(&self, scope: &Scope, id: CaseId) -> Result<Option<Vec<StoredEvent>>, StoreError> {
        if self.case(scope, id).await?.is_none() {
            return Ok(None);
        }
        let rows = sqlx::query("SELECT seq, case_id, at, actor, kind, payload, prev_hash, hash FROM events WHERE case_id = $1 ORDER BY seq")
            .bind(id.0)
            .fetch_all(&self.pool)
            .await
            .map_err(backend_err)?;
        rows.iter().map(event_from_row).collect::<Result<Vec<_>, _>>().map(Some)
    }

    async fn commit(&self, expected_version: i64, events: &[CaseEvent], state: &Case) -> Result<(), StoreError> {
        let (mut tx, s, h) = self.begin_write().await?;
        let mut head = (s, h);
        Self::commit_in(&mut tx, &mut head, expected_version, events, state).await?;
        Self::finish_write(tx, head).await
    }

    async fn cases_of_persons(&self, ids: &[i64]) -> Result<Vec<(i64, Vec<i64>)>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut q = QueryBuilder::<DB>::new("SELECT case_id, person_id FROM case_persons WHERE person_id IN (");
        let mut sep = q.separated(", ");
        for id in ids.iter().take(1000) {
            sep.push_bind(*id);
        }
        q.push(") ORDER BY case_id, person_id");
        let rows: Vec<(i64, i64)> = q.build_query_as().fetch_all(&self.pool).await.map_err(backend_err)?;
        let mut out: Vec<(i64, Vec<i64>)> = Vec::new();
        for (c, p) in rows {
            match out.last_mut() {
                Some((last, ps)) if *last == c => ps.push(p),
                _ => out.push((c, vec![p])),
            }
        }
        Ok(out)
    }

    async fn risk_judgements(&self) -> Result<Vec<(CaseId, bool)>, StoreError> {
        // The kind is written out, not bound, so SQLite can see the partial index applies.
        let rows: Vec<(i64, String)> =
            sqlx::query_as("SELECT case_id, payload FROM events WHERE kind = 'risk_judged' AND case_id IS NOT NULL ORDER BY seq")
                .fetch_all(&self.pool)
                .await
                .map_err(backend_err)?;
        let mut latest = std::collections::BTreeMap::new();
        for (case, payload) in rows {
            match from_json::<EventKind>(&payload)? {
                EventKind::RiskJudged { high, .. } => latest.insert(CaseId(case), high),
                other => return Err(StoreError::Backend(format!("event of kind risk_judged holds {}", other.name()))),
            };
        }
        Ok(latest.into_iter().collect())
    }

    async fn persons(&self, ids: &[i64]) -> Result<Vec<Person>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut q = QueryBuilder::<DB>::new("SELECT id, identity_key, name, phone, id_number, address, email, organisation, erased_at FROM persons WHERE id IN (");
        let mut sep = q.separated(", ");
        for id in ids {
            sep.push_bind(*id);
        }
        q.push(") ORDER BY id");
        let rows = q.build().fetch_all(&self.pool).await.map_err(backend_err)?;
        rows.iter().map(person_from_row).collect()
    }

    async fn erase_person(&self, id: i64, actor: &str, at: Timestamp) -> Result<bool, StoreError> {
        let (mut tx, s, h) = self.begin_write().await?;
        let mut head = (s, h);
        let n = sqlx::query("UPDATE persons SET identity_key = NULL, name = NULL, phone = NULL, id_number = NULL, address = NULL, email = NULL, erased_at = $2 WHERE id = $1 AND erased_at IS NULL")
            .bind(id)
            .bind(at.0)
            .execute(&mut *tx)
            .await
            .map_err(backend_err)?
            .rows_affected();
        if n == 0 {
            return Ok(false);
        }
        Self::append(&mut tx, &mut head, None, at, actor, "person_erased", &format!("{{\"person_id\":{id}}}")).await?;
        Self::finish_write(tx, head).await?;
        Ok(true)
    }

    async fn add_attachment(&self, a: &NewAttachment) -> Result<AttachmentMeta, StoreError> {
        use sha2::Digest;
        let sha256 = hex::encode(sha2::Sha256::digest(&a.data));
        let (mut tx, s, h) = self.begin_write().await?;
        let mut head = (s, h);
        let exists: Option<i64> = sqlx::query_scalar("SELECT id FROM cases WHERE id = $1").bind(a.case_id.0).fetch_optional(&mut *tx).await.map_err(backend_err)?;
        if exists.is_none() {
            return Err(StoreError::NotFound);
        }
        let id: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) + 1 FROM attachments").fetch_one(&mut *tx).await.map_err(backend_err)?;
        let meta = AttachmentMeta { id, case_id: a.case_id, content_type: a.content_type.clone(), size: a.data.len() as i64, sha256, created_at: a.at };
        sqlx::query("INSERT INTO attachments (id, case_id, content_type, size, sha256, data, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)")
            .bind(id)
            .bind(a.case_id.0)
            .bind(&meta.content_type)
            .bind(meta.size)
            .bind(&meta.sha256)
            .bind(&a.data)
            .bind(a.at.0)
            .execute(&mut *tx)
            .await
            .map_err(backend_err)?;
        Self::append(&mut tx, &mut head, None, a.at, &a.actor, "attachment_added", &to_json(&meta)?).await?;
        Self::finish_write(tx, head).await?;
        Ok(meta)
    }

    async fn attachments(&self, scope: &Scope, case_id: CaseId) -> Result<Vec<AttachmentMeta>, StoreError> {
        let mut q = QueryBuilder::<DB>::new("SELECT id, case_id, content_type, size, sha256, created_at FROM attachments WHERE case_id IN (SELECT id FROM cases WHERE id = ");
        q.push_bind(case_id.0);
        push_scope(&mut q, scope, "id", "region");
        q.push(") ORDER BY id");
        let rows = q.build().fetch_all(&self.pool).await.map_err(backend_err)?;
        rows.iter().map(attachment_from_row).collect()
    }

    async fn attachment(&self, scope: &Scope, id: i64) -> Result<Option<(AttachmentMeta, Vec<u8>)>, StoreError> {
        let mut q = QueryBuilder::<DB>::new("SELECT a.id, a.case_id, a.content_type, a.size, a.sha256, a.created_at, a.data FROM attachments a JOIN cases c ON c.id = a.case_id WHERE a.id = ");
        q.push_bind(id);
        push_scope(&mut q, scope, "c.id", "c.region");
        let Some(r) = q.build().fetch_optional(&self.pool).await.map_err(backend_err)? else {
            return Ok(None);
        };
        let data: Vec<u8> = r.try_get("data").map_err(backend_err)?;
        Ok(Some((attachment_from_row(&r)?, data)))
    }

    async fn case_facts(&self, scope: &Scope, f: &FactsFilter) -> Result<(Vec<CaseFacts>, Vec<LaterCase>), StoreError> {
        let cols = "id, category, region, lead_unit, status, created_at, dispatched_at, accepted_at, resolved_at, closed_at, response_due, handling_due, visit_due, first_tier, escalations, reworks, reopens, was_deferred, final_rating, first_rating, closure_flag, missed_deadline";
        let mut q = QueryBuilder::<DB>::new(format!("SELECT {cols} FROM cases c WHERE"));
        push_cohort(&mut q, scope, f, "c")?;
        let rows = q.build().fetch_all(&self.pool).await.map_err(backend_err)?;
        let bad = |c: &str| StoreError::Backend(format!("bad stored value in column {c}"));
        let mut cohort = Vec::with_capacity(rows.len());
        for r in &rows {
            let get_ts = |c: &str| -> Result<Option<Timestamp>, StoreError> { Ok(r.try_get::<Option<i64>, _>(c).map_err(backend_err)?.map(Timestamp)) };
            let status: String = r.try_get("status").map_err(backend_err)?;
            let tier: String = r.try_get("first_tier").map_err(backend_err)?;
            let rating: Option<String> = r.try_get("final_rating").map_err(backend_err)?;
            let flag: Option<String> = r.try_get("closure_flag").map_err(backend_err)?;
            let first: Option<String> = r.try_get("first_rating").map_err(backend_err)?;
            cohort.push(CaseFacts {
                id: CaseId(r.try_get("id").map_err(backend_err)?),
                category: r.try_get("category").map_err(backend_err)?,
                region: r.try_get("region").map_err(backend_err)?,
                lead_unit: r.try_get("lead_unit").map_err(backend_err)?,
                status: fengqiao_domain::Status::parse(&status).ok_or_else(|| bad("status"))?,
                created_at: Timestamp(r.try_get("created_at").map_err(backend_err)?),
                dispatched_at: get_ts("dispatched_at")?,
                accepted_at: get_ts("accepted_at")?,
                resolved_at: get_ts("resolved_at")?,
                closed_at: get_ts("closed_at")?,
                response_due: get_ts("response_due")?,
                handling_due: get_ts("handling_due")?,
                visit_due: get_ts("visit_due")?,
                first_tier: fengqiao_domain::Tier::parse(&tier).ok_or_else(|| bad("first_tier"))?,
                escalations: r.try_get::<i64, _>("escalations").map_err(backend_err)? as u32,
                reworks: r.try_get::<i64, _>("reworks").map_err(backend_err)? as u32,
                reopens: r.try_get::<i64, _>("reopens").map_err(backend_err)? as u32,
                was_deferred: r.try_get("was_deferred").map_err(backend_err)?,
                missed_deadline: r.try_get("missed_deadline").map_err(backend_err)?,
                final_rating: rating.as_deref().map(|s| fengqiao_domain::Rating::parse(s).ok_or_else(|| bad("final_rating"))).transpose()?,
                first_rating: first.as_deref().map(|s| fengqiao_domain::Rating::parse(s).ok_or_else(|| bad("first_rating"))).transpose()?,
                closure_flag: flag.as_deref().map(|s| fengqiao_domain::ClosureFlag::parse(s).ok_or_else(|| bad("closure_flag"))).transpose()?,
                persons: Vec::new(),
            });
        }
        // Later cases that can make a closure a repeat: created after the cohort's first
        // dispatch and before the period's end plus the repeat window, anywhere.
        let rows = sqlx::query(
            "SELECT c.id, c.created_at, c.category, c.region, cp.person_id FROM cases c LEFT JOIN case_persons cp ON cp.case_id = c.id
             WHERE c.created_at >= $1 AND c.created_at < $2 ORDER BY c.id",
        )
        .bind(f.from.0)
        .bind(f.to.0.saturating_add(f.repeat_window_ms))
        .fetch_all(&self.pool)
        .await
        .map_err(backend_err)?;
        let mut later: Vec<LaterCase> = Vec::new();
        for r in &rows {
            let id = CaseId(r.try_get("id").map_err(backend_err)?);
            let person: Option<i64> = r.try_get("person_id").map_err(backend_err)?;
            if later.last().map(|l| l.id) != Some(id) {
                later.push(LaterCase {
                    id,
                    created_at: Timestamp(r.try_get("created_at").map_err(backend_err)?),
                    category: r.try_get("category").map_err(backend_err)?,
                    region: r.try_get("region").map_err(backend_err)?,
                    persons: Vec::new(),
                });
            }
            if let (Some(p), Some(l)) = (person, later.last_mut()) {
                l.persons.push(p);
            }
        }
        let persons_of: std::collections::HashMap<CaseId, &Vec<i64>> = later.iter().map(|l| (l.id, &l.persons)).collect();
        let mut missing = Vec::new();
        for c in &mut cohort {
            match persons_of.get(&c.id) {
                Some(p) => c.persons = (*p).clone(),
                // Created before the period, dispatched in it: not among the later cases.
                None => missing.push(c.id.0),
            }
        }
        let mut found: std::collections::HashMap<i64, Vec<i64>> = std::collections::HashMap::new();
        for ids in missing.chunks(1000) {
            let mut q = QueryBuilder::<DB>::new("SELECT case_id, person_id FROM case_persons WHERE case_id IN (");
            let mut sep = q.separated(", ");
            for id in ids {
                sep.push_bind(*id);
            }
            q.push(") ORDER BY case_id, person_id");
            let rows: Vec<(i64, i64)> = q.build_query_as().fetch_all(&self.pool).await.map_err(backend_err)?;
            for (case, person) in rows {
                found.entry(case).or_default().push(person);
            }
        }
        for c in &mut cohort {
            if let Some(p) = found.remove(&c.id.0) {
                c.persons = p;
            }
        }
        Ok((cohort, later))
    }

    async fn figure_counts(&self, scope: &Scope, f: &FactsFilter, now: Timestamp) -> Result<(FigureCounts, Vec<StagePoints>), StoreError> {
        let mut v = self.fact_counts(scope, f, &[], now).await?;
        v.pop().ok_or_else(|| StoreError::Backend("no figures computed".into()))
    }

    async fn figure_counts_by_region(&self, scope: &Scope, f: &FactsFilter, regions: &[String], now: Timestamp) -> Result<Vec<FigureCounts>, StoreError> {
        if regions.is_empty() {
            return Ok(Vec::new());
        }
        Ok(self.fact_counts(scope, f, regions, now).await?.into_iter().map(|(k, _)| k).collect())
    }

    async fn create_api_key(&self, key: &fengqiao_store::ApiKey, actor: &str, at: Timestamp) -> Result<(), StoreError> {
        fengqiao_store::ApiKey::check_name(&key.name)?;
        let body = to_json(key)?;
        let (mut tx, s, h) = self.begin_write().await?;
        let mut head = (s, h);
        let inserted = sqlx::query("INSERT INTO api_keys (name, key_hash, body, created_at, revoked_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING")
            .bind(&key.name)
            .bind(&key.key_hash)
            .bind(&body)
            .bind(key.created_at.0)
            .bind(ts(key.revoked_at))
            .execute(&mut *tx)
            .await
            .map_err(backend_err)?
            .rows_affected();
        if inserted == 0 {
            return Err(fengqiao_domain::DomainError::invalid("name", format!("an API key named '{}' already exists", key.name)).into());
        }
        // The log records the key's name, scopes and unit, never its hash.
        let logged = serde_json::json!({ "name": key.name, "scopes": key.scopes, "unit": key.unit });
        Self::append(&mut tx, &mut head, None, at, actor, "api_key_created", &logged.to_string()).await?;
        Self::finish_write(tx, head).await
    }

    async fn revoke_api_key(&self, name: &str, actor: &str, at: Timestamp) -> Result<bool, StoreError> {
        let (mut tx, s, h) = self.begin_write().await?;
        let mut head = (s, h);
        let body: Option<String> =
            sqlx::query_scalar("SELECT body FROM api_keys WHERE name = $1 AND revoked_at IS NULL").bind(name).fetch_optional(&mut *tx).await.map_err(backend_err)?;
        let Some(body) = body else {
            tx.rollback().await.map_err(backend_err)?;
            return Ok(false);
        };
        let mut key: fengqiao_store::ApiKey = from_json(&body)?;
        key.revoked_at = Some(at);
        sqlx::query("UPDATE api_keys SET body = $1, revoked_at = $2 WHERE name = $3").bind(to_json(&key)?).bind(at.0).bind(name).execute(&mut *tx).await.map_err(backend_err)?;
        Self::append(&mut tx, &mut head, None, at, actor, "api_key_revoked", &serde_json::json!({ "name": name }).to_string()).await?;
        Self::finish_write(tx, head).await?;
        Ok(true)
    }

    async fn api_keys(&self) -> Result<Vec<fengqiao_store::ApiKey>, StoreError> {
        self.bodies("SELECT body FROM api_keys ORDER BY name").await
    }

    async fn api_key_by_hash(&self, key_hash: &str) -> Result<Option<fengqiao_store::ApiKey>, StoreError> {
        let body: Option<String> = sqlx::query_scalar("SELECT body FROM api_keys WHERE key_hash = $1").bind(key_hash).fetch_optional(&self.pool).await.map_err(backend_err)?;
        body.map(|b| from_json(&b)).transpose()
    }

    async fn public_cases(&self, pq: &fengqiao_store::PublicCaseQuery) -> Result<Vec<Case>, StoreError> {
        if pq.categories.is_empty()
            || pq.ids.as_ref().is_some_and(|i| i.is_empty())
            || pq.codes.as_ref().is_some_and(|c| c.is_empty())
            || pq.limit <= 0
        {
            return Ok(Vec::new());
        }
        // Walk the (created_at, id) index newest first and stop at the page; read only its states.
        let mut q = QueryBuilder::<DB>::new("SELECT c.created_at, s.state FROM case_states s JOIN (SELECT id, created_at FROM cases WHERE category IN (");
        let mut sep = q.separated(", ");
        for c in &pq.categories {
            sep.push_bind(c.clone());
        }
        q.push(")");
        if let Some(ids) = &pq.ids {
            q.push(" AND id IN (");
            let mut sep = q.separated(", ");
            for i in ids.iter().take(ROWS_PER_STATEMENT) {
                sep.push_bind(*i);
            }
            q.push(")");
        }
        if let Some(codes) = &pq.codes {
            q.push(" AND tracking_code IN (");
            let mut sep = q.separated(", ");
            for c in codes.iter().take(ROWS_PER_STATEMENT) {
                sep.push_bind(c.clone());
            }
            q.push(")");
        }
        if pq.ids.is_none() && pq.codes.is_none() {
            match pq.open {
                Some(true) => {
                    q.push(" AND status NOT IN ('closed', 'cancelled', 'merged')");
                }
                Some(false) => {
                    q.push(" AND status IN ('closed', 'cancelled', 'merged')");
                }
                None => {}
            }
            if let Some(t) = pq.created_from {
                q.push(" AND created_at >= ").push_bind(t.0);
            }
            if let Some(t) = pq.created_to {
                q.push(" AND created_at < ").push_bind(t.0);
            }
        }
        q.push(" ORDER BY created_at DESC, id DESC LIMIT ").push_bind(pq.limit).push(" OFFSET ").push_bind(pq.offset.max(0));
        q.push(") c ON c.id = s.id ORDER BY c.created_at DESC, c.id DESC");
        let rows: Vec<(i64, String)> = q.build_query_as().fetch_all(&self.pool).await.map_err(backend_err)?;
        rows.iter().map(|(_, s)| from_json(s)).collect()
    }

    async fn case_events_between(&self, categories: &[String], from: Timestamp, to: Timestamp, limit: i64) -> Result<Vec<StoredEvent>, StoreError> {
        if categories.is_empty() || limit <= 0 {
            return Ok(Vec::new());
        }
        let mut q = QueryBuilder::<DB>::new("SELECT e.seq, e.case_id, e.at, e.actor, e.kind, e.payload, e.prev_hash, e.hash FROM events e JOIN cases c ON c.id = e.case_id WHERE e.at >= ");
        q.push_bind(from.0).push(" AND e.at < ").push_bind(to.0).push(" AND c.category IN (");
        let mut sep = q.separated(", ");
        for c in categories {
            sep.push_bind(c.clone());
        }
        // In time order along the (at, seq) index, so a wide window stops at the limit.
        q.push(") ORDER BY e.at, e.seq LIMIT ").push_bind(limit);
        let rows = q.build().fetch_all(&self.pool).await.map_err(backend_err)?;
        rows.iter().map(event_from_row).collect()
    }

    async fn record_request_update(&self, u: &fengqiao_store::RequestUpdate, actor: &str) -> Result<(fengqiao_store::RequestUpdate, bool), StoreError> {
        let (mut tx, s, h) = self.begin_write().await?;
        let mut head = (s, h);
        let prior: Option<String> = sqlx::query_scalar("SELECT body FROM request_updates WHERE key_name = $1 AND update_id = $2")
            .bind(&u.key_name)
            .bind(&u.update_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(backend_err)?;
        if let Some(body) = prior {
            tx.rollback().await.map_err(backend_err)?;
            return Ok((from_json(&body)?, false));
        }
        let body = to_json(u)?;
        sqlx::query("INSERT INTO request_updates (key_name, update_id, case_id, received_at, body) VALUES ($1, $2, $3, $4, $5)")
            .bind(&u.key_name)
            .bind(&u.update_id)
            .bind(u.case_id)
            .bind(u.received_at.0)
            .bind(&body)
            .execute(&mut *tx)
            .await
            .map_err(backend_err)?;
        // Not a case event (replay must not see it): the case id is in the payload.
        Self::append(&mut tx, &mut head, None, u.received_at, actor, "request_update_received", &body).await?;
        Self::finish_write(tx, head).await?;
        Ok((u.clone(), true))
    }

    async fn request_update(&self, key_name: &str, update_id: &str) -> Result<Option<fengqiao_store::RequestUpdate>, StoreError> {
        let body: Option<String> = sqlx::query_scalar("SELECT body FROM request_updates WHERE key_name = $1 AND update_id = $2")
            .bind(key_name)
            .bind(update_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend_err)?;
        body.map(|b| from_json(&b)).transpose()
    }

    async fn request_updates(&self, categories: &[String], from: Timestamp, to: Timestamp, limit: i64) -> Result<Vec<fengqiao_store::RequestUpdate>, StoreError> {
        if categories.is_empty() || limit <= 0 {
            return Ok(Vec::new());
        }
        let mut q = QueryBuilder::<DB>::new("SELECT u.body FROM request_updates u JOIN cases c ON c.id = u.case_id WHERE u.received_at >= ");
        q.push_bind(from.0).push(" AND u.received_at < ").push_bind(to.0).push(" AND c.category IN (");
        let mut sep = q.separated(", ");
        for c in categories {
            sep.push_bind(c.clone());
        }
        q.push(") ORDER BY u.received_at, u.key_name, u.update_id LIMIT ").push_bind(limit);
        let rows: Vec<String> = q.build_query_scalar().fetch_all(&self.pool).await.map_err(backend_err)?;
        rows.iter().map(|s| from_json(s)).collect()
    }

    async fn audit_events(&self, after_seq: i64, limit: i64) -> Result<Vec<StoredEvent>, StoreError> {
        let rows = sqlx::query("SELECT seq, case_id, at, actor, kind, payload, prev_hash, hash FROM events WHERE seq > $1 ORDER BY seq LIMIT $2")
            .bind(after_seq)
            .bind(limit)
            .fetch_all(&self.pool)
            .await
            .map_err(backend_err)?;
        rows.iter().map(event_from_row).collect()
    }

    async fn audit_head(&self) -> Result<(i64, String), StoreError> {
        sqlx::query_as("SELECT seq, hash FROM audit_head WHERE id = 1").fetch_one(&self.pool).await.map_err(backend_err)
    }

    async fn save_checkpoint(&self, c: &Checkpoint) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO checkpoints (seq, hash, at, signature) VALUES ($1, $2, $3, $4) ON CONFLICT (seq) DO NOTHING")
            .bind(c.seq)
            .bind(&c.hash)
            .bind(c.at.0)
            .bind(&c.signature)
            .execute(&self.pool)
            .await
            .map_err(backend_err)?;
        Ok(())
    }

    async fn checkpoints(&self) -> Result<Vec<Checkpoint>, StoreError> {
        let rows: Vec<(i64, String, i64, String)> = sqlx::query_as("SELECT seq, hash, at, signature FROM checkpoints ORDER BY seq").fetch_all(&self.pool).await.map_err(backend_err)?;
        Ok(rows.into_iter().map(|(seq, hash, at, signature)| Checkpoint { seq, hash, at: Timestamp(at), signature }).collect())
    }

    async fn export_snapshot(&self, sink: &mut (dyn FnMut(BackupRecord) -> Result<(), StoreError> + Send)) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await.map_err(backend_err)?;
        if let Some(sql) = SNAPSHOT_BEGIN {
            sqlx::query(sql).execute(&mut *tx).await.map_err(backend_err)?;
        }
        let (head_seq, head_hash): (i64, String) = sqlx::query_as("SELECT seq, hash FROM audit_head WHERE id = 1").fetch_one(&mut *tx).await.map_err(backend_err)?;
        sink(BackupRecord::Header { format: fengqiao_store::BACKUP_FORMAT, backend: BACKEND.into(), head_seq, head_hash })?;
        let mut n = 1u64;
        for (sql, which) in [("SELECT body FROM regions ORDER BY code", 0), ("SELECT body FROM units ORDER BY id", 1), ("SELECT body FROM categories ORDER BY code", 2)] {
            let mut rows = sqlx::query_scalar::<_, String>(sql).fetch(&mut *tx);
            while let Some(body) = rows.try_next().await.map_err(backend_err)? {
                sink(match which {
                    0 => BackupRecord::Region(from_json(&body)?),
                    1 => BackupRecord::Unit(from_json(&body)?),
                    _ => BackupRecord::Category(from_json(&body)?),
                })?;
                n += 1;
            }
        }
        {
            let mut rows = sqlx::query_as::<_, (String, i64, String)>("SELECT body, saved_at, actor FROM routing_rules ORDER BY version").fetch(&mut *tx);
            while let Some((body, saved_at, actor)) = rows.try_next().await.map_err(backend_err)? {
                sink(BackupRecord::RoutingRules { rules: from_json(&body)?, saved_at: Timestamp(saved_at), actor })?;
                n += 1;
            }
        }
        {
            let mut rows = sqlx::query("SELECT body, token_hash, password_hash FROM users ORDER BY id").fetch(&mut *tx);
            while let Some(r) = rows.try_next().await.map_err(backend_err)? {
                let body: String = r.try_get("body").map_err(backend_err)?;
                let credentials = Credentials { token_hash: r.try_get("token_hash").map_err(backend_err)?, password_hash: r.try_get("password_hash").map_err(backend_err)? };
                sink(BackupRecord::User { user: from_json(&body)?, credentials })?;
                n += 1;
            }
        }
        {
            let mut rows = sqlx::query("SELECT id, identity_key, name, phone, id_number, address, email, organisation, erased_at FROM persons ORDER BY id").fetch(&mut *tx);
            while let Some(r) = rows.try_next().await.map_err(backend_err)? {
                sink(BackupRecord::Person(person_from_row(&r)?))?;
                n += 1;
            }
        }
        {
            let mut rows = sqlx::query_scalar::<_, String>("SELECT state FROM case_states ORDER BY id").fetch(&mut *tx);
            while let Some(s) = rows.try_next().await.map_err(backend_err)? {
                sink(BackupRecord::Case(Box::new(from_json(&s)?)))?;
                n += 1;
            }
        }
        {
            let mut rows = sqlx::query("SELECT seq, case_id, at, actor, kind, payload, prev_hash, hash FROM events ORDER BY seq").fetch(&mut *tx);
            while let Some(r) = rows.try_next().await.map_err(backend_err)? {
                sink(BackupRecord::Event(event_from_row(&r)?))?;
                n += 1;
            }
        }
        {
            let rows: Vec<(i64, String, i64, String)> = sqlx::query_as("SELECT seq, hash, at, signature FROM checkpoints ORDER BY seq").fetch_all(&mut *tx).await.map_err(backend_err)?;
            for (seq, hash, at, signature) in rows {
                sink(BackupRecord::Checkpoint(Checkpoint { seq, hash, at: Timestamp(at), signature }))?;
                n += 1;
            }
            let rows: Vec<(String, String, i64)> = sqlx::query_as("SELECT key, body_hash, case_id FROM idempotency ORDER BY key").fetch_all(&mut *tx).await.map_err(backend_err)?;
            for (key, body_hash, case_id) in rows {
                sink(BackupRecord::Idempotency { key, body_hash, case_id })?;
                n += 1;
            }
            let rows: Vec<(i32, String)> = sqlx::query_as("SELECT year, body FROM calendar_years ORDER BY year").fetch_all(&mut *tx).await.map_err(backend_err)?;
            for (year, csv) in rows {
                sink(BackupRecord::CalendarYear { year: year as i16, csv })?;
                n += 1;
            }
            let mut rows = sqlx::query_as::<_, (String, i64, i64, i64, String)>("SELECT kind, case_id, due_at, done_at, outcome FROM jobs ORDER BY case_id, kind, due_at").fetch(&mut *tx);
            while let Some((kind, case_id, due, done, outcome)) = rows.try_next().await.map_err(backend_err)? {
                sink(BackupRecord::Job(JobRun { kind, case_id, due_at: Timestamp(due), done_at: Timestamp(done), outcome }))?;
                n += 1;
            }
        }
        {
            let rows: Vec<(String, String, i64, i64)> =
                sqlx::query_as("SELECT unit, user_id, starts_at, ends_at FROM duty_shifts ORDER BY unit, starts_at, user_id")
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(backend_err)?;
            for r in rows {
                sink(BackupRecord::DutyShift(shift_from_row(r)))?;
                n += 1;
            }
        }
        {
            let mut rows = sqlx::query("SELECT id, case_id, content_type, size, sha256, created_at, data FROM attachments ORDER BY id").fetch(&mut *tx);
            while let Some(r) = rows.try_next().await.map_err(backend_err)? {
                let data: Vec<u8> = r.try_get("data").map_err(backend_err)?;
                sink(BackupRecord::Attachment { meta: attachment_from_row(&r)?, data_hex: hex::encode(data) })?;
                n += 1;
            }
        }
        {
            let rows: Vec<String> = sqlx::query_scalar("SELECT body FROM supervision_orders ORDER BY id").fetch_all(&mut *tx).await.map_err(backend_err)?;
            for body in rows {
                sink(BackupRecord::SupervisionOrder(from_json(&body)?))?;
                n += 1;
            }
        }
        {
            let rows: Vec<String> = sqlx::query_scalar("SELECT body FROM mediations ORDER BY id").fetch_all(&mut *tx).await.map_err(backend_err)?;
            for body in rows {
                sink(BackupRecord::Mediation(Box::new(from_json(&body)?)))?;
                n += 1;
            }
        }
        for (sql, which) in [("SELECT body FROM api_keys ORDER BY name", 0), ("SELECT body FROM request_updates ORDER BY received_at, key_name, update_id", 1)] {
            let rows: Vec<String> = sqlx::query_scalar(sql).fetch_all(&mut *tx).await.map_err(backend_err)?;
            for body in rows {
                sink(if which == 0 { BackupRecord::ApiKey(from_json(&body)?) } else { BackupRecord::RequestUpdate(from_json(&body)?) })?;
                n += 1;
            }
        }
        // Residents by phone and community consultation, each after what it refers to.
        {
            let rows: Vec<String> = sqlx::query_scalar("SELECT body FROM residents ORDER BY id").fetch_all(&mut *tx).await.map_err(backend_err)?;
            for body in rows {
                sink(BackupRecord::Resident(from_json(&body)?))?;
                n += 1;
            }
            let rows: Vec<String> = sqlx::query_scalar("SELECT body FROM consultations ORDER BY id").fetch_all(&mut *tx).await.map_err(backend_err)?;
            for body in rows {
                sink(BackupRecord::Consultation(from_json(&body)?))?;
                n += 1;
            }
            let rows: Vec<(i64, i64, i64, String, i64)> =
                sqlx::query_as("SELECT id, consultation_id, resident_id, body, at FROM consult_proposals ORDER BY id").fetch_all(&mut *tx).await.map_err(backend_err)?;
            for (id, consultation_id, resident_id, text, at) in rows {
                sink(BackupRecord::ConsultProposal(fengqiao_domain::consultation::Proposal { id, consultation_id, resident_id, text, at: Timestamp(at) }))?;
                n += 1;
            }
            let rows: Vec<(i64, i64, Option<i64>, i64, String, i64)> = sqlx::query_as(
                "SELECT id, consultation_id, proposal_id, resident_id, body, at FROM consult_comments ORDER BY id",
            )
            .fetch_all(&mut *tx)
            .await
            .map_err(backend_err)?;
            for (id, consultation_id, proposal_id, resident_id, text, at) in rows {
                sink(BackupRecord::ConsultComment(fengqiao_domain::consultation::Comment { id, consultation_id, proposal_id, resident_id, text, at: Timestamp(at) }))?;
                n += 1;
            }
            let rows: Vec<(i64, i64, i64, i64)> = sqlx::query_as("SELECT consultation_id, resident_id, proposal_id, at FROM consult_supports ORDER BY consultation_id, resident_id")
                .fetch_all(&mut *tx)
                .await
                .map_err(backend_err)?;
            for (consultation_id, resident_id, proposal_id, at) in rows {
                sink(BackupRecord::ConsultSupport { consultation_id, resident_id, proposal_id, at: Timestamp(at) })?;
                n += 1;
            }
            let rows = sqlx::query(
                "SELECT o.id, o.person_id, o.phone, o.case_id, o.kind, o.body, o.created_at, o.attempts, o.next_at, o.sent_at, o.failed_at, o.last_error FROM sms_outbox o ORDER BY o.id",
            )
            .fetch_all(&mut *tx)
            .await
            .map_err(backend_err)?;
            for r in &rows {
                sink(BackupRecord::Sms(sms_from_row(r)?))?;
                n += 1;
            }
        }
        {
            let rows: Vec<String> = sqlx::query_scalar("SELECT body FROM problems ORDER BY id").fetch_all(&mut *tx).await.map_err(backend_err)?;
            for body in rows {
                sink(BackupRecord::Problem(Box::new(from_json(&body)?)))?;
                n += 1;
            }
        }
        {
            let rows: Vec<String> = sqlx::query_scalar("SELECT body FROM alerts ORDER BY id").fetch_all(&mut *tx).await.map_err(backend_err)?;
            for body in rows {
                sink(BackupRecord::Alert(Box::new(from_json(&body)?)))?;
                n += 1;
            }
        }
        tx.rollback().await.map_err(backend_err)?;
        Ok(n)
    }

    async fn import_snapshot(&self, records: Vec<BackupRecord>) -> Result<u64, StoreError> {
        let (mut tx, s, h) = self.begin_write().await?;
        let mut head = (s, h);
        let mut n = 0u64;
        // People, cases and events go in many rows per statement; a record's kind only ever
        // refers to kinds written before it in the snapshot, and the three are written in
        // that order below.
        let (mut persons, mut cases, mut events, mut attachments) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for rec in records {
            match rec {
                BackupRecord::Header { .. } => {}
                BackupRecord::Region(r) => {
                    sqlx::query("INSERT INTO regions (code, body) VALUES ($1, $2)").bind(r.code.as_str()).bind(to_json(&r)?).execute(&mut *tx).await.map_err(backend_err)?;
                }
                BackupRecord::Unit(u) => {
                    sqlx::query("INSERT INTO units (id, body) VALUES ($1, $2)").bind(&u.id.0).bind(to_json(&u)?).execute(&mut *tx).await.map_err(backend_err)?;
                }
                BackupRecord::SupervisionOrder(o) => {
                    Self::insert_order(&mut tx, &o).await?;
                }
                BackupRecord::Problem(p) => {
                    Self::insert_problem(&mut tx, &p).await?;
                }
                BackupRecord::Alert(a) => {
                    Self::insert_alert(&mut tx, &a).await?;
                }
                BackupRecord::Mediation(m) => {
                    Self::insert_mediation(&mut tx, &m).await?;
                    Self::book_mediation(&mut tx, &m).await?;
                }
                BackupRecord::RoutingRules { rules, saved_at, actor } => {
                    sqlx::query("INSERT INTO routing_rules (version, body, saved_at, actor) VALUES ($1, $2, $3, $4)")
                        .bind(rules.version)
                        .bind(to_json(&rules)?)
                        .bind(saved_at.0)
                        .bind(&actor)
                        .execute(&mut *tx)
                        .await
                        .map_err(backend_err)?;
                }
                BackupRecord::Category(c) => {
                    sqlx::query("INSERT INTO categories (code, body) VALUES ($1, $2)").bind(&c.code).bind(to_json(&c)?).execute(&mut *tx).await.map_err(backend_err)?;
                }
                BackupRecord::User { user, credentials } => {
                    sqlx::query("INSERT INTO users (id, body, token_hash, password_hash) VALUES ($1, $2, $3, $4)")
                        .bind(&user.id)
                        .bind(to_json(&user)?)
                        .bind(&credentials.token_hash)
                        .bind(&credentials.password_hash)
                        .execute(&mut *tx)
                        .await
                        .map_err(backend_err)?;
                }
                BackupRecord::Person(p) => persons.push(p),
                BackupRecord::Case(c) => cases.push(*c),
                BackupRecord::Event(e) => {
                    if e.seq > head.0 {
                        head = (e.seq, e.hash.clone());
                    }
                    events.push(e);
                }
                BackupRecord::Checkpoint(c) => {
                    sqlx::query("INSERT INTO checkpoints (seq, hash, at, signature) VALUES ($1, $2, $3, $4)").bind(c.seq).bind(&c.hash).bind(c.at.0).bind(&c.signature).execute(&mut *tx).await.map_err(backend_err)?;
                }
                BackupRecord::Attachment { meta, data_hex } => {
                    let data = hex::decode(&data_hex).map_err(|e| StoreError::Backend(format!("attachment {}: {e}", meta.id)))?;
                    attachments.push((meta, data));
                }
                BackupRecord::CalendarYear { year, csv } => {
                    sqlx::query("INSERT INTO calendar_years (year, body) VALUES ($1, $2)").bind(year as i32).bind(csv).execute(&mut *tx).await.map_err(backend_err)?;
                }
                BackupRecord::DutyShift(s) => Self::insert_shifts(&mut tx, std::slice::from_ref(&s)).await?,
                BackupRecord::Job(j) => {
                    sqlx::query("INSERT INTO jobs (kind, case_id, due_at, done_at, outcome) VALUES ($1, $2, $3, $4, $5)")
                        .bind(&j.kind)
                        .bind(j.case_id)
                        .bind(j.due_at.0)
                        .bind(j.done_at.0)
                        .bind(&j.outcome)
                        .execute(&mut *tx)
                        .await
                        .map_err(backend_err)?;
                }
                BackupRecord::Idempotency { key, body_hash, case_id } => {
                    sqlx::query("INSERT INTO idempotency (key, body_hash, case_id) VALUES ($1, $2, $3)").bind(key).bind(body_hash).bind(case_id).execute(&mut *tx).await.map_err(backend_err)?;
                }
                BackupRecord::ApiKey(k) => {
                    sqlx::query("INSERT INTO api_keys (name, key_hash, body, created_at, revoked_at) VALUES ($1, $2, $3, $4, $5)")
                        .bind(&k.name)
                        .bind(&k.key_hash)
                        .bind(to_json(&k)?)
                        .bind(k.created_at.0)
                        .bind(ts(k.revoked_at))
                        .execute(&mut *tx)
                        .await
                        .map_err(backend_err)?;
                }
                BackupRecord::Resident(r) => {
                    sqlx::query("INSERT INTO residents (id, phone, region, body) VALUES ($1, $2, $3, $4)")
                        .bind(r.id)
                        .bind(&r.phone)
                        .bind(r.region.as_ref().map(|c| c.as_str().to_string()))
                        .bind(to_json(&r)?)
                        .execute(&mut *tx)
                        .await
                        .map_err(backend_err)?;
                }
                BackupRecord::Consultation(c) => {
                    sqlx::query("INSERT INTO consultations (id, region, status, closes_at, version, body) VALUES ($1, $2, $3, $4, $5, $6)")
                        .bind(c.id)
                        .bind(c.region.as_str())
                        .bind(c.status.as_str())
                        .bind(c.closes_at.0)
                        .bind(c.version)
                        .bind(to_json(&c)?)
                        .execute(&mut *tx)
                        .await
                        .map_err(backend_err)?;
                }
                BackupRecord::ConsultProposal(p) => {
                    sqlx::query("INSERT INTO consult_proposals (id, consultation_id, resident_id, body, at) VALUES ($1, $2, $3, $4, $5)")
                        .bind(p.id)
                        .bind(p.consultation_id)
                        .bind(p.resident_id)
                        .bind(&p.text)
                        .bind(p.at.0)
                        .execute(&mut *tx)
                        .await
                        .map_err(backend_err)?;
                }
                BackupRecord::ConsultComment(c) => {
                    sqlx::query("INSERT INTO consult_comments (id, consultation_id, proposal_id, resident_id, body, at) VALUES ($1, $2, $3, $4, $5, $6)")
                        .bind(c.id)
                        .bind(c.consultation_id)
                        .bind(c.proposal_id)
                        .bind(c.resident_id)
                        .bind(&c.text)
                        .bind(c.at.0)
                        .execute(&mut *tx)
                        .await
                        .map_err(backend_err)?;
                }
                BackupRecord::ConsultSupport { consultation_id, resident_id, proposal_id, at } => {
                    sqlx::query("INSERT INTO consult_supports (consultation_id, resident_id, proposal_id, at) VALUES ($1, $2, $3, $4)")
                        .bind(consultation_id)
                        .bind(resident_id)
                        .bind(proposal_id)
                        .bind(at.0)
                        .execute(&mut *tx)
                        .await
                        .map_err(backend_err)?;
                }
                BackupRecord::Sms(m) => {
                    sqlx::query(
                        "INSERT INTO sms_outbox (id, person_id, phone, case_id, kind, body, created_at, attempts, next_at, sent_at, failed_at, last_error) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                    )
                    .bind(m.id)
                    .bind(m.person_id)
                    .bind(&m.phone)
                    .bind(m.case_id)
                    .bind(&m.kind)
                    .bind(&m.text)
                    .bind(m.created_at.0)
                    .bind(m.attempts)
                    .bind(m.next_at.0)
                    .bind(ts(m.sent_at))
                    .bind(ts(m.failed_at))
                    .bind(&m.last_error)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend_err)?;
                }
                BackupRecord::RequestUpdate(u) => {
                    sqlx::query("INSERT INTO request_updates (key_name, update_id, case_id, received_at, body) VALUES ($1, $2, $3, $4, $5)")
                        .bind(&u.key_name)
                        .bind(&u.update_id)
                        .bind(u.case_id)
                        .bind(u.received_at.0)
                        .bind(to_json(&u)?)
                        .execute(&mut *tx)
                        .await
                        .map_err(backend_err)?;
                }
            }
            n += 1;
        }
        Self::insert_persons(&mut tx, &persons).await?;
        Self::insert_cases(&mut tx, &cases).await?;
        Self::insert_events(&mut tx, &events).await?;
        for (m, data) in attachments {
            sqlx::query("INSERT INTO attachments (id, case_id, content_type, size, sha256, data, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)")
                .bind(m.id)
                .bind(m.case_id.0)
                .bind(&m.content_type)
                .bind(m.size)
                .bind(&m.sha256)
                .bind(data)
                .bind(m.created_at.0)
                .execute(&mut *tx)
                .await
                .map_err(backend_err)?;
        }
        Self::finish_write(tx, head).await?;
        Ok(n)
    }

    async fn analyze(&self) -> Result<(), StoreError> {
        // Statistics first, so the recomputation's correlated lookups are planned on indexes.
        sqlx::query("ANALYZE").execute(&self.pool).await.map_err(backend_err)?;
        self.recompute_followed().await?;
        Ok(())
    }

    async fn is_empty(&self) -> Result<bool, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT (SELECT COUNT(*) FROM events) + (SELECT COUNT(*) FROM regions) + (SELECT COUNT(*) FROM cases)").fetch_one(&self.pool).await.map_err(backend_err)?;
        Ok(n == 0)
    }

    async fn due_cases(&self, deadline: Deadline, from: Timestamp, to: Timestamp, job_kind: &str, limit: i64) -> Result<Vec<DueCase>, StoreError> {
        let col = match deadline {
            Deadline::Response => "response_due",
            Deadline::Handling => "handling_due",
            Deadline::Visit => "visit_due",
            Deadline::Tier => "tier_due",
        };
        // One index range per status on (status, deadline); the job's primary key answers
        // whether it already ran for this due time.
        let mut q = QueryBuilder::<DB>::new(format!("SELECT c.id, c.{col}, c.lead_unit FROM cases c WHERE c.status IN ("));
        let mut sep = q.separated(", ");
        for s in deadline.statuses() {
            sep.push_bind(s.as_str());
        }
        q.push(")");
        if deadline == Deadline::Response {
            q.push(" AND c.accepted_at IS NULL");
        }
        q.push(format!(" AND c.{col} >= ")).push_bind(from.0).push(format!(" AND c.{col} < ")).push_bind(to.0);
        q.push(" AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.kind = ").push_bind(job_kind.to_string());
        q.push(format!(" AND j.case_id = c.id AND j.due_at = c.{col}) ORDER BY c.{col}, c.id LIMIT ")).push_bind(limit);
        let rows: Vec<(i64, i64, Option<String>)> = q.build_query_as().fetch_all(&self.pool).await.map_err(backend_err)?;
        Ok(rows.into_iter().map(|(id, due, unit)| DueCase { id: CaseId(id), due: Timestamp(due), lead_unit: unit.map(fengqiao_domain::UnitId) }).collect())
    }

    async fn run_job(&self, job: &JobRun, commit: Option<&JobCommit>, notices: &[InboxItem]) -> Result<bool, StoreError> {
        // The chain head's lock serialises this with every other writer, so a second server
        // claiming the same job waits for the first to commit and then finds its row.
        let (mut tx, s, h) = self.begin_write().await?;
        let mut head = (s, h);
        let claimed = sqlx::query("INSERT INTO jobs (kind, case_id, due_at, done_at, outcome) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING")
            .bind(&job.kind)
            .bind(job.case_id)
            .bind(job.due_at.0)
            .bind(job.done_at.0)
            .bind(&job.outcome)
            .execute(&mut *tx)
            .await
            .map_err(backend_err)?
            .rows_affected();
        if claimed == 0 {
            tx.rollback().await.map_err(backend_err)?;
            return Ok(false);
        }
        if let Some(c) = commit {
            Self::commit_in(&mut tx, &mut head, c.expected_version, &c.events, &c.state).await?;
        }
        if !notices.is_empty() {
            let next: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM inbox").fetch_one(&mut *tx).await.map_err(backend_err)?;
            let mut q = QueryBuilder::<DB>::new("INSERT INTO inbox (id, recipient, case_id, kind, message, due_at, created_at) ");
            q.push_values(notices.iter().enumerate(), |mut b, (i, n)| {
                b.push_bind(next + 1 + i as i64)
                    .push_bind(n.recipient.clone())
                    .push_bind(n.case_id)
                    .push_bind(n.kind.clone())
                    .push_bind(n.message.clone())
                    .push_bind(ts(n.due_at))
                    .push_bind(n.created_at.0);
            });
            q.build().execute(&mut *tx).await.map_err(backend_err)?;
        }
        // A missed deadline is heard of by webhooks, and notices go out by e-mail too.
        if job.kind.starts_with("breach_") {
            let subs = Self::active_subscriptions(&mut tx).await?;
            let e = fengqiao_store::webhooks::HookEvent {
                kinds: vec![fengqiao_domain::webhook::HookKind::Breached],
                seq: None,
                case_id: Some(job.case_id),
                at: job.done_at,
                actor: "system:deadline".into(),
                event: job.kind.clone(),
                payload: serde_json::json!({ "due_at": job.due_at.0, "outcome": job.outcome }),
                status: None,
            };
            Self::queue_hook_events(&mut tx, &subs, &[e]).await?;
        }
        Self::queue_emails(&mut tx, notices).await?;
        Self::finish_write(tx, head).await?;
        Ok(true)
    }

    async fn jobs_of(&self, case_id: CaseId) -> Result<Vec<JobRun>, StoreError> {
        let rows: Vec<(String, i64, i64, i64, String)> =
            sqlx::query_as("SELECT kind, case_id, due_at, done_at, outcome FROM jobs WHERE case_id = $1 ORDER BY done_at, kind, due_at")
                .bind(case_id.0)
                .fetch_all(&self.pool)
                .await
                .map_err(backend_err)?;
        Ok(rows
            .into_iter()
            .map(|(kind, case_id, due, done, outcome)| JobRun { kind, case_id, due_at: Timestamp(due), done_at: Timestamp(done), outcome })
            .collect())
    }

    async fn swept_to(&self) -> Result<Option<Timestamp>, StoreError> {
        let t: Option<i64> = sqlx::query_scalar("SELECT swept_to FROM scheduler_state WHERE id = 1").fetch_optional(&self.pool).await.map_err(backend_err)?;
        Ok(t.map(Timestamp))
    }

    async fn set_swept_to(&self, t: Timestamp) -> Result<(), StoreError> {
        // Only forward: two servers sweeping at once must not move it back.
        sqlx::query(
            "INSERT INTO scheduler_state (id, swept_to) VALUES (1, $1) ON CONFLICT (id) DO UPDATE
             SET swept_to = CASE WHEN excluded.swept_to > scheduler_state.swept_to THEN excluded.swept_to ELSE scheduler_state.swept_to END",
        )
        .bind(t.0)
        .execute(&self.pool)
        .await
        .map_err(backend_err)?;
        Ok(())
    }

    async fn inbox(&self, recipients: &[String], limit: i64) -> Result<Vec<InboxItem>, StoreError> {
        if recipients.is_empty() {
            return Ok(Vec::new());
        }
        let mut q = QueryBuilder::<DB>::new("SELECT id, recipient, case_id, kind, message, due_at, created_at FROM inbox WHERE recipient IN (");
        let mut sep = q.separated(", ");
        for r in recipients {
            sep.push_bind(r.clone());
        }
        q.push(") ORDER BY id DESC LIMIT ").push_bind(limit);
        let rows: Vec<(i64, String, Option<i64>, String, String, Option<i64>, i64)> = q.build_query_as().fetch_all(&self.pool).await.map_err(backend_err)?;
        Ok(rows
            .into_iter()
            .map(|(id, recipient, case_id, kind, message, due, created)| InboxItem {
                id,
                recipient,
                case_id,
                kind,
                message,
                due_at: due.map(Timestamp),
                created_at: Timestamp(created),
            })
            .collect())
    }

    async fn put_calendar_year(&self, year: i16, csv: &str, actor: &str, at: Timestamp) -> Result<(), StoreError> {
        let (mut tx, s, h) = self.begin_write().await?;
        let mut head = (s, h);
        sqlx::query("INSERT INTO calendar_years (year, body) VALUES ($1, $2) ON CONFLICT (year) DO UPDATE SET body = excluded.body")
            .bind(year as i32)
            .bind(csv)
            .execute(&mut *tx)
            .await
            .map_err(backend_err)?;
        let payload = to_json(&serde_json::json!({ "year": year, "csv": csv }))?;
        Self::append(&mut tx, &mut head, None, at, actor, "calendar_saved", &payload).await?;
        Self::finish_write(tx, head).await
    }

    async fn calendar_years(&self) -> Result<Vec<(i16, String)>, StoreError> {
        let rows: Vec<(i32, String)> = sqlx::query_as("SELECT year, body FROM calendar_years ORDER BY year").fetch_all(&self.pool).await.map_err(backend_err)?;
        Ok(rows.into_iter().map(|(y, b)| (y as i16, b)).collect())
    }

    // Problem-solving records (SARA), webhooks and e-mail.
    async fn save_problem(
        &self,
        p: &fengqiao_domain::problem::Problem,
        expected_version: Option<i64>,
        event: &str,
        actor: &str,
        at: Timestamp,
    ) -> Result<fengqiao_domain::problem::Problem, StoreError> {
        let (mut tx, s, h) = self.begin_write().await?;
        let mut head = (s, h);
        let mut p = p.clone();
        match expected_version {
            None => {
                // Writers are serialised by the head lock, so MAX + 1 cannot race.
                p.id = sqlx::query_scalar::<_, i64>("SELECT COALESCE(MAX(id), 0) + 1 FROM problems").fetch_one(&mut *tx).await.map_err(backend_err)?;
                Self::insert_problem(&mut tx, &p).await?;
            }
            Some(v) => {
                let done = sqlx::query("UPDATE problems SET stage = $1, version = $2, body = $3 WHERE id = $4 AND version = $5")
                    .bind(p.stage.as_str())
                    .bind(p.version)
                    .bind(to_json(&p)?)
                    .bind(p.id)
                    .bind(v)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend_err)?;
                if done.rows_affected() != 1 {
                    return Err(Self::stale(&mut tx, "problems", p.id).await);
                }
            }
        }
        Self::write_problem_units(&mut tx, &p).await?;
        Self::append(&mut tx, &mut head, None, at, actor, event, &to_json(&p)?).await?;
        Self::finish_write(tx, head).await?;
        Ok(p)
    }

    async fn problem(&self, scope: &Scope, id: i64) -> Result<Option<fengqiao_domain::problem::Problem>, StoreError> {
        let mut q = QueryBuilder::<DB>::new("SELECT body FROM problems WHERE id = ");
        q.push_bind(id);
        push_problem_scope(&mut q, scope);
        let body: Option<String> = q.build_query_scalar().fetch_optional(&self.pool).await.map_err(backend_err)?;
        body.map(|b| from_json(&b)).transpose()
    }

    async fn problems(&self, scope: &Scope, f: &fengqiao_store::ProblemFilter) -> Result<Vec<fengqiao_domain::problem::Problem>, StoreError> {
        let mut q = QueryBuilder::<DB>::new("SELECT body FROM problems WHERE 1 = 1");
        push_problem_scope(&mut q, scope);
        if let Some(s) = f.stage {
            q.push(" AND stage = ").push_bind(s.as_str());
        }
        push_region(&mut q, &f.region, "region")?;
        q.push(" ORDER BY id DESC");
        let rows: Vec<String> = q.build_query_scalar().fetch_all(&self.pool).await.map_err(backend_err)?;
        let mut out = Vec::new();
        for b in &rows {
            let p: fengqiao_domain::problem::Problem = from_json(b)?;
            if f.case_id.is_some_and(|c| !p.case_ids.contains(&CaseId(c))) {
                continue;
            }
            out.push(p);
            if out.len() as i64 >= f.limit.clamp(1, 10_000) {
                break;
            }
        }
        Ok(out)
    }

    async fn save_subscription(&self, s: &fengqiao_domain::webhook::Subscription, actor: &str, at: Timestamp) -> Result<fengqiao_domain::webhook::Subscription, StoreError> {
        let (mut tx, seq, h) = self.begin_write().await?;
        let mut head = (seq, h);
        let mut s = s.clone();
        if s.id == 0 {
            s.id = sqlx::query_scalar::<_, i64>("SELECT COALESCE(MAX(id), 0) + 1 FROM webhook_subscriptions").fetch_one(&mut *tx).await.map_err(backend_err)?;
        }
        sqlx::query("INSERT INTO webhook_subscriptions (id, active, body) VALUES ($1, $2, $3) ON CONFLICT (id) DO UPDATE SET active = excluded.active, body = excluded.body")
            .bind(s.id)
            .bind(s.active)
            .bind(to_json(&s)?)
            .execute(&mut *tx)
            .await
            .map_err(backend_err)?;
        // The log names the subscription, never its secret.
        let payload = to_json(&serde_json::json!({ "id": s.id, "name": s.name, "url": s.url, "kinds": s.kinds, "active": s.active }))?;
        Self::append(&mut tx, &mut head, None, at, actor, "webhook_saved", &payload).await?;
        Self::finish_write(tx, head).await?;
        Ok(s)
    }

    async fn subscriptions(&self) -> Result<Vec<fengqiao_domain::webhook::Subscription>, StoreError> {
        self.bodies("SELECT body FROM webhook_subscriptions ORDER BY id").await
    }

    async fn set_user_email(&self, user_id: &str, email: Option<&str>, actor: &str, at: Timestamp) -> Result<(), StoreError> {
        let (mut tx, seq, h) = self.begin_write().await?;
        let mut head = (seq, h);
        let exists: Option<String> = sqlx::query_scalar("SELECT id FROM users WHERE id = $1").bind(user_id).fetch_optional(&mut *tx).await.map_err(backend_err)?;
        if exists.is_none() {
            return Err(StoreError::NotFound);
        }
        match email {
            Some(e) => {
                sqlx::query("INSERT INTO user_emails (user_id, email) VALUES ($1, $2) ON CONFLICT (user_id) DO UPDATE SET email = excluded.email")
                    .bind(user_id)
                    .bind(e)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend_err)?;
            }
            None => {
                sqlx::query("DELETE FROM user_emails WHERE user_id = $1").bind(user_id).execute(&mut *tx).await.map_err(backend_err)?;
            }
        }
        // The address is personal data: the log records only that it changed.
        let payload = to_json(&serde_json::json!({ "user": user_id, "email_set": email.is_some() }))?;
        Self::append(&mut tx, &mut head, None, at, actor, "user_email_saved", &payload).await?;
        Self::finish_write(tx, head).await
    }

    async fn user_emails(&self) -> Result<Vec<(String, String)>, StoreError> {
        sqlx::query_as("SELECT user_id, email FROM user_emails ORDER BY user_id").fetch_all(&self.pool).await.map_err(backend_err)
    }

    async fn claim_outbox(&self, channels: &[&str], now: Timestamp, lease_until: Timestamp, limit: i64) -> Result<Vec<fengqiao_store::webhooks::OutboxItem>, StoreError> {
        if channels.is_empty() {
            return Ok(Vec::new());
        }
        let mut q = QueryBuilder::<DB>::new(format!("SELECT {OUTBOX_COLUMNS} FROM outbound_messages WHERE state = 'pending' AND next_at <= "));
        q.push_bind(now.0).push(" AND channel IN (");
        let mut sep = q.separated(", ");
        for c in channels {
            sep.push_bind(c.to_string());
        }
        q.push(") ORDER BY next_at, id LIMIT ").push_bind(limit);
        let rows = q.build().fetch_all(&self.pool).await.map_err(backend_err)?;
        let mut out = Vec::new();
        for r in &rows {
            let mut item = outbox_from_row(r)?;
            // The lease: only the server whose update finds the row still due sends it.
            let claimed = sqlx::query("UPDATE outbound_messages SET next_at = $1 WHERE id = $2 AND state = 'pending' AND next_at = $3")
                .bind(lease_until.0)
                .bind(item.id)
                .bind(item.next_at.0)
                .execute(&self.pool)
                .await
                .map_err(backend_err)?
                .rows_affected();
            if claimed == 1 {
                item.next_at = lease_until;
                out.push(item);
            }
        }
        Ok(out)
    }

    async fn outbox_attempted(&self, id: i64, attempt: &fengqiao_store::webhooks::Attempt) -> Result<(), StoreError> {
        use fengqiao_store::webhooks::Attempt;
        let q = match attempt {
            Attempt::Delivered { at } => sqlx::query("UPDATE outbound_messages SET state = 'delivered', attempts = attempts + 1, done_at = $1, last_error = NULL WHERE id = $2").bind(at.0).bind(id),
            Attempt::Failed { at, error, retry_at: Some(r) } => {
                let _ = at;
                sqlx::query("UPDATE outbound_messages SET attempts = attempts + 1, next_at = $1, last_error = $2 WHERE id = $3").bind(r.0).bind(error.clone()).bind(id)
            }
            Attempt::Failed { at, error, retry_at: None } => {
                sqlx::query("UPDATE outbound_messages SET state = 'dead', attempts = attempts + 1, done_at = $1, last_error = $2 WHERE id = $3").bind(at.0).bind(error.clone()).bind(id)
            }
        };
        q.execute(&self.pool).await.map_err(backend_err)?;
        Ok(())
    }

    async fn outbox(&self, f: &fengqiao_store::webhooks::OutboxFilter) -> Result<Vec<fengqiao_store::webhooks::OutboxItem>, StoreError> {
        let mut q = QueryBuilder::<DB>::new(format!("SELECT {OUTBOX_COLUMNS} FROM outbound_messages WHERE 1 = 1"));
        if let Some(s) = &f.state {
            q.push(" AND state = ").push_bind(s.clone());
        }
        if let Some(c) = &f.channel {
            q.push(" AND channel = ").push_bind(c.clone());
        }
        q.push(" ORDER BY id DESC LIMIT ").push_bind(f.limit.clamp(1, 10_000));
        let rows = q.build().fetch_all(&self.pool).await.map_err(backend_err)?;
        rows.iter().map(outbox_from_row).collect()
    }

    async fn requeue_outbox(&self, id: i64, actor: &str, at: Timestamp) -> Result<bool, StoreError> {
        let (mut tx, seq, h) = self.begin_write().await?;
        let mut head = (seq, h);
        let done = sqlx::query("UPDATE outbound_messages SET state = 'pending', attempts = 0, next_at = $1, done_at = NULL WHERE id = $2 AND state = 'dead'")
            .bind(at.0)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(backend_err)?
            .rows_affected();
        if done != 1 {
            tx.rollback().await.map_err(backend_err)?;
            return Ok(false);
        }
        Self::append(&mut tx, &mut head, None, at, actor, "outbox_requeued", &to_json(&serde_json::json!({ "id": id }))?).await?;
        Self::finish_write(tx, head).await?;
        Ok(true)
    }

    async fn prune_outbox(&self, before: Timestamp) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM outbound_messages WHERE state = 'delivered' AND done_at < $1").bind(before.0).execute(&self.pool).await.map_err(backend_err)?;
        Ok(done.rows_affected())
    }

    // ---- mediation ----

    async fn save_mediation(
        &self,
        m: &fengqiao_domain::mediation::Mediation,
        expected_version: Option<i64>,
        event: &str,
        actor: &str,
        at: Timestamp,
        case: Option<&fengqiao_store::JobCommit>,
    ) -> Result<fengqiao_domain::mediation::Mediation, StoreError> {
        let (mut tx, s, h) = self.begin_write().await?;
        let mut head = (s, h);
        let mut m = m.clone();
        match expected_version {
            None => {
                // Writers are serialised by the head lock, so MAX + 1 cannot race.
                m.id = sqlx::query_scalar::<_, i64>("SELECT COALESCE(MAX(id), 0) + 1 FROM mediations").fetch_one(&mut *tx).await.map_err(backend_err)?;
                Self::insert_mediation(&mut tx, &m).await?;
            }
            Some(v) => {
                let done = sqlx::query("UPDATE mediations SET status = $1, confirm_due = $2, term_due = $7, version = $3, body = $4 WHERE id = $5 AND version = $6")
                    .bind(m.status.as_str())
                    .bind(mediation_confirm_due(&m))
                    .bind(m.version)
                    .bind(to_json(&m)?)
                    .bind(m.id)
                    .bind(v)
                    .bind(m.next_term_due().map(|t| t.0))
                    .execute(&mut *tx)
                    .await
                    .map_err(backend_err)?;
                if done.rows_affected() != 1 {
                    return Err(Self::stale(&mut tx, "mediations", m.id).await);
                }
            }
        }
        Self::book_mediation(&mut tx, &m).await?;
        if let Some(c) = case {
            Self::commit_in(&mut tx, &mut head, c.expected_version, &c.events, &c.state).await?;
        }
        Self::append(&mut tx, &mut head, None, at, actor, event, &to_json(&m)?).await?;
        Self::finish_write(tx, head).await?;
        Ok(m)
    }

    async fn mediation(&self, scope: &Scope, id: i64) -> Result<Option<fengqiao_domain::mediation::Mediation>, StoreError> {
        let mut q = QueryBuilder::<DB>::new("SELECT body FROM mediations WHERE id = ");
        q.push_bind(id);
        push_scope(&mut q, scope, "case_id", "region");
        let body: Option<String> = q.build_query_scalar().fetch_optional(&self.pool).await.map_err(backend_err)?;
        body.map(|b| from_json(&b)).transpose()
    }

    async fn mediations(&self, scope: &Scope, f: &fengqiao_store::MediationFilter) -> Result<Vec<fengqiao_domain::mediation::Mediation>, StoreError> {
        let mut q = QueryBuilder::<DB>::new("SELECT body FROM mediations WHERE 1 = 1");
        push_scope(&mut q, scope, "case_id", "region");
        if let Some(c) = f.case_id {
            q.push(" AND case_id = ").push_bind(c);
        }
        if let Some(s) = f.status {
            q.push(" AND status = ").push_bind(s.as_str());
        }
        if let Some(u) = &f.unit {
            q.push(" AND unit = ").push_bind(u.clone());
        }
        if let Some(c) = &f.category {
            q.push(" AND category = ").push_bind(c.clone());
        }
        push_region(&mut q, &f.region, "region")?;
        if let Some(t) = f.opened_from {
            q.push(" AND opened_at >= ").push_bind(t.0);
        }
        if let Some(t) = f.opened_to {
            q.push(" AND opened_at < ").push_bind(t.0);
        }
        q.push(" ORDER BY id DESC LIMIT ").push_bind(f.limit.clamp(1, 10_000));
        let rows: Vec<String> = q.build_query_scalar().fetch_all(&self.pool).await.map_err(backend_err)?;
        rows.iter().map(|b| from_json(b)).collect()
    }

    async fn mediation_bookings(&self, scope: &Scope, from: Timestamp, to: Timestamp) -> Result<Vec<fengqiao_domain::mediation::Booking>, StoreError> {
        let mut q = QueryBuilder::<DB>::new(
            "SELECT b.mediation_id, b.session, b.resource, b.start_at, b.end_at FROM mediation_bookings b JOIN mediations m ON m.id = b.mediation_id WHERE b.start_at < ",
        );
        q.push_bind(to.0).push(" AND b.end_at > ").push_bind(from.0);
        push_scope(&mut q, scope, "m.case_id", "m.region");
        q.push(" ORDER BY b.start_at, b.resource LIMIT 5000");
        let rows: Vec<(i64, i64, String, i64, i64)> = q.build_query_as().fetch_all(&self.pool).await.map_err(backend_err)?;
        Ok(rows
            .into_iter()
            .map(|(m, s, r, a, b)| fengqiao_domain::mediation::Booking { mediation_id: m, session: s as u32, resource: r, start: Timestamp(a), end: Timestamp(b) })
            .collect())
    }

    async fn mediations_term_due(&self, from: Timestamp, to: Timestamp, job_kind: &str, limit: i64) -> Result<Vec<fengqiao_domain::mediation::Mediation>, StoreError> {
        let rows: Vec<String> = sqlx::query_scalar(
            "SELECT m.body FROM mediations m WHERE m.term_due >= $1 AND m.term_due < $2 \
             AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.kind = $3 AND j.case_id = m.case_id AND j.due_at = m.term_due) \
             ORDER BY m.term_due, m.id LIMIT $4",
        )
        .bind(from.0)
        .bind(to.0)
        .bind(job_kind)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(backend_err)?;
        rows.iter().map(|b| from_json(b)).collect()
    }

    async fn mediations_confirmation_due(&self, from: Timestamp, to: Timestamp, job_kind: &str, limit: i64) -> Result<Vec<fengqiao_domain::mediation::Mediation>, StoreError> {
        let rows: Vec<String> = sqlx::query_scalar(
            "SELECT m.body FROM mediations m WHERE m.confirm_due >= $1 AND m.confirm_due < $2 \
             AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.kind = $3 AND j.case_id = m.case_id AND j.due_at = m.confirm_due) \
             ORDER BY m.confirm_due, m.id LIMIT $4",
        )
        .bind(from.0)
        .bind(to.0)
        .bind(job_kind)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(backend_err)?;
        rows.iter().map(|b| from_json(b)).collect()
    }

    async fn put_rota(&self, unit: &UnitId, from: Timestamp, to: Timestamp, shifts: &[DutyShift], actor: &str, at: Timestamp) -> Result<(), StoreError> {
        let (mut tx, s, h) = self.begin_write().await?;
        let mut head = (s, h);
        sqlx::query("DELETE FROM duty_shifts WHERE unit = $1 AND starts_at >= $2 AND starts_at < $3")
            .bind(&unit.0)
            .bind(from.0)
            .bind(to.0)
            .execute(&mut *tx)
            .await
            .map_err(backend_err)?;
        Self::insert_shifts(&mut tx, shifts).await?;
        let payload = to_json(&serde_json::json!({ "unit": unit, "from": from, "to": to, "shifts": shifts }))?;
        Self::append(&mut tx, &mut head, None, at, actor, "rota_saved", &payload).await?;
        Self::finish_write(tx, head).await
    }

    async fn rota(&self, unit: &UnitId, from: Timestamp, to: Timestamp) -> Result<Vec<DutyShift>, StoreError> {
        let rows: Vec<(String, String, i64, i64)> = sqlx::query_as(
            "SELECT unit, user_id, starts_at, ends_at FROM duty_shifts WHERE unit = $1 AND ends_at > $2 AND starts_at < $3 ORDER BY starts_at, user_id",
        )
        .bind(&unit.0)
        .bind(from.0)
        .bind(to.0)
        .fetch_all(&self.pool)
        .await
        .map_err(backend_err)?;
        Ok(rows.into_iter().map(shift_from_row).collect())
    }

    async fn on_duty(&self, units: &[UnitId], at: Timestamp) -> Result<Vec<DutyShift>, StoreError> {
        if units.is_empty() {
            return Ok(Vec::new());
        }
        let mut q = QueryBuilder::<DB>::new("SELECT unit, user_id, starts_at, ends_at FROM duty_shifts WHERE unit IN (");
        let mut sep = q.separated(", ");
        for u in units {
            sep.push_bind(u.0.clone());
        }
        q.push(") AND starts_at <= ").push_bind(at.0).push(" AND ends_at > ").push_bind(at.0).push(" ORDER BY unit, user_id");
        let rows: Vec<(String, String, i64, i64)> = q.build_query_as().fetch_all(&self.pool).await.map_err(backend_err)?;
        Ok(rows.into_iter().map(shift_from_row).collect())
    }
    // Residents by phone: the SMS outbox, the resident roll, one-time codes, resident
    // sessions, "my cases", and community consultations.
    async fn sms_due(&self, now: Timestamp, limit: i64) -> Result<Vec<fengqiao_store::SmsMessage>, StoreError> {
        let rows = sqlx::query(&format!(
            "{SMS_SELECT} WHERE o.sent_at IS NULL AND o.failed_at IS NULL AND o.next_at <= $1 AND (o.claimed_until IS NULL OR o.claimed_until <= $1) ORDER BY o.id LIMIT $2"
        ))
        .bind(now.0)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(backend_err)?;
        rows.iter().map(sms_from_row).collect()
    }

    async fn sms_claim(&self, id: i64, now: Timestamp, lease_until: Timestamp) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE sms_outbox SET claimed_until = $3 WHERE id = $1 AND sent_at IS NULL AND failed_at IS NULL AND (claimed_until IS NULL OR claimed_until <= $2)",
        )
        .bind(id)
        .bind(now.0)
        .bind(lease_until.0)
        .execute(&self.pool)
        .await
        .map_err(backend_err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn sms_done(&self, id: i64, outcome: &fengqiao_store::SmsOutcome, at: Timestamp) -> Result<(), StoreError> {
        use fengqiao_store::SmsOutcome;
        match outcome {
            SmsOutcome::Sent => {
                let (mut tx, s, h) = self.begin_write().await?;
                let mut head = (s, h);
                let row: Option<(Option<i64>, String)> =
                    sqlx::query_as("UPDATE sms_outbox SET sent_at = $2, attempts = attempts + 1, claimed_until = NULL WHERE id = $1 AND sent_at IS NULL RETURNING case_id, kind")
                        .bind(id)
                        .bind(at.0)
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(backend_err)?;
                let Some((case_id, kind)) = row else {
                    tx.rollback().await.map_err(backend_err)?;
                    return Ok(());
                };
                let payload = to_json(&serde_json::json!({ "message": id, "case_id": case_id, "kind": kind }))?;
                Self::append(&mut tx, &mut head, None, at, "system:sms", "sms_sent", &payload).await?;
                Self::finish_write(tx, head).await
            }
            SmsOutcome::Retry { at: next, error } => {
                sqlx::query("UPDATE sms_outbox SET attempts = attempts + 1, next_at = $2, last_error = $3, claimed_until = NULL WHERE id = $1 AND sent_at IS NULL")
                    .bind(id)
                    .bind(next.0)
                    .bind(error)
                    .execute(&self.pool)
                    .await
                    .map_err(backend_err)?;
                Ok(())
            }
            SmsOutcome::GaveUp { error } => {
                sqlx::query("UPDATE sms_outbox SET attempts = attempts + 1, failed_at = $2, last_error = $3, claimed_until = NULL WHERE id = $1 AND sent_at IS NULL")
                    .bind(id)
                    .bind(at.0)
                    .bind(error)
                    .execute(&self.pool)
                    .await
                    .map_err(backend_err)?;
                Ok(())
            }
        }
    }

    async fn sms_outbox(&self, limit: i64) -> Result<Vec<fengqiao_store::SmsMessage>, StoreError> {
        let rows = sqlx::query(&format!("{SMS_SELECT} ORDER BY o.id DESC LIMIT $1")).bind(limit).fetch_all(&self.pool).await.map_err(backend_err)?;
        rows.iter().map(sms_from_row).collect()
    }

    async fn save_resident(
        &self,
        r: &fengqiao_domain::resident::Resident,
        event: &str,
        actor: &str,
        at: Timestamp,
    ) -> Result<fengqiao_domain::resident::Resident, StoreError> {
        let (mut tx, s, h) = self.begin_write().await?;
        let mut head = (s, h);
        let mut r = r.clone();
        if r.id == 0 {
            // A concurrent first sign-in of the same phone: keep the entry that is there.
            let existing: Option<i64> = sqlx::query_scalar("SELECT id FROM residents WHERE phone = $1").bind(&r.phone).fetch_optional(&mut *tx).await.map_err(backend_err)?;
            match existing {
                Some(id) => r.id = id,
                None => {
                    r.id = sqlx::query_scalar::<_, i64>("SELECT COALESCE(MAX(id), 0) + 1 FROM residents").fetch_one(&mut *tx).await.map_err(backend_err)?;
                }
            }
        }
        sqlx::query(
            "INSERT INTO residents (id, phone, region, body) VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO UPDATE SET phone = excluded.phone, region = excluded.region, body = excluded.body",
        )
        .bind(r.id)
        .bind(&r.phone)
        .bind(r.region.as_ref().map(|c| c.as_str().to_string()))
        .bind(to_json(&r)?)
        .execute(&mut *tx)
        .await
        .map_err(backend_err)?;
        Self::append(&mut tx, &mut head, None, at, actor, event, &to_json(&r.event())?).await?;
        Self::finish_write(tx, head).await?;
        Ok(r)
    }

    async fn resident(&self, id: i64) -> Result<Option<fengqiao_domain::resident::Resident>, StoreError> {
        let body: Option<String> = sqlx::query_scalar("SELECT body FROM residents WHERE id = $1").bind(id).fetch_optional(&self.pool).await.map_err(backend_err)?;
        body.map(|b| from_json(&b)).transpose()
    }

    async fn resident_by_phone(&self, phone: &str) -> Result<Option<fengqiao_domain::resident::Resident>, StoreError> {
        let body: Option<String> = sqlx::query_scalar("SELECT body FROM residents WHERE phone = $1").bind(phone).fetch_optional(&self.pool).await.map_err(backend_err)?;
        body.map(|b| from_json(&b)).transpose()
    }

    async fn put_otp(&self, c: &fengqiao_domain::resident::OtpCode) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO otp_codes (phone, salt, code_hash, created_at, expires_at, attempts) VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (phone) DO UPDATE SET salt = excluded.salt, code_hash = excluded.code_hash, created_at = excluded.created_at, expires_at = excluded.expires_at, attempts = excluded.attempts",
        )
        .bind(&c.phone)
        .bind(&c.salt)
        .bind(&c.code_hash)
        .bind(c.created_at.0)
        .bind(c.expires_at.0)
        .bind(c.attempts)
        .execute(&self.pool)
        .await
        .map_err(backend_err)?;
        Ok(())
    }

    async fn otp_attempt(&self, phone: &str) -> Result<Option<fengqiao_domain::resident::OtpCode>, StoreError> {
        // One statement: concurrent guesses each count, so no more than the limit are checked.
        let row: Option<(String, String, i64, i64, i64)> = sqlx::query_as(
            "UPDATE otp_codes SET attempts = attempts + 1 WHERE phone = $1 RETURNING salt, code_hash, created_at, expires_at, attempts",
        )
        .bind(phone)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend_err)?;
        Ok(row.map(|(salt, code_hash, c, e, attempts)| fengqiao_domain::resident::OtpCode {
            phone: phone.to_string(),
            salt,
            code_hash,
            created_at: Timestamp(c),
            expires_at: Timestamp(e),
            attempts,
        }))
    }

    async fn delete_otp(&self, phone: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM otp_codes WHERE phone = $1").bind(phone).execute(&self.pool).await.map_err(backend_err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn create_resident_session(&self, s: &fengqiao_store::ResidentSession) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO resident_sessions (id_hash, resident_id, csrf, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(&s.id_hash)
            .bind(s.resident_id)
            .bind(&s.csrf)
            .bind(s.created_at.0)
            .bind(s.expires_at.0)
            .execute(&self.pool)
            .await
            .map_err(backend_err)?;
        Ok(())
    }

    async fn resident_session(&self, id_hash: &str, now: Timestamp) -> Result<Option<(fengqiao_store::ResidentSession, fengqiao_domain::resident::Resident)>, StoreError> {
        let row: Option<(i64, String, i64, i64, String)> = sqlx::query_as(
            "SELECT s.resident_id, s.csrf, s.created_at, s.expires_at, r.body FROM resident_sessions s JOIN residents r ON r.id = s.resident_id WHERE s.id_hash = $1 AND s.expires_at > $2",
        )
        .bind(id_hash)
        .bind(now.0)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend_err)?;
        row.map(|(resident_id, csrf, c, e, body)| {
            Ok((
                fengqiao_store::ResidentSession { id_hash: id_hash.to_string(), resident_id, csrf, created_at: Timestamp(c), expires_at: Timestamp(e) },
                from_json(&body)?,
            ))
        })
        .transpose()
    }

    async fn delete_resident_session(&self, id_hash: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM resident_sessions WHERE id_hash = $1").bind(id_hash).execute(&self.pool).await.map_err(backend_err)?;
        Ok(())
    }

    async fn purge_resident_auth(&self, now: Timestamp) -> Result<u64, StoreError> {
        let codes = sqlx::query("DELETE FROM otp_codes WHERE expires_at <= $1").bind(now.0).execute(&self.pool).await.map_err(backend_err)?.rows_affected();
        let sessions = sqlx::query("DELETE FROM resident_sessions WHERE expires_at <= $1").bind(now.0).execute(&self.pool).await.map_err(backend_err)?.rows_affected();
        Ok(codes + sessions)
    }

    async fn cases_reported_by(&self, phone: &str) -> Result<Vec<Case>, StoreError> {
        let people: Vec<i64> = sqlx::query_scalar("SELECT id FROM persons WHERE phone = $1 AND erased_at IS NULL").bind(phone).fetch_all(&self.pool).await.map_err(backend_err)?;
        if people.is_empty() {
            return Ok(Vec::new());
        }
        let mut q = QueryBuilder::<DB>::new("SELECT state FROM case_states WHERE id IN (SELECT case_id FROM case_persons WHERE person_id IN (");
        let mut sep = q.separated(", ");
        for id in &people {
            sep.push_bind(*id);
        }
        q.push(")) ORDER BY id DESC LIMIT 500");
        let rows: Vec<String> = q.build_query_scalar().fetch_all(&self.pool).await.map_err(backend_err)?;
        let cases: Vec<Case> = rows.iter().map(|s| from_json(s)).collect::<Result<_, _>>()?;
        // As the reporter only: a party to someone else's dispute sees it through its parties.
        Ok(cases.into_iter().filter(|c| c.reporter.is_some_and(|r| people.contains(&r))).collect())
    }

    async fn save_consultation(
        &self,
        c: &fengqiao_domain::consultation::Consultation,
        expected_version: Option<i64>,
        event: &str,
        actor: &str,
        at: Timestamp,
    ) -> Result<fengqiao_domain::consultation::Consultation, StoreError> {
        let (mut tx, s, h) = self.begin_write().await?;
        let mut head = (s, h);
        let mut c = c.clone();
        match expected_version {
            None => {
                c.id = sqlx::query_scalar::<_, i64>("SELECT COALESCE(MAX(id), 0) + 1 FROM consultations").fetch_one(&mut *tx).await.map_err(backend_err)?;
                sqlx::query("INSERT INTO consultations (id, region, status, closes_at, version, body) VALUES ($1, $2, $3, $4, $5, $6)")
                    .bind(c.id)
                    .bind(c.region.as_str())
                    .bind(c.status.as_str())
                    .bind(c.closes_at.0)
                    .bind(c.version)
                    .bind(to_json(&c)?)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend_err)?;
            }
            Some(v) => {
                let done = sqlx::query("UPDATE consultations SET status = $1, version = $2, body = $3 WHERE id = $4 AND version = $5")
                    .bind(c.status.as_str())
                    .bind(c.version)
                    .bind(to_json(&c)?)
                    .bind(c.id)
                    .bind(v)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend_err)?;
                if done.rows_affected() != 1 {
                    return Err(Self::stale(&mut tx, "consultations", c.id).await);
                }
            }
        }
        Self::append(&mut tx, &mut head, None, at, actor, event, &to_json(&c)?).await?;
        Self::finish_write(tx, head).await?;
        Ok(c)
    }

    async fn consultation(&self, scope: &Scope, id: i64) -> Result<Option<fengqiao_domain::consultation::Consultation>, StoreError> {
        let mut q = QueryBuilder::<DB>::new("SELECT body FROM consultations WHERE id = ");
        q.push_bind(id);
        push_consult_scope(&mut q, scope);
        let body: Option<String> = q.build_query_scalar().fetch_optional(&self.pool).await.map_err(backend_err)?;
        body.map(|b| from_json(&b)).transpose()
    }

    async fn consultations(&self, scope: &Scope, limit: i64) -> Result<Vec<fengqiao_domain::consultation::Consultation>, StoreError> {
        let mut q = QueryBuilder::<DB>::new("SELECT body FROM consultations WHERE 1 = 1");
        push_consult_scope(&mut q, scope);
        q.push(" ORDER BY id DESC LIMIT ").push_bind(limit.clamp(1, 10_000));
        let rows: Vec<String> = q.build_query_scalar().fetch_all(&self.pool).await.map_err(backend_err)?;
        rows.iter().map(|b| from_json(b)).collect()
    }

    async fn add_consult_entry(&self, e: &fengqiao_store::residents::NewEntry, at: Timestamp) -> Result<i64, StoreError> {
        use fengqiao_store::residents::NewEntry;
        let (mut tx, s, h) = self.begin_write().await?;
        let mut head = (s, h);
        let (consultation_id, resident_id) = match e {
            NewEntry::Proposal(p) => (p.consultation_id, p.resident_id),
            NewEntry::Comment(c) => (c.consultation_id, c.resident_id),
        };
        Self::check_consult_open(&mut tx, consultation_id, at).await?;
        let (id, kind, payload) = match e {
            NewEntry::Proposal(p) => {
                let id: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) + 1 FROM consult_proposals").fetch_one(&mut *tx).await.map_err(backend_err)?;
                sqlx::query("INSERT INTO consult_proposals (id, consultation_id, resident_id, body, at) VALUES ($1, $2, $3, $4, $5)")
                    .bind(id)
                    .bind(p.consultation_id)
                    .bind(p.resident_id)
                    .bind(&p.text)
                    .bind(p.at.0)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend_err)?;
                (id, "consultation_proposal", serde_json::json!({ "consultation": consultation_id, "proposal": id, "resident": resident_id }))
            }
            NewEntry::Comment(c) => {
                if let Some(pid) = c.proposal_id {
                    let of: Option<i64> = sqlx::query_scalar("SELECT consultation_id FROM consult_proposals WHERE id = $1").bind(pid).fetch_optional(&mut *tx).await.map_err(backend_err)?;
                    if of != Some(consultation_id) {
                        return Err(fengqiao_domain::DomainError::invalid("proposal_id", "no such proposal in this consultation").into());
                    }
                }
                let id: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) + 1 FROM consult_comments").fetch_one(&mut *tx).await.map_err(backend_err)?;
                sqlx::query("INSERT INTO consult_comments (id, consultation_id, proposal_id, resident_id, body, at) VALUES ($1, $2, $3, $4, $5, $6)")
                    .bind(id)
                    .bind(c.consultation_id)
                    .bind(c.proposal_id)
                    .bind(c.resident_id)
                    .bind(&c.text)
                    .bind(c.at.0)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend_err)?;
                (id, "consultation_comment", serde_json::json!({ "consultation": consultation_id, "comment": id, "proposal": c.proposal_id, "resident": resident_id }))
            }
        };
        Self::append(&mut tx, &mut head, None, at, &format!("resident:{resident_id}"), kind, &to_json(&payload)?).await?;
        Self::finish_write(tx, head).await?;
        Ok(id)
    }

    async fn support(&self, consultation_id: i64, proposal_id: i64, resident_id: i64, at: Timestamp) -> Result<bool, StoreError> {
        let (mut tx, s, h) = self.begin_write().await?;
        let mut head = (s, h);
        Self::check_consult_open(&mut tx, consultation_id, at).await?;
        let of: Option<i64> = sqlx::query_scalar("SELECT consultation_id FROM consult_proposals WHERE id = $1").bind(proposal_id).fetch_optional(&mut *tx).await.map_err(backend_err)?;
        if of != Some(consultation_id) {
            return Err(fengqiao_domain::DomainError::invalid("proposal_id", "no such proposal in this consultation").into());
        }
        // The primary key (consultation, resident) decides: a second support inserts nothing.
        let added = sqlx::query("INSERT INTO consult_supports (consultation_id, resident_id, proposal_id, at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING")
            .bind(consultation_id)
            .bind(resident_id)
            .bind(proposal_id)
            .bind(at.0)
            .execute(&mut *tx)
            .await
            .map_err(backend_err)?
            .rows_affected();
        if added == 0 {
            tx.rollback().await.map_err(backend_err)?;
            return Ok(false);
        }
        let payload = serde_json::json!({ "consultation": consultation_id, "proposal": proposal_id, "resident": resident_id });
        Self::append(&mut tx, &mut head, None, at, &format!("resident:{resident_id}"), "consultation_support", &to_json(&payload)?).await?;
        Self::finish_write(tx, head).await?;
        Ok(true)
    }

    async fn consult_entries(&self, consultation_id: i64) -> Result<fengqiao_store::residents::ConsultEntries, StoreError> {
        use fengqiao_store::residents::{CommentView, ConsultEntries, ProposalView};
        let proposals: Vec<(i64, String, i64, i64)> = sqlx::query_as(
            "SELECT p.id, p.body, p.at, (SELECT COUNT(*) FROM consult_supports s WHERE s.proposal_id = p.id) FROM consult_proposals p WHERE p.consultation_id = $1 ORDER BY p.id",
        )
        .bind(consultation_id)
        .fetch_all(&self.pool)
        .await
        .map_err(backend_err)?;
        let comments: Vec<(i64, Option<i64>, String, i64)> =
            sqlx::query_as("SELECT id, proposal_id, body, at FROM consult_comments WHERE consultation_id = $1 ORDER BY id")
                .bind(consultation_id)
                .fetch_all(&self.pool)
                .await
                .map_err(backend_err)?;
        let supporters: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM consult_supports WHERE consultation_id = $1").bind(consultation_id).fetch_one(&self.pool).await.map_err(backend_err)?;
        Ok(ConsultEntries {
            proposals: proposals.into_iter().map(|(id, text, at, supports)| ProposalView { id, text, at: Timestamp(at), supports }).collect(),
            comments: comments.into_iter().map(|(id, proposal_id, text, at)| CommentView { id, proposal_id, text, at: Timestamp(at) }).collect(),
            supporters,
        })
    }

    async fn supported(&self, consultation_id: i64, resident_id: i64) -> Result<Option<i64>, StoreError> {
        sqlx::query_scalar("SELECT proposal_id FROM consult_supports WHERE consultation_id = $1 AND resident_id = $2")
            .bind(consultation_id)
            .bind(resident_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend_err)
    }

    // ---- Early warnings ----
    async fn alert_facts(
        &self,
        now: Timestamp,
        parties_since: Timestamp,
        dispute_categories: &[String],
    ) -> Result<fengqiao_domain::alert::AlertFacts, StoreError> {
        use fengqiao_domain::alert::{AlertFacts, OverdueFact, PartyFact};
        let code = |s: String| fengqiao_domain::RegionCode::parse(&s).map_err(|e| StoreError::Backend(format!("stored region {s}: {}", e.message)));
        let mut facts = AlertFacts::default();
        if !dispute_categories.is_empty() {
            let mut q = QueryBuilder::<DB>::new(
                "SELECT cp.person_id, c.id, c.region, c.created_at FROM case_persons cp JOIN cases c ON c.id = cp.case_id WHERE c.created_at > ",
            );
            q.push_bind(parties_since.0).push(" AND c.created_at <= ").push_bind(now.0).push(" AND c.category IN (");
            let mut sep = q.separated(", ");
            for c in dispute_categories {
                sep.push_bind(c.clone());
            }
            q.push(") ORDER BY cp.person_id, c.created_at, c.id");
            let rows: Vec<(i64, i64, String, i64)> = q.build_query_as().fetch_all(&self.pool).await.map_err(backend_err)?;
            for (person_id, case_id, region, at) in rows {
                facts.parties.push(PartyFact { person_id, case_id, region: code(region)?, created_at: Timestamp(at) });
            }
        }
        let mut q = QueryBuilder::<DB>::new("SELECT id, region FROM cases WHERE status IN (");
        let mut sep = q.separated(", ");
        for s in Deadline::Handling.statuses() {
            sep.push_bind(s.as_str());
        }
        q.push(") AND handling_due < ").push_bind(now.0).push(" ORDER BY id");
        let rows: Vec<(i64, String)> = q.build_query_as().fetch_all(&self.pool).await.map_err(backend_err)?;
        for (case_id, region) in rows {
            facts.overdue.push(OverdueFact { case_id, region: code(region)? });
        }
        Ok(facts)
    }

    async fn raise_alerts(
        &self,
        alerts: &[(fengqiao_domain::alert::Alert, Vec<InboxItem>)],
        actor: &str,
        at: Timestamp,
    ) -> Result<Vec<fengqiao_domain::alert::Alert>, StoreError> {
        let (mut tx, s, h) = self.begin_write().await?;
        let mut head = (s, h);
        let mut stored = Vec::new();
        let mut notices: Vec<InboxItem> = Vec::new();
        for (a, n) in alerts {
            // Under the head's lock: a live alert with the same key means the condition is known.
            let live: Option<i64> = sqlx::query_scalar("SELECT id FROM alerts WHERE dedup_key = $1 AND status <> 'closed'")
                .bind(&a.dedup_key)
                .fetch_optional(&mut *tx)
                .await
                .map_err(backend_err)?;
            if live.is_some() {
                continue;
            }
            let mut a = a.clone();
            a.id = sqlx::query_scalar::<_, i64>("SELECT COALESCE(MAX(id), 0) + 1 FROM alerts").fetch_one(&mut *tx).await.map_err(backend_err)?;
            a.recipients = n.iter().map(|x| x.recipient.clone()).collect();
            Self::insert_alert(&mut tx, &a).await?;
            Self::append(&mut tx, &mut head, None, at, actor, "alert_raised", &to_json(&a)?).await?;
            notices.extend(n.iter().map(|x| InboxItem { message: format!("{} (#{})", x.message, a.id), ..x.clone() }));
            stored.push(a);
        }
        if stored.is_empty() {
            tx.rollback().await.map_err(backend_err)?;
            return Ok(stored);
        }
        if !notices.is_empty() {
            let next: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM inbox").fetch_one(&mut *tx).await.map_err(backend_err)?;
            let mut q = QueryBuilder::<DB>::new("INSERT INTO inbox (id, recipient, case_id, kind, message, due_at, created_at) ");
            q.push_values(notices.iter().enumerate(), |mut b, (i, n)| {
                b.push_bind(next + 1 + i as i64)
                    .push_bind(n.recipient.clone())
                    .push_bind(n.case_id)
                    .push_bind(n.kind.clone())
                    .push_bind(n.message.clone())
                    .push_bind(ts(n.due_at))
                    .push_bind(n.created_at.0);
            });
            q.build().execute(&mut *tx).await.map_err(backend_err)?;
            Self::queue_emails(&mut tx, &notices).await?;
        }
        Self::finish_write(tx, head).await?;
        Ok(stored)
    }

    async fn save_alert(
        &self,
        a: &fengqiao_domain::alert::Alert,
        expected_version: i64,
        event: &str,
        actor: &str,
        at: Timestamp,
    ) -> Result<fengqiao_domain::alert::Alert, StoreError> {
        let (mut tx, s, h) = self.begin_write().await?;
        let mut head = (s, h);
        let done = sqlx::query("UPDATE alerts SET status = $1, closed_at = $2, version = $3, body = $4 WHERE id = $5 AND version = $6")
            .bind(a.status.as_str())
            .bind(a.closed.as_ref().map(|c| c.at.0))
            .bind(a.version)
            .bind(to_json(a)?)
            .bind(a.id)
            .bind(expected_version)
            .execute(&mut *tx)
            .await
            .map_err(backend_err)?;
        if done.rows_affected() != 1 {
            return Err(Self::stale(&mut tx, "alerts", a.id).await);
        }
        Self::append(&mut tx, &mut head, None, at, actor, event, &to_json(a)?).await?;
        Self::finish_write(tx, head).await?;
        Ok(a.clone())
    }

    async fn alert(&self, scope: &Scope, id: i64) -> Result<Option<fengqiao_domain::alert::Alert>, StoreError> {
        let mut q = QueryBuilder::<DB>::new("SELECT body FROM alerts WHERE id = ");
        q.push_bind(id);
        push_alert_scope(&mut q, scope);
        let body: Option<String> = q.build_query_scalar().fetch_optional(&self.pool).await.map_err(backend_err)?;
        body.map(|b| from_json(&b)).transpose()
    }

    async fn alerts(&self, scope: &Scope, f: &fengqiao_store::AlertFilter) -> Result<Vec<fengqiao_domain::alert::Alert>, StoreError> {
        let mut q = QueryBuilder::<DB>::new("SELECT body FROM alerts WHERE 1 = 1");
        push_alert_scope(&mut q, scope);
        if let Some(s) = f.status {
            q.push(" AND status = ").push_bind(s.as_str());
        }
        if let Some(k) = f.kind {
            q.push(" AND kind = ").push_bind(k.as_str());
        }
        push_region(&mut q, &f.region, "region")?;
        q.push(" ORDER BY id DESC LIMIT ").push_bind(f.limit.clamp(1, 10_000));
        let rows: Vec<String> = q.build_query_scalar().fetch_all(&self.pool).await.map_err(backend_err)?;
        rows.iter().map(|b| from_json(b)).collect()
    }

    async fn alert_counts(&self, scope: &Scope, from: Timestamp, to: Timestamp) -> Result<fengqiao_domain::alert::AlertCounts, StoreError> {
        let mut q = QueryBuilder::<DB>::new("SELECT COALESCE(SUM(CASE WHEN raised_at >= ");
        q.push_bind(from.0).push(" AND raised_at < ").push_bind(to.0).push(" THEN 1 ELSE 0 END), 0), COALESCE(SUM(CASE WHEN closed_at >= ");
        q.push_bind(from.0).push(" AND closed_at < ").push_bind(to.0).push(" THEN 1 ELSE 0 END), 0), ");
        q.push("COALESCE(SUM(CASE WHEN status <> 'closed' THEN 1 ELSE 0 END), 0), COALESCE(SUM(CASE WHEN status = 'open' THEN 1 ELSE 0 END), 0) FROM alerts WHERE 1 = 1");
        push_alert_scope(&mut q, scope);
        let (raised, closed, open, unacknowledged): (i64, i64, i64, i64) = q.build_query_as().fetch_one(&self.pool).await.map_err(backend_err)?;
        Ok(fengqiao_domain::alert::AlertCounts { raised, closed, open, unacknowledged })
    }

    async fn reports_by_region_channel(&self, scope: &Scope, from: Timestamp, to: Timestamp) -> Result<Vec<(String, String, i64)>, StoreError> {
        let mut q = QueryBuilder::<DB>::new("SELECT region, channel, COUNT(*) FROM cases WHERE created_at >= ");
        q.push_bind(from.0).push(" AND created_at < ").push_bind(to.0);
        push_scope(&mut q, scope, "id", "region");
        q.push(" GROUP BY region, channel ORDER BY region, channel");
        q.build_query_as().fetch_all(&self.pool).await.map_err(backend_err)
    }

    // ---- Perception ----
    async fn case_cube(&self, scope: &Scope, from: Timestamp, slice_ms: i64, slices: u32) -> Result<fengqiao_store::CaseCube, StoreError> {
        if slice_ms <= 0 {
            return Err(StoreError::Backend(format!("a slice of {slice_ms} ms")));
        }
        let to = from.0 + slice_ms * slices as i64;
        // Severity is set when a case is filed and lives in the stored state only.
        let serious = if BACKEND == "sqlite" { "json_extract(s.state, '$.severity')" } else { "(s.state::json ->> 'severity')" };
        let mut q = QueryBuilder::<DB>::new("SELECT c.region, (c.created_at - ");
        q.push_bind(from.0).push(") / ").push_bind(slice_ms);
        q.push(format!(
            ", c.category, COUNT(*), COALESCE(SUM(CASE WHEN {serious} IN ('serious', 'major') THEN 1 ELSE 0 END), 0) FROM cases c JOIN case_states s ON s.id = c.id WHERE c.created_at >= "
        ));
        q.push_bind(from.0).push(" AND c.created_at < ").push_bind(to);
        push_scope(&mut q, scope, "c.id", "c.region");
        q.push(" GROUP BY 1, 2, 3 ORDER BY 1, 2, 3");
        let rows: Vec<(String, i64, String, i64, i64)> = q.build_query_as().fetch_all(&self.pool).await.map_err(backend_err)?;
        let max_case_id: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM cases").fetch_one(&self.pool).await.map_err(backend_err)?;
        Ok(fengqiao_store::CaseCube {
            cells: rows
                .into_iter()
                .map(|(region, slice, category, cases, serious)| fengqiao_store::CubeCell { region, slice: slice as u32, category, cases, serious })
                .collect(),
            max_case_id,
        })
    }

    async fn case_texts(&self, scope: &Scope, from: Timestamp, to: Timestamp) -> Result<Vec<fengqiao_store::CaseText>, StoreError> {
        let (title, description, severity) = if BACKEND == "sqlite" {
            ("json_extract(s.state, '$.title')", "json_extract(s.state, '$.description')", "json_extract(s.state, '$.severity')")
        } else {
            ("(s.state::json ->> 'title')", "(s.state::json ->> 'description')", "(s.state::json ->> 'severity')")
        };
        let mut q = QueryBuilder::<DB>::new(format!(
            "SELECT c.id, c.region, c.category, CASE WHEN {severity} IN ('serious', 'major') THEN 1 ELSE 0 END, c.created_at, COALESCE({title}, ''), COALESCE({description}, '') FROM cases c JOIN case_states s ON s.id = c.id WHERE c.created_at >= "
        ));
        q.push_bind(from.0).push(" AND c.created_at < ").push_bind(to.0);
        push_scope(&mut q, scope, "c.id", "c.region");
        q.push(" ORDER BY c.id");
        let rows: Vec<(i64, String, String, i32, i64, String, String)> = q.build_query_as().fetch_all(&self.pool).await.map_err(backend_err)?;
        let mut names: std::collections::HashMap<i64, Vec<String>> = std::collections::HashMap::new();
        let mut q = QueryBuilder::<DB>::new(
            "SELECT cp.case_id, p.name FROM case_persons cp JOIN cases c ON c.id = cp.case_id JOIN persons p ON p.id = cp.person_id WHERE c.created_at >= ",
        );
        q.push_bind(from.0).push(" AND c.created_at < ").push_bind(to.0).push(" AND p.name IS NOT NULL");
        push_scope(&mut q, scope, "c.id", "c.region");
        let people: Vec<(i64, String)> = q.build_query_as().fetch_all(&self.pool).await.map_err(backend_err)?;
        for (case, name) in people {
            names.entry(case).or_default().push(name);
        }
        Ok(rows
            .into_iter()
            .map(|(id, region, category, serious, at, title, description)| fengqiao_store::CaseText {
                id,
                region,
                category,
                serious: serious != 0,
                created_at: Timestamp(at),
                text: format!("{title}\n{description}"),
                names: names.remove(&id).unwrap_or_default(),
            })
            .collect())
    }

    async fn save_perception_run(&self, run: &fengqiao_domain::perception::PerceptionRun) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(backend_err)?;
        let id: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) + 1 FROM perception_runs").fetch_one(&mut *tx).await.map_err(backend_err)?;
        sqlx::query("INSERT INTO perception_runs (id, at, max_case_id, body) VALUES ($1, $2, $3, $4)")
            .bind(id)
            .bind(run.at.0)
            .bind(run.max_case_id)
            .bind(to_json(run)?)
            .execute(&mut *tx)
            .await
            .map_err(backend_err)?;
        // The newest few are enough to compare with; a run is recomputed, not history.
        sqlx::query("DELETE FROM perception_runs WHERE id <= $1").bind(id - 5).execute(&mut *tx).await.map_err(backend_err)?;
        tx.commit().await.map_err(backend_err)
    }

    async fn perception_run(&self) -> Result<Option<fengqiao_domain::perception::PerceptionRun>, StoreError> {
        let body: Option<String> =
            sqlx::query_scalar("SELECT body FROM perception_runs ORDER BY id DESC LIMIT 1").fetch_optional(&self.pool).await.map_err(backend_err)?;
        body.map(|b| from_json(&b)).transpose()
    }
}

const SMS_SELECT: &str = "SELECT o.id, o.person_id, COALESCE(o.phone, p.phone) AS phone, o.case_id, o.kind, o.body, o.created_at, o.attempts, o.next_at, o.sent_at, o.failed_at, o.last_error
     FROM sms_outbox o LEFT JOIN persons p ON p.id = o.person_id AND p.erased_at IS NULL";

fn sms_from_row(r: &<DB as sqlx::Database>::Row) -> Result<fengqiao_store::SmsMessage, StoreError> {
    Ok(fengqiao_store::SmsMessage {
        id: r.try_get("id").map_err(backend_err)?,
        person_id: r.try_get("person_id").map_err(backend_err)?,
        phone: r.try_get("phone").map_err(backend_err)?,
        case_id: r.try_get("case_id").map_err(backend_err)?,
        kind: r.try_get("kind").map_err(backend_err)?,
        text: r.try_get("body").map_err(backend_err)?,
        created_at: Timestamp(r.try_get("created_at").map_err(backend_err)?),
        attempts: r.try_get("attempts").map_err(backend_err)?,
        next_at: Timestamp(r.try_get("next_at").map_err(backend_err)?),
        sent_at: r.try_get::<Option<i64>, _>("sent_at").map_err(backend_err)?.map(Timestamp),
        failed_at: r.try_get::<Option<i64>, _>("failed_at").map_err(backend_err)?.map(Timestamp),
        last_error: r.try_get("last_error").map_err(backend_err)?,
    })
}

/// Consultations belong to a region: a region scope sees its subtree's; a unit scope none.
fn push_consult_scope(q: &mut QueryBuilder<'_, DB>, scope: &Scope) {
    match scope {
        Scope::All => {}
        Scope::Nothing | Scope::Unit { .. } => {
            q.push(" AND 1 = 0");
        }
        Scope::Region { prefix } => {
            let (lo, hi) = Scope::prefix_range(prefix);
            q.push(" AND region >= ").push_bind(lo).push(" AND region < ").push_bind(hi);
        }
    }
}

impl SqlStore {
    /// Queues the SMS receipt of each new case whose reporter gave a phone.
    async fn queue_receipts(tx: &mut Tx<'_>, cases: &[Case], with_phone: &[bool]) -> Result<(), StoreError> {
        let mut rows = Vec::new();
        for (c, _) in cases.iter().zip(with_phone).filter(|(_, p)| **p) {
            if let (Some(person), Some((kind, text))) = (c.reporter, fengqiao_store::residents::case_message(c, None)) {
                rows.push((person, c.id.0, kind, text, c.created_at.0));
            }
        }
        if rows.is_empty() {
            return Ok(());
        }
        let next: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM sms_outbox").fetch_one(&mut **tx).await.map_err(backend_err)?;
        for (n, chunk) in rows.chunks(ROWS_PER_STATEMENT).enumerate() {
            let mut q = QueryBuilder::<DB>::new("INSERT INTO sms_outbox (id, person_id, case_id, kind, body, created_at, next_at, attempts) ");
            q.push_values(chunk.iter().enumerate(), |mut b, (i, (person, case, kind, text, at))| {
                b.push_bind(next + 1 + (n * ROWS_PER_STATEMENT + i) as i64)
                    .push_bind(*person)
                    .push_bind(*case)
                    .push_bind(*kind)
                    .push_bind(text.clone())
                    .push_bind(*at)
                    .push_bind(*at)
                    .push_bind(0i64);
            });
            q.build().execute(&mut **tx).await.map_err(backend_err)?;
        }
        Ok(())
    }

    /// Queues the message a status change sends the case's reporter, if they gave a phone.
    async fn queue_case_sms(tx: &mut Tx<'_>, state: &Case, previous: Option<fengqiao_domain::Status>) -> Result<(), StoreError> {
        let (Some(person), Some(previous)) = (state.reporter, previous) else { return Ok(()) };
        let Some((kind, text)) = fengqiao_store::residents::case_message(state, Some(previous)) else { return Ok(()) };
        let at = state.updated_at.0;
        sqlx::query(
            "INSERT INTO sms_outbox (id, person_id, case_id, kind, body, created_at, next_at, attempts)
             SELECT (SELECT COALESCE(MAX(id), 0) + 1 FROM sms_outbox), p.id, $2, $3, $4, $5, $5, 0 FROM persons p WHERE p.id = $1 AND p.phone IS NOT NULL AND p.erased_at IS NULL",
        )
        .bind(person)
        .bind(state.id.0)
        .bind(kind)
        .bind(text)
        .bind(at)
        .execute(&mut **tx)
        .await
        .map_err(backend_err)?;
        Ok(())
    }

    /// Refuses input to a consultation that is missing, decided or past its period.
    async fn check_consult_open(tx: &mut Tx<'_>, id: i64, at: Timestamp) -> Result<(), StoreError> {
        let row: Option<(String, i64)> = sqlx::query_as("SELECT status, closes_at FROM consultations WHERE id = $1").bind(id).fetch_optional(&mut **tx).await.map_err(backend_err)?;
        match row {
            None => Err(StoreError::NotFound),
            Some((status, closes_at)) if status == "open" && at.0 < closes_at => Ok(()),
            Some(_) => Err(fengqiao_domain::DomainError::Precondition("this consultation no longer takes proposals, comments or supports".into()).into()),
        }
    }
}

fn shift_from_row((unit, user, starts, ends): (String, String, i64, i64)) -> DutyShift {
    DutyShift { unit: UnitId(unit), user, starts_at: Timestamp(starts), ends_at: Timestamp(ends) }
}

/// The end of a mediation's judicial-confirmation window while no application is recorded.
fn mediation_confirm_due(m: &fengqiao_domain::mediation::Mediation) -> Option<i64> {
    if m.confirmation.applied.is_some() { None } else { m.confirmation.due.map(|d| d.0) }
}

impl SqlStore {
    /// Inserts a mediation row (a new one, or one being restored).
    async fn insert_mediation(tx: &mut Tx<'_>, m: &fengqiao_domain::mediation::Mediation) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO mediations (id, case_id, region, unit, category, status, opened_at, confirm_due, version, body, term_due) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)")
            .bind(m.id)
            .bind(m.case_id.0)
            .bind(m.region.as_str())
            .bind(m.unit.as_str())
            .bind(&m.category)
            .bind(m.status.as_str())
            .bind(m.opened_at.0)
            .bind(mediation_confirm_due(m))
            .bind(m.version)
            .bind(to_json(m)?)
            .bind(m.next_term_due().map(|t| t.0))
            .execute(&mut **tx)
            .await
            .map_err(backend_err)?;
        Ok(())
    }

    /// Replaces a mediation's bookings, refusing any room or mediator another mediation holds
    /// at an overlapping time. Runs under the head lock, so two bookings cannot both pass.
    async fn book_mediation(tx: &mut Tx<'_>, m: &fengqiao_domain::mediation::Mediation) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM mediation_bookings WHERE mediation_id = $1").bind(m.id).execute(&mut **tx).await.map_err(backend_err)?;
        let bookings = m.bookings();
        for b in &bookings {
            let clash: Option<(i64, i64)> = sqlx::query_as(
                "SELECT mediation_id, start_at FROM mediation_bookings WHERE resource = $1 AND start_at < $2 AND end_at > $3 ORDER BY start_at LIMIT 1",
            )
            .bind(&b.resource)
            .bind(b.end.0)
            .bind(b.start.0)
            .fetch_optional(&mut **tx)
            .await
            .map_err(backend_err)?;
            if let Some((other, _)) = clash {
                let what = b.resource.split_once(':').map(|(k, v)| if k == "room" { format!("room {v}") } else { format!("mediator {v}") }).unwrap_or_default();
                return Err(StoreError::Domain(fengqiao_domain::DomainError::Precondition(format!(
                    "{what} is already booked by mediation #{other} at that time"
                ))));
            }
        }
        if !bookings.is_empty() {
            let mut q = QueryBuilder::<DB>::new("INSERT INTO mediation_bookings (mediation_id, session, resource, start_at, end_at) ");
            q.push_values(bookings.iter(), |mut r, b| {
                r.push_bind(m.id).push_bind(b.session as i64).push_bind(b.resource.clone()).push_bind(b.start.0).push_bind(b.end.0);
            });
            q.build().execute(&mut **tx).await.map_err(backend_err)?;
        }
        Ok(())
    }
}

// Problem-solving records, webhooks and e-mail: helpers.
impl SqlStore {
    /// Queues the webhooks the events of this transaction (those after the stored head, up to
    /// `new_seq`) call for, in the same transaction.
    async fn queue_webhooks(tx: &mut Tx<'_>, new_seq: i64) -> Result<(), StoreError> {
        let subs = Self::active_subscriptions(tx).await?;
        if subs.is_empty() {
            return Ok(());
        }
        let rows = sqlx::query("SELECT seq, case_id, at, actor, kind, payload, prev_hash, hash FROM events WHERE seq > (SELECT seq FROM audit_head WHERE id = 1) AND seq <= $1 ORDER BY seq")
            .bind(new_seq)
            .fetch_all(&mut **tx)
            .await
            .map_err(backend_err)?;
        let mut events = Vec::new();
        for r in &rows {
            if let Some(e) = fengqiao_store::webhooks::HookEvent::of(&event_from_row(r)?) {
                events.push(e);
            }
        }
        Self::queue_hook_events(tx, &subs, &events).await
    }

    async fn queue_hook_events(tx: &mut Tx<'_>, subs: &[fengqiao_domain::webhook::Subscription], events: &[fengqiao_store::webhooks::HookEvent]) -> Result<(), StoreError> {
        if subs.is_empty() || events.is_empty() {
            return Ok(());
        }
        let next: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM outbound_messages").fetch_one(&mut **tx).await.map_err(backend_err)?;
        Self::insert_outbox(tx, &fengqiao_store::webhooks::webhook_rows(subs, events, next)).await
    }

    async fn active_subscriptions(tx: &mut Tx<'_>) -> Result<Vec<fengqiao_domain::webhook::Subscription>, StoreError> {
        let rows: Vec<String> = sqlx::query_scalar("SELECT body FROM webhook_subscriptions WHERE active = TRUE ORDER BY id").fetch_all(&mut **tx).await.map_err(backend_err)?;
        rows.iter().map(|b| from_json(b)).collect()
    }

    /// Queues the e-mail copies of inbox messages written in this transaction.
    async fn queue_emails(tx: &mut Tx<'_>, notices: &[InboxItem]) -> Result<(), StoreError> {
        if notices.is_empty() {
            return Ok(());
        }
        let rows: Vec<(String, String)> = sqlx::query_as("SELECT u.body, e.email FROM user_emails e JOIN users u ON u.id = e.user_id ORDER BY e.user_id")
            .fetch_all(&mut **tx)
            .await
            .map_err(backend_err)?;
        if rows.is_empty() {
            return Ok(());
        }
        let users: Vec<(User, String)> = rows.iter().map(|(b, e)| Ok((from_json::<User>(b)?, e.clone()))).collect::<Result<_, StoreError>>()?;
        let next: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM outbound_messages").fetch_one(&mut **tx).await.map_err(backend_err)?;
        Self::insert_outbox(tx, &fengqiao_store::webhooks::email_rows(&users, notices, next)).await
    }

    async fn insert_outbox(tx: &mut Tx<'_>, items: &[fengqiao_store::webhooks::OutboxItem]) -> Result<(), StoreError> {
        for chunk in items.chunks(ROWS_PER_STATEMENT) {
            let mut q = QueryBuilder::<DB>::new("INSERT INTO outbound_messages (id, channel, target, kind, body, state, attempts, next_at, last_error, created_at, done_at) ");
            q.push_values(chunk, |mut b, o| {
                b.push_bind(o.id)
                    .push_bind(o.channel.clone())
                    .push_bind(o.target.clone())
                    .push_bind(o.kind.clone())
                    .push_bind(o.body.clone())
                    .push_bind(o.state.clone())
                    .push_bind(o.attempts as i64)
                    .push_bind(o.next_at.0)
                    .push_bind(o.last_error.clone())
                    .push_bind(o.created_at.0)
                    .push_bind(ts(o.done_at));
            });
            q.build().execute(&mut **tx).await.map_err(backend_err)?;
        }
        Ok(())
    }

    /// Inserts a problem row and its units (a new problem, or one being restored).
    async fn insert_problem(tx: &mut Tx<'_>, p: &fengqiao_domain::problem::Problem) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO problems (id, region, stage, created_at, version, body) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(p.id)
            .bind(p.region.as_str())
            .bind(p.stage.as_str())
            .bind(p.created_at.0)
            .bind(p.version)
            .bind(to_json(p)?)
            .execute(&mut **tx)
            .await
            .map_err(backend_err)?;
        Self::write_problem_units(tx, p).await
    }

    async fn write_problem_units(tx: &mut Tx<'_>, p: &fengqiao_domain::problem::Problem) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM problem_units WHERE problem_id = $1").bind(p.id).execute(&mut **tx).await.map_err(backend_err)?;
        let mut units: Vec<String> = p.units.iter().map(|u| u.0.clone()).collect();
        units.extend(p.actions.iter().filter_map(|a| match &a.owner {
            fengqiao_domain::problem::Owner::Unit(u) => Some(u.0.clone()),
            _ => None,
        }));
        units.sort();
        units.dedup();
        if units.is_empty() {
            return Ok(());
        }
        let mut q = QueryBuilder::<DB>::new("INSERT INTO problem_units (problem_id, unit_id) ");
        q.push_values(&units, |mut b, u| {
            b.push_bind(p.id).push_bind(u.clone());
        });
        q.build().execute(&mut **tx).await.map_err(backend_err)?;
        Ok(())
    }
}

/// Problems belong to a region and name units: a region scope sees its subtree's, a unit
/// scope those naming the unit.
fn push_problem_scope(q: &mut QueryBuilder<'_, DB>, scope: &Scope) {
    match scope {
        Scope::All => {}
        Scope::Nothing => {
            q.push(" AND 1 = 0");
        }
        Scope::Region { prefix } => {
            let (lo, hi) = Scope::prefix_range(prefix);
            q.push(" AND region >= ").push_bind(lo).push(" AND region < ").push_bind(hi);
        }
        Scope::Unit { unit } => {
            q.push(" AND id IN (SELECT problem_id FROM problem_units WHERE unit_id = ").push_bind(unit.0.clone()).push(")");
        }
    }
}

fn outbox_from_row(r: &<DB as sqlx::Database>::Row) -> Result<fengqiao_store::webhooks::OutboxItem, StoreError> {
    Ok(fengqiao_store::webhooks::OutboxItem {
        id: r.try_get("id").map_err(backend_err)?,
        channel: r.try_get("channel").map_err(backend_err)?,
        target: r.try_get("target").map_err(backend_err)?,
        kind: r.try_get("kind").map_err(backend_err)?,
        body: r.try_get("body").map_err(backend_err)?,
        state: r.try_get("state").map_err(backend_err)?,
        attempts: r.try_get::<i64, _>("attempts").map_err(backend_err)? as u32,
        next_at: Timestamp(r.try_get("next_at").map_err(backend_err)?),
        last_error: r.try_get("last_error").map_err(backend_err)?,
        created_at: Timestamp(r.try_get("created_at").map_err(backend_err)?),
        done_at: r.try_get::<Option<i64>, _>("done_at").map_err(backend_err)?.map(Timestamp),
    })
}

const OUTBOX_COLUMNS: &str = "id, channel, target, kind, body, state, attempts, next_at, last_error, created_at, done_at";

/// Alerts belong to a place: a region scope sees its subtree's; a unit scope sees none.
fn push_alert_scope(q: &mut QueryBuilder<'_, DB>, scope: &Scope) {
    match scope {
        Scope::All => {}
        Scope::Nothing | Scope::Unit { .. } => {
            q.push(" AND 1 = 0");
        }
        Scope::Region { prefix } => {
            let (lo, hi) = Scope::prefix_range(prefix);
            q.push(" AND region >= ").push_bind(lo).push(" AND region < ").push_bind(hi);
        }
    }
}

impl SqlStore {
    /// Inserts an alert row (a new alert, or one being restored).
    async fn insert_alert(tx: &mut Tx<'_>, a: &fengqiao_domain::alert::Alert) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO alerts (id, kind, region, dedup_key, status, raised_at, closed_at, version, body) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)")
            .bind(a.id)
            .bind(a.kind.as_str())
            .bind(a.region.as_str())
            .bind(&a.dedup_key)
            .bind(a.status.as_str())
            .bind(a.raised_at.0)
            .bind(a.closed.as_ref().map(|c| c.at.0))
            .bind(a.version)
            .bind(to_json(a)?)
            .execute(&mut **tx)
            .await
            .map_err(backend_err)?;
        Ok(())
    }
}

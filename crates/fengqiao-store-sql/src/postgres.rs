//! PostgreSQL, for larger deployments: `synchronous_commit=on` on every connection.

use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::backend_err;
use fengqiao_store::StoreError;

type DB = sqlx::Postgres;
const BACKEND: &str = "postgres";
const MIGRATIONS: crate::Migrations = &[
    (1, include_str!("../migrations/postgres/0001_init.sql")),
    (2, include_str!("../migrations/postgres/0002_sessions.sql")),
    (3, include_str!("../migrations/postgres/0003_api_keys.sql")),
    (4, include_str!("../migrations/postgres/0004_jobs.sql")),
    (5, include_str!("../migrations/postgres/0005_routing.sql")),
    (6, include_str!("../migrations/postgres/0006_attachments.sql")),
    (7, include_str!("../migrations/postgres/0007_supervision.sql")),
    (8, include_str!("../migrations/postgres/0008_mediation.sql")),
    // Residents by phone and community consultation.
    (9, include_str!("../migrations/postgres/0009_residents.sql")),
    (10, include_str!("../migrations/postgres/0010_problems_webhooks.sql")),
    (11, include_str!("../migrations/postgres/0011_person_email.sql")),
    (12, include_str!("../migrations/postgres/0012_duty.sql")),
    (13, include_str!("../migrations/postgres/0013_order_due.sql")),
    // Early warnings.
    (14, include_str!("../migrations/postgres/0014_alerts.sql")),
    // The write mark the figures' in-memory facts refresh by.
    (15, include_str!("../migrations/postgres/0015_case_touched.sql")),
    // Analytics runs.
    (16, include_str!("../migrations/postgres/0016_perception.sql")),
    // Fewer indexes for intake to write: the figures no longer aggregate in SQL.
    (17, include_str!("../migrations/postgres/0017_case_indexes.sql")),
    (18, include_str!("../migrations/postgres/0018_risk_judgements.sql")),
    // A reopened case's earlier missed deadline, for the on-time figure.
    (19, include_str!("../migrations/postgres/0019_missed_deadline.sql")),
];
const SNAPSHOT_BEGIN: Option<&str> = Some("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY");
/// Two servers starting at once must not both migrate.
/// Joins a column of text with a separator (an aggregate).
const STRING_AGG: &str = "string_agg";
const MIGRATION_LOCK: Option<&str> = Some("SELECT pg_advisory_xact_lock(7262211)");

impl SqlStore {
    pub async fn connect(url: &str) -> Result<SqlStore, StoreError> {
        // Statements are prepared once per connection, and after five runs PostgreSQL may
        // keep one generic plan for every parameter. Case data is skewed (the rows written
        // since the figures last looked are a handful; a status can hold most of a county),
        // and a generic plan guesses a third of the table for a range: the figures' refresh
        // then hashed every co-handling row (120 ms at a million cases) instead of following
        // the handful. Planning each run with its values costs well under a millisecond.
        let opts = PgConnectOptions::from_str(url)
            .map_err(backend_err)?
            .options([("synchronous_commit", "on"), ("plan_cache_mode", "force_custom_plan")]);
        let pool = PgPoolOptions::new().max_connections(16).connect_with(opts).await.map_err(backend_err)?;
        let store = SqlStore::with_pool(pool);
        store.migrate().await?;
        Ok(store)
    }
}

include!("common.rs");

//! SQLite: one file under the data folder, WAL with `synchronous=FULL`.

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use crate::backend_err;
use fengqiao_store::StoreError;

type DB = sqlx::Sqlite;
const BACKEND: &str = "sqlite";
const MIGRATIONS: crate::Migrations = &[
    (1, include_str!("../migrations/sqlite/0001_init.sql")),
    (2, include_str!("../migrations/sqlite/0002_sessions.sql")),
    (3, include_str!("../migrations/sqlite/0003_api_keys.sql")),
    (4, include_str!("../migrations/sqlite/0004_jobs.sql")),
    (5, include_str!("../migrations/sqlite/0005_routing.sql")),
    (6, include_str!("../migrations/sqlite/0006_attachments.sql")),
    (7, include_str!("../migrations/sqlite/0007_supervision.sql")),
    (8, include_str!("../migrations/sqlite/0008_mediation.sql")),
    // Residents by phone and community consultation.
    (9, include_str!("../migrations/sqlite/0009_residents.sql")),
    (10, include_str!("../migrations/sqlite/0010_problems_webhooks.sql")),
    (11, include_str!("../migrations/sqlite/0011_person_email.sql")),
    (12, include_str!("../migrations/sqlite/0012_duty.sql")),
    (13, include_str!("../migrations/sqlite/0013_order_due.sql")),
    // Early warnings.
    (14, include_str!("../migrations/sqlite/0014_alerts.sql")),
    // The write mark the figures' in-memory facts refresh by.
    (15, include_str!("../migrations/sqlite/0015_case_touched.sql")),
    // Analytics runs.
    (16, include_str!("../migrations/sqlite/0016_perception.sql")),
    // Fewer indexes for intake to write: the figures no longer aggregate in SQL.
    (17, include_str!("../migrations/sqlite/0017_case_indexes.sql")),
    (18, include_str!("../migrations/sqlite/0018_risk_judgements.sql")),
    // A reopened case's earlier missed deadline, for the on-time figure.
    (19, include_str!("../migrations/sqlite/0019_missed_deadline.sql")),
];
/// SQLite gives a read transaction a snapshot from its first read; nothing to set.
const SNAPSHOT_BEGIN: Option<&str> = None;
/// Joins a column of text with a separator (an aggregate).
const STRING_AGG: &str = "group_concat";
const MIGRATION_LOCK: Option<&str> = None;

impl SqlStore {
    pub async fn connect(url: &str) -> Result<SqlStore, StoreError> {
        let opts = SqliteConnectOptions::from_str(url)
            .map_err(backend_err)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(30))
            .foreign_keys(true)
            // Statement journals and sort and IN-list tables stay in memory: on a file they
            // cost an open, writes, a close and an unlink in every group commit.
            .pragma("temp_store", "memory");
        let pool = SqlitePoolOptions::new().max_connections(8).connect_with(opts).await.map_err(backend_err)?;
        let store = SqlStore::with_pool(pool);
        store.migrate().await?;
        Ok(store)
    }

    /// An online, consistent copy of the database file (`VACUUM INTO`).
    pub async fn vacuum_into(&self, path: &str) -> Result<(), StoreError> {
        sqlx::query("VACUUM INTO $1").bind(path).execute(&self.pool).await.map_err(backend_err)?;
        Ok(())
    }
}

include!("common.rs");

//! The SQL backends: SQLite (the embedded default) and PostgreSQL, chosen by the URL.
//!
//! Both share one query layer (`common.rs`, included into each backend module with the
//! backend's `DB` type) and differ only in connection settings and their migration files, so
//! the two cannot drift in behaviour; the contract suite checks they do not.
//!
//! Durability: SQLite runs in WAL mode with `synchronous=FULL`; PostgreSQL with
//! `synchronous_commit=on`. A transaction that returns from commit is on disk.
//!
//! Concurrency: every writing transaction first updates the single `audit_head` row. That
//! takes the row lock on PostgreSQL and the write lock on SQLite, so writers are serialised,
//! the audit chain has one order, and new ids can be allocated as `MAX(id) + 1`.

use std::sync::Arc;

use fengqiao_store::{Store, StoreError};

mod facts;
pub mod postgres;
pub mod sqlite;

/// The migrations of one backend: (version, SQL), applied in order at start-up.
pub(crate) type Migrations = &'static [(i64, &'static str)];

/// Opens the store named by `url`: `sqlite://PATH` (created if missing) or `postgres://…`.
pub async fn open(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(postgres::SqlStore::connect(url).await?))
    } else if url.starts_with("sqlite:") {
        Ok(Arc::new(sqlite::SqlStore::connect(url).await?))
    } else {
        Err(StoreError::Backend(format!("unsupported database URL '{url}': use sqlite://PATH or postgres://…")))
    }
}

pub(crate) fn backend_err(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

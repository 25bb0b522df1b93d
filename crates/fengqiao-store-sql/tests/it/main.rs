//! Runs the storage contract on SQLite always, and on PostgreSQL when
//! `FENGQIAO_TEST_POSTGRES_URL` is set (under `CI=true` its absence is a failure), plus the
//! tamper-detection tests that need raw SQL access.

mod tamper;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use fengqiao_store::Store;
use fengqiao_store_sql::{postgres, sqlite};

pub struct Backend {
    pub store: Arc<dyn Store>,
    pub raw: Raw,
    _dir: Option<tempfile::TempDir>,
}

/// Direct access for tests that must corrupt the database behind the store's back.
pub enum Raw {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

impl Raw {
    pub async fn exec(&self, sql: &str) {
        match self {
            Raw::Sqlite(p) => {
                sqlx::raw_sql(sql).execute(p).await.unwrap();
            }
            Raw::Postgres(p) => {
                sqlx::raw_sql(sql).execute(p).await.unwrap();
            }
        }
    }
}

pub async fn fresh_sqlite() -> Backend {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    let s = sqlite::SqlStore::connect(&url).await.unwrap();
    let raw = Raw::Sqlite(s.pool().clone());
    Backend { store: Arc::new(s), raw, _dir: Some(dir) }
}

static PG_COUNTER: AtomicU32 = AtomicU32::new(0);

pub fn postgres_url() -> Option<String> {
    match std::env::var("FENGQIAO_TEST_POSTGRES_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true but FENGQIAO_TEST_POSTGRES_URL is not set: the PostgreSQL contract must run in CI"
            );
            None
        }
    }
}

/// A new, empty database on the server for each call.
pub async fn fresh_postgres(base: &str) -> Backend {
    use sqlx::Connection;
    let name = format!("fengqiao_t_{}_{}", std::process::id(), PG_COUNTER.fetch_add(1, Ordering::SeqCst));
    let mut admin = sqlx::PgConnection::connect(base).await.unwrap();
    if PG_COUNTER.load(Ordering::SeqCst) == 1 {
        // Databases left by earlier runs (a crashed run cannot clean up after itself); one
        // still in use by a concurrent run refuses to drop, which is fine.
        let old: Vec<String> = sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE 'fengqiao\\_t\\_%'")
            .fetch_all(&mut admin)
            .await
            .unwrap();
        let mine = format!("fengqiao_t_{}_", std::process::id());
        for db in old.into_iter().filter(|d| !d.starts_with(&mine)) {
            let _ = sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {db}")).execute(&mut admin).await;
        }
    }
    sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {name}")).execute(&mut admin).await.unwrap();
    sqlx::raw_sql(&format!("CREATE DATABASE {name}")).execute(&mut admin).await.unwrap();
    let url = match base.rfind('/') {
        Some(i) if base[..i].contains("//") && i > base.find("//").unwrap() + 1 => {
            let (head, tail) = base.split_at(i);
            let query = tail.find('?').map(|q| &tail[q..]).unwrap_or("");
            format!("{head}/{name}{query}")
        }
        _ => format!("{base}/{name}"),
    };
    let s = postgres::SqlStore::connect(&url).await.unwrap();
    let raw = Raw::Postgres(s.pool().clone());
    Backend { store: Arc::new(s), raw, _dir: None }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contract_sqlite() {
    for (name, check) in fengqiao_store::contract::checks() {
        eprintln!("sqlite: {name}");
        check(fresh_sqlite().await.store).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contract_postgres() {
    let Some(base) = postgres_url() else {
        eprintln!("SKIP: PostgreSQL contract (FENGQIAO_TEST_POSTGRES_URL is not set)");
        return;
    };
    for (name, check) in fengqiao_store::contract::checks() {
        eprintln!("postgres: {name}");
        check(fresh_postgres(&base).await.store).await;
    }
}

/// A backup restores into an empty store of either backend, including across backends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_across_backends() {
    let src = fresh_sqlite().await;
    let svc = fengqiao_store::contract::seed(&src.store).await;
    for i in 0..10 {
        svc.create(
            fengqiao_store::contract::draft("noise", fengqiao_store::contract::VILLAGE_A1, &format!("{i}")),
            &fengqiao_store::contract::actor(&fengqiao_store::contract::staff()[0]),
            fengqiao_domain::Channel::Web,
            None,
        )
        .await
        .unwrap();
    }
    let photo = fengqiao_store::NewAttachment {
        case_id: fengqiao_domain::CaseId(3),
        content_type: "image/jpeg".into(),
        data: vec![0xff, 0xd8, 0xff, 0xe0, 0, 1, 2],
        at: fengqiao_store::contract::T0,
        actor: "resident".into(),
    };
    src.store.add_attachment(&photo).await.unwrap();
    svc.load_calendar("2027-01-01,holiday,元旦\n", &fengqiao_domain::Actor::System { job: "test".into() }).await.unwrap();
    let intake = fengqiao_store::contract::actor(&fengqiao_store::contract::staff()[0]);
    let first = fengqiao_domain::CaseId(1);
    svc.act(&intake, first, None, &fengqiao_domain::Command::File { severity: None, note: None }).await.unwrap();
    let lead = fengqiao_domain::UnitId("vc-a1".into());
    svc.act(&intake, first, None, &fengqiao_domain::Command::Dispatch { lead_unit: lead.clone(), co_units: vec![] }).await.unwrap();
    // And one handled jointly, for the figures of a co-handling unit.
    let second = fengqiao_domain::CaseId(2);
    svc.act(&intake, second, None, &fengqiao_domain::Command::File { severity: None, note: None }).await.unwrap();
    let joint = fengqiao_domain::Command::Dispatch { lead_unit: lead, co_units: vec![fengqiao_domain::UnitId("town-a".into())] };
    svc.act(&intake, second, None, &joint).await.unwrap();
    let s = fengqiao_store::Scheduler::new(svc.clone());
    let case = svc.store.case(&fengqiao_store::Scope::All, first).await.unwrap().unwrap();
    s.run_due(case.response_due.unwrap().plus_ms(1)).await.unwrap();
    assert_eq!(svc.store.jobs_of(first).await.unwrap().len(), 1);
    // Residents by phone and community consultation come along too.
    fengqiao_store::contract::residents::some_residents_and_a_consultation(&svc).await;
    // A problem-solving record with a responsible unit.
    let sup = fengqiao_store::contract::actor(&fengqiao_store::contract::staff()[5]);
    let input = fengqiao_store::ProblemInput { title: "噪声".into(), case_ids: vec![1, 2], ..Default::default() };
    let p = svc.open_problem(&sup, &input).await.unwrap();
    let set =
        fengqiao_domain::problem::ProblemCommand::SetResponsible { units: vec![fengqiao_domain::UnitId("vc-a1".into())], users: vec![] };
    svc.act_problem(&sup, p.id, None, &set).await.unwrap();
    svc.checkpoint().await.unwrap();
    let dst = fresh_sqlite().await;
    fengqiao_store::contract::restore_matches(&src.store, &dst.store).await;
    if let Some(base) = postgres_url() {
        let pg = fresh_postgres(&base).await;
        fengqiao_store::contract::restore_matches(&src.store, &pg.store).await;
    }
    // The responsible unit still sees the restored problem.
    let vc = fengqiao_store::Scope::Unit { unit: fengqiao_domain::UnitId("vc-a1".into()) };
    assert!(dst.store.problem(&vc, 1).await.unwrap().is_some());
}

//! The audit log catches every kind of tampering, on both backends.

use fengqiao_domain::audit::VerifyOutcome;
use fengqiao_store::contract::{AUDIT_KEY, VILLAGE_A1, actor, draft, seed, staff};

use crate::{Backend, fresh_postgres, fresh_sqlite, postgres_url};

/// Builds a store with some history and a checkpoint at its head.
async fn history(b: &Backend) -> std::sync::Arc<fengqiao_store::Service> {
    let svc = seed(&b.store).await;
    let intake = actor(&staff()[0]);
    for i in 0..4 {
        svc.create(draft("noise", VILLAGE_A1, &format!("第{i}件")), &intake, fengqiao_domain::Channel::Web, None).await.unwrap();
    }
    svc.checkpoint().await.unwrap();
    svc
}

async fn outcome(svc: &fengqiao_store::Service) -> VerifyOutcome {
    svc.verify_audit(AUDIT_KEY, |_| {}).await.unwrap()
}

async fn run(make: impl AsyncFn() -> Backend) {
    // Intact.
    let b = make().await;
    let svc = history(&b).await;
    let head = b.store.audit_head().await.unwrap().0;
    assert!(matches!(outcome(&svc).await, VerifyOutcome::Ok { events, .. } if events == head));

    // Altered payload.
    let b = make().await;
    let svc = history(&b).await;
    b.raw.exec("UPDATE events SET payload = REPLACE(payload, '第2件', '第9件') WHERE kind = 'created'").await;
    let o = outcome(&svc).await;
    assert!(matches!(o, VerifyOutcome::Broken { ref problem, .. } if problem.contains("altered")), "{o:?}");

    // Deleted event in the middle.
    let b = make().await;
    let svc = history(&b).await;
    b.raw.exec("DELETE FROM events WHERE seq = 5").await;
    assert!(matches!(outcome(&svc).await, VerifyOutcome::Broken { seq: 5, .. }));

    // Inserted event (a copy of seq 4 renumbered after shifting the rest).
    let b = make().await;
    let svc = history(&b).await;
    b.raw.exec("UPDATE events SET seq = seq + 1000 WHERE seq > 4").await;
    b.raw.exec("UPDATE events SET seq = seq - 999 WHERE seq > 1000").await;
    b.raw.exec("INSERT INTO events (seq, case_id, at, actor, kind, payload, prev_hash, hash) SELECT 5, case_id, at, actor, kind, payload, prev_hash, hash FROM events WHERE seq = 4").await;
    assert!(matches!(outcome(&svc).await, VerifyOutcome::Broken { seq: 5, .. }));

    // Reordered: two events swap places.
    let b = make().await;
    let svc = history(&b).await;
    b.raw.exec("UPDATE events SET seq = -1 WHERE seq = 3").await;
    b.raw.exec("UPDATE events SET seq = 3 WHERE seq = 4").await;
    b.raw.exec("UPDATE events SET seq = 4 WHERE seq = -1").await;
    assert!(matches!(outcome(&svc).await, VerifyOutcome::Broken { seq: 3, .. }));

    // Truncated tail: the newest events and the head row rolled back consistently.
    let b = make().await;
    let svc = history(&b).await;
    let head = b.store.audit_head().await.unwrap().0;
    b.raw.exec(&format!("DELETE FROM events WHERE seq > {}", head - 2)).await;
    b.raw.exec(&format!("UPDATE audit_head SET seq = {}, hash = (SELECT hash FROM events WHERE seq = {})", head - 2, head - 2)).await;
    let o = outcome(&svc).await;
    assert!(matches!(o, VerifyOutcome::Broken { ref problem, .. } if problem.contains("truncated")), "{o:?}");

    // Wholesale rewrite: a forger recomputes every hash and deletes the checkpoints table,
    // but the checkpoint file outside the database still vouches for the old chain.
    let b = make().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("checkpoints.jsonl");
    let svc = seed(&b.store).await;
    let cfg = fengqiao_store::ServiceConfig { checkpoint_file: Some(file.clone()), ..svc.config.clone() };
    let svc = fengqiao_store::Service::new(b.store.clone(), svc.clock.clone(), cfg).await.unwrap();
    let intake = actor(&staff()[0]);
    for i in 0..3 {
        svc.create(draft("noise", VILLAGE_A1, &format!("{i}")), &intake, fengqiao_domain::Channel::Web, None).await.unwrap();
    }
    svc.checkpoint().await.unwrap();
    let events = b.store.audit_events(0, 100_000).await.unwrap();
    b.raw.exec("DELETE FROM checkpoints").await;
    b.raw.exec("DELETE FROM events").await;
    let mut prev = fengqiao_domain::audit::GENESIS.to_string();
    for e in &events {
        let payload = e.payload.replace("\"0\"", "\"forged\"");
        let hash = fengqiao_domain::audit::event_hash(&prev, e.seq, e.case_id, e.at, &e.actor, &e.kind, &payload);
        let case = e.case_id.map(|c| c.to_string()).unwrap_or_else(|| "NULL".into());
        b.raw
            .exec(&format!(
                "INSERT INTO events (seq, case_id, at, actor, kind, payload, prev_hash, hash) VALUES ({}, {case}, {}, '{}', '{}', '{}', '{prev}', '{hash}')",
                e.seq,
                e.at.0,
                e.actor,
                e.kind,
                payload.replace('\'', "''")
            ))
            .await;
        prev = hash;
    }
    let o = svc.verify_audit(AUDIT_KEY, |_| {}).await.unwrap();
    assert!(matches!(o, VerifyOutcome::Broken { ref problem, .. } if problem.contains("rewritten")), "{o:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampering_is_caught_on_sqlite() {
    run(fresh_sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampering_is_caught_on_postgres() {
    let Some(base) = postgres_url() else {
        eprintln!("SKIP: PostgreSQL tamper tests (FENGQIAO_TEST_POSTGRES_URL is not set)");
        return;
    };
    run(|| fresh_postgres(&base)).await;
}

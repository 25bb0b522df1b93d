//! The contract for residents by phone: the SMS outbox, the resident roll, one-time codes,
//! resident sessions, "my cases", and community consultations.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use fengqiao_domain::consultation::{ConsultCommand, ConsultSource, ConsultStatus};
use fengqiao_domain::resident::{OTP_MAX_ATTEMPTS, OTP_TTL_MS, OtpCode, OtpRefusal, Resident};
use fengqiao_domain::{Channel, Command, DomainError, ManualClock, RegionCode, Status};

use super::{AUDIT_KEY, T0, VILLAGE_A1, VILLAGE_B1, dispatched, draft, event_count, seeded_with_clock, staff_actor};
use crate::residents::{SignInError, SmsConfig, SmsProvider, SmsSender};
use crate::{ResidentSession, Scope, Store, StoreError};

/// Records what it sends; fails while `failing` is set.
#[derive(Default)]
pub struct MemorySms {
    pub sent: Mutex<Vec<(String, String)>>,
    pub failing: std::sync::atomic::AtomicBool,
}

#[async_trait]
impl SmsProvider for MemorySms {
    async fn send(&self, phone: &str, text: &str) -> Result<(), String> {
        if self.failing.load(std::sync::atomic::Ordering::SeqCst) {
            return Err("gateway answered 503".into());
        }
        self.sent.lock().unwrap().push((phone.to_string(), text.to_string()));
        Ok(())
    }
}

impl MemorySms {
    pub fn texts(&self) -> Vec<String> {
        self.sent.lock().unwrap().iter().map(|(_, t)| t.clone()).collect()
    }
}

pub async fn sms_outbox_is_queued_with_the_case_and_sent_once(store: Arc<dyn Store>) {
    let clock = ManualClock::new(T0);
    let svc = seeded_with_clock(&store, clock.clone()).await;
    let sms = Arc::new(MemorySms::default());
    let sender = SmsSender::new(svc.clone(), sms.clone(), SmsConfig { max_attempts: 3, ..SmsConfig::default() });
    let intake = staff_actor("intake");
    // Anonymous: nothing is queued.
    let mut anon = draft("street_light", VILLAGE_A1, "路灯");
    anon.reporter = None;
    svc.create(anon, &intake, Channel::Web, None).await.unwrap();
    // Imported past casework is not announced.
    svc.create(draft("street_light", VILLAGE_A1, "导入"), &intake, Channel::Import, None).await.unwrap();
    let operator = fengqiao_domain::Actor::System { job: "import".into() };
    svc.create(draft("street_light", VILLAGE_A1, "导入的热线件"), &operator, Channel::Hotline12345, None).await.unwrap();
    assert!(store.sms_outbox(10).await.unwrap().is_empty());

    let before = event_count(&store).await;
    let c = dispatched(&svc, "street_light").await;
    let queued = store.sms_outbox(10).await.unwrap();
    // Receipt, filed, dispatched; queuing writes no event of its own.
    assert_eq!(queued.iter().map(|m| m.kind.as_str()).collect::<Vec<_>>(), ["status", "status", "receipt"]);
    assert_eq!(event_count(&store).await, before + 3, "only the case's own events");
    assert!(queued.iter().all(|m| m.phone.as_deref() == Some("13800138000") && m.case_id == Some(c.id.0)));
    assert!(queued[2].text.contains(c.tracking_code.as_str()));

    // The provider fails: retried later, not sent, no event.
    sms.failing.store(true, std::sync::atomic::Ordering::SeqCst);
    let r = sender.run_due(T0).await.unwrap();
    assert_eq!((r.sent, r.retried), (0, 3));
    assert_eq!(event_count(&store).await, before + 3);
    assert!(sender.run_due(T0.plus_ms(1000)).await.unwrap() == Default::default(), "not due again before the pause");
    sms.failing.store(false, std::sync::atomic::Ordering::SeqCst);
    let r = sender.run_due(T0.plus_ms(SmsSender::backoff_ms(0))).await.unwrap();
    assert_eq!(r.sent, 3);
    assert_eq!(event_count(&store).await, before + 6, "each sent message is an audit event");
    assert_eq!(sender.run_due(T0.plus_ms(HOUR)).await.unwrap().sent, 0, "a message is sent once");
    assert_eq!(sms.texts().len(), 3);
    // A second sender cannot take a message the first has claimed.
    clock.advance_ms(60_000);
    let handler = staff_actor("handler-a1");
    svc.act(&handler, c.id, None, &Command::Accept).await.unwrap();
    let m = &store.sms_outbox(1).await.unwrap()[0];
    assert!(store.sms_claim(m.id, clock.now_ts(), clock.now_ts().plus_ms(60_000)).await.unwrap());
    assert!(!store.sms_claim(m.id, clock.now_ts(), clock.now_ts().plus_ms(60_000)).await.unwrap());
    assert_eq!(sender.run_due(clock.now_ts()).await.unwrap().sent, 0);
    assert_eq!(sender.run_due(clock.now_ts().plus_ms(60_000)).await.unwrap().sent, 1, "sent once the lease lapsed");
    // Resolving asks the reporter to rate.
    svc.act(&handler, c.id, None, &Command::Resolve { feedback: "已修复".into() }).await.unwrap();
    let m = &store.sms_outbox(1).await.unwrap()[0];
    assert_eq!(m.kind, "visit");
    // Too many failures: given up.
    sms.failing.store(true, std::sync::atomic::Ordering::SeqCst);
    let mut t = clock.now_ts();
    for _ in 0..3 {
        sender.run_due(t).await.unwrap();
        t = t.plus_ms(HOUR);
    }
    let m = &store.sms_outbox(1).await.unwrap()[0];
    assert!(m.failed_at.is_some() && m.sent_at.is_none() && m.attempts == 3, "{m:?}");
    // A message queued before the reporter's data was erased is not sent: the phone is gone.
    sms.failing.store(false, std::sync::atomic::Ordering::SeqCst);
    svc.act(&intake, c.id, None, &Command::Verify { ok: false, note: Some("未修好".into()) }).await.unwrap();
    let m = store.sms_outbox(1).await.unwrap()[0].clone();
    assert_eq!((m.kind.as_str(), m.sent_at), ("status", None));
    let person = c.reporter.unwrap();
    store.erase_person(person, "user:sup", clock.now_ts()).await.unwrap();
    let n = sms.texts().len();
    let r = sender.run_due(t).await.unwrap();
    assert_eq!((r.sent, r.gave_up, sms.texts().len()), (0, 1, n));
    assert!(store.sms_outbox(1).await.unwrap()[0].failed_at.is_some());
    // A backlog larger than one batch drains in one run.
    let batch: Vec<_> = (0..230)
        .map(|i| svc.prepare(draft("street_light", VILLAGE_A1, &format!("积压 {i}")), &intake, Channel::Web, None).unwrap())
        .collect();
    assert!(store.create_cases(batch).await.unwrap().iter().all(Result::is_ok));
    let r = sender.run_due(t).await.unwrap();
    assert_eq!((r.sent, r.retried, r.gave_up), (230, 0, 0));
    let texts = sms.texts().join("\n");
    assert!(store.audit_events(0, 100_000).await.unwrap().iter().all(|e| !e.payload.contains("13800138000")), "{texts}");
}

const HOUR: i64 = fengqiao_domain::clock::HOUR_MS;

trait NowTs {
    fn now_ts(&self) -> fengqiao_domain::Timestamp;
}

impl NowTs for ManualClock {
    fn now_ts(&self) -> fengqiao_domain::Timestamp {
        fengqiao_domain::Clock::now(self)
    }
}

pub async fn resident_roll_codes_and_my_cases(store: Arc<dyn Store>) {
    let clock = ManualClock::new(T0);
    let svc = seeded_with_clock(&store, clock.clone()).await;
    let sms = MemorySms::default();
    // Wrong phone: refused, nothing stored.
    assert!(matches!(svc.send_sign_in_code("12", &sms).await, Err(StoreError::Domain(DomainError::Invalid(_)))));
    let phone = svc.send_sign_in_code("+86 138 0013 8000", &sms).await.unwrap();
    assert_eq!(phone, "13800138000");
    let text = sms.texts().pop().unwrap();
    let code: String = text.chars().filter(|c| c.is_ascii_digit()).take(6).collect();
    assert_eq!(code.len(), 6);
    // Not stored in clear.
    let stored = store.otp_attempt(&phone).await.unwrap().unwrap();
    assert!(!stored.code_hash.contains(&code) && stored.attempts == 1);
    let wrong = if code == "000000" { "111111" } else { "000000" };
    assert!(matches!(svc.sign_in_with_code(&phone, wrong).await, Err(SignInError::Refused(OtpRefusal::Wrong))));
    let r = svc.sign_in_with_code(&phone, &code).await.unwrap();
    assert_eq!((r.phone.as_str(), r.verified_by.as_str(), r.region.as_ref()), ("13800138000", "otp", None));
    // Used up.
    assert!(matches!(svc.sign_in_with_code(&phone, &code).await, Err(SignInError::Refused(OtpRefusal::NoCode))));
    // Expired.
    svc.send_sign_in_code(&phone, &sms).await.unwrap();
    let code2: String = sms.texts().pop().unwrap().chars().filter(|c| c.is_ascii_digit()).take(6).collect();
    clock.advance_ms(OTP_TTL_MS);
    assert!(matches!(svc.sign_in_with_code(&phone, &code2).await, Err(SignInError::Refused(OtpRefusal::Expired))));
    // Too many attempts: even the right code no longer works.
    svc.send_sign_in_code(&phone, &sms).await.unwrap();
    let code3: String = sms.texts().pop().unwrap().chars().filter(|c| c.is_ascii_digit()).take(6).collect();
    let wrong = if code3 == "000000" { "111111" } else { "000000" };
    for _ in 0..OTP_MAX_ATTEMPTS {
        assert!(matches!(svc.sign_in_with_code(&phone, wrong).await, Err(SignInError::Refused(OtpRefusal::Wrong))));
    }
    assert!(matches!(svc.sign_in_with_code(&phone, &code3).await, Err(SignInError::Refused(OtpRefusal::TooManyAttempts))));
    // A code that could not be sent is not kept.
    sms.failing.store(true, std::sync::atomic::Ordering::SeqCst);
    assert!(svc.send_sign_in_code("13900139000", &sms).await.is_err());
    assert!(store.otp_attempt("13900139000").await.unwrap().is_none());
    // Two right answers at once: one signs in.
    store.put_otp(&OtpCode::new("13900139000", "s", "123456", clock.now_ts())).await.unwrap();
    let (x, y) = tokio::join!(svc.sign_in_with_code("13900139000", "123456"), svc.sign_in_with_code("13900139000", "123456"));
    assert_eq!([x.is_ok(), y.is_ok()].iter().filter(|ok| **ok).count(), 1, "{x:?} {y:?}");
    assert!(!store.delete_otp("13900139000").await.unwrap());

    // Same entry on a second sign-in; staff registration keeps the id and records the region.
    let again = store.save_resident(&Resident::by_code(&phone, T0), "resident_verified", "resident", T0).await.unwrap();
    assert_eq!(again.id, r.id);
    assert!(matches!(
        svc.register_resident(&staff_actor("handler-a1"), &phone, VILLAGE_A1).await,
        Err(StoreError::Domain(DomainError::Forbidden(_)))
    ));
    assert!(svc.register_resident(&staff_actor("intake"), &phone, "330681101999").await.is_err(), "unknown region");
    let reg = svc.register_resident(&staff_actor("intake"), &phone, VILLAGE_A1).await.unwrap();
    assert_eq!((reg.id, reg.region_by_staff, reg.verified_by.as_str()), (r.id, true, "user:intake"));
    assert_eq!(store.resident(r.id).await.unwrap().unwrap(), reg);
    assert_eq!(store.resident_by_phone(&phone).await.unwrap().unwrap(), reg);
    let events = store.audit_events(0, 100_000).await.unwrap();
    assert!(events.iter().any(|e| e.kind == "resident_registered"));
    assert!(events.iter().all(|e| !e.payload.contains(&phone)), "the log holds no phone");

    // Sessions.
    let s = ResidentSession { id_hash: "h1".into(), resident_id: r.id, csrf: "c".into(), created_at: T0, expires_at: T0.plus_ms(HOUR) };
    store.create_resident_session(&s).await.unwrap();
    assert_eq!(store.resident_session("h1", T0).await.unwrap().unwrap().1.id, r.id);
    assert!(store.resident_session("h1", T0.plus_ms(HOUR)).await.unwrap().is_none(), "expired");
    assert!(store.resident_session("h2", T0).await.unwrap().is_none());
    store.delete_resident_session("h1").await.unwrap();
    assert!(store.resident_session("h1", T0).await.unwrap().is_none());
    // Expired ones are purged; live ones stay.
    for (h, until) in [("old", T0), ("live", T0.plus_ms(2 * HOUR))] {
        let s = ResidentSession { id_hash: h.into(), resident_id: r.id, csrf: "c".into(), created_at: T0, expires_at: until };
        store.create_resident_session(&s).await.unwrap();
    }
    store.put_otp(&OtpCode::new("13500135000", "s", "1", T0)).await.unwrap();
    assert_eq!(store.purge_resident_auth(T0.plus_ms(HOUR)).await.unwrap(), 2);
    assert!(store.resident_session("live", T0).await.unwrap().is_some());
    assert!(store.otp_attempt("13500135000").await.unwrap().is_none());

    // My cases: as reporter only, not another person's, not a party's.
    let intake = staff_actor("intake");
    let mine = svc.create(draft("street_light", VILLAGE_A1, "路灯"), &intake, Channel::Web, None).await.unwrap().case;
    let mut other = draft("street_light", VILLAGE_B1, "别人的");
    other.reporter.as_mut().unwrap().phone = Some("13700137000".into());
    other.reporter.as_mut().unwrap().name = Some("赵六".into());
    svc.create(other, &intake, Channel::Web, None).await.unwrap();
    let got: Vec<i64> = store.cases_reported_by(&phone).await.unwrap().iter().map(|c| c.id.0).collect();
    assert_eq!(got, [mine.id.0]);
    assert!(store.cases_reported_by("13600136000").await.unwrap().is_empty());
    store.erase_person(mine.reporter.unwrap(), "user:sup", T0).await.unwrap();
    assert!(store.cases_reported_by(&phone).await.unwrap().is_empty(), "erased data is nobody's");
}

pub async fn consultation_takes_one_support_per_resident(store: Arc<dyn Store>) {
    let clock = ManualClock::new(T0);
    let svc = seeded_with_clock(&store, clock.clone()).await;
    let sup = staff_actor("sup-a");
    let c = dispatched(&svc, "street_light").await;
    let src = ConsultSource::Cases { ids: vec![c.id.0] };
    let before = event_count(&store).await;
    // A case the opener may not see is refused like a missing one; so is bad input.
    let far = svc.open_consultation(&sup, VILLAGE_A1, "t", "d", ConsultSource::Cases { ids: vec![999] }, T0.plus_ms(HOUR)).await;
    assert!(matches!(far, Err(StoreError::Domain(DomainError::Invalid(_)))));
    assert!(svc.open_consultation(&sup, VILLAGE_A1, " ", "d", src.clone(), T0).await.is_err());
    assert!(svc.open_consultation(&sup, VILLAGE_B1, "t", "d", src.clone(), T0.plus_ms(HOUR)).await.is_err(), "outside jurisdiction");
    assert_eq!(event_count(&store).await, before, "refused openings write nothing");
    let k = svc.open_consultation(&sup, "330681101000", "村口停车", "停车位如何规划", src, T0.plus_ms(48 * HOUR)).await.unwrap();
    assert_eq!((k.id, k.status), (1, ConsultStatus::Open));
    // Scope: the town's supervisor and the county's see it; town B's and a handler do not.
    assert!(store.consultation(&crate::residents::consult_scope(&staff_actor("sup")), k.id).await.unwrap().is_some());
    assert!(store.consultation(&crate::residents::consult_scope(&staff_actor("handler-a1")), k.id).await.unwrap().is_none());
    assert!(store.consultation(&Scope::Region { prefix: "330681102".into() }, k.id).await.unwrap().is_none());
    assert_eq!(store.consultations(&Scope::All, 10).await.unwrap().len(), 1);

    let resident = |phone: &'static str, region: Option<&'static str>| {
        let store = store.clone();
        async move {
            let mut r = Resident::by_code(phone, T0);
            r.region = region.map(|x| RegionCode::parse(x).unwrap());
            store.save_resident(&r, "resident_verified", "resident", T0).await.unwrap()
        }
    };
    let a = resident("13800000001", Some(VILLAGE_A1)).await;
    let b = resident("13800000002", Some(VILLAGE_A1)).await;
    let outsider = resident("13800000003", Some(VILLAGE_B1)).await;
    let nowhere = resident("13800000004", None).await;
    assert!(matches!(svc.propose(&outsider, k.id, "我也想提").await, Err(StoreError::Domain(DomainError::Forbidden(_)))));
    assert!(matches!(svc.propose(&nowhere, k.id, "我也想提").await, Err(StoreError::Domain(DomainError::Precondition(_)))));
    assert!(matches!(svc.propose(&a, k.id, " ").await, Err(StoreError::Domain(DomainError::Invalid(_)))));
    assert!(matches!(svc.propose(&a, 99, "x").await, Err(StoreError::NotFound)));
    let p1 = svc.propose(&a, k.id, "划线停车").await.unwrap();
    let p2 = svc.propose(&b, k.id, "建立体车库").await.unwrap();
    svc.comment(&b, k.id, Some(p1), "同意，但要留消防通道").await.unwrap();
    svc.comment(&a, k.id, None, "尽快").await.unwrap();
    assert!(svc.comment(&a, k.id, Some(12345), "x").await.is_err(), "no such proposal");
    assert!(matches!(svc.support(&outsider, k.id, p1).await, Err(StoreError::Domain(DomainError::Forbidden(_)))));

    // Many concurrent supports by one resident: exactly one counts.
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let svc = svc.clone();
            let a = a.clone();
            tokio::spawn(async move { svc.support(&a, k.id, if i % 2 == 0 { p1 } else { p2 }).await })
        })
        .collect();
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(()) => ok += 1,
            Err(StoreError::Domain(DomainError::Precondition(_))) => {}
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(ok, 1);
    svc.support(&b, k.id, p1).await.unwrap();
    let e = store.consult_entries(k.id).await.unwrap();
    assert_eq!(e.supporters, 2);
    assert_eq!(e.proposals.iter().map(|p| p.supports).sum::<i64>(), 2);
    assert_eq!(e.comments.len(), 2);
    assert!(store.supported(k.id, a.id).await.unwrap().is_some());
    assert_eq!(store.supported(k.id, b.id).await.unwrap(), Some(p1));
    assert_eq!(store.supported(k.id, outsider.id).await.unwrap(), None);
    let supports = store.audit_events(0, 100_000).await.unwrap().iter().filter(|e| e.kind == "consultation_support").count();
    assert_eq!(supports, 2, "refused supports write no event");

    // The period ends: no more input. The committee decides; the follow-through completes.
    clock.advance_ms(48 * HOUR);
    assert!(matches!(svc.propose(&b, k.id, "晚了").await, Err(StoreError::Domain(DomainError::Precondition(_)))));
    assert!(
        svc.act_consultation(&staff_actor("handler-a1"), k.id, None, &ConsultCommand::Progress { percent: 1, note: None }).await.is_err()
    );
    let decide = ConsultCommand::Decide { text: "采纳划线停车方案".into(), answer: "村委会两周内完成划线".into() };
    assert!(matches!(svc.act_consultation(&sup, k.id, Some(7), &decide).await, Err(StoreError::Conflict { current: 1 })));
    let k = svc.act_consultation(&sup, k.id, Some(1), &decide).await.unwrap();
    assert_eq!(k.status, ConsultStatus::Decided);
    svc.act_consultation(&sup, k.id, None, &ConsultCommand::AddMilestone { title: "划线".into(), due: None }).await.unwrap();
    svc.act_consultation(&sup, k.id, None, &ConsultCommand::CompleteMilestone { index: 0 }).await.unwrap();
    let k = svc.act_consultation(&sup, k.id, None, &ConsultCommand::Progress { percent: 100, note: None }).await.unwrap();
    assert_eq!((k.status, k.progress, k.version), (ConsultStatus::Completed, 100, 5));
    assert_eq!(store.consultation(&Scope::All, k.id).await.unwrap().unwrap(), k);
    let _ = (Status::Closed, AUDIT_KEY);
    assert!(matches!(svc.verify_audit(AUDIT_KEY, |_| {}).await.unwrap(), fengqiao_domain::audit::VerifyOutcome::Ok { .. }));
}

/// The roll, the consultations with their input, and the text messages restored alike.
pub async fn restored_alike(source: &Arc<dyn Store>, target: &Arc<dyn Store>) {
    assert_eq!(source.sms_outbox(100_000).await.unwrap(), target.sms_outbox(100_000).await.unwrap());
    let consultations = source.consultations(&Scope::All, 10_000).await.unwrap();
    assert_eq!(consultations, target.consultations(&Scope::All, 10_000).await.unwrap());
    for c in &consultations {
        assert_eq!(source.consult_entries(c.id).await.unwrap(), target.consult_entries(c.id).await.unwrap());
    }
    let mut id = 1;
    while let Some(r) = source.resident(id).await.unwrap() {
        assert_eq!(Some(&r), target.resident(id).await.unwrap().as_ref());
        for c in &consultations {
            assert_eq!(source.supported(c.id, id).await.unwrap(), target.supported(c.id, id).await.unwrap());
        }
        id += 1;
    }
}

/// Puts residents, a consultation with proposals, a comment and supports, and queued texts
/// into a seeded store, for the backup round trip.
pub async fn some_residents_and_a_consultation(svc: &crate::Service) {
    let sup = staff_actor("sup-a");
    let k = svc
        .open_consultation(
            &sup,
            VILLAGE_A1,
            "村口停车",
            "如何规划",
            ConsultSource::Hotspot { note: "村口".into() },
            svc.now().plus_ms(48 * HOUR),
        )
        .await
        .unwrap();
    let a = svc.register_resident(&staff_actor("intake"), "13800000001", VILLAGE_A1).await.unwrap();
    let b = svc.register_resident(&staff_actor("intake"), "13800000002", VILLAGE_A1).await.unwrap();
    let p = svc.propose(&a, k.id, "划线").await.unwrap();
    svc.comment(&b, k.id, Some(p), "同意").await.unwrap();
    svc.support(&a, k.id, p).await.unwrap();
    svc.support(&b, k.id, p).await.unwrap();
}

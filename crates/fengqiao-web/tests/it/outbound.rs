//! Webhooks and e-mail end to end: a subscription registered over HTTP, deliveries received by
//! an in-test HTTP server with a signature the test verifies, a retry after a 500, the
//! dead-letter list after the last attempt and a re-queue by the administrator; a refused
//! change queues nothing; a staff notice received by an in-test SMTP server.

use std::sync::{Arc, Mutex};

use axum::http::StatusCode;
use fengqiao_domain::webhook::{RetryPolicy, verify};
use fengqiao_domain::{Clock, ManualClock};
use fengqiao_store::contract::T0;
use fengqiao_store::webhooks::{Outbound, OutboundConfig, SmtpConfig};
use fengqiao_store::{Scheduler, ServiceConfig};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

use crate::problems::{app_with, dispatched};

const SECRET: &str = "a-shared-secret-of-32-characters";

/// One request the receiver got: its headers (lower-case names) and body.
#[derive(Debug, Clone)]
struct Received {
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Received {
    fn header(&self, name: &str) -> &str {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).unwrap_or("")
    }
}

/// An HTTP server answering each request with the next status of `script` (200 after it).
async fn receiver(script: Vec<u16>) -> (String, Arc<Mutex<Vec<Received>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks/fengqiao", listener.local_addr().unwrap());
    let got: Arc<Mutex<Vec<Received>>> = Arc::default();
    let log = got.clone();
    tokio::spawn(async move {
        let mut script = script.into_iter();
        loop {
            let Ok((stream, _)) = listener.accept().await else { return };
            let mut r = BufReader::new(stream);
            let mut line = String::new();
            r.read_line(&mut line).await.unwrap();
            assert!(line.starts_with("POST /hooks/fengqiao HTTP/1.1"), "{line}");
            let mut headers = Vec::new();
            loop {
                let mut h = String::new();
                r.read_line(&mut h).await.unwrap();
                let h = h.trim_end();
                if h.is_empty() {
                    break;
                }
                let (k, v) = h.split_once(':').unwrap();
                headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
            }
            let len: usize = headers.iter().find(|(k, _)| k == "content-length").unwrap().1.parse().unwrap();
            let mut body = vec![0; len];
            r.read_exact(&mut body).await.unwrap();
            log.lock().unwrap().push(Received { headers, body });
            let status = script.next().unwrap_or(200);
            let answer = format!("HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            r.get_mut().write_all(answer.as_bytes()).await.unwrap();
        }
    });
    (url, got)
}

/// A port nothing listens on.
async fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap().port()
}

/// One message the SMTP sink accepted.
#[derive(Debug, Clone, Default)]
struct Mail {
    from: String,
    to: Vec<String>,
    data: String,
    auth: Option<String>,
}

async fn smtp_sink() -> (u16, Arc<Mutex<Vec<Mail>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let got: Arc<Mutex<Vec<Mail>>> = Arc::default();
    let log = got.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { return };
            let log = log.clone();
            tokio::spawn(async move {
                let mut r = BufReader::new(stream);
                r.get_mut().write_all(b"220 sink ESMTP\r\n").await.unwrap();
                let mut mail = Mail::default();
                loop {
                    let mut line = String::new();
                    if r.read_line(&mut line).await.unwrap() == 0 {
                        return;
                    }
                    let l = line.trim_end().to_string();
                    let upper = l.to_ascii_uppercase();
                    let answer: &[u8] = if upper.starts_with("EHLO") {
                        b"250-sink\r\n250 AUTH PLAIN\r\n"
                    } else if upper.starts_with("AUTH PLAIN ") {
                        mail.auth = Some(l[11..].to_string());
                        b"235 ok\r\n"
                    } else if upper.starts_with("MAIL FROM:") {
                        mail.from = l[10..].to_string();
                        b"250 ok\r\n"
                    } else if upper.starts_with("RCPT TO:") {
                        mail.to.push(l[8..].to_string());
                        b"250 ok\r\n"
                    } else if upper == "DATA" {
                        r.get_mut().write_all(b"354 go ahead\r\n").await.unwrap();
                        loop {
                            let mut d = String::new();
                            r.read_line(&mut d).await.unwrap();
                            if d == ".\r\n" {
                                break;
                            }
                            mail.data.push_str(&d);
                        }
                        log.lock().unwrap().push(mail.clone());
                        b"250 queued\r\n"
                    } else if upper == "QUIT" {
                        r.get_mut().write_all(b"221 bye\r\n").await.unwrap();
                        return;
                    } else {
                        b"500 what\r\n"
                    };
                    r.get_mut().write_all(answer).await.unwrap();
                }
            });
        }
    });
    (port, got)
}

fn check_signature(req: &Received) -> Value {
    let ts: i64 = req.header("x-fengqiao-timestamp").parse().unwrap();
    assert!(verify(SECRET.as_bytes(), ts, &req.body, req.header("x-fengqiao-signature")), "the signature verifies");
    assert!(!verify(b"another-secret-entirely-xxxxxxxx", ts, &req.body, req.header("x-fengqiao-signature")));
    assert_eq!(req.header("content-type"), "application/json");
    serde_json::from_slice(&req.body).unwrap()
}

async fn outbox(app: &crate::App, query: &str) -> Vec<Value> {
    let r = app.get(&format!("/api/v1/outbox{query}"), "admin").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.body["items"].as_array().unwrap().clone()
}

#[tokio::test]
async fn webhooks_are_signed_retried_dead_lettered_and_requeued() {
    let clock = ManualClock::new(T0);
    let retry = RetryPolicy { max_attempts: 3, first_delay_secs: 30, max_delay_secs: 600 };
    let app =
        app_with(clock.clone(), ServiceConfig { outbound: OutboundConfig { retry, ..Default::default() }, ..Default::default() }).await;
    let out = Outbound::new(app.svc.clone());
    let (url, got) = receiver(vec![500]).await;

    // Only an administrator registers; a bad registration lists every problem.
    let body = json!({ "name": "city-12345", "url": url, "secret": SECRET, "kinds": ["case_created", "status_changed"] }).to_string();
    assert_eq!(app.post("/api/v1/webhooks", "sup", &body).await.status, StatusCode::FORBIDDEN);
    let bad = app
        .post("/api/v1/webhooks", "admin", &json!({ "name": "", "url": "https://x", "secret": "short", "kinds": ["nope"] }).to_string())
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad.body["error"]["details"].as_array().unwrap().len(), 4, "{}", bad.text);
    let r = app.post("/api/v1/webhooks", "admin", &body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let sub = r.body["id"].as_i64().unwrap();
    assert!(
        r.body.get("secret").is_none() && !app.get("/api/v1/webhooks", "admin").await.text.contains(SECRET),
        "the secret is never shown"
    );

    // A case is created: the hook is queued with it, refused by a 500, retried after the
    // backoff and delivered, signed both times.
    let c = app.post("/api/v1/cases", "intake", r#"{"category":"street_light","description":"路灯坏了","region":"330681101001"}"#).await;
    let case = c.body["id"].as_i64().unwrap();
    let queued = outbox(&app, "?channel=webhook").await;
    assert_eq!(queued.len(), 1);
    assert_eq!((queued[0]["kind"].as_str(), queued[0]["state"].as_str()), (Some("case_created"), Some("pending")));
    let now = clock.now();
    let r = out.run_due(now).await.unwrap();
    assert_eq!((r.delivered.len(), r.retried.len()), (0, 1));
    assert!(out.run_due(now.plus_ms(10_000)).await.unwrap().retried.is_empty(), "not before the backoff");
    let r = out.run_due(now.plus_ms(31_000)).await.unwrap();
    assert_eq!(r.delivered.len(), 1);
    let reqs = got.lock().unwrap().clone();
    assert_eq!(reqs.len(), 2);
    for req in &reqs {
        let b = check_signature(req);
        assert_eq!(
            (b["kind"].as_str(), b["case_id"].as_i64(), b["event"]["kind"].as_str()),
            (Some("case_created"), Some(case), Some("created"))
        );
        assert_eq!(req.header("x-fengqiao-event"), "case_created");
    }
    assert_ne!(reqs[0].header("x-fengqiao-timestamp"), reqs[1].header("x-fengqiao-timestamp"), "each attempt is signed at its time");
    let done = outbox(&app, "?state=delivered").await;
    assert_eq!((done.len(), done[0]["attempts"].as_i64()), (1, Some(2)));

    // A refused change queues nothing.
    let before = (app.events().await, outbox(&app, "").await.len());
    assert_eq!(app.post(&format!("/api/v1/cases/{case}/transitions/close"), "intake", "{}").await.status, StatusCode::CONFLICT);
    assert_eq!((app.events().await, outbox(&app, "").await.len()), before);

    // The receiver goes away: three attempts, then the dead-letter list.
    let gone = json!({ "name": "city-12345", "url": format!("http://127.0.0.1:{}/hooks/fengqiao", closed_port().await), "kinds": ["status_changed"] });
    let r = app.call("PUT", &format!("/api/v1/webhooks/{sub}"), Some("admin"), Some(&gone.to_string()), &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(app.post(&format!("/api/v1/cases/{case}/transitions/file"), "intake", "{}").await.status, StatusCode::OK);
    let mut t = clock.now();
    for attempt in 1..=3 {
        let r = out.run_due(t).await.unwrap();
        assert_eq!(r.retried.len() + r.dead.len(), 1, "attempt {attempt}: {r:?}");
        t = t.plus_ms(3_600_000);
    }
    let dead = outbox(&app, "?state=dead").await;
    assert_eq!(dead.len(), 1);
    assert_eq!((dead[0]["kind"].as_str(), dead[0]["attempts"].as_i64()), (Some("status_changed"), Some(3)));
    assert!(dead[0]["last_error"].as_str().unwrap().contains("connect"), "{}", dead[0]);
    assert_eq!(dead[0]["body"]["status"], "filed");
    assert!(out.run_due(t.plus_ms(86_400_000)).await.unwrap().dead.is_empty(), "a dead message is not retried");
    assert_eq!(app.get("/api/v1/outbox?state=dead", "sup").await.status, StatusCode::FORBIDDEN);

    // The administrator points the subscription back and queues the message again.
    let back = json!({ "name": "city-12345", "url": url, "kinds": ["status_changed"] }).to_string();
    assert_eq!(app.call("PUT", &format!("/api/v1/webhooks/{sub}"), Some("admin"), Some(&back), &[]).await.status, StatusCode::OK);
    let id = dead[0]["id"].as_i64().unwrap();
    assert_eq!(app.post(&format!("/api/v1/outbox/{id}/requeue"), "sup", "").await.status, StatusCode::FORBIDDEN);
    let r = app.post(&format!("/api/v1/outbox/{id}/requeue"), "admin", "").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(app.post(&format!("/api/v1/outbox/{id}/requeue"), "admin", "").await.status, StatusCode::NOT_FOUND, "only dead ones");
    let r = out.run_due(clock.now()).await.unwrap();
    assert_eq!(r.delivered, [id]);
    let last = got.lock().unwrap().last().cloned().unwrap();
    assert_eq!(check_signature(&last)["status"], "filed", "the secret was kept through the changes");
    assert!(outbox(&app, "?state=dead").await.is_empty());
}

#[tokio::test]
async fn staff_notices_are_emailed_through_smtp() {
    let clock = ManualClock::new(T0);
    let (port, mails) = smtp_sink().await;
    let smtp = SmtpConfig {
        host: "127.0.0.1".into(),
        port,
        username: Some("fengqiao".into()),
        password: Some("pw".into()),
        from: "noreply@fengqiao.example".into(),
        helo: "fengqiao.test".into(),
    };
    let config = ServiceConfig { outbound: OutboundConfig { smtp: Some(smtp), ..Default::default() }, ..Default::default() };
    let app = app_with(clock.clone(), config).await;
    let r = app.call("PUT", "/api/v1/users/handler-a1/email", Some("admin"), Some(r#"{"email":"a1@example.org"}"#), &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = app.call("PUT", "/api/v1/users/handler-a1/email", Some("admin"), Some(r#"{"email":"not an address"}"#), &[]).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = app.call("PUT", "/api/v1/users/nobody/email", Some("admin"), Some(r#"{"email":"x@example.org"}"#), &[]).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // The response deadline of a dispatched case passes: the unit's notice is e-mailed to its
    // handler, who has an address (nobody else has one).
    let id = dispatched(&app, "street_light", "330681101001", "vc-a1", None).await;
    let case = app.svc.store.case(&fengqiao_store::Scope::All, fengqiao_domain::CaseId(id)).await.unwrap().unwrap();
    let after = case.response_due.unwrap().plus_ms(60_000);
    clock.set(after);
    Scheduler::new(app.svc.clone()).run_due(after).await.unwrap();
    let r = Outbound::new(app.svc.clone()).run_due(after).await.unwrap();
    assert_eq!(r.delivered.len(), 1, "{r:?}");
    let got = mails.lock().unwrap().clone();
    assert_eq!(got.len(), 1);
    let m = &got[0];
    assert_eq!((m.from.as_str(), m.to.clone()), ("<noreply@fengqiao.example>", vec!["<a1@example.org>".to_string()]));
    assert_eq!(m.auth.as_deref(), Some(fengqiao_store::webhooks::base64(b"\0fengqiao\0pw").as_str()));
    // The text is the inbox message, base64 in the body.
    let inbox = app.get("/api/v1/inbox", "handler-a1").await;
    let message = inbox.body["items"][0]["message"].as_str().unwrap().to_string();
    assert!(message.contains(&format!("#{id}")));
    let (head, body) = m.data.split_once("\r\n\r\n").unwrap();
    assert!(head.contains("To: <a1@example.org>") && head.contains("Content-Transfer-Encoding: base64"), "{head}");
    let subject = format!("[枫桥 fengqiao] 期限已过 / deadline missed #{id}");
    assert!(head.contains(&format!("Subject: =?UTF-8?B?{}?=", fengqiao_store::webhooks::base64(subject.as_bytes()))), "{head}");
    assert_eq!(body.replace("\r\n", ""), fengqiao_store::webhooks::base64(message.as_bytes()));
    let sent = outbox(&app, "?channel=email").await;
    assert_eq!((sent.len(), sent[0]["state"].as_str()), (1, Some("delivered")));
}

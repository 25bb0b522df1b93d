//! The generic HTTP gateway for text messages: most SMS services take a form or JSON request
//! with the phone and the text and an API key in a header. The URL, method, body template and
//! header are configuration (`[sms]`); `{phone}` and `{text}` in the template are replaced,
//! encoded for the content type. A status other than 2xx is an error, which the outbox sender
//! retries. Plain `http://` only (a local relay or a TLS-terminating proxy in front of a public
//! gateway), with no client library beyond tokio.

use std::time::Duration;

use async_trait::async_trait;
use fengqiao_store::{SmsConfig, SmsProvider};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[derive(Debug, Clone)]
pub struct HttpSms {
    host: String,
    port: u16,
    /// Path and query.
    path: String,
    method: String,
    template: String,
    json: bool,
    content_type: String,
    auth: Option<(String, String)>,
    timeout: Duration,
}

impl HttpSms {
    /// Checks the configuration; every problem is named.
    pub fn from_config(c: &SmsConfig) -> Result<HttpSms, String> {
        let rest = c.url.strip_prefix("http://").ok_or("sms.url: an http:// URL (put a TLS proxy in front of an https gateway)")?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].to_string()),
            None => (rest, "/".to_string()),
        };
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), p.parse::<u16>().map_err(|_| format!("sms.url: bad port '{p}'"))?),
            None => (authority.to_string(), 80),
        };
        if host.is_empty() {
            return Err("sms.url: no host".into());
        }
        let method = c.method.to_ascii_uppercase();
        if !matches!(method.as_str(), "POST" | "GET" | "PUT") {
            return Err(format!("sms.method: POST, PUT or GET, not '{}'", c.method));
        }
        if !c.body.contains("{phone}") || !c.body.contains("{text}") {
            return Err("sms.body: the template must contain {phone} and {text}".into());
        }
        let auth = match &c.auth_header {
            Some(h) => {
                let (k, v) = h.split_once(':').ok_or("sms.auth_header: 'Name: value'")?;
                let (k, v) = (k.trim().to_string(), v.trim().to_string());
                if k.is_empty() || k.contains(|ch: char| ch.is_whitespace() || ch.is_control()) || v.contains(['\r', '\n']) {
                    return Err("sms.auth_header: 'Name: value'".into());
                }
                Some((k, v))
            }
            None => None,
        };
        Ok(HttpSms {
            host,
            port,
            path,
            method,
            template: c.body.clone(),
            json: c.content_type.contains("json"),
            content_type: c.content_type.clone(),
            auth,
            timeout: Duration::from_secs(10),
        })
    }

    /// The request body (or query, for GET) for one message.
    pub fn render(&self, phone: &str, text: &str) -> String {
        let enc = |s: &str| {
            if self.json {
                let q = serde_json::to_string(s).unwrap_or_default();
                q[1..q.len() - 1].to_string()
            } else {
                form_encode(s)
            }
        };
        self.template.replace("{phone}", &enc(phone)).replace("{text}", &enc(text))
    }

    fn request(&self, phone: &str, text: &str) -> Vec<u8> {
        let body = self.render(phone, text);
        let (path, body) = if self.method == "GET" {
            let sep = if self.path.contains('?') { '&' } else { '?' };
            (format!("{}{sep}{body}", self.path), String::new())
        } else {
            (self.path.clone(), body)
        };
        let mut req = format!("{} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nUser-Agent: fengqiao\r\n", self.method, self.host);
        if self.method != "GET" {
            req.push_str(&format!("Content-Type: {}\r\nContent-Length: {}\r\n", self.content_type, body.len()));
        }
        if let Some((k, v)) = &self.auth {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        req.push_str(&body);
        req.into_bytes()
    }
}

fn form_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[async_trait]
impl SmsProvider for HttpSms {
    async fn send(&self, phone: &str, text: &str) -> Result<(), String> {
        let req = self.request(phone, text);
        let exchange = async {
            let mut s = tokio::net::TcpStream::connect((self.host.as_str(), self.port)).await.map_err(|e| format!("connect: {e}"))?;
            s.write_all(&req).await.map_err(|e| format!("send: {e}"))?;
            let mut head = Vec::new();
            // The status line is all we need; read a little and stop.
            let mut buf = [0u8; 1024];
            while !head.contains(&b'\n') && head.len() < 8192 {
                let n = s.read(&mut buf).await.map_err(|e| format!("read: {e}"))?;
                if n == 0 {
                    break;
                }
                head.extend_from_slice(&buf[..n]);
            }
            Ok::<Vec<u8>, String>(head)
        };
        let head = tokio::time::timeout(self.timeout, exchange).await.map_err(|_| "the gateway did not answer in time".to_string())??;
        let line = String::from_utf8_lossy(&head);
        let status = line.split_whitespace().nth(1).and_then(|s| s.parse::<u16>().ok()).ok_or("the gateway's answer is not HTTP")?;
        if (200..300).contains(&status) { Ok(()) } else { Err(format!("the gateway answered {status}")) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configuration_and_encoding() {
        let mut c = SmsConfig { provider: "http".into(), url: "https://x".into(), ..SmsConfig::default() };
        assert!(HttpSms::from_config(&c).is_err());
        c.url = "http://127.0.0.1:9000/send?k=1".into();
        c.auth_header = Some("X-Api-Key: secret".into());
        let h = HttpSms::from_config(&c).unwrap();
        assert_eq!(h.render("138", "验证码 1&2"), "phone=138&text=%E9%AA%8C%E8%AF%81%E7%A0%81+1%262");
        let req = String::from_utf8(h.request("138", "a b")).unwrap();
        assert!(req.starts_with("POST /send?k=1 HTTP/1.1\r\nHost: 127.0.0.1\r\n"), "{req}");
        assert!(req.contains("X-Api-Key: secret\r\n") && req.ends_with("\r\n\r\nphone=138&text=a+b"), "{req}");
        c.body = r#"{"to":"{phone}","msg":"{text}"}"#.into();
        c.content_type = "application/json".into();
        assert_eq!(HttpSms::from_config(&c).unwrap().render("138", "say \"hi\""), r#"{"to":"138","msg":"say \"hi\""}"#);
        c.body = "to={phone}".into();
        assert!(HttpSms::from_config(&c).is_err(), "the text must go somewhere");
        c.body = "to={phone}&t={text}".into();
        c.auth_header = Some("Bad Header: x".into());
        assert!(HttpSms::from_config(&c).is_err());
    }

    /// A gateway on a local socket that answers each request with the next status and keeps
    /// what it received.
    async fn gateway(statuses: Vec<u16>) -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let got = seen.clone();
        tokio::spawn(async move {
            for status in statuses {
                let (mut s, _) = listener.accept().await.unwrap();
                let mut buf = vec![0u8; 8192];
                let mut req = Vec::new();
                // Headers, then the body by its length.
                loop {
                    let n = s.read(&mut buf).await.unwrap();
                    req.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&req).to_string();
                    if let Some(end) = text.find("\r\n\r\n") {
                        let len = text
                            .lines()
                            .find_map(|l| l.strip_prefix("Content-Length: "))
                            .and_then(|v| v.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        if req.len() >= end + 4 + len {
                            break;
                        }
                    }
                    if n == 0 {
                        break;
                    }
                }
                got.lock().unwrap().push(String::from_utf8_lossy(&req).to_string());
                let answer = format!("HTTP/1.1 {status} X\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
                s.write_all(answer.as_bytes()).await.unwrap();
            }
        });
        (format!("http://{addr}/sms/send"), seen)
    }

    #[tokio::test]
    async fn a_2xx_is_sent_and_anything_else_is_an_error() {
        let (url, seen) = gateway(vec![200, 503, 401]).await;
        let c = SmsConfig { provider: "http".into(), url, auth_header: Some("Authorization: Bearer k1".into()), ..SmsConfig::default() };
        let h = HttpSms::from_config(&c).unwrap();
        h.send("13800138000", "您好 hi").await.unwrap();
        assert_eq!(h.send("13800138000", "x").await.unwrap_err(), "the gateway answered 503");
        assert_eq!(h.send("13800138000", "x").await.unwrap_err(), "the gateway answered 401");
        let first = seen.lock().unwrap()[0].clone();
        assert!(first.starts_with("POST /sms/send HTTP/1.1\r\n"), "{first}");
        assert!(first.contains("Authorization: Bearer k1\r\n") && first.contains("Content-Type: application/x-www-form-urlencoded\r\n"));
        assert!(first.ends_with("phone=13800138000&text=%E6%82%A8%E5%A5%BD+hi"), "{first}");
        // Nobody listening: an error, not a hang.
        let closed = SmsConfig { provider: "http".into(), url: "http://127.0.0.1:9/x".into(), ..SmsConfig::default() };
        assert!(HttpSms::from_config(&closed).unwrap().send("1", "x").await.is_err());
    }
}

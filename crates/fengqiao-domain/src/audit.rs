//! The tamper-evident event log.
//!
//! Every change is an event with a sequence number in one global order. Each event's hash
//! covers its content and the previous event's hash, so altering, deleting, inserting or
//! reordering any event breaks every later link. A hash chain alone cannot catch a truncated
//! tail or a wholesale rewrite (the forger just recomputes), so the head of the chain is
//! checkpointed and signed with an HMAC key kept outside the database: a checkpoint names a
//! sequence number and the hash the chain had there, and only the key holder can make one.

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::clock::Timestamp;

/// The hash before the first event.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// An event as stored in the log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredEvent {
    pub seq: i64,
    /// The case it belongs to; `None` for events about configuration or people.
    pub case_id: Option<i64>,
    pub at: Timestamp,
    pub actor: String,
    pub kind: String,
    /// The event's data as canonical JSON text (what was hashed).
    pub payload: String,
    pub prev_hash: String,
    pub hash: String,
}

/// The hash of one event given its predecessor's. Fields are length-prefixed so no two
/// different events can serialise to the same bytes.
pub fn event_hash(prev_hash: &str, seq: i64, case_id: Option<i64>, at: Timestamp, actor: &str, kind: &str, payload: &str) -> String {
    let mut h = Sha256::new();
    let mut field = |b: &[u8]| {
        h.update((b.len() as u64).to_be_bytes());
        h.update(b);
    };
    field(prev_hash.as_bytes());
    field(&seq.to_be_bytes());
    field(&case_id.unwrap_or(-1).to_be_bytes());
    field(&at.0.to_be_bytes());
    field(actor.as_bytes());
    field(kind.as_bytes());
    field(payload.as_bytes());
    hex::encode(h.finalize())
}

impl StoredEvent {
    pub fn expected_hash(&self) -> String {
        event_hash(&self.prev_hash, self.seq, self.case_id, self.at, &self.actor, &self.kind, &self.payload)
    }
}

/// A signed statement that the chain had `hash` at `seq`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub seq: i64,
    pub hash: String,
    pub at: Timestamp,
    pub signature: String,
}

type HmacSha256 = Hmac<Sha256>;

fn mac(key: &[u8], seq: i64, hash: &str, at: Timestamp) -> HmacSha256 {
    let mut m = HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length");
    m.update(b"fengqiao-checkpoint-v1\0");
    m.update(&seq.to_be_bytes());
    m.update(hash.as_bytes());
    m.update(&at.0.to_be_bytes());
    m
}

impl Checkpoint {
    pub fn sign(key: &[u8], seq: i64, hash: &str, at: Timestamp) -> Checkpoint {
        let sig = hex::encode(mac(key, seq, hash, at).finalize().into_bytes());
        Checkpoint { seq, hash: hash.to_string(), at, signature: sig }
    }

    pub fn is_valid(&self, key: &[u8]) -> bool {
        match hex::decode(&self.signature) {
            Ok(sig) => mac(key, self.seq, &self.hash, self.at).verify_slice(&sig).is_ok(),
            Err(_) => false,
        }
    }
}

/// What a verification found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum VerifyOutcome {
    Ok { events: i64, checkpoints: usize, head_seq: i64 },
    Broken { seq: i64, problem: String },
}

/// Checks events in sequence order, incrementally: feed every event, then every checkpoint.
pub struct ChainVerifier<'k> {
    key: &'k [u8],
    expect_seq: i64,
    prev_hash: String,
    hashes_at_checkpoints: std::collections::BTreeMap<i64, Option<String>>,
    count: i64,
    pub broken: Option<(i64, String)>,
}

impl<'k> ChainVerifier<'k> {
    /// `checkpoints` are the signed heads known from every source (database and file).
    pub fn new(key: &'k [u8], checkpoints: &[Checkpoint]) -> Result<Self, (i64, String)> {
        let mut map = std::collections::BTreeMap::new();
        for c in checkpoints {
            if !c.is_valid(key) {
                return Err((c.seq, format!("checkpoint at seq {} has a bad signature", c.seq)));
            }
            map.insert(c.seq, None);
        }
        Ok(ChainVerifier { key, expect_seq: 1, prev_hash: GENESIS.into(), hashes_at_checkpoints: map, count: 0, broken: None })
    }

    /// Feeds the next event; returns false once the chain is broken.
    pub fn push(&mut self, e: &StoredEvent) -> bool {
        if self.broken.is_some() {
            return false;
        }
        let problem = if e.seq != self.expect_seq {
            Some(if e.seq > self.expect_seq {
                format!("events {}..{} are missing", self.expect_seq, e.seq - 1)
            } else {
                format!("event {} is out of order", e.seq)
            })
        } else if e.prev_hash != self.prev_hash {
            Some("its previous-hash link does not match the event before it".into())
        } else if e.expected_hash() != e.hash {
            Some("its content does not match its hash (altered)".into())
        } else {
            None
        };
        if let Some(p) = problem {
            self.broken = Some((e.seq.min(self.expect_seq), p));
            return false;
        }
        if let Some(slot) = self.hashes_at_checkpoints.get_mut(&e.seq) {
            *slot = Some(e.hash.clone());
        }
        self.prev_hash = e.hash.clone();
        self.expect_seq += 1;
        self.count += 1;
        true
    }

    /// Compares the chain against the signed checkpoints.
    pub fn finish(self, checkpoints: &[Checkpoint]) -> VerifyOutcome {
        if let Some((seq, problem)) = self.broken {
            return VerifyOutcome::Broken { seq, problem };
        }
        let _ = self.key;
        for c in checkpoints {
            match self.hashes_at_checkpoints.get(&c.seq).cloned().flatten() {
                None => {
                    return VerifyOutcome::Broken {
                        seq: c.seq,
                        problem: format!(
                            "the log ends at seq {} but a signed checkpoint vouches for seq {} (truncated)",
                            self.count, c.seq
                        ),
                    };
                }
                Some(h) if h != c.hash => {
                    return VerifyOutcome::Broken {
                        seq: c.seq,
                        problem: "the chain differs from the signed checkpoint here (rewritten)".into(),
                    };
                }
                Some(_) => {}
            }
        }
        VerifyOutcome::Ok { events: self.count, checkpoints: checkpoints.len(), head_seq: self.expect_seq - 1 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: i64) -> Vec<StoredEvent> {
        let mut prev = GENESIS.to_string();
        (1..=n)
            .map(|seq| {
                let payload = format!("{{\"n\":{seq}}}");
                let hash = event_hash(&prev, seq, Some(1), Timestamp(seq), "user:a", "filed", &payload);
                let e = StoredEvent {
                    seq,
                    case_id: Some(1),
                    at: Timestamp(seq),
                    actor: "user:a".into(),
                    kind: "filed".into(),
                    payload,
                    prev_hash: prev.clone(),
                    hash: hash.clone(),
                };
                prev = hash;
                e
            })
            .collect()
    }

    fn verify(events: &[StoredEvent], cps: &[Checkpoint]) -> VerifyOutcome {
        let mut v = ChainVerifier::new(b"k", cps).unwrap();
        for e in events {
            if !v.push(e) {
                break;
            }
        }
        v.finish(cps)
    }

    #[test]
    fn intact_chain_verifies() {
        let ev = chain(5);
        let cp = Checkpoint::sign(b"k", 5, &ev[4].hash, Timestamp(9));
        assert_eq!(verify(&ev, &[cp]), VerifyOutcome::Ok { events: 5, checkpoints: 1, head_seq: 5 });
    }

    #[test]
    fn each_tampering_is_caught_at_the_right_event() {
        let ev = chain(6);
        let cp = Checkpoint::sign(b"k", 6, &ev[5].hash, Timestamp(9));
        let mut altered = ev.clone();
        altered[2].payload = "{\"n\":99}".into();
        assert!(matches!(verify(&altered, std::slice::from_ref(&cp)), VerifyOutcome::Broken { seq: 3, .. }));
        let mut deleted = ev.clone();
        deleted.remove(3);
        assert!(matches!(verify(&deleted, std::slice::from_ref(&cp)), VerifyOutcome::Broken { seq: 4, .. }));
        let mut reordered = ev.clone();
        reordered.swap(1, 2);
        assert!(matches!(verify(&reordered, std::slice::from_ref(&cp)), VerifyOutcome::Broken { seq: 2, .. }));
        let truncated = ev[..4].to_vec();
        assert!(matches!(verify(&truncated, std::slice::from_ref(&cp)), VerifyOutcome::Broken { seq: 6, .. }));
        let forged = Checkpoint { signature: "00".repeat(32), ..cp.clone() };
        assert!(ChainVerifier::new(b"k", &[forged]).is_err());
    }
}

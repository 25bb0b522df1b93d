-- Residents by phone: the SMS outbox, the resident roll, one-time codes, resident sessions,
-- and community consultations (议事协商).

-- Messages to residents, queued in the same transaction as the case change that causes them
-- and sent by the background sender. A message to a case's reporter names the person, whose
-- phone is read when it is sent (an erased person gets nothing).
CREATE TABLE sms_outbox (
    id INTEGER PRIMARY KEY,
    person_id INTEGER,
    phone TEXT,
    case_id INTEGER,
    kind TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at INTEGER NOT NULL,
    claimed_until INTEGER,
    sent_at INTEGER,
    failed_at INTEGER,
    last_error TEXT
);
CREATE INDEX sms_outbox_due ON sms_outbox (sent_at, failed_at, next_at);
-- "My cases": the people with a phone.
CREATE INDEX persons_phone ON persons (phone);

-- The resident roll: one entry per verified phone.
CREATE TABLE residents (
    id INTEGER PRIMARY KEY,
    phone TEXT NOT NULL UNIQUE,
    region TEXT,
    body TEXT NOT NULL
);
CREATE INDEX residents_region ON residents (region);

-- One-time sign-in codes (authentication state, not events): only a salted hash.
CREATE TABLE otp_codes (
    phone TEXT PRIMARY KEY,
    salt TEXT NOT NULL,
    code_hash TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    attempts INTEGER NOT NULL
);

-- Resident sessions, apart from staff sessions.
CREATE TABLE resident_sessions (
    id_hash TEXT PRIMARY KEY,
    resident_id INTEGER NOT NULL REFERENCES residents (id),
    csrf TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);

CREATE TABLE consultations (
    id INTEGER PRIMARY KEY,
    region TEXT NOT NULL,
    status TEXT NOT NULL,
    closes_at INTEGER NOT NULL,
    version INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX consultations_region ON consultations (region, id);

CREATE TABLE consult_proposals (
    id INTEGER PRIMARY KEY,
    consultation_id INTEGER NOT NULL REFERENCES consultations (id),
    resident_id INTEGER NOT NULL REFERENCES residents (id),
    body TEXT NOT NULL,
    at INTEGER NOT NULL
);
CREATE INDEX consult_proposals_of ON consult_proposals (consultation_id, id);

CREATE TABLE consult_comments (
    id INTEGER PRIMARY KEY,
    consultation_id INTEGER NOT NULL REFERENCES consultations (id),
    proposal_id INTEGER REFERENCES consult_proposals (id),
    resident_id INTEGER NOT NULL REFERENCES residents (id),
    body TEXT NOT NULL,
    at INTEGER NOT NULL
);
CREATE INDEX consult_comments_of ON consult_comments (consultation_id, id);

-- One support per resident and consultation: the primary key makes a second one, however
-- concurrent, impossible.
CREATE TABLE consult_supports (
    consultation_id INTEGER NOT NULL REFERENCES consultations (id),
    resident_id INTEGER NOT NULL REFERENCES residents (id),
    proposal_id INTEGER NOT NULL REFERENCES consult_proposals (id),
    at INTEGER NOT NULL,
    PRIMARY KEY (consultation_id, resident_id)
);
CREATE INDEX consult_supports_proposal ON consult_supports (proposal_id);

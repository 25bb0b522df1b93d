-- Reference data: the domain value as JSON, keyed by its code.
CREATE TABLE regions (code TEXT PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE units (id TEXT PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE categories (code TEXT PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE users (id TEXT PRIMARY KEY, body TEXT NOT NULL, token_hash TEXT UNIQUE, password_hash TEXT);

-- Personal data, apart from cases and the log so it can be erased.
CREATE TABLE persons (
    id INTEGER PRIMARY KEY,
    identity_key TEXT UNIQUE,
    name TEXT, phone TEXT, id_number TEXT, address TEXT,
    organisation BOOLEAN NOT NULL,
    erased_at INTEGER
);

-- One narrow row per case: the columns queries filter and aggregate on. The full state
-- (JSON of the domain Case) lives in case_states, so scans never read it.
CREATE TABLE cases (
    id INTEGER PRIMARY KEY,
    tracking_code TEXT NOT NULL UNIQUE,
    version INTEGER NOT NULL,
    status TEXT NOT NULL,
    category TEXT NOT NULL,
    channel TEXT NOT NULL,
    urgency TEXT NOT NULL,
    region TEXT NOT NULL,
    lead_unit TEXT,
    created_at INTEGER NOT NULL,
    dispatched_at INTEGER,
    accepted_at INTEGER,
    resolved_at INTEGER,
    closed_at INTEGER,
    response_due INTEGER,
    handling_due INTEGER,
    visit_due INTEGER,
    first_tier TEXT NOT NULL,
    escalations INTEGER NOT NULL,
    reworks INTEGER NOT NULL,
    reopens INTEGER NOT NULL,
    was_deferred BOOLEAN NOT NULL,
    final_rating TEXT,
    first_rating TEXT,
    closure_flag TEXT,
    -- When the first later case of the same person, or at the same place in the same
    -- category, arrived after this case last closed (for the repeat rate).
    followed_at INTEGER
);
CREATE TABLE case_states (id INTEGER PRIMARY KEY, state TEXT NOT NULL);
CREATE INDEX cases_region ON cases (region, id);
-- The figures' cohort is a range of dispatch times; the index carries every column the
-- figures read, so computing them never touches the table.
CREATE INDEX cases_cohort ON cases (dispatched_at, region, lead_unit, category, accepted_at, response_due, resolved_at, handling_due,
    closed_at, visit_due, was_deferred, closure_flag, first_rating, status, escalations, reworks, reopens, followed_at);
CREATE INDEX cases_created ON cases (created_at);
CREATE INDEX cases_place ON cases (region, category, created_at);
CREATE INDEX cases_open_due ON cases (status, handling_due);
-- Closed cases still waiting for a follow-up: what a new case's insert looks for.
CREATE INDEX cases_unfollowed ON cases (region, category) WHERE closed_at IS NOT NULL AND followed_at IS NULL;

CREATE TABLE case_units (unit_id TEXT NOT NULL, case_id INTEGER NOT NULL, lead BOOLEAN NOT NULL, PRIMARY KEY (unit_id, case_id));
CREATE INDEX case_units_case ON case_units (case_id);
CREATE TABLE case_persons (person_id INTEGER NOT NULL, case_id INTEGER NOT NULL, PRIMARY KEY (person_id, case_id));
CREATE INDEX case_persons_case ON case_persons (case_id);

-- The tamper-evident log: one global order, each hash covering the previous.
CREATE TABLE events (
    seq INTEGER PRIMARY KEY,
    case_id INTEGER,
    at INTEGER NOT NULL,
    actor TEXT NOT NULL,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX events_case ON events (case_id, seq);
-- The head row is locked first by every writing transaction, which serialises writers.
CREATE TABLE audit_head (id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL, hash TEXT NOT NULL);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');
CREATE TABLE checkpoints (seq INTEGER PRIMARY KEY, hash TEXT NOT NULL, at INTEGER NOT NULL, signature TEXT NOT NULL);

CREATE TABLE idempotency (key TEXT PRIMARY KEY, body_hash TEXT NOT NULL, case_id INTEGER NOT NULL);

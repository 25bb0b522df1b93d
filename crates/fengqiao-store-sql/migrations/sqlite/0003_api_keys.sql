-- Client applications' keys for the Open311 API. Only the SHA-256 of a key is stored.
CREATE TABLE api_keys (
    name TEXT PRIMARY KEY,
    key_hash TEXT NOT NULL UNIQUE,
    body TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);

-- Updates other systems pushed onto cases (mySociety servicerequestupdates), one per
-- sender's update id.
CREATE TABLE request_updates (
    key_name TEXT NOT NULL,
    update_id TEXT NOT NULL,
    case_id INTEGER NOT NULL,
    received_at INTEGER NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (key_name, update_id)
);
CREATE INDEX request_updates_received ON request_updates (received_at);

-- The Open311 list walks cases newest first within a window of creation times, and its
-- update feed reads the log by time.
CREATE INDEX cases_created_id ON cases (created_at, id);
CREATE INDEX events_at ON events (at, seq);

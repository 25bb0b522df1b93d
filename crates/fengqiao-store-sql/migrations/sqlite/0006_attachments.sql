-- Files attached to cases (residents' photos). The content was checked by its magic bytes
-- before it got here; its SHA-256 is also written to the audit chain.
CREATE TABLE attachments (
    id INTEGER PRIMARY KEY,
    case_id INTEGER NOT NULL REFERENCES cases (id),
    content_type TEXT NOT NULL,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    data BLOB NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX attachments_case ON attachments (case_id);

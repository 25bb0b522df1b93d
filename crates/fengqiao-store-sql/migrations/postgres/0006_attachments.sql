-- Files attached to cases (residents' photos). The content was checked by its magic bytes
-- before it got here; its SHA-256 is also written to the audit chain.
CREATE TABLE attachments (
    id BIGINT PRIMARY KEY,
    case_id BIGINT NOT NULL REFERENCES cases (id),
    content_type TEXT NOT NULL,
    size BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    data BYTEA NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX attachments_case ON attachments (case_id);

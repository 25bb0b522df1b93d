-- Analytics runs (hot spots, emerging patterns, bursting topics): each run whole as JSON.
-- Derived from the cases and recomputed on a schedule, so not audit events and not in
-- backups; the newest few are kept.
CREATE TABLE perception_runs (
    id INTEGER PRIMARY KEY,
    at BIGINT NOT NULL,
    max_case_id BIGINT NOT NULL,
    body TEXT NOT NULL
);

-- The deadline scheduler. A job is identified by its kind, case and due time: the row is
-- inserted in the same transaction as the job's effect, so a (kind, case, due) runs once
-- however many servers sweep and however often they restart.
CREATE TABLE jobs (
    kind TEXT NOT NULL,
    case_id INTEGER NOT NULL,
    due_at INTEGER NOT NULL,
    done_at INTEGER NOT NULL,
    outcome TEXT NOT NULL,
    PRIMARY KEY (kind, case_id, due_at)
);
-- How far the sweep has got: a restart resumes from here.
CREATE TABLE scheduler_state (id INTEGER PRIMARY KEY CHECK (id = 1), swept_to INTEGER NOT NULL);
-- The sweep reads open cases by each deadline (handling has cases_open_due).
CREATE INDEX cases_open_response ON cases (status, response_due);
CREATE INDEX cases_open_visit ON cases (status, visit_due);
-- The deadline of the tier an escalated case is at (the case's own handling deadline is
-- kept for the figures).
ALTER TABLE cases ADD COLUMN tier_due INTEGER;
CREATE INDEX cases_open_tier ON cases (status, tier_due);

-- Reminders and breach notices, per unit or user (recipient is 'unit:ID' or 'user:ID').
CREATE TABLE inbox (
    id INTEGER PRIMARY KEY,
    recipient TEXT NOT NULL,
    case_id INTEGER,
    kind TEXT NOT NULL,
    message TEXT NOT NULL,
    due_at INTEGER,
    created_at INTEGER NOT NULL
);
CREATE INDEX inbox_recipient ON inbox (recipient, id);

-- Holiday schedules an administrator loaded, one CSV per year, over the built-in ones.
CREATE TABLE calendar_years (year INTEGER PRIMARY KEY, body TEXT NOT NULL);

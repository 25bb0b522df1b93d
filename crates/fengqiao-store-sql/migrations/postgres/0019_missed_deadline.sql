-- A reopened case gets fresh deadlines for its new round; this remembers that an earlier round
-- missed its own, so the on-time closure figure still counts the case late.
ALTER TABLE cases ADD COLUMN missed_deadline BOOLEAN NOT NULL DEFAULT FALSE;

-- Every index on `cases` is written by every intake. The figures now count from the facts
-- kept in memory, so the wide covering index that served their SQL aggregate only has to
-- find a period's cases (`case_facts`): a plain index on the dispatch time does that.
-- Migration 15 created two indexes that 0004 already had under other names, and
-- `cases_created_id` serves everything `cases_created` did.
DROP INDEX cases_cohort;
CREATE INDEX cases_dispatched ON cases (dispatched_at);
DROP INDEX cases_status_response;
DROP INDEX cases_status_visit;
DROP INDEX cases_created;

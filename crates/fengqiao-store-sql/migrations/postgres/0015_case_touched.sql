-- The write mark of the last transaction that wrote each case row, drawn in order under the
-- chain head's lock. The figures keep the cohort's facts in memory and, before each
-- computation, read again only the rows written since they last looked (`touched >` the
-- mark committed then).
ALTER TABLE audit_head ADD COLUMN touch BIGINT NOT NULL DEFAULT 0;
ALTER TABLE cases ADD COLUMN touched BIGINT NOT NULL DEFAULT 0;
CREATE INDEX cases_touched ON cases (touched);
-- Lists filtered by status are read newest first: walking this index backwards finds a page
-- of closed cases in a town after a few hundred rows instead of sorting the whole town.
CREATE INDEX cases_status_id ON cases (status, id);
-- The work queue reads each open status in the order of the deadline it works against and
-- stops at the page; it counts each status in scope without touching the table.
CREATE INDEX cases_status_response ON cases (status, response_due);
CREATE INDEX cases_status_visit ON cases (status, visit_due);
CREATE INDEX cases_status_region ON cases (status, region);

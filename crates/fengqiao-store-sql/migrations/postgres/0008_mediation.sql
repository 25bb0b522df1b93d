-- Mediations (人民调解, 治安调解): the mediation as JSON, with the columns scoping, the figures
-- and the confirmation reminders filter on.
CREATE TABLE mediations (
    id BIGINT PRIMARY KEY,
    case_id BIGINT NOT NULL,
    region TEXT NOT NULL,
    unit TEXT NOT NULL,
    category TEXT NOT NULL,
    status TEXT NOT NULL,
    opened_at BIGINT NOT NULL,
    -- The end of the judicial-confirmation window while no application is recorded.
    confirm_due BIGINT,
    -- The earliest due date of a term not yet settled, while the agreement is being fulfilled.
    term_due BIGINT,
    version BIGINT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX mediations_region ON mediations (region, opened_at);
CREATE INDEX mediations_case ON mediations (case_id);
CREATE INDEX mediations_confirm_due ON mediations (confirm_due);
CREATE INDEX mediations_term_due ON mediations (term_due);
-- Rooms and mediators held by sessions: no two overlap (checked under the chain head's lock).
CREATE TABLE mediation_bookings (
    mediation_id BIGINT NOT NULL,
    session BIGINT NOT NULL,
    resource TEXT NOT NULL,
    start_at BIGINT NOT NULL,
    end_at BIGINT NOT NULL
);
CREATE INDEX mediation_bookings_resource ON mediation_bookings (resource, start_at);
CREATE INDEX mediation_bookings_mediation ON mediation_bookings (mediation_id);

-- Supervision orders (督办): the order as JSON, with the columns scoping and the figures filter on.
CREATE TABLE supervision_orders (
    id BIGINT PRIMARY KEY,
    region TEXT NOT NULL,
    unit TEXT NOT NULL,
    case_id BIGINT,
    status TEXT NOT NULL,
    due BIGINT NOT NULL,
    issued_at BIGINT NOT NULL,
    version BIGINT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX supervision_orders_region ON supervision_orders (region, issued_at);
CREATE INDEX supervision_orders_unit ON supervision_orders (unit, issued_at);
CREATE INDEX supervision_orders_case ON supervision_orders (case_id);

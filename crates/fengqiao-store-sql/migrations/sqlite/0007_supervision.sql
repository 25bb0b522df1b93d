-- Supervision orders (督办): the order as JSON, with the columns scoping and the figures filter on.
CREATE TABLE supervision_orders (
    id INTEGER PRIMARY KEY,
    region TEXT NOT NULL,
    unit TEXT NOT NULL,
    case_id INTEGER,
    status TEXT NOT NULL,
    due INTEGER NOT NULL,
    issued_at INTEGER NOT NULL,
    version INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX supervision_orders_region ON supervision_orders (region, issued_at);
CREATE INDEX supervision_orders_unit ON supervision_orders (unit, issued_at);
CREATE INDEX supervision_orders_case ON supervision_orders (case_id);

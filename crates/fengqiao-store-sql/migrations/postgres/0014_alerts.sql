-- Early warnings: the alert as JSON, with the columns scoping, filters and the dedup check use.
CREATE TABLE alerts (
    id BIGINT PRIMARY KEY,
    kind TEXT NOT NULL,
    region TEXT NOT NULL,
    dedup_key TEXT NOT NULL,
    status TEXT NOT NULL,
    raised_at BIGINT NOT NULL,
    closed_at BIGINT,
    version BIGINT NOT NULL,
    body TEXT NOT NULL
);
-- One condition, one alert while it is open or acknowledged.
CREATE UNIQUE INDEX alerts_live_key ON alerts (dedup_key) WHERE status <> 'closed';
CREATE INDEX alerts_region ON alerts (region, raised_at);

-- On-duty rotas: who in a unit is on duty over [starts_at, ends_at), in ms since the epoch.
CREATE TABLE duty_shifts (
    unit TEXT NOT NULL,
    user_id TEXT NOT NULL,
    starts_at BIGINT NOT NULL,
    ends_at BIGINT NOT NULL,
    PRIMARY KEY (unit, starts_at, user_id)
);

-- Problem-solving records (SARA): the problem as JSON, with the columns scoping filters on.
CREATE TABLE problems (
    id BIGINT PRIMARY KEY,
    region TEXT NOT NULL,
    stage TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    version BIGINT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX problems_region ON problems (region, id);
-- The units a problem names (responsible, or owning an action): a unit scope sees these.
CREATE TABLE problem_units (
    problem_id BIGINT NOT NULL,
    unit_id TEXT NOT NULL,
    PRIMARY KEY (unit_id, problem_id)
);

-- Webhook subscriptions (the secret lives in the body; the audit event leaves it out).
CREATE TABLE webhook_subscriptions (
    id BIGINT PRIMARY KEY,
    active BOOLEAN NOT NULL,
    body TEXT NOT NULL
);

-- Staff e-mail addresses for notices.
CREATE TABLE user_emails (
    user_id TEXT PRIMARY KEY,
    email TEXT NOT NULL
);

-- Outbound messages, queued in the transaction of the change they tell of.
CREATE TABLE outbound_messages (
    id BIGINT PRIMARY KEY,
    channel TEXT NOT NULL,
    target TEXT NOT NULL,
    kind TEXT NOT NULL,
    body TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    next_at BIGINT NOT NULL,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    done_at BIGINT
);
CREATE INDEX outbound_messages_due ON outbound_messages (state, next_at);

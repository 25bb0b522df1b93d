-- Staff judgements of a case's escalation risk are the labels the learned risk model trains
-- on. A partial index finds them among all events without adding a write to any other event
-- (intake appends one per case).
CREATE INDEX events_risk_judged ON events (seq) WHERE kind = 'risk_judged';

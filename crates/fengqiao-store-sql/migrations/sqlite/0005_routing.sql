-- Routing rule sets: every save is a new version, and cases record the version that routed
-- them, so an old trace can always be read against the rules it used.
CREATE TABLE routing_rules (version INTEGER PRIMARY KEY, body TEXT NOT NULL, saved_at INTEGER NOT NULL, actor TEXT NOT NULL);

-- The trace context an event was made in, kept with its outbox row.
ALTER TABLE outbox ADD COLUMN traceparent TEXT;

-- The audit trail: every site, lot, claim and partner event applied, with
-- who caused it. `partner` is the partner concerned (a claim's, or the
-- partner itself), so that a partner's trail holds its claims.
CREATE TABLE audit_entries (
    event_id TEXT PRIMARY KEY,
    occur_time BIGINT NOT NULL,
    event_type TEXT NOT NULL,
    resource TEXT NOT NULL,
    resource_version BIGINT NOT NULL,
    partner TEXT,
    actor_subject TEXT,
    actor_role INTEGER,
    actor_organization TEXT,
    actor_partner TEXT
);
CREATE INDEX audit_entries_resource ON audit_entries (resource, occur_time, event_id);
CREATE INDEX audit_entries_partner ON audit_entries (partner, occur_time, event_id);

-- The trace context an event was made in (W3C `traceparent`), kept with
-- its outbox row so that its publishing and its consumers join the trace
-- of the request that made it.
ALTER TABLE outbox ADD COLUMN traceparent TEXT;

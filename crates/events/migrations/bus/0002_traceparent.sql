-- The trace context each message was published in (W3C `traceparent`),
-- so that its consumers' spans join the trace of the request behind it.
ALTER TABLE messages ADD COLUMN traceparent TEXT;

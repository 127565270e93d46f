-- A fingerprint of each idempotent request, so that a key reused for a
-- different request is refused; empty for keys recorded before.
ALTER TABLE idempotency ADD COLUMN fingerprint TEXT NOT NULL DEFAULT '';

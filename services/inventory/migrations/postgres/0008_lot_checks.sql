-- The check (lead, structure) of a lot whose reuse potential is "after
-- check": such a lot is published only once a passed check is recorded.
ALTER TABLE lots ADD COLUMN check_at BIGINT;
ALTER TABLE lots ADD COLUMN check_result TEXT NOT NULL DEFAULT '';
ALTER TABLE lots ADD COLUMN checked_by TEXT NOT NULL DEFAULT '';
ALTER TABLE lots ADD COLUMN check_note TEXT NOT NULL DEFAULT '';
ALTER TABLE lots ADD COLUMN check_recorded_by TEXT NOT NULL DEFAULT '';

-- A draft deleted from the inventory stays as a marker, so that an older
-- event of it can never bring it back, but is no longer a row of its site.
ALTER TABLE lots ADD COLUMN deleted BIGINT NOT NULL DEFAULT 0;

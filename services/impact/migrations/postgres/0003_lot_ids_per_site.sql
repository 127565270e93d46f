-- A lot's id is unique within its site only (sites and lots may have
-- readable ids their creators chose): lots are keyed by site and id, and
-- claims and reuse on a site find their lot by both. Existing ids (UUIDs)
-- are unique per site too.
ALTER TABLE lots DROP CONSTRAINT lots_pkey;
ALTER TABLE lots ADD CONSTRAINT lots_pkey PRIMARY KEY (site_id, id);
DROP INDEX claims_lot;
CREATE INDEX claims_lot ON claims (site_id, lot_id);

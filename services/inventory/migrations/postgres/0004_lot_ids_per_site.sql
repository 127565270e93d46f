-- Sites and lots may have readable ids their creators chose
-- (`sites/coteaux-a/lots/m1`), and a lot's id is unique within its site
-- only: a lot is keyed by its site and its id, and a claim points at its lot
-- by both. Existing ids (UUIDs, unique everywhere) are unique per site too.
ALTER TABLE claims DROP CONSTRAINT claims_lot_id_fkey;
ALTER TABLE lots DROP CONSTRAINT lots_pkey;
ALTER TABLE lots ADD CONSTRAINT lots_pkey PRIMARY KEY (site_id, id);
ALTER TABLE claims ADD CONSTRAINT claims_lot_fkey
    FOREIGN KEY (site_id, lot_id) REFERENCES lots (site_id, id);
-- The primary key now serves what this index served.
DROP INDEX lots_site;
DROP INDEX claims_lot;
CREATE INDEX claims_lot ON claims (site_id, lot_id, id);
-- ListLots reads a site's lots in the order they were made.
CREATE INDEX lots_site_created ON lots (site_id, created_at, id);

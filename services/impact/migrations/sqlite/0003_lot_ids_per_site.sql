-- A lot's id is unique within its site only (sites and lots may have
-- readable ids their creators chose): lots are keyed by site and id, and
-- claims and reuse on a site find their lot by both. Existing ids (UUIDs)
-- are unique per site too. SQLite changes no primary key in place: the
-- table is made again.
CREATE TABLE lots_keyed (
    id TEXT NOT NULL,
    site_id TEXT NOT NULL,
    reference TEXT NOT NULL,
    designation TEXT NOT NULL,
    category TEXT NOT NULL,
    unit TEXT NOT NULL,
    quantity_milli BIGINT NOT NULL,
    estimated_mass_g BIGINT NOT NULL,
    waste_code TEXT NOT NULL,
    hazardous BIGINT NOT NULL,
    version BIGINT NOT NULL,
    deleted BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (site_id, id)
);
INSERT INTO lots_keyed (id, site_id, reference, designation, category, unit, quantity_milli,
    estimated_mass_g, waste_code, hazardous, version, deleted)
SELECT id, site_id, reference, designation, category, unit, quantity_milli,
    estimated_mass_g, waste_code, hazardous, version, deleted
FROM lots;
DROP TABLE lots;
ALTER TABLE lots_keyed RENAME TO lots;
DROP INDEX claims_lot;
CREATE INDEX claims_lot ON claims (site_id, lot_id);

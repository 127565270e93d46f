-- A lot's id is unique within its site only (sites and lots may have
-- readable ids their creators chose): lots, proposals and the claims' lots
-- are keyed by site and id. Existing ids (UUIDs) are unique per site too.
-- SQLite changes no primary key in place: the tables are made again.
CREATE TABLE lots_keyed (
    id TEXT NOT NULL,
    site_id TEXT NOT NULL,
    owner_org TEXT NOT NULL,
    category TEXT NOT NULL,
    unit TEXT NOT NULL,
    available_units BIGINT NOT NULL,
    unit_mass_g BIGINT NOT NULL,
    latitude REAL NOT NULL,
    longitude REAL NOT NULL,
    available_from BIGINT,
    available_until BIGINT,
    status TEXT NOT NULL,
    hazardous BIGINT NOT NULL,
    version BIGINT NOT NULL,
    PRIMARY KEY (site_id, id)
);
INSERT INTO lots_keyed (id, site_id, owner_org, category, unit, available_units, unit_mass_g,
    latitude, longitude, available_from, available_until, status, hazardous, version)
SELECT id, site_id, owner_org, category, unit, available_units, unit_mass_g,
    latitude, longitude, available_from, available_until, status, hazardous, version
FROM lots;
DROP TABLE lots;
ALTER TABLE lots_keyed RENAME TO lots;

ALTER TABLE claims ADD COLUMN site_id TEXT NOT NULL DEFAULT '';
UPDATE claims SET site_id = COALESCE((SELECT lots.site_id FROM lots WHERE lots.id = claims.lot_id), '');

CREATE TABLE proposals_keyed (
    site_id TEXT NOT NULL,
    lot_id TEXT NOT NULL,
    partner_id TEXT NOT NULL,
    id TEXT NOT NULL,
    score REAL NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (site_id, lot_id, partner_id)
);
INSERT INTO proposals_keyed (site_id, lot_id, partner_id, id, score, created_at)
SELECT COALESCE((SELECT lots.site_id FROM lots WHERE lots.id = proposals.lot_id), ''),
    lot_id, partner_id, id, score, created_at
FROM proposals;
DROP TABLE proposals;
ALTER TABLE proposals_keyed RENAME TO proposals;

-- The change log names a lot by `{site}/{lot}` from now on.
UPDATE changes SET entity_id = (SELECT lots.site_id || '/' || lots.id FROM lots
    WHERE lots.id = changes.entity_id)
WHERE entity = 'lot' AND EXISTS (SELECT 1 FROM lots WHERE lots.id = changes.entity_id);

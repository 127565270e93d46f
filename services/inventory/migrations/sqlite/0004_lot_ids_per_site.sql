-- Sites and lots may have readable ids their creators chose
-- (`sites/coteaux-a/lots/m1`), and a lot's id is unique within its site
-- only: a lot is keyed by its site and its id, and a claim points at its lot
-- by both. Existing ids (UUIDs, unique everywhere) are unique per site too.
-- SQLite changes neither a primary key nor a foreign key in place: both
-- tables are made again and their rows copied (the child first dropped, so
-- that no row ever points nowhere).
CREATE TABLE lots_keyed (
    id TEXT NOT NULL,
    site_id TEXT NOT NULL REFERENCES sites (id),
    owner_org TEXT NOT NULL,
    reference TEXT NOT NULL,
    designation TEXT NOT NULL,
    description TEXT NOT NULL,
    category TEXT NOT NULL,
    unit TEXT NOT NULL,
    quantity BIGINT NOT NULL,
    available BIGINT NOT NULL,
    reserved BIGINT NOT NULL,
    handed_over BIGINT NOT NULL,
    estimated_mass_g BIGINT NOT NULL,
    length_mm BIGINT NOT NULL,
    width_mm BIGINT NOT NULL,
    height_mm BIGINT NOT NULL,
    condition TEXT NOT NULL,
    building_location TEXT NOT NULL,
    photo_uris TEXT NOT NULL,
    available_from BIGINT,
    available_until BIGINT,
    waste_code TEXT NOT NULL,
    hazards TEXT NOT NULL,
    reuse_potential BIGINT NOT NULL,
    status TEXT NOT NULL,
    hazardous BIGINT NOT NULL,
    latitude REAL NOT NULL,
    longitude REAL NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    version BIGINT NOT NULL,
    PRIMARY KEY (site_id, id),
    CONSTRAINT lots_ledger CHECK (
        available >= 0 AND reserved >= 0 AND handed_over >= 0
        AND quantity = available + reserved + handed_over
    )
);
INSERT INTO lots_keyed (id, site_id, owner_org, reference, designation, description,
    category, unit, quantity, available, reserved, handed_over, estimated_mass_g, length_mm,
    width_mm, height_mm, condition, building_location, photo_uris, available_from,
    available_until, waste_code, hazards, reuse_potential, status, hazardous, latitude,
    longitude, created_at, updated_at, version)
SELECT id, site_id, owner_org, reference, designation, description,
    category, unit, quantity, available, reserved, handed_over, estimated_mass_g, length_mm,
    width_mm, height_mm, condition, building_location, photo_uris, available_from,
    available_until, waste_code, hazards, reuse_potential, status, hazardous, latitude,
    longitude, created_at, updated_at, version
FROM lots;

CREATE TABLE claims_keyed (
    id TEXT PRIMARY KEY,
    lot_id TEXT NOT NULL,
    site_id TEXT NOT NULL,
    owner_org TEXT NOT NULL,
    partner_id TEXT NOT NULL,
    unit TEXT NOT NULL,
    quantity BIGINT NOT NULL CHECK (quantity > 0),
    pickup_from BIGINT,
    pickup_until BIGINT,
    status TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    weighed_mass_g BIGINT NOT NULL,
    handed_over_at BIGINT,
    note TEXT NOT NULL,
    request_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    version BIGINT NOT NULL,
    request_fingerprint TEXT NOT NULL DEFAULT '',
    CONSTRAINT claims_request UNIQUE (partner_id, request_id),
    FOREIGN KEY (site_id, lot_id) REFERENCES lots_keyed (site_id, id)
);
INSERT INTO claims_keyed (id, lot_id, site_id, owner_org, partner_id, unit, quantity,
    pickup_from, pickup_until, status, expires_at, weighed_mass_g, handed_over_at, note,
    request_id, created_at, updated_at, version, request_fingerprint)
SELECT id, lot_id, site_id, owner_org, partner_id, unit, quantity,
    pickup_from, pickup_until, status, expires_at, weighed_mass_g, handed_over_at, note,
    request_id, created_at, updated_at, version, request_fingerprint
FROM claims;

DROP TABLE claims;
DROP TABLE lots;
-- Renaming a table also renames it in the foreign keys that name it.
ALTER TABLE lots_keyed RENAME TO lots;
ALTER TABLE claims_keyed RENAME TO claims;
CREATE INDEX lots_status ON lots (status, id);
CREATE INDEX lots_location ON lots (latitude, longitude);
CREATE INDEX claims_lot ON claims (site_id, lot_id, id);
CREATE INDEX claims_expiry ON claims (status, expires_at);
-- ListLots reads a site's lots in the order they were made.
CREATE INDEX lots_site_created ON lots (site_id, created_at, id);

-- What structures look for ("recherches"): a category or a family, an
-- optional quantity range (thousandths of a unit), an area (a centre and a
-- radius), an expiry and a note. A need is open or closed; an open one
-- past its expiry reads as expired. Rows are never deleted.
CREATE TABLE needs (
    id TEXT PRIMARY KEY,
    partner_id TEXT NOT NULL,
    category TEXT NOT NULL,
    family TEXT NOT NULL,
    unit TEXT NOT NULL,
    min_milli BIGINT,
    max_milli BIGINT,
    latitude DOUBLE PRECISION NOT NULL,
    longitude DOUBLE PRECISION NOT NULL,
    radius_km BIGINT NOT NULL,
    expire_at BIGINT NOT NULL,
    note TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('open', 'closed')),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    version BIGINT NOT NULL
);
-- A lot's family's open needs, and a structure's needs newest first.
CREATE INDEX needs_open ON needs (family, state, expire_at);
CREATE INDEX needs_partner ON needs (partner_id, created_at, id);

-- Whether a proposal was made because the lot met a need of its partner
-- (the breakdown's "need"); proposals made before were not (0).
ALTER TABLE proposals ADD COLUMN need DOUBLE PRECISION NOT NULL DEFAULT 0;

-- Where a site is, to find the needs around it; sites heard of before
-- take the place of one of their lots (a lot lies at its site).
ALTER TABLE sites ADD COLUMN latitude DOUBLE PRECISION;
ALTER TABLE sites ADD COLUMN longitude DOUBLE PRECISION;
UPDATE sites SET
    latitude = (SELECT MIN(lots.latitude) FROM lots WHERE lots.site_id = sites.id),
    longitude = (SELECT MIN(lots.longitude) FROM lots WHERE lots.site_id = sites.id);

-- Requests a client may retry (CreateNeed's request_id): the first
-- result, under the caller's key and a fingerprint of the request.
CREATE TABLE idempotency (
    scope TEXT NOT NULL,
    caller TEXT NOT NULL,
    request_id TEXT NOT NULL,
    result TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    fingerprint TEXT NOT NULL,
    PRIMARY KEY (scope, caller, request_id)
);

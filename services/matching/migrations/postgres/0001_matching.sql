-- Matching's own projections (from inventory and registry events), the
-- proposals it made, a change log that keeps every replica's index fresh,
-- outbox and inbox.
CREATE TABLE sites (
    id TEXT PRIMARY KEY,
    owner_org TEXT NOT NULL,
    version BIGINT NOT NULL
);

CREATE TABLE lots (
    id TEXT PRIMARY KEY,
    site_id TEXT NOT NULL,
    owner_org TEXT NOT NULL,
    category TEXT NOT NULL,
    unit TEXT NOT NULL,
    available_units BIGINT NOT NULL,
    unit_mass_g BIGINT NOT NULL,
    latitude DOUBLE PRECISION NOT NULL,
    longitude DOUBLE PRECISION NOT NULL,
    available_from BIGINT,
    available_until BIGINT,
    status TEXT NOT NULL,
    hazardous BIGINT NOT NULL,
    version BIGINT NOT NULL
);
CREATE INDEX lots_site ON lots (site_id, id);

CREATE TABLE partners (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    kinds TEXT NOT NULL,
    categories TEXT NOT NULL,
    latitude DOUBLE PRECISION NOT NULL,
    longitude DOUBLE PRECISION NOT NULL,
    radius_km BIGINT NOT NULL,
    weekly_intake_kg BIGINT NOT NULL,
    version BIGINT NOT NULL
);

CREATE TABLE claims (
    id TEXT PRIMARY KEY,
    lot_id TEXT NOT NULL,
    partner_id TEXT NOT NULL,
    mass_g BIGINT NOT NULL,
    open BIGINT NOT NULL,
    version BIGINT NOT NULL
);
CREATE INDEX claims_partner ON claims (partner_id, open);

CREATE TABLE proposals (
    lot_id TEXT NOT NULL,
    partner_id TEXT NOT NULL,
    id TEXT NOT NULL,
    score DOUBLE PRECISION NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (lot_id, partner_id)
);

CREATE TABLE changes (
    seq BIGSERIAL PRIMARY KEY,
    entity TEXT NOT NULL,
    entity_id TEXT NOT NULL
);

CREATE TABLE outbox (
    seq BIGSERIAL PRIMARY KEY,
    event_id TEXT NOT NULL UNIQUE,
    subject TEXT NOT NULL,
    payload BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    published_at BIGINT
);
CREATE INDEX outbox_pending ON outbox (seq) WHERE published_at IS NULL;

CREATE TABLE inbox (
    consumer TEXT NOT NULL,
    event_id TEXT NOT NULL,
    processed_at BIGINT NOT NULL,
    PRIMARY KEY (consumer, event_id)
);

-- Sites, lots, claims, the partner projection, idempotency keys, outbox and inbox.
CREATE TABLE sites (
    id TEXT PRIMARY KEY,
    display_name TEXT NOT NULL,
    programme TEXT NOT NULL,
    quartier TEXT NOT NULL,
    commune TEXT NOT NULL,
    insee_code TEXT NOT NULL,
    latitude DOUBLE PRECISION NOT NULL,
    longitude DOUBLE PRECISION NOT NULL,
    address TEXT NOT NULL,
    owner_org TEXT NOT NULL,
    works_start BIGINT,
    works_end BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    version BIGINT NOT NULL
);
CREATE INDEX sites_owner ON sites (owner_org, id);

CREATE TABLE lots (
    id TEXT PRIMARY KEY,
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
    latitude DOUBLE PRECISION NOT NULL,
    longitude DOUBLE PRECISION NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    version BIGINT NOT NULL,
    CONSTRAINT lots_ledger CHECK (
        available >= 0 AND reserved >= 0 AND handed_over >= 0
        AND quantity = available + reserved + handed_over
    )
);
CREATE INDEX lots_site ON lots (site_id, id);
CREATE INDEX lots_status ON lots (status, id);
CREATE INDEX lots_location ON lots (latitude, longitude);

CREATE TABLE claims (
    id TEXT PRIMARY KEY,
    lot_id TEXT NOT NULL REFERENCES lots (id),
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
    CONSTRAINT claims_request UNIQUE (partner_id, request_id)
);
CREATE INDEX claims_lot ON claims (lot_id, id);
CREATE INDEX claims_expiry ON claims (status, expires_at);

CREATE TABLE partners (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    version BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE idempotency (
    scope TEXT NOT NULL,
    caller TEXT NOT NULL,
    request_id TEXT NOT NULL,
    result TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (scope, caller, request_id)
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

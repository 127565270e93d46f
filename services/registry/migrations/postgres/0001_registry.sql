-- Partners (ESS structures), idempotency keys, outbox and inbox.
CREATE TABLE partners (
    id TEXT PRIMARY KEY,
    legal_name TEXT NOT NULL,
    trade_name TEXT NOT NULL,
    siret TEXT NOT NULL,
    kinds TEXT NOT NULL,
    address_line1 TEXT NOT NULL,
    postal_code TEXT NOT NULL,
    commune TEXT NOT NULL,
    insee_code TEXT NOT NULL,
    latitude DOUBLE PRECISION NOT NULL,
    longitude DOUBLE PRECISION NOT NULL,
    accepted_categories TEXT NOT NULL,
    capabilities TEXT NOT NULL,
    storage_capacity_kg BIGINT NOT NULL,
    weekly_intake_kg BIGINT NOT NULL,
    service_radius_km BIGINT NOT NULL,
    insertion_fte_centi BIGINT NOT NULL,
    contact_name TEXT NOT NULL,
    contact_email TEXT NOT NULL,
    contact_phone TEXT NOT NULL,
    opening_hours TEXT NOT NULL,
    status TEXT NOT NULL,
    search_text TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    version BIGINT NOT NULL
);
-- A SIRET identifies one live partner: archived ones free it.
CREATE UNIQUE INDEX partners_siret_live ON partners (siret) WHERE status <> 'archived';
CREATE INDEX partners_status ON partners (status, id);
CREATE INDEX partners_location ON partners (latitude, longitude);

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

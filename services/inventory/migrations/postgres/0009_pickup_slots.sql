-- Pick-up slots a site publishes, and the trucks of confirmed claims
-- booked on them (one booking per claim per slot).
CREATE TABLE pickup_slots (
    id TEXT PRIMARY KEY,
    site_id TEXT NOT NULL,
    owner_org TEXT NOT NULL,
    start_at BIGINT NOT NULL,
    end_at BIGINT NOT NULL CHECK (end_at > start_at),
    trucks BIGINT NOT NULL CHECK (trucks > 0),
    access_instructions TEXT NOT NULL,
    contact_name TEXT NOT NULL,
    contact_phone TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX pickup_slots_site ON pickup_slots (site_id, start_at, id);

CREATE TABLE pickup_bookings (
    id TEXT PRIMARY KEY,
    slot_id TEXT NOT NULL REFERENCES pickup_slots (id),
    site_id TEXT NOT NULL,
    lot_id TEXT NOT NULL,
    claim_id TEXT NOT NULL,
    partner_id TEXT NOT NULL,
    start_at BIGINT NOT NULL,
    end_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (slot_id, claim_id)
);
CREATE INDEX pickup_bookings_site ON pickup_bookings (site_id, start_at, id);

-- Impact's projections (from inventory and registry events), the partners'
-- declarations, each handed-over claim's contribution to the figures and
-- those contributions summed per month, site, partner and category;
-- idempotency keys, outbox, inbox and the service's keys.
CREATE TABLE sites (
    id TEXT PRIMARY KEY,
    display_name TEXT NOT NULL,
    owner_org TEXT NOT NULL,
    quartier TEXT NOT NULL,
    commune TEXT NOT NULL,
    insee_code TEXT NOT NULL,
    latitude DOUBLE PRECISION NOT NULL,
    longitude DOUBLE PRECISION NOT NULL,
    version BIGINT NOT NULL
);
CREATE INDEX sites_org ON sites (owner_org);

CREATE TABLE lots (
    id TEXT PRIMARY KEY,
    site_id TEXT NOT NULL,
    reference TEXT NOT NULL,
    designation TEXT NOT NULL,
    category TEXT NOT NULL,
    unit TEXT NOT NULL,
    quantity_milli BIGINT NOT NULL,
    estimated_mass_g BIGINT NOT NULL,
    waste_code TEXT NOT NULL,
    hazardous BIGINT NOT NULL,
    version BIGINT NOT NULL
);
CREATE INDEX lots_site ON lots (site_id);

CREATE TABLE partners (
    id TEXT PRIMARY KEY,
    display_name TEXT NOT NULL,
    latitude DOUBLE PRECISION NOT NULL,
    longitude DOUBLE PRECISION NOT NULL,
    version BIGINT NOT NULL
);

CREATE TABLE claims (
    id TEXT PRIMARY KEY,
    lot_id TEXT NOT NULL,
    site_id TEXT NOT NULL,
    partner_id TEXT NOT NULL,
    status TEXT NOT NULL,
    quantity_milli BIGINT NOT NULL,
    weighed_mass_g BIGINT NOT NULL,
    handed_over_at BIGINT,
    version BIGINT NOT NULL
);
CREATE INDEX claims_lot ON claims (lot_id);
CREATE INDEX claims_partner ON claims (partner_id);
CREATE INDEX claims_site ON claims (site_id);

CREATE TABLE outcomes (
    id TEXT PRIMARY KEY,
    claim_id TEXT NOT NULL,
    partner_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    quantity_milli BIGINT,
    mass_g BIGINT NOT NULL,
    outcome_at BIGINT NOT NULL,
    destination TEXT NOT NULL,
    siret TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX outcomes_claim ON outcomes (claim_id, id);
CREATE INDEX outcomes_partner ON outcomes (partner_id, id);

-- Material a site's managers declare reused on the site itself.
CREATE TABLE site_reuse (
    id TEXT PRIMARY KEY,
    lot_id TEXT NOT NULL,
    site_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    quantity_milli BIGINT,
    mass_g BIGINT NOT NULL,
    outcome_at BIGINT NOT NULL,
    destination TEXT NOT NULL,
    siret TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX site_reuse_lot ON site_reuse (lot_id, id);
CREATE INDEX site_reuse_site ON site_reuse (site_id, id);

CREATE TABLE hours (
    id TEXT PRIMARY KEY,
    claim_id TEXT NOT NULL,
    partner_id TEXT NOT NULL,
    activity TEXT NOT NULL,
    minutes BIGINT NOT NULL,
    people BIGINT NOT NULL,
    work_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX hours_claim ON hours (claim_id, id);
CREATE INDEX hours_partner ON hours (partner_id, id);

-- What one handed-over claim adds to the figures, computed from the
-- projections and the declarations; recomputed whenever one of them changes.
CREATE TABLE contributions (
    claim_id TEXT PRIMARY KEY,
    handed_over_at BIGINT NOT NULL,
    month TEXT NOT NULL,
    site_id TEXT NOT NULL,
    partner_id TEXT NOT NULL,
    category TEXT NOT NULL,
    handed_g BIGINT NOT NULL,
    reused_g BIGINT NOT NULL,
    refurbished_g BIGINT NOT NULL,
    resold_g BIGINT NOT NULL,
    recycled_g BIGINT NOT NULL,
    disposed_g BIGINT NOT NULL,
    gross_g BIGINT NOT NULL,
    transport_g BIGINT NOT NULL,
    without_factor_g BIGINT NOT NULL,
    minutes BIGINT NOT NULL,
    people BIGINT NOT NULL,
    lots BIGINT NOT NULL,
    claims BIGINT NOT NULL
);
CREATE INDEX contributions_time ON contributions (handed_over_at);

-- The contributions summed per month, site, partner and category; per
-- month, site and partner; and per month and site: what the summaries read
-- for whole months, the table with the fewest rows that has their keys.
CREATE TABLE figures (
    month TEXT NOT NULL,
    site_id TEXT NOT NULL,
    partner_id TEXT NOT NULL,
    category TEXT NOT NULL,
    handed_g BIGINT NOT NULL,
    reused_g BIGINT NOT NULL,
    refurbished_g BIGINT NOT NULL,
    resold_g BIGINT NOT NULL,
    recycled_g BIGINT NOT NULL,
    disposed_g BIGINT NOT NULL,
    gross_g BIGINT NOT NULL,
    transport_g BIGINT NOT NULL,
    without_factor_g BIGINT NOT NULL,
    minutes BIGINT NOT NULL,
    people BIGINT NOT NULL,
    lots BIGINT NOT NULL,
    claims BIGINT NOT NULL,
    PRIMARY KEY (month, site_id, partner_id, category)
);

CREATE TABLE partner_figures (
    month TEXT NOT NULL,
    site_id TEXT NOT NULL,
    partner_id TEXT NOT NULL,
    handed_g BIGINT NOT NULL,
    reused_g BIGINT NOT NULL,
    refurbished_g BIGINT NOT NULL,
    resold_g BIGINT NOT NULL,
    recycled_g BIGINT NOT NULL,
    disposed_g BIGINT NOT NULL,
    gross_g BIGINT NOT NULL,
    transport_g BIGINT NOT NULL,
    without_factor_g BIGINT NOT NULL,
    minutes BIGINT NOT NULL,
    people BIGINT NOT NULL,
    lots BIGINT NOT NULL,
    claims BIGINT NOT NULL,
    PRIMARY KEY (month, site_id, partner_id)
);

CREATE TABLE site_figures (
    month TEXT NOT NULL,
    site_id TEXT NOT NULL,
    handed_g BIGINT NOT NULL,
    reused_g BIGINT NOT NULL,
    refurbished_g BIGINT NOT NULL,
    resold_g BIGINT NOT NULL,
    recycled_g BIGINT NOT NULL,
    disposed_g BIGINT NOT NULL,
    gross_g BIGINT NOT NULL,
    transport_g BIGINT NOT NULL,
    without_factor_g BIGINT NOT NULL,
    minutes BIGINT NOT NULL,
    people BIGINT NOT NULL,
    lots BIGINT NOT NULL,
    claims BIGINT NOT NULL,
    PRIMARY KEY (month, site_id)
);

-- The diagnostic's estimated mass summed per site and category.
CREATE TABLE estimates (
    site_id TEXT NOT NULL,
    category TEXT NOT NULL,
    estimated_mass_g BIGINT NOT NULL,
    PRIMARY KEY (site_id, category)
);

CREATE TABLE idempotency (
    scope TEXT NOT NULL,
    caller TEXT NOT NULL,
    request_id TEXT NOT NULL,
    result TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    fingerprint TEXT NOT NULL DEFAULT '',
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

CREATE TABLE service_keys (
    name TEXT PRIMARY KEY,
    secret TEXT NOT NULL
);

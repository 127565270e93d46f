-- Pick-ups in several trips: what a claim has collected so far, and a
-- receipt (bon d'enlèvement) per trip, numbered per site.
ALTER TABLE claims ADD COLUMN collected BIGINT NOT NULL DEFAULT 0;
ALTER TABLE claims ADD COLUMN trip_count BIGINT NOT NULL DEFAULT 0;
-- Claims handed over before were collected whole, in one trip.
UPDATE claims SET collected = quantity, trip_count = 1 WHERE status = 'handed_over';

CREATE TABLE receipts (
    id TEXT PRIMARY KEY,
    number TEXT NOT NULL UNIQUE,
    site_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    lot_id TEXT NOT NULL,
    claim_id TEXT NOT NULL REFERENCES claims (id),
    owner_org TEXT NOT NULL,
    partner_id TEXT NOT NULL,
    site_display_name TEXT NOT NULL,
    site_address TEXT NOT NULL,
    lot_designation TEXT NOT NULL,
    lot_reference TEXT NOT NULL,
    category TEXT NOT NULL,
    unit TEXT NOT NULL,
    quantity BIGINT NOT NULL CHECK (quantity > 0),
    weighed_mass_g BIGINT NOT NULL CHECK (weighed_mass_g > 0),
    handed_over_at BIGINT NOT NULL,
    claim_quantity BIGINT NOT NULL,
    collected BIGINT NOT NULL,
    collected_mass_g BIGINT NOT NULL,
    completes_claim BIGINT NOT NULL,
    recorded_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (site_id, seq)
);
CREATE INDEX receipts_claim ON receipts (claim_id, seq);

-- The hand-overs recorded before have their receipt too (the claim's id is
-- the receipt's), numbered per site in the order they happened.
INSERT INTO receipts (id, number, site_id, seq, lot_id, claim_id, owner_org, partner_id,
    site_display_name, site_address, lot_designation, lot_reference, category, unit,
    quantity, weighed_mass_g, handed_over_at, claim_quantity, collected, collected_mass_g,
    completes_claim, recorded_by, created_at)
SELECT id, 'BE-' || site_id || '-' || lpad(seq::text, GREATEST(4, length(seq::text)), '0'), site_id, seq, lot_id, id, owner_org, partner_id,
    site_display_name, site_address, lot_designation, lot_reference, category, unit,
    quantity, weighed_mass_g, handed_over_at, quantity, quantity, weighed_mass_g,
    1, '', updated_at
FROM (
    SELECT c.id, c.site_id, c.lot_id, c.owner_org, c.partner_id, c.unit, c.quantity,
        CASE WHEN c.weighed_mass_g > 0 THEN c.weighed_mass_g ELSE 1 END AS weighed_mass_g,
        COALESCE(c.handed_over_at, c.updated_at) AS handed_over_at, c.updated_at,
        s.display_name AS site_display_name, s.address AS site_address,
        l.designation AS lot_designation, l.reference AS lot_reference, l.category,
        ROW_NUMBER() OVER (PARTITION BY c.site_id
            ORDER BY COALESCE(c.handed_over_at, c.updated_at), c.id) AS seq
    FROM claims c
    JOIN sites s ON s.id = c.site_id
    JOIN lots l ON l.site_id = c.site_id AND l.id = c.lot_id
    WHERE c.status = 'handed_over'
) AS handed;

-- The last receipt number of each site.
CREATE TABLE receipt_counters (
    site_id TEXT PRIMARY KEY,
    last BIGINT NOT NULL
);
INSERT INTO receipt_counters (site_id, last)
SELECT site_id, MAX(seq) FROM receipts GROUP BY site_id;

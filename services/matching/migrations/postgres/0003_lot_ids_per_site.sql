-- A lot's id is unique within its site only (sites and lots may have
-- readable ids their creators chose): lots, proposals and the claims' lots
-- are keyed by site and id. Existing ids (UUIDs) are unique per site too.
ALTER TABLE lots DROP CONSTRAINT lots_pkey;
ALTER TABLE lots ADD CONSTRAINT lots_pkey PRIMARY KEY (site_id, id);
-- The primary key now serves what this index served.
DROP INDEX lots_site;

ALTER TABLE claims ADD COLUMN site_id TEXT NOT NULL DEFAULT '';
UPDATE claims SET site_id = COALESCE((SELECT lots.site_id FROM lots WHERE lots.id = claims.lot_id), '');

ALTER TABLE proposals ADD COLUMN site_id TEXT NOT NULL DEFAULT '';
UPDATE proposals SET site_id = COALESCE((SELECT lots.site_id FROM lots
    WHERE lots.id = proposals.lot_id), '');
ALTER TABLE proposals DROP CONSTRAINT proposals_pkey;
ALTER TABLE proposals ADD CONSTRAINT proposals_pkey PRIMARY KEY (site_id, lot_id, partner_id);

-- The change log names a lot by `{site}/{lot}` from now on.
UPDATE changes SET entity_id = (SELECT lots.site_id || '/' || lots.id FROM lots
    WHERE lots.id = changes.entity_id)
WHERE entity = 'lot' AND EXISTS (SELECT 1 FROM lots WHERE lots.id = changes.entity_id);

-- What partners see of the proposals made to them: the score's factors and
-- the distance each was made with (scores drift with time; a proposal keeps
-- its reasons), and where it stands: new, seen (listed by its partner),
-- declined (with the time and a reason; never proposed again, as its row
-- stays) or claimed. Proposals made before keep no factors (NULL) and are new.
-- `version` counts the changes of a proposal, as its events' aggregate version.
ALTER TABLE proposals ADD COLUMN category_fit REAL;
ALTER TABLE proposals ADD COLUMN distance REAL;
ALTER TABLE proposals ADD COLUMN capacity REAL;
ALTER TABLE proposals ADD COLUMN urgency REAL;
ALTER TABLE proposals ADD COLUMN insertion REAL;
ALTER TABLE proposals ADD COLUMN distance_m BIGINT;
ALTER TABLE proposals ADD COLUMN status TEXT NOT NULL DEFAULT 'new'
    CHECK (status IN ('new', 'seen', 'declined', 'claimed'));
ALTER TABLE proposals ADD COLUMN seen_at BIGINT;
ALTER TABLE proposals ADD COLUMN declined_at BIGINT;
ALTER TABLE proposals ADD COLUMN decline_reason TEXT NOT NULL DEFAULT '';
ALTER TABLE proposals ADD COLUMN claimed_at BIGINT;
ALTER TABLE proposals ADD COLUMN version BIGINT NOT NULL DEFAULT 1;

-- A proposal is named by its id; a partner's and a site's are listed newest first.
CREATE UNIQUE INDEX proposals_id ON proposals (id);
CREATE INDEX proposals_partner ON proposals (partner_id, created_at, id);
CREATE INDEX proposals_site ON proposals (site_id, created_at, id);

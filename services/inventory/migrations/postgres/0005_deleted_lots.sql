-- The last version of each deleted draft: a lot made later under the same
-- id (ids may be chosen, or come from a reference) starts after it, so
-- that the services following the lot events, which keep a deleted lot at
-- its deletion's version, take the new one as newer.
CREATE TABLE deleted_lots (
    site_id TEXT NOT NULL,
    id TEXT NOT NULL,
    version BIGINT NOT NULL,
    PRIMARY KEY (site_id, id)
);

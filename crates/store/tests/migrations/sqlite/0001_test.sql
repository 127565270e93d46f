CREATE TABLE parents (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL CONSTRAINT parents_name_key UNIQUE
);
CREATE TABLE children (
    id TEXT PRIMARY KEY,
    parent_id TEXT NOT NULL CONSTRAINT children_parent_fk REFERENCES parents (id),
    qty BIGINT NOT NULL CONSTRAINT children_qty_positive CHECK (qty > 0),
    data BLOB,
    created_at BIGINT NOT NULL
);
CREATE TABLE counters (
    name TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);

-- Keys of the service itself (e.g. the one signing page tokens), created
-- on first use and shared by every replica on this database.
CREATE TABLE service_keys (
    name TEXT PRIMARY KEY,
    secret TEXT NOT NULL
);

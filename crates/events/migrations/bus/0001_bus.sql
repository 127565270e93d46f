-- The in-process bus of the embedded mode: a log of every message, the
-- position of each durable subscription in it, each subscription's queue of
-- messages to try again, and the messages given up on.
CREATE TABLE messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL UNIQUE,
    subject TEXT NOT NULL,
    payload BLOB NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE consumers (
    durable TEXT PRIMARY KEY,
    filter TEXT NOT NULL,
    acked_seq BIGINT NOT NULL
);

CREATE TABLE retries (
    durable TEXT NOT NULL,
    seq BIGINT NOT NULL,
    subject TEXT NOT NULL,
    event_id TEXT NOT NULL,
    payload BLOB NOT NULL,
    failures BIGINT NOT NULL,
    due_at BIGINT NOT NULL,
    reason TEXT NOT NULL,
    PRIMARY KEY (durable, seq)
);
CREATE INDEX retries_due ON retries (durable, due_at);

CREATE TABLE dead_letters (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    durable TEXT NOT NULL,
    seq BIGINT NOT NULL,
    subject TEXT NOT NULL,
    event_id TEXT NOT NULL,
    payload BLOB NOT NULL,
    reason TEXT NOT NULL,
    dead_at BIGINT NOT NULL
);

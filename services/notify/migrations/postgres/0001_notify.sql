-- The notification service: projections of the accounts, sites, lots,
-- claims and partners it needs to address and word its notifications; the
-- notifications themselves, each to one audience (a partner's staff, an
-- organisation's site managers, or the admins) with every account's read
-- marks; email preferences and the emails made; webhooks and their
-- deliveries; idempotency keys, outbox, inbox and the service's keys.
CREATE TABLE accounts (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL,
    display_name TEXT NOT NULL,
    role TEXT NOT NULL,
    org TEXT,
    partner_id TEXT,
    active BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    version BIGINT NOT NULL
);
CREATE INDEX accounts_org ON accounts (org);
CREATE INDEX accounts_partner ON accounts (partner_id);

CREATE TABLE sites (
    name TEXT PRIMARY KEY,
    display_name TEXT NOT NULL,
    org TEXT NOT NULL,
    version BIGINT NOT NULL
);

CREATE TABLE lots (
    name TEXT PRIMARY KEY,
    site TEXT NOT NULL,
    reference TEXT NOT NULL,
    designation TEXT NOT NULL,
    status TEXT NOT NULL,
    available_until BIGINT,
    version BIGINT NOT NULL
);
CREATE INDEX lots_expiring ON lots (status, available_until);

CREATE TABLE claims (
    name TEXT PRIMARY KEY,
    lot TEXT NOT NULL,
    partner_id TEXT NOT NULL,
    status TEXT NOT NULL,
    expires_at BIGINT,
    version BIGINT NOT NULL
);
CREATE INDEX claims_lot ON claims (lot);
CREATE INDEX claims_expiring ON claims (status, expires_at);

CREATE TABLE partners (
    id TEXT PRIMARY KEY,
    display_name TEXT NOT NULL,
    status TEXT NOT NULL,
    version BIGINT NOT NULL
);

-- `dedup` is what makes a notification once: the event (or, for those
-- made by the clock, the fact and its date), the kind and the audience.
CREATE TABLE notifications (
    seq BIGSERIAL PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    dedup TEXT NOT NULL UNIQUE,
    audience TEXT NOT NULL,
    kind TEXT NOT NULL,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    resource TEXT NOT NULL,
    link TEXT NOT NULL,
    event_id TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX notifications_audience ON notifications (audience, seq);

-- Read marks: one per notification marked, and for "all read" the last
-- notification then made.
CREATE TABLE reads (
    account TEXT NOT NULL,
    seq BIGINT NOT NULL,
    read_at BIGINT NOT NULL,
    PRIMARY KEY (account, seq)
);
CREATE TABLE read_all (
    account TEXT PRIMARY KEY,
    seq BIGINT NOT NULL,
    read_at BIGINT NOT NULL
);

-- Email: an account's choice for a kind (absent: the kind's default).
CREATE TABLE preferences (
    account_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    mode TEXT NOT NULL,
    PRIMARY KEY (account_id, kind)
);

-- One email per notification and recipient, made once.
CREATE TABLE emails (
    seq BIGINT NOT NULL,
    account_id TEXT NOT NULL,
    digest BIGINT NOT NULL,
    state TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    last_error TEXT,
    sent_at BIGINT,
    PRIMARY KEY (seq, account_id)
);
CREATE INDEX emails_due ON emails (state, next_attempt_at);

-- How far a background reader (the email fan-out) has read.
CREATE TABLE cursors (
    name TEXT PRIMARY KEY,
    seq BIGINT NOT NULL
);

-- Webhooks: an owner's URL and the event types (subject patterns without
-- `reemploi.`, space-separated) posted to it, signed with its secret.
CREATE TABLE webhooks (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    url TEXT NOT NULL,
    event_types TEXT NOT NULL,
    secret TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    deleted_at BIGINT
);

-- One event to post to one webhook, once (UNIQUE (webhook_id, event_id));
-- each webhook's are posted in `seq` order, one at a time.
CREATE TABLE deliveries (
    seq BIGSERIAL PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    webhook_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    body BYTEA NOT NULL,
    state TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    -- Retries go on for a while from here: the creation, or a manual retry.
    retry_from BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    delivered_at BIGINT,
    UNIQUE (webhook_id, event_id)
);
CREATE INDEX deliveries_webhook ON deliveries (webhook_id, state, seq);

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
    published_at BIGINT,
    traceparent TEXT
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

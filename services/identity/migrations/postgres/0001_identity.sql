-- Accounts, sessions (refresh tokens), invitations, password resets, API
-- tokens, signing keys, the partners the registry verified, outbox and inbox.
CREATE TABLE accounts (
    id TEXT PRIMARY KEY,
    -- Lowercased: emails are unique without case.
    email TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    role TEXT NOT NULL,
    org TEXT,
    partner TEXT,
    status TEXT NOT NULL,
    -- An argon2id PHC string; NULL for an account that signs in elsewhere.
    password_hash TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    version BIGINT NOT NULL
);

-- One row per refresh token; a family is every token descending from one
-- sign-in, and its id is the `sid` of the session's access tokens.
CREATE TABLE refresh_tokens (
    id TEXT PRIMARY KEY,
    family TEXT NOT NULL,
    account TEXT NOT NULL REFERENCES accounts (id),
    -- SHA-256 of the token: a copy of the table signs no one in.
    token_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT,
    revoked_at BIGINT
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family);
CREATE INDEX refresh_tokens_account ON refresh_tokens (account);

CREATE TABLE invitations (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL,
    role TEXT NOT NULL,
    org TEXT,
    partner TEXT,
    code_hash TEXT NOT NULL UNIQUE,
    invited_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    accepted_at BIGINT
);

CREATE TABLE password_resets (
    id TEXT PRIMARY KEY,
    account TEXT NOT NULL REFERENCES accounts (id),
    code_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);

CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY,
    display_name TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT
);

-- Ed25519 keys. The private half is sealed (XChaCha20-Poly1305) with the
-- key-encryption key, which is never in the database.
CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY,
    public_key TEXT NOT NULL,
    sealed_private TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    -- Signs from then on, until a newer key takes over; published before.
    signs_from BIGINT NOT NULL,
    -- The latest expiry of a token it signed: it verifies until then.
    signed_until BIGINT NOT NULL,
    -- Withdrawn at once (thought compromised): verifies nothing any more.
    removed_at BIGINT
);

-- Partners as the registry last published them: who may invite colleagues.
CREATE TABLE partners (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    version BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE service_keys (
    name TEXT PRIMARY KEY,
    secret TEXT NOT NULL
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

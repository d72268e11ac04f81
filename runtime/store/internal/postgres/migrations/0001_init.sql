-- Membrane store, version 1 (PostgreSQL). Times are microseconds since the
-- Unix epoch (UTC) in both engines, so comparisons and keyset cursors behave
-- the same everywhere; keys use the "C" collation, which orders bytes as
-- SQLite does. Sealed columns hold crypt values (AES-256-GCM, key id
-- first); secret_kid repeats that key id so rotation finds stale rows
-- without decrypting.

CREATE TABLE tenants (
    key        TEXT COLLATE "C" PRIMARY KEY,
    created_at BIGINT NOT NULL
);

CREATE TABLE connections (
    id               TEXT COLLATE "C" PRIMARY KEY,
    tenant           TEXT COLLATE "C" NOT NULL REFERENCES tenants (key) ON DELETE CASCADE,
    connector        TEXT COLLATE "C" NOT NULL,
    name             TEXT NOT NULL DEFAULT '',
    state            TEXT NOT NULL CHECK (state IN ('connected', 'error', 'disconnected')),
    last_error       TEXT NOT NULL DEFAULT '',
    parameters       JSONB NOT NULL DEFAULT '{}',
    info             JSONB NOT NULL DEFAULT '{}',
    credentials      BYTEA,
    token            BYTEA,
    secret_kid       TEXT NOT NULL DEFAULT '',
    token_expires_at BIGINT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    version          BIGINT NOT NULL
);

-- One tenant's connections, oldest first, by keyset (created_at, id).
CREATE INDEX connections_by_tenant ON connections (tenant, created_at, id);
CREATE INDEX connections_by_connector ON connections (tenant, connector, created_at, id);
-- The refresher's question: which tokens expire soon?
CREATE INDEX connections_by_token_expiry ON connections (token_expires_at) WHERE token_expires_at IS NOT NULL;

-- Overrides stored through the API. connection_id '' is the tenant-wide
-- override of a connector. A deleted override keeps its row with doc NULL,
-- so a re-created one continues its revisions instead of reusing them.
CREATE TABLE connection_overrides (
    tenant        TEXT COLLATE "C" NOT NULL REFERENCES tenants (key) ON DELETE CASCADE,
    connector     TEXT COLLATE "C" NOT NULL,
    connection_id TEXT COLLATE "C" NOT NULL DEFAULT '',
    revision      BIGINT NOT NULL,
    doc           TEXT,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    PRIMARY KEY (tenant, connector, connection_id)
);

CREATE INDEX connection_overrides_by_connection ON connection_overrides (connection_id) WHERE connection_id <> '';

-- OAuth state: keyed by a hash of the state, data sealed (it may hold a
-- PKCE verifier).
CREATE TABLE oauth_states (
    state_hash TEXT COLLATE "C" PRIMARY KEY,
    data       BYTEA NOT NULL,
    secret_kid TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE INDEX oauth_states_by_expiry ON oauth_states (expires_at);

CREATE TABLE run_logs (
    id            TEXT COLLATE "C" PRIMARY KEY,
    tenant        TEXT COLLATE "C" NOT NULL REFERENCES tenants (key) ON DELETE CASCADE,
    connection_id TEXT COLLATE "C" NOT NULL DEFAULT '',
    action        TEXT NOT NULL DEFAULT '',
    status        TEXT NOT NULL DEFAULT '',
    error         TEXT NOT NULL DEFAULT '',
    duration_ms   BIGINT NOT NULL DEFAULT 0,
    entries       JSON,
    created_at    BIGINT NOT NULL
);

CREATE INDEX run_logs_by_tenant ON run_logs (tenant, created_at, id);
CREATE INDEX run_logs_by_connection ON run_logs (tenant, connection_id, created_at, id);
CREATE INDEX run_logs_by_age ON run_logs (created_at);

-- The webhook outbox. A claimed event's lease end is its next_attempt_at,
-- so an expired lease is simply due again.
CREATE TABLE outbox (
    id              TEXT COLLATE "C" PRIMARY KEY,
    tenant          TEXT COLLATE "C" NOT NULL REFERENCES tenants (key) ON DELETE CASCADE,
    type            TEXT NOT NULL,
    payload         JSON NOT NULL,
    status          TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'dead')),
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    retry_since     BIGINT NOT NULL,
    lease_owner     TEXT NOT NULL DEFAULT '',
    last_error      TEXT NOT NULL DEFAULT '',
    created_at      BIGINT NOT NULL,
    delivered_at    BIGINT
);

CREATE INDEX outbox_due ON outbox (next_attempt_at, created_at, id) WHERE status = 'pending';
CREATE INDEX outbox_dead ON outbox (tenant, created_at, id) WHERE status = 'dead';
CREATE INDEX outbox_delivered ON outbox (delivered_at) WHERE status = 'delivered';

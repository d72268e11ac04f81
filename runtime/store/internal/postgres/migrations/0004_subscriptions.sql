-- React: subscriptions of connections to events, what full scans remember
-- of each record, the poll leases and the webhook inbox.

-- A subscription is (tenant, connection, event) with its detection state.
-- It goes with its connection and its tenant. next_run_at NULL: not
-- polled (webhook only). webhook_token_hash is a SHA-256 (hex) of the
-- subscription's webhook token, which is sealed in webhook_token like
-- remote (what the app answered to subscribe); secret_kid names their key.
CREATE TABLE subscriptions (
    id                 TEXT COLLATE "C" PRIMARY KEY,
    tenant             TEXT COLLATE "C" NOT NULL REFERENCES tenants (key) ON DELETE CASCADE,
    connection_id      TEXT COLLATE "C" NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    connector          TEXT COLLATE "C" NOT NULL,
    event              TEXT COLLATE "C" NOT NULL,
    status             TEXT NOT NULL CHECK (status IN ('active', 'paused')),
    state              JSON,
    generation         BIGINT NOT NULL DEFAULT 0,
    baselined          BIGINT NOT NULL DEFAULT 0,
    interval_us        BIGINT NOT NULL DEFAULT 0,
    next_run_at        BIGINT,
    last_run_at        BIGINT,
    last_error         TEXT NOT NULL DEFAULT '',
    failures           BIGINT NOT NULL DEFAULT 0,
    webhook_token_hash TEXT COLLATE "C" NOT NULL UNIQUE,
    webhook_token      BYTEA NOT NULL,
    route_key          TEXT COLLATE "C" NOT NULL DEFAULT '',
    remote             BYTEA,
    secret_kid         TEXT NOT NULL,
    remote_expires_at  BIGINT,
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL,
    version            BIGINT NOT NULL,
    UNIQUE (connection_id, event)
);

CREATE INDEX subscriptions_by_tenant ON subscriptions (tenant, created_at, id);
CREATE INDEX subscriptions_by_connection ON subscriptions (tenant, connection_id, created_at, id);
-- The scheduler's question: which active subscriptions are due?
CREATE INDEX subscriptions_due ON subscriptions (next_run_at, id) WHERE status = 'active' AND next_run_at IS NOT NULL;
-- A connector-wide webhook URL routes by (connector, event, route key).
CREATE INDEX subscriptions_by_route ON subscriptions (connector, event, route_key) WHERE status = 'active';
CREATE INDEX subscriptions_by_remote_expiry ON subscriptions (remote_expires_at) WHERE remote_expires_at IS NOT NULL;

-- What a full scan saw of each record: its hash and the generation (the
-- scan) that last listed it. A record of an older generation than a
-- complete scan is gone upstream.
CREATE TABLE record_hashes (
    subscription_id TEXT COLLATE "C" NOT NULL REFERENCES subscriptions (id) ON DELETE CASCADE,
    record_id       TEXT COLLATE "C" NOT NULL,
    hash            TEXT NOT NULL,
    generation      BIGINT NOT NULL,
    PRIMARY KEY (subscription_id, record_id)
);

CREATE INDEX record_hashes_by_generation ON record_hashes (subscription_id, generation);

-- At most one poll per connection at a time: a live lease is a row here
-- with lease_until in the future. An expired row is free to take over.
CREATE TABLE poll_leases (
    connection_id   TEXT COLLATE "C" PRIMARY KEY REFERENCES connections (id) ON DELETE CASCADE,
    subscription_id TEXT COLLATE "C" NOT NULL REFERENCES subscriptions (id) ON DELETE CASCADE,
    owner           TEXT NOT NULL,
    lease_until     BIGINT NOT NULL
);

CREATE INDEX poll_leases_by_subscription ON poll_leases (subscription_id);

-- Webhook payloads as received, stored before the sender gets its 2xx
-- and deleted once processed. A claimed entry's lease end is its
-- next_attempt_at, so an expired lease is simply due again. tenant and
-- subscription_id are set for a per-subscription URL, '' otherwise.
CREATE TABLE webhook_inbox (
    id              TEXT COLLATE "C" PRIMARY KEY,
    received_at     BIGINT NOT NULL,
    connector       TEXT COLLATE "C" NOT NULL,
    event           TEXT COLLATE "C" NOT NULL DEFAULT '',
    subscription_id TEXT COLLATE "C" NOT NULL DEFAULT '',
    tenant          TEXT COLLATE "C" NOT NULL DEFAULT '',
    method          TEXT NOT NULL,
    url             TEXT NOT NULL,
    headers         TEXT NOT NULL DEFAULT '{}',
    body            BYTEA NOT NULL,
    status          TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'dead')),
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    lease_owner     TEXT NOT NULL DEFAULT '',
    last_error      TEXT NOT NULL DEFAULT ''
);

CREATE INDEX webhook_inbox_due ON webhook_inbox (next_attempt_at, id) WHERE status = 'pending';
CREATE INDEX webhook_inbox_dead ON webhook_inbox (received_at, id) WHERE status = 'dead';
CREATE INDEX webhook_inbox_by_tenant ON webhook_inbox (tenant) WHERE tenant <> '';

-- Delivery: the outbox becomes the delivery log. An outbox row is pending
-- (not yet routed) while seq is NULL; routing gives it seq, its place in
-- the log (strictly increasing in commit order), and one row in
-- deliveries per destination it matched. The outbox's own delivery
-- columns of the first schema never had a consumer: they go.

DROP INDEX outbox_due;
DROP INDEX outbox_dead;
DROP INDEX outbox_delivered;
ALTER TABLE outbox DROP COLUMN status;
ALTER TABLE outbox DROP COLUMN attempts;
ALTER TABLE outbox DROP COLUMN next_attempt_at;
ALTER TABLE outbox DROP COLUMN retry_since;
ALTER TABLE outbox DROP COLUMN lease_owner;
ALTER TABLE outbox DROP COLUMN last_error;
ALTER TABLE outbox DROP COLUMN delivered_at;
ALTER TABLE outbox ADD COLUMN connector TEXT COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE outbox ADD COLUMN connection_id TEXT COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE outbox ADD COLUMN seq BIGINT;

-- The router's work: unrouted events, oldest first.
CREATE INDEX outbox_unrouted ON outbox (created_at, id) WHERE seq IS NULL;
-- The log, of every tenant and of one.
CREATE UNIQUE INDEX outbox_log ON outbox (seq) WHERE seq IS NOT NULL;
CREATE INDEX outbox_tenant_log ON outbox (tenant, seq) WHERE seq IS NOT NULL;
CREATE INDEX outbox_routed_age ON outbox (created_at) WHERE seq IS NOT NULL;

-- The last seq given: one row, locked by each router for its transaction.
-- It survives the pruning of the log, so a seq is never given twice.
CREATE TABLE delivery_seq (
    id  BIGINT PRIMARY KEY CHECK (id = 1),
    seq BIGINT NOT NULL
);
INSERT INTO delivery_seq (id, seq) VALUES (1, 0);

-- Where events go: membrane.yaml's destinations (source 'file', id
-- 'file:<name>') and the API's ('dst_…'). secret and previous_secret are
-- sealed like connection credentials; secret_kid names their key.
-- event_types, connectors and tenants are JSON arrays ([] = all).
CREATE TABLE destinations (
    id              TEXT COLLATE "C" PRIMARY KEY,
    source          TEXT NOT NULL CHECK (source IN ('file', 'api')),
    name            TEXT COLLATE "C" NOT NULL UNIQUE,
    kind            TEXT NOT NULL CHECK (kind IN ('webhook', 'nats')),
    url             TEXT NOT NULL,
    subject         TEXT NOT NULL DEFAULT '',
    secret          BYTEA,
    previous_secret BYTEA,
    secret_kid      TEXT NOT NULL DEFAULT '',
    previous_until  BIGINT,
    event_types     TEXT NOT NULL DEFAULT '[]',
    connectors      TEXT NOT NULL DEFAULT '[]',
    tenants         TEXT NOT NULL DEFAULT '[]',
    concurrency     BIGINT NOT NULL DEFAULT 0,
    timeout_us      BIGINT NOT NULL DEFAULT 0,
    status          TEXT NOT NULL CHECK (status IN ('active', 'disabled')),
    disabled_reason TEXT NOT NULL DEFAULT '',
    disabled_at     BIGINT,
    failing_since   BIGINT,
    version         BIGINT NOT NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);

CREATE INDEX destinations_by_age ON destinations (created_at, id);

-- One event to one destination. A claimed delivery's lease end is its
-- next_attempt_at, so an expired lease is simply due again. tenant, type,
-- seq and created_at repeat the event's, for listings.
CREATE TABLE deliveries (
    event_id        TEXT COLLATE "C" NOT NULL REFERENCES outbox (id) ON DELETE CASCADE,
    destination     TEXT COLLATE "C" NOT NULL REFERENCES destinations (id) ON DELETE CASCADE,
    tenant          TEXT COLLATE "C" NOT NULL,
    type            TEXT NOT NULL,
    seq             BIGINT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'dead')),
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    lease_owner     TEXT NOT NULL DEFAULT '',
    last_error      TEXT NOT NULL DEFAULT '',
    last_status     BIGINT NOT NULL DEFAULT 0,
    created_at      BIGINT NOT NULL,
    delivered_at    BIGINT,
    PRIMARY KEY (event_id, destination)
);

CREATE INDEX deliveries_due ON deliveries (next_attempt_at, seq) WHERE status = 'pending';
CREATE INDEX deliveries_by_seq ON deliveries (seq, destination);
CREATE INDEX deliveries_by_destination ON deliveries (destination, seq);
CREATE INDEX deliveries_by_tenant ON deliveries (tenant, seq);

-- Every attempt of a delivery, newest last (id grows with time).
CREATE TABLE delivery_attempts (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id    TEXT COLLATE "C" NOT NULL,
    destination TEXT COLLATE "C" NOT NULL,
    tenant      TEXT COLLATE "C" NOT NULL,
    attempt     BIGINT NOT NULL,
    at          BIGINT NOT NULL,
    status      BIGINT NOT NULL DEFAULT 0,
    latency_us  BIGINT NOT NULL DEFAULT 0,
    error       TEXT NOT NULL DEFAULT '',
    excerpt     TEXT NOT NULL DEFAULT ''
);

CREATE INDEX delivery_attempts_by_event ON delivery_attempts (event_id, id);
CREATE INDEX delivery_attempts_by_destination ON delivery_attempts (destination, id);
CREATE INDEX delivery_attempts_by_tenant ON delivery_attempts (tenant, id);
CREATE INDEX delivery_attempts_by_age ON delivery_attempts (at);

-- The answers of requests sent with an Idempotency-Key, per tenant, so a
-- retried request gets the first answer instead of doing the work twice.
-- status 0 is a request in flight: owner is its claim, held until
-- locked_until (renewed while it runs). The row is kept until expires_at.
CREATE TABLE idempotency_keys (
    tenant       TEXT COLLATE "C" NOT NULL REFERENCES tenants (key) ON DELETE CASCADE,
    key          TEXT COLLATE "C" NOT NULL,
    fingerprint  TEXT NOT NULL,
    owner        TEXT NOT NULL,
    status       INTEGER NOT NULL DEFAULT 0,
    header       TEXT NOT NULL DEFAULT '{}',
    body         BYTEA,
    locked_until BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (tenant, key)
);

CREATE INDEX idempotency_keys_by_expiry ON idempotency_keys (expires_at);

-- The request id of the API call a run served (X-Request-Id), shared with
-- the server's log lines and the trace; '' for runs before it and for
-- runs no request started.
ALTER TABLE run_logs ADD COLUMN request_id TEXT NOT NULL DEFAULT '';
CREATE INDEX run_logs_by_request ON run_logs (tenant, request_id) WHERE request_id <> '';

-- Which front end asked for a run: api, mcp, console, poll, webhook.
-- Runs logged before origins were kept have none, but a poll's run log
-- was always named "poll:<event>".
ALTER TABLE run_logs ADD COLUMN origin TEXT NOT NULL DEFAULT '';
UPDATE run_logs SET origin = 'poll' WHERE action LIKE 'poll:%';

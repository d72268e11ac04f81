-- The retry worker walks the connections in the error state, across
-- tenants, oldest change first.
CREATE INDEX connections_in_error ON connections (updated_at, id) WHERE state = 'error';

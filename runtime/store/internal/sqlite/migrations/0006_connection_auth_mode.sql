-- The auth mode a connection was created with, for a connector that offers
-- several (OAuth2 and a personal access token). '' is the connector's
-- first (or only) mode, which is what every older connection used.
ALTER TABLE connections ADD COLUMN auth_mode TEXT NOT NULL DEFAULT '';

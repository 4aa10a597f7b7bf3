-- 0003_tenant_settings (PostgreSQL): a tenant's time zone and subscription
-- end date, and the reserved platform tenant; the twin of
-- migrations/sqlite/0003_tenant_settings.sql (see there for the meaning).

ALTER TABLE tenants ADD COLUMN time_zone text NOT NULL DEFAULT 'UTC';
ALTER TABLE tenants ADD COLUMN subscription_end text NOT NULL DEFAULT ''
  CHECK (subscription_end = '' OR subscription_end ~ '^[0-9]{4}-[0-1][0-9]-[0-3][0-9]$');
ALTER TABLE tenants ADD COLUMN platform boolean NOT NULL DEFAULT false;
CREATE UNIQUE INDEX tenants_one_platform ON tenants (platform) WHERE platform;

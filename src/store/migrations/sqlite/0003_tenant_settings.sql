-- 0003_tenant_settings: a tenant's time zone and subscription end date, and
-- the reserved platform tenant that holds the platform admins
-- (docs/security.md, "Roles and authorization").
--
--  * time_zone: IANA name ("Europe/London"); 'UTC' for existing tenants.
--  * subscription_end: last day of the subscription, 'YYYY-MM-DD'; '' = open
--    ended. After that day (UTC) the tenant's users get 403 "subscription
--    ended" on every tenant-data route.
--  * platform: 1 for the single reserved platform tenant (created on demand by
--    `parley user create --role platform_admin`); it holds no customer data.

ALTER TABLE tenants ADD COLUMN time_zone TEXT NOT NULL DEFAULT 'UTC';
ALTER TABLE tenants ADD COLUMN subscription_end TEXT NOT NULL DEFAULT ''
  CHECK (subscription_end = '' OR subscription_end GLOB '[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]');
ALTER TABLE tenants ADD COLUMN platform INTEGER NOT NULL DEFAULT 0 CHECK (platform IN (0, 1));
CREATE UNIQUE INDEX tenants_one_platform ON tenants (platform) WHERE platform = 1;

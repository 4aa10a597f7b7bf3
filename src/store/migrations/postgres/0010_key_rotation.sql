-- 0010_key_rotation (PostgreSQL twin of sqlite/0010): what `parley keys
-- rotate` needs (docs/keys.md). platform_keys holds platform-wide secrets
-- wrapped by the master key (the blind-index key); it has no tenant column
-- and no row-level security: nothing in it is readable without the master
-- key. tenants.retiring_data_key is the previous data key while a tenant's
-- personal data is re-encrypted; rotation_started_at and rotation_cursor let
-- an interrupted rotation resume.

CREATE TABLE platform_keys (
  name       text   COLLATE "C" NOT NULL PRIMARY KEY,
  wrapped    bytea  NOT NULL,
  updated_at bigint NOT NULL
);

ALTER TABLE tenants ADD COLUMN retiring_data_key bytea;
ALTER TABLE tenants ADD COLUMN rotation_started_at bigint NOT NULL DEFAULT 0;
ALTER TABLE tenants ADD COLUMN rotation_cursor text NOT NULL DEFAULT '';

INSERT INTO parley_app_grants (privileges, object) VALUES ('SELECT, INSERT, UPDATE', 'TABLE platform_keys');

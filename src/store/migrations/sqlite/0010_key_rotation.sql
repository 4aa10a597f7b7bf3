-- 0010_key_rotation: what `parley keys rotate` needs (docs/keys.md).
--
--  * platform_keys: platform-wide secrets wrapped by the master key, AAD
--    "parley:platform-key:v1:<name>". Today one: "blind-index", the key of
--    every blind index (e-mail at sign-in, search terms). It used to be
--    derived from the master key; stored wrapped it survives a master-key
--    rotation, which only re-wraps it.
--  * tenants.retiring_data_key: while a tenant's personal data is being
--    re-encrypted under a new data key, the previous data key (wrapped),
--    still used to read rows not yet re-encrypted; NULL otherwise.
--    rotation_started_at and rotation_cursor let an interrupted rotation
--    resume where it stopped ("<field>/<source>/<id>" of the last row done).

CREATE TABLE platform_keys (
  name       TEXT    NOT NULL PRIMARY KEY,
  wrapped    BLOB    NOT NULL,
  updated_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

ALTER TABLE tenants ADD COLUMN retiring_data_key BLOB;
ALTER TABLE tenants ADD COLUMN rotation_started_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tenants ADD COLUMN rotation_cursor TEXT NOT NULL DEFAULT '';

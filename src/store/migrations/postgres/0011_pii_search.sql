-- 0011_pii_search (PostgreSQL twin of sqlite/0011): blind indexes for
-- equality search of a party's e-mail address, phone number, SIP URI and IP
-- address (docs/formats/storage.md, "Search terms"). HMAC hex only, never a
-- value in clear; rows only for newly stored records (claimed in
-- record_keys), a device's replaced with its state.
--
-- Not partitioned: device rows outlive any month. Retention instead deletes
-- the rows of the calls and participants whose partitions it drops, in the
-- same transaction (parley_drop_partitions_before below).

CREATE TABLE pii_search (
  tenant_id   text   COLLATE "C" NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  record_kind text   COLLATE "C" NOT NULL CHECK (record_kind IN ('call', 'participant', 'device')),
  source      text   COLLATE "C" NOT NULL CHECK (source <> ''),
  record_id   text   COLLATE "C" NOT NULL CHECK (record_id <> ''),
  term        text   COLLATE "C" NOT NULL CHECK (term ~ '^[0-9a-f]{64}$'),
  start_at    bigint NOT NULL,
  PRIMARY KEY (tenant_id, record_kind, source, record_id, term)
);
-- "The calls of this party", newest first (keyset pagination).
CREATE INDEX pii_search_by_term ON pii_search (tenant_id, term, record_kind, start_at, source, record_id);
-- Retention's delete of expired records' terms, across tenants.
CREATE INDEX pii_search_by_start ON pii_search (start_at) WHERE record_kind <> 'device';
SELECT parley_protect('pii_search', 'tenant_id');

-- As in 0001, and also deletes the search terms of the calls and
-- participants in the dropped months: those are every record that started
-- before the last month boundary at or before `cutoff`.
CREATE OR REPLACE FUNCTION parley_drop_partitions_before(cutoff bigint) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $fn$
DECLARE
  part record;
  dropped integer := 0;
  boundary bigint;
BEGIN
  LOCK TABLE partitioned_tables IN EXCLUSIVE MODE;
  FOR part IN
    SELECT c.relname AS name, pg_get_expr(c.relpartbound, c.oid) AS bound
    FROM pg_inherits i
    JOIN pg_class c ON c.oid = i.inhrelid
    JOIN pg_class p ON p.oid = i.inhparent
    WHERE p.relname IN (SELECT name FROM partitioned_tables) AND p.relnamespace = 'public'::regnamespace
  LOOP
    IF (regexp_match(part.bound, 'TO \(''?(-?[0-9]+)''?\)'))[1]::bigint <= cutoff THEN
      EXECUTE format('DROP TABLE %I', part.name);
      dropped := dropped + 1;
    END IF;
  END LOOP;
  boundary := extract(epoch FROM date_trunc('month', to_timestamp(cutoff) AT TIME ZONE 'UTC'))::bigint;
  PERFORM set_config('parley.cross_tenant', 'on', true);
  DELETE FROM pii_search s WHERE s.record_kind IN ('call', 'participant') AND s.start_at < boundary;
  PERFORM set_config('parley.cross_tenant', '', true);
  RETURN dropped;
END
$fn$;
REVOKE ALL ON FUNCTION parley_drop_partitions_before(bigint) FROM PUBLIC;

INSERT INTO parley_app_grants (privileges, object) VALUES ('SELECT, INSERT, UPDATE, DELETE', 'TABLE pii_search');

-- 0015_search_term_index (twin of sqlite/0015): a record's search terms are
-- one row, indexed by GIN (docs/formats/storage.md, "Search terms";
-- docs/performance.md, "Fourth round").
--
-- pii_search held one row per term, found through a B-tree on (tenant, term,
-- ...). Terms are HMACs, so every new one went to a random page of that
-- tree: storing a call's ~7 terms took half the time of a batch (ingest ran
-- twice as fast without them). Now pii_docs holds a record's distinct terms
-- as a bigint array (each the 16 hex digits read as a 64-bit two's-complement
-- number) under a GIN index. GIN's pending list (fastupdate, on by default)
-- takes new entries appended, and moves them into the index sorted, many at
-- a time, when it grows past gin_pending_list_limit or at VACUUM.
--
-- GIN gives no order: a party's page walks pii_docs_by_start newest first,
-- keeping the rows that hold the term. The view pii_search shows one
-- row per term, hex as before, for diagnostics and tests (security_invoker:
-- it reads pii_docs under the caller's row-level security; the application
-- role has no privilege on it).

CREATE TABLE pii_docs (
  tenant_id   text     COLLATE "C" NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  record_kind text     COLLATE "C" NOT NULL CHECK (record_kind IN ('call', 'participant', 'device')),
  source      text     COLLATE "C" NOT NULL CHECK (source <> ''),
  record_id   text     COLLATE "C" NOT NULL CHECK (record_id <> ''),
  start_at    bigint   NOT NULL,
  terms       bigint[] NOT NULL CHECK (cardinality(terms) > 0 AND array_ndims(terms) = 1
                                       AND array_position(terms, NULL) IS NULL)
);
CREATE INDEX pii_docs_terms ON pii_docs USING gin (terms);
-- Retention's delete of expired calls' and participants' terms, and a
-- frequent term's newest records.
CREATE INDEX pii_docs_by_start ON pii_docs (start_at) WHERE record_kind <> 'device';
-- A device's terms, replaced with its state.
CREATE INDEX pii_docs_devices ON pii_docs (tenant_id, source, record_id) WHERE record_kind = 'device';
SELECT parley_protect('pii_docs', 'tenant_id');

SELECT set_config('parley.cross_tenant', 'on', true);
INSERT INTO pii_docs (tenant_id, record_kind, source, record_id, start_at, terms)
  SELECT tenant_id, record_kind, source, record_id, start_at,
         array_agg(DISTINCT ('x' || term)::bit(64)::bigint ORDER BY ('x' || term)::bit(64)::bigint)
  FROM pii_search GROUP BY tenant_id, record_kind, source, record_id, start_at;
SELECT set_config('parley.cross_tenant', '', true);
DELETE FROM parley_app_grants WHERE object = 'TABLE pii_search';
DROP TABLE pii_search;

CREATE VIEW pii_search WITH (security_invoker = true) AS
  SELECT d.tenant_id, d.record_kind, d.source, d.record_id, lpad(to_hex(t.term), 16, '0') AS term, d.start_at
  FROM pii_docs d, unnest(d.terms) AS t (term);
REVOKE ALL ON pii_search FROM PUBLIC;

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
  DELETE FROM pii_docs s WHERE s.record_kind IN ('call', 'participant') AND s.start_at < boundary;
  PERFORM set_config('parley.cross_tenant', '', true);
  RETURN dropped;
END
$fn$;
REVOKE ALL ON FUNCTION parley_drop_partitions_before(bigint) FROM PUBLIC;

INSERT INTO parley_app_grants (privileges, object) VALUES ('SELECT, INSERT, DELETE', 'TABLE pii_docs');

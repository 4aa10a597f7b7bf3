-- 0018_record_terms (twin of sqlite/0018): a call's or participant's search
-- terms live in its record_keys row (docs/formats/storage.md, "Search
-- terms"; docs/performance.md, "Eighth round").
--
-- Every stored call and participant wrote two rows of its key: its
-- record_keys row (the claim that keeps it stored once) and a pii_docs row
-- (its terms), each a heap tuple, pii_docs with a B-tree of its own on
-- start_at. The terms are now a column of the record_keys row the claim
-- inserts anyway: one tuple a record instead of two (measured at 1,000,000
-- calls: 382 ms instead of 249 + 189 ms for a batch of 20,000). pii_docs
-- keeps devices' terms, which follow the device's state, not a record.
--
-- record_keys rows outlive retention (a late resend of an expired record
-- stays "already present"), so retention now clears the expired records'
-- terms (terms = NULL) instead of deleting pii_docs rows. Both indexes are
-- partial, on the rows that have terms: a conference's key has none.

SELECT set_config('parley.cross_tenant', 'on', true);

ALTER TABLE record_keys ADD COLUMN terms bigint[]
  CHECK (terms IS NULL OR (cardinality(terms) > 0 AND array_ndims(terms) = 1
                           AND array_position(terms, NULL) IS NULL));
-- Every record's pii_docs row has its record_keys row (the move inserted
-- both); one without would get its key here rather than lose its terms.
INSERT INTO record_keys (tenant_id, kind, source, record_id, start_at, terms)
  SELECT tenant_id, record_kind, source, record_id, start_at, terms FROM pii_docs
  WHERE record_kind <> 'device'
  ON CONFLICT (tenant_id, kind, source, record_id) DO UPDATE SET terms = excluded.terms;
DELETE FROM pii_docs WHERE record_kind <> 'device';

SELECT set_config('parley.cross_tenant', '', true);

DROP INDEX pii_docs_by_start;
CREATE INDEX record_keys_terms ON record_keys USING gin (terms) WHERE terms IS NOT NULL;
-- A frequent term's newest records, and retention's clearing of expired terms.
CREATE INDEX record_keys_terms_by_start ON record_keys (start_at) WHERE terms IS NOT NULL;

CREATE OR REPLACE VIEW pii_search WITH (security_invoker = true) AS
  SELECT d.tenant_id, d.record_kind, d.source, d.record_id, lpad(to_hex(t.term), 16, '0') AS term, d.start_at
  FROM pii_docs d, unnest(d.terms) AS t (term)
  UNION ALL
  SELECT k.tenant_id, k.kind, k.source, k.record_id, lpad(to_hex(t.term), 16, '0'), k.start_at
  FROM record_keys k, unnest(k.terms) AS t (term)
  WHERE k.terms IS NOT NULL;
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
  UPDATE record_keys SET terms = NULL WHERE terms IS NOT NULL AND start_at < boundary;
  PERFORM set_config('parley.cross_tenant', '', true);
  RETURN dropped;
END
$fn$;

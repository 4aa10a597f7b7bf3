-- 0020_call_terms_in_row: a call's search terms in the call's own row, under
-- a GIN index on calls (docs/formats/storage.md, "Search terms";
-- docs/performance.md, "Sixteenth round").
--
-- Every call stored wrote a second row beside it: its pii_docs row (heap
-- tuple, an entry in pii_docs_by_start, GIN entries), inserted by a second
-- statement of the batch's move. The terms now go into calls.terms in the
-- call's own INSERT; the GIN index is on calls (one per monthly partition),
-- so a retention that drops a month's partition drops its terms with it.
-- pii_docs keeps participants and devices, and refuses a call from now on.
--
-- A party's page reads calls directly: the planner walks calls_by_start
-- newest first keeping the calls that hold the term (a frequent party), or
-- reads the term's calls from the GIN index and sorts them (a rare one).
--
-- What this costs at the first start of the new version: every call row is
-- rewritten once (an UPDATE: the table's size about doubles until VACUUM
-- reclaims the old versions), then the GIN index is built.

ALTER TABLE calls ADD COLUMN terms bigint[]
  CONSTRAINT calls_terms_shape CHECK (terms IS NULL OR (cardinality(terms) > 0 AND array_ndims(terms) = 1
                                                        AND array_position(terms, NULL) IS NULL));

SELECT set_config('parley.cross_tenant', 'on', true);
UPDATE calls c SET terms = d.terms
  FROM pii_docs d
  WHERE d.record_kind = 'call' AND d.tenant_id = c.tenant_id AND d.source = c.source
    AND d.record_id = c.call_id AND d.start_at = c.start_at;
DELETE FROM pii_docs WHERE record_kind = 'call';
SELECT set_config('parley.cross_tenant', '', true);

ALTER TABLE pii_docs ADD CONSTRAINT pii_docs_no_calls CHECK (record_kind <> 'call');
CREATE INDEX calls_terms ON calls USING gin (terms);

-- The per-term view, for diagnostics and tests, over both places.
CREATE OR REPLACE VIEW pii_search WITH (security_invoker = true) AS
  SELECT d.tenant_id, d.record_kind, d.source, d.record_id, lpad(to_hex(t.term), 16, '0') AS term, d.start_at
  FROM pii_docs d, unnest(d.terms) AS t (term)
  UNION ALL
  SELECT c.tenant_id, 'call' COLLATE "C", c.source, c.call_id, lpad(to_hex(t.term), 16, '0'), c.start_at
  FROM calls c, unnest(c.terms) AS t (term);

-- 0013_short_search_terms (PostgreSQL twin of sqlite/0013): a search term is
-- the first 64 bits of its HMAC (16 hex characters), no longer all 256: the
-- term index takes every new term at a random place, so ingest pays for its
-- size. The stored terms are cut to the prefix that search now computes.
--
-- Row-level security is forced on the owner too: without parley.cross_tenant
-- (the owner_lookup policy, 0001) this UPDATE would see no row at all.

ALTER TABLE pii_search DROP CONSTRAINT pii_search_term_check;
SELECT set_config('parley.cross_tenant', 'on', true);
UPDATE pii_search SET term = left(term, 16);
SELECT set_config('parley.cross_tenant', '', true);
ALTER TABLE pii_search ADD CONSTRAINT pii_search_term_check CHECK (term ~ '^[0-9a-f]{16}$');

-- 0007_rollups (PostgreSQL twin of sqlite/0007): aggregates maintained at ingest for the dashboards
-- (docs/formats/storage.md, "Rollups"). Written by CommitBatch for each newly
-- stored call in the batch's transaction; sums and counts only, so duplicate,
-- late and out-of-order calls all end in the same figures.
--
-- dimension: 0 tenant (key ''), 1 source, 2 site, 3 device model.
-- Sketches: QuantileSketch::Encode text ("bucket:count,...").

CREATE TABLE rollup_hour (
  tenant_id      text    NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  dimension      bigint NOT NULL CHECK (dimension BETWEEN 0 AND 3),
  key            text    NOT NULL,
  bucket         bigint NOT NULL,            -- hour start, Unix seconds (UTC)
  calls          bigint NOT NULL CHECK (calls >= 0),
  completed      bigint NOT NULL CHECK (completed >= 0),
  failed         bigint NOT NULL CHECK (failed >= 0),
  seconds        bigint NOT NULL CHECK (seconds >= 0),
  loss_pct_sum   double precision NOT NULL,
  loss_n         bigint NOT NULL,
  jitter_ms_sum  double precision NOT NULL,
  jitter_n       bigint NOT NULL,
  latency_ms_sum double precision NOT NULL,
  latency_n      bigint NOT NULL,
  mos_sum        double precision NOT NULL,
  mos_n          bigint NOT NULL,
  jitter_sketch  text    NOT NULL,
  latency_sketch text    NOT NULL,
  PRIMARY KEY (tenant_id, dimension, key, bucket)
);

-- The same per UTC day (bucket = day start).
CREATE TABLE rollup_day (
  tenant_id      text    NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  dimension      bigint NOT NULL CHECK (dimension BETWEEN 0 AND 3),
  key            text    NOT NULL,
  bucket         bigint NOT NULL,
  calls          bigint NOT NULL CHECK (calls >= 0),
  completed      bigint NOT NULL CHECK (completed >= 0),
  failed         bigint NOT NULL CHECK (failed >= 0),
  seconds        bigint NOT NULL CHECK (seconds >= 0),
  loss_pct_sum   double precision NOT NULL,
  loss_n         bigint NOT NULL,
  jitter_ms_sum  double precision NOT NULL,
  jitter_n       bigint NOT NULL,
  latency_ms_sum double precision NOT NULL,
  latency_n      bigint NOT NULL,
  mos_sum        double precision NOT NULL,
  mos_n          bigint NOT NULL,
  jitter_sketch  text    NOT NULL,
  latency_sketch text    NOT NULL,
  PRIMARY KEY (tenant_id, dimension, key, bucket)
);

-- Calls in progress. Per minute: the change in calls in progress from that
-- minute on (+1 where a completed call starts, -1 after the last minute it
-- touches). Per hour: the sum of that hour's changes (net) and the highest
-- level reached within the hour relative to its start (peak_rel), recomputed
-- from the hour's minutes whenever a batch changes one. The level at an
-- hour's start is the sum of net over earlier hours. source '' = all.
CREATE TABLE concurrency_minute (
  tenant_id text    NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  source    text    NOT NULL,
  minute    bigint NOT NULL,
  delta     bigint NOT NULL,
  PRIMARY KEY (tenant_id, source, minute)
);

CREATE TABLE concurrency_hour (
  tenant_id text    NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  source    text    NOT NULL,
  hour      bigint NOT NULL,
  net       bigint NOT NULL,
  peak_rel  bigint NOT NULL,
  PRIMARY KEY (tenant_id, source, hour)
);

SELECT parley_protect(t, 'tenant_id')
  FROM unnest(ARRAY['rollup_hour', 'rollup_day', 'concurrency_minute', 'concurrency_hour']::regclass[]) AS t;

INSERT INTO parley_app_grants (privileges, object) VALUES
  ('SELECT, INSERT, UPDATE, DELETE', 'TABLE rollup_hour'),
  ('SELECT, INSERT, UPDATE, DELETE', 'TABLE rollup_day'),
  ('SELECT, INSERT, UPDATE, DELETE', 'TABLE concurrency_minute'),
  ('SELECT, INSERT, UPDATE, DELETE', 'TABLE concurrency_hour');

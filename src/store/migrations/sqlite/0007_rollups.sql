-- 0007_rollups: aggregates maintained at ingest for the dashboards
-- (docs/formats/storage.md, "Rollups"). Written by CommitBatch for each newly
-- stored call in the batch's transaction; sums and counts only, so duplicate,
-- late and out-of-order calls all end in the same figures.
--
-- dimension: 0 tenant (key ''), 1 source, 2 site, 3 device model.
-- Sketches: QuantileSketch::Encode text ("bucket:count,...").

CREATE TABLE rollup_hour (
  tenant_id      TEXT    NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  dimension      INTEGER NOT NULL CHECK (dimension BETWEEN 0 AND 3),
  key            TEXT    NOT NULL,
  bucket         INTEGER NOT NULL,            -- hour start, Unix seconds (UTC)
  calls          INTEGER NOT NULL CHECK (calls >= 0),
  completed      INTEGER NOT NULL CHECK (completed >= 0),
  failed         INTEGER NOT NULL CHECK (failed >= 0),
  seconds        INTEGER NOT NULL CHECK (seconds >= 0),
  loss_pct_sum   REAL    NOT NULL,
  loss_n         INTEGER NOT NULL,
  jitter_ms_sum  REAL    NOT NULL,
  jitter_n       INTEGER NOT NULL,
  latency_ms_sum REAL    NOT NULL,
  latency_n      INTEGER NOT NULL,
  mos_sum        REAL    NOT NULL,
  mos_n          INTEGER NOT NULL,
  jitter_sketch  TEXT    NOT NULL,
  latency_sketch TEXT    NOT NULL,
  PRIMARY KEY (tenant_id, dimension, key, bucket)
) STRICT, WITHOUT ROWID;

-- The same per UTC day (bucket = day start).
CREATE TABLE rollup_day (
  tenant_id      TEXT    NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  dimension      INTEGER NOT NULL CHECK (dimension BETWEEN 0 AND 3),
  key            TEXT    NOT NULL,
  bucket         INTEGER NOT NULL,
  calls          INTEGER NOT NULL CHECK (calls >= 0),
  completed      INTEGER NOT NULL CHECK (completed >= 0),
  failed         INTEGER NOT NULL CHECK (failed >= 0),
  seconds        INTEGER NOT NULL CHECK (seconds >= 0),
  loss_pct_sum   REAL    NOT NULL,
  loss_n         INTEGER NOT NULL,
  jitter_ms_sum  REAL    NOT NULL,
  jitter_n       INTEGER NOT NULL,
  latency_ms_sum REAL    NOT NULL,
  latency_n      INTEGER NOT NULL,
  mos_sum        REAL    NOT NULL,
  mos_n          INTEGER NOT NULL,
  jitter_sketch  TEXT    NOT NULL,
  latency_sketch TEXT    NOT NULL,
  PRIMARY KEY (tenant_id, dimension, key, bucket)
) STRICT, WITHOUT ROWID;

-- Calls in progress. Per minute: the change in calls in progress from that
-- minute on (+1 where a completed call starts, -1 after the last minute it
-- touches). Per hour: the sum of that hour's changes (net) and the highest
-- level reached within the hour relative to its start (peak_rel), recomputed
-- from the hour's minutes whenever a batch changes one. The level at an
-- hour's start is the sum of net over earlier hours. source '' = all.
CREATE TABLE concurrency_minute (
  tenant_id TEXT    NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  source    TEXT    NOT NULL,
  minute    INTEGER NOT NULL,
  delta     INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, source, minute)
) STRICT, WITHOUT ROWID;

CREATE TABLE concurrency_hour (
  tenant_id TEXT    NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  source    TEXT    NOT NULL,
  hour      INTEGER NOT NULL,
  net       INTEGER NOT NULL,
  peak_rel  INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, source, hour)
) STRICT, WITHOUT ROWID;

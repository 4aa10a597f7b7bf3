"""Crash test (issue 4): a 1,000,000-call ingest survives a server killed with
SIGKILL at random moments, and (on PostgreSQL) a database crash, with every
call stored exactly once and rollups equal to rollups recomputed from the raw
calls.

Real processes on loopback (harness.py): parley-devsim serves N history calls
(default 1,000,000; PARLEY_CRASH_CALLS=N for a quicker local run), one agent
collects only the call history in 1000-call batches (devsim's page limit) and
uploads them over mutual TLS to `parley serve`. While it does, the server is
killed with SIGKILL KILLS times (at least 5) and restarted: each kill comes
when the stored count passes a random point of its own stretch of the run
(the run is cut into KILLS equal stretches between 5 % and 95 %), plus a
random 0-500 ms, so the kills land anywhere in a commit and are spread over
the whole run. On PostgreSQL the database is also stopped in immediate mode
(a crash: no checkpoint, recovery from the WAL at start) half-way and started
again. The random seed is printed; PARLEY_CRASH_SEED=S repeats a run's
schedule. Afterwards, with the agent and server stopped:

- the API and the database both count exactly N calls, N distinct
  (source, call id) keys, and the ids are exactly the ones devsim generated;
- `parley rollups verify` (every hourly and daily rollup row of every
  dimension, and every hourly peak, recomputed from the raw calls) exits 0.

ctest: integration_crash_sqlite, integration_crash_postgres (label "scale").
"""
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import BIN, Stack, wait_until  # noqa: E402

CALLS = int(os.environ.get("PARLEY_CRASH_CALLS", "1000000"))
KILLS = 6
BATCH = 1000  # the agent's max_batch_records: devsim's DMA page limit


class CrashDuringIngest:
    """The scenario; the subclasses below pick the store."""

    store = None

    def setUp(self):
        seed = os.environ.get("PARLEY_CRASH_SEED")
        self.seed = int(seed) if seed else random.SystemRandom().randrange(1 << 31)
        print(f"\n{self.id()}: {CALLS} calls, seed {self.seed} (PARLEY_CRASH_SEED={self.seed} repeats the schedule)",
              flush=True)
        self.rng = random.Random(self.seed)
        self.t0 = time.monotonic()
        # Only the call history: the other DMA feeds would not add calls.
        self.stack = Stack(calls=CALLS, batch_records=BATCH, history_days=30, collect=["history"], store=self.store)

    def tearDown(self):
        self.stack.close()

    def note(self, text):
        print(f"  {time.monotonic() - self.t0:7.1f} s  {text}", flush=True)

    def stored(self):
        """The API's count, or None while the server (or its store) is down."""
        try:
            status, body, _ = self.stack.get("/api/v1/calls?limit=1")
            return body["total"] if status == 200 else None
        except Exception:  # connection refused or reset while restarting
            return None

    def wait_for(self, threshold, timeout=900):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            n = self.stored()
            if n is not None and n >= threshold:
                return n
            # Counting a million rows costs the server and the database
            # CPU: ask often only when the threshold is near.
            time.sleep(0.25 if n is not None and threshold - n < 10 * BATCH else 1.0)
        raise AssertionError(f"fewer than {threshold} calls stored after {timeout} s (seed {self.seed})")

    def restart_server(self):
        self.stack.start_server()
        if self.stack.login()[0] != 200:
            raise AssertionError("cannot sign in after the restart")

    def crash_database(self):
        """Only on PostgreSQL (overridden)."""

    def test_crashes_during_a_million_call_ingest(self):
        s = self.stack
        s.start_devsim()
        self.note("devsim ready")
        s.start_server()
        self.assertEqual(s.login()[0], 200)
        s.enroll_agent()
        s.start_agent()
        started = time.monotonic()

        lo, hi = CALLS * 0.05, CALLS * 0.95
        width = (hi - lo) / KILLS
        thresholds = [int(lo + i * width + self.rng.random() * width) for i in range(KILLS)]
        db_crash_after = KILLS // 2  # between the 3rd and 4th server kill
        kills = []
        for i, threshold in enumerate(thresholds):
            if i == db_crash_after:
                self.crash_database()
            before = self.wait_for(threshold)
            time.sleep(self.rng.uniform(0, 0.5))
            s.kill("server", signal.SIGKILL)
            kills.append(before)
            self.note(f"server killed (SIGKILL {i + 1} of {KILLS}) at >= {before} calls stored")
            self.assertLess(before, CALLS, "the ingest ended before the kill")
            time.sleep(self.rng.uniform(0, 1.0))
            self.restart_server()
            self.note(f"server restarted, {self.stored()} calls stored")

        self.wait_for(CALLS, timeout=1200)
        ingest_s = time.monotonic() - started
        self.note(f"all {CALLS} calls stored; ingest with crashes took {ingest_s:.0f} s")
        time.sleep(2)  # a late duplicate upload would land now
        self.assertEqual(self.stored(), CALLS)
        self.assertEqual(s.kill("agent", signal.SIGTERM), 0, "the agent stops cleanly")
        self.assertEqual(s.kill("server", signal.SIGTERM), 0, "the server stops cleanly")
        self.assertEqual(len(kills), KILLS)

        # Exactly once, in the database itself: N rows, N distinct keys, the
        # ids devsim generated.
        count, distinct, ids = self.stored_calls()
        self.assertEqual(count, CALLS)
        self.assertEqual(distinct, CALLS, "a call is stored twice")
        expected = set()
        with open(os.path.join(s.devsim_dir, "expected.ndjson")) as f:
            for line in f:
                expected.add(json.loads(line)["id"])
        self.assertEqual(len(expected), CALLS)
        self.assertEqual(len(ids), CALLS)
        self.assertEqual(ids, expected, "stored ids differ from the generated ones")
        self.note("exactly once: count, distinct keys and ids checked")

        t = time.monotonic()
        p = subprocess.run([os.path.join(BIN, "parley"), "rollups", "verify", "--config", s.config],
                           capture_output=True, text=True, timeout=900)
        self.note(f"parley rollups verify exited {p.returncode} after {time.monotonic() - t:.1f} s:\n"
                  + p.stdout + p.stderr)
        self.assertEqual(p.returncode, 0, f"rollups differ from the raw calls (seed {self.seed})")
        self.assertIn(f"OK, {CALLS} calls", p.stdout)

    def stored_calls(self):
        """(rows, distinct keys, set of call ids) read from the database."""
        raise NotImplementedError


class CrashOnSqlite(CrashDuringIngest, unittest.TestCase):
    store = "sqlite"

    def stored_calls(self):
        db = sqlite3.connect(f"file:{os.path.join(self.stack.server_dir, 'parley.db')}?mode=ro", uri=True)
        try:
            count, distinct = db.execute("SELECT count(*), count(DISTINCT source || ' ' || call_id) FROM calls") \
                .fetchone()
            ids = {row[0] for row in db.execute("SELECT call_id FROM calls")}
        finally:
            db.close()
        return count, distinct, ids


class CrashOnPostgres(CrashDuringIngest, unittest.TestCase):
    store = "postgres"

    def crash_database(self):
        # Immediate mode: the postmaster quits at once, like a crash; the
        # next start replays the WAL. The server's connections break mid-batch.
        self.wait_for(CALLS // 2)
        self.stack.pg.stop("immediate")
        self.note("PostgreSQL stopped (immediate: crash)")
        time.sleep(self.rng.uniform(1.0, 3.0))
        self.stack.pg.start()
        wait_until(lambda: self.stack.get("/readyz")[0] == 200, 120, "server ready after the database restart")
        self.note(f"PostgreSQL started again, {self.stored()} calls stored")

    def stored_calls(self):
        psql = self.stack.pg.psql
        count, distinct = psql("SELECT count(*), count(DISTINCT (source, call_id)) FROM calls", db="parley") \
            .strip().split("|")
        ids = set(psql("SELECT call_id FROM calls", db="parley").split())
        return int(count), int(distinct), ids


if __name__ == "__main__":
    unittest.main(verbosity=2)

"""Record retention end to end: emulated DMA -> agent -> parley serve
(SQLite), real processes on loopback, about ten weeks of history.

`parley serve` with store.retention_months = 1 deletes, at start, the records
that started before the previous month and leaves the newer ones; `parley
retention apply --before` then counts (dry run, nothing deleted) and deletes
the rest, printing per table exactly what went. Each deletion is on the
platform audit chain (counts only), `parley audit verify` passes, and `parley
rollups verify` still agrees with the records left: the rollups of the
deleted months are kept and not compared.
"""
import calendar
import datetime
import os
import signal
import sqlite3
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import BIN, Stack, set_toml_key, wait_until  # noqa: E402

PARLEY = os.path.join(BIN, "parley")
TABLES = ("calls", "conferences", "participants", "quality_samples", "search_terms")
# One row per search term: a view over pii_docs (and, since migration 0019, calls.terms).
TERMS = "pii_search"


def month_start(year, month):
    while month < 1:
        year, month = year - 1, month + 12
    while month > 12:
        year, month = year + 1, month - 12
    return calendar.timegm((year, month, 1, 0, 0, 0)), f"{year:04d}-{month:02d}"


class RetentionTest(unittest.TestCase):
    def setUp(self):
        self.stack = Stack(calls=400, history_days=75)
        self.stack.start_all()
        self.db = os.path.join(self.stack.server_dir, "parley.db")

    def tearDown(self):
        self.stack.close()

    def parley(self, *args):
        p = subprocess.run([PARLEY, *args, "--config", self.stack.config], capture_output=True, text=True,
                           timeout=300)
        self.assertEqual(p.returncode, 0, f"parley {' '.join(args)}: {p.stdout}\n{p.stderr}")
        return p.stdout

    def one(self, sql, args=()):
        con = sqlite3.connect(self.db)
        try:
            return con.execute(sql, args).fetchone()[0]
        finally:
            con.close()

    def counts_before(self, boundary):
        """Rows per table that started before `boundary`, straight from the file."""
        def linked(table, kind, id_column, record_table):
            return self.one(f"SELECT count(*) FROM {table} x JOIN {record_table} r ON r.tenant_id = x.tenant_id"
                            f" AND r.source = x.source AND r.{id_column} = x.record_id"
                            f" WHERE x.record_kind = ? AND r.start_at < ?", (kind, boundary))
        return {
            "calls": self.one("SELECT count(*) FROM calls WHERE start_at < ?", (boundary,)),
            "conferences": self.one("SELECT count(*) FROM conferences WHERE start_at < ?", (boundary,)),
            "participants": self.one("SELECT count(*) FROM participants WHERE start_at < ?", (boundary,)),
            "quality_samples": linked("quality_samples", "call", "call_id", "calls")
            + linked("quality_samples", "participant", "participant_id", "participants"),
            "search_terms": linked(TERMS, "call", "call_id", "calls")
            + linked(TERMS, "participant", "participant_id", "participants"),
        }

    @staticmethod
    def printed(out):
        got = {}
        for line in out.splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[0] in TABLES:
                got[parts[0]] = int(parts[1])
        return got

    def retention_entries(self):
        con = sqlite3.connect(self.db)
        try:
            return con.execute("SELECT actor, details_json FROM audit_log WHERE tenant_id = 'platform'"
                               " AND action = 'data.retention' ORDER BY seq").fetchall()
        finally:
            con.close()

    def test_serve_applies_retention_months_and_the_cli_deletes_the_rest(self):
        s = self.stack
        # Bad options and "keep forever" without a month are refused before anything is read.
        for args in (["--before", "2026-13"], ["--months", "0"], []):
            p = subprocess.run([PARLEY, "retention", "apply", *args, "--config", s.config], capture_output=True,
                               text=True, timeout=60)
            self.assertEqual(p.returncode, 2, f"{args}: {p.stdout}{p.stderr}")
        wait_until(lambda: s.login()[0] == 200 and s.total_calls() == s.calls, 180, "every call ingested")
        s.kill("agent", signal.SIGTERM)
        now = datetime.datetime.now(datetime.timezone.utc)
        # store.retention_months = 1: the previous month and this one are kept.
        cutoff, _ = month_start(now.year, now.month - 1)
        old = self.counts_before(cutoff)
        self.assertGreater(old["calls"], 0, "devsim's history reaches back before the previous month")
        total_calls = self.one("SELECT count(*) FROM calls")
        self.assertGreater(total_calls, old["calls"])

        # The dry run counts what the server will delete, and deletes nothing.
        dry = self.parley("retention", "apply", "--months", "1", "--dry-run")
        self.assertIn("dry run", dry)
        self.assertEqual(self.printed(dry), old, dry)
        self.assertEqual(self.one("SELECT count(*) FROM calls"), total_calls)
        self.assertEqual(self.retention_entries(), [])

        # The server applies store.retention_months at start.
        s.kill("server", signal.SIGTERM)
        set_toml_key(s.config, "store", "retention_months", "1")
        s.start_server()
        wait_until(lambda: "parley: retention: records before" in s.log("server"), 60, "retention at start")
        self.assertEqual(self.counts_before(cutoff), dict.fromkeys(TABLES, 0))
        self.assertEqual(self.one("SELECT count(*) FROM calls"), total_calls - old["calls"])
        entries = self.retention_entries()
        self.assertEqual(len(entries), 1)
        self.assertEqual(entries[0][0], "system:retention")
        self.assertIn(f'"boundary":{cutoff}', entries[0][1])
        self.assertIn(f'"calls":{old["calls"]}', entries[0][1])
        self.assertEqual(s.total_calls(), total_calls - old["calls"], "the portal lists the records left")

        # By hand: everything before next month.
        last_start = self.one("SELECT max(start_at) FROM calls")
        last = datetime.datetime.fromtimestamp(last_start, datetime.timezone.utc)
        boundary, month = month_start(last.year, last.month + 1)
        rest = self.counts_before(boundary)
        self.assertEqual(rest["calls"], total_calls - old["calls"])
        dry = self.parley("retention", "apply", "--before", month, "--dry-run")
        self.assertEqual(self.printed(dry), rest, dry)
        done = self.parley("retention", "apply", "--before", month)
        self.assertNotIn("dry run", done)
        self.assertEqual(self.printed(done), rest, done)
        for table in ("calls", "conferences", "participants", "quality_samples"):
            self.assertEqual(self.one(f"SELECT count(*) FROM {table}"), 0, table)
        self.assertEqual(self.one(f"SELECT count(*) FROM {TERMS} WHERE record_kind <> 'device'"), 0)
        self.assertGreater(self.one("SELECT count(*) FROM devices"), 0, "devices are not records")
        self.assertGreater(self.one("SELECT count(*) FROM rollup_day"), 0, "rollups are kept")
        entries = self.retention_entries()
        self.assertEqual([e[0] for e in entries], ["system:retention", "cli"])
        self.assertIn(f'"boundary":{boundary}', entries[1][1])

        self.parley("audit", "verify")
        verified = self.parley("rollups", "verify")
        self.assertIn("rollups verify: OK", verified)
        self.assertIn("compared from a day later", verified)
        # A rebuild keeps the rollups of the deleted records and replaces the rest.
        rebuilt = self.parley("rollups", "rebuild")
        self.assertIn("rebuilt from a day later, the earlier ones kept", rebuilt)
        self.assertIn(", buckets from ", rebuilt)
        self.assertGreater(self.one("SELECT count(*) FROM rollup_day"), 0, "rollups are kept")
        self.assertIn("rollups verify: OK", self.parley("rollups", "verify"))


if __name__ == "__main__":
    unittest.main(verbosity=2)

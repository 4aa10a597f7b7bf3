"""The end-to-end slice on PostgreSQL: emulated DMA -> agent -> mutual TLS
ingest -> PostgreSQL (row-level security, partitions) -> API.

Runs slice_test.py's flow and restart tests against a throw-away PostgreSQL
15 cluster (pg_cluster.py), plus what only PostgreSQL has: a database restart
in the middle of the ingest, and start-up refusing a schema it may not
migrate. Real processes on loopback.
"""
import os
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import slice_test  # noqa: E402
from harness import BIN, Stack, set_toml_key, wait_until  # noqa: E402
from pg_cluster import PostgresCluster  # noqa: E402


class FlowOnPostgres(slice_test.CallsFlowEndToEnd):
    store = "postgres"

    def test_sqlite_file_holds_no_personal_data_in_clear(self):
        # On PostgreSQL: no SQLite file was made, and no table holds a caller
        # name, number, URI or IP in clear (every row read as the superuser).
        self.assertFalse(os.path.exists(os.path.join(self.stack.server_dir, "parley.db")))
        secrets = slice_test.personal_strings(self.stack.expected_calls())
        tables = self.stack.pg.psql("SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace"
                                    " AND relkind IN ('r', 'p') AND NOT relispartition", db="parley").split()
        self.assertIn("calls", tables)
        dump = "".join(self.stack.pg.psql(f"SELECT t::text FROM {t} t", db="parley") for t in tables)
        self.assertGreater(len(dump), 100_000)
        found = slice_test.find_any(dump.encode(), secrets)
        self.assertIsNone(found, f"PostgreSQL holds {found!r} in clear")
        # Each call once in its month's partition.
        self.assertEqual(self.stack.pg.psql("SELECT count(*) FROM calls", db="parley").strip(),
                         str(self.stack.calls))


class RestartsOnPostgres(slice_test.Restarts):
    store = "postgres"

    def test_postgres_restarted_mid_run(self):
        # The database stops (fast shutdown: sessions are cut) while the agent
        # uploads, and comes back; the server reconnects, the agent retries,
        # and every call is stored exactly once.
        self.wait_midway()
        self.stack.pg.stop("fast")
        time.sleep(2)
        self.stack.pg.start()
        wait_until(lambda: self.stack.get("/readyz")[0] == 200, 60, "server ready again")
        wait_until(lambda: self.stack.total_calls() == self.stack.calls, 180, "all calls after the restart")
        time.sleep(1.5)
        slice_test.assert_exactly_once(self, self.stack)


class StartupOnPostgres(unittest.TestCase):
    def test_schema_behind_without_migrate_url_exits_2_naming_the_key(self):
        stack = Stack(calls=1, store="postgres")
        try:
            # A second, empty database: the application role may not create
            # its schema, and no owner connection is configured.
            stack.pg.psql("CREATE DATABASE empty OWNER parley_owner;")
            set_toml_key(stack.config, "store", "url", f'"{stack.pg.app_url("empty")}"')
            set_toml_key(stack.config, "store", "migrate_url", '""')
            p = subprocess.run([os.path.join(BIN, "parley"), "serve", "--config", stack.config],
                               capture_output=True, text=True, timeout=60)
            self.assertEqual(p.returncode, 2, p.stderr)
            self.assertIn("store.migrate_url", p.stderr)
            self.assertNotIn("Secret", p.stderr, "no password in the message")
            # The owner as store.url is refused too: row-level security would not bind it.
            set_toml_key(stack.config, "store", "url", f'"{stack.pg.owner_url()}"')
            p = subprocess.run([os.path.join(BIN, "parley"), "serve", "--config", stack.config],
                               capture_output=True, text=True, timeout=60)
            self.assertEqual(p.returncode, 2, p.stderr)
            self.assertIn("store.url", p.stderr)
        finally:
            stack.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)

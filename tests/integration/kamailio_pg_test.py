"""The kamailio source on PostgreSQL: a throw-away PostgreSQL 15 cluster
holds Kamailio's accounting tables (Kamailio's PostgreSQL schema, extra
columns added) with rows as Kamailio's db_postgres writes them -- local time
in `timestamp without time zone` -- and a SELECT-only role with a password.
parley serve + an enrolled parley-agent read them with db_url,
password_file (0600) and db_timezone; the API must show the calls at the
right UTC times, and the agent must not have changed a row.

(Kamailio's own PostgreSQL driver is not installed here; the SQLite path is
covered with a real Kamailio by kamailio_test.py.)
"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import Stack, free_port, wait_until  # noqa: E402

PG_BIN = "/usr/lib/postgresql/15/bin"

SCHEMA = """
CREATE TABLE acc (id SERIAL PRIMARY KEY NOT NULL, method VARCHAR(16) DEFAULT '' NOT NULL,
  from_tag VARCHAR(128) DEFAULT '' NOT NULL, to_tag VARCHAR(128) DEFAULT '' NOT NULL,
  callid VARCHAR(255) DEFAULT '' NOT NULL, sip_code VARCHAR(3) DEFAULT '' NOT NULL,
  sip_reason VARCHAR(128) DEFAULT '' NOT NULL, time TIMESTAMP WITHOUT TIME ZONE NOT NULL);
CREATE INDEX acc_callid_idx ON acc (callid);
CREATE TABLE acc_cdrs (id SERIAL PRIMARY KEY NOT NULL,
  start_time TIMESTAMP WITHOUT TIME ZONE DEFAULT '2000-01-01 00:00:00' NOT NULL,
  end_time TIMESTAMP WITHOUT TIME ZONE DEFAULT '2000-01-01 00:00:00' NOT NULL,
  duration REAL DEFAULT 0 NOT NULL);
CREATE INDEX acc_cdrs_start_time_idx ON acc_cdrs (start_time);
CREATE TABLE missed_calls (id SERIAL PRIMARY KEY NOT NULL, method VARCHAR(16) DEFAULT '' NOT NULL,
  from_tag VARCHAR(128) DEFAULT '' NOT NULL, to_tag VARCHAR(128) DEFAULT '' NOT NULL,
  callid VARCHAR(255) DEFAULT '' NOT NULL, sip_code VARCHAR(3) DEFAULT '' NOT NULL,
  sip_reason VARCHAR(128) DEFAULT '' NOT NULL, time TIMESTAMP WITHOUT TIME ZONE NOT NULL);
CREATE INDEX missed_calls_callid_idx ON missed_calls (callid);
ALTER TABLE acc_cdrs ADD COLUMN callid VARCHAR(255), ADD COLUMN src_user VARCHAR(64),
  ADD COLUMN src_domain VARCHAR(128), ADD COLUMN dst_user VARCHAR(64), ADD COLUMN dst_domain VARCHAR(128),
  ADD COLUMN sip_code VARCHAR(3), ADD COLUMN sip_reason VARCHAR(128);
ALTER TABLE missed_calls ADD COLUMN src_user VARCHAR(64), ADD COLUMN src_domain VARCHAR(128),
  ADD COLUMN dst_user VARCHAR(64), ADD COLUMN dst_domain VARCHAR(128);
CREATE ROLE parley_ro LOGIN PASSWORD 'ro-Secret-4711';
GRANT SELECT ON acc, acc_cdrs, missed_calls TO parley_ro;
-- Kamailio on a Europe/Berlin host (CET, UTC+1 in December) writes local time.
INSERT INTO acc_cdrs (start_time, end_time, duration, callid, src_user, src_domain, dst_user, dst_domain,
  sip_code, sip_reason) VALUES
  ('2026-12-01 10:00:00', '2026-12-01 10:01:02', 61.8, 'pg-ok-1@parley.test', 'alice', 'parley.test',
   '+4930123456', 'parley.test', '200', 'OK'),
  ('2026-12-01 10:05:00', '2026-12-01 10:05:30', 30.1, 'pg-ok-2@parley.test', 'dave', 'parley.test',
   'answer', 'parley.test', '200', 'OK');
INSERT INTO missed_calls (method, callid, sip_code, sip_reason, time, src_user, src_domain, dst_user, dst_domain)
  VALUES ('INVITE', 'pg-busy-1@parley.test', '486', 'Busy Here', '2026-12-01 10:02:00', 'bob', 'parley.test',
          'busy', 'parley.test'),
         ('INVITE', 'pg-auth-1@parley.test', '407', 'Proxy Authentication Required', '2026-12-01 10:03:00',
          'carol', 'parley.test', 'answer', 'parley.test'),
         ('INVITE', 'pg-nf-1@parley.test', '404', 'Not Found', '2026-12-01 10:04:00', 'carol', 'parley.test',
          'nobody', 'parley.test');
"""

EXPECTED = {
    "pg-ok-1@parley.test": ("completed", "2026-12-01T09:00:00Z", "2026-12-01T09:01:02Z", 62, ""),
    "pg-ok-2@parley.test": ("completed", "2026-12-01T09:05:00Z", "2026-12-01T09:05:30Z", 30, ""),
    "pg-busy-1@parley.test": ("failed", "2026-12-01T09:02:00Z", "2026-12-01T09:02:00Z", 0, "486:Busy Here"),
    "pg-nf-1@parley.test": ("failed", "2026-12-01T09:04:00Z", "2026-12-01T09:04:00Z", 0, "404:Not Found"),
}


class KamailioOnPostgres(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        if not os.path.exists(os.path.join(PG_BIN, "initdb")):
            raise AssertionError(f"{PG_BIN}/initdb is missing: install Debian's postgresql (scripts/install-deps)")
        cls.pg_dir = tempfile.mkdtemp(prefix="parley-kam-pg-")
        shutil.chown(cls.pg_dir, "postgres")
        cls.pg_data = os.path.join(cls.pg_dir, "data")
        cls.pg_port = free_port()
        cls.pg_started = False
        cls.stack = None
        try:
            cls.start()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def pg(cls, *argv, input=None):
        p = subprocess.run(["runuser", "-u", "postgres", "--", *argv], capture_output=True, text=True,
                           input=input, timeout=60)
        assert p.returncode == 0, f"{argv[0]} exited {p.returncode}: {p.stderr}"
        return p.stdout

    @classmethod
    def psql(cls, sql, db="kamailio"):
        return cls.pg(os.path.join(PG_BIN, "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", cls.pg_dir,
                      "-p", str(cls.pg_port), "-d", db, "-At", input=sql)

    @classmethod
    def start(cls):
        cls.pg(os.path.join(PG_BIN, "initdb"), "-D", cls.pg_data, "--auth-host=scram-sha-256",
               "-U", "postgres", "--auth-local=trust")
        cls.pg(os.path.join(PG_BIN, "pg_ctl"), "-D", cls.pg_data, "-w", "-l", os.path.join(cls.pg_dir, "pg.log"),
               "-o", f"-p {cls.pg_port} -k {cls.pg_dir} -c listen_addresses=127.0.0.1", "start")
        cls.pg_started = True
        cls.psql("CREATE DATABASE kamailio;", db="postgres")
        cls.psql(SCHEMA)
        cls.before = cls.psql("SELECT md5(string_agg(t::text, ',' ORDER BY t::text)) FROM "
                              "(SELECT * FROM acc_cdrs) t; SELECT md5(string_agg(t::text, ',' ORDER BY t::text)) "
                              "FROM (SELECT * FROM missed_calls) t;")

        cls.stack = s = Stack(calls=None, batch_records=2)
        s.start_server()
        assert s.login()[0] == 200
        pw = os.path.join(s.agent_dir, "kamailio-db.password")
        with open(os.open(pw, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
            f.write("ro-Secret-4711\n")
        s.enroll_agent(sources=f"""[[sources]]
name = "kamailio-pg"
type = "kamailio"
db_url = "postgresql://parley_ro@127.0.0.1:{cls.pg_port}/kamailio"
password_file = "kamailio-db.password"
db_timezone = "Europe/Berlin"
""")
        s.start_agent()

    @classmethod
    def tearDownClass(cls):
        if cls.stack:
            cls.stack.close()
        if cls.pg_started:
            subprocess.run(["runuser", "-u", "postgres", "--", os.path.join(PG_BIN, "pg_ctl"), "-D", cls.pg_data,
                            "-m", "fast", "-w", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(cls.pg_dir, ignore_errors=True)

    def test_calls_arrive_at_their_utc_times_and_the_database_is_unchanged(self):
        wait_until(lambda: self.stack.total_calls() >= len(EXPECTED), 60, "the PostgreSQL calls in the API")
        time.sleep(2)
        calls = {c["id"]: c for c in self.stack.all_calls()}
        self.assertEqual(set(calls), set(EXPECTED))  # the 407 challenge is not a call outcome
        self.assertEqual(self.stack.total_calls(), len(EXPECTED))
        for call_id, (status, start, end, duration, cause) in EXPECTED.items():
            c = calls[call_id]
            with self.subTest(call=call_id):
                self.assertEqual(c["status"], status)
                self.assertEqual(c["start"], start)
                self.assertEqual(c["end"], end)
                self.assertEqual(c["duration_s"], duration)
                self.assertEqual(c["cause"] or "", cause)
        self.assertEqual(calls["pg-ok-1@parley.test"]["dest"]["number"], "+4930123456")
        self.assertEqual(calls["pg-busy-1@parley.test"]["orig"]["uri"], "sip:bob@parley.test")
        after = self.psql("SELECT md5(string_agg(t::text, ',' ORDER BY t::text)) FROM (SELECT * FROM acc_cdrs) t; "
                          "SELECT md5(string_agg(t::text, ',' ORDER BY t::text)) FROM (SELECT * FROM missed_calls) t;")
        self.assertEqual(after, self.before)
        log = self.stack.log("agent")
        self.assertNotIn("ro-Secret-4711", log)
        self.assertNotIn("collection failed", log)


if __name__ == "__main__":
    unittest.main()

"""End-to-end slice: emulated DMA -> agent -> mutual TLS ingest -> SQLite -> API.

Real processes on loopback. Each test says what it verifies.
"""
import base64
import collections
import hashlib
import json
import os
import signal
import sqlite3
import ssl
import subprocess
import sys
import time
import unittest
import urllib.error
import uuid

sys.path.insert(0, os.path.dirname(__file__))
from harness import BIN, TENANT, Stack, wait_until  # noqa: E402


def digest(body):
    return "sha-256=:" + base64.b64encode(hashlib.sha256(body).digest()).decode() + ":"


def call_line(call_id, **overrides):
    rec = {"type": "call", "source": "manual", "id": call_id, "start": "2026-12-01T10:00:00Z",
           "end": "2026-12-01T10:30:00Z", "duration_s": 1800, "status": "completed", "protocol": "SIP",
           "call_type": "PT-PT", "orig": {"name": "Test Person"}, "dest": {}}
    rec.update(overrides)
    return json.dumps(rec)


def personal_strings(expected):
    """Every name, number, URI and IP address the emulator gave its callers.

    Short values (VMR extensions such as "1056") are left out: four digits
    occur by chance inside the call ids, which are stored in clear."""
    out = set()
    for c in expected:
        for k in ("orig_name", "orig_number", "orig_uri", "orig_ip", "dest_name", "dest_number", "dest_uri", "dest_ip"):
            if c.get(k) and len(c[k]) >= 7:
                out.add(c[k])
    return out


def find_any(data, strings):
    """The first of `strings` found in `data` (bytes), or None."""
    for s in strings:
        if s.encode() in data:
            return s
    return None


def assert_exactly_once(test, stack):
    calls = stack.all_calls()
    ids = [c["id"] for c in calls]
    dupes = [i for i, n in collections.Counter(ids).items() if n > 1]
    test.assertEqual(dupes, [], "calls stored more than once")
    expected = {c["id"] for c in stack.expected_calls()}
    test.assertEqual(len(expected), stack.calls)
    test.assertEqual(set(ids), expected)
    test.assertEqual(stack.total_calls(), stack.calls)
    return calls


class CallsFlowEndToEnd(unittest.TestCase):
    """One deployment shared by the read-only checks."""

    store = "sqlite"

    @classmethod
    def setUpClass(cls):
        cls.stack = Stack(calls=300, batch_records=25, store=cls.store)
        cls.stack.start_all()
        assert cls.stack.login()[0] == 200
        wait_until(lambda: cls.stack.total_calls() == cls.stack.calls, 120, "all emulated calls")

    @classmethod
    def tearDownClass(cls):
        cls.stack.close()

    def test_every_emulated_call_appears_exactly_once(self):
        # The N emulated calls arrive through GET /api/v1/calls, each once.
        assert_exactly_once(self, self.stack)

    def test_call_fields_match_the_emulator(self):
        # Names, numbers, status and durations survive encryption and the API.
        by_id = {c["id"]: c for c in self.stack.all_calls()}
        failed = 0
        for e in self.stack.expected_calls():
            got = by_id[e["id"]]
            self.assertEqual(got["orig"]["name"], e["orig_name"])
            self.assertEqual(got["dest"]["number"], e["dest_number"])
            self.assertEqual(got["orig"]["ip"], e["orig_ip"])
            self.assertEqual(got["status"], e["status"])
            self.assertEqual(got["duration_s"], e["duration_s"])
            failed += got["status"] == "failed"
        self.assertGreater(failed, 0, "the workload should contain failed calls")

    def test_calls_are_newest_first_and_pages_do_not_overlap(self):
        # Keyset pagination: descending start times, no call on two pages.
        seen, cursor, previous = set(), None, None
        while True:
            status, body, _ = self.stack.get("/api/v1/calls?limit=37" + (f"&cursor={cursor}" if cursor else ""))
            self.assertEqual(status, 200)
            for c in body["calls"]:
                self.assertNotIn(c["id"], seen)
                seen.add(c["id"])
                if previous:
                    self.assertLessEqual(c["start"], previous)
                previous = c["start"]
            cursor = body["next_cursor"]
            if not cursor:
                break
        self.assertEqual(len(seen), self.stack.calls)

    def test_agent_wrote_no_personal_data(self):
        # Grep every file under the agent's directory (its cwd, HOME, TMPDIR,
        # config, key, certificate) and its log for the callers' data.
        secrets = personal_strings(self.stack.expected_calls())
        self.assertGreater(len(secrets), 50)
        files = [os.path.join(d, f) for d, _, fs in os.walk(self.stack.agent_dir) for f in fs]
        files.append(self.stack.logs["agent"])
        self.assertIn(os.path.join(self.stack.agent_dir, "agent.key"), files)
        for path in files:
            with open(path, "rb") as f:
                found = find_any(f.read(), secrets)
            self.assertIsNone(found, f"{path} contains personal data {found!r}")

    def test_sqlite_file_holds_no_personal_data_in_clear(self):
        # The database file and its WAL contain no caller name, number, URI or IP.
        secrets = personal_strings(self.stack.expected_calls())
        checked = 0
        for suffix in ("", "-wal"):
            path = os.path.join(self.stack.server_dir, "parley.db" + suffix)
            if not os.path.exists(path):
                continue
            with open(path, "rb") as f:
                data = f.read()
            checked += len(data)
            found = find_any(data, secrets)
            self.assertIsNone(found, f"{path} contains {found!r} in clear")
        self.assertGreater(checked, 100_000)
        with open(self.stack.logs["server"], "rb") as f:
            found = find_any(f.read(), secrets)
        self.assertIsNone(found, f"server log contains personal data {found!r}")

    def test_api_requires_a_session(self):
        # Nothing but sign-in, health and OpenAPI answers without a session.
        saved = self.stack.cookie
        self.stack.cookie = None
        try:
            status, body, _ = self.stack.get("/api/v1/calls")
            self.assertEqual(status, 401)
            self.assertEqual(body["error"], "unauthenticated")
            self.assertEqual(self.stack.get("/api/v1/session")[0], 401)
            self.assertEqual(self.stack.get("/healthz")[0], 200)
            status, doc, _ = self.stack.get("/api/v1/openapi.json")
            self.assertEqual(status, 200)
            for path in ("/api/v1/auth/login", "/api/v1/auth/logout", "/api/v1/calls", "/ingest/v1/batches"):
                self.assertIn(path, doc["paths"])
        finally:
            self.stack.cookie = saved

    def test_session_cookie_is_hardened(self):
        # HttpOnly, Secure, SameSite=Strict; security headers on every answer.
        s = Stack.__new__(Stack)
        s.__dict__.update(self.stack.__dict__)
        s.cookie = None
        status, _, headers = s.login()
        self.assertEqual(status, 200)
        cookie = headers["Set-Cookie"]
        for attr in ("HttpOnly", "Secure", "SameSite=Strict", "Path=/"):
            self.assertIn(attr, cookie)
        self.assertTrue(cookie.startswith("__Host-"))
        self.assertIn("script-src 'self'", headers["Content-Security-Policy"])
        self.assertIn("frame-ancestors 'none'", headers["Content-Security-Policy"])
        self.assertIn("max-age=", headers["Strict-Transport-Security"])

    def test_wrong_password_is_refused_with_json_error(self):
        s = Stack.__new__(Stack)
        s.__dict__.update(self.stack.__dict__)
        s.cookie = None
        status, body, _ = s.login(password="not-the-password")
        self.assertEqual(status, 401)
        self.assertEqual(set(body), {"error", "detail"})

    def test_logout_requires_csrf_token_and_ends_the_session(self):
        s = Stack.__new__(Stack)
        s.__dict__.update(self.stack.__dict__)
        s.cookie = None
        self.assertEqual(s.login()[0], 200)
        status, body, _ = s.request("POST", "/api/v1/auth/logout", {})
        self.assertEqual(status, 403)
        status, body, _ = s.request("POST", "/api/v1/auth/logout", {}, {"X-CSRF-Token": s.csrf,
                                                                         "Origin": "https://evil.example"})
        self.assertEqual(status, 403)
        status, _, _ = s.request("POST", "/api/v1/auth/logout", {}, {"X-CSRF-Token": s.csrf})
        self.assertEqual(status, 204)
        self.assertEqual(s.get("/api/v1/calls")[0], 401)

    def test_rollups_verify_command(self):
        # `parley rollups verify` finds the rollups equal to the raw calls
        # (exit 0), names a tampered row (exit 1) and passes again once it is
        # put back; an unknown tenant is exit 2.
        verify = [os.path.join(BIN, "parley"), "rollups", "verify", "--config", self.stack.config]
        p = self.stack.run(verify, check=False)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn(f"OK, {self.stack.calls} calls", p.stdout)
        self.tamper_first_tenant_hour(+1)
        try:
            p = self.stack.run(verify + ["--tenant", TENANT], check=False)
            self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
            self.assertIn("1 MISMATCHES", p.stdout)
            self.assertRegex(p.stdout, r"hour tenant '' \S+Z: calls (\d+) stored, \d+ recomputed")
        finally:
            self.tamper_first_tenant_hour(-1)
        self.assertEqual(self.stack.run(verify, check=False).returncode, 0)
        self.assertEqual(self.stack.run(verify + ["--tenant", "no such tenant"], check=False).returncode, 2)

    def test_rollups_rebuild_command(self):
        # `parley rollups rebuild` puts a tampered row back from the raw calls
        # (while the server runs); verify agrees afterwards.
        verify = [os.path.join(BIN, "parley"), "rollups", "verify", "--config", self.stack.config]
        rebuild = [os.path.join(BIN, "parley"), "rollups", "rebuild", "--config", self.stack.config]
        self.tamper_first_tenant_hour(+3)
        self.assertEqual(self.stack.run(verify, check=False).returncode, 1)
        p = self.stack.run(rebuild + ["--tenant", TENANT], check=False)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertRegex(p.stdout, rf"rebuilt from {self.stack.calls} calls and \d+ participants\n")
        self.assertIn("rollups rebuild: done (1 tenants)", p.stdout)
        p = self.stack.run(verify, check=False)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertEqual(self.stack.run(rebuild + ["--tenant", "no such tenant"], check=False).returncode, 2)

    def tamper_first_tenant_hour(self, add):
        sql = (f"UPDATE rollup_hour SET calls = calls + ({add}) WHERE dimension = 0"
               " AND bucket = (SELECT min(bucket) FROM rollup_hour WHERE dimension = 0)")
        if self.stack.pg:
            self.stack.pg.psql(sql, db="parley")
            return
        db = sqlite3.connect(os.path.join(self.stack.server_dir, "parley.db"), timeout=30)
        try:
            db.execute(sql)
            db.commit()
        finally:
            db.close()

    def test_cursors_and_heartbeat_reach_the_server(self):
        # The agent's cursor for its source is stored; heartbeats are answered.
        status, body = self.stack.ingest("GET", "/ingest/v1/cursors")
        self.assertEqual(status, 200)
        self.assertIn("dma-main", body["cursors"])
        status, body = self.stack.ingest("POST", "/ingest/v1/heartbeat",
                                         json.dumps({"agent_version": "test", "uptime_s": 1, "sources": []}).encode(),
                                         {"Content-Type": "application/json"})
        self.assertEqual(status, 200)
        self.assertIn("server_time", body)


class BadIngestInput(unittest.TestCase):
    """Bad batches get a clear JSON error with the right 4xx status."""

    @classmethod
    def setUpClass(cls):
        cls.stack = Stack(calls=20, server_overrides={("ingest", "max_body_bytes"): "65536"})
        cls.stack.start_devsim()
        cls.stack.start_server()
        cls.stack.enroll_agent()

    @classmethod
    def tearDownClass(cls):
        cls.stack.close()

    def post_batch(self, body, headers=None, **kw):
        h = {"Content-Type": "application/x-ndjson", "Idempotency-Key": str(uuid.uuid4()),
             "Content-Digest": digest(body)}
        h.update(headers or {})
        return self.stack.ingest("POST", "/ingest/v1/batches", body, h, **kw)

    def assertJsonError(self, result, status):
        got_status, body = result
        self.assertEqual(got_status, status, body)
        self.assertIsInstance(body, dict, body)
        self.assertTrue(body.get("error"))
        self.assertTrue(body.get("detail"))
        return body

    def test_good_batch_is_stored_and_a_replay_is_acknowledged_once(self):
        body = (call_line("good-1") + "\n" + json.dumps({"type": "cursor", "source": "manual", "value": "c1"})).encode()
        key = str(uuid.uuid4())
        first = self.post_batch(body, {"Idempotency-Key": key})
        self.assertEqual(first[0], 200, first)
        self.assertFalse(first[1]["duplicate"])
        self.assertEqual(first[1]["accepted"], 1)
        self.assertEqual(first[1]["cursors"]["manual"], "c1")
        again = self.post_batch(body, {"Idempotency-Key": key})
        self.assertEqual(again[0], 200)
        self.assertTrue(again[1]["duplicate"])

    def test_wrong_digest(self):
        body = call_line("d-1").encode()
        b = self.assertJsonError(self.post_batch(body, {"Content-Digest": digest(b"other")}), 400)
        self.assertIn("Content-Digest", b["detail"])

    def test_missing_idempotency_key(self):
        body = call_line("d-2").encode()
        self.assertJsonError(self.post_batch(body, {"Idempotency-Key": "not-a-uuid"}), 400)

    def test_malformed_ndjson_names_the_line(self):
        body = (call_line("m-1") + "\n{\"type\": \"call\", oops\n").encode()
        b = self.assertJsonError(self.post_batch(body), 400)
        self.assertIn("line 2", b["detail"])
        self.assertEqual(b["errors"][0]["line"], 2)

    def test_unknown_field_type_names_field_and_line(self):
        body = (call_line("t-1") + "\n" + call_line("t-2", duration_s="long")).encode()
        b = self.assertJsonError(self.post_batch(body), 400)
        self.assertIn("line 2", b["detail"])
        self.assertIn("duration_s", b["detail"])

    def test_unknown_record_type(self):
        body = json.dumps({"type": "telemetry", "source": "x"}).encode()
        b = self.assertJsonError(self.post_batch(body), 400)
        self.assertIn("telemetry", b["detail"])

    def test_oversized_body_is_413(self):
        # Far past the limit, so the server refuses while the client is still
        # sending (the answer must survive that: lingering close).
        body = (call_line("big", orig={"name": "x" * 1000}) + "\n") * 2000
        self.assertGreater(len(body), 30 * 65536)
        self.assertJsonError(self.post_batch(body.encode()), 413)

    def test_wrong_content_type_is_415(self):
        body = call_line("ct").encode()
        self.assertJsonError(self.post_batch(body, {"Content-Type": "text/plain"}), 415)

    def test_refused_batch_stores_nothing(self):
        body = (call_line("half-1") + "\n" + call_line("half-2", end="yesterday")).encode()
        self.assertJsonError(self.post_batch(body), 400)
        self.assertEqual(self.stack.login()[0], 200)
        ids = {c["id"] for c in self.stack.all_calls()}
        self.assertNotIn("half-1", ids)

    def test_implausible_times_are_quarantined_and_the_rest_stored(self):
        body = "\n".join([
            call_line("q-good"),
            call_line("q-1999", start="1999-06-01T10:00:00Z", end="1999-06-01T10:05:00Z", duration_s=300),
            call_line("q-2099", start="2099-01-01T10:00:00Z", end="2099-01-01T10:05:00Z", duration_s=300),
        ]).encode()
        status, answer = self.post_batch(body)
        self.assertEqual(status, 200, answer)
        self.assertEqual(answer["accepted"], 1)
        self.assertEqual(answer["quarantined"], 2)
        self.assertEqual([r["line"] for r in answer["refused"]], [2, 3])
        self.assertEqual(self.stack.login()[0], 200)
        ids = {c["id"] for c in self.stack.all_calls()}
        self.assertIn("q-good", ids)
        self.assertNotIn("q-1999", ids)
        self.assertNotIn("q-2099", ids)
        status, q, _ = self.stack.get("/api/v1/quarantine")
        self.assertEqual(status, 200, q)
        reasons = {(e["record_type"], e["reason"]): e["count"] for e in q["quarantine"]}
        self.assertGreaterEqual(reasons.get(("call", "start is before the earliest accepted time"), 0), 1)
        self.assertGreaterEqual(reasons.get(("call", "start is too far in the future"), 0), 1)

    def test_no_client_certificate_is_401_except_enroll(self):
        ctx = self.stack.ingest_context()
        req = urllib.request.Request(f"https://127.0.0.1:{self.stack.ingest_port}/ingest/v1/cursors")
        with self.assertRaises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(req, context=ctx, timeout=10)
        self.assertEqual(e.exception.code, 401)
        body = json.loads(e.exception.read())
        self.assertEqual(body["error"], "unauthenticated")

    def test_used_enrollment_token_is_refused(self):
        token = self.stack.run([os.path.join(BIN, "parley"), "agent", "enroll-token", "--config", self.stack.config,
                                "--tenant", "Demo Organisation"]).stdout.strip()
        env = dict(os.environ, PARLEY_ENROLL_TOKEN=token)
        argv = [os.path.join(BIN, "parley-agent"), "enroll", "--server", f"https://127.0.0.1:{self.stack.ingest_port}",
                "--ca-file", os.path.join(self.stack.server_dir, "agent-ca.crt")]
        first = self.stack.run(argv + ["--dir", os.path.join(self.stack.dir, "a2")], env=env, check=False)
        self.assertEqual(first.returncode, 0, first.stderr)
        second = self.stack.run(argv + ["--dir", os.path.join(self.stack.dir, "a3")], env=env, check=False)
        self.assertNotEqual(second.returncode, 0)
        self.assertIn("token", second.stderr)

    def test_client_certificate_from_another_ca_fails_the_handshake(self):
        d = os.path.join(self.stack.dir, "rogue")
        os.makedirs(d)
        run = lambda *a: subprocess.run(a, cwd=d, check=True, capture_output=True)
        run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=rogue CA")
        run("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", "agent.key", "-out", "agent.csr", "-subj", "/CN=rogue agent")
        run("openssl", "x509", "-req", "-in", "agent.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "agent.crt", "-days", "2")
        with self.assertRaises((ssl.SSLError, ConnectionError, urllib.error.URLError)):
            self.stack.ingest("GET", "/ingest/v1/cursors", cert=os.path.join(d, "agent.crt"),
                              key=os.path.join(d, "agent.key"))


class Restarts(unittest.TestCase):
    """Exactly once, also across SIGKILLed agents and restarted servers."""

    store = "sqlite"  # slice_pg_test.py runs these on PostgreSQL

    def setUp(self):
        # Every device answer is delayed 30 ms (devsim's slow fault), so a run
        # lasts seconds however fast the machine is, and "mid-run" is real.
        self.stack = Stack(calls=1500, batch_records=10, devsim_args=["--fault", "slow/1", "--fault-delay-ms", "30"],
                           store=self.store)
        self.stack.start_all()
        self.assertEqual(self.stack.login()[0], 200)

    def tearDown(self):
        self.stack.close()

    def wait_midway(self, below=None):
        below = below or self.stack.calls // 2
        return wait_until(lambda: (lambda t: t if 0 < t < below else 0)(self.stack.total_calls()), 60,
                          f"some calls but fewer than {below}")

    def test_agent_killed_with_sigkill_mid_run_then_restarted(self):
        at = self.wait_midway()
        self.stack.kill("agent", signal.SIGKILL)
        self.assertLess(self.stack.total_calls(), self.stack.calls, f"agent finished before the kill (at {at})")
        self.stack.start_agent()
        wait_until(lambda: self.stack.total_calls() == self.stack.calls, 180, "all calls after agent restart")
        time.sleep(1.5)  # a late duplicate upload would show now
        assert_exactly_once(self, self.stack)

    def test_server_restarted_mid_run(self):
        # SIGKILL (a crash) and then SIGTERM (a graceful stop) of the server
        # while the agent uploads; the agent backs off and resumes.
        self.wait_midway()
        self.stack.kill("server", signal.SIGKILL)
        time.sleep(1)
        self.stack.start_server()
        self.assertEqual(self.stack.login()[0], 200)
        self.wait_midway(below=self.stack.calls)
        rc = self.stack.kill("server", signal.SIGTERM)
        self.assertEqual(rc, 0, "graceful stop exits 0")
        time.sleep(1)
        self.stack.start_server()
        self.assertEqual(self.stack.login()[0], 200)
        wait_until(lambda: self.stack.total_calls() == self.stack.calls, 180, "all calls after server restarts")
        time.sleep(1.5)
        assert_exactly_once(self, self.stack)


class Configuration(unittest.TestCase):
    def serve_with(self, stack, old, new):
        text = open(stack.config).read()
        self.assertIn(old, text)
        open(stack.config, "w").write(text.replace(old, new, 1))
        return subprocess.run([os.path.join(BIN, "parley"), "serve", "--config", stack.config],
                              capture_output=True, text=True, timeout=30)

    def test_bad_configuration_exits_2_naming_the_key(self):
        # A wrong type and an unknown key each stop start-up with exit 2 and the key named.
        stack = Stack(calls=1)
        try:
            p = self.serve_with(stack, "# session_idle_minutes = 30", 'session_idle_minutes = "soon"')
            self.assertEqual(p.returncode, 2, p.stderr)
            self.assertIn("portal.session_idle_minutes", p.stderr)
            p = self.serve_with(stack, 'session_idle_minutes = "soon"', "listen_everywhere = true")
            self.assertEqual(p.returncode, 2, p.stderr)
            self.assertIn("portal.listen_everywhere", p.stderr)
        finally:
            stack.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)

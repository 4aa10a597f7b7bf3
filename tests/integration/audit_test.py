"""Audit log end to end: real server, real agent data, real `parley audit verify`.

Signs in (failed and successful), reads CDR pages with personal data, views
and exports the log, signs out; then checks that the log holds no personal
data, that `parley audit verify` passes, and that altering, deleting (middle
and last), swapping entries and changing a prev_hash in the SQLite file are
each reported with exit status 1 and the bad seq.
"""
import json
import os
import signal
import sqlite3
import subprocess
import sys
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
from harness import BIN, Stack, wait_until  # noqa: E402
from slice_test import personal_strings  # noqa: E402

UNKNOWN_EMAIL = "nobody-here@elsewhere.example"


class AuditLogTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.stack = Stack(calls=60)
        cls.stack.start_all()
        wait_until(lambda: cls.stack.login()[0] == 200 and cls.stack.total_calls() > 0, 120, "calls ingested")
        cls.stack.cookie = None
        cls.db = os.path.join(cls.stack.server_dir, "parley.db")

    @classmethod
    def tearDownClass(cls):
        cls.stack.close()

    def verify(self, *extra):
        return subprocess.run([os.path.join(BIN, "parley"), "audit", "verify", "--config", self.stack.config, *extra],
                              capture_output=True, text=True, timeout=60)

    def rows(self, sql, args=()):
        con = sqlite3.connect(self.db)
        try:
            return con.execute(sql, args).fetchall()
        finally:
            con.close()

    def test_1_events_are_recorded_without_personal_data(self):
        s = self.stack
        self.assertEqual(s.login(password="wrong-password-123")[0], 401)
        self.assertEqual(s.login(email=UNKNOWN_EMAIL, password="wrong-password-123")[0], 401)
        self.assertEqual(s.login()[0], 200)
        calls = s.all_calls()
        self.assertGreater(len(calls), 0)
        self.assertEqual(s.get("/api/v1/conferences?limit=5")[0], 200)

        status, page, _ = s.get("/api/v1/audit?limit=500")
        self.assertEqual(status, 200, page)
        actions = [(e["action"], e["outcome"]) for e in page["entries"]]
        self.assertIn(("auth.login", "success"), actions)
        self.assertIn(("cdr.view", "success"), actions)
        self.assertIn(("agent.enroll", "success"), actions)
        self.assertIn(("auth.login", "failure"), actions)  # the wrong password for the known account
        seqs = [e["seq"] for e in page["entries"]]
        self.assertEqual(seqs, sorted(seqs, reverse=True))
        self.assertEqual(page["head"]["seq"], seqs[0])
        view = next(e for e in page["entries"] if e["action"] == "cdr.view" and e["target"] == "calls")
        self.assertGreater(view["details"]["records"], 0)

        # Read raw: the harness would parse an NDJSON body as one JSON document.
        req = urllib.request.Request(f"https://127.0.0.1:{s.portal_port}/api/v1/audit/export",
                                     headers={"Cookie": s.cookie})
        with urllib.request.urlopen(req, context=s.portal_ctx, timeout=30) as r:
            self.assertEqual(r.status, 200)
            self.assertIn("attachment", r.headers["Content-Disposition"])
            self.assertIn("application/x-ndjson", r.headers["Content-Type"])
            body = r.read()
        lines = [l for l in body.decode().splitlines() if l]
        self.assertTrue(all(json.loads(l)["entry_hash"] for l in lines))
        self.assertIn('"action":"audit.export"', lines[-1])
        self.assertEqual(len(lines), page["head"]["seq"] + 1)  # + the export's own entry

        self.assertEqual(s.request("POST", "/api/v1/auth/logout", headers={"X-CSRF-Token": s.csrf})[0], 204)
        s.cookie = None
        self.assertEqual(s.get("/api/v1/audit")[0], 401)

        # The unknown address went to the platform chain, by blind-index prefix.
        platform = self.rows("SELECT actor, target, details_json FROM audit_log WHERE tenant_id = 'platform'")
        self.assertTrue(any(t.startswith("email_index:") for _, t, _ in platform), platform)

        everything = "\n".join("|".join(str(v) for v in row) for row in self.rows("SELECT * FROM audit_log"))
        everything += "\n".join("|".join(str(v) for v in row) for row in self.rows("SELECT * FROM chain_heads"))
        forbidden = {"admin@demo.example", UNKNOWN_EMAIL, "demo.example", "elsewhere.example", "127.0.0.1"}
        forbidden |= personal_strings(s.expected_calls())
        for value in forbidden:
            self.assertNotIn(value, everything, f"personal data {value!r} in the audit log")

        r = self.verify()
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("audit verify: OK", r.stdout)

    def test_2_tampering_is_detected_by_parley_audit_verify(self):
        s = self.stack
        s.kill("agent", signal.SIGTERM)
        s.kill("server", signal.SIGTERM)
        tenant = self.rows("SELECT tenant_id FROM audit_log WHERE tenant_id != 'platform'"
                           " GROUP BY tenant_id ORDER BY COUNT(*) DESC LIMIT 1")[0][0]
        last = self.rows("SELECT MAX(seq) FROM audit_log WHERE tenant_id = ?", (tenant,))[0][0]
        self.assertGreaterEqual(last, 5)
        pristine = os.path.join(s.dir, "pristine.db")
        src = sqlite3.connect(self.db)
        dst = sqlite3.connect(pristine)
        src.backup(dst)
        src.close()
        dst.close()
        t = f"tenant_id = '{tenant}'"
        cases = [
            ("altered actor", f"UPDATE audit_log SET actor = 'user:forged' WHERE seq = 2 AND {t}", 2),
            ("altered details", f"UPDATE audit_log SET details_json = '{{}}' WHERE seq = 3 AND {t}", 3),
            ("deleted middle", f"DELETE FROM audit_log WHERE seq = 3 AND {t}", 3),
            ("deleted last", f"DELETE FROM audit_log WHERE seq = {last} AND {t}", last),
            ("swapped", f"UPDATE audit_log SET seq = seq + 1000000 WHERE seq IN (2, 4) AND {t};"
                        f"UPDATE audit_log SET seq = 1000006 - seq WHERE seq IN (1000002, 1000004) AND {t}", 2),
            ("prev_hash", f"UPDATE audit_log SET prev_hash = '{'0' * 64}' WHERE seq = 4 AND {t}", 4),
        ]
        for name, sql, bad_seq in cases:
            with self.subTest(name):
                src = sqlite3.connect(pristine)
                dst = sqlite3.connect(self.db)
                src.backup(dst)
                src.close()
                dst.executescript(sql)
                dst.commit()
                dst.close()
                r = self.verify()
                self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
                self.assertIn(f"TAMPERED at seq {bad_seq}:", r.stdout)
                r = self.verify("--tenant", tenant)
                self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
                self.assertIn(f"TAMPERED at seq {bad_seq}:", r.stdout)
        # Restored: intact again.
        src = sqlite3.connect(pristine)
        dst = sqlite3.connect(self.db)
        src.backup(dst)
        src.close()
        dst.close()
        r = self.verify()
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)


if __name__ == "__main__":
    unittest.main()

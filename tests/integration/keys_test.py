"""`parley keys rotate` against a running deployment: emulated DMA -> agent
-> mutual TLS -> parley serve (SQLite), real processes on loopback.

While the agent keeps uploading, the master key is rotated and then the
tenant's data key; the server is never restarted for it. Afterwards every
call is stored exactly once and reads back with its personal data, sign-in
still works (the blind-index key survived), the key file holds one new key,
and a data-key rotation killed mid-sweep resumes when run again.
"""
import os
import signal
import sqlite3
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import slice_test  # noqa: E402
from harness import BIN, TENANT, Stack, wait_until  # noqa: E402

PARLEY = os.path.join(BIN, "parley")


class KeyRotationWhileServing(unittest.TestCase):
    def setUp(self):
        # A short data-key cache so the rotation's grace period is short too.
        self.stack = Stack(calls=3000, batch_records=25,
                           server_overrides={("keys", "data_key_cache_seconds"): "2"})
        self.stack.start_all()
        self.assertEqual(self.stack.login()[0], 200)
        self.key_file = os.path.join(self.stack.server_dir, "master.key")

    def tearDown(self):
        self.stack.close()

    def parley(self, *args, check=True):
        p = subprocess.run([PARLEY, *args, "--config", self.stack.config], capture_output=True, text=True,
                           timeout=600)
        if check:
            self.assertEqual(p.returncode, 0, f"parley {' '.join(args)}: {p.stdout}\n{p.stderr}")
        return p

    def assert_calls_read_back(self):
        by_id = {c["id"]: c for c in slice_test.assert_exactly_once(self, self.stack)}
        for e in self.stack.expected_calls():
            self.assertEqual(by_id[e["id"]]["orig"]["name"], e["orig_name"])
            self.assertEqual(by_id[e["id"]]["dest"]["number"], e["dest_number"])

    def test_master_then_data_key_rotation_during_ingest(self):
        wait_until(lambda: self.stack.total_calls() >= 300, 120, "ingest under way")
        with open(self.key_file) as f:
            old_file = f.read()
        status = self.parley("keys", "status").stdout
        old_id = status.split()[2]
        self.assertIn("(active)", status)

        out = self.parley("keys", "rotate").stdout
        self.assertIn("is active", out)
        with open(self.key_file) as f:
            new_file = f.read()
        self.assertEqual(len(new_file.split()), 1, "the old key left the file")
        self.assertNotEqual(new_file, old_file)
        self.assertIn(old_id, out, "the dropped key is named")

        out = self.parley("keys", "rotate", "--tenant", TENANT, "--data-key").stdout
        self.assertIn("new data key in use", out)
        self.assertGreater(self.stack.total_calls(), 0)

        # The server was never restarted: it ingests and reads on.
        wait_until(lambda: self.stack.total_calls() == self.stack.calls, 240, "every call after the rotations")
        time.sleep(1.5)
        self.assert_calls_read_back()
        status = self.parley("keys", "status").stdout
        self.assertNotIn(old_id, status)
        self.assertNotIn("under way", status)
        self.parley("audit", "verify")

        # A restarted server starts with the new key file; sign-in by e-mail
        # (blind index) and the personal data still work.
        self.stack.kill("server")
        self.stack.start_server()
        self.stack.cookie = None
        self.assertEqual(self.stack.login()[0], 200)
        self.assert_calls_read_back()

    def test_killed_data_key_rotation_resumes(self):
        wait_until(lambda: self.stack.total_calls() == self.stack.calls, 240, "every call")
        # One value per transaction makes the sweep slow enough to kill it.
        # The grace period (5 s) must exceed the servers' key cache (2 s):
        # before the sweep starts, every server must know the new key.
        p = subprocess.Popen([PARLEY, "keys", "rotate", "--config", self.stack.config, "--tenant", TENANT,
                              "--data-key", "--grace-seconds", "5", "--batch-rows", "1"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        # Killed once its saved cursor is among the calls: mid-sweep.
        db = sqlite3.connect(f"file:{os.path.join(self.stack.server_dir, 'parley.db')}?mode=ro", uri=True)
        cursor = lambda: db.execute("SELECT rotation_cursor FROM tenants WHERE name = ?", (TENANT,)).fetchone()[0]
        deadline = time.time() + 60
        while not cursor().startswith('["call"') and p.poll() is None and time.time() < deadline:
            time.sleep(0.01)
        self.assertIsNone(p.poll(), "the rotation finished before it could be killed")
        p.send_signal(signal.SIGKILL)
        p.wait()
        db.close()
        status = self.parley("keys", "status").stdout
        self.assertIn("under way", status)
        # Mid-rotation the server reads old and new values alike.
        self.assert_calls_read_back()

        out = self.parley("keys", "rotate", "--tenant", TENANT, "--data-key", "--grace-seconds", "5").stdout
        self.assertIn("resumed an interrupted rotation", out)
        self.assertNotIn("under way", self.parley("keys", "status").stdout)
        time.sleep(2.5)  # the server's cached keys expire (data_key_cache_seconds = 2)
        self.assert_calls_read_back()


if __name__ == "__main__":
    unittest.main(verbosity=2)

"""Browser test: real Chromium (playwright-core) against a real server, agent
and emulated DMA. Signs in to the portal and sees the calls table filled."""
import base64
import hashlib
import json
import os
import subprocess
import sys
import unittest
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
from harness import DEMO_PASSWORD, REPO, Stack, wait_until  # noqa: E402


class PortalInChromium(unittest.TestCase):
    def test_sign_in_and_see_calls(self):
        stack = Stack(calls=120, batch_records=50)
        try:
            stack.start_all()
            self.assertEqual(stack.login()[0], 200)
            wait_until(lambda: stack.total_calls() == stack.calls, 120, "calls ingested")
            # One record with a clock that was never set: the Agents page
            # lists it under "Refused records".
            body = json.dumps({"type": "call", "source": "manual", "id": "clock-unset", "start": "1970-01-01T00:00:10Z",
                               "end": "1970-01-01T00:01:10Z", "duration_s": 60, "status": "completed",
                               "protocol": "SIP", "call_type": "PT-PT", "orig": {}, "dest": {}}).encode()
            sha = base64.b64encode(hashlib.sha256(body).digest()).decode()
            status, answer = stack.ingest("POST", "/ingest/v1/batches", body, {
                "Content-Type": "application/x-ndjson", "Idempotency-Key": str(uuid.uuid4()),
                "Content-Digest": f"sha-256=:{sha}:"})
            self.assertEqual((status, answer["quarantined"]), (200, 1), answer)
            shots = os.environ.get("SCREENSHOT_DIR", os.path.join(stack.dir, "screenshots"))
            env = dict(os.environ, PARLEY_URL=f"https://127.0.0.1:{stack.portal_port}/",
                       PARLEY_EMAIL="admin@demo.example", PARLEY_PASSWORD=DEMO_PASSWORD,
                       MIN_ROWS="50", MIN_REFUSED="1", SCREENSHOT_DIR=shots)
            p = subprocess.run(["node", "e2e/login.e2e.mjs"], cwd=os.path.join(REPO, "web"), env=env,
                               capture_output=True, text=True, timeout=300)
            print(p.stdout, p.stderr)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
            self.assertIn("e2e: 3 passed, 0 failed", p.stdout)
        finally:
            stack.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)

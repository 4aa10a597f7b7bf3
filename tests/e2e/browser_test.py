"""Browser test: real Chromium (playwright-core) against a real server, agent
and emulated DMA. Signs in to the portal and sees the calls table filled."""
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
from harness import DEMO_PASSWORD, REPO, Stack, wait_until  # noqa: E402


class PortalInChromium(unittest.TestCase):
    def test_sign_in_and_see_calls(self):
        stack = Stack(calls=120, batch_records=50)
        try:
            stack.start_all()
            self.assertEqual(stack.login()[0], 200)
            wait_until(lambda: stack.total_calls() == stack.calls, 120, "calls ingested")
            shots = os.environ.get("SCREENSHOT_DIR", os.path.join(stack.dir, "screenshots"))
            env = dict(os.environ, PARLEY_URL=f"https://127.0.0.1:{stack.portal_port}/",
                       PARLEY_EMAIL="admin@demo.example", PARLEY_PASSWORD=DEMO_PASSWORD,
                       MIN_ROWS="50", SCREENSHOT_DIR=shots)
            p = subprocess.run(["node", "e2e/login.e2e.mjs"], cwd=os.path.join(REPO, "web"), env=env,
                               capture_output=True, text=True, timeout=300)
            print(p.stdout, p.stderr)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
            self.assertIn("e2e: 3 passed, 0 failed", p.stdout)
        finally:
            stack.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)

"""Browser test: self-registration and password reset in real Chromium
(playwright-core) against a real server using the demo default for mail,
the outbox directory: the link is read from the .eml file the server wrote."""
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
from harness import REPO, Stack  # noqa: E402


class RegistrationInChromium(unittest.TestCase):
    def test_register_and_reset_via_the_outbox(self):
        stack = Stack(calls=0)
        try:
            stack.start_server()
            outbox = os.path.join(stack.server_dir, "outbox")  # mail.outbox_dir's default, beside parley.toml
            shots = os.environ.get("SCREENSHOT_DIR", os.path.join(stack.dir, "screenshots"))
            env = dict(os.environ, PARLEY_URL=f"https://127.0.0.1:{stack.portal_port}/", OUTBOX_DIR=outbox,
                       NEW_EMAIL="grace.hopper@demo.example", SCREENSHOT_DIR=shots)
            p = subprocess.run(["node", "e2e/register.e2e.mjs"], cwd=os.path.join(REPO, "web"), env=env,
                               capture_output=True, text=True, timeout=300)
            print(p.stdout, p.stderr)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
            self.assertIn("e2e: 2 passed, 0 failed", p.stdout)
            self.assertNotIn("grace.hopper@demo.example", stack.log("server"), "the server log names no address")
        finally:
            stack.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)

"""Browser test of sign-in hardening and the platform admin's portal: real
Chromium (playwright-core) against a real `parley serve`.

 * web/e2e/security.e2e.mjs: two-factor enrolment in the Account page,
   sign-in with password + code, sign out, sign out everywhere (a second
   browser's session ends too); the platform admin creates and edits a
   tenant and opens Agents health.
 * Here, over the JSON API: a TOTP code computed in Python (hmac/hashlib,
   RFC 6238) — an implementation independent of the server's — signs in, and
   the same code is refused a second time.
"""
import base64
import hashlib
import hmac
import os
import struct
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
from harness import BIN, DEMO_PASSWORD, REPO, Stack  # noqa: E402

PLATFORM_EMAIL = "ops@platform.example"
PLATFORM_PASSWORD = "quiet harbour lantern 52"


def totp(secret_b32, at=None, step=30, digits=6):
    """RFC 6238 (HMAC-SHA-1) from the standard library."""
    secret = base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8))
    counter = int((time.time() if at is None else at) // step)
    mac = hmac.new(secret, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    value = struct.unpack(">I", mac[offset:offset + 4])[0] & 0x7FFFFFFF
    return str(value % 10 ** digits).zfill(digits)


class RfcVectors(unittest.TestCase):
    def test_python_totp_matches_rfc6238(self):
        secret = base64.b32encode(b"12345678901234567890").decode()
        for t, code in ((59, "94287082"), (1111111109, "07081804"), (2000000000, "69279037")):
            self.assertEqual(totp(secret, t, digits=8), code)


class SecurityInChromium(unittest.TestCase):
    def test_two_factor_and_platform_admin(self):
        stack = Stack(calls=10)
        try:
            env = dict(os.environ, PARLEY_USER_PASSWORD=PLATFORM_PASSWORD)
            stack.run([os.path.join(BIN, "parley"), "user", "create", "--config", stack.config, "--tenant", "platform",
                       "--email", PLATFORM_EMAIL, "--role", "platform_admin"], env=env)
            stack.start_server()

            # 1. The API with a code computed here.
            self.assertEqual(stack.login()[0], 200)
            h = {"X-CSRF-Token": stack.csrf}
            status, setup, _ = stack.request("POST", "/api/v1/account/totp/setup", {"password": DEMO_PASSWORD}, h)
            self.assertEqual(status, 200, setup)
            self.assertTrue(setup["otpauth_uri"].startswith("otpauth://totp/Parley:admin%40demo.example?secret="))
            code = totp(setup["secret"])
            status, body, _ = stack.request("POST", "/api/v1/account/totp/confirm", {"code": code}, h)
            self.assertEqual(status, 200, body)
            stack.cookie = None
            status, body, _ = stack.request("POST", "/api/v1/auth/login",
                                            {"email": "admin@demo.example", "password": DEMO_PASSWORD})
            self.assertEqual((status, body["error"]), (401, "second_factor_required"))
            # The confirming code is spent; the next step's code signs in once.
            status, body, _ = stack.request("POST", "/api/v1/auth/login", {
                "email": "admin@demo.example", "password": DEMO_PASSWORD, "totp": code})
            self.assertEqual((status, body["error"]), (401, "second_factor_invalid"))
            t_later = time.time() + 30
            later, later_step = totp(setup["secret"], t_later), int(t_later // 30)
            status, body, headers = stack.request("POST", "/api/v1/auth/login", {
                "email": "admin@demo.example", "password": DEMO_PASSWORD, "totp": later})
            self.assertEqual(status, 200, body)
            self.assertTrue(body["user"]["totp_enabled"])
            stack.cookie = headers["Set-Cookie"].split(";")[0]
            h = {"X-CSRF-Token": body["csrf_token"]}
            # Turn it off again (password + an unused code) for the browser
            # test: once the clock is in `later`'s step, the next step's code
            # is inside the +-1 window and newer than any used.
            time.sleep(max(0.0, later_step * 30 + 1 - time.time()))
            status, body, _ = stack.request("POST", "/api/v1/account/totp/disable", {
                "password": DEMO_PASSWORD, "code": totp(setup["secret"], time.time() + 30)}, h)
            self.assertEqual(status, 200, body)

            # 2. Chromium.
            shots = os.environ.get("SCREENSHOT_DIR", os.path.join(stack.dir, "screenshots"))
            env = dict(os.environ, PARLEY_URL=f"https://127.0.0.1:{stack.portal_port}/",
                       PARLEY_EMAIL="admin@demo.example", PARLEY_PASSWORD=DEMO_PASSWORD,
                       PARLEY_PLATFORM_EMAIL=PLATFORM_EMAIL, PARLEY_PLATFORM_PASSWORD=PLATFORM_PASSWORD,
                       SCREENSHOT_DIR=shots)
            p = subprocess.run(["node", "e2e/security.e2e.mjs"], cwd=os.path.join(REPO, "web"), env=env,
                               capture_output=True, text=True, timeout=400)
            print(p.stdout, p.stderr)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
            self.assertIn("e2e: 2 passed, 0 failed", p.stdout)
        finally:
            stack.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)

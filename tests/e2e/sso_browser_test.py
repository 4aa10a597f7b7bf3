"""Browser test of SAML single sign-on: real Chromium (playwright-core), a real
server and the pysaml2 test IdP served on another site (http://localhost).
The person picks "Sign in with SSO" on the login page, the IdP's form posts
the signed response cross-site to /saml/acs, and the portal shows them signed
in with the mapped role; then sign-out. The tenant admin's settings page
shows the IdP and saves a mapping. See web/e2e/sso.e2e.mjs."""
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "support"))
from harness import BIN, DEMO_PASSWORD, REPO, Stack  # noqa: E402
from saml_idp import TestIdP  # noqa: E402


class SsoInChromium(unittest.TestCase):
    def test_sso_sign_in_and_out(self):
        stack = Stack(calls=0)
        idp = None
        try:
            stack.start_server()
            status, md, _ = stack.get("/saml/metadata")
            self.assertEqual(status, 200)
            idp = TestIdP(os.path.join(stack.dir, "idp"), md.decode())
            idp.serve(user_email="grace@demo.example", groups=("Parley Analysts",))
            meta = os.path.join(stack.dir, "idp-metadata.xml")
            with open(meta, "w") as f:
                f.write(idp.metadata())
            stack.run([os.path.join(BIN, "parley"), "tenant", "sso", "set", "--config", stack.config, "--tenant",
                       "Demo Organisation", "--idp-metadata", meta, "--role-map", "Parley Analysts=analyst"])
            shots = os.environ.get("SCREENSHOT_DIR", os.path.join(stack.dir, "screenshots"))
            env = dict(os.environ, PARLEY_URL=f"https://127.0.0.1:{stack.portal_port}/", SSO_ORG="demo.example",
                       SSO_EMAIL="grace@demo.example", SSO_ROLE="analyst", ADMIN_EMAIL="admin@demo.example",
                       ADMIN_PASSWORD=DEMO_PASSWORD, IDP_ENTITY_ID=idp.entity_id, SCREENSHOT_DIR=shots)
            p = subprocess.run(["node", "e2e/sso.e2e.mjs"], cwd=os.path.join(REPO, "web"), env=env,
                               capture_output=True, text=True, timeout=300)
            print(p.stdout, p.stderr)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
            self.assertIn("e2e: 3 passed, 0 failed", p.stdout)
            self.assertEqual(len(idp.requests_seen), 1, "one SP-initiated AuthnRequest reached the IdP")
        finally:
            if idp:
                idp.stop()
            stack.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)

"""SAML single sign-on end to end: a real `parley serve`, a real pysaml2 IdP
(tests/support/saml_idp.py) signing with its own key, Lasso on our side.

A valid response (assertion signed only, as ADFS does; or the response
signed) signs the person in, provisions the account just in time with the
role its groups map to, and the session works. Every bad response (unsigned,
wrong key, tampered, expired, not yet valid, wrong audience / recipient /
destination, SHA-1, XML signature wrapping, not bearer, IdP error status,
wrong or missing InResponseTo, unsolicited when not allowed, replayed,
foreign e-mail domain, no mapped role, unknown IdP, garbage) is refused with
an HTML error page naming the reason, no session cookie, and an audit entry
with that reason and no personal data.
"""
import http.client
import json
import os
import re
import sqlite3
import sys
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "support"))
from harness import BIN, Stack  # noqa: E402
from saml_idp import TestIdP  # noqa: E402

DOMAIN = "demo.example"
IDP_ORIGIN = "http://localhost:9"  # the IdP's page posts cross-site


class SamlSso(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.s = Stack(calls=0)
        cls.s.start_server()
        status, md, _ = cls.s.get("/saml/metadata")
        assert status == 200, (status, md)
        cls.sp_metadata = md.decode()
        cls.idp = TestIdP(os.path.join(cls.s.dir, "idp"), cls.sp_metadata)
        cls.idp_metadata_file = os.path.join(cls.s.dir, "idp-metadata.xml")
        with open(cls.idp_metadata_file, "w") as f:
            f.write(cls.idp.metadata())
        cls.sso_set("--idp-metadata", cls.idp_metadata_file, "--role-map",
                    "Parley Admins=tenant_admin,Parley Analysts=analyst", "--default-role", "viewer",
                    "--no-idp-initiated")
        # The harness's client is the local tenant admin (reads the audit log);
        # SSO traffic goes through self.http, which has no cookie jar.
        cls.admin = cls.s
        assert cls.admin.login()[0] == 200

    @classmethod
    def tearDownClass(cls):
        cls.s.close()

    @classmethod
    def sso_set(cls, *args):
        return cls.s.run([os.path.join(BIN, "parley"), "tenant", "sso", "set", "--config", cls.s.config,
                          "--tenant", "Demo Organisation", *args])

    # -- HTTP without a cookie jar or redirects ------------------------------
    def http(self, method, path, body=None, headers=None):
        conn = http.client.HTTPSConnection("127.0.0.1", self.s.portal_port, context=self.s.portal_ctx, timeout=30)
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        data = r.read()
        conn.close()
        return r.status, r.headers, data.decode(errors="replace")

    def start_login(self, tenant=DOMAIN):
        """GET /saml/login: returns (request id the IdP sees, browser cookie)."""
        status, headers, body = self.http("GET", "/saml/login?tenant=" + urllib.parse.quote(tenant))
        self.assertEqual(status, 303, body)
        location = headers["Location"]
        self.assertTrue(location.startswith(self.idp.sso_url + "?"), location)
        self.assertIn("SigAlg=" + urllib.parse.quote("http://www.w3.org/2001/04/xmldsig-more#rsa-sha256", safe=""),
                      location)
        request_id, acs = self.idp.parse_redirect(location.split("?", 1)[1])  # pysaml2 verifies the signature
        self.assertEqual(acs, f"https://127.0.0.1:{self.s.portal_port}/saml/acs")
        cookie = headers["Set-Cookie"]
        self.assertIn("SameSite=None", cookie)
        self.assertIn("Secure", cookie)
        return request_id, cookie.split(";")[0]

    def post_acs(self, b64, cookie=None):
        headers = {"Content-Type": "application/x-www-form-urlencoded", "Origin": IDP_ORIGIN}
        if cookie:
            headers["Cookie"] = cookie
        return self.http("POST", "/saml/acs", urllib.parse.urlencode({"SAMLResponse": b64}), headers)

    def session_cookie(self, headers):
        for value in headers.get_all("Set-Cookie") or []:
            if value.startswith("__Host-parley_session=") and not value.startswith("__Host-parley_session=;"):
                return value.split(";")[0]
        return None

    def audit_failures(self):
        status, page, _ = self.admin.get("/api/v1/audit?limit=500")
        self.assertEqual(status, 200, page)
        return [e for e in page["entries"] if e["action"] == "auth.login" and e["details"].get("method") == "saml"]

    def assertRefused(self, result, reasons, status=403):
        code, headers, body = result
        reasons = {reasons} if isinstance(reasons, str) else set(reasons)
        self.assertEqual(code, status, body[:400])
        self.assertTrue(headers["Content-Type"].startswith("text/html"), headers["Content-Type"])
        self.assertIn("Single sign-on failed", body)
        m = re.search(r"\(reason: ([a-z_]+)\)", body)
        self.assertIsNotNone(m, body)
        self.assertIn(m.group(1), reasons, body)
        self.assertNotIn("<script", body)
        self.assertIn("script-src 'self'", headers["Content-Security-Policy"])
        self.assertIsNone(self.session_cookie(headers), "a refused response must not create a session")
        # The newest audit entry of any chain (the tenant's, or the platform
        # chain when no tenant could be told), read from the store itself.
        con = sqlite3.connect(os.path.join(self.s.server_dir, "parley.db"))
        try:
            action, outcome, details = con.execute(
                "SELECT action, outcome, details_json FROM audit_log ORDER BY rowid DESC LIMIT 1").fetchone()
        finally:
            con.close()
        self.assertEqual((action, outcome), ("auth.login", "failure"))
        self.assertEqual(json.loads(details)["reason"], m.group(1))
        self.assertNotIn("@", details)
        return m.group(1)

    # -- the happy paths -------------------------------------------------------
    def test_01_metadata(self):
        self.assertIn(f'entityID="https://127.0.0.1:{self.s.portal_port}/saml/metadata"', self.sp_metadata)
        self.assertIn(f'Location="https://127.0.0.1:{self.s.portal_port}/saml/acs"', self.sp_metadata)
        self.assertIn('AuthnRequestsSigned="true"', self.sp_metadata)
        self.assertIn("X509Certificate", self.sp_metadata)

    def sign_in(self, variant="valid", email="alice@demo.example", groups=("Parley Admins",)):
        request_id, cookie = self.start_login()
        code, headers, body = self.post_acs(self.idp.response(variant, request_id, email, groups), cookie)
        self.assertEqual(code, 200, body[:500])
        # The continue page moves on same-origin (meta refresh, no script).
        self.assertIn('http-equiv="refresh" content="0;url=/"', body)
        self.assertNotIn("<script", body)
        session = self.session_cookie(headers)
        self.assertIsNotNone(session)
        self.assertIn("SameSite=Strict", [v for v in headers.get_all("Set-Cookie") if v.startswith(session)][0])
        status, _, raw = self.http("GET", "/api/v1/session", headers={"Cookie": session})
        self.assertEqual(status, 200, raw)
        return session, json.loads(raw)

    def test_02_valid_assertion_signed_signs_in_with_mapped_role(self):
        session, info = self.sign_in("valid", groups=("Parley Admins",))
        self.assertEqual(info["user"]["email"], "alice@demo.example")
        self.assertEqual(info["user"]["role"], "tenant_admin")
        self.assertEqual(info["tenant"]["name"], "Demo Organisation")
        self.assertTrue(info["csrf_token"])
        # The session is a full one: a tenant-admin route works, and sign-out ends it.
        status, _, users = self.http("GET", "/api/v1/users", headers={"Cookie": session})
        self.assertEqual(status, 200, users)
        self.assertIn('"email":"alice@demo.example"', users)
        self.assertIn('"sso_only":true', users)
        status, _, _ = self.http("POST", "/api/v1/auth/logout",
                                 headers={"Cookie": session, "X-CSRF-Token": info["csrf_token"],
                                          "Origin": f"https://127.0.0.1:{self.s.portal_port}"})
        self.assertEqual(status, 204)
        self.assertEqual(self.http("GET", "/api/v1/session", headers={"Cookie": session})[0], 401)
        ok = [e for e in self.audit_failures() if e["outcome"] == "success"]
        self.assertTrue(ok and ok[0]["details"]["provisioned"] in (True, False))
        self.assertTrue(any(e["details"]["provisioned"] for e in ok))

    def test_03_response_signed_and_role_mapping(self):
        _, info = self.sign_in("valid_response_signed", email="bob@demo.example", groups=("Parley Analysts",))
        self.assertEqual(info["user"]["role"], "analyst")
        _, info = self.sign_in("valid_both_signed", email="carol@demo.example", groups=())
        self.assertEqual(info["user"]["role"], "viewer")  # the default role
        # The IdP's groups decide the role at every sign-in.
        _, info = self.sign_in("valid", email="carol@demo.example", groups=("Parley Analysts", "Other"))
        self.assertEqual(info["user"]["role"], "analyst")

    # -- refusals -------------------------------------------------------------
    def test_04_bad_responses_are_refused(self):
        expected = {
            "unsigned": "unsigned",
            "wrong_key": "bad_signature",
            "tampered": "bad_signature",
            "expired": "expired",
            "not_yet_valid": "not_yet_valid",
            "wrong_audience": "wrong_audience",
            "wrong_recipient": "wrong_recipient",
            "wrong_destination": "wrong_destination",
            "sha1": "weak_signature_algorithm",
            # XML signature wrapping: Lasso or our shape checks, whichever sees it first.
            "xsw_extra_assertion": ("unsigned", "assertion_count"),
            "xsw_nested": ("assertion_count", "unsigned", "invalid_response"),
            "xsw_moved_signature": ("bad_signature", "unsigned"),
            "xsw_extensions": ("unsigned", "assertion_count"),
            "no_bearer": "not_bearer",
            "idp_error_status": "idp_refused",
        }
        seen = {}
        for variant, reasons in expected.items():
            with self.subTest(variant=variant):
                request_id, cookie = self.start_login()
                seen[variant] = self.assertRefused(
                    self.post_acs(self.idp.response(variant, request_id, "alice@demo.example"), cookie), reasons)
        print("refusals:", seen)

    def test_05_in_response_to(self):
        request_id, cookie = self.start_login()
        other_id, _ = self.start_login()
        # A valid response to another request of this server.
        self.assertRefused(self.post_acs(self.idp.response("valid", other_id, "alice@demo.example"), cookie),
                           "wrong_in_response_to")
        # A valid response without InResponseTo while this browser has a request pending.
        request_id, cookie = self.start_login()
        self.assertRefused(self.post_acs(self.idp.response("valid", None, "alice@demo.example"), cookie),
                           "wrong_in_response_to")
        # The request is single use: the right answer, posted after a refusal used it up.
        self.assertRefused(self.post_acs(self.idp.response("valid", request_id, "alice@demo.example"), cookie),
                           ("unsolicited", "wrong_in_response_to"))

    def test_06_unsolicited_needs_the_tenant_setting_and_replay_is_refused(self):
        self.assertRefused(self.post_acs(self.idp.response("valid", None, "alice@demo.example")), "unsolicited")
        self.sso_set("--idp-initiated")
        try:
            b64 = self.idp.response("valid", None, "dave@demo.example", ("Parley Analysts",))
            code, headers, body = self.post_acs(b64)
            self.assertEqual(code, 200, body[:400])
            self.assertIsNotNone(self.session_cookie(headers))
            self.assertRefused(self.post_acs(b64), "replay")
            # A response answering a request nobody holds is not taken as IdP-initiated.
            self.assertRefused(self.post_acs(self.idp.response("valid", "_made_up_id", "dave@demo.example")),
                               "wrong_in_response_to")
        finally:
            self.sso_set("--no-idp-initiated")

    def test_07_identity_rules(self):
        request_id, cookie = self.start_login()
        self.assertRefused(self.post_acs(self.idp.response("valid", request_id, "eve@other.example"), cookie),
                           "foreign_domain")
        self.sso_set("--default-role", "none")
        try:
            request_id, cookie = self.start_login()
            self.assertRefused(self.post_acs(self.idp.response("valid", request_id, "frank@demo.example", ()), cookie),
                               "no_role")
        finally:
            self.sso_set("--default-role", "viewer")

    def test_08_unknown_idp_and_garbage(self):
        stranger = TestIdP(os.path.join(self.s.dir, "stranger"), self.sp_metadata, entity_id="https://evil.test/idp")
        self.assertRefused(self.post_acs(stranger.response("valid", None, "alice@demo.example")), "unknown_issuer")
        # A stranger's response to this browser's request: Lasso knows only the tenant's IdP.
        request_id, cookie = self.start_login()
        self.assertRefused(self.post_acs(stranger.response("valid", request_id, "alice@demo.example"), cookie),
                           "unknown_issuer")
        self.assertRefused(self.post_acs("bm90IHhtbA=="), "malformed", status=400)
        self.assertRefused(self.http("POST", "/saml/acs", "{}", {"Content-Type": "application/json"}), "malformed",
                           status=400)
        # SSO for an organisation that does not use it: a page, not a redirect.
        code, headers, body = self.http("GET", "/saml/login?tenant=nobody.example")
        self.assertEqual(code, 404)
        self.assertIn("Single sign-on is not available", body)

    def test_09_audit_has_no_personal_data_and_sso_changes_are_audited(self):
        status, page, _ = self.admin.get("/api/v1/audit?limit=500")
        self.assertEqual(status, 200)
        text = str(page)
        for personal in ("alice@", "bob@", "carol@", "dave@", "eve@", "frank@", "mallory@", "attacker@"):
            self.assertNotIn(personal, text)
        changes = [e for e in page["entries"] if e["action"] == "sso.config"]
        self.assertGreaterEqual(len(changes), 3)
        self.assertEqual(changes[-1]["actor"], "cli")
        self.assertEqual(changes[-1]["details"]["idp_entity_id"], self.idp.entity_id)
        verify = self.s.run([os.path.join(BIN, "parley"), "audit", "verify", "--config", self.s.config])
        self.assertIn("audit verify: OK", verify.stdout)


if __name__ == "__main__":
    unittest.main(verbosity=2)

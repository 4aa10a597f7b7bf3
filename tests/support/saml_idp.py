"""A test SAML 2.0 identity provider built on pysaml2 (Debian python3-pysaml2).

It loads Parley's SP metadata, signs with its own RSA test key through
pysaml2's xmlsec1 backend (SHA-256, exclusive c14n), and behaves like ADFS by
default: the assertion is signed, the response is not, claims use the ADFS
claim URIs. `response(variant)` also produces every kind of bad response the
SP must refuse (see VARIANTS). `serve()` runs a tiny HTTP IdP for browser
tests: GET /sso takes the SP's HTTP-Redirect AuthnRequest (pysaml2 checks its
signature) and answers a page with an HTML form that posts the response to
the SP's ACS when its button is clicked (no script).

Standard library + pysaml2 only; run with /usr/bin/python3.
"""
import base64
import datetime
import html
import http.server
import os
import re
import subprocess
import threading
import urllib.parse

from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT, saml, samlp
from saml2.config import IdPConfig
from saml2.metadata import create_metadata_string
from saml2.s_utils import sid
from saml2.server import Server
from saml2.sigver import RSACrypto, pre_signature_part, verify_redirect_signature
from saml2.xmldsig import DIGEST_SHA1, DIGEST_SHA256, SIG_RSA_SHA1, SIG_RSA_SHA256

XMLSEC = "/usr/bin/xmlsec1"
EMAIL_CLAIM = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress"
UPN_CLAIM = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn"
NAME_CLAIM = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name"
GROUP_CLAIM = "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups"
ROLE_CLAIM = "http://schemas.microsoft.com/ws/2008/06/identity/claims/role"

# Every response kind the helper makes; all but "valid", "valid_response_signed"
# and "valid_both_signed" must be refused by the SP.
VARIANTS = [
    "valid",                    # assertion signed only (as ADFS does)
    "valid_response_signed",    # response signed only
    "valid_both_signed",
    "unsigned",
    "wrong_key",                # signed by a key that is not in the IdP metadata
    "tampered",                 # signed, then the e-mail changed
    "expired",                  # Conditions and SubjectConfirmationData ended 1 h ago
    "not_yet_valid",            # starts in 1 h
    "wrong_audience",
    "wrong_recipient",
    "wrong_destination",
    "sha1",                     # signed with rsa-sha1 / sha1
    "xsw_extra_assertion",      # a forged unsigned assertion before the signed one
    "xsw_nested",               # the signed assertion wrapped inside a forged one
    "xsw_moved_signature",      # the assertion's signature moved to the response
    "xsw_extensions",           # signed assertion hidden in Extensions, forged one in its place
    "no_bearer",                # SubjectConfirmation Method holder-of-key
    "idp_error_status",         # StatusCode Responder, no assertion
]


def _now():
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)


def _iso(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def make_key_pair(directory, name, cn):
    key = os.path.join(directory, f"{name}.key")
    cert = os.path.join(directory, f"{name}.crt")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256", "-days", "30",
                    "-subj", f"/CN={cn}", "-keyout", key, "-out", cert], check=True, capture_output=True)
    return key, cert


def _cert_b64(cert_file):
    with open(cert_file) as f:
        pem = f.read()
    return "".join(pem.split("-----BEGIN CERTIFICATE-----")[1].split("-----END CERTIFICATE-----")[0].split())


class TestIdP:
    def __init__(self, directory, sp_metadata_xml, entity_id="https://idp.test/adfs/services/trust",
                 sso_url="http://localhost:1/sso"):
        os.makedirs(directory, exist_ok=True)
        self.dir = directory
        self.entity_id = entity_id
        self.sso_url = sso_url
        self.key, self.cert = make_key_pair(directory, "idp", "Test IdP signing")
        self.wrong_key, self.wrong_cert = make_key_pair(directory, "wrong", "Not the IdP")
        self.sp_metadata_file = os.path.join(directory, "sp-metadata.xml")
        with open(self.sp_metadata_file, "w") as f:
            f.write(sp_metadata_xml)
        m = re.search(r'entityID="([^"]+)"', sp_metadata_xml)
        self.sp_entity_id = html.unescape(m.group(1))
        m = re.search(r'AssertionConsumerService[^>]*Location="([^"]+)"', sp_metadata_xml)
        self.acs_url = html.unescape(m.group(1))
        m = re.search(r"<ds:X509Certificate>([^<]+)</ds:X509Certificate>", sp_metadata_xml)
        self.sp_cert_b64 = "".join(m.group(1).split())
        self._build_server()

    def _config(self):
        return {
            "entityid": self.entity_id,
            "key_file": self.key,
            "cert_file": self.cert,
            "xmlsec_binary": XMLSEC,
            "metadata": {"local": [self.sp_metadata_file]},
            "service": {"idp": {
                "endpoints": {"single_sign_on_service": [(self.sso_url, BINDING_HTTP_REDIRECT)]},
                # The HTTP-Redirect signature is over the query string, which
                # parse_redirect verifies itself (pysaml2 would look for an
                # XML signature in the request).
                "want_authn_requests_signed": False,
                "name_id_format": ["urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"],
            }},
            "delete_tmpfiles": True,
        }

    def _build_server(self):
        conf = IdPConfig()
        conf.load(self._config())
        self.server = Server(config=conf)
        self.sec = self.server.sec

    def set_sso_url(self, url):
        self.sso_url = url
        self._build_server()

    def metadata(self):
        """The IdP's metadata XML (pysaml2), with its signing certificate."""
        conf = IdPConfig()
        conf.load(self._config())
        xml = create_metadata_string(None, config=conf, sign=False)
        return xml.decode() if isinstance(xml, bytes) else xml

    # -- SP-initiated: the AuthnRequest --------------------------------------
    def parse_redirect(self, query):
        """Parses the SP's HTTP-Redirect AuthnRequest (pysaml2 verifies its
        signature against the SP metadata). Returns (request id, ACS URL)."""
        q = {k: v[0] for k, v in urllib.parse.parse_qs(query).items()}
        req = self.server.parse_authn_request(q["SAMLRequest"], BINDING_HTTP_REDIRECT)
        if req is None:
            raise ValueError("AuthnRequest refused by pysaml2")
        # The HTTP-Redirect signature (over the query string) with the SP
        # certificate from its metadata; SHA-256 required.
        if q.get("SigAlg") != SIG_RSA_SHA256:
            raise ValueError(f"AuthnRequest not signed with RSA-SHA256: {q.get('SigAlg')}")
        if not verify_redirect_signature(q, RSACrypto(None), cert=self.sp_cert_b64):
            raise ValueError("AuthnRequest signature does not verify")
        msg = req.message
        if msg.issuer.text != self.sp_entity_id:
            raise ValueError("AuthnRequest from an unknown SP")
        return msg.id, msg.assertion_consumer_service_url or self.acs_url

    # -- responses ------------------------------------------------------------
    def _assertion(self, email, groups, in_response_to, t0, t1, audience, recipient, method):
        subject_data = saml.SubjectConfirmationData(not_on_or_after=_iso(t1), recipient=recipient)
        if in_response_to:
            subject_data.in_response_to = in_response_to
        attrs = [
            saml.Attribute(name=EMAIL_CLAIM, name_format=saml.NAME_FORMAT_URI,
                           attribute_value=[saml.AttributeValue(text=email)]),
            saml.Attribute(name=UPN_CLAIM, name_format=saml.NAME_FORMAT_URI,
                           attribute_value=[saml.AttributeValue(text=email)]),
            saml.Attribute(name=NAME_CLAIM, name_format=saml.NAME_FORMAT_URI,
                           attribute_value=[saml.AttributeValue(text=email.split("@")[0])]),
        ]
        if groups:
            attrs.append(saml.Attribute(name=GROUP_CLAIM, name_format=saml.NAME_FORMAT_URI,
                                        attribute_value=[saml.AttributeValue(text=g) for g in groups]))
        return saml.Assertion(
            id=sid(), version="2.0", issue_instant=_iso(_now()),
            issuer=saml.Issuer(text=self.entity_id, format=saml.NAMEID_FORMAT_ENTITY),
            subject=saml.Subject(
                name_id=saml.NameID(format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress", text=email),
                subject_confirmation=[saml.SubjectConfirmation(method=method, subject_confirmation_data=subject_data)]),
            conditions=saml.Conditions(not_before=_iso(t0), not_on_or_after=_iso(t1),
                                       audience_restriction=[saml.AudienceRestriction(
                                           audience=[saml.Audience(text=audience)])]),
            authn_statement=[saml.AuthnStatement(
                authn_instant=_iso(_now()), session_index=sid(),
                authn_context=saml.AuthnContext(authn_context_class_ref=saml.AuthnContextClassRef(
                    text="urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport")))],
            attribute_statement=[saml.AttributeStatement(attribute=attrs)],
        )

    def _sign(self, xml, node, node_id, key_file):
        return self.sec.sign_statement(xml, node_name=node, key_file=key_file, node_id=node_id)

    def response(self, variant="valid", in_response_to=None, email="alice@example.com", groups=("Parley Admins",)):
        """A base64 SAMLResponse of the given variant (see VARIANTS)."""
        if variant not in VARIANTS:
            raise ValueError(variant)
        now = _now()
        t0, t1 = now - datetime.timedelta(minutes=1), now + datetime.timedelta(minutes=5)
        if variant == "expired":
            t0, t1 = now - datetime.timedelta(hours=2), now - datetime.timedelta(hours=1)
        if variant == "not_yet_valid":
            t0, t1 = now + datetime.timedelta(hours=1), now + datetime.timedelta(hours=2)
        audience = "https://other-service.test/saml/metadata" if variant == "wrong_audience" else self.sp_entity_id
        recipient = "https://other-service.test/saml/acs" if variant == "wrong_recipient" else self.acs_url
        destination = "https://other-service.test/saml/acs" if variant == "wrong_destination" else self.acs_url
        method = "urn:oasis:names:tc:SAML:2.0:cm:holder-of-key" if variant == "no_bearer" else saml.SCM_BEARER

        response = samlp.Response(id=sid(), version="2.0", issue_instant=_iso(now), destination=destination,
                                  issuer=saml.Issuer(text=self.entity_id, format=saml.NAMEID_FORMAT_ENTITY),
                                  status=samlp.Status(status_code=samlp.StatusCode(value=samlp.STATUS_SUCCESS)))
        if in_response_to:
            response.in_response_to = in_response_to
        if variant == "idp_error_status":
            response.status = samlp.Status(status_code=samlp.StatusCode(value=samlp.STATUS_RESPONDER))
            return base64.b64encode(str(response).encode()).decode()
        assertion = self._assertion(email, groups, in_response_to, t0, t1, audience, recipient, method)
        response.assertion = assertion

        sign_assertion = variant not in ("unsigned", "valid_response_signed")
        sign_response = variant in ("valid_response_signed", "valid_both_signed")
        key, cert = (self.wrong_key, self.wrong_cert) if variant == "wrong_key" else (self.key, self.cert)
        sig_alg, digest_alg = (SIG_RSA_SHA1, DIGEST_SHA1) if variant == "sha1" else (SIG_RSA_SHA256, DIGEST_SHA256)
        if sign_assertion:
            assertion.signature = pre_signature_part(assertion.id, _cert_b64(cert), 1, digest_alg=digest_alg,
                                                     sign_alg=sig_alg)
        if sign_response:
            response.signature = pre_signature_part(response.id, _cert_b64(cert), 2, digest_alg=digest_alg,
                                                    sign_alg=sig_alg)
        xml = str(response)
        if sign_assertion:
            xml = self._sign(xml, "urn:oasis:names:tc:SAML:2.0:assertion:Assertion", assertion.id, key)
        if sign_response:
            xml = self._sign(xml, "urn:oasis:names:tc:SAML:2.0:protocol:Response", response.id, key)
        if isinstance(xml, bytes):
            xml = xml.decode()
        xml = self._mangle(variant, xml, in_response_to, t0, t1, email)
        return base64.b64encode(xml.encode()).decode()

    # XML signature wrapping and tampering: text surgery on the signed
    # document, so the signed assertion's bytes (and so its signature) stay
    # intact and only the structure around it changes.
    def _forged_assertion(self, in_response_to, t0, t1):
        forged = self._assertion("attacker@evil.example", ["Parley Admins"], in_response_to, t0, t1,
                                 self.sp_entity_id, self.acs_url, saml.SCM_BEARER)
        text = str(forged)
        return re.sub(r"^<\?xml[^>]*\?>\s*", "", text)

    def _mangle(self, variant, xml, in_response_to, t0, t1, email):
        m = re.search(r"<(\w+:)?Assertion[ >].*</(\w+:)?Assertion>", xml, re.S)
        if variant == "tampered":
            return xml.replace(email, "mallory@" + email.split("@")[1])
        if variant == "xsw_extra_assertion":
            return xml[:m.start()] + self._forged_assertion(in_response_to, t0, t1) + xml[m.start():]
        if variant == "xsw_nested":
            forged = self._forged_assertion(in_response_to, t0, t1)
            close = forged.rindex("</")
            return xml[:m.start()] + forged[:close] + m.group(0) + forged[close:] + xml[m.end():]
        if variant == "xsw_extensions":
            signed = m.group(0)
            prefix = re.match(r"<(\w+):Response", xml.split("?>", 1)[-1].strip()).group(1)
            ext = f"<{prefix}:Extensions>{signed}</{prefix}:Extensions>"
            body = xml[:m.start()] + self._forged_assertion(in_response_to, t0, t1) + xml[m.end():]
            status_at = re.search(rf"<{prefix}:Status[ >]", body).start()
            return body[:status_at] + ext + body[status_at:]
        if variant == "xsw_moved_signature":
            sig = re.search(r"<(\w+:)?Signature[ >].*?</(\w+:)?Signature>", m.group(0), re.S)
            assertion = m.group(0)[:sig.start()] + m.group(0)[sig.end():]
            body = xml[:m.start()] + assertion + xml[m.end():]
            # The signature now sits in the Response, still pointing at the assertion.
            issuer_end = body.index("</", body.index("Issuer"))
            issuer_end = body.index(">", issuer_end) + 1
            return body[:issuer_end] + sig.group(0) + body[issuer_end:]
        return xml

    # -- a tiny HTTP IdP for browser tests ------------------------------------
    def serve(self, user_email="alice@example.com", groups=("Parley Admins",), host="localhost"):
        """Starts the IdP on http://localhost:<port>/sso in a thread; returns the base URL."""
        idp = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                path, _, query = self.path.partition("?")
                if path != "/sso":
                    self.send_error(404)
                    return
                try:
                    request_id, acs = idp.parse_redirect(query)
                except Exception as e:  # a bad request gets a plain error
                    self.send_error(400, str(e)[:200])
                    return
                idp.requests_seen.append(request_id)
                b64 = idp.response("valid", in_response_to=request_id, email=user_email, groups=groups)
                page = f"""<!doctype html><html><head><meta charset="utf-8"><title>Test IdP</title></head>
<body><h1>Test identity provider</h1><p>Signed in as {html.escape(user_email)}.</p>
<form method="post" action="{html.escape(acs)}">
<input type="hidden" name="SAMLResponse" value="{html.escape(b64)}">
<button type="submit" data-testid="idp-continue">Continue to the service</button>
</form></body></html>"""
                body = page.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.requests_seen = []
        self.httpd = http.server.ThreadingHTTPServer((host, 0), Handler)
        port = self.httpd.server_address[1]
        self.set_sso_url(f"http://{host}:{port}/sso")
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return f"http://{host}:{port}"

    def stop(self):
        if getattr(self, "httpd", None):
            self.httpd.shutdown()

"""A real SMTP server for the tests: aiosmtpd (Debian python3-aiosmtpd) on
loopback, requiring STARTTLS and AUTH, in its own process (so its TLS work
does not share a GIL with the test that times the portal).

  smtp_sink.py PORT CERT KEY USER PASSWORD OUTDIR

Writes each message as OUTDIR/NNNN.json: {"from", "to", "tls" (protocol
version), "authenticated", "raw" (the message, latin-1)}, renamed into place
when complete; writes OUTDIR/ready once it accepts connections.
"""
import asyncio
import json
import os
import ssl
import sys
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

port, cert, key, user, password, outdir = sys.argv[1:7]


class Sink:
    def __init__(self):
        self.n = 0

    async def handle_DATA(self, server, session, envelope):
        tls = session.ssl if isinstance(session.ssl, dict) else {}
        ssl_object = tls.get("ssl_object")
        self.n += 1
        path = os.path.join(outdir, f"{self.n:04d}.json")
        with open(path + ".tmp", "w") as f:
            json.dump({"from": envelope.mail_from, "to": list(envelope.rcpt_tos),
                       "tls": ssl_object.version() if ssl_object else None,
                       "authenticated": bool(session.authenticated),
                       "raw": (envelope.original_content or envelope.content).decode("latin-1")}, f)
        os.rename(path + ".tmp", path)
        return "250 Message accepted for delivery"


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = getattr(auth_data, "login", None) == user.encode() and auth_data.password == password.encode()
    return AuthResult(success=ok)


tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
tls.load_cert_chain(cert, key)
controller = Controller(Sink(), hostname="127.0.0.1", port=int(port), tls_context=tls, require_starttls=True,
                        authenticator=authenticator, auth_require_tls=True, server_hostname="localhost")
controller.start()
open(os.path.join(outdir, "ready"), "w").close()
try:
    while True:
        time.sleep(3600)
except KeyboardInterrupt:
    pass
finally:
    controller.stop()

"""`parley-agent check` and `run` against real peers over real TLS.

A real `parley serve` (the server row), a CUCM directory with the flat-file
fixtures, and a small fake Pexip Management Node (Python's http.server over
TLS with a throw-away certificate, HTTP Basic, serving the history fixture)
reached five ways: trusted CA, wrong password, untrusted certificate, wrong
pin, right pin. The test reads the printed table: one row per source plus
the server, the right OK/FAIL and the detail an installer needs, no
credentials anywhere, exit code 1 because some rows fail (0 once they are
removed). Then `run` ships the CUCM calls and the Pexip conferences and
participants, and the API shows exactly those, with their quality.

Standard library only; runs on /usr/bin/python3. Every process and thread
started here is stopped at the end.
"""
import base64
import hashlib
import http.server
import json
import os
import shutil
import ssl
import subprocess
import sys
import threading
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(__file__))
from harness import BIN, REPO, Stack, wait_until  # noqa: E402

FIXTURES = os.path.join(REPO, "tests", "unit", "agent", "fixtures")
PEXIP_USER = "parley"
PEXIP_PASSWORD = "pexip-secret-pw-77"


def make_cert(directory, name):
    key = os.path.join(directory, name + ".key")
    crt = os.path.join(directory, name + ".crt")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-keyout", key, "-out", crt, "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"], check=True, capture_output=True)
    return key, crt


def fingerprint(crt):
    der = subprocess.run(["openssl", "x509", "-in", crt, "-outform", "DER"], check=True, capture_output=True).stdout
    return hashlib.sha256(der).hexdigest()


def write_private(path, text):
    with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
        f.write(text)


class FakePexip(http.server.BaseHTTPRequestHandler):
    """A Management Node's history API: Basic auth, Tastypie filtering
    (end_time__gte / end_time__lt), order_by=end_time, limit/offset paging
    with meta.next, over the fixtures."""
    conference_json = b""
    lists = {}  # path -> objects

    def do_GET(self):  # noqa: N802 (http.server's naming)
        want = "Basic " + base64.b64encode(f"{PEXIP_USER}:{PEXIP_PASSWORD}".encode()).decode()
        if self.headers.get("Authorization") != want:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="pexip"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        url = urllib.parse.urlsplit(self.path)
        if url.path not in self.lists:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        q = dict(urllib.parse.parse_qsl(url.query))
        hits = [o for o in self.lists[url.path]
                if ("end_time__gte" not in q or o["end_time"] >= q["end_time__gte"])
                and ("end_time__lt" not in q or o["end_time"] < q["end_time__lt"])]
        hits.sort(key=lambda o: o["end_time"])
        limit, offset = int(q.get("limit", 20)), int(q.get("offset", 0))
        nxt = None
        if offset + limit < len(hits):
            nxt = url.path + "?" + urllib.parse.urlencode(dict(q, offset=offset + limit))
        body = json.dumps({"meta": {"limit": limit, "offset": offset, "next": nxt, "previous": None,
                                    "total_count": len(hits)},
                           "objects": hits[offset:offset + limit]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def parse_table(text):
    lines = [line for line in text.splitlines() if line.strip()]
    header = lines[0]
    starts = [header.index(h) for h in ("NAME", "TYPE", "TARGET", "RESULT", "DETAIL")]
    rows = {}
    for line in lines[1:]:
        if not line.startswith(" ") and len(line) > starts[4]:
            cells = [line[starts[i]:(starts[i + 1] if i + 1 < 5 else None)].strip() for i in range(5)]
            rows[cells[0]] = dict(zip(("name", "type", "target", "result", "detail"), cells))
    return rows


class AgentCheckTest(unittest.TestCase):
    def setUp(self):
        self.stack = Stack(calls=10)
        self.addCleanup(self.stack.close)
        self.stack.start_server()
        d = self.stack.dir
        key, self.crt = make_cert(d, "pexip")
        _, self.other_crt = make_cert(d, "other")
        for kind in ("conference", "participant"):
            with open(os.path.join(FIXTURES, "pexip", kind + ".json")) as f:
                FakePexip.lists[f"/api/admin/history/v1/{kind}/"] = json.load(f)["objects"]
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakePexip)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(self.crt, key)
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.pexip_port = self.httpd.server_address[1]
        thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        thread.start()
        self.addCleanup(self.httpd.server_close)
        self.addCleanup(self.httpd.shutdown)

        # A CUCM directory: the fixtures, old enough to be settled.
        self.cdr_dir = os.path.join(d, "cdr")
        os.makedirs(self.cdr_dir)
        for name in os.listdir(os.path.join(FIXTURES, "cucm")):
            src = os.path.join(FIXTURES, "cucm", name)
            if name.startswith(("cdr_", "cmr_")):
                shutil.copy(src, self.cdr_dir)
                old = time.time() - 3600
                os.utime(os.path.join(self.cdr_dir, name), (old, old))

    def pexip(self, name, password_file, tls):
        return f"""[[sources]]
name = "{name}"
type = "pexip"
url = "https://127.0.0.1:{self.pexip_port}"
username = "{PEXIP_USER}"
password_file = "{password_file}"
{tls}
"""

    def run_check(self, sources):
        self.stack.enroll_agent(sources=sources)
        agent = self.stack.agent_dir
        write_private(os.path.join(agent, "pexip.password"), PEXIP_PASSWORD + "\n")
        write_private(os.path.join(agent, "wrong.password"), "not-the-password\n")
        p = subprocess.run([os.path.join(BIN, "parley-agent"), "check", "--config", os.path.join(agent, "agent.toml")],
                           capture_output=True, text=True, timeout=120)
        for secret in (PEXIP_PASSWORD, "not-the-password"):
            self.assertNotIn(secret, p.stdout + p.stderr)
        return p

    def test_table(self):
        sources = f"""[[sources]]
name = "cucm-main"
type = "cucm"
dir = "{self.cdr_dir}"
initial_history_days = 3660
"""
        sources += self.pexip("pexip-ok", "pexip.password", f'ca_file = "{self.crt}"')
        sources += self.pexip("pexip-badpw", "wrong.password", f'ca_file = "{self.crt}"')
        sources += self.pexip("pexip-untrusted", "pexip.password", f'ca_file = "{self.other_crt}"')
        sources += self.pexip("pexip-pin-bad", "pexip.password", f'pin_sha256 = "{fingerprint(self.other_crt)}"')
        sources += self.pexip("pexip-pin-ok", "pexip.password", f'pin_sha256 = "{fingerprint(self.crt)}"')
        p = self.run_check(sources)
        if os.environ.get("PARLEY_SHOW_CHECK"):
            print(p.stdout)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        rows = parse_table(p.stdout)
        self.assertEqual(set(rows), {"server", "cucm-main", "pexip-ok", "pexip-badpw", "pexip-untrusted",
                                     "pexip-pin-bad", "pexip-pin-ok"}, p.stdout)
        target = f"127.0.0.1:{self.pexip_port}"
        expect = {
            "server": ("OK", "client certificate accepted"),
            "cucm-main": ("OK", "2 CDR file(s) to read, 2 CMR file(s); "
                                "cdr_StandAloneCluster_01_202612040800_1: 4 call record(s) readable"),
            "pexip-ok": ("OK", "history API readable; 4 conference(s) in history"),
            "pexip-badpw": ("FAIL", "401 Unauthorized: check username/password_file"),
            "pexip-untrusted": ("FAIL", "TLS: certificate not trusted ("),
            "pexip-pin-bad": ("FAIL", "TLS: certificate not trusted (pin mismatch)"),
            "pexip-pin-ok": ("OK", "history API readable"),
        }
        for name, (result, detail) in expect.items():
            self.assertEqual(rows[name]["result"], result, p.stdout)
            self.assertTrue(rows[name]["detail"].startswith(detail), f"{name}: {rows[name]['detail']!r}")
        for name in ("pexip-ok", "pexip-badpw", "pexip-untrusted", "pexip-pin-bad", "pexip-pin-ok"):
            self.assertEqual(rows[name]["target"], target)
            self.assertEqual(rows[name]["type"], "pexip")
        self.assertEqual(rows["cucm-main"]["target"], self.cdr_dir)
        self.assertEqual(rows["server"]["target"], f"127.0.0.1:{self.stack.ingest_port}")
        self.assertIn("some checks FAILED", p.stdout)

    def test_all_ok_exits_zero(self):
        p = self.run_check(self.pexip("pexip-ok", "pexip.password", f'ca_file = "{self.crt}"'))
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertEqual({r["result"] for r in parse_table(p.stdout).values()}, {"OK"})
        self.assertIn("all checks passed", p.stdout)


    def test_run_ships_cucm_calls_and_pexip_conferences(self):
        """`run` with both sources: the API shows exactly the CUCM calls (with
        CMR quality) and the Pexip conferences with their participants."""
        sources = f"""[[sources]]
name = "cucm-main"
type = "cucm"
dir = "{self.cdr_dir}"
initial_history_days = 3660
"""
        sources += self.pexip("pexip-main", "pexip.password", f'ca_file = "{self.crt}"')
        sources += "initial_history_days = 3660\n"
        self.stack.enroll_agent(sources=sources)
        write_private(os.path.join(self.stack.agent_dir, "pexip.password"), PEXIP_PASSWORD + "\n")
        self.stack.start_agent()
        self.stack.login()
        wait_until(lambda: self.stack.total_calls() >= 5, 60, "the CUCM calls")

        def conferences():
            status, body, _ = self.stack.get("/api/v1/conferences?limit=100")
            self.assertEqual(status, 200, body)
            return body["conferences"]
        wait_until(lambda: len(conferences()) >= 3 and sum(len(c.get("participants", [])) for c in conferences()) >= 4,
                   60, "the Pexip conferences and participants")
        time.sleep(2)  # nothing more may arrive

        calls = {c["id"]: c for c in self.stack.all_calls()}
        self.assertEqual(set(calls), {"1-100001-20001-20002", "1-100002-20003-20004", "2-7-30001-30002",
                                      "1-100003-20005-20006", "2-200001-40001-40002"})
        busy = calls["1-100002-20003-20004"]
        self.assertEqual((busy["status"], busy["cause"], busy["duration_s"]), ("failed", "17:User busy", 0))
        ok = calls["1-100001-20001-20002"]
        self.assertEqual((ok["status"], ok["duration_s"]), ("completed", 300))
        q = {(s["party"], s["direction"], s["media"]): s for s in ok["quality"]}
        self.assertEqual(set(q), {("orig", "rx", "audio"), ("dest", "rx", "audio")})
        self.assertAlmostEqual(q[("orig", "rx", "audio")]["packet_loss_pct_avg"], 1.0)
        self.assertAlmostEqual(q[("orig", "rx", "audio")]["mos"], 3.95)

        confs = {c["id"]: c for c in conferences()}
        self.assertEqual(set(confs), {"8583f400-7886-48c9-874b-5fefc2ac097e", "1d2c3b4a-0000-4000-8000-000000000002",
                                      "1d2c3b4a-0000-4000-8000-000000000003"})
        meet = confs["8583f400-7886-48c9-874b-5fefc2ac097e"]
        legs = {p["id"]: p for p in meet["participants"]}
        self.assertEqual(set(legs), {"5881adda-00ef-4315-8886-5d873d2ef269", "e9883f1d-88ca-495d-8366-b6eb772dfe57"})
        bob = legs["5881adda-00ef-4315-8886-5d873d2ef269"]
        self.assertEqual((bob["protocol"], bob["role"], bob["duration_s"]), ("WebRTC", "chair", 519))
        media = {(s["direction"], s["media"]) for s in bob["quality"]}
        self.assertEqual(media, {("tx", "audio"), ("rx", "audio"), ("tx", "video"), ("rx", "video"),
                                 ("rx", "content")})
        self.assertNotIn(PEXIP_PASSWORD, self.stack.log("agent"))


if __name__ == "__main__":
    unittest.main()

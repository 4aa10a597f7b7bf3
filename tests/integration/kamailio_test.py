"""Real Kamailio + SIPp -> parley-agent `kamailio` source -> server -> API.

A real Kamailio (Debian's kamailio + kamailio-sqlite-modules) proxies on
loopback with acc + dialog CDRs written by db_sqlite into a SQLite database
created with the schema Kamailio ships. SIPp (Debian's sip-tester) plays the
callees (one UAS answering 200, one answering 486 Busy Here, one 404 Not
Found) and the callers, placing a known mix of calls with known lengths
through the proxy. parley serve and an enrolled parley-agent with a
`kamailio` source run meanwhile; the test then checks through
GET /api/v1/calls that exactly those calls arrived, once each, with their
durations and causes, and that Kamailio lost no accounting row to a lock
held by the agent.

Everything runs on 127.0.0.1 with free ports; every process started here is
stopped at the end. Runs as root (Kamailio in the foreground: -DD -E).
"""
import collections
import glob
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import Stack, wait_until  # noqa: E402

KAMAILIO = shutil.which("kamailio") or "/usr/sbin/kamailio"
SIPP = shutil.which("sipp") or "/usr/bin/sipp"
MODULES = next(iter(sorted(glob.glob("/usr/lib/*/kamailio/modules"))), "/usr/lib/x86_64-linux-gnu/kamailio/modules")
SCHEMA_DIR = "/usr/share/kamailio/db_sqlite"

# The call mix: (call-id prefix, caller, callee user, calls, pause ms, expected).
MIX = [
    ("ok2", "alice", "answer", 3, 2000, ("completed", 2, "")),
    ("ok5", "dave", "answer", 2, 5000, ("completed", 5, "")),
    ("busy", "bob", "busy", 2, 0, ("failed", 0, "486:Busy Here")),
    ("nf", "carol", "nobody", 2, 0, ("failed", 0, "404:Not Found")),
]
EXPECTED_CALLS = sum(m[3] for m in MIX)

# Extra columns (db_extra / cdr_extra in the cfg below), as docs/agent.md
# asks for. Nullable: a BYE has no request-URI user.
EXTRA_COLUMNS = {
    "acc": ["src_user", "src_domain", "src_ip", "dst_ouser", "dst_user", "dst_domain"],
    "missed_calls": ["src_user", "src_domain", "src_ip", "dst_ouser", "dst_user", "dst_domain"],
    "acc_cdrs": ["callid", "from_tag", "src_user", "src_domain", "src_ip", "dst_user", "dst_domain",
                 "sip_code", "sip_reason"],
}

KAMAILIO_CFG = """#!KAMAILIO
# Test proxy: stateful relay by request-URI user, accounting to SQLite.
debug=2
log_stderror=yes
children=1
listen=udp:127.0.0.1:{port}
auto_aliases=no
mpath="{modules}/"

loadmodule "kex.so"
loadmodule "corex.so"
loadmodule "tm.so"
loadmodule "tmx.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "xlog.so"
loadmodule "db_sqlite.so"
loadmodule "dialog.so"
loadmodule "acc.so"

modparam("db_sqlite", "db_set_journal_mode", "{db}=WAL;")
modparam("rr", "append_fromtag", 1)

# Transactions: acc (answered INVITEs, BYEs) and missed_calls (failed INVITEs).
modparam("acc", "db_url", "sqlite://{db}")
modparam("acc", "db_flag", 1)
modparam("acc", "db_missed_flag", 2)
modparam("acc", "failed_transaction_flag", 3)
modparam("acc", "detect_direction", 1)
modparam("acc", "db_extra", "src_user=$fU;src_domain=$fd;src_ip=$si;dst_ouser=$tU;dst_user=$rU;dst_domain=$rd")

# Dialog CDRs into acc_cdrs, with the Call-ID and caller/callee as extra columns.
modparam("acc", "cdr_enable", 1)
modparam("acc", "cdrs_table", "acc_cdrs")
modparam("acc", "cdr_start_on_confirmed", 1)
modparam("acc", "cdr_log_enable", 0)
modparam("acc", "cdr_extra", "callid=$dlg(callid);from_tag=$dlg(from_tag);src_user=$dlg_var(src_user);src_domain=$dlg_var(src_domain);src_ip=$dlg_var(src_ip);dst_user=$dlg_var(dst_user);dst_domain=$dlg_var(dst_domain);sip_code=$dlg_var(sip_code);sip_reason=$dlg_var(sip_reason)")

request_route {{
  if (!mf_process_maxfwd_header("10")) {{ sl_send_reply("483", "Too Many Hops"); exit; }}
  if (has_totag()) {{
    if (loose_route()) {{
      if (is_method("BYE")) {{ setflag(1); setflag(3); }}
      t_relay();
      exit;
    }}
    if (is_method("ACK")) {{ if (t_check_trans()) {{ t_relay(); }} exit; }}
    sl_send_reply("404", "Not here");
    exit;
  }}
  if (is_method("CANCEL")) {{ if (t_check_trans()) {{ t_relay(); }} exit; }}
  t_check_trans();
  if (!is_method("INVITE")) {{ sl_send_reply("405", "Method Not Allowed"); exit; }}
  record_route();
  dlg_manage();
  setflag(1); setflag(2); setflag(3);
  $dlg_var(src_user) = $fU; $dlg_var(src_domain) = $fd; $dlg_var(src_ip) = $si;
  $dlg_var(dst_user) = $rU; $dlg_var(dst_domain) = $rd;
  if ($rU == "busy") {{ $du = "sip:127.0.0.1:{busy_port}"; }}
  else if ($rU == "nobody") {{ $du = "sip:127.0.0.1:{nf_port}"; }}
  else {{ $du = "sip:127.0.0.1:{ok_port}"; }}
  t_on_reply("REPLY");
  t_on_failure("FAIL");
  if (!t_relay()) {{ sl_reply_error(); }}
  exit;
}}

onreply_route[REPLY] {{
  if (status =~ "^[2-6][0-9][0-9]$") {{ $dlg_var(sip_code) = $rs; $dlg_var(sip_reason) = $rr; }}
}}

failure_route[FAIL] {{
  $dlg_var(sip_code) = $T_reply_code; $dlg_var(sip_reason) = $T_reply_reason;
}}
"""

# Callee answering 200 (SIPp's built-in uas, plus Record-Route echoed so the
# caller's ACK and BYE go through the proxy).
UAS_OK = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="uas answering 200, then BYE">
  <recv request="INVITE" crlf="true" />
  <send>
    <![CDATA[
SIP/2.0 180 Ringing
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
[last_Record-Route:]
Contact: <sip:[local_ip]:[local_port];transport=[transport]>
Content-Length: 0

    ]]>
  </send>
  <send retrans="500">
    <![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
[last_Record-Route:]
Contact: <sip:[local_ip]:[local_port];transport=[transport]>
Content-Type: application/sdp
Content-Length: [len]

v=0
o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 0
a=rtpmap:0 PCMU/8000

    ]]>
  </send>
  <recv request="ACK" rtd="true" crlf="true" />
  <recv request="BYE" />
  <send>
    <![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:[local_ip]:[local_port];transport=[transport]>
Content-Length: 0

    ]]>
  </send>
</scenario>
"""

# Callee refusing with a final failure (SIPp reads the status line when it
# loads the scenario, so one file per code).
UAS_FAIL = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="uas refusing with {code} {reason}">
  <recv request="INVITE" />
  <send>
    <![CDATA[
SIP/2.0 {code} {reason}
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

    ]]>
  </send>
  <recv request="ACK" />
</scenario>
"""

# Caller: INVITE through the proxy; on 200, ACK, talk for -d ms, BYE; on
# 486/404, ACK. The From user is the `caller` key; the Call-ID comes from -cid_str.
UAC = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="uac: one call, answered or refused">
  <send retrans="500">
    <![CDATA[
INVITE sip:[service]@parley.test SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: "[caller]" <sip:[caller]@parley.test>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@parley.test>
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: <sip:[caller]@[local_ip]:[local_port]>
Max-Forwards: 70
Content-Type: application/sdp
Content-Length: [len]

v=0
o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 0
a=rtpmap:0 PCMU/8000

    ]]>
  </send>
  <recv response="100" optional="true" />
  <recv response="180" optional="true" />
  <recv response="486" optional="true" next="refused" />
  <recv response="404" optional="true" next="refused" />
  <recv response="200" rrs="true" rtd="true" />
  <send>
    <![CDATA[
ACK [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
[routes]
From: "[caller]" <sip:[caller]@parley.test>;tag=[pid]SIPpTag00[call_number]
[last_To:]
Call-ID: [call_id]
CSeq: 1 ACK
Contact: <sip:[caller]@[local_ip]:[local_port]>
Max-Forwards: 70
Content-Length: 0

    ]]>
  </send>
  <pause />
  <send retrans="500">
    <![CDATA[
BYE [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
[routes]
From: "[caller]" <sip:[caller]@parley.test>;tag=[pid]SIPpTag00[call_number]
[last_To:]
Call-ID: [call_id]
CSeq: 2 BYE
Contact: <sip:[caller]@[local_ip]:[local_port]>
Max-Forwards: 70
Content-Length: 0

    ]]>
  </send>
  <recv response="200" crlf="true" />
  <nop next="done" />
  <label id="refused" />
  <send>
    <![CDATA[
ACK sip:[service]@parley.test SIP/2.0
[last_Via:]
From: "[caller]" <sip:[caller]@parley.test>;tag=[pid]SIPpTag00[call_number]
[last_To:]
Call-ID: [call_id]
CSeq: 1 ACK
Max-Forwards: 70
Content-Length: 0

    ]]>
  </send>
  <label id="done" />
</scenario>
"""


def free_udp_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def udp_port_bound(port):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def sip_options_answered(port):
    """True once something answers a SIP OPTIONS on 127.0.0.1:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        s.settimeout(0.5)
        local = s.getsockname()[1]
        msg = (f"OPTIONS sip:127.0.0.1:{port} SIP/2.0\r\n"
               f"Via: SIP/2.0/UDP 127.0.0.1:{local};branch=z9hG4bK-probe-{time.time_ns()}\r\n"
               f"From: <sip:probe@127.0.0.1>;tag=probe\r\nTo: <sip:127.0.0.1:{port}>\r\n"
               f"Call-ID: probe-{time.time_ns()}@127.0.0.1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n"
               "Content-Length: 0\r\n\r\n")
        s.sendto(msg.encode(), ("127.0.0.1", port))
        try:
            return s.recvfrom(4096)[0].startswith(b"SIP/2.0 ")
        except socket.timeout:
            return False


def create_kamailio_db(path):
    """Kamailio's own SQLite schema (as kamdbctl would create it) + extra columns, in WAL mode."""
    db = sqlite3.connect(path)
    for name in ("standard-create.sql", "acc-create.sql"):
        with open(os.path.join(SCHEMA_DIR, name)) as f:
            db.executescript(f.read())
    for table, columns in EXTRA_COLUMNS.items():
        for column in columns:
            db.execute(f"ALTER TABLE {table} ADD COLUMN {column} VARCHAR(255)")
    db.execute("PRAGMA journal_mode=WAL")
    db.commit()
    db.close()


def count_rows(path):
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return {t: db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("acc", "missed_calls", "acc_cdrs")}
    finally:
        db.close()


class KamailioAccountingEndToEnd(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        for binary in (KAMAILIO, SIPP):
            if not os.path.exists(binary):
                raise AssertionError(f"{binary} is missing: run scripts/install-deps "
                                     "(kamailio kamailio-sqlite-modules sip-tester)")
        cls.started = time.time()
        cls.stack = Stack(calls=None, batch_records=3)
        cls.groups = []  # process groups started here (Kamailio forks its workers)
        try:
            cls.start_everything()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def start_everything(cls):
        s = cls.stack
        cls.kdir = os.path.join(s.dir, "kamailio")
        os.makedirs(cls.kdir)
        cls.db = os.path.join(cls.kdir, "kamailio.sqlite")
        create_kamailio_db(cls.db)

        cls.proxy_port = free_udp_port()
        ports = {"ok": free_udp_port(), "busy": free_udp_port(), "nf": free_udp_port()}
        cfg = os.path.join(cls.kdir, "kamailio.cfg")
        with open(cfg, "w") as f:
            f.write(KAMAILIO_CFG.format(port=cls.proxy_port, modules=MODULES, db=cls.db, ok_port=ports["ok"],
                                        busy_port=ports["busy"], nf_port=ports["nf"]))
        check = subprocess.run([KAMAILIO, "-c", "-f", cfg], capture_output=True, text=True, timeout=30)
        assert check.returncode == 0, f"kamailio -c refused the test config:\n{check.stderr[-3000:]}"

        # The server and the agent first: the agent polls while calls happen.
        s.start_server()
        assert s.login()[0] == 200
        s.enroll_agent(sources=f"""[[sources]]
name = "kamailio-lab"
type = "kamailio"
db_path = "{cls.db}"
""")
        s.start_agent()

        cls.pid_file = os.path.join(cls.kdir, "kamailio.pid")
        cls.spawn_group("kamailio", [KAMAILIO, "-DD", "-E", "-f", cfg, "-P", cls.pid_file, "-m", "64", "-M", "8"])
        wait_until(lambda: sip_options_answered(cls.proxy_port), 30, "Kamailio answering on its UDP port")

        scen = {}
        for name, text in (("uas_ok", UAS_OK), ("uas_486", UAS_FAIL.format(code=486, reason="Busy Here")),
                           ("uas_404", UAS_FAIL.format(code=404, reason="Not Found")), ("uac", UAC)):
            scen[name] = os.path.join(cls.kdir, name + ".xml")
            with open(scen[name], "w") as f:
                f.write(text)
        for key, scenario in (("ok", "uas_ok"), ("busy", "uas_486"), ("nf", "uas_404")):
            cls.spawn_group(f"sipp-{scenario}", [SIPP, "-sf", scen[scenario], "-i", "127.0.0.1", "-p",
                                                 str(ports[key]), "-nostdin", "-trace_err"])
        for key, port in ports.items():
            wait_until(lambda: udp_port_bound(port), 15, f"SIPp UAS ({key}) on port {port}")

        # The callers, all at once; each exits once its -m calls are done.
        uacs = []
        for prefix, caller, callee, calls, pause_ms, _ in MIX:
            argv = [SIPP, f"127.0.0.1:{cls.proxy_port}", "-sf", scen["uac"], "-key", "caller", caller,
                    "-s", callee, "-cid_str", f"{prefix}-%u@parley.test", "-m", str(calls), "-r", "5",
                    "-d", str(pause_ms), "-i", "127.0.0.1", "-p", str(free_udp_port()), "-nostdin",
                    "-timeout", "60", "-timeout_error", "-trace_err"]
            uacs.append((prefix, cls.spawn_group(f"sipp-uac-{prefix}", argv)))
        for prefix, proc in uacs:
            rc = proc.wait(timeout=90)
            assert rc == 0, f"SIPp caller {prefix} exited {rc}: {s.log('sipp-uac-' + prefix)[-3000:]}"

    @classmethod
    def spawn_group(cls, name, argv):
        path = os.path.join(cls.stack.dir, f"{name}.log")
        cls.stack.logs[name] = path
        with open(path, "ab") as log:
            proc = subprocess.Popen(argv, stdout=log, stderr=log, stdin=subprocess.DEVNULL, cwd=cls.kdir,
                                    start_new_session=True)
        cls.groups.append((name, proc))
        return proc

    @classmethod
    def tearDownClass(cls):
        # Our own process groups only: Kamailio's main process and the workers it forked, SIPp instances.
        for name, proc in reversed(cls.groups):
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                    proc.wait(timeout=10)
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    pass
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # stragglers in the group (Kamailio children)
            except ProcessLookupError:
                pass
            proc.wait(timeout=10)
        cls.groups = []
        cls.stack.close()
        print(f"kamailio integration: {time.time() - cls.started:.1f} s", file=sys.stderr)

    def api_calls(self):
        return self.stack.all_calls()

    def test_exactly_the_placed_calls_arrive_once_with_durations_and_causes(self):
        wait_until(lambda: count_rows(self.db)["acc_cdrs"] >= 5 and count_rows(self.db)["missed_calls"] >= 4, 30,
                   "Kamailio's accounting rows")
        wait_until(lambda: self.stack.total_calls() >= EXPECTED_CALLS, 60, f"{EXPECTED_CALLS} calls in the API")
        time.sleep(3)  # a few more agent polls: nothing else may arrive
        calls = self.api_calls()
        ids = [c["id"] for c in calls]
        self.assertEqual([i for i, n in collections.Counter(ids).items() if n > 1], [], "calls stored twice")
        expected = {}
        for prefix, caller, callee, n, _, outcome in MIX:
            for i in range(1, n + 1):
                expected[f"{prefix}-{i}@parley.test"] = (caller, callee, outcome)
        self.assertEqual(set(ids), set(expected))
        self.assertEqual(self.stack.total_calls(), EXPECTED_CALLS)
        for c in calls:
            caller, callee, (status, duration, cause) = expected[c["id"]]
            with self.subTest(call=c["id"]):
                self.assertEqual(c["status"], status)
                self.assertEqual(c["cause"] or "", cause)
                self.assertLessEqual(abs(c["duration_s"] - duration), 1, c)
                self.assertEqual(c["protocol"], "SIP")
                self.assertEqual(c["orig"]["uri"], f"sip:{caller}@parley.test")
                self.assertEqual(c["orig"]["ip"], "127.0.0.1")
                self.assertTrue(c["dest"]["uri"].startswith(f"sip:{callee}@"), c["dest"])
                if status == "completed":
                    # start_time is the 200 OK (cdr_start_on_confirmed), end_time the BYE.
                    # The connected time is checked above to the second; the span
                    # may exceed it when a loaded machine delays the BYE's
                    # processing (seen under a parallel CI run), never fall short.
                    span = _ts(c["end"]) - _ts(c["start"])
                    self.assertGreaterEqual(span, duration - 1, c)
                    self.assertLessEqual(span, duration + 3, c)

    def test_the_agent_lost_kamailio_no_row_and_skipped_none(self):
        wait_until(lambda: self.stack.total_calls() >= EXPECTED_CALLS, 60, f"{EXPECTED_CALLS} calls in the API")
        rows = count_rows(self.db)
        completed = sum(m[3] for m in MIX if m[5][0] == "completed")
        failed = EXPECTED_CALLS - completed
        # acc: an INVITE row per call (answered or failed) and a BYE row per answered call.
        self.assertEqual(rows, {"acc": EXPECTED_CALLS + completed, "missed_calls": failed,
                                "acc_cdrs": EXPECTED_CALLS})
        kamailio_log = self.stack.log("kamailio")
        self.assertNotIn("database is locked", kamailio_log)
        self.assertNotIn("failed to insert", kamailio_log)
        agent_log = self.stack.log("agent")
        self.assertNotIn("skipped", agent_log)
        self.assertNotIn("collection failed", agent_log)


def _ts(rfc3339):
    return time.mktime(time.strptime(rfc3339, "%Y-%m-%dT%H:%M:%SZ"))


if __name__ == "__main__":
    unittest.main()

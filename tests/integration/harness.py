"""Process harness for Parley's integration and browser tests.

Starts the real binaries (parley, parley-devsim, parley-agent) on loopback
ports in a temporary directory, and talks to them over HTTPS with
certificate verification on. Standard library only (runs on /usr/bin/python3).
"""
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.environ.get("PARLEY_BIN_DIR", os.path.join(REPO, "build", "src", "cli"))
DEMO_PASSWORD = "integration-password-42"
TENANT = "Demo Organisation"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout, what):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            last = predicate()
            if last:
                return last
        except Exception as e:  # the service may not be up yet
            last = e
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def set_toml_key(path, section, key, literal):
    """Sets `key = literal` in [section] of a parley.toml written by `parley init`."""
    lines = open(path).read().splitlines()
    out, current, done = [], None, False
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("[") and stripped.endswith("]"):
            if current == section and not done:
                out.append(f"{key} = {literal}")
                done = True
            current = stripped[1:-1]
        if current == section and (stripped.startswith(f"# {key} =") or stripped.startswith(f"{key} =")):
            if not done:
                out.append(f"{key} = {literal}")
                done = True
            continue
        out.append(line)
    if not done:
        if current != section:
            out.append(f"[{section}]")
        out.append(f"{key} = {literal}")
    open(path, "w").write("\n".join(out) + "\n")


class Stack:
    """One Parley deployment: server config dir, devsim, agent dir."""

    def __init__(self, calls=300, seed=7, batch_records=25, live=False, server_overrides=None, devsim_args=(),
                 store="sqlite", history_days=3, collect=None, uploads_in_flight=None):
        """store: "sqlite" (the default file) or "postgres" (a throw-away
        cluster, pg_cluster.py, with store.url as the application role and
        store.migrate_url as the owner). history_days: devsim's
        --history-days. collect: the default DMA source's `collect` list
        (None: the agent's default). uploads_in_flight: the agent's
        agent.uploads_in_flight (None: its default)."""
        self.dir = tempfile.mkdtemp(prefix="parley-it-")
        self.pg = None
        self.devsim_args = list(devsim_args)
        self.calls = calls
        self.seed = seed
        self.batch_records = batch_records
        self.live = live
        self.history_days = history_days
        self.collect = collect
        self.uploads_in_flight = uploads_in_flight
        self.procs = {}
        self.logs = {}
        self.server_dir = os.path.join(self.dir, "server")
        self.agent_dir = os.path.join(self.dir, "agent")
        self.devsim_dir = os.path.join(self.dir, "devsim")
        os.makedirs(self.agent_dir)
        os.makedirs(self.devsim_dir)
        self.portal_port = free_port()
        self.ingest_port = free_port()
        self.config = os.path.join(self.server_dir, "parley.toml")
        env = dict(os.environ, PARLEY_DEMO_PASSWORD=DEMO_PASSWORD)
        if store == "postgres":
            from pg_cluster import PostgresCluster
            self.pg = PostgresCluster()
            self.run([os.path.join(BIN, "parley"), "init", "--dir", self.server_dir], env=env)
            set_toml_key(self.config, "store", "url", f'"{self.pg.app_url()}"')
            set_toml_key(self.config, "store", "migrate_url", f'"{self.pg.owner_url()}"')
            # The demo tenant and admin, as `init --demo` makes them, in PostgreSQL.
            parley = os.path.join(BIN, "parley")
            self.run([parley, "tenant", "create", "--config", self.config, "--name", TENANT,
                      "--domain", "demo.example"])
            self.run([parley, "user", "create", "--config", self.config, "--tenant", TENANT,
                      "--email", "admin@demo.example", "--role", "tenant_admin"],
                     env=dict(os.environ, PARLEY_USER_PASSWORD=DEMO_PASSWORD))
        else:
            self.run([os.path.join(BIN, "parley"), "init", "--dir", self.server_dir, "--demo"], env=env)
        set_toml_key(self.config, "server", "portal_listen", f'"127.0.0.1:{self.portal_port}"')
        set_toml_key(self.config, "server", "ingest_listen", f'"127.0.0.1:{self.ingest_port}"')
        set_toml_key(self.config, "server", "public_url", f'"https://127.0.0.1:{self.portal_port}"')
        for (section, key), literal in (server_overrides or {}).items():
            set_toml_key(self.config, section, key, literal)
        self.portal_ctx = ssl.create_default_context(cafile=os.path.join(self.server_dir, "portal.crt"))
        self.cookie = None
        self.csrf = None

    # -- processes -------------------------------------------------------
    def run(self, argv, env=None, check=True, input=None):
        p = subprocess.run(argv, env=env, capture_output=True, text=True, input=input, timeout=120)
        if check and p.returncode != 0:
            raise AssertionError(f"{argv[0]} exited {p.returncode}: {p.stderr}")
        return p

    def spawn(self, name, argv, cwd=None, env=None):
        log = open(os.path.join(self.dir, f"{name}.log"), "ab")
        self.logs[name] = log.name
        self.procs[name] = subprocess.Popen(argv, stdout=log, stderr=log, cwd=cwd, env=env)
        return self.procs[name]

    def kill(self, name, sig=signal.SIGKILL):
        p = self.procs.pop(name, None)
        if p and p.poll() is None:
            p.send_signal(sig)
            return p.wait(timeout=30)
        return p.returncode if p else None

    def log(self, name):
        with open(self.logs[name], errors="replace") as f:
            return f.read()

    def start_devsim(self):
        creds = os.path.join(self.devsim_dir, "credentials")
        with open(os.open(creds, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
            f.write("parley:devsim-secret-pw\n")
        port_file = os.path.join(self.devsim_dir, "port")
        argv = [os.path.join(BIN, "parley-devsim"), "--listen", "127.0.0.1:0", "--seed", str(self.seed),
                "--history-days", str(self.history_days), "--tls-dir", self.devsim_dir, "--credentials-file", creds,
                "--port-file", port_file, "--print-expected", os.path.join(self.devsim_dir, "expected.ndjson")]
        if self.calls is not None:
            argv += ["--calls", str(self.calls)]
        if self.live:
            argv += ["--live"]
        argv += self.devsim_args
        self.spawn("devsim", argv)
        # Generating (and printing) a million calls takes seconds before it listens.
        wait = max(30, (self.calls or 0) // 10_000)
        self.devsim_port = int(wait_until(lambda: open(port_file).read().strip(), wait, "devsim port"))
        return self.devsim_port

    def expected_calls(self):
        with open(os.path.join(self.devsim_dir, "expected.ndjson")) as f:
            return [json.loads(line) for line in f if line.strip()]

    def start_server(self):
        ports = os.path.join(self.server_dir, "ports.json")
        if os.path.exists(ports):
            os.remove(ports)
        self.spawn("server", [os.path.join(BIN, "parley"), "serve", "--config", self.config, "--ports-file", ports])
        wait_until(lambda: os.path.exists(ports), 30, "server ports file")
        wait_until(lambda: self.get("/readyz")[0] == 200, 30, "server /readyz")

    def enroll_agent(self, sources=None):
        """Enrolls an agent and writes its agent.toml. `sources` is the TOML
        text of its [[sources]] tables; by default the devsim DMA."""
        token = self.run([os.path.join(BIN, "parley"), "agent", "enroll-token", "--config", self.config,
                          "--tenant", TENANT]).stdout.strip()
        env = dict(os.environ, PARLEY_ENROLL_TOKEN=token)
        self.run([os.path.join(BIN, "parley-agent"), "enroll", "--server", f"https://127.0.0.1:{self.ingest_port}",
                  "--ca-file", os.path.join(self.server_dir, "agent-ca.crt"), "--dir", self.agent_dir,
                  "--name", "it-agent"], env=env)
        if sources is None:
            pw = os.path.join(self.agent_dir, "dma.password")
            with open(os.open(pw, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
                f.write("devsim-secret-pw\n")
            sources = f"""[[sources]]
name = "dma-main"
type = "dma"
url = "https://127.0.0.1:{self.devsim_port}"
username = "parley"
password_file = "dma.password"
ca_file = "{os.path.join(self.devsim_dir, 'devsim.crt')}"
"""
            if self.collect is not None:
                sources += "collect = [" + ", ".join(f'"{c}"' for c in self.collect) + "]\n"
        uploads = "" if self.uploads_in_flight is None else f"uploads_in_flight = {self.uploads_in_flight}\n"
        with open(os.path.join(self.agent_dir, "agent.toml"), "w") as f:
            f.write(f"""[server]
url = "https://127.0.0.1:{self.ingest_port}"
ca_file = "server-ca.crt"
cert_file = "agent.crt"
key_file = "agent.key"

[agent]
poll_interval_seconds = 1
max_batch_records = {self.batch_records}
max_batches_in_memory = 4
{uploads}heartbeat_interval_seconds = 5
backoff_cap_seconds = 2
log_level = "info"

{sources}""")

    def start_agent(self):
        # The agent runs with its own directory as cwd, HOME and TMPDIR, so
        # every file it could write lands where the privacy test looks.
        tmp = os.path.join(self.agent_dir, "tmp")
        os.makedirs(tmp, exist_ok=True)
        env = dict(os.environ, HOME=self.agent_dir, TMPDIR=tmp)
        self.spawn("agent", [os.path.join(BIN, "parley-agent"), "run", "--config",
                             os.path.join(self.agent_dir, "agent.toml")], cwd=self.agent_dir, env=env)

    def start_all(self):
        self.start_devsim()
        self.start_server()
        self.enroll_agent()
        self.start_agent()

    def close(self):
        for name in list(self.procs):
            self.kill(name, signal.SIGTERM)
        # Under `make asan` a sanitizer report in any process fails the test.
        for name, path in self.logs.items():
            with open(path, errors="replace") as f:
                text = f.read()
            for marker in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"):
                if marker in text:
                    raise AssertionError(f"{name} reported '{marker}'; log kept in {path}")
        if self.pg:
            self.pg.close()
        if os.environ.get("PARLEY_KEEP_TEST_DIRS"):
            print(f"kept {self.dir}")
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

    # -- portal API ------------------------------------------------------
    def request(self, method, path, body=None, headers=None):
        url = f"https://127.0.0.1:{self.portal_port}{path}"
        data = None
        hdrs = dict(headers or {})
        if body is not None:
            data = json.dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        if self.cookie:
            hdrs.setdefault("Cookie", self.cookie)
        req = urllib.request.Request(url, data=data, method=method, headers=hdrs)
        try:
            with urllib.request.urlopen(req, context=self.portal_ctx, timeout=30) as r:
                raw = r.read()
                return r.status, (json.loads(raw) if raw and "json" in r.headers.get("Content-Type", "") else raw), r.headers
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                parsed = json.loads(raw)
            except ValueError:
                parsed = raw
            return e.code, parsed, e.headers

    def get(self, path):
        return self.request("GET", path)

    def login(self, email="admin@demo.example", password=DEMO_PASSWORD):
        status, body, headers = self.request("POST", "/api/v1/auth/login", {"email": email, "password": password})
        if status == 200:
            self.cookie = headers["Set-Cookie"].split(";")[0]
            self.csrf = body["csrf_token"]
        return status, body, headers

    def total_calls(self):
        status, body, _ = self.get("/api/v1/calls?limit=1")
        assert status == 200, (status, body)
        return body["total"]

    def all_calls(self):
        calls, cursor = [], None
        while True:
            path = "/api/v1/calls?limit=500" + (f"&cursor={cursor}" if cursor else "")
            status, body, _ = self.get(path)
            assert status == 200, (status, body)
            calls += body["calls"]
            cursor = body["next_cursor"]
            if not cursor:
                return calls

    # -- ingest listener, as an agent -------------------------------------
    def ingest_context(self, cert=None, key=None):
        ctx = ssl.create_default_context(cafile=os.path.join(self.server_dir, "agent-ca.crt"))
        if cert:
            ctx.load_cert_chain(cert, key)
        return ctx

    def ingest(self, method, path, body=b"", headers=None, cert=None, key=None):
        cert = cert or os.path.join(self.agent_dir, "agent.crt")
        key = key or os.path.join(self.agent_dir, "agent.key")
        url = f"https://127.0.0.1:{self.ingest_port}{path}"
        req = urllib.request.Request(url, data=body if method != "GET" else None, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(req, context=self.ingest_context(cert, key), timeout=30) as r:
                return r.status, json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                return e.code, json.loads(raw)
            except ValueError:
                return e.code, raw

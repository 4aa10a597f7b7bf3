"""A throw-away PostgreSQL 15 cluster for integration tests.

initdb + pg_ctl in a temporary directory, on 127.0.0.1 and a free port,
password (SCRAM) authentication, with Parley's two roles (docs/postgresql.md):
parley_owner owns the database and runs the migrations, parley_app is the
application role (no ownership, no BYPASSRLS). As root the server runs as the
`postgres` user (initdb and postgres refuse root), as kamailio_pg_test.py
does. Standard library only.
"""
import os
import shutil
import subprocess
import tempfile

PG_BIN = "/usr/lib/postgresql/15/bin"
OWNER_PASSWORD = "owner-Secret-93"
APP_PASSWORD = "app-Secret-17"


def _free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresCluster:
    def __init__(self):
        if not os.path.exists(os.path.join(PG_BIN, "initdb")):
            raise AssertionError(f"{PG_BIN}/initdb is missing: install Debian's postgresql (scripts/install-deps)")
        self.dir = tempfile.mkdtemp(prefix="parley-pg-")
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres")
        self.data = os.path.join(self.dir, "data")
        self.port = _free_port()
        self.started = False
        try:
            self._pg(os.path.join(PG_BIN, "initdb"), "-D", self.data, "-U", "postgres", "--auth-local=trust",
                     "--auth-host=scram-sha-256")
            self.start()
            self.psql("CREATE ROLE parley_owner LOGIN PASSWORD '%s';"
                      "CREATE ROLE parley_app LOGIN PASSWORD '%s' NOSUPERUSER NOBYPASSRLS;"
                      "CREATE DATABASE parley OWNER parley_owner;" % (OWNER_PASSWORD, APP_PASSWORD))
        except BaseException:
            self.close()
            raise

    def _pg(self, *argv, input=None, check=True):
        if os.geteuid() == 0:
            argv = ("runuser", "-u", "postgres", "--") + argv
        p = subprocess.run(argv, capture_output=True, text=True, input=input, timeout=120)
        if check and p.returncode != 0:
            raise AssertionError(f"{argv} exited {p.returncode}: {p.stderr}")
        return p.stdout

    def start(self):
        self._pg(os.path.join(PG_BIN, "pg_ctl"), "-D", self.data, "-w", "-l", os.path.join(self.dir, "pg.log"),
                 "-o", f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1", "start")
        self.started = True

    def stop(self, mode="fast"):
        self._pg(os.path.join(PG_BIN, "pg_ctl"), "-D", self.data, "-m", mode, "-w", "stop")
        self.started = False

    def psql(self, sql, db="postgres"):
        """Runs SQL as the superuser over the Unix socket; returns unaligned rows."""
        return self._pg(os.path.join(PG_BIN, "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", self.dir,
                        "-p", str(self.port), "-d", db, "-At", input=sql)

    def app_url(self, db="parley"):
        return f"postgresql://parley_app:{APP_PASSWORD}@127.0.0.1:{self.port}/{db}"

    def owner_url(self, db="parley"):
        return f"postgresql://parley_owner:{OWNER_PASSWORD}@127.0.0.1:{self.port}/{db}"

    def close(self):
        if self.started:
            self._pg(os.path.join(PG_BIN, "pg_ctl"), "-D", self.data, "-m", "immediate", "-w", "stop", check=False)
            self.started = False
        shutil.rmtree(self.dir, ignore_errors=True)

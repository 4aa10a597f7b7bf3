#!/usr/bin/python3
"""Benchmark (issue 4, part a): end-to-end ingest rate against the raw
speed of the storage engine for the same rows.

End to end: real processes on loopback (tests/integration/harness.py):
parley-devsim (DMA API, `--calls N` over --history-days, the history's
call list entries serialized before the clock starts: --prerender-history), an enrolled
parley-agent collecting `history` pages (the fastest collector measured in
docs/performance.md; max_batch_records 20000, the server's default limit,
filled from DMA pages of 1000, docs/agent.md) and
shipping them over mutual TLS, two batches in flight (uploads_in_flight 2), and `parley serve` storing them (SQLite with
synchronous=FULL, or PostgreSQL in a throw-away cluster, pg_cluster.py),
rollups included. Timed from devsim ready until the usage report
(GET /api/v1/analytics/usage, from the rollups, polled every second) counts
N calls; GET /api/v1/calls `total` then confirms them.

Raw engine, same run, same rows: the calls Parley stored are read back from
its database and written into a fresh database with the same calls table
(same columns, the same sealed blobs, the same primary key and index):
  sqlite      one prepared INSERT (Python's sqlite3 executemany, the same
              libsqlite3), transactions of --raw-tx rows, with the
              connection settings of Parley's store (WAL, synchronous=FULL,
              foreign_keys=ON);
  postgresql  `COPY calls FROM 'calls.csv' CSV` run with psql, into a table
              with the same columns, primary key and index.
The rows are dumped before the timer starts; only the insert or COPY is
timed, --raw-runs times (3), each into a fresh database. Ratio = end-to-end
rate / the median raw run's rate (goal: >= 0.5); every run's rate is in the
result.

Both sides keep their files under the temporary directory (TMPDIR, /tmp
by default): Parley's database or PostgreSQL cluster and the raw
databases. The result names its filesystem ("storage"). With
TMPDIR=/dev/shm both run on tmpfs, storage as fast as memory: the ratio
without the disk's share (docs/performance.md, seventeenth round).

After the ingest, before the raw run: the latency of a party search through
the API for a frequent and a rare party value (party_search below); on
PostgreSQL also after VACUUM ANALYZE, the state autovacuum reaches a minute
or two after a bulk ingest.

Standard library only; /usr/bin/python3. Writes
bench/results/ingest_throughput_<backend>.json and prints a summary.
"""
import argparse
import collections
import datetime
import json
import os
import shutil
import signal
import sqlite3
import statistics
import sys
import tempfile
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
sys.path.insert(0, HERE)
from harness import BIN, Stack, wait_until  # noqa: E402
from agent_resources import MB, cpu_seconds, head_commit, machine, read_status  # noqa: E402


def start_devsim(stack, args):
    """As Stack.start_devsim, with --history-days of our own (the harness uses 3).
    --prerender-history: devsim serializes the history's call list entries
    before it listens, so before the clock starts, as the raw baseline's rows
    are read before its timer starts; serving them then costs devsim little
    of the two cores it shares with the agent and the server (docs/devsim.md)."""
    creds = os.path.join(stack.devsim_dir, "credentials")
    with open(os.open(creds, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
        f.write("parley:devsim-secret-pw\n")
    port_file = os.path.join(stack.devsim_dir, "port")
    stack.spawn("devsim", [os.path.join(BIN, "parley-devsim"), "--listen", "127.0.0.1:0", "--seed", "7",
                           "--history-days", str(args.history_days), "--calls", str(args.calls),
                           "--tls-dir", stack.devsim_dir, "--credentials-file", creds, "--port-file", port_file,
                           "--log-level", "warn"] + ([] if args.no_prerender else ["--prerender-history"]))
    stack.devsim_port = int(wait_until(lambda: open(port_file).read().strip(), 120, "devsim port"))


def postgres_cpu_seconds(pg):
    """CPU of the throw-away cluster: the postmaster with the children it
    has reaped (utime, stime, cutime, cstime) plus its live children
    (backends, autovacuum, WAL writer, checkpointer)."""
    with open(os.path.join(pg.data, "postmaster.pid")) as f:
        postmaster = int(f.readline())
    with open(f"/proc/{postmaster}/stat") as f:
        stat = f.read()
    fields = stat[stat.rindex(")") + 2:].split()
    total = sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue  # gone meanwhile
        if int(stat[stat.rindex(")") + 2:].split()[1]) == postmaster:
            total += cpu_seconds(int(entry))
    return total


def end_to_end(stack, args):
    """Starts devsim, server and agent; returns the figures once N calls are stored."""
    start_devsim(stack, args)
    stack.start_server()
    stack.login()
    pw = os.path.join(stack.agent_dir, "dma.password")
    with open(os.open(pw, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
        f.write("devsim-secret-pw\n")
    stack.enroll_agent(sources=f"""[[sources]]
name = "dma-main"
type = "dma"
url = "https://127.0.0.1:{stack.devsim_port}"
username = "parley"
password_file = "dma.password"
ca_file = "{os.path.join(stack.devsim_dir, 'devsim.crt')}"
collect = ["history"]
initial_history_days = {args.history_days + 2}
""")
    # Progress from the rollups (written in each batch's transaction, so they
    # count exactly the calls stored): counting the calls table itself once a
    # second cost the server ~10% of its CPU at 700,000 calls. The stored
    # calls are counted once at the end.
    today = datetime.datetime.now(datetime.timezone.utc).date()
    usage = ("/api/v1/analytics/usage?grain=day&from="
             f"{today - datetime.timedelta(days=args.history_days + 3)}&to={today + datetime.timedelta(days=1)}")

    def stored_calls():
        status, body, _ = stack.get(usage)
        assert status == 200, (status, body)
        return body["kpis"]["calls"]

    t0 = time.monotonic()
    stack.start_agent()
    pids = {name: stack.procs[name].pid for name in ("agent", "server", "devsim")}
    cpu0 = {name: cpu_seconds(pid) for name, pid in pids.items()}
    if stack.pg:
        cpu0["postgres"] = postgres_cpu_seconds(stack.pg)
    total, progress = 0, []
    while time.monotonic() - t0 < args.timeout:
        time.sleep(1.0)
        total = stored_calls()
        progress.append((round(time.monotonic() - t0, 1), total))
        if len(progress) % 30 == 0:
            print(f"  {progress[-1][0]:7.1f} s  {total:>8} calls", flush=True)
        if total >= args.calls:
            break
    elapsed = time.monotonic() - t0
    cpu = {name: round(cpu_seconds(pid) - cpu0[name], 2) for name, pid in pids.items()}
    # The kernel's high-water mark of each process's resident memory (VmHWM).
    peak_rss_mb = {name: round(read_status(pids[name])["VmHWM"] / MB, 1) for name in ("agent", "server")}
    if stack.pg:
        cpu["postgres"] = round(postgres_cpu_seconds(stack.pg) - cpu0["postgres"], 2)
    total = stack.total_calls()  # the calls table, once
    return {"calls_stored": total, "completed": total >= args.calls, "elapsed_s": round(elapsed, 1),
            "calls_per_s": round(total / elapsed, 1),
            "cpu_s": cpu, "cpu_s_per_100k_calls": {k: round(v / total * 1e5, 2) for k, v in cpu.items()},
            "peak_rss_mb": peak_rss_mb,
            "progress": progress[:: max(1, len(progress) // 40)]}


def party_search(stack, repeats=9):
    """Latency of a party search (GET /api/v1/calls?party=..., first and
    second page of 50, with its `total`) for the most and the least frequent
    party value among 500 recent calls, beside the unfiltered page: the blind
    index at the size the run left (docs/performance.md, "Search terms")."""
    status, body, _ = stack.get("/api/v1/calls?limit=500")
    assert status == 200, (status, body)
    seen = collections.Counter()
    for call in body["calls"]:
        for side in ("orig", "dest"):
            for field in ("number", "uri", "ip"):
                value = call[side].get(field)
                if value:
                    seen[value] += 1
    ranked = seen.most_common()

    def timed(path):
        times = []
        for _ in range(repeats):
            t0 = time.monotonic()
            status, answer, _ = stack.get(path)
            times.append((time.monotonic() - t0) * 1000)
            assert status == 200, (status, answer)
        times.sort()
        return answer, round(times[len(times) // 2], 1)

    out = {}
    _, out["all_calls_first_page_ms_p50"] = timed("/api/v1/calls?limit=50")
    for label, (value, _) in (("frequent_party", ranked[0]), ("rare_party", ranked[-1])):
        path = "/api/v1/calls?limit=50&party=" + urllib.parse.quote(value, safe="")
        first, first_ms = timed(path)
        entry = {"calls_matched": first["total"], "first_page_ms_p50": first_ms}
        if first.get("next_cursor"):
            _, entry["second_page_ms_p50"] = timed(path + "&cursor=" + urllib.parse.quote(first["next_cursor"], safe=""))
        out[label] = entry
    return out


def sqlite_path(stack):
    for line in open(stack.config):
        if line.strip().startswith("url") and "sqlite:" in line:
            path = line.split("sqlite:", 1)[1].strip().strip('"')
            return path if os.path.isabs(path) else os.path.join(stack.server_dir, path)
    return os.path.join(stack.server_dir, "parley.db")  # the default store.url, sqlite:parley.db


def raw_sqlite(stack, args):
    src = sqlite3.connect(sqlite_path(stack))
    ddl = [sql for (sql,) in src.execute(
        "SELECT sql FROM sqlite_master WHERE tbl_name IN ('tenants', 'calls') AND type IN ('table', 'index')"
        " AND sql IS NOT NULL ORDER BY type DESC")]  # tables before indexes; not the triggers of the term index
    tenants = src.execute("SELECT * FROM tenants").fetchall()
    # The order Parley inserted them; the rows as stored (since migration
    # 0019 with the call's search terms, docs/performance.md).
    read = src.execute("SELECT * FROM calls ORDER BY rowid")
    sealed = [d[0] for d in read.description].index("pii_sealed")
    rows = read.fetchall()
    src.close()
    blob = sum(len(r[sealed]) for r in rows) / len(rows)

    def one_run():
        tmp = tempfile.mkdtemp(prefix="parley-raw-")
        db = sqlite3.connect(os.path.join(tmp, "raw.db"), isolation_level=None)
        # The connection settings of Parley's store (src/store/sqlite/sqlite_store.cpp).
        for pragma in ("journal_mode=WAL", "synchronous=FULL", "foreign_keys=ON", "cache_size=-65536",
                       "wal_autocheckpoint=100000"):
            db.execute("PRAGMA " + pragma)
        for sql in ddl:
            db.execute(sql)
        db.executemany(f"INSERT INTO tenants VALUES ({','.join('?' * len(tenants[0]))})", tenants)
        insert = f"INSERT INTO calls VALUES ({','.join('?' * len(rows[0]))})"
        t0 = time.monotonic()
        for i in range(0, len(rows), args.raw_tx):
            db.execute("BEGIN")
            db.executemany(insert, rows[i:i + args.raw_tx])
            db.execute("COMMIT")
        elapsed = time.monotonic() - t0
        n = db.execute("SELECT count(*) FROM calls").fetchone()[0]
        db.close()
        shutil.rmtree(tmp, ignore_errors=True)
        return n, elapsed

    method = (f"one prepared INSERT (executemany), {args.raw_tx} rows per transaction, WAL, synchronous=FULL,"
              " foreign_keys=ON, cache_size=-65536, wal_autocheckpoint=100000 (Parley's connection settings)")
    return median_of_runs(args.raw_runs, one_run, method, blob, ddl)


def raw_postgres(stack, args):
    pg = stack.pg
    csv = os.path.join(pg.dir, "calls.csv")
    # Server-side COPY as the superuser (the file lands in the cluster's directory).
    pg.psql(f"COPY (SELECT * FROM calls) TO '{csv}' WITH (FORMAT csv)", db="parley")
    blob = pg.psql("SELECT avg(octet_length(pii_sealed)) FROM calls", db="parley").strip()
    cols = pg.psql("SELECT string_agg(format('%I %s', attname, format_type(atttypid, atttypmod))"
                   " || CASE WHEN attcollation <> 0 AND collname <> 'default' THEN ' COLLATE \"' || collname || '\"'"
                   " ELSE '' END || ' NOT NULL', ', ' ORDER BY attnum) FROM pg_attribute a"
                   " LEFT JOIN pg_collation c ON c.oid = a.attcollation"
                   " WHERE attrelid = 'calls'::regclass AND attnum > 0 AND NOT attisdropped", db="parley").strip()
    # Parley keeps a call's key unique in record_keys, across the monthly
    # partitions (migration 0017); the raw table, not partitioned, keeps it
    # as its primary key. Then every B-tree index Parley has on calls, as
    # Parley defines it. The search index (GIN on the calls' terms, migration
    # 0020) is left out, as the SQLite baseline leaves out its FTS5 index: the
    # raw rows carry the terms, the baseline does not index them.
    indexes = pg.psql("SELECT indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename = 'calls'"
                      " AND indexdef NOT LIKE '% USING gin %' ORDER BY indexname", db="parley").split("\n")
    indexes = [i.replace(" ON public.calls ", " ON calls ").replace(" ON ONLY public.calls ", " ON calls ")
               for i in indexes if i.strip()]
    if not indexes:
        raise SystemExit("raw baseline: no index found on Parley's calls table")
    ddl = [f"CREATE TABLE calls ({cols}, PRIMARY KEY (tenant_id, source, call_id))"] + indexes

    def one_run():
        pg.psql("CREATE DATABASE raw", db="postgres")
        pg.psql(";".join(ddl), db="raw")
        t0 = time.monotonic()
        pg.psql(f"COPY calls FROM '{csv}' WITH (FORMAT csv)", db="raw")
        elapsed = time.monotonic() - t0
        n = int(pg.psql("SELECT count(*) FROM calls", db="raw").strip())
        pg.psql("DROP DATABASE raw", db="postgres")
        return n, elapsed

    try:
        return median_of_runs(args.raw_runs, one_run, "psql: COPY calls FROM 'calls.csv' WITH (FORMAT csv),"
                              " one transaction, into a new database each run", float(blob), ddl)
    finally:
        os.remove(csv)


def storage():
    """Where both sides' files live: the temporary directory and the
    filesystem it is on (the longest mount point that holds it)."""
    tmp = os.path.realpath(tempfile.gettempdir())
    best = ("", "unknown", "unknown")
    with open("/proc/self/mounts") as f:
        for line in f:
            device, mount, fstype = line.split()[:3]
            inside = tmp == mount or tmp.startswith(mount.rstrip("/") + "/")
            if inside and len(mount) >= len(best[0]):
                best = (mount, fstype, device)
    return {"dir": tmp, "mount": best[0], "filesystem": best[1], "device": best[2]}


def median_of_runs(runs, one_run, method, blob, ddl):
    """The raw baseline timed `runs` times on fresh databases: its rate swings
    by a quarter between runs on a shared 2-core machine, so the ratio is
    taken against the median run; every run is kept in the result."""
    results = [one_run() for _ in range(runs)]
    if len({n for n, _ in results}) != 1:
        raise SystemExit(f"raw baseline: the runs stored different row counts: {[n for n, _ in results]}")
    n = results[0][0]
    median = statistics.median(n / elapsed for _, elapsed in results)
    return {"method": method, "rows": n, "runs": runs,
            "rows_per_s_each_run": [round(n / elapsed, 1) for _, elapsed in results],
            "elapsed_s": round(n / median, 2), "rows_per_s": round(median, 1),
            "avg_pii_sealed_bytes": round(blob, 1), "schema": ddl}


def main():
    # `kill PID` stops the processes and the cluster this run started (finally: below).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    ap.add_argument("--calls", type=int, default=1000000)
    ap.add_argument("--batch-records", type=int, default=20000,
                    help="agent max_batch_records (at most the server's limit, 20000 by default; the agent reads"
                         " DMA pages of 1000)")
    ap.add_argument("--uploads-in-flight", type=int, default=2,
                    help="agent uploads_in_flight (its default 2: two batches of the source in flight at once)")
    ap.add_argument("--history-days", type=int, default=30)
    ap.add_argument("--no-prerender", action="store_true",
                    help="devsim serializes each page as the agent asks for it (before the clock: --prerender-history)")
    ap.add_argument("--raw-tx", type=int, default=100000, help="rows per transaction of the raw SQLite insert")
    ap.add_argument("--raw-runs", type=int, default=3,
                    help="timed runs of the raw baseline, each into a fresh database; the ratio uses the median")
    ap.add_argument("--timeout", type=float, default=1800)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    out = args.out or os.path.join(HERE, "results", f"ingest_throughput_{args.backend}.json")
    stack = Stack(calls=args.calls, batch_records=args.batch_records, store=args.backend,
                  uploads_in_flight=args.uploads_in_flight)
    try:
        e2e = end_to_end(stack, args)
        print(json.dumps({k: v for k, v in e2e.items() if k != "progress"}), flush=True)
        stack.kill("agent")
        search = party_search(stack)
        print(json.dumps(search), flush=True)
        if args.backend == "postgres":
            # Right after a bulk ingest autovacuum has not yet visited the new
            # rows (no visibility map for index-only counts, no statistics):
            # the same searches again once it has, as VACUUM ANALYZE does now.
            stack.pg.psql("VACUUM ANALYZE", db="parley")
            search["after_vacuum_analyze"] = party_search(stack)
            print(json.dumps(search["after_vacuum_analyze"]), flush=True)
        stack.kill("devsim")
        raw = raw_sqlite(stack, args) if args.backend == "sqlite" else raw_postgres(stack, args)
    finally:
        stack.close()
    result = {
        "benchmark": "ingest_throughput (issue 4a)",
        "command": ("TMPDIR=" + os.environ["TMPDIR"] + " " if os.environ.get("TMPDIR") else "")
                   + "python3 bench/ingest_throughput.py " + " ".join(sys.argv[1:]),
        "backend": args.backend,
        "calls": args.calls,
        "agent": {"collect": "history", "max_batch_records": args.batch_records,
                  "uploads_in_flight": args.uploads_in_flight},
        "end_to_end": e2e,
        "party_search": search,
        "raw_engine": raw,
        "ratio_end_to_end_over_raw": round(e2e["calls_per_s"] / raw["rows_per_s"], 4),
        "goal_ratio": 0.5,
        "goal_met": e2e["calls_per_s"] / raw["rows_per_s"] >= 0.5,
        "machine": machine(),
        "storage": storage(),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "commit": head_commit(),
    }
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        json.dump(result, f, indent=2)
        f.write("\n")
    print(json.dumps({k: result[k] for k in ("backend", "ratio_end_to_end_over_raw", "goal_met")}),
          json.dumps({k: v for k, v in raw.items() if k != "schema"}))
    print(f"wrote {out}")
    return 0 if e2e["completed"] else 1


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""Benchmark (issue 4, part b): the dashboard queries over one tenant's year
of calls, through the Store interface, against a full scan of the raw calls.

Runs build/bench/parley-rollup-bench (bench/rollup_queries.cpp) on a fresh
SQLite file and/or a throw-away PostgreSQL cluster (tests/integration/
pg_cluster.py: parley_app through row-level security, migrations as
parley_owner). The program fills --calls calls through Store::CommitBatch,
then times ListRollups / ListHourlyPeaks (--reps runs: p50, p99) and the same
aggregates as SQL GROUP BY over the calls table (--scan-reps runs).
Goals: p99 < 50 ms, and >= 50x faster than the full scan.

Standard library only; /usr/bin/python3. Writes
bench/results/rollup_queries_<backend>.json and prints a summary.
"""
import argparse
import datetime
import json
import os
import signal
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
sys.path.insert(0, HERE)
from agent_resources import head_commit, machine  # noqa: E402

BUILD = os.environ.get("PARLEY_BUILD_DIR", os.path.join(HERE, "..", "build"))


def run(backend, args):
    prog = os.path.join(BUILD, "bench", "parley-rollup-bench")
    out = tempfile.mktemp(prefix="parley-rollup-", suffix=".json")
    scan_reps = 0 if args.scans_from else args.scan_reps
    argv = [prog, "--calls", str(args.calls), "--batch", str(args.batch), "--reps", str(args.reps),
            "--scan-reps", str(scan_reps),
            "--out", out]
    tmp, pg = None, None
    try:
        if backend == "sqlite":
            tmp = tempfile.mkdtemp(prefix="parley-rollup-")
            db = args.sqlite_db or os.path.join(tmp, "bench.db")
            argv += ["--store", "sqlite:" + os.path.abspath(db)]
        else:
            from pg_cluster import PostgresCluster
            pg = PostgresCluster()
            argv += ["--store", pg.app_url(), "--migrate-url", pg.owner_url()]
        t0 = time.monotonic()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
        wall = time.monotonic() - t0
        with open(out) as f:
            result = json.load(f)
        os.remove(out)
    finally:
        if pg:
            pg.close()
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    result["wall_s"] = round(wall, 1)
    if args.scans_from:  # the full scans of an earlier run on the same database
        with open(args.scans_from) as f:
            earlier = json.load(f)["queries"]
        for name, q in result["queries"].items():
            q["full_scan"] = dict(earlier[name]["full_scan"], from_file=args.scans_from)
            q["speedup_p50"] = q["full_scan"]["p50_ms"] / q["store"]["p50_ms"]
    for q in result["queries"].values():
        q["goal_p99_met"] = q["store"]["p99_ms"] < 50
        q["goal_speedup_met"] = q["speedup_p50"] >= 50
    return result


def main():
    # `kill PID` stops the processes and the cluster this run started (finally: below).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    ap.add_argument("--calls", type=int, default=10000000)
    ap.add_argument("--batch", type=int, default=5000, help="calls per CommitBatch (the server's limit: 5000)")
    ap.add_argument("--reps", type=int, default=200)
    ap.add_argument("--scan-reps", type=int, default=3)
    ap.add_argument("--sqlite-db", default=None, help="keep/reuse this SQLite file (default: a temporary one)")
    ap.add_argument("--scans-from", default=None,
                    help="skip the full scans and take them from this earlier result (same --sqlite-db)")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    out = args.out or os.path.join(HERE, "results", f"rollup_queries_{args.backend}.json")
    result = {"benchmark": "rollup_queries (issue 4b)",
              "command": "python3 bench/rollup_queries.py " + " ".join(sys.argv[1:])}
    result.update(run(args.backend, args))
    result.update({"machine": machine(),
                   "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                   "commit": head_commit()})
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        json.dump(result, f, indent=2)
        f.write("\n")
    print(json.dumps(result["fill"]))
    for name, q in result["queries"].items():
        print(f"{name:24} store p50 {q['store']['p50_ms']:8.2f} ms  p99 {q['store']['p99_ms']:8.2f} ms"
              f" (CPU p50 {q['store'].get('cpu_p50_ms', 0):7.2f} p99 {q['store'].get('cpu_p99_ms', 0):7.2f})"
              f"  full scan p50 {q['full_scan']['p50_ms']:9.1f} ms  x{q['speedup_p50']:.0f}")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

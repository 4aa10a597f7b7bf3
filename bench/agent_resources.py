#!/usr/bin/python3
"""Benchmark (issue 3): the agent's memory and CPU while it collects and ships
N call detail records (default 1,000,000) from parley-devsim to a real
`parley serve` (SQLite).

Real processes on loopback, started with tests/integration/harness.py:
parley-devsim (DMA API, `--calls N`), parley serve, and an enrolled
parley-agent (max_batches_in_memory 4, the default). Every 100 ms the
agent's VmRSS / VmHWM / RssAnon / RssFile are read from /proc/PID/status;
its CPU time (utime + stime, /proc/PID/stat) is read when collection starts
and when the API's GET /api/v1/calls `total` reaches N.

Baseline, in the same run and the same process: the agent is started while
its device is not reachable yet (nothing listens on the devsim port), so it
has loaded its configuration and TLS contexts, sent its heartbeat and read
its cursors, but fetched no page. Its RSS over 3 s is the baseline; then
devsim starts on that port and the agent's next poll begins collecting.

Scenarios (--collect):
  history     GET /api/rest/calls pages (the agent's default sub-resource);
              the page size is max_batch_records, and the DMA API (devsim)
              accepts limit 1..1000, so --batch-records defaults to 1000.
  cdr_export  the DMA CDR export (ZIP of two CSVs), batches of up to 5000
              (the server's limit).

Standard library only; /usr/bin/python3. Writes
bench/results/agent_resources.json (or --out) and prints it.
"""
import argparse
import datetime
import json
import os
import platform
import signal
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
from harness import BIN, REPO, Stack, free_port, wait_until  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")
MB = 1024 * 1024


def read_status(pid):
    """VmRSS, VmHWM, RssAnon, RssFile in bytes (from /proc/PID/status)."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile", "RssShmem", "Threads"):
                parts = rest.split()
                out[key] = int(parts[0]) * (1024 if key != "Threads" else 1)
    return out


def cpu_seconds(pid):
    """utime + stime of the process (all threads), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    fields = stat[stat.rindex(")") + 2:].split()  # fields from 3 (state) on
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


class Sampler(threading.Thread):
    """Reads the agent's memory every `interval` seconds until stopped."""

    def __init__(self, pid, interval=0.1):
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.samples = []  # (monotonic time, status dict)
        self.stopped = threading.Event()

    def run(self):
        while not self.stopped.is_set():
            try:
                self.samples.append((time.monotonic(), read_status(self.pid)))
            except (FileNotFoundError, ProcessLookupError):
                return
            self.stopped.wait(self.interval)

    def peak(self, key, since=None):
        vals = [s[key] for t, s in self.samples if since is None or t >= since]
        return max(vals) if vals else 0


def machine():
    model = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem_kb = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    return {"nproc": os.cpu_count(), "cpu_model": model, "mem_total_mb": round(mem_kb / 1024),
            "kernel": platform.release()}


def head_commit():
    """The commit of the checkout, read from .git (no git process is run)."""
    git = os.path.join(REPO, ".git")
    try:
        head = open(os.path.join(git, "HEAD")).read().strip()
        if not head.startswith("ref: "):
            return head
        ref = head[5:]
        path = os.path.join(git, ref)
        if os.path.exists(path):
            return open(path).read().strip()
        with open(os.path.join(git, "packed-refs")) as f:
            for line in f:
                if line.strip().endswith(" " + ref):
                    return line.split()[0]
    except OSError:
        pass
    return "unknown"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, default=1000000, help="history calls devsim serves (default 1000000)")
    ap.add_argument("--collect", choices=("history", "cdr_export"), default="history")
    ap.add_argument("--batch-records", type=int, default=None,
                    help="agent max_batch_records (default 1000: the DMA history page limit, used for both collectors)")
    ap.add_argument("--batches-in-memory", type=int, default=4, help="agent max_batches_in_memory (default 4)")
    ap.add_argument("--history-days", type=int, default=30, help="devsim --history-days (default 30)")
    ap.add_argument("--timeout", type=float, default=1500, help="seconds to wait for all calls (default 1500)")
    ap.add_argument("--goal-mb", type=float, default=32.0)
    ap.add_argument("--out", default=os.path.join(HERE, "results", "agent_resources.json"))
    args = ap.parse_args()
    batch = args.batch_records or 1000  # the same batch size for both collectors: like for like

    stack = Stack(calls=args.calls, batch_records=batch)
    result = {}
    try:
        stack.start_server()
        stack.login()

        # Devsim's port is chosen now, but devsim starts only after the baseline.
        devsim_port = free_port()
        stack.devsim_port = devsim_port
        creds = os.path.join(stack.devsim_dir, "credentials")
        with open(os.open(creds, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
            f.write("parley:devsim-secret-pw\n")
        # The agent's ca_file must exist when it starts: devsim makes its
        # certificate in --tls-dir on first start, so run it once briefly
        # with no calls (it reuses the certificate afterwards).
        port_file = os.path.join(stack.devsim_dir, "port")
        devsim_argv = [os.path.join(BIN, "parley-devsim"), "--listen", f"127.0.0.1:{devsim_port}",
                       "--seed", "7", "--history-days", str(args.history_days), "--calls", str(args.calls),
                       "--tls-dir", stack.devsim_dir, "--credentials-file", creds, "--port-file", port_file,
                       "--log-level", "warn"]
        warm = subprocess.Popen(devsim_argv[:7] + ["--calls", "0"] + devsim_argv[9:], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        wait_until(lambda: os.path.exists(port_file), 60, "devsim certificate")
        warm.send_signal(signal.SIGTERM)
        warm.wait(timeout=30)
        os.remove(port_file)

        pw = os.path.join(stack.agent_dir, "dma.password")
        with open(os.open(pw, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
            f.write("devsim-secret-pw\n")
        sources = f"""[[sources]]
name = "dma-main"
type = "dma"
url = "https://127.0.0.1:{devsim_port}"
username = "parley"
password_file = "dma.password"
ca_file = "{os.path.join(stack.devsim_dir, 'devsim.crt')}"
collect = ["{args.collect}"]
initial_history_days = {args.history_days + 2}
"""
        stack.enroll_agent(sources=sources)
        toml = os.path.join(stack.agent_dir, "agent.toml")
        text = open(toml).read().replace("max_batches_in_memory = 4",
                                         f"max_batches_in_memory = {args.batches_in_memory}")
        open(toml, "w").write(text)

        # --- baseline: the agent up, its device not reachable yet -------------
        stack.start_agent()
        agent = stack.procs["agent"]
        sampler = Sampler(agent.pid)
        sampler.start()
        t_agent = time.monotonic()
        wait_until(lambda: "dma-main" in stack.log("agent") or time.monotonic() - t_agent > 3, 30, "agent start")
        time.sleep(3)
        t_base_end = time.monotonic()
        base = [s for t, s in sampler.samples if t <= t_base_end]
        baseline_rss = max(s["VmRSS"] for s in base)
        baseline_anon = max(s["RssAnon"] for s in base)
        baseline_file = max(s["RssFile"] for s in base)
        baseline_cpu = cpu_seconds(agent.pid)

        # --- devsim up: collection starts at the agent's next poll (1 s) ------
        t0 = time.monotonic()
        devsim = stack.spawn("devsim", devsim_argv)
        wait_until(lambda: os.path.exists(port_file), 300, "devsim port")
        t_ready = time.monotonic()
        devsim_gen_s = t_ready - t0
        devsim_rss = read_status(devsim.pid)["VmRSS"]
        cpu_start = cpu_seconds(agent.pid)
        server_pid = stack.procs["server"].pid
        server_cpu_start = cpu_seconds(server_pid)
        devsim_cpu_start = cpu_seconds(devsim.pid)

        total, progress, done = 0, [], False
        deadline = t_ready + args.timeout
        last_print = 0
        while time.monotonic() < deadline:
            time.sleep(1.0)
            if agent.poll() is not None:
                raise AssertionError(f"agent exited {agent.returncode}:\n{stack.log('agent')[-3000:]}")
            total = stack.total_calls()
            now = time.monotonic()
            progress.append((round(now - t_ready, 1), total))
            if now - last_print >= 30:
                last_print = now
                rss = sampler.samples[-1][1]["VmRSS"] / MB if sampler.samples else 0
                print(f"  {now - t_ready:7.1f} s  {total:>8} calls  agent RSS {rss:.1f} MB", flush=True)
            if total >= args.calls:
                done = True
                break
        t_end = time.monotonic()
        cpu_end = cpu_seconds(agent.pid)
        server_cpu = cpu_seconds(server_pid) - server_cpu_start
        devsim_cpu = cpu_seconds(devsim.pid) - devsim_cpu_start
        sampler.stopped.set()
        sampler.join()
        last = read_status(agent.pid)

        elapsed = t_end - t_ready
        agent_cpu = cpu_end - cpu_start
        peak_rss = sampler.peak("VmRSS", since=t_ready)
        peak_anon = sampler.peak("RssAnon", since=t_ready)
        peak_file = sampler.peak("RssFile", since=t_ready)
        hwm = max(last["VmHWM"], sampler.peak("VmHWM"))
        log = stack.log("agent")
        result = {
            "benchmark": "agent_resources (issue 3)",
            "command": "python3 bench/agent_resources.py " + " ".join(sys.argv[1:]),
            "scenario": {"collect": args.collect, "max_batch_records": batch,
                         "max_batches_in_memory": args.batches_in_memory, "devsim_history_days": args.history_days,
                         "store": "sqlite"},
            "n_requested": args.calls,
            "n_shipped": total,
            "completed": done,
            "elapsed_s": round(elapsed, 1),
            "records_per_s_end_to_end": round(total / elapsed, 1) if elapsed > 0 else None,
            "agent": {
                "baseline_rss_mb": round(baseline_rss / MB, 2),
                "baseline_rss_anon_mb": round(baseline_anon / MB, 2),
                "baseline_rss_file_mb": round(baseline_file / MB, 2),
                "peak_rss_mb": round(peak_rss / MB, 2),
                "peak_rss_anon_mb": round(peak_anon / MB, 2),
                "peak_rss_file_mb": round(peak_file / MB, 2),
                "vm_hwm_mb": round(hwm / MB, 2),
                "final_rss_mb": round(last["VmRSS"] / MB, 2),
                "threads": last.get("Threads"),
                "peak_over_baseline": round(peak_rss / baseline_rss, 2),
                "goal_mb": args.goal_mb,
                "goal_met": hwm / MB < args.goal_mb,
                "cpu_s_startup_idle": round(baseline_cpu, 3),
                "cpu_s": round(agent_cpu, 2),
                "cpu_s_per_100k_records": round(agent_cpu / total * 100000, 3) if total else None,
                "cpu_share_of_elapsed": round(agent_cpu / elapsed, 3) if elapsed > 0 else None,
                "samples": len(sampler.samples),
                "log_warnings": sum(1 for line in log.splitlines() if " warn" in line.lower()),
            },
            "server": {"cpu_s": round(server_cpu, 2),
                       "cpu_s_per_100k_records": round(server_cpu / total * 100000, 2) if total else None},
            "devsim": {"generation_s": round(devsim_gen_s, 2), "rss_mb_after_generation": round(devsim_rss / MB, 1),
                       "cpu_s_serving": round(devsim_cpu, 2)},
            "progress": progress[:: max(1, len(progress) // 60)] + ([progress[-1]] if progress else []),
            "rss_timeline_mb": [(round(t - t_agent, 1), round(s["VmRSS"] / MB, 2))
                                for t, s in sampler.samples[:: max(1, len(sampler.samples) // 120)]],
            "machine": machine(),
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "commit": head_commit(),
        }
    finally:
        stack.kill("agent", signal.SIGTERM)  # first, so it logs no upload errors
        stack.close()

    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=2)
        f.write("\n")
    a = result["agent"]
    print(json.dumps({k: result[k] for k in ("scenario", "n_shipped", "completed", "elapsed_s",
                                             "records_per_s_end_to_end")}, indent=None))
    print(json.dumps(a, indent=None))
    print(f"wrote {args.out}")
    return 0 if result["completed"] else 1


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Measure "green computing" figures for Larder against Redis 7, one run each.

    python3 bench/green.py [--larder target/release/larder] [--rounds 3] [--idle-secs 60]

Three figures, both servers on loopback in the same run so ratios compare like with like:

1. Server CPU-seconds per million operations under the same redis-benchmark load
   (`-t set,get -c 50 -d 64 -r 100000`, with `-P 16` and with `-P 1`). CPU is utime+stime of the
   server process from /proc/<pid>/stat, read before and after each redis-benchmark run. Larder and
   Redis rounds are interleaved (ABBA order), so drift on the noisy machine hits both.
2. Idle CPU of a node holding `--keys` keys that all have a TTL (600..3600 s), over
   `--idle-secs` seconds with no clients, as % of one core, with a per-thread breakdown from
   /proc/<pid>/task/*/stat.
3. Bytes per key: VmRSS growth while loading `--keys` keys (16-byte keys, 64-byte values),
   without and with a TTL.

Writes bench/results/green.md (the command that produced it is at the top). Needs redis-server,
redis-cli and redis-benchmark (Debian: redis-server, redis-tools) and a release build of larder.
Only processes this script starts are stopped, by PID.
"""

import argparse
import csv
import io
import os
import random
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from compare_redis import dbsize, free_port, rss_kib, start_redis, stop  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")
BENCH_TIMEOUT = 900  # seconds, per redis-benchmark or redis-cli --pipe run
CAPACITY = 1 << 30   # Larder's default namespace: big enough that no load here evicts


# ---------------------------------------------------------------- servers

def start_larder(binary: str) -> tuple[subprocess.Popen, int]:
    """Start a memory-only node on loopback ports picked by the kernel; return it and its RESP port."""
    cmd = [binary, "serve", "--no-persist", "--resp-addr", "127.0.0.1:0",
           "--http-addr", "127.0.0.1:0", "--log-level", "warn", "--capacity-bytes", str(CAPACITY)]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    deadline = time.monotonic() + 30
    for line in p.stdout:
        if line.startswith("larder ready "):
            fields = dict(kv.split("=", 1) for kv in line.split()[2:])
            port = int(fields["resp_addr"].rsplit(":", 1)[1])
            # Keep draining stdout so the node never blocks on a full pipe.
            threading.Thread(target=p.stdout.read, daemon=True).start()
            return p, port
        if time.monotonic() > deadline:
            break
    stop(p)
    raise RuntimeError("larder exited (or took over 30 s) before its ready line")


class Servers:
    """Every server process this script started, stopped by PID at the end."""

    def __init__(self, larder: str, workdir: str):
        self.larder, self.workdir, self.procs = larder, workdir, []

    def start(self, name: str) -> tuple[subprocess.Popen, int]:
        if name == "larder":
            p, port = start_larder(self.larder)
        else:
            port = free_port()
            p = start_redis(port, self.workdir)  # --save "" --appendonly no, 127.0.0.1 only
        self.procs.append(p)
        return p, port

    def stop(self, p: subprocess.Popen) -> None:
        if p.poll() is None:
            stop(p)
        if p in self.procs:
            self.procs.remove(p)

    def stop_all(self) -> None:
        for p in list(self.procs):
            self.stop(p)


# ---------------------------------------------------------------- /proc readers

def cpu_ticks(pid: int) -> int:
    """utime+stime of the whole process (fields 14 and 15 of /proc/<pid>/stat), in clock ticks."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2:].split()  # fields from 3 on; comm may hold spaces
    return int(fields[11]) + int(fields[12])


def thread_ticks(pid: int) -> dict[int, tuple[str, int]]:
    out = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            stat = (task / "stat").read_text()
        except OSError:
            continue  # the thread ended meanwhile
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        out[int(task.name)] = (comm, int(fields[11]) + int(fields[12]))
    return out


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


# ---------------------------------------------------------------- loads

def redis_benchmark(port: int, tests: str, requests: int, pipeline: int) -> dict:
    cmd = ["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-t", tests, "-n", str(requests),
           "-c", "50", "-P", str(pipeline), "-d", "64", "-r", "100000", "--csv", "-q"]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=BENCH_TIMEOUT).stdout
    rows = {r["test"]: float(r["rps"]) for r in csv.DictReader(io.StringIO(out))}
    if len(rows) != len(tests.split(",")):
        raise RuntimeError(f"redis-benchmark printed nothing usable: {out!r}")
    return rows


def resp_load(keys: int, ttl: bool) -> bytes:
    """`keys` SETs of 16-byte keys and 64-byte values, with EX 600..3600 if `ttl`."""
    rng = random.Random(1)
    value = b"v" * 64
    parts = []
    for i in range(keys):
        key = b"key:%012d" % i  # 16 bytes
        if ttl:
            secs = b"%d" % rng.randint(600, 3600)
            parts.append(b"*5\r\n$3\r\nSET\r\n$16\r\n%s\r\n$64\r\n%s\r\n$2\r\nEX\r\n$%d\r\n%s\r\n"
                         % (key, value, len(secs), secs))
        else:
            parts.append(b"*3\r\n$3\r\nSET\r\n$16\r\n%s\r\n$64\r\n%s\r\n" % (key, value))
    return b"".join(parts)


def pipe_in(port: int, payload: bytes) -> None:
    out = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(port), "--pipe"], input=payload,
                         check=True, capture_output=True, timeout=BENCH_TIMEOUT).stdout
    if b"errors: 0," not in out:
        raise RuntimeError(f"redis-cli --pipe reported errors: {out[-300:]!r}")


def ttl_sample(port: int, keys: int, sample: int = 200) -> tuple[int, int]:
    """Of `sample` loaded keys spread over the key range, how many have a TTL (TTL > 0)."""
    names = [f"key:{i:012d}" for i in range(0, keys, max(1, keys // sample))][:sample]
    out = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(port)],
                         input="".join(f"TTL {k}\n" for k in names), capture_output=True,
                         text=True, timeout=60).stdout.split()
    return sum(1 for x in out if x.lstrip("-").isdigit() and int(x) > 0), len(names)


# ---------------------------------------------------------------- the three figures

def cpu_per_op(servers: Servers, rounds: int, configs: list[tuple[int, int]]) -> list[dict]:
    """Both servers stay up for the whole section; rounds alternate the order (ABBA)."""
    procs = {name: servers.start(name) for name in ("larder", "redis")}
    for name, (p, port) in procs.items():  # GETs then read keys written before, as in compare_redis
        redis_benchmark(port, "set", 200_000, 16)
    rows = []
    for pipeline, requests in configs:
        for rnd in range(rounds):
            order = ("larder", "redis") if rnd % 2 == 0 else ("redis", "larder")
            for name in order:
                p, port = procs[name]
                time.sleep(2)  # let the previous run's work drain
                c0, k0, t0 = children_cpu(), cpu_ticks(p.pid), time.monotonic()
                rps = redis_benchmark(port, "set,get", requests, pipeline)
                k1, t1, c1 = cpu_ticks(p.pid), time.monotonic(), children_cpu()
                ops = 2 * requests
                cpu = (k1 - k0) / TICK
                row = {"server": name, "pipeline": pipeline, "requests": requests, "round": rnd + 1,
                       "ops": ops, "cpu_s": cpu, "cpu_per_m": cpu / (ops / 1e6), "wall_s": t1 - t0,
                       "set_rps": rps["SET"], "get_rps": rps["GET"],
                       "client_cpu_s": c1 - c0}
                rows.append(row)
                print(row, flush=True)
    for p, _ in procs.values():
        servers.stop(p)
    return rows


def idle(servers: Servers, name: str, payload: bytes | None, keys: int, settle: float,
         secs: float) -> dict:
    p, port = servers.start(name)
    try:
        if payload:
            pipe_in(port, payload)
        n, expiring = dbsize(port), ttl_sample(port, keys)
        time.sleep(settle)
        th0, k0, t0 = thread_ticks(p.pid), cpu_ticks(p.pid), time.monotonic()
        time.sleep(secs)
        th1, k1, t1 = thread_ticks(p.pid), cpu_ticks(p.pid), time.monotonic()
        n_after = dbsize(port)
    finally:
        servers.stop(p)
    wall = t1 - t0
    threads: dict[str, list] = {}  # name -> [ticks, count]
    for tid, (comm, ticks) in th1.items():
        before = th0.get(tid, (comm, 0))[1]
        entry = threads.setdefault(comm, [0, 0])
        entry[0] += ticks - before
        entry[1] += 1
    # The process total is not exactly the sum of its threads' (threads that ended in the window,
    # and the kernel scales utime/stime per task and per process separately): show the rest.
    rest = (k1 - k0) - sum(t for t, _ in threads.values())
    if rest:
        threads.setdefault("(process total minus threads)", [0, 0])[0] += rest
    row = {"server": name, "keys": n, "expiring": expiring, "keys_after": n_after, "wall_s": wall,
           "cpu_s": (k1 - k0) / TICK, "pct": 100 * (k1 - k0) / TICK / wall,
           "threads": {c: (t / TICK, 100 * t / TICK / wall, cnt) for c, (t, cnt) in threads.items()}}
    print(row, flush=True)
    return row


def memory(servers: Servers, name: str, payload: bytes, ttl: bool) -> dict:
    p, port = servers.start(name)
    try:
        time.sleep(1)
        before = rss_kib(p.pid)
        pipe_in(port, payload)
        time.sleep(2)
        after = rss_kib(p.pid)
        n = dbsize(port)
    finally:
        servers.stop(p)
    per_key = (after - before) * 1024 / max(n, 1)
    row = {"server": name, "ttl": ttl, "keys": n, "rss_before_mib": before / 1024,
           "rss_delta_mib": (after - before) / 1024, "bytes_per_key": per_key,
           "overhead": per_key - 16 - 64}
    print(row, flush=True)
    return row


# ---------------------------------------------------------------- report

def med(rows: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in rows)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--larder", default="target/release/larder")
    ap.add_argument("--rounds", type=int, default=3, help="rounds per server and pipeline depth (>= 2)")
    ap.add_argument("--pipelined-requests", type=int, default=1_000_000, help="-n for -P 16")
    ap.add_argument("--unpipelined-requests", type=int, default=300_000, help="-n for -P 1")
    ap.add_argument("--keys", type=int, default=1_000_000)
    ap.add_argument("--idle-secs", type=float, default=60.0)
    ap.add_argument("--settle-secs", type=float, default=5.0, help="wait after loading, before idle")
    ap.add_argument("--out", default=str(ROOT / "bench/results/green.md"))
    ap.add_argument("--note", default="", help="a line about the conditions of this run")
    args = ap.parse_args()
    if args.rounds < 2:
        ap.error("--rounds must be at least 2")
    larder = os.path.abspath(args.larder)
    redis_version = subprocess.run(["redis-server", "--version"], capture_output=True, text=True,
                                   check=True).stdout.split()[2].removeprefix("v=")
    started = time.strftime("%Y-%m-%d %H:%M")

    configs = [(16, args.pipelined_requests), (1, args.unpipelined_requests)]
    with tempfile.TemporaryDirectory() as workdir:
        servers = Servers(larder, workdir)
        try:
            cpu_rows = cpu_per_op(servers, args.rounds, configs)
            ttl_payload = resp_load(args.keys, ttl=True)
            idle_rows = []
            for name in ("larder", "redis"):
                idle_rows.append(idle(servers, name, ttl_payload, args.keys, args.settle_secs,
                                      args.idle_secs))
            plain_payload = resp_load(args.keys, ttl=False)
            mem_rows = []
            for ttl, payload in ((False, plain_payload), (True, ttl_payload)):
                for name in ("larder", "redis"):
                    mem_rows.append(memory(servers, name, payload, ttl))
        finally:
            servers.stop_all()

    # Name the binary relative to the repository so the results file holds no local path.
    shown = []
    for a in sys.argv[1:]:
        if os.path.isabs(a):
            a = os.path.relpath(a, ROOT) if a.startswith(str(ROOT)) else Path(a).name
        shown.append(a)
    cmd = " ".join(["python3 bench/green.py"] + [shlex.quote(a) for a in shown])

    L = [
        "# Green computing: CPU per operation, idle CPU, memory per key (Larder vs Redis)",
        "",
        f"Produced by `{cmd}` on {started} ({os.cpu_count()} cores, loopback, one run).",
        f"Larder: `{os.path.relpath(larder, ROOT) if larder.startswith(str(ROOT)) else args.larder}` "
        f"(`serve --no-persist --capacity-bytes {CAPACITY}`, default policy); "
        f"Redis {redis_version} (`--save '' --appendonly no`, defaults otherwise: one command thread, hz 10).",
    ]
    if args.note:
        L.append(args.note)
    L += [
        "",
        "## Method",
        "",
        "Both servers run on 127.0.0.1 on this machine in the same run, and the load generator "
        "(redis-benchmark / redis-cli) shares the same cores with them, so absolute figures are low "
        "and noisy; only ratios from this one run are quoted. Server CPU is utime+stime of the server "
        "process (all its threads) from `/proc/<pid>/stat`, in clock ticks "
        f"(1/{TICK} s), read just before and just after each redis-benchmark run; ops = 2 × `-n` "
        "(one SET and one GET test per run). Both servers stay up for the whole CPU section, each was "
        "first filled by one `SET -n 200000 -P 16` run so GETs hit, and the rounds alternate the order "
        "(Larder first, then Redis first, ...). Client CPU is what redis-benchmark itself used "
        "(getrusage of children), shown to make the sharing visible. Idle CPU: a fresh server is "
        f"loaded with {args.keys:,} keys by `redis-cli --pipe` (`SET key:<12 digits> <64 B> EX "
        f"<600..3600>`), left alone {args.settle_secs:g} s, then utime+stime of the process and of "
        f"each thread (`/proc/<pid>/task/*/stat`) is read over {args.idle_secs:g} s with no client "
        "connected. Memory: growth of VmRSS (`/proc/<pid>/status`) of a fresh server while loading "
        f"{args.keys:,} keys of 16 B with 64 B values, without and with a TTL, divided by DBSIZE; "
        "overhead is that minus the 80 bytes of key and value.",
        "",
        "## 1. Server CPU per million operations",
        "",
        "`redis-benchmark -t set,get -c 50 -d 64 -r 100000 -P <p> -n <n> --csv -q`",
        "",
        "| pipeline | -n | round | server | server CPU s | CPU s / M ops | SET rps | GET rps | wall s | server cores busy | client CPU s |",
        "|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in cpu_rows:
        L.append(f"| {r['pipeline']} | {r['requests']:,} | {r['round']} | {r['server']} | "
                 f"{r['cpu_s']:.2f} | {r['cpu_per_m']:.2f} | {r['set_rps']:,.0f} | "
                 f"{r['get_rps']:,.0f} | {r['wall_s']:.1f} | {r['cpu_s'] / r['wall_s']:.2f} | "
                 f"{r['client_cpu_s']:.2f} |")
    L += [
        "",
        "Medians over the rounds:",
        "",
        "| pipeline | Larder CPU s / M ops | Redis CPU s / M ops | Larder ÷ Redis | Larder SET / GET rps | Redis SET / GET rps |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    ratios = {}
    for pipeline, _ in configs:
        lr = [r for r in cpu_rows if r["pipeline"] == pipeline and r["server"] == "larder"]
        rr = [r for r in cpu_rows if r["pipeline"] == pipeline and r["server"] == "redis"]
        ratios[pipeline] = med(lr, "cpu_per_m") / med(rr, "cpu_per_m")
        L.append(f"| {pipeline} | {med(lr, 'cpu_per_m'):.2f} | {med(rr, 'cpu_per_m'):.2f} | "
                 f"{ratios[pipeline]:.2f}× | {med(lr, 'set_rps'):,.0f} / {med(lr, 'get_rps'):,.0f} | "
                 f"{med(rr, 'set_rps'):,.0f} / {med(rr, 'get_rps'):,.0f} |")
    round_ratios = {}
    for pipeline, _ in configs:
        per = []
        for rnd in range(1, args.rounds + 1):
            pair = {r["server"]: r["cpu_per_m"] for r in cpu_rows
                    if r["pipeline"] == pipeline and r["round"] == rnd}
            per.append(pair["larder"] / pair["redis"])
        round_ratios[pipeline] = per
    L += ["", "Larder ÷ Redis per round: " + "; ".join(
        f"`-P {p}`: " + ", ".join(f"{x:.2f}×" for x in per) for p, per in round_ratios.items()) + "."]

    L += [
        "",
        f"## 2. Idle CPU, {args.keys:,} keys all with a TTL, {args.idle_secs:g} s, no clients",
        "",
        "| server | keys | sampled keys with a TTL | keys after | CPU s | % of one core |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in idle_rows:
        L.append(f"| {r['server']} | {r['keys']:,} | {r['expiring'][0]}/{r['expiring'][1]} | {r['keys_after']:,} | "
                 f"{r['cpu_s']:.2f} | {r['pct']:.3f} % |")
    L += ["", "Per thread (threads of the same name summed):", "",
          "| server | thread | threads | CPU s | % of one core |", "|---|---|---:|---:|---:|"]
    for r in idle_rows:
        for comm, (s, pct, cnt) in sorted(r["threads"].items(), key=lambda kv: -kv[1][0]):
            L.append(f"| {r['server']} | `{comm}` | {cnt} | {s:.2f} | {pct:.3f} % |")

    L += [
        "",
        f"## 3. Memory per key, {args.keys:,} keys, 16-byte keys, 64-byte values",
        "",
        "| server | TTL | keys | RSS at start MiB | RSS growth MiB | bytes per key | overhead per key |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for m in mem_rows:
        L.append(f"| {m['server']} | {'EX 600..3600' if m['ttl'] else 'none'} | {m['keys']:,} | "
                 f"{m['rss_before_mib']:.1f} | {m['rss_delta_mib']:.1f} | {m['bytes_per_key']:.1f} | "
                 f"{m['overhead']:.1f} |")
    mem = {(m["server"], m["ttl"]): m["bytes_per_key"] for m in mem_rows}
    L += ["", "Larder ÷ Redis bytes per key: " +
          f"no TTL {mem[('larder', False)] / mem[('redis', False)]:.2f}×, "
          f"with TTL {mem[('larder', True)] / mem[('redis', True)]:.2f}×."]

    larder_idle = next(r for r in idle_rows if r["server"] == "larder")
    redis_idle = next(r for r in idle_rows if r["server"] == "redis")
    L += [
        "",
        "## Targets",
        "",
    ]
    for pipeline, _ in configs:
        ok = ratios[pipeline] <= 0.8
        L.append(f"- CPU per op ≤ 0.8× Redis, `-P {pipeline}`: **{'met' if ok else 'not met'}** "
                 f"(median {ratios[pipeline]:.2f}×; rounds "
                 + ", ".join(f"{x:.2f}×" for x in round_ratios[pipeline]) + ").")
    ok = larder_idle["pct"] < 0.5
    L.append(f"- Idle CPU < 0.5 % of one core with {larder_idle['keys']:,} TTL keys: "
             f"**{'met' if ok else 'not met'}** ({larder_idle['pct']:.3f} %; Redis {redis_idle['pct']:.3f} %).")
    L.append("")
    Path(args.out).write_text("\n".join(L))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Drive a 3-node Larder cluster and a 3-master Redis Cluster side by side with redis-benchmark.

Both clusters run on loopback on this one machine, one after the other for each row, with the
same redis-benchmark parameters, so the ratios compare like with like on the same (noisy) host.
Rows:

- `--cluster` mode (redis-benchmark reads the slot map and sends each key to its owner): Redis
  Cluster against Larder in redirect mode;
- proxy mode: plain redis-benchmark against one Larder member, which forwards the keys other
  members own (two thirds of them) over the cluster bus — the cost of the extra hop — next to
  Larder redirect mode through `--cluster` (every request direct);
- Larder with one replica per slot (`--cluster-replicas 1`, every write acknowledged once its
  replica has it) against none, in `--cluster` mode.

    python3 bench/compare_redis_cluster.py [--larder target/release/larder] [--requests 200000]

Writes bench/results/redis-cluster-compare.md (the command that produced it is at the top).
Needs redis-server and redis-benchmark (Debian: redis-server, redis-tools) and a release build of
larder (`cargo build --release -p larder`).
"""

import argparse
import csv
import io
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from compare_redis import ROOT, free_port, stop, wait_port  # noqa: E402

CLIENTS = 50
SIZE = 64
KEYSPACE = 100_000


def cluster_ok(port: int) -> bool:
    out = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(port), "CLUSTER", "INFO"],
                         capture_output=True, text=True).stdout
    fields = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
    return fields.get("cluster_state") == "ok" and fields.get("cluster_size") == "3"


def wait_cluster(ports: list, timeout: float = 60.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if all(cluster_ok(p) for p in ports):
            return
        time.sleep(0.2)
    raise RuntimeError(f"the cluster on {ports} did not settle in {timeout}s")


def free_cluster_port() -> int:
    """A free port whose Redis Cluster bus port (port + 10000) is free and valid too."""
    import random
    import socket
    while True:
        port = random.randint(20000, 40000)
        try:
            for p in (port, port + 10000):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", p))
            return port
        except OSError:
            continue


def start_redis_cluster(workdir: str) -> tuple:
    ports = [free_cluster_port() for _ in range(3)]
    procs = []
    for port in ports:
        d = Path(workdir) / f"redis-{port}"
        d.mkdir()
        cmd = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
               "--appendonly", "no", "--dir", str(d), "--protected-mode", "no",
               "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"]
        procs.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_port(port)
    subprocess.run(["redis-cli", "--cluster", "create", *[f"127.0.0.1:{p}" for p in ports],
                    "--cluster-yes"], check=True, capture_output=True, timeout=60)
    wait_cluster(ports)
    return procs, ports


def start_larder_cluster(binary: str, workdir: str, redirect: bool, replicas: int) -> tuple:
    ports, procs = [], []
    first_bus = None
    for i in range(3):
        resp, http, bus = free_port(), free_port(), free_port()
        d = Path(workdir) / f"larder-{resp}"
        d.mkdir()
        cmd = [binary, "serve", "--resp-addr", f"127.0.0.1:{resp}", "--http-addr",
               f"127.0.0.1:{http}", "--bus-addr", f"127.0.0.1:{bus}", "--data-dir", str(d),
               "--log-level", "warn"]
        if i == 0:
            cmd += ["--cluster-init", "--cluster-replicas", str(replicas)]
            first_bus = bus
        else:
            cmd += ["--join", f"127.0.0.1:{first_bus}"]
        if redirect:
            cmd.append("--cluster-redirect")
        procs.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_port(resp)
        ports.append(resp)
    wait_cluster(ports)
    return procs, ports


def bench(port: int, test: str, pipeline: int, requests: int, cluster: bool) -> dict:
    cmd = ["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-t", test, "-c", str(CLIENTS),
           "-d", str(SIZE), "-P", str(pipeline), "-n", str(requests), "-r", str(KEYSPACE),
           "--csv", "-q"]
    if cluster:
        cmd.append("--cluster")
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=600).stdout
    # In cluster mode the CSV follows a description of the masters.
    table = out[out.find('"test"'):] if '"test"' in out else out
    rows = [r for r in csv.DictReader(io.StringIO(table)) if r.get("rps")]
    if not rows:
        raise RuntimeError(f"redis-benchmark printed nothing usable: {out!r}")
    r = rows[0]
    return {"rps": float(r["rps"]), "p50": float(r["p50_latency_ms"]),
            "p99": float(r["p99_latency_ms"])}


def run_rows(setup, label: str, cluster: bool, tests: list) -> dict:
    """Start a cluster with `setup`, fill the key space, run every (test, pipeline), stop it."""
    procs, ports = setup()
    try:
        bench(ports[0], "set", 16, KEYSPACE * 2, cluster)  # GET rows read keys that exist
        out = {}
        for test, pipeline, n in tests:
            out[(test, pipeline)] = bench(ports[0], test, pipeline, n, cluster)
            print(label, test, pipeline, out[(test, pipeline)], flush=True)
        return out
    finally:
        for p in procs:
            stop(p)


def fmt(r: dict) -> str:
    return f"{r['rps']:,.0f}"


def lat(r: dict) -> str:
    return f"{r['p50']:.3f} / {r['p99']:.3f}"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--larder", default=str(ROOT / "target/release/larder"))
    ap.add_argument("--requests", type=int, default=200_000)
    ap.add_argument("--pipelined-requests", type=int, default=1_000_000)
    ap.add_argument("--out", default=str(ROOT / "bench/results/redis-cluster-compare.md"))
    ap.add_argument("--note", default="", help="a line about the conditions of this run")
    args = ap.parse_args()
    tests = [(t, p, args.requests if p == 1 else args.pipelined_requests)
             for t in ("get", "set") for p in (1, 16)]

    with tempfile.TemporaryDirectory() as workdir:
        redis = run_rows(lambda: start_redis_cluster(workdir), "redis-cluster", True, tests)
        direct = run_rows(lambda: start_larder_cluster(args.larder, workdir, True, 0),
                          "larder-redirect", True, tests)
        proxied = run_rows(lambda: start_larder_cluster(args.larder, workdir, False, 0),
                           "larder-proxy", False, tests)
        replicated = run_rows(lambda: start_larder_cluster(args.larder, workdir, True, 1),
                              "larder-redirect-replicas-1", True, tests)

    shown = [a if not os.path.isabs(a) else
             ("target/release/larder" if a == args.larder else os.path.relpath(a, ROOT))
             for a in sys.argv[1:]]
    cmd = " ".join(["python3 bench/compare_redis_cluster.py"] + [shlex.quote(a) for a in shown])
    lines = [
        "# A 3-node Larder cluster vs a 3-master Redis Cluster: redis-benchmark",
        "",
        f"Produced by `{cmd}` on {time.strftime('%Y-%m-%d')} ({os.cpu_count()} cores, loopback: "
        "all three members of a cluster and redis-benchmark share them).",
        f"redis-benchmark with {CLIENTS} clients, {SIZE}-byte values, `-r {KEYSPACE}` random keys; "
        "GET rows read keys written just before. `--cluster` rows send each key to its owner; the "
        "proxy rows send everything to one member, which forwards what it does not own (about two "
        "thirds) over the cluster bus. One run: ratios are from this run only.",
        args.note,
        "",
        "## Redis Cluster vs Larder in redirect mode (`--cluster`)",
        "",
        "| test | pipeline | Redis Cluster rps | Larder rps | ratio | Redis p50/p99 ms | Larder p50/p99 ms |",
        "|---|---|---|---|---|---|---|",
    ]
    for (test, pipeline, _) in tests:
        r, l = redis[(test, pipeline)], direct[(test, pipeline)]
        lines.append(f"| {test.upper()} | {pipeline} | {fmt(r)} | {fmt(l)} | "
                     f"{l['rps'] / r['rps']:.2f}× | {lat(r)} | {lat(l)} |")
    lines += [
        "",
        "## Larder: through one member in proxy mode vs straight to the owners",
        "",
        "| test | pipeline | direct rps | proxied rps | ratio | direct p50/p99 ms | proxied p50/p99 ms | p50 added |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for (test, pipeline, _) in tests:
        d, p = direct[(test, pipeline)], proxied[(test, pipeline)]
        added_us = (p["p50"] - d["p50"]) * 1000
        lines.append(f"| {test.upper()} | {pipeline} | {fmt(d)} | {fmt(p)} | "
                     f"{p['rps'] / d['rps']:.2f}× | {lat(d)} | {lat(p)} | {added_us:,.0f} µs |")
    lines += [
        "",
        "## Larder: one replica per slot vs none (`--cluster`, redirect mode)",
        "",
        "| test | pipeline | no replica rps | 1 replica rps | ratio | no replica p50/p99 ms | 1 replica p50/p99 ms |",
        "|---|---|---|---|---|---|---|",
    ]
    for (test, pipeline, _) in tests:
        d, r = direct[(test, pipeline)], replicated[(test, pipeline)]
        lines.append(f"| {test.upper()} | {pipeline} | {fmt(d)} | {fmt(r)} | "
                     f"{r['rps'] / d['rps']:.2f}× | {lat(d)} | {lat(r)} |")
    Path(args.out).write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

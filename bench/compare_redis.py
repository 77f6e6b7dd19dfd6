#!/usr/bin/env python3
"""Drive Redis 7 and Larder side by side with redis-benchmark, and measure memory per key.

Both servers run on loopback in this one run, with the same redis-benchmark parameters, one after
the other for each row, so the ratio compares like with like on the same (noisy) machine.

    python3 bench/compare_redis.py [--larder target/release/larder] [--requests 200000]

Writes bench/results/redis-compare.md (the command that produced it is at the top).
Needs redis-server and redis-benchmark (Debian: redis-server, redis-tools) and a release build of
larder (`cargo build --release -p larder`).
"""

import argparse
import csv
import io
import json
import os
import shlex
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listening on port {port} after {timeout}s")


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def start_redis(port: int, workdir: str) -> subprocess.Popen:
    cmd = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
           "--appendonly", "no", "--dir", workdir, "--protected-mode", "no"]
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port)
    return p


PLUGIN = None  # path of a wasm eviction plugin to serve the default namespace with (--plugin)


def http_json(method: str, url: str, body: bytes, content_type: str) -> dict:
    req = urllib.request.Request(url, data=body, method=method, headers={"content-type": content_type})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read() or b"{}")


def start_larder(binary: str, port: int) -> subprocess.Popen:
    http = free_port()
    cmd = [binary, "serve", "--resp-addr", f"127.0.0.1:{port}", "--http-addr", f"127.0.0.1:{http}",
           "--log-level", "warn", "--no-persist"]  # Redis runs with --save "" too
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port)
    wait_port(http)
    if PLUGIN:
        base = f"http://127.0.0.1:{http}"
        info = http_json("POST", f"{base}/v1/plugins?name=bench", Path(PLUGIN).read_bytes(),
                         "application/wasm")
        http_json("PUT", f"{base}/v1/namespaces/default",
                  json.dumps({"eviction": f"plugin:{info['id']}"}).encode(), "application/json")
    return p


def stop(p: subprocess.Popen) -> None:
    p.terminate()
    try:
        p.wait(timeout=10)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def bench(port: int, test: str, clients: int, size: int, pipeline: int, requests: int) -> dict:
    cmd = ["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-t", test, "-c", str(clients),
           "-d", str(size), "-P", str(pipeline), "-n", str(requests), "-r", "100000", "--csv", "-q"]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=600).stdout
    rows = list(csv.DictReader(io.StringIO(out)))
    if not rows:
        raise RuntimeError(f"redis-benchmark printed nothing usable: {out!r}")
    r = rows[0]
    return {"rps": float(r["rps"]), "p50": float(r["p50_latency_ms"]), "p99": float(r["p99_latency_ms"])}


def load_keys(port: int, count: int) -> None:
    """SET `count` keys of 16 bytes with 64-byte values through redis-cli --pipe."""
    value = b"v" * 64
    buf = io.BytesIO()
    for i in range(count):
        key = b"key:%012d" % i  # 16 bytes
        buf.write(b"*3\r\n$3\r\nSET\r\n$16\r\n%s\r\n$64\r\n%s\r\n" % (key, value))
    subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(port), "--pipe"],
                   input=buf.getvalue(), check=True, capture_output=True, timeout=600)


def dbsize(port: int) -> int:
    out = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(port), "DBSIZE"],
                         check=True, capture_output=True, text=True).stdout
    return int(out.strip())


def memory_row(name: str, p: subprocess.Popen, port: int, keys: int) -> dict:
    before = rss_kib(p.pid)
    load_keys(port, keys)
    time.sleep(1)
    after = rss_kib(p.pid)
    n = dbsize(port)
    per_key = (after - before) * 1024 / max(n, 1)
    return {"server": name, "keys": n, "rss_delta_mib": (after - before) / 1024,
            "bytes_per_key": per_key, "overhead_per_key": per_key - 16 - 64}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--larder", default=str(ROOT / "target/release/larder"))
    ap.add_argument("--requests", type=int, default=200_000)
    ap.add_argument("--pipelined-requests", type=int, default=2_000_000)
    ap.add_argument("--keys", type=int, default=1_000_000)
    ap.add_argument("--out", default=str(ROOT / "bench/results/redis-compare.md"))
    ap.add_argument("--note", default="", help="a line about the conditions of this run")
    ap.add_argument("--plugin", help="serve Larder's default namespace with this wasm eviction plugin")
    ap.add_argument("--skip-memory", action="store_true")
    args = ap.parse_args()
    global PLUGIN
    PLUGIN = args.plugin

    rows = []
    with tempfile.TemporaryDirectory() as workdir:
        for test in ("get", "set"):
            for pipeline in (1, 16):
                n = args.requests if pipeline == 1 else args.pipelined_requests
                result = {}
                for name in ("redis", "larder"):
                    port = free_port()
                    p = start_redis(port, workdir) if name == "redis" else start_larder(args.larder, port)
                    try:
                        if test == "get":  # read existing keys, not misses
                            bench(port, "set", 50, 64, 16, 200_000)
                        result[name] = bench(port, test, 50, 64, pipeline, n)
                    finally:
                        stop(p)
                rows.append((test, pipeline, result["redis"], result["larder"]))
                print(test, pipeline, result, flush=True)

        mem = []
        for name in (() if args.skip_memory else ("redis", "larder")):
            port = free_port()
            p = start_redis(port, workdir) if name == "redis" else start_larder(args.larder, port)
            try:
                mem.append(memory_row(name, p, port, args.keys))
            finally:
                stop(p)
            print(mem[-1], flush=True)

    # Name the binary relative to the repository so the results file holds no local path.
    shown = [a if not os.path.isabs(a) else
             ("target/release/larder" if a == args.larder else os.path.relpath(a, ROOT))
             for a in sys.argv[1:]]
    cmd = " ".join(["python3 bench/compare_redis.py"] + [shlex.quote(a) for a in shown])
    lines = [
        "# Larder vs Redis 7: redis-benchmark and memory per key",
        "",
        f"Produced by `{cmd}` on {time.strftime('%Y-%m-%d')} ({os.cpu_count()} cores, loopback).",
        ("Larder's default namespace is served by the wasm plugin "
         f"`{os.path.relpath(args.plugin, ROOT)}`." if args.plugin else "Larder runs its built-in default policy (adaptive)."),
        "Each row runs Redis, then Larder, with the same redis-benchmark parameters: 50 clients, "
        "64-byte values, `-r 100000` random keys; GET rows read keys written just before.",
        args.note,
        "",
        "| test | pipeline | Redis rps | Larder rps | ratio | Redis p50/p99 ms | Larder p50/p99 ms |",
        "|---|---|---|---|---|---|---|",
    ]
    for test, pipeline, r, l in rows:
        lines.append(
            f"| {test.upper()} | {pipeline} | {r['rps']:,.0f} | {l['rps']:,.0f} | "
            f"{l['rps'] / r['rps']:.2f}× | {r['p50']:.3f} / {r['p99']:.3f} | {l['p50']:.3f} / {l['p99']:.3f} |")
    if not mem:
        Path(args.out).write_text("\n".join(lines) + "\n")
        print(f"wrote {args.out}")
        return 0
    lines += [
        "",
        f"## Memory: {args.keys:,} keys, 16-byte keys, 64-byte values",
        "",
        "Measured as the growth of the server process's resident set (VmRSS) while loading, divided by"
        " the keys stored; overhead is that minus the 80 bytes of key and value.",
        "",
        "| server | keys | RSS growth MiB | bytes per key | overhead per key |",
        "|---|---|---|---|---|",
    ]
    for m in mem:
        lines.append(f"| {m['server']} | {m['keys']:,} | {m['rss_delta_mib']:.1f} | "
                     f"{m['bytes_per_key']:.1f} | {m['overhead_per_key']:.1f} |")
    Path(args.out).write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

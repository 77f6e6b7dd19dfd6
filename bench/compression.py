#!/usr/bin/env python3
"""What per-namespace compression saves and costs, on a release build.

    python3 bench/compression.py [--larder target/release/larder] [--keys 20000]

For each corpus — 1–4 KiB JSON documents, 300-byte JSON (without and with a dictionary trained
on it), 1 KiB random bytes, 100-byte values — loads the same `--keys` keys into two 64 MiB namespaces of one node, `db1` without compression
and `db2` with `{level 3, min_bytes 128, min_savings 0.1}` (for "+ dictionary": loads `db2`, trains
its dictionary with `POST /v1/namespaces/db2/compression/dictionary`, loads it again), then reports, one run each:

- stored / logical value bytes (from /metrics) and the bytes charged per key;
- how many such keys fit in 64 MiB (capacity ÷ charged bytes per key);
- GET rps and p50/p99 with redis-benchmark against the loaded keys (`GET key:__rand_int__`,
  50 clients, `-P 16`), compression off vs on in interleaved rounds;
- SET rps and p50/p99 with redis-benchmark's own payload (`-d 2048`, a run of one repeated
  byte: compression's best case; the write cost of compressing real data is in
  `larder_compression_nanoseconds_total`, reported per compressed value).

Writes bench/results/compression.md with the command at the top. Needs redis-cli and
redis-benchmark.
"""

import argparse
import json
import os
import random
import shlex
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CAPACITY = 64 << 20
COMPRESSION = {"codec": "zstd", "level": 3, "min_bytes": 128, "min_savings": 0.1}


def start(larder: str) -> tuple[subprocess.Popen, int, str]:
    proc = subprocess.Popen(
        [larder, "serve", "--no-persist", "--resp-addr", "127.0.0.1:0",
         "--http-addr", "127.0.0.1:0", "--log-level", "warn"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    for line in proc.stdout:
        if line.startswith("larder ready "):
            fields = dict(kv.split("=", 1) for kv in line.split()[2:])
            return proc, int(fields["resp_addr"].rsplit(":", 1)[1]), "http://" + fields["http_addr"]
    sys.exit("larder exited before its ready line")


def rest(method: str, url: str, body=None) -> None:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"content-type": "application/json"})
    try:
        urllib.request.urlopen(req, timeout=30).read()
    except urllib.error.HTTPError as e:
        if e.code != 404:
            raise


def metrics(http: str, namespace: str) -> dict[str, float]:
    text = urllib.request.urlopen(f"{http}/metrics", timeout=30).read().decode()
    out = {}
    suffix = f'{{namespace="{namespace}"}} '
    for line in text.splitlines():
        if suffix in line and not line.startswith("#"):
            name, value = line.split(suffix)
            out[name] = float(value)
    return out


def corpus(name: str, i: int, rng: random.Random) -> bytes:
    if name == "json 1-4 KiB":
        target = 1024 + (i * 7919) % 3072
        items, n = [], 0
        while len(json.dumps(items)) < target:
            items.append({"id": i, "n": n, "user": f"user-{rng.randrange(5000)}",
                          "email": f"u{rng.randrange(10**6)}@example.com",
                          "tags": rng.sample(["red", "green", "blue", "new", "sale", "eu"], 3),
                          "score": round(rng.random() * 100, 3), "active": rng.random() < 0.5})
            n += 1
        return json.dumps(items).encode()
    if name.startswith("json 300 B"):
        doc = {"id": i, "user": f"user-{rng.randrange(5000)}", "plan": rng.choice(["free", "pro"]),
               "email": f"u{rng.randrange(10**6)}@example.com", "country": rng.choice(["DE", "FR", "US"]),
               "last_login": 1_700_000_000 + rng.randrange(10**7), "flags": {"beta": True, "2fa": False},
               "note": "x" * 0}
        text = json.dumps(doc)
        return (text + " " * max(0, 300 - len(text))).encode()[:300]
    if name == "random 1 KiB":
        return rng.randbytes(1024)
    return rng.randbytes(50).hex().encode()  # 100 B


def load(port: int, db: int, name: str, keys: int) -> None:
    rng = random.Random(42)
    chunks = [b"*2\r\n$6\r\nSELECT\r\n$%d\r\n%d\r\n" % (len(str(db)), db)]
    for i in range(keys):
        key = b"key:%012d" % i
        value = corpus(name, i, rng)
        chunks.append(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(key), key, len(value), value))
    subprocess.run(["redis-cli", "-p", str(port), "--pipe"], input=b"".join(chunks),
                   check=True, capture_output=True, timeout=600)


def bench(port: int, db: int, test: str, keys: int, extra: list[str]) -> tuple[float, float, float]:
    cmd = ["redis-benchmark", "-p", str(port), "--dbnum", str(db), "-c", "50", "-P", "16",
           "-n", "200000", "-r", str(keys), "-t", test, "--csv", *extra]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=600).stdout
    row = [line for line in out.splitlines() if line.startswith('"' + test.upper())][-1]
    cells = [c.strip('"') for c in row.split(",")]
    # "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
    return float(cells[1]), float(cells[4]), float(cells[6])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--larder", default="target/release/larder")
    ap.add_argument("--keys", type=int, default=20000)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    command = "python3 bench/compression.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    proc, port, http = start(args.larder)
    rows, speed = [], []
    try:
        for name in ["json 1-4 KiB", "json 300 B", "json 300 B + dictionary", "random 1 KiB", "100 B"]:
            for db, compression in [(1, None), (2, COMPRESSION)]:
                rest("DELETE", f"{http}/v1/namespaces/db{db}")
                config = {"capacity_bytes": CAPACITY}
                if compression:
                    config["compression"] = compression
                rest("POST", f"{http}/v1/namespaces", {"name": f"db{db}", "config": config})
                load(port, db, name, args.keys)
                if compression and name.endswith("dictionary"):
                    rest("POST", f"{http}/v1/namespaces/db{db}/compression/dictionary")
                    load(port, db, name, args.keys)
            off, on = metrics(http, "db1"), metrics(http, "db2")
            per_key = {k: m["larder_bytes"] / max(m["larder_keys"], 1) for k, m in [("off", off), ("on", on)]}
            compressed = on.get("larder_compressed_writes_total", 0)
            rows.append({
                "corpus": name,
                "keys": int(on["larder_keys"]),
                "ratio": on["larder_value_bytes_stored"] / max(on["larder_value_bytes_logical"], 1),
                "per_key_off": per_key["off"], "per_key_on": per_key["on"],
                "fit_off": int(CAPACITY / per_key["off"]), "fit_on": int(CAPACITY / per_key["on"]),
                "compressed": int(compressed),
                "skipped_small": int(on.get("larder_compression_skipped_small_total", 0)),
                "skipped_nosave": int(on.get("larder_compression_skipped_no_savings_total", 0)),
                "us_per_compress": on.get("larder_compression_nanoseconds_total", 0)
                / max(compressed + on.get("larder_compression_skipped_no_savings_total", 0), 1) / 1000,
            })
            for rnd in range(args.rounds):
                for db in (1, 2):
                    rps, p50, p99 = bench(port, db, "get", args.keys, [])
                    speed.append((name, "GET", "off" if db == 1 else "on", rnd, rps, p50, p99))
        for rnd in range(args.rounds):
            for db in (1, 2):
                rps, p50, p99 = bench(port, db, "set", args.keys, ["-d", "2048"])
                speed.append(("redis-benchmark payload 2 KiB", "SET", "off" if db == 1 else "on", rnd, rps, p50, p99))
    finally:
        proc.terminate()
        proc.wait(timeout=30)

    lines = [
        "# Compression: what it saves and costs",
        "",
        f"Produced by `{command}` on {time.strftime('%Y-%m-%d')} ({os.cpu_count()} cores, loopback, "
        "redis-benchmark on the same machine), one run.",
        "",
        f"Each corpus: {args.keys} keys `key:%012d` into a 64 MiB namespace without compression (`db1`) "
        f"and one with `{json.dumps(COMPRESSION)}` (`db2`). Bytes from `/metrics`; charged bytes per key "
        "include the per-entry overhead; keys that fit = 64 MiB ÷ charged bytes per key.",
        "",
        "| corpus | stored ÷ logical | charged B/key off | on | keys in 64 MiB off | on | compressed | raw: small | raw: no savings | µs per attempt |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['corpus']} | {r['ratio']:.3f} | {r['per_key_off']:.0f} | {r['per_key_on']:.0f} | "
            f"{r['fit_off']:,} | {r['fit_on']:,} | {r['compressed']} | {r['skipped_small']} | "
            f"{r['skipped_nosave']} | {r['us_per_compress']:.1f} |")
    lines += [
        "",
        "For \"+ dictionary\" the write counters and µs per attempt cover both loads (before and after "
        "training); the bytes are those after the second load, all written with the dictionary.",
    ]
    lines += [
        "",
        "## Speed, compression off vs on (redis-benchmark, 50 clients, `-P 16`, 200 000 requests a round)",
        "",
        "GET reads the loaded corpus keys; SET writes redis-benchmark's own 2 KiB payload (one repeated "
        "byte, compression's best case).",
        "",
        "| workload | op | compression | round | rps | p50 ms | p99 ms |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, op, mode, rnd, rps, p50, p99 in speed:
        lines.append(f"| {name} | {op} | {mode} | {rnd + 1} | {rps:,.0f} | {p50:.3f} | {p99:.3f} |")
    out = ROOT / "bench" / "results" / "compression.md"
    out.write_text("\n".join(lines) + "\n")
    print(out.read_text())


if __name__ == "__main__":
    main()

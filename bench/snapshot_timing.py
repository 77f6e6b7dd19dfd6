#!/usr/bin/env python3
"""Time a data snapshot and its restore at a given key count, on a release build.

    python3 bench/snapshot_timing.py [--larder target/release/larder] [--keys 1000000]

Loads `--keys` keys (16-byte keys, 64-byte values, half with a one-hour TTL) with
`redis-cli --pipe`, then measures, one run each:

- SAVE: wall time as the client sees it, and the snapshot file's size;
- RSS before and after, to show what copying shards for the snapshot costs in memory;
- restore: from `kill -9` to the restarted node's ready line, and DBSIZE after it.

Writes bench/results/snapshot.md with the command at the top. Needs redis-cli.
"""

import argparse
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def start(larder: str, data_dir: str) -> tuple[subprocess.Popen, int, float]:
    began = time.monotonic()
    proc = subprocess.Popen(
        [larder, "serve", "--data-dir", data_dir, "--snapshot-every-secs", "0",
         "--resp-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--log-level", "warn"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    for line in proc.stdout:
        if line.startswith("larder ready "):
            fields = dict(kv.split("=", 1) for kv in line.split()[2:])
            port = int(fields["resp_addr"].rsplit(":", 1)[1])
            return proc, port, time.monotonic() - began
    sys.exit("larder exited before its ready line")


def cli(port: int, *args: str) -> str:
    return subprocess.run(["redis-cli", "-p", str(port), *args], capture_output=True,
                          text=True, check=True).stdout.strip()


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def load(port: int, keys: int) -> None:
    def frames():
        value = b"v" * 64
        for i in range(keys):
            key = b"key:%012d" % i
            if i % 2:
                yield b"*5\r\n$3\r\nSET\r\n$16\r\n%s\r\n$64\r\n%s\r\n$2\r\nEX\r\n$4\r\n3600\r\n" % (key, value)
            else:
                yield b"*3\r\n$3\r\nSET\r\n$16\r\n%s\r\n$64\r\n%s\r\n" % (key, value)
    pipe = subprocess.Popen(["redis-cli", "-p", str(port), "--pipe"], stdin=subprocess.PIPE,
                            stdout=subprocess.DEVNULL)
    batch = []
    for f in frames():
        batch.append(f)
        if len(batch) == 10000:
            pipe.stdin.write(b"".join(batch))
            batch.clear()
    pipe.stdin.write(b"".join(batch))
    pipe.stdin.close()
    pipe.wait()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--larder", default="target/release/larder")
    ap.add_argument("--keys", type=int, default=1_000_000)
    ap.add_argument("--out", type=Path, default=ROOT / "bench/results/snapshot.md")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as data_dir:
        proc, port, _ = start(args.larder, data_dir)
        # The default namespace must hold every key: make it big enough.
        cli(port, "CONFIG", "SET", "maxmemory", str(max(256 << 20, args.keys * 400)))
        load(port, args.keys)
        loaded = int(cli(port, "DBSIZE"))
        rss_before = rss_mib(proc.pid)
        began = time.monotonic()
        cli(port, "SAVE")
        save_s = time.monotonic() - began
        rss_after = rss_mib(proc.pid)
        size_mib = os.path.getsize(Path(data_dir) / "data.lsnap") / (1 << 20)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc, port, restore_s = start(args.larder, data_dir)
        restored = int(cli(port, "DBSIZE"))
        proc.terminate()
        proc.wait(timeout=120)

    shown = " ".join(shlex.quote(a) for a in [Path(sys.argv[0]).as_posix()] + sys.argv[1:])
    args.out.write_text("\n".join([
        "# Snapshot and restore timing",
        "",
        f"Produced by `python3 {shown}` (one run, 2-core machine; noisy).",
        "",
        f"{loaded} keys loaded (16-byte keys, 64-byte values, half with a one-hour TTL).",
        "",
        "| measure | value |",
        "|---|---:|",
        f"| SAVE, wall time seen by the client | {save_s:.2f} s |",
        f"| snapshot file | {size_mib:.1f} MiB ({size_mib * (1 << 20) / max(loaded, 1):.0f} B per key) |",
        f"| RSS before SAVE | {rss_before:.0f} MiB |",
        f"| RSS after SAVE | {rss_after:.0f} MiB |",
        f"| restart after kill -9, to the ready line (restore included) | {restore_s:.2f} s |",
        f"| keys after the restart | {restored} |",
        "",
    ]))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

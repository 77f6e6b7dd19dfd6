#!/usr/bin/env python3
"""Run units of the Redis project's own test suite against a Larder node, in external mode.

The suite is not part of this repository. Point at the `tests/` tree of the Redis release whose
version Larder reports (7.4.0), for example from a clone of https://github.com/redis/redis:

    git -C redis checkout 7.4.0
    python3 bench/redis_test_suite.py --redis-src redis [--larder target/release/larder]

Each unit runs with `--durable`, so a failing test is recorded and the unit runs to its end
instead of stopping at the first command Larder lacks. Tests in SKIPS are skipped by name, each
with its reason in the results. Needs tclsh (Debian: tcl).

Writes bench/results/redis-test-suite.md: passed / failed per unit, and every failed test with
the first line of its error, so each failure can be traced to its cause.
"""

import argparse
import re
import shlex
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
UNITS = [
    "type/string",
    "bitops",
    "bitfield",
    "type/incr",
    "type/hash",
    "type/list",
    "type/set",
    "type/zset",
    "expire",
    "keyspace",
    "protocol",
    "info-command",
    "multi",
    "pubsub",
    "tracking",
]
# Tests skipped, each with its reason: only tests that need something Larder does not claim
# (Redis's OOM refusals under `maxmemory 1`, scripting, the replication stream). A skip is also
# what keeps one such test from leaving the shared client inside MULTI, which would fail every
# test after it for a reason that has nothing to do with them.
SWAPDB = "needs SWAPDB: namespaces have names and configs of their own, and swapping two is not offered"
SCRIPTS = "needs EVAL: Larder runs no server-side scripts (its programmability is the wasm hooks)"
SORT = ("needs SORT, which Larder does not offer (skipping also keeps the client it leaves "
        "blocked from taking the next tests' elements)")
REPLICATION = "needs the replication stream (SYNC) or replica settings: a single node has neither"
SKIPS = {
    "multi": [
        ("EXEC fails if there are errors while queueing commands #2",
         "needs CONFIG SET maxmemory 1 and Redis's OOM refusal; a cache namespace evicts instead"),
        ("DISCARD should not fail during OOM",
         "needs CONFIG SET maxmemory 1 and Redis's OOM refusal; a cache namespace evicts instead"),
        ("EXEC with only read commands should not be rejected when OOM",
         "needs CONFIG SET maxmemory 1 and Redis's OOM refusal; a cache namespace evicts instead"),
        ("EXEC with at least one use-memory command should fail",
         "needs CONFIG SET maxmemory 1 and Redis's OOM refusal; a cache namespace evicts instead"),
        ("SWAPDB is able to touch the watched keys that exist", SWAPDB),
        ("SWAPDB is able to touch the watched keys that do not exist", SWAPDB),
        ("SWAPDB does not touch watched stale keys", SWAPDB),
        ("SWAPDB does not touch non-existing key replaced with stale key", SWAPDB),
        ("SWAPDB does not touch stale key replaced with another stale key", SWAPDB),
        ("MULTI and script timeout", "needs EVAL and SCRIPT KILL: Larder runs no scripts"),
        ("EXEC and script timeout", "needs EVAL and SCRIPT KILL: Larder runs no scripts"),
        ("MULTI-EXEC body and script timeout", "needs EVAL and SCRIPT KILL: Larder runs no scripts"),
        ("just EXEC and script timeout", "needs EVAL and SCRIPT KILL: Larder runs no scripts"),
        ("MULTI / EXEC is not propagated (single write command)", REPLICATION),
        ("MULTI / EXEC is propagated correctly (multiple commands)", REPLICATION),
        ("MULTI / EXEC is propagated correctly (multiple commands with SELECT)", REPLICATION),
        ("MULTI / EXEC is propagated correctly (empty transaction)", REPLICATION),
        ("MULTI / EXEC is propagated correctly (read-only commands)", REPLICATION),
        ("MULTI / EXEC is propagated correctly (write command, no effect)", REPLICATION),
        ("MULTI / EXEC with REPLICAOF", REPLICATION),
        ("exec with write commands and state change", REPLICATION),
        ("exec with read commands and stale replica state change", REPLICATION),
        ("MULTI propagation of PUBLISH", REPLICATION),
        ("MULTI propagation of SCRIPT LOAD", REPLICATION),
        ("MULTI propagation of EVAL", REPLICATION),
        ("MULTI propagation of SCRIPT FLUSH", REPLICATION),
        ("MULTI propagation of XREADGROUP", REPLICATION),
    ],
    "type/list": [
        *((f"{pop} when result key is created by SORT..STORE", SORT) for pop in ("BLPOP", "BLMPOP_LEFT")),
        ("SWAPDB awakes blocked client", SWAPDB),
        ("SWAPDB wants to wake blocked client, but the key already expired", SWAPDB),
        ("MULTI + LPUSH + EXPIRE + DEBUG SLEEP on blocked client, key already expired",
         "needs DEBUG SLEEP and the replication stream"),
        ("BLMPOP propagate as pop with count command to replica", REPLICATION),
        ("client unblock tests", "needs CLIENT UNBLOCK, which Larder does not offer"),
    ],
    "type/zset": [
        ("BZMPOP propagate as pop with count command to replica", REPLICATION),
    ],
    "tracking": [
        ("Tracking gets notification of lazy expired keys",
         "needs DEBUG SLEEP, which Larder does not offer"),
        ("Invalid keys should not be tracked for scripts in NOLOOP mode", SCRIPTS),
        ("Tracking only occurs for scripts when a command calls a read-only command", SCRIPTS),
    ],
}
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(port: int, timeout: float = 30.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return
        except OSError:
            time.sleep(0.2)
    sys.exit(f"larder did not answer on port {port}")


def run_unit(redis_src: Path, port: int, unit: str, timeout: int) -> dict:
    cmd = [
        "tclsh", "tests/test_helper.tcl", "--host", "127.0.0.1", "--port", str(port),
        "--single", f"unit/{unit}", "--durable", "--clients", "1",
        # Tests that need DEBUG (RELOAD, OBJECT, SLEEP, …) or a replica: fair skips, see EXCLUDED.
        "--tags", "-needs:debug", "--tags", "-needs:repl",
    ]
    for name, _ in SKIPS.get(unit, []):
        cmd += ["--skiptest", name]
    try:
        out = subprocess.run(cmd, cwd=redis_src, capture_output=True, timeout=timeout)
        text = ANSI.sub("", out.stdout.decode("utf-8", "replace"))
    except subprocess.TimeoutExpired as e:
        text = ANSI.sub("", (e.stdout or b"").decode("utf-8", "replace")) + "\n[timeout]"
    lines = text.splitlines()
    result = {"ok": 0, "err": 0, "skip": 0, "exception": 0, "failures": [], "finished": False}
    for i, line in enumerate(lines):
        tag = re.match(r"^\[(ok|err|skip|exception|ignore)\]: (.*)", line)
        if tag:
            kind, rest = tag.groups()
            kind = "skip" if kind == "ignore" else kind
            result[kind] += 1
            if kind in ("err", "exception"):
                following = [l.strip() for l in lines[i + 1:i + 4] if l.strip()]
                # The harness cuts the first characters of an error line; the next one is whole.
                detail = next((l for l in following if l.startswith(("ERR", "Expected"))),
                              following[0] if following else "")
                # Keep the report free of where the suite happens to be checked out.
                detail = re.sub(r"file \S*/tests/", "file tests/", detail)
                rest = re.sub(r"file \S*/tests/", "file tests/", rest).strip()
                name = rest.split(" in tests/")[0]
                if kind == "exception":
                    name = "(the test client stopped here: the rest of the unit did not run)"
                elif " in tests/" not in rest and detail.strip().endswith(rest):
                    # An error outside any test: the harness shows it cut, as if it were a name.
                    name = "(outside any test: the rest of its start_server block did not run)"
                    result["block_stopped"] = True
                result["failures"].append((name, detail.strip()[:160]))
        if "[1/1 done]" in line or "All tests passed" in line:
            result["finished"] = True
    # A block that stopped early leaves tests unrun even though the unit reports itself done.
    result["finished"] = result["finished"] and not result.pop("block_stopped", False)
    return result


def version_h(redis_src: Path) -> str:
    """The version in `src/version.h`, for a source tree that is not a git checkout."""
    try:
        text = (Path(redis_src) / "src/version.h").read_text()
    except OSError:
        return "unknown"
    m = re.search(r'REDIS_VERSION "([^"]+)"', text)
    return m.group(1) if m else "unknown"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--redis-src", required=True, type=Path, help="a Redis source tree (has tests/)")
    ap.add_argument("--larder", default=str(ROOT / "target/release/larder"))
    ap.add_argument("--units", nargs="*", default=UNITS)
    ap.add_argument("--timeout", type=int, default=600, help="seconds per unit")
    ap.add_argument("--out", type=Path, default=ROOT / "bench/results/redis-test-suite.md")
    args = ap.parse_args()

    port, http = free_port(), free_port()
    server = subprocess.Popen(
        [args.larder, "serve", "--no-persist", "--resp-addr", f"127.0.0.1:{port}",
         "--http-addr", f"127.0.0.1:{http}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(port)
        results = {u: run_unit(args.redis_src, port, u, args.timeout) for u in args.units}
    finally:
        server.terminate()
        server.wait(timeout=30)

    version = subprocess.run(["git", "-C", str(args.redis_src), "describe", "--tags"],
                             capture_output=True, text=True).stdout.strip() or version_h(args.redis_src)
    # The command as run, but without where the suite is checked out on this machine.
    # The binary is shown as `target/<profile>/larder`, wherever the target directory is.
    larder = Path(args.larder)
    larder_shown = f"target/{larder.parent.name}/{larder.name}" if larder.is_absolute() else args.larder
    named = {str(args.redis_src): "REDIS_SRC", args.larder: larder_shown}
    argv = [named.get(a, a) for a in sys.argv[1:]]
    shown = " ".join(shlex.quote(a) for a in [Path(sys.argv[0]).as_posix()] + argv)
    out = [
        "# Redis test suite against Larder (external mode)",
        "",
        f"Produced by `python3 {shown}` against the suite of Redis `{version}`, each unit with",
        "`--durable` (a failure is recorded and the unit goes on). The tests this script skips are",
        "listed below with their reasons; the suite itself also skips what its tags exclude in",
        "external mode (counted as skipped). Tests tagged `needs:debug` (they call DEBUG RELOAD,",
        "DEBUG OBJECT, DEBUG SLEEP, … — Larder has only DEBUG SET-ACTIVE-EXPIRE) and `needs:repl`",
        "(they need a replica and the replication stream) are excluded by tag and not counted.",
        "",
        "| unit | passed | failed | skipped | ran to its end |",
        "|---|---:|---:|---:|---|",
    ]
    for unit, r in results.items():
        out.append(f"| {unit} | {r['ok']} | {r['err'] + r['exception']} | {r['skip']} | {'yes' if r['finished'] else 'no'} |")
    skipped = [(u, n, why) for u in results for n, why in SKIPS.get(u, [])]
    if skipped:
        out += ["", "## Skipped by this script", ""]
        out += [f"- {u}: **{n}**: {why}" for u, n, why in skipped]
    out += ["", "## Failed tests, with the first line of each error", ""]
    for unit, r in results.items():
        if not r["failures"]:
            continue
        out += [f"### {unit}", ""]
        for name, detail in r["failures"]:
            out.append(f"- **{name}**: `{detail.replace('`', chr(39))}`")
        out.append("")
    args.out.write_text("\n".join(out) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Compare `larder sim` with libCacheSim (the independent reference simulator) on a trace set.

Two modes:

  # 1. Reference numbers from libCacheSim, as the TSV fixture the simulator's test replays against:
  python3 bench/compare_libcachesim.py reference TRACE_DIR > runtime/tests/sim_libcachesim_reference.tsv

  # 2. Side-by-side table (markdown) of libCacheSim and `larder sim --json`:
  python3 bench/compare_libcachesim.py compare TRACE_DIR --larder target/debug/larder

TRACE_DIR holds *.oracleGeneral.bin.zst files. Capacities are object counts (every object costs 1,
libCacheSim's ignore_obj_size) at 1 % and 10 % of each trace's distinct objects, rounded down,
which is how both simulators resolve a percentage.

Needs `pip install libcachesim==0.3.5` (the version the fixture was made with).
"""

import argparse
import json
import os
import subprocess
import sys

PERCENTS = [1, 10]
# libCacheSim class name -> larder policy name
POLICIES = [("LRU", "lru"), ("FIFO", "fifo"), ("S3FIFO", "s3fifo"), ("Sieve", "sieve"), ("Belady", "belady")]


def traces(trace_dir):
    names = sorted(f for f in os.listdir(trace_dir) if f.endswith(".oracleGeneral.bin.zst"))
    if not names:
        sys.exit(f"no *.oracleGeneral.bin.zst files in {trace_dir}")
    return [(n.removesuffix(".oracleGeneral.bin.zst"), os.path.join(trace_dir, n)) for n in names]


def libcachesim_run(path):
    """[(percent, capacity, policy, requests, misses)] for one trace."""
    import libcachesim as lcs

    params = lcs.ReaderInitParam(ignore_obj_size=True)
    reader = lcs.TraceReader(path, lcs.TraceType.ORACLE_GENERAL_TRACE, params)
    requests = reader.get_num_of_req()
    objects = reader.get_working_set_size()[0]
    rows = []
    for pct in PERCENTS:
        capacity = max(1, objects * pct // 100)
        for cls, name in POLICIES:
            reader.reset()
            cache = getattr(lcs, cls)(capacity)
            miss_ratio, _ = cache.process_trace(reader)
            rows.append((pct, capacity, name, requests, round(miss_ratio * requests)))
    return objects, rows


def reference(args):
    print("# Miss counts from libCacheSim 0.3.5 (Python package), object-count capacities.")
    print("# Made by: python3 bench/compare_libcachesim.py reference <trace dir>")
    print("trace\tpercent\tcapacity\tpolicy\trequests\tmisses")
    for name, path in traces(args.trace_dir):
        _, rows = libcachesim_run(path)
        for pct, cap, policy, reqs, misses in rows:
            print(f"{name}\t{pct}\t{cap}\t{policy}\t{reqs}\t{misses}")
        sys.stdout.flush()


def compare(args):
    policies = ",".join(p for _, p in POLICIES if p != "belady")
    print("| trace | size | policy | libCacheSim | larder | difference |")
    print("|---|---|---|---|---|---|")
    worst = 0.0
    for name, path in traces(args.trace_dir):
        _, rows = libcachesim_run(path)
        out = subprocess.run(
            [args.larder, "sim", "--trace", path, "--capacity", ",".join(f"{p}%" for p in PERCENTS),
             "--policy", policies, "--belady", "--json"],
            check=True, capture_output=True, text=True,
        ).stdout
        report = json.loads(out)
        ours = {}
        for cap in report["capacities"]:
            pct = int(cap["spec"].rstrip("%"))
            for p in cap["policies"] + ([cap["belady"]] if cap.get("belady") else []):
                ours[(pct, p["policy"])] = p["miss_ratio"]
        for pct, cap, policy, reqs, misses in rows:
            theirs = misses / reqs
            mine = ours.get((pct, policy))
            diff = "" if mine is None else f"{mine - theirs:+.4f}"
            if mine is not None:
                worst = max(worst, abs(mine - theirs))
            mine_s = "missing" if mine is None else f"{mine:.4f}"
            print(f"| {name} | {pct}% ({cap}) | {policy} | {theirs:.4f} | {mine_s} | {diff} |")
        sys.stdout.flush()
    print(f"\nlargest absolute difference: {worst:.4f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="mode", required=True)
    r = sub.add_parser("reference")
    r.add_argument("trace_dir")
    c = sub.add_parser("compare")
    c.add_argument("trace_dir")
    c.add_argument("--larder", default="target/debug/larder")
    args = ap.parse_args()
    {"reference": reference, "compare": compare}[args.mode](args)


if __name__ == "__main__":
    main()

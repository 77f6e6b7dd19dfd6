#!/usr/bin/env bash
# A/B test two eviction policies on live traffic, from start to promotion.
#
# Needs a running node (`cargo run --release` in the repository root), curl and redis-benchmark
# (Debian: redis-tools). The experiment runs on the `default` namespace so that redis-benchmark,
# which knows nothing of namespaces, drives it unmodified.
set -euo pipefail
http="${LARDER_URL:-http://127.0.0.1:8390}"
resp_port="${LARDER_RESP_PORT:-6390}"

echo "1. Shrink the default namespace so eviction matters (32 MiB), then split it LRU vs S3-FIFO."
curl -fsS -X PUT "$http/v1/namespaces/default" \
  -d '{"capacity_bytes": 33554432, "eviction": "s3fifo"}' >/dev/null
curl -fsS -X PUT "$http/v1/namespaces/default/experiment" -d '{
  "arms": [
    {"name": "lru",    "eviction": "lru",    "weight": 1},
    {"name": "s3fifo", "eviction": "s3fifo", "weight": 1}
  ]}' >/dev/null

echo "2. Drive traffic: random keys over a key space larger than the cache."
redis-benchmark -p "$resp_port" -t set,get -d 512 -r 200000 -n 300000 -c 50 -P 16 -q

echo "3. The report: per-arm hit ratios, the confidence interval and a verdict."
curl -fsS "$http/v1/namespaces/default/experiment"
echo

echo "4. Promote the winner if there is one (refused with a clear error while there is none)."
curl -sS -X POST "$http/v1/namespaces/default/experiment/promote"
echo

#!/usr/bin/env bash
# Start a three-node Larder cluster on this machine, with one replica of every slot, and stop it
# on Ctrl-C. Each node keeps its data in its own directory under ./larder-cluster (or $DIR).
#
#   examples/cluster/start.sh                     # uses target/release/larder (cargo build --release)
#   LARDER=target/debug/larder examples/cluster/start.sh
#
# Ports: Redis protocol 7001-7003, HTTP 8001-8003, cluster bus 9001-9003. Then:
#   redis-cli -p 7002 set user:1 alice && redis-cli -p 7003 get user:1
#   curl -s localhost:8001/v1/cluster          # members, slots, replication backlog
#   kill -9 <one node's pid>                   # its slots pass to their replicas in ~5 s
set -euo pipefail
cd "$(dirname "$0")/../.."
LARDER=${LARDER:-target/release/larder}
DIR=${DIR:-larder-cluster}
if [[ ! -x $LARDER ]]; then
  echo "no $LARDER: build it with 'cargo build --release -p larder' or set LARDER=" >&2
  exit 1
fi
pids=()
stop() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait
}
trap stop EXIT INT TERM

node() { # node <n> <cluster flags...>
  local n=$1
  shift
  mkdir -p "$DIR/node$n"
  "$LARDER" serve --data-dir "$DIR/node$n" --resp-addr "127.0.0.1:700$n" \
    --http-addr "127.0.0.1:800$n" --bus-addr "127.0.0.1:900$n" "$@" \
    >"$DIR/node$n/stdout.log" 2>"$DIR/node$n/stderr.log" &
  pids+=($!)
  # The ready line says the node serves (it is printed once both ports are bound).
  for _ in $(seq 100); do
    grep -q "^larder ready" "$DIR/node$n/stdout.log" 2>/dev/null && break
    sleep 0.1
  done
  grep -q "^larder ready" "$DIR/node$n/stdout.log" || {
    echo "node $n did not start; see $DIR/node$n/stderr.log" >&2
    exit 1
  }
  echo "node $n: pid ${pids[-1]}, redis-cli -p 700$n, http://127.0.0.1:800$n/"
}

# A restart resumes each node's membership from its data directory; the first start forms it.
if [[ -d $DIR/node1/cluster ]]; then
  node 1
  node 2
  node 3
else
  node 1 --cluster-init --cluster-replicas 1
  node 2 --join 127.0.0.1:9001
  node 3 --join 127.0.0.1:9001
fi
echo "three nodes up; logs in $DIR/node*/stderr.log; Ctrl-C stops them"
wait

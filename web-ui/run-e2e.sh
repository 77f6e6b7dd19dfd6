#!/usr/bin/env bash
# The dashboard's tests: API-type drift check, unit tests (vitest), then browser tests against the
# real binary:
#   build the UI, build the debug `larder` binary (which embeds it), start it on free loopback
#   ports, run Playwright with Debian's chromium, stop the server by its PID.
# Needs node/npm and /usr/bin/chromium (apt-get install -y chromium).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
cd "$here"

export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
[ -d node_modules ] || npm install --no-audit --no-fund
# The UI's API types must match openapi/openapi.json, and its unit tests must pass, before the browser runs.
npm run check:api
npm test
npm run build
(cd "$root" && cargo build -p larder --bin larder)
bin="${CARGO_TARGET_DIR:-$root/target}/debug/larder"
# A real plugin for the upload test: the reference SIEVE eviction policy, built for wasm32.
# The plugins workspace keeps its own target dir, whatever CARGO_TARGET_DIR the caller set.
(cd "$root/plugins" && CARGO_TARGET_DIR="$root/plugins/target" \
  cargo build --release --target wasm32-unknown-unknown -p larder-plugin-sieve)
export LARDER_E2E_PLUGIN="$root/plugins/target/wasm32-unknown-unknown/release/larder_plugin_sieve.wasm"

# Three nodes: an open one (zero configuration, what most tests drive), one with an operator key
# and short dashboard sessions (the login tests), and a one-member cluster (the Cluster page).
work="$(mktemp -d)"
export LARDER_OPERATOR_KEY="e2e-operator-key-$(date +%s)-0123456789"
printf '%s' "$LARDER_OPERATOR_KEY" >"$work/operator-key"
printf 'operator_key_file = "%s"\nsession_ttl_secs = 4\n' "$work/operator-key" >"$work/auth.toml"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# Start `larder serve` with extra flags, logging to $1, and wait until it logs the HTTP address
# it bound ("http_addr=127.0.0.1:PORT"); sets $addr.
start_node() {
  local log="$1"; shift
  local keep="--no-persist"
  # A cluster member keeps its raft log in its data directory (given in the flags).
  case " $* " in *" --data-dir "*) keep="" ;; esac
  env -u LARDER_OPERATOR_KEY "$bin" serve --http-addr 127.0.0.1:0 --resp-addr 127.0.0.1:0 $keep \
    --log-format text --log-level info "$@" >"$log" 2>&1 &
  local pid=$!
  pids+=("$pid")
  addr=""
  for _ in $(seq 1 300); do
    addr="$(grep -o 'http_addr=[0-9.:]*' "$log" | head -n1 | cut -d= -f2 || true)"
    [ -n "$addr" ] && return 0
    kill -0 "$pid" 2>/dev/null || { cat "$log" >&2; echo "larder exited early" >&2; exit 1; }
    sleep 0.1
  done
  cat "$log" >&2; echo "larder did not report its HTTP address" >&2; exit 1
}

start_node "$work/open.log"
export LARDER_URL="http://$addr"
start_node "$work/auth.log" --config "$work/auth.toml"
export LARDER_AUTH_URL="http://$addr"
# The same node's Redis port: the tests make users with ACL SETUSER there.
export LARDER_AUTH_RESP="$(grep -o 'resp_addr=[0-9.:]*' "$work/auth.log" | head -n1 | cut -d= -f2)"
# A one-member cluster, for the Cluster page.
start_node "$work/cluster.log" --data-dir "$work/cluster" --bus-addr 127.0.0.1:0 --cluster-init
export LARDER_CLUSTER_URL="http://$addr"
echo "larder serving at $LARDER_URL (open), $LARDER_AUTH_URL (operator key, 4 s sessions) and $LARDER_CLUSTER_URL (one-member cluster)"
npx playwright test "$@"

#!/usr/bin/env bash
# Every test the repository has, on a fresh Debian machine or a developer's: first installs what
# the tests need where it is missing, then runs them.
#
#   set-up (each step only when its tool is missing, so a second run installs nothing):
#     Debian packages   redis-tools (redis-cli, a client the RESP tests use), chromium (the
#                       dashboard's browser tests), nodejs + npm (the dashboard's build and tests)
#     Python venv       redis-py (pinned in api/tests/python/requirements.txt) for the
#                       redis_py test, in ${XDG_CACHE_HOME:-~/.cache}/larder-ci/venv
#     rustup            the toolchain rust-toolchain.toml pins and its wasm32-unknown-unknown
#                       target (rustup does not add a listed target to a toolchain already installed)
#     npm               web-ui's packages (no browser download: Playwright drives Debian's chromium)
#   tests, in order, stopping at the first failure:
#     1. the root workspace: runtime and api, against the reference plugins and the walk-through's
#        plugin (examples/plugin-from-scratch), built to wasm32 by runtime/plugin-build; api's
#        plugin_from_scratch test follows that walk-through against a running node
#     2. the plugins/ workspace's own unit tests, on the host
#     3. the dashboard: API-type drift, vitest, Playwright in chromium against the real binary
#
# Arguments are passed to the root workspace's `cargo test` (e.g. `-- --test-threads 1`).
# CARGO_TARGET_DIR is honoured; LARDER_TEST_NO_INSTALL=1 skips the set-up.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

step() { printf '\n== %s\n' "$*"; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null; then
    sudo "$@"
  else
    echo "need root to run: $* (install sudo, or run this as root)" >&2
    exit 1
  fi
}

install_missing() {
  step "set-up: Debian packages"
  local need=()
  command -v redis-cli >/dev/null || need+=(redis-tools)
  command -v chromium >/dev/null || need+=(chromium)
  command -v npm >/dev/null || need+=(nodejs npm)
  python3 -c 'import venv, ensurepip' 2>/dev/null || need+=(python3-venv)
  if [ ${#need[@]} -gt 0 ]; then
    echo "installing: ${need[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  else
    echo "all present"
  fi

  step "set-up: Python client for the tests (redis-py)"
  local requirements=api/tests/python/requirements.txt
  if [ ! -x "$venv/bin/python" ] || [ "$requirements" -nt "$venv/.installed" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check -r "$requirements"
    touch "$venv/.installed"
  else
    echo "redis-py present"
  fi

  step "set-up: Rust toolchain and the wasm32 target"
  # In the repository, rustup resolves the toolchain from rust-toolchain.toml and installs it
  # (with its listed target) if it is missing; an already installed toolchain gets no new target.
  rustup show active-toolchain >/dev/null 2>&1 || rustup toolchain install
  if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    rustup target add wasm32-unknown-unknown
  else
    echo "wasm32-unknown-unknown present"
  fi

  step "set-up: web-ui packages"
  # `npm install`, not `npm ci`: npm 11's `ci` rejects this lock file over rollup's optional
  # per-platform packages. Run only when node_modules is missing or older than the lock file.
  if [ ! -f web-ui/node_modules/.package-lock.json ] ||
    [ web-ui/package-lock.json -nt web-ui/node_modules/.package-lock.json ]; then
    (cd web-ui && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --no-audit --no-fund)
  else
    echo "node_modules up to date"
  fi
}

venv="${LARDER_TEST_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/larder-ci/venv}"
export LARDER_TEST_PYTHON="$venv/bin/python"

[ "${LARDER_TEST_NO_INSTALL:-0}" = 1 ] || install_missing

started=$SECONDS
step "1/3 root workspace: cargo test --workspace"
cargo test --workspace --no-fail-fast "$@"

step "2/3 plugins/ workspace: unit tests on the host"
cargo test --manifest-path plugins/Cargo.toml --workspace

step "3/3 dashboard: web-ui/run-e2e.sh"
web-ui/run-e2e.sh

step "all tests passed in $((SECONDS - started)) s"

#!/usr/bin/env bash
# `make test-containers`: the containerised stack on a free block of ports with two runtime
# replicas, the e2e tests marked `containers` against it, then down, also on failure or
# Ctrl-C; the exit code is the tests' (or up's).
set -uo pipefail
cd "$(dirname "$0")/../.."
py=.venv/bin/python
data_dir=$(mktemp -d "${TMPDIR:-/tmp}/wasmgrid-containers.XXXXXX")
export WASMGRID_CONTAINERS_DATA_DIR=$data_dir

down() {
  # A container that does not stop cleanly (exit 0 after SIGTERM) fails the run too.
  if ! .venv/bin/wasmgrid containers down --data-dir "$data_dir" && [ "${code:-0}" = 0 ]; then
    code=1
  fi
  rm -rf "$data_dir"
}
trap 'down; exit "${code:-1}"' EXIT
trap 'exit 130' INT TERM

# A port of the block may be taken before its service binds it (CI saw the gateway fail
# so; `wasmgrid.cli.devstack.port_taken`): then `up` stops what it started and the stack
# starts again on another block, at most three times. Any other failure ends the run.
up_log=$(mktemp "${TMPDIR:-/tmp}/wasmgrid-containers-up.XXXXXX")
for attempt in 1 2 3; do
  offset=$("$py" -c 'from wasmgrid.cli.devstack import free_offset; print(free_offset(2))')
  if .venv/bin/wasmgrid containers up --data-dir "$data_dir" --port-offset "$offset" \
      --runtime-replicas 2 2>&1 | tee "$up_log"; then
    break
  fi
  if [ "$attempt" = 3 ] || ! "$py" -c 'import sys; from wasmgrid.cli.devstack import port_taken
sys.exit(0 if port_taken(open(sys.argv[1]).read()) else 1)' "$up_log"; then
    rm -f "$up_log"
    code=1
    exit
  fi
  echo "a port of the block at offset $offset was taken meanwhile: starting on another block"
done
rm -f "$up_log"
"$py" -m pytest tests/e2e -m containers ${PYTEST_ARGS:-}
code=$?

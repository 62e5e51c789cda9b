#!/usr/bin/env bash
# The article's walk-through against corral-store on the embedded backend.
# Starts the store on its default ports (2379 and 4001), replays each command while
# printing it, then stops the store cleanly.
set -euo pipefail

work=$(mktemp -d /tmp/corral-demo.XXXXXX)
store_pid=""
cleanup() {
  if [ -n "$store_pid" ] && kill -0 "$store_pid" 2>/dev/null; then
    kill -TERM "$store_pid"
    wait "$store_pid" || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; echo; }

echo "Starting corral-store (embedded backend, data in $work/data)"
corral-store --data-dir "$work/data" >"$work/store.log" 2>&1 &
store_pid=$!
for _ in $(seq 1 200); do
  curl -fsS http://127.0.0.1:2379/health >/dev/null 2>&1 && break
  kill -0 "$store_pid" 2>/dev/null || { cat "$work/store.log"; exit 1; }
  sleep 0.05
done
curl -fsS http://127.0.0.1:2379/health >/dev/null || { echo "store did not start"; cat "$work/store.log"; exit 1; }

step curl -sS -X PUT http://127.0.0.1:4001/v2/keys/hello -d value=world
step curl -sS http://127.0.0.1:4001/v2/keys/hello
step corralctl kv set /hello you
step corralctl kv get /hello

echo "Stopping corral-store"
kill -TERM "$store_pid"
wait "$store_pid"
store_pid=""
echo "Done."

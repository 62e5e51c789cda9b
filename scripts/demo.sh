#!/usr/bin/env bash
# `make demo`: the whole story on one machine, printed like a tutorial.
# Chapter 1 is the article's walk-through against corral-store on the embedded backend
# (its default ports 2379 and 4001); chapters 2-6 (bundle, cluster, keys across hosts,
# a unit moving, a rolling update) are scripts/demo/story.py, with the hosts in
# systemd-nspawn instances where this machine can run them, else as processes
# (`--mode process` asks for processes). Arguments go to story.py. Every process,
# instance and network namespace started is removed on success, failure and Ctrl-C.
set -euo pipefail

story="$(dirname "$0")/demo/story.py"
# Arguments are checked (and --help answered) before anything starts.
for arg in "$@"; do
  case "$arg" in -h|--help) exec python "$story" --help ;; esac
done
python "$story" --parse-only "$@"

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

# The walk-through's ports are fixed: refuse to run it against somebody else's server.
for port in 2379 4001; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "demo: port $port on 127.0.0.1 is in use; the walk-through needs it (stop what serves it)" >&2
    exit 1
  fi
done

printf '\n\033[1m=== 1. The walk-through: one store, etcd v2 keys API ===\033[0m\n'
echo "Starting corral-store (embedded backend, data in $work/data)"
corral-store --data-dir "$work/data" >"$work/store.log" 2>&1 &
store_pid=$!
for _ in $(seq 1 200); do
  curl -fsS http://127.0.0.1:2379/health >/dev/null 2>&1 && break
  kill -0 "$store_pid" 2>/dev/null || { cat "$work/store.log"; exit 1; }
  sleep 0.05
done
curl -fsS http://127.0.0.1:2379/health >/dev/null && kill -0 "$store_pid" 2>/dev/null \
  || { echo "store did not start"; cat "$work/store.log"; exit 1; }

step curl -sS -X PUT http://127.0.0.1:4001/v2/keys/hello -d value=world
step curl -sS http://127.0.0.1:4001/v2/keys/hello
step corralctl kv set /hello you
step corralctl kv get /hello

echo "Stopping corral-store"
kill -TERM "$store_pid"
wait "$store_pid"
store_pid=""

python "$story" "$@"
echo "Done."

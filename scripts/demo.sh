#!/usr/bin/env bash
# demo.sh: `make demo`. Starts a local Berth cluster in a scratch directory at
# the default addresses (API http://127.0.0.1:7070, raft 127.0.0.1:7071), so
# `berthctl get pods` in another terminal works with no flags; applies
# examples/, shows what the cluster now holds, and keeps running until Ctrl-C,
# then stops everything it started.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BIN="$ROOT/build/bin"
SCRATCH="$(mktemp -d /tmp/berth-demo.XXXXXX)"
PIDS=()

cleanup() {
  trap - EXIT INT TERM
  echo; echo "demo: stopping"
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$SCRATCH"
}
trap cleanup EXIT INT TERM

if curl -fsS -m 1 http://127.0.0.1:7070/healthz >/dev/null 2>&1; then
  echo "demo: something already serves 127.0.0.1:7070; stop it first" >&2
  exit 1
fi

echo "demo: starting berthd (data in $SCRATCH/server, log in $SCRATCH/berthd.log)"
"$BIN/berthd" --name demo --data-dir "$SCRATCH/server" >"$SCRATCH/berthd.out" 2>"$SCRATCH/berthd.log" &
PIDS+=($!)
for _ in $(seq 1 100); do
  grep -q "berthd ready" "$SCRATCH/berthd.out" 2>/dev/null && break
  kill -0 "${PIDS[0]}" 2>/dev/null || { echo "demo: berthd exited:" >&2; cat "$SCRATCH/berthd.log" >&2; exit 1; }
  sleep 0.1
done
cat "$SCRATCH/berthd.out"

export PATH="$BIN:$PATH"
echo; echo "\$ berthctl apply -f examples/"
berthctl apply -f "$ROOT/examples/"
echo; echo "\$ berthctl get deployments,configmaps"
berthctl get deployments
berthctl get configmaps
echo; echo "\$ berthctl get namespaces"
berthctl get namespaces
echo; echo "\$ berthctl scale deployment/web --replicas=5 && berthctl get deploy web -o yaml | head -30"
berthctl scale deployment/web --replicas=5
berthctl get deployment web -o yaml | head -30
cat <<MSG

demo: the cluster is running. In another terminal try:
  export PATH=$BIN:\$PATH
  berthctl get deploy,cm      berthctl get deploy web -o json
  berthctl get cm -w          (and apply a change to examples/web.yaml)
  curl -s http://127.0.0.1:7070/metrics | head
Ctrl-C stops the demo and removes $SCRATCH.
MSG
wait "${PIDS[0]}"

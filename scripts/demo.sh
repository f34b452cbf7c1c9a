#!/usr/bin/env bash
# demo.sh: `make demo`. Starts a local Berth cluster in a scratch directory at
# the default addresses (API http://127.0.0.1:7070, raft 127.0.0.1:7071, one
# agent at 127.0.0.1:7080 with a busybox image built from Debian's
# busybox-static), so `berthctl get pods` in another terminal works with no
# flags; applies examples/, shows the pods running, and keeps running until
# Ctrl-C, then deletes what it applied and stops everything it started.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BIN="$ROOT/build/bin"
SCRATCH="$(mktemp -d /tmp/berth-demo.XXXXXX)"
PIDS=()

cleanup() {
  trap - EXIT INT TERM
  echo; echo "demo: stopping"
  # Containers outlive an agent on purpose (it re-adopts them on restart):
  # delete the workloads first so the agent stops them, then stop the agent.
  "$BIN/berthctl" delete -f "$ROOT/examples/" --ignore-not-found >/dev/null 2>&1 || true
  for _ in $(seq 1 50); do
    [ -z "$("$BIN/berthctl" get pods -A -o name 2>/dev/null)" ] && break
    sleep 0.2
  done
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  pkill -9 -f "berth-agent shim $SCRATCH" 2>/dev/null || true
  grep " $SCRATCH" /proc/mounts | awk '{print $2}' | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
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

echo "demo: building the busybox image in $SCRATCH/images"
"$ROOT/scripts/make-busybox-image.sh" "$SCRATCH/images" >/dev/null
echo "demo: starting berth-agent (node demo-node, log in $SCRATCH/agent.log)"
"$BIN/berth-agent" --name demo-node --data-dir "$SCRATCH/agent" --image-dir "$SCRATCH/images" \
  >"$SCRATCH/agent.out" 2>"$SCRATCH/agent.log" &
PIDS+=($!)
for _ in $(seq 1 100); do
  grep -q "berth-agent ready" "$SCRATCH/agent.out" 2>/dev/null && break
  kill -0 "${PIDS[1]}" 2>/dev/null || { echo "demo: berth-agent exited:" >&2; cat "$SCRATCH/agent.log" >&2; exit 1; }
  sleep 0.1
done
cat "$SCRATCH/agent.out"

export PATH="$BIN:$PATH"
echo; echo "\$ berthctl apply -f examples/"
berthctl apply -f "$ROOT/examples/"
echo; echo "\$ berthctl get nodes"
berthctl get nodes
echo; echo "demo: waiting for the pods to run"
for _ in $(seq 1 300); do
  running=$(berthctl get pods -o json | jq '[.items[] | select(.status.phase == "Running" or .status.phase == "Succeeded")] | length')
  [ "$running" -ge 4 ] && break
  sleep 0.2
done
echo; echo "\$ berthctl get deployments,pods -o wide"
berthctl get deployments,pods -o wide
echo; echo "\$ berthctl logs hello"
berthctl logs hello || true
echo; echo "\$ berthctl scale deployment/web --replicas=5 && berthctl rollout status deployment/web"
berthctl scale deployment/web --replicas=5
berthctl rollout status deployment/web --timeout=60s || true
berthctl get pods -o wide
cat <<MSG

demo: the cluster is running. In another terminal try:
  export PATH=$BIN:\$PATH
  berthctl get pods -o wide   berthctl logs -f <a web pod>
  berthctl get pods -w        (and in a third terminal: berthctl delete pod <a web pod>)
  berthctl describe deploy web    berthctl get events
  curl -s http://127.0.0.1:7070/metrics | head
Ctrl-C stops the demo and removes $SCRATCH.
MSG
wait "${PIDS[0]}"

#!/usr/bin/env bash
# agent_rss.sh: memory of berth-agent with N pods running (default 20; issue
# 3, benchmark 3, goal <= 10 MB). Needs root.
#
# One berthd and one berth-agent (release build) on loopback. Prints the
# agent's RSS idle (registered, no pods), then with N busybox pods Running
# after a few status/sync/heartbeat rounds (SETTLE_S, default 5 s), and its
# peak (VmHWM). For context also the per-container shim (RSS each, and the
# total of all shims, RSS and PSS: every container has one) and berthd's RSS.
#
# Environment: N (20), SETTLE_S (5), BERTH_BIN (default
# build/bin from `make build`), BENCH_DIR.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
N=${N:-20}
SETTLE_S=${SETTLE_S:-5}
DIR=${BENCH_DIR:-/var/tmp/berth-bench-agentrss}
NAME=agent_rss.sh
source "$ROOT/bench/node_lib.sh"

wait_line() { # FILE PATTERN
  for _ in $(seq 1 400); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.05; done
  echo "timed out waiting for '$2' in $1" >&2; exit 1
}
kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }
mb() { awk -v x="$1" 'BEGIN { printf "%.1f MB", x / 1024 }'; }

echo "machine: $(nproc) cores, $(awk '/MemTotal/{print int($2/1024)" MiB"}' /proc/meminfo), $(uname -r), $(date -u +%F)"
sh "$ROOT/scripts/make-busybox-image.sh" "$DIR/images"
"$BIN/berthd" --name bench --data-dir "$DIR/server" --listen "127.0.0.1:$API" --raft "127.0.0.1:$RAFT" \
  --log-level warn >"$DIR/berthd.out" 2>"$DIR/berthd.log" &
SPID=$!; PIDS+=($SPID)
wait_line "$DIR/berthd.out" "berthd ready"
"$BIN/berth-agent" --server "$SERVER" --name bench-node --data-dir "$DIR/agent" --listen "127.0.0.1:$AGP" \
  --cpu 4000 --memory 8Gi --image-dir "$DIR/images" --log-level warn >"$DIR/agent.out" 2>"$DIR/agent.log" &
APID=$!; PIDS+=($APID)
wait_line "$DIR/agent.out" "berth-agent ready"
sleep 2 # a heartbeat and a few sync rounds, idle
echo "agent RSS idle (0 pods):        $(mb "$(kb $APID VmRSS)")"

for i in $(seq 1 "$N"); do
  cat <<YAML
---
apiVersion: v1
kind: Pod
metadata: {name: rss-$i}
spec:
  terminationGracePeriodSeconds: 1
  containers:
    - name: c
      image: busybox
      command: ["sh", "-c", "trap 'exit 0' TERM; i=0; while :; do i=\$((i+1)); echo tick \$i; sleep 1; done"]
      livenessProbe: {exec: {command: ["true"]}, periodSeconds: 2}
YAML
done >"$DIR/pods.yaml"
ctl apply -f "$DIR/pods.yaml" >/dev/null
for _ in $(seq 1 600); do
  [ "$(ctl get pods -o json | jq '[.items[] | select(.status.phase == "Running")] | length')" = "$N" ] && break
  sleep 0.1
done
[ "$(ctl get pods -o json | jq '[.items[] | select(.status.phase == "Running")] | length')" = "$N" ] \
  || { echo "not all $N pods Running" >&2; exit 1; }
sleep "$SETTLE_S" # steady state: status writes, probes, log pumping, heartbeats
shims=$(pgrep -f "berth-agent shim $DIR/" || true)
total=0; pss=0
for p in $shims; do
  total=$((total + $(kb "$p" VmRSS)))
  pss=$((pss + $(awk '$1 == "Pss:" { print $2 }' "/proc/$p/smaps_rollup")))
done
nshim=$(echo "$shims" | wc -w)
echo "agent RSS with $N pods Running:  $(mb "$(kb $APID VmRSS)")  (peak VmHWM $(mb "$(kb $APID VmHWM)"))"
echo "shims: $nshim, $(mb $((total / (nshim > 0 ? nshim : 1)))) RSS each on average, $(mb $total) in total (PSS, shared pages split: $(mb $pss) in total)"
echo "berthd RSS:                     $(mb "$(kb $SPID VmRSS)")"

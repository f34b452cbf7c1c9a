#!/usr/bin/env bash
# run.sh: `make bench`. Measures berthd (release build) with wrk, and etcd
# from Debian beside it on the same machine when it is installed:
#   1. ConfigMap creates (1 KiB value, unique names, keep-alive) at 1, 16 and
#      64 connections against one berthd with its raft log on disk;
#   2. the same unique-key 1 KiB puts against a one-member etcd;
#   3. berthd RSS idle and after 100,000 ConfigMaps (64 connections), and
#      after 20,000 created one at a time (one raft entry each);
#   4. churn: CHURN updates to the same 1,000 objects; data dir and RSS
#      sampled as it goes (they must stay flat once snapshots compact).
# Environment: BERTH_BIN (binaries, default build/bin), DURATION (s, default 10), CONCS ("1 16 64"), CHURN (1000000; 0 skips part 4),
# BENCH_DIR (default /var/tmp/berth-bench: a real disk, not tmpfs).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BIN=${BERTH_BIN:-$ROOT/build/bin}
DURATION=${DURATION:-10}
CONCS=${CONCS:-"1 16 64"}
CHURN=${CHURN:-1000000}
DIR=${BENCH_DIR:-/var/tmp/berth-bench}
API=17070; RAFT=17071
PIDS=()
cleanup() { for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$DIR"; }
trap cleanup EXIT
rm -rf "$DIR"; mkdir -p "$DIR"

echo "machine: $(nproc) cores, $(awk '/MemTotal/{print int($2/1024)" MiB"}' /proc/meminfo), $(uname -r), $(date -u +%F)"

start_berthd() {
  "$BIN/berthd" --name bench --data-dir "$DIR/data" --listen 127.0.0.1:$API --raft 127.0.0.1:$RAFT \
    --log-level warn >"$DIR/out" 2>"$DIR/log" &
  BPID=$!; PIDS+=("$BPID")
  for _ in $(seq 1 200); do grep -q ready "$DIR/out" 2>/dev/null && return; sleep 0.05; done
  echo "berthd did not start"; cat "$DIR/log"; exit 1
}
rss_mb() { awk '/VmRSS/{printf "%.1f", $2/1024}' /proc/$1/status; }

# wrk output -> "req/s p50 p99"
summarize() {
  awk '/Requests\/sec/{rps=$2} /^ +50%/{p50=$2} /^ +99%/{p99=$2} /Non-2xx/{err=$NF}
       END{printf "%10.0f req/s  p50 %8s  p99 %8s  non-2xx %s\n", rps, p50, p99, err+0}'
}

start_berthd
echo "berthd idle RSS: $(rss_mb $BPID) MB"
echo "== berthd: ConfigMap creates, 1 KiB, ${DURATION}s each"
for c in $CONCS; do
  t=$(( c < 2 ? 1 : 2 ))
  printf "berthd %3d conns: " "$c"
  BENCH_PREFIX="c$c" wrk -t$t -c$c -d${DURATION}s --latency -s "$ROOT/bench/create_configmaps.lua" \
    http://127.0.0.1:$API 2>/dev/null | summarize
done

if command -v etcd >/dev/null; then
  echo "== etcd $(etcd --version 2>/dev/null | head -1 | awk '{print $3}'): unique-key puts, 1 KiB, one member, ${DURATION}s each"
  etcd --name e1 --data-dir "$DIR/etcd" --listen-client-urls http://127.0.0.1:12379 \
    --advertise-client-urls http://127.0.0.1:12379 --listen-peer-urls http://127.0.0.1:12380 \
    --initial-advertise-peer-urls http://127.0.0.1:12380 --initial-cluster e1=http://127.0.0.1:12380 \
    --log-level error >"$DIR/etcd.log" 2>&1 &
  EPID=$!; PIDS+=("$EPID")
  for _ in $(seq 1 100); do curl -fs http://127.0.0.1:12379/health >/dev/null 2>&1 && break; sleep 0.1; done
  for c in $CONCS; do
    t=$(( c < 2 ? 1 : 2 ))
    printf "etcd   %3d conns: " "$c"
    wrk -t$t -c$c -d${DURATION}s --latency -s "$ROOT/bench/etcd_put.lua" http://127.0.0.1:12379 2>/dev/null | summarize
  done
  kill "$EPID"; wait "$EPID" 2>/dev/null || true
fi

# fill_rss N CONNS PREFIX: a fresh berthd filled with N ConfigMaps over
# CONNS connections; prints objects, RSS and data dir size.
fill_rss() {
  local target=$1 conns=$2 prefix=$3 n wpid
  kill "$BPID"; wait "$BPID" 2>/dev/null || true
  rm -rf "$DIR/data"; start_berthd
  BENCH_PREFIX=$prefix wrk -t$(( conns < 2 ? 1 : 2 )) -c"$conns" -d120s -s "$ROOT/bench/create_configmaps.lua" \
    http://127.0.0.1:$API >/dev/null 2>&1 &
  wpid=$!
  while kill -0 $wpid 2>/dev/null; do
    n=$(curl -s http://127.0.0.1:$API/metrics | awk '/^berth_store_objects /{print $2}')
    [ "${n:-0}" -ge $((target + 3)) ] && { kill $wpid; break; } # + the bootstrap namespaces
    sleep 0.5
  done
  wait $wpid 2>/dev/null || true
  n=$(curl -s http://127.0.0.1:$API/metrics | awk '/^berth_store_objects /{print $2}')
  echo "objects: $n  RSS: $(rss_mb $BPID) MB  data dir: $(du -sm "$DIR/data" | cut -f1) MB"
}

echo "== RSS after 100,000 ConfigMaps"
fill_rss 100000 64 rss
echo "== RSS after 20,000 ConfigMaps created one at a time (1 connection)"
fill_rss 20000 1 rss1

[ "$CHURN" -gt 0 ] || exit 0 # CHURN=0: no churn part
echo "== churn: $CHURN merge-patches to the same 1,000 ConfigMaps"
kill "$BPID"; wait "$BPID" 2>/dev/null || true
rm -rf "$DIR/data"; start_berthd
for i in $(seq 0 999); do
  printf '{"metadata":{"name":"churn-%d"},"data":{"beat":"0"}}' "$i"
done | python3 -c '
import sys, json, urllib.request
for line in sys.stdin.read().replace("}}{", "}}\n{").splitlines():
    req = urllib.request.Request("http://127.0.0.1:'$API'/api/v1/namespaces/default/configmaps", line.encode(), {"Content-Type": "application/json"})
    urllib.request.urlopen(req).read()
'
start=$(curl -s http://127.0.0.1:$API/metrics | awk '/^berth_store_revision /{print $2}')
wrk -t2 -c64 -d3600s -s "$ROOT/bench/churn.lua" http://127.0.0.1:$API >/dev/null 2>&1 &
WPID=$!
while kill -0 $WPID 2>/dev/null; do
  sleep 5
  rev=$(curl -s http://127.0.0.1:$API/metrics | awk '/^berth_store_revision /{print $2}')
  done_n=$((rev - start))
  echo "updates: $done_n  RSS: $(rss_mb $BPID) MB  data dir: $(du -sm "$DIR/data" | cut -f1) MB"
  [ $done_n -ge "$CHURN" ] && { kill $WPID; break; }
done
wait $WPID 2>/dev/null || true

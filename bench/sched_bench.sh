#!/usr/bin/env bash
# sched_bench.sh: scheduler throughput and memory with simulated nodes
# (issue 3, benchmarks 2 and 3): runs bench/sched_bench.c at 1,000 and 5,000
# Ready nodes with 30,000 pending pods each, binpack, raft log on a real disk.
# Build it without sanitizers first (a Release build). Environment: BIN (dir
# of sched_bench, default build/bin), PODS (30000), NODES ("1000 5000"),
# BENCH_DIR (default /var/tmp), STRATEGY (binpack).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BIN=${BIN:-$ROOT/build/bin}
PODS=${PODS:-30000}
NODES=${NODES:-"1000 5000"}
STRATEGY=${STRATEGY:-binpack}
[ -x "$BIN/sched_bench" ] || { echo "no $BIN/sched_bench: build the sched_bench target"; exit 1; }
echo "machine: $(nproc) cores, $(awk '/MemTotal/{print int($2/1024)" MiB"}' /proc/meminfo), $(uname -r), $(date -u +%F)"
for n in $NODES; do
  "$BIN/sched_bench" "$n" "$PODS" "$STRATEGY"
done

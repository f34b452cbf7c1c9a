#!/usr/bin/env bash
# ha_bench.sh: Berth on 3 servers against a 3-member etcd, same machine, same
# time, loopback, data on a real disk (/var/tmp):
#   1. ConfigMap creates (1 KiB, unique names; bench/create_configmaps.lua)
#      at CONC connections through the leader and through a follower (which
#      forwards to the leader), and etcd v3 puts (bench/etcd_put.lua) to its
#      leader and to a follower; req/s, p50, p99 of each.
#   2. The write gap when the leader is killed with SIGKILL: a write load
#      (one connection per server, tests/e2e/ha_client.py) runs while the
#      leader is killed KILLS times (restarted and caught up in between); the
#      gap without acknowledged writes around each kill, and the median.
# Environment: BIN (default build/bin: use a release build), DURATION (10),
# CONC (64), KILLS (10), BENCH_DIR (/var/tmp/berth-ha-bench), ELECTION_MS
# (berthd --election-timeout-ms; unset: berthd's default), BERTHD_FLAGS (more
# berthd flags), LOG_LEVEL (warn), SKIP_THROUGHPUT=1, KEEP=1.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BIN=${BIN:-$ROOT/build/bin}
DURATION=${DURATION:-10}
CONC=${CONC:-64}
KILLS=${KILLS:-10}
DIR=${BENCH_DIR:-/var/tmp/berth-ha-bench}
BASE=${BASE_PORT:-27070}
PIDS=()
declare -A SPID
cleanup() {
  touch "$DIR/stop" 2>/dev/null || true # the load client, if it runs
  for p in "${PIDS[@]:-}" "${SPID[@]:-}"; do [ -n "$p" ] && { kill -9 "$p" 2>/dev/null || true; }; done
  wait 2>/dev/null || true
  [ "${KEEP:-0}" = 1 ] && echo "logs kept in $DIR" || rm -rf "$DIR"
}
trap cleanup EXIT
rm -rf "$DIR"; mkdir -p "$DIR"
case "$(stat -f -c %T "$DIR")" in tmpfs|ramfs) echo "$DIR is on tmpfs: set BENCH_DIR" >&2; exit 1;; esac
for b in wrk curl jq python3; do command -v $b >/dev/null || { echo "needs $b" >&2; exit 1; }; done

api() { echo $((BASE + 10 * $1)); }
url() { echo "http://127.0.0.1:$(api "$1")"; }
start() {  # start I [flags]
  local i=$1; shift
  "$BIN/berthd" --name "s$i" --data-dir "$DIR/s$i" --listen "127.0.0.1:$(api "$i")" \
    --raft "127.0.0.1:$(( $(api "$i") + 1 ))" --log-level "${LOG_LEVEL:-warn}" \
    ${ELECTION_MS:+--election-timeout-ms "$ELECTION_MS"} ${BERTHD_FLAGS:-} "$@" >"$DIR/s$i.out" 2>>"$DIR/s$i.log" &
  SPID[$i]=$!; PIDS+=($!)
  for _ in $(seq 1 400); do grep -q ready "$DIR/s$i.out" 2>/dev/null && return 0; sleep 0.05; done
  echo "berthd s$i did not start: $(tail -5 "$DIR/s$i.log")" >&2
  for j in 1 2 3; do echo "s$j: $(curl -sS -m 1 "$(url "$j")/cluster/self" 2>&1)" >&2; done
  exit 1
}
state() { curl -fsS -m 1 "$(url "$1")/cluster/self" 2>/dev/null | jq -r .state 2>/dev/null || true; }
leader() { local i; for i in 1 2 3; do [ "$(state $i)" = leader ] && { echo $i; return 0; }; done; return 1; }
wait_leader() { for _ in $(seq 1 200); do leader && return 0; sleep 0.05; done; return 1; }
voters3() { [ "$(curl -fsS -m 2 "$(url "$(leader)")/cluster/members" 2>/dev/null | jq '[.members[] | select(.role=="voter" and .reachable)] | length')" = 3 ]; }
caught_up() {
  local l a b; l=$(leader) || return 1
  a=$(curl -fsS -m 1 "$(url "$l")/cluster/self" | jq .applied); b=$(curl -fsS -m 1 "$(url "$1")/cluster/self" | jq .applied)
  [ -n "$a" ] && [ -n "$b" ] && [ "$b" -ge "$a" ]
}
summarize() {
  awk '/Requests\/sec/{rps=$2} /^ +50%/{p50=$2} /^ +99%/{p99=$2} /Non-2xx/{err=$NF}
       END{printf "%8.0f req/s  p50 %8s  p99 %8s  non-2xx %s\n", rps, p50, p99, err+0}'
}

echo "machine: $(nproc) cores, $(awk '/MemTotal/{print int($2/1024)" MiB"}' /proc/meminfo), $(uname -r), $(date -u +%F), data on $(stat -f -c %T "$DIR")"
start 1; start 2 --join "$(url 1)"; start 3 --join "$(url 1)"
for _ in $(seq 1 200); do voters3 && break; sleep 0.1; done
voters3 || { echo "no 3 voters" >&2; exit 1; }
L=$(leader); F=$(( L % 3 + 1 ))

if command -v etcd >/dev/null; then
  EB=$((BASE + 1000))
  cluster=""; for i in 1 2 3; do cluster="$cluster${cluster:+,}e$i=http://127.0.0.1:$((EB + 100 + i))"; done
  for i in 1 2 3; do
    etcd --name "e$i" --data-dir "$DIR/e$i" --listen-client-urls "http://127.0.0.1:$((EB + i))" \
      --advertise-client-urls "http://127.0.0.1:$((EB + i))" --listen-peer-urls "http://127.0.0.1:$((EB + 100 + i))" \
      --initial-advertise-peer-urls "http://127.0.0.1:$((EB + 100 + i))" --initial-cluster "$cluster" \
      --initial-cluster-state new --log-level error >"$DIR/e$i.log" 2>&1 &
    PIDS+=($!)
  done
  for _ in $(seq 1 200); do curl -fs "http://127.0.0.1:$((EB + 1))/health" 2>/dev/null | grep -q true && break; sleep 0.1; done
  EL=""; for i in 1 2 3; do
    lid=$(curl -fsS -X POST "http://127.0.0.1:$((EB + i))/v3/maintenance/status" -d '{}' | jq -r '.leader, .header.member_id' | uniq | wc -l)
    [ "$lid" = 1 ] && EL=$i
  done
  EF=$(( ${EL:-1} % 3 + 1 ))
fi

if [ "${SKIP_THROUGHPUT:-0}" != 1 ]; then
echo "== creates, 1 KiB values, $CONC connections, ${DURATION}s each (3 servers / 3 members)"
printf "berth via leader s%s:    " "$L"
BENCH_PREFIX="l$$" wrk -t2 -c"$CONC" -d"${DURATION}s" --latency -s "$ROOT/bench/create_configmaps.lua" "$(url "$L")" 2>/dev/null | summarize
if [ -n "${EL:-}" ]; then
  printf "etcd via leader e%s:     " "$EL"
  wrk -t2 -c"$CONC" -d"${DURATION}s" --latency -s "$ROOT/bench/etcd_put.lua" "http://127.0.0.1:$((EB + EL))" 2>/dev/null | summarize
fi
printf "berth via follower s%s:  " "$F"
BENCH_PREFIX="f$$" wrk -t2 -c"$CONC" -d"${DURATION}s" --latency -s "$ROOT/bench/create_configmaps.lua" "$(url "$F")" 2>/dev/null | summarize
if [ -n "${EL:-}" ]; then
  printf "etcd via follower e%s:   " "$EF"
  wrk -t2 -c"$CONC" -d"${DURATION}s" --latency -s "$ROOT/bench/etcd_put.lua" "http://127.0.0.1:$((EB + EF))" 2>/dev/null | summarize
fi
fi

[ "$KILLS" -gt 0 ] || exit 0
echo "== write gap when the leader is killed (SIGKILL), $KILLS kills"
rm -f "$DIR/stop" "$DIR/marks"
python3 "$ROOT/tests/e2e/ha_client.py" load --urls "$(url 1),$(url 2),$(url 3)" --prefix gap --threads 3 \
  --timeout 2 --out "$DIR/acked" --stop-file "$DIR/stop" >"$DIR/load.out" &
LOAD=$!; PIDS+=($LOAD)
sleep 2
for k in $(seq 1 "$KILLS"); do
  L=$(leader) || wait_leader >/dev/null
  L=$(leader)
  date +%s.%N >>"$DIR/marks"
  echo "kill $k: s$L at $(tail -1 "$DIR/marks")" >>"$DIR/kills"
  kill -9 "${SPID[$L]}"; wait "${SPID[$L]}" 2>/dev/null || true
  wait_leader >/dev/null || { echo "no new leader" >&2; exit 1; }
  sleep 1
  start "$L"
  for _ in $(seq 1 200); do caught_up "$L" && voters3 && break; sleep 0.1; done
  caught_up "$L" && voters3 || echo "kill $k: s$L not back after 20 s" >&2
  sleep 1
done
touch "$DIR/stop"; wait "$LOAD"
python3 "$ROOT/tests/e2e/ha_client.py" gaps --acked "$DIR/acked" --marks "$DIR/marks" >"$DIR/gaps"
echo "gaps (s): $(tr '\n' ' ' <"$DIR/gaps")"
echo "median gap: $(sort -n "$DIR/gaps" | awk '{a[NR]=$1} END{print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2) " s"}')"
echo "load: $(cat "$DIR/load.out")"

#!/usr/bin/env bash
# run.sh: the autoscaling story, start to finish, on a local cluster.
#
#   examples/autoscale/run.sh            # the full ramp, about 12 minutes
#   RAMP=short examples/autoscale/run.sh # about 2.5 minutes (the e2e test)
#
# Starts berthd and two agents in a scratch dir (nodes demo-a at 127.0.0.2
# and demo-b at 127.0.0.3: each agent's --listen address is its node IP and
# where its Service proxy opens node ports; all of 127/8 is loopback, no
# setup needed), copies berth-cpuweb into the busybox image, applies
# app.yaml (Deployment + NodePort Service + HPA at 50% CPU, 1-10 replicas),
# drives berth-loadgen at both nodes' node port with a ramp up, a plateau
# and a ramp down, and every SAMPLE_S seconds records load, the average CPU
# utilization (the HPA's status, and the metrics API's own figure) and the
# replica counts into OUT/timeline.csv; then draws OUT/autoscale.png with
# gnuplot (plot.gp). Short intervals make the story fit in minutes: agents
# report metrics every 2 s, the HPA syncs every 5 s (when berthd has
# --hpa-sync-period-s), and app.yaml's scale-down window is 30 s.
#
# Environment: BIN (binaries, default build/bin), OUT (default
# examples/autoscale: the README shows OUT/autoscale.png), RAMP (full|short), SAMPLE_S (default 3),
# KEEP=1 keeps the scratch dir (logs). Needs root for isolated containers
# with cgroups (the CPU figures come from them); everything it starts is
# stopped and removed on exit, also on Ctrl-C.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
BIN="${BIN:-$ROOT/build/bin}"
OUT="${OUT:-$HERE}"
RAMP="${RAMP:-full}"
SAMPLE_S="${SAMPLE_S:-3}"
IPS=(127.0.0.2 127.0.0.3)
NAMES=(demo-a demo-b)

case "$RAMP" in
  # seconds:requests-per-second; 10 ms of CPU a request: 45 req/s = 450m,
  # nine pods at the 50% target (of 100m requests).
  full)  PROFILE="0:2,60:2,180:45,330:45,450:2,540:2"; TAIL_S=240 ;;
  short) PROFILE="0:2,5:2,25:40,70:40,85:2,100:2"; TAIL_S=45 ;;
  *) echo "run.sh: RAMP must be full or short" >&2; exit 2 ;;
esac

for b in berthd berth-agent berthctl berth-cpuweb berth-loadgen; do
  [ -x "$BIN/$b" ] || { echo "run.sh: $BIN/$b missing: build first (make, or cmake --build build)" >&2; exit 1; }
done
for t in curl jq python3 gnuplot; do
  command -v "$t" >/dev/null || { echo "run.sh: $t missing: scripts/install-deps.sh installs it" >&2; exit 1; }
done
[ "$(id -u)" -eq 0 ] || echo "run.sh: not root: containers run as plain processes and may report no CPU metrics" >&2

SCRATCH="$(mktemp -d /tmp/berth-autoscale.XXXXXX)"
PIDS=(); AGENT_PIDS=(); LOADGEN_PID=""
mkdir -p "$OUT"
free_port() { python3 -c 'import socket,sys; s=socket.socket(); s.bind((sys.argv[1],0)); print(s.getsockname()[1])' "${1:-127.0.0.1}"; }
log() { printf '%s run.sh: %s\n' "$(date +%H:%M:%S)" "$*"; }
ctl() { "$BIN/berthctl" --server "$SERVER" "$@"; }

# Containers outlive their agent by design (a shim per container), so the
# cleanup deletes the workload through the API first, then stops the
# agents, then removes what is left of this run only: processes in the
# pods' cgroups, shims of this scratch dir (by pid), mounts under it.
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  set +e
  [ -n "$LOADGEN_PID" ] && kill "$LOADGEN_PID" 2>/dev/null
  if [ -n "${SERVER:-}" ] && curl -fsS -m 2 "$SERVER/readyz" >/dev/null 2>&1; then
    ctl get pods -A -o json 2>/dev/null | jq -r '.items[].metadata.uid' >>"$SCRATCH/pod-uids"
    ctl delete -f "$SCRATCH/app.yaml" --ignore-not-found >/dev/null 2>&1
    for _ in $(seq 1 100); do
      [ -z "$(ctl get pods -A -o name 2>/dev/null)" ] && break
      sleep 0.2
    done
  fi
  for p in "${AGENT_PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
  for p in "${AGENT_PIDS[@]}"; do wait "$p" 2>/dev/null; done
  local u d p f
  for f in $(find "$SCRATCH" -path '*/containers/*/spec.json' 2>/dev/null); do
    jq -r '.pod_uid // empty' "$f" >>"$SCRATCH/pod-uids" 2>/dev/null
  done
  for u in $(sort -u "$SCRATCH/pod-uids" 2>/dev/null); do
    for d in $(find /sys/fs/cgroup -maxdepth 7 -type d -path "*/berth/pod-$u" 2>/dev/null); do
      for p in $(find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
    done
  done
  for d in /proc/[0-9]*; do
    tr '\0' ' ' 2>/dev/null <"$d/cmdline" | grep -q "^[^ ]*berth-agent shim $SCRATCH/" && kill -9 "${d#/proc/}" 2>/dev/null
  done
  sleep 0.3
  awk -v t="$SCRATCH/" 'index($2, t) == 1 { print length($2), $2 }' /proc/mounts | sort -rn | cut -d' ' -f2- |
    while read -r m; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null; done
  for u in $(sort -u "$SCRATCH/pod-uids" 2>/dev/null); do
    for d in $(find /sys/fs/cgroup -maxdepth 7 -type d -path "*/berth/pod-$u" 2>/dev/null); do
      find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null
    done
  done
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
  if [ $rc -ne 0 ]; then
    for f in "$SCRATCH"/*.log; do [ -f "$f" ] && { echo "== $f" >&2; tail -15 "$f" >&2; }; done
  fi
  if [ "${KEEP:-0}" = 1 ]; then echo "run.sh: scratch dir kept: $SCRATCH" >&2; else rm -rf "$SCRATCH"; fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_for() { # wait_for SECONDS WHAT CMD...
  local secs=$1 what=$2; shift 2
  local end=$(( $(date +%s) + secs ))
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -ge "$end" ] && { echo "run.sh: timed out after ${secs}s waiting for $what" >&2; return 1; }
    sleep 0.2
  done
}

# ---- the cluster ----------------------------------------------------------
API=$(free_port); RAFT=$(free_port)
SERVER="http://127.0.0.1:$API"
BFLAGS=()
"$BIN/berthd" --help 2>&1 | grep -q -- '--hpa-sync-period-s' && BFLAGS+=(--hpa-sync-period-s 5)
log "starting berthd on $SERVER (logs in $SCRATCH)"
"$BIN/berthd" --name demo --data-dir "$SCRATCH/server" --listen "127.0.0.1:$API" --raft "127.0.0.1:$RAFT" \
  "${BFLAGS[@]}" >"$SCRATCH/berthd.out" 2>"$SCRATCH/berthd.log" &
PIDS+=($!)
wait_for 30 "berthd" grep -q "berthd ready" "$SCRATCH/berthd.out"

"$ROOT/scripts/make-busybox-image.sh" "$SCRATCH/images" >/dev/null
cp "$BIN/berth-cpuweb" "$SCRATCH/images/busybox/bin/berth-cpuweb"
AFLAGS=()
"$BIN/berth-agent" --help 2>&1 | grep -q -- '--metrics-interval-s' && AFLAGS+=(--metrics-interval-s 2)
for i in 0 1; do
  port=$(free_port "${IPS[$i]}")
  "$BIN/berth-agent" --server "$SERVER" --name "${NAMES[$i]}" --data-dir "$SCRATCH/${NAMES[$i]}" \
    --listen "${IPS[$i]}:$port" --cpu 2000 --memory 4Gi --image-dir "$SCRATCH/images" \
    --status-interval-ms 500 "${AFLAGS[@]}" >"$SCRATCH/${NAMES[$i]}.out" 2>"$SCRATCH/${NAMES[$i]}.log" &
  AGENT_PIDS+=($!)
  wait_for 30 "agent ${NAMES[$i]}" grep -q "berth-agent ready" "$SCRATCH/${NAMES[$i]}.out"
  log "agent ${NAMES[$i]} ready at ${IPS[$i]}"
done

# The node port: 30080 unless something holds it on one of the addresses.
node_port_free() {
  python3 - "$1" "${IPS[@]}" <<'PY'
import socket, sys
p = int(sys.argv[1])
for ip in sys.argv[2:]:
    s = socket.socket()
    try: s.bind((ip, p))
    except OSError: sys.exit(1)
    finally: s.close()
PY
}
NP=30080
node_port_free $NP || NP=$(for _ in $(seq 1 100); do p=$((30000 + RANDOM % 2768)); node_port_free $p && { echo $p; break; }; done)
[ -n "$NP" ] || { echo "run.sh: no free node port" >&2; exit 1; }
# The pods' port (all addresses, SO_REUSEPORT: replicas of one node share
# it): 18080 unless taken, so two demo runs on one machine never pool their
# pods into one reuseport group.
APP_PORT=18080
app_port_free() { python3 -c 'import socket,sys; s=socket.socket(); s.bind(("0.0.0.0",int(sys.argv[1])))' "$1" 2>/dev/null; }
app_port_free $APP_PORT || APP_PORT=$(free_port 0.0.0.0)
sed -e "s/nodePort: 30080/nodePort: $NP/" -e "s/18080/$APP_PORT/g" "$HERE/app.yaml" >"$SCRATCH/app.yaml"
ctl apply -f "$SCRATCH/app.yaml"
ready_pods() { ctl get endpoints cpuweb -o json | jq -e '[.subsets[]?.addresses[]?] | length >= 1'; }
wait_for 90 "a ready cpuweb pod" ready_pods
wait_for 20 "the node port" curl -fsS -m 2 "http://${IPS[0]}:$NP/"
log "cpuweb answers on ${IPS[0]}:$NP and ${IPS[1]}:$NP: $(curl -fsS -m 2 "http://${IPS[1]}:$NP/")"

# ---- load and samples -------------------------------------------------------
CSV="$OUT/timeline.csv"
echo "elapsed_s,load_rps,ok_rps,errors,cpu_util_pct,metrics_util_pct,replicas,ready,desired" >"$CSV"
log "load profile ($RAMP): $PROFILE (seconds:req/s); timeline in $CSV"
"$BIN/berth-loadgen" --target "${IPS[0]}:$NP" --target "${IPS[1]}:$NP" --profile "$PROFILE" \
  --stats "$SCRATCH/load.csv" --timeout-ms 10000 2>"$SCRATCH/loadgen.log" &
LOADGEN_PID=$!
T0=$(date +%s)

# Average CPU of the pods against their requests, from the metrics API (an
# independent check of the HPA's figure; empty while there is none).
metrics_util() {
  curl -fsS -m 2 "$SERVER/apis/metrics.k8s.io/v1beta1/namespaces/default/pods?labelSelector=app%3Dcpuweb" 2>/dev/null |
    jq -r 'def m: if endswith("n") then (.[:-1]|tonumber)/1e6 elif endswith("u") then (.[:-1]|tonumber)/1e3
                  elif endswith("m") then (.[:-1]|tonumber) else (tonumber*1000) end;
           [.items[] | ([.containers[].usage.cpu | m] | add)] as $u
           | if ($u|length) > 0 then (($u|add) / ($u|length) | floor) else empty end' 2>/dev/null || true
}

sample() {
  local el hpa dep last load ok errs util mutil reps ready desired
  el=$(( $(date +%s) - T0 ))
  last=$(tail -n 1 "$SCRATCH/load.csv" 2>/dev/null | grep -v elapsed || true)
  if [ -n "$last" ] && kill -0 "$LOADGEN_PID" 2>/dev/null; then
    IFS=, read -r _ load ok errs _ _ <<<"$last"
  else
    load=0; ok=0; errs=0
  fi
  hpa=$(ctl get hpa cpuweb -o json 2>/dev/null || echo '{}')
  dep=$(ctl get deploy cpuweb -o json 2>/dev/null || echo '{}')
  util=$(jq -r '[.status.currentMetrics[]? | .resource.current.averageUtilization // empty][0] // ""' <<<"$hpa")
  desired=$(jq -r '.status.desiredReplicas // ""' <<<"$hpa")
  reps=$(jq -r '.spec.replicas // 0' <<<"$dep")
  ready=$(jq -r '.status.readyReplicas // 0' <<<"$dep")
  mutil=$(metrics_util)
  echo "$el,$load,$ok,$errs,$util,$mutil,$reps,$ready,$desired" >>"$CSV"
  printf '%4ss  load %5s req/s (ok %4s, errors %3s)  cpu %4s%% (metrics %4s%%)  replicas %2s ready %2s desired %2s\n' \
    "$el" "$load" "$ok" "$errs" "${util:--}" "${mutil:--}" "$reps" "$ready" "${desired:--}"
  REPLICAS=$reps
}

REPLICAS=1
while kill -0 "$LOADGEN_PID" 2>/dev/null; do
  sample
  sleep "$SAMPLE_S"
done
wait "$LOADGEN_PID" 2>/dev/null || true
LOADGEN_PID=""
log "load finished ($(cat "$SCRATCH/loadgen.log")); watching the scale-down for up to ${TAIL_S}s"
end=$(( $(date +%s) + TAIL_S ))
while [ "$(date +%s)" -lt "$end" ]; do
  sample
  [ "$REPLICAS" -le 1 ] && break
  sleep "$SAMPLE_S"
done

# ---- the plot ---------------------------------------------------------------
PNG="$OUT/autoscale.png"
gnuplot -e "csv='$CSV'; png='$PNG'; ramp='$RAMP'" "$HERE/plot.gp"
MAXR=$(awk -F, 'NR > 1 && $7 > m { m = $7 } END { print m + 0 }' "$CSV")
log "done: $CSV ($(($(wc -l <"$CSV") - 1)) samples), $PNG; replicas went up to $MAXR and ended at $REPLICAS"
[ "$MAXR" -gt 1 ] || echo "run.sh: the Deployment never scaled: is the HPA controller in this berthd? (berthctl describe hpa cpuweb)" >&2

#!/usr/bin/env bash
# body_stall.sh: how long other requests wait for berthd's event loop while
# clients create objects, with the API body worker (the default) and with
# --api-body-worker off (every body parsed, validated and serialized on the
# loop). A prober requests /healthz back to back on its own connection
# during each load and the script prints its latencies (p50, p99, max):
#   big:   two clients create ConfigMaps with a 2.5 MiB value (close to the
#          3 MiB body limit) back to back;
#   small: wrk, 64 keep-alive connections creating 1 KiB ConfigMaps
#          (bench/create_configmaps.lua, as bench/run.sh does).
# Environment: BERTH_BIN (default build/bin), DURATION (s, default 10),
# BENCH_DIR (default /var/tmp/berth-body-stall).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BIN=${BERTH_BIN:-$ROOT/build/bin}
DURATION=${DURATION:-10}
DIR=${BENCH_DIR:-/var/tmp/berth-body-stall}
API=17270; RAFT=17271
BPID=
cleanup() { [ -n "$BPID" ] && kill "$BPID" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$DIR"; }
trap cleanup EXIT

start_berthd() {
  rm -rf "$DIR"; mkdir -p "$DIR"
  "$BIN/berthd" --name stall --data-dir "$DIR/data" --listen 127.0.0.1:$API --raft 127.0.0.1:$RAFT \
    --api-body-worker "$1" --log-level warn >"$DIR/out" 2>"$DIR/log" &
  BPID=$!
  for _ in $(seq 1 200); do grep -q ready "$DIR/out" 2>/dev/null && return; sleep 0.05; done
  echo "berthd did not start"; cat "$DIR/log"; exit 1
}
stop_berthd() { kill "$BPID"; wait "$BPID" 2>/dev/null || true; BPID=; }

# probe SECONDS [big]: /healthz back to back; with "big", two threads create
# 2.5 MiB ConfigMaps meanwhile. Prints one line.
probe() {
  python3 - "$API" "$1" "${2:-}" <<'EOF'
import http.client, json, sys, threading, time
port, duration, big = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3] == "big"
end = time.time() + duration
value = "v" * (5 << 19)  # 2.5 MiB
created = [0]
def creator(t):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    i = 0
    while time.time() < end:
        body = json.dumps({"apiVersion": "v1", "kind": "ConfigMap",
                           "metadata": {"name": "big-%d-%d" % (t, i)}, "data": {"v": value}})
        c.request("POST", "/api/v1/namespaces/default/configmaps", body,
                  {"Content-Type": "application/json"})
        r = c.getresponse(); r.read()
        if r.status == 201: created[0] += 1
        i += 1
lat = []
def prober():
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    while time.time() < end:
        t0 = time.perf_counter()
        c.request("GET", "/healthz"); c.getresponse().read()
        lat.append((time.perf_counter() - t0) * 1000)
ths = [threading.Thread(target=prober)]
if big: ths += [threading.Thread(target=creator, args=(t,)) for t in range(2)]
for th in ths: th.start()
for th in ths: th.join()
lat.sort()
extra = "; %.1f creates/s of 2.5 MiB" % (created[0] / duration) if big else ""
print("healthz p50 %.2f ms  p99 %.2f ms  max %.2f ms (%d probes)%s"
      % (lat[len(lat) // 2], lat[int(len(lat) * 0.99)], lat[-1], len(lat), extra))
EOF
}

echo "machine: $(nproc) cores, $(uname -r), $(date -u +%F)"
for worker in on off; do
  start_berthd $worker
  printf -- "--api-body-worker %-3s big:   " "$worker"
  probe "$DURATION" big
  stop_berthd

  start_berthd $worker
  BENCH_PREFIX=stall wrk -t2 -c64 -d$((DURATION + 2))s -s "$ROOT/bench/create_configmaps.lua" \
    http://127.0.0.1:$API >"$DIR/wrk.out" 2>/dev/null &
  WPID=$!
  sleep 1
  printf -- "--api-body-worker %-3s small: " "$worker"
  line=$(probe "$DURATION")
  wait $WPID || true
  echo "$line; $(awk '/Requests\/sec/{printf "%.0f creates/s", $2}' "$DIR/wrk.out") of 1 KiB (64 conns)"
  stop_berthd
done

#!/usr/bin/env bash
# body_stall.sh: how long other requests wait for berthd's event loop while
# clients create objects, with the API body worker (the default) and with
# --api-body-worker off (every body parsed, validated and serialized on the
# loop). A prober requests /healthz back to back on its own connection
# during each load and the script prints its latencies (p50, p99, max):
#   big:   two clients create ConfigMaps with a 2.5 MiB value (close to the
#          3 MiB body limit) back to back;
#   put:   two clients each PUT their own 2.5 MiB ConfigMap, changed each time;
#   patch: two clients each merge-patch one small key of their own 2.5 MiB
#          ConfigMap (the body is small, the stored object is not);
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

# probe SECONDS [big|put|patch]: /healthz back to back while two threads
# create, PUT or patch 2.5 MiB ConfigMaps (or nothing). Prints one line.
probe() {
  python3 - "$API" "$1" "${2:-}" <<'EOF'
import http.client, json, sys, threading, time
port, duration, mode = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
CM = "/api/v1/namespaces/default/configmaps"
value = "v" * (5 << 19)  # 2.5 MiB
done = [0]
def send(c, method, path, body, ct="application/json"):
    c.request(method, path, body, {"Content-Type": ct})
    r = c.getresponse(); r.read()
    return r.status
def cm(name, **data):
    return json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name},
                       "data": dict(v=value, **data)})
def writer(t):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    own = "big-%d" % t
    if mode != "big" and send(c, "POST", CM, cm(own)) != 201: sys.exit("cannot create " + own)
    i = 0
    while time.time() < end:
        if mode == "big": ok = send(c, "POST", CM, cm("big-%d-%d" % (t, i))) == 201
        elif mode == "put": ok = send(c, "PUT", CM + "/" + own, cm(own, i=str(i))) == 200
        else: ok = send(c, "PATCH", CM + "/" + own, json.dumps({"data": {"i": str(i)}}),
                        "application/merge-patch+json") == 200
        done[0] += ok
        i += 1
lat = []
def prober():
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    while time.time() < end:
        t0 = time.perf_counter()
        c.request("GET", "/healthz"); c.getresponse().read()
        lat.append((time.perf_counter() - t0) * 1000)
end = time.time() + duration
ths = [threading.Thread(target=prober)]
if mode: ths += [threading.Thread(target=writer, args=(t,)) for t in range(2)]
for th in ths: th.start()
for th in ths: th.join()
lat.sort()
verb = {"big": "creates", "put": "PUTs", "patch": "patches"}.get(mode)
extra = "; %.1f %s/s of 2.5 MiB objects" % (done[0] / duration, verb) if mode else ""
print("healthz p50 %.2f ms  p99 %.2f ms  max %.2f ms (%d probes)%s"
      % (lat[len(lat) // 2], lat[int(len(lat) * 0.99)], lat[-1], len(lat), extra))
EOF
}

echo "machine: $(nproc) cores, $(uname -r), $(date -u +%F)"
for worker in on off; do
  for mode in big put patch; do
    start_berthd $worker
    printf -- "--api-body-worker %-3s %-6s " "$worker" "$mode:"
    probe "$DURATION" $mode
    stop_berthd
  done

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

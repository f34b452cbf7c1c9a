#!/usr/bin/env bash
# snapshot_stall.sh: what a snapshot costs a client. One berthd taking a
# snapshot every THRESHOLD raft entries (--snapshot-threshold); one client
# creating 1 KiB ConfigMaps back to back for SECONDS (one create per raft
# entry); prints the slowest requests with their start times and berthd's
# own line for each snapshot (fork on the loop, copy, raft's write), so a
# slow request can be matched to the snapshot it waited for.
# Environment: BERTH_BIN (default build/bin), THRESHOLD (3000), SECONDS_RUN (6),
# BENCH_DIR (/var/tmp/berth-snapstall: a real disk).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BIN=${BERTH_BIN:-$ROOT/build/bin}
DIR=${BENCH_DIR:-/var/tmp/berth-snapstall}
API=17370
rm -rf "$DIR"; mkdir -p "$DIR"
"$BIN/berthd" --name stall --data-dir "$DIR/data" --listen 127.0.0.1:$API --raft 127.0.0.1:$((API + 1)) \
  --snapshot-threshold "${THRESHOLD:-3000}" --log-level info >"$DIR/out" 2>"$DIR/log" &
PID=$!
trap 'kill $PID 2>/dev/null || true; wait $PID 2>/dev/null || true; rm -rf "$DIR"' EXIT
for _ in $(seq 1 200); do grep -q ready "$DIR/out" 2>/dev/null && break; sleep 0.05; done
python3 - "$API" "${SECONDS_RUN:-6}" <<'PY'
import http.client, json, sys, time
port, secs = int(sys.argv[1]), float(sys.argv[2])
c = http.client.HTTPConnection("127.0.0.1", port)
val, lat, i = "x" * 1024, [], 0
end = time.time() + secs
while time.time() < end:
    body = json.dumps({"apiVersion": "v1", "kind": "ConfigMap",
                       "metadata": {"name": "s%d" % i}, "data": {"v": val}})
    t0 = time.time()
    c.request("POST", "/api/v1/namespaces/default/configmaps", body,
              {"Content-Type": "application/json"})
    c.getresponse().read()
    lat.append((t0, time.time() - t0)); i += 1
lat.sort(key=lambda x: -x[1])
print("%d requests, median %.2f ms; slowest (start time UTC, latency):" %
      (len(lat), sorted(l for _, l in lat)[len(lat) // 2] * 1000))
for t, l in lat[:8]:
    print("  %s.%03d  %.1f ms" % (time.strftime("%H:%M:%S", time.gmtime(t)), int(t % 1 * 1000), l * 1000))
PY
echo "snapshots (time logged when raft finished writing):"
grep "snapshot:" "$DIR/log" | sed 's/^2[0-9-]*T\([0-9:.]*\)Z.*store: /  \1 /'

#!/usr/bin/env bash
# pod_start.sh: pod start latency, apply -> Running, for N pods (default 100)
# of the busybox image on one agent (issue 3, benchmark 1). Needs root.
#
# One berthd and one berth-agent (release build) on loopback. A watch on the
# pods records, with millisecond clocks on this machine, when each pod is
# first seen (ADDED: it exists in the store) and when it is first seen
# Running (the agent's status write). One `berthctl apply -f` of a file with
# N Pod documents starts the batch. The container's real start is the mtime
# of its pid file, which the shim writes once the container runs. Printed:
#   apply->Running (API)     per pod, ADDED -> first Running status
#   apply->process started   per pod, ADDED -> pid file written
#   batch                    apply started -> last pod Running
# p50/p99/max of each. The agent writes status in batches every
# --status-interval-ms (default 1000 ms): the API-visible latency includes
# that wait, so the run is repeated with STATUS_MS values ("1000 100").
#
# Environment: N (100), STATUS_MS ("1000 100"), BERTH_BIN (default
# build/bin from `make build`), BENCH_DIR.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
N=${N:-100}
STATUS_MS=${STATUS_MS:-"1000 100"}
DIR=${BENCH_DIR:-/var/tmp/berth-bench-podstart}
NAME=pod_start.sh
source "$ROOT/bench/node_lib.sh"

wait_line() { # FILE PATTERN
  for _ in $(seq 1 400); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.05; done
  echo "timed out waiting for '$2' in $1" >&2; cat "$1" "${1%.out}.log" >&2; exit 1
}

echo "machine: $(nproc) cores, $(awk '/MemTotal/{print int($2/1024)" MiB"}' /proc/meminfo), $(uname -r), $(date -u +%F)"
sh "$ROOT/scripts/make-busybox-image.sh" "$DIR/images"
"$BIN/berthd" --name bench --data-dir "$DIR/server" --listen "127.0.0.1:$API" --raft "127.0.0.1:$RAFT" \
  --log-level warn >"$DIR/berthd.out" 2>"$DIR/berthd.log" &
PIDS+=($!)
wait_line "$DIR/berthd.out" "berthd ready"

python3 - "$DIR/pods.yaml" "$N" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    for i in range(int(sys.argv[2])):
        f.write(f"""---
apiVersion: v1
kind: Pod
metadata:
  name: p{i:04d}
  labels: {{bench: start}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
    - name: c
      image: busybox
      command: ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1; done"]
""")
PY

for sms in $STATUS_MS; do
  "$BIN/berth-agent" --server "$SERVER" --name bench-node --data-dir "$DIR/agent" --listen "127.0.0.1:$AGP" \
    --cpu 4000 --memory 8Gi --image-dir "$DIR/images" --status-interval-ms "$sms" --log-level warn \
    >"$DIR/agent.out" 2>"$DIR/agent.log" &
  APID=$!; PIDS+=($APID)
  wait_line "$DIR/agent.out" "berth-agent ready"

  python3 - "$SERVER" "$BIN/berthctl" "$DIR/pods.yaml" "$N" "$DIR/agent/containers" "$sms" <<'PY'
import json, os, subprocess, sys, threading, time, http.client, urllib.parse
server, ctl, manifest, n, cdir, sms = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5], sys.argv[6]
u = urllib.parse.urlparse(server)
added, running = {}, {}
done = threading.Event()
ready = threading.Event()

def watch():
    c = http.client.HTTPConnection(u.hostname, u.port)
    c.request("GET", "/api/v1/namespaces/default/pods?watch=1&labelSelector=bench%3Dstart")
    r = c.getresponse()
    ready.set()
    buf = b""
    while not done.is_set():
        chunk = r.read1(65536)
        if not chunk:
            break
        now = time.time()
        buf += chunk
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            if not line.strip():
                continue
            ev = json.loads(line)
            o = ev["object"]; name = o["metadata"]["name"]
            added.setdefault(name, now)
            if o.get("status", {}).get("phase") == "Running" and name not in running:
                running[name] = now
                if len(running) == n:
                    done.set()

th = threading.Thread(target=watch, daemon=True); th.start()
ready.wait(5); time.sleep(0.2)  # the watch is established
t0 = time.time()
subprocess.run([ctl, "--server", server, "apply", "-f", manifest], check=True, stdout=subprocess.DEVNULL)
t_applied = time.time()
if not done.wait(120):
    sys.exit(f"only {len(running)}/{n} pods Running after 120 s")
t_last = max(running.values())
# The containers' real start: the shim writes DIR/<id>/pid once it runs.
started = {}
for cid in os.listdir(cdir):
    try:
        with open(os.path.join(cdir, cid, "spec.json")) as f:
            name = json.load(f)["pod_name"]
        started[name] = os.stat(os.path.join(cdir, cid, "pid")).st_mtime
    except (OSError, KeyError, ValueError):
        pass

def pct(v, p):
    v = sorted(v); return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]
def line(label, v):
    v = [x * 1000 for x in v]
    print(f"  {label:34s} p50 {pct(v,50):7.1f} ms  p99 {pct(v,99):7.1f} ms  max {max(v):7.1f} ms  (n={len(v)})")
print(f"{n} pods, one agent, --status-interval-ms {sms}:")
line("apply->Running (API, per pod)", [running[k] - added[k] for k in running])
line("apply->process started (per pod)", [started[k] - added[k] for k in started if k in added])
print(f"  batch: apply took {1000*(t_applied-t0):.0f} ms; first ADDED -> last Running {1000*(t_last-min(added.values())):.0f} ms;"
      f" apply start -> last Running {1000*(t_last-t0):.0f} ms ({n/(t_last-t0):.0f} pods/s)")
PY

  # Tear the batch down before the next run: delete, wait for the agent to stop all.
  ctl get pods -o name 2>/dev/null | sed 's|^pod/||' | xargs -r -n 50 "$BIN/berthctl" --server "$SERVER" delete pod >/dev/null
  for _ in $(seq 1 600); do
    [ -z "$(ls "$DIR/agent/containers")" ] && [ "$(ctl get pods -o name 2>/dev/null | wc -l)" = 0 ] && break; sleep 0.1
  done
  [ -z "$(ls "$DIR/agent/containers")" ] || { echo "pods did not stop" >&2; exit 1; }
  kill "$APID"; wait "$APID" 2>/dev/null || true
done

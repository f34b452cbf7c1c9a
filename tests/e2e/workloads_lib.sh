# workloads_lib.sh: helpers of the end-to-end tests of the workload
# controllers (issue 4). Sourced after nothing else: it sources agent_lib.sh
# (and so lib.sh) itself.
#
# agent_cleanup deletes Deployments, ReplicaSets and pods before it kills the
# agents; the other workload kinds would recreate their pods behind its back,
# so wl_cleanup, run before it, deletes CronJobs, Jobs, DaemonSets and
# StatefulSets first (owners first). Background watches a test starts are
# put in PIDS, so lib.sh kills them on exit.
source "$(dirname "${BASH_SOURCE[0]}")/agent_lib.sh"

wl_cleanup() {
  set +e
  [ -n "${SERVER:-}" ] && curl -fsS -m 2 "$SERVER/readyz" >/dev/null 2>&1 || return 0
  track_pod_uids
  local kind ns n
  for kind in cronjobs jobs daemonsets statefulsets; do
    ctl get "$kind" -A -o json 2>/dev/null | jq -r '.items[] | "\(.metadata.namespace) \(.metadata.name)"' |
      while read -r ns n; do ctl -n "$ns" delete "$kind" "$n" >/dev/null 2>&1; done
  done
  return 0
}
E2E_CLEANUP_HOOKS=(wl_cleanup "${E2E_CLEANUP_HOOKS[@]}")

# The container command of the tests' long-running pods: prints its image's
# /VERSION (if any) and $VER, then idles until SIGTERM.
WL_LOOP='trap "exit 0" TERM; echo "image=$(cat /VERSION 2>/dev/null || echo v1) ver=$VER"; while :; do sleep 1; done'

# wl_container NAME IMAGE CMD [ENV-JSON]: one container as JSON (50m cpu).
wl_container() {
  jq -nc --arg n "$1" --arg i "$2" --arg c "$3" --argjson e "${4:-[]}" \
    '{name:$n,image:$i,command:["sh","-c",$c],env:$e,
      resources:{requests:{cpu:"50m",memory:"16Mi"},limits:{cpu:"200m",memory:"64Mi"}}}'
}

# wl_apply FILE: berthctl apply -f FILE, failing the test on error.
wl_apply() { ctl apply -f "$1" >"$T/apply.out" 2>&1 || fail "apply $1: $(cat "$T/apply.out")"; }

# pods_json [SELECTOR]: the pods (of SELECTOR) as a JSON list.
pods_json() { if [ -n "${1:-}" ]; then ctl get pods -l "$1" -o json; else ctl get pods -o json; fi; }

# ready_count SELECTOR: pods of SELECTOR whose Ready condition is True.
ready_count() {
  pods_json "$1" | jq '[.items[] | select(any(.status.conditions[]?; .type == "Ready" and .status == "True"))] | length'
}

# uid_of KIND NAME
uid_of() { ctl get "$1" "$2" -o json | jq -r .metadata.uid; }

# pods_owned_by UID: names of the pods whose controller ownerReference is UID.
pods_owned_by() {
  ctl get pods -o json | jq -r --arg u "$1" '.items[] | select(any(.metadata.ownerReferences[]?; .uid == $u)) | .metadata.name'
}

# rs_of_deploy NAME: names of the ReplicaSets owned by the Deployment NAME.
rs_of_deploy() {
  local u; u=$(uid_of deploy "$1")
  ctl get rs -o json | jq -r --arg u "$u" '.items[] | select(any(.metadata.ownerReferences[]?; .uid == $u)) | .metadata.name'
}

# deploy_done NAME REPLICAS: the Deployment's status says the rollout of its
# current generation is complete with REPLICAS available.
deploy_done() {
  ctl get deploy "$1" -o json | jq -e --argjson n "$2" '
    .status.observedGeneration >= .metadata.generation and .status.replicas == $n and
    .status.updatedReplicas == $n and .status.readyReplicas == $n and .status.availableReplicas == $n'
}

# pids_of_pods SELECTOR: the host pids of the containers of the pods of SELECTOR.
pids_of_pods() {
  local p
  for p in $(pods_json "$1" | jq -r '.items[].metadata.name'); do pod_pid "$p" || true; done
}

# events_have REASON [OBJECT-SUBSTRING]: `berthctl get events` lists an event
# of that reason (about that object).
events_have() { ctl get events | grep -F -- "${2:-}" | grep -qw -- "$1"; }

# logs_say POD LINE: the pod's log has the line LINE.
logs_say() { ctl logs "$1" | grep -qxF -- "$2"; }

# gone KIND NAME: the object does not exist.
gone() { ! ctl get "$1" "$2" -o json >/dev/null 2>&1; }

# proc_gone PID: no process PID.
proc_gone() { ! kill -0 "$1" 2>/dev/null; }

# start_pod_watch SELECTOR NAME: records the pods of SELECTOR now
# ($T/NAME.list) and every change to them from then on ($T/NAME.watch, a
# watch from the list's resourceVersion), so a test can replay exactly what
# the API held at each step. Sets WATCH_PID; stop with stop_pod_watch.
start_pod_watch() {
  local sel rv
  sel=$(jq -rn --arg s "$1" '$s|@uri')
  curl -fsS "$SERVER/api/v1/namespaces/default/pods?labelSelector=$sel" >"$T/$2.list" || fail "list pods $1"
  rv=$(jq -r .metadata.resourceVersion "$T/$2.list")
  curl -sSN "$SERVER/api/v1/namespaces/default/pods?watch=true&labelSelector=$sel&resourceVersion=$rv" \
    >"$T/$2.watch" 2>"$T/$2.watch.err" &
  WATCH_PID=$!
  PIDS+=("$WATCH_PID")
}
stop_pod_watch() { kill "$WATCH_PID" 2>/dev/null || true; wait "$WATCH_PID" 2>/dev/null || true; }

# watch_ready_counts NAME: replays $T/NAME.list and $T/NAME.watch and prints
# the number of Ready pods after each change, one line each.
watch_ready_counts() {
  python3 - "$T/$1.list" "$T/$1.watch" <<'PY'
import json, sys
def ready(p):
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (p.get("status") or {}).get("conditions") or [])
pods = {p["metadata"]["name"]: ready(p) for p in json.load(open(sys.argv[1]))["items"]}
print(sum(pods.values()))
dec = json.JSONDecoder()
text = open(sys.argv[2]).read()
i = 0
while True:
    while i < len(text) and text[i].isspace(): i += 1
    if i >= len(text): break
    try: ev, i = dec.raw_decode(text, i)
    except ValueError: break          # a partial last line
    o = ev.get("object") or {}
    n = (o.get("metadata") or {}).get("name")
    if ev.get("type") == "DELETED": pods.pop(n, None)
    elif ev.get("type") in ("ADDED", "MODIFIED"): pods[n] = ready(o)
    else: continue
    print(sum(pods.values()))
PY
}

# agent_lib.sh: helpers of the end-to-end tests that run real containers
# (berth-agent + the Linux runtime + the scheduler). Sourced after nothing
# else: it sources lib.sh itself.
#
# Containers outlive their agent by design (a detached shim per container,
# re-adopted on restart), so killing the agents is not enough to leave nothing
# behind. agent_cleanup, run first by lib.sh's EXIT trap, deletes the pods
# through the API while the servers still run, kills the agents (so none
# restarts a container behind our back), kills every process still in a
# cgroup of a pod this test created and every shim whose command line names
# this test's scratch dir, unmounts whatever is still mounted under it
# (deepest first) and removes the pods' empty cgroups.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [ "$(id -u)" -ne 0 ]; then
  echo "SKIP: $(basename "$0") runs isolated containers and needs root (CI runs as root)"
  exit 0
fi

IMG="$T/images"
AGENT_PIDS=()       # agent pids, killed by agent_cleanup before the shims
declare -A AGENT_PID AGENT_DIR AGENT_PORT   # by node name

# make_image: builds the busybox image once per test into $IMG.
make_image() {
  [ -x "$IMG/busybox/bin/busybox" ] || sh "$SRC/scripts/make-busybox-image.sh" "$IMG" >/dev/null \
    || fail "make-busybox-image.sh failed"
}

# start_agent NAME [extra flags]: starts a berth-agent for node NAME against
# $SERVER with 4000m and 8Gi, data in $T/agent-NAME (kept across restarts),
# and waits for its ready line and its Node to be Ready. Sets AGENT_PID[NAME].
start_agent() {
  local name=$1; shift
  local dir="$T/agent-$name" port=${AGENT_PORT[$name]:-$(free_port)}
  AGENT_DIR[$name]=$dir; AGENT_PORT[$name]=$port
  mkdir -p "$dir"
  : >"$T/agent-$name.out"
  "$BIN/berth-agent" --server "$SERVER" --name "$name" --data-dir "$dir" \
    --listen "127.0.0.1:$port" --cpu 4000 --memory 8Gi --image-dir "$IMG" \
    --status-interval-ms 200 "$@" >"$T/agent-$name.out" 2>>"$T/agent-$name.log" &
  AGENT_PID[$name]=$!
  AGENT_PIDS+=($!); PIDS+=($!)
  wait_for 30 "berth-agent $name ready" grep -q "berth-agent ready" "$T/agent-$name.out"
  grep -q "runtime=isolated" "$T/agent-$name.out" \
    || fail "agent $name is not isolated: $(cat "$T/agent-$name.out") $(tail -5 "$T/agent-$name.log")"
  wait_for 20 "node $name Ready" node_ready "$name"
}

# kill_agent NAME: kill -9, and reap it.
kill_agent() {
  local p=${AGENT_PID[$1]}
  kill -9 "$p" 2>/dev/null || true
  wait "$p" 2>/dev/null || true
}

node_ready() {
  ctl get node "$1" -o json | jq -e '.status.conditions[] | select(.type=="Ready") | .status=="True"'
}

# pod_json NAME: the pod as JSON (into stdout).
pod_json() { ctl get pod "$1" -o json; }
pod_field() { ctl get pod "$1" -o json | jq -r "$2"; }
pod_phase_is() { [ "$(pod_field "$1" .status.phase)" = "$2" ]; }
pod_running() { pod_field "$1" '.status.containerStatuses[0].state.running.startedAt // empty' | grep -q .; }
pod_gone() { ! ctl get pod "$1" -o json >/dev/null 2>&1; }

# pod_cgroup UID [CONTROLLER]: the pod's cgroup dir in the v1 hierarchy (cpu).
pod_cgroup() {
  local uid=$1 ctrl=${2:-cpu}
  find "/sys/fs/cgroup/$ctrl" -maxdepth 6 -type d -path "*/berth/pod-$uid" -print -quit 2>/dev/null
}

# pod_pid NAME: the host pid of the pod's (single) container's init, i.e. the
# process of its cgroup whose pid in its own namespace is 1. Fails if none.
pod_pid() {
  local uid cg p
  uid=$(pod_field "$1" .metadata.uid)
  cg=$(pod_cgroup "$uid")
  [ -n "$cg" ] || return 1
  for p in $(cat "$cg"/*/cgroup.procs 2>/dev/null); do
    if awk '/^NSpid:/ { exit !($NF == 1) }' "/proc/$p/status" 2>/dev/null; then echo "$p"; return 0; fi
  done
  return 1
}

# pod_inits NAME: how many container inits (pid 1 of their PID namespace)
# the pod's cgroup holds: 1 for a running one-container pod, 2 for a duplicate.
pod_inits() {
  local uid cg p n=0
  uid=$(pod_field "$1" .metadata.uid)
  cg=$(pod_cgroup "$uid")
  for p in $( [ -n "$cg" ] && cat "$cg"/*/cgroup.procs 2>/dev/null); do
    awk '/^NSpid:/ { exit !($NF == 1) }' "/proc/$p/status" 2>/dev/null && n=$((n + 1))
  done
  echo "$n"
}

# run_pod NAME IMAGE CMD [extra container JSON] [extra spec JSON]: creates a
# one-container pod named NAME (container "c") running sh -c CMD.
run_pod() {
  local name=$1 image=$2 cmd=$3 cx=${4:-'{}'} sx=${5:-'{}'}
  jq -n --arg n "$name" --arg i "$image" --arg c "$cmd" --argjson cx "$cx" --argjson sx "$sx" \
    '{apiVersion:"v1",kind:"Pod",metadata:{name:$n},
      spec:({containers:[({name:"c",image:$i,command:["sh","-c",$c]} + $cx)]} + $sx)}' \
    >"$T/pod-$name.json"
  ctl apply -f "$T/pod-$name.json" >/dev/null || fail "apply pod $name"
}

# --- cleanup -------------------------------------------------------------

_ac_deadline_ok() { [ "$(date +%s)" -lt "$1" ]; }

agent_cleanup() {
  set +e
  local uids="" u d p
  # 1. Delete the pods through the API while berthd and the agents still run,
  # and give the agents a little time to stop them the normal way.
  if [ -n "${SERVER:-}" ] && curl -fsS -m 2 "$SERVER/readyz" >/dev/null 2>&1; then
    track_pod_uids
    # Owners first, so no controller replaces a deleted pod.
    local kind ns n
    for kind in deployments replicasets pods; do
      ctl get "$kind" -A -o json 2>/dev/null | jq -r '.items[] | "\(.metadata.namespace) \(.metadata.name)"' |
        while read -r ns n; do ctl -n "$ns" delete "$kind" "$n" >/dev/null 2>&1; done
    done
    local end=$(( $(date +%s) + 10 ))
    while _ac_deadline_ok "$end" && [ -n "$(find "$T" -path '*/containers/*/shim.pid' 2>/dev/null | head -1)" ]; do
      sleep 0.1
    done
  fi
  # 2. Kill the agents, so none restarts a container while we clean up.
  for p in "${AGENT_PIDS[@]:-}"; do [ -n "$p" ] && kill -9 "$p" 2>/dev/null; done
  for p in "${AGENT_PIDS[@]:-}"; do [ -n "$p" ] && wait "$p" 2>/dev/null; done
  # 3. Every pod uid this test may have created: the API's, ours, and those
  # of container state still on disk (pods deleted from the API while their
  # node was silent).
  uids="$uids $(cat "$T/pod-uids" 2>/dev/null)"
  for f in $(find "$T" -path '*/containers/*/spec.json' 2>/dev/null); do
    uids="$uids $(jq -r '.pod_uid // empty' "$f" 2>/dev/null)"
  done
  uids=$(echo "$uids" | tr ' ' '\n' | grep -v '^$' | sort -u)
  # 4. Kill what is left: processes in the pods' cgroups, then shims.
  for u in $uids; do
    for d in $(find /sys/fs/cgroup -maxdepth 7 -type d -path "*/berth/pod-$u" 2>/dev/null); do
      for p in $(find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
    done
  done
  for p in $(pgrep -f "berth-agent shim $T/" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
  local end=$(( $(date +%s) + 5 ))
  while _ac_deadline_ok "$end" && pgrep -f "berth-agent shim $T/" >/dev/null; do sleep 0.05; done
  # 5. Unmount anything under the scratch dir, deepest first.
  awk -v t="$T/" 'index($2, t) == 1 { print $2 }' /proc/mounts | awk '{ print length, $0 }' |
    sort -rn | cut -d' ' -f2- | while read -r m; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null; done
  # 6. Remove the pods' cgroups (children first; they must be empty by now).
  for u in $uids; do
    for d in $(find /sys/fs/cgroup -maxdepth 7 -type d -path "*/berth/pod-$u" 2>/dev/null); do
      end=$(( $(date +%s) + 3 ))
      while _ac_deadline_ok "$end" && [ -d "$d" ]; do
        find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null
        [ -d "$d" ] && sleep 0.05
      done
      [ -d "$d" ] && echo "agent_cleanup: could not remove cgroup $d" >&2
    done
  done
  return 0
}
E2E_CLEANUP_HOOKS+=(agent_cleanup)

# track_pod_uids: records the uids of the pods that exist now (evicted pods
# vanish from the API while their containers may still run somewhere).
track_pod_uids() {
  ctl get pods -A -o json 2>/dev/null | jq -r '.items[].metadata.uid' >>"$T/pod-uids" || true
}

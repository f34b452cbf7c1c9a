#!/usr/bin/env bash
# test_agent_restart.sh: the agent restarts without running a pod twice.
# kill -9 the agent: its container keeps running (same pid) and keeps
# writing logs. Restart the agent on the same data dir: it re-adopts the
# container (same containerID, same pid, restartCount unchanged), the pod
# stays Running and Ready, and there is exactly one container process and one
# shim. A pod deleted while the agent was down is stopped once it is back; a
# pod created while it was down is started.
source "$(dirname "$0")/agent_lib.sh"

API=$(free_port); RAFT=$(free_port)
SERVER="http://127.0.0.1:$API"
start_berthd s1 "$T/data" "$API" "$RAFT"
make_image
start_agent n1

LOOP='trap "exit 0" TERM; i=0; while :; do i=$((i+1)); echo "tick $i"; sleep 0.2; done'
run_pod keep busybox "$LOOP" '{}' '{"terminationGracePeriodSeconds":2}'
run_pod doomed busybox "$LOOP" '{}' '{"terminationGracePeriodSeconds":2}'
wait_for 30 "keep Running" pod_running keep
wait_for 30 "doomed Running" pod_running doomed
track_pod_uids
CID=$(pod_field keep '.status.containerStatuses[0].containerID')
STARTED=$(pod_field keep '.status.containerStatuses[0].state.running.startedAt')
PID=$(pod_pid keep) || fail "no process for keep"
DPID=$(pod_pid doomed) || fail "no process for doomed"
[ "$(pod_inits keep)" = 1 ] || fail "keep has $(pod_inits keep) container processes before the restart"
pass "keep Running as $CID (pid $PID)"

kill_agent n1
# The container outlives the agent, and keeps writing.
KLOG="$T/agent-n1/logs/$(pod_field keep .metadata.uid)/c.log"
n0=$(wc -l <"$KLOG")
wait_for 10 "keep keeps writing while the agent is down" sh -c "[ \$(wc -l <'$KLOG') -gt $((n0 + 3)) ]"
kill -0 "$PID" || fail "keep's process died with the agent"
pass "agent killed -9: the container (pid $PID) keeps running"

# While the agent is down: delete one pod (it stays Terminating: no agent
# to stop it, so no waiting for it to go), create another.
ctl delete pod doomed --wait=false >/dev/null || fail "delete doomed"
[ -n "$(pod_field doomed .metadata.deletionTimestamp)" ] || fail "doomed not marked for deletion"
run_pod newborn busybox "$LOOP" '{}' '{"terminationGracePeriodSeconds":2}'
kill -0 "$DPID" || fail "doomed stopped with no agent to stop it"

start_agent n1
wait_for 20 "newborn Running" pod_running newborn
wait_for 20 "doomed's process stopped" sh -c "! kill -0 $DPID 2>/dev/null"
wait_for 20 "doomed gone" pod_gone doomed
pass "after the restart: a pod deleted meanwhile is stopped, one created meanwhile runs"

[ "$(pod_field keep '.status.containerStatuses[0].containerID')" = "$CID" ] \
  || fail "containerID changed: $(pod_field keep '.status.containerStatuses[0].containerID'), was $CID"
[ "$(pod_field keep '.status.containerStatuses[0].restartCount')" = 0 ] || fail "restartCount grew"
[ "$(pod_field keep '.status.containerStatuses[0].state.running.startedAt')" = "$STARTED" ] || fail "startedAt changed"
pod_phase_is keep Running || fail "keep is $(pod_field keep .status.phase)"
[ "$(pod_field keep '.status.containerStatuses[0].ready')" = true ] || fail "keep not ready"
[ "$(pod_pid keep)" = "$PID" ] || fail "keep runs as pid $(pod_pid keep), was $PID"
kill -0 "$PID" || fail "pid $PID gone"
pass "keep re-adopted: same containerID, pid, startedAt; restartCount 0"

# No duplicate, now or a little later: one process in the pod's cgroup, one
# shim for it, one container state dir.
uid=$(pod_field keep .metadata.uid)
deadline=$(( $(date +%s) + 3 ))
while [ "$(date +%s)" -lt "$deadline" ]; do
  [ "$(pod_inits keep)" = 1 ] || fail "keep has $(pod_inits keep) container processes"
  [ "$(pgrep -fc "berth-agent shim $T/agent-n1/containers/$uid")" = 1 ] || fail "$(pgrep -fc "shim .*$uid") shims for keep"
  [ "$(ls -d "$T/agent-n1/containers/$uid"* | wc -l)" = 1 ] || fail "more than one container dir for keep"
  sleep 0.25
done
[ "$(pod_field keep '.status.containerStatuses[0].restartCount')" = 0 ] || fail "restartCount grew later"
pass "exactly one process and one shim for keep"

# A second restart (SIGTERM this time: the graceful path) changes nothing.
kill "${AGENT_PID[n1]}"; wait "${AGENT_PID[n1]}" 2>/dev/null || true
kill -0 "$PID" || fail "keep died with a SIGTERMed agent"
start_agent n1
wait_for 10 "keep re-adopted again" sh -c "[ \"\$(\"$BIN/berthctl\" --server $SERVER get pod keep -o json | jq -r '.status.containerStatuses[0].containerID')\" = '$CID' ]"
[ "$(pod_pid keep)" = "$PID" ] && [ "$(pod_inits keep)" = 1 ] || fail "after SIGTERM restart: pid $(pod_pid keep), $(pod_inits keep) procs"
pass "SIGTERM + restart: still the same single process"

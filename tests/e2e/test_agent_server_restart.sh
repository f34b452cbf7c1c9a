#!/usr/bin/env bash
# test_agent_server_restart.sh: the agent when its server goes away. berthd is
# killed -9: the pod keeps running untouched. berthd restarts on the same
# data dir: the agent reconnects by itself, its node is Ready, and it
# reconciles instead of restarting the healthy pod (same pid, containerID and
# restartCount 0). A pod applied after the restart runs.
source "$(dirname "$0")/agent_lib.sh"

API=$(free_port); RAFT=$(free_port)
SERVER="http://127.0.0.1:$API"
start_berthd s1 "$T/data" "$API" "$RAFT"
make_image
start_agent n1 --heartbeat-s 1

run_pod steady busybox 'trap "exit 0" TERM; while :; do sleep 0.2; done' '{}' '{"terminationGracePeriodSeconds":1}'
wait_for 30 "steady Running" pod_running steady
track_pod_uids
PID=$(pod_pid steady) || fail "no process"
CID=$(pod_field steady '.status.containerStatuses[0].containerID')
pass "steady Running (pid $PID)"

kill -9 "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true
# Long enough for several heartbeats, status ticks and syncs to fail.
deadline=$(( $(date +%s) + 3 ))
while [ "$(date +%s)" -lt "$deadline" ]; do
  kill -0 "$PID" || fail "the container died with the server"
  kill -0 "${AGENT_PID[n1]}" || fail "the agent died with the server"
  sleep 0.2
done
pass "server down 3 s: agent and container keep running"

start_berthd s1 "$T/data" "$API" "$RAFT"
wait_for 20 "node n1 Ready again" node_ready n1
renewed() {  # the Lease is renewed again after the restart
  local a b
  a=$(ctl -n kube-node-lease get lease n1 -o json | jq -r .spec.renewTime)
  sleep 1.2
  b=$(ctl -n kube-node-lease get lease n1 -o json | jq -r .spec.renewTime)
  [ "$a" != "$b" ]
}
wait_for 20 "lease renewed" renewed
pod_running steady || fail "steady not Running: $(pod_json steady | jq -c .status)"
[ "$(pod_field steady '.status.containerStatuses[0].containerID')" = "$CID" ] || fail "containerID changed"
[ "$(pod_field steady '.status.containerStatuses[0].restartCount')" = 0 ] || fail "restartCount grew"
[ "$(pod_pid steady)" = "$PID" ] && [ "$(pod_inits steady)" = 1 ] || fail "steady restarted or duplicated"
pass "server back: node Ready, lease renewed, steady untouched (same pid and containerID)"

run_pod after busybox 'echo after-restart; sleep 1000' '{}' '{"terminationGracePeriodSeconds":1}'
wait_for 30 "after Running" pod_running after
wait_for 10 "after's logs through the restarted server" sh -c "\"$BIN/berthctl\" --server $SERVER logs after | grep -qx after-restart"
pass "a new pod runs after the server restart and its logs are served"

#!/usr/bin/env bash
# test_workloads_restart.sh: a rollout survives a berthd crash (issue 4,
# "Must show": a restart of berthd in the middle of a rollout, the HA issue
# covering leader failover). Two agents; a Deployment of 4 (maxSurge 1,
# maxUnavailable 0, minReadySeconds 2, so the rollout takes a while) rolls
# out a new template; berthd is killed -9 in the middle (some pods updated,
# not all) and restarted on the same data dir. The controllers rebuild
# their caches and finish: `rollout status` exits 0; each ReplicaSet owns
# exactly its spec.replicas pods (new 4, old 0), no duplicate pod or
# container process on the nodes, and it stays so.
source "$(dirname "$0")/workloads_lib.sh"

API=$(free_port); RAFT=$(free_port)
SERVER="http://127.0.0.1:$API"
start_berthd s1 "$T/data" "$API" "$RAFT"
make_image
start_agent n1 --heartbeat-s 1
start_agent n2 --heartbeat-s 1
pass "berthd and agents n1, n2 ready"

app_manifest() { # app_manifest VER
  jq -n --argjson c "$(wl_container main busybox "$WL_LOOP" "[{\"name\":\"VER\",\"value\":\"$1\"}]")" '
    {apiVersion:"apps/v1",kind:"Deployment",metadata:{name:"app"},
     spec:{replicas:4,minReadySeconds:2,selector:{matchLabels:{app:"app"}},
           strategy:{rollingUpdate:{maxSurge:1,maxUnavailable:0}},
           template:{metadata:{labels:{app:"app"}},
                     spec:{terminationGracePeriodSeconds:1,containers:[$c]}}}}'
}
app_manifest one >"$T/app.json"
wl_apply "$T/app.json"
wait_for 90 "app: 4 pods available" deploy_done app 4
pass "deployment app: 4 pods available"
track_pod_uids

app_manifest two >"$T/app.json"
wl_apply "$T/app.json"
mid_rollout() {
  ctl get deploy app -o json | jq -e '.status.observedGeneration == .metadata.generation and
    .status.updatedReplicas >= 1 and .status.updatedReplicas < 4'
}
wait_for 60 "the rollout under way" mid_rollout
track_pod_uids
at=$(ctl get deploy app -o json | jq -c '{updated: .status.updatedReplicas, available: .status.availableReplicas}')
kill -9 "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true
pass "berthd killed -9 mid-rollout ($at)"

start_berthd s1 "$T/data" "$API" "$RAFT"
ctl rollout status deploy/app --timeout 150s >"$T/rollout.out" 2>&1 || fail "rollout status after the restart: $(cat "$T/rollout.out")"
grep -qx 'deployment "app" successfully rolled out' "$T/rollout.out" || fail "rollout status said: $(cat "$T/rollout.out")"
pass "berthd restarted on the same data dir: rollout status exits 0"
track_pod_uids

# rs_counts: "RS replicas pods" for every ReplicaSet of app, sorted.
rs_counts() {
  local rs u
  for rs in $(rs_of_deploy app); do
    u=$(uid_of rs "$rs")
    echo "$rs $(ctl get rs "$rs" -o json | jq .spec.replicas) $(pods_owned_by "$u" | wc -l)"
  done | sort
}
NEW=$(ctl get rs -o json | jq -r '.items[] | select(.metadata.annotations["deployment.kubernetes.io/revision"] == "2") | .metadata.name')
[ -n "$NEW" ] || fail "no ReplicaSet of revision 2"
settled() {  # each RS owns exactly its replicas; 4 pods in all; 4 shims on the nodes
  rs_counts | awk -v new="$NEW" '$2 != $3 || ($1 == new) != ($2 == 4) || ($1 != new && $2 != 0) { bad = 1 } END { exit bad }' &&
    [ "$(pods_json app=app | jq '.items | length')" = 4 ] &&
    [ "$(pgrep -fc "berth-agent shim $T/")" = 4 ]
}
wait_for 60 "4 pods, all of $NEW, and 4 containers" settled
deadline=$(( $(date +%s) + 3 ))
while [ "$(date +%s)" -lt "$deadline" ]; do  # and it stays so
  settled || fail "after the rollout: RS replicas/pods $(rs_counts | tr '\n' ';'), $(pgrep -fc "berth-agent shim $T/") shims"
  sleep 0.3
done
for p in $(pods_json app=app | jq -r '.items[].metadata.name'); do
  [ "$(pod_inits "$p")" = 1 ] || fail "$p has $(pod_inits "$p") container processes"
  pod_json "$p" | jq -e '.spec.containers[0].env[0].value == "two" and .status.containerStatuses[0].ready' >/dev/null \
    || fail "$p is not an updated, ready pod"
done
[ "$(rs_of_deploy app | wc -l)" = 2 ] || fail "app has $(rs_of_deploy app | wc -l) ReplicaSets, want 2"
pass "no duplicates: $(rs_counts | tr '\n' ';' | sed 's/;$//') (RS replicas pods); one process per pod"

#!/usr/bin/env bash
# test_ha_rollout.sh: a leader failover in the middle of a Deployment rollout
# (issue 4, with the HA cluster of issue 5). Three servers and two agents in
# network namespaces; a Deployment of 4 pods rolls out a template change
# (maxSurge 1, maxUnavailable 0, minReadySeconds 1); while it is half way the
# raft leader, which runs the controllers and the scheduler, is killed with
# SIGKILL. The new leader's controllers carry on: `berthctl rollout status`
# exits 0, the new ReplicaSet owns exactly 4 pods, the old one none, no pod is
# duplicated, and every pod runs the new template.
source "$(dirname "$0")/agent_lib.sh"
NN_NET=74
source "$(dirname "$0")/ha_lib.sh"

nn_setup 5
make_image
ha_servers 3
ha_agents 4 5
pass "3 servers, 2 agents"

deploy() { # deploy VERSION
  cat <<YAML
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 4
  minReadySeconds: 1
  strategy:
    type: RollingUpdate
    rollingUpdate: {maxSurge: 1, maxUnavailable: 0}
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: c
        image: busybox
        env: [{name: VERSION, value: "$1"}]
        command: ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.2; done"]
        resources: {requests: {cpu: 50m}}
YAML
}
live_pods() { ctl get pods -l app=web -o json | jq '[.items[] | select(.metadata.deletionTimestamp==null)]'; }
running() { [ "$(live_pods | jq '[.[] | select(.status.phase=="Running")] | length')" = "$1" ]; }

deploy v1 >"$T/v1.yaml"
SERVER=$(nn_url 2)
ctl apply -f "$T/v1.yaml" >/dev/null
wait_for 90 "4 pods Running" running 4
"$BIN/berthctl" --server "$SERVER" rollout status deployment/web --timeout=60s >/dev/null \
  || fail "first rollout did not complete"
track_pod_uids
pass "Deployment web v1: 4 pods Running"

deploy v2 >"$T/v2.yaml"
ha_wait_leader 10
L=$HA_LEADER
F=$(( L % 3 + 1 ))
SERVER=$(nn_url "$F")
ctl apply -f "$T/v2.yaml" >/dev/null
# Half way: the new ReplicaSet has some, but not all, ready pods.
half_way() {
  local n
  n=$(ctl get rs -l app=web -o json | jq '[.items[] | select(.spec.template.spec.containers[0].env[0].value=="v2") | .status.readyReplicas // 0] | add // 0')
  [ "$n" -ge 1 ] && [ "$n" -lt 4 ]
}
wait_for 60 "rollout half way" half_way
nn_kill "$L"
ha_wait_leader 10 "$L"
pass "leader s$L killed half way through the rollout; s$HA_LEADER leads"

"$BIN/berthctl" --server "$SERVER" rollout status deployment/web --timeout=120s >"$T/rollout.out" 2>&1 \
  || fail "rollout status after the failover: $(tail -3 "$T/rollout.out")"
pass "rollout status exits 0 after the failover"

settled() {
  local rs
  rs=$(ctl get rs -l app=web -o json)
  [ "$(echo "$rs" | jq '[.items[] | select(.spec.template.spec.containers[0].env[0].value=="v2") | .status.replicas] | add')" = 4 ] &&
    [ "$(echo "$rs" | jq '[.items[] | select(.spec.template.spec.containers[0].env[0].value!="v2") | .spec.replicas] | add // 0')" = 0 ] &&
    [ "$(live_pods | jq 'length')" = 4 ]
}
wait_for 60 "new ReplicaSet owns 4 pods, old none" settled
pods=$(live_pods)
[ "$(echo "$pods" | jq '[.[] | select(.spec.containers[0].env[0].value=="v2" and .status.phase=="Running")] | length')" = 4 ] \
  || fail "not all 4 pods run v2: $(echo "$pods" | jq -c '[.[] | {n: .metadata.name, v: .spec.containers[0].env[0].value, p: .status.phase}]')"
[ "$(echo "$pods" | jq '[.[].metadata.name] | unique | length')" = 4 ] || fail "duplicate pod names"
[ "$(echo "$pods" | jq '[.[].metadata.ownerReferences[0].uid] | unique | length')" = 1 ] || fail "pods owned by several ReplicaSets"
# Stable: nothing is created or deleted any more.
sleep 2 # observe a quiet period (not for correctness of the checks above)
settled || fail "the Deployment did not stay settled"
pass "4 pods of v2, one ReplicaSet, no duplicates; stays settled"

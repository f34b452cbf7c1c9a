#!/usr/bin/env bash
# test_sched_binpack.sh: the scheduler as a new user meets it. Two agents of
# 4000m each; a Deployment of four 1000m pods lands entirely on one node
# (bin-packing), a fifth 1000m pod goes to the other node, and a 5000m pod
# stays Pending: PodScheduled=False/Unschedulable, `berthctl describe pod`
# gives the exact reason "0/2 nodes are available: 2 Insufficient cpu.", and
# an Event says so too. Every placed pod really runs (Running, on its node).
source "$(dirname "$0")/agent_lib.sh"

API=$(free_port); RAFT=$(free_port)
SERVER="http://127.0.0.1:$API"
start_berthd s1 "$T/data" "$API" "$RAFT"
make_image
start_agent n1
start_agent n2
[ "$(ctl get nodes -o json | jq '[.items[] | select(.status.allocatable.cpu == "4" or .status.allocatable.cpu == "4000m")] | length')" = 2 ] \
  || fail "nodes do not advertise 4000m: $(ctl get nodes -o json | jq -c '[.items[].status.allocatable]')"
ctl get nodes | grep -q '^n1 .*Ready' || fail "get nodes: $(ctl get nodes)"
pass "two agents registered, Ready, 4000m allocatable each"

cat >"$T/deploy.yaml" <<'YAML'
apiVersion: apps/v1
kind: Deployment
metadata:
  name: packed
spec:
  replicas: 4
  selector:
    matchLabels: {app: packed}
  template:
    metadata:
      labels: {app: packed}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
        - name: main
          image: busybox
          command: ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1; done"]
          resources:
            requests: {cpu: 1000m, memory: 32Mi}
            limits: {cpu: 1000m, memory: 64Mi}
YAML
ctl apply -f "$T/deploy.yaml" | grep -qx 'deployment.apps/packed created' || fail "apply deployment"
running_packed() {
  [ "$(ctl get pods -l app=packed -o json | jq '[.items[] | select(.status.phase == "Running")] | length')" = 4 ]
}
wait_for 60 "4 packed pods Running" running_packed
nodes=$(ctl get pods -l app=packed -o json | jq -r '[.items[].spec.nodeName] | unique | join(",")')
[ "$nodes" = n1 ] || [ "$nodes" = n2 ] || fail "the 4 pods are spread over nodes: $nodes"
FULL=$nodes; OTHER=$([ "$FULL" = n1 ] && echo n2 || echo n1)
[ "$(ctl get pods -o wide | grep -c "^packed-.* Running .* $FULL\$")" = 4 ] \
  || fail "get pods -o wide does not show 4 Running on $FULL: $(ctl get pods -o wide)"
pass "four 1000m pods all on $FULL (bin-packing)"

run_pod fifth busybox 'sleep 1000' '{"resources":{"requests":{"cpu":"1000m"},"limits":{"cpu":"1000m"}}}' \
  '{"terminationGracePeriodSeconds":1}'
wait_for 30 "fifth Running" pod_running fifth
[ "$(pod_field fifth .spec.nodeName)" = "$OTHER" ] || fail "fifth on $(pod_field fifth .spec.nodeName), want $OTHER"
pass "a fifth 1000m pod goes to the other node, $OTHER"

run_pod big busybox 'sleep 1000' '{"resources":{"requests":{"cpu":"5000m"},"limits":{"cpu":"5000m"}}}'
unschedulable() {
  pod_json big | jq -e '.status.conditions[] | select(.type == "PodScheduled")
    | .status == "False" and .reason == "Unschedulable"'
}
wait_for 20 "big marked Unschedulable" unschedulable
WANT='0/2 nodes are available: 2 Insufficient cpu.'
msg=$(pod_field big '.status.conditions[] | select(.type == "PodScheduled") | .message')
[ "$msg" = "$WANT" ] || fail "condition message: '$msg', want '$WANT'"
ctl describe pod big >"$T/describe"
grep -q '^Status: *Pending' "$T/describe" || fail "describe status: $(cat "$T/describe")"
grep -qF "$WANT" "$T/describe" || fail "describe lacks the reason: $(cat "$T/describe")"
grep -q 'Unschedulable\|FailedScheduling' "$T/describe" || fail "describe lacks the reason name: $(cat "$T/describe")"
[ "$(pod_field big '.spec.nodeName // ""')" = "" ] || fail "big was bound"
ctl get pods | grep -q '^big .*Pending' || fail "get pods: $(ctl get pods)"
wait_for 10 "FailedScheduling event" sh -c "\"$BIN/berthctl\" --server $SERVER get events | grep -F 'pod/big' | grep -qF '$WANT'"
pass "5000m pod stays Pending: describe and events say '$WANT'"

# Still Pending a scheduling round later: nothing changed, nothing placed.
sleep_until=$(( $(date +%s) + 2 )); while [ "$(date +%s)" -lt "$sleep_until" ]; do pod_phase_is big Pending || fail "big left Pending"; sleep 0.2; done
pass "big still Pending"

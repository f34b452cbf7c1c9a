#!/usr/bin/env bash
# test_sched_node_silent.sh: a node that goes silent. berthd runs with a 3 s
# node grace period and a 3 s eviction timeout, agents renew their Lease
# every second. A Deployment of two 1000m pods and a bare 1000m pod are
# packed on one node; its agent is frozen with SIGSTOP. The node turns
# Ready=Unknown (NotReady in `get nodes`) with the NoExecute taint
# node.kubernetes.io/unreachable; after the eviction timeout its pods are
# deleted, the Deployment's are replaced on the other node and the bare pod
# is not. When the agent thaws, it stops the containers of the deleted pods
# (no pod runs twice) and its node is Ready again, untainted.
source "$(dirname "$0")/agent_lib.sh"

API=$(free_port); RAFT=$(free_port)
SERVER="http://127.0.0.1:$API"
start_berthd s1 "$T/data" "$API" "$RAFT" --node-grace-period-s 3 --pod-eviction-timeout-s 3
make_image
start_agent n1 --heartbeat-s 1
start_agent n2 --heartbeat-s 1

cat >"$T/deploy.yaml" <<'YAML'
apiVersion: apps/v1
kind: Deployment
metadata:
  name: movers
spec:
  replicas: 2
  selector:
    matchLabels: {app: movers}
  template:
    metadata:
      labels: {app: movers}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
        - name: main
          image: busybox
          command: ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.5; done"]
          resources:
            requests: {cpu: 1000m}
YAML
ctl apply -f "$T/deploy.yaml" >/dev/null || fail "apply deployment"
running_movers() {
  ctl get pods -l app=movers -o json | jq -e --arg n "${1:-}" '[.items[] | select(.metadata.deletionTimestamp == null
    and .status.phase == "Running" and ($n == "" or .spec.nodeName == $n))] | length == 2'
}
wait_for 60 "2 movers Running" running_movers
A=$(ctl get pods -l app=movers -o json | jq -r '[.items[].spec.nodeName] | unique | join(",")')
[ "$A" = n1 ] || [ "$A" = n2 ] || fail "movers not packed on one node: $A"
B=$([ "$A" = n1 ] && echo n2 || echo n1)
run_pod bare busybox 'trap "exit 0" TERM; while :; do sleep 0.5; done' \
  '{"resources":{"requests":{"cpu":"1000m"}}}' '{"terminationGracePeriodSeconds":1}'
wait_for 30 "bare Running" pod_running bare
[ "$(pod_field bare .spec.nodeName)" = "$A" ] || fail "bare on $(pod_field bare .spec.nodeName), want $A"
track_pod_uids
OLD=$(ctl get pods -o json | jq -r '[.items[].metadata.uid] | sort | join(" ")')
OLDPIDS=""
for p in $(ctl get pods -o json | jq -r '.items[].metadata.name'); do OLDPIDS="$OLDPIDS $(pod_pid "$p")"; done
pass "3 pods on $A (pids$OLDPIDS); $B is empty"

kill -STOP "${AGENT_PID[$A]}"
t0=$(date +%s)
node_unknown() {
  ctl get node "$A" -o json | jq -e '(.status.conditions[] | select(.type == "Ready") | .status == "Unknown")
    and any(.spec.taints[]?; .key == "node.kubernetes.io/unreachable" and .effect == "NoExecute")'
}
wait_for 15 "$A Ready=Unknown with the unreachable taint" node_unknown
ctl get nodes | grep -q "^$A .*NotReady" || fail "get nodes: $(ctl get nodes)"
ctl get nodes | grep -q "^$B .*Ready" || fail "get nodes: $(ctl get nodes)"
pass "$A silent: Ready=Unknown after $(( $(date +%s) - t0 ))s, tainted node.kubernetes.io/unreachable:NoExecute, NotReady"

old_gone() {
  local now; now=$(ctl get pods -o json | jq -r '[.items[].metadata.uid] | join(" ")')
  for u in $OLD; do case " $now " in *" $u "*) return 1 ;; esac; done
}
wait_for 20 "the pods of $A deleted" old_gone
pod_gone bare || fail "bare still exists"
wait_for 30 "2 movers Running on $B" running_movers "$B"
[ "$(ctl get pods -o json | jq '.items | length')" = 2 ] || fail "pods: $(ctl get pods -o wide)"
track_pod_uids
pass "after the eviction timeout ($(( $(date +%s) - t0 ))s): pods deleted, movers replaced on $B, bare not"

# The old containers kept running on the frozen node; thawed, the agent
# stops them, and its node is Ready and untainted again.
for p in $OLDPIDS; do kill -0 "$p" 2>/dev/null || fail "old container $p stopped while its agent was frozen"; done
kill -CONT "${AGENT_PID[$A]}"
for p in $OLDPIDS; do wait_for 20 "old container $p stopped" sh -c "! kill -0 $p 2>/dev/null"; done
node_back() {
  ctl get node "$A" -o json | jq -e '(.status.conditions[] | select(.type == "Ready") | .status == "True")
    and ([.spec.taints[]? | select(.key == "node.kubernetes.io/unreachable")] | length == 0)'
}
wait_for 20 "$A Ready again" node_back
wait_for 10 "no container state left on $A" sh -c "[ -z \"\$(ls '$T/agent-$A/containers')\" ]"
running_movers "$B" >/dev/null || fail "movers disturbed by $A's return"
pass "$A thawed: the deleted pods' containers stopped, node Ready and untainted"

#!/usr/bin/env bash
# test_namespace_delete.sh: deleting a namespace deletes what is in it, as
# in Kubernetes. A namespace "team" holds a Deployment of 2 running pods, a
# ConfigMap, a Service and 600 more ConfigMaps (more than one page of the
# namespace controller). `berthctl delete namespace team` answers at once,
# the namespace shows Terminating and takes no new objects (403 with the
# Kubernetes message), then everything in it is deleted, the pods' processes
# stop, and the namespace itself goes. Another namespace is untouched, and
# the built-in namespaces cannot be deleted.
source "$(dirname "$0")/agent_lib.sh"

API=$(free_port); RAFT=$(free_port)
SERVER="http://127.0.0.1:$API"
start_berthd s1 "$T/data" "$API" "$RAFT"
make_image
start_agent n1

cat >"$T/team.yaml" <<'EOF'
apiVersion: v1
kind: Namespace
metadata: {name: team}
---
apiVersion: v1
kind: Namespace
metadata: {name: other}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: team}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
        - name: c
          image: busybox
          command: ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1; done"]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: team}
spec:
  selector: {app: web}
  ports: [{port: 80}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: team}
data: {a: "1"}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: keep, namespace: other}
data: {a: "1"}
EOF
ctl apply -f "$T/team.yaml" >/dev/null || fail "apply"
python3 - "$T/many.yaml" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    for i in range(600):
        f.write(f"---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: cm{i:04d}, namespace: team}}\ndata: {{i: \"{i}\"}}\n")
PY
ctl apply -f "$T/many.yaml" >/dev/null || fail "apply 600 configmaps"
running() { [ "$(ctl get pods -n team -o json | jq '[.items[] | select(.status.phase == "Running")] | length')" = 2 ]; }
wait_for 60 "2 pods Running in team" running
[ "$(ctl get configmaps -n team -o name | wc -l)" = 601 ] || fail "want 601 configmaps in team"
pass "team holds a Deployment with 2 running pods, a Service and 601 ConfigMaps"

# The namespace controller may empty a small namespace within the same
# instant, so Terminating is checked only while the namespace is still there.
ctl delete namespace team --wait=false >"$T/del.out" || fail "delete namespace: $(cat "$T/del.out")"
grep -q 'namespace "team" deleted' "$T/del.out" || fail "delete said: $(cat "$T/del.out")"
gone_ns() { ! ctl get namespace team -o name >/dev/null 2>&1; }
code=$(api POST /api/v1/namespaces/team/configmaps '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"late"}}')
if gone_ns; then
  [ "$code" = 404 ] || [ "$code" = 403 ] || fail "create after delete: HTTP $code $(cat "$T/body")"
  echo "note: namespace already gone when the late create came (HTTP $code)"
else
  [ "$code" = 403 ] || fail "create in a terminating namespace: HTTP $code $(cat "$T/body")"
  grep -q "unable to create new content in namespace team because it is being terminated" "$T/body" \
    || fail "message: $(cat "$T/body")"
  phase=$(ctl get namespace team -o json 2>/dev/null | jq -r '.status.phase // empty')
  [ -z "$phase" ] || [ "$phase" = Terminating ] || fail "phase after delete: $phase"
  pass "namespace Terminating; a create in it gets 403 \"$(jq -r .message "$T/body")\""
fi

wait_for 60 "namespace team gone" gone_ns
for path in /api/v1/namespaces/team/pods /api/v1/namespaces/team/services \
    /api/v1/namespaces/team/endpoints /api/v1/namespaces/team/configmaps \
    /apis/apps/v1/namespaces/team/deployments /apis/apps/v1/namespaces/team/replicasets; do
  [ "$(api GET "$path")" = 200 ] || fail "GET $path: $(cat "$T/body")"
  n=$(jq '.items | length' "$T/body")
  [ "$n" = 0 ] || fail "$n objects left at $path"
done
no_shims() { ! pgrep -f "berth-agent shim $T/" >/dev/null; }
wait_for 30 "the pods' processes stopped" no_shims
pass "namespace gone with its Deployment, ReplicaSet, pods (processes stopped), Service and 601 ConfigMaps"

[ "$(ctl get configmap keep -n other -o json | jq -r .data.a)" = 1 ] || fail "other namespace touched"
expect_code 403 DELETE /api/v1/namespaces/default
expect_code 403 DELETE /api/v1/namespaces/kube-system
pass "other namespaces untouched; default and kube-system cannot be deleted"

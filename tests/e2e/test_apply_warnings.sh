#!/usr/bin/env bash
# test_apply_warnings.sh: fields Berth keeps but does not act on are
# reported, not silently ignored (brief §4). The API server answers a write
# that has them with Kubernetes' `Warning: 299 - "..."` headers and stores
# the object unchanged; berthctl prints them as kubectl does ("Warning: ...")
# on stderr and still succeeds. A manifest without such fields gets none,
# and status writes never get any. Applying a Service twice says
# "unchanged" the second time although the server filled in its nodePort.
source "$(dirname "$0")/lib.sh"

API=$(free_port); RAFT=$(free_port)
SERVER="http://127.0.0.1:$API"
start_berthd s1 "$T/data" "$API" "$RAFT"

cat >"$T/app.yaml" <<'YAML'
apiVersion: apps/v1
kind: Deployment
metadata: {name: app}
spec:
  replicas: 1
  selector: {matchLabels: {app: app}}
  template:
    metadata: {labels: {app: app}}
    spec:
      volumes: [{name: data, emptyDir: {}}]
      initContainers: [{name: init, image: busybox, command: ["true"]}]
      containers:
        - name: c
          image: busybox
          command: ["sleep", "1000"]
          volumeMounts: [{name: data, mountPath: /data}]
          env:
            - {name: A, value: "1"}
            - name: B
              valueFrom: {fileKeyRef: {path: x, key: y}}
---
apiVersion: v1
kind: Service
metadata: {name: app}
spec:
  type: NodePort
  selector: {app: app}
  ports: [{port: 80, protocol: UDP}]
YAML
ctl apply -f "$T/app.yaml" >"$T/out" 2>"$T/err" || fail "apply failed: $(cat "$T/err")"
grep -qx 'deployment.apps/app created' "$T/out" || fail "stdout: $(cat "$T/out")"
for w in \
  'Warning: spec.template.spec.volumes: volumes are not supported; containers see only their image'"'"'s filesystem' \
  'Warning: spec.template.spec.initContainers: init containers are not run' \
  'Warning: spec.template.spec.containers[0].volumeMounts: ignored: volumes are not supported' \
  'Warning: spec.template.spec.containers[0].env[1].valueFrom: not supported; the container will not start' \
  'Warning: spec.ports[0].protocol: only TCP is proxied'; do
  grep -qxF "$w" "$T/err" || fail "missing \"$w\" in: $(cat "$T/err")"
done
[ "$(grep -c '^Warning: ' "$T/err")" = 5 ] || fail "want 5 warnings: $(cat "$T/err")"
ctl get deployment app -o json | jq -e '.spec.template.spec.volumes[0].name == "data" and
  .spec.template.spec.initContainers[0].name == "init"' >/dev/null || fail "fields not kept"
pass "apply warns about volumes, initContainers, volumeMounts, env valueFrom, UDP; the object keeps them"

node_port() { ctl get service app -o json | jq -e '.spec.ports[0].nodePort > 0' >/dev/null; }
wait_for 10 "nodePort allocated" node_port
ctl apply -f "$T/app.yaml" >"$T/out2" 2>"$T/err2" || fail "re-apply: $(cat "$T/err2")"
grep -qx 'service/app unchanged' "$T/out2" || fail "re-apply of the Service: $(cat "$T/out2")"
grep -qx 'deployment.apps/app unchanged' "$T/out2" || fail "re-apply of the Deployment: $(cat "$T/out2")"
pass "re-apply: unchanged, although the server filled in the Service's nodePort"

cat >"$T/plain.yaml" <<'YAML'
apiVersion: v1
kind: ConfigMap
metadata: {name: plain}
data: {a: "1"}
YAML
ctl apply -f "$T/plain.yaml" >/dev/null 2>"$T/err3" || fail "apply plain"
[ ! -s "$T/err3" ] || fail "unexpected output on stderr: $(cat "$T/err3")"
curl -sS -D "$T/hdr" -o /dev/null -X PATCH -H 'Content-Type: application/merge-patch+json' \
  --data '{"status":{"observedGeneration":1}}' "$SERVER/apis/apps/v1/namespaces/default/deployments/app/status"
grep -qi '^warning:' "$T/hdr" && fail "a status write got warnings: $(cat "$T/hdr")"
pass "no warnings for a plain object or a status write"

# Through a follower (which forwards the write to the leader) the warnings
# come back too.
API2=$(free_port); RAFT2=$(free_port)
start_berthd s2 "$T/data2" "$API2" "$RAFT2" --join "$SERVER"
member_count() { [ "$(ctl cluster members -o json | jq '.members | length')" = 2 ]; }
wait_for 30 "s2 joined" member_count
sed 's/name: app}/name: app2}/' "$T/app.yaml" >"$T/app2.yaml"
"$BIN/berthctl" --server "http://127.0.0.1:$API2" apply -f "$T/app2.yaml" >"$T/out4" 2>"$T/err4" \
  || fail "apply through the follower: $(cat "$T/err4")"
grep -qx 'deployment.apps/app2 created' "$T/out4" || fail "stdout: $(cat "$T/out4")"
grep -qxF 'Warning: spec.template.spec.initContainers: init containers are not run' "$T/err4" \
  || fail "no warnings through the follower: $(cat "$T/err4")"
pass "warnings come back through a follower that forwards to the leader"

#!/usr/bin/env bash
# test_agent_env.sh: a pod's environment from ConfigMaps, Secrets and the
# downward API, as Kubernetes builds it. A pod whose ConfigMap does not exist
# yet waits in CreateContainerConfigError (with the reason in describe) and
# starts once the ConfigMap is created; the container then sees env values
# from configMapKeyRef, secretKeyRef (base64-decoded), envFrom with a
# prefix, fieldRef (its name, namespace, node) and resourceFieldRef, and
# $(VAR) expanded in env values and args.
source "$(dirname "$0")/agent_lib.sh"

API=$(free_port); RAFT=$(free_port)
SERVER="http://127.0.0.1:$API"
start_berthd s1 "$T/data" "$API" "$RAFT"
make_image
start_agent n1 --backoff-base-ms 500

cat >"$T/pod.yaml" <<'YAML'
apiVersion: v1
kind: Pod
metadata: {name: envpod}
spec:
  containers:
    - name: c
      image: busybox
      command: ["sh", "-c"]
      args: ["echo color=$COLOR pw=$PW size=$CFG_size me=$ME ns=$NS node=$NODE mem=$MEM greet=$GREET arg=$(COLOR); sleep 1000"]
      resources: {limits: {memory: 64Mi}}
      envFrom:
        - {prefix: CFG_, configMapRef: {name: settings}}
      env:
        - {name: COLOR, valueFrom: {configMapKeyRef: {name: settings, key: color}}}
        - {name: PW, valueFrom: {secretKeyRef: {name: creds, key: password}}}
        - {name: ME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
        - {name: NS, valueFrom: {fieldRef: {fieldPath: metadata.namespace}}}
        - {name: NODE, valueFrom: {fieldRef: {fieldPath: spec.nodeName}}}
        - {name: MEM, valueFrom: {resourceFieldRef: {resource: limits.memory, divisor: 1Mi}}}
        - {name: GREET, value: "hello-$(COLOR)"}
YAML
ctl apply -f "$T/pod.yaml" >/dev/null || fail "apply pod"
config_error() { [ "$(pod_field envpod '.status.containerStatuses[0].state.waiting.reason')" = CreateContainerConfigError ]; }
wait_for 20 "CreateContainerConfigError" config_error
pod_field envpod '.status.containerStatuses[0].state.waiting.message' | grep -q 'configmap "settings" not found' \
  || fail "message: $(pod_field envpod '.status.containerStatuses[0].state.waiting.message')"
pass "without its ConfigMap the pod waits in CreateContainerConfigError: configmap \"settings\" not found"

cat >"$T/cfg.yaml" <<'YAML'
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data: {color: blue, size: XL}
---
apiVersion: v1
kind: Secret
metadata: {name: creds}
data: {password: czNjcjN0}
YAML
ctl apply -f "$T/cfg.yaml" >/dev/null || fail "apply config"
wait_for 30 "envpod Running" pod_running envpod
want="color=blue pw=s3cr3t size=XL me=envpod ns=default node=n1 mem=64 greet=hello-blue arg=blue"
wait_for 10 "the env line in the log" sh -c "\"$BIN/berthctl\" --server $SERVER logs envpod | grep -qx '$want'"
pass "env from configMapKeyRef, secretKeyRef, envFrom, fieldRef, resourceFieldRef and \$(VAR): $want"

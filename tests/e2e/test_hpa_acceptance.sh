#!/usr/bin/env bash
# test_hpa_acceptance.sh: horizontal autoscaling by CPU, as a new user meets
# it (issue 6, "Must show"). One berthd and one agent reporting metrics
# every 2 s. A CPU-bound Deployment (busybox busy loop, requests.cpu 100m,
# limits.cpu 200m) with an HPA at 50% (min 1, max 4, scale-down window
# 10 s) scales to 4 within 120 s; `berthctl top pods` lists its pods; the
# HPA status shows the current utilization; a merge patch that makes the
# pods idle (the command becomes sleep, replicas untouched) brings it back
# to 1 within 150 s. The metrics API answers as metrics-server does, and
# both /metrics endpoints carry the figures. Needs root (real containers and
# cgroups); agent_lib.sh cleans up pods, shims, mounts and cgroups.
source "$(dirname "$0")/agent_lib.sh"

API=$(free_port); RAFT=$(free_port)
SERVER="http://127.0.0.1:$API"
HPA_FLAGS=()
# A shorter HPA sync period when this berthd has the flag (default 15 s).
if "$BIN/berthd" --help 2>&1 | grep -q -- '--hpa-sync-period-s'; then HPA_FLAGS=(--hpa-sync-period-s 3); fi
start_berthd s1 "$T/data" "$API" "$RAFT" "${HPA_FLAGS[@]}"
make_image
start_agent n1 --metrics-interval-s 2
pass "berthd and agent n1 (metrics every 2 s) ready"

hpa_container() { # hpa_container CMD: the Deployment's container as JSON
  jq -nc --arg c "$1" '{name:"burn",image:"busybox",command:["sh","-c",$c],
    resources:{requests:{cpu:"100m",memory:"16Mi"},limits:{cpu:"200m",memory:"64Mi"}}}'
}

jq -n --argjson c "$(hpa_container 'while :; do :; done')" '
  {apiVersion:"apps/v1",kind:"Deployment",metadata:{name:"burn"},
   spec:{replicas:1,selector:{matchLabels:{app:"burn"}},
         template:{metadata:{labels:{app:"burn"}},
                   spec:{terminationGracePeriodSeconds:1,containers:[$c]}}}}' >"$T/burn.json"
cat >"$T/hpa.yaml" <<'YAML'
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: burn
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: burn
  minReplicas: 1
  maxReplicas: 4
  metrics:
  - type: Resource
    resource:
      name: cpu
      target:
        type: Utilization
        averageUtilization: 50
  behavior:
    scaleDown:
      stabilizationWindowSeconds: 10
YAML
ctl apply -f "$T/burn.json" >/dev/null || fail "apply deployment"
ctl apply -f "$T/hpa.yaml" >/dev/null || fail "apply hpa"
T_UP=$(date +%s)

hpa_replicas_are() { # hpa_replicas_are N: Deployment spec and ready pods at N
  ctl get deploy burn -o json | jq -e --argjson n "$1" '.spec.replicas == $n and .status.readyReplicas == $n'
}
wait_for 120 "burn scaled to 4 with 4 ready pods" hpa_replicas_are 4
pass "scaled 1 -> 4 in $(( $(date +%s) - T_UP )) s"

# berthctl top pods: every pod of burn, with CPU and CPU% of its request.
hpa_top_lists_all() {
  local n; n=$(ctl top pods -l app=burn | awk 'NR > 1 && $1 ~ /^burn-/ && $2 ~ /m$/ && $3 ~ /Mi$/' | wc -l)
  [ "$n" -eq 4 ]
}
wait_for 30 "top pods lists 4 burn pods" hpa_top_lists_all
ctl top pods | head -1 | grep -q 'NAME *CPU(cores) *MEMORY(bytes) *CPU%/REQ' || fail "top header: $(ctl top pods | head -1)"
ctl top pods -A | head -1 | grep -q '^NAMESPACE' || fail "top -A has no NAMESPACE column"
ctl top nodes | grep -q '^n1 ' || fail "top nodes: $(ctl top nodes 2>&1)"
pass "top pods lists the pods; top nodes lists n1"

# The HPA status shows the utilization it acted on, and says so in get.
util=$(ctl get hpa burn -o json | jq -r '.status.currentMetrics[0].resource.current.averageUtilization')
[ "$util" -gt 50 ] 2>/dev/null || fail "currentMetrics utilization: $util"
ctl get hpa burn | grep -Eq 'cpu: [0-9]+%/50%' || fail "get hpa: $(ctl get hpa burn)"
ctl get hpa burn -o json | jq -e '[.status.conditions[] | select(.type=="ScalingActive" and .status=="True")] | length == 1' \
  >/dev/null || fail "ScalingActive is not True: $(ctl get hpa burn -o json | jq -c .status.conditions)"
ctl get events -o json | jq -e '[.items[] | select(.reason=="SuccessfulRescale" and .involvedObject.name=="burn")] | length >= 1' \
  >/dev/null || fail "no SuccessfulRescale event"
pass "HPA status: ${util}% of requests, ScalingActive True, SuccessfulRescale event"

# The metrics API as metrics-server serves it, and the Prometheus figures.
# The window is the interval the agent measured: the 2 s period, or a few
# ms more when its timer fires late ("2.01s" failed an exact match in CI).
expect_code 200 GET /apis/metrics.k8s.io/v1beta1/namespaces/default/pods
jq -e '.kind == "PodMetricsList" and (.items | length) >= 4 and
       (.items[0].containers[0].usage.cpu | test("^[0-9]+n$")) and
       (.items[0].containers[0].usage.memory | test("^[0-9]+Ki$")) and
       (.items[0].window | test("^[0-9.]+s$")) and
       (.items[0].window | rtrimstr("s") | tonumber | . >= 2 and . < 3)' "$T/body" >/dev/null \
  || fail "PodMetricsList: $(head -c 400 "$T/body")"
expect_code 200 GET /apis/metrics.k8s.io/v1beta1/nodes/n1
jq -e '.kind == "NodeMetrics" and .metadata.name == "n1"' "$T/body" >/dev/null || fail "NodeMetrics: $(cat "$T/body")"
expect_code 200 GET /apis/metrics.k8s.io/v1beta1
jq -e '[.resources[].name] == ["nodes","pods"]' "$T/body" >/dev/null || fail "discovery: $(cat "$T/body")"
expect_code 200 GET /apis
jq -e '[.groups[].name] | index("metrics.k8s.io")' "$T/body" >/dev/null || fail "/apis lacks metrics.k8s.io"
curl -fsS "$SERVER/metrics" | grep -q '^berth_pod_cpu_usage_millicores{namespace="default",pod="burn-' \
  || fail "server /metrics lacks berth_pod_cpu_usage_millicores"
curl -fsS "http://127.0.0.1:${AGENT_PORT[n1]}/metrics" | grep -q '^berth_node_cpu_usage_millicores{node="n1"}' \
  || fail "agent /metrics lacks berth_node_cpu_usage_millicores"
pass "metrics.k8s.io: PodMetricsList, NodeMetrics, discovery; Prometheus on server and agent"

# Make the pods idle with a merge patch that leaves replicas alone.
patch=$(jq -nc --argjson c "$(hpa_container 'exec sleep 3600')" '{spec:{template:{spec:{containers:[$c]}}}}')
expect_code 200 PATCH /apis/apps/v1/namespaces/default/deployments/burn "$patch" application/merge-patch+json
jq -e '.spec.replicas == 4' "$T/body" >/dev/null || fail "the patch changed replicas: $(jq .spec.replicas "$T/body")"
T_DOWN=$(date +%s)
wait_for 150 "burn back to 1 ready pod" hpa_replicas_are 1
pass "idle: scaled 4 -> 1 in $(( $(date +%s) - T_DOWN )) s"

# Cleanup through the API: the HPA first (so it does not act), then the
# Deployment; wait for its pods to be gone before agent_cleanup kills shims.
track_pod_uids
ctl delete hpa burn >/dev/null || fail "delete hpa"
ctl delete deploy burn >/dev/null || fail "delete deployment"
hpa_no_pods() { [ "$(ctl get pods -o json | jq '[.items[] | select(.metadata.labels.app=="burn")] | length')" = 0 ]; }
wait_for 60 "burn's pods deleted" hpa_no_pods
hpa_no_shims() { [ -z "$(find "$T" -path '*/containers/*/shim.pid' 2>/dev/null | head -1)" ]; }
wait_for 30 "the agent stopped burn's containers" hpa_no_shims
pass "deleted through the API; no containers left"

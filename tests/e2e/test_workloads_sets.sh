#!/usr/bin/env bash
# test_workloads_sets.sh: DaemonSets and StatefulSets as a new user meets
# them (issue 4, "Must show"), on two agents and then three. A DaemonSet
# runs exactly one pod on each of the two nodes; a third agent joins and
# gets its own. A StatefulSet of 3 creates web-0, web-1, web-2 in order,
# each only once the one before is Running and Ready (checked against every
# change a watch saw), with stable names and hostnames; a deleted web-1
# comes back under the same name; scaled to 1 it deletes web-2 before
# web-1. Deleting the DaemonSet removes its pods.
source "$(dirname "$0")/workloads_lib.sh"

API=$(free_port); RAFT=$(free_port)
SERVER="http://127.0.0.1:$API"
start_berthd s1 "$T/data" "$API" "$RAFT"
make_image
start_agent n1
start_agent n2
pass "berthd and agents n1, n2 ready"

# --- DaemonSet: one pod per node -------------------------------------------------
jq -n --argjson c "$(wl_container agent busybox "$WL_LOOP")" '
  {apiVersion:"apps/v1",kind:"DaemonSet",metadata:{name:"nodeagent"},
   spec:{selector:{matchLabels:{app:"nodeagent"}},
         template:{metadata:{labels:{app:"nodeagent"}},
                   spec:{terminationGracePeriodSeconds:1,containers:[$c]}}}}' >"$T/ds.json"
ctl apply -f "$T/ds.json" | grep -qx 'daemonset.apps/nodeagent created' || fail "apply daemonset"

# ds_one_per_node NODES: the DaemonSet runs exactly one Running, Ready pod on
# each of NODES (a sorted, comma-separated list) and no other pod, and its
# status says so.
ds_one_per_node() {
  local want=$1 n; n=$(tr ',' '\n' <<<"$want" | wc -l)
  pods_json app=nodeagent | jq -e --arg w "$want" --argjson n "$n" '
    [.items[] | select(.status.phase == "Running" and any(.status.conditions[]?; .type == "Ready" and .status == "True"))] as $r |
    (.items | length) == $n and ($r | length) == $n and ([$r[].spec.nodeName] | sort | join(",")) == $w' &&
  ctl get ds nodeagent -o json | jq -e --argjson n "$n" '.status.desiredNumberScheduled == $n and
    .status.currentNumberScheduled == $n and .status.numberReady == $n'
}
wait_for 60 "one nodeagent pod on n1 and n2" ds_one_per_node n1,n2
ctl get ds | grep -q '^nodeagent  *2  *2  *2 ' || fail "get ds: $(ctl get ds)"
pass "daemonset nodeagent: one Running, Ready pod on each of n1, n2"

# --- StatefulSet: ordered creation -------------------------------------------------
start_pod_watch app=web sts
jq -n --argjson c "$(wl_container web busybox "$WL_LOOP")" '
  {apiVersion:"apps/v1",kind:"StatefulSet",metadata:{name:"web"},
   spec:{replicas:3,serviceName:"web",selector:{matchLabels:{app:"web"}},
         template:{metadata:{labels:{app:"web"}},
                   spec:{terminationGracePeriodSeconds:1,containers:[$c]}}}}' >"$T/sts.json"
ctl apply -f "$T/sts.json" | grep -qx 'statefulset.apps/web created' || fail "apply statefulset"

# A third agent joins while the StatefulSet comes up.
start_agent n3
wait_for 60 "one nodeagent pod on each of n1, n2, n3" ds_one_per_node n1,n2,n3
pass "agent n3 joined: the daemonset follows it (one pod per node, 3 in all)"

sts_ready() {
  ctl get sts web -o json | jq -e --argjson n "$1" '.status.replicas == $n and .status.readyReplicas == $n' &&
    [ "$(ready_count app=web)" = "$1" ]
}
wait_for 90 "web-0..2 ready" sts_ready 3
[ "$(pods_json app=web | jq -r '[.items[].metadata.name] | sort | join(",")')" = web-0,web-1,web-2 ] \
  || fail "statefulset pods: $(pods_json app=web | jq -c '[.items[].metadata.name]')"
for i in 0 1 2; do
  pod_json "web-$i" | jq -e --arg h "web-$i" '.spec.hostname == $h and .spec.subdomain == "web" and
    .metadata.labels["statefulset.kubernetes.io/pod-name"] == $h' >/dev/null || fail "web-$i identity: $(pod_json "web-$i" | jq -c '[.spec.hostname, .spec.subdomain, .metadata.labels]')"
done

# sts_replay MODE: replays the watch; MODE "up": each web-N was ADDED only
# while web-0..web-N-1 all existed Running and Ready; "down": each web-N was
# DELETED only while no higher ordinal existed. Prints the order of ADDED
# (or DELETED) names.
sts_replay() {
  python3 - "$1" "$T/sts.list" "$T/sts.watch" <<'PY'
import json, sys
mode = sys.argv[1]
def ready(p):
    return (p.get("status") or {}).get("phase") == "Running" and any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (p.get("status") or {}).get("conditions") or [])
def ordinal(n): return int(n.rsplit("-", 1)[1])
pods = {p["metadata"]["name"]: p for p in json.load(open(sys.argv[2]))["items"]}
text, i, dec, order = open(sys.argv[3]).read(), 0, json.JSONDecoder(), []
while True:
    while i < len(text) and text[i].isspace(): i += 1
    if i >= len(text): break
    try: ev, i = dec.raw_decode(text, i)
    except ValueError: break
    o = ev.get("object") or {}
    n = (o.get("metadata") or {}).get("name")
    t = ev.get("type")
    if t == "ADDED":
        if mode == "up":
            order.append(n)
            for k in range(ordinal(n)):
                p = pods.get("web-%d" % k)
                if not p or not ready(p):
                    sys.exit("%s created while web-%d was %s" % (n, k, "missing" if not p else "not Running and Ready"))
        pods[n] = o
    elif t == "MODIFIED": pods[n] = o
    elif t == "DELETED":
        if mode == "down":
            order.append(n)
            higher = [m for m in pods if m != n and ordinal(m) > ordinal(n)]
            if higher: sys.exit("%s deleted while %s still existed" % (n, ",".join(higher)))
        pods.pop(n, None)
print(" ".join(order))
PY
}
order=$(sts_replay up) || fail "ordered creation: $order"
[ "$order" = "web-0 web-1 web-2" ] || fail "creation order: $order"
stop_pod_watch
pass "statefulset web: web-0, web-1, web-2 created in order, each after the previous was Ready"
track_pod_uids

# A deleted member comes back under its name.
UID1=$(pod_field web-1 .metadata.uid)
ctl delete pod web-1 >/dev/null || fail "delete pod web-1"
web1_back() { [ "$(pod_field web-1 .metadata.uid)" != "$UID1" ] && sts_ready 3; }
wait_for 60 "web-1 recreated" web1_back
pass "deleted web-1 is recreated as web-1"
track_pod_uids

# --- StatefulSet: ordered scale down ----------------------------------------------
start_pod_watch app=web sts
ctl scale sts/web --replicas=1 >/dev/null || fail "scale sts web"
sts_down() { sts_ready 1 && [ "$(pods_json app=web | jq -r '[.items[].metadata.name] | join(",")')" = web-0 ]; }
wait_for 60 "web scaled to 1" sts_down
order=$(sts_replay down) || fail "ordered scale down: $order"
[ "$order" = "web-2 web-1" ] || fail "deletion order: $order"
stop_pod_watch
pass "scaled to 1: web-2 deleted, then web-1; web-0 stays"

# --- deleting the DaemonSet removes its pods ------------------------------------------
track_pod_uids
DSPIDS=$(pids_of_pods app=nodeagent)
[ "$(wc -w <<<"$DSPIDS")" = 3 ] || fail "found $(wc -w <<<"$DSPIDS") processes for nodeagent's 3 pods"
ctl delete ds nodeagent >/dev/null || fail "delete ds"
ds_pods_gone() { [ "$(pods_json app=nodeagent | jq '.items | length')" = 0 ]; }
wait_for 30 "nodeagent's pods gone" ds_pods_gone
for p in $DSPIDS; do wait_for 30 "process $p stopped" proc_gone "$p"; done
pass "delete ds nodeagent: its 3 pods and their processes are gone"

#!/usr/bin/env bash
# test_workloads_deploy.sh: a Deployment as a new user meets it (issue 4,
# "Must show"), on two agents and then three. `berthctl apply` of a
# Deployment of 3 runs 3 pods; `berthctl scale` takes it to 5. kill -9 of a
# container's process: the pod restarts it (restartCount grows); a deleted
# pod is replaced by the ReplicaSet. A third agent joins. A template change
# (image, command, env) with maxUnavailable 0 rolls out: `rollout status`
# exits 0, and ready pods never drop below 5 meanwhile. `rollout history`
# lists the revisions, `rollout undo` brings the old template back as
# revision 3, `rollout restart` rolls again (revision 4). Events
# ScalingReplicaSet / SuccessfulCreate show in `get events` and `describe`.
# `delete deploy --cascade=orphan` leaves the ReplicaSet without its
# ownerReference; a plain delete (Background) removes the ReplicaSets, the
# pods and their processes.
source "$(dirname "$0")/workloads_lib.sh"

API=$(free_port); RAFT=$(free_port)
SERVER="http://127.0.0.1:$API"
start_berthd s1 "$T/data" "$API" "$RAFT"
make_image
# A second image, a copy of busybox that says so in /VERSION.
cp -a "$IMG/busybox" "$IMG/busybox-v2" && echo v2 >"$IMG/busybox-v2/VERSION"
start_agent n1
start_agent n2
pass "berthd and agents n1, n2 ready"

# --- create, scale 3 -> 5 ----------------------------------------------------
web_manifest() { # web_manifest REPLICAS IMAGE VER: the Deployment "web" as JSON
  local n=$1; shift
  jq -n --argjson n "$n" --argjson c "$(wl_container main "$1" "$WL_LOOP" "[{\"name\":\"VER\",\"value\":\"$2\"}]")" '
    {apiVersion:"apps/v1",kind:"Deployment",metadata:{name:"web"},
     spec:{replicas:$n,selector:{matchLabels:{app:"web"}},
           strategy:{type:"RollingUpdate",rollingUpdate:{maxUnavailable:0,maxSurge:"25%"}},
           template:{metadata:{labels:{app:"web"}},
                     spec:{terminationGracePeriodSeconds:2,containers:[$c]}}}}'
}
web_manifest 3 busybox one >"$T/web.json"
ctl apply -f "$T/web.json" | grep -qx 'deployment.apps/web created' || fail "apply web"
wait_for 90 "web: 3 pods ready" deploy_done web 3
[ "$(rs_of_deploy web | wc -l)" = 1 ] || fail "web has $(rs_of_deploy web | wc -l) ReplicaSets"
RS1=$(rs_of_deploy web)
[ "$(pods_owned_by "$(uid_of rs "$RS1")" | wc -l)" = 3 ] || fail "RS $RS1 does not own 3 pods"
pass "deployment web: ReplicaSet $RS1 with 3 ready pods"

ctl scale deploy/web --replicas=5 >"$T/scale.out" || fail "scale: $(cat "$T/scale.out")"
wait_for 90 "web: 5 pods ready" deploy_done web 5
[ "$(pods_json app=web | jq '.items | length')" = 5 ] || fail "not 5 pods: $(ctl get pods)"
[ "$(ctl get rs "$RS1" -o json | jq .spec.replicas)" = 5 ] || fail "RS not scaled to 5"
pass "berthctl scale: 3 -> 5 pods, all ready"
track_pod_uids

# --- a killed container is restarted, a deleted pod replaced ------------------
VICTIM=$(pods_json app=web | jq -r '.items[0].metadata.name')
VPID=$(pod_pid "$VICTIM") || fail "no process for $VICTIM"
kill -9 "$VPID"
restarted() {
  pod_json "$VICTIM" | jq -e '.status.containerStatuses[0] | .restartCount >= 1 and .ready == true and (.state.running != null)' &&
    [ "$(pod_pid "$VICTIM")" != "$VPID" ]
}
wait_for 60 "$VICTIM's container restarted" restarted
[ "$(pod_inits "$VICTIM")" = 1 ] || fail "$VICTIM has $(pod_inits "$VICTIM") container processes"
pass "kill -9 of $VICTIM's container (pid $VPID): restarted in place, restartCount $(pod_field "$VICTIM" '.status.containerStatuses[0].restartCount')"

GONE=$(pods_json app=web | jq -r '.items[1].metadata.name')
GPID=$(pod_pid "$GONE") || fail "no process for $GONE"
ctl delete pod "$GONE" >/dev/null || fail "delete pod $GONE"
replaced() {
  local names; names=$(pods_owned_by "$(uid_of rs "$RS1")")
  ! grep -qx "$GONE" <<<"$names" && [ "$(wc -l <<<"$names")" = 5 ] && deploy_done web 5
}
wait_for 60 "$GONE replaced by the ReplicaSet" replaced
wait_for 20 "$GONE's process stopped" proc_gone "$GPID"
pass "deleted pod $GONE: the ReplicaSet made a new one, 5 ready again"

# --- a third agent joins --------------------------------------------------------
start_agent n3
[ "$(ctl get nodes -o json | jq '[.items[] | select(any(.status.conditions[]; .type=="Ready" and .status=="True"))] | length')" = 3 ] \
  || fail "not 3 Ready nodes: $(ctl get nodes)"
pass "third agent n3 joined"

# web_pods_all_of RS: web has exactly 5 pods, all owned by RS.
web_pods_all_of() {
  pods_json app=web | jq -e --arg rs "$1" '(.items | length) == 5 and all(.items[]; .metadata.ownerReferences[0].name == $rs)'
}

# --- rolling update with maxUnavailable 0 ---------------------------------------
# A watch records every change to web's pods during the rollout.
start_pod_watch app=web roll
# The manifest says 5 now: like kubectl, apply sets what the manifest says
# (a manifest still saying 3 would undo the scale).
web_manifest 5 busybox-v2 two >"$T/web.json"
ctl apply -f "$T/web.json" | grep -qx 'deployment.apps/web configured' || fail "apply web v2"
ctl rollout status deploy/web --timeout 150s >"$T/rollout.out" 2>&1 || fail "rollout status: $(cat "$T/rollout.out")"
grep -qx 'deployment "web" successfully rolled out' "$T/rollout.out" || fail "rollout status said: $(cat "$T/rollout.out")"
watch_deletions() { [ "$(grep -o '"DELETED"' "$T/roll.watch" | wc -l)" -ge 5 ]; }
wait_for 10 "the watch saw the 5 old pods deleted" watch_deletions
stop_pod_watch
watch_ready_counts roll >"$T/ready.counts"
min=$(sort -n "$T/ready.counts" | head -1)
[ "$min" -ge 5 ] || fail "ready pods dropped to $min during the rollout (maxUnavailable 0): $(tr '\n' ' ' <"$T/ready.counts")"
[ "$(ctl get deploy web -o json | jq .spec.replicas)" = 5 ] || fail "replicas changed by the rollout"
deploy_done web 5 >/dev/null || fail "web not done after rollout status: $(ctl get deploy web -o json | jq -c .status)"
RS2=$(ctl get rs -o json | jq -r '.items[] | select(.metadata.annotations["deployment.kubernetes.io/revision"] == "2") | .metadata.name')
[ -n "$RS2" ] && [ "$RS2" != "$RS1" ] || fail "no ReplicaSet of revision 2"
[ "$(ctl get rs "$RS1" -o json | jq .spec.replicas)" = 0 ] || fail "old RS $RS1 not scaled to 0"
wait_for 30 "only the 5 pods of $RS2 left" web_pods_all_of "$RS2"
for p in $(pods_json app=web | jq -r '.items[].metadata.name'); do
  pod_json "$p" | jq -e '.spec.containers[0] | .image == "busybox-v2" and .env[0].value == "two"' >/dev/null \
    || fail "$p runs the old template"
  wait_for 20 "$p logs v2" logs_say "$p" 'image=v2 ver=two'
done
pass "rollout to busybox-v2 (maxUnavailable 0): status exit 0, ready pods never below 5 (min $min over $(wc -l <"$T/ready.counts") changes), new pods run image v2"
track_pod_uids

# --- history, undo, restart ------------------------------------------------------
ctl rollout history deploy/web >"$T/history" || fail "rollout history"
revs() { awk 'NR > 2 && $1 ~ /^[0-9]+$/ { print $1 }' "$T/history" | tr '\n' ' '; }
grep -q '^REVISION *CHANGE-CAUSE' "$T/history" || fail "history: $(cat "$T/history")"
[ "$(revs)" = "1 2 " ] || fail "history revisions '$(revs)', want 1 2: $(cat "$T/history")"
pass "rollout history lists revisions 1 and 2"

ctl rollout undo deploy/web >"$T/undo.out" || fail "rollout undo: $(cat "$T/undo.out")"
grep -qx 'deployment.apps/web rolled back' "$T/undo.out" || fail "undo said: $(cat "$T/undo.out")"
ctl rollout status deploy/web --timeout 150s >"$T/rollout.out" 2>&1 || fail "rollout status after undo: $(cat "$T/rollout.out")"
ctl get deploy web -o json | jq -e '.metadata.annotations["deployment.kubernetes.io/revision"] == "3" and
  .spec.template.spec.containers[0].image == "busybox" and .spec.template.spec.containers[0].env[0].value == "one"' >/dev/null \
  || fail "after undo: $(ctl get deploy web -o json | jq -c '[.metadata.annotations, .spec.template.spec.containers[0]]')"
ctl get deploy web -o json | jq -e --argjson c "$(wl_container main busybox "$WL_LOOP" '[{"name":"VER","value":"one"}]')" \
  '.spec.template.spec.containers[0].command == $c.command' >/dev/null || fail "undo did not restore the command"
[ "$(ctl get rs "$RS1" -o json | jq -r '.metadata.annotations["deployment.kubernetes.io/revision"]')" = 3 ] \
  || fail "RS $RS1 is not revision 3"
wait_for 30 "only the 5 pods of $RS1 left" web_pods_all_of "$RS1"
for p in $(pods_json app=web | jq -r '.items[].metadata.name'); do
  wait_for 20 "$p logs v1" logs_say "$p" 'image=v1 ver=one'
done
ctl rollout history deploy/web >"$T/history" || fail "rollout history"
[ "$(revs)" = "2 3 " ] || fail "history after undo '$(revs)', want 2 3: $(cat "$T/history")"
pass "rollout undo: image, command and env back, as revision 3 (RS $RS1 re-used)"

OLD_PODS=$(pods_json app=web | jq -r '.items[].metadata.name' | sort)
ctl rollout restart deploy/web >"$T/restart.out" || fail "rollout restart: $(cat "$T/restart.out")"
grep -qx 'deployment.apps/web restarted' "$T/restart.out" || fail "restart said: $(cat "$T/restart.out")"
ctl get deploy web -o json | jq -e '.spec.template.metadata.annotations["kubectl.kubernetes.io/restartedAt"] | length > 0' >/dev/null \
  || fail "no restartedAt annotation"
ctl rollout status deploy/web --timeout 150s >"$T/rollout.out" 2>&1 || fail "rollout status after restart: $(cat "$T/rollout.out")"
[ "$(ctl get deploy web -o json | jq -r '.metadata.annotations["deployment.kubernetes.io/revision"]')" = 4 ] || fail "restart is not revision 4"
old_pods_gone() { [ -z "$(comm -12 <(echo "$OLD_PODS") <(pods_json app=web | jq -r '.items[].metadata.name' | sort))" ]; }
wait_for 30 "no pod of before the restart left" old_pods_gone
[ "$(pods_json app=web | jq '.items | length')" = 5 ] || fail "not 5 pods after restart"
pass "rollout restart: revision 4, every pod replaced"
track_pod_uids

# --- events ------------------------------------------------------------------------
wait_for 10 "ScalingReplicaSet event" events_have ScalingReplicaSet deployment/web
wait_for 10 "SuccessfulCreate event" events_have SuccessfulCreate "replicaset/$RS1"
ctl get events | grep -F deployment/web | grep -q "Scaled up replica set $RS1 to 5" || fail "no 'Scaled up ... to 5' event: $(ctl get events)"
ctl describe deploy web >"$T/describe" || fail "describe deploy web"
grep -q '^Events:' "$T/describe" || fail "describe has no Events: $(cat "$T/describe")"
grep -q 'ScalingReplicaSet.*Scaled up replica set' "$T/describe" || fail "describe lacks ScalingReplicaSet: $(cat "$T/describe")"
pass "get events / describe deploy show ScalingReplicaSet and SuccessfulCreate"

# --- delete --cascade=orphan --------------------------------------------------------
jq -n --argjson c "$(wl_container main busybox "$WL_LOOP")" '
  {apiVersion:"apps/v1",kind:"Deployment",metadata:{name:"orph"},
   spec:{replicas:1,selector:{matchLabels:{app:"orph"}},
         template:{metadata:{labels:{app:"orph"}},spec:{terminationGracePeriodSeconds:2,containers:[$c]}}}}' >"$T/orph.json"
wl_apply "$T/orph.json"
wait_for 60 "orph ready" deploy_done orph 1
ORS=$(rs_of_deploy orph)
OPOD=$(pods_json app=orph | jq -r '.items[0].metadata.name')
ctl delete deploy orph --cascade=orphan >/dev/null || fail "delete --cascade=orphan"
wait_for 20 "deployment orph gone" gone deploy orph
released() { ctl get rs "$ORS" -o json | jq -e '(.metadata.ownerReferences // []) | length == 0'; }
wait_for 20 "RS $ORS released" released
sleep_until=$(( $(date +%s) + 2 ))
while [ "$(date +%s)" -lt "$sleep_until" ]; do   # and it stays, with its pod
  ctl get rs "$ORS" -o json >/dev/null || fail "orphaned RS $ORS was deleted"
  pod_running "$OPOD" || fail "pod $OPOD of the orphaned RS stopped"
  sleep 0.2
done
pass "delete --cascade=orphan: RS $ORS stays with no ownerReference, its pod $OPOD runs"

# --- delete (Background): ReplicaSets, pods, processes go ------------------------
track_pod_uids
WPIDS=$(pids_of_pods app=web)
[ "$(wc -w <<<"$WPIDS")" = 5 ] || fail "found $(wc -w <<<"$WPIDS") processes for web's 5 pods"
ALLRS=$(rs_of_deploy web | tr '\n' ' ')
[ "$(wc -w <<<"$ALLRS")" -ge 2 ] || fail "web has only RSs: $ALLRS"
ctl delete deploy web | grep -q 'deployment.apps "web" deleted' || fail "delete deploy web"
web_gone() {
  for r in $ALLRS; do ctl get rs "$r" -o json >/dev/null 2>&1 && return 1; done
  [ "$(pods_json app=web | jq '.items | length')" = 0 ]
}
wait_for 60 "web's ReplicaSets and pods gone" web_gone
for p in $WPIDS; do wait_for 30 "process $p of web stopped" proc_gone "$p"; done
pass "delete deploy web: ReplicaSets ($ALLRS), 5 pods and their processes gone"

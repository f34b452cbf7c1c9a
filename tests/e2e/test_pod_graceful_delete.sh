#!/usr/bin/env bash
# test_pod_graceful_delete.sh: deleting a pod stops it gracefully, as in
# Kubernetes. The DELETE marks the pod (deletionTimestamp,
# deletionGracePeriodSeconds) and `berthctl get` shows it Terminating while
# its container gets SIGTERM and finishes its own shutdown; then the agent
# removes the object. `berthctl delete` waits for that by default, as
# kubectl does. --grace-period=0 --force deletes at once; an unscheduled
# pod goes at once too; a new pod of the same name is never deleted by the
# old one's agent (uid precondition).
source "$(dirname "$0")/agent_lib.sh"

API=$(free_port); RAFT=$(free_port)
SERVER="http://127.0.0.1:$API"
start_berthd s1 "$T/data" "$API" "$RAFT"
make_image
start_agent n1

# On TERM: say so, take 2 s to shut down, say done.
DRAIN='trap "echo got-term; sleep 2; echo drained; exit 0" TERM; echo up; while :; do sleep 1 & wait $!; done'
run_pod g busybox "$DRAIN" '{}' '{"terminationGracePeriodSeconds":20}'
wait_for 30 "g Running" pod_running g
PID=$(pod_pid g) || fail "no process for g"
ctl delete pod g --wait=false | grep -qx 'pod "g" deleted' || fail "delete output"
[ "$(pod_field g .metadata.deletionGracePeriodSeconds)" = 20 ] || fail "deletionGracePeriodSeconds: $(pod_json g)"
[ -n "$(pod_field g .metadata.deletionTimestamp)" ] || fail "no deletionTimestamp"
ctl get pod g 2>/dev/null | grep -q '^g .*Terminating' || fail "get: $(ctl get pod g 2>&1)"
pass "DELETE marks the pod: deletionTimestamp, deletionGracePeriodSeconds 20, shown Terminating"
wait_for 10 "got-term in the log" sh -c "\"$BIN/berthctl\" --server $SERVER logs g | grep -qx got-term"
kill -0 "$PID" 2>/dev/null || fail "the process died before its shutdown was done"
wait_for 20 "g gone" pod_gone g
! kill -0 "$PID" 2>/dev/null || fail "process $PID still there"
pass "the container got SIGTERM, finished its shutdown, then the agent removed the object"

# berthctl delete waits for the object to go (kubectl's default).
run_pod w busybox "$DRAIN" '{}' '{"terminationGracePeriodSeconds":20}'
wait_for 30 "w Running" pod_running w
t0=$(date +%s%N)
ctl delete pod w >/dev/null || fail "delete w"
pod_gone w || fail "berthctl delete returned before w was gone"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[ "$ms" -ge 1500 ] || fail "delete returned after $ms ms: did not wait for the 2 s shutdown"
pass "berthctl delete waited ${ms} ms until the pod was gone"

# --grace-period=0 --force: gone at once, the process killed.
run_pod f busybox "$DRAIN" '{}' '{"terminationGracePeriodSeconds":20}'
wait_for 30 "f Running" pod_running f
FPID=$(pod_pid f) || fail "no process for f"
ctl delete pod f --grace-period=0 --force >/dev/null 2>"$T/force.err" || fail "force delete"
grep -q "Immediate deletion does not wait" "$T/force.err" || fail "no warning: $(cat "$T/force.err")"
pod_gone f || fail "f still there after a forced delete"
wait_for 25 "f's process gone" sh -c "! kill -0 $FPID 2>/dev/null"
pass "--grace-period=0 --force: object gone at once, process stopped"

# An unscheduled pod has nothing to stop: deleted at once.
cat >"$T/pending.json" <<'JSON'
{"apiVersion":"v1","kind":"Pod","metadata":{"name":"pending"},
 "spec":{"nodeSelector":{"no":"such"},"containers":[{"name":"c","image":"busybox","command":["true"]}]}}
JSON
ctl apply -f "$T/pending.json" >/dev/null || fail "apply pending"
ctl delete pod pending --wait=false >/dev/null || fail "delete pending"
pod_gone pending || fail "an unscheduled pod was not deleted at once"
pass "an unscheduled pod is deleted at once"

# A pod re-created under the same name while the old one stops is left alone.
run_pod r busybox "$DRAIN" '{}' '{"terminationGracePeriodSeconds":20}'
wait_for 30 "r Running" pod_running r
OLD=$(pod_field r .metadata.uid)
ctl delete pod r --wait=false >/dev/null || fail "delete r"
code=$(api DELETE /api/v1/namespaces/default/pods/r '{"gracePeriodSeconds":0,"preconditions":{"uid":"not-its-uid"}}')
[ "$code" = 409 ] || fail "DELETE with a wrong uid precondition: HTTP $code $(cat "$T/body")"
pass "a DELETE with another uid as precondition gets 409"
wait_for 20 "r gone" pod_gone r
run_pod r busybox "$DRAIN" '{}' '{"terminationGracePeriodSeconds":20}'
wait_for 30 "new r Running" pod_running r
[ "$(pod_field r .metadata.uid)" != "$OLD" ] || fail "same uid"
pass "the old r went, a new r of the same name runs"

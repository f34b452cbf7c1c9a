#!/usr/bin/env bash
# test_workloads_jobs.sh: Jobs as a new user meets them (issue 4, "Must
# show"), on two agents. A Job with completions 3 and parallelism 2 runs
# never more than 2 pods at once and completes: status succeeded 3,
# condition Complete, completionTime set. A Job whose pod exits 3 with
# backoffLimit 1 retries once (after the 10 s back-off) and becomes Failed
# with reason BackoffLimitExceeded, with exactly 2 failed pods; an Event
# says so. Deleting a Job (Background) removes its pods.
source "$(dirname "$0")/workloads_lib.sh"

API=$(free_port); RAFT=$(free_port)
SERVER="http://127.0.0.1:$API"
start_berthd s1 "$T/data" "$API" "$RAFT"
make_image
start_agent n1
start_agent n2
pass "berthd and agents n1, n2 ready"

job_manifest() { # job_manifest NAME CMD COMPLETIONS PARALLELISM BACKOFF
  jq -n --arg n "$1" --argjson c "$(wl_container work busybox "$2")" --argjson comp "$3" --argjson par "$4" \
    --argjson bo "$5" '
    {apiVersion:"batch/v1",kind:"Job",metadata:{name:$n},
     spec:{completions:$comp,parallelism:$par,backoffLimit:$bo,
           template:{spec:{restartPolicy:"Never",terminationGracePeriodSeconds:1,containers:[$c]}}}}'
}
job_manifest batch 'echo working; sleep 2; echo done' 3 2 6 >"$T/batch.json"
job_manifest doomed 'echo failing; exit 3' 1 1 1 >"$T/doomed.json"
ctl apply -f "$T/batch.json" | grep -qx 'job.batch/batch created' || fail "apply job batch"
ctl apply -f "$T/doomed.json" | grep -qx 'job.batch/doomed created' || fail "apply job doomed"
BATCH_UID=$(uid_of job batch)
DOOMED_UID=$(uid_of job doomed)

# job_pods UID: the Job's pods (by controller ownerReference) as a JSON list.
job_pods() {
  ctl get pods -o json | jq -c --arg u "$1" '[.items[] | select(any(.metadata.ownerReferences[]?; .uid == $u and .controller))]'
}
# Polled until batch completes: its unfinished pods and status.active never
# exceed parallelism 2 (every poll checks; the max is kept).
MAX_ACTIVE=0; MAX_STATUS_ACTIVE=0; SEEN_TWO=0
batch_complete() {
  local pods active sa
  pods=$(job_pods "$BATCH_UID")
  active=$(jq '[.[] | select(.status.phase != "Succeeded" and .status.phase != "Failed")] | length' <<<"$pods")
  sa=$(ctl get job batch -o json | jq '.status.active // 0')
  [ "$active" -gt "$MAX_ACTIVE" ] && MAX_ACTIVE=$active
  [ "$sa" -gt "$MAX_STATUS_ACTIVE" ] && MAX_STATUS_ACTIVE=$sa
  [ "$active" = 2 ] && SEEN_TWO=1
  [ "$active" -le 2 ] && [ "$sa" -le 2 ] || fail "job batch runs $active pods (status.active $sa), parallelism is 2: $pods"
  ctl get job batch -o json | jq -e '.status.succeeded == 3 and any(.status.conditions[]?; .type == "Complete" and .status == "True")'
}
wait_for 120 "job batch Complete" batch_complete
[ "$SEEN_TWO" = 1 ] || fail "job batch never ran 2 pods at once"
ctl get job batch -o json >"$T/batch.out"
jq -e '.status.succeeded == 3 and (.status.active // 0) == 0 and (.status.failed // 0) == 0 and
       (.status.completionTime | length > 0)' "$T/batch.out" >/dev/null \
  || fail "job batch status: $(jq -c .status "$T/batch.out")"
[ "$(job_pods "$BATCH_UID" | jq '[.[] | select(.status.phase == "Succeeded")] | length')" = 3 ] \
  || fail "job batch has not 3 Succeeded pods: $(job_pods "$BATCH_UID" | jq -c '[.[].status.phase]')"
[ "$(job_pods "$BATCH_UID" | jq length)" = 3 ] || fail "job batch made more than 3 pods"
p=$(job_pods "$BATCH_UID" | jq -r '.[0].metadata.name')
logs_say "$p" done || fail "pod $p of batch did not log 'done': $(ctl logs "$p")"
ctl get jobs | grep -q '^batch .*3/3' || fail "get jobs: $(ctl get jobs)"
pass "job batch: 3 completions, at most $MAX_ACTIVE pods running at once (status.active <= $MAX_STATUS_ACTIVE), Complete"
track_pod_uids

# The failing Job: its first pod fails, the retry comes after a 10 s
# back-off, the second failure exceeds backoffLimit 1.
doomed_failed() {
  ctl get job doomed -o json | jq -e 'any(.status.conditions[]?; .type == "Failed" and .status == "True")'
}
wait_for 90 "job doomed Failed" doomed_failed
ctl get job doomed -o json >"$T/doomed.out"
jq -e '.status.conditions[] | select(.type == "Failed") | .reason == "BackoffLimitExceeded" and (.message | length > 0)' \
  "$T/doomed.out" >/dev/null || fail "Failed condition: $(jq -c .status.conditions "$T/doomed.out")"
jq -e '.status.failed == 2 and (.status.succeeded // 0) == 0 and (.status.active // 0) == 0' "$T/doomed.out" >/dev/null \
  || fail "job doomed status: $(jq -c .status "$T/doomed.out")"
pods=$(job_pods "$DOOMED_UID")
[ "$(jq length <<<"$pods")" = 2 ] || fail "job doomed has $(jq length <<<"$pods") pods, want 2"
[ "$(jq '[.[] | select(.status.phase == "Failed" and .status.containerStatuses[0].state.terminated.exitCode == 3)] | length' <<<"$pods")" = 2 ] \
  || fail "doomed's pods did not both fail with exit code 3: $(jq -c '[.[].status]' <<<"$pods")"
# The retry waited for the back-off (10 s; timestamps have 1 s resolution).
gap=$(jq '[.[].metadata.creationTimestamp | fromdateiso8601] | sort | .[1] - .[0]' <<<"$pods")
[ "$gap" -ge 9 ] || fail "doomed's second pod came ${gap} s after the first, want the 10 s back-off"
wait_for 10 "BackoffLimitExceeded event" events_have BackoffLimitExceeded job/doomed
# It stays Failed: no third pod.
deadline=$(( $(date +%s) + 3 ))
while [ "$(date +%s)" -lt "$deadline" ]; do
  [ "$(job_pods "$DOOMED_UID" | jq length)" = 2 ] || fail "job doomed made another pod after Failed"
  sleep 0.3
done
pass "job doomed (exit 3, backoffLimit 1): retried after ${gap} s, Failed, BackoffLimitExceeded, 2 failed pods"
track_pod_uids

# Deleting a Job (Background) deletes its pods.
ctl delete job batch | grep -q 'job.batch "batch" deleted' || fail "delete job batch"
batch_pods_gone() { [ "$(job_pods "$BATCH_UID" | jq length)" = 0 ]; }
wait_for 30 "batch's pods gone" batch_pods_gone
pass "delete job batch: its pods are garbage-collected"

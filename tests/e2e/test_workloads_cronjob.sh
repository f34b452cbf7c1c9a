#!/usr/bin/env bash
# test_workloads_cronjob.sh: a CronJob as a new user meets it (issue 4, "Must
# show"). A `* * * * *` CronJob makes a Job within 75 s (at the next minute,
# on the wall clock: this test waits up to that long), owned by the CronJob;
# its pod runs and the Job completes; the CronJob's status records the run
# and an Event says "Created job". Deleting the CronJob (Background)
# removes its Job and pods.
source "$(dirname "$0")/workloads_lib.sh"

API=$(free_port); RAFT=$(free_port)
SERVER="http://127.0.0.1:$API"
start_berthd s1 "$T/data" "$API" "$RAFT"
make_image
start_agent n1
pass "berthd and agent n1 ready"

cat >"$T/cron.yaml" <<'YAML'
apiVersion: batch/v1
kind: CronJob
metadata:
  name: tick
spec:
  schedule: "* * * * *"
  jobTemplate:
    spec:
      backoffLimit: 0
      template:
        spec:
          restartPolicy: Never
          terminationGracePeriodSeconds: 1
          containers:
            - name: tick
              image: busybox
              command: ["sh", "-c", "echo tick from cron"]
              resources:
                requests: {cpu: 50m, memory: 16Mi}
YAML
ctl apply -f "$T/cron.yaml" | grep -qx 'cronjob.batch/tick created' || fail "apply cronjob"
T0=$(date +%s)
CJ_UID=$(uid_of cronjob tick)
ctl get cronjobs | grep -q '^tick  *\* \* \* \* \*' || fail "get cronjobs: $(ctl get cronjobs)"

cj_jobs() {
  ctl get jobs -o json | jq -c --arg u "$CJ_UID" '[.items[] | select(any(.metadata.ownerReferences[]?; .uid == $u and .controller))]'
}
has_job() { [ "$(cj_jobs | jq length)" -ge 1 ]; }
wait_for 75 "the CronJob makes a Job" has_job
took=$(( $(date +%s) - T0 ))
JOB=$(cj_jobs | jq -r '.[0].metadata.name')
[[ "$JOB" =~ ^tick-[0-9]+$ ]] || fail "job name $JOB, want tick-<scheduled minute>"
pass "cronjob tick made job $JOB after ${took} s"
track_pod_uids

job_complete() {
  ctl get job "$JOB" -o json | jq -e '.status.succeeded == 1 and any(.status.conditions[]?; .type == "Complete" and .status == "True")'
}
wait_for 60 "job $JOB Complete" job_complete
JOB_UID=$(uid_of job "$JOB")
POD=$(pods_owned_by "$JOB_UID" | head -1)
[ -n "$POD" ] || fail "job $JOB has no pod"
logs_say "$POD" 'tick from cron' || fail "pod $POD logs: $(ctl logs "$POD")"
ctl get cronjob tick -o json | jq -e '.status.lastScheduleTime | length > 0' >/dev/null \
  || fail "cronjob status: $(ctl get cronjob tick -o json | jq -c .status)"
wait_for 10 "'Created job' event" sh -c "\"$BIN/berthctl\" --server $SERVER get events | grep -F cronjob/tick | grep -F SuccessfulCreate | grep -qF 'Created job $JOB'"
pass "job $JOB ran its pod $POD to completion; status.lastScheduleTime set; SuccessfulCreate event"
track_pod_uids

ctl delete cronjob tick >/dev/null || fail "delete cronjob"
cron_gone() { gone job "$JOB" && gone pod "$POD" && [ "$(cj_jobs | jq length)" = 0 ]; }
wait_for 30 "the CronJob's job and pod gone" cron_gone
pass "delete cronjob tick: its job and pod are garbage-collected"

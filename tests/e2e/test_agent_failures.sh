#!/usr/bin/env bash
# test_agent_failures.sh: containers that fail, and what a user sees of it.
# Over its memory limit: terminated, reason OOMKilled (exit 137). A failing
# liveness probe restarts the container (restartCount grows, Unhealthy
# event). restartPolicy Never: a failed container stays terminated with its
# exit code, phase Failed. OnFailure: exit 0 ends Succeeded, exit 1 restarts
# with back-off. Command not found: terminated with exit code 127 and a
# message. Unknown image: Waiting/ErrImageNotFound and an Event in
# `berthctl get events`. A bystander pod is not disturbed by any of it.
source "$(dirname "$0")/agent_lib.sh"

API=$(free_port); RAFT=$(free_port)
SERVER="http://127.0.0.1:$API"
start_berthd s1 "$T/data" "$API" "$RAFT"
make_image
start_agent n1 --backoff-base-ms 200

NEVER='{"restartPolicy":"Never","terminationGracePeriodSeconds":1}'
ONFAIL='{"restartPolicy":"OnFailure","terminationGracePeriodSeconds":1}'
run_pod bystander busybox 'trap "exit 0" TERM; while :; do sleep 0.2; done' '{}' '{"terminationGracePeriodSeconds":1}'
wait_for 30 "bystander Running" pod_running bystander
BPID=$(pod_pid bystander) || fail "no bystander process"

# All at once: the agent handles them side by side.
run_pod oom busybox 'echo filling; tail /dev/zero' '{"resources":{"limits":{"memory":"16Mi"}}}' "$NEVER"
run_pod live busybox 'touch /tmp/healthy; sleep 1; rm /tmp/healthy; sleep 1000' \
  '{"livenessProbe":{"exec":{"command":["cat","/tmp/healthy"]},"periodSeconds":1,"failureThreshold":1,"timeoutSeconds":1}}' \
  '{"terminationGracePeriodSeconds":1}'
run_pod never busybox 'echo failing; exit 3' '{}' "$NEVER"
run_pod onfail-ok busybox 'echo done; exit 0' '{}' "$ONFAIL"
run_pod onfail-bad busybox 'echo crash; exit 1' '{}' "$ONFAIL"
run_pod notfound busybox unused '{"command":["/bin/no-such-command"]}' "$NEVER"
run_pod notinpath busybox unused '{"command":["no-such-command"]}' "$NEVER"
run_pod noimage no-such-image 'true' '{}' "$NEVER"

st() { pod_field "$1" ".status.containerStatuses[0].$2"; }
terminated() { [ "$(st "$1" 'state.terminated.exitCode // empty')" != "" ]; }

# OOM kill.
wait_for 30 "oom terminated" terminated oom
[ "$(st oom state.terminated.reason)" = OOMKilled ] || fail "oom: $(st oom state | jq -c .)"
[ "$(st oom state.terminated.exitCode)" = 137 ] || fail "oom exit code $(st oom state.terminated.exitCode)"
wait_for 10 "oom phase Failed" pod_phase_is oom Failed
ctl get pod oom | grep -q '^oom .*OOMKilled' || fail "get pod oom: $(ctl get pod oom)"
pass "over its 16Mi limit: terminated OOMKilled, exit 137, phase Failed"

# restartPolicy Never and a non-zero exit.
wait_for 20 "never terminated" terminated never
[ "$(st never state.terminated.exitCode)" = 3 ] || fail "never: $(st never state | jq -c .)"
[ "$(st never state.terminated.reason)" = Error ] || fail "never reason: $(st never state.terminated.reason)"
wait_for 10 "never phase Failed" pod_phase_is never Failed
ctl logs never | grep -qx failing || fail "logs of a terminated container: $(ctl logs never)"
pass "restartPolicy Never: exit 3, reason Error, phase Failed, logs kept"

# OnFailure: success ends the pod, failure restarts it with back-off.
wait_for 20 "onfail-ok Succeeded" pod_phase_is onfail-ok Succeeded
[ "$(st onfail-ok state.terminated.exitCode)" = 0 ] && [ "$(st onfail-ok state.terminated.reason)" = Completed ] \
  || fail "onfail-ok: $(st onfail-ok state | jq -c .)"
restarts_at_least() { [ "$(st "$1" restartCount)" -ge "$2" ]; }
wait_for 30 "onfail-bad restarted twice" restarts_at_least onfail-bad 2
[ "$(st onfail-bad lastState.terminated.exitCode)" = 1 ] || fail "onfail-bad lastState: $(st onfail-bad lastState | jq -c .)"
pod_phase_is onfail-bad Running || pod_phase_is onfail-bad Pending || fail "onfail-bad phase $(pod_field onfail-bad .status.phase)"
pass "restartPolicy OnFailure: exit 0 -> Succeeded; exit 1 -> restarted $(st onfail-bad restartCount) times"

# Command not found.
wait_for 20 "notfound terminated" terminated notfound
[ "$(st notfound state.terminated.exitCode)" = 127 ] || fail "notfound: $(st notfound state | jq -c .)"
msg=$(st notfound 'state.terminated.message // ""')
echo "$msg" | grep -q 'no-such-command' || fail "notfound message does not name the command: '$msg'"
wait_for 20 "notinpath terminated" terminated notinpath
[ "$(st notinpath state.terminated.exitCode)" = 127 ] || fail "notinpath: $(st notinpath state | jq -c .)"
msg2=$(st notinpath 'state.terminated.message // ""')
echo "$msg2" | grep -q 'no-such-command' || fail "notinpath message does not name the command: '$msg2'"
pass "command not found: exit 127, messages '$msg' and '$msg2'"

# Unknown image.
waiting_reason() { [ "$(st "$1" 'state.waiting.reason // empty')" = "$2" ]; }
wait_for 20 "noimage ErrImageNotFound" waiting_reason noimage ErrImageNotFound
pod_phase_is noimage Pending || fail "noimage phase $(pod_field noimage .status.phase)"
st noimage state.waiting.message | grep -q 'no-such-image' || fail "noimage message: $(st noimage state.waiting.message)"
wait_for 10 "ErrImageNotFound event" sh -c "\"$BIN/berthctl\" --server $SERVER get events | grep 'pod/noimage' | grep -q 'no-such-image'"
ctl describe pod noimage | grep -q ErrImageNotFound || fail "describe noimage: $(ctl describe pod noimage)"
pass "unknown image: Waiting ErrImageNotFound, event: $(ctl get events | grep pod/noimage | head -1)"

# Liveness probe failure restarts the container.
wait_for 40 "live restarted by its liveness probe" restarts_at_least live 1
wait_for 10 "Unhealthy event" sh -c "\"$BIN/berthctl\" --server $SERVER get events | grep 'pod/live' | grep -q Unhealthy"
wait_for 20 "live Running again" pod_running live
pass "liveness probe failure: restartCount $(st live restartCount), Unhealthy event"

# The bystander never noticed.
[ "$(pod_pid bystander)" = "$BPID" ] && [ "$(st bystander restartCount)" = 0 ] && pod_running bystander \
  || fail "bystander disturbed: pid $(pod_pid bystander) (was $BPID), restarts $(st bystander restartCount)"
# Never pods stay put: no restart of the failed ones.
[ "$(st never restartCount)" = 0 ] && [ "$(st oom restartCount)" = 0 ] && [ "$(st notfound restartCount)" = 0 ] \
  || fail "a restartPolicy Never pod was restarted"
pass "bystander undisturbed; Never pods not restarted"

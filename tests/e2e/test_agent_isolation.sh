#!/usr/bin/env bash
# test_agent_isolation.sh: a pod applied with berthctl runs on the agent as an
# isolated, limited process. Its shell is pid 1 of its own PID namespace (as
# `berthctl logs` shows), it has its own mount namespace and hostname, its
# cgroup's CPU quota equals its 500m limit (50000 per 100000 us period) and
# memory limit its 64Mi; `berthctl logs` shows its output, with --tail and -f;
# `berthctl delete pod` stops the process and removes the object, its cgroup
# and its container state.
source "$(dirname "$0")/agent_lib.sh"

API=$(free_port); RAFT=$(free_port)
SERVER="http://127.0.0.1:$API"
start_berthd s1 "$T/data" "$API" "$RAFT"
make_image
start_agent n1

# Prints its pid and hostname, then a numbered line every 0.2 s; exits on TERM.
# ($$$$: Kubernetes turns $$ into $ in a command, so the shell sees $$.)
run_pod iso busybox 'echo "pid=$$$$"; echo "host=$(hostname)"; i=0; trap "echo bye; exit 0" TERM
  while :; do i=$((i+1)); echo "line $i"; sleep 0.2; done' \
  '{"resources":{"limits":{"cpu":"500m","memory":"64Mi"}}}' '{"terminationGracePeriodSeconds":5}'
wait_for 30 "iso Running" pod_running iso
ctl get pod iso | grep -q '^iso .*1/1 .*Running' || fail "get pod: $(ctl get pod iso)"
[ "$(pod_field iso .spec.nodeName)" = n1 ] || fail "not on n1"
[ "$(pod_field iso .status.hostIP)" = 127.0.0.1 ] || fail "hostIP: $(pod_field iso .status.hostIP)"
pod_json iso | jq -e '[.status.conditions[] | select(.status == "True") | .type] | sort
  == ["ContainersReady","Initialized","PodScheduled","Ready"]' >/dev/null \
  || fail "conditions: $(pod_json iso | jq -c .status.conditions)"
pass "pod Running on n1 with all four conditions True"

wait_for 10 "logs show the pid line" sh -c "\"$BIN/berthctl\" --server $SERVER logs iso | grep -qx 'pid=1'"
ctl logs iso | grep -qx 'host=iso' || fail "hostname is not the pod name: $(ctl logs iso | head -3)"
pass "berthctl logs: the shell is pid 1 of its PID namespace, hostname = pod name"

PID=$(pod_pid iso) || fail "no process in the pod's cgroup"
[ "$(readlink /proc/$PID/ns/pid)" != "$(readlink /proc/self/ns/pid)" ] || fail "same pid namespace as the host"
[ "$(readlink /proc/$PID/ns/mnt)" != "$(readlink /proc/self/ns/mnt)" ] || fail "same mount namespace as the host"
[ "$(readlink /proc/$PID/ns/uts)" != "$(readlink /proc/self/ns/uts)" ] || fail "same uts namespace as the host"
[ "$(readlink /proc/$PID/ns/ipc)" != "$(readlink /proc/self/ns/ipc)" ] || fail "same ipc namespace as the host"
[ -x "/proc/$PID/root/bin/busybox" ] && [ ! -e "/proc/$PID/root/usr/bin/python3" ] || fail "root is not the busybox image"
pass "host pid $PID: own pid, mnt, uts and ipc namespaces; root is the image"

cpu_cg=$(awk -F: '$2 ~ /(^|,)cpu(,|$)/ { print $3 }' "/proc/$PID/cgroup")
mem_cg=$(awk -F: '$2 ~ /(^|,)memory(,|$)/ { print $3 }' "/proc/$PID/cgroup")
case "$cpu_cg" in */berth/pod-*) ;; *) fail "process not in a berth pod cgroup: $cpu_cg" ;; esac
quota=$(cat "/sys/fs/cgroup/cpu$cpu_cg/cpu.cfs_quota_us")
period=$(cat "/sys/fs/cgroup/cpu$cpu_cg/cpu.cfs_period_us")
[ "$quota" = 50000 ] && [ "$period" = 100000 ] || fail "cpu quota $quota / period $period, want 50000 / 100000"
mem=$(cat "/sys/fs/cgroup/memory$mem_cg/memory.limit_in_bytes")
[ "$mem" = $((64 * 1024 * 1024)) ] || fail "memory limit $mem, want 64Mi"
pass "cgroup $cpu_cg: cpu.cfs_quota_us $quota per $period (500m), memory limit 64Mi"

# --tail N gives the last N lines; -f follows new output.
wait_for 10 "10 numbered lines" sh -c "\"$BIN/berthctl\" --server $SERVER logs iso | grep -q '^line 10\$'"
ctl logs iso --tail 3 >"$T/tail"
[ "$(wc -l <"$T/tail")" = 3 ] || fail "--tail 3 gave $(wc -l <"$T/tail") lines: $(cat "$T/tail")"
last=$(sed -n 3p "$T/tail" | awk '{print $2}')
[ "$(sed -n 1p "$T/tail")" = "line $((last - 2))" ] || fail "--tail 3 not consecutive last lines: $(cat "$T/tail")"
ctl logs iso -f --tail 1 >"$T/follow" 2>&1 &
FPID=$!; PIDS+=("$FPID")
n0=$(awk '{print $2}' "$T/tail" | tail -1)
wait_for 10 "-f shows lines written after it started" sh -c "grep -q '^line $((n0 + 5))\$' '$T/follow'"
kill -0 "$FPID" 2>/dev/null || fail "logs -f exited while the container runs"
pass "logs --tail 3 and logs -f (follow reached line $((n0 + 5)))"

# delete pod: the process stops (SIGTERM: the trap prints bye), the object,
# the cgroup and the container state go.
uid=$(pod_field iso .metadata.uid)
ctl delete pod iso | grep -q 'pod "iso" deleted' || fail "delete output"
wait_for 15 "process $PID gone" sh -c "! kill -0 $PID 2>/dev/null"
wait_for 15 "pod object gone" pod_gone iso
wait_for 10 "follow ends when the container stops" sh -c "! kill -0 $FPID 2>/dev/null"
grep -qx bye "$T/follow" || fail "the container did not get SIGTERM first: $(tail -3 "$T/follow")"
wait_for 10 "pod cgroup removed" sh -c "[ -z \"\$(find /sys/fs/cgroup -maxdepth 7 -type d -path '*/berth/pod-$uid' 2>/dev/null)\" ]"
wait_for 10 "container state removed" sh -c "[ -z \"\$(ls '$T/agent-n1/containers')\" ]"
ctl get pods | grep -q '^iso ' && fail "get pods still lists iso"
pass "delete pod: SIGTERM, process gone, object, cgroup and state removed"

#!/usr/bin/env bash
# test_ha_recover.sh: lost quorum, recovered by a command. Three servers on
# their own machines; two are killed for good. The survivor cannot commit
# (503, never a hang); restarted with --recover it is a one-member cluster
# with all its data; a dead member started on its old data finds it is no
# longer a member and stops itself (exit 0); the others rejoin with --join
# after wiping their data dirs and catch up.
source "$(dirname "$0")/lib.sh"
NN_NET=73
source "$(dirname "$0")/ha_lib.sh"

cm() { jq -n --arg n "$1" '{apiVersion:"v1",kind:"ConfigMap",metadata:{name:$n},data:{k:$n}}'; }
create_cm() { curl -fsS -m "${3:-5}" -o /dev/null -X POST -H 'Content-Type: application/json' --data "$(cm "$2")" "$(nn_url "$1")/api/v1/namespaces/default/configmaps"; }
has_cm() { curl -fsS -m 3 -o /dev/null "$(nn_url "$1")/api/v1/namespaces/default/configmaps/$2?resourceVersion=0"; }

nn_setup 3
ha_servers 3
for i in $(seq 1 20); do create_cm 2 "before-$i" || fail "create before-$i"; done
wait_for 10 "s1 has the writes" has_cm 1 before-20
pass "3 servers, 20 objects written"

nn_kill 2; nn_kill 3
t0=$(date +%s%N)
code=$(curl -sS -m 10 -o "$T/body" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
  --data "$(cm lost-quorum)" "$(nn_url 1)/api/v1/namespaces/default/configmaps" || true)
el=$(( ($(date +%s%N) - t0) / 1000000 ))
[ "$code" = 503 ] || fail "a write without quorum got HTTP $code, want 503: $(head -c 300 "$T/body")"
[ "$el" -lt 9000 ] || fail "a write without quorum took ${el} ms to fail"
pass "s2 and s3 killed for good: a write on s1 fails with 503 after ${el} ms"

kill -TERM "${NN_PID[1]}"; wait "${NN_PID[1]}" || fail "s1 did not stop cleanly"
nn_berthd 1 s1 "${HA_FLAGS[@]}" --recover
grep -q "recovered: the configuration is now this member alone" "$T/s1.log" || fail "no recovery message"
create_cm 1 after-recover || fail "write after --recover"
has_cm 1 before-20 || fail "data lost by --recover"
[ "$(curl -fsS "$(nn_url 1)/cluster/members" | jq '.members | length')" = 1 ] || fail "not one member"
pass "s1 --recover: one-member cluster with its data, accepts writes"

# s3 on its old data dir: no longer a member, it stops itself
nn_run 3 s3-old "$BIN/berthd" --name s3 --data-dir "$T/data-s3" --listen 0.0.0.0:7070 \
  --advertise "$(nn_ip 3)" --raft "$(nn_ip 3):7071" "${HA_FLAGS[@]}"
OLD=${NN_PID[3]}
wait_for 20 "s3 on old data stops itself" sh -c "! kill -0 $OLD 2>/dev/null"
rc=0; wait "$OLD" || rc=$?
[ "$rc" = 0 ] || fail "s3 on old data exited with $rc"
grep -q "removed from the cluster" "$T/s3-old.log" || fail "s3 did not say why it stopped"
NN_PID[3]=""
[ "$(ha_state 1)" = leader ] || fail "s1 lost leadership to the old member"
pass "s3 started on its old data found it is no longer a member and stopped (exit 0)"

for i in 2 3; do
  rm -rf "$T/data-s$i"
  nn_berthd "$i" "s$i" "${HA_FLAGS[@]}" --join "$(nn_url 1)"
done
wait_for 30 "3 voters after rejoining" ha_voters_are 3
for i in 2 3; do
  wait_for 20 "s$i caught up" ha_caught_up "$i"
  has_cm "$i" before-1 && has_cm "$i" after-recover || fail "s$i misses data after rejoining"
done
"$BIN/berthctl" --server "$(nn_url 3)" cluster members
pass "s2 and s3 rejoined with --join after wiping their data; all data everywhere"

#!/usr/bin/env bash
# test_ha_membership.sh: voters, standbys and removal, on loopback. With
# --voters 3, a fourth server that joins stays a standby; restarting it on
# its data dir (with --join still given) neither bootstraps nor joins again.
# A voter killed for longer than the grace period is replaced by the
# standby (which becomes a voter; the lost one a standby). `cluster remove`
# takes out the dead member, and a live member, which then stops itself
# with exit 0. The leader cannot remove itself.
source "$(dirname "$0")/lib.sh"

declare -a API RAFT PID
for i in 1 2 3 4; do API[$i]=$(free_port); RAFT[$i]=$(free_port); done
url() { echo "http://127.0.0.1:${API[$1]}"; }
FLAGS=(--voters 3 --voter-grace-s 2 --election-timeout-ms 300 --heartbeat-ms 50)
start_berthd s1 "$T/d1" "${API[1]}" "${RAFT[1]}" "${FLAGS[@]}"; PID[1]=$SERVER_PID
for i in 2 3 4; do
  start_berthd "s$i" "$T/d$i" "${API[$i]}" "${RAFT[$i]}" "${FLAGS[@]}" --join "$(url 1)"; PID[$i]=$SERVER_PID
done
SERVER=$(url 1)
members() { curl -fsS -m 3 "$SERVER/cluster/members"; }
role_of() { members | jq -r --arg n "$1" '.members[] | select(.name==$n) | .role'; }
role_is() { [ "$(role_of "$1")" = "$2" ]; }
wait_for 20 "s4 standby" role_is s4 standby
for i in 1 2 3; do role_is "s$i" voter || fail "s$i is $(role_of "s$i")"; done
ctl cluster members -o json | jq -e '.leader and (.members | length == 4) and all(.members[]; .name and .id and .address and .api and .role)' >/dev/null \
  || fail "cluster members -o json: $(ctl cluster members -o json)"
pass "--voters 3: s1-s3 voters, s4 standby"

kill -TERM "${PID[4]}"; wait "${PID[4]}" || true
before=$(grep -c "join" "$T/s4.log" || true)
start_berthd s4 "$T/d4" "${API[4]}" "${RAFT[4]}" "${FLAGS[@]}" --join "$(url 1)"; PID[4]=$SERVER_PID
[ "$(grep -c "join" "$T/s4.log" || true)" = "$before" ] || fail "s4 sent a join request again after a restart"
grep -q "bootstrapped" <(sed -n "$((before + 1)),\$p" "$T/s4.log") && fail "s4 bootstrapped on restart"
wait_for 10 "s4 standby again" role_is s4 standby
pass "s4 restarted on its data dir: no bootstrap, no join, still standby"

leader=$(members | jq -r .leader)
victim=""; for i in 2 3 1; do [ "s$i" != "$leader" ] && { victim=$i; break; }; done
kill -9 "${PID[$victim]}"; wait "${PID[$victim]}" 2>/dev/null || true
wait_for 30 "s4 promoted, s$victim demoted" sh -c "[ \"\$(curl -fsS $(url 4)/cluster/members | jq -r '.members[] | select(.name==\"s4\") | .role')\" = voter ] && [ \"\$(curl -fsS $(url 4)/cluster/members | jq -r '.members[] | select(.name==\"s$victim\") | .role')\" = standby ]"
pass "voter s$victim lost for longer than the grace period: standby s4 is a voter, s$victim a standby"

SERVER=$(url 4)
ctl cluster remove "s$victim" | grep -q removed || fail "remove s$victim"
members | jq -e --arg n "s$victim" '[.members[].name] | index($n) == null' >/dev/null || fail "s$victim still listed"
live=""; for i in 1 2 3; do [ "$i" != "$victim" ] && [ "s$i" != "$leader" ] && live=$i; done
ctl cluster remove "s$live" | grep -q removed || fail "remove s$live"
wait_for 20 "s$live stops itself" sh -c "! kill -0 ${PID[$live]} 2>/dev/null"
rc=0; wait "${PID[$live]}" || rc=$?
[ "$rc" = 0 ] || fail "removed s$live exited with $rc"
grep -q "removed from the cluster" "$T/s$live.log" || fail "s$live did not say why it stopped"
pass "cluster remove: dead s$victim and live s$live removed; s$live stopped itself (exit 0)"

out=$(ctl cluster remove "$leader" 2>&1) && fail "removing the leader succeeded"
grep -q "raft leader" <<<"$out" || fail "unclear refusal: $out"
out=$(ctl cluster remove nosuch 2>&1) && fail "removing an unknown member succeeded"
grep -q "not found" <<<"$out" || fail "removing an unknown member: $out"
pass "the leader cannot be removed; an unknown name is NotFound"

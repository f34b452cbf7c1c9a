#!/usr/bin/env bash
# test_ha_stop_under_load.sh: SIGTERM to servers of a three-member cluster
# while a create load runs through them. First a follower that is
# forwarding creates to the leader, then the leader itself. Each must exit 0
# within a deadline with no sanitizer report; the other members go on
# (a new leader is elected after the leader stops), and every create
# acknowledged before, during and after is there at the end.
source "$(dirname "$0")/lib.sh"
NN_NET=75
source "$(dirname "$0")/ha_lib.sh"
PY="python3 $SRC/tests/e2e/ha_client.py"

nn_setup 3
ha_servers 3
pass "3 servers: s1 bootstrapped, s2 and s3 joined as voters"

# term_and_wait I: SIGTERM to server I under load (term_clean in lib.sh).
term_and_wait() { term_clean "${NN_PID[$1]}" "s$1"; NN_PID[$1]=""; }
acked_lines() { wc -l <"$1" 2>/dev/null || echo 0; }

ha_wait_leader 10
L=$HA_LEADER
F=$(( L % 3 + 1 ))         # a follower: the load goes through it first
O=$(( F % 3 + 1 )); [ "$O" = "$L" ] && O=$(( O % 3 + 1 ))   # the third member

# 1. A follower forwarding a load to the leader.
$PY load --urls "$(nn_url "$F")" --prefix fwd --threads 12 --duration 60 --timeout 5 \
  --stop-file "$T/stop1" --out "$T/acked1" >"$T/load1.out" 2>&1 &
LOAD=$!; PIDS+=("$LOAD")
objects() { curl -fsS "$(nn_url "$L")/metrics" | awk '/^berth_store_objects /{print $2}'; }
wait_for 30 "300 creates through s$F" bash -c "[ \"\$(curl -fsS $(nn_url "$L")/metrics | awk '/^berth_store_objects /{print \$2}')\" -ge 300 ]"
term_and_wait "$F"
pass "follower s$F stopped by SIGTERM while forwarding creates: exit 0"
touch "$T/stop1"; wait "$LOAD" || true

# 2. The leader, under a load sent to it and to the third member.
$PY load --urls "$(nn_url "$L"),$(nn_url "$O")" --prefix lead --threads 12 --duration 60 \
  --timeout 5 --stop-file "$T/stop2" --out "$T/acked2" >"$T/load2.out" 2>&1 &
LOAD=$!; PIDS+=("$LOAD")
base=$(objects)
wait_for 30 "300 more creates" bash -c "[ \"\$(curl -fsS $(nn_url "$L")/metrics | awk '/^berth_store_objects /{print \$2}')\" -ge $((base + 300)) ]"
term_and_wait "$L"
pass "leader s$L stopped by SIGTERM under load: exit 0"

# The two that are left (s$O and the restarted follower) make a majority.
nn_berthd "$F" "s$F" "${HA_FLAGS[@]}" --join "$(nn_url "$O")"
ha_wait_leader 20 "$L"
# A new name each try: a try answered 503 during the election may still
# have been committed, and a retry with its name would get 409.
write_ok() {
  local code
  code=$(curl -s -m 5 -o "$T/after.out" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
    -d "{\"metadata\":{\"name\":\"after-stop-$(date +%s%N)\"}}" \
    "$(nn_url "$O")/api/v1/namespaces/default/configmaps")
  echo "$code $(head -c 200 "$T/after.out")" >>"$T/after.log"
  [ "$code" = 201 ]
}
(wait_for 30 "writes accepted after the leader stopped" write_ok) ||
  fail "the last tries through s$O (HTTP code, body): $(tail -5 "$T/after.log")"
touch "$T/stop2"; wait "$LOAD" || true
pass "s$F back; a new leader (s$HA_LEADER) takes writes"

for f in acked1 acked2; do
  [ "$(acked_lines "$T/$f")" -ge 100 ] || fail "$f: only $(acked_lines "$T/$f") creates acknowledged"
  out=$($PY check --url "$(nn_url "$O")" --prefix x --acked "$T/$f") || fail "$f: acknowledged creates lost: $out"
  pass "$f: $out"
done

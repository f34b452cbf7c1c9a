#!/usr/bin/env bash
# test_ha_linearizability.sh: clients doing reads and conditional writes
# (PUT with resourceVersion) through all three servers while, for 20 rounds,
# the leader is killed -9 (then restarted), cut off the network (then
# healed) or paused with SIGSTOP (then resumed). linearizability.py checks
# the histories: no acknowledged write lost, no refused write applied, no
# read of a value that was never committed, and real-time order kept.
source "$(dirname "$0")/lib.sh"
NN_NET=72
source "$(dirname "$0")/ha_lib.sh"

ROUNDS=${HA_ROUNDS:-20}
nn_setup 3
ha_servers 3
pass "3 servers up"

python3 "$SRC/tests/e2e/linearizability.py" --urls "$(ha_urls)" --stop-file "$T/stop" \
  --clients 6 --keys 3 >"$T/lin.out" 2>&1 &
LIN=$!
wait_for 30 "clients running" grep -q "clients running" "$T/lin.out"

faults=(kill cut stop)
for r in $(seq 1 "$ROUNDS"); do
  ha_wait_leader 15
  L=$HA_LEADER
  f=${faults[$(( (r - 1) % 3 ))]}
  case $f in
    kill) nn_kill "$L" ;;
    cut) nn_cut "$L" ;;
    stop) nn_stop "$L" ;;
  esac
  t0=$(date +%s%N)
  ha_wait_leader 15 "$L"
  el=$(( ($(date +%s%N) - t0) / 1000000 ))
  case $f in
    kill) nn_berthd "$L" "s$L" "${HA_FLAGS[@]}" ;;
    cut) nn_heal "$L" ;;
    stop) nn_cont "$L" ;;
  esac
  wait_for 30 "s$L back and caught up" ha_caught_up "$L"
  echo "round $r: $f s$L, s$HA_LEADER leads after ${el} ms; s$L back"
done
touch "$T/stop"
rc=0; wait "$LIN" || rc=$?
cat "$T/lin.out"
[ "$rc" = 0 ] || fail "linearizability violations (see above)"
pass "$ROUNDS rounds of kill/cut/pause of the leader: histories are linearizable, no acknowledged write lost"

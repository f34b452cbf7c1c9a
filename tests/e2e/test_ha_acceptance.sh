#!/usr/bin/env bash
# test_ha_acceptance.sh: issue 5's acceptance, as a new user would try it.
# Three servers and two agents, each on its own "machine" (network
# namespace): s1 bootstraps, s2 and s3 --join; a Deployment of 4 busybox
# pods runs on the agents. A write load goes through a follower while the
# leader is killed with SIGKILL: the gap without acknowledged writes is
# printed, every acknowledged write is there afterwards, the Deployment is
# back to 4 Running, and the killed server restarts and catches up. Then the
# new leader is cut off the network: it acknowledges nothing, the majority
# elects a leader and accepts writes within 15 s, and after healing the
# write sent to the isolated leader does not appear.
source "$(dirname "$0")/agent_lib.sh"
NN_NET=71
source "$(dirname "$0")/ha_lib.sh"
PY="python3 $SRC/tests/e2e/ha_client.py"

nn_setup 5
make_image
ha_servers 3
pass "3 servers: s1 bootstrapped, s2 and s3 joined as voters"
"$BIN/berthctl" --server "$(nn_url 2)" cluster members

ha_agents 4 5
pass "2 agents registered through the servers"

cat >"$T/web.yaml" <<'EOF'
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 4
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: c
        image: busybox
        command: ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.2; done"]
EOF
ctl apply -f "$T/web.yaml" >/dev/null
running() {
  [ "$(ctl get pods -l app=web -o json | jq '[.items[] | select(.status.phase=="Running" and .metadata.deletionTimestamp==null)] | length')" = "$1" ]
}
wait_for 60 "4 web pods Running" running 4
track_pod_uids
pass "Deployment web: 4 pods Running on $(ctl get pods -l app=web -o json | jq -r '[.items[].spec.nodeName] | unique | join(",")')"

# --- kill the leader under a write load through a follower ---------------
ha_wait_leader 10
L=$HA_LEADER
F=$(( L % 3 + 1 ))
SERVER=$(nn_url "$F")
$PY load --urls "$(nn_url "$F")" --prefix acc --threads 4 --out "$T/acked" \
  --stop-file "$T/stop" >"$T/load.out" &
LOAD=$!
sleep 1.5   # load before the kill (not for correctness)
KILLED_AT=$(date +%s.%N)
nn_kill "$L"
ha_wait_leader 10 "$L"
NEWL=$HA_LEADER
sleep 2   # load after the failover (not for correctness)
touch "$T/stop"
wait "$LOAD"
echo "$KILLED_AT" >"$T/marks"
read -r _ acked _ failed _ maxgap _ _ <"$T/load.out"
gap=$($PY gaps --acked "$T/acked" --marks "$T/marks")
echo "write load through s$F: $acked acknowledged, $failed failed; gap without acknowledged writes around the kill of s$L: ${gap}s (longest ${maxgap}s)"
[ "$acked" -gt 0 ] || fail "no write was acknowledged"
$PY check --url "$(nn_url "$NEWL")" --prefix acc --acked "$T/acked" || fail "acknowledged writes lost"
pass "leader s$L killed: s$NEWL leads, every acknowledged write is present"

wait_for 60 "4 web pods Running after the failover" running 4
pass "Deployment back to 4 Running"

nn_berthd "$L" "s$L" "${HA_FLAGS[@]}"
wait_for 30 "s$L caught up" ha_caught_up "$L"
last=$(tail -1 "$T/acked" | cut -d' ' -f1)
curl -fsS "$(nn_url "$L")/api/v1/namespaces/default/configmaps/$last?resourceVersion=0" >/dev/null \
  || fail "s$L does not have the last acknowledged write $last"
wait_for 20 "3 voters again" ha_voters_are 3
pass "s$L restarted and caught up (has $last, 3 voters)"

# --- cut off the leader ---------------------------------------------------
ha_wait_leader 10
ISO=$HA_LEADER
M=$(( ISO % 3 + 1 ))
SERVER=$(nn_url "$M")
LOGLINES=$(wc -l <"$T/s$ISO.log")
nn_cut "$ISO"
CUT_AT=$(date +%s%N)
# a write sent to the isolated leader, from inside its machine
nn_exec "$ISO" curl -sS -m 8 -o "$T/iso.body" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
  --data '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"isolated-write"}}' \
  "http://127.0.0.1:7070/api/v1/namespaces/default/configmaps" >"$T/iso.code" 2>/dev/null &
ISOW=$!
majority_write() {
  curl -fsS -m 2 -o /dev/null -X POST -H 'Content-Type: application/json' \
    --data "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"majority-$1\"}}" \
    "$(nn_url "$M")/api/v1/namespaces/default/configmaps" 2>/dev/null
}
n=0; ok=""
while [ $(( ($(date +%s%N) - CUT_AT) / 1000000 )) -lt 15000 ]; do
  n=$((n + 1))
  if majority_write "$n"; then ok=1; break; fi
  sleep 0.05
done
took=$(( ($(date +%s%N) - CUT_AT) / 1000000 ))
[ -n "$ok" ] || fail "the majority accepted no write within 15 s of cutting off s$ISO"
ha_wait_leader 5 "$ISO"
echo "s$ISO cut off: s$HA_LEADER leads, first write through s$M acknowledged after ${took} ms"
# the deposed leader stopped its scheduler and controllers (it runs, cut off)
stepped_down() {
  tail -n +"$((LOGLINES + 1))" "$T/s$ISO.log" >"$T/iso-new.log"
  grep -q "leadership lost: scheduler stopped" "$T/iso-new.log" &&
    grep -q "lost leadership: controllers stopped" "$T/iso-new.log"
}
wait_for 5 "cut-off s$ISO stops its scheduler and controllers" stepped_down
wait "$ISOW" || true
code=$(cat "$T/iso.code" 2>/dev/null || echo 000)
[ "$code" != 201 ] || fail "the isolated leader acknowledged a write"
echo "the isolated leader answered the write with HTTP $code: $(head -c 200 "$T/iso.body" 2>/dev/null)"
nn_heal "$ISO"
wait_for 30 "s$ISO caught up after healing" ha_caught_up "$ISO"
for i in 1 2 3; do
  c=$(curl -sS -o /dev/null -w '%{http_code}' "$(nn_url "$i")/api/v1/namespaces/default/configmaps/isolated-write")
  [ "$c" = 404 ] || fail "isolated-write is visible through s$i (HTTP $c)"
  c=$(curl -sS -o /dev/null -w '%{http_code}' "$(nn_url "$i")/api/v1/namespaces/default/configmaps/majority-$n?resourceVersion=0")
  [ "$c" = 200 ] || fail "majority-$n missing on s$i (HTTP $c)"
done
pass "cut-off leader acknowledged nothing; majority wrote within ${took} ms; after healing the isolated write does not exist anywhere"
wait_for 30 "4 web pods Running at the end" running 4
pass "Deployment still 4 Running"

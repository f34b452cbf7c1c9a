# test_api_stop_under_load.sh: berthd stopped by SIGTERM in the middle of a
# create load. Creates are prepared on the API server's worker thread and
# proposed from the loop, so at the moment of the signal some are on the
# worker, some queued in the store and some in raft. The server must exit
# 0 within a deadline with no sanitizer report; after a restart on the same
# data dir every create it acknowledged must be there, and every create
# there must have been acknowledged (the API server answers the requests in
# flight before it closes the connections, and refuses new ones with 503).
source "$(dirname "$0")/lib.sh"

API=$(free_port); RAFT=$(free_port)
SERVER="http://127.0.0.1:$API"
start_berthd s1 "$T/data" "$API" "$RAFT"

python3 "$SRC/tests/e2e/ha_client.py" load --urls "$SERVER" --prefix stop --threads 16 \
  --duration 60 --stop-file "$T/stop" --timeout 5 --out "$T/acked" >"$T/load.out" 2>&1 &
LOAD=$!
PIDS+=("$LOAD")
# the client writes its acks at the end: wait for the store to fill instead
objects() { curl -fsS "$SERVER/metrics" | awk '/^berth_store_objects /{print $2}'; }
wait_for 30 "500 objects created under load" bash -c "[ \"\$(curl -fsS $SERVER/metrics | awk '/^berth_store_objects /{print \$2}')\" -ge 500 ]"
pass "load running: $(objects) objects"

term_clean "$SERVER_PID" s1
pass "SIGTERM under load: berthd exited 0"

touch "$T/stop"
wait "$LOAD" || fail "load client failed: $(cat "$T/load.out")"
acked=$(wc -l <"$T/acked")
[ "$acked" -ge 300 ] || fail "only $acked creates acknowledged: $(cat "$T/load.out")"

start_berthd s1 "$T/data" "$API" "$RAFT"
out=$(python3 "$SRC/tests/e2e/ha_client.py" check --url "$SERVER" --prefix stop --acked "$T/acked") ||
  fail "acknowledged creates lost across the stop: $out"
pass "restart: $out"
# The API server answers the requests in flight before it closes the
# connections: no create was committed without its client hearing so.
present=$(curl -fsS "$SERVER/api/v1/namespaces/default/configmaps" |
  jq '[.items[].metadata.name | select(startswith("stop-"))] | length')
if [ "$present" -ne "$acked" ]; then
  curl -fsS "$SERVER/api/v1/namespaces/default/configmaps" |
    jq -r '.items[].metadata.name | select(startswith("stop-"))' | sort >"$T/present.txt"
  awk '{print $1}' "$T/acked" | sort >"$T/acked.txt"
  fail "$present creates in the store but $acked acknowledged; not acknowledged: $(comm -23 "$T/present.txt" "$T/acked.txt" | head -5 | tr '\n' ' ')(client: $(cat "$T/load.out"))"
fi
pass "every create in the store was acknowledged to its client ($present)"

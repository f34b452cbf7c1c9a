# test_api_bad_input.sh: hostile and malformed requests get a clear Status
# error (or a closed connection) and change nothing; the server stays up and
# keeps serving others. Listed: truncated and oversized bodies, invalid JSON
# and YAML, wrong kinds, bad names, invalid fields, huge headers, too many
# headers, a client that sends one byte a second, garbage bytes, a watch
# client that never reads.
source "$(dirname "$0")/lib.sh"

API=$(free_port); RAFT=$(free_port)
SERVER="http://127.0.0.1:$API"
start_berthd s1 "$T/data" "$API" "$RAFT" --request-timeout-ms 2000
CM=/api/v1/namespaces/default/configmaps
rev0=$(curl -s "$SERVER/metrics" | awk '/^berth_store_revision /{print $2}')

expect_code 400 POST $CM '{"metadata": {"name": "x"'
jq -e '.kind=="Status" and .reason=="BadRequest" and (.message|test("invalid JSON"))' "$T/body" >/dev/null || fail "invalid JSON body: $(cat "$T/body")"
expect_code 400 POST $CM '[1,2,3]'
expect_code 400 POST $CM ''
expect_code 415 POST $CM 'metadata: {name: y}' application/yaml
pass "invalid JSON, non-object, empty and YAML bodies: 400/415"

head -c 4000000 /dev/zero | tr '\0' 'a' >"$T/huge"
code=$(curl -sS -o "$T/body" -w '%{http_code}' -X POST -H 'Content-Type: application/json' --data-binary @"$T/huge" "$SERVER$CM" || true)
[ "$code" = 413 ] || fail "oversized body: HTTP $code"
pass "4 MB body: 413"

expect_code 400 POST $CM '{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"wrong"}}'
expect_code 404 POST /api/v1/namespaces/default/widgets '{"metadata":{"name":"w"}}'
expect_code 422 POST $CM '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"Bad_Name"}}'
jq -e '.reason=="Invalid" and (.message|test("metadata.name"))' "$T/body" >/dev/null || fail "bad name message: $(cat "$T/body")"
expect_code 422 POST $CM '{"metadata":{"name":"ok","labels":{"bad key!":"v"}}}'
expect_code 404 POST /api/v1/namespaces/nope/configmaps '{"metadata":{"name":"ok"}}'
expect_code 422 POST /apis/apps/v1/namespaces/default/deployments '{"metadata":{"name":"d"},"spec":{"replicas":-1,"selector":{"matchLabels":{"a":"b"}},"template":{"metadata":{"labels":{"a":"b"}},"spec":{"containers":[{"name":"c","image":"busybox"}]}}}}'
jq -e '.message|test("replicas")' "$T/body" >/dev/null || fail "negative replicas message: $(cat "$T/body")"
expect_code 422 POST /apis/apps/v1/namespaces/default/deployments '{"metadata":{"name":"d"},"spec":{"selector":{"matchLabels":{"a":"x"}},"template":{"metadata":{"labels":{"a":"b"}},"spec":{"containers":[{"name":"c","image":"busybox"}]}}}}'
jq -e '.message|test("does not match")' "$T/body" >/dev/null || fail "selector mismatch message: $(cat "$T/body")"
expect_code 422 POST /api/v1/namespaces/default/pods '{"metadata":{"name":"p"},"spec":{"containers":[{"name":"c","image":"busybox","resources":{"limits":{"cpu":"lots"}}}]}}'
expect_code 422 POST /api/v1/namespaces/default/pods '{"metadata":{"name":"p"},"spec":{"containers":[]}}'
expect_code 400 GET "$CM?labelSelector=a%20in%20(" 
expect_code 400 GET "$CM?fieldSelector=spec.bogus=1"
pass "wrong kind, unknown resource, bad names/labels/namespace/replicas/selector/quantity: clear errors"

# The same errors for bodies of 64 KiB and more, which are parsed and
# validated on the API body worker (apiserver/create.c), in the same order:
# a bad body first, then the namespace, then validation.
pad=$(python3 -c 'print("p"*70000)')
expect_code 400 POST $CM "{\"metadata\":{\"name\":\"big\"},\"data\":{\"v\":\"$pad\"}"
grep -q 'invalid JSON in the request body' "$T/body" || fail "big truncated body: $(head -c 300 "$T/body")"
expect_code 400 POST $CM "{\"kind\":\"Secret\",\"metadata\":{\"name\":\"big\"},\"data\":{\"v\":\"$pad\"}}"
expect_code 404 POST /api/v1/namespaces/nope/configmaps "{\"metadata\":{\"name\":\"Bad_Name\"},\"data\":{\"v\":\"$pad\"}}"
grep -q 'namespaces \\"nope\\" not found' "$T/body" || fail "big body, missing namespace: $(head -c 300 "$T/body")"
expect_code 422 POST $CM "{\"metadata\":{\"name\":\"Bad_Name\"},\"data\":{\"v\":\"$pad\"}}"
grep -q 'ConfigMap.* \\"Bad_Name\\" is invalid' "$T/body" || fail "big body, bad name: $(head -c 300 "$T/body")"
pass "64 KiB bodies (parsed on the body worker): 400, 400, 404 before 422, 422"
expect_code 201 POST $CM '{"metadata":{"name":"keep"}}'
expect_code 413 DELETE $CM/keep "{\"kind\":\"DeleteOptions\",\"x\":\"$pad\"}"
expect_code 200 GET $CM/keep
pass "DeleteOptions of 64 KiB and more (parsed on the loop): 413, nothing deleted"

for mode in hugeheaders manyheaders; do
  got=$(python3 "$SRC/tests/e2e/rawclient.py" $mode 127.0.0.1 "$API")
  [ "$got" = 431 ] || fail "$mode: got $got, want 431"
done
got=$(python3 "$SRC/tests/e2e/rawclient.py" garbage 127.0.0.1 "$API")
[ "$got" = 400 ] || fail "garbage: got $got"
got=$(python3 "$SRC/tests/e2e/rawclient.py" truncated 127.0.0.1 "$API")
[ "$got" = 400 ] || [ "$got" = closed ] || [ "$got" = 408 ] || fail "truncated body: got $got"
pass "huge headers, 500 headers: 431; garbage: 400; truncated body: $got"

got=$(python3 "$SRC/tests/e2e/rawclient.py" slow 127.0.0.1 "$API")
case "$got" in closed*) ;; *) fail "slow client not cut off: $got";; esac
pass "one-byte-a-second client cut off ($got s)"

# A watch client that never reads: the server keeps serving and cuts it off.
python3 "$SRC/tests/e2e/rawclient.py" nonreader 127.0.0.1 "$API" "$CM?watch=1" >"$T/nonreader.out" &
NR=$!; PIDS+=("$NR")
wait_for 10 "non-reading watch open" grep -q watching "$T/nonreader.out"
big=$(python3 -c 'print("x"*70000)') # 64 KiB and more: parsed on the body worker
for i in $(seq 1 400); do
  printf '{"metadata":{"name":"flood-%d"},"data":{"v":"%s"}}' "$i" "$big" >"$T/flood.json"
  code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' --data-binary @"$T/flood.json" "$SERVER$CM")
  [ "$code" = 201 ] || fail "create during stalled watch: HTTP $code"
done
wait_for 10 "stalled watcher dropped" sh -c "curl -s $SERVER/metrics | grep -qx 'berth_apiserver_watchers 0'"
expect_code 200 GET /healthz
pass "a watch that never reads is dropped; writes never stalled"

# Nothing above changed the store except "keep" and the 400 flood objects.
rev1=$(curl -s "$SERVER/metrics" | awk '/^berth_store_revision /{print $2}')
[ $((rev1 - rev0)) -eq 401 ] || fail "revision moved by $((rev1 - rev0)), want exactly 401"
pass "bad requests changed nothing (revision +401 = keep and the flood only)"

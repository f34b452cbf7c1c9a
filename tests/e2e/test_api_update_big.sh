# test_api_update_big.sh: updates, patches and bindings of objects of 64 KiB
# and more, which are computed on the API body worker (apiserver/update.c),
# answer as small ones do: a stale PUT gets 409, a no-op PUT keeps the
# revision, a merge patch keeps what it does not name, errors come in the
# same order (a bad body before a missing object), and concurrent patches
# without a resourceVersion are retried on the worker until none is lost.
# Last, for objects of any size: generation counts spec changes only, and
# a ConfigMap (no spec) has none, so its no-op PUT writes nothing.
source "$(dirname "$0")/lib.sh"

API=$(free_port); RAFT=$(free_port)
SERVER="http://127.0.0.1:$API"
start_berthd s1 "$T/data" "$API" "$RAFT"
CM=/api/v1/namespaces/default/configmaps
pad=$(python3 -c 'print("p"*70000)')
rv_of() { jq -r .metadata.resourceVersion "$T/body"; }

expect_code 201 POST $CM "{\"metadata\":{\"name\":\"big\"},\"data\":{\"v\":\"$pad\"}}"
rv1=$(rv_of)
expect_code 200 PUT $CM/big "{\"metadata\":{\"name\":\"big\",\"resourceVersion\":\"$rv1\"},\"data\":{\"v\":\"$pad\",\"w\":\"1\"}}"
rv2=$(rv_of)
[ "$rv2" -gt "$rv1" ] || fail "PUT: resourceVersion $rv1 -> $rv2"
jq -e '.data.w=="1" and (.data.v|length)==70000 and .metadata.uid!=null and .metadata.generation==null' "$T/body" >/dev/null || fail "PUT answer: $(head -c 300 "$T/body")"
expect_code 409 PUT $CM/big "{\"metadata\":{\"name\":\"big\",\"resourceVersion\":\"$rv1\"},\"data\":{\"v\":\"$pad\"}}"
jq -e '.reason=="Conflict" and (.message|test("has been modified"))' "$T/body" >/dev/null || fail "stale PUT: $(head -c 300 "$T/body")"
expect_code 200 PUT $CM/big "{\"metadata\":{\"name\":\"big\"},\"data\":{\"v\":\"$pad\",\"w\":\"1\"}}"
[ "$(rv_of)" = "$rv2" ] || fail "no-op PUT wrote: resourceVersion $rv2 -> $(rv_of)"
pass "big PUT: 200 with the new object, stale 409, no-op keeps resourceVersion $rv2"

expect_code 200 PATCH $CM/big '{"data":{"x":"2"}}' application/merge-patch+json
jq -e '.data.x=="2" and .data.w=="1" and (.data.v|length)==70000' "$T/body" >/dev/null || fail "PATCH answer: $(head -c 300 "$T/body")"
expect_code 400 PATCH $CM/big "{\"data\":{\"x\":\"$pad\"" application/merge-patch+json
jq -e '.message|test("invalid JSON")' "$T/body" >/dev/null || fail "bad big PATCH: $(head -c 300 "$T/body")"
expect_code 400 PUT $CM/nothere "{\"metadata\":{\"name\":\"nothere\"},\"data\":{\"v\":\"$pad\""
expect_code 404 PUT $CM/nothere "{\"metadata\":{\"name\":\"nothere\"},\"data\":{\"v\":\"$pad\"}}"
jq -e '.message|test("configmaps \"nothere\" not found")' "$T/body" >/dev/null || fail "missing: $(head -c 300 "$T/body")"
expect_code 400 PUT $CM/big "{\"metadata\":{\"name\":\"other\"},\"data\":{\"v\":\"$pad\"}}"
jq -e '.message|test("does not match the name")' "$T/body" >/dev/null || fail "renaming PUT: $(head -c 300 "$T/body")"
expect_code 422 PUT $CM/big "{\"metadata\":{\"name\":\"big\",\"labels\":{\"bad key!\":\"v\"}},\"data\":{\"v\":\"$pad\"}}"
jq -e '.reason=="Invalid" and (.message|test("ConfigMap.*\"big\" is invalid"))' "$T/body" >/dev/null || fail "invalid PUT: $(head -c 300 "$T/body")"
api GET $CM/big >/dev/null
jq -e '.data.x=="2" and (.metadata.labels==null)' "$T/body" >/dev/null || fail "a failed update changed the object: $(head -c 300 "$T/body")"
pass "big PATCH merges; bad body 400 before missing 404, rename 400, invalid 422, none of them writes"

# Eight clients patch the same big object at once, without a
# resourceVersion: the losers of each round are retried, none is lost.
pids=()
for i in 1 2 3 4 5 6 7 8; do
  ( for j in 1 2 3; do
      code=$(curl -sS -o /dev/null -w '%{http_code}' -X PATCH -H 'Content-Type: application/merge-patch+json' \
        --data-binary "{\"data\":{\"k$i-$j\":\"$i\"}}" "$SERVER$CM/big")
      [ "$code" = 200 ] || { echo "client $i patch $j: HTTP $code" >"$T/patch-fail-$i"; exit 1; }
    done ) &
  pids+=($!)
done
wait "${pids[@]}"
ls "$T"/patch-fail-* >/dev/null 2>&1 && fail "$(cat "$T"/patch-fail-*)"
api GET $CM/big >/dev/null
n=$(jq '[.data|keys[]|select(startswith("k"))]|length' "$T/body")
[ "$n" = 24 ] || fail "concurrent patches: $n of 24 keys kept"
pass "8 clients x 3 concurrent big patches without resourceVersion: all 24 kept"

# A pod binding, through the same path.
pod="{\"metadata\":{\"name\":\"p\",\"annotations\":{\"a\":\"$pad\"}},\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"busybox\"}]}}"
expect_code 201 POST /api/v1/namespaces/default/pods "$pod"
expect_code 201 POST /api/v1/namespaces/default/pods/p/binding '{"target":{"name":"n1"}}'
expect_code 409 POST /api/v1/namespaces/default/pods/p/binding '{"target":{"name":"n2"}}'
api GET /api/v1/namespaces/default/pods/p >/dev/null
jq -e '.spec.nodeName=="n1"' "$T/body" >/dev/null || fail "binding: $(head -c 300 "$T/body")"
pass "big pod: bound once (201), a second binding 409"

# generation counts changes of spec, and only objects with a spec have one.
DEP=/apis/apps/v1/namespaces/default/deployments
dep='{"metadata":{"name":"d"},"spec":{"replicas":1,"selector":{"matchLabels":{"a":"b"}},"template":{"metadata":{"labels":{"a":"b"}},"spec":{"containers":[{"name":"c","image":"busybox"}]}}}}'
expect_code 201 POST $DEP "$dep"
jq -e '.metadata.generation==1' "$T/body" >/dev/null || fail "new deployment: $(head -c 300 "$T/body")"
expect_code 200 PATCH $DEP/d '{"metadata":{"labels":{"x":"y"}}}' application/merge-patch+json
jq -e '.metadata.generation==1' "$T/body" >/dev/null || fail "label patch bumped generation: $(head -c 300 "$T/body")"
expect_code 200 PATCH $DEP/d '{"spec":{"replicas":2}}' application/merge-patch+json
jq -e '.metadata.generation==2' "$T/body" >/dev/null || fail "spec patch: $(head -c 300 "$T/body")"
expect_code 201 POST $CM '{"metadata":{"name":"small"},"data":{"a":"1"}}'
rv=$(rv_of)
expect_code 200 PUT $CM/small '{"metadata":{"name":"small"},"data":{"a":"1"}}'
jq -e --arg rv "$rv" '.metadata.resourceVersion==$rv and .metadata.generation==null' "$T/body" >/dev/null ||
  fail "no-op PUT of a ConfigMap: $(head -c 300 "$T/body")"
pass "generation: 1 on create, same after a label patch, 2 after a spec patch; none on ConfigMaps, whose no-op PUT writes nothing"

# test_core_acceptance.sh: the control-plane core as a new user meets it.
# One berthd on loopback ports given by --listen and --raft; apply a
# ConfigMap and a Deployment with berthctl; a stale PUT gets 409; a watch
# from a resourceVersion sees the next change as MODIFIED; malformed YAML
# gives an error and writes nothing; kill -9 + restart on the same data dir
# brings every object back with the same values.
source "$(dirname "$0")/lib.sh"

API=$(free_port); RAFT=$(free_port)
SERVER="http://127.0.0.1:$API"
start_berthd s1 "$T/data" "$API" "$RAFT"
pass "berthd ready on $SERVER"

out=$(ctl apply -f "$SRC/examples/web.yaml")
echo "$out" | grep -qx 'configmap/web-config created' || fail "apply output: $out"
echo "$out" | grep -qx 'deployment.apps/web created' || fail "apply output: $out"
out=$(ctl apply -f "$SRC/examples/web.yaml")
echo "$out" | grep -qx 'deployment.apps/web unchanged' || fail "second apply: $out"
pass "apply creates, then reports unchanged"

ctl get deployments | grep -q '^web ' || fail "get deployments lacks web"
ctl get cm web-config -o json | jq -e '.data.GREETING == "hello from berth"' >/dev/null || fail "get -o json"
ctl get deploy web -o yaml | grep -q 'replicas: 3' || fail "get -o yaml"
pass "get table, json, yaml"

# A stale PUT gets 409 Conflict.
expect_code 200 GET /api/v1/namespaces/default/configmaps/web-config
old=$(cat "$T/body")
new=$(echo "$old" | jq -c '.data.GREETING = "v2"')
expect_code 200 PUT /api/v1/namespaces/default/configmaps/web-config "$new"
stale=$(echo "$old" | jq -c '.data.GREETING = "v3"')
expect_code 409 PUT /api/v1/namespaces/default/configmaps/web-config "$stale"
jq -e '.kind == "Status" and .reason == "Conflict" and .code == 409' "$T/body" >/dev/null || fail "409 body: $(cat "$T/body")"
pass "stale PUT gets 409 Conflict"

# A watch from a resourceVersion sees the next change as MODIFIED.
rv=$(ctl get cm web-config -o json | jq -r .metadata.resourceVersion)
curl -sN "$SERVER/api/v1/namespaces/default/configmaps?watch=1&resourceVersion=$rv" >"$T/watch.out" &
WPID=$!; PIDS+=("$WPID")
expect_code 200 PATCH /api/v1/namespaces/default/configmaps/web-config '{"data":{"GREETING":"watched"}}' application/merge-patch+json
wait_for 10 "MODIFIED event" grep -q '"type":"MODIFIED"' "$T/watch.out"
head -1 "$T/watch.out" | jq -e '.type == "MODIFIED" and .object.data.GREETING == "watched"' >/dev/null \
  || fail "watch event: $(head -c 300 "$T/watch.out")"
kill "$WPID" 2>/dev/null || true
pass "watch from resourceVersion $rv sees MODIFIED"

# A label-selector watch: an update that takes the object out of the
# selection is DELETED, one that brings it back ADDED (as in Kubernetes).
expect_code 201 POST /api/v1/namespaces/default/configmaps \
  '{"metadata":{"name":"sel","labels":{"tier":"web"}},"data":{"k":"1"}}'
# no resourceVersion: the stream opens with the selection as ADDED, which
# shows the watch is open before the updates (the store keeps what an
# update replaces only while such a watch is open)
curl -sN "$SERVER/api/v1/namespaces/default/configmaps?watch=1&labelSelector=tier%3Dweb" >"$T/sel.out" &
WPID=$!; PIDS+=("$WPID")
wait_for 10 "selector watch open" grep -q '"type":"ADDED"' "$T/sel.out"
patch_cm() { expect_code 200 PATCH /api/v1/namespaces/default/configmaps/sel "$1" application/merge-patch+json; }
patch_cm '{"data":{"k":"2"}}'                  # still selected: MODIFIED
patch_cm '{"metadata":{"labels":{"tier":"db"}}}' # leaves: DELETED
patch_cm '{"data":{"k":"3"}}'                  # outside: nothing
patch_cm '{"metadata":{"labels":{"tier":"web"}}}' # back: ADDED
# a last update in the selection marks the end of the stream
patch_cm '{"data":{"k":"4"}}'                  # MODIFIED
wait_for 10 "the last event" grep -q '"k":"4"' "$T/sel.out"
got=$(jq -r '.type + ":" + .object.data.k + ":" + .object.metadata.labels.tier' "$T/sel.out" | tr '\n' ' ')
[ "$got" = "ADDED:1:web MODIFIED:2:web DELETED:2:db ADDED:3:web MODIFIED:4:web " ] || fail "selector watch events: $got"
kill "$WPID" 2>/dev/null || true
pass "label-selector watch: leaving the selection is DELETED, coming back ADDED"

# Malformed YAML: an error naming the file, non-zero exit, nothing written.
cat >"$T/bad.yaml" <<'YAML'
apiVersion: v1
kind: ConfigMap
metadata:
  name: should-not-exist
data:
  a: "1"
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: broken
  labels: [unclosed
YAML
if ctl apply -f "$T/bad.yaml" 2>"$T/err"; then fail "apply of malformed YAML succeeded"; fi
grep -q "bad.yaml" "$T/err" || fail "error does not name the file: $(cat "$T/err")"
[ "$(wc -l <"$T/err")" -eq 1 ] || fail "error is not one line: $(cat "$T/err")"
expect_code 404 GET /api/v1/namespaces/default/configmaps/should-not-exist
pass "malformed YAML: one-line error, nothing written"

# kill -9 and restart on the same data dir: everything is back, unchanged.
ctl get cm -o json | jq -S '.items' >"$T/cm.before"
ctl get deploy -o json | jq -S '.items' >"$T/deploy.before"
kill -9 "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true
start_berthd s1 "$T/data" "$API" "$RAFT"
ctl get cm -o json | jq -S '.items' >"$T/cm.after"
ctl get deploy -o json | jq -S '.items' >"$T/deploy.after"
cmp -s "$T/cm.before" "$T/cm.after" || fail "configmaps differ after restart: $(diff "$T/cm.before" "$T/cm.after" | head)"
cmp -s "$T/deploy.before" "$T/deploy.after" || fail "deployments differ after restart"
[ "$(jq length "$T/cm.after")" -ge 1 ] || fail "no configmaps after restart"
pass "kill -9 + restart: all objects back with the same values"

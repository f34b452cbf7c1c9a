#!/usr/bin/env bash
# test_ha_snapshot_restore.sh: backup and restore. A 3-server cluster on
# loopback; `berthctl cluster snapshot save` through a follower gets a
# consistent snapshot from the leader; `berthd --restore FILE` into an empty
# data dir starts a new one-member cluster with every object and the same
# revision, which survives a restart without --restore. --restore refuses a
# data dir that is not empty.
source "$(dirname "$0")/lib.sh"

declare -a API RAFT
for i in 1 2 3 4; do API[$i]=$(free_port); RAFT[$i]=$(free_port); done
url() { echo "http://127.0.0.1:${API[$1]}"; }
start_berthd s1 "$T/d1" "${API[1]}" "${RAFT[1]}"
start_berthd s2 "$T/d2" "${API[2]}" "${RAFT[2]}" --join "$(url 1)"
start_berthd s3 "$T/d3" "${API[3]}" "${RAFT[3]}" --join "$(url 1)"
voters() { [ "$(curl -fsS "$(url 1)/cluster/members" | jq '[.members[] | select(.role=="voter")] | length')" = 3 ]; }
wait_for 20 "3 voters" voters
SERVER=$(url 2)
for i in $(seq 1 50); do
  jq -n --arg n "cm-$i" '{apiVersion:"v1",kind:"ConfigMap",metadata:{name:$n},data:{i:$n}}' >"$T/cm.json"
  ctl apply -f "$T/cm.json" >/dev/null || fail "apply cm-$i"
done
ctl delete configmap cm-7 >/dev/null || fail "delete cm-7"
REV=$(curl -fsS "$(url 1)/api/v1/namespaces/default/configmaps" | jq -r .metadata.resourceVersion)
pass "3 servers, 49 configmaps at revision $REV"

ctl cluster snapshot save "$T/backup.db" | grep -q "snapshot saved" || fail "snapshot save"
[ -s "$T/backup.db" ] && [ ! -e "$T/backup.db.tmp" ] || fail "no snapshot file"
[ "$(head -c 8 "$T/backup.db")" = BERTHSZ1 ] || fail "the backup is not an encoded image (taken off the loop)"
pass "snapshot saved through a follower ($(stat -c %s "$T/backup.db") bytes)"

mkdir -p "$T/full"; touch "$T/full/x"
"$BIN/berthd" --name r --data-dir "$T/full" --listen "127.0.0.1:${API[4]}" --raft "127.0.0.1:${RAFT[4]}" \
  --restore "$T/backup.db" 2>"$T/refuse.err" && fail "--restore into a non-empty dir succeeded"
grep -q "needs an empty --data-dir" "$T/refuse.err" || fail "unclear refusal: $(cat "$T/refuse.err")"

start_berthd r "$T/restored" "${API[4]}" "${RAFT[4]}" --restore "$T/backup.db"
R=$!
SERVER=$(url 4)
check_restored() {
  local items; items=$(curl -fsS "$SERVER/api/v1/namespaces/default/configmaps")
  [ "$(jq '.items | length' <<<"$items")" = 49 ] || fail "restored $(jq '.items | length' <<<"$items") configmaps, want 49"
  [ "$(jq -r '.metadata.resourceVersion' <<<"$items")" -ge "$REV" ] || fail "revision went back"
  jq -e '[.items[].metadata.name] | index("cm-7") == null' <<<"$items" >/dev/null || fail "cm-7 came back"
  [ "$(curl -fsS "$SERVER/cluster/members" | jq -r '[.members[].name] | join(",")')" = r ] || fail "restored cluster is not one member"
}
check_restored
[ ! -e "$T/restored/restore-pending" ] || fail "restore marker left behind"
ctl create -f "$T/cm.json" >/dev/null 2>&1 && fail "cm-50 created twice"
jq -n '{apiVersion:"v1",kind:"ConfigMap",metadata:{name:"after"}}' >"$T/after.json"
ctl apply -f "$T/after.json" >/dev/null || fail "write after restore"
pass "--restore: a new one-member cluster with all 49 objects, revision >= $REV, writable"

kill -TERM "$R"; wait "$R" || true
start_berthd r "$T/restored" "${API[4]}" "${RAFT[4]}"

[ "$(curl -fsS "$SERVER/api/v1/namespaces/default/configmaps" | jq '.items | length')" = 50 ] || fail "data lost over a restart"
pass "the restored cluster keeps its data over a restart"

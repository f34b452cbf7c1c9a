#!/usr/bin/env bash
# test_workloads_bad_input.sh: bad workload specs are rejected at the API
# with a clear Status and nothing is written (issue 4, "Must show"): an
# invalid selector (bad operator, bad label value), a selector that does
# not match the template labels, an invalid cron expression ("61 * * * *",
# a six-field one, a bad macro), negative replicas / completions /
# parallelism, for each workload kind concerned; through `berthctl apply`
# (the error names the file and nothing is sent) and `berthctl scale`; and
# updates of a live Deployment (negative replicas, template labels that
# stop matching its selector) leave it untouched. The store revision does
# not move. No containers: berthd only.
source "$(dirname "$0")/lib.sh"

API=$(free_port); RAFT=$(free_port)
SERVER="http://127.0.0.1:$API"
start_berthd s1 "$T/data" "$API" "$RAFT"
revision() { curl -fsS "$SERVER/metrics" | awk '/^berth_store_revision /{print $2}'; }
rev0=$(revision)
[ -n "$rev0" ] || fail "no berth_store_revision metric"

POD='{"spec":{"restartPolicy":"Never","containers":[{"name":"c","image":"busybox","command":["true"]}]}}'
# wl KIND-PATH KIND NAME SPEC-JSON: a POST body.
body() { jq -nc --arg k "$1" --arg n "$2" --argjson s "$3" \
  '{apiVersion:(if $k == "CronJob" or $k == "Job" then "batch/v1" else "apps/v1" end),kind:$k,metadata:{name:$n},spec:$s}'; }
# with_template SPEC-JSON LABELS-JSON: SPEC plus a pod template labelled LABELS.
with_template() { jq -nc --argjson s "$1" --argjson l "$2" --argjson p "$POD" \
  '$s + {template:({metadata:{labels:$l}} + $p | .spec.restartPolicy = "Always")}'; }

# rejected PATH KIND NAME SPEC MESSAGE-REGEX: POST gets 422 Invalid with a
# Status whose message names the object and matches MESSAGE-REGEX, and the
# object does not exist afterwards.
rejected() {
  local path=$1 kind=$2 name=$3 spec=$4 re=$5
  expect_code 422 POST "$path" "$(body "$kind" "$name" "$spec")"
  jq -e --arg k "$kind" --arg n "$name" --arg re "$re" '.kind == "Status" and .status == "Failure" and
    .reason == "Invalid" and .code == 422 and (.message | startswith($k)) and (.message | contains("\"" + $n + "\"")) and
    (.message | test($re))' "$T/body" >/dev/null || fail "$kind $name: Status $(cat "$T/body"), want a message matching /$re/"
  echo "  $kind $name: $(jq -r .message "$T/body")"
  expect_code 404 GET "$path/$name"
}
D=/apis/apps/v1/namespaces/default/deployments
RS=/apis/apps/v1/namespaces/default/replicasets
DS=/apis/apps/v1/namespaces/default/daemonsets
STS=/apis/apps/v1/namespaces/default/statefulsets
JOB=/apis/batch/v1/namespaces/default/jobs
CJ=/apis/batch/v1/namespaces/default/cronjobs

# Invalid selectors.
rejected $D Deployment badop "$(with_template '{"replicas":1,"selector":{"matchExpressions":[{"key":"app","operator":"Like","values":["x"]}]}}' '{"app":"x"}')" \
  'spec\.selector: Invalid value: .*"Like"'
rejected $D Deployment badval "$(with_template '{"replicas":1,"selector":{"matchLabels":{"app":"bad value!"}}}' '{"app":"x"}')" \
  'spec\.selector: Invalid value: .*bad value!'
rejected $DS DaemonSet badop "$(with_template '{"selector":{"matchExpressions":[{"key":"app","operator":"In"}]}}' '{"app":"x"}')" \
  'spec\.selector: Invalid value'
rejected $D Deployment nosel "$(with_template '{"replicas":1}' '{"app":"x"}')" 'spec\.selector: Required value'
pass "invalid selectors: 422 naming spec.selector"

# Selectors that do not match the template labels.
for k in "$D Deployment" "$RS ReplicaSet" "$DS DaemonSet" "$STS StatefulSet"; do
  set -- $k
  rejected "$1" "$2" mismatch "$(with_template '{"selector":{"matchLabels":{"app":"x"}}}' '{"app":"y"}')" \
    'selector. does not match template .labels'
done
rejected $D Deployment mismatchexpr "$(with_template '{"selector":{"matchExpressions":[{"key":"tier","operator":"Exists"}]}}' '{"app":"y"}')" \
  'does not match template'
pass "selectors that do not match the template labels: 422 for Deployment, ReplicaSet, DaemonSet, StatefulSet"

# Invalid cron expressions.
cj() { jq -nc --arg s "$1" --argjson p "$POD" '{schedule:$s,jobTemplate:{spec:{template:$p}}}'; }
rejected $CJ CronJob minute61 "$(cj '61 * * * *')" 'spec\.schedule: Invalid value: "61 \* \* \* \*": .*61'
rejected $CJ CronJob sixfields "$(cj '0 * * * * *')" 'spec\.schedule: Invalid value'
rejected $CJ CronJob badmacro "$(cj '@fortnightly')" 'spec\.schedule: Invalid value'
rejected $CJ CronJob badstep "$(cj '*/0 * * * *')" 'spec\.schedule: Invalid value'
rejected $CJ CronJob empty "$(cj '')" 'spec\.schedule: Required value'
pass "invalid cron expressions: 422 naming spec.schedule and the value"

# Negative counts.
rejected $D Deployment negative "$(with_template '{"replicas":-1,"selector":{"matchLabels":{"app":"x"}}}' '{"app":"x"}')" 'spec\.replicas: Invalid value: -1'
rejected $RS ReplicaSet negative "$(with_template '{"replicas":-3,"selector":{"matchLabels":{"app":"x"}}}' '{"app":"x"}')" 'spec\.replicas: Invalid value: -3'
rejected $STS StatefulSet negative "$(with_template '{"replicas":-1,"selector":{"matchLabels":{"app":"x"}}}' '{"app":"x"}')" 'spec\.replicas: Invalid value: -1'
rejected $JOB Job negcompletions "$(jq -nc --argjson p "$POD" '{completions:-1,template:$p}')" 'spec\.completions: Invalid value'
rejected $JOB Job negparallelism "$(jq -nc --argjson p "$POD" '{parallelism:-2,template:$p}')" 'spec\.parallelism: Invalid value'
rejected $JOB Job negbackoff "$(jq -nc --argjson p "$POD" '{backoffLimit:-1,template:$p}')" 'spec\.backoffLimit: Invalid value'
pass "negative replicas, completions, parallelism, backoffLimit: 422 naming the field"

[ "$(revision)" = "$rev0" ] || fail "the store revision moved from $rev0 to $(revision): something was written"
pass "nothing written: store revision still $rev0"

# Through berthctl apply: the error names the file, nothing is created.
cat >"$T/negative.yaml" <<'YAML'
apiVersion: apps/v1
kind: Deployment
metadata:
  name: neg
spec:
  replicas: -2
  selector:
    matchLabels: {app: neg}
  template:
    metadata:
      labels: {app: neg}
    spec:
      containers:
        - {name: c, image: busybox, command: [sleep, "1"]}
YAML
if ctl apply -f "$T/negative.yaml" >"$T/apply.out" 2>"$T/apply.err"; then fail "apply of replicas -2 succeeded: $(cat "$T/apply.out")"; fi
grep -qF "$T/negative.yaml" "$T/apply.err" || fail "apply error does not name the file: $(cat "$T/apply.err")"
grep -q 'spec.replicas' "$T/apply.err" || fail "apply error does not name spec.replicas: $(cat "$T/apply.err")"
! ctl get deploy neg -o json >/dev/null 2>&1 || fail "deployment neg exists"
echo "  berthctl apply: $(cat "$T/apply.err")"
sed -i 's/replicas: -2/replicas: 1/; /^      labels:/ s/app: neg/app: other/' "$T/negative.yaml"
grep -q 'labels: {app: other}' "$T/negative.yaml" || fail "test bug: the template labels were not changed"
if ctl apply -f "$T/negative.yaml" >"$T/apply.out" 2>"$T/apply.err"; then fail "apply of a mismatched selector succeeded"; fi
grep -qF "$T/negative.yaml" "$T/apply.err" && grep -q 'does not match' "$T/apply.err" \
  || fail "apply error for a mismatched selector: $(cat "$T/apply.err")"
echo "  berthctl apply: $(cat "$T/apply.err")"
cat >"$T/cron.yaml" <<'YAML'
apiVersion: batch/v1
kind: CronJob
metadata: {name: late}
spec:
  schedule: "61 * * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          containers: [{name: c, image: busybox, command: ["true"]}]
YAML
if ctl apply -f "$T/cron.yaml" >"$T/apply.out" 2>"$T/apply.err"; then fail "apply of schedule 61 * * * * succeeded"; fi
grep -qF "$T/cron.yaml" "$T/apply.err" && grep -q 'spec.schedule' "$T/apply.err" \
  || fail "apply error for a bad schedule: $(cat "$T/apply.err")"
echo "  berthctl apply: $(cat "$T/apply.err")"
[ "$(revision)" = "$rev0" ] || fail "a rejected apply wrote something (revision $rev0 -> $(revision))"
pass "berthctl apply: negative replicas, mismatched selector, bad schedule rejected, the error names the file; nothing written"

# Updates of a live Deployment (replicas 0: no pods, so nothing else writes).
cat >"$T/live.yaml" <<'YAML'
apiVersion: apps/v1
kind: Deployment
metadata: {name: live}
spec:
  replicas: 0
  selector:
    matchLabels: {app: live}
  template:
    metadata:
      labels: {app: live}
    spec:
      containers: [{name: c, image: busybox, command: [sleep, "1"]}]
YAML
ctl apply -f "$T/live.yaml" >/dev/null || fail "apply live"
live_observed() { ctl get deploy live -o json | jq -e '.status.observedGeneration == .metadata.generation'; }
wait_for 20 "live observed" live_observed
before=$(ctl get deploy live -o json | jq -c '{rv: .metadata.resourceVersion, spec}')
if ctl scale deploy/live --replicas=-1 >"$T/scale.out" 2>&1; then fail "scale to -1 succeeded"; fi
grep -q 'replicas' "$T/scale.out" || fail "scale -1 error: $(cat "$T/scale.out")"
expect_code 422 PATCH $D/live '{"spec":{"replicas":-5}}' application/merge-patch+json
jq -e '.message | test("spec\\.replicas: Invalid value: -5")' "$T/body" >/dev/null || fail "patch -5: $(cat "$T/body")"
expect_code 422 PATCH $D/live '{"spec":{"template":{"metadata":{"labels":{"app":"moved"}}}}}' application/merge-patch+json
jq -e '.message | test("does not match")' "$T/body" >/dev/null || fail "patch labels: $(cat "$T/body")"
expect_code 422 PATCH $D/live '{"spec":{"selector":{"matchLabels":{"app":"live","x":"y"}},"template":{"metadata":{"labels":{"app":"live","x":"y"}}}}}' application/merge-patch+json
jq -e '.message | test("immutable")' "$T/body" >/dev/null || fail "patch selector: $(cat "$T/body")"
after=$(ctl get deploy live -o json | jq -c '{rv: .metadata.resourceVersion, spec}')
[ "$before" = "$after" ] || fail "rejected updates changed live: $before -> $after"
[ "$(ctl get rs -o json | jq '[.items[] | select(.metadata.labels.app == "moved")] | length')" = 0 ] || fail "a ReplicaSet for the rejected template exists"
pass "scale to -1, patches to replicas -5, to mismatched labels, to the selector: rejected, live unchanged"

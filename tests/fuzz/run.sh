#!/usr/bin/env bash
# run.sh: builds every libFuzzer harness in tests/fuzz with clang (ASan and
# UBSan) and runs each for DURATION seconds (default 60) on a corpus kept in
# FUZZ_DIR (default /var/tmp/berth-fuzz), seeded with real inputs and the
# inputs of past findings (tests/fuzz/regressions/NAME/). A finding is a
# crash file FUZZ_DIR/NAME-crash-* and a non-zero exit; copy it into
# regressions/NAME/ with the fix.
#   tests/fuzz/run.sh [NAME...]        fuzz (names: the keys of SRC below)
#   tests/fuzz/run.sh --smoke [NAME...] build, then run only the seeds and
#                                      regressions once (CTest fuzz/smoke)
# Any single allocation over 256 MB is a finding too: inputs are at most
# 64 KiB, and no decoder should believe a header that asks for more.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
DURATION=${DURATION:-60}
FUZZ_DIR=${FUZZ_DIR:-/var/tmp/berth-fuzz}
CC=${CC:-clang}
CFLAGS="-g -O1 -Wall -Werror -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -I$ROOT -I/usr/share/include/llhttp"
cd "$ROOT"

# name: sources and libraries
declare -A SRC=(
  [yaml]="common/yamljson.c common/errors.c -ljansson -lyaml -lm"
  [selector]="common/selector.c common/errors.c -ljansson"
  [codec]="store/codec.c common/errors.c"
  [snapimg]="store/snapimg.c common/errors.c -llz4 -lsqlite3"
  [fsm]="store/fsm.c store/fsm_list.c store/codec.c store/snapimg.c store/sqlmem.c store/watch.c common/errors.c common/log.c -ljansson -llz4 -lsqlite3"
  [quantity]="common/quantity.c common/errors.c"
  [cron]="common/cron.c common/tz.c common/errors.c"
  [merge]="common/merge.c common/errors.c -ljansson"
  [podmetrics]="common/podmetrics.c common/dict.c common/errors.c common/jsonutil.c -ljansson"
  [route]="apiserver/route.c apiserver/http_util.c common/kinds.c common/errors.c"
  [validate]="common/yamljson.c -lyaml apiserver/validate.c apiserver/validate_pod.c apiserver/validate_workloads.c apiserver/warnings.c common/kinds.c common/quantity.c common/selector.c common/jsonutil.c common/errors.c common/cron.c common/tz.c -ljansson"
)
SMOKE=0
if [ "${1:-}" = --smoke ]; then SMOKE=1; shift; fi
names=("$@")
[ ${#names[@]} -gt 0 ] || names=(codec fsm snapimg validate route podmetrics quantity cron merge yaml selector)

seed() { # seed NAME DIR
  local d=$2
  case $1 in
    codec|fsm) FUZZ_SEED_OUT=$d "$FUZZ_DIR/bin/fuzz_$1" >/dev/null 2>&1 || true ;;
    snapimg) printf 'SQLite format 3\0' >"$d/raw" # and a real image, when fuzz_fsm is built
             [ -x "$FUZZ_DIR/bin/fuzz_fsm" ] && FUZZ_SEED_OUT=$d "$FUZZ_DIR/bin/fuzz_fsm" >/dev/null 2>&1 || true ;;
    quantity) for q in 500m 2 1.5Gi 128Mi 1e3 0.1 1k 64M 1E 9223372036854775807m; do printf %s "$q" >"$d/$q"; done ;;
    cron) i=0; for c in '*/15 * * * *' '0 0 29 2 *' '30 2 * * 1-5' '@hourly' '0 12 1,15 JAN-JUN SUN' '5/20 */3 * * 7'; do printf %s "$c" >"$d/s$((i++))"; done ;;
    merge) printf '{"a":{"b":1,"c":[1,2]},"d":"x"}\0{"a":{"b":null,"e":{"f":2}},"d":null}' >"$d/m1"
           printf '[1,2]\0{"a":1}' >"$d/m2"; printf '{"a":1}\0"s"' >"$d/m3" ;;
    route) i=0; for t in /api/v1/namespaces/default/pods/web-1/log?follow=true /apis/apps/v1/deployments \
         '/api/v1/namespaces/kube-system/configmaps?labelSelector=app%3Dweb&limit=500&continue=a/b' \
         /apis/batch/v1/namespaces/x/cronjobs/c/status /api/v1/nodes/n1 /api/v1/namespaces/a%2Fb; do
             printf %s "$t" >"$d/t$((i++))"; done ;;
    podmetrics) printf '%s' '{"node":"n1","timestampMs":1764000000000,"windowMs":10000,"usage":{"cpuNanocores":1234,"memoryBytes":4096},"pods":[{"namespace":"default","name":"web-1","container":"web","cpuNanocores":5000000,"memoryBytes":4096},{"namespace":"a","name":"b","windowMs":15000,"timestampMs":1764000001000}]}' >"$d/batch" ;;
    yaml) cp examples/*.yaml "$d/" 2>/dev/null || true ;;
    validate) FUZZ_SEED_OUT=$d "$FUZZ_DIR/bin/fuzz_validate" $(find examples -name '*.yaml') >/dev/null 2>&1 || true ;;
    selector) printf 'app=web,tier!=db' >"$d/s1"; printf 'env in (a,b),!x' >"$d/s2"
              printf '{"matchLabels":{"a":"b"},"matchExpressions":[{"key":"k","operator":"In","values":["v"]}]}' >"$d/s3" ;;
  esac
}

mkdir -p "$FUZZ_DIR/bin"
fail=0
for n in "${names[@]}"; do
  [ -n "${SRC[$n]:-}" ] || { echo "no harness named $n"; exit 2; }
  # shellcheck disable=SC2086
  $CC $CFLAGS "tests/fuzz/fuzz_$n.c" ${SRC[$n]} -o "$FUZZ_DIR/bin/fuzz_$n"
  corpus="$FUZZ_DIR/$n"
  [ $SMOKE = 1 ] && rm -rf "$corpus"
  mkdir -p "$corpus"
  [ -n "$(ls -A "$corpus")" ] || seed "$n" "$corpus"
  regress="$ROOT/tests/fuzz/regressions/$n"
  [ -d "$regress" ] || regress=""
  if [ $SMOKE = 1 ]; then
    what=(-runs=0); echo "== fuzz_$n: seeds and regressions"
  else
    what=(-max_total_time="$DURATION"); echo "== fuzz_$n for ${DURATION}s"
  fi
  # shellcheck disable=SC2086
  if ! "$FUZZ_DIR/bin/fuzz_$n" "${what[@]}" -max_len=65536 -timeout=10 -malloc_limit_mb=256 \
       -artifact_prefix="$FUZZ_DIR/$n-" -print_final_stats=1 "$corpus" $regress 2>"$FUZZ_DIR/$n.log"; then
    echo "fuzz_$n found a problem: $(grep -m1 -E 'ERROR|runtime error|abort|malloc' "$FUZZ_DIR/$n.log" || true)"
    echo "  log: $FUZZ_DIR/$n.log; reproducer: $FUZZ_DIR/$n-crash-* (or -timeout-, -leak-, -oom-)"
    fail=1
  else
    grep -E "stat::number_of_executed_units|stat::new_units_added" "$FUZZ_DIR/$n.log" | tr '\n' ' '; echo
  fi
done
exit $fail

#!/usr/bin/env bash
# test_svc_demo.sh: the autoscaling demo (examples/autoscale/run.sh) on its
# short ramp, as a user would run it: it must finish, write a timeline CSV
# with samples of load, CPU utilization and replicas, draw a PNG, and the
# HPA must have scaled the Deployment above one replica under load. The
# script starts and cleans up its own cluster (its own scratch dir, free
# ports, nodes at 127.0.0.2 and 127.0.0.3, node port 30080 or a free one).
source "$(dirname "$0")/lib.sh"

if [ "$(id -u)" -ne 0 ]; then
  echo "SKIP: $(basename "$0") runs isolated containers with cgroup CPU metrics and needs root (CI runs as root)"
  exit 0
fi
command -v gnuplot >/dev/null || fail "gnuplot missing (scripts/install-deps.sh installs gnuplot-nox)"

OUT="$T/out"
RAMP=short OUT="$OUT" BIN="$BIN" timeout 400 bash "$SRC/examples/autoscale/run.sh" >"$T/demo.log" 2>&1 \
  || fail "run.sh failed: $(tail -30 "$T/demo.log")"
pass "run.sh RAMP=short finished"

CSV="$OUT/timeline.csv"
[ -s "$CSV" ] || fail "no $CSV"
head -1 "$CSV" | grep -qx 'elapsed_s,load_rps,ok_rps,errors,cpu_util_pct,metrics_util_pct,replicas,ready,desired' \
  || fail "CSV header: $(head -1 "$CSV")"
rows=$(($(wc -l <"$CSV") - 1))
[ "$rows" -ge 20 ] || fail "only $rows samples"
awk -F, 'NR > 1 && NF != 9 { bad = 1 } END { exit bad }' "$CSV" || fail "a CSV row lacks columns"
peak_load=$(awk -F, 'NR > 1 && $2 > m { m = $2 } END { print int(m) }' "$CSV")
[ "$peak_load" -ge 30 ] || fail "peak load $peak_load req/s"
awk -F, 'NR > 1 && $5 != "" { found = 1 } END { exit !found }' "$CSV" || fail "no CPU utilization in the HPA status"
max_reps=$(awk -F, 'NR > 1 && $7 > m { m = $7 } END { print m + 0 }' "$CSV")
[ "$max_reps" -gt 1 ] || fail "replicas never went above 1: $(cat "$CSV")"
pass "timeline: $rows samples, peak load $peak_load req/s, replicas up to $max_reps"

PNG="$OUT/autoscale.png"
[ -s "$PNG" ] || fail "no $PNG"
[ "$(head -c 8 "$PNG" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] || fail "$PNG is not a PNG"
[ "$(stat -c %s "$PNG")" -gt 10000 ] || fail "$PNG is suspiciously small"
pass "plot drawn: $PNG"

grep -q "berth-autoscale" /proc/mounts && fail "mounts left behind: $(grep berth-autoscale /proc/mounts)"
pass "nothing left mounted"

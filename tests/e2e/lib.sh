# lib.sh: shared helpers of the end-to-end tests. Sourced, not run.
#
# Each test gets a scratch dir, starts real berthd processes on free loopback
# ports, polls with deadlines (never bare sleeps for correctness), and kills
# everything it started on exit, pass or fail.
set -euo pipefail

BIN="${BERTH_BIN:?BERTH_BIN must point at build/bin}"
SRC="${BERTH_SRC:?BERTH_SRC must point at the source tree}"
T="$(mktemp -d /tmp/berth-e2e.XXXXXX)"
PIDS=()
export BERTHCTL="$BIN/berthctl"

e2e_cleanup() {
  local rc=$?
  for h in "${E2E_CLEANUP_HOOKS[@]:-}"; do [ -n "$h" ] && { "$h" || true; }; done
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill -9 "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && wait "$p" 2>/dev/null || true; done
  # A sanitizer report in any daemon's log fails the test, even if what the
  # test checked went well: a use-after-free must not pass quietly.
  local bad
  bad=$(grep -rlE "ERROR: AddressSanitizer|runtime error:|ERROR: LeakSanitizer" "$T" --include='*.log' 2>/dev/null || true)
  if [ -n "$bad" ] && [ $rc -eq 0 ]; then
    echo "FAIL: sanitizer reports in: $bad" >&2
    for f in $bad; do grep -m1 -A12 -E "ERROR: AddressSanitizer|runtime error:|ERROR: LeakSanitizer" "$f" >&2; done
    rc=1
  fi
  if [ $rc -ne 0 ]; then
    echo "--- test failed (rc=$rc); server logs:" >&2
    for f in "$T"/*.log; do [ -f "$f" ] && { echo "== $f" >&2; tail -40 "$f" >&2; }; done
  fi
  rm -rf "$T"
  exit $rc
}
trap e2e_cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok: $*"; }

# A free TCP port on loopback (the kernel picks it).
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# wait_for SECONDS DESCRIPTION COMMAND...: polls COMMAND until it succeeds.
wait_for() {
  local secs=$1 what=$2; shift 2
  local deadline=$(( $(date +%s%N) / 1000000 + secs * 1000 ))
  while :; do
    if "$@" >/dev/null 2>&1; then return 0; fi
    [ $(( $(date +%s%N) / 1000000 )) -ge $deadline ] && fail "timed out after ${secs}s waiting for: $what"
    sleep 0.05
  done
}

# start_berthd NAME DATADIR APIPORT RAFTPORT [extra flags]: starts a berthd
# and waits for its ready line. Sets SERVER_PID.
start_berthd() {
  local name=$1 dir=$2 api=$3 raft=$4; shift 4
  "$BIN/berthd" --name "$name" --data-dir "$dir" --listen "127.0.0.1:$api" \
    --raft "127.0.0.1:$raft" "$@" >"$T/$name.out" 2>>"$T/$name.log" &
  SERVER_PID=$!
  PIDS+=("$SERVER_PID")
  wait_for 20 "berthd $name ready" grep -q "berthd ready" "$T/$name.out"
  wait_for 10 "$name /readyz" curl -fsS "http://127.0.0.1:$api/readyz"
}

# term_clean PID NAME: SIGTERM to berthd NAME (log in $T/NAME.log); it must
# exit 0 within 20 s with no sanitizer report in its log.
term_clean() {
  local p=$1 name=$2 deadline rc=0
  kill -TERM "$p"
  deadline=$(( $(date +%s) + 20 ))
  while kill -0 "$p" 2>/dev/null; do
    [ "$(date +%s)" -ge "$deadline" ] && fail "$name did not exit within 20 s of SIGTERM"
    sleep 0.05
  done
  wait "$p" || rc=$?
  [ "$rc" -eq 0 ] || fail "$name exited with status $rc after SIGTERM: $(tail -5 "$T/$name.log")"
  if grep -qE "ERROR: AddressSanitizer|runtime error:|ERROR: LeakSanitizer" "$T/$name.log"; then
    fail "sanitizer report in $name at shutdown: $(grep -m1 -A8 -E 'ERROR|runtime error' "$T/$name.log")"
  fi
}

ctl() { "$BIN/berthctl" --server "$SERVER" "$@"; }

# api METHOD PATH [BODY [CONTENT-TYPE]]: prints the HTTP code, then the body
# into $T/body.
api() {
  local method=$1 path=$2 body=${3:-} ct=${4:-application/json}
  if [ -n "$body" ]; then
    curl -sS -o "$T/body" -w '%{http_code}' -X "$method" -H "Content-Type: $ct" \
      --data-binary "$body" "$SERVER$path"
  else
    curl -sS -o "$T/body" -w '%{http_code}' -X "$method" "$SERVER$path"
  fi
}

expect_code() {
  local want=$1; shift
  local got; got=$(api "$@")
  [ "$got" = "$want" ] || fail "$1 $2: HTTP $got, want $want: $(head -c 400 "$T/body")"
}

# Functions run first by e2e_cleanup, while the servers still run (a helper
# library appends its own: E2E_CLEANUP_HOOKS+=(my_cleanup)).
E2E_CLEANUP_HOOKS=()

# node_lib.sh: what the single-node benchmarks share (sourced, not run):
# the binaries (BERTH_BIN, default build/bin from `make build`), free
# loopback ports, a berthctl shortcut, and a cleanup that deletes the pods
# through the API (so the agent stops them), kills what was started and any
# shim left under the scratch dir DIR. The caller sets DIR and NAME first.
[ "$(id -u)" -eq 0 ] || { echo "$NAME: needs root (namespaces, cgroups, overlay)" >&2; exit 1; }
BIN=${BERTH_BIN:-$ROOT/build/bin}
for b in berthd berth-agent berthctl; do [ -x "$BIN/$b" ] || { echo "no $BIN/$b: run make build" >&2; exit 1; }; done
PIDS=()
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
API=$(port); RAFT=$(port); AGP=$(port)
SERVER="http://127.0.0.1:$API"
ctl() { "$BIN/berthctl" --server "$SERVER" "$@"; }

cleanup() {
  set +e
  if curl -fsS -m 1 "$SERVER/readyz" >/dev/null 2>&1; then
    ctl get pods -o name 2>/dev/null | sed 's|^pod/||' | xargs -r -n 50 "$BIN/berthctl" --server "$SERVER" delete pod >/dev/null 2>&1
    for _ in $(seq 1 300); do [ -z "$(ls "$DIR/agent/containers" 2>/dev/null)" ] && break; sleep 0.1; done
  fi
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill -9 "$p" 2>/dev/null; done
  wait 2>/dev/null
  for p in $(pgrep -f "berth-agent shim $DIR/"); do kill -9 "$p"; done
  awk -v t="$DIR/" 'index($2, t) == 1 { print $2 }' /proc/mounts | sort -r | while read -r m; do umount -l "$m"; done
  rm -rf "$DIR"
}
trap cleanup EXIT
rm -rf "$DIR"; mkdir -p "$DIR"

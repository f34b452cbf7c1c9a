# netns_lib.sh: a cluster of "machines" on one host, for multi-node tests.
# Sourced after lib.sh (or agent_lib.sh).
#
# Each machine is a network namespace with one veth into a bridge on the
# host; the host has the bridge's address, so tests (curl, berthctl, python)
# reach every machine directly. Addresses are 10.77.$NN_NET.0/24 (host .1,
# machine i is .(10+i)); NN_NET is chosen per test (CTest runs tests in
# parallel) and every name carries the shell's pid, so two runs never collide.
#
#   nn_setup N              make machines 1..N
#   nn_ip I                 machine I's address
#   nn_run I NAME CMD...    run CMD in machine I in the background, output in
#                           $T/NAME.out and $T/NAME.log; sets NN_PID[I]=pid
#   nn_berthd I NAME [flags] start berthd on machine I (API :7070 on every
#                           address, raft :7071), wait for its ready line
#   nn_kill I / nn_stop I / nn_cont I   kill -9, SIGSTOP, SIGCONT its process
#   nn_cut I / nn_heal I    take machine I's link down / up (both directions)
#   nn_url I                http://IP:7070
#
# nn_cleanup (an E2E_CLEANUP_HOOKS entry) heals and resumes every machine
# first (so the other cleanups can still talk to servers), then at the end
# kills every process left in each namespace and deletes the namespaces,
# veths and the bridge, pass or fail.

if ! ip netns list >/dev/null 2>&1 || [ "$(id -u)" -ne 0 ]; then
  echo "SKIP: $(basename "$0") builds network namespaces and needs root with iproute2 (CI runs as root)"
  exit 0
fi

NN_NET=${NN_NET:?set NN_NET to this test\'s subnet number (10.77.NN_NET.0/24)}
NN_TAG="$$"
NN_BR="bb${NN_TAG}"
NN_N=0
declare -A NN_PID NN_NAME

nn_ns() { echo "berth${NN_TAG}m$1"; }
nn_veth() { echo "vb${NN_TAG}m$1"; }
nn_ip() { echo "10.77.$NN_NET.$((10 + $1))"; }
nn_url() { echo "http://$(nn_ip "$1"):7070"; }

nn_setup() {
  local n=$1 i ns v
  ip link add "$NN_BR" type bridge || fail "cannot create bridge $NN_BR"
  NN_MADE_BR=1
  ip addr add "10.77.$NN_NET.1/24" dev "$NN_BR"
  ip link set "$NN_BR" up
  for i in $(seq 1 "$n"); do
    ns=$(nn_ns "$i"); v=$(nn_veth "$i")
    ip netns add "$ns" || fail "cannot create namespace $ns"
    NN_N=$i
    ip link add "$v" type veth peer name "p${NN_TAG}m$i"
    ip link set "p${NN_TAG}m$i" netns "$ns"
    ip -n "$ns" link set "p${NN_TAG}m$i" name eth0
    ip -n "$ns" addr add "$(nn_ip "$i")/24" dev eth0
    ip -n "$ns" link set eth0 up
    ip -n "$ns" link set lo up
    ip link set "$v" master "$NN_BR"
    ip link set "$v" up
  done
  for i in $(seq 1 "$n"); do
    wait_for 10 "machine $i link up" nn_link_up "$i"
  done
}

nn_link_up() { ip -n "$(nn_ns "$1")" link show eth0 | grep -q "state UP"; }

nn_run() {
  local i=$1 name=$2; shift 2
  : >"$T/$name.out"
  ip netns exec "$(nn_ns "$i")" "$@" >"$T/$name.out" 2>>"$T/$name.log" &
  NN_PID[$i]=$!
  NN_NAME[$i]=$name
  PIDS+=($!)
}

# nn_berthd I NAME [flags]: berthd on machine I, data in $T/data-NAME (kept
# across restarts unless the test removes it).
nn_berthd() {
  local i=$1 name=$2; shift 2
  nn_run "$i" "$name" "$BIN/berthd" --name "$name" --data-dir "$T/data-$name" \
    --listen 0.0.0.0:7070 --advertise "$(nn_ip "$i")" --raft "$(nn_ip "$i"):7071" "$@"
  wait_for 30 "berthd $name ready" grep -q "berthd ready" "$T/$name.out"
}

nn_kill() {
  local p=${NN_PID[$1]:-}
  [ -n "$p" ] || return 0
  kill -9 "$p" 2>/dev/null || true
  wait "$p" 2>/dev/null || true
  NN_PID[$1]=""
}
nn_stop() { kill -STOP "${NN_PID[$1]}"; }
nn_cont() { kill -CONT "${NN_PID[$1]}" 2>/dev/null || true; }
nn_cut() { ip link set "$(nn_veth "$1")" down; }
nn_heal() { ip link set "$(nn_veth "$1")" up; }

# nn_exec I CMD...: runs CMD in machine I (foreground).
nn_exec() { local i=$1; shift; ip netns exec "$(nn_ns "$i")" "$@"; }

nn_cleanup_early() {
  set +e
  local i
  for i in $(seq 1 "$NN_N"); do
    ip link set "$(nn_veth "$i")" up 2>/dev/null
    [ -n "${NN_PID[$i]:-}" ] && kill -CONT "${NN_PID[$i]}" 2>/dev/null
  done
  return 0
}

nn_cleanup() {
  set +e
  local i ns p end
  for i in $(seq 1 "$NN_N"); do
    ns=$(nn_ns "$i")
    for p in $(ip netns pids "$ns" 2>/dev/null); do kill -CONT "$p" 2>/dev/null; kill -9 "$p" 2>/dev/null; done
  done
  for i in $(seq 1 "$NN_N"); do
    ns=$(nn_ns "$i")
    end=$(( $(date +%s) + 5 ))
    while [ -n "$(ip netns pids "$ns" 2>/dev/null)" ] && [ "$(date +%s)" -lt "$end" ]; do sleep 0.05; done
    ip link del "$(nn_veth "$i")" 2>/dev/null
    ip netns del "$ns" 2>/dev/null
  done
  [ -n "${NN_MADE_BR:-}" ] && ip link del "$NN_BR" 2>/dev/null
  return 0
}
E2E_CLEANUP_HOOKS=(nn_cleanup_early "${E2E_CLEANUP_HOOKS[@]}" nn_cleanup)

#!/usr/bin/env bash
# run.sh: the README's 3-server, 2-agent cluster on one Linux host, with a
# network namespace per "machine" (10.77.50.11-15, a bridge on the host at
# 10.77.50.1). The berthd and berth-agent commands are the README's, with
# these addresses. It applies examples/web.yaml, shows the members, kills
# the leader, shows the new leader, and waits for Enter before tearing
# everything down (also on Ctrl-C or an error). Needs root and iproute2.
#   sudo examples/cluster/run.sh          (BIN: binaries, default build/bin)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
BIN=${BIN:-$ROOT/build/bin}
W=$(mktemp -d /tmp/berth-cluster.XXXXXX)
NET=10.77.50
BR=bcl$$
ns() { echo "bcl$$m$1"; }
ip_of() { echo "$NET.$((10 + $1))"; }
url() { echo "http://$(ip_of "$1"):7070"; }
PIDS=()
cleanup() {
  set +e
  for i in 1 2 3 4 5; do for p in $(ip netns pids "$(ns $i)" 2>/dev/null); do kill -9 "$p"; done; done
  sleep 0.5
  for i in 1 2 3 4 5; do ip link del "vcl$$m$i" 2>/dev/null; ip netns del "$(ns $i)" 2>/dev/null; done
  ip link del "$BR" 2>/dev/null
  awk -v t="$W/" 'index($2, t) == 1 { print $2 }' /proc/mounts | sort -r | while read -r m; do umount -l "$m"; done
  rm -rf "$W"
}
trap cleanup EXIT
[ "$(id -u)" = 0 ] || { echo "run.sh needs root (network namespaces)" >&2; exit 1; }

ip link add "$BR" type bridge; ip addr add "$NET.1/24" dev "$BR"; ip link set "$BR" up
for i in 1 2 3 4 5; do
  ip netns add "$(ns $i)"
  ip link add "vcl$$m$i" type veth peer name "pcl$$m$i"
  ip link set "pcl$$m$i" netns "$(ns $i)"
  ip -n "$(ns $i)" link set "pcl$$m$i" name eth0
  ip -n "$(ns $i)" addr add "$(ip_of $i)/24" dev eth0
  ip -n "$(ns $i)" link set eth0 up; ip -n "$(ns $i)" link set lo up
  ip link set "vcl$$m$i" master "$BR" up
done
on() { local i=$1; shift; ip netns exec "$(ns "$i")" "$@"; }
wait_line() { for _ in $(seq 1 300); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done; echo "timed out: $1" >&2; exit 1; }

server() {  # server I [--join ...]
  local i=$1; shift
  on "$i" "$BIN/berthd" --name "s$i" --data-dir "$W/s$i" --listen 0.0.0.0:7070 --advertise "$(ip_of "$i")" \
    --raft "$(ip_of "$i"):7071" "$@" >"$W/s$i.out" 2>"$W/s$i.log" &
  wait_line "$W/s$i.out" "berthd ready"
}
server 1
server 2 --join "$(url 1)"
server 3 --join "$(url 1),$(url 2)"
sh "$ROOT/scripts/make-busybox-image.sh" "$W/images" >/dev/null
for a in 4 5; do
  on "$a" "$BIN/berth-agent" --server "$(url 1),$(url 2),$(url 3)" --name "n$((a - 3))" \
    --data-dir "$W/n$a" --listen "$(ip_of "$a"):7080" --image-dir "$W/images" >"$W/n$a.out" 2>"$W/n$a.log" &
  wait_line "$W/n$a.out" "berth-agent ready"
done
export BERTH_SERVER=$(url 3)
sleep 2
"$BIN/berthctl" cluster members
"$BIN/berthctl" apply -f "$ROOT/examples/web.yaml"
sleep 5
"$BIN/berthctl" get pods -o wide
leader=$("$BIN/berthctl" cluster members -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["leader"])')
echo "--- killing the leader ($leader)"
li=${leader#s}
for p in $(ip netns pids "$(ns "$li")"); do kill -9 "$p"; done
[ "$li" = 3 ] && export BERTH_SERVER=$(url 1)
sleep 2
"$BIN/berthctl" cluster members
"$BIN/berthctl" get pods -o wide
read -r -p "Press Enter to tear the cluster down " _ || true

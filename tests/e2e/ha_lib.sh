# ha_lib.sh: helpers of the HA tests on top of netns_lib.sh: a cluster of
# berthd servers on machines 1..N (s1 bootstraps, the others --join), finding
# the leader, and waiting for the shape of the cluster.
source "$(dirname "${BASH_SOURCE[0]}")/netns_lib.sh"

# Not berthd's 200/25 default: these tests run ASan builds, two to a
# 2-core machine, whose loops stall several times longer than a release
# build's; the failover timing of the default is measured by
# bench/ha_bench.sh on a release build instead.
HA_FLAGS=(--election-timeout-ms 300 --heartbeat-ms 50)
HA_N=0

# ha_servers N [flags]: s1 on machine 1 bootstraps; s2..sN join through it.
ha_servers() {
  local n=$1 i; shift
  HA_N=$n
  nn_berthd 1 s1 "${HA_FLAGS[@]}" "$@"
  for i in $(seq 2 "$n"); do
    nn_berthd "$i" "s$i" "${HA_FLAGS[@]}" --join "$(nn_url 1)" "$@"
  done
  wait_for 30 "$n voters" ha_voters_are "$n"
  SERVER=$(nn_url 1)
}

# ha_urls: every server's API URL, comma separated.
ha_urls() { local i out=""; for i in $(seq 1 "$HA_N"); do out="$out${out:+,}$(nn_url "$i")"; done; echo "$out"; }

# ha_state I: the raft state machine I reports ("leader", "follower", ...).
ha_state() { curl -fsS -m 1 "$(nn_url "$1")/cluster/self" 2>/dev/null | jq -r .state 2>/dev/null; }

# ha_leader [EXCEPT]: prints the index of the server that says it leads
# (skipping EXCEPT); fails if none does.
ha_leader() {
  local i
  for i in $(seq 1 "$HA_N"); do
    [ "$i" = "${1:-}" ] && continue
    [ -n "${NN_PID[$i]:-}" ] || continue
    [ "$(ha_state "$i")" = leader ] && { echo "$i"; return 0; }
  done
  return 1
}

# ha_voters_are N: the leader lists N voters, all reachable.
ha_voters_are() {
  local l; l=$(ha_leader) || return 1
  [ "$(curl -fsS -m 3 "$(nn_url "$l")/cluster/members" |
       jq '[.members[] | select(.role=="voter" and .reachable)] | length')" = "$1" ]
}

# ha_wait_leader SECS [EXCEPT]: waits for a leader other than EXCEPT, sets HA_LEADER.
ha_wait_leader() {
  local secs=$1 except=${2:-} deadline=$(( $(date +%s%N) / 1000000 + $1 * 1000 ))
  while :; do
    HA_LEADER=$(ha_leader "$except") && return 0
    [ $(( $(date +%s%N) / 1000000 )) -ge $deadline ] && fail "no leader (other than ${except:-none}) within ${secs}s"
    sleep 0.05
  done
}

# ha_caught_up I: server I has applied as much as the leader had when asked.
ha_caught_up() {
  local i=$1 l lead mine
  l=$(ha_leader) || return 1
  lead=$(curl -fsS -m 1 "$(nn_url "$l")/cluster/self" | jq .applied)
  mine=$(curl -fsS -m 1 "$(nn_url "$i")/cluster/self" | jq .applied)
  [ -n "$mine" ] && [ -n "$lead" ] && [ "$mine" -ge "$lead" ]
}

# ha_agents FIRST LAST: an agent on each machine FIRST..LAST (node nK for
# machine K, numbered from 1 after the servers), pointing at every server;
# waits until each node is Ready. Needs agent_lib.sh (make_image first).
ha_agents() {
  local a name urls; urls=$(ha_urls)
  for a in $(seq "$1" "$2"); do
    name="n$((a - HA_N))"
    mkdir -p "$T/agent-$name"
    nn_run "$a" "agent-$name" "$BIN/berth-agent" --server "$urls" --name "$name" \
      --data-dir "$T/agent-$name" --listen "$(nn_ip "$a"):7080" --cpu 4000 --memory 8Gi \
      --image-dir "$IMG" --status-interval-ms 200 --heartbeat-s 1
    AGENT_PIDS+=("${NN_PID[$a]}")
    wait_for 30 "agent $name ready" grep -q "berth-agent ready" "$T/agent-$name.out"
    wait_for 20 "node $name Ready" node_ready "$name"
  done
}

# svc_lib.sh: helpers of the Service end-to-end tests. Sources agent_lib.sh
# (which sources lib.sh and cleans up containers, shims and mounts).
#
# Several agents share this machine, each on its own loopback address
# (127.0.0.2, 127.0.0.3, ...: all of 127/8 reaches lo with no setup), given
# by --listen. The address is also the node's InternalIP, the pods' IP (host
# networking) and where the agent's Service proxy listens on node ports.
source "$(dirname "${BASH_SOURCE[0]}")/agent_lib.sh"

# svc_start_agent NAME IP [extra flags]: an agent for node NAME listening on
# IP (port from free_port), labelled svc-node=NAME.
svc_start_agent() {
  local name=$1 ip=$2; shift 2
  local port; port=$(free_port)
  start_agent "$name" --listen "$ip:$port" --labels "svc-node=$name" "$@"
}

# svc_free_node_port: a port in the NodePort range free on 127.0.0.2-3.
svc_free_node_port() {
  python3 - <<'PY'
import random, socket
for _ in range(200):
    p = random.randint(30000, 32767)
    ok = True
    for ip in ("127.0.0.2", "127.0.0.3"):
        s = socket.socket()
        try:
            s.bind((ip, p))
        except OSError:
            ok = False
        s.close()
    if ok:
        print(p); break
PY
}

# svc_ready_count NS/NAME: the number of ready addresses of an Endpoints.
svc_ready_count() {
  ctl -n "${1%%/*}" get endpoints "${1#*/}" -o json 2>/dev/null |
    jq '[.subsets[]?.addresses[]?] | length'
}

# svc_ready_is NS/NAME N: the Endpoints has exactly N ready addresses.
svc_ready_is() { [ "$(svc_ready_count "$1")" = "$2" ]; }

# svc_hits URL N: N requests (new connection each); prints the answers'
# first words (pod names), one a line; a failed request prints FAILED.
svc_hits() {
  local url=$1 n=$2 i
  for ((i = 0; i < n; i++)); do
    curl -fsS -m 5 "$url" 2>/dev/null | head -1 | awk '{print $1}' || echo FAILED
  done
}

#!/usr/bin/env bash
# test_svc_nodeport.sh: Services end to end. One berthd and two agents on
# their own loopback addresses (nodes a at 127.0.0.2, b at 127.0.0.3); two
# one-replica Deployments pinned to a node each (the same app label, the
# same named containerPort on different node IPs: host networking) behind a
# NodePort Service. Checks: the endpoints controller lists both pods ready;
# each agent's proxy spreads connections over both endpoints; an endpoint
# whose server dies is skipped at once (no failed request) and its pod leaves
# the ready addresses when its readiness probe fails; a deleted pod's
# replacement takes its place; the Service's deletion closes the node port.
source "$(dirname "$0")/svc_lib.sh"

API=$(free_port); RAFT=$(free_port)
SERVER="http://127.0.0.1:$API"
start_berthd s1 "$T/data" "$API" "$RAFT"
make_image
svc_start_agent a 127.0.0.2
svc_start_agent b 127.0.0.3
pass "berthd and agents a (127.0.0.2), b (127.0.0.3) ready"

PORT=$(free_port); NP=$(svc_free_node_port)
[ -n "$NP" ] || fail "no free node port"
deploy() { # deploy NAME NODE IP
  cat <<YAML
apiVersion: apps/v1
kind: Deployment
metadata: {name: $1}
spec:
  replicas: 1
  selector: {matchLabels: {app: web, part: $1}}
  template:
    metadata: {labels: {app: web, part: $1}}
    spec:
      nodeSelector: {svc-node: $2}
      terminationGracePeriodSeconds: 5
      containers:
      - name: httpd
        image: busybox
        # httpd in the background: killing it leaves the container running
        # with its port closed (readiness fails). A replacement on the same
        # node (host networking: same port) waits for the old one to go.
        command:
        - sh
        - -c
        - |
          mkdir -p /www && hostname > /www/index.html
          trap 'kill \$h 2>/dev/null; exit 0' TERM
          while wget -q -T 1 -O /dev/null http://$3:$PORT/; do sleep 0.2; done
          httpd -f -p $3:$PORT -h /www & h=\$!
          wait \$h
          while :; do sleep 1 & wait \$!; done
        ports: [{name: http, containerPort: $PORT}]
        readinessProbe: {tcpSocket: {port: http}, periodSeconds: 1, failureThreshold: 1}
---
YAML
}
{ deploy web-a a 127.0.0.2; deploy web-b b 127.0.0.3; cat <<YAML
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  type: NodePort
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http, nodePort: $NP}]
YAML
} >"$T/svc.yaml"
ctl apply -f "$T/svc.yaml" >/dev/null || fail "apply"
wait_for 60 "2 ready endpoints" svc_ready_is default/web 2
ctl get endpoints web -o json >"$T/ep.json"
jq -e '[.subsets[].addresses[].ip] | sort == ["127.0.0.2","127.0.0.3"]' "$T/ep.json" >/dev/null \
  || fail "endpoint IPs: $(cat "$T/ep.json")"
jq -e "[.subsets[].ports[] | select(.port == $PORT and .name == \"http\")] | length == 1" "$T/ep.json" >/dev/null \
  || fail "endpoint ports: $(cat "$T/ep.json")"
jq -e '[.subsets[].addresses[].targetRef | select(.kind == "Pod")] | length == 2' "$T/ep.json" >/dev/null \
  || fail "targetRefs: $(cat "$T/ep.json")"
POD_A=$(ctl get pods -l part=web-a -o json | jq -r '.items[0].metadata.name')
POD_B=$(ctl get pods -l part=web-b -o json | jq -r '.items[0].metadata.name')
pass "Endpoints: $POD_A on 127.0.0.2 and $POD_B on 127.0.0.3, port $PORT"

# Connections through either node's proxy spread over both pods.
for ip in 127.0.0.2 127.0.0.3; do
  wait_for 20 "node port $ip:$NP answers" curl -fsS -m 2 "http://$ip:$NP/"
  svc_hits "http://$ip:$NP/" 10 >"$T/hits"
  na=$(grep -cx "$POD_A" "$T/hits" || true); nb=$(grep -cx "$POD_B" "$T/hits" || true)
  [ "$na" -ge 4 ] && [ "$nb" -ge 4 ] && [ $((na + nb)) -eq 10 ] \
    || fail "via $ip: $na from $POD_A, $nb from $POD_B: $(tr '\n' ' ' <"$T/hits")"
done
pass "both node ports spread connections over both endpoints"

# Kill web-b's server: no request fails (the proxy skips the refused
# endpoint), then readiness takes the pod out of the ready addresses.
pid_b=$(pod_pid "$POD_B") || fail "no pid for $POD_B"
uid_b=$(pod_field "$POD_B" .metadata.uid)
httpd_b=""
for p in $(find /sys/fs/cgroup/cpu -path "*/berth/pod-$uid_b/*" -name cgroup.procs -exec cat {} + 2>/dev/null); do
  if tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -q "^httpd -f"; then httpd_b=$p; break; fi
done
[ -n "$httpd_b" ] || fail "no httpd process in $POD_B (init $pid_b)"
kill -9 "$httpd_b"
wait_for 5 "httpd of $POD_B gone" sh -c "! curl -fsS -m 1 http://127.0.0.3:$PORT/"
svc_hits "http://127.0.0.3:$NP/" 10 >"$T/hits"
[ "$(grep -cx "$POD_A" "$T/hits")" -eq 10 ] || fail "after the kill: $(tr '\n' ' ' <"$T/hits")"
wait_for 30 "$POD_B not ready in Endpoints" sh -c \
  "$BIN/berthctl --server $SERVER get endpoints web -o json | jq -e '[.subsets[].addresses[]?.targetRef.name] == [\"$POD_A\"] and ([.subsets[].notReadyAddresses[]?.targetRef.name] == [\"$POD_B\"])'"
svc_hits "http://127.0.0.2:$NP/" 6 >"$T/hits"
[ "$(grep -cx "$POD_A" "$T/hits")" -eq 6 ] || fail "after readiness: $(tr '\n' ' ' <"$T/hits")"
pass "a killed endpoint stops receiving traffic at once; readiness moves it to notReadyAddresses"

# Deleting web-a's pod: its replacement takes over the traffic.
ctl delete pod "$POD_A" >/dev/null || fail "delete $POD_A"
new_a() { ctl get endpoints web -o json | jq -e --arg old "$POD_A" \
  '[.subsets[].addresses[]?.targetRef.name | select(startswith("web-a") and . != $old)] | length == 1'; }
wait_for 60 "a new web-a pod ready in Endpoints" new_a
POD_A2=$(ctl get pods -l part=web-a -o json | jq -r --arg old "$POD_A" '.items[] | select(.metadata.name != $old) | .metadata.name' | head -1)
wait_for 10 "traffic reaches $POD_A2" sh -c "curl -fsS -m 2 http://127.0.0.3:$NP/ | grep -q '^$POD_A2 *\$'"
pass "the replacement pod $POD_A2 serves through the node port"

# Deleting the Service closes the node ports and removes its Endpoints.
ctl delete service web >/dev/null || fail "delete service"
wait_for 20 "node port closed" sh -c "! curl -fsS -m 1 http://127.0.0.2:$NP/"
wait_for 20 "Endpoints gone" sh -c "! $BIN/berthctl --server $SERVER get endpoints web >/dev/null 2>&1"
pass "Service deleted: node port closed, Endpoints gone"

#!/usr/bin/env python3
"""ha_client.py: write load and durability check for the HA tests and benchmark.

  load  --urls U1,U2 --prefix P --out FILE [--threads 4] [--duration S]
        [--stop-file F] [--timeout 3]
      Creates ConfigMaps P-<thread>-<seq> through the given servers (thread t
      uses URL t mod n) until the duration is over or the stop file exists.
      Every acknowledged create (HTTP 201) is written to FILE as
      "name ack_time" (time.time()). Prints one line:
      "acked N failed M gap G at T" where G is the longest time (seconds)
      without any acknowledged write and T its start.
  gaps  --acked FILE --marks FILE
      For each time in marks (one per line: the moment a leader was killed),
      prints the gap without acknowledged writes that covers it.
  check --url U --prefix P --acked FILE
      Lists the ConfigMaps (consistent read) and fails if an acknowledged one
      is missing.
"""
import argparse
import http.client
import json
import os
import sys
import threading
import time
import urllib.parse


def conn_for(url, timeout):
    u = urllib.parse.urlparse(url)
    return http.client.HTTPConnection(u.hostname, u.port or 80, timeout=timeout)


def request(conn_box, url, method, path, body, timeout):
    """One request on a kept-alive connection (reopened after errors)."""
    if conn_box[0] is None:
        conn_box[0] = conn_for(url, timeout)
    c = conn_box[0]
    try:
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if data else {}
        c.request(method, path, body=data, headers=headers)
        r = c.getresponse()
        payload = r.read()
        return r.status, payload
    except Exception as e:  # noqa: BLE001 - any transport error is a failed op
        c.close()
        conn_box[0] = None
        return 0, str(e).encode()


def cmd_load(a):
    urls = a.urls.split(",")
    acks = []
    lock = threading.Lock()
    stats = {"failed": 0}
    end = time.time() + a.duration
    path = "/api/v1/namespaces/default/configmaps"

    def worker(t):
        url = urls[t % len(urls)]
        box = [None]
        seq = 0
        while time.time() < end and not (a.stop_file and os.path.exists(a.stop_file)):
            name = "%s-%d-%d" % (a.prefix, t, seq)
            body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name},
                    "data": {"seq": str(seq)}}
            st, _ = request(box, url, "POST", path, body, a.timeout)
            now = time.time()
            if st == 201:
                with lock:
                    acks.append((name, now))
                seq += 1
            elif st == 409:
                seq += 1  # created by an attempt whose answer was lost
            else:
                with lock:
                    stats["failed"] += 1
                time.sleep(0.02)

    start = time.time()
    ths = [threading.Thread(target=worker, args=(t,)) for t in range(a.threads)]
    for th in ths:
        th.start()
    for th in ths:
        th.join()
    acks.sort(key=lambda x: x[1])
    with open(a.out, "w") as f:
        for n, t in acks:
            f.write("%s %.6f\n" % (n, t))
    gap, at, prev = 0.0, start, start
    for _, t in acks:
        if t - prev > gap:
            gap, at = t - prev, prev
        prev = t
    print("acked %d failed %d gap %.3f at %.3f" % (len(acks), stats["failed"], gap, at))


def cmd_gaps(a):
    """For each mark: the longest time without an acknowledged write in the
    window from the last ack before the mark to WINDOW seconds after it."""
    times = sorted(float(l.split()[1]) for l in open(a.acked) if l.strip())
    for line in open(a.marks):
        if not line.strip():
            continue
        m = float(line)
        before = [t for t in times if t <= m]
        win = ([before[-1]] if before else []) + [t for t in times if m < t <= m + a.window]
        if len(win) < 2:
            print("nan")
            continue
        print("%.3f" % max(y - x for x, y in zip(win, win[1:])))


def cmd_check(a):
    acked = [l.split()[0] for l in open(a.acked) if l.strip()]
    names = set()
    cont = ""
    box = [None]
    while True:
        path = "/api/v1/namespaces/default/configmaps?limit=500"
        if cont:
            path += "&continue=" + urllib.parse.quote(cont)
        for _ in range(100):
            st, body = request(box, a.url, "GET", path, None, 10)
            if st == 200:
                break
            time.sleep(0.2)
        else:
            print("cannot list configmaps: %s" % body[:200], file=sys.stderr)
            sys.exit(2)
        doc = json.loads(body)
        for it in doc.get("items", []):
            names.add(it["metadata"]["name"])
        cont = doc.get("metadata", {}).get("continue", "")
        if not cont:
            break
    missing = [n for n in acked if n not in names]
    print("acknowledged %d, present %d, missing %d" % (len(acked), len(acked) - len(missing), len(missing)))
    if missing:
        print("missing: %s" % " ".join(missing[:20]), file=sys.stderr)
        sys.exit(1)


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    l = sub.add_parser("load")
    l.add_argument("--urls", required=True)
    l.add_argument("--prefix", required=True)
    l.add_argument("--out", required=True)
    l.add_argument("--threads", type=int, default=4)
    l.add_argument("--duration", type=float, default=3600)
    l.add_argument("--stop-file")
    l.add_argument("--timeout", type=float, default=3)
    g = sub.add_parser("gaps")
    g.add_argument("--acked", required=True)
    g.add_argument("--marks", required=True)
    g.add_argument("--window", type=float, default=5)
    c = sub.add_parser("check")
    c.add_argument("--url", required=True)
    c.add_argument("--prefix", required=True)
    c.add_argument("--acked", required=True)
    a = p.parse_args()
    {"load": cmd_load, "gaps": cmd_gaps, "check": cmd_check}[a.cmd](a)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""linearizability.py: clients doing reads and compare-and-set writes on a few
registers through different servers, and a checker of their history.

  linearizability.py --urls U1,U2,U3 --stop-file F [--clients 6] [--keys 3]

Each register is a ConfigMap lin-K whose data is {"v": value, "prev": value
it replaced}. A client repeatedly picks a register and a server, and either
reads it (GET without resourceVersion: a linearizable read) or does a
compare-and-set: read it, then PUT a new unique value with the
resourceVersion it read (409 if someone wrote in between). Every operation
is recorded with its invocation and completion time. Writes whose answer
was lost (timeout, 5xx) are "indeterminate": they may or may not have
happened.

When the stop file appears the clients stop, the final value of each
register is read, and the history is checked:

 * Because every value names the value it replaced, the final value leads
   back to the initial one through the chain of writes that took effect, in
   the order they took effect.
 * No acknowledged write is lost: each is on its register's chain; a write
   refused with 409 is not.
 * Every read returned a value on the chain (nothing uncommitted or lost was
   ever visible), whose write had been invoked before the read completed.
 * Real-time order: if operation X completed before operation Y was invoked,
   X's position on the chain is not after Y's (strictly before when Y is a
   write). Positions: a write's index on the chain, a read's the index of
   the value it returned.

Prints a summary; exits 1 on a violation.
"""
import argparse
import http.client
import json
import os
import random
import sys
import threading
import time
import urllib.parse

INIT = "init"


class Client:
    def __init__(self, url, timeout):
        u = urllib.parse.urlparse(url)
        self.host, self.port, self.timeout, self.conn = u.hostname, u.port or 80, timeout, None

    def req(self, method, path, body=None):
        if self.conn is None:
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            data = json.dumps(body).encode() if body is not None else None
            self.conn.request(method, path, body=data,
                              headers={"Content-Type": "application/json"} if data else {})
            r = self.conn.getresponse()
            return r.status, r.read()
        except Exception:  # noqa: BLE001
            self.conn.close()
            self.conn = None
            return 0, b""


def path_of(key):
    return "/api/v1/namespaces/default/configmaps/lin-%d" % key


def obj(key, value, prev, rv=None):
    md = {"name": "lin-%d" % key}
    if rv:
        md["resourceVersion"] = rv
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": md, "data": {"v": value, "prev": prev}}


def setup(urls, keys):
    c = Client(urls[0], 5)
    for k in range(keys):
        for _ in range(200):
            st, _ = c.req("POST", "/api/v1/namespaces/default/configmaps", obj(k, INIT, ""))
            if st in (201, 409):
                break
            time.sleep(0.1)
        else:
            sys.exit("cannot create register %d" % k)


def run_clients(a, urls):
    history = []   # (key, kind, value, prev, inv, comp, status) kind: r/w
    lock = threading.Lock()

    def record(*op):
        with lock:
            history.append(op)

    def worker(cid):
        rnd = random.Random(cid)
        clients = [Client(u, a.timeout) for u in urls]
        seq = 0
        while not os.path.exists(a.stop_file):
            key = rnd.randrange(a.keys)
            c = clients[rnd.randrange(len(clients))]
            inv = time.time()
            st, body = c.req("GET", path_of(key))
            comp = time.time()
            if st != 200:
                time.sleep(0.02)
                continue
            o = json.loads(body)
            cur, rv = o["data"]["v"], o["metadata"]["resourceVersion"]
            record(key, "r", cur, None, inv, comp, "ok")
            if rnd.random() < 0.5:
                continue
            seq += 1
            val = "c%d-%d" % (cid, seq)
            inv = time.time()
            st, _ = c.req("PUT", path_of(key), obj(key, val, cur, rv))
            comp = time.time()
            status = "ok" if st == 200 else "fail" if st == 409 else "unknown"
            record(key, "w", val, cur, inv, comp, status)
            if status == "unknown":
                time.sleep(0.02)

    ths = [threading.Thread(target=worker, args=(i,)) for i in range(a.clients)]
    for t in ths:
        t.start()
    for t in ths:
        t.join()
    return history


def final_values(urls, keys):
    out = {}
    for k in range(keys):
        for attempt in range(300):
            c = Client(urls[attempt % len(urls)], 3)
            st, body = c.req("GET", path_of(k))
            if st == 200:
                out[k] = json.loads(body)["data"]
                break
            time.sleep(0.1)
        else:
            sys.exit("cannot read register %d at the end" % k)
    return out


def check_key(key, ops, final):
    problems = []
    writes = {op[2]: op for op in ops if op[1] == "w"}
    # walk the chain back from the final value
    chain = [final["v"]]
    prev = final["prev"]
    seen = {final["v"]}
    cur = final["v"]
    while cur != INIT:
        w = writes.get(cur)
        if w is None:
            problems.append("value %s is on the chain but no client wrote it" % cur)
            break
        cur = w[3]
        if cur in seen:
            problems.append("the chain loops at %s" % cur)
            break
        seen.add(cur)
        chain.append(cur)
    del prev
    chain.reverse()  # INIT first
    pos = {v: i for i, v in enumerate(chain)}
    for v, w in writes.items():
        if w[6] == "ok" and v not in pos:
            problems.append("acknowledged write %s is lost" % v)
        if w[6] == "fail" and v in pos:
            problems.append("write %s was refused (409) but took effect" % v)
    # positioned operations: (pos, is_write, inv, comp)
    pops = []
    for op in ops:
        kind, val, inv, comp, st = op[1], op[2], op[4], op[5], op[6]
        if val not in pos:
            if kind == "r":
                problems.append("read returned %s, which is not on the chain" % val)
            continue
        p = pos[val]
        if kind == "r":
            if p > 0 and writes[val][4] > comp:
                problems.append("read of %s completed before its write was invoked" % val)
            pops.append((p, False, inv, comp))
        else:
            pops.append((p, True, inv, comp if st == "ok" else float("inf")))
    by_comp = sorted(pops, key=lambda x: x[3])
    j, maxpos, maxop = 0, -1, None
    for op in sorted(pops, key=lambda x: x[2]):
        while j < len(by_comp) and by_comp[j][3] < op[2]:
            if by_comp[j][0] > maxpos:
                maxpos, maxop = by_comp[j][0], by_comp[j]
            j += 1
        bad = maxpos >= op[0] if op[1] else maxpos > op[0]
        if bad:
            problems.append("real-time order broken: an operation at position %d completed before "
                            "one at position %d (%s) was invoked" % (maxop[0], op[0],
                                                                      "write" if op[1] else "read"))
    return chain, problems


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--urls", required=True)
    p.add_argument("--stop-file", required=True)
    p.add_argument("--clients", type=int, default=6)
    p.add_argument("--keys", type=int, default=3)
    p.add_argument("--timeout", type=float, default=3)
    a = p.parse_args()
    urls = a.urls.split(",")
    setup(urls, a.keys)
    print("registers created; clients running", flush=True)
    hist = run_clients(a, urls)
    finals = final_values(urls, a.keys)
    bad = 0
    for k in range(a.keys):
        ops = [op for op in hist if op[0] == k]
        chain, problems = check_key(k, ops, finals[k])
        w = [op for op in ops if op[1] == "w"]
        print("register %d: %d reads, %d writes (%d acknowledged, %d refused, %d indeterminate), "
              "chain of %d values: %s" % (
                  k, len(ops) - len(w), len(w), sum(op[6] == "ok" for op in w),
                  sum(op[6] == "fail" for op in w), sum(op[6] == "unknown" for op in w),
                  len(chain), "ok" if not problems else "VIOLATIONS"))
        for pr in problems[:10]:
            print("  " + pr)
        bad += len(problems)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""rawclient.py: hostile HTTP clients for the bad-input tests.

Each mode talks raw TCP to berthd and prints one word a test can check.
  slow HOST PORT          sends one byte a second; prints "closed" and the
                          seconds it took when the server hangs up
  hugeheaders HOST PORT   sends 200 KiB of headers; prints the status code
  manyheaders HOST PORT   sends 500 headers; prints the status code
  truncated HOST PORT     announces 1000 body bytes, sends 10, half-closes;
                          prints the status code or "closed"
  garbage HOST PORT       sends a non-HTTP line; prints the status code
  nonreader HOST PORT PATH  opens a watch and never reads; holds it open
                          until killed
"""
import socket
import sys
import time


def connect(host, port):
    s = socket.create_connection((host, int(port)), timeout=30)
    return s


def status_of(s):
    data = b""
    try:
        while b"\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    except (ConnectionResetError, socket.timeout):
        pass
    if not data:
        return "closed"
    return data.split(b" ", 2)[1].decode()


def main():
    mode, host, port = sys.argv[1], sys.argv[2], sys.argv[3]
    s = connect(host, port)
    if mode == "slow":
        start = time.time()
        req = b"GET /api/v1/namespaces/default/configmaps HTTP/1.1\r\nHost: x\r\n\r\n"
        s.settimeout(1.0)
        for b in req:
            try:
                s.send(bytes([b]))
                got = s.recv(4096)
                if got == b"" or got:
                    print("closed %.1f" % (time.time() - start))
                    return
            except socket.timeout:
                continue
            except (BrokenPipeError, ConnectionResetError):
                print("closed %.1f" % (time.time() - start))
                return
        print("completed %.1f" % (time.time() - start))
    elif mode == "hugeheaders":
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 200000 + b"\r\n\r\n")
        print(status_of(s))
    elif mode == "manyheaders":
        hdrs = b"".join(b"X-H%d: v\r\n" % i for i in range(500))
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + hdrs + b"\r\n")
        print(status_of(s))
    elif mode == "truncated":
        s.sendall(b"POST /api/v1/namespaces/default/configmaps HTTP/1.1\r\nHost: x\r\n"
                  b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"metadata\"")
        s.shutdown(socket.SHUT_WR)
        print(status_of(s))
    elif mode == "garbage":
        s.sendall(b"\x16\x03\x01 this is not http\r\n\r\n")
        print(status_of(s))
    elif mode == "nonreader":
        path = sys.argv[4].encode()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.sendall(b"GET " + path + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        print("watching", flush=True)
        time.sleep(3600)


if __name__ == "__main__":
    main()

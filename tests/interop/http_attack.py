#!/usr/bin/env python3
"""Hostile HTTP clients for the serve_limits spec: what an attacker on the device network does to
`sceplab serve`. Each mode prints one JSON line with what it saw.

  trickle HOST PORT N SECONDS [--source ADDR] [--interval S]
      N connections, each sending a request head one byte every interval (a slow loris), for
      SECONDS; reports how many connected and when each was closed by the server.
  pipeline HOST PORT CONNS SECONDS
      CONNS connections each writing pipelined GetCACaps requests as fast as the server takes
      them, never reading an answer; reports the bytes the server accepted.
  body HOST PORT SECONDS [--interval S]
      one POST whose head is sent at once and whose body trickles a byte every interval.
  raw HOST PORT [--source ADDR]
      sends standard input as is, prints what comes back until the server closes (or 5 s).
  idle HOST PORT PATH WAIT
      one request, WAIT seconds of silence on the same connection, a second request: both statuses.
"""
import json
import select
import socket
import sys
import time


def connect(host, port, source=None, timeout=5):
    s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    if source:
        s.bind((source, 0))
    s.connect((host, port))
    return s


def closed_by_peer(s):
    """True when the server closed the connection (EOF or reset), without blocking."""
    try:
        r, _, _ = select.select([s], [], [], 0)
        if not r:
            return False
        return s.recv(65536) == b""
    except OSError:
        return True


def trickle(host, port, n, seconds, source=None, interval=0.5):
    socks, refused = [], 0
    for _ in range(n):
        try:
            s = connect(host, port, source, timeout=1)
            socks.append([s, time.time(), None])
        except OSError:
            refused += 1
    head = b"GET /certsrv/mscep/mscep.dll?operation=GetCACaps HTTP/1.1\r\nHost: x\r\n" + b"X-Slow: " + b"a" * 100000
    start = time.time()
    pos = 0
    while time.time() - start < seconds and any(e[2] is None for e in socks):
        for e in socks:
            if e[2] is not None:
                continue
            if closed_by_peer(e[0]):
                e[2] = time.time() - e[1]
                continue
            try:
                e[0].send(head[pos:pos + 1])
            except OSError:
                e[2] = time.time() - e[1]
        pos += 1
        time.sleep(interval)
    closed = [round(e[2], 2) for e in socks if e[2] is not None]
    for e in socks:
        e[0].close()
    print(json.dumps({"connected": len(socks), "refused": refused, "closed": len(closed),
                      "closed_after": sorted(closed)}))


def pipeline(host, port, conns, seconds):
    req = b"GET /certsrv/mscep/mscep.dll?operation=GetCACaps HTTP/1.1\r\nHost: x\r\n\r\n" * 256
    socks = [connect(host, port) for _ in range(conns)]
    for s in socks:
        s.setblocking(False)
    sent = [0] * conns
    start = time.time()
    while time.time() - start < seconds:
        _, w, _ = select.select([], socks, [], 0.2)
        for s in w:
            try:
                sent[socks.index(s)] += s.send(req)
            except (BlockingIOError, InterruptedError):
                pass
            except OSError:
                pass
    for s in socks:
        s.close()
    print(json.dumps({"sent": sum(sent), "per_connection": sent}))


def body(host, port, seconds, interval=0.5):
    s = connect(host, port)
    s.send(b"POST /certsrv/mscep/mscep.dll?operation=PKIOperation HTTP/1.1\r\nHost: x\r\n"
           b"Content-Type: application/x-pki-message\r\nContent-Length: 60000\r\n\r\n")
    start = time.time()
    closed = None
    while time.time() - start < seconds:
        if closed_by_peer(s):
            closed = time.time() - start
            break
        try:
            s.send(b"A")
        except OSError:
            closed = time.time() - start
            break
        time.sleep(interval)
    s.close()
    print(json.dumps({"closed_after": closed and round(closed, 2)}))


def raw(host, port, source=None):
    s = connect(host, port, source)
    s.sendall(sys.stdin.buffer.read())
    out = b""
    end = time.time() + 5
    while time.time() < end:
        try:
            b = s.recv(65536)
        except socket.timeout:
            break
        except OSError:
            break
        if not b:
            break
        out += b
    s.close()
    sys.stdout.write(out.decode("latin-1"))


def idle(host, port, path, wait):
    s = connect(host, port, timeout=10)
    req = ("GET %s HTTP/1.1\r\nHost: %s:%d\r\n\r\n" % (path, host, port)).encode()

    def answer():
        data = b""
        while b"\r\n\r\n" not in data:
            b = s.recv(65536)
            if not b:
                return None, data
            data += b
        head, rest = data.split(b"\r\n\r\n", 1)
        length = 0
        for line in head.split(b"\r\n")[1:]:
            k, _, v = line.partition(b":")
            if k.strip().lower() == b"content-length":
                length = int(v.strip())
        while len(rest) < length:
            b = s.recv(65536)
            if not b:
                break
            rest += b
        return head.decode("latin-1"), rest

    out = {}
    s.sendall(req)
    head, _ = answer()
    out["first"] = head
    time.sleep(wait)
    try:
        s.sendall(req)
        head, _ = answer()
        out["second"] = head
    except OSError as e:
        out["second"] = None
        out["error"] = str(e)
    print(json.dumps(out))


def main():
    a = sys.argv[1:]
    opts = {}
    pos = []
    i = 0
    while i < len(a):
        if a[i].startswith("--"):
            opts[a[i][2:]] = a[i + 1]
            i += 1
        else:
            pos.append(a[i])
        i += 1
    mode, host, port = pos[0], pos[1], int(pos[2])
    if mode == "trickle":
        trickle(host, port, int(pos[3]), float(pos[4]), opts.get("source"), float(opts.get("interval", 0.5)))
    elif mode == "pipeline":
        pipeline(host, port, int(pos[3]), float(pos[4]))
    elif mode == "body":
        body(host, port, float(pos[3]), float(opts.get("interval", 0.5)))
    elif mode == "raw":
        raw(host, port, opts.get("source"))
    elif mode == "idle":
        idle(host, port, pos[3], float(pos[4]))
    else:
        sys.exit("unknown mode " + mode)


if __name__ == "__main__":
    main()

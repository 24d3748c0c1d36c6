#!/usr/bin/python3
"""Slow and trickling clients against ocirenderd (python3 standard library only).

  trickle PORT N SOURCES HEADER_TIMEOUT SLACK
      N connections spread over SOURCES loopback addresses (127.0.1.1, 127.0.1.2, ...) that
      each send one header byte per second and never finish. Meanwhile a client on 127.0.0.2
      asks GET /healthz again and again. Every trickler must be closed by the server within
      HEADER_TIMEOUT + SLACK of its start (the header deadline: one byte a second is never
      idle), and every /healthz must answer 200 within HEADER_TIMEOUT + SLACK.
  slow-body PORT BODY_TIMEOUT SLACK
      headers of a POST /render with Content-Length 1000, then one body byte a second: the
      server must close it between BODY_TIMEOUT and BODY_TIMEOUT + SLACK.
  per-ip PORT SOURCE N
      N simultaneous connections from SOURCE, each sends GET /healthz once all are open;
      prints how many got 200.
Prints one JSON line of figures; exit status 0 when the checks passed.
"""
import json
import resource
import selectors
import socket
import sys
import threading
import time

HEADER = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Trickle: " + b"a" * 4096


def raise_nofile(n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(max(soft, n), hard) if hard != resource.RLIM_INFINITY else max(soft, n)
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def connect_from(source, port, timeout=30):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.bind((source, 0))
    s.connect(("127.0.0.1", port))
    return s


def healthz(source, port, timeout):
    started = time.monotonic()
    try:
        s = connect_from(source, port, timeout)
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        s.close()
        status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.1 ") else 0
    except OSError as exc:
        status = "error: %s" % exc
    return status, time.monotonic() - started


def cmd_trickle(port, n, sources, header_timeout, slack):
    raise_nofile(n + 256)
    sel = selectors.DefaultSelector()
    opened = {}
    closed = {}
    for i in range(n):
        source = "127.0.1.%d" % (1 + i % sources)
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind((source, 0))
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", port))
        opened[s] = time.monotonic()
        sel.register(s, selectors.EVENT_READ)

    probes = []
    stop = threading.Event()

    def probe():
        while not stop.is_set():
            probes.append(healthz("127.0.0.2", port, header_timeout + slack + 5))
            time.sleep(0.2)

    prober = threading.Thread(target=probe)
    prober.start()
    limit = time.monotonic() + 2 * header_timeout + slack + 5
    sent = 0
    next_byte = time.monotonic()
    while opened.keys() - closed.keys() and time.monotonic() < limit:
        for key, _ in sel.select(timeout=0.1):
            s = key.fileobj
            try:
                gone = s.recv(4096) == b""
            except (BlockingIOError, InterruptedError):
                gone = False
            except OSError:
                gone = True
            if gone:
                closed[s] = time.monotonic()
                sel.unregister(s)
        if time.monotonic() >= next_byte:  # one more header byte on every open connection
            for s in opened.keys() - closed.keys():
                try:
                    s.send(HEADER[sent:sent + 1])
                except (BlockingIOError, InterruptedError):
                    pass
                except OSError:
                    closed[s] = time.monotonic()
                    sel.unregister(s)
            sent += 1
            next_byte += 1.0
    stop.set()
    prober.join()
    lived = sorted(closed[s] - opened[s] for s in closed)
    failures = []
    still_open = len(opened) - len(closed)
    if still_open:
        failures.append("%d trickling connections were still open after %.0f s"
                        % (still_open, 2 * header_timeout + slack + 5))
    # Past the total connection cap, connections wait in the listen backlog until the first
    # deadline frees slots, and then get their own deadline: twice the deadline at most.
    allowed = header_timeout * (1 if sources == 1 else 2) + slack
    if lived and lived[-1] > allowed:
        failures.append("a trickler lived %.1f s, more than %d s (header deadline %d s)"
                        % (lived[-1], allowed, header_timeout))
    bad = [p for p in probes if p[0] != 200 or p[1] > header_timeout + slack]
    if not probes or bad:
        failures.append("healthz while trickling: %d probes, bad: %s" % (len(probes), bad[:5]))
    for s in opened:
        s.close()
    lat = sorted(p[1] for p in probes)
    figures = {"tricklers": n, "sources": sources, "bytes_sent_each": sent,
               "closed": len(closed),
               "closed_within_1s": sum(1 for t in lived if t < 1.0),
               "longest_lived_s": round(lived[-1], 2) if lived else None,
               "healthz_probes": len(probes),
               "healthz_max_s": round(lat[-1], 3) if lat else None,
               "healthz_median_s": round(lat[len(lat) // 2], 3) if lat else None}
    return figures, failures


def cmd_slow_body(port, body_timeout, slack):
    s = connect_from("127.0.0.5", port)
    s.sendall(b"POST /render HTTP/1.1\r\nHost: x\r\nContent-Type: application/yaml\r\n"
              b"Content-Length: 1000\r\n\r\n")
    started = time.monotonic()
    s.settimeout(1.0)
    closed_after = None
    while time.monotonic() - started < body_timeout + slack + 5:
        try:
            s.send(b"a")
            if s.recv(4096) == b"":
                closed_after = time.monotonic() - started
                break
        except socket.timeout:
            continue
        except OSError:
            closed_after = time.monotonic() - started
            break
    s.close()
    failures = []
    if closed_after is None or not body_timeout - 0.5 <= closed_after <= body_timeout + slack:
        failures.append("a trickled body was closed after %s s, expected about %d s"
                        % (closed_after, body_timeout))
    return {"slow_body_closed_after_s": closed_after and round(closed_after, 2)}, failures


def cmd_per_ip(port, source, n):
    raise_nofile(n + 256)
    socks = []
    for _ in range(n):
        try:
            socks.append(connect_from(source, port, 10))
        except OSError:
            pass
    time.sleep(0.5)  # let the server accept (or refuse) them all before anyone asks
    served = 0
    for s in socks:
        try:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            if s.recv(4096).startswith(b"HTTP/1.1 200"):
                served += 1
        except OSError:
            pass
        s.close()
    return {"source": source, "connections": n, "served": served}, []


def main():
    cmd, port = sys.argv[1], int(sys.argv[2])
    args = [int(a) if a.isdigit() else a for a in sys.argv[3:]]
    if cmd == "trickle":
        figures, failures = cmd_trickle(port, *args)
    elif cmd == "slow-body":
        figures, failures = cmd_slow_body(port, *args)
    elif cmd == "per-ip":
        figures, failures = cmd_per_ip(port, *args)
    else:
        print(__doc__, file=sys.stderr)
        return 2
    print(json.dumps(figures))
    for f in failures:
        print("FAIL: " + f, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

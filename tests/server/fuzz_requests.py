#!/usr/bin/python3
"""Byte-mutated requests against ocirenderd (python3 standard library only).

usage: fuzz_requests.py PORT LOG SRC_DIR N SEED

Sends N requests, one per connection and one after another, each a valid request (render,
validate, envelope, probes; with queries and headers) with 1 to 4 random bytes of its request
line, headers or body replaced. The Content-Length and Connection headers are left intact and
Content-Length is recomputed, so the framing stays one request per connection. After each
request the server's access log must grow by exactly one line; no answer and no log line may
be a 500 (other 5xx are answers about the request, e.g. 505 for "HTTP/9.1"). Prints the figures as one JSON line; exit status 0 when every check passed.
"""
import json
import os
import random
import socket
import sys
import time

BYTES = [0x00, 0x01, 0x09, 0x0a, 0x0d, 0x20, 0x22, 0x25, 0x26, 0x3a, 0x3d, 0x3f, 0x5c, 0x7f,
         0x80, 0xbf, 0xc0, 0xc3, 0xe2, 0xed, 0xf0, 0xf4, 0xf8, 0xfe, 0xff]


def base_requests(src):
    web = open(os.path.join(src, "examples", "web.yaml"), "rb").read()
    deployment = open(os.path.join(src, "examples", "deployment.yaml"), "rb").read()
    envelope = json.dumps({"spec": web.decode(), "host": {"env": {"A": "b"}},
                           "options": {"hostname": "h-1"}}).encode()
    return [
        (b"POST /render?replica=2&hostname=web-2 HTTP/1.1",
         [b"Host: x", b"Content-Type: application/yaml", b"X-Request-Id: fuzz"], web),
        (b"POST /render?service=api&format=envelope HTTP/1.1",
         [b"Host: x", b"Accept: application/json"], deployment),
        (b"POST /render?compact=true HTTP/1.1",
         [b"Host: x", b"Content-Type: application/json; charset=utf-8"], envelope),
        (b"POST /validate?service=web HTTP/1.1", [b"Host: x", b"Content-Type: text/yaml"], web),
        (b"GET /healthz HTTP/1.1", [b"Host: x", b"User-Agent: fuzz/1"], b""),
        (b"GET /metrics HTTP/1.1", [b"Host: x", b"Accept: text/plain"], b""),
        (b"GET /version?x=1 HTTP/1.1", [b"Host: x"], b""),
        (b"GET /readyz HTTP/1.1", [b"Host: x"], b""),
    ]


def mutate(rng, line, headers, body):
    parts = [bytearray(line)] + [bytearray(h) for h in headers] + [bytearray(body)]
    for _ in range(rng.randint(1, 4)):
        candidates = [p for p in parts if p]
        part = rng.choice(candidates)
        part[rng.randrange(len(part))] = rng.choice(BYTES) if rng.random() < 0.7 \
            else rng.randrange(256)
    return bytes(parts[0]), [bytes(p) for p in parts[1:-1]], bytes(parts[-1])


def assemble(line, headers, body):
    head = [line] + headers + [b"Content-Length: %d" % len(body), b"Connection: close"]
    return b"\r\n".join(head) + b"\r\n\r\n" + body


def exchange(port, data, timeout=10):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(data)
        out = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
    except OSError:
        pass
    finally:
        s.close()
    if out.startswith(b"HTTP/1."):
        try:
            return int(out.split(b" ", 2)[1])
        except ValueError:
            return -1
    return 0  # closed without an answer


class Log:
    def __init__(self, path):
        self.path = path
        self.lines = []
        self.offset = 0
        self.partial = b""

    def poll(self):
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            data = f.read()
        self.offset += len(data)
        data = self.partial + data
        *complete, self.partial = data.split(b"\n")
        for raw in complete:
            d = json.loads(raw)
            if d.get("event") == "request":
                self.lines.append(d)

    def wait_for(self, count, timeout):
        until = time.monotonic() + timeout
        while True:
            self.poll()
            if len(self.lines) >= count or time.monotonic() > until:
                return len(self.lines)
            time.sleep(0.005)


def main():
    port, log_path, src = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    n, seed = int(sys.argv[4]), int(sys.argv[5])
    slow = float(os.environ.get("FUZZ_SLOW_FACTOR", "1"))
    rng = random.Random(seed)
    bases = base_requests(src)
    log = Log(log_path)
    log.poll()
    start_lines = len(log.lines)
    statuses = {}
    failures = []
    for i in range(n):
        line, headers, body = mutate(rng, *rng.choice(bases))
        data = assemble(line, headers, body)
        status = exchange(port, data)
        statuses[status] = statuses.get(status, 0) + 1
        if status == 500:
            failures.append("request %d got %d: %r" % (i, status, data[:200]))
        want = start_lines + i + 1
        got = log.wait_for(want, 5 * slow)
        if got != want:
            failures.append("request %d: %d access-log lines, expected %d: %r"
                            % (i, got - start_lines - i, 1, data[:200]))
            start_lines += got - want  # keep counting from here
        if len(failures) > 20:
            break
    time.sleep(0.3)  # a late extra line would show now
    log.poll()
    extra = len(log.lines) - start_lines - n
    if extra:
        failures.append("%d access-log lines more than requests" % extra)
    logged_500 = [d for d in log.lines if d.get("status") == 500]
    if logged_500:
        failures.append("500s in the access log: %s" % logged_500[:3])
    print(json.dumps({"requests": n, "seed": seed, "log_lines": len(log.lines),
                      "statuses": {str(k): v for k, v in sorted(statuses.items())}}))
    for f in failures[:20]:
        print("FAIL: " + f, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

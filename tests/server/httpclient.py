#!/usr/bin/python3
"""Raw HTTP clients for the ocirenderd integration tests (python3 standard library only).

curl covers ordinary requests; these cover what curl cannot do on purpose:
  parallel HOST PORT FILE N CONCURRENCY   N concurrent POST /render of FILE; all must be 200
  corpus HOST PORT DIR                    post every file of a bad-input corpus; check EXPECT
  slow HOST PORT                          send headers and part of a body, then stall; report
                                          how long until the server drops the connection
  headers HOST PORT N                     a request with N headers; print the status line
  slow-upload HOST PORT FILE MARK DELAY   send half of FILE, touch MARK, wait DELAY seconds,
                                          send the rest; print the status code and body
  declared HOST PORT LENGTH WAIT          POST headers declaring LENGTH body bytes and wait up to
                                          WAIT seconds for an answer; then send the body if none
                                          came; print "before-body" or "after-body", then the
                                          status code
Exit status 0 when the check passed, 1 otherwise (details on stderr).
"""
import concurrent.futures
import http.client
import json
import os
import socket
import sys
import time


def post(host, port, path, body, headers=None, timeout=30):
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("POST", path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


def cmd_parallel(host, port, path, n, concurrency):
    body = open(path, "rb").read()
    codes = {}
    errors = []

    def one(_):
        try:
            status, _, data = post(host, int(port), "/render", body)
            return status, len(data)
        except Exception as exc:  # noqa: BLE001 - any failure is a finding
            return "error: %s" % exc, 0

    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=int(concurrency)) as pool:
        for status, _ in pool.map(one, range(int(n))):
            codes[status] = codes.get(status, 0) + 1
            if status != 200:
                errors.append(status)
    took = time.monotonic() - started
    print("parallel: %s in %.2fs" % (json.dumps({str(k): v for k, v in codes.items()}), took))
    if errors:
        print("parallel: %d requests failed, e.g. %s" % (len(errors), errors[:3]), file=sys.stderr)
        return 1
    return 0


def load_expect(directory):
    expect = {}
    path = os.path.join(directory, "EXPECT")
    if not os.path.exists(path):
        return expect
    for line in open(path, encoding="utf-8"):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.rstrip("\n").split("\t")
        if len(parts) >= 2:
            expect[parts[0]] = (int(parts[1]), parts[2] if len(parts) > 2 else "")
    return expect


def problem_texts(doc):
    texts = [str(doc.get("detail", ""))]
    for issue in doc.get("errors", []):
        texts.append(str(issue.get("path", "")))
        texts.append(str(issue.get("message", "")))
    return "\n".join(texts)


def check_problem(name, status, headers, data):
    """A 4xx problem+json with the RFC 9457 members; returns the document or None."""
    ctype = headers.get("Content-Type", "")
    if not 400 <= status < 500:
        print("corpus: %s: status %d, expected 4xx" % (name, status), file=sys.stderr)
        return None
    if not ctype.startswith("application/problem+json"):
        print("corpus: %s: content type %r" % (name, ctype), file=sys.stderr)
        return None
    doc = json.loads(data)
    for key in ("type", "title", "status", "detail", "errors"):
        if key not in doc:
            print("corpus: %s: problem lacks %r" % (name, key), file=sys.stderr)
            return None
    if doc["status"] != status or not isinstance(doc["errors"], list) or not doc["errors"]:
        print("corpus: %s: bad problem document %s" % (name, doc), file=sys.stderr)
        return None
    return doc


def cmd_corpus(host, port, directory):
    expect = load_expect(directory)
    failures = 0
    names = sorted(n for n in os.listdir(directory) if n != "EXPECT" and not n.startswith("."))
    for name in names:
        body = open(os.path.join(directory, name), "rb").read()
        try:
            status, headers, data = post(host, int(port), "/render", body)
        except Exception as exc:  # noqa: BLE001
            print("corpus: %s: %s" % (name, exc), file=sys.stderr)
            failures += 1
            continue
        doc = check_problem(name, status, headers, data)
        if doc is None:
            failures += 1
            continue
        if name in expect:
            want_status, want_text = expect[name]
            if status != want_status:
                print("corpus: %s: status %d, EXPECT says %d" % (name, status, want_status),
                      file=sys.stderr)
                failures += 1
            elif want_text and want_text not in problem_texts(doc):
                print("corpus: %s: %r not in %s" % (name, want_text, problem_texts(doc)),
                      file=sys.stderr)
                failures += 1
    print("corpus: %d files, %d failures" % (len(names), failures))
    return 1 if failures else 0


def cmd_slow(host, port):
    sock = socket.create_connection((host, int(port)))
    sock.sendall(b"POST /render HTTP/1.1\r\nHost: test\r\nContent-Length: 1000\r\n\r\nversion:")
    started = time.monotonic()
    sock.settimeout(120)
    try:
        while sock.recv(4096):
            pass
    except (ConnectionResetError, socket.timeout):
        pass
    print("%.1f" % (time.monotonic() - started))
    return 0


def cmd_headers(host, port, n):
    sock = socket.create_connection((host, int(port)))
    sock.settimeout(30)
    head = "GET /healthz HTTP/1.1\r\nHost: test\r\n"
    head += "".join("X-Filler-%d: value\r\n" % i for i in range(int(n)))
    try:
        sock.sendall((head + "\r\n").encode())
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server may stop reading early; what it answered is still readable
    try:
        line = sock.recv(4096).split(b"\r\n", 1)[0].decode("latin-1")
    except ConnectionResetError:
        line = "(connection reset)"
    print(line or "(connection closed)")
    return 0


def cmd_slow_upload(host, port, path, mark, delay):
    body = open(path, "rb").read()
    half = len(body) // 2
    sock = socket.create_connection((host, int(port)))
    sock.settimeout(60)
    sock.sendall(b"POST /render HTTP/1.1\r\nHost: test\r\nContent-Type: application/yaml\r\n"
                 b"Content-Length: %d\r\n\r\n" % len(body))
    sock.sendall(body[:half])
    open(mark, "w").close()
    time.sleep(float(delay))
    sock.sendall(body[half:])
    data = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
        head, sep, rest = data.partition(b"\r\n\r\n")
        if sep:
            length = [l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")]
            if length and len(rest) >= int(length[0].split(b":")[1]):
                break
    print(data.split(b"\r\n", 1)[0].decode("latin-1"))
    return 0


def read_status_line(sock):
    data = b""
    while b"\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data.split(b"\r\n", 1)[0].decode("latin-1")


def status_code(line):
    parts = line.split(" ")
    return parts[1] if len(parts) > 1 else "(no status: %r)" % line


def cmd_declared(host, port, length, wait):
    sock = socket.create_connection((host, int(port)))
    sock.sendall(b"POST /render HTTP/1.1\r\nHost: test\r\nContent-Type: application/yaml\r\n"
                 b"Content-Length: %d\r\n\r\n" % int(length))
    sock.settimeout(float(wait))
    try:
        first = sock.recv(1, socket.MSG_PEEK)
    except socket.timeout:
        first = None
    sock.settimeout(60)
    if first is not None:
        print("before-body", status_code(read_status_line(sock)))
        return 0
    left = int(length)
    block = b"a" * 65536
    while left:
        left -= sock.send(block[:min(left, len(block))])
    print("after-body", status_code(read_status_line(sock)))
    return 0


def main(argv):
    commands = {
        "parallel": (cmd_parallel, 5),
        "corpus": (cmd_corpus, 3),
        "slow": (cmd_slow, 2),
        "headers": (cmd_headers, 3),
        "slow-upload": (cmd_slow_upload, 5),
        "declared": (cmd_declared, 4),
    }
    if len(argv) < 2 or argv[1] not in commands or len(argv) - 2 != commands[argv[1]][1]:
        print(__doc__, file=sys.stderr)
        return 2
    return commands[argv[1]][0](*argv[2:])


if __name__ == "__main__":
    sys.exit(main(sys.argv))

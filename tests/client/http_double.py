#!/usr/bin/env python3
"""A scripted HTTP(S) server standing in for ocirenderd in the `ocirender pull` tests.

Each request is answered with the next entry of the script (the last entry repeats):
  {"status": 200, "headers": {"Retry-After": "1"}, "body": "...", "body_file": "PATH",
   "delay": 0.5, "close": true}
"close" drops the connection without answering; "delay" sleeps first. Every request is
appended to the log as one JSON line {"method", "path", "headers" (lower-case), "body"}.

Usage: http_double.py --script FILE --port-file FILE --log FILE [--cert PEM --key PEM]
The listening port (on 127.0.0.1, chosen by the kernel) is written to --port-file once ready.
Standard library only.
"""
import argparse
import json
import os
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    script = []
    log_path = None
    lock = threading.Lock()
    count = 0

    def log_message(self, fmt, *args):  # keep the test output clean
        pass

    def _next_entry(self, body):
        with Handler.lock:
            entry = Handler.script[min(Handler.count, len(Handler.script) - 1)]
            Handler.count += 1
            with open(Handler.log_path, "a", encoding="utf-8") as log:
                log.write(json.dumps({
                    "method": self.command,
                    "path": self.path,
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                    "body": body.decode("utf-8", "replace"),
                }) + "\n")
        return entry

    def _answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        entry = self._next_entry(body)
        time.sleep(entry.get("delay", 0))
        if entry.get("close"):
            self.close_connection = True
            return
        if "body_file" in entry:
            with open(entry["body_file"], "rb") as f:
                payload = f.read()
        else:
            payload = entry.get("body", "").encode("utf-8")
        self.send_response(entry.get("status", 200))
        headers = {"Content-Type": "application/json"}
        headers.update(entry.get("headers", {}))
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_POST = _answer
    do_GET = _answer


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--script", required=True)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--cert")
    ap.add_argument("--key")
    args = ap.parse_args()
    with open(args.script, encoding="utf-8") as f:
        Handler.script = json.load(f)
    Handler.log_path = args.log
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    if args.cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.cert, args.key)
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    tmp = args.port_file + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(str(server.server_address[1]))
    os.rename(tmp, args.port_file)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())

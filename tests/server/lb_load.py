#!/usr/bin/python3
"""Bounded render load through a load balancer (python3 standard library only).

usage: lb_load.py PORT SPEC THREADS PROGRESS_FILE STOP_FILE MAX_SECONDS

THREADS clients, each on its own kept-alive connection, POST SPEC to /render one request
after another until STOP_FILE exists (or MAX_SECONDS pass). The running count of finished
requests goes to PROGRESS_FILE. A request fails when it gets anything but a 200 with a
config, or the connection breaks. Prints the figures as one JSON line; exit 1 on any failure.
"""
import http.client
import json
import os
import sys
import threading
import time


def main():
    port, spec = int(sys.argv[1]), open(sys.argv[2], "rb").read()
    threads, progress, stop_file = int(sys.argv[3]), sys.argv[4], sys.argv[5]
    max_seconds = float(sys.argv[6])
    lock = threading.Lock()
    done = [0]
    failures = []
    stop = threading.Event()

    def client():
        conn = None
        while not stop.is_set():
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                conn.request("POST", "/render", body=spec,
                             headers={"Content-Type": "application/yaml"})
                resp = conn.getresponse()
                body = resp.read()
                ok = resp.status == 200 and b'"ociVersion"' in body
                if resp.getheader("Connection", "").lower() == "close":
                    conn.close()
                    conn = None
                if not ok:
                    with lock:
                        failures.append("status %d: %r" % (resp.status, body[:200]))
            except (OSError, http.client.HTTPException) as exc:
                ok = False
                with lock:
                    failures.append("connection: %s" % exc)
                if conn is not None:
                    conn.close()
                conn = None
            with lock:
                done[0] += 1
        if conn is not None:
            conn.close()

    workers = [threading.Thread(target=client) for _ in range(threads)]
    started = time.monotonic()
    for w in workers:
        w.start()
    while not os.path.exists(stop_file) and time.monotonic() - started < max_seconds:
        with lock:
            n = done[0]
        with open(progress + ".tmp", "w") as f:
            f.write("%d\n" % n)
        os.replace(progress + ".tmp", progress)
        time.sleep(0.05)
    stop.set()
    for w in workers:
        w.join()
    took = time.monotonic() - started
    print(json.dumps({"requests": done[0], "failures": len(failures), "seconds": round(took, 1),
                      "requests_per_s": round(done[0] / took, 1), "threads": threads,
                      "stopped_by": "stop file" if os.path.exists(stop_file) else "time limit"}))
    for f in failures[:10]:
        print("FAIL: " + f, file=sys.stderr)
    return 1 if failures or not os.path.exists(stop_file) else 0


if __name__ == "__main__":
    sys.exit(main())

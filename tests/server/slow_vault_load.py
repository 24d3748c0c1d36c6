#!/usr/bin/python3
"""A slow vault must not slow anything else down (python3 standard library only).

usage: slow_vault_load.py PORT CONTROL_PORT N DEADLINE_S P99_LIMIT_MS SLACK_S

With the vault double (CONTROL_PORT) answering every read of shop/s* after 3 s, N renders
that each need their own secret are started at once. While they wait, the fast routes
(/healthz, /readyz, /metrics, /version and a render without secrets) are asked one after
another; their p99 must stay under P99_LIMIT_MS (or four times their p99 measured just before
with nothing waiting, when the machine is that busy), and no probe may take a second. Every waiting render must then end by its
deadline (DEADLINE_S after it was sent, plus SLACK_S) with 200 and the right value, or with
the 504 of docs/secrets.md naming its reference. Prints the figures as one JSON line.
"""
import http.client
import json
import sys
import threading
import time
import urllib.request

SLOW_SPEC = """version: v1
deployment: shop
services:
  web:
    image: {name: "example/web:1"}
    env:
      X: $S:s%d
"""
PLAIN_SPEC = b"""version: v1
deployment: shop
services:
  web:
    image: {name: "example/web:1"}
    env:
      X: plain
"""


def ctl(cport, op, doc):
    req = urllib.request.Request("http://127.0.0.1:%d/%s" % (cport, op),
                                 data=json.dumps(doc).encode(), method="POST")
    urllib.request.urlopen(req, timeout=30).read()


def metric(port, name):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", "/metrics")
    text = conn.getresponse().read().decode()
    conn.close()
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


def slow_render(port, i, out):
    started = time.monotonic()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        conn.request("POST", "/render", body=(SLOW_SPEC % i).encode(),
                     headers={"Content-Type": "application/yaml"})
        resp = conn.getresponse()
        body = resp.read()
        conn.close()
        out[i] = (resp.status, time.monotonic() - started, body)
    except Exception as exc:  # noqa: BLE001 - any failure is a finding
        out[i] = ("error: %s" % exc, time.monotonic() - started, b"")


def p99(samples):
    s = sorted(samples)
    return s[min(len(s) - 1, int(len(s) * 0.99))] * 1000.0


def probe_fast_routes(port, rounds):
    """Sequential requests on one kept-alive connection: (route -> latencies), failures."""
    lat = {"/healthz": [], "/readyz": [], "/metrics": [], "/version": [], "render": []}
    bad = []
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    for _ in range(rounds):
        for route in lat:
            t = time.monotonic()
            if route == "render":
                conn.request("POST", "/render", body=PLAIN_SPEC,
                             headers={"Content-Type": "application/yaml"})
            else:
                conn.request("GET", route)
            resp = conn.getresponse()
            resp.read()
            lat[route].append(time.monotonic() - t)
            if resp.status != 200:
                bad.append((route, resp.status))
    conn.close()
    return lat, bad


def main():
    port, cport, n = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    deadline, limit_ms, slack = float(sys.argv[4]), float(sys.argv[5]), float(sys.argv[6])
    for i in range(n):
        ctl(cport, "kv", {"path": "shop/s%d" % i, "data": {"value": "value-%d" % i}})
    ctl(cport, "fault", {"match": "shop/s", "count": -1, "kind": "delay", "delay": 3})
    # Warm the fast paths (connections, first readiness check), then measure them with nothing
    # waiting on the vault: the baseline of this machine at this moment.
    probe_fast_routes(port, 3)
    base_lat, _ = probe_fast_routes(port, 40)
    base_p99 = p99([x for v in base_lat.values() for x in v])

    results = {}
    threads = [threading.Thread(target=slow_render, args=(port, i, results)) for i in range(n)]
    for t in threads:
        t.start()
    # Measure only once every render is really waiting inside the server.
    wait_until = time.monotonic() + 30
    while metric(port, "ocirender_inflight_requests") < n + 1 and time.monotonic() < wait_until:
        time.sleep(0.05)
    inflight = metric(port, "ocirender_inflight_requests") - 1  # minus this /metrics
    lat, bad = probe_fast_routes(port, 40)
    still_waiting = metric(port, "ocirender_inflight_requests") - 1
    for t in threads:
        t.join()

    failures = []
    if inflight < n:
        failures.append("only %d of %d renders were in flight when measuring" % (inflight, n))
    if still_waiting < 1:
        failures.append("the renders were no longer waiting when the probes ended")
    if bad:
        failures.append("fast routes failed: %s" % bad[:5])
    all_lat = [x for v in lat.values() for x in v]
    # The target is limit_ms. A machine that is busy with other work can miss it with nothing
    # parked at all, so the limit is never below four times the baseline p99; a request held
    # behind the vault would take its whole 3 s delay, which no busy machine explains: no
    # probe may take a third of it.
    limit = max(limit_ms, 4 * base_p99)
    figures = {"renders": n, "in_flight_when_measured": inflight,
               "probes": len(all_lat), "p99_ms": round(p99(all_lat), 2),
               "baseline_p99_ms": round(base_p99, 2), "limit_ms": round(limit, 2),
               "p99_ms_by_route": {k: round(p99(v), 2) for k, v in lat.items()},
               "max_ms": round(max(all_lat) * 1000, 2)}
    if p99(all_lat) >= limit:
        failures.append("p99 %.1f ms >= %.0f ms (baseline p99 %.1f ms)"
                        % (p99(all_lat), limit, base_p99))
    for route, v in lat.items():
        if p99(v) >= 2 * limit:
            failures.append("%s p99 %.1f ms >= %.0f ms" % (route, p99(v), 2 * limit))
    if max(all_lat) >= 1.0:
        failures.append("a probe took %.0f ms: it waited behind the vault" % (max(all_lat) * 1000))
    counts = {}
    for i in range(n):
        status, took, body = results.get(i, ("missing", 0, b""))
        counts[str(status)] = counts.get(str(status), 0) + 1
        if took > deadline + slack:
            failures.append("render %d took %.1f s, past its %.0f s deadline" % (i, took, deadline))
        if status == 200:
            env = json.loads(body)["process"]["env"]
            if "X=value-%d" % i not in env:
                failures.append("render %d has the wrong value" % i)
        elif status == 504:
            doc = json.loads(body)
            if doc.get("code") != "SECRET_TIMEOUT" or "$S:s%d" % i not in doc.get("detail", ""):
                failures.append("render %d: 504 without its reference: %s" % (i, doc))
            if took < deadline - 1:
                failures.append("render %d gave up early (%.1f s)" % (i, took))
        else:
            failures.append("render %d: status %s" % (i, status))
    durations = sorted(r[1] for r in results.values())
    figures["statuses"] = counts
    figures["slowest_render_s"] = round(durations[-1], 2) if durations else None
    print(json.dumps(figures))
    for f in failures:
        print("FAIL: " + f, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

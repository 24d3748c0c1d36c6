#!/bin/sh
# Abuse: the bad-input corpus, 2 000 parallel requests, slow clients that never finish their
# body, a request with 10 000 headers, garbage instead of HTTP. None may crash the server, get a
# 5xx, or make its memory grow without bound.
# shellcheck source=tests/server/lib.sh disable=SC2015,SC2119 # ok() never fails; stop_server takes an optional signal
. "$OCIRENDER_SRC/tests/server/lib.sh"

WEB="$SRC/examples/web.yaml"
SECRETS=$(secrets_copy)
F=$(slow_factor)
CLIENT="$HERE/httpclient.py"
TIMEOUT=2
if [ "$SANITIZED" = 1 ]; then
    # ASan keeps freed memory in a quarantine (256 MiB by default), which would hide real
    # growth behind its own; a small quarantine keeps the RSS check meaningful.
    ASAN_OPTIONS="$ASAN_OPTIONS:quarantine_size_mb=16"
    export ASAN_OPTIONS
fi
# One address plays every client here, so the per-IP cap is off; test_trickle.sh covers it.
start_server --secrets file --secrets-file "$SECRETS" --connection-timeout "$TIMEOUT" \
    --max-connections-per-ip 0 || exit 1

# Warm up (allocator arenas, caches) before taking the baseline.
python3 "$CLIENT" parallel 127.0.0.1 "$PORT" "$WEB" 200 16 >/dev/null || fail "warm-up renders failed"
rss_before=$(server_rss_kib)
note "RSS after warm-up: $rss_before KiB"

# ---- the bad-input corpus ----------------------------------------------------------------------
CORPUS="$SRC/tests/corpus/bad"
if [ -d "$CORPUS" ]; then
    if out=$(python3 "$CLIENT" corpus 127.0.0.1 "$PORT" "$CORPUS" 2>&1); then
        ok "bad-input corpus: every file gets its 4xx problem ($out)"
    else
        fail "bad-input corpus: $out"
    fi
else
    note "SKIP corpus: $CORPUS does not exist yet"
fi
# The same corpus with its media type declared (by file extension): still 4xx, never 5xx.
worst=0
for f in "$CORPUS"/*; do
    case "$f" in
    *.json) type=application/json ;;
    *.yaml) type=application/yaml ;;
    *) continue ;;
    esac
    code=$(curl -s -o /dev/null -w '%{http_code}' -H "Content-Type: $type" --data-binary "@$f" "$URL/render")
    case "$code" in 4??) ;; *) worst=$code; note "$(basename "$f") as $type: $code" ;; esac
done
check "corpus with declared media types: only 4xx answers" "$worst" 0
head -c 65536 /dev/urandom >"$WORK/random.bin"
http POST /render --data-binary "@$WORK/random.bin"
check_problem "random bytes as a spec" 400

# ---- 2 000 parallel requests -------------------------------------------------------------------
if out=$(python3 "$CLIENT" parallel 127.0.0.1 "$PORT" "$WEB" 2000 128 2>&1); then
    ok "2000 parallel renders all answered 200 ($out)"
else
    fail "parallel: $out"
fi

# ---- slow clients ------------------------------------------------------------------------------
i=0
slow_pids=""
while [ $i -lt 40 ]; do
    python3 "$CLIENT" slow 127.0.0.1 "$PORT" >"$WORK/slow-$i.out" 2>&1 &
    slow_pids="$slow_pids $!"
    i=$((i + 1))
done
sleep 0.5
http POST /render --data-binary "@$WEB"
check "renders are served while 40 clients stall" "$CODE" 200
for p in $slow_pids; do wait "$p"; done
worst=$(cat "$WORK"/slow-*.out | sort -n | tail -n 1)
first=$(cat "$WORK"/slow-*.out | sort -n | head -n 1)
note "stalled clients were dropped after $first..$worst s (--connection-timeout $TIMEOUT)"
awk -v a="$first" -v b="$worst" -v t="$TIMEOUT" -v f="$F" \
    'BEGIN { exit !(a >= t - 1 && b <= t + 3 * f) }' &&
    ok "stalled clients are dropped after --connection-timeout" ||
    fail "stalled clients dropped after $first..$worst s, expected about $TIMEOUT"
check "stalled requests are logged as timeouts" "$(grep -c '"aborted":"timeout"' "$LOG")" 40

# ---- 10 000 headers ----------------------------------------------------------------------------
out=$(python3 "$CLIENT" headers 127.0.0.1 "$PORT" 10000)
check_contains "10 000 headers are rejected" "$out" "431"
http GET /healthz
check "the server serves after the header flood" "$CODE" 200

# ---- not HTTP at all ---------------------------------------------------------------------------
python3 - "$PORT" <<'PY'
import os, socket, sys
for payload in (os.urandom(4096), b"GET /" + b"a" * 100000 + b" HTTP/1.1\r\n\r\n", b"\r\n" * 5000):
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
    s.settimeout(10)
    try:
        s.sendall(payload)
        s.recv(1024)
    except OSError:
        pass
    s.close()
PY
http GET /healthz
check "the server serves after garbage and a 100 KB request line" "$CODE" 200

# ---- memory stays bounded ----------------------------------------------------------------------
python3 "$CLIENT" parallel 127.0.0.1 "$PORT" "$WEB" 500 64 >/dev/null || fail "renders after the abuse failed"
rss_after=$(server_rss_kib)
growth=$((rss_after - rss_before))
note "RSS after the abuse: $rss_after KiB (growth $growth KiB)"
if [ "$SANITIZED" = 1 ]; then limit=$((64 * 1024)); else limit=$((8 * 1024)); fi
[ "$growth" -le "$limit" ] && ok "RSS growth $growth KiB <= $limit KiB" ||
    fail "RSS grew by $growth KiB (limit $limit KiB)"
if [ "$SANITIZED" != 1 ]; then
    [ "$rss_after" -le $((48 * 1024)) ] && ok "RSS $rss_after KiB <= 48 MiB" ||
        fail "RSS $rss_after KiB above 48 MiB"
fi
http GET /metrics
check_contains "metrics still answer" "$BODY" "ocirender_inflight_requests 1"
check "no 5xx was counted" "$(printf '%s\n' "$BODY" | grep -c 'code="5')" 0
stop_server
finish

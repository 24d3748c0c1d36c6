#!/bin/sh
# A slow vault holds no HTTP thread: while 64 renders wait on a vault that answers after 3 s
# (each needs its own secret; 16 fetch threads, so most wait in the queue), /healthz, /readyz,
# /metrics, /version and renders without secrets keep a p99 under 50 ms (on a machine busy
# with other work: under 4x their p99 with nothing parked; never a second), and every waiting
# render ends by its deadline (VAULT_CLIENT_TIMEOUT) with 200 or the 504 naming its reference.
# shellcheck source=tests/server/lib.sh
. "$OCIRENDER_SRC/tests/server/lib.sh"

[ -x /usr/bin/python3 ] || { echo "# SKIP python3 missing"; exit 77; }
F=$(slow_factor)
DOUBLE_PID=""
stop_double() { [ -n "$DOUBLE_PID" ] && kill "$DOUBLE_PID" 2>/dev/null; DOUBLE_PID=""; }
trap 'stop_double; cleanup' EXIT

/usr/bin/python3 "$SRC/tests/vault_double/vault_double.py" --timeout 200 --port-file "$WORK/ports" >/dev/null &
DOUBLE_PID=$!
i=0; while [ ! -s "$WORK/ports" ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
VPORT=$(python3 -c "import json; print(json.load(open('$WORK/ports'))['port'])")
CPORT=$(python3 -c "import json; print(json.load(open('$WORK/ports'))['control_port'])")
curl -sf -X POST "http://127.0.0.1:$CPORT/token" -d '{"id":"hvs.slow","ttl":"1h"}' >/dev/null ||
    fail "vault double token"

DEADLINE=6
export OCIRENDER_SECRETS=vault OCIRENDER_VAULT_ALLOW_HTTP=1 VAULT_ADDR="http://127.0.0.1:$VPORT"
export VAULT_TOKEN=hvs.slow VAULT_CLIENT_TIMEOUT="${DEADLINE}s" VAULT_MAX_RETRIES=0
export OCIRENDER_SECRET_FETCH_THREADS=17 OCIRENDER_SECRET_CACHE_TTL=0
# 64 renders and the probes all come from 127.0.0.1: lift the per-IP cap for this test.
start_server --threads 4 --max-connections-per-ip 0 || exit 1

# The p99 target is 50 ms; the sanitizer build runs everything about 4x slower.
if out=$(python3 "$HERE/slow_vault_load.py" "$PORT" "$CPORT" 64 "$DEADLINE" $((50 * F)) \
    $((2 * F)) 2>"$WORK/load.err"); then
    ok "fast routes stay fast and every render ends by its deadline: $out"
else
    fail "slow vault: $out $(cat "$WORK/load.err")"
fi
http GET /healthz
check "the server is healthy afterwards" "$CODE" 200
stop_server

# ---- SIGTERM with renders parked on the vault ----------------------------------------------------
# A parked render is in flight: the drain waits for it (the vault answers after 2 s, within the 10 s
# drain), it gets its 200, and the server exits 0. A second SIGTERM cuts the drain short:
# a render still parked then gets a 503 with Retry-After instead of being dropped.
park_render() { # park_render NAME OUT: POST a render needing $S:NAME in the background
    printf 'version: v1\ndeployment: shop\nservices:\n  web:\n    image: {name: "example/web:1"}\n    env:\n      X: $S:%s\n' "$1" >"$WORK/$1.yaml"
    curl -sS -o "$WORK/$2.body" -w '%{http_code}' --max-time 60 -H 'Content-Type: application/yaml' \
        --data-binary "@$WORK/$1.yaml" "$URL/render" >"$WORK/$2.code" 2>/dev/null &
    CURL_PID=$!
}
wait_parked() { # wait_parked N: until N requests are in flight (10 s at most)
    i=0
    while [ $i -lt 100 ]; do
        n=$(curl -s "$URL/metrics" | awk '/^ocirender_inflight_requests / {print $2}')
        [ "${n:-0}" -gt "$1" ] && return 0
        sleep 0.1
        i=$((i + 1))
    done
}
curl -sf -X POST "http://127.0.0.1:$CPORT/kv" -d '{"path":"shop/drain1","data":{"value":"d1"}}' >/dev/null
curl -sf -X POST "http://127.0.0.1:$CPORT/kv" -d '{"path":"shop/drain2","data":{"value":"d2"}}' >/dev/null
curl -sf -X POST "http://127.0.0.1:$CPORT/fault" -d '{"match":"shop/drain1","count":-1,"kind":"delay","delay":2}' >/dev/null
curl -sf -X POST "http://127.0.0.1:$CPORT/fault" -d '{"match":"shop/drain2","count":-1,"kind":"delay","delay":30}' >/dev/null
export VAULT_CLIENT_TIMEOUT=40s
# --connection-timeout 1: a parked render outlives the idle timeout (its deadline is ours).
start_server --threads 2 --connection-timeout 1 || exit 1
park_render drain1 r1
wait_parked 1
kill -TERM "$PID"
wait "$PID"
check "SIGTERM with a parked render: exit status" "$?" 0
PID=""
wait "$CURL_PID"
check "the parked render finished during the drain" "$(cat "$WORK/r1.code")" 200
check_contains "with its value" "$(cat "$WORK/r1.body")" "X=d1"

start_server --threads 2 || exit 1
park_render drain2 r2
wait_parked 1
kill -TERM "$PID"
wait_until 30 grep -q 'no longer accepting' "$LOG" # the first signal is being handled
kill -TERM "$PID"
wait "$PID"
check "a second SIGTERM: exit status" "$?" 0
PID=""
wait "$CURL_PID"
check "a render still parked gets 503, not a dropped connection" "$(cat "$WORK/r2.code")" 503
check_contains "the 503 says why" "$(cat "$WORK/r2.body")" "shutting down"
finish

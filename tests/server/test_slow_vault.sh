#!/bin/sh
# A slow vault holds no HTTP thread: while 64 renders wait on a vault that answers after 3 s
# (each needs its own secret; 16 fetch threads, so most wait in the queue), /healthz, /readyz,
# /metrics, /version and renders without secrets keep a p99 under 50 ms, and every waiting
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
i=0; while [ ! -s "$WORK/ports" ] && [ $i -lt 200 ]; do sleep 0.1; i=$((i + 1)); done
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
finish

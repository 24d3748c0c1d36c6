#!/bin/sh
# The server's real answers match docs/openapi.yaml: tests/server/openapi_check.py sends one
# request per route and main status to three servers (file provider; tokens; vault double) and
# validates status, headers, media type and body against the document's schemas; a status the
# document does not list, or an operation no request exercised, fails the test.
# shellcheck source=tests/server/lib.sh disable=SC2119 # stop_server takes an optional signal
. "$OCIRENDER_SRC/tests/server/lib.sh"

PIDS=""
DOUBLE_PID=""
# lib.sh's EXIT trap calls cleanup: stop all three servers and the double, not only the last one.
cleanup() {
    for p in $PIDS $DOUBLE_PID; do
        kill -KILL "$p" 2>/dev/null
    done
    rm -rf "$WORK"
}

SECRETS=$(secrets_copy)
TOKEN_SHOP=tok-shop-openapi-$$-5f0c1e9a
TOKEN_OTHER=tok-other-openapi-$$-93be1f0d
printf '%s shop\n%s other\n' "$TOKEN_SHOP" "$TOKEN_OTHER" >"$WORK/tokens"
chmod 600 "$WORK/tokens"

start_server --secrets file --secrets-file "$SECRETS" --max-body 64KiB \
    --bench-static-route 256 || exit 1
MAIN_URL=$URL MAIN_PID=$PID MAIN_LOG=$LOG
PIDS="$PIDS $PID"
start_server --secrets file --secrets-file "$SECRETS" --auth-tokens "$WORK/tokens" || exit 1
AUTH_URL=$URL AUTH_PID=$PID
PIDS="$PIDS $PID"
# The vault server reads from the vault double (tests/vault_double/), whose faults give the
# 502, 503 and 504 answers and whose seal the 503 of /readyz.
/usr/bin/python3 "$SRC/tests/vault_double/vault_double.py" --timeout 600 \
    --port-file "$WORK/ports" >/dev/null &
DOUBLE_PID=$!
i=0
while [ ! -s "$WORK/ports" ] && [ $i -lt $((300 * $(slow_factor))) ]; do sleep 0.1; i=$((i + 1)); done
[ -s "$WORK/ports" ] || { echo "the vault double did not start" >&2; exit 1; }
VPORT=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['port'])" "$WORK/ports")
CPORT=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['control_port'])" "$WORK/ports")
ctl() { curl -sf -X POST "http://127.0.0.1:$CPORT/$1" -d "$2" >/dev/null || fail "double control $1"; }
ctl kv '{"path":"shop/db","data":{"value":"{\"password\":\"pw-openapi\"}"}}'
ctl kv '{"path":"shop/fault","data":{"value":"f"}}'
ctl token '{"id":"hvs.openapi","ttl":"1h"}'
# No cache, so that every render asks the vault (and meets the fault of the moment).
OCIRENDER_SECRETS=vault VAULT_ADDR="http://127.0.0.1:$VPORT" OCIRENDER_VAULT_ALLOW_HTTP=1 \
    VAULT_TOKEN=hvs.openapi VAULT_MAX_RETRIES=1 VAULT_CLIENT_TIMEOUT=5s \
    OCIRENDER_VAULT_RETRY_WAIT_MIN=10ms OCIRENDER_VAULT_RETRY_WAIT_MAX=20ms \
    OCIRENDER_SECRET_CACHE_TTL=0 OCIRENDER_SECRET_NEGATIVE_TTL=0 \
    start_server || exit 1
VAULT_URL=$URL VAULT_PID=$PID
PIDS="$PIDS $PID"

if python3 "$HERE/openapi_check.py" "$SRC/docs/openapi.yaml" --main "$MAIN_URL" \
    --auth "$AUTH_URL" --token-other "$TOKEN_OTHER" --vault "$VAULT_URL" \
    --vault-control "http://127.0.0.1:$CPORT" --spec-dir "$SRC/examples" \
    --patience $((60 * $(slow_factor))); then
    ok "every answer matches docs/openapi.yaml"
else
    fail "answers differ from docs/openapi.yaml (see above)"
fi

for p in "$MAIN_PID:$MAIN_LOG" "$AUTH_PID:" "$VAULT_PID:"; do
    PID=${p%%:*}
    LOG=${p#*:}
    stop_server
done
PIDS=""
kill "$DOUBLE_PID" 2>/dev/null
wait "$DOUBLE_PID" 2>/dev/null
DOUBLE_PID=""
finish

#!/bin/sh
# The server's real answers match docs/openapi.yaml: tests/server/openapi_check.py sends one
# request per route and main status to three servers and validates status, headers, media type
# and body against the document's schemas; a status the document does not list, or an
# operation no request exercised, fails the test.
# shellcheck source=tests/server/lib.sh disable=SC2119 # stop_server takes an optional signal
. "$OCIRENDER_SRC/tests/server/lib.sh"

PIDS=""
# lib.sh's EXIT trap calls cleanup: stop all three servers, not only the last one.
cleanup() {
    for p in $PIDS; do
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
# Nothing listens on port 1: the vault is unreachable, at once and without retries.
VAULT_ADDR=https://127.0.0.1:1 VAULT_TOKEN=openapi-check VAULT_MAX_RETRIES=0 \
    start_server --secrets vault || exit 1
VAULT_URL=$URL VAULT_PID=$PID
PIDS="$PIDS $PID"

if python3 "$HERE/openapi_check.py" "$SRC/docs/openapi.yaml" --main "$MAIN_URL" \
    --auth "$AUTH_URL" --token-other "$TOKEN_OTHER" --vault "$VAULT_URL" \
    --spec-dir "$SRC/examples"; then
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
finish

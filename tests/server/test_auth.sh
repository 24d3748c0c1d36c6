#!/bin/sh
# ocirenderd authentication: bearer tokens with scopes (401/403), open routes, SIGHUP reload
# (a new token becomes valid; a broken file keeps the old tokens), the loopback-only rule.
# shellcheck source=tests/server/lib.sh disable=SC2015,SC2119 # ok() never fails; stop_server takes an optional signal
. "$OCIRENDER_SRC/tests/server/lib.sh"

WEB="$SRC/examples/web.yaml"
SECRETS=$(secrets_copy)
TOKENS="$WORK/tokens"
ADMIN=tok-admin-5f0c1e9a7b2d4c68
SHOP=tok-shop-93be1f0d27a4c5e6
TREE=tok-tree-0a1b2c3d4e5f6789
OTHER=tok-other-aa55bb66cc77dd88
NEW=tok-new-1234567890abcdef

cat >"$TOKENS" <<EOF
# ocirenderd tokens: TOKEN SCOPE[,SCOPE...]
$ADMIN *

$SHOP   shop
$TREE shop/*   # the shop subtree
$OTHER other, env:prod
EOF
chmod 600 "$TOKENS"

cat >"$WORK/svc-secret.yaml" <<'EOF'
version: v1
deployment: shop
services:
  web:
    image: {name: nginx}
    env:
      API_KEY: $S:@api/key
EOF
cat >"$WORK/env-secret.yaml" <<'EOF'
version: v1
deployment: shop
services:
  web:
    image: {name: nginx}
    env:
      DB: $S::prod/db
EOF

start_server --secrets file --secrets-file "$SECRETS" --auth-tokens "$TOKENS" || exit 1

# ---- 401 ---------------------------------------------------------------------------------------
http POST /render --data-binary "@$WEB"
check_problem "no token" 401
check "401 challenge" "$(header WWW-Authenticate)" 'Bearer realm="ocirender"'
http POST /render -H 'Authorization: Bearer not-a-known-token' --data-binary "@$WEB"
check_problem "unknown token" 401
check "401 challenge for a bad token" "$(header WWW-Authenticate)" \
    'Bearer realm="ocirender", error="invalid_token"'
http POST /render -H "Authorization: Basic $(printf 'u:%s' "$ADMIN" | base64)" --data-binary "@$WEB"
check_problem "Basic instead of Bearer" 401
http POST /render -H "Authorization: Bearer $ADMIN-x" --data-binary "@$WEB"
check_problem "a token with a suffix" 401
http POST /render -H "Authorization: Bearer ${ADMIN%?}" --data-binary "@$WEB"
check_problem "a token prefix" 401
http POST /validate --data-binary "@$WEB"
check_problem "validate needs a token too" 401

# ---- open routes -------------------------------------------------------------------------------
for path in /healthz /readyz /metrics /version; do
    http GET "$path"
    check "$path needs no token" "$CODE" 200
done

# ---- scopes ------------------------------------------------------------------------------------
http POST /render -H "Authorization: Bearer $ADMIN" --data-binary "@$WEB"
check "'*' token renders" "$CODE" 200
http POST /render -H "authorization: bearer   $SHOP" --data-binary "@$WEB"
check "'shop' token renders scope shop (scheme is case-insensitive)" "$CODE" 200
http POST /validate -H "Authorization: Bearer $SHOP" --data-binary "@$WEB"
check "'shop' token validates" "$CODE" 200
http POST /render -H "Authorization: Bearer $OTHER" --data-binary "@$WEB"
check_problem "'other' token on scope shop" 403
check "403 challenge" "$(header WWW-Authenticate)" 'Bearer realm="ocirender", error="insufficient_scope"'
check_contains "403 names the scope" "$(json 'd["detail"]')" "scope 'shop'"
http POST '/render?scope=other' -H "Authorization: Bearer $OTHER" --data-binary "@$WEB"
check "'other' token with scope=other gets past auth (secret missing there)" "$CODE" 422
http POST /render -H "Authorization: Bearer $SHOP" --data-binary "@$WORK/svc-secret.yaml"
check_problem "'shop' token reading a shop/api secret" 403
check "403 names the secret reference's path" "$(json 'd["errors"][0]["path"]')" "services.web.env.API_KEY"
http POST /render -H "Authorization: Bearer $TREE" --data-binary "@$WORK/svc-secret.yaml"
check "'shop/*' token covers shop/api (then the secret is missing)" "$CODE" 422
http POST /render -H "Authorization: Bearer $TREE" --data-binary "@$WEB"
check "'shop/*' token covers shop itself" "$CODE" 200
http POST /render -H "Authorization: Bearer $SHOP" --data-binary "@$WORK/env-secret.yaml"
check_problem "'shop' token reading an env:prod secret" 403
http POST '/render?scope=other' -H "Authorization: Bearer $OTHER" --data-binary "@$WORK/env-secret.yaml"
check "'other,env:prod' token reading env:prod (secret missing)" "$CODE" 422
http POST /validate -H "Authorization: Bearer $OTHER" --data-binary "@$WEB"
check_problem "validate checks the scope too" 403

# ---- SIGHUP reload -----------------------------------------------------------------------------
http POST /render -H "Authorization: Bearer $NEW" --data-binary "@$WEB"
check "a token not yet in the file" "$CODE" 401
echo "$NEW shop" >>"$TOKENS"
wait_log() { # wait_log PATTERN COUNT
    i=0
    while [ "$(grep -c "$1" "$LOG")" -lt "$2" ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i + 1)); done
}
kill -HUP "$PID"
wait_log '"msg":"tokens file reloaded' 1
http POST /render -H "Authorization: Bearer $NEW" --data-binary "@$WEB"
check "after SIGHUP the added token is valid" "$CODE" 200
cp "$TOKENS" "$WORK/tokens.good"
printf '%s\n' "tok-broken-no-scope-0000" >>"$TOKENS"
kill -HUP "$PID"
wait_log 'not reloaded, the previous tokens stay' 1
check_contains "a broken file is reported" "$(grep 'not reloaded' "$LOG")" "line 8"
http POST /render -H "Authorization: Bearer $NEW" --data-binary "@$WEB"
check "a broken file keeps the old tokens" "$CODE" 200
http POST /render -H "Authorization: Bearer tok-broken-no-scope-0000" --data-binary "@$WEB"
check "the broken file's token is not valid" "$CODE" 401
cp "$WORK/tokens.good" "$TOKENS"
chmod 644 "$TOKENS"
kill -HUP "$PID"
wait_log 'not reloaded, the previous tokens stay' 2
check_contains "a world-readable file is refused on reload" "$(grep 'not reloaded' "$LOG" | tail -n 1)" "mode 0644"
http GET /healthz
check "the server serves after reloads" "$CODE" 200
check "tokens never reach the log" \
    "$(grep -c -e "$ADMIN" -e "$SHOP" -e "$OTHER" -e "$NEW" -e tok-broken "$LOG")" 0
stop_server

# ---- start-up refusals -------------------------------------------------------------------------
expect_refusal() { # expect_refusal DESCRIPTION MESSAGE FLAGS...
    desc=$1
    msg=$2
    shift 2
    out=$("$SERVER" "$@" 2>&1)
    status=$?
    if [ $status -ne 0 ]; then ok "$desc: refused (exit $status)"; else fail "$desc: started"; fi
    check_contains "$desc: message" "$out" "$msg"
    check "$desc: no sanitizer report" "$(printf '%s' "$out" | grep -c Sanitizer)" 0
}
expect_refusal "0.0.0.0 without tokens" "refusing to listen on 0.0.0.0" --listen "0.0.0.0:$(random_port)"
expect_refusal "a world-readable tokens file" "mode 0644" --auth-tokens "$TOKENS" \
    --listen "127.0.0.1:$(random_port)"
chmod 600 "$TOKENS"
printf '%s *\n%s shop\n' "$ADMIN" "$ADMIN" >"$WORK/dup"
chmod 600 "$WORK/dup"
expect_refusal "a duplicated token" "lines 1 and 2 hold the same token" --auth-tokens "$WORK/dup" \
    --listen "127.0.0.1:$(random_port)"
expect_refusal "a missing tokens file" "cannot open tokens file" --auth-tokens "$WORK/none" \
    --listen "127.0.0.1:$(random_port)"

# Non-loopback with tokens, or with --insecure-no-auth, does start.
LISTEN_HOST=0.0.0.0
start_server --insecure-no-auth || exit 1
check_contains "--insecure-no-auth starts on 0.0.0.0 with a warning" "$(cat "$LOG")" "insecure-no-auth"
http GET /healthz
check "--insecure-no-auth on 0.0.0.0 serves" "$CODE" 200
stop_server
start_server --auth-tokens "$TOKENS" || exit 1
check_contains "tokens allow 0.0.0.0" "$(cat "$LOG")" '"auth":"tokens"'
stop_server
LISTEN_HOST=127.0.0.1
finish

#!/bin/sh
# ocirenderd with the vault provider against the vault double, through HTTP:
#  - each grammar form renders; token scopes (403 for a scope the bearer token lacks);
#  - each fault class gives the status docs/secrets.md gives (502, 503 + Retry-After, 504, 422) as
#    problem+json with no partial config and no secret value;
#  - 64 concurrent renders of a spec with the same 10 cold secrets cause exactly 10 vault reads;
#  - /readyz follows the vault (sealed, expired token, unreachable); /metrics counts;
#  - the server's log (debug level) never holds a value.
# Reuses the server tests' helpers (tests/server/lib.sh).
. "$OCIRENDER_SRC/tests/server/lib.sh"

[ -x /usr/bin/python3 ] || { echo "# SKIP python3 missing"; exit 77; }
[ -x "$SERVER" ] || { echo "# SKIP $SERVER not built"; exit 77; }

SENTINEL="V4ULT-sentinel-0d9e8f"
DOUBLE_PID=""
stop_double() { [ -n "$DOUBLE_PID" ] && kill "$DOUBLE_PID" 2>/dev/null; DOUBLE_PID=""; }
trap 'stop_double; cleanup' EXIT

/usr/bin/python3 "$SRC/tests/vault_double/vault_double.py" --timeout 280 --port-file "$WORK/ports" >/dev/null &
DOUBLE_PID=$!
i=0; while [ ! -s "$WORK/ports" ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
VPORT=$(python3 -c "import json; print(json.load(open('$WORK/ports'))['port'])")
CPORT=$(python3 -c "import json; print(json.load(open('$WORK/ports'))['control_port'])")
ctl() { curl -sf -X POST "http://127.0.0.1:$CPORT/$1" -d "$2" >/dev/null || fail "double control $1"; }
reads() { # reads PREFIX: GET requests the double saw whose path starts with /v1/PREFIX
    curl -sf "http://127.0.0.1:$CPORT/stats" | python3 -c "
import json,sys; st=json.load(sys.stdin)
print(sum(n for k,n in st['requests'].items() if k.startswith('GET /v1/$1')))"
}

ctl kv "{\"path\":\"shop/db\",\"data\":{\"value\":\"{\\\"password\\\":\\\"$SENTINEL\\\",\\\"port\\\":5432}\",\"user\":\"app\"}}"
ctl kv '{"path":"shop/web/key","data":{"value":"svc-key"}}'
ctl kv '{"path":"env:prod/db","data":{"password":"prod-pw"}}'
ctl kv '{"path":"project:p:env:e/cert","data":{"value":"{\"pem\":\"PEM\"}"}}'
ctl kv '{"path":"shop/pinned","data":{"value":"one"}}'
ctl kv '{"path":"shop/pinned","data":{"value":"two"}}'
ctl kv '{"path":"shop/fault","data":{"value":"f"}}'
ctl token '{"id":"hvs.server","ttl":"1h"}'
n=0
while [ $n -lt 10 ]; do ctl kv "{\"path\":\"shop/c$n\",\"data\":{\"value\":\"v$n\"}}"; n=$((n + 1)); done

TOKENS="$WORK/tokens"
cat >"$TOKENS" <<'EOF'
tok-all-8c1d2e3f4a5b6c7d shop,shop/*,project:p:env:e,env:prod
tok-shop-1a2b3c4d5e6f7a8b shop
EOF
chmod 600 "$TOKENS"
AUTH="Authorization: Bearer tok-all-8c1d2e3f4a5b6c7d"
SHOP_ONLY="Authorization: Bearer tok-shop-1a2b3c4d5e6f7a8b"

cat >"$WORK/forms.yaml" <<'EOF'
version: v1
deployment: shop
services:
  web:
    image: {name: "example/web:1"}
    env:
      DB_PASSWORD: $S:db/password
      DB_PORT: $S:db/port
      DB_USER: $S:db/user
      SVC_KEY: $S:@web/key
      PINNED: $S:pinned@1
      CERT: $S:p:e/cert/pem
EOF
cat >"$WORK/fault.yaml" <<'EOF'
version: v1
deployment: shop
services:
  web:
    image: {name: "example/web:1"}
    env:
      DB_PASSWORD: $S:db/password
      BROKEN: $S:fault
EOF
cat >"$WORK/prod.yaml" <<'EOF'
version: v1
deployment: shop
services:
  web:
    image: {name: "example/web:1"}
    env:
      DB: $S::prod/db/password
EOF
{
    printf 'version: v1\ndeployment: shop\nservices:\n  web:\n    image: {name: "example/web:1"}\n    env:\n'
    n=0; while [ $n -lt 10 ]; do printf '      C%d: $S:c%d\n' $n $n; n=$((n + 1)); done
} >"$WORK/ten.yaml"

export OCIRENDER_SECRETS=vault VAULT_ADDR="http://127.0.0.1:$VPORT" OCIRENDER_VAULT_ALLOW_HTTP=1 \
    VAULT_TOKEN=hvs.server VAULT_MAX_RETRIES=1 VAULT_CLIENT_TIMEOUT=2s \
    OCIRENDER_VAULT_RETRY_WAIT_MIN=10ms OCIRENDER_VAULT_RETRY_WAIT_MAX=20ms \
    OCIRENDER_SECRET_NEGATIVE_TTL=0
unset VAULT_TOKEN_FILE VAULT_ROLE_ID VAULT_SECRET_ID VAULT_NAMESPACE OCIRENDER_SECRETS_FILE || true

start_server --auth-tokens "$TOKENS" --log-level debug || exit 1

# ---- grammar forms, fields, version pinning, scopes ---------------------------------------------
# /readyz answers from the background check and never waits for the vault, so a change shows
# once a check has run after it (about a second): poll for the expected answer.
readyz_becomes() { # readyz_becomes STATUS: GET /readyz until it answers STATUS (10 s at most)
    n=0
    while :; do
        http GET /readyz
        [ "$CODE" = "$1" ] || [ $n -ge 100 ] && return 0
        sleep 0.1
        n=$((n + 1))
    done
}
readyz_becomes 200
check "readyz with a healthy vault" "$CODE" 200
http POST '/render?format=envelope' -H "$AUTH" -H 'Content-Type: application/yaml' --data-binary "@$WORK/forms.yaml"
check "render with every vault form" "$CODE" 200
check "secret field" "$(json '[e for e in d["config"]["process"]["env"] if e.startswith("DB_PASSWORD=")][0]')" "DB_PASSWORD=$SENTINEL"
check "number field as JSON text" "$(json '[e for e in d["config"]["process"]["env"] if e.startswith("DB_PORT=")][0]')" "DB_PORT=5432"
check "data key field" "$(json '[e for e in d["config"]["process"]["env"] if e.startswith("DB_USER=")][0]')" "DB_USER=app"
check "@svc form" "$(json '[e for e in d["config"]["process"]["env"] if e.startswith("SVC_KEY=")][0]')" "SVC_KEY=svc-key"
check "pinned version" "$(json '[e for e in d["config"]["process"]["env"] if e.startswith("PINNED=")][0]')" "PINNED=one"
check "project:env form" "$(json '[e for e in d["config"]["process"]["env"] if e.startswith("CERT=")][0]')" "CERT=PEM"
check "envelope secrets list: versions, no values" \
    "$(json 'sorted((e["env"], e["scope"], e["provider"], e["version"]) for e in d["secrets"])')" \
    "[('CERT', 'project:p:env:e', 'vault', 1), ('DB_PASSWORD', 'shop', 'vault', 1), ('DB_PORT', 'shop', 'vault', 1), ('DB_USER', 'shop', 'vault', 1), ('PINNED', 'shop', 'vault', 1), ('SVC_KEY', 'shop/web', 'vault', 1)]"
check "one read for db/password, db/port and db/user" "$(reads secret/data/shop/db)" 1
http POST /render -H "$SHOP_ONLY" --data-binary "@$WORK/forms.yaml"
check_problem "a secret in scope shop/web that the bearer token lacks" 403
http POST /render -H "$SHOP_ONLY" --data-binary "@$WORK/prod.yaml"
check_problem "a secret in scope env:prod that the bearer token lacks" 403
http POST /render -H "$AUTH" --data-binary "@$WORK/prod.yaml"
check "env form with a token holding env:prod" "$CODE" 200
check "env form value" "$(json '[e for e in d["process"]["env"] if e.startswith("DB=")][0]')" "DB=prod-pw"

# ---- faults ------------------------------------------------------------------------------------
fault_case() { # fault_case NAME FAULT_JSON STATUS [RETRY_AFTER]
    ctl faults/clear '{}'
    [ -n "$2" ] && ctl fault "{\"match\":\"shop/fault\",\"count\":-1,$2}"
    http POST /render -H "$AUTH" --data-binary "@$WORK/fault.yaml"
    check_problem "$1" "$3"
    check_contains "$1 names the reference" "$BODY" 'S:fault'
    case "$BODY" in *ociVersion*) fail "$1: a (partial) config came back" ;; esac
    case "$BODY" in *"$SENTINEL"*) fail "$1: the problem body holds a secret value" ;; esac
    if [ -n "${4:-}" ]; then check "$1 Retry-After" "$(header Retry-After)" "$4"; fi
}
fault_case "vault sealed" '"kind":"sealed"' 503 2
fault_case "vault rate limit" '"kind":"ratelimit","retry_after":1' 503 1
fault_case "vault 412" '"kind":"status","status":412' 503
fault_case "vault 500" '"kind":"status","status":500' 502
fault_case "vault 502" '"kind":"status","status":502' 502
fault_case "vault 403" '"kind":"status","status":403' 502
fault_case "invalid JSON" '"kind":"invalid_json"' 502
fault_case "truncated JSON" '"kind":"truncate"' 502
fault_case "wrong content type" '"kind":"content_type"' 502
fault_case "huge body" '"kind":"huge","size":1500000' 502
fault_case "cross-origin redirect" '"kind":"redirect","location":"other"' 502
fault_case "connection reset" '"kind":"reset"' 503
fault_case "vault timeout" '"kind":"delay","delay":3' 504
ctl faults/clear '{}'
ctl kv/destroy '{"path":"shop/fault"}'
fault_case "destroyed version" '' 422
check_contains "destroyed is named" "$(json 'd["detail"]')" "destroyed"
ctl kv '{"path":"shop/fault","data":{"value":"f"}}'
http POST /render -H "$AUTH" --data-binary "@$WORK/fault.yaml"
check "after the faults the same spec renders" "$CODE" 200
check "retries happen and stop (1 + VAULT_MAX_RETRIES per render)" "$(curl -sf "http://127.0.0.1:$CPORT/stats" | python3 -c "
import json,sys; st=json.load(sys.stdin); print(st['requests'].get('GET /v1/secret/data/shop/fault', 0) > 0)")" True

# ---- 64 concurrent renders, 10 cold secrets ----------------------------------------------------
ctl faults/clear '{}'
ctl fault '{"match":"shop/c","count":-1,"kind":"delay","delay":0.3}'
before=$(reads secret/data/shop/c)
seq 64 | xargs -P 64 -I{} curl -s -o /dev/null -w '%{http_code}\n' -H "$AUTH" \
    --data-binary "@$WORK/ten.yaml" "$URL/render" >"$WORK/codes"
check "64 concurrent renders succeed" "$(sort -u "$WORK/codes" | tr -d '\n')" 200
check "exactly 10 vault reads for 64 renders of 10 cold secrets" "$(( $(reads secret/data/shop/c) - before ))" 10
ctl faults/clear '{}'

# ---- metrics -----------------------------------------------------------------------------------
http GET /metrics
check_contains "metrics: ok reads" "$BODY" 'ocirender_secret_requests_total{provider="vault",result="ok"}'
check_contains "metrics: unavailable" "$BODY" 'ocirender_secret_requests_total{provider="vault",result="unavailable"}'
check_contains "metrics: histogram" "$BODY" 'ocirender_secret_request_duration_seconds_bucket{provider="vault",le="+Inf"}'
check_contains "metrics: cache hits" "$BODY" 'ocirender_secret_cache_hits_total'
case "$BODY" in *"$SENTINEL"*) fail "metrics hold a secret value" ;; esac

# ---- readiness ---------------------------------------------------------------------------------
ctl seal '{"sealed":true}'
readyz_becomes 503
check "readyz while sealed" "$CODE" 503
check_contains "readyz says sealed" "$BODY" "sealed"
ctl seal '{"sealed":false}'
readyz_becomes 200
check "readyz after unsealing" "$CODE" 200
ctl token/expire '{"id":"hvs.server"}'
readyz_becomes 503
check "readyz with an expired token" "$CODE" 503
check_contains "readyz names the token" "$BODY" "token"
stop_double
readyz_becomes 503
check "readyz with the vault unreachable" "$CODE" 503

stop_server
if grep -q "$SENTINEL" "$LOG"; then fail "the server log holds a secret value"; else ok "server log is clean"; fi
grep -q '"secrets"' "$LOG" || note "no secrets log lines were seen (log hook not wired?)"
finish

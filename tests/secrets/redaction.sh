#!/bin/sh
# Redaction: a sentinel secret value rendered many times through `ocirender render` with the
# vault provider against the vault double, with debug logging and every fault class, must show
# up only in the rendered config on stdout: never on stderr (logs, warnings, errors), never in
# the envelope's `secrets` list, never in an error. The token never reaches another origin.
set -eu
BIN="$OCIRENDER_BIN/ocirender"
DOUBLE="$OCIRENDER_SRC/tests/vault_double/vault_double.py"
[ -x "$BIN" ] || { echo "# SKIP $BIN not built"; exit 77; }
[ -x /usr/bin/python3 ] || { echo "# SKIP python3 missing"; exit 77; }

T=$(mktemp -d /tmp/ocr-redaction.XXXXXX)
DPID=""
cleanup() { [ -n "$DPID" ] && kill "$DPID" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT INT TERM

/usr/bin/python3 "$DOUBLE" --timeout 170 --port-file "$T/ports" >/dev/null &
DPID=$!
i=0; while [ ! -s "$T/ports" ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done
port() { /usr/bin/python3 -c "import json,sys; print(json.load(open('$T/ports'))['$1'])"; }
P=$(port port); C=$(port control_port)
ctl() { curl -sf -X POST "http://127.0.0.1:$C/$1" -d "$2" >/dev/null; }

SENTINEL="R3DACT-me-7f3a9c-sentinel"
ctl kv "{\"path\":\"shop/db\",\"data\":{\"value\":\"{\\\"password\\\":\\\"$SENTINEL\\\"}\",\"user\":\"app\"}}"
ctl kv "{\"path\":\"shop/api\",\"data\":{\"value\":\"$SENTINEL-api\"}}"

cat > "$T/spec.yaml" <<'YAML'
version: v1
deployment: shop
services:
  web:
    rtype: service
    image: {name: "example/web:1"}
    env:
      DB_PASSWORD: $S:db/password
      DB_USER: $S:db/user
      API_KEY: $S:api
      PLAIN: hello
YAML

export OCIRENDER_SECRETS=vault VAULT_ADDR="http://127.0.0.1:$P" OCIRENDER_VAULT_ALLOW_HTTP=1 \
       VAULT_TOKEN=root OCIRENDER_LOG_LEVEL=debug VAULT_MAX_RETRIES=1 \
       OCIRENDER_VAULT_RETRY_WAIT_MIN=10ms OCIRENDER_VAULT_RETRY_WAIT_MAX=20ms VAULT_CLIENT_TIMEOUT=3s
unset VAULT_TOKEN_FILE VAULT_ROLE_ID VAULT_SECRET_ID VAULT_NAMESPACE OCIRENDER_SECRETS_FILE || true

fail=0
bad() { echo "not ok - $*"; fail=1; }
no_sentinel() { # FILE WHAT
    if grep -q "$SENTINEL" "$1"; then bad "$2 contains the secret value"; sed 's/^/    /' "$1"; fi
}

# 1. Good renders: the value is in the config (stdout) and nowhere else.
n=0
while [ $n -lt 25 ]; do
    "$BIN" render "$T/spec.yaml" >"$T/out" 2>"$T/err" || bad "render $n failed: $(cat "$T/err")"
    grep -q "DB_PASSWORD=$SENTINEL" "$T/out" || bad "render $n: value missing from config"
    no_sentinel "$T/err" "stderr of render $n"
    n=$((n+1))
done
grep -q "vault GET /v1/secret/data/shop/db" "$T/err" || bad "debug logging was not on"
"$BIN" render --envelope "$T/spec.yaml" >"$T/env.json" 2>"$T/err" || bad "envelope render failed"
/usr/bin/python3 - "$T/env.json" "$SENTINEL" <<'PY' || bad "envelope secrets list holds a value"
import json, sys
env = json.load(open(sys.argv[1]))
s = json.dumps(env["secrets"])
assert sys.argv[2] not in s, s
assert {e["env"] for e in env["secrets"]} == {"DB_PASSWORD", "DB_USER", "API_KEY"}, s
assert all(e["provider"] == "vault" and e["version"] == 1 for e in env["secrets"]), s
assert json.dumps(env["warnings"]).find(sys.argv[2]) < 0
PY
no_sentinel "$T/err" "stderr of the envelope render"

# 2. Faults: every render fails, prints no config, and no value leaks into the error.
for f in '"kind":"sealed"' '"kind":"status","status":500' '"kind":"status","status":502' \
         '"kind":"ratelimit","retry_after":1' '"kind":"status","status":412' \
         '"kind":"invalid_json"' '"kind":"truncate"' '"kind":"content_type"' '"kind":"reset"' \
         '"kind":"close"' '"kind":"gzip"' '"kind":"duplicate_keys"' '"kind":"huge","size":1500000' \
         '"kind":"redirect","location":"other"' '"kind":"redirect","location":"localhost"' \
         '"kind":"delay","delay":4' '"kind":"status","status":403'; do
    ctl faults/clear '{}'
    ctl fault "{\"match\":\"shop/db\",\"count\":-1,$f}"
    rc=0; "$BIN" render "$T/spec.yaml" >"$T/out" 2>"$T/err" || rc=$?
    [ $rc -ne 0 ] || bad "fault $f: render succeeded"
    [ -s "$T/out" ] && bad "fault $f: a config was printed"
    grep -q 'secret reference $S:db/' "$T/err" || bad "fault $f: error does not name the reference: $(cat "$T/err")"
    no_sentinel "$T/err" "stderr under fault $f"
done
ctl faults/clear '{}'
ctl deny '{"patterns":["secret/data/shop/db"]}'
rc=0; "$BIN" render "$T/spec.yaml" >"$T/out" 2>"$T/err" || rc=$?
[ $rc -ne 0 ] || bad "denied path: render succeeded"
no_sentinel "$T/err" "stderr of a denied read"
ctl deny '{"patterns":[]}'

# A field that does not exist: the error names the reference, not the data around it.
sed 's|\$S:db/user|$S:db/nosuchfield|' "$T/spec.yaml" > "$T/spec2.yaml"
rc=0; "$BIN" render "$T/spec2.yaml" >"$T/out" 2>"$T/err" || rc=$?
[ $rc -ne 0 ] || bad "missing field: render succeeded"
grep -q 'nosuchfield' "$T/err" || bad "missing field not named"
no_sentinel "$T/err" "stderr of a missing field"

# 3. The token never went to the other origin.
curl -sf "http://127.0.0.1:$C/stats" > "$T/stats.json"
/usr/bin/python3 - "$T/stats.json" <<'PY' || bad "the other origin saw requests"
import json, sys
st = json.load(open(sys.argv[1]))
assert st["other"] == [], st["other"]
PY

# 4. The file provider through the CLI: same rule.
printf '{"shop": {"db": "{\\"password\\": \\"%s\\"}", "api": "x"}}' "$SENTINEL" > "$T/secrets.json"
chmod 600 "$T/secrets.json"
sed 's|\$S:db/user|$S:api|' "$T/spec.yaml" > "$T/spec3.yaml"
OCIRENDER_SECRETS= "$BIN" render --secrets-file "$T/secrets.json" "$T/spec3.yaml" >"$T/out" 2>"$T/err" \
    || bad "file provider render failed: $(cat "$T/err")"
grep -q "DB_PASSWORD=$SENTINEL" "$T/out" || bad "file provider: value missing"
no_sentinel "$T/err" "stderr with the file provider"
chmod 644 "$T/secrets.json"
rc=0; OCIRENDER_SECRETS= "$BIN" render --secrets-file "$T/secrets.json" "$T/spec3.yaml" >"$T/out" 2>"$T/err" || rc=$?
[ $rc -ne 0 ] && grep -q "group or others" "$T/err" || bad "a 0644 secrets file was accepted"

[ $fail -eq 0 ] && echo "ok - redaction through ocirender render"
exit $fail

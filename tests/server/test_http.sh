#!/bin/sh
# ocirenderd over HTTP: every route, both request forms, each content type, query parameters,
# the status codes of docs/api.md that need no vault or tokens, ETag, Ocirender-Warnings,
# X-Request-Id, problem+json, and validate-oci on every rendered document.
# shellcheck source=tests/server/lib.sh disable=SC2015,SC2119 # ok() never fails; stop_server takes an optional signal
. "$OCIRENDER_SRC/tests/server/lib.sh"

WEB="$SRC/examples/web.yaml"
SECRETS=$(secrets_copy)
start_server --secrets file --secrets-file "$SECRETS" --max-body 256KiB || exit 1

cat >"$WORK/app.json" <<'EOF'
{"version": "v1", "deployment": "shop", "services": {"api": {"image": {"name": "ghcr.io/example/api:2"},
 "env": {"MODE": "prod"}, "resources": {"cpu": 0.5, "memory": "256Mi"}}}}
EOF
cat >"$WORK/warn.yaml" <<'EOF'
version: v1
deployment: warned
services:
  app:
    image: {name: busybox}
    command: {entrypoint: [/bin/true]}
    devices:
      - path: /dev/fuse
EOF
printf 'version: v1\ndeployment: shop\nservices:\n  web:\n    image: {name: nginx}\n    resources: {memory: 12Q}\n' >"$WORK/invalid.yaml"
printf 'version: v1\nservices:\n  web: [unclosed\n' >"$WORK/malformed.yaml"

# ---- POST /render, plain form ------------------------------------------------------------------
http POST /render --data-binary "@$WEB"
check "render (curl's default type, sniffed): status" "$CODE" 200
check "render: content type" "$(header Content-Type)" "application/json"
hex=$(sha256sum "$WORK/body" | cut -d' ' -f1)
check "render: ETag is the SHA-256 of the body" "$(header ETag)" "\"sha256-$hex\""
# A plain spec carries no host facts (the seccomp profile assumed the server's arch), and
# examples/web.yaml gives only command.args with no image config.
check "render: Ocirender-Warnings" "$(header Ocirender-Warnings)" 2
check "render: Cache-Control" "$(header Cache-Control)" "no-store"
check "render: the file provider resolved \$S:db/password" \
    "$(json '[e for e in d["process"]["env"] if e.startswith("DATABASE_PASSWORD=")]')" \
    "['DATABASE_PASSWORD=dev-only-password']"
check_contains "render: a request id is generated" "$(header X-Request-Id)" "-"
check "render: pretty (2-space indent)" "$(sed -n 2p "$WORK/body" | cut -c1-3)" '  "'
keep_rendered web-plain
etag1=$(header ETag)
plain_hex=$hex

http POST /render --data-binary "@$WEB"
check "ETag is stable across identical requests" "$(header ETag)" "$etag1"
http POST '/render?replica=2' --data-binary "@$WEB"
check "render replica=2: status" "$CODE" 200
[ "$(header ETag)" != "$etag1" ] && ok "ETag changes when the input changes" ||
    fail "ETag did not change for replica=2"
keep_rendered web-replica2

# ---- content types -----------------------------------------------------------------------------
for type in application/yaml application/x-yaml text/yaml 'application/yaml; charset=utf-8' \
    'Application/YAML ; Charset="UTF-8"'; do
    http POST /render -H "Content-Type: $type" --data-binary "@$WEB"
    check "Content-Type '$type': status" "$CODE" 200
    check "Content-Type '$type': same document" "$(header ETag)" "$etag1"
done
http POST /render -H 'Content-Type:' --data-binary "@$WEB"
check "no Content-Type (sniffed YAML)" "$CODE" 200
for type in application/json 'application/json; charset=utf-8' application/x-www-form-urlencoded; do
    http POST /render -H "Content-Type: $type" --data-binary "@$WORK/app.json"
    check "JSON with Content-Type '$type'" "$CODE" 200
done
keep_rendered app-json
http POST /render -H 'Content-Type:' --data-binary "@$WORK/app.json"
check "JSON without Content-Type (sniffed)" "$CODE" 200
http POST /render -H 'Content-Type: application/json' --data-binary "@$WEB"
check_problem "YAML declared as JSON" 400
http POST /render -H 'Content-Type: text/plain' --data-binary "@$WEB"
check_problem "text/plain" 415
http POST /render -H 'Content-Type: application/json; charset=iso-8859-1' --data-binary "@$WORK/app.json"
check_problem "a charset other than UTF-8" 415

# ---- envelope responses ------------------------------------------------------------------------
http POST '/render?format=envelope' --data-binary "@$WEB"
check "format=envelope: status" "$CODE" 200
check "envelope: members" "$(json 'sorted(d)')" "['config', 'digest', 'files', 'secrets', 'warnings']"
check "envelope: digest is the SHA-256 of the pretty config" "$(json 'd["digest"]')" "sha256:$plain_hex"
check "envelope: secrets list names the reference, not the value" \
    "$(json '[(s["env"], s["ref"], s["scope"], s["provider"]) for s in d["secrets"]]')" \
    "[('DATABASE_PASSWORD', '\$S:db/password', 'shop', 'file')]"
check "envelope: no secret value outside the config" \
    "$(json '"dev-only-password" in json.dumps({k: v for k, v in d.items() if k != "config"})')" False
keep_rendered_envelope web-envelope
http POST /render -H 'Accept: application/vnd.ocirender.envelope+json' --data-binary "@$WEB"
check "Accept: envelope media type selects the envelope" "$(json '"digest" in d')" True
http POST /render -H 'Accept: application/vnd.ocirender.envelope+json;q=0, application/json' \
    --data-binary "@$WEB"
check "Accept: envelope with q=0 does not" "$(json '"digest" in d')" False
http POST '/render?compact=true' --data-binary "@$WEB"
check "compact=true: one line without whitespace" "$(wc -l <"$WORK/body" | tr -d ' '):$(grep -c ': ' "$WORK/body")" "0:0"
check "compact=true: same document" "$(json 'd["ociVersion"]')" "1.0.2"
keep_rendered web-compact
http POST '/render?format=envelope&compact=true' --data-binary "@$WEB"
check "compact envelope: digest still of the pretty config" "$(json 'd["digest"]')" "sha256:$plain_hex"

# ---- envelope request form ---------------------------------------------------------------------
python3 - "$WEB" "$WORK/envelope.json" <<'EOF'
import json, sys
spec = open(sys.argv[1]).read()
json.dump({"spec": spec, "service": "web", "container": {"replica": 3},
           "options": {"hostname": "web-three"},
           "host": {"env": {"UNUSED": "x"}}}, open(sys.argv[2], "w"))
EOF
http POST /render -H 'Content-Type: application/json' --data-binary "@$WORK/envelope.json"
check "envelope request (spec as text): status" "$CODE" 200
check "envelope request: options.hostname applied" "$(json 'd["hostname"]')" "web-three"
keep_rendered envelope-request
python3 - "$WORK/app.json" "$WORK/envelope2.json" <<'EOF'
import json, sys
json.dump({"spec": json.load(open(sys.argv[1])), "options": {"scope": "shop"}},
          open(sys.argv[2], "w"))
EOF
http POST '/render?format=envelope' --data-binary "@$WORK/envelope2.json"
check "envelope request (spec as object), envelope response" "$CODE:$(json '"config" in d')" "200:True"
http POST '/render?hostname=from-query' -H 'Content-Type: application/json' \
    --data-binary "@$WORK/envelope.json"
check "query parameters override envelope members" "$(json 'd["hostname"]')" "from-query"

# ---- query parameters --------------------------------------------------------------------------
http POST '/render?service=web&replica=1&role=default&node_id=0&hostname=web-1&host_network=false&scope=shop' \
    --data-binary "@$WEB"
check "all query parameters: status" "$CODE" 200
check "hostname parameter" "$(json 'd["hostname"]')" "web-1"
http POST '/render?host_network=true' --data-binary "@$WEB"
check "host_network=true drops the network namespace" \
    "$(json '"network" in [n["type"] for n in d["linux"]["namespaces"]]')" False
keep_rendered web-hostnet
http POST '/render?host_network=maybe' --data-binary "@$WEB"
check_problem "host_network=maybe" 400
http POST '/render?replica=zero' --data-binary "@$WEB"
check_problem "replica=zero" 400
http POST '/render?servce=web' --data-binary "@$WEB"
check_problem "an unknown query parameter" 400
check_contains "unknown parameter is named" "$(json 'd["errors"][0]["path"]')" "servce"
http POST '/render?replica=1&replica=2' --data-binary "@$WEB"
check_problem "a repeated query parameter" 400
http POST '/render?format=xml' --data-binary "@$WEB"
check_problem "format=xml" 400
http POST '/render?compact=yes' --data-binary "@$WEB"
check_problem "compact=yes" 400
http POST '/render?service=nope' --data-binary "@$WEB"
check_problem "an unknown service" 422

# ---- warnings, 4xx statuses --------------------------------------------------------------------
http POST /render --data-binary "@$WORK/warn.yaml"
check "a missing device fact: 200" "$CODE" 200
check "Ocirender-Warnings counts the warnings" "$(header Ocirender-Warnings)" 2
keep_rendered warned
http POST '/render?format=envelope' --data-binary "@$WORK/warn.yaml"
check "envelope warnings carry code and path" "$(json '[(w["code"], w["path"]) for w in d["warnings"]]')" \
    "[('device_missing', 'services.app.devices[0]'), ('host_arch_assumed', 'host.arch')]"

http POST /render --data-binary "@$WORK/invalid.yaml"
check_problem "invalid spec" 422
check "422 names the path" "$(json '[e["path"] for e in d["errors"]]')" "['services.web.resources.memory']"
check "422 problem type" "$(json 'd["type"]')" "urn:ocirender:problem:spec-invalid"
http POST /render --data-binary "@$WORK/malformed.yaml"
check_problem "malformed YAML" 400
check_contains "400 gives line and column" "$(json 'd["detail"]')" "line"
http POST /render --data-binary ''
check_problem "empty body" 400

http GET /nowhere
check_problem "unknown route" 404
http GET /render
check_problem "GET /render" 405
check "405 Allow for /render" "$(header Allow)" "POST"
http POST /healthz --data-binary x
check_problem "POST /healthz" 405
check "405 Allow for /healthz" "$(header Allow)" "GET, HEAD"
http DELETE /metrics
check "DELETE /metrics" "$CODE" 405

# A declared body over the limit: one within the drain allowance is read and dropped before the
# 413, so the answer cannot be lost to a reset (curl sends 300 kB without Expect); a client
# that waits for 100 Continue, or declares far more, is answered before the body.
head -c 300000 /dev/zero | tr '\0' 'a' >"$WORK/big"
http POST /render --data-binary "@$WORK/big"
check_problem "body over --max-body (Content-Length)" 413
http POST /render -H 'Expect: 100-continue' --data-binary "@$WORK/big"
check_problem "body over --max-body (Expect: 100-continue)" 413
check "413 for a declared body comes after the body" \
    "$(python3 "$SRC/tests/server/httpclient.py" declared 127.0.0.1 "$PORT" 300000 1)" \
    "after-body 413"
check "413 for a body declared far over the limit comes before it" \
    "$(python3 "$SRC/tests/server/httpclient.py" declared 127.0.0.1 "$PORT" 100000000 60)" \
    "before-body 413"
http POST /render -H 'Transfer-Encoding: chunked' --data-binary "@$WORK/big"
check_problem "body over --max-body (chunked, no Content-Length)" 413
check_contains "413 names the limit" "$(json 'd["detail"]')" "262144 bytes"
http GET /healthz
check "the server still serves after 413s" "$CODE" 200

# ---- X-Request-Id ------------------------------------------------------------------------------
http GET /healthz -H 'X-Request-Id: trace-abc-123'
check "X-Request-Id is echoed" "$(header X-Request-Id)" "trace-abc-123"
http GET /nowhere -H 'X-Request-Id: trace-404'
check "X-Request-Id is echoed on errors" "$(header X-Request-Id)" "trace-404"
http POST /render -H 'X-Request-Id: trace-413' --data-binary "@$WORK/big"
check "X-Request-Id is echoed on 413" "$(header X-Request-Id)" "trace-413"
long=$(head -c 129 /dev/zero | tr '\0' 'r')
http GET /healthz -H "X-Request-Id: $long"
[ "$(header X-Request-Id)" != "$long" ] && [ -n "$(header X-Request-Id)" ] &&
    ok "an X-Request-Id over 128 characters is replaced" || fail "long X-Request-Id kept"
http GET /healthz -H 'X-Request-Id: has space'
check "an X-Request-Id with a space is replaced" "$(header X-Request-Id | grep -c ' ')" 0
check "the request id is in the access log" "$(grep -c '"request_id":"trace-abc-123"' "$LOG")" 1

# ---- POST /validate ----------------------------------------------------------------------------
http POST /validate --data-binary "@$WEB"
check "validate web.yaml" "$CODE:$(json '(d["valid"], d["errors"])')" "200:(True, [])"
cat >"$WORK/unknown-secret.yaml" <<'EOF'
version: v1
deployment: shop
services:
  web:
    image: {name: nginx}
    env:
      TOKEN: $S:not-in-any-store/field
EOF
http POST /validate --data-binary "@$WORK/unknown-secret.yaml"
check "validate never resolves secrets (unknown secret is fine)" "$CODE:$(json 'd["valid"]')" "200:True"
http POST /render --data-binary "@$WORK/unknown-secret.yaml"
check_problem "render of the same spec needs the secret" 422
http POST /validate --data-binary "@$WORK/invalid.yaml"
check "validate an invalid spec" "$CODE:$(json '(d["valid"], [e["path"] for e in d["errors"]])')" \
    "200:(False, ['services.web.resources.memory'])"
http POST /validate --data-binary "@$WORK/malformed.yaml"
check "validate malformed YAML" "$CODE:$(json 'd["valid"]')" "200:False"
http POST /validate --data-binary "@$WORK/warn.yaml"
check "validate reports warnings" "$(json '[w["code"] for w in d["warnings"]]'):$(header Ocirender-Warnings)" \
    "['device_missing', 'host_arch_assumed']:2"
http POST /validate -H 'Content-Type: text/csv' --data-binary "@$WEB"
check_problem "validate with an unsupported type" 415
http GET /validate
check "GET /validate" "$CODE" 405

# ---- health, readiness, version, metrics -------------------------------------------------------
http GET /healthz
check "healthz" "$CODE:$(json 'd["status"]')" "200:ok"
http HEAD /healthz -I
check "HEAD /healthz" "$CODE" 200
http GET /readyz
check "readyz with the file provider" "$CODE:$(json '(d["ready"], d["provider"])')" "200:(True, 'file')"
http GET /version
check "version" "$(json '(d["name"], d["version"])')" "('ocirenderd', '$("$SERVER" --version | cut -d' ' -f2)')"
http GET /metrics
check "metrics: status" "$CODE" 200
check_contains "metrics: content type" "$(header Content-Type)" "text/plain; version=0.0.4"
check_contains "metrics: requests counter" "$BODY" 'ocirender_requests_total{route="render",code="200"}'
check_contains "metrics: 404s have route none" "$BODY" 'ocirender_requests_total{route="none",code="404"}'
check_contains "metrics: histogram" "$BODY" 'ocirender_request_duration_seconds_bucket{route="render",le="+Inf"}'
check_contains "metrics: inflight gauge" "$BODY" 'ocirender_inflight_requests 1'
check_contains "metrics: secret metrics follow" "$BODY" 'ocirender_secret_requests_total{provider="file"'
check "metrics: no secret value" "$(grep -c dev-only-password "$WORK/body")" 0

# ---- the access log ----------------------------------------------------------------------------
line=$(grep '"request_id":"trace-abc-123"' "$LOG")
check "access log line fields" "$(printf '%s' "$line" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(sorted(k for k in ("ts","level","request_id","method","path","status","duration_ms","bytes","warnings") if k in d))')" \
    "['bytes', 'duration_ms', 'level', 'method', 'path', 'request_id', 'status', 'ts', 'warnings']"
check "every log line is JSON" "$(python3 -c 'import json,sys; [json.loads(l) for l in open(sys.argv[1])]; print("ok")' "$LOG")" ok
check "no secret value in the log" "$(grep -c dev-only-password "$LOG")" 0

stop_server

# ---- server settings that reach the renderer: --cgroup-parent, OCIRENDER_ALLOW_SERVER_ENV -----
cat >"$WORK/env.yaml" <<'EOF'
version: v1
deployment: shop
services:
  web:
    image: {name: nginx}
    env:
      REGION: $E:OCR_TEST_REGION
EOF
sed 's/OCR_TEST_REGION/OCR_TEST_SECRET/' "$WORK/env.yaml" >"$WORK/env-denied.yaml"
export OCR_TEST_REGION=eu-test-1 OCR_TEST_SECRET=must-not-leak
export OCIRENDER_ALLOW_SERVER_ENV=OCR_TEST_REGION
start_server --cgroup-parent /ocr-test.slice || exit 1
unset OCIRENDER_ALLOW_SERVER_ENV
http POST /render --data-binary "@$WORK/env.yaml"
check "an allowed server variable resolves \$E:" \
    "$(json '[e for e in d["process"]["env"] if e.startswith("REGION=")]')" "['REGION=eu-test-1']"
check_contains "--cgroup-parent sets cgroupsPath" "$(json 'd["linux"]["cgroupsPath"]')" "/ocr-test.slice/"
keep_rendered server-env
http POST /render --data-binary "@$WORK/env-denied.yaml"
check_problem "a server variable not in OCIRENDER_ALLOW_SERVER_ENV" 422
check "the denied variable's value is not shown" "$(grep -c must-not-leak "$WORK/body")" 0
check_contains "the start-up log names the allowed variables" "$(grep '"msg":"listening"' "$LOG")" \
    '"server_env":["OCR_TEST_REGION"]'
check "no server variable value in the log" "$(grep -c -e eu-test-1 -e must-not-leak "$LOG")" 0
stop_server
validate_rendered
finish

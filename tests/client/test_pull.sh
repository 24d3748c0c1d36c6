#!/bin/sh
# `ocirender pull` against a scripted HTTP(S) double (tests/client/http_double.py): the request it
# sends, every exit code README.md lists for `pull`, retries with Retry-After, HTTPS with
# --cacert, and that a failed pull never touches the existing bundle. TAP output.
set -u

BIN="${OCIRENDER_BIN:?}/ocirender"
SRC="${OCIRENDER_SRC:?}"
DOUBLE="$SRC/tests/client/http_double.py"
command -v python3 >/dev/null 2>&1 || { echo "1..0 # SKIP python3 is missing"; exit 77; }

T=$(mktemp -d /tmp/ocr-pull-XXXXXX)
DPID=""
cleanup() {
    [ -n "$DPID" ] && kill "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT INT TERM

N=0
FAILED=0
ok() { N=$((N + 1)); echo "ok $N - $1"; }
not_ok() {
    N=$((N + 1)); FAILED=$((FAILED + 1)); echo "not ok $N - $1"
    [ -f "$T/err" ] && sed 's/^/#   stderr: /' "$T/err"
}
check() { # description, then a command that must succeed
    desc=$1; shift
    if "$@"; then ok "$desc"; else not_ok "$desc"; fi
}
contains() { grep -qF -- "$2" "$1"; }

# ---- fixtures ----
R="$T/rootfs"
mkdir -p "$R/etc"
printf 'root:x:0:0::/root:/bin/sh\napp:x:1234:1234::/home/app:/bin/sh\n' > "$R/etc/passwd"
printf 'root:x:0:\napp:x:1234:\n' > "$R/etc/group"
cat > "$T/spec.yaml" <<'EOF'
version: v1
deployment: shop
services:
  web:
    image: {name: "example/web:1"}
    command: {args: ["/bin/sh", "-c", "echo hi"]}
    user: app
    env:
      GREETING: hello
      FROM_NODE: $E:OCR_PULL_NODE_VALUE
EOF
printf '{"config": {"Env": ["IMAGE_VAR=1"], "WorkingDir": "/srv"}}\n' > "$T/image.json"
export OCR_PULL_NODE_VALUE="node-side value"
# A genuine envelope for the double to answer with.
"$BIN" render --facts-from-host --rootfs "$R" --envelope "$T/spec.yaml" > "$T/ok.json" 2>/dev/null ||
    { echo "Bail out! cannot render the fixture envelope"; exit 1; }
python3 - "$T" <<'EOF'
import json, sys
t = sys.argv[1]
env = json.load(open(t + "/ok.json"))
bad = dict(env); bad["digest"] = "sha256:" + "0" * 64
json.dump(bad, open(t + "/tampered.json", "w"))
json.dump(env["config"], open(t + "/plain.json", "w"))
json.dump({"type": "about:blank", "title": "Unprocessable Content", "status": 422,
           "detail": "the spec is invalid",
           "errors": [{"path": "services.web.env.DB", "message": "secret $S:db not found"},
                      {"path": "services.web.user", "message": "unknown user 'nobody2'"}]},
          open(t + "/problem422.json", "w"))
EOF

# start_double SCRIPT_JSON [TLS]: the double answers with SCRIPT_JSON's entries.
start_double() {
    printf '%s\n' "$1" > "$T/script.json"
    rm -f "$T/port" "$T/log"
    : > "$T/log"
    if [ "${2:-}" = tls ]; then
        python3 "$DOUBLE" --script "$T/script.json" --port-file "$T/port" --log "$T/log" \
            --cert "$T/cert.pem" --key "$T/key.pem" &
    else
        python3 "$DOUBLE" --script "$T/script.json" --port-file "$T/port" --log "$T/log" &
    fi
    DPID=$!
    i=0
    while [ ! -f "$T/port" ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i + 1)); done
    PORT=$(cat "$T/port")
    URL="http://127.0.0.1:$PORT"
}
stop_double() { kill "$DPID" 2>/dev/null; wait "$DPID" 2>/dev/null; DPID=""; }
requests() { wc -l < "$T/log" | tr -d ' '; }
pull() { "$BIN" pull "$@" 2> "$T/err"; echo $? > "$T/rc"; }
rc() { cat "$T/rc"; }
config_sum() { sha256sum "$1/config.json" 2>/dev/null | cut -d' ' -f1; }

ENVELOPE_CT='{"Content-Type": "application/vnd.ocirender.envelope+json"}'

# ---- 1. success: what goes on the wire, and the bundle ----
start_double "[{\"status\": 200, \"headers\": $ENVELOPE_CT, \"body_file\": \"$T/ok.json\"}]"
OCIRENDER_TOKEN=tok-123 pull --server "$URL/" --bundle "$T/b1" --service web --replica 2 \
    --image-config "$T/image.json" --rootfs "$R" "$T/spec.yaml"
check "pull exits 0 on 200" [ "$(rc)" = 0 ]
check "bundle written with config.json 0600" [ "$(stat -c %a "$T/b1/config.json")" = 600 ]
check "bundle dir is 0700" [ "$(stat -c %a "$T/b1")" = 700 ]
check "rootfs links to --rootfs" [ "$(readlink "$T/b1/rootfs")" = "$(cd "$R" && pwd -P)" ]
check "one request" [ "$(requests)" = 1 ]
if python3 - "$T" "$(id -u)" <<'EOF'
import json, sys
t, uid = sys.argv[1], int(sys.argv[2])
req = json.loads(open(t + "/log").readline())
h, body = req["headers"], json.loads(req["body"])
spec = open(t + "/spec.yaml").read()
checks = {
    "POST": req["method"] == "POST",
    "path": req["path"] == "/render?format=envelope",
    "bearer": h.get("authorization") == "Bearer tok-123",
    "accept": h.get("accept") == "application/vnd.ocirender.envelope+json",
    "content-type": h.get("content-type") == "application/json",
    "request id": h.get("x-request-id", "").startswith("ocirender-"),
    "spec text verbatim": body["spec"] == spec,
    "service": body["service"] == "web" and body["container"]["service"] == "web",
    "replica": body["container"]["replica"] == 2,
    "image config": body["image_config"]["config"]["Env"] == ["IMAGE_VAR=1"],
    "bundle_dir": body["options"]["bundle_dir"] == t + "/b1",
    "host user": body["host"]["user"]["uid"] == uid,
    "host cgroup": body["host"]["cgroup"]["version"] in (1, 2),
    "host env": body["host"]["env"] == {"OCR_PULL_NODE_VALUE": "node-side value"},
    "rootfs passwd": "app:x:1234" in body["host"]["rootfs"]["passwd"],
}
bad = [k for k, v in checks.items() if not v]
if bad:
    print("#   wrong in the request:", ", ".join(bad))
sys.exit(1 if bad else 0)
EOF
then ok "request: method, path, headers, envelope members, facts"; else not_ok "request content"; fi
# An envelope as SPEC: its members are sent as given (the flags would override them), its spec
# decides which facts are gathered, and the host facts are this node's.
python3 - "$T" <<'EOF'
import json, sys
t = sys.argv[1]
spec = open(t + "/spec.yaml").read()
json.dump({"spec": spec, "service": "web", "container": {"service": "web", "replica": 5},
           "host": {"env": {"STALE": "x"}}}, open(t + "/envelope-in.json", "w"))
EOF
: > "$T/log"
pull --server "$URL" --bundle "$T/b-env" "$T/envelope-in.json"
check "an envelope as SPEC is pulled" [ "$(rc)" = 0 ]
check "the envelope's host facts are replaced, and the node says so" \
    contains "$T/err" "the envelope's host facts are replaced"
if python3 - "$T" <<'EOF'
import json, sys
t = sys.argv[1]
body = json.loads(json.loads(open(t + "/log").readline())["body"])
ok = (body["spec"] == open(t + "/spec.yaml").read() and body["container"]["replica"] == 5
      and body["host"]["env"] == {"OCR_PULL_NODE_VALUE": "node-side value"})
sys.exit(0 if ok else 1)
EOF
then ok "envelope members kept, facts for its spec gathered"; else not_ok "envelope as SPEC"; fi
# A server behind a path prefix: /render goes below it.
: > "$T/log"
pull --server "$URL/ocirender/" --bundle "$T/b0" "$T/spec.yaml"
check "path prefix kept: /ocirender/render" grep -q '"path": "/ocirender/render?format=envelope"' "$T/log"
stop_double
SUM1=$(config_sum "$T/b1")

# ---- 2. rejections (4xx): exit 2, problem printed, old bundle untouched ----
start_double "[{\"status\": 422, \"headers\": {\"Content-Type\": \"application/problem+json\"}, \"body_file\": \"$T/problem422.json\"}]"
pull --server "$URL/render" --bundle "$T/b1" --rootfs "$R" "$T/spec.yaml"
check "422 exits 2" [ "$(rc)" = 2 ]
check "422 prints status and title" contains "$T/err" "the server rejected the request: HTTP 422 Unprocessable Content"
check "422 prints the detail" contains "$T/err" "ocirender: the spec is invalid"
check "422 prints each error path" contains "$T/err" "  services.web.env.DB: secret \$S:db not found"
check "422 prints the second error" contains "$T/err" "  services.web.user: unknown user 'nobody2'"
check "422 is not retried" [ "$(requests)" = 1 ]
check "422 leaves the bundle untouched" [ "$(config_sum "$T/b1")" = "$SUM1" ]
stop_double

start_double '[{"status": 401, "headers": {"WWW-Authenticate": "Bearer"}, "body": "{\"title\": \"Unauthorized\", \"status\": 401, \"detail\": \"missing token\"}"}]'
pull --server "$URL" --bundle "$T/b1" "$T/spec.yaml"
check "401 exits 2" [ "$(rc)" = 2 ]
check "401 detail printed" contains "$T/err" "missing token"
stop_double

# ---- 3. retries ----
start_double "[{\"status\": 503, \"headers\": {\"Retry-After\": \"1\"}, \"body\": \"{}\"},
               {\"status\": 503, \"headers\": {\"Retry-After\": \"1\"}, \"body\": \"{}\"},
               {\"status\": 200, \"body_file\": \"$T/ok.json\"}]"
START=$(date +%s)
pull --server "$URL" --bundle "$T/b2" "$T/spec.yaml"
END=$(date +%s)
check "503 twice then 200 exits 0" [ "$(rc)" = 0 ]
check "503 retried: three requests" [ "$(requests)" = 3 ]
check "Retry-After honoured (>= 2 s)" [ $((END - START)) -ge 2 ]
check "retry notice printed" contains "$T/err" "the server answered 503; retrying in 1.0 s (attempt 2 of 5)"
stop_double

start_double '[{"status": 503, "body": "{\"title\": \"Service Unavailable\", \"detail\": \"vault is sealed\"}"}]'
pull --server "$URL" --bundle "$T/b1" --retries 2 "$T/spec.yaml"
check "503 every time exits 3" [ "$(rc)" = 3 ]
check "503 retried --retries times" [ "$(requests)" = 3 ]
check "503 detail printed" contains "$T/err" "vault is sealed"
check "503 leaves the bundle untouched" [ "$(config_sum "$T/b1")" = "$SUM1" ]
stop_double

start_double '[{"status": 503, "headers": {"Retry-After": "3600"}, "body": "{}"}]'
pull --server "$URL" --bundle "$T/b1" "$T/spec.yaml"
check "503 with a long Retry-After exits 3 at once" [ "$(rc)" = 3 ]
check "a long Retry-After is not cut short" [ "$(requests)" = 1 ]
check "the requested delay is reported" contains "$T/err" "retry after 3600 s"
stop_double

start_double '[{"status": 500, "body": "{\"title\": \"Internal Server Error\"}"}]'
pull --server "$URL" --bundle "$T/b1" "$T/spec.yaml"
check "500 exits 3" [ "$(rc)" = 3 ]
check "500 is not retried" [ "$(requests)" = 1 ]
stop_double

start_double "[{\"close\": true}, {\"status\": 200, \"body_file\": \"$T/ok.json\"}]"
pull --server "$URL" --bundle "$T/b3" "$T/spec.yaml"
check "dropped connection is retried, then 0" [ "$(rc)" = 0 ]
check "dropped connection: two requests" [ "$(requests)" = 2 ]
stop_double

start_double "[{\"delay\": 4, \"status\": 200, \"body_file\": \"$T/ok.json\"}]"
START=$(date +%s)
pull --server "$URL" --bundle "$T/b1" --timeout 1 --retries 1 "$T/spec.yaml"
END=$(date +%s)
check "timeout exits 3" [ "$(rc)" = 3 ]
check "timeout retried once" [ "$(requests)" = 2 ]
check "timeouts are bounded (< 4 s)" [ $((END - START)) -lt 4 ]
check "timeout named" contains "$T/err" "timed out"
stop_double

# A port nobody listens on: the double's, after it stopped.
pull --server "$URL" --bundle "$T/b1" --retries 1 "$T/spec.yaml"
check "connection refused exits 3" [ "$(rc)" = 3 ]
check "connection refused is retried" contains "$T/err" "retrying in"
check "transport failure leaves the bundle untouched" [ "$(config_sum "$T/b1")" = "$SUM1" ]

# ---- 4. answers that are not a usable envelope: exit 3, nothing written ----
start_double "[{\"status\": 200, \"body_file\": \"$T/tampered.json\"}]"
pull --server "$URL" --bundle "$T/b1" "$T/spec.yaml"
check "digest mismatch exits 3" [ "$(rc)" = 3 ]
check "digest mismatch named" contains "$T/err" "not a valid envelope: digest mismatch"
check "digest mismatch leaves the bundle untouched" [ "$(config_sum "$T/b1")" = "$SUM1" ]
stop_double

start_double "[{\"status\": 200, \"body_file\": \"$T/plain.json\"}]"
pull --server "$URL" --bundle "$T/b1" "$T/spec.yaml"
check "a plain config answer exits 3" [ "$(rc)" = 3 ]
check "a plain config answer is explained" contains "$T/err" "plain config.json, not an envelope"
stop_double

start_double '[{"status": 307, "headers": {"Location": "http://elsewhere.invalid/render"}, "body": ""}]'
pull --server "$URL" --bundle "$T/b1" "$T/spec.yaml"
check "redirects are not followed (exit 3)" [ "$(rc)" = 3 ]
check "redirect explained" contains "$T/err" "a redirect, not followed"
stop_double

# ---- 5. local problems: exit 1 ----
start_double "[{\"status\": 200, \"body_file\": \"$T/ok.json\"}]"
ln -s "$T/b1" "$T/blink"
pull --server "$URL" --bundle "$T/blink" "$T/spec.yaml"
check "a symlinked bundle dir exits 1" [ "$(rc)" = 1 ]
check "symlink refusal named" contains "$T/err" "the directory is a symlink"
printf 'file-token\n' > "$T/token"
pull --server "$URL" --token-file "$T/token" --bundle "$T/b4" "$T/spec.yaml"
check "--token-file works" [ "$(rc)" = 0 ]
check "--token-file token sent" grep -q '"authorization": "Bearer file-token"' "$T/log"
printf 'version: v1\ndeployment: shop\nservices:\n  web:\n    image: {name: x}\n    bogus_key: 1\n' > "$T/newer.yaml"
pull --server "$URL" --bundle "$T/b5" "$T/newer.yaml"
check "a spec this client cannot parse is still sent" [ "$(rc)" = 0 ]
check "and the node says why facts are basic" contains "$T/err" "cannot work out locally which facts"
stop_double

pull --bundle "$T/b1" "$T/spec.yaml"
check "missing --server exits 1" [ "$(rc)" = 1 ]
pull --server "ftp://127.0.0.1/" --bundle "$T/b1" "$T/spec.yaml"
check "ftp:// exits 1" [ "$(rc)" = 1 ]
check "scheme named" contains "$T/err" "unsupported scheme 'ftp'"
pull --server "$URL" --bundle "$T/b1" --token "a b" "$T/spec.yaml"
check "a token with a space exits 1" [ "$(rc)" = 1 ]
pull --server "$URL" --bundle "$T/b1" --token x --token-file "$T/token" "$T/spec.yaml"
check "--token with --token-file exits 1" [ "$(rc)" = 1 ]
pull --server "$URL" --bundle "$T/b1" --replica two "$T/spec.yaml"
check "a bad --replica exits 1" [ "$(rc)" = 1 ]
pull --server "$URL" --bundle "$T/b1" "$T/missing.yaml"
check "a missing SPEC exits 1" [ "$(rc)" = 1 ]
check "local failures leave the bundle untouched" [ "$(config_sum "$T/b1")" = "$SUM1" ]

# ---- 6. HTTPS with --cacert ----
if command -v openssl >/dev/null 2>&1 &&
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=127.0.0.1" \
        -addext "subjectAltName=IP:127.0.0.1" -keyout "$T/key.pem" -out "$T/cert.pem" \
        >/dev/null 2>&1; then
    start_double "[{\"status\": 200, \"body_file\": \"$T/ok.json\"}]" tls
    pull --server "https://127.0.0.1:$PORT" --cacert "$T/cert.pem" --token t --bundle "$T/b6" \
        "$T/spec.yaml"
    check "HTTPS with --cacert exits 0" [ "$(rc)" = 0 ]
    pull --server "https://127.0.0.1:$PORT" --bundle "$T/b7" --retries 3 "$T/spec.yaml"
    check "an unverifiable server certificate exits 3" [ "$(rc)" = 3 ]
    check "certificate failures are not retried" sh -c "! grep -q retrying '$T/err'"
    check "the certificate problem is named" grep -qi "certificate" "$T/err"
    check "no bundle from an unverified server" [ ! -e "$T/b7" ]
    pull --server "https://127.0.0.1:$PORT" --cacert "$T/missing.pem" --bundle "$T/b7" \
        "$T/spec.yaml"
    check "an unreadable --cacert exits 1" [ "$(rc)" = 1 ]
    stop_double
else
    echo "# SKIP https cases: openssl cannot make a certificate here"
fi

echo "1..$N"
[ "$FAILED" = 0 ]

#!/bin/sh
# ocirender render / facts: flags, stdin, envelopes, exit codes and error output.
set -eu
BIN="$OCIRENDER_BIN/ocirender"
SRC="$OCIRENDER_SRC"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
validate() {
    if [ -x "$OCIRENDER_SHARED/tools/validate-oci" ]; then
        "$OCIRENDER_SHARED/tools/validate-oci" --quiet "$@" || fail "validate-oci rejected $*"
    else
        echo "NOTICE: $OCIRENDER_SHARED/tools/validate-oci not found; skipping schema validation"
    fi
}
json() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$@"; }

cat > "$T/spec.yaml" <<'YAML'
version: v1
deployment: shop
services:
  web:
    image: {name: "shop:1"}
    env: {NODE: "$E:NODE_NAME", A: "1"}
    devices: [{path: /dev/null}]
  worker:
    image: {name: "worker:1"}
YAML

# stdin, --service, --replica, facts from a file
echo '{"env": {"NODE_NAME": "n1"}, "cgroup": {"version": 1}}' > "$T/facts.json"
"$BIN" render --service web --replica 4 --facts "$T/facts.json" - < "$T/spec.yaml" > "$T/a.json"
[ "$(json "$T/a.json" "d['hostname']")" = web-rep-4 ] || fail "replica/service flags"
json "$T/a.json" "d['process']['env']" | grep -q "NODE=n1" || fail "facts env"
[ "$(json "$T/a.json" "[m['type'] for m in d['mounts'] if m['destination']=='/sys/fs/cgroup'][0]")" = cgroup ] || fail "facts cgroup"
validate "$T/a.json"

# --facts-from-host: this machine's real facts (read-only): /dev/null is 1:3 here
NODE_NAME=hostnode "$BIN" render --service web --facts-from-host "$T/spec.yaml" > "$T/b.json"
json "$T/b.json" "[(x['major'],x['minor']) for x in d['linux']['devices'] if x['path']=='/dev/null']" | grep -q "(1, 3)" || fail "device from host"
json "$T/b.json" "d['process']['env']" | grep -q "NODE=hostnode" || fail "host env"
validate "$T/b.json"

# --envelope: digest is sha256 of the pretty config text, and the config matches plain output
"$BIN" render --service web --facts "$T/facts.json" --replica 4 --envelope "$T/spec.yaml" > "$T/env.json"
python3 - "$T/env.json" "$T/a.json" <<'PY' || fail "envelope digest"
import hashlib, json, sys
env = json.load(open(sys.argv[1]))
plain = open(sys.argv[2], 'rb').read()
assert set(env) == {"config", "digest", "warnings", "files", "secrets"}, env.keys()
assert env["digest"] == "sha256:" + hashlib.sha256(plain).hexdigest(), env["digest"]
assert env["config"] == json.loads(plain)
PY

# --compact prints one line that parses to the same document
"$BIN" render --service web --facts "$T/facts.json" --replica 4 --compact "$T/spec.yaml" > "$T/c.json"
[ "$(wc -l < "$T/c.json")" -eq 1 ] || fail "compact is one line"
python3 -c "import json,sys; assert json.load(open(sys.argv[1]))==json.load(open(sys.argv[2]))" "$T/c.json" "$T/a.json" || fail "compact differs"

# --image-config takes the whole OCI image config blob
echo '{"architecture": "amd64", "config": {"Cmd": ["/bin/echo", "hi"], "WorkingDir": "/srv"}}' > "$T/img.json"
"$BIN" render --service worker --image-config "$T/img.json" "$T/spec.yaml" > "$T/d.json"
[ "$(json "$T/d.json" "d['process']['args']")" = "['/bin/echo', 'hi']" ] || fail "image config"

# errors: exit 1, the path on stderr, nothing on stdout
if "$BIN" render "$T/spec.yaml" > "$T/out" 2> "$T/err"; then fail "ambiguous service accepted"; fi
[ ! -s "$T/out" ] || fail "output on error"
grep -q "choose one with" "$T/err" || fail "service error text: $(cat "$T/err")"
if "$BIN" render --service web "$T/spec.yaml" 2> "$T/err" >/dev/null; then fail "missing \$E: accepted"; fi
grep -q "services.web.env.NODE" "$T/err" || fail "missing env path"
if "$BIN" render --replica x --service web "$T/spec.yaml" 2>/dev/null >/dev/null; then fail "bad replica"; fi
if "$BIN" render 2>/dev/null; then fail "no SPEC accepted"; fi
if "$BIN" render --facts "$T/facts.json" --facts-from-host "$T/spec.yaml" 2>/dev/null; then fail "exclusive flags"; fi
# an unknown key: the whole message on one line, with line, column and the nearest field
printf 'version: v1\ndeployment: shop\nservices:\n  web:\n    image: {name: nginx}\n    platfor: {os: linux, arch: amd64}\n' > "$T/typo.yaml"
if "$BIN" render "$T/typo.yaml" > "$T/out" 2> "$T/err"; then fail "unknown key accepted"; fi
[ "$(cat "$T/err")" = 'ocirender: services.web.platfor: unknown field `platfor`, did you mean `platform`? (line 6, column 5)' ] \
    || fail "unknown key message: $(cat "$T/err")"
printf 'version: v1\ndeployment: shop\nservices:\n  web:\n    image: {name: nginx}\n    zzzzqqq: 1\n' > "$T/unknown.yaml"
if "$BIN" render "$T/unknown.yaml" > "$T/out" 2> "$T/err"; then fail "unknown key accepted"; fi
grep -q '^ocirender: services.web.zzzzqqq: unknown field `zzzzqqq`, expected one of `rtype`, .*`network_mode`, and [0-9]* more (line 6, column 5)$' "$T/err" \
    || fail "long unknown key message not whole: $(cat "$T/err")"
"$BIN" render --help | grep -q -- "--facts-from-host" || fail "help"
printf '\0bad' | { if "$BIN" render - 2>/dev/null; then fail "NUL accepted"; fi; }

# facts: what a spec needs (tests/client covers facts gathering in depth)
NODE_NAME=x "$BIN" facts --service web "$T/spec.yaml" > "$T/f2.json"
json "$T/f2.json" "d['env']" | grep -q "'NODE_NAME': 'x'" || fail "facts env"
json "$T/f2.json" "[x['path'] for x in d['devices']]" | grep -q "/dev/null" || fail "facts devices"
echo "cli render/facts: all checks passed"

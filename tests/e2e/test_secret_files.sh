#!/bin/sh
# End to end: secrets as files. `ocirender pull` from ocirenderd (file secrets provider) writes
# a bundle whose service has DB_PASSWORD_FILE: $S:... and API_KEY: $S:...; `runc run` then
# reads the file as the non-root user 1000:1000 through DB_PASSWORD_FILE. The file's value is
# nowhere in the bundle directory (only the plain env secret, in config.json's env), nor in
# the server's log or the client's output. Replacing the bundle replaces the secrets
# directory; `ocirender remove` deletes both. Needs root, runc, a static busybox and a tmpfs
# /dev/shm; skips (77) with a notice otherwise.
set -u

BIN="${OCIRENDER_BIN:?}"
SRC="${OCIRENDER_SRC:?}"
SHARED="${OCIRENDER_SHARED:-$SRC/../shared}"

. "$SRC/tests/e2e/lib.sh"
e2e_require_runc
[ "$(stat -f -c %T /dev/shm 2>/dev/null)" = tmpfs ] || skip "/dev/shm is not a tmpfs"
[ -x "$BIN/ocirenderd" ] || skip "$BIN/ocirenderd is not built"

T=$(mktemp -d /tmp/ocr-e2e-sec-XXXXXX)
SECRETS=$(mktemp -d /dev/shm/ocr-e2e-sec-XXXXXX)
chmod 755 "$T"
ID="ocr-e2e-sec-$$"
CGROUP_PARENT="ocirender-e2e-sec-$$"
PID=""
cleanup() {
    runc delete -f "$ID-1" >/dev/null 2>&1
    runc delete -f "$ID-2" >/dev/null 2>&1
    [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
    e2e_remove_cgroup_parent "$CGROUP_PARENT"
    rm -rf "$T" "$SECRETS"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

check() { # DESCRIPTION COMMAND...
    what=$1; shift
    if "$@"; then ok "$what"; else not_ok "$what"; fi
}

# ---- rootfs, spec, secrets ----
R="$T/rootfs"
mkdir -p "$R/bin" "$R/etc" "$R/run"
cp "$BUSYBOX" "$R/bin/busybox"
for applet in $("$R/bin/busybox" --list); do
    [ -e "$R/bin/$applet" ] || ln -s busybox "$R/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:App:/:/bin/sh\n' > "$R/etc/passwd"
printf 'root:x:0:\napp:x:1000:\n' > "$R/etc/group"

FILE_VALUE="file-secret-$$-value"
ENV_VALUE="env-secret-$$-value"
printf '{"e2e": {"db": "{\\"password\\": \\"%s\\"}", "api-key": "%s"}}\n' \
    "$FILE_VALUE" "$ENV_VALUE" > "$T/secrets.json"
chmod 600 "$T/secrets.json"

# The container reports its ids, the file's value, mode and owner, and whether it can write
# the file; the cgroup parent keeps it out of the test's own cgroup (see spec.yaml.in).
cat > "$T/spec.yaml" <<EOF
version: v1
deployment: e2e
services:
  sec:
    image: {name: "local/busybox:e2e"}
    cgroup_parent: "/$CGROUP_PARENT"
    command:
      entrypoint: ["/bin/sh", "-c"]
      args:
        - 'echo "IDS=\$(id -u):\$(id -g)"; echo "PATHVAR=\$DB_PASSWORD_FILE";
           echo "VALUE=\$(cat "\$DB_PASSWORD_FILE")"; echo "API_KEY=\$API_KEY";
           echo "STAT=\$(stat -c "%a %u:%g" "\$DB_PASSWORD_FILE")";
           if (echo x >> "\$DB_PASSWORD_FILE") 2>/dev/null; then echo WRITE=yes; else echo WRITE=no; fi;
           echo PROBE=done'
    user: "1000:1000"
    env:
      DB_PASSWORD_FILE: \$S:db/password
      API_KEY: \$S:api-key
EOF

# ---- ocirenderd with the file provider ----
env OCIRENDER_SECRETS=file OCIRENDER_SECRETS_FILE="$T/secrets.json" \
    "$BIN/ocirenderd" --listen 127.0.0.1:0 > "$T/server.out" 2> "$T/server.log" &
PID=$!
i=0
port=""
while [ -z "$port" ] && [ $i -lt 200 ] && kill -0 "$PID" 2>/dev/null; do
    sleep 0.05
    i=$((i + 1))
    port=$(sed -n 's/.*"event":"start".*"port":\([0-9][0-9]*\).*/\1/p' "$T/server.log")
done
if [ -z "$port" ]; then
    not_ok "ocirenderd starts"
    sed 's/^/#   /' "$T/server.log" | head -10
    echo "1..$N"
    exit 1
fi
URL="http://127.0.0.1:$port"
B="$T/bundles/sec"

pull() {
    "$BIN/ocirender" pull --server "$URL" --service sec --rootfs "$R" --bundle "$B" \
        --secrets-dir "$SECRETS" "$T/spec.yaml" 2> "$T/pull.err"
}

# The /run/secrets bind source in config.json.
bind_source() {
    python3 -c 'import json,sys
c = json.load(open(sys.argv[1]))
print([m["source"] for m in c["mounts"] if m["destination"] == "/run/secrets"][0])' "$B/config.json"
}

run_once() { # CONTAINER-ID OUTPUT
    e2e_runc_run "$B" "$1" "$2" "$T/runc.err"
    rc=$?
    if [ $rc = 0 ] && grep -qx "PROBE=done" "$2"; then
        ok "runc run ($1)"
    else
        not_ok "runc run ($1, exit $rc)"
        sed 's/^/#   runc: /' "$T/runc.err" "$2" | head -10
    fi
}

expect() { # OUTPUT LINE
    if grep -qxF -- "$2" "$1"; then ok "container: $2"; else
        not_ok "container: $2"
        sed 's/^/#   got: /' "$1" | head -10
    fi
}

if pull; then ok "ocirender pull"; else
    not_ok "ocirender pull"
    sed 's/^/#   /' "$T/pull.err" | head -10
fi
e2e_validate "config.json" "$B/config.json"

run_once "$ID-1" "$T/out1"
expect "$T/out1" "IDS=1000:1000"
expect "$T/out1" "PATHVAR=/run/secrets/DB_PASSWORD"
expect "$T/out1" "VALUE=$FILE_VALUE"
expect "$T/out1" "API_KEY=$ENV_VALUE"
expect "$T/out1" "STAT=400 1000:1000"
expect "$T/out1" "WRITE=no"

# The file's value is nowhere in the bundle; the plain env secret only in config.json's env.
check "grep -r finds no secret-file value in the bundle" \
    sh -c "! grep -r -q -F -- '$FILE_VALUE' '$B'"
hits=$(grep -r -l -F -- "$ENV_VALUE" "$B")
check "the plain env secret is only in config.json" [ "$hits" = "$B/config.json" ]
check "...and there only in its env entry, which is not a _FILE one" \
    python3 -c 'import json,sys
c = json.load(open(sys.argv[1]))
text = open(sys.argv[1]).read()
env = [e for e in c["process"]["env"] if sys.argv[2] in e]
sys.exit(0 if env == ["API_KEY=" + sys.argv[2]] and text.count(sys.argv[2]) == 1 else 1)' \
    "$B/config.json" "$ENV_VALUE"
check "the secret-file value is not in the server log or the client output" \
    sh -c "! grep -q -F -- '$FILE_VALUE' '$T/server.log' '$T/server.out' '$T/pull.err'"
SRC1=$(bind_source)
case "$SRC1" in
"$SECRETS"/sec-*/*) ok "/run/secrets binds a directory under --secrets-dir ($SRC1)" ;;
*) not_ok "/run/secrets binds a directory under --secrets-dir ($SRC1)" ;;
esac

# Replacing the bundle replaces the directory; the container still reads its secret.
if pull; then ok "ocirender pull again"; else not_ok "ocirender pull again"; fi
SRC2=$(bind_source)
check "the new bundle binds a new directory" [ "$SRC1" != "$SRC2" ]
check "the old directory is gone" [ ! -e "$SRC1" ]
run_once "$ID-2" "$T/out2"
expect "$T/out2" "VALUE=$FILE_VALUE"

# ocirender remove deletes the bundle and its secrets.
if "$BIN/ocirender" remove --bundle "$B" --secrets-dir "$SECRETS" 2> "$T/remove.err"; then
    ok "ocirender remove"
else
    not_ok "ocirender remove"
    sed 's/^/#   /' "$T/remove.err" | head -5
fi
check "the bundle is gone" [ ! -e "$B" ]
check "its secrets directory is gone" [ ! -e "$(dirname "$SRC2")" ]

echo "1..$N"
[ "$FAILED" = 0 ]

#!/bin/sh
# WSL2 end to end (docs/wsl2.md) on a fake WSL2 node: a directory with a WSL2 kernel release
# in proc/sys/kernel/osrelease, a dev/dxg character device made with mknod and the WSL library
# directories, read through `--host-root` / OCIRENDER_HOST_ROOT.
#   1. `ocirender facts` reports host.wsl for the fake node and nothing WSL-specific for this
#      machine; flag errors exit 1.
#   2. `ocirender render --facts-from-host` and `ocirender pull` through ocirenderd render
#      /dev/dxg, its cgroup rule, the WSL library mounts and LD_LIBRARY_PATH (validate-oci);
#      without /dev/dxg the render fails with the original's message (exit 1 locally, exit 2
#      from the server's 422).
#   3. The pulled bundle runs under runc: the fake dxg has the numbers of a real device the
#      device cgroup does not allow by default (/dev/loop-control where the host has it), so opening
#      it in the container proves the rule; /usr/lib/wsl comes from an overlay on /usr/lib in
#      a private mount namespace, so this machine's /usr/lib is never changed. The same bundle
#      without the rule must fail to open it. Skipped with a notice where root, runc, a static
#      busybox, unshare or overlayfs is missing.
set -u

BIN="${OCIRENDER_BIN:?}"
SRC="${OCIRENDER_SRC:?}"
SHARED="${OCIRENDER_SHARED:-$SRC/../shared}"

. "$SRC/tests/e2e/lib.sh"
[ "$(id -u)" = 0 ] || skip "needs root to mknod a fake /dev/dxg"
command -v python3 >/dev/null 2>&1 || skip "python3 is needed"

T=$(mktemp -d /tmp/ocr-wsl-XXXXXX)
chmod 755 "$T"
PIDS=""
IDS=""
cleanup() {
    for id in $IDS; do runc delete -f "$id" >/dev/null 2>&1; done
    for p in $PIDS; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    if [ "$FAILED" != 0 ]; then echo "# kept $T for a look"; else rm -rf "$T"; fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

check() { if eval "$2"; then ok "$1"; else not_ok "$1"; fi; }
json() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$@"; }

# ---- the fake WSL2 nodes ----
# The dxg numbers: those of a real misc device (major 10, like dxg) that runc's default
# device rules do not allow (it allows /dev/net/tun), so that opening it in the container
# proves the rendered rule; /dev/null's where the host has none (then it cannot).
RULE_VISIBLE=0 DXG_MAJOR=1 DXG_MINOR=3
for dev in /dev/loop-control /dev/fuse; do
    if [ -c "$dev" ]; then
        DXG_MAJOR=$((0x$(stat -c %t "$dev"))) DXG_MINOR=$((0x$(stat -c %T "$dev"))) RULE_VISIBLE=1
        echo "# the fake dxg has the numbers of $dev ($DXG_MAJOR:$DXG_MINOR)"
        break
    fi
done
[ "$RULE_VISIBLE" = 1 ] ||
    echo "# NOTICE: no /dev/loop-control or /dev/fuse: the fake dxg is 1:3, which runc allows anyway"
make_node() { # make_node DIR WITH_DXG
    mkdir -p "$1/proc/sys/kernel" "$1/dev" "$1/usr/lib/wsl/lib" "$1/usr/lib/wsl/drivers"
    echo "5.15.167.4-microsoft-standard-WSL2" > "$1/proc/sys/kernel/osrelease"
    if [ "$2" = 1 ]; then mknod -m 666 "$1/dev/dxg" c "$DXG_MAJOR" "$DXG_MINOR"; fi
}
NODE="$T/node"
make_node "$NODE" 1
NODXG="$T/node-nodxg"
make_node "$NODXG" 0

# ---- 1. facts ----
WSL_DISTRO_NAME=Fake-24.04 "$BIN/ocirender" facts --host-root "$NODE" > "$T/facts.json" 2> "$T/facts.err"
check "facts --host-root: host.wsl of the fake node" \
    "[ \"\$(json '$T/facts.json' \"(d['wsl']['kernel'], d['wsl']['distro'], d['wsl']['dxg'], d['wsl']['lib_dirs'])\")\" = \"('5.15.167.4-microsoft-standard-WSL2', 'Fake-24.04', {'major': $DXG_MAJOR, 'minor': $DXG_MINOR}, ['/usr/lib/wsl/lib', '/usr/lib/wsl/drivers'])\" ]"
OCIRENDER_HOST_ROOT="$NODE" "$BIN/ocirender" facts > "$T/facts-env.json" 2>/dev/null
check "OCIRENDER_HOST_ROOT works like --host-root" \
    "[ \"\$(json '$T/facts-env.json' \"d['wsl']['dxg']\")\" = \"{'major': $DXG_MAJOR, 'minor': $DXG_MINOR}\" ]"
OCIRENDER_HOST_ROOT="$NODE" "$BIN/ocirender" facts --host-root / > "$T/facts-real.json" 2>/dev/null
if grep -qi 'microsoft-standard\|WSL2' /proc/sys/kernel/osrelease; then
    check "this machine (a WSL2 kernel) reports host.wsl" "json '$T/facts-real.json' \"'wsl' in d\" | grep -qx True"
else
    check "this machine reports nothing WSL-specific (the flag wins over the variable)" \
        "json '$T/facts-real.json' \"'wsl' in d\" | grep -qx False"
fi
"$BIN/ocirender" facts --host-root "$T/missing" > /dev/null 2> "$T/err"
check "--host-root of a missing directory: exit 1" "[ $? = 1 ] && grep -q 'host-root' '$T/err'"
"$BIN/ocirender" render --host-root "$NODE" "$SRC/examples/gpu.yaml" > /dev/null 2> "$T/err"
check "render --host-root needs --facts-from-host" "[ $? = 1 ] && grep -q 'needs --facts-from-host' '$T/err'"

# ---- 2. render and pull ----
cat > "$T/spec.yaml" <<'EOF'
version: v1
deployment: wsl-demo
services:
  cuda:
    image: {name: busybox}
    command:
      entrypoint: ["/bin/sh", "/probe.sh"]
    env:
      LD_LIBRARY_PATH: /opt/app/lib
    resources:
      gpu: {count: 1}
EOF
# config_ok NAME CONFIG: the WSL parts, exactly.
config_ok() {
    check "$1: /dev/dxg $DXG_MAJOR:$DXG_MINOR" \
        "[ \"\$(json '$2' \"[(x['type'], x['major'], x['minor']) for x in d['linux']['devices'] if x['path']=='/dev/dxg']\")\" = \"[('c', $DXG_MAJOR, $DXG_MINOR)]\" ]"
    check "$1: an allow rule for /dev/dxg" \
        "json '$2' \"[r for r in d['linux']['resources']['devices'] if r.get('major')==$DXG_MAJOR and r.get('minor')==$DXG_MINOR and r['allow'] and r['access']=='rwm']\" | grep -q allow"
    check "$1: read-only binds of /usr/lib/wsl and its library directories" \
        "[ \"\$(json '$2' \"[m['destination'] for m in d['mounts'] if m['destination'].startswith('/usr/lib/wsl') and 'ro' in m['options'] and 'rbind' in m['options']]\")\" = \"['/usr/lib/wsl', '/usr/lib/wsl/lib', '/usr/lib/wsl/drivers']\" ]"
    check "$1: LD_LIBRARY_PATH prefixed" \
        "json '$2' \"d['process']['env']\" | grep -q 'LD_LIBRARY_PATH=/usr/lib/wsl/drivers:/usr/lib/wsl/lib:/opt/app/lib'"
    e2e_validate "$1" "$2"
}
"$BIN/ocirender" render --facts-from-host --host-root "$NODE" "$T/spec.yaml" > "$T/local.json" 2> "$T/err"
check "render --facts-from-host --host-root: exit 0" "[ $? = 0 ]"
config_ok "render" "$T/local.json"
"$BIN/ocirender" render --facts-from-host --host-root "$NODXG" "$T/spec.yaml" > "$T/out" 2> "$T/err"
check "render without /dev/dxg: exit 1 with the original's message" \
    "[ $? = 1 ] && [ ! -s '$T/out' ] && grep -q 'services.cuda.resources.gpu: GPU requested but WSL2 GPU support not available on this host: /dev/dxg is not exposed by the WSL2 kernel' '$T/err'"

URL=""
if [ -x "$BIN/ocirenderd" ]; then
    "$BIN/ocirenderd" --listen 127.0.0.1:0 > "$T/server.out" 2> "$T/server.log" &
    SPID=$!
    PIDS="$PIDS $SPID"
    i=0
    port=""
    while [ -z "$port" ] && [ $i -lt 600 ] && kill -0 "$SPID" 2>/dev/null; do
        sleep 0.05
        i=$((i + 1))
        port=$(sed -n 's/.*"event":"start".*"port":\([0-9][0-9]*\).*/\1/p' "$T/server.log")
    done
    [ -n "$port" ] && URL="http://127.0.0.1:$port"
    check "ocirenderd starts" "[ -n '$URL' ]"
else
    echo "# NOTICE: $BIN/ocirenderd is not built: the pull and runc cases are skipped"
fi

BUSYBOX=$(command -v busybox 2>/dev/null || true)
R="$T/rootfs"
mkdir -p "$R/bin" "$R/etc"
if [ -n "$BUSYBOX" ] && ! ldd "$BUSYBOX" >/dev/null 2>&1; then
    cp "$BUSYBOX" "$R/bin/busybox"
    for a in sh cat ls stat touch grep echo; do ln -s busybox "$R/bin/$a"; done
else
    BUSYBOX=""
fi
printf 'root:x:0:0:root:/root:/bin/sh\n' > "$R/etc/passwd"
printf 'root:x:0:\n' > "$R/etc/group"
cat > "$R/probe.sh" <<'EOF'
echo "DXG=$(stat -c '%F %t:%T' /dev/dxg)"
if ( : < /dev/dxg ) 2>/dev/null; then echo "DXG_OPEN=ok"; else echo "DXG_OPEN=denied"; fi
echo "LIB=$(cat /usr/lib/wsl/lib/libdxcore.so)"
echo "DRIVER=$(ls /usr/lib/wsl/drivers)"
for d in /usr/lib/wsl /usr/lib/wsl/lib /usr/lib/wsl/drivers; do
    if touch "$d/written" 2>/dev/null; then echo "RW=$d"; else echo "RO=$d"; fi
done
echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
echo "PROBE=done"
EOF

B="$T/bundle"
if [ -n "$URL" ]; then
    "$BIN/ocirender" pull --server "$URL" --host-root "$NODE" --rootfs "$R" --bundle "$B" \
        "$T/spec.yaml" 2> "$T/pull.err"
    check "pull --host-root: bundle written" "[ $? = 0 ] && [ -f '$B/config.json' ]"
    config_ok "pull" "$B/config.json"
    "$BIN/ocirender" pull --server "$URL" --host-root "$NODXG" --bundle "$T/bundle-nodxg" \
        "$T/spec.yaml" 2> "$T/pull.err"
    check "pull without /dev/dxg: exit 2 with the server's 422 and the original's message" \
        "[ $? = 2 ] && grep -q '422' '$T/pull.err' && grep -q '/dev/dxg is not exposed by the WSL2 kernel' '$T/pull.err' && [ ! -e '$T/bundle-nodxg/config.json' ]"
fi

# ---- 3. runc ----
skip_runc() { echo "# NOTICE: runc part skipped: $*"; }
if [ -z "$URL" ] || [ ! -f "$B/config.json" ]; then
    skip_runc "no pulled bundle"
elif ! command -v runc >/dev/null 2>&1; then
    skip_runc "runc is not installed (apt-get install runc)"
elif [ -z "$BUSYBOX" ]; then
    skip_runc "no static busybox (apt-get install busybox-static)"
elif ! command -v unshare >/dev/null 2>&1 || ! grep -qw overlay /proc/filesystems; then
    skip_runc "unshare or overlayfs is missing"
else
    # The bundle again, without the dxg rule: the control that shows the rule is what opens it.
    cp -a "$B" "$T/bundle-norule"
    python3 - "$T/bundle-norule/config.json" "$DXG_MAJOR" "$DXG_MINOR" <<'EOF'
import json, sys
p, major, minor = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
c = json.load(open(p))
rules = c["linux"]["resources"]["devices"]
c["linux"]["resources"]["devices"] = [r for r in rules
                                      if not (r.get("major") == major and r.get("minor") == minor)]
json.dump(c, open(p, "w"), indent=2)
EOF
    ID="ocr-wsl-$$"
    IDS="$ID $ID-norule"
    # In a private mount namespace: an overlay on /usr/lib adds wsl/lib and wsl/drivers (with a
    # file each) for runc to bind; the host's /usr/lib is untouched.
    unshare --mount --propagation private sh -c '
        set -e
        T=$1
        mkdir -p "$T/ovl"
        mount -t tmpfs tmpfs "$T/ovl"
        mkdir -p "$T/ovl/up/wsl/lib" "$T/ovl/up/wsl/drivers/nv_dispi.inf_amd64_1" "$T/ovl/work"
        echo "fake libdxcore" > "$T/ovl/up/wsl/lib/libdxcore.so"
        mount -t overlay overlay -o "lowerdir=/usr/lib,upperdir=$T/ovl/up,workdir=$T/ovl/work" /usr/lib
        echo overlay-ready
        timeout 60 runc run --bundle "$T/bundle" "$2" > "$T/run.out" 2> "$T/run.err" < /dev/null || echo "runc exit $?" >> "$T/run.err"
        timeout 60 runc run --bundle "$T/bundle-norule" "$2-norule" > "$T/norule.out" 2> "$T/norule.err" < /dev/null || echo "runc exit $?" >> "$T/norule.err"
    ' sh "$T" "$ID" > "$T/ns.out" 2> "$T/ns.err"
    if ! grep -qx overlay-ready "$T/ns.out"; then
        skip_runc "cannot mount an overlay on /usr/lib here: $(head -c 200 "$T/ns.err")"
    else
        out="$T/run.out"
        if grep -qx "PROBE=done" "$out"; then ok "runc runs the pulled WSL2 bundle"; else
            not_ok "runc runs the pulled WSL2 bundle"; sed 's/^/#   /' "$T/run.err" | head -10
        fi
        hex=$(printf '%x:%x' "$DXG_MAJOR" "$DXG_MINOR")
        check "container: /dev/dxg is the character device $DXG_MAJOR:$DXG_MINOR" \
            "grep -qx 'DXG=character special file $hex' '$out'"
        check "container: /dev/dxg opens" "grep -qx 'DXG_OPEN=ok' '$out'"
        check "container: the WSL libraries are there" \
            "grep -qx 'LIB=fake libdxcore' '$out' && grep -qx 'DRIVER=nv_dispi.inf_amd64_1' '$out'"
        check "container: /usr/lib/wsl and both library directories are read-only" \
            "[ \$(grep -c '^RO=' '$out') = 3 ] && ! grep -q '^RW=' '$out'"
        check "container: LD_LIBRARY_PATH" \
            "grep -qx 'LD_LIBRARY_PATH=/usr/lib/wsl/drivers:/usr/lib/wsl/lib:/opt/app/lib' '$out'"
        if [ "$RULE_VISIBLE" = 1 ]; then
            check "control: without the rule the same bundle cannot open /dev/dxg" \
                "grep -qx 'DXG_OPEN=denied' '$T/norule.out' && grep -qx 'PROBE=done' '$T/norule.out'"
        fi
    fi
fi

echo "1..$N"
[ "$FAILED" = 0 ]

#!/bin/sh
# End to end: specs rendered by ocirender run under runc, checked from inside the container.
#
# A busybox rootfs with a named user is built here. Each service of tests/e2e/spec.yaml.in is
# turned into a bundle three ways, each then run with `runc run`:
#   render  ocirender render --facts-from-host --envelope | ocirender materialize (no server)
#   pull    ocirender pull from ocirenderd with the file secrets provider
#   vault   ocirender pull from ocirenderd backed by tests/vault_double (the app service)
# The container runs /probe.sh, which prints what it sees (argv, cwd, ids, hostname, env,
# capabilities, rlimits, mounts and their flags, masked paths, cgroup limits, devices); this
# script compares that with the spec. Every config.json also passes validate-oci when
# ../shared exists. Needs root, runc and a static busybox; skips (77) with a notice otherwise.
set -u

BIN="${OCIRENDER_BIN:?}"
SRC="${OCIRENDER_SRC:?}"
SHARED="${OCIRENDER_SHARED:-$SRC/../shared}"

. "$SRC/tests/e2e/lib.sh"
e2e_require_runc
command -v python3 >/dev/null 2>&1 || skip "python3 is needed to check the results"

T=$(mktemp -d /tmp/ocr-e2e-XXXXXX)
chmod 755 "$T" # the container user app (uid 1234) reads the bind-mounted host directories
IDS=""
PIDS=""
CGROUP_PARENT="ocirender-e2e-$$"
cleanup() {
    for id in $IDS; do runc delete -f "$id" >/dev/null 2>&1; done
    for p in $PIDS; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    e2e_remove_cgroup_parent "$CGROUP_PARENT"
    rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# expect CONTEXT OUTPUT-FILE LINE: the container printed exactly LINE.
expect() {
    if grep -qxF -- "$3" "$2"; then ok "$1: $3"; else
        not_ok "$1: $3"
        grep -F -- "${3%%=*}" "$2" | sed 's/^/#   got: /' | head -5
    fi
}

# ---- the rootfs ----
R="$T/rootfs"
mkdir -p "$R/bin" "$R/etc" "$R/work" "$R/image-wd" "$R/data/ro" "$R/data/rw" "$R/scratch"
# runc gives a tmpfs the mode of an existing mount point (its "mode=" option then loses), and
# it creates missing mount points 0755 in this shared rootfs: so the mount point is 1777 here.
chmod 1777 "$R/scratch"
cp "$BUSYBOX" "$R/bin/busybox"
for applet in $("$R/bin/busybox" --list); do
    [ -e "$R/bin/$applet" ] || ln -s busybox "$R/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\napp:x:1234:1234:App:/home/app:/bin/sh\n' > "$R/etc/passwd"
printf 'root:x:0:\napp:x:1234:\nstaff:x:2000:app\n' > "$R/etc/group"
cp "$SRC/tests/e2e/probe.sh" "$R/probe.sh"
# The entry service's image ENTRYPOINT: proves it runs and receives the spec's args.
printf '#!/bin/sh\necho "ENTRYPOINT=$0|$#|$*"\nexec /bin/sh /probe.sh "$@"\n' > "$R/entrypoint.sh"
chmod 755 "$R/entrypoint.sh"
# The entry service's tmpfs at /cache has no mount point in the rootfs: runc 1.1 (Debian 12)
# chmods a tmpfs to the mode of an existing mount point whatever its mode= option says (newer
# runtimes apply the option), so check_entry removes the one runc creates after each run.

mkdir -p "$T/host-ro" "$T/host-rw"
echo "from the host" > "$T/host-ro/hostfile"
chmod 777 "$T/host-rw"

# A device node made here (a clone of /dev/zero) and, where the host has it, /dev/loop-control:
# runc does not allow 10:237 by default, so opening it proves the spec's device cgroup rule.
mknod "$T/zero-clone" c 1 5 && chmod 666 "$T/zero-clone"
EXTRA_DEVICE=""
[ -c /dev/loop-control ] && EXTRA_DEVICE="/dev/loop-control"

sed -e "s|@T@|$T|g" -e "s|@EXTRA_DEVICE@|${EXTRA_DEVICE:-$T/zero-clone}|g" \
    -e "s|@CGROUP_PARENT@|/$CGROUP_PARENT|g" \
    "$SRC/tests/e2e/spec.yaml.in" > "$T/spec.yaml"
printf '{"config": {"Env": ["IMAGE_VAR=from-image", "PATH=/usr/bin:/bin"], "WorkingDir": "/image-wd", "User": "4321:4321"}}\n' \
    > "$T/image.json"
# The same image with an ENTRYPOINT and a Cmd (the Cmd is dropped when the spec gives args).
printf '{"config": {"Entrypoint": ["/entrypoint.sh"], "Cmd": ["image-cmd"], "Env": ["IMAGE_VAR=from-image", "PATH=/usr/bin:/bin"], "WorkingDir": "/image-wd"}}\n' \
    > "$T/image-entry.json"
# image_for SERVICE: the image config its bundle is rendered with.
image_for() { if [ "$1" = entry ]; then echo "$T/image-entry.json"; else echo "$T/image.json"; fi; }
printf '{"e2e": {"db": "{\\"password\\": \\"file-secret\\"}"}}\n' > "$T/secrets.json"
chmod 600 "$T/secrets.json"
export OCR_E2E_NODE="node value"


# ---- running and checking one bundle ----
SEQ=0
# run_bundle PATH-NAME SERVICE BUNDLE: validate, run, check. Output in $T/out-PATH-SERVICE.
run_bundle() {
    way=$1 svc=$2 bundle=$3 out="$T/out-$1-$2"
    e2e_validate "$way/$svc: config.json" "$bundle/config.json"
    SEQ=$((SEQ + 1))
    id="ocr-e2e-$$-$SEQ"
    e2e_runc_run "$bundle" "$id" "$out" "$T/runc.err"
    rc=$?
    if [ $rc = 0 ] && grep -qx "PROBE=done" "$out"; then
        ok "$way/$svc: runc run"
    else
        not_ok "$way/$svc: runc run (exit $rc)"
        sed 's/^/#   runc: /' "$T/runc.err" | head -10
        return 1
    fi
    "check_$svc" "$way/$svc" "$out" "$bundle"
}

# Capability masks the kernel shows, from the config's lists.
caps_line() { # CONFIG SET
    python3 - "$1" "$2" <<'EOF'
import json, sys
NAMES = ["CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID",
         "SETUID", "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN",
         "NET_RAW", "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE",
         "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME",
         "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP",
         "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ",
         "PERFMON", "BPF", "CHECKPOINT_RESTORE"]
cfg = json.load(open(sys.argv[1]))
caps = cfg["process"].get("capabilities", {}).get(sys.argv[2], [])
mask = 0
for c in caps:
    mask |= 1 << NAMES.index(c[len("CAP_"):])
print("%016x" % mask)
EOF
}

check_common() { # CTX OUT
    expect "$1" "$2" "ENV SPEC_VAR=spec value"
    expect "$1" "$2" "ENV NODE_VAR=node value"
    expect "$1" "$2" "ENV LITERAL=\$NOT_A_REF"
    expect "$1" "$2" "ENV IMAGE_VAR=from-image"
    # Masked files are /dev/null underneath (only those this kernel has can be checked).
    for p in /proc/kcore /proc/keys /proc/timer_list /proc/sched_debug /proc/interrupts; do
        [ -e "$p" ] && expect "$1" "$2" "MASKED $p=character special file 1:3"
    done
    expect "$1" "$2" "FIRMWARE_ENTRIES=0"
}

check_app() { # named user, argv, cwd, hostname, mounts, read-only rootfs, secrets
    check_common "$1" "$2"
    expect "$1" "$2" "ARGS=2|one|two words"
    expect "$1" "$2" "CWD=/work"
    expect "$1" "$2" "IDS=1234:1234 NAME=app GROUPS=1234 2000"
    expect "$1" "$2" "HOSTNAME=probe-app"
    expect "$1" "$2" "WRITE /=ro"
    expect "$1" "$2" "WRITE /data/ro=ro"
    expect "$1" "$2" "WRITE /data/rw=rw"
    expect "$1" "$2" "WRITE /scratch=rw"
    expect "$1" "$2" "HOSTFILE=from the host"
    expect "$1" "$2" "TMPFS /scratch tmpfs size=16384k mode=1777"
    if [ -f "$T/host-rw/written-by-container" ]; then ok "$1: bind write reached the host"; else
        not_ok "$1: bind write reached the host"; fi
    rm -f "$T/host-rw/written-by-container"
    # A non-root process without ambient capabilities ends up with none effective.
    expect "$1" "$2" "CapBnd=$(caps_line "$3/config.json" bounding)"
    expect "$1" "$2" "CapEff=$(caps_line "$3/config.json" ambient)"
    case $1 in
    render/*|pull/*) expect "$1" "$2" "ENV DB_PASSWORD=file-secret" ;;
    vault/*) expect "$1" "$2" "ENV DB_PASSWORD=vault-secret" ;;
    esac
}

check_root() { # capabilities, rlimits, cgroup limits, devices, image working dir
    check_common "$1" "$2"
    expect "$1" "$2" "IDS=0:0 NAME=root GROUPS=0"
    expect "$1" "$2" "CWD=/image-wd"
    bnd=$(caps_line "$3/config.json" bounding)
    expect "$1" "$2" "CapBnd=$bnd"
    expect "$1" "$2" "CapEff=$(caps_line "$3/config.json" effective)"
    # NET_ADMIN (bit 12) added; NET_RAW (13) and MKNOD (27) dropped.
    if python3 -c "import sys; m=int('$bnd',16); sys.exit(0 if m>>12&1 and not m>>13&1 and not m>>27&1 else 1)"; then
        ok "$1: cap_add/cap_drop reach the bounding set"
    else
        not_ok "$1: cap_add/cap_drop reach the bounding set ($bnd)"
    fi
    expect "$1" "$2" "ULIMIT_N=4096"
    expect "$1" "$2" "LIMIT Max open files 4096 8192 files"
    expect "$1" "$2" "LIMIT Max core file size unlimited unlimited bytes"
    expect "$1" "$2" "MEMORY=67108864"
    expect "$1" "$2" "PIDS=64"
    expect "$1" "$2" "DEVICE $T/zero-clone=character special file 1:5 read=0000"
    if [ -n "$EXTRA_DEVICE" ]; then
        expect "$1" "$2" "DEVICE /dev/loop-control=character special file a:ed open=yes"
    fi
}

check_numeric() { # user from the image config, no hostname given
    expect "$1" "$2" "IDS=4321:4321 NAME=4321 GROUPS=4321"
    expect "$1" "$2" "CWD=/image-wd"
    expect "$1" "$2" "ENV IMAGE_VAR=from-image"
}

check_entry() { # the image Entrypoint runs with the spec's args; a mode-less tmpfs is writable
    check_common "$1" "$2"
    expect "$1" "$2" "ENTRYPOINT=/entrypoint.sh|2|one two words"
    expect "$1" "$2" "ARGS=2|one|two words"
    expect "$1" "$2" "IDS=1000:1000 NAME=1000 GROUPS=1000"
    expect "$1" "$2" "CWD=/image-wd"
    expect "$1" "$2" "TMPFS_WRITE /cache=rw mode=1777"
    if python3 -c "import json,sys; m=[m for m in json.load(open(sys.argv[1]))['mounts'] if m['destination']=='/cache']; sys.exit(0 if 'mode=1777' in m[0]['options'] else 1)" "$3/config.json"; then
        ok "$1: the mode-less tmpfs is rendered with mode=1777"
    else
        not_ok "$1: the mode-less tmpfs is rendered with mode=1777"
    fi
    rmdir "$R/cache" 2>/dev/null
}

# ---- way 1: render locally, materialize ----
for svc in app root numeric entry; do
    b="$T/bundles/render-$svc"
    if "$BIN/ocirender" render --facts-from-host --rootfs "$R" --image-config "$(image_for "$svc")" \
        --service "$svc" --secrets-file "$T/secrets.json" --envelope "$T/spec.yaml" \
        2> "$T/render.err" | "$BIN/ocirender" materialize --bundle "$b" --rootfs "$R" - \
        2> "$T/mat.err"; then
        ok "render/$svc: render --envelope | materialize"
        run_bundle render "$svc" "$b"
    else
        not_ok "render/$svc: render --envelope | materialize"
        sed 's/^/#   /' "$T/render.err" "$T/mat.err" | head -10
    fi
done

# ---- ocirenderd ----
# start_server NAME ENV...: ocirenderd on a free loopback port; sets URL.
start_server() {
    name=$1; shift
    rm -f "$T/$name.log"
    env "$@" "$BIN/ocirenderd" --listen 127.0.0.1:0 > "$T/$name.out" 2> "$T/$name.log" &
    pid=$!
    PIDS="$PIDS $pid"
    i=0
    port=""
    while [ -z "$port" ] && [ $i -lt 600 ] && kill -0 "$pid" 2>/dev/null; do
        sleep 0.05
        i=$((i + 1))
        port=$(sed -n 's/.*"event":"start".*"port":\([0-9][0-9]*\).*/\1/p' "$T/$name.log")
    done
    URL="http://127.0.0.1:$port"
    [ -n "$port" ]
}

# pull_and_run WAY SERVICE
pull_and_run() {
    b="$T/bundles/$1-$2"
    if "$BIN/ocirender" pull --server "$URL" --service "$2" --image-config "$(image_for "$2")" \
        --rootfs "$R" --bundle "$b" "$T/spec.yaml" 2> "$T/pull.err"; then
        ok "$1/$2: ocirender pull"
        run_bundle "$1" "$2" "$b"
    else
        not_ok "$1/$2: ocirender pull (exit $?)"
        sed 's/^/#   /' "$T/pull.err" | head -10
    fi
}

if [ ! -x "$BIN/ocirenderd" ]; then
    echo "# NOTICE: $BIN/ocirenderd is not built: the pull cases are skipped"
elif start_server files OCIRENDER_SECRETS=file OCIRENDER_SECRETS_FILE="$T/secrets.json"; then
    for svc in app root numeric entry; do pull_and_run pull "$svc"; done
else
    not_ok "ocirenderd starts"
    sed 's/^/#   /' "$T/files.log" | head -10
fi

# ---- the vault double behind ocirenderd ----
VD="$SRC/tests/vault_double/vault_double.py"
if [ ! -x "$BIN/ocirenderd" ] || [ ! -f "$VD" ]; then
    echo "# NOTICE: no ocirenderd or tests/vault_double: the vault case is skipped"
else
    python3 "$VD" --port-file "$T/vault.json" --timeout 300 > /dev/null 2> "$T/vault.log" &
    PIDS="$PIDS $!"
    i=0
    while [ ! -f "$T/vault.json" ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i + 1)); done
    VPORT=$(python3 -c "import json; print(json.load(open('$T/vault.json'))['port'])" 2>/dev/null)
    CPORT=$(python3 -c "import json; print(json.load(open('$T/vault.json'))['control_port'])" 2>/dev/null)
    if [ -n "$VPORT" ] && python3 - "$CPORT" <<'EOF'
import json, sys, urllib.request
req = urllib.request.Request("http://127.0.0.1:%s/kv" % sys.argv[1], method="POST",
                             data=json.dumps({"path": "e2e/db",
                                              "data": {"password": "vault-secret"}}).encode())
urllib.request.urlopen(req).read()
EOF
    then
        if start_server vault OCIRENDER_SECRETS=vault VAULT_ADDR="http://127.0.0.1:$VPORT" \
            VAULT_TOKEN=root OCIRENDER_VAULT_ALLOW_HTTP=1; then
            pull_and_run vault app
        else
            not_ok "ocirenderd starts with the vault provider"
            sed 's/^/#   /' "$T/vault.log" | head -10
        fi
    else
        not_ok "vault double starts and takes the secret"
    fi
fi

echo "1..$N"
[ "$FAILED" = 0 ]

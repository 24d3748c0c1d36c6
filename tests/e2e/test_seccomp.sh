#!/bin/sh
# End to end: the default seccomp profile under runc (README, "seccomp").
#
# A busybox rootfs gets tests/e2e/seccomp_probe.c, compiled static here, which makes one
# syscall per argument in a child process and prints NAME=ok or NAME=<errno>. Four services
# of one deployment are rendered (ocirender render --facts-from-host --envelope | materialize)
# and run with runc as root:
#   plain       the default profile: busybox works; the keyring, unshare, mount, a personality
#               change, clone with namespace flags, AF_VSOCK and io_uring are refused (EPERM),
#               clone3 answers ENOSYS, the allowed personalities work
#   unconfined  security_opt seccomp=unconfined: the same calls that need no capability work,
#               so the refusals above are the profile's doing
#   admin       cap_add SYS_ADMIN lifts mount, unshare and clone's namespace flags
#   ptrace      cap_add SYS_PTRACE lifts kcmp
# Needs root, runc, a static busybox and a C compiler with a static libc; skips (77) otherwise.
set -u

BIN="${OCIRENDER_BIN:?}"
SRC="${OCIRENDER_SRC:?}"
SHARED="${OCIRENDER_SHARED:-$SRC/../shared}"

. "$SRC/tests/e2e/lib.sh"
e2e_require_runc
CC=${CC:-cc}
command -v "$CC" >/dev/null 2>&1 || skip "no C compiler ($CC) for the static probe"

T=$(mktemp -d /tmp/ocr-seccomp-XXXXXX)
chmod 755 "$T"
IDS=""
CGROUP_PARENT="ocirender-seccomp-$$"
cleanup() {
    for id in $IDS; do runc delete -f "$id" >/dev/null 2>&1; done
    e2e_remove_cgroup_parent "$CGROUP_PARENT"
    rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# expect CONTEXT OUTPUT-FILE LINE: the container printed exactly LINE.
expect() {
    if grep -qxF -- "$3" "$2"; then ok "$1: $3"; else
        not_ok "$1: $3"
        grep -F -- "${3%%=*}=" "$2" | sed 's/^/#   got: /' | head -3
    fi
}

if ! "$CC" -static -O2 -o "$T/seccomp_probe" "$SRC/tests/e2e/seccomp_probe.c" 2> "$T/cc.err"; then
    sed 's/^/# /' "$T/cc.err" | head -5
    skip "cannot build a static binary with $CC (libc6-dev provides the static libc)"
fi

# ---- the rootfs ----
R="$T/rootfs"
mkdir -p "$R/bin" "$R/etc" "$R/tmp" "$R/mnt"
chmod 1777 "$R/tmp"
cp "$BUSYBOX" "$R/bin/busybox"
for applet in $("$R/bin/busybox" --list); do
    [ -e "$R/bin/$applet" ] || ln -s busybox "$R/bin/$applet"
done
cp "$T/seccomp_probe" "$R/bin/seccomp_probe"
printf 'root:x:0:0:root:/root:/bin/sh\n' > "$R/etc/passwd"
printf 'root:x:0:\n' > "$R/etc/group"
PROBES="add_key keyctl unshare_user unshare_mount mount_tmpfs personality_bsd \
personality_linux32 personality_query clone_newuts clone3 socket_vsock socket_unix kcmp \
io_uring_setup"
cat > "$R/check.sh" <<SCRIPT
#!/bin/sh
# Everyday busybox work: a shell, pipes, files, /proc, a few applets.
echo "SH=\$(echo works)"
ls /bin > /tmp/ls.out && [ -s /tmp/ls.out ] && echo LS=ok
cat /etc/passwd | grep -q '^root:' && echo CAT=ok
mkdir -p /tmp/a/b && echo data > /tmp/a/b/f && cp /tmp/a/b/f /tmp/g && rm -r /tmp/a && echo FILES=ok
[ "\$(printf '3\n1\n2\n' | sort | tr -d '\n')" = 123 ] && echo SORT=ok
echo one two | awk '{print \$2}' | sed 's/two/TWO/' | grep -qx TWO && echo TEXT=ok
ps > /tmp/ps.out && grep -q check.sh /tmp/ps.out && echo PS=ok
tar -cf /tmp/etc.tar /etc 2>/dev/null && tar -tf /tmp/etc.tar | grep -q passwd && echo TAR=ok
sleep 0.1 && date +%s > /dev/null && echo TIME=ok
(exit 3); [ \$? = 3 ] && echo SUBSHELL=ok
id -u > /dev/null && uname -m > /dev/null && echo IDS=ok
# The same operations through busybox's own applets.
unshare -m true 2>/dev/null && echo APPLET_UNSHARE=ok || echo APPLET_UNSHARE=refused
mount -t tmpfs probe /mnt 2>/dev/null && echo APPLET_MOUNT=ok || echo APPLET_MOUNT=refused
linux32 true && echo APPLET_LINUX32=ok || echo APPLET_LINUX32=refused
seccomp_probe $PROBES
echo CHECK=done
SCRIPT

cat > "$T/spec.yaml" <<SPEC
version: v1
deployment: seccomp
services:
  plain:
    image: {name: "local/busybox:seccomp"}
    cgroup_parent: "/$CGROUP_PARENT"
    command: {entrypoint: ["/bin/sh", "/check.sh"]}
    user: "0"
  unconfined:
    image: {name: "local/busybox:seccomp"}
    cgroup_parent: "/$CGROUP_PARENT"
    command: {entrypoint: ["/bin/sh", "/check.sh"]}
    user: "0"
    security_opt: [seccomp=unconfined]
  admin:
    image: {name: "local/busybox:seccomp"}
    cgroup_parent: "/$CGROUP_PARENT"
    command: {entrypoint: ["/bin/sh", "/check.sh"]}
    user: "0"
    cap_add: [SYS_ADMIN]
  ptrace:
    image: {name: "local/busybox:seccomp"}
    cgroup_parent: "/$CGROUP_PARENT"
    command: {entrypoint: ["/bin/sh", "/check.sh"]}
    user: "0"
    cap_add: [SYS_PTRACE]
SPEC


# run SERVICE: render, materialize, validate, runc run; the output is in $T/out-SERVICE.
SEQ=0
run() {
    svc=$1 b="$T/bundles/$1" out="$T/out-$1"
    if ! "$BIN/ocirender" render --facts-from-host --service "$svc" --envelope "$T/spec.yaml" \
        2> "$T/render.err" | "$BIN/ocirender" materialize --bundle "$b" --rootfs "$R" - \
        2> "$T/mat.err"; then
        not_ok "$svc: render --envelope | materialize"
        sed 's/^/#   /' "$T/render.err" "$T/mat.err" | head -10
        return 1
    fi
    e2e_validate "$svc: config.json" "$b/config.json"
    SEQ=$((SEQ + 1))
    id="ocr-seccomp-$$-$SEQ"
    e2e_runc_run "$b" "$id" "$out" "$T/runc.err"
    rc=$?
    if [ $rc = 0 ] && grep -qx "CHECK=done" "$out"; then
        ok "$svc: runc run"
    else
        not_ok "$svc: runc run (exit $rc)"
        sed 's/^/#   runc: /' "$T/runc.err" | head -10
        sed 's/^/#   out: /' "$out" | head -20
        return 1
    fi
}

# What the profile holds for the node: the architectures of this machine.
if run plain; then
    arches=$(python3 -c "import json,sys; print(' '.join(json.load(open(sys.argv[1]))['linux']['seccomp']['architectures']))" "$T/bundles/plain/config.json" 2>/dev/null)
    case $(uname -m) in
    x86_64) want="SCMP_ARCH_X86_64 SCMP_ARCH_X86 SCMP_ARCH_X32" ;;
    aarch64) want="SCMP_ARCH_AARCH64 SCMP_ARCH_ARM" ;;
    *) want="$arches" ;;
    esac
    if [ "$arches" = "$want" ]; then ok "plain: architectures $arches"; else
        not_ok "plain: architectures '$arches', want '$want'"; fi
    for line in SH=works LS=ok CAT=ok FILES=ok SORT=ok TEXT=ok PS=ok TAR=ok TIME=ok \
        SUBSHELL=ok IDS=ok APPLET_LINUX32=ok APPLET_UNSHARE=refused APPLET_MOUNT=refused \
        add_key=EPERM keyctl=EPERM unshare_user=EPERM unshare_mount=EPERM mount_tmpfs=EPERM \
        personality_bsd=EPERM personality_linux32=ok personality_query=ok clone_newuts=EPERM \
        clone3=ENOSYS socket_vsock=EPERM socket_unix=ok kcmp=EPERM io_uring_setup=EPERM; do
        expect plain "$T/out-plain" "$line"
    done
fi

# Without the profile the calls that need no capability work: the refusals are seccomp's.
if run unconfined; then
    for line in add_key=ok keyctl=ok personality_bsd=ok kcmp=ok clone3=ok; do
        expect unconfined "$T/out-unconfined" "$line"
    done
    # Creating a user namespace needs no capability, unless this kernel forbids it anyway.
    if grep -qx "unshare_user=ok" "$T/out-unconfined"; then
        ok "unconfined: unshare_user=ok"
    else
        echo "# NOTICE: unshare(CLONE_NEWUSER) fails here even without seccomp ($(grep '^unshare_user=' "$T/out-unconfined"))"
    fi
fi

if run admin; then
    for line in APPLET_MOUNT=ok APPLET_UNSHARE=ok mount_tmpfs=ok unshare_mount=ok \
        clone_newuts=ok clone3=ok add_key=EPERM keyctl=EPERM personality_bsd=EPERM \
        io_uring_setup=EPERM kcmp=EPERM; do
        expect admin "$T/out-admin" "$line"
    done
fi

if run ptrace; then
    for line in kcmp=ok mount_tmpfs=EPERM keyctl=EPERM; do
        expect ptrace "$T/out-ptrace" "$line"
    done
fi

echo "1..$N"
[ "$FAILED" = 0 ]

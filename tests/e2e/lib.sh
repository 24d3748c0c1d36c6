# Shared by the end-to-end scripts (sourced): what they need to run containers, TAP output, and
# the cleanup of the cgroup parent their configs name. Expects SRC and set -u from the caller.

skip() { echo "1..0 # SKIP $*"; exit 77; }

# Root, runc and a static busybox (sets BUSYBOX), or skip (77) with the package to install.
e2e_require_runc() {
    [ "$(id -u)" = 0 ] || skip "needs root to run containers with runc"
    command -v runc >/dev/null 2>&1 || skip "runc is not installed (apt-get install runc)"
    BUSYBOX=$(command -v busybox 2>/dev/null || true)
    [ -n "$BUSYBOX" ] || skip "busybox is not installed (apt-get install busybox-static)"
    if ldd "$BUSYBOX" >/dev/null 2>&1; then
        skip "$BUSYBOX is dynamically linked (apt-get install busybox-static)"
    fi
}

# runc leaves the parent of the containers' cgroups (v2, or each v1 hierarchy) behind.
e2e_remove_cgroup_parent() {
    for d in "/sys/fs/cgroup/$1" /sys/fs/cgroup/*/"$1"; do
        [ -d "$d" ] && rmdir "$d" 2>/dev/null
    done
}

N=0
FAILED=0
ok() { N=$((N + 1)); echo "ok $N - $1"; }
not_ok() { N=$((N + 1)); FAILED=$((FAILED + 1)); echo "not ok $N - $1"; }

# e2e_runc_run BUNDLE ID OUT ERR: run the container to its end (60 s at most) and delete it;
# the exit status is runc's. IDS collects the ids for the caller's cleanup.
e2e_runc_run() {
    IDS="${IDS:-} $2"
    timeout 60 runc run --bundle "$1" "$2" >"$3" 2>"$4" </dev/null
    e2e_rc=$?
    runc delete -f "$2" >/dev/null 2>&1
    return $e2e_rc
}

# e2e_validate LABEL FILE: FILE passes ../shared's validate-oci. Without it (a clone outside
# the development machine), a notice once and no check. Expects SHARED and T.
e2e_validate() {
    if [ -z "${E2E_VALIDATE+set}" ]; then
        E2E_VALIDATE=""
        if [ -x "$SHARED/tools/validate-oci" ]; then
            E2E_VALIDATE="$SHARED/tools/validate-oci"
        else
            echo "# NOTICE: $SHARED/tools/validate-oci not found: configs are not schema-checked"
        fi
    fi
    [ -n "$E2E_VALIDATE" ] || return 0
    if "$E2E_VALIDATE" --quiet "$2" > "$T/validate.txt" 2>&1; then
        ok "$1: passes validate-oci"
    else
        not_ok "$1: passes validate-oci"
        sed 's/^/#   /' "$T/validate.txt" | head -10
    fi
}

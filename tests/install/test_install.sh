#!/bin/sh
# `cmake --install BUILD --prefix DIR` lays down what a machine needs: ocirender in bin/,
# ocirenderd in sbin/, both runnable; their man pages where man finds them; the example
# systemd unit, hardened, naming the installed binary and reading its settings from an
# EnvironmentFile (and `systemd-analyze verify` finds nothing to say about it); and the example
# settings file, whose every variable ocirenderd knows.
set -u
BIN="${OCIRENDER_BIN:?set by ctest: the build directory}"
if [ "${OCIRENDER_SANITIZED:-0}" = 1 ]; then
    : "${ASAN_OPTIONS:=detect_leaks=1:abort_on_error=1:strict_string_checks=1}"
    export ASAN_OPTIONS
fi
T=$(mktemp -d "${TMPDIR:-/tmp}/ocr-install.XXXXXX")
trap 'rm -rf "$T"' EXIT
P="$T/prefix"
FAILED=0
ok() { echo "ok - $*"; }
fail() { echo "FAIL: $*" >&2; FAILED=$((FAILED + 1)); }
check() { if [ "$2" = "$3" ]; then ok "$1"; else fail "$1: got '$2', expected '$3'"; fi; }

cmake --install "$BIN" --prefix "$P" >"$T/install.log" 2>&1 || {
    cat "$T/install.log" >&2
    echo "FAIL: cmake --install failed" >&2
    exit 1
}
ok "cmake --install --prefix succeeds"

(cd "$P" && find . -type f | sed 's|^\./||' | sort) >"$T/files"
check "the installed files" "$(tr '\n' ' ' <"$T/files")" \
    "bin/ocirender lib/systemd/system/ocirenderd.service sbin/ocirenderd share/doc/ocirender/ocirenderd.env share/man/man1/ocirender.1 share/man/man8/ocirenderd.8 "

version=$("$BIN/ocirenderd" --version)
check "the installed ocirenderd runs" "$("$P/sbin/ocirenderd" --version 2>&1)" "$version"
check "the installed ocirender runs" "$("$P/bin/ocirender" --version 2>&1)" "$("$BIN/ocirender" --version)"
check "binaries are 0755" "$(stat -c %a "$P/bin/ocirender" "$P/sbin/ocirenderd" | tr '\n' ' ')" "755 755 "

# ---- man pages: man finds them under the prefix -----------------------------------------------
if command -v man >/dev/null 2>&1; then
    for page in 1:ocirender 8:ocirenderd; do
        out=$(MANPATH="$P/share/man" MANWIDTH=80 man -P cat "${page%%:*}" "${page#*:}" 2>&1)
        case "$out" in
        *"${page#*:} \\- "* | *"${page#*:} - "*) ok "man ${page%%:*} ${page#*:} shows the installed page" ;;
        *) fail "man ${page%%:*} ${page#*:}: $(printf '%s' "$out" | head -3)" ;;
        esac
    done
else
    echo "# SKIP man lookups: man is not installed"
fi

# ---- the systemd unit --------------------------------------------------------------------------
U="$P/lib/systemd/system/ocirenderd.service"
val() { sed -n "s/^$1=//p" "$U"; }
check "the unit starts the installed ocirenderd" "$(val ExecStart)" "$P/sbin/ocirenderd"
check "the unit reads its settings from an EnvironmentFile" "$(val EnvironmentFile)" "-$P/etc/ocirender/ocirenderd.env"
check "the tokens file is a credential" "$(val LoadCredential)" "tokens:$P/etc/ocirender/tokens"
check_env=$(val Environment)
check "ocirenderd finds the tokens credential" "$check_env" "OCIRENDER_AUTH_TOKENS=%d/tokens"
for d in DynamicUser=yes NoNewPrivileges=yes ProtectSystem=strict ProtectHome=yes PrivateTmp=yes \
    PrivateDevices=yes CapabilityBoundingSet= RestrictAddressFamilies= SystemCallFilter=@system-service \
    MemoryDenyWriteExecute=yes KillSignal=SIGTERM; do
    grep -q "^$d" "$U" && ok "the unit sets $d" || fail "the unit does not set $d"
done
if command -v systemd-analyze >/dev/null 2>&1; then
    # verify prints what it objects to but exits 0 for much of it: any output is a failure.
    if systemd-analyze verify --man=no "$U" >"$T/verify" 2>&1 && [ ! -s "$T/verify" ]; then
        ok "systemd-analyze verify accepts the unit"
    else
        fail "systemd-analyze verify: $(head -5 "$T/verify")"
    fi
else
    echo "# SKIP systemd-analyze verify: systemd is not installed"
fi

# ---- the settings file: every variable is one of ocirenderd's -----------------------------------
help=$("$BIN/ocirenderd" --help)
unknown=""
for var in $(sed -n 's/^#* *\([A-Z][A-Z0-9_]*\)=.*/\1/p' "$P/share/doc/ocirender/ocirenderd.env"); do
    printf '%s\n' "$help" | grep -q "$var" || unknown="$unknown $var"
done
check "every variable of ocirenderd.env is in ocirenderd --help" "$unknown" ""

[ "$FAILED" -eq 0 ] || { echo "$FAILED check(s) failed" >&2; exit 1; }
echo "all checks passed"

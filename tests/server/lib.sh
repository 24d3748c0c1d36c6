# Shared helpers for the ocirenderd integration tests (POSIX sh; sourced, not run).
#
# The ctest wrapper (ocr_add_sh_test) exports OCIRENDER_BIN (the build directory),
# OCIRENDER_SRC, OCIRENDER_SHARED and OCIRENDER_SANITIZED. Each test starts the real server on
# 127.0.0.1 with a random free port (retrying when the port is taken), drives it with curl,
# and always stops it (trap), checking that it exits 0.

set -u

: "${OCIRENDER_BIN:?set by ctest: the build directory}"
: "${OCIRENDER_SRC:?set by ctest: the source directory}"
SERVER="$OCIRENDER_BIN/ocirenderd"
SRC="$OCIRENDER_SRC"
# shellcheck disable=SC2034 # HERE, BODY and SHARED are for the scripts that source this file
HERE="$SRC/tests/server"
SHARED="${OCIRENDER_SHARED:-}"
SANITIZED="${OCIRENDER_SANITIZED:-0}"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ocr-server-test.XXXXXX")
FAILURES=0
PID=""
PORT=""
URL=""
LOG=""
SERVER_N=0

if [ "$SANITIZED" = 1 ]; then
    # Leak checking stays on: a long-running server must not leak (Makefile SAN_ENV).
    : "${ASAN_OPTIONS:=detect_leaks=1:abort_on_error=1:strict_string_checks=1}"
    : "${UBSAN_OPTIONS:=halt_on_error=1:print_stacktrace=1}"
    export ASAN_OPTIONS UBSAN_OPTIONS
fi

cleanup() {
    if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
        kill -KILL "$PID" 2>/dev/null
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

note() { echo "# $*"; }

fail() {
    echo "FAIL: $*" >&2
    FAILURES=$((FAILURES + 1))
}

ok() { echo "ok - $*"; }

check() { # check DESCRIPTION ACTUAL EXPECTED
    if [ "$2" = "$3" ]; then ok "$1"; else fail "$1: got '$2', expected '$3'"; fi
}

check_contains() { # check_contains DESCRIPTION HAYSTACK NEEDLE
    case "$2" in
    *"$3"*) ok "$1" ;;
    *) fail "$1: '$3' not found in: $(printf '%s' "$2" | head -c 600)" ;;
    esac
}

finish() {
    if [ "$FAILURES" -ne 0 ]; then
        echo "$FAILURES check(s) failed" >&2
        if [ -n "$LOG" ] && [ -f "$LOG" ]; then
            echo "--- last server log lines ---" >&2
            tail -n 20 "$LOG" >&2
        fi
        exit 1
    fi
    echo "all checks passed"
    exit 0
}

# Below Linux's ephemeral range (32768-60999 by default), so client sockets of the other
# tests running in parallel cannot hold the port we pick.
random_port() {
    n=$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')
    echo $((10000 + n % 22000))
}

# Sanitizer builds start and answer more slowly.
slow_factor() { if [ "$SANITIZED" = 1 ]; then echo 4; else echo 1; fi; }

# start_server [ocirenderd flags...]: sets PID, PORT, URL (http or https by the flags), LOG.
# LISTEN_HOST (default 127.0.0.1) is the address to bind; clients always use 127.0.0.1.
start_server() {
    scheme=http
    for a in "$@"; do [ "$a" = --tls-cert ] && scheme=https; done
    attempt=0
    while [ $attempt -lt 20 ]; do
        attempt=$((attempt + 1))
        SERVER_N=$((SERVER_N + 1))
        PORT=$(random_port)
        LOG="$WORK/server-$SERVER_N.log"
        "$SERVER" --listen "${LISTEN_HOST:-127.0.0.1}:$PORT" "$@" 2>"$LOG" &
        PID=$!
        limit=$((400 * $(slow_factor))) # 20 s (80 s sanitized): a deadline, not a delay
        i=0
        while [ $i -lt $limit ]; do
            if grep -q '"msg":"listening"' "$LOG" 2>/dev/null; then
                URL="$scheme://127.0.0.1:$PORT"
                return 0
            fi
            kill -0 "$PID" 2>/dev/null || break
            sleep 0.05
            i=$((i + 1))
        done
        wait "$PID" 2>/dev/null
        PID=""
        if grep -q "Address already in use" "$LOG"; then
            continue # the random port was taken: try another
        fi
        echo "server did not start:" >&2
        cat "$LOG" >&2
        return 1
    done
    echo "no free port found" >&2
    return 1
}

# stop_server [SIGNAL]: stop it and check that it exits 0 (graceful, no sanitizer report).
stop_server() {
    [ -n "$PID" ] || return 0
    kill "-${1:-TERM}" "$PID" 2>/dev/null
    wait "$PID"
    status=$?
    PID=""
    if [ "$status" -ne 0 ]; then
        fail "server exited with status $status"
        tail -n 30 "$LOG" >&2
    fi
    return 0
}

# wait_until SECONDS COMMAND...: until COMMAND succeeds, checking every 50 ms; fails after
# SECONDS (a deadline for a loaded machine, not a delay: it returns as soon as COMMAND does).
wait_until() {
    limit=$(($1 * 20))
    shift
    n=0
    until "$@"; do
        n=$((n + 1))
        [ "$n" -lt "$limit" ] || return 1
        sleep 0.05
    done
}

server_rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$PID/status"; }

# http METHOD PATH [curl args...]: sets CODE, BODY (file $WORK/body), HEADERS (file $WORK/headers).
http() {
    method=$1
    path=$2
    shift 2
    CODE=$(curl -sS -o "$WORK/body" -D "$WORK/headers" -w '%{http_code}' -X "$method" \
        --max-time 30 "$@" "$URL$path" 2>"$WORK/curl.err") || CODE="curl-failed"
    # shellcheck disable=SC2034 # read by the scripts that source this file
    BODY=$(cat "$WORK/body" 2>/dev/null)
}

# header NAME: value of a response header of the last http call (case-insensitive name).
header() {
    tr -d '\r' <"$WORK/headers" | awk -v n="$1" 'BEGIN { n = tolower(n) }
        { i = index($0, ":"); if (i && tolower(substr($0, 1, i - 1)) == n) {
            v = substr($0, i + 1); sub(/^[ \t]+/, "", v); print v } }' | tail -n 1
}

# json EXPR: evaluate a python expression over the last body, bound to `d`.
json() {
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' \
        "$WORK/body" "$1" 2>/dev/null || echo "not-json"
}

# A problem+json answer with the RFC 9457 members and the given status.
check_problem() { # check_problem DESCRIPTION STATUS
    check "$1: status" "$CODE" "$2"
    check_contains "$1: content type" "$(header Content-Type)" "application/problem+json"
    check "$1: problem shape" \
        "$(json '",".join(k for k in ("type","title","status","detail","errors") if k in d)+"|"+str(d["status"])+"|"+str(type(d["errors"]).__name__)')" \
        "type,title,status,detail,errors|$2|list"
}

# Keep rendered documents to validate them with ../shared/tools/validate-oci at the end.
RENDERED="$WORK/rendered"
mkdir -p "$RENDERED"
keep_rendered() { # keep_rendered NAME (the last body is a config.json)
    cp "$WORK/body" "$RENDERED/$1.json"
}
keep_rendered_envelope() { # keep_rendered_envelope NAME (the last body is an envelope)
    python3 -c 'import json,sys; json.dump(json.load(open(sys.argv[1]))["config"], open(sys.argv[2], "w"))' \
        "$WORK/body" "$RENDERED/$1.json"
}

validate_rendered() {
    tool="$SHARED/tools/validate-oci"
    if [ -z "$SHARED" ] || [ ! -x "$tool" ]; then
        note "SKIP validate-oci: ../shared is absent (OCIRENDER_SHARED=$SHARED)"
        return 0
    fi
    count=$(find "$RENDERED" -name '*.json' | wc -l)
    if "$tool" --quiet "$RENDERED"/*.json >"$WORK/validate.out" 2>&1; then
        ok "validate-oci accepts all $count rendered documents"
    else
        fail "validate-oci rejected a rendered document: $(cat "$WORK/validate.out")"
    fi
}

# The file secrets provider refuses group/other-readable files (git keeps 0644).
secrets_copy() {
    install -m 0600 "$SRC/examples/secrets.json" "$WORK/secrets.json"
    echo "$WORK/secrets.json"
}

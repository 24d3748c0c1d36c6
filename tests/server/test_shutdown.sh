#!/bin/sh
# Graceful shutdown: SIGTERM while a slow upload is in flight. The server stops accepting new
# connections at once, the in-flight request still gets its 200, and the server exits 0.
# SIGINT behaves the same; an idle server stops at once.
# shellcheck source=tests/server/lib.sh disable=SC2015,SC2119 # ok() never fails; stop_server takes an optional signal
. "$OCIRENDER_SRC/tests/server/lib.sh"

WEB="$SRC/examples/web.yaml"
SECRETS=$(secrets_copy)
F=$(slow_factor)

# The upload's second half comes 3 s after SIGTERM: well inside the 10 s drain deadline.
drain_test() { # drain_test SIGNAL
    sig=$1
    start_server --secrets file --secrets-file "$SECRETS" || exit 1
    mark="$WORK/half-sent-$sig"
    python3 "$HERE/httpclient.py" slow-upload 127.0.0.1 "$PORT" "$WEB" "$mark" 3 \
        >"$WORK/upload-$sig.out" 2>&1 &
    client=$!
    i=0
    while [ ! -e "$mark" ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i + 1)); done
    sleep 0.2
    kill "-$sig" "$PID"
    # New connections are refused while the upload finishes.
    i=0
    while ! grep -q 'no longer accepting' "$LOG" && [ $i -lt 600 ]; do sleep 0.05; i=$((i + 1)); done
    if curl -s -o /dev/null --max-time 1 "$URL/healthz"; then
        fail "$sig: a new connection was served while draining"
    else
        ok "$sig: new connections are refused while draining"
    fi
    kill -0 "$PID" 2>/dev/null && ok "$sig: still running while a request is in flight" ||
        fail "$sig: exited before the in-flight request finished"
    wait "$client"
    check "$sig: the in-flight request completes with 200" "$(cat "$WORK/upload-$sig.out")" "HTTP/1.1 200 OK"
    stop_server "$sig" # already signalled; waits and checks exit status 0
    check_contains "$sig: drain logged" "$(grep '"event":"stop"' "$LOG")" "waiting for 1 in-flight"
    check_contains "$sig: stop logged" "$(tail -n 1 "$LOG")" '"msg":"stopped"'
    check "$sig: the finished request is in the access log" \
        "$(grep -c '"path":"/render","route":"render","status":200' "$LOG")" 1
}

drain_test TERM
drain_test INT

# An idle server stops at once.
start_server || exit 1
t0=$(date +%s)
stop_server TERM
t1=$(date +%s)
[ $((t1 - t0)) -le $((2 * F)) ] && ok "an idle server stops at once" || fail "idle stop took $((t1 - t0)) s"
finish

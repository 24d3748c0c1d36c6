#!/bin/sh
# Slow headers, slow bodies and trickling clients cannot deny service to another client:
#  - 1 100 connections from one address that send a header byte every second (never idle, so
#    --connection-timeout never fires): the per-IP cap (default 64) refuses most of them, the
#    header deadline cuts the rest, and /healthz from another address is served throughout;
#  - 1 100 from 50 addresses (22 each, under the cap) fill the total cap of 1 024: the header
#    deadline frees the slots, so /healthz from another address waits at most that long;
#  - a body trickled one byte a second is cut at the body deadline (408 in the access log);
#  - trusted proxies (--trusted-proxies) are exempt from the per-IP cap, others are not.
# shellcheck source=tests/server/lib.sh disable=SC2015
. "$OCIRENDER_SRC/tests/server/lib.sh"

[ -x /usr/bin/python3 ] || { echo "# SKIP python3 missing"; exit 77; }
F=$(slow_factor)
T="$HERE/trickle.py"
# Each side needs a descriptor per connection (the server inherits this limit).
ulimit -n 8192 2>/dev/null || ulimit -n "$(ulimit -Hn)"
note "RLIMIT_NOFILE $(ulimit -n)"
HT=3
BT=4
SLACK=$((3 * F))

start_server --header-timeout "$HT" --body-timeout "$BT" --threads 2 || exit 1
if out=$(python3 "$T" trickle "$PORT" 1100 1 "$HT" "$SLACK" 2>"$WORK/err"); then
    ok "1100 tricklers from one address: cut by the header deadline, /healthz served: $out"
else
    fail "1100 tricklers from one address: $out $(cat "$WORK/err")"
fi
cut=$(grep -c '"aborted":"header_timeout"' "$LOG")
note "connections accepted from the trickling address and cut at the deadline: $cut"
[ "$cut" -ge 60 ] && [ "$cut" -le 70 ] && ok "the per-IP cap let about 64 in ($cut)" ||
    fail "expected about 64 connections from one address to be let in, $cut were"

if out=$(python3 "$T" trickle "$PORT" 1100 50 "$HT" "$SLACK" 2>"$WORK/err"); then
    ok "1100 tricklers from 50 addresses fill the total cap; /healthz waits at most the deadline: $out"
else
    fail "1100 tricklers from 50 addresses: $out $(cat "$WORK/err")"
fi

if out=$(python3 "$T" slow-body "$PORT" "$BT" "$SLACK" 2>"$WORK/err"); then
    ok "a trickled body is cut at --body-timeout: $out"
else
    fail "slow body: $out $(cat "$WORK/err")"
fi
wait_until 30 grep -q '"aborted":"body_timeout"' "$LOG"
check "the cut body is logged as a 408" \
    "$(grep '"aborted":"body_timeout"' "$LOG" | grep -c '"status":408')" 1
http GET /healthz
check "the server serves afterwards" "$CODE" 200
stop_server
check "every access-log line is JSON with a status" "$(python3 -c '
import json, sys
bad = 0
for line in open(sys.argv[1]):
    d = json.loads(line)
    if d.get("event") == "request" and not isinstance(d.get("status"), int):
        bad += 1
print(bad)' "$LOG")" 0

# ---- trusted proxies ---------------------------------------------------------------------------
start_server --max-connections-per-ip 4 --trusted-proxies 127.0.0.3,10.0.0.0/8 --threads 2 ||
    exit 1
out=$(python3 "$T" per-ip "$PORT" 127.0.0.3 40)
check_contains "a trusted proxy is not capped" "$out" '"served": 40'
out=$(python3 "$T" per-ip "$PORT" 127.0.0.4 40)
served=$(printf '%s' "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["served"])')
[ "$served" -ge 4 ] && [ "$served" -le 6 ] && ok "another address is capped at 4 ($served served)" ||
    fail "another address: $out"
stop_server
if "$SERVER" --trusted-proxies 10.0.0.0/33 --listen 127.0.0.1:0 2>"$WORK/bad.log"; then
    fail "a bad --trusted-proxies prefix was accepted"
else
    check_contains "a bad --trusted-proxies prefix is refused" "$(cat "$WORK/bad.log")" "prefix"
fi
finish

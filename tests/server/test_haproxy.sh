#!/bin/sh
# Scale-out behind Debian's haproxy with docker/haproxy.cfg: three replicas on loopback,
# bounded render load through haproxy, one replica SIGKILLed mid-load and restarted on its
# port. No client request may fail (haproxy retries what the killed replica dropped and
# redispatches to the others), and the restarted replica must take traffic again. The
# replicas cap connections per address at 8 and trust haproxy's address, which carries more.
# shellcheck source=tests/server/lib.sh disable=SC2015
. "$OCIRENDER_SRC/tests/server/lib.sh"

command -v haproxy >/dev/null 2>&1 || { echo "# SKIP haproxy missing (scripts/deps.sh test)"; exit 77; }
[ -x /usr/bin/python3 ] || { echo "# SKIP python3 missing"; exit 77; }
F=$(slow_factor)
SECRETS=$(secrets_copy)
REPLICAS=""
HAPROXY_PID=""
LOAD_PID=""
stop_all() {
    for p in $LOAD_PID $HAPROXY_PID $REPLICAS; do kill -KILL "$p" 2>/dev/null; done
    cleanup
}
trap stop_all EXIT

replica() { # replica N [PORT]: start replica N (on PORT when given); sets RPID, RPORT, RLOG
    if [ -n "${2:-}" ]; then
        RLOG="$WORK/replica-$1-again.log"
        "$SERVER" --listen "127.0.0.1:$2" --secrets file --secrets-file "$SECRETS" --threads 2 \
            --max-connections-per-ip 8 --trusted-proxies 127.0.0.1 2>"$RLOG" &
        RPID=$!
        RPORT=$2
        i=0
        while ! grep -q '"msg":"listening"' "$RLOG" 2>/dev/null && [ $i -lt $((200 * F)) ]; do
            kill -0 "$RPID" 2>/dev/null || break
            sleep 0.05
            i=$((i + 1))
        done
        grep -q '"msg":"listening"' "$RLOG" || { fail "replica $1 did not restart"; cat "$RLOG" >&2; }
        return 0
    fi
    start_server --secrets file --secrets-file "$SECRETS" --threads 2 \
        --max-connections-per-ip 8 --trusted-proxies 127.0.0.1 || exit 1
    RPID=$PID RPORT=$PORT RLOG=$LOG
    PID="" # stopped by this script, not by lib.sh
}
replica 1; P1=$RPID; PORT1=$RPORT; LOG1=$RLOG
replica 2; P2=$RPID; PORT2=$RPORT; LOG2=$RLOG
replica 3; P3=$RPID; PORT3=$RPORT; LOG3=$RLOG
REPLICAS="$P1 $P2 $P3"

# haproxy on a free port of its own (retry when the random one is taken).
attempt=0
while :; do
    attempt=$((attempt + 1))
    LBPORT=$(random_port)
    OCIRENDER_LB_BIND="127.0.0.1:$LBPORT" OCIRENDER_REPLICA_1="127.0.0.1:$PORT1" \
        OCIRENDER_REPLICA_2="127.0.0.1:$PORT2" OCIRENDER_REPLICA_3="127.0.0.1:$PORT3" \
        haproxy -f "$SRC/docker/haproxy.cfg" -db >"$WORK/haproxy.log" 2>&1 &
    HAPROXY_PID=$!
    i=0
    while [ $i -lt $((100 * F)) ] && kill -0 "$HAPROXY_PID" 2>/dev/null; do
        curl -s -o /dev/null "http://127.0.0.1:$LBPORT/healthz" && break
        sleep 0.1
        i=$((i + 1))
    done
    kill -0 "$HAPROXY_PID" 2>/dev/null && break
    [ $attempt -lt 10 ] || { fail "haproxy did not start: $(tail -5 "$WORK/haproxy.log")"; finish; }
done
# Every replica is up in haproxy's eyes before the load starts (rise 2 x 500 ms).
i=0
while [ $i -lt $((100 * F)) ]; do
    n=0
    for l in "$LOG1" "$LOG2" "$LOG3"; do grep -q '"path":"/readyz","route":"readyz","status":200' "$l" && n=$((n + 1)); done
    [ $n -eq 3 ] && break
    sleep 0.1
    i=$((i + 1))
done
sleep 1.2

progress() { cat "$WORK/progress" 2>/dev/null || echo 0; }
wait_progress() { # wait_progress N: until the load has finished N requests (60 s at most)
    i=0
    while [ "$(progress)" -lt "$1" ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
}
python3 "$HERE/lb_load.py" "$LBPORT" "$SRC/examples/web.yaml" 24 "$WORK/progress" \
    "$WORK/stop" $((90 * F)) >"$WORK/load.out" 2>"$WORK/load.err" &
LOAD_PID=$!
wait_progress 300
before_kill=$(progress)
kill -KILL "$P2"
wait "$P2" 2>/dev/null
note "replica 2 SIGKILLed after $before_kill requests"
wait_progress $((before_kill + 300))
replica 2 "$PORT2"; P2=$RPID; LOG2B=$RLOG
REPLICAS="$P1 $P2 $P3"
note "replica 2 restarted on port $PORT2 after $(progress) requests"
# Load goes on until the restarted replica has served renders again (haproxy's rise checks).
i=0
while [ "$(grep -c '"route":"render","status":200' "$LOG2B")" -lt 50 ] && [ $i -lt $((300 * F)) ]; do
    sleep 0.1
    i=$((i + 1))
done
wait_progress $(($(progress) + 200))
touch "$WORK/stop"
wait "$LOAD_PID"
load_rc=$?
LOAD_PID=""
out=$(cat "$WORK/load.out")
if [ "$load_rc" = 0 ]; then
    ok "no client request failed while a replica was killed and restarted: $out"
else
    fail "load through haproxy: $out $(head -c 2000 "$WORK/load.err")"
fi
served() { grep -c '"route":"render","status":200' "$1"; }
s1=$(served "$LOG1"); s2=$(served "$LOG2"); s2b=$(served "$LOG2B"); s3=$(served "$LOG3")
note "renders served: replica1 $s1, replica2 $s2 before the kill and $s2b after the restart, replica3 $s3"
[ "$s2b" -ge 50 ] && ok "the restarted replica takes traffic again ($s2b renders)" ||
    fail "the restarted replica served $s2b renders"
[ "$s1" -gt 0 ] && [ "$s3" -gt 0 ] && [ "$s2" -gt 0 ] && ok "every replica served renders" ||
    fail "a replica served nothing: $s1 $s2 $s3"
note "haproxy: $(python3 -c '
import re, sys
retried = redispatched = lines = 0
for line in open(sys.argv[1], errors="replace"):
    m = re.search(r" \d+/\d+/\d+/\d+/(\+?)(\d+) \d+/\d+ ", line)
    if m:
        lines += 1
        retried += int(m.group(2)) > 0
        redispatched += m.group(1) == "+"
print("%d requests logged, %d retried, %d redispatched to another replica"
      % (lines, retried, redispatched))' "$WORK/haproxy.log")"
check_contains "replicas log the client address haproxy forwards (X-Forwarded-For)" \
    "$(grep '"route":"render"' "$LOG1" | head -1)" '"forwarded_for":"127.0.0.1"'
check "no replica refused haproxy for too many connections" \
    "$(cat "$LOG1" "$LOG2B" "$LOG3" | grep -c '"status":503')" 0
for p in $P1 $P2 $P3; do kill -TERM "$p"; done
for p in $P1 $P2 $P3; do wait "$p" || fail "a replica did not exit 0"; done
REPLICAS=""
kill "$HAPROXY_PID" 2>/dev/null; wait "$HAPROXY_PID" 2>/dev/null; HAPROXY_PID=""
finish

#!/bin/sh
# Client bytes are never the reason for a 500, and every request gets exactly one access-log
# line: the cases that used to break (invalid UTF-8 echoed into a problem), Content-Length with
# Transfer-Encoding, then 1 200 byte-mutated requests (fuzz_requests.py; the seed is printed,
# OCIRENDER_FUZZ_SEED replays one).
# shellcheck source=tests/server/lib.sh disable=SC2015
. "$OCIRENDER_SRC/tests/server/lib.sh"

[ -x /usr/bin/python3 ] || { echo "# SKIP python3 missing"; exit 77; }
SECRETS=$(secrets_copy)
start_server --secrets file --secrets-file "$SECRETS" || exit 1

raw() { # raw BYTES: send them on one connection, print the status lines of every answer
    python3 - "$PORT" "$1" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
s.sendall(sys.argv[2].encode("latin-1").decode("unicode_escape").encode("latin-1"))
out = b""
try:
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        out += chunk
except OSError:
    pass
print(" ".join(l.split(b" ")[1].decode() for l in out.split(b"\r\n") if l.startswith(b"HTTP/1.1 ")))
print("closed" if b"Connection: close" in out else "open")
PY
}
BODY_WEB=$(python3 -c 'import sys; print(open(sys.argv[1]).read().encode("unicode_escape").decode())' "$SRC/examples/web.yaml")
LEN_WEB=$(wc -c <"$SRC/examples/web.yaml")

check "GET /x\\xff is a 404" "$(raw 'GET /x\xff HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n' | head -1)" 404
check "?%ff=1 is a 400" "$(raw 'POST /render?%ff=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nConnection: close\r\n\r\n' | head -1)" 400
check "Content-Type: text/\\xff is a 415" "$(raw 'POST /render HTTP/1.1\r\nHost: a\r\nContent-Type: text/\xff\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}' | head -1)" 415
check "?service=%ff with a valid spec is a 422" "$(raw "POST /render?service=%ff HTTP/1.1\\r\\nHost: a\\r\\nContent-Type: application/yaml\\r\\nContent-Length: $LEN_WEB\\r\\nConnection: close\\r\\n\\r\\n$BODY_WEB" | head -1)" 422
http POST '/render?service=%ff' --data-binary "@$SRC/examples/web.yaml"
check_contains "the 422 escapes the byte" "$BODY" '\\xff'
out=$(raw 'POST /render HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /healthz HTTP/1.1\r\nHost: a\r\n\r\n')
check "Content-Length with Transfer-Encoding: one 400, nothing served after it" "$(echo "$out" | head -1)" 400
check "Content-Length with Transfer-Encoding: Connection: close" "$(echo "$out" | tail -1)" closed

SEED=${OCIRENDER_FUZZ_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
note "fuzz seed $SEED (OCIRENDER_FUZZ_SEED=$SEED replays it)"
if out=$(FUZZ_SLOW_FACTOR=$(slow_factor) python3 "$HERE/fuzz_requests.py" "$PORT" "$LOG" "$SRC" 1200 "$SEED" 2>"$WORK/fuzz.err"); then
    ok "1200 mutated requests: no 500, one access-log line each: $out"
else
    fail "fuzz: $out $(head -c 3000 "$WORK/fuzz.err")"
fi
http GET /healthz
check "the server serves afterwards" "$CODE" 200
stop_server
check "no 500 in the whole log" "$(grep -c '"status":500' "$LOG")" 0
finish

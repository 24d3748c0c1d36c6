#!/bin/sh
# ocirenderd over HTTPS (--tls-cert/--tls-key) and with client certificates (--tls-client-ca),
# with certificates generated here by openssl.
# shellcheck source=tests/server/lib.sh disable=SC2015,SC2119 # ok() never fails; stop_server takes an optional signal
. "$OCIRENDER_SRC/tests/server/lib.sh"

if ! command -v openssl >/dev/null 2>&1; then
    note "SKIP: openssl is not installed"
    exit 77
fi
WEB="$SRC/examples/web.yaml"
SECRETS=$(secrets_copy)
T="$WORK/tls"
mkdir -p "$T"

# new_key NAME: an EC P-256 key; sign NAME CA SUBJECT [EXTFILE]: a certificate for it.
new_key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/$1.key" 2>/dev/null; }
make_ca() {
    new_key "$1"
    openssl req -x509 -new -key "$T/$1.key" -days 2 -subj "/CN=$1" -out "$T/$1.pem" 2>/dev/null
}
sign() {
    new_key "$1"
    openssl req -new -key "$T/$1.key" -subj "$3" -out "$T/$1.csr" 2>/dev/null
    openssl x509 -req -in "$T/$1.csr" -CA "$T/$2.pem" -CAkey "$T/$2.key" -CAcreateserial \
        -days 2 ${4:+-extfile "$4"} -out "$T/$1.pem" 2>/dev/null
}
make_ca ca
make_ca rogue-ca
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >"$T/server.ext"
printf 'extendedKeyUsage=clientAuth\n' >"$T/client.ext"
sign server ca /CN=localhost "$T/server.ext"
sign client ca /CN=node-1 "$T/client.ext"
sign rogue rogue-ca /CN=intruder "$T/client.ext"
chmod 600 "$T"/*.key
if [ ! -s "$T/server.pem" ] || [ ! -s "$T/client.pem" ]; then
    fail "openssl could not create the test certificates"
    finish
fi

# ---- HTTPS -------------------------------------------------------------------------------------
start_server --secrets file --secrets-file "$SECRETS" --tls-cert "$T/server.pem" --tls-key "$T/server.key" || exit 1
http POST /render --cacert "$T/ca.pem" --data-binary "@$WEB"
check "HTTPS render" "$CODE" 200
keep_rendered https
http GET /healthz --cacert "$T/ca.pem" --tlsv1.2 --tls-max 1.2
check "TLS 1.2 is accepted" "$CODE" 200
http GET /healthz --cacert "$T/ca.pem" --tlsv1.3
check "TLS 1.3 is accepted" "$CODE" 200
http GET /healthz --cacert "$T/ca.pem" --tlsv1.0 --tls-max 1.1
check "TLS 1.1 is refused" "$CODE" curl-failed
http GET /healthz --cacert "$T/rogue-ca.pem"
check "a client not trusting our CA fails verification" "$CODE" curl-failed
CODE=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 10 "http://127.0.0.1:$PORT/healthz" 2>/dev/null) || CODE=curl-failed
[ "$CODE" != 200 ] && ok "plain HTTP on the HTTPS port is not served" || fail "plain HTTP served on the HTTPS port"
http GET /healthz --cacert "$T/ca.pem"
check "the server still serves after the failed handshakes" "$CODE" 200
stop_server

# ---- mutual TLS --------------------------------------------------------------------------------
start_server --secrets file --secrets-file "$SECRETS" --tls-cert "$T/server.pem" \
    --tls-key "$T/server.key" --tls-client-ca "$T/ca.pem" || exit 1
http POST /render --cacert "$T/ca.pem" --data-binary "@$WEB"
check_problem "mTLS: a client without a certificate is refused" 403
check_contains "mTLS: the refusal says why" "$(json 'd["detail"]')" "client certificate"
http GET /healthz --cacert "$T/ca.pem"
check "mTLS: every route needs the certificate" "$CODE" 403
http POST /render --cacert "$T/ca.pem" --cert "$T/rogue.pem" --key "$T/rogue.key" --data-binary "@$WEB"
if [ "$CODE" = curl-failed ] || [ "$CODE" = 403 ]; then
    ok "mTLS: a certificate from another CA is refused ($CODE)"
else
    fail "mTLS: a certificate from another CA got $CODE"
fi
http POST /render --cacert "$T/ca.pem" --cert "$T/client.pem" --key "$T/client.key" --data-binary "@$WEB"
check "mTLS: a client with a certificate renders" "$CODE" 200
keep_rendered mtls
http GET /metrics --cacert "$T/ca.pem" --cert "$T/client.pem" --key "$T/client.key"
check "mTLS: metrics with a certificate" "$CODE" 200
stop_server

# ---- bad TLS settings are start-up errors ------------------------------------------------------
out=$("$SERVER" --listen "127.0.0.1:$(random_port)" --tls-cert "$T/server.pem" 2>&1)
check "--tls-cert without --tls-key: usage error" "$?" 2
check_contains "--tls-cert without --tls-key: message" "$out" "go together"
out=$("$SERVER" --listen "127.0.0.1:$(random_port)" --tls-cert "$T/server.pem" --tls-key "$T/none.key" 2>&1)
check_contains "a missing key file" "$out" "cannot open TLS key"
printf 'not a pem\n' >"$T/junk.pem"
out=$("$SERVER" --listen "127.0.0.1:$(random_port)" --tls-cert "$T/junk.pem" --tls-key "$T/server.key" 2>&1)
check_contains "a file without PEM" "$out" "holds no PEM block"
if out=$("$SERVER" --listen 127.0.0.1:0 --tls-cert "$T/client.pem" --tls-key "$T/server.key" 2>&1); then
    fail "mismatched key and certificate: started"
else
    check_contains "a key that does not match the certificate is refused" "$out" "do not match"
fi
check "start-up failures leave no sanitizer report" "$(printf '%s' "$out" | grep -c Sanitizer)" 0

validate_rendered
finish

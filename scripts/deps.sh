#!/bin/sh
# Install the Debian 12 packages ocirender needs that are missing. Used by `make deps`
# (and so by `make build`, `make run` and `make test`).
#   scripts/deps.sh build   packages to build and run
#   scripts/deps.sh test    also what the test suite and benchmarks use
#   scripts/deps.sh fuzz    also clang's libFuzzer (make fuzz)
set -eu

BUILD_PKGS="gcc make cmake pkg-config libmicrohttpd-dev libjansson-dev libyaml-dev \
libcurl4-openssl-dev libssl-dev"
TEST_PKGS="curl openssl runc busybox-static python3 python3-jsonschema python3-hvac wrk procps haproxy groff-base \
iproute2 util-linux"

FUZZ_PKGS="clang libclang-rt-14-dev"

want="$BUILD_PKGS"
[ "${1:-build}" = test ] && want="$BUILD_PKGS $TEST_PKGS"
[ "${1:-build}" = fuzz ] && want="$BUILD_PKGS $FUZZ_PKGS"

missing=""
for p in $want; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0

echo "deps: installing:$missing"
SUDO=""
if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO=sudo; else
        echo "deps: need root (or sudo) to install:$missing" >&2; exit 1; fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing

#!/bin/sh
# Install the Debian 12 packages ocirender needs that are missing. Used by `make deps`
# (and so by `make build`, `make run` and `make test`).
#   scripts/deps.sh build         packages to build and run
#   scripts/deps.sh test          also what the test suite and benchmarks use, including the
#                                 OpenAPI linter (below)
#   scripts/deps.sh fuzz          also clang's libFuzzer (make fuzz)
#   scripts/deps.sh redocly-path  print where the OpenAPI linter is installed
set -eu

BUILD_PKGS="gcc make cmake pkg-config libmicrohttpd-dev libjansson-dev libyaml-dev \
libcurl4-openssl-dev libssl-dev"
TEST_PKGS="curl openssl runc busybox-static python3 python3-jsonschema python3-yaml python3-hvac \
wrk procps haproxy groff-base iproute2 util-linux sudo"

# The OpenAPI linter of docs/openapi.yaml (test docs_openapi_lint): @redocly/cli at the exact
# versions scripts/redocly/package-lock.json pins, installed with `npm ci` into its own prefix
# (nothing global changes). Re-installed whenever the lock file in the tree differs.
HERE=$(cd "$(dirname "$0")" && pwd)
REDOCLY_LOCK_DIR="$HERE/redocly"
REDOCLY_PREFIX=/usr/local/lib/ocirender-redocly
REDOCLY_BIN="$REDOCLY_PREFIX/node_modules/.bin/redocly"

if [ "${1:-build}" = redocly-path ]; then
    echo "$REDOCLY_BIN"
    exit 0
fi

SUDO=""
need_root() {
    if [ "$(id -u)" != 0 ]; then
        if command -v sudo >/dev/null 2>&1; then SUDO=sudo; else
            echo "deps: need root (or sudo) to install: $*" >&2; exit 1; fi
    fi
}

FUZZ_PKGS="clang libclang-rt-14-dev"

want="$BUILD_PKGS"
[ "${1:-build}" = test ] && want="$BUILD_PKGS $TEST_PKGS"
# npm comes with Debian's nodejs+npm packages, or inside a NodeSource nodejs package (which
# conflicts with Debian's npm): judge by the commands, not the package names.
if [ "${1:-build}" = test ] && ! { command -v node && command -v npm; } >/dev/null 2>&1; then
    want="$want nodejs npm"
fi
[ "${1:-build}" = fuzz ] && want="$BUILD_PKGS $FUZZ_PKGS"

missing=""
for p in $want; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done

if [ -n "$missing" ]; then
    echo "deps: installing:$missing"
    need_root "$missing"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    # shellcheck disable=SC2086
    $SUDO apt-get install -y -qq --no-install-recommends $missing
fi

[ "${1:-build}" = test ] || exit 0

if [ -x "$REDOCLY_BIN" ] && cmp -s "$REDOCLY_LOCK_DIR/package-lock.json" \
    "$REDOCLY_PREFIX/installed.lock"; then
    exit 0
fi
echo "deps: installing the OpenAPI linter (@redocly/cli, pinned) into $REDOCLY_PREFIX"
need_root "@redocly/cli"
$SUDO mkdir -p "$REDOCLY_PREFIX"
$SUDO cp "$REDOCLY_LOCK_DIR/package.json" "$REDOCLY_LOCK_DIR/package-lock.json" "$REDOCLY_PREFIX/"
# --ignore-scripts: the only install scripts in the tree print banners or fetch nothing we use.
$SUDO npm ci --prefix "$REDOCLY_PREFIX" --omit=dev --ignore-scripts --no-audit --no-fund \
    --loglevel=error
REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true "$REDOCLY_BIN" --version >/dev/null
# Marks a complete install: a failed one is tried again next time.
$SUDO cp "$REDOCLY_LOCK_DIR/package-lock.json" "$REDOCLY_PREFIX/installed.lock"

#!/bin/sh
# docs/openapi.yaml passes Redocly's linter (recommended rules, docs/redocly.yaml). The linter is
# not a Debian package: `make deps-test` (scripts/deps.sh test) installs the pinned version. A
# missing linter FAILS this test rather than skipping it, so CI cannot pass without linting.
set -u
: "${OCIRENDER_SRC:?set by ctest: the source directory}"
SRC="$OCIRENDER_SRC"

redocly=${OCIRENDER_REDOCLY:-$("$SRC/scripts/deps.sh" redocly-path)}
if [ ! -x "$redocly" ]; then
    echo "FAIL: the OpenAPI linter is not installed at $redocly; run 'make deps-test'" >&2
    exit 1
fi

# No telemetry and no update check: the tests use no network.
export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true
out=$(cd "$SRC" && "$redocly" lint --config docs/redocly.yaml --format=stylish docs/openapi.yaml 2>&1)
status=$?
printf '%s\n' "$out"
if [ "$status" -ne 0 ]; then
    echo "FAIL: docs/openapi.yaml has lint errors (redocly exit $status)" >&2
    exit 1
fi
# Warnings do not change redocly's exit status; the document is kept free of them too.
if printf '%s\n' "$out" | grep -q 'warning'; then
    echo "FAIL: docs/openapi.yaml has lint warnings" >&2
    exit 1
fi
echo "ok - docs/openapi.yaml lints clean"

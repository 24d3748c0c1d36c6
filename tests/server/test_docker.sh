#!/bin/sh
# docker/ cannot be built here (no container engine), so check what its files rely on:
# the Dockerfile's build commands are the Makefile's, it installs what scripts/deps.sh installs,
# the binary it copies is where the build puts it, every flag and variable that the Dockerfile,
# compose file and Kubernetes manifest use exists in `ocirenderd --help`, the ports agree, and
# the server starts with the image's settings and answers the probes.
# shellcheck source=tests/server/lib.sh disable=SC2015,SC2119 # ok() never fails; stop_server takes an optional signal
. "$OCIRENDER_SRC/tests/server/lib.sh"

D="$SRC/docker"
DOCKERFILE="$D/Dockerfile"
for f in "$DOCKERFILE" "$D/compose.yaml" "$D/kubernetes.yaml"; do
    [ -f "$f" ] && ok "$(basename "$f") exists" || fail "$f is missing"
done

# ---- the build commands are the Makefile's -----------------------------------------------------
norm() { sed -e 's/-j"\$(nproc)"/-jN/' -e 's/-j[0-9][0-9]*/-jN/' -e 's/[[:space:]]\+/ /g' -e 's/^ //' -e 's/ $//'; }
make_cmds=$(make -s -n -C "$SRC" build BUILD_DIR=build JOBS=7 2>/dev/null | grep '^cmake ' | norm)
docker_cmds=$(sed -n 's/^RUN \(cmake .*\)/\1/p' "$DOCKERFILE" | norm)
check "Makefile 'build' has two cmake commands" "$(printf '%s\n' "$make_cmds" | grep -c .)" 2
check "the Dockerfile runs the Makefile's cmake commands" "$docker_cmds" "$make_cmds"

# ---- packages ----------------------------------------------------------------------------------
build_pkgs=$(sed -n '/^BUILD_PKGS="/,/"/p' "$SRC/scripts/deps.sh" | tr -d '"\\' | sed 's/BUILD_PKGS=//')
missing=""
for p in $build_pkgs; do
    grep -q "[[:space:]]$p\([[:space:]]\|\$\)" "$DOCKERFILE" || missing="$missing $p"
done
check "the Dockerfile installs every package of scripts/deps.sh build" "$missing" ""
grep -q '^FROM debian:12' "$DOCKERFILE" && ok "Debian 12 base" || fail "not a Debian 12 base"

# ---- the binary it copies ----------------------------------------------------------------------
copied=$(sed -n 's/^COPY --from=build \/src\/\([^ ]*\) .*/\1/p' "$DOCKERFILE")
check "the Dockerfile copies build/ocirenderd" "$copied" "build/ocirenderd"
[ -x "$OCIRENDER_BIN/ocirenderd" ] && ok "the build leaves the binary at <build dir>/ocirenderd" ||
    fail "$OCIRENDER_BIN/ocirenderd does not exist"
check "the Makefile's build dir is 'build'" "$(sed -n 's/^BUILD_DIR ?= //p' "$SRC/Makefile")" build

# ---- flags and variables exist -----------------------------------------------------------------
help=$("$SERVER" --help)
unknown=""
for flag in $(cat "$DOCKERFILE" "$D/compose.yaml" "$D/kubernetes.yaml" | grep -o -- '"--[a-z-]*"' | tr -d '"' | sort -u); do
    printf '%s\n' "$help" | grep -q -- "${flag}[ =]\|${flag}\$" || unknown="$unknown $flag"
done
for var in $(cat "$DOCKERFILE" "$D/compose.yaml" "$D/kubernetes.yaml" | grep -o '\(^\|[^A-Za-z]\)\(OCIRENDER\|VAULT\)_[A-Z_]*' | sed 's/^[^A-Z]//' | sort -u); do
    printf '%s\n' "$help" | grep -q "$var" || unknown="$unknown $var"
done
check "every flag and variable the container files use is in --help" "$unknown" ""

# ---- ports and probes agree --------------------------------------------------------------------
check "EXPOSE" "$(sed -n 's/^EXPOSE //p' "$DOCKERFILE")" 8080
check_contains "compose publishes 8080" "$(cat "$D/compose.yaml")" ':8080:8080"'
check_contains "the Deployment listens on 8080" "$(cat "$D/kubernetes.yaml")" "containerPort: 8080"
for path in $(grep -o 'path: /[a-z]*' "$D/kubernetes.yaml" | cut -d' ' -f2); do
    case "$path" in /healthz | /readyz) ok "probe $path is a route" ;; *) fail "probe $path is not a route" ;; esac
done
if python3 -c 'import yaml' 2>/dev/null; then
    python3 - "$D/compose.yaml" "$D/kubernetes.yaml" <<'PY' && ok "compose and Kubernetes files are valid YAML" || fail "invalid YAML"
import sys, yaml
yaml.safe_load(open(sys.argv[1]))
docs = [d for d in yaml.safe_load_all(open(sys.argv[2])) if d]
assert [d["kind"] for d in docs] == ["Deployment", "Service"], docs
PY
else
    note "SKIP YAML parse: python3-yaml is not installed"
fi

# ---- the image's settings start the server -----------------------------------------------------
TOKENS="$WORK/tokens"
printf 'probe-token-0123456789abcdef *\n' >"$TOKENS"
chmod 640 "$TOKENS" # what the Kubernetes secret volume gives (defaultMode 0440 + fsGroup)
env_line=$(sed -n '/^ENV /,/[^\\]$/p' "$DOCKERFILE" | tr -d '\\' | sed 's/^ENV //')
check_contains "the image sets OCIRENDER_AUTH_TOKENS" "$env_line" "OCIRENDER_AUTH_TOKENS="
export OCIRENDER_AUTH_TOKENS="$TOKENS"
start_server || exit 1
unset OCIRENDER_AUTH_TOKENS
http GET /healthz
check "liveness probe answers" "$CODE" 200
http GET /readyz
check "readiness probe answers" "$CODE" 200
http POST /render --data-binary "@$SRC/examples/web.yaml"
check "the image's auth setting is in force" "$CODE" 401
stop_server
finish

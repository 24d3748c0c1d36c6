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

# ---- one image tag: ocirenderd:<version> wherever an image is built or named --------------------
version=$("$SERVER" --version | awk '{print $2}')
docs=$(find "$SRC/docs" -name '*.md' 2>/dev/null | sort)
# shellcheck disable=SC2086 # $docs: one path a line, paths without spaces
tags=$(cat "$SRC/README.md" "$DOCKERFILE" "$D/compose.yaml" "$D/kubernetes.yaml" $docs |
    grep -o -E '(-t|--tag|image:)[[:space:]]+ocirenderd[^[:space:]"]*' | awk '{print $2}')
count=$(printf '%s\n' "$tags" | grep -c .)
[ "$count" -ge 4 ] && ok "the image is named $count times (Dockerfile, compose, Kubernetes, README)" ||
    fail "the image is named only $count times; expected the Dockerfile, compose, Kubernetes and README"
check "every image tag is ocirenderd:$version" "$(printf '%s\n' "$tags" | sort -u)" "ocirenderd:$version"

# ---- a built tree: the context .dockerignore leaves is a clean source tree ---------------------
# Docker copies the context (.dockerignore applied) to /src and runs the Dockerfile's cmake
# commands there. Emulate it on a copy of the sources that has been configured in build/ (whose
# CMakeCache.txt names the copy's path) and holds compose secrets: the context must have every
# source file and none of those, and the Dockerfile's configure step must succeed in it.
TREE="$WORK/tree"
mkdir -p "$TREE"
if git -C "$SRC" rev-parse --show-toplevel >/dev/null 2>&1; then
    (cd "$SRC" && git ls-files -z --cached --others --exclude-standard |
        xargs -0 sh -c 'for f; do [ -e "$f" ] && printf "%s\n" "$f"; done' sh) >"$WORK/sources"
else
    (cd "$SRC" && find . -path ./build -prune -o -path './build-*' -prune -o -path ./.git -prune \
        -o -type f -print | sed 's|^\./||') >"$WORK/sources"
fi
tar -C "$SRC" -cf - -T "$WORK/sources" | tar -C "$TREE" -xf -
configure=$(sed -n 's/^RUN \(cmake -S .*\)/\1/p' "$DOCKERFILE")
check_contains "the Dockerfile configures with cmake -S . -B build" "$configure" "cmake -S . -B build"
(cd "$TREE" && eval "$configure") >"$WORK/host-configure.log" 2>&1 &&
    ok "the host tree is configured (build/CMakeCache.txt)" || fail "configuring the host tree failed"
mkdir -p "$TREE/build-asan" "$TREE/docker/secrets"
: >"$TREE/build-asan/leftover.o"
printf 'not-in-any-image *\n' >"$TREE/docker/secrets/tokens"

python3 "$HERE/docker_context.py" "$TREE" "$WORK/src" >"$WORK/context" || fail "docker_context.py failed"
leaked=$(grep -E '^(build|build-asan|docker/secrets|\.git)(/|$)' "$WORK/context" | head -3)
check "the context has no build directory, .git or compose secret" "$leaked" ""
sort "$WORK/context" >"$WORK/context.sorted"
missing=$(sort "$WORK/sources" | comm -23 - "$WORK/context.sorted" | head -3)
check "the context has every source file" "$missing" ""
(cd "$WORK/src" && eval "$configure") >"$WORK/configure.log" 2>&1 &&
    ok "the Dockerfile's configure step succeeds in the context of a built tree" ||
    fail "the Dockerfile's configure step fails in the context: $(tail -n 5 "$WORK/configure.log")"
# Control: without .dockerignore the host's CMakeCache.txt comes along and CMake refuses it,
# which is what the .dockerignore is for.
rm "$TREE/.dockerignore"
python3 "$HERE/docker_context.py" "$TREE" "$WORK/src-all" >/dev/null
if (cd "$WORK/src-all" && eval "$configure") >"$WORK/configure-all.log" 2>&1; then
    fail "control: the context without .dockerignore configured (the check above proves nothing)"
else
    check_contains "control: without .dockerignore CMake refuses the host's cache" \
        "$(cat "$WORK/configure-all.log")" "CMakeCache.txt"
fi

# ---- compose: the recipe's token and secrets steps give files the server accepts --------------
# The steps in compose.yaml's header run verbatim in a fresh copy (examples/secrets.json 0644,
# as git checks it out), all but `docker` and `curl`; the server then starts on the files as the
# image runs it (uid 10001 when this test is root) and the recipe's curl line is answered.
COPY="$WORK/compose-tree"
mkdir -p "$COPY/examples" "$COPY/docker"
install -m 0644 "$SRC/examples/secrets.json" "$SRC/examples/web.yaml" "$COPY/examples/"
sed -n '1,/^services:/s/^#   //p' "$D/compose.yaml" >"$WORK/recipe"
{
    grep -v -E '^(docker|curl) ' "$WORK/recipe"
    echo 'printf "%s" "$TOKEN" >"$TOKEN_OUT"'
} >"$WORK/steps.sh"
check_contains "the recipe writes the tokens file" "$(cat "$WORK/steps.sh")" "docker/secrets/tokens"
chmod 755 "$WORK" "$COPY" # the server below runs as uid 10001
if [ "$(id -u)" = 0 ]; then
    (cd "$COPY" && umask 022 && TOKEN_OUT="$WORK/token" sh -e "$WORK/steps.sh") >"$WORK/steps.log" 2>&1 ||
        fail "the recipe's steps failed: $(cat "$WORK/steps.log")"
else
    note "not root: the recipe's chown step is left out and the server runs as $(id -un)"
    (cd "$COPY" && umask 022 && grep -v chown "$WORK/steps.sh" | TOKEN_OUT="$WORK/token" sh -e) \
        >"$WORK/steps.log" 2>&1 || fail "the recipe's steps failed: $(cat "$WORK/steps.log")"
fi
for f in tokens secrets.json; do
    check "compose secret $f is 0600" "$(stat -c %a "$COPY/docker/secrets/$f" 2>/dev/null)" 600
    if [ "$(id -u)" = 0 ]; then
        check "compose secret $f belongs to the image's user" "$(stat -c %u:%g "$COPY/docker/secrets/$f")" 10001:10001
    fi
done
AS_IMAGE_USER="$WORK/ocirenderd-as-10001"
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null 2>&1; then
    printf '#!/bin/sh\nexec setpriv --reuid=10001 --regid=10001 --clear-groups "%s" "$@"\n' "$SERVER" >"$AS_IMAGE_USER"
else
    printf '#!/bin/sh\nexec "%s" "$@"\n' "$SERVER" >"$AS_IMAGE_USER"
fi
chmod 755 "$AS_IMAGE_USER"
REAL_SERVER=$SERVER
SERVER=$AS_IMAGE_USER
if OCIRENDER_SECRETS=file OCIRENDER_SECRETS_FILE="$COPY/docker/secrets/secrets.json" \
    OCIRENDER_AUTH_TOKENS="$COPY/docker/secrets/tokens" start_server; then
    curl_line=$(grep '^curl ' "$WORK/recipe" | sed "s|http://127.0.0.1:8080|$URL|")
    TOKEN=$(cat "$WORK/token")
    out=$(cd "$COPY" && TOKEN=$TOKEN eval "$curl_line -sS -o /dev/null -w '%{http_code}'" 2>&1)
    check "the recipe's curl line renders with the recipe's token" "$out" 200
    stop_server
else
    fail "the server refused the compose recipe's files"
fi
SERVER=$REAL_SERVER

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

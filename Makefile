# The two set-up commands are `make run` and `make test`; each installs what is missing first.
BUILD_DIR ?= build
ASAN_DIR ?= build-asan
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_FLAGS ?= -DOCIRENDER_WERROR=ON
# Leak checking stays on: a long-running server must not leak.
SAN_ENV = ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1 \
          UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1

.PHONY: all deps deps-test build build-asan test test-fast run bench fuzz fuzz-yaml clean

all: build

deps:
	@scripts/deps.sh build

deps-test:
	@scripts/deps.sh test

build: deps
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS)
	cmake --build $(BUILD_DIR) -j$(JOBS)

build-asan: deps
	cmake -S . -B $(ASAN_DIR) -DCMAKE_BUILD_TYPE=Debug -DOCIRENDER_SANITIZE=ON $(CMAKE_FLAGS)
	cmake --build $(ASAN_DIR) -j$(JOBS)

# Whole suite twice: the normal build, then under ASan + UBSan.
test: deps-test build build-asan
	ctest --test-dir $(BUILD_DIR) --output-on-failure -j$(JOBS)
	$(SAN_ENV) ctest --test-dir $(ASAN_DIR) --output-on-failure -j$(JOBS)

# ocirenderd on 127.0.0.1:8080 with the file secrets provider over a 0600 copy of
# examples/secrets.json (git does not keep 0600; the provider refuses readable files), no auth.
run: build
	install -m 0600 examples/secrets.json $(BUILD_DIR)/secrets.json
	@echo "Starting ocirenderd on http://127.0.0.1:8080 (Ctrl-C stops it). In another terminal:"
	@echo
	@echo "  curl --data-binary @examples/web.yaml http://127.0.0.1:8080/render"
	@echo
	exec ./$(BUILD_DIR)/ocirenderd --listen 127.0.0.1:8080 --secrets file \
		--secrets-file $(BUILD_DIR)/secrets.json

bench: deps-test build
	bench/run

# libFuzzer over the request path for FUZZ_SECONDS (clang, ASan + UBSan, in build-fuzz/).
FUZZ_SECONDS ?= 60
fuzz:
	@scripts/deps.sh fuzz
	JOBS=$(JOBS) tests/fuzz/run.sh $(FUZZ_SECONDS)

# The YAML fast path (render/yaml_fast.c) against libyaml alone, event by event.
fuzz-yaml:
	@scripts/deps.sh fuzz
	FUZZ_TARGET=fuzz_yaml_fast JOBS=$(JOBS) tests/fuzz/run.sh $(FUZZ_SECONDS)

clean:
	rm -rf $(BUILD_DIR) $(ASAN_DIR) build-fuzz

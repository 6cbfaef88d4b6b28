# pgthaw — the two set-up commands are `make run` and `make test`; both
# install what is missing, build, and go on from there.
BUILD_DIR ?= build
JOBS ?= $(shell nproc)
# build_engine.py's cache (wasm2c output, compiled modules), keyed by the
# PGlite artifact's sha256, outside the source tree.
export PGTHAW_CACHE ?= $(HOME)/.cache/pgthaw

.PHONY: all deps engine build test test-drivers run bench bench-node bench-engine bench-thaw bench-store format clean

all: build

deps:
	@scripts/install-deps.sh

# Fetch, verify, translate and compile PGlite (a no-op once cached).
engine: deps
	@mkdir -p $(BUILD_DIR)
	@python3 scripts/build_engine.py --jobs $(JOBS) > $(BUILD_DIR)/engine-dir.new
	@mv $(BUILD_DIR)/engine-dir.new $(BUILD_DIR)/engine-dir

build: engine
	@cmake -S . -B $(BUILD_DIR) -G Ninja -DPGTHAW_ENGINE_DIR="$$(tail -n 1 $(BUILD_DIR)/engine-dir)" > /dev/null
	@cmake --build $(BUILD_DIR) -j $(JOBS)

test: build
	@ctest --test-dir $(BUILD_DIR) --output-on-failure -j $(JOBS)

# Only the real-driver scenarios (tests/drivers; their fixtures run npm ci
# and javac).
test-drivers: build
	@ctest --test-dir $(BUILD_DIR) --output-on-failure -j $(JOBS) -L drivers

run: build
	@if [ -x $(BUILD_DIR)/pgthaw ] && $(BUILD_DIR)/pgthaw serve --help > /dev/null 2>&1; then \
	  $(BUILD_DIR)/pgthaw serve --data-dir ./data; \
	else \
	  echo "serve is not built yet; try: $(BUILD_DIR)/pgthaw sql --data-dir ./data \"select version()\""; \
	fi

bench-node: deps
	@cd bench/node && npm ci --no-audit --no-fund --silent

bench-engine: build bench-node
	@$(BUILD_DIR)/bench_engine

bench-thaw: build bench-node
	@$(BUILD_DIR)/bench_thaw

# A hibernated tenant through the object store vs without one.
bench-store: build
	@$(BUILD_DIR)/bench_store

# The seed's tables side by side with the peers (bench/runner); the report
# goes to bench/out/ and docs/benchmarks.md.
bench: build bench-node
	@$(BUILD_DIR)/pgthaw-bench --docs docs/benchmarks.md

format:
	@clang-format -i $$(git ls-files 'src/*.h' 'src/*.cc' 'bench/*.h' 'bench/*.cc')

clean:
	rm -rf $(BUILD_DIR)

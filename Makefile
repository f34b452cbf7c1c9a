# Berth: the two commands a user needs are `make demo` and `make test`.
# `make` / `make build` gives an optimised build in build/ (binaries in build/bin);
# `make test` builds with AddressSanitizer + UBSan in build/asan and runs CTest.
JOBS ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: all build deps test demo bench clean format

all: build

deps:
	@scripts/install-deps.sh

build: deps
	@cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build build -j $(JOBS)

test: deps
	@cmake -S . -B build/asan -DCMAKE_BUILD_TYPE=Debug -DBERTH_SANITIZE=ON >/dev/null
	@cmake --build build/asan -j $(JOBS)
	@cd build/asan && ctest --output-on-failure -j $(JOBS) --timeout 600

demo: build
	@scripts/demo.sh

bench: build
	@bench/run.sh

clean:
	rm -rf build

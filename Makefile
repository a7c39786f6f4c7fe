# Capstan's build. Every target that needs system packages depends on `deps`, which installs what
# is missing (as root) or prints the exact command to run.
SHELL := /bin/bash
.DEFAULT_GOAL := build

DEBIAN_PACKAGES := protobuf-compiler protobuf-c-compiler libprotobuf-dev libprotobuf-c-dev \
	libnghttp2-dev libsqlite3-dev libjemalloc-dev pkgconf python3-venv etcd-server
BENCH_PACKAGES := nghttp2-client nghttp2-server libgrpc++-dev protobuf-compiler-grpc
PYTHON ?= python3
VENV := .venv
FUZZ_SECONDS ?= 60
SWIFT_BUILD_FLAGS ?=
# `--sanitize=fuzzer` links libFuzzer but (Swift 6.3) does not instrument Swift code for coverage;
# this does, for every module of the fuzz build. The fuzz targets share it so they share one build.
FUZZ_BUILD_FLAGS := --sanitize=fuzzer --sanitize=address \
	-Xswiftc -sanitize-coverage=edge,trace-cmp,inline-8bit-counters,pc-table

.PHONY: bench-deps bench-rpc bench-obs bench-api deps run build test proto check-generated fuzz test-asan bench-wire bench-store venv clean

# Installs the Debian packages given as $(1) that are missing (as root), or prints the command.
define apt_install
	@missing=$$(for p in $(1); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; \
	  done); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing $$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else \
	    echo "missing Debian packages; run: sudo apt-get install -y $$missing"; exit 1; \
	  fi; \
	fi
endef

deps:
	$(call apt_install,$(DEBIAN_PACKAGES))

# What the benchmarks compare against: h2load and nghttpd, grpc C++.
bench-deps: deps
	$(call apt_install,$(BENCH_PACKAGES))

# Python test dependencies, pinned, in an ignored virtual environment created on demand.
venv: $(VENV)/.installed
$(VENV)/.installed: Tests/python/requirements.txt | deps
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check -r Tests/python/requirements.txt
	touch $@

# Starts `capstan up`: the API server on the embedded store in ~/.capstan/data, on 127.0.0.1:7443
# (metrics at http://127.0.0.1:7444/metrics); builds capctl too, to talk to it.
run: deps
	swift build --product capstan $(SWIFT_BUILD_FLAGS)
	swift build --product capctl $(SWIFT_BUILD_FLAGS)
	@echo 'capstan: talk to it from another terminal: export PATH="$(CURDIR)/.build/debug:$$PATH"; capctl cluster-info'
	.build/debug/capstan up

build: deps
	swift build $(SWIFT_BUILD_FLAGS)

test: deps venv check-generated
	swift build --build-tests $(SWIFT_BUILD_FLAGS)
	CAPSTAN_PYTHON=$(CURDIR)/$(VENV)/bin/python swift test --skip-build $(SWIFT_BUILD_FLAGS)

# Regenerates all generated C (protoc-c) and Swift (protoc-gen-capstan) from proto/.
proto: deps
	swift build --product protoc-gen-capstan $(SWIFT_BUILD_FLAGS)
	codegen/generate.sh

# Regenerates into a temporary tree and fails on any difference from what is committed.
check-generated: deps
	swift build --product protoc-gen-capstan $(SWIFT_BUILD_FLAGS)
	@tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	codegen/generate.sh "$$tmp"; \
	status=0; \
	for d in Sources/CCapstanProto/generated Sources/CCapstanProto/include/protos Sources/CapstanAPI/Generated \
	         Sources/CapstanWire/Generated Sources/CapstanRPC/Generated Sources/CapstanInterop/Generated \
	         Tests/CapstanWireTests/Generated; do \
	  diff -r "$$d" "$$tmp/$$d" || status=1; \
	done; \
	diff Sources/CCapstanProto/include/capstan_generated.h "$$tmp/Sources/CCapstanProto/include/capstan_generated.h" || status=1; \
	if [ $$status != 0 ]; then echo "check-generated: generated code is stale; run 'make proto' and commit"; exit 1; fi; \
	echo "check-generated: generated code is up to date"

# libFuzzer over every message decoder, the gRPC framing and header parsing, the text readers
# (selectors, continue tokens, manifests, metrics requests) and a whole API server fed raw HTTP/2
# on loopback connections, each bounded by FUZZ_SECONDS; artifacts go under .fuzz/. The API server
# runs without leak checks: its memory is meant to outlive each input, and Swift keeps weak-reference
# side tables behind tagged pointers that LeakSanitizer cannot follow.
FUZZ_RUN_FLAGS := -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix=.fuzz/
fuzz: deps
	cd Fuzz && swift build --product FuzzWireDecode $(FUZZ_BUILD_FLAGS)
	mkdir -p .fuzz/wire-decode
	Fuzz/.build/debug/FuzzWireDecode $(FUZZ_RUN_FLAGS) .fuzz/wire-decode
	cd Fuzz && swift build --product FuzzGRPCFraming $(FUZZ_BUILD_FLAGS)
	mkdir -p .fuzz/grpc-framing
	Fuzz/.build/debug/FuzzGRPCFraming $(FUZZ_RUN_FLAGS) .fuzz/grpc-framing
	cd Fuzz && swift build --product FuzzTextInputs $(FUZZ_BUILD_FLAGS)
	mkdir -p .fuzz/text-inputs
	Fuzz/.build/debug/FuzzTextInputs $(FUZZ_RUN_FLAGS) .fuzz/text-inputs Fuzz/Seeds/text-inputs
	cd Fuzz && swift build --product FuzzAPIServer $(FUZZ_BUILD_FLAGS)
	mkdir -p .fuzz/api-server
	ASAN_OPTIONS=detect_leaks=0 Fuzz/.build/debug/FuzzAPIServer $(FUZZ_RUN_FLAGS) -detect_leaks=0 -timeout=30 \
		.fuzz/api-server Fuzz/Seeds/api-server

# The wire and codegen tests, and the SQLite page cache's, under AddressSanitizer (leaks included),
# in their own build folder.
test-asan: deps venv
	CAPSTAN_PYTHON=$(CURDIR)/$(VENV)/bin/python LSAN_OPTIONS=suppressions=$(CURDIR)/Tests/lsan-suppressions.txt \
	  swift test --sanitize=address --scratch-path .build-asan \
	  --filter 'CapstanWireTests|CapstanCodegenTests|SQLitePageCacheTests'

# Encode/decode of a typical Pod, against apple/swift-protobuf, in one run.
bench-wire: deps
	cd Benchmarks && swift build -c release --product bench-wire && .build/release/bench-wire

# Durable creates (1, 16, 64 writers), updates, gets, lists and watch deliveries of the SQLite store;
# then EtcdStore on a one-member etcd beside raw etcd Put/Txn/Range (needs etcd-server, from deps).
bench-store: deps
	swift build -c release --product bench-store $(SWIFT_BUILD_FLAGS)
	.build/release/bench-store

clean:
	rm -rf .build .build-asan Fuzz/.build Benchmarks/.build .fuzz

# Unary gRPC calls under h2load (capstan-interop against nghttpd's static gRPC response and a grpc
# C++ server), server-streaming messages/s and RSS with 10,000 idle connections (capstan against
# grpc C++, same grpc C++ load client), in one run (Benchmarks/rpc/bench-rpc.sh says what it measures).
bench-rpc: bench-deps
	swift build -c release --product capstan-interop
	Benchmarks/grpc-cpp/build.sh $(CURDIR)/.build-bench/grpc-cpp
	CAPSTAN_INTEROP=$(CURDIR)/.build/release/capstan-interop GRPC_CPP_SERVER=$(CURDIR)/.build-bench/grpc-cpp/echo_server \
	  GRPC_LOAD_CLIENT=$(CURDIR)/.build-bench/grpc-cpp/load_client Benchmarks/rpc/bench-rpc.sh

# What request logs and metrics cost per call: capstan-h2-echo plain, with metrics, with metrics and
# logs, under h2load in one run (Benchmarks/rpc/bench-observability.sh says how).
bench-obs: bench-deps
	swift build -c release --product capstan-h2-echo
	CAPSTAN_H2_ECHO=$(CURDIR)/.build/release/capstan-h2-echo Benchmarks/rpc/bench-observability.sh

# The API server (`capstan apiserver`, a child process) against a one-member etcd and nghttpd, in
# one run: Get under h2load, durable creates, List of 10,000 pods, watch fan-out of 10,000
# watchers, RSS with 150,000 pods (Sources/bench-api/main.swift says what it measures). The table
# is also written to .build-bench/bench-api.txt. 2–5 minutes of running; not part of `make test`.
bench-api: bench-deps
	swift build -c release --product capstan $(SWIFT_BUILD_FLAGS)
	swift build -c release --product bench-api $(SWIFT_BUILD_FLAGS)
	.build/release/bench-api --output $(CURDIR)/.build-bench/bench-api.txt

# wirehouse: the two commands of the README are `make demo` and `make test`.
CARGO ?= cargo
PY := .venv/bin/python
DEMO_CAPTURE := datasets/loopback/http-loopback.pcap
DEMO_OUT := out/demo

.PHONY: all build demo test test-rust test-python lint bench bench-criterion throughput pgo pyenv clean

all: build

build:
	$(CARGO) build --release --locked

## Analyze the shipped sample capture and print what it contains.
demo: build
	./target/release/wirehouse analyze $(DEMO_CAPTURE) -o $(DEMO_OUT) --force --stats
	./target/release/wirehouse summary $(DEMO_OUT)

## Every test: Rust unit and integration tests, then the DuckDB/pandas query tests.
test: test-rust test-python

test-rust:
	$(CARGO) test --workspace --locked

# Builds what test-rust builds (the binary its integration tests run), so no second compile.
test-python: pyenv
	$(CARGO) test --workspace --locked --no-run
	WIREHOUSE_BIN=$(CURDIR)/target/debug/wirehouse $(PY) -m pytest -q tests/python

pyenv:
	./scripts/pyenv.sh

lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

## Benchmarks: criterion per stage, then end-to-end throughput on a generated capture.
bench: bench-criterion throughput

bench-criterion:
	$(CARGO) bench --locked --bench stages

throughput:
	./scripts/throughput.sh

## A profile-guided build in out/pgo/wirehouse (optional; about 8 minutes). Benchmark it with
## BIN=out/pgo/wirehouse ./scripts/throughput.sh
pgo:
	./scripts/pgo.sh

clean:
	$(CARGO) clean
	rm -rf out .venv

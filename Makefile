# The two commands of the README: `make demo` and `make test`. Both install what they need.
.PHONY: deps build test demo fmt clippy

CARGO ?= cargo

deps:
	scripts/install-deps.sh

build: deps
	$(CARGO) build --workspace --locked

# Unit tests (no root) and the namespace tests in tests/ (root; CI runs as root).
test: deps
	$(CARGO) test --workspace --locked

# What runs today: the namespace lab builds lan <-> router <-> internet and shows a host
# on the LAN reaching the internet through the router. The container demo replaces it.
demo: deps
	$(CARGO) run --locked -p netlab --example demo

fmt:
	$(CARGO) fmt --all

clippy:
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

# The two commands of the README: `make demo` and `make test`. Both install what they need.
.PHONY: deps build test demo fmt clippy

CARGO ?= cargo

deps:
	scripts/install-deps.sh

build: deps
	$(CARGO) build --workspace --locked

# Unit tests (no root) and the namespace tests in tests/ (root; CI runs as root).
test: deps
	$(CARGO) build --workspace --locked --bins  # binaries the namespace tests spawn (ispemu, pppoe-dial)
	$(CARGO) test --workspace --locked

# What runs today: a KPN-style line in network namespaces (ispemu on VLAN 6, our PPPoE
# client, our nftables NAT) and a LAN host reaching the stand-in internet through it.
# The container demo (compose/) replaces it when routerd exists.
demo: deps
	$(CARGO) run --locked -p router-tests --example demo

fmt:
	$(CARGO) fmt --all

clippy:
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

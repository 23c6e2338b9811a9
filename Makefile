# The two commands of the README: `make demo` and `make test`. Both install what they need.
.PHONY: deps build test bench deb demo demo-down demo-netns fmt clippy

CARGO ?= cargo
TARGET ?= $(or $(CARGO_TARGET_DIR),target)

deps:
	scripts/install-deps.sh

build: deps
	$(CARGO) build --workspace --locked

# Unit tests (no root) and the namespace tests in tests/ (root; CI runs as root). The package
# is built first: root_deb_nspawn installs it into a booted Debian.
test: deps deb
	$(CARGO) build --workspace --locked --bins  # binaries the namespace tests spawn (ispemu, pppoe-dial)
	$(CARGO) test --workspace --locked

# Every benchmark, side by side with the daemon it replaces (root; BENCHES picks, BENCH_RUNS
# repeats, default 3): one table of ratios (median, min-max, runs) at the end, the logs in
# $(TARGET)/bench/. Each bench also runs alone: cargo bench -p router-tests --bench NAME.
bench: deps
	$(CARGO) build --release --locked --workspace --bins
	scripts/bench.sh

# The Debian package (cargo-deb, which `make deps` installs): routerd and routerctl, the unit,
# /etc/routerd/routerd.toml as a conffile, man pages and completions. Writes
# $(TARGET)/debian/routerd_VERSION-1_ARCH.deb.
deb: deps
	$(CARGO) build --release --locked -p routerd --bins
	rm -rf $(TARGET)/release/generated
	$(TARGET)/release/routerd generate $(TARGET)/release/generated
	gzip -9n $(TARGET)/release/generated/man/*.1
	$(CARGO) deb -p routerd --no-build

# The container demo (compose/demo): ispemu as the ISP (PPPoE on VLAN 6), routerd, and a
# busybox LAN client, in FROM-scratch images built from the release binaries (no registry).
# Brings it up, waits for the router's health check and shows what works; `make demo-down`
# stops it and removes its containers, networks and volume.
demo: deps
	$(CARGO) build --release --locked -p routerd -p ispemu --bins
	compose/build-images.sh demo
	compose/demo.sh up

demo-down:
	compose/demo.sh down

# The earlier demo without containers: the same line in network namespaces, no routerd.
demo-netns: deps
	$(CARGO) run --locked -p router-tests --example demo

fmt:
	$(CARGO) fmt --all

clippy:
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

#!/usr/bin/env bash
# Installs the Debian packages that the build, the tests and the demo use. Idempotent: when
# everything is already installed it changes nothing. Runs as root (CI does), or via sudo.
set -euo pipefail

PACKAGES=(
  # build: nftnl/mnl link the C libraries
  pkg-config libnftnl-dev libmnl-dev
  # the namespace tests and the firewall's read-back
  iproute2 nftables iputils-ping
  # HTTP from the tests and the demo (the status page, /metrics)
  curl
  # traffic and captures in tests and benchmarks
  iperf3 tcpdump ethtool
  # DNS tests and benchmark (crates/dns): dig/nsupdate, kdig, dnsperf, the peers
  bind9-dnsutils knot-dnsutils dnsperf unbound dnsmasq-base
  # DHCPv4 server tests and bench: real clients, perfdhcp (kea-admin) and Kea to compare with
  isc-dhcp-client busybox kea-admin kea-dhcp4-server
  # DHCPv6-PD client tests (crates/dhcpv6pd): Kea as the delegating router
  kea-dhcp6-server
  # DHCPv6 server tests (root_rfc8415_dhcp6_server): dhcpcd as an IA_NA + IA_PD client beside dhclient -6
  dhcpcd-base
  # the IGMP proxy bench (tests/benches/igmp.rs): igmpproxy to compare with
  igmpproxy
  # routerd's status page and /metrics (root_http): promtool checks the scrape, a headless
  # Chromium loads the page
  prometheus chromium
  # the systemd unit's check (root_routerd_notify): systemd-analyze security --offline
  systemd
  # the container demo (make demo) and its test (root_compose): Docker, compose v1, strip
  # (busybox-static is not installed: compose/build-images.sh unpacks it with apt-get download)
  docker.io docker-compose binutils
  # the Debian package booted (root_deb_nspawn): a bookworm root by debootstrap, booted by
  # systemd-nspawn; dpkg-dev for cargo-deb's dependency scan (dpkg-shlibdeps)
  debootstrap systemd-container dpkg-dev
  # the podman template (compose/router/podman.sh) and its test (root_podman): podman on its
  # CNI backend with the host-device plugin, and runc (the test's runtime: crun refuses a
  # cgroup v1 hybrid hierarchy)
  podman containernetworking-plugins runc
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} Debian packages present"
else
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "install-deps: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# cargo-deb (`make deb`), from crates.io, pinned; as the user who runs cargo, not root.
CARGO_DEB_VERSION=3.6.2
if ! cargo deb --version 2>/dev/null | grep -q " $CARGO_DEB_VERSION\b"; then
  echo "install-deps: installing cargo-deb $CARGO_DEB_VERSION"
  cargo install --locked --quiet "cargo-deb@$CARGO_DEB_VERSION"
fi

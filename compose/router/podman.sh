#!/usr/bin/env bash
# Production template with podman: routerd as the router of a real host, in one container that
# owns the WAN and LAN network cards whole. Copy this directory, edit routerd.toml, put the
# PPPoE password in secrets/pppoe (and a TSIG key in secrets/tsig if you use one), then:
#
#   WAN_NIC=enp1s0 LAN_NIC=enp2s0 compose/router/podman.sh up
#   compose/router/podman.sh status | logs [-f] | exec CMD... | stop | start | down [-v]
#
# One CNI network per card, of the `host-device` plugin (Debian containernetworking-plugins):
# at start the card is moved into the container's network namespace and named wan0 / lan0
# there (podman's interface_name), at stop it goes back to the host under its own name, with
# its MAC. PPPoE leaves with the card's own MAC, the ISP's VLAN tag is written on the card
# itself, and while the router runs nothing of the WAN is visible on the host. Leave the
# cards unconfigured on the host (no address, no DHCP client, not in NetworkManager).
#
# Needs podman (4.3 on Debian bookworm) on its CNI network backend: netavark has no
# host-device. Bookworm has no netavark, so CNI is the default there; elsewhere set
# `[network] network_backend = "cni"` in /etc/containers/containers.conf. The network files
# go to CNI_CONFIG_DIR (default /etc/cni/net.d, podman's own default) and every podman call
# here names that directory. The image is routerd-demo-router:TAG, in podman's store:
#   ENGINE=podman IMAGES=router compose/build-images.sh [TAG]
# (or `docker save routerd-demo-router:TAG | podman load` if Docker built it).
#
# Same container as docker-compose.yml: routerd.toml and secrets/ mounted read-only, the state
# in the volume NAME-state, NET_ADMIN and NET_RAW added, /dev/net/tun, never --privileged, the
# sysctls set here (podman mounts /proc/sys read-only), the health check `routerctl status
# --check` (`podman healthcheck run NAME`; podman schedules it by a systemd timer), and
# `--restart always`, which Debian's podman-restart.service brings up again at boot.
#
# Environment: WAN_NIC, LAN_NIC (up); NAME (default routerd: the container, the networks
# NAME-wan and NAME-lan, the volume NAME-state); TAG (default demo); CONFIG (default
# ./routerd.toml), SECRETS (default ./secrets); CNI_CONFIG_DIR.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
NAME="${NAME:-routerd}"
TAG="${TAG:-demo}"
CONFIG="${CONFIG:-$HERE/routerd.toml}"
SECRETS="${SECRETS:-$HERE/secrets}"
CNI_CONFIG_DIR="${CNI_CONFIG_DIR:-/etc/cni/net.d}"
IMAGE="routerd-demo-router:$TAG"
P=(podman --network-config-dir "$CNI_CONFIG_DIR")

die() { echo "podman.sh: $*" >&2; exit 1; }
exists() { "${P[@]}" container exists "$NAME"; }

# network ROLE NIC: the CNI network NAME-ROLE that moves NIC into the container.
network() {
  local file="$CNI_CONFIG_DIR/$NAME-$1.conflist"
  mkdir -p "$CNI_CONFIG_DIR"
  cat >"$file.tmp" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "$NAME-$1",
  "plugins": [{ "type": "host-device", "device": "$2" }]
}
EOF
  mv "$file.tmp" "$file"
}

up() {
  : "${WAN_NIC:?set WAN_NIC to the WAN network card}" "${LAN_NIC:?set LAN_NIC to the LAN network card}"
  [ "$WAN_NIC" != "$LAN_NIC" ] || die "WAN_NIC and LAN_NIC are the same card"
  local backend
  backend=$("${P[@]}" info --format '{{.Host.NetworkBackend}}')
  [ "$backend" = cni ] || die "podman's network backend is $backend: host-device needs cni" \
    "(network_backend = \"cni\" in [network] of containers.conf)"
  "${P[@]}" image exists "$IMAGE" \
    || die "no image $IMAGE in podman's store: ENGINE=podman IMAGES=router compose/build-images.sh $TAG"
  [ -f "$CONFIG" ] || die "no $CONFIG"
  [ -d "$SECRETS" ] || die "no $SECRETS"
  if exists; then
    echo "podman.sh: $NAME exists; starting it"
    "${P[@]}" start "$NAME" >/dev/null
    return
  fi
  for nic in "$WAN_NIC" "$LAN_NIC"; do
    [ -e "/sys/class/net/$nic" ] || die "no network card $nic on this host"
  done
  network wan "$WAN_NIC"
  network lan "$LAN_NIC"
  "${P[@]}" run -d --name "$NAME" \
    --restart always \
    --network "$NAME-wan:interface_name=wan0" \
    --network "$NAME-lan:interface_name=lan0" \
    -e IFACES="wan0= lan0=" \
    -v "$CONFIG:/etc/routerd/routerd.toml:ro" \
    -v "$SECRETS:/run/secrets:ro" \
    -v "$NAME-state:/var/lib/routerd" \
    --cap-add NET_ADMIN,NET_RAW \
    --device /dev/net/tun \
    --sysctl net.ipv4.ip_forward=1 \
    --sysctl net.ipv4.conf.all.forwarding=1 \
    --sysctl net.ipv6.conf.all.forwarding=1 \
    --sysctl net.ipv6.conf.all.disable_ipv6=0 \
    --sysctl net.ipv6.conf.default.disable_ipv6=0 \
    --sysctl net.ipv6.conf.default.addr_gen_mode=1 \
    --sysctl net.ipv6.conf.wan0.accept_ra=2 \
    --sysctl net.ipv6.conf.lan0.accept_ra=2 \
    --health-cmd "/usr/local/bin/routerctl status --check" \
    --health-interval 10s --health-timeout 3s --health-retries 3 --health-start-period 60s \
    "$IMAGE" >/dev/null
  echo "podman.sh: $NAME runs with $WAN_NIC as wan0 and $LAN_NIC as lan0"
}

down() {
  if exists; then
    "${P[@]}" stop -t 15 "$NAME" >/dev/null
    "${P[@]}" rm "$NAME" >/dev/null
  fi
  rm -f "$CNI_CONFIG_DIR/$NAME-wan.conflist" "$CNI_CONFIG_DIR/$NAME-lan.conflist"
  if [ "${1:-}" = -v ]; then
    "${P[@]}" volume rm -f "$NAME-state" >/dev/null 2>&1 || true
  fi
}

cmd="${1:-up}"
[ $# -eq 0 ] || shift
case "$cmd" in
up) up ;;
down) down "$@" ;;
stop) "${P[@]}" stop -t 15 "$NAME" ;;
start) "${P[@]}" start "$NAME" ;;
status)
  "${P[@]}" ps -a --filter "name=^$NAME\$"
  "${P[@]}" exec "$NAME" routerctl status
  "${P[@]}" healthcheck run "$NAME" && echo "podman.sh: healthy"
  ;;
logs) "${P[@]}" logs "$@" "$NAME" ;;
exec) "${P[@]}" exec "$NAME" "$@" ;;
*) die "up | down [-v] | stop | start | status | logs [-f] | exec CMD..." ;;
esac

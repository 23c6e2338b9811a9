# routerd's container: names the Docker-attached interfaces as routerd's config expects,
# found by the subnet Docker numbered each from: IFACES="wan0=10.66.6. lan0=192.168.77."
# (name=prefix pairs; WAN_NET/LAN_NET name wan0/lan0 when IFACES is unset). An interface that
# already has its name (a NIC moved in whole, e.g. by podman's CNI host-device plugin with
# interface_name=wan0) is kept as it is: then the prefix may be empty ("wan0= lan0="). Drops
# Docker's addresses and default route (routerd numbers and routes everything itself), then
# runs routerd in the foreground.
set -eu
pick() { ip -o -4 addr show | awk -v p="$1" 'index($4, p) == 1 { print $2; exit }'; }
rename() {
  if ip link show dev "$2" >/dev/null 2>&1; then
    ip link set "$2" up
    echo "entrypoint: $2 is here by name"
    return
  fi
  ifc=""
  [ -z "$1" ] || ifc=$(pick "$1")
  [ -n "$ifc" ] || { echo "entrypoint: no interface $2${1:+ nor one in $1*}" >&2; ip -o addr show >&2; exit 1; }
  ip link set "$ifc" down
  ip link set "$ifc" name "$2"
  ip addr flush dev "$2"
  ip link set "$2" up
  echo "entrypoint: $ifc ($1*) is $2"
}
IFACES="${IFACES:-wan0=${WAN_NET:-} lan0=${LAN_NET:-}}"
for pair in $IFACES; do
  rename "${pair#*=}" "${pair%%=*}"
done
ip route del default 2>/dev/null || true
mkdir -p /run/routerd /var/lib/routerd /tmp
exec /usr/local/bin/routerd run --config /etc/routerd/routerd.toml

# routerd's container: names the Docker-attached interfaces wan0/lan0 (found by the subnets
# Docker numbered them from, $WAN_NET and $LAN_NET), drops Docker's addresses and default
# route (routerd numbers the LAN and routes via PPPoE), then runs routerd in the foreground.
set -eu
pick() { ip -o -4 addr show | awk -v p="$1" 'index($4, p) == 1 { print $2; exit }'; }
rename() {
  ifc=$(pick "$1")
  [ -n "$ifc" ] || { echo "entrypoint: no interface in $1" >&2; ip -o addr show >&2; exit 1; }
  ip link set "$ifc" down
  ip link set "$ifc" name "$2"
  ip addr flush dev "$2"
  ip link set "$2" up
  echo "entrypoint: $ifc ($1*) is $2"
}
rename "$WAN_NET" wan0
rename "$LAN_NET" lan0
ip route del default 2>/dev/null || true
mkdir -p /run/routerd /var/lib/routerd /tmp
exec /usr/local/bin/routerd run --config /etc/routerd/routerd.toml

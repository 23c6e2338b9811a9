# The demo's window onto the LAN from the host: a statically numbered LAN host (like a
# printer: VIEW_ADDR, outside routerd's pool) that relays TCP port VIEW_PORT to the same port
# of the router (VIEW_TO), one busybox nc per connection. It keeps the address Docker gave it,
# so that a port Docker publishes on the host's 127.0.0.1 reaches it; routerd itself listens
# only on its LAN addresses, as it would on a real box.
set -eu
VIEW_ADDR="${VIEW_ADDR:-192.168.1.2/24}"
VIEW_TO="${VIEW_TO:-192.168.1.1}"
VIEW_PORT="${VIEW_PORT:-8080}"
ip addr add "$VIEW_ADDR" dev eth0
ip route del default 2>/dev/null || true
echo "forward: ${VIEW_ADDR%/*} relays :$VIEW_PORT to $VIEW_TO:$VIEW_PORT"
exec nc -ll -p "$VIEW_PORT" -e nc "$VIEW_TO" "$VIEW_PORT"

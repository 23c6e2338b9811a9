# The ISP's container: ispemu on its access network (renamed wan0, found by $WAN_NET).
# The stand-in internet is either on its loopback (the demo: a web server on 203.0.113.10,
# busybox httpd, and the DNS server IPCP hands out, 203.0.113.53, dnsmasq, which knows
# www.example.test; 2001:db8:ffff::10 answers pings), or, with $UPSTREAM_NET set, the
# `upstream` container on that network (renamed up0), which this ISP routes to.
set -eu
rename() {
  ifc=$(ip -o -4 addr show | awk -v p="$1" 'index($4, p) == 1 { print $2; exit }')
  [ -n "$ifc" ] || { echo "entrypoint: no interface in $1" >&2; exit 1; }
  ip link set "$ifc" down
  ip link set "$ifc" name "$2"
  ip addr flush dev "$2"
  ip link set "$2" up
}
rename "$WAN_NET" wan0
# The IPTV VLAN, when this ISP emulates one (ispemu's [iptv] numbers it).
[ -n "${IPTV_NET:-}" ] && rename "$IPTV_NET" tv0
ip route del default 2>/dev/null || true
mkdir -p /run/ispemu /www /tmp /etc
echo "root:x:0:0:root:/:/bin/sh" > /etc/passwd
echo "root:x:0:" > /etc/group
if [ -n "${UPSTREAM_NET:-}" ]; then
  rename "$UPSTREAM_NET" up0
  ip addr add 203.0.113.1/24 dev up0
  ip addr add 2001:db8:ffff::1/64 dev up0
else
  ip addr add 203.0.113.10/32 dev lo
  ip addr add 203.0.113.53/32 dev lo
  ip addr add 2001:db8:ffff::10/128 dev lo
  echo "hello from the stand-in internet (203.0.113.10)" > /www/index.html
  httpd -p 203.0.113.10:80 -h /www
  dnsmasq --user=root --no-resolv --no-hosts --bind-interfaces --listen-address=203.0.113.53 \
    --address=/www.example.test/203.0.113.10 --pid-file= --log-facility=-
fi
exec /usr/local/bin/ispemu --config /etc/ispemu/ispemu.toml

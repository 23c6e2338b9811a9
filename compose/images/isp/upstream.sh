# The stand-in internet as a container of its own (compose/kpn): on the ISP's upstream network
# (renamed up0, found by $UPSTREAM_NET) it holds 203.0.113.10 (busybox httpd) and
# 203.0.113.53 (dnsmasq: www.example.test), 2001:db8:ffff::10, and routes via the ISP.
set -eu
ifc=$(ip -o -4 addr show | awk -v p="$UPSTREAM_NET" 'index($4, p) == 1 { print $2; exit }')
[ -n "$ifc" ] || { echo "upstream: no interface in $UPSTREAM_NET" >&2; exit 1; }
ip link set "$ifc" down
ip link set "$ifc" name up0
ip addr flush dev up0
ip link set up0 up
ip route del default 2>/dev/null || true
ip addr add 203.0.113.10/24 dev up0
ip addr add 203.0.113.53/24 dev up0
ip addr add 2001:db8:ffff::10/64 dev up0
ip route add default via 203.0.113.1
ip -6 route add default via 2001:db8:ffff::1
mkdir -p /www /tmp /etc
echo "root:x:0:0:root:/:/bin/sh" > /etc/passwd
echo "root:x:0:" > /etc/group
echo "hello from the stand-in internet (203.0.113.10)" > /www/index.html
httpd -p 203.0.113.10:80 -h /www
exec dnsmasq -k --user=root --no-resolv --no-hosts --bind-interfaces --listen-address=203.0.113.53 \
  --address=/www.example.test/203.0.113.10 --pid-file= --log-facility=-

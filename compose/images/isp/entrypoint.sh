# The ISP's container: ispemu on the WAN network (renamed wan0, found by $WAN_NET), and the
# stand-in internet on its loopback: a web server on 203.0.113.10 (busybox httpd) and the
# DNS server IPCP hands out, 203.0.113.53 (dnsmasq), which knows www.example.test.
set -eu
ifc=$(ip -o -4 addr show | awk -v p="$WAN_NET" 'index($4, p) == 1 { print $2; exit }')
[ -n "$ifc" ] || { echo "entrypoint: no interface in $WAN_NET" >&2; exit 1; }
ip link set "$ifc" down
ip link set "$ifc" name wan0
ip addr flush dev wan0
ip link set wan0 up
ip addr add 203.0.113.10/32 dev lo
ip addr add 203.0.113.53/32 dev lo
mkdir -p /run/ispemu /www /tmp /etc
echo "root:x:0:0:root:/:/bin/sh" > /etc/passwd
echo "root:x:0:" > /etc/group
echo "hello from the stand-in internet (203.0.113.10)" > /www/index.html
httpd -p 203.0.113.10:80 -h /www
dnsmasq --user=root --no-resolv --no-hosts --bind-interfaces --listen-address=203.0.113.53 \
  --address=/www.example.test/203.0.113.10 --pid-file= --log-facility=-
exec /usr/local/bin/ispemu --config /etc/ispemu/ispemu.toml

# The LAN client: drops the address Docker gave it and asks routerd for one by DHCP
# (busybox udhcpc, in the foreground, renewing; /udhcpc.sh configures what it got).
set -eu
ip addr flush dev eth0
ip route flush dev eth0 2>/dev/null || true
mkdir -p /etc /tmp
exec udhcpc -f -i eth0 -s /udhcpc.sh -x hostname:client -T 2 -A 2

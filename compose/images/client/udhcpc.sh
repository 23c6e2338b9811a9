#!/bin/sh
# udhcpc's script: the lease onto eth0, the default route, /etc/resolv.conf, /tmp/lease.
case "$1" in
deconfig) ip addr flush dev "$interface" ;;
bound|renew)
  [ "$1" = bound ] && ip addr flush dev "$interface"
  ip addr add "$ip/$mask" dev "$interface" 2>/dev/null || true
  for r in $router; do ip route replace default via "$r" dev "$interface"; done
  : > /etc/resolv.conf
  [ -n "${domain:-}" ] && echo "search $domain" >> /etc/resolv.conf
  for d in $dns; do echo "nameserver $d" >> /etc/resolv.conf; done
  echo "ip=$ip router=$router dns=$dns domain=${domain:-}" > /tmp/lease
  echo "udhcpc.sh: $1 $ip/$mask router $router dns $dns"
  ;;
esac

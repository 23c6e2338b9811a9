#!/usr/bin/env bash
# The split deployment (compose/kpn): brings it up, waits for the three routers to be healthy
# and shows what works; or takes it down. Needs the images of compose/build-images.sh.
#
#   compose/kpn.sh up | down | status
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
export TAG="${TAG:-demo}"
DC=(docker-compose -p routerd-kpn -f "$HERE/kpn/docker-compose.yml")

healthy() {
  local id st
  id=$("${DC[@]}" ps -q "$1")
  st=$(docker inspect -f '{{.State.Health.Status}}' "$id" 2>/dev/null || true)
  [ "$st" = healthy ]
}

case "${1:-up}" in
up)
  start=$(date +%s.%N)
  "${DC[@]}" up -d
  echo "kpn: waiting for ingress, gateway and cluster-router to be healthy..."
  for _ in $(seq 1 180); do
    healthy ingress && healthy gateway && healthy cluster-router && break
    sleep 0.5
  done
  for s in ingress gateway cluster-router; do
    healthy "$s" || { echo "kpn: $s is not healthy; its log:" >&2; "${DC[@]}" logs --tail 50 "$s" >&2; exit 1; }
  done
  for _ in $(seq 1 60); do
    "${DC[@]}" exec -T client-home test -s /tmp/lease && break
    sleep 0.5
  done
  up=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
  echo
  echo "== the ingress: the PPPoE line and the ISP's /48"
  "${DC[@]}" exec -T ingress routerctl wan
  "${DC[@]}" exec -T ingress routerctl prefixes
  echo "== the gateway: the prefix it got from the ingress, its LANs and leases"
  "${DC[@]}" exec -T gateway routerctl prefixes
  "${DC[@]}" exec -T gateway routerctl leases
  echo "== the cluster's downstream router: its /60 from the gateway"
  "${DC[@]}" exec -T cluster-router routerctl prefixes
  echo
  echo "== client-home: its lease and addresses, a name, the stand-in internet over IPv4 and IPv6"
  "${DC[@]}" exec -T client-home cat /tmp/lease
  "${DC[@]}" exec -T client-home ip addr show dev eth0
  "${DC[@]}" exec -T client-home nslookup -type=a www.example.test 192.168.1.1
  "${DC[@]}" exec -T client-home wget -q -O - http://www.example.test/
  "${DC[@]}" exec -T client-home ping -c 2 2001:db8:ffff::10
  echo
  echo "== stb-home: a channel of the ISP's television (the IPTV VLAN by DHCP on the gateway,"
  echo "   its IGMP proxy to the home LAN, ispemu's head-end sending what was joined)"
  for _ in $(seq 1 60); do
    "${DC[@]}" exec -T stb-home test -s /tmp/lease && break
    sleep 0.5
  done
  "${DC[@]}" exec -T stb-home stb --group 239.1.1.1 --seconds 3 || true
  "${DC[@]}" exec -T gateway routerctl status --json | grep -o '"igmp":{[^]]*]' || true
  echo
  echo "kpn: up in ${up}s. Look inside:"
  echo "  docker-compose -p routerd-kpn -f compose/kpn/docker-compose.yml logs -f"
  echo "  docker-compose -p routerd-kpn -f compose/kpn/docker-compose.yml exec gateway routerctl status"
  echo "  docker-compose -p routerd-kpn -f compose/kpn/docker-compose.yml exec isp-kpn ispemu ctl padt all"
  echo "Stop it: compose/kpn.sh down"
  ;;
down)
  "${DC[@]}" down -v --remove-orphans
  ;;
status)
  "${DC[@]}" ps
  ;;
*)
  echo "usage: $0 up|down|status" >&2
  exit 2
  ;;
esac

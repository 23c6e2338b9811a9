#!/usr/bin/env bash
# `make demo` / `make demo-down`: brings the demo deployment (compose/demo) up, waits for the
# router to be healthy and shows what works; or takes it down.
#
#   compose/demo.sh up | down | status
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
export TAG="${TAG:-demo}"
DC=(docker-compose -p routerd-demo -f "$HERE/demo/docker-compose.yml")

case "${1:-up}" in
up)
  start=$(date +%s.%N)
  "${DC[@]}" up -d
  echo "demo: waiting for the router to be healthy (routerctl status --check)..."
  for _ in $(seq 1 120); do
    st=$(docker inspect -f '{{.State.Health.Status}}' "$("${DC[@]}" ps -q router)" 2>/dev/null || true)
    [ "$st" = healthy ] && break
    sleep 0.5
  done
  if [ "$st" != healthy ]; then
    echo "demo: the router is not healthy ($st); its log:" >&2
    "${DC[@]}" logs --tail 50 router >&2
    exit 1
  fi
  # The client's lease (udhcpc retries every 2 s).
  for _ in $(seq 1 60); do
    "${DC[@]}" exec -T client test -s /tmp/lease && break
    sleep 0.5
  done
  up=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
  echo
  echo "== routerctl status (in the router container)"
  "${DC[@]}" exec -T router routerctl status
  echo
  echo "== the client's DHCP lease, and its addresses: IPv4 by DHCP, IPv6 by SLAAC from the"
  echo "   router's advertisement of the LAN's /64 of the delegated prefix"
  "${DC[@]}" exec -T client cat /tmp/lease
  "${DC[@]}" exec -T client ip addr show dev eth0
  echo
  echo "== from the client: a name through the router, a ping and a web page on the stand-in"
  echo "   internet, and a ping over IPv6"
  "${DC[@]}" exec -T client nslookup -type=a www.example.test 192.168.1.1
  "${DC[@]}" exec -T client ping -c 3 203.0.113.10
  "${DC[@]}" exec -T client wget -q -O - http://www.example.test/
  "${DC[@]}" exec -T client ping -c 2 2001:db8:ffff::10
  echo
  echo "== from the client: routerd's status page and Prometheus metrics on the LAN"
  echo "   (http://192.168.1.1:8080/ and /metrics; a few lines of the scrape)"
  "${DC[@]}" exec -T client wget -q -O - http://192.168.1.1:8080/metrics \
    | grep -E '^routerd_(wan_up|wan_session_uptime_seconds|dhcp_active_leases|dns_queries_total|delegated_prefix_info)' || true
  # The same page from this host: the view container (a static LAN host) relays it, and
  # Docker publishes that on 127.0.0.1 only.
  url="http://127.0.0.1:${DEMO_HTTP:-8080}/"
  for _ in $(seq 1 20); do
    curl -fs --max-time 2 -o /dev/null "${url}api/status" && break
    sleep 0.5
  done
  echo
  echo "== from this host: the status page, published on 127.0.0.1 only"
  curl -fs --max-time 5 "${url}api/status" | head -c 300 || echo "(not reachable yet)"
  echo
  echo
  echo "demo: up in ${up}s. Open the status page: $url (metrics: ${url}metrics)"
  echo "Look inside:"
  echo "  docker-compose -p routerd-demo -f compose/demo/docker-compose.yml logs -f"
  echo "  docker-compose -p routerd-demo -f compose/demo/docker-compose.yml exec router routerctl leases"
  echo "  docker-compose -p routerd-demo -f compose/demo/docker-compose.yml exec client sh"
  echo "  docker-compose -p routerd-demo -f compose/demo/docker-compose.yml exec client wget -qO- http://192.168.1.1:8080/api/status"
  echo "  docker-compose -p routerd-demo -f compose/demo/docker-compose.yml exec isp ispemu ctl sessions"
  echo "Stop it: make demo-down"
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

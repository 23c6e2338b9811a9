#!/usr/bin/env bash
# Builds the demo's images, all FROM scratch: our release binaries plus exactly the shared
# libraries `ldd` says they load, and Debian's static busybox (for the entrypoints, the LAN
# client and the stand-in internet's web server). No registry is used.
#
#   compose/build-images.sh [TAG]      (default TAG: demo; needs `cargo build --release`)
#   ENGINE=podman IMAGES=router compose/build-images.sh [TAG]    (podman's store, router only)
#
# BIN_DIR picks the binaries (default target/release; the CI test passes its own profile's).
# Images: routerd-demo-router:TAG, routerd-demo-isp:TAG, routerd-demo-client:TAG (IMAGES picks
# some: "router isp client" by default). ENGINE is docker (default) or podman (`podman build
# --network none`: no CNI network is made for the build's one RUN; podman names the images
# localhost/routerd-demo-*:TAG, and `podman run routerd-demo-router:TAG` finds them).
# Build contexts go to compose/.build/ (gitignored).
set -euo pipefail

TAG="${1:-demo}"
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
REL="${BIN_DIR:-${CARGO_TARGET_DIR:-$ROOT/target}/release}"
OUT="$HERE/.build/$TAG"
BBDIR="$HERE/.build/busybox-static"
ENGINE="${ENGINE:-docker}"
IMAGES="${IMAGES:-router isp client}"
case "$ENGINE" in
  docker) BUILD=(docker build) ;;
  podman) BUILD=(podman build --network none) ;;
  *) echo "build-images: ENGINE is docker or podman, not $ENGINE" >&2; exit 1 ;;
esac

# wants IMAGE: whether IMAGES names it.
wants() { case " $IMAGES " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
need=()
wants router && need+=(routerd routerctl)
wants isp && need+=(ispemu)
wants client && need+=(stb)
for b in "${need[@]}"; do
  [ -x "$REL/$b" ] || { echo "build-images: $REL/$b missing: run cargo build --release first" >&2; exit 1; }
done

# Debian's busybox-static, unpacked (it conflicts with the `busybox` package the tests use,
# so it is not installed on the host: only its /bin/busybox is taken).
BB="$BBDIR/bin/busybox"
if [ ! -x "$BB" ]; then
  rm -rf "$BBDIR.tmp" && mkdir -p "$BBDIR.tmp/deb"
  (cd "$BBDIR.tmp/deb" && apt-get download busybox-static >/dev/null 2>&1)
  dpkg-deb -x "$BBDIR".tmp/deb/busybox-static_*.deb "$BBDIR.tmp/root"
  rm -rf "$BBDIR" && mv "$BBDIR.tmp/root" "$BBDIR" && rm -rf "$BBDIR.tmp"
fi
case "$(ldd "$BB" 2>&1 || true)" in
  *"not a dynamic"*) ;;
  *) echo "build-images: $BB is not static" >&2; exit 1 ;;
esac

# copy BINARY DEST_DIR CTX: the binary into CTX/DEST_DIR and its libraries at their paths.
copy() {
  local bin="$1" dest="$2" ctx="$3"
  mkdir -p "$ctx$dest"
  cp "$bin" "$ctx$dest/"
  ldd "$bin" | awk '/=> \//{print $3} /^\t\//{print $1}' | while read -r lib; do
    mkdir -p "$ctx$(dirname "$lib")"
    cp -L "$lib" "$ctx$lib"
  done
}

# context NAME: a fresh build context with busybox and the image's own files.
context() {
  local ctx="$OUT/$1"
  rm -rf "$ctx"
  mkdir -p "$ctx/bin"
  cp "$BB" "$ctx/bin/busybox"
  cp "$HERE/images/$1/"* "$ctx/"
  echo "$ctx"
}

if wants router; then
  ctx=$(context router)
  copy "$REL/routerd" /usr/local/bin "$ctx"
  copy "$REL/routerctl" /usr/local/bin "$ctx"
  strip "$ctx/usr/local/bin/"* 2>/dev/null || true
fi

if wants isp; then
  ctx=$(context isp)
  copy "$REL/ispemu" /usr/local/bin "$ctx"
  strip "$ctx/usr/local/bin/"* 2>/dev/null || true
  copy /usr/sbin/dnsmasq /usr/sbin "$ctx"
fi

if wants client; then
  ctx=$(context client)
  copy "$REL/stb" /usr/local/bin "$ctx"
  strip "$ctx/usr/local/bin/"* 2>/dev/null || true
fi

for img in $IMAGES; do
  "${BUILD[@]}" -q -t "routerd-demo-$img:$TAG" "$OUT/$img" >/dev/null 2>"$OUT/$img.build.log" \
    || { cat "$OUT/$img.build.log" >&2; exit 1; }
done
"$ENGINE" image ls --format '{{.Repository}}:{{.Tag}}  {{.Size}}' \
  | grep -E "^(localhost/)?routerd-demo-.*:$TAG " || true

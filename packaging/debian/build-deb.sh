#!/usr/bin/env bash
# Build the epindex .deb from this source tree.
# Usage: packaging/debian/build-deb.sh OUTPUT.deb
set -euo pipefail
out=$(realpath -m "${1:?usage: build-deb.sh OUTPUT.deb}")
src=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmake -S "$src" -B "$work/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_INSTALL_PREFIX=/usr -DEPINDEX_TESTS=OFF -DEPINDEX_BENCH=OFF >/dev/null
cmake --build "$work/build" -j"$(nproc)" >/dev/null
DESTDIR="$work/root" cmake --install "$work/build" >/dev/null
mkdir -p "$work/root/DEBIAN"
version=$(sed -n 's/.*EPINDEX_VERSION_STRING "\(.*\)"/\1/p' "$src/include/epindex.h")
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$(dpkg --print-architecture)/" \
  "$src/packaging/debian/control.in" >"$work/root/DEBIAN/control"
cp "$src/packaging/debian/triggers" "$work/root/DEBIAN/"
install -m 0755 "$src/packaging/debian/postinst" "$src/packaging/debian/prerm" \
  "$work/root/DEBIAN/"
dpkg-deb --root-owner-group --build "$work/root" "$out" >/dev/null
echo "built $out"

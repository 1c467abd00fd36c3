#!/usr/bin/env bash
# Build the uWebSockets peer (benches/peers/uws/main.cpp) from sources you
# fetched yourself; nothing of uWebSockets or uSockets is committed here.
#
#   UWS_DIR=/path/to/uWebSockets [USOCKETS_DIR=/path/to/uSockets] benches/peers/uws/build.sh
#
# UWS_DIR: a checkout of https://github.com/uNetworking/uWebSockets.
# USOCKETS_DIR: https://github.com/uNetworking/uSockets at the commit
# uWebSockets pins (its `uSockets` submodule); defaults to $UWS_DIR/uSockets.
# Without TLS (LIBUS_NO_SSL), epoll, zlib for permessage-deflate (apt:
# zlib1g-dev). Output: target/uws-peer.
set -euo pipefail
cd "$(dirname "$0")/../../.."
: "${UWS_DIR:?set UWS_DIR to a uWebSockets checkout}"
USOCKETS_DIR=${USOCKETS_DIR:-$UWS_DIR/uSockets}
[ -f "$UWS_DIR/src/App.h" ] || { echo "no src/App.h in $UWS_DIR" >&2; exit 1; }
[ -f "$USOCKETS_DIR/src/libusockets.h" ] || { echo "no src/libusockets.h in $USOCKETS_DIR" >&2; exit 1; }
# Say which commits these are, and whether uSockets is the pinned one.
if git -C "$UWS_DIR" rev-parse HEAD >/dev/null 2>&1; then
    pinned=$(git -C "$UWS_DIR" ls-tree HEAD uSockets | awk '{print $3}')
    have=$(git -C "$USOCKETS_DIR" rev-parse HEAD 2>/dev/null || echo unknown)
    echo "uWebSockets $(git -C "$UWS_DIR" rev-parse --short HEAD), uSockets $have (pinned: $pinned)" >&2
    [ "$have" = unknown ] || [ "$have" = "$pinned" ] || echo "warning: uSockets is not the commit uWebSockets pins" >&2
fi
out=target/uws-peer.build
rm -rf "$out" && mkdir -p "$out"
CFLAGS="-O3 -DLIBUS_NO_SSL -I$USOCKETS_DIR/src"
for f in "$USOCKETS_DIR"/src/*.c "$USOCKETS_DIR"/src/eventing/*.c "$USOCKETS_DIR"/src/crypto/*.c; do
    ${CC:-cc} $CFLAGS -c "$f" -o "$out/$(basename "$f" .c).o"
done
${CXX:-c++} -std=c++20 -O3 -DLIBUS_NO_SSL -DUWS_NO_LIBDEFLATE -I"$UWS_DIR/src" -I"$USOCKETS_DIR/src" \
    benches/peers/uws/main.cpp "$out"/*.o -lz -o target/uws-peer
echo "built target/uws-peer" >&2

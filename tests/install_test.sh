#!/usr/bin/env bash
# Installs cairn into a scratch prefix, then builds a consumer with find_package(cairn) and
# another with pkg-config, and runs both.
set -euo pipefail
BUILD=$1
SRC=$(cd "$(dirname "$0")" && pwd)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cmake --install "$BUILD" --prefix "$WORK/prefix" >/dev/null
cmake -S "$SRC/install" -B "$WORK/consumer" -DCMAKE_PREFIX_PATH="$WORK/prefix" >/dev/null
cmake --build "$WORK/consumer" >/dev/null
"$WORK/consumer/consumer" "$WORK/store-cmake"
export PKG_CONFIG_PATH="$(dirname "$(find "$WORK/prefix" -name cairn.pc)")"
# No -std here either: cairn.pc's Cflags carry it.
c++ "$SRC/install/main.cc" -o "$WORK/pc-consumer" \
    $(pkg-config --cflags --libs --static cairn-embedded-kafka cairn)
"$WORK/pc-consumer" "$WORK/store-pc"
"$WORK/prefix/bin/cairn" info "$WORK/store-pc" --format json >/dev/null
echo "install ok"

#!/usr/bin/env bash
# Regenerates the README's pictures from the demo (docs/demo-*.png).
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
cargo run --release -q -p ctscreen-cli -- demo --size "${1:-128}" --quiet --out "$out"
cp "$out/slices.png" docs/demo-slices.png
cp "$out/mip.png" docs/demo-mip.png
echo "updated docs/demo-slices.png and docs/demo-mip.png"

#!/usr/bin/env bash
# Refit the library's map from finding score to threat probability
# (crates/ctscreen/src/detect/score_map.json) on the design parcel seeds, never on
# evaluation seeds: 800 parcels scanned at 96³ (seeds 0–399 and 2000–2399), about
# 10 minutes on 2 cores. Usage: scripts/fit_score_map.sh [WORK_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
work="${1:-target/score-map}"
cargo build --release -q -p ctscreen-cli
bin="${CARGO_TARGET_DIR:-target}/release/ctscreen"
for seed in 0 2000; do
    "$bin" evaluate --parcels 400 --size 96 --seed "$seed" --quiet --out "$work/design-$seed"
done
"$bin" fit-score-map "$work/design-0/evaluation.json" "$work/design-2000/evaluation.json" \
    --out crates/ctscreen/src/detect/score_map.json

#!/usr/bin/env bash
# Recreates the seed corpus (small valid files for every target) under fuzz/corpus/.
# The corpus is not committed; run this before fuzzing.
#   fuzz/make_corpus.sh [DIR]
set -euo pipefail
cd "$(dirname "$0")"
out=${1:-corpus}
cargo run --quiet --no-default-features --bin make_corpus -- "$out"

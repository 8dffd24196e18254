#!/usr/bin/env bash
# Fast edit-test loop for the Python package without installing it: builds the
# extension with the (optimised) dev profile, shared with `cargo test`, and drops it
# into python/ctscreen/ so that `PYTHONPATH=python pytest python/tests` uses it.
#   PYO3_PYTHON=/path/to/venv/bin/python ./scripts/dev-python.sh
set -euo pipefail
cd "$(dirname "$0")/.."
target=${CARGO_TARGET_DIR:-target}
cargo build -p ctscreen-py --quiet
cp "$target/debug/lib_ctscreen.so" python/ctscreen/_ctscreen.abi3.so

#!/usr/bin/env bash
# The project's test command: sets up a virtualenv with the test-only Python packages,
# builds the extension with maturin, then runs the Rust tests (unit, integration, doc)
# and pytest (Python tests and the example notebooks).
#
#   ./scripts/test.sh            # everything
#   CTSCREEN_VENV=/path ./scripts/test.sh   # reuse another virtualenv
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
venv=${CTSCREEN_VENV:-$root/.venv}

step() { printf '\n==> %s\n' "$*"; }

step "virtualenv $venv"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
# shellcheck disable=SC1091
. "$venv/bin/activate"
python -m pip install -q --upgrade pip
python -m pip install -q maturin -r python/requirements-test.txt

step "cargo fmt --check"
cargo fmt --all --check
if [ "${CTSCREEN_LINT:-0}" = 1 ]; then
  step "cargo clippy (CTSCREEN_LINT=1)"
  cargo clippy --workspace --all-targets --quiet -- -D warnings
fi

step "maturin develop --release"
(cd python && maturin develop --release --quiet)

step "cargo test --workspace"
cargo test --workspace

step "pytest"
# pytest exits 5 when it collects no test: with `set -e` that fails the run.
python -m pytest -q python/tests examples --nbmake -p no:cacheprovider

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
python -m pip install -q --retries 10 --timeout 60 --upgrade pip
# The test-only packages are large (astra-toolbox pulls ~300 MB of CUDA runtime wheels) and a
# dropped connection is the commonest failure of a fresh run: resume partial downloads many times,
# and start the whole install over a few times before giving up.
pip_install() {
  python -m pip install -q --retries 10 --timeout 60 --resume-retries 50 "$@"
}
for attempt in 1 2 3; do
  if pip_install maturin -r python/requirements-test.txt; then
    break
  elif [ "$attempt" = 3 ]; then
    echo "pip install failed three times; see the messages above" >&2
    exit 1
  fi
  echo "pip install failed (attempt $attempt of 3); retrying in 20 s" >&2
  sleep 20
done

step "cargo fmt --check"
cargo fmt --all --check
if [ "${CTSCREEN_LINT:-0}" = 1 ]; then
  step "cargo clippy (CTSCREEN_LINT=1)"
  cargo clippy --workspace --all-targets --quiet -- -D warnings
  step "cargo doc (CTSCREEN_LINT=1)"
  RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --workspace --quiet
fi

step "maturin develop --release"
(cd python && maturin develop --release --quiet)

step "cargo test --workspace"
cargo test --workspace

step "pytest"
# pytest exits 5 when it collects no test: with `set -e` that fails the run.
python -m pytest -q python/tests examples --nbmake -p no:cacheprovider

step "side-by-side peer runs, quick (agreement with the peers only; figures: benches/peers/run.py)"
python benches/peers/run.py --quick

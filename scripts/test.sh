#!/usr/bin/env bash
# The whole test suite, on a fresh machine: setup, formatting, lints, every Rust test, then the
# Python package's tests (the extension built once, reusing target/).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh

cargo fmt --all -- --check
cargo clippy --release --all-targets -- -D warnings
cargo test --release --all-targets
bash scripts/test_python.sh

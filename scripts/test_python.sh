#!/usr/bin/env bash
# The Python package's tests: a virtual environment in target/python-venv with maturin,
# pytest, datasets and Ray from PyPI (kept between runs), the extension built once into it
# (maturin develop, reusing target/), then pytest. Needs target/release/spanscope (the CLI
# the tests compare against): scripts/test.sh builds it first.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=target/python-venv
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv" || { apt_pkg="python3-venv"; echo "setup: need $apt_pkg" >&2; exit 1; }
fi
if ! "$venv/bin/python" -c "import maturin, pytest, datasets, ray.data" 2>/dev/null; then
    echo "setup: installing maturin, pytest, datasets, ray into $venv" >&2
    "$venv/bin/pip" install -q "maturin>=1.5,<2" pytest datasets "ray[data]"
fi
# shellcheck disable=SC1091
source "$venv/bin/activate"
maturin develop --release -q
status=0
python -m pytest python/tests -q -p no:cacheprovider || status=$?
if [ "$status" = 5 ]; then
    echo "test_python: pytest collected no tests" >&2
    exit 1
fi
exit "$status"

"""Shared fixtures: the repository's paths, the CLI binary and its predictions on CoNLL04 dev.

The tests compare the Python package with the command line built from the same checkout
(`cargo build --release`, which ./scripts/test.sh runs first); a missing binary is an error,
not a skip.
"""

import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONLL04_DEV = ROOT.parent / "shared" / "data" / "conll04" / "conll04_dev.json"
CONLL04_TYPES = ROOT.parent / "shared" / "data" / "conll04" / "conll04_types.json"

# No test reaches the network (Hugging Face datasets would look for updates otherwise).
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def cli(*args, check=True):
    """Runs the spanscope binary of this checkout; returns the completed process."""
    binary = Path(os.environ.get("SPANSCOPE_BIN", ROOT / "target" / "release" / "spanscope"))
    if not binary.is_file():
        pytest.fail(f"{binary} is missing: run `cargo build --release` first")
    return subprocess.run(
        [str(binary), *map(str, args)], capture_output=True, text=True, check=check
    )


@pytest.fixture(scope="session")
def model():
    import spanscope

    return spanscope.Model.load(device="cpu")


@pytest.fixture(scope="session")
def dev_records():
    return json.loads(CONLL04_DEV.read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def cli_predict_text():
    """`spanscope predict` on CoNLL04 dev with the bundled model, as it prints it."""
    return cli("predict", "--input", CONLL04_DEV).stdout

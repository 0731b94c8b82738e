"""The documented Hugging Face datasets and Ray Data recipes give the CLI's predictions."""

import json
import struct
import sys
import tempfile
from pathlib import Path

from conftest import CONLL04_DEV, ROOT

sys.path.insert(0, str(ROOT / "python" / "examples"))

from datasets_predict import predict_dataset  # noqa: E402


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def as_f32(record):
    """A record with its scores as f32, the precision the model computes them in."""
    def part(items):
        return [{**item, "score": f32(item["score"])} for item in items]

    return {**record, "entities": part(record["entities"]), "relations": part(record["relations"])}


def test_datasets_map_batched_gives_the_cli_predictions(tmp_path, cli_predict_text):
    expected = json.loads(cli_predict_text)
    predicted = predict_dataset(CONLL04_DEV, batch_size=64, cache_dir=str(tmp_path), device="cpu")
    rows = predicted.to_list()
    assert len(rows) == len(expected) == 231
    # Batches of 64 are the CLI's: the scores are the same to the last bit.
    assert rows == expected

"""The documented Hugging Face datasets and Ray Data recipes give the CLI's predictions."""

import json
import struct
import sys
from pathlib import Path

from conftest import CONLL04_DEV, ROOT

sys.path.insert(0, str(ROOT / "python" / "examples"))

from datasets_predict import predict_dataset  # noqa: E402
from ray_predict import predict_with_ray  # noqa: E402


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def as_f32(record):
    """A record with its scores as f32, the precision the model computes them in."""
    def part(items):
        return [{**item, "score": f32(item["score"])} for item in items]

    return {**record, "entities": part(record["entities"]), "relations": part(record["relations"])}


def test_datasets_map_batched_gives_the_cli_predictions(tmp_path, cli_predict_text):
    expected = json.loads(cli_predict_text)
    predicted = predict_dataset(CONLL04_DEV, batch_size=50, cache_dir=str(tmp_path), device="cpu")
    rows = predicted.to_list()
    assert len(rows) == len(expected) == 231
    # Arrow gives every struct of a column the same fields; the scores are Python floats.
    assert rows == expected


def test_ray_two_cpu_workers_write_the_cli_predictions(tmp_path, cli_predict_text):
    import ray

    ray.init(
        num_cpus=2,
        include_dashboard=False,
        object_store_memory=200 * 1024 * 1024,
        _temp_dir=str(tmp_path / "ray"),
    )
    try:
        predict_with_ray(CONLL04_DEV, tmp_path / "out", workers=2, batch_size=32)
    finally:
        ray.shutdown()
    files = sorted(Path(tmp_path / "out").glob("*.json*"))
    assert files, "Ray wrote no output"
    rows = [json.loads(line) for f in files for line in f.read_text(encoding="utf-8").splitlines()]
    expected = json.loads(cli_predict_text)
    assert len(rows) == len(expected) == 231
    by_id = {row["orig_id"]: as_f32(row) for row in rows}
    assert [by_id[e["orig_id"]] for e in expected] == [as_f32(e) for e in expected]

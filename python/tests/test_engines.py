"""The documented Hugging Face datasets and Ray Data recipes give the CLI's predictions."""

import json
import os
import struct
import subprocess
import sys

from conftest import CONLL04_DEV, ROOT, cli

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


def test_ray_data_with_two_workers_gives_the_cli_predictions(tmp_path):
    # One sentence per pass on both sides: Ray cuts its blocks where it likes, and a
    # sentence's scores may then differ in the last bit with the padding of its batch.
    expected = json.loads(cli("predict", "--input", CONLL04_DEV, "--batch-size", 1).stdout)
    out = tmp_path / "out"
    script = ROOT / "python" / "examples" / "ray_predict.py"
    # A subprocess with a deadline: a Ray run that hangs fails the test instead.
    done = subprocess.run(
        [sys.executable, str(script), str(CONLL04_DEV), str(out), "--workers", "2",
         "--batch-size", "32", "--model-batch-size", "1", "--local-cpus", "4"],
        capture_output=True, text=True, timeout=600,
        env={**os.environ, "RAY_ADDRESS": "", "RAY_DEDUP_LOGS": "0"},
    )
    assert done.returncode == 0, done.stderr[-4000:]
    assert "ActorPoolMapOperator[MapBatches(SpanscopePredictor)]" in done.stderr + done.stdout
    rows = [json.loads(line) for path in sorted(out.glob("*.json"))
            for line in path.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == len(expected) == 231
    # Keys in the CLI's order; scores come back as f64 holding the f32 the model computed.
    assert all(list(row) == list(record) for row, record in zip(rows, expected))
    by_id = sorted((as_f32(r) for r in rows), key=lambda r: r["orig_id"])
    assert by_id == sorted((as_f32(r) for r in expected), key=lambda r: r["orig_id"])

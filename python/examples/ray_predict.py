"""Predict SpERT files with Ray Data: one model per worker, JSON Lines out (docs/SCALE.md).

    python python/examples/ray_predict.py INPUT.json OUTPUT_DIR [WORKERS] [GPUS_PER_WORKER]

On a cluster, `ray.init()` joins it (`RAY_ADDRESS`); here it starts a local one.
"""

import sys

import ray

from spanscope import SpanscopePredictor


def predict_with_ray(source, output_dir, workers=2, gpus_per_worker=0, batch_size=64):
    """Writes `source`'s sentences with the model's predictions as JSONL files in
    `output_dir`, predicted by `workers` stateful workers (each loads the model once)."""
    dataset = ray.data.read_json(str(source))
    predicted = dataset.map_batches(
        SpanscopePredictor,
        fn_constructor_kwargs={"device": "cuda" if gpus_per_worker else "cpu"},
        concurrency=workers,
        num_cpus=0 if gpus_per_worker else 1,
        num_gpus=gpus_per_worker,
        batch_size=batch_size,
    )
    # pandas writes 10 significant digits by default; 15 keeps every f32 score exactly.
    predicted.write_json(str(output_dir), double_precision=15, force_ascii=False)


if __name__ == "__main__":
    args = sys.argv[1:]
    ray.init()
    predict_with_ray(
        args[0],
        args[1],
        workers=int(args[2]) if len(args) > 2 else 2,
        gpus_per_worker=float(args[3]) if len(args) > 3 else 0,
    )

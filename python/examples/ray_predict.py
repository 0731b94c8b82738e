"""Predict a SpERT corpus with Ray Data: one model per worker, JSON Lines out (docs/SCALE.md).

    python python/examples/ray_predict.py INPUT OUTPUT_DIR [--workers 2] [--gpus-per-worker 1]
        [--batch-size 256] [--model-batch-size 64] [--model DIR] [--local-cpus N]

INPUT is SpERT JSON Lines (read in parallel) or a SpERT JSON array (read whole), a file or a
folder. On a cluster, `ray.init()` joins it (`RAY_ADDRESS`); otherwise it starts a local one
(`--local-cpus` logical CPUs: each CPU worker takes one, and reading and writing need one).
"""

import argparse
import os
import sys

import ray

from spanscope import SpanscopePredictor


def predict_with_ray(
    source,
    output_dir,
    workers=2,
    gpus_per_worker=0,
    batch_size=256,
    model_batch_size=8,
    model=None,
):
    """Writes `source`'s records with the model's predictions as JSON Lines files in
    `output_dir`, predicted by `workers` stateful workers (each loads the model once).
    `batch_size` rows go to a worker at a time; `model_batch_size` sentences share a pass."""
    dataset = ray.data.read_json(str(source))
    predicted = dataset.map_batches(
        SpanscopePredictor,
        fn_constructor_kwargs={
            "model": model,
            "device": "cuda" if gpus_per_worker else "cpu",
            "batch_size": model_batch_size,
        },
        compute=ray.data.ActorPoolStrategy(size=workers),
        num_cpus=0 if gpus_per_worker else 1,
        num_gpus=gpus_per_worker,
        batch_size=batch_size,
    )
    # pandas writes 10 significant digits by default; 15 keep every f32 score exactly.
    predicted.write_json(str(output_dir), double_precision=15, force_ascii=False)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("input")
    parser.add_argument("output_dir")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--gpus-per-worker", type=float, default=0)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--model-batch-size", type=int, default=8)
    parser.add_argument("--model", default=None, help="a checkpoint (default: the bundled one)")
    parser.add_argument("--local-cpus", type=int, default=None)
    args = parser.parse_args()
    local = not os.environ.get("RAY_ADDRESS")
    ray.init(num_cpus=args.local_cpus if local else None, include_dashboard=False)
    cpus = int(ray.cluster_resources().get("CPU", 0))
    if local and not args.gpus_per_worker and args.workers >= cpus:
        # Ray would wait forever: the workers hold every CPU and reading needs one more.
        sys.exit(
            f"{args.workers} CPU workers need at least {args.workers + 1} CPUs (reading and "
            f"writing take one) and this local cluster has {cpus}: give --workers "
            f"{max(cpus - 1, 1)} or --local-cpus {args.workers + 1}"
        )
    predict_with_ray(
        args.input,
        args.output_dir,
        workers=args.workers,
        gpus_per_worker=args.gpus_per_worker,
        batch_size=args.batch_size,
        model_batch_size=args.model_batch_size,
        model=args.model,
    )


if __name__ == "__main__":
    main()

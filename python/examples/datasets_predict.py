"""Predict a SpERT dataset with Hugging Face `datasets` and spanscope.

    python python/examples/datasets_predict.py ../shared/data/conll04/conll04_dev.json out.jsonl

`Dataset.map(batched=True)` hands the predictor columns (`{"tokens": [[...], ...], ...}`);
it returns them with the model's `entities` and `relations` in place of the gold ones.
"""

import sys

from datasets import load_dataset

import spanscope


def predict_dataset(path, batch_size=64, cache_dir=None, device="auto"):
    """The dataset at `path` (SpERT .json or .jsonl) with the model's predictions."""
    dataset = load_dataset("json", data_files=str(path), split="train", cache_dir=cache_dir)
    predictor = spanscope.SpanscopePredictor(device=device)
    # The model is not picklable, so datasets cannot fingerprint the predictor: no cache.
    return dataset.map(predictor, batched=True, batch_size=batch_size, load_from_cache_file=False)


if __name__ == "__main__":
    source, target = sys.argv[1:3]
    predict_dataset(source).to_json(target, lines=True, force_ascii=False)

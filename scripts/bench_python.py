"""Python beside the CLI: sentences/s of `Model.predict` and of `spanscope predict` on the
same data, device and batch size (docs/BENCHMARKS.md, issue 23).

    python scripts/bench_python.py [--input F] [--repeat 4] [--batch-size 8 64] [--device cpu]
                                   [--runs 3] [--bin target/release/spanscope]

Both sides are timed from JSON Lines on disk to JSON Lines on disk with the model already
loaded: the CLI's own rate (its summary line: reading, predicting and writing, model load
excluded), and in Python `json.loads` of each line, `predict`, `json.dumps` of each result.
`predict` alone is reported too. Runs alternate between the two; the median is reported.
Needs the package installed (scripts/test_python.sh builds it into target/python-venv).
"""

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import spanscope

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_INPUT = ROOT.parent / "shared" / "data" / "conll04" / "conll04_dev.json"


def cli_rate(binary, source, target, batch_size, device):
    done = subprocess.run(
        [str(binary), "--device", device, "predict", "--input", str(source), "--output",
         str(target), "--batch-size", str(batch_size)],
        capture_output=True, text=True, check=True,
    )
    found = re.search(r"predicted in [0-9.]+ s, ([0-9]+)/s\)", done.stderr)
    if not found:
        sys.exit(f"no rate in the CLI's output:\n{done.stderr}")
    return float(found.group(1))


def python_rates(model, source, target, batch_size):
    started = time.perf_counter()
    with open(source, encoding="utf-8") as lines:
        records = [json.loads(line) for line in lines]
    predict_started = time.perf_counter()
    predicted = model.predict(records, batch_size=batch_size)
    predict_seconds = time.perf_counter() - predict_started
    with open(target, "w", encoding="utf-8") as out:
        for record in predicted:
            out.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")))
            out.write("\n")
    seconds = time.perf_counter() - started
    return len(records) / seconds, len(records) / predict_seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--input", type=Path, default=DEFAULT_INPUT)
    parser.add_argument("--repeat", type=int, default=4)
    parser.add_argument("--batch-size", type=int, nargs="+", default=[8, 64])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--bin", type=Path, default=ROOT / "target" / "release" / "spanscope")
    args = parser.parse_args()

    records = json.loads(args.input.read_text(encoding="utf-8"))
    model = spanscope.Model.load(device=args.device)
    print(f"{model!r}; {len(records)} sentences x {args.repeat}; {args.runs} runs, median")
    print("| batch | CLI predict (/s) | Python, file to file (/s) | Python predict() alone (/s) | Python / CLI |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "input.jsonl"
        with open(source, "w", encoding="utf-8") as out:
            for _ in range(args.repeat):
                for record in records:
                    out.write(json.dumps(record, ensure_ascii=False) + "\n")
        for batch_size in args.batch_size:
            cli, whole, alone = [], [], []
            for _ in range(args.runs):
                cli.append(cli_rate(args.bin, source, Path(tmp) / "cli.jsonl", batch_size,
                                    args.device))
                rate, predict_rate = python_rates(model, source, Path(tmp) / "py.jsonl",
                                                  batch_size)
                whole.append(rate)
                alone.append(predict_rate)
            c, w, a = (statistics.median(v) for v in (cli, whole, alone))
            print(f"| {batch_size} | {c:.0f} | {w:.0f} | {a:.0f} | {w / c:.2f} |")
            # The two outputs hold the same predictions (the CLI writes the same compact JSON).
            same = (Path(tmp) / "cli.jsonl").read_text(encoding="utf-8") == (
                Path(tmp) / "py.jsonl").read_text(encoding="utf-8")
            if not same:
                print(f"  note: batch {batch_size}: the outputs differ", file=sys.stderr)


if __name__ == "__main__":
    main()

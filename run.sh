#!/usr/bin/env bash
# The main job on a fresh machine: install what is missing, build, and open the review
# workbench on the sample documents with the bundled model. Extra arguments are passed to
# `spanscope` instead. Without a terminal (a pipe, CI), it runs the command-line tour instead.
set -euo pipefail
cd "$(dirname "$0")"
source scripts/setup.sh
# On a machine with an NVIDIA GPU (its driver answers) and the CUDA compiler, build the CUDA
# binary: --device auto (the default) then runs the model on the first GPU.
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1 \
    && command -v nvcc >/dev/null 2>&1; then
    echo "(an NVIDIA GPU and nvcc are here: building with --features cuda, the model runs on the GPU)"
    CARGO_TARGET_DIR=target-cuda cargo build --release --features cuda
    bin=target-cuda/release/spanscope
else
    if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
        echo "(an NVIDIA GPU is here but no nvcc: building for the CPU; install the CUDA toolkit for the GPU)"
    fi
    cargo build --release
    bin=target/release/spanscope
fi

if [ $# -gt 0 ]; then
    exec "$bin" "$@"
fi
if [ -t 0 ] && [ -t 1 ]; then
    exec "$bin"
fi
echo "(no terminal: the command-line tour instead of the workbench)"

echo "== validate the sample documents"
docs=$(ls sample_docs/gold/*.json)
# shellcheck disable=SC2086
"$bin" validate $docs --types sample_docs/types.json

echo
echo "== why is \"Baltic Span Works\" a span? the bundled model's attention contribution, every layer and head"
"$bin" heads \
    --text "Marta Kowalczyk, the chief engineer of Baltic Span Works, said on Tuesday that the new harbour bridge in Gdansk would open in May." \
    --span 7:10

echo
echo "== predict the sample documents with the bundled model (models/conll04-aspert-minilm)"
out="${TMPDIR:-/tmp}/spanscope-sample-predictions"
mkdir -p "$out"
for doc in sample_docs/*.txt; do
    name="$(basename "$doc" .txt)"
    "$bin" predict --input "$doc" --output "$out/$name.json"
done
# A readable view of one of them: entities [type] and relations head -> tail.
python3 - "$out/observatory.json" <<'PY'
import json, sys
for s in json.load(open(sys.argv[1])):
    t, ents = s["tokens"], s["entities"]
    span = lambda e: " ".join(t[e["start"]:e["end"]])
    print(" ".join(t))
    for e in ents:
        print(f"   {e['type']:<6} {span(e)}  ({e['score']:.2f})")
    for r in s["relations"]:
        print(f"   {span(ents[r['head']])} -> {span(ents[r['tail']])}  [{r['type']}]")
PY

echo
echo "== the bundled model against the annotations we wrote for the sample documents"
for doc in $docs; do
    "$bin" eval --dataset "$doc" --json | python3 -c "
import json, sys
e = json.load(sys.stdin)
print(f\"{sys.argv[1]:<40} entities F1 {e['entities']['micro']['f1']:6.2f}   relations F1 {e['relations_strict']['micro']['f1']:6.2f}\")" "$doc"
done

echo
echo "In a terminal, ./run.sh opens the review workbench on these documents (? lists the keys)."

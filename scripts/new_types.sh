#!/usr/bin/env bash
# Teaches the bundled CoNLL04 model SciERC's types from N reviewed sentences (docs/RESULTS.md,
# "New types learnt from reviewed sentences"), for each N in SIZES: the first N sentences of
# SciERC train, marked reviewed, with a types file of CoNLL04's types followed by SciERC's.
# After each run it scores the new model on SciERC dev (the new types' F1: predictions of
# SciERC types only) and on CoNLL04 dev (the old types' F1: CoNLL04 types only, i.e. what
# was forgotten), and the bundled model on CoNLL04 dev once. One line per run on stdout and
# a JSON report per run in $OUT (or /tmp/new-types).
#
# On the GPU machine (docs/GPU.md), from the repository root, with $DEV/ carried:
#   $DEV/spanscope.xz  a CUDA build of spanscope, xz-compressed
#   $DEV/data/{scierc_train,scierc_dev,scierc_types,conll04_dev,conll04_types}.json
#   DEVICE=cuda scripts/new_types.sh
# On the CPU at a tiny size (checks the script end to end):
#   BIN=target/release/spanscope DEV=. D=../shared/data SIZES="4" EPOCHS=1 REPLAY=8 DEV_SENTENCES=8 \
#     DEVICE=cpu scripts/new_types.sh
set -euo pipefail
DEV="${DEV:-.device}"
D="${D:-$DEV/data}"
BIN="${BIN:-$DEV/spanscope.xz}"
DEVICE="${DEVICE:-cuda}"
SIZES="${SIZES:-25 50 100 200}"
EPOCHS="${EPOCHS:-5}"
REPLAY="${REPLAY:-200}"
DEV_SENTENCES="${DEV_SENTENCES:-0}"  # 0: all of each dev split
BASE="${BASE:-models/conll04-aspert-minilm}"
OUT="${OUT:-/tmp/new-types}"
mkdir -p "$OUT"
W=$(mktemp -d)
if [[ "$BIN" == *.xz ]]; then
    export LD_LIBRARY_PATH=/usr/local/cuda/lib64:/usr/lib
    xz -dc "$BIN" > "$W/spanscope" && chmod +x "$W/spanscope"
    S="$W/spanscope"
else
    S="$BIN"
fi

# The expert's types file (CoNLL04's types, then SciERC's), the reviewed documents and the
# dev splits (cut to DEV_SENTENCES when set).
python3 - "$D" "$W" "$SIZES" "$DEV_SENTENCES" <<'PY'
import json, sys
d, w, sizes, dev_n = sys.argv[1], sys.argv[2], sys.argv[3].split(), int(sys.argv[4])
conll = json.load(open(f"{d}/conll04_types.json"))
scierc = json.load(open(f"{d}/scierc_types.json"))
merged = {k: {**conll[k], **scierc[k]} for k in ("entities", "relations")}
json.dump(merged, open(f"{w}/types.json", "w"), indent=1)
train = json.load(open(f"{d}/scierc_train.json"))
for n in sizes:
    docs = [dict(s, reviewed=True) for s in train[: int(n)]]
    json.dump(docs, open(f"{w}/reviewed-{n}.json", "w"))
for split in ("scierc_dev", "conll04_dev"):
    sentences = json.load(open(f"{d}/{split}.json"))
    json.dump(sentences[:dev_n] if dev_n else sentences, open(f"{w}/{split}.json", "w"))
PY

# Scores a model's predictions of one set of types only (the other types' predictions left
# out): micro F1 of entities and strict relations.
score() { # model dataset types-file label
    "$S" --device "$DEVICE" eval --model "$1" --dataset "$2" --output-predictions "$W/p.json" \
        --json > /dev/null
    python3 - "$W/p.json" "$3" "$W/kept.json" <<'PY'
import json, sys
predicted, types = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
for s in predicted:
    keep = [i for i, e in enumerate(s["entities"]) if e["type"] in types["entities"]]
    new = {old: k for k, old in enumerate(keep)}
    s["entities"] = [s["entities"][i] for i in keep]
    s["relations"] = [dict(r, head=new[r["head"]], tail=new[r["tail"]]) for r in s["relations"]
                      if r["type"] in types["relations"] and r["head"] in new and r["tail"] in new]
json.dump(predicted, open(sys.argv[3], "w"))
PY
    "$S" eval --dataset "$2" --predictions "$W/kept.json" --types "$3" --json > "$OUT/$4.json"
    python3 -c "import json,sys; e=json.load(open('$OUT/$4.json')); print(f\"{e['entities']['micro']['f1']:.2f} / {e['relations_strict']['micro']['f1']:.2f}\")"
}

echo "bundled model, CoNLL04 dev (entities / relations F1): $(score "$BASE" "$W/conll04_dev.json" "$D/conll04_types.json" base-conll04)"
for n in $SIZES; do
    start=$(date +%s)
    "$S" --device "$DEVICE" train --continue-from "$BASE" --reviewed "$W/reviewed-$n.json" \
        --types "$W/types.json" --out "$W/versions-$n" --epochs "$EPOCHS" --replay-size "$REPLAY" \
        --held-out 0 --folds 0 --forgetting 0 --propose-after 1 --force > "$OUT/train-$n.log" 2>&1
    model="$W/versions-$n/v1"
    new=$(score "$model" "$W/scierc_dev.json" "$D/scierc_types.json" "scierc-$n")
    old=$(score "$model" "$W/conll04_dev.json" "$D/conll04_types.json" "conll04-$n")
    echo "N=$n: SciERC dev new types $new; CoNLL04 dev old types $old; $(( $(date +%s) - start )) s"
done

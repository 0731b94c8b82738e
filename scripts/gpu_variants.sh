#!/usr/bin/env bash
# On the GPU machine (docs/GPU.md), from the repository root, with .device/ carried: trains
# the variants named in VARIANTS for each seed in SEEDS (20 epochs, dev evaluation after each),
# JOBS runs at a time sharing the GPU (through MPS when it starts), and writes every run's
# training.json and a summary to $OUT. docs/RESULTS.md is made from that summary.
set -uo pipefail
VARIANTS="${VARIANTS:-aspert spert no-ac no-mlp fusion-max fusion-sum theta-0.3 theta-0.7}"
SEEDS="${SEEDS:-1 2 3}"
JOBS="${JOBS:-8}"
DEADLINE="${DEADLINE:-480}"  # seconds; runs still going then are stopped and reported as such
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:/usr/lib
[ -x /tmp/spanscope ] || { xz -dc .device/spanscope.xz > /tmp/spanscope && chmod +x /tmp/spanscope; }
D=.device/data
flags() {
    case "$1" in
        aspert) ;;
        spert) echo --variant spert ;;
        no-ac) echo --no-attention-contribution ;;
        no-mlp) echo --linear-span-classifier ;;
        fusion-max) echo --fusion max ;;
        fusion-sum) echo --fusion sum ;;
        theta-*) echo --threshold "${1#theta-}" ;;
    esac
}
if command -v nvidia-cuda-mps-control >/dev/null && nvidia-cuda-mps-control -d 2>/dev/null; then
    echo "MPS on"
fi
started=$(date +%s)
for v in $VARIANTS; do
    for s in $SEEDS; do
        while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do sleep 1; done
        # shellcheck disable=SC2046
        /tmp/spanscope --device cuda train --train $D/conll04_train.json --dev $D/conll04_dev.json \
            --types $D/conll04_types.json --encoder .device/minilm-f16 --out "/tmp/v-$v-$s" \
            --seed "$s" $(flags "$v") > "/tmp/v-$v-$s.log" 2>&1 &
    done
done
while [ -n "$(jobs -rp)" ] && [ $(( $(date +%s) - started )) -lt "$DEADLINE" ]; do sleep 2; done
[ -n "$(jobs -rp)" ] && { echo "deadline: stopping $(jobs -rp | wc -l) runs"; kill $(jobs -rp); }
wait
echo "all runs: $(( $(date +%s) - started )) s"
python3 - "$OUT" $VARIANTS -- $SEEDS <<'PY'
import json, sys, os
out = sys.argv[1]; rest = sys.argv[2:]; i = rest.index("--")
variants, seeds = rest[:i], rest[i + 1:]
summary = []
for v in variants:
    for s in seeds:
        path = f"/tmp/v-{v}-{s}/training.json"
        if not os.path.exists(path):
            print(v, s, "no report:", open(f"/tmp/v-{v}-{s}.log").read()[-500:]); continue
        r = json.load(open(path))
        e = r["epochs"]; best = next(x for x in e if x["epoch"] == r["best_epoch"])
        row = dict(variant=v, seed=int(s), finished=r["finished"], epochs_done=len(r["epochs"]),
                   best_epoch=r["best_epoch"], seconds=r["seconds"],
                   best_ent=best["dev"]["entities"]["f1"], best_rel=best["dev"]["relations_strict"]["f1"],
                   final_ent=e[-1]["dev"]["entities"]["f1"], final_rel=e[-1]["dev"]["relations_strict"]["f1"],
                   sent_per_s=[round(x["sentences_per_second"], 1) for x in e])
        summary.append(row)
        print(v, s, row["best_epoch"], round(row["best_ent"], 2), round(row["best_rel"], 2),
              round(row["final_ent"], 2), round(row["final_rel"], 2), round(r["seconds"]), "s",
              "" if r["finished"] else f"UNFINISHED after {len(e)} epochs")
tag = "-".join(variants)[:60]
json.dump(summary, open(f"{out}/variants-{tag}.json", "w"), indent=1)
PY

#!/usr/bin/env bash
# On the GPU machine (docs/GPU.md), from the repository root, with .device/ carried (the CUDA
# binary as spanscope.xz, all-MiniLM-L6-v2 as minilm-f16/, the data under data/): trains every
# configuration of the file $SPEC for each seed in SEEDS, JOBS runs at a time sharing the GPU
# (through MPS when it starts), and writes each run's training.json and a summary to $OUT.
#
# Each line of $SPEC is `NAME DATASET [train flags...]`, DATASET being conll04 or scierc (the
# files .device/data/DATASET_{train,dev,types}.json); # starts a comment. The summary gives, per
# configuration, the mean and sample standard deviation over the seeds of the final model's dev
# scores (the averaged weights with --average-last, else the last epoch): nothing is chosen on
# dev inside a configuration. With PACK=NAME, that configuration's run of the first seed is
# packed into $OUT as model.tar.partNN (15 MiB pieces; `cat model.tar.part* | tar x`); with
# PACK=auto, the CoNLL04 configuration whose finished seeds have the highest mean of entity and
# strict relation F1 (every seed must have finished) is chosen.
set -uo pipefail
SPEC="${SPEC:?a file of configurations, one per line: NAME DATASET [flags]}"
SEEDS="${SEEDS:-1 2 3}"
JOBS="${JOBS:-16}"
DEADLINE="${DEADLINE:-480}"  # seconds; runs still going then are stopped and reported as such
PACK="${PACK:-}"
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:/usr/lib
[ -x /tmp/spanscope ] || { xz -dc .device/spanscope.xz > /tmp/spanscope && chmod +x /tmp/spanscope; }
D=.device/data
if command -v nvidia-cuda-mps-control >/dev/null && nvidia-cuda-mps-control -d 2>/dev/null; then
    echo "MPS on"
fi
started=$(date +%s)
names=()
while read -r name dataset flags; do
    case "$name" in ''|'#'*) continue ;; esac
    names+=("$name")
    for s in $SEEDS; do
        while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do sleep 1; done
        # shellcheck disable=SC2086
        /tmp/spanscope --device cuda train --train "$D/${dataset}_train.json" \
            --dev "$D/${dataset}_dev.json" --types "$D/${dataset}_types.json" \
            --encoder .device/minilm-f16 --out "/tmp/s-$name-$s" --seed "$s" --half $flags \
            > "/tmp/s-$name-$s.log" 2>&1 &
    done
done < "$SPEC"
while [ -n "$(jobs -rp)" ] && [ $(( $(date +%s) - started )) -lt "$DEADLINE" ]; do sleep 2; done
[ -n "$(jobs -rp)" ] && { echo "deadline: stopping $(jobs -rp | wc -l) runs"; kill $(jobs -rp); }
wait
echo "all runs: $(( $(date +%s) - started )) s"
python3 - "$OUT" "$SPEC" "${names[@]}" -- $SEEDS <<'PY'
import json, os, statistics, sys
out, spec = sys.argv[1], sys.argv[2]
rest = sys.argv[3:]; i = rest.index("--")
names, seeds = rest[:i], rest[i + 1:]
flags = {}
for line in open(spec):
    parts = line.split(None, 2)
    if parts and not parts[0].startswith("#"):
        flags[parts[0]] = " ".join(parts[1:]).strip()
def spread(xs):
    if not xs: return "-"
    sd = statistics.stdev(xs) if len(xs) > 1 else 0.0
    return f"{statistics.mean(xs):.2f} ± {sd:.2f}"
rows = []
print("| configuration | flags | runs | entities F1 | relations strict F1 | relations boundaries F1 | relations strict per seed | seconds |")
print("|---|---|---|---|---|---|---|---|")
for n in names:
    runs = []
    for s in seeds:
        path = f"/tmp/s-{n}-{s}/training.json"
        if not os.path.exists(path):
            print(f"<!-- {n} seed {s}: no report: {open(f'/tmp/s-{n}-{s}.log').read()[-300:]!r} -->")
            continue
        r = json.load(open(path))
        final = r.get("averaged") or r["epochs"][-1]["dev"]
        runs.append(dict(config=n, seed=int(s), finished=r["finished"], seconds=r["seconds"],
                         entities=final["entities"]["f1"], strict=final["relations_strict"]["f1"],
                         boundaries=final.get("relations_boundaries", {}).get("f1"),
                         curve=[(e["epoch"], e["dev"]["entities"]["f1"], e["dev"]["relations_strict"]["f1"])
                                for e in r["epochs"] if e.get("dev")]))
    rows += runs
    ok = [x for x in runs if x["finished"]]
    print(f"| {n} | `{flags.get(n, '')}` | {len(ok)} | {spread([x['entities'] for x in ok])} | "
          f"{spread([x['strict'] for x in ok])} | {spread([x['boundaries'] for x in ok if x['boundaries'] is not None])} | "
          f"{' / '.join('%.2f' % x['strict'] for x in ok)} | {max([x['seconds'] for x in ok], default=0):.0f} |")
json.dump(rows, open(f"{out}/search-{os.path.basename(spec)}.json", "w"), indent=1)
means = {}
for n in names:
    runs = [x for x in rows if x["config"] == n]
    if runs and all(x["finished"] for x in runs) and len(runs) == len(seeds) \
            and flags.get(n, "").startswith("conll04"):
        means[n] = statistics.mean((x["entities"] + x["strict"]) / 2 for x in runs)
if means:
    best = max(means, key=means.get)
    print(f"best CoNLL04 configuration by the mean of entity and strict relation F1: {best} ({means[best]:.2f})")
    open("/tmp/search-best", "w").write(best)
PY
[ "$PACK" = auto ] && PACK=$(cat /tmp/search-best 2>/dev/null)
if [ -n "$PACK" ]; then
    first=${SEEDS%% *}
    tar -C /tmp -cf - "s-$PACK-$first" | split -b 15M -d - "$OUT/model.tar.part"
    ls -la "$OUT"
fi

#!/usr/bin/env bash
# Teaches the bundled CoNLL04 model SciERC's types from N reviewed sentences, for each N in
# SIZES, with the spanscope command line only (issue 19; docs/RESULTS.md, "New types learnt
# from reviewed sentences"). For each N:
#   - N sentences of SciERC train, every (1861 / N)-th one so that they spread over the
#     abstracts, marked reviewed;
#   - the expert's types file: CoNLL04's, grown by SciERC's with `spanscope types add`;
#   - `spanscope train --continue-from models/conll04-aspert-minilm` on them, kept whatever
#     it scores (no held-out sentences: all N are learnt, and the gate has nothing to judge);
#   - `spanscope eval` of the new model on SciERC dev, scoring SciERC's types only (what was
#     learnt), and on CoNLL04 dev, scoring CoNLL04's types only (what was forgotten).
# The first row is the bundled model itself. Prints a table; every log, model and score is
# kept in OUT.
#
# Environment (defaults in brackets):
#   SPANSCOPE  the spanscope binary [target/release/spanscope]
#   DATA       the folder with conll04/ and scierc/ [../shared/data]
#   DEVICE     cpu, cuda, cuda:N or auto [auto]
#   OUT        a new folder for the runs [/tmp/teach-new-types]
#   SIZES      reviewed sentences of each run ["25 50 100 200"]
#   EPOCHS     epochs of each run [train's default for --continue-from]
#   MODEL      the model to teach [models/conll04-aspert-minilm]
# Run from the repository root; the model is read only, nothing is downloaded.
set -euo pipefail

SPANSCOPE="${SPANSCOPE:-target/release/spanscope}"
DATA="${DATA:-../shared/data}"
DEVICE="${DEVICE:-auto}"
OUT="${OUT:-/tmp/teach-new-types}"
SIZES="${SIZES:-25 50 100 200}"
EPOCHS="${EPOCHS:-}"
MODEL="${MODEL:-models/conll04-aspert-minilm}"

if [[ -e "$OUT" ]]; then
    echo "$OUT exists: give a new OUT (runs are kept, never replaced)" >&2
    exit 1
fi
mkdir -p "$OUT"
s() { "$SPANSCOPE" --device "$DEVICE" "$@"; }

# The expert's types file: CoNLL04's types, then SciERC's (names and symmetry as in
# scierc_types.json).
cp "$DATA/conll04/conll04_types.json" "$OUT/types.json"
add() { # kind name [--symmetric]
    s types add "$OUT/types.json" "$@" >> "$OUT/types.log" 2>&1 || {
        cat "$OUT/types.log" >&2
        exit 1
    }
}
for t in Task Method Metric Material OtherScientificTerm Generic; do
    add entity "$t"
done
for t in USED-FOR FEATURE-OF HYPONYM-OF EVALUATE-FOR PART-OF; do
    add relation "$t"
done
for t in COMPARE CONJUNCTION; do
    add relation "$t" --symmetric
done

# One SciERC train sentence a line, so that a subset is a choice of lines.
s convert "$DATA/scierc/scierc_train.json" "$OUT/scierc_train.jsonl" 2> "$OUT/convert.log"
total=$(wc -l < "$OUT/scierc_train.jsonl")

# Entity and relation (strict) micro F1 of MODEL on DATASET, scoring the types of TYPES only;
# the tables are kept in OUT/NAME.txt.
score() { # model dataset types name
    s eval --model "$1" --dataset "$2" --only-types "$3" > "$OUT/$4.txt"
    # The micro rows: entities first, then relations without and with entity types.
    awk '$1 == "micro" { n++; if (n == 1) e = $4; if (n == 3) r = $4 } END { print e, r }' \
        "$OUT/$4.txt"
}

conll_dev="$DATA/conll04/conll04_dev.json"
scierc_dev="$DATA/scierc/scierc_dev.json"
conll_types="$DATA/conll04/conll04_types.json"
scierc_types="$DATA/scierc/scierc_types.json"

row() { printf '%9s | %8s %9s | %8s %9s | %-9s | %7s\n' "$@"; }
base=$(score "$MODEL" "$conll_dev" "$conll_types" conll04-dev-base)
read -r base_e base_r <<< "$base"
echo "F1 on dev: entities / relations (strict), micro; new types on SciERC, old on CoNLL04"
row "reviewed" "SciERC" "" "CoNLL04" "" "predicted" "seconds"
row "sentences" "entities" "relations" "entities" "relations" "new types" ""
row 0 "-" "-" "$base_e" "$base_r" "-" "-"
for n in $SIZES; do
    start=$(date +%s)
    step=$(( total / n > 0 ? total / n : 1 ))
    awk -v step="$step" -v n="$n" '(NR - 1) % step == 0 && kept < n { kept++; print }' \
        "$OUT/scierc_train.jsonl" | sed 's/^{/{"reviewed":true,/' > "$OUT/reviewed-$n.jsonl"
    s train --continue-from "$MODEL" --reviewed "$OUT/reviewed-$n.jsonl" \
        --types "$OUT/types.json" --out "$OUT/versions-$n" ${EPOCHS:+--epochs "$EPOCHS"} \
        --held-out 0 --folds 0 --forgetting 0 --force > "$OUT/train-$n.log" 2>&1 || {
        echo "training on $n sentences failed; see $OUT/train-$n.log:" >&2
        tail -5 "$OUT/train-$n.log" >&2
        exit 1
    }
    model=$(sed -n 's/^new model [^ ]* ([^)]*): //p' "$OUT/train-$n.log")
    new=$(score "$model" "$scierc_dev" "$scierc_types" "scierc-dev-$n")
    old=$(score "$model" "$conll_dev" "$conll_types" "conll04-dev-$n")
    read -r new_e new_r <<< "$new"
    read -r old_e old_r <<< "$old"
    predicted=$(grep -c '^new type .*: predicted$' "$OUT/train-$n.log" || true)
    row "$n" "$new_e" "$new_r" "$old_e" "$old_r" "$predicted of 13" "$(( $(date +%s) - start ))"
done

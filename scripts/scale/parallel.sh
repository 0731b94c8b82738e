#!/usr/bin/env bash
# Spread one corpus over N shards with GNU parallel, on one machine or many (--sshlogin),
# then lay the shards end to end. Rerunning after a failure continues each unfinished shard.
#   scripts/scale/parallel.sh INPUT OUT_DIR N [extra predict arguments...]
# docs/SCALE.md explains each step.
set -euo pipefail
input=$1 out=$2 n=$3
shift 3
bin=${SPANSCOPE:-spanscope}
mkdir -p "$out"
# {} is the shard index 0..N-1; --resume continues a shard's .partial, or says it is done.
seq 0 $((n - 1)) | parallel --will-cite --halt now,fail=1 \
    "$bin" predict --input "$input" --output "$out/shard-{}.jsonl" --shard "{}/$n" --resume "$@"
# Every shard has its marker before the merge: a shard without one is not finished.
for i in $(seq 0 $((n - 1))); do
    [ -e "$out/shard-$i.jsonl.done" ] || { echo "shard $i unfinished" >&2; exit 1; }
done
for i in $(seq 0 $((n - 1))); do cat "$out/shard-$i.jsonl"; done > "$out/.all.jsonl.tmp"
mv "$out/.all.jsonl.tmp" "$out/all.jsonl"
echo "$out/all.jsonl: $(wc -l < "$out/all.jsonl") sentences from $n shards"

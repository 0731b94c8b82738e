#!/usr/bin/env bash
# Lays the N shards of OUT_DIR end to end into OUT_DIR/all.jsonl, once every one is finished.
#   scripts/scale/merge.sh OUT_DIR N
set -euo pipefail
out=$1 n=$2
missing=()
for i in $(seq 0 $((n - 1))); do
    [ -e "$out/shard-$i.jsonl.done" ] || missing+=("$i")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "unfinished shards: ${missing[*]} (rerun those tasks; they resume)" >&2
    exit 1
fi
for i in $(seq 0 $((n - 1))); do cat "$out/shard-$i.jsonl"; done > "$out/.all.jsonl.tmp"
mv "$out/.all.jsonl.tmp" "$out/all.jsonl"
echo "$out/all.jsonl: $(wc -l < "$out/all.jsonl") sentences from $n shards"

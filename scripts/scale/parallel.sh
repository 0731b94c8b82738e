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
# Every shard has its marker, then they are laid end to end.
exec "$(dirname "$0")/merge.sh" "$out" "$n"

#!/usr/bin/env bash
# The main job on a fresh machine: install what is missing, build, run spanscope on the
# sample documents. Extra arguments are passed to `spanscope` instead of the demonstration.
set -euo pipefail
cd "$(dirname "$0")"
source scripts/setup.sh
cargo build --release
bin=target/release/spanscope

if [ $# -gt 0 ]; then
    exec "$bin" "$@"
fi

echo "== validate the sample documents"
docs=$(ls sample_docs/*.json | grep -v "/types.json$")
# shellcheck disable=SC2086
"$bin" validate $docs --types sample_docs/types.json

echo
echo "== why is \"Baltic Span Works\" a span? attention contribution over every layer and head"
"$bin" heads --model "$SPANSCOPE_TEST_ENCODER" \
    --text "Marta Kowalczyk, the chief engineer of Baltic Span Works, said on Tuesday that the new harbour bridge in Gdansk would open in May." \
    --span 7:10

echo
echo "== predict the sample documents"
if "$bin" predict --input sample_docs/observatory.txt --output /tmp/spanscope-observatory.json; then
    cat /tmp/spanscope-observatory.json
else
    echo "(no trained model is bundled yet: see README.md)"
fi

echo
echo "The review workbench (spanscope with no argument) is not built yet; see README.md."

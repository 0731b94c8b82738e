#!/usr/bin/env bash
# On the GPU machine (docs/GPU.md), from the repository root, with .device/ carried:
# the CUDA agreement tests, then training speed of spanscope on CoNLL04 train for
# all-MiniLM-L6-v2 (.device/minilm-f16) and a random-weight BERT-base (made here with
# transformers), EPOCHS epochs each without dev evaluation. Reports land in $OUT.
set -uo pipefail
TESTS_MUST_PASS="${TESTS_MUST_PASS:-0}"
EPOCHS="${EPOCHS:-3}"
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:/usr/lib
xz -dc .device/spanscope.xz > /tmp/spanscope && chmod +x /tmp/spanscope
D=.device/data
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
if [ -f .device/cuda-tests.xz ]; then
    xz -dc .device/cuda-tests.xz > /tmp/cuda-tests && chmod +x /tmp/cuda-tests
    SPANSCOPE_TEST_ENCODER=.device/minilm-f16 SPANSCOPE_TEST_SENTENCES=$D/conll04_dev.json \
        /tmp/cuda-tests --test-threads 1 --nocapture > /tmp/cuda-tests.log 2>&1
    rc=$?
    grep -E "^test |test result|losses|decisions|panicked" /tmp/cuda-tests.log
    if [ "$rc" != 0 ] && [ "$TESTS_MUST_PASS" = 1 ]; then tail -30 /tmp/cuda-tests.log; exit 1; fi
fi
python3 - <<'PY'
import torch, transformers
torch.manual_seed(0)
m = transformers.BertModel(transformers.BertConfig())
m.save_pretrained("/tmp/bert-base-random", safe_serialization=True)
PY
cp .device/minilm-f16/{tokenizer.json,vocab.txt,tokenizer_config.json,special_tokens_map.json} /tmp/bert-base-random/
for enc in minilm bert-base; do
    dir=.device/minilm-f16; [ "$enc" = bert-base ] && dir=/tmp/bert-base-random
    /tmp/spanscope --device cuda train --train $D/conll04_train.json --types $D/conll04_types.json \
        --encoder $dir --out /tmp/speed-$enc --epochs "$EPOCHS" --seed 1 2>&1 | grep -v '^\s*$' | tail -n "$((EPOCHS + 2))"
    cp /tmp/speed-$enc/training.json "$OUT/training-$enc.json"
done

#!/usr/bin/env bash
# On the GPU machine (docs/GPU.md), from the repository root, with $DEV/ carried:
#   1. the CUDA agreement tests (tests/cuda.rs; TESTS_MUST_PASS=1 stops here on a failure);
#   2. training speed on CoNLL04 train, EPOCHS epochs without dev evaluation, for
#      all-MiniLM-L6-v2 and a random-weight BERT-base made here with transformers;
#   3. prediction speed on CoNLL04 dev (PREDICT=1), the median of PASSES passes: the bundled
#      model, and random BERT-base with new heads classifying relations between the annotated
#      entities, with and without --tf32, and both without CUDA graphs (--no-cuda-graphs).
# MiniLM comes from $DEV/minilm-f16 when carried; otherwise the bundled model's own encoder
# weights stand in for it (speed does not depend on the values; the repository's model and a
# carried MiniLM do not fit one call together). Reports land in $OUT.
set -uo pipefail
DEV="${DEV:-.device}"  # the carried folder
BIN="${BIN:-$DEV/spanscope.xz}"  # the xz-compressed spanscope to measure
TESTS_MUST_PASS="${TESTS_MUST_PASS:-0}"
EPOCHS="${EPOCHS:-3}"
PREDICT="${PREDICT:-0}"  # TRAIN=0 skips step 2, TESTS=0 step 1
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:/usr/lib
xz -dc "$BIN" > /tmp/spanscope && chmod +x /tmp/spanscope
D=$DEV/data
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
minilm=$DEV/minilm-f16
if [ ! -f $minilm/model.safetensors ]; then
    minilm=/tmp/minilm-bundled
    mkdir -p $minilm
    cp $DEV/minilm-f16/{config.json,tokenizer_config.json,special_tokens_map.json} $minilm/
    cp models/conll04-aspert-minilm/tokenizer.json $minilm/
    ln -sf "$PWD/models/conll04-aspert-minilm/model.safetensors" $minilm/model.safetensors
    echo "MiniLM stand-in: the bundled model's encoder weights"
fi
if [ -f $DEV/cuda-tests.xz ] && [ "${TESTS:-1}" = 1 ]; then
    xz -dc $DEV/cuda-tests.xz > /tmp/cuda-tests && chmod +x /tmp/cuda-tests
    SPANSCOPE_TEST_ENCODER=$minilm SPANSCOPE_TEST_SENTENCES=$D/conll04_dev.json \
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
cp $minilm/{tokenizer.json,tokenizer_config.json,special_tokens_map.json} /tmp/bert-base-random/
for enc in minilm bert-base; do
    [ "${TRAIN:-1}" = 1 ] || break
    dir=$minilm; [ "$enc" = bert-base ] && dir=/tmp/bert-base-random
    /tmp/spanscope --device cuda train --train $D/conll04_train.json --types $D/conll04_types.json \
        --encoder $dir --out /tmp/speed-$enc --epochs "$EPOCHS" --seed 1 2>&1 | grep -v '^\s*$' | tail -n "$((EPOCHS + 2))"
    cp /tmp/speed-$enc/training.json "$OUT/training-$enc.json"
done
if [ "$PREDICT" = 1 ]; then
    # The median of PASSES passes at each batch size: a shared GPU's speed varies.
    PASSES="${PASSES:-5}"
    echo "bundled model"
    /tmp/spanscope --device cuda bench --model models/conll04-aspert-minilm \
        --input $D/conll04_dev.json --batch-sizes 1,8,32 --passes "$PASSES"
    echo "bundled model, no CUDA graphs"
    /tmp/spanscope --device cuda --no-cuda-graphs bench --model models/conll04-aspert-minilm \
        --input $D/conll04_dev.json --batch-sizes 1,8,32 --passes "$PASSES"
    echo "bundled model, every pass tokenising afresh"
    /tmp/spanscope --device cuda bench --model models/conll04-aspert-minilm \
        --input $D/conll04_dev.json --batch-sizes 1,8,32 --fresh-words --passes "$PASSES"
    echo "bundled model, relations between the annotated entities"
    /tmp/spanscope --device cuda bench --model models/conll04-aspert-minilm \
        --input $D/conll04_dev.json --batch-sizes 1,8,32 --entities annotated --passes "$PASSES"
    # New heads classify relations between the annotated entities (bench's default for them):
    # as many pairs as a trained model finds.
    for flag in "" --tf32 --no-cuda-graphs; do
        echo "random BERT-base, new heads ${flag:+($flag)}"
        /tmp/spanscope --device cuda $flag bench --random-bert-base --vocab /tmp/bert-base-random \
            --types $D/conll04_types.json --input $D/conll04_dev.json --batch-sizes 1,8,32 \
            --passes "$PASSES"
    done
    echo "random BERT-base, new heads' own entities (none found: no relation classifier)"
    /tmp/spanscope --device cuda bench --random-bert-base --vocab /tmp/bert-base-random \
        --types $D/conll04_types.json --input $D/conll04_dev.json --batch-sizes 1,8,32 \
        --passes "$PASSES" --entities predicted
fi

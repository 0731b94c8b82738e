#!/usr/bin/env python3
"""Speed of the PyTorch transformers BERT encoder (with attention outputs) on a SpERT dataset.

The baseline for `spanscope bench`: the encoder forward alone, which is the lower bound of
what a PyTorch SpERT/ASpERT spends per sentence. Runs on the GPU machine (torch, transformers,
no network).

    python3 scripts/torch_baseline.py --data conll04_dev.json --model DIR [--model bert-base-random]
        [--dtype f32|bf16|f16] [--sort]

`--sort` batches sentences by length, as `spanscope predict` does, so both pad alike.
"""
import argparse
import json
import time

import torch
from transformers import AutoTokenizer, BertConfig, BertModel


def load(spec, tokenizer_dir, device, dtype=torch.float32):
    if spec == "bert-base-random":
        torch.manual_seed(0)
        tok = AutoTokenizer.from_pretrained(tokenizer_dir)
        cfg = BertConfig(vocab_size=tok.vocab_size, attn_implementation="eager")
        model = BertModel(cfg, add_pooling_layer=False)
    else:
        tok = AutoTokenizer.from_pretrained(spec)
        model = BertModel.from_pretrained(spec, attn_implementation="eager",
                                          torch_dtype=torch.float32, add_pooling_layer=False)
    return tok, model.to(dtype).eval().to(device)


def encode(tok, sentences):
    """Word by word like SpERT: [CLS] pieces of each word [SEP]."""
    out = []
    for s in sentences:
        ids = [tok.cls_token_id]
        for w in s["tokens"]:
            ids += tok.encode(w, add_special_tokens=False) or [tok.unk_token_id]
        out.append(ids[:511] + [tok.sep_token_id])
    return out


def run(model, batches, device):
    with torch.inference_mode():
        for ids in batches:
            t = max(len(x) for x in ids)
            inp = torch.zeros(len(ids), t, dtype=torch.long)
            mask = torch.zeros(len(ids), t, dtype=torch.long)
            for i, x in enumerate(ids):
                inp[i, : len(x)] = torch.tensor(x)
                mask[i, : len(x)] = 1
            out = model(input_ids=inp.to(device), attention_mask=mask.to(device),
                        output_attentions=True)
            # what an extraction model needs on the host afterwards
            out.last_hidden_state.sum().item()
    torch.cuda.synchronize()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--model", action="append", required=True)
    ap.add_argument("--tokenizer", help="tokenizer directory for bert-base-random")
    ap.add_argument("--batch-sizes", default="1,8,32")
    ap.add_argument("--dtype", default="f32", choices=["f32", "bf16", "f16"])
    ap.add_argument("--sort", action="store_true", help="batch sentences by length")
    args = ap.parse_args()
    dtype = {"f32": torch.float32, "bf16": torch.bfloat16, "f16": torch.float16}[args.dtype]
    device = "cuda"
    sentences = json.load(open(args.data))
    for spec in args.model:
        tok, model = load(spec, args.tokenizer, device, dtype)
        ids = encode(tok, sentences)
        if args.sort:
            ids.sort(key=len)
        for bs in [int(b) for b in args.batch_sizes.split(",")]:
            batches = [ids[i : i + bs] for i in range(0, len(ids), bs)]
            run(model, batches[:4], device)  # warm-up
            start = time.perf_counter()
            run(model, batches, device)
            secs = time.perf_counter() - start
            print(json.dumps({"model": spec, "framework": "torch " + torch.__version__,
                              "dtype": args.dtype, "sorted": args.sort,
                              "batch_size": bs, "sentences": len(ids), "seconds": secs,
                              "sentences_per_second": len(ids) / secs,
                              "ms_per_sentence": 1000 * secs / len(ids)}), flush=True)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""The PyTorch peer of `spanscope bench --explain`: head importance and the single-head
ablation sweep for one span per sentence, with transformers' BERT on the GPU.

A gate multiplies each head's output where it enters the attention output projection (a
forward pre-hook on every layer's `attention.output.dense`), as spanscope's gate does; the
score is a fixed random direction against the max-pooled hidden states of the span, which
stands in for ASpERT's classifier (the encoder is nearly all the cost). Importance is
|d score / d gate| from one forward and one backward pass; the sweep masks each head alone,
one row per head, in one batched forward pass.

    python3 scripts/torch_explain.py --data conll04_dev.json --model DIR|bert-base-random \
        [--tokenizer DIR] [--limit 50] [--dtype f32|bf16]
"""
import argparse
import json
import statistics
import time

import torch
from transformers import AutoTokenizer, BertConfig, BertModel


def load(spec, tokenizer_dir, dtype):
    if spec == "bert-base-random":
        torch.manual_seed(0)
        tok = AutoTokenizer.from_pretrained(tokenizer_dir)
        model = BertModel(BertConfig(vocab_size=tok.vocab_size, attn_implementation="eager"),
                          add_pooling_layer=False)
    else:
        tok = AutoTokenizer.from_pretrained(spec)
        model = BertModel.from_pretrained(spec, attn_implementation="eager",
                                          add_pooling_layer=False)
    return tok, model.to(dtype).eval().to("cuda")


def span_of(tok, sentence):
    """[CLS] pieces [SEP] and the piece range of the first entity (else the first word)."""
    ids, ranges = [tok.cls_token_id], []
    for w in sentence["tokens"]:
        pieces = tok.encode(w, add_special_tokens=False) or [tok.unk_token_id]
        ranges.append((len(ids), len(ids) + len(pieces)))
        ids += pieces
    ids = ids[:511] + [tok.sep_token_id]
    ents = sentence.get("entities") or [{"start": 0, "end": 1}]
    e = ents[0]
    return ids, (ranges[e["start"]][0], ranges[e["end"] - 1][1])


class Gates:
    """A [B, layers, heads] gate applied through pre-hooks; `self.gate` is set per call."""

    def __init__(self, model):
        cfg = model.config
        self.layers, self.heads = cfg.num_hidden_layers, cfg.num_attention_heads
        self.d = cfg.hidden_size // self.heads
        self.gate = None
        for i, layer in enumerate(model.encoder.layer):
            layer.attention.output.dense.register_forward_pre_hook(self.hook(i))

    def hook(self, i):
        def pre(_module, args):
            x = args[0]
            b, t, h = x.shape
            g = self.gate[:, i, :].to(x.dtype).reshape(b, 1, self.heads, 1)
            return (x.reshape(b, t, self.heads, self.d).mul(g).reshape(b, t, h),)
        return pre


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--tokenizer")
    ap.add_argument("--limit", type=int, default=50)
    ap.add_argument("--dtype", default="f32", choices=["f32", "bf16"])
    args = ap.parse_args()
    dtype = {"f32": torch.float32, "bf16": torch.bfloat16}[args.dtype]
    tok, model = load(args.model, args.tokenizer, dtype)
    gates = Gates(model)
    torch.manual_seed(1)
    direction = torch.randn(model.config.hidden_size, device="cuda", dtype=dtype)
    sentences = json.load(open(args.data))[: args.limit]
    imp_ms, sweep_ms = [], []
    for n, s in enumerate(sentences):
        ids, (a, b) = span_of(tok, s)
        x = torch.tensor([ids], device="cuda")
        torch.cuda.synchronize()
        start = time.perf_counter()
        gate = torch.ones(1, gates.layers, gates.heads, device="cuda", requires_grad=True)
        gates.gate = gate
        out = model(input_ids=x, output_attentions=True).last_hidden_state
        score = (out[0, a:b].max(0).values * direction).sum()
        score.backward()
        gate.grad.abs().cpu()
        torch.cuda.synchronize()
        t1 = time.perf_counter()
        rows = gates.layers * gates.heads
        with torch.inference_mode():
            gates.gate = torch.ones(rows, gates.layers, gates.heads, device="cuda")
            gates.gate.view(rows, rows)[torch.arange(rows), torch.arange(rows)] = 0
            out = model(input_ids=x.expand(rows, -1), output_attentions=True).last_hidden_state
            (out[:, a:b].max(1).values * direction).sum(-1).float().cpu()
        torch.cuda.synchronize()
        t2 = time.perf_counter()
        if n >= 2:
            imp_ms.append(1e3 * (t1 - start))
            sweep_ms.append(1e3 * (t2 - t1))
    print(json.dumps({"model": args.model, "framework": "torch " + torch.__version__,
                      "dtype": args.dtype, "explanations": len(imp_ms),
                      "heads": gates.layers * gates.heads,
                      "importance_ms": statistics.median(imp_ms),
                      "encoder_sweep_ms": statistics.median(sweep_ms)}), flush=True)


if __name__ == "__main__":
    main()

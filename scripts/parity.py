#!/usr/bin/env python3
"""Parity of spanscope's candle BERT encoder with Hugging Face transformers (eager, float32).

Needs torch, transformers (5.x; 4.4x works too) and safetensors; no network.

Two commands:

  fixture   Build a tiny random BertModel (vocab 120, hidden 32, 2 layers, 4 heads,
            intermediate 37, max positions 64, seed 0), save it with save_pretrained to
            OUT (config.json, model.safetensors), the same weights as a torch pickle to
            OUT_bin/ (config.json, pytorch_model.bin), and transformers' outputs on a padded
            batch of 3 to OUT/reference.safetensors:
              input_ids i64 [3,T], attention_mask i64 [3,T],
              hidden f32 [3,T,32], attentions f32 [3,2,4,T,T].
            tests/model/encoder_parity.rs compares BertEncoder with these.

              python3 scripts/parity.py fixture --out tests/fixtures/encoder/tiny_bert

  reference Write transformers' outputs of any checkpoint on given word-piece ids, in the
            same format (tests/model/encoder_parity.rs keeps one for all-MiniLM-L6-v2):

              python3 scripts/parity.py reference --checkpoint DIR \
                  --out tests/fixtures/encoder/minilm_reference.safetensors

  compare   Run transformers on the input_ids / attention_mask stored in a dump written by
            spanscope (`encoder::dump_outputs`) and print the max abs error of the hidden
            states (real positions) and the attentions (real query rows). A float16 or
            bfloat16 checkpoint is upcast to float32, as spanscope does when asked for f32.
            Exits 1 when an error exceeds --tolerance.

              python3 scripts/parity.py compare --checkpoint DIR --ours ours.safetensors
"""

import argparse
import os
import shutil
import sys

import torch
from safetensors.torch import load_file, save_file


def eager_model(model):
    """Forces the eager attention path, which is the one that returns probabilities."""
    if hasattr(model, "set_attn_implementation"):
        model.set_attn_implementation("eager")
    else:
        model.config._attn_implementation = "eager"
    return model.float().eval()


def run(model, input_ids, attention_mask):
    """Last hidden state [B,T,H] and stacked attentions [B,L,heads,T,T], float32."""
    with torch.no_grad():
        out = model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            token_type_ids=torch.zeros_like(input_ids),
            output_attentions=True,
            return_dict=True,
        )
    attentions = torch.stack(list(out.attentions), dim=1)
    return out.last_hidden_state.float(), attentions.float()


def write_reference(path, input_ids, attention_mask, hidden, attentions):
    """The dump format shared with spanscope's dump_outputs."""
    save_file(
        {
            "input_ids": input_ids.long().contiguous(),
            "attention_mask": attention_mask.long().contiguous(),
            "hidden": hidden.float().contiguous(),
            "attentions": attentions.float().contiguous(),
        },
        path,
    )


def pad(sequences):
    """Word-piece id lists -> (input_ids, attention_mask), padded with 0."""
    t = max(len(s) for s in sequences)
    input_ids = torch.zeros((len(sequences), t), dtype=torch.long)
    attention_mask = torch.zeros((len(sequences), t), dtype=torch.long)
    for b, seq in enumerate(sequences):
        input_ids[b, :len(seq)] = torch.tensor(seq, dtype=torch.long)
        attention_mask[b, :len(seq)] = 1
    return input_ids, attention_mask


def fixture(args):
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=120,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=37,
        max_position_embeddings=64,
        hidden_act="gelu",
        layer_norm_eps=1e-12,
        pad_token_id=0,
    )
    model = BertModel(config)
    # The default init (std 0.02) makes attention almost uniform; larger weights make the
    # comparison bite.
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "LayerNorm.weight" in name:
                p.copy_(1.0 + 0.2 * torch.randn_like(p))
            else:
                p.normal_(0.0, 0.3)
    model = eager_model(model)

    lengths = [9, 6, 3]
    sequences = [torch.randint(1, config.vocab_size, (n,)).tolist() for n in lengths]
    input_ids, attention_mask = pad(sequences)
    hidden, attentions = run(model, input_ids, attention_mask)

    out = args.out
    os.makedirs(out, exist_ok=True)
    try:
        model.save_pretrained(out, safe_serialization=True)
    except TypeError:  # transformers versions that always write safetensors
        model.save_pretrained(out)
    write_reference(os.path.join(out, "reference.safetensors"),
                    input_ids, attention_mask, hidden, attentions)
    # The same weights as a torch pickle, for spanscope's pytorch_model.bin reader.
    bin_dir = out.rstrip("/") + "_bin"
    os.makedirs(bin_dir, exist_ok=True)
    shutil.copy(os.path.join(out, "config.json"), bin_dir)
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    torch.save(state, os.path.join(bin_dir, "pytorch_model.bin"))
    print(f"wrote {out} (config.json, model.safetensors, reference.safetensors) and {bin_dir}")
    print(f"input_ids {list(input_ids.shape)}, hidden {list(hidden.shape)}, "
          f"attentions {list(attentions.shape)}")


def reference(args):
    from transformers import AutoModel

    sequences = [[int(i) for i in part.split()] for part in args.ids.split(";") if part.strip()]
    input_ids, attention_mask = pad(sequences)
    model = eager_model(AutoModel.from_pretrained(args.checkpoint, attn_implementation="eager"))
    hidden, attentions = run(model, input_ids, attention_mask)
    write_reference(args.out, input_ids, attention_mask, hidden, attentions)
    print(f"wrote {args.out}: input_ids {list(input_ids.shape)}, hidden {list(hidden.shape)}, "
          f"attentions {list(attentions.shape)}")


def compare(args):
    from transformers import AutoModel

    ours = load_file(args.ours)
    for key in ("input_ids", "attention_mask", "hidden", "attentions"):
        if key not in ours:
            sys.exit(f"{args.ours}: no tensor `{key}` (was it written by dump_outputs?)")
    input_ids = ours["input_ids"].long()
    attention_mask = ours["attention_mask"].long()

    model = AutoModel.from_pretrained(args.checkpoint, attn_implementation="eager")
    stored = next(model.parameters()).dtype
    model = eager_model(model).to(args.device)
    hidden, attentions = run(model, input_ids.to(args.device), attention_mask.to(args.device))
    hidden, attentions = hidden.cpu(), attentions.cpu()

    if hidden.shape != ours["hidden"].shape or attentions.shape != ours["attentions"].shape:
        sys.exit(f"shape mismatch: transformers hidden {list(hidden.shape)} attentions "
                 f"{list(attentions.shape)}, ours hidden {list(ours['hidden'].shape)} "
                 f"attentions {list(ours['attentions'].shape)}")

    real = attention_mask.bool()                      # [B, T]
    hidden_err = (hidden - ours["hidden"].float()).abs()[real].max().item()
    # [B, L, heads, Tq, Tk] -> put the query axis next to batch to index real rows.
    attn_diff = (attentions - ours["attentions"].float()).abs().permute(0, 3, 1, 2, 4)
    attn_err = attn_diff[real].max().item()
    b, t = input_ids.shape
    print(f"checkpoint {args.checkpoint} (stored {stored}, compared in float32 on {args.device})")
    print(f"batch {b} x {t} pieces, {int(real.sum())} real")
    print(f"max abs error hidden (real positions):   {hidden_err:.3e}")
    print(f"max abs error attentions (real queries): {attn_err:.3e}")
    ok = hidden_err <= args.tolerance and attn_err <= args.tolerance
    print(("PASS" if ok else "FAIL") + f" at tolerance {args.tolerance:g}")
    sys.exit(0 if ok else 1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    f = sub.add_parser("fixture", help="write the tiny random BERT and its reference outputs")
    f.add_argument("--out", default="tests/fixtures/encoder/tiny_bert")
    r = sub.add_parser("reference", help="transformers' outputs of a checkpoint on given ids")
    r.add_argument("--checkpoint", required=True, help="Hugging Face checkpoint directory")
    r.add_argument("--out", required=True, help="safetensors file to write")
    r.add_argument("--ids", default="101 7592 2088 102; 101 1037 2062 3231 6251 2007 2062 "
                   "2616 1012 102; 101 2748 102",
                   help="word-piece ids, sequences separated by ';' (default: three "
                   "uncased-BERT sentences)")
    c = sub.add_parser("compare", help="compare a spanscope dump with transformers")
    c.add_argument("--checkpoint", required=True, help="Hugging Face checkpoint directory")
    c.add_argument("--ours", required=True, help="safetensors written by dump_outputs")
    c.add_argument("--tolerance", type=float, default=1e-4)
    c.add_argument("--device", default="cpu", help="torch device for transformers (cpu)")
    args = parser.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    {"fixture": fixture, "reference": reference, "compare": compare}[args.command](args)


if __name__ == "__main__":
    main()

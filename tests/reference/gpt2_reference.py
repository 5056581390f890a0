#!/usr/bin/python3
"""Independent GPT-2 reference for Plume's parity tests (Debian's python3-torch only).

Implements GPT-2 the way Hugging Face transformers' GPT2LMHeadModel does (Conv1D weights
[in, out], gelu_new, pre-LayerNorm blocks, tied LM head) and reads/writes safetensors with its
own minimal parser, so nothing here shares code with Plume.

  logits     --checkpoint DIR --ids IDS.safetensors --out LOGITS.safetensors
  make-model --out DIR --ids IDS.safetensors --logits LOGITS.safetensors [--seed N] [--dtype F16]
"""
import argparse
import json
import math
import os
import struct

import torch

DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16, "I64": torch.int64}
NAMES = {v: k for k, v in DTYPES.items()}


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        buf = bytearray(data[begin:end])
        t = torch.frombuffer(buf, dtype=DTYPES[info["dtype"]]) if buf else torch.empty(0, dtype=DTYPES[info["dtype"]])
        out[name] = t.reshape(info["shape"]).clone()
    return out


def write_safetensors(path, tensors):
    header, blobs, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for name, t in tensors.items():
        b = t.contiguous().view(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b""
        header[name] = {"dtype": NAMES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(b)]}
        offset += len(b)
        blobs.append(b)
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def gelu_new(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


def conv1d(x, w, b):
    # transformers.pytorch_utils.Conv1D: addmm(bias, x, weight) with weight [in, out]
    size_out = x.size()[:-1] + (w.size(1),)
    return torch.addmm(b, x.view(-1, x.size(-1)), w).view(size_out)


def gpt2_logits(cfg, w, ids):
    p = "transformer." if any(k.startswith("transformer.") for k in w) else ""
    w = {k: v.float() for k, v in w.items()}
    eps, n_head = cfg["layer_norm_epsilon"], cfg["n_head"]
    B, T = ids.shape
    x = w[p + "wte.weight"][ids] + w[p + "wpe.weight"][torch.arange(T)]
    C = x.size(-1)
    D = C // n_head
    causal = torch.tril(torch.ones(T, T, dtype=torch.bool))
    for i in range(cfg["n_layer"]):
        h = f"{p}h.{i}."
        a = torch.nn.functional.layer_norm(x, (C,), w[h + "ln_1.weight"], w[h + "ln_1.bias"], eps)
        q, k, v = conv1d(a, w[h + "attn.c_attn.weight"], w[h + "attn.c_attn.bias"]).split(C, dim=2)
        q, k, v = (t.view(B, T, n_head, D).permute(0, 2, 1, 3) for t in (q, k, v))
        att = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(D)
        att = torch.where(causal, att, torch.tensor(torch.finfo(att.dtype).min))
        att = torch.softmax(att, dim=-1)
        y = torch.matmul(att, v).permute(0, 2, 1, 3).reshape(B, T, C)
        x = x + conv1d(y, w[h + "attn.c_proj.weight"], w[h + "attn.c_proj.bias"])
        m = torch.nn.functional.layer_norm(x, (C,), w[h + "ln_2.weight"], w[h + "ln_2.bias"], eps)
        m = gelu_new(conv1d(m, w[h + "mlp.c_fc.weight"], w[h + "mlp.c_fc.bias"]))
        x = x + conv1d(m, w[h + "mlp.c_proj.weight"], w[h + "mlp.c_proj.bias"])
    x = torch.nn.functional.layer_norm(x, (C,), w[p + "ln_f.weight"], w[p + "ln_f.bias"], eps)
    return torch.matmul(x, w[p + "wte.weight"].t())


def cmd_logits(args):
    with open(os.path.join(args.checkpoint, "config.json")) as f:
        cfg = json.load(f)
    w = read_safetensors(os.path.join(args.checkpoint, "model.safetensors"))
    ids = read_safetensors(args.ids)["ids"]
    with torch.no_grad():
        write_safetensors(args.out, {"logits": gpt2_logits(cfg, w, ids)})


def cmd_make_model(args):
    torch.manual_seed(args.seed)
    cfg = {"model_type": "gpt2", "n_layer": 2, "n_head": 4, "n_embd": 64, "n_positions": 128,
           "n_ctx": 128, "vocab_size": 300, "layer_norm_epsilon": 1e-5, "activation_function": "gelu_new"}
    C, L = cfg["n_embd"], cfg["n_layer"]
    w = {"wte.weight": torch.randn(cfg["vocab_size"], C) * 0.02, "wpe.weight": torch.randn(cfg["n_positions"], C) * 0.01}
    for i in range(L):
        h = f"h.{i}."
        # Perturbed LayerNorm parameters and biases so every tensor matters in the comparison.
        for ln in ("ln_1", "ln_2"):
            w[h + ln + ".weight"] = 1 + 0.1 * torch.randn(C)
            w[h + ln + ".bias"] = 0.1 * torch.randn(C)
        w[h + "attn.c_attn.weight"] = torch.randn(C, 3 * C) * 0.05
        w[h + "attn.c_attn.bias"] = torch.randn(3 * C) * 0.02
        w[h + "attn.c_proj.weight"] = torch.randn(C, C) * 0.05
        w[h + "attn.c_proj.bias"] = torch.randn(C) * 0.02
        w[h + "mlp.c_fc.weight"] = torch.randn(C, 4 * C) * 0.05
        w[h + "mlp.c_fc.bias"] = torch.randn(4 * C) * 0.02
        w[h + "mlp.c_proj.weight"] = torch.randn(4 * C, C) * 0.05
        w[h + "mlp.c_proj.bias"] = torch.randn(C) * 0.02
        # Buffers that old transformers versions saved with the weights.
        w[h + "attn.bias"] = torch.tril(torch.ones(cfg["n_positions"], cfg["n_positions"])).view(1, 1, cfg["n_positions"], cfg["n_positions"])
        w[h + "attn.masked_bias"] = torch.tensor(-1e4)
    w["ln_f.weight"] = 1 + 0.1 * torch.randn(C)
    w["ln_f.bias"] = 0.1 * torch.randn(C)
    dtype = DTYPES[args.dtype]
    w = {k: v.to(dtype) for k, v in w.items()}
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "config.json"), "w") as f:
        json.dump(cfg, f)
    write_safetensors(os.path.join(args.out, "model.safetensors"), w)
    ids = torch.randint(0, cfg["vocab_size"], (2, 64))
    with torch.no_grad():
        logits = gpt2_logits(cfg, w, ids)
    write_safetensors(args.ids, {"ids": ids})
    write_safetensors(args.logits, {"logits": logits})


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("logits")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--ids", required=True)
    p.add_argument("--out", required=True)
    p = sub.add_parser("make-model")
    p.add_argument("--out", required=True)
    p.add_argument("--ids", required=True)
    p.add_argument("--logits", required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dtype", default="F32", choices=["F32", "F16", "BF16"])
    args = parser.parse_args()
    torch.set_num_threads(1)
    {"logits": cmd_logits, "make-model": cmd_make_model}[args.cmd](args)


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""PyTorch eager reference for bench/eval_bench: the same scoring workload (one full-length
window per document, batches of windows, no grad) the way Hugging Face models are scored by
lm-evaluation-harness: full [B, T, V] logits, log_softmax, gather of the targets.
Prints `pytorch <shape> batch=<b> tokens_per_sec=<x>`."""
import argparse
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pytorch_gpt import GPT, SHAPES  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--shapes", default="tiny,gpt2-124M")
    ap.add_argument("--batches", default="1,8")
    ap.add_argument("--windows", type=int, default=16)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    for name in args.shapes.split(","):
        L, H, C, V, P = SHAPES[name]
        model = GPT(L, H, C, V, P).eval()
        ids = torch.randint(0, V, (args.windows, P + 1))
        inputs, targets = ids[:, :-1], ids[:, 1:]

        def score(batch):
            total = 0.0
            for i in range(0, args.windows, batch):
                logits = model(inputs[i:i + batch])  # [B, T, V]
                logp = F.log_softmax(logits, dim=-1).gather(2, targets[i:i + batch].unsqueeze(2))
                total += logp.double().sum().item()
            return total

        for batch in (int(b) for b in args.batches.split(",")):
            with torch.inference_mode():
                score(batch)  # warm-up
                best = 1e30
                for _ in range(args.reps):
                    t0 = time.perf_counter()
                    score(batch)
                    best = min(best, time.perf_counter() - t0)
            print(f"pytorch {name} batch={batch} tokens_per_sec={args.windows * P / best:.0f} "
                  f"threads={args.threads} windows={args.windows} window={P}", flush=True)


if __name__ == "__main__":
    main()

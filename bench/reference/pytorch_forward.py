#!/usr/bin/python3
"""PyTorch eager reference for bench/forward_bench: no-grad forward (logits) of the same GPT-2
shapes, same threads. Prints `pytorch <shape> batch=<b> tokens_per_sec=<x>`."""
import argparse
import time

import torch

from pytorch_gpt import GPT, SHAPES


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--runs", default="tiny:8,gpt2-124M:1,gpt2-124M:4")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    for run in args.runs.split(","):
        name, batch = run.split(":")
        batch = int(batch)
        L, H, C, V, P = SHAPES[name]
        model = GPT(L, H, C, V, P).eval()
        x = torch.randint(0, V, (batch, args.seq))
        with torch.inference_mode():
            model(x)
            times = []
            for _ in range(5):
                t0 = time.perf_counter()
                model(x)
                times.append(time.perf_counter() - t0)
        best = sorted(times)[len(times) // 2]
        print(f"pytorch {name} batch={batch} tokens_per_sec={batch * args.seq / best:.1f}", flush=True)


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""PyTorch eager reference for bench/train_step_bench: the same GPT-2 training step
(forward + cross-entropy + backward + grad-norm clip + AdamW) with the same shapes and threads.
Prints one line per shape: `pytorch <shape> tokens_per_sec=<x> step_ms=<y>`."""
import argparse
import time

import torch
import torch.nn.functional as F

from pytorch_gpt import GPT, SHAPES


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--shapes", default="tiny,gpt2-124M")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    for name in args.shapes.split(","):
        L, H, C, V, P = SHAPES[name]
        model = GPT(L, H, C, V, P)
        decay = [p for p in model.parameters() if p.dim() >= 2]
        other = [p for p in model.parameters() if p.dim() < 2]
        opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": other, "weight_decay": 0.0}],
                                lr=3e-4, betas=(0.9, 0.95), eps=1e-8)
        x = torch.randint(0, V, (args.batch, args.seq))
        y = torch.randint(0, V, (args.batch, args.seq))

        def step():
            logits = model(x)
            loss = F.cross_entropy(logits.view(-1, V), y.view(-1))
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            opt.zero_grad(set_to_none=False)

        step()  # warm-up
        times = []
        for _ in range(args.steps):
            t0 = time.perf_counter()
            step()
            times.append(time.perf_counter() - t0)
        best = sorted(times)[len(times) // 2]  # median
        print(f"pytorch {name} tokens_per_sec={args.batch * args.seq / best:.1f} step_ms={best * 1e3:.1f}", flush=True)


if __name__ == "__main__":
    main()

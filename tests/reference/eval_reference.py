#!/usr/bin/python3
"""Independent reference for plume-eval's metrics (Debian's python3-torch only).

Scores documents the way EleutherAI's lm-evaluation-harness scores a loglikelihood_rolling task
with a Hugging Face causal LM, written out here in the harness's own formulation (not Plume's):
  - windows: lm_eval/utils.py get_rolling_token_windows(token_list, prefix_token=EOT,
    max_seq_len=max_length, context_len) followed by make_disjoint_window;
  - each (context, continuation) pair is scored as lm_eval/models/huggingface.py
    _loglikelihood_tokens does: the model reads (context + continuation)[-(max_length + 1):][:-1]
    and the last len(continuation) log-softmax rows are gathered;
  - per document: words = len(re.split(r"\\s+", doc)), bytes = len(doc.encode("utf-8"));
    corpus metrics are weighted_perplexity / bits_per_byte of lm_eval/api/metrics.py.
The forward pass is tests/reference/gpt2_reference.py's GPT-2 on the checkpoint's safetensors,
one window at a time, no batching. Documents come from the corpus file split here; their token
ids (tokenization is tested elsewhere) come from Plume's tokenizer through --ids.

  eval_reference.py --checkpoint DIR --corpus FILE --separator SEP --ids IDS.json
                    --max_length N --stride S --out OUT.json
"""
import argparse
import json
import math
import os
import re
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gpt2_reference import gpt2_logits, read_safetensors  # noqa: E402


def rolling_token_windows(token_list, prefix_token, max_seq_len, context_len):
    """(input tokens, predicted tokens) pairs, as the harness's get_rolling_token_windows."""
    assert 1 <= context_len <= max_seq_len
    if not token_list:
        return []
    pred_len = max_seq_len - context_len + 1
    first = min(max_seq_len, len(token_list))
    pairs = [([prefix_token] + token_list[:first - 1], token_list[:first])]
    done = first
    while done < len(token_list):
        count = min(len(token_list) - done, pred_len)
        end = done + count
        pairs.append((token_list[end - max_seq_len - 1:end - 1], token_list[end - count:end]))
        done += count
    return pairs


def disjoint(pair):
    """The harness's make_disjoint_window: the context stops where the continuation starts."""
    inputs, preds = pair
    return inputs[:len(inputs) - (len(preds) - 1)], preds


def score(cfg, weights, context, continuation, max_length):
    inp = (context + continuation)[-(max_length + 1):][:-1]
    with torch.no_grad():
        logits = gpt2_logits(cfg, weights, torch.tensor([inp], dtype=torch.int64))[0]  # [T, V]
        logprobs = torch.log_softmax(logits.double(), dim=-1)[-len(continuation):]
        target = torch.tensor(continuation, dtype=torch.int64).unsqueeze(1)
        return logprobs.gather(1, target).sum().item()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--corpus", required=True)
    parser.add_argument("--separator", required=True, help="document separator, Python escapes allowed")
    parser.add_argument("--ids", required=True, help='{"eot": id, "documents": [[ids of document 0], ...]}')
    parser.add_argument("--max_length", type=int, default=0, help="0 = n_positions")
    parser.add_argument("--stride", type=int, default=0, help="0 = max_length")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    torch.set_num_threads(1)

    with open(os.path.join(args.checkpoint, "config.json")) as f:
        cfg = json.load(f)
    weights = read_safetensors(os.path.join(args.checkpoint, "model.safetensors"))
    max_length = args.max_length or cfg["n_positions"]
    stride = args.stride or max_length
    context_len = max_length - stride + 1

    with open(args.corpus, encoding="utf-8", newline="") as f:  # bytes as they are: no newline translation
        text = f.read()
    separator = args.separator.encode().decode("unicode_escape")
    docs = [d for d in text.split(separator) if d]
    with open(args.ids) as f:
        ids = json.load(f)
    if len(ids["documents"]) != len(docs):
        sys.exit(f"{len(docs)} documents in the corpus but {len(ids['documents'])} in --ids")

    loglik = 0.0
    tokens = words = nbytes = 0
    for doc, token_list in zip(docs, ids["documents"]):
        for context, continuation in map(disjoint, rolling_token_windows(token_list, ids["eot"], max_length, context_len)):
            loglik += score(cfg, weights, context, continuation, max_length)
            tokens += len(continuation)
        words += len(re.split(r"\s+", doc))
        nbytes += len(doc.encode("utf-8"))
    if tokens != sum(len(t) for t in ids["documents"]):
        sys.exit("some token was not predicted exactly once")
    out = {
        "documents": len(docs), "tokens": tokens, "words": words, "bytes": nbytes, "nll_sum": -loglik,
        "token_cross_entropy": -loglik / tokens,
        "token_perplexity": math.exp(-loglik / tokens),
        "word_perplexity": math.exp(-loglik / words),
        "byte_perplexity": math.exp(-loglik / nbytes),
        "bits_per_byte": -loglik / nbytes / math.log(2),
    }
    with open(args.out, "w") as f:
        json.dump(out, f, indent=2)


if __name__ == "__main__":
    main()

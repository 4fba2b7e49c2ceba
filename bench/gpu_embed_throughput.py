#!/usr/bin/env python3
"""Embedding throughput of the multilingual-e5-small architecture on a GPU (or CPU), to
size the "embed on a GPU" advice in docs/performance.md.

    python bench/gpu_embed_throughput.py [--device cuda] [--dtype float16]

Needs torch and transformers (not policyqa's dependencies: run it where a GPU is). The
model is BERT with e5-small's shape (12 layers, hidden 384, 12 heads, intermediate 1536,
250,037-token vocabulary) built from its configuration with random weights: no download,
and a forward pass costs the same whatever the weights are. Inputs are random token ids
of fixed lengths standing for policyqa's texts: a passage (~230 characters of Chinese,
about 160 tokens with e5's XLM-R tokenizer) and a sentence (~40 characters, about 40
tokens); a chunk costs one passage plus ``--sentences-per-chunk`` sentences. Tokenising
(on the CPU, in parallel with the GPU in a real pipeline) is not included.

Prints a JSON line: texts/s for each length, chunks/s, and hours for 1M chunks.
"""

from __future__ import annotations

import argparse
import json
import time


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--dtype", default="float16", choices=("float16", "bfloat16", "float32"))
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--passage-tokens", type=int, default=160)
    ap.add_argument("--sentence-tokens", type=int, default=40)
    ap.add_argument("--sentences-per-chunk", type=float, default=5.8)
    ap.add_argument("--seconds", type=float, default=10.0, help="measure each length for about this long")
    args = ap.parse_args()

    import torch
    from transformers import BertConfig, BertModel

    cfg = BertConfig(vocab_size=250037, hidden_size=384, num_hidden_layers=12, num_attention_heads=12,
                     intermediate_size=1536, max_position_embeddings=514)
    dtype = getattr(torch, args.dtype)
    model = BertModel(cfg).to(args.device, dtype=dtype).eval()
    gen = torch.Generator().manual_seed(0)

    def rate(tokens: int) -> float:
        ids = torch.randint(5, cfg.vocab_size, (args.batch, tokens), generator=gen).to(args.device)
        mask = torch.ones_like(ids)
        with torch.inference_mode():
            for _ in range(3):  # warm-up (kernels, allocator)
                model(input_ids=ids, attention_mask=mask).last_hidden_state.mean(1)
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            n, t0 = 0, time.perf_counter()
            while time.perf_counter() - t0 < args.seconds:
                out = model(input_ids=ids, attention_mask=mask).last_hidden_state
                torch.nn.functional.normalize(out.mean(1), dim=-1).cpu()  # pooled vectors back on the host
                n += args.batch
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            return n / (time.perf_counter() - t0)

    passages, sentences = rate(args.passage_tokens), rate(args.sentence_tokens)
    chunk_s = 1 / passages + args.sentences_per_chunk / sentences
    device = torch.cuda.get_device_name(0) if args.device.startswith("cuda") else "cpu"
    print(json.dumps({
        "device": device, "dtype": args.dtype, "batch": args.batch,
        "passages_per_s": round(passages), "sentences_per_s": round(sentences),
        "chunks_per_s": round(1 / chunk_s), "hours_for_1M_chunks": round(1e6 * chunk_s / 3600, 2),
        "model": "BERT 12x384 (multilingual-e5-small shape), random weights",
    }))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

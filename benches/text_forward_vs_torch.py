#!/usr/bin/env python3
"""Forward throughput of a roberta-base-sized encoder: emofuse (burn-flex, CPU) against PyTorch
(transformers' RobertaModel, torch.set_num_threads(2)) on the same machine, in one script.

    cargo build --release            # the emofuse binary (CARGO_TARGET_DIR is honoured)
    python3 benches/text_forward_vs_torch.py [--batch 8] [--tokens 128] [--repeats 5]

Both run random weights at roberta-base's sizes (12 layers, hidden 768, 12 heads, FFN 3072) in
eval mode on batch x tokens ids without padding, after one warm-up forward. Printed: mean ms per
forward of each, the throughput ratio emofuse / PyTorch (above 1: emofuse is faster) and the peak
resident memory of each process (PyTorch: this Python process, torch and transformers included;
emofuse: the `emofuse bench text` process).
"""

import argparse

from torch_compare import add_common_arguments, report, run_emofuse, time_torch


def torch_forward(args):
    import torch
    from transformers import RobertaConfig, RobertaModel

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    config = RobertaConfig(
        vocab_size=50265,
        hidden_size=768,
        num_hidden_layers=args.layers,
        num_attention_heads=12,
        intermediate_size=3072,
        max_position_embeddings=514,
        type_vocab_size=1,
        pad_token_id=1,
        layer_norm_eps=1e-5,
    )
    model = RobertaModel(config, add_pooling_layer=False).eval()
    ids = torch.randint(3, config.vocab_size, (args.batch, args.tokens))
    mask = torch.ones_like(ids)
    return time_torch(model, lambda: model(input_ids=ids, attention_mask=mask),
                      args.warmup, args.repeats)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--tokens", type=int, default=128)
    add_common_arguments(parser, repeats=5)
    args = parser.parse_args()

    # emofuse first, in its own process, so PyTorch's memory does not count against it.
    burn = run_emofuse("text", ["--batch", str(args.batch), "--tokens", str(args.tokens)], args)
    torch = torch_forward(args)
    report(
        f"roberta-base-sized encoder ({args.layers} layers), batch {args.batch} x {args.tokens} "
        f"tokens, {args.repeats} timed forwards after {args.warmup} warm-up",
        torch,
        burn,
    )


if __name__ == "__main__":
    main()

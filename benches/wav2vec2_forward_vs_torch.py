#!/usr/bin/env python3
"""Forward throughput of a wav2vec2-base-sized speech encoder: emofuse (burn-flex, CPU) against
PyTorch (transformers' Wav2Vec2Model, torch.set_num_threads(2)) on the same machine, in one
script.

    cargo build --release            # the emofuse binary (CARGO_TARGET_DIR is honoured)
    python3 benches/wav2vec2_forward_vs_torch.py [--batch 4] [--seconds 5] [--repeats 3]

Both run random weights at wav2vec2-base's sizes (7 conv layers of 512 channels, 12 transformer
layers, hidden 768, 12 heads, FFN 3072, positional conv of kernel 128 in 16 groups; group-norm,
post-LayerNorm variant) in eval mode on batch x seconds of 16 kHz noise without attention mask,
after one warm-up forward. Printed: mean ms per forward of each, the throughput ratio emofuse /
PyTorch (above 1: emofuse is faster) and the peak resident memory of each process (PyTorch: this
Python process, torch and transformers included; emofuse: the `emofuse bench wav2vec2` process).
"""

import argparse

from torch_compare import add_common_arguments, report, run_emofuse, time_torch


def torch_forward(args):
    import torch
    from transformers import Wav2Vec2Config, Wav2Vec2Model

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    config = Wav2Vec2Config(num_hidden_layers=args.layers, mask_time_prob=0.0)
    model = Wav2Vec2Model(config).eval()
    values = torch.randn(args.batch, round(args.seconds * 16000))
    return time_torch(model, lambda: model(values), args.warmup, args.repeats)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=5.0)
    add_common_arguments(parser, repeats=3)
    args = parser.parse_args()

    # emofuse first, in its own process, so PyTorch's memory does not count against it.
    burn = run_emofuse("wav2vec2", ["--batch", str(args.batch), "--seconds", str(args.seconds)], args)
    torch = torch_forward(args)
    report(
        f"wav2vec2-base-sized encoder ({args.layers} layers), batch {args.batch} x "
        f"{args.seconds:g} s at 16 kHz ({burn['frames']} frames), {args.repeats} timed forwards "
        f"after {args.warmup} warm-up",
        torch,
        burn,
    )


if __name__ == "__main__":
    main()

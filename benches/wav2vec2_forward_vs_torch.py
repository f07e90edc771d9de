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
emofuse runs twice: as is, and with glibc's malloc told to keep freed memory (environment
variables, no code change).
"""

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time


def emofuse_binary():
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(os.path.dirname(__file__), "..", "target"))
    path = os.path.join(target, "release", "emofuse")
    if os.path.isfile(path):
        return path
    found = shutil.which("emofuse")
    if found:
        return found
    sys.exit(f"no emofuse binary at {path}: run `cargo build --release` first")


def torch_forward(args):
    import torch
    from transformers import Wav2Vec2Config, Wav2Vec2Model

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    config = Wav2Vec2Config(num_hidden_layers=args.layers, mask_time_prob=0.0)
    model = Wav2Vec2Model(config).eval()
    samples = round(args.seconds * 16000)
    values = torch.randn(args.batch, samples)
    times = []
    with torch.inference_mode():
        for _ in range(args.warmup):
            model(values)
        for _ in range(args.repeats):
            start = time.perf_counter()
            model(values)
            times.append((time.perf_counter() - start) * 1000)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "ms_per_forward": sum(times) / len(times),
        "ms_min": min(times),
        "peak_rss_mib": peak_mib,
        "version": f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"attention {model.config._attn_implementation}",
    }


# glibc returns large freed blocks to the OS (mmap threshold, trim threshold), so every tensor
# burn allocates is fresh memory and page-faults in; keeping freed memory avoids that.
GLIBC_KEEP_FREED = {
    "MALLOC_MMAP_THRESHOLD_": str(4 << 30),
    "MALLOC_TRIM_THRESHOLD_": str(4 << 30),
}


def emofuse_forward(args, extra_env=None):
    command = [
        emofuse_binary(),
        "bench",
        "wav2vec2",
        "--batch", str(args.batch),
        "--seconds", str(args.seconds),
        "--layers", str(args.layers),
        "--repeats", str(args.repeats),
        "--warmup", str(args.warmup),
    ]
    env = dict(os.environ, RAYON_NUM_THREADS=str(args.threads), **(extra_env or {}))
    out = subprocess.run(command, capture_output=True, text=True, env=env, check=True).stdout
    line = next(l for l in out.splitlines() if l.startswith("RESULT "))
    return json.loads(line[len("RESULT "):])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--layers", type=int, default=12)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    # emofuse first, in its own process, so PyTorch's memory does not count against it.
    burn = emofuse_forward(args)
    tuned = emofuse_forward(args, GLIBC_KEEP_FREED)
    torch = torch_forward(args)
    ratio = torch["ms_per_forward"] / burn["ms_per_forward"]
    tuned_ratio = torch["ms_per_forward"] / tuned["ms_per_forward"]
    print(
        f"workload: wav2vec2-base-sized encoder ({args.layers} layers), batch {args.batch} x "
        f"{args.seconds:g} s at 16 kHz ({burn['frames']} frames), {args.repeats} timed forwards "
        f"after {args.warmup} warm-up"
    )
    print(
        f"PyTorch ({torch['version']}): {torch['ms_per_forward']:.0f} ms/forward "
        f"(min {torch['ms_min']:.0f}), peak RSS {torch['peak_rss_mib']:.0f} MiB"
    )
    print(
        f"emofuse (burn-flex, {burn['threads']} threads): {burn['ms_per_forward']:.0f} ms/forward "
        f"(min {burn['ms_min']:.0f}), peak RSS {burn['peak_rss_mib']:.0f} MiB"
    )
    print(
        f"emofuse with glibc keeping freed memory ({', '.join(GLIBC_KEEP_FREED)}): "
        f"{tuned['ms_per_forward']:.0f} ms/forward (min {tuned['ms_min']:.0f}), "
        f"peak RSS {tuned['peak_rss_mib']:.0f} MiB"
    )
    print(f"throughput ratio emofuse / PyTorch: {ratio:.2f}x (glibc keeping freed memory: {tuned_ratio:.2f}x)")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Forward throughput of a roberta-base-sized encoder: emofuse (burn-flex, CPU) against PyTorch
(transformers' RobertaModel, torch.set_num_threads(2)) on the same machine, in one script.

    cargo build --release            # the emofuse binary (CARGO_TARGET_DIR is honoured)
    python3 benches/text_forward_vs_torch.py [--batch 8] [--tokens 128] [--repeats 5]

Both run random weights at roberta-base's sizes (12 layers, hidden 768, 12 heads, FFN 3072) in
eval mode on batch x tokens ids without padding, after one warm-up forward. Printed: mean ms per
forward of each, the throughput ratio emofuse / PyTorch (above 1: emofuse is faster) and the peak
resident memory of each process (PyTorch: this Python process, torch and transformers included;
emofuse: the `emofuse bench text` process). emofuse runs twice: as is, and with glibc's malloc
told to keep freed memory (environment variables, no code change).
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
    times = []
    with torch.inference_mode():
        for _ in range(args.warmup):
            model(input_ids=ids, attention_mask=mask)
        for _ in range(args.repeats):
            start = time.perf_counter()
            model(input_ids=ids, attention_mask=mask)
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
# burn allocates is fresh memory and page-faults in; keeping freed memory is worth ~15% here.
GLIBC_KEEP_FREED = {
    "MALLOC_MMAP_THRESHOLD_": str(4 << 30),
    "MALLOC_TRIM_THRESHOLD_": str(4 << 30),
}


def emofuse_forward(args, extra_env=None):
    command = [
        emofuse_binary(),
        "bench",
        "text",
        "--batch", str(args.batch),
        "--tokens", str(args.tokens),
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
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--layers", type=int, default=12)
    parser.add_argument("--repeats", type=int, default=5)
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
        f"workload: roberta-base-sized encoder ({args.layers} layers), batch {args.batch} x "
        f"{args.tokens} tokens, {args.repeats} timed forwards after {args.warmup} warm-up"
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

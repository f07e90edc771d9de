"""Shared harness of the encoder benchmarks (text_forward_vs_torch.py,
wav2vec2_forward_vs_torch.py): time a PyTorch model in this process and an `emofuse bench ...`
subcommand in its own process on the same workload, and print both with their ratio.

emofuse tunes glibc's allocator itself at start-up (src/main.rs), so it runs once, as users run it.
"""

import json
import os
import resource
import shutil
import subprocess
import sys
import time


def emofuse_binary():
    """The release binary: $CARGO_TARGET_DIR (or ./target)/release/emofuse, else `emofuse` on PATH."""
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(os.path.dirname(__file__), "..", "target"))
    path = os.path.join(target, "release", "emofuse")
    if os.path.isfile(path):
        return path
    found = shutil.which("emofuse")
    if found:
        return found
    sys.exit(f"no emofuse binary at {path}: run `cargo build --release` first")


def add_common_arguments(parser, repeats):
    parser.add_argument("--layers", type=int, default=12)
    parser.add_argument("--repeats", type=int, default=repeats)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)


def time_torch(model, forward, warmup, repeats):
    """Times `forward()` (which runs `model`) in inference mode; mean and min ms, peak RSS."""
    import torch

    times = []
    with torch.inference_mode():
        for _ in range(warmup):
            forward()
        for _ in range(repeats):
            start = time.perf_counter()
            forward()
            times.append((time.perf_counter() - start) * 1000)
    return {
        "ms_per_forward": sum(times) / len(times),
        "ms_min": min(times),
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "version": f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"attention {model.config._attn_implementation}",
    }


def run_emofuse(subcommand, workload_args, args):
    """Runs `emofuse bench <subcommand>` and returns its `RESULT {json}` line."""
    command = [emofuse_binary(), "bench", subcommand, *workload_args,
               "--layers", str(args.layers), "--repeats", str(args.repeats),
               "--warmup", str(args.warmup)]
    env = dict(os.environ, RAYON_NUM_THREADS=str(args.threads))
    out = subprocess.run(command, capture_output=True, text=True, env=env, check=True).stdout
    line = next(l for l in out.splitlines() if l.startswith("RESULT "))
    return json.loads(line[len("RESULT "):])


def report(workload, torch, burn):
    print(f"workload: {workload}")
    print(
        f"PyTorch ({torch['version']}): {torch['ms_per_forward']:.0f} ms/forward "
        f"(min {torch['ms_min']:.0f}), peak RSS {torch['peak_rss_mib']:.0f} MiB"
    )
    print(
        f"emofuse (burn-flex, {burn['threads']} threads): {burn['ms_per_forward']:.0f} ms/forward "
        f"(min {burn['ms_min']:.0f}), peak RSS {burn['peak_rss_mib']:.0f} MiB"
    )
    extras = {
        "ms_per_forward_one_part": "batch in one part",
        "ms_conv_features": "conv feature encoder (GEMM)",
        "ms_conv_features_conv1d": "conv feature encoder (burn-flex conv1d)",
    }
    shown = [f"{label} {burn[key]:.0f} ms" for key, label in extras.items() if key in burn]
    if shown:
        print("emofuse details: " + ", ".join(shown))
    print(f"throughput ratio emofuse / PyTorch: {torch['ms_per_forward'] / burn['ms_per_forward']:.2f}x")

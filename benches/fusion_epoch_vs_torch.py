#!/usr/bin/env python3
"""Training-epoch time of study A's late-fusion model (RoBERTa + wav2vec 2.0, partial fine-tuning):
the PyTorch recipe of the study (transformers, CPU, torch.set_num_threads(2)) against emofuse's
`emofuse bench fusion` (uncached: encoders run every step; cached: frozen-prefix outputs cached
once, then only the trainable tail runs), on the same machine, in one script.

    cargo build --release            # the emofuse binary (CARGO_TARGET_DIR is honoured)
    python3 benches/fusion_epoch_vs_torch.py [--utterances 200] [--layers 12] [--steps 5]
    python3 benches/fusion_epoch_vs_torch.py --torch-only       # PyTorch side only, no binary needed

PyTorch side (docs/BRIEF.md, study A), random weights, nothing downloaded: RobertaModel at
roberta-base's sizes (vocabulary 50,265, 514 positions, hidden 768, 12 heads, FFN 3072) and
Wav2Vec2Model at wav2vec2-base's sizes (7 conv layers of 512 channels, group norm, post-LayerNorm
transformer of hidden 768, 12 heads, FFN 3072); --layers sets the transformer depth of both. The
text vector is the final hidden state of the first token (<s>), the audio vector the mean of the
final hidden states over valid frames (attention mask passed to the encoder); each goes through
Linear(768,256)+LayerNorm+GELU+Dropout(0.1), the two are concatenated (512) and classified by
Linear(512,256)+GELU+Dropout(0.1)+Linear(256,7). Every encoder parameter is frozen except the last
--train-last-layers transformer layers of each encoder (the conv feature encoder is frozen too);
projections and classifier train. Loss: cross-entropy weighted by MELD train's inverse class
frequency; AdamW lr 1e-5; clip_grad_norm_ 1.0; model.train() as in the study (dropout and
wav2vec2's SpecAugment time masking active; wav2vec2's LayerDrop is set to 0 so every step does the
same work as emofuse).
Inputs per step: --batch-size utterances; text padded to --max-tokens (padding="max_length", as
the study did) with 8..40 real tokens (<s> ... </s>) and an attention mask; audio --clip-seconds of
16 kHz noise, zero-padded after a random valid length of 1 s..--clip-seconds, normalised to zero
mean and unit variance over the valid samples of each clip (as the Wav2Vec2 feature extractor
does), with an attention mask. Inputs are made before timing.

Timed: --warmup then --steps full train steps (forward, loss, backward, clip, optimizer step,
zero_grad). The PyTorch epoch is extrapolated as ceil(utterances / batch) x mean step time.
Printed: PyTorch step ms (mean, min), extrapolated epoch, peak RSS (this Python process, torch and
transformers included); emofuse's uncached and cached epoch and step times, cache build time and
peak RSS (its own process, run first); and the ratios cached vs uncached (target >= 10x), PyTorch
epoch vs cached epoch (target > 1x: emofuse faster) and PyTorch epoch vs cached epoch + cache
build.
"""

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import time

from torch_compare import emofuse_binary

CLASSES = 7
# MELD train distribution (neutral, joy, surprise, anger, sadness, disgust, fear), docs/BRIEF.md.
TRAIN_COUNTS = [4710, 1743, 1205, 1109, 683, 271, 268]
SAMPLE_RATE = 16000
MIN_REAL_TOKENS, MAX_REAL_TOKENS = 8, 40


def build_model(args):
    import torch
    from torch import nn
    from transformers import RobertaConfig, RobertaModel, Wav2Vec2Config, Wav2Vec2Model

    class Projection(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = nn.Sequential(nn.Linear(768, 256), nn.LayerNorm(256), nn.GELU(), nn.Dropout(0.1))

        def forward(self, x):
            return self.net(x)

    class LateFusion(nn.Module):
        def __init__(self):
            super().__init__()
            self.text = RobertaModel(
                RobertaConfig(
                    vocab_size=50265, max_position_embeddings=514, type_vocab_size=1,
                    layer_norm_eps=1e-5, num_hidden_layers=args.layers,
                ),
                add_pooling_layer=False,
            )
            self.audio = Wav2Vec2Model(Wav2Vec2Config(num_hidden_layers=args.layers, layerdrop=0.0))
            self.text_projection = Projection()
            self.audio_projection = Projection()
            self.classifier = nn.Sequential(
                nn.Linear(512, 256), nn.GELU(), nn.Dropout(0.1), nn.Linear(256, CLASSES)
            )

        def forward(self, input_ids, text_mask, input_values, audio_mask):
            text = self.text(input_ids=input_ids, attention_mask=text_mask).last_hidden_state[:, 0]
            hidden = self.audio(input_values, attention_mask=audio_mask).last_hidden_state
            frames = self.audio._get_feature_vector_attention_mask(hidden.shape[1], audio_mask)
            frames = frames.unsqueeze(-1).to(hidden.dtype)
            audio = (hidden * frames).sum(1) / frames.sum(1).clamp(min=1.0)
            fused = torch.cat([self.text_projection(text), self.audio_projection(audio)], dim=-1)
            return self.classifier(fused)

    model = LateFusion()
    # Partial fine-tuning: freeze both encoders, then thaw their last transformer layers.
    for encoder in (model.text, model.audio):
        for parameter in encoder.parameters():
            parameter.requires_grad = False
    model.audio.freeze_feature_encoder()
    if args.train_last_layers > 0:
        for layer in [*model.text.encoder.layer[-args.train_last_layers:],
                      *model.audio.encoder.layers[-args.train_last_layers:]]:
            for parameter in layer.parameters():
                parameter.requires_grad = True
    return model.train()


def make_batch(args, generator):
    import torch

    batch, tokens = args.batch_size, args.max_tokens
    input_ids = torch.ones(batch, tokens, dtype=torch.long)  # <pad> = 1
    text_mask = torch.zeros(batch, tokens, dtype=torch.long)
    for row in range(batch):
        real = int(torch.randint(MIN_REAL_TOKENS, min(MAX_REAL_TOKENS, tokens) + 1, (1,), generator=generator))
        input_ids[row, 0] = 0  # <s>
        input_ids[row, 1:real - 1] = torch.randint(3, 50265, (real - 2,), generator=generator)
        input_ids[row, real - 1] = 2  # </s>
        text_mask[row, :real] = 1

    samples = round(args.clip_seconds * SAMPLE_RATE)
    input_values = torch.zeros(batch, samples)
    audio_mask = torch.zeros(batch, samples, dtype=torch.long)
    for row in range(batch):
        valid = int(torch.randint(min(SAMPLE_RATE, samples), samples + 1, (1,), generator=generator))
        clip = 0.1 * torch.randn(valid, generator=generator)
        input_values[row, :valid] = (clip - clip.mean()) / torch.sqrt(clip.var(unbiased=False) + 1e-7)
        audio_mask[row, :valid] = 1
    labels = torch.randint(0, CLASSES, (batch,), generator=generator)
    return input_ids, text_mask, input_values, audio_mask, labels


def torch_train(args):
    import torch
    from torch import nn

    torch.set_num_threads(args.threads)
    torch.manual_seed(42)
    model = build_model(args)
    trainable = [p for p in model.parameters() if p.requires_grad]
    total = sum(p.numel() for p in model.parameters())
    weights = torch.tensor([sum(TRAIN_COUNTS) / (CLASSES * n) for n in TRAIN_COUNTS])
    criterion = nn.CrossEntropyLoss(weight=weights)
    optimizer = torch.optim.AdamW(trainable, lr=1e-5)

    generator = torch.Generator().manual_seed(42)
    batches = [make_batch(args, generator) for _ in range(args.warmup + args.steps)]

    def step(input_ids, text_mask, input_values, audio_mask, labels):
        loss = criterion(model(input_ids, text_mask, input_values, audio_mask), labels)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        optimizer.step()
        optimizer.zero_grad()
        return loss.item()

    times = []
    for index, batch in enumerate(batches):
        start = time.perf_counter()
        step(*batch)
        if index >= args.warmup:
            times.append((time.perf_counter() - start) * 1000)
    mean = sum(times) / len(times)
    steps_per_epoch = math.ceil(args.utterances / args.batch_size)
    return {
        "step_ms": mean,
        "step_ms_min": min(times),
        "epoch_s": steps_per_epoch * mean / 1000,
        "steps_per_epoch": steps_per_epoch,
        "trainable_params": sum(p.numel() for p in trainable),
        "total_params": total,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "version": f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"attention {model.text.config._attn_implementation}",
    }


def run_emofuse_fusion(args):
    """Runs `emofuse bench fusion` (threads through RAYON_NUM_THREADS, as torch_compare.run_emofuse
    does) and returns its `RESULT {json}` line; exits with a readable message when it cannot."""
    command = [emofuse_binary(), "bench", "fusion",
               "--utterances", str(args.utterances), "--layers", str(args.layers),
               "--batch-size", str(args.batch_size), "--max-tokens", str(args.max_tokens),
               "--clip-seconds", str(args.clip_seconds),
               "--train-last-layers", str(args.train_last_layers)]
    env = dict(os.environ, RAYON_NUM_THREADS=str(args.threads))
    try:
        done = subprocess.run(command, capture_output=True, text=True, env=env)
    except OSError as error:
        sys.exit(f"could not run {command[0]}: {error}")
    if done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-10:])
        sys.exit(
            f"`{' '.join(command)}` failed (exit {done.returncode}):\n{tail}\n"
            "If the `fusion` bench subcommand is missing, rebuild (`cargo build --release`) or run "
            "with --torch-only."
        )
    line = next((l for l in done.stdout.splitlines() if l.startswith("RESULT ")), None)
    if line is None:
        sys.exit(f"`{' '.join(command)}` printed no `RESULT {{json}}` line")
    result = json.loads(line[len("RESULT "):])
    needed = ["uncached_epoch_s", "cached_epoch_s", "cache_build_s", "uncached_step_ms",
              "cached_step_ms", "peak_rss_mib"]
    missing = [key for key in needed if key not in result]
    if missing:
        sys.exit(f"emofuse's RESULT line lacks {', '.join(missing)}: {line}")
    return result


def report(args, torch, burn):
    print(
        f"workload: study A late fusion (RoBERTa + wav2vec2, {args.layers} layers each, last "
        f"{args.train_last_layers} trainable), batch {args.batch_size}, text {args.max_tokens} "
        f"tokens, audio {args.clip_seconds:g} s at 16 kHz; epoch of {args.utterances} utterances "
        f"= {torch['steps_per_epoch']} steps"
    )
    print(
        f"PyTorch ({torch['version']}): {args.steps} timed steps after {args.warmup} warm-up, "
        f"{torch['trainable_params'] / 1e6:.1f}M of {torch['total_params'] / 1e6:.1f}M parameters "
        f"trainable, peak RSS {torch['peak_rss_mib']:.0f} MiB"
    )
    rows = [("PyTorch recipe (extrapolated)", torch["epoch_s"],
             f"{torch['step_ms']:.0f} (min {torch['step_ms_min']:.0f})")]
    if burn is not None:
        rows += [
            ("emofuse uncached", burn["uncached_epoch_s"], f"{burn['uncached_step_ms']:.0f}"),
            ("emofuse cache build", burn["cache_build_s"], "-"),
            ("emofuse cached", burn["cached_epoch_s"], f"{burn['cached_step_ms']:.1f}"),
        ]
    print(f"{'':32} {'epoch s':>10} {'ms/step':>18}")
    for name, epoch, step in rows:
        print(f"{name:32} {epoch:10.1f} {step:>18}")
    if burn is None:
        return
    print(f"emofuse ({args.threads} threads): peak RSS {burn['peak_rss_mib']:.0f} MiB")

    def ratio(name, value, target, strict):
        met = value > target if strict else value >= target
        print(f"{name:52} {value:8.2f}x  (target {'>' if strict else '>='} {target:g}x: "
              f"{'met' if met else 'MISSED'})")

    ratio("emofuse uncached / cached epoch",
          burn["uncached_epoch_s"] / burn["cached_epoch_s"], 10, strict=False)
    ratio("PyTorch epoch / emofuse cached epoch",
          torch["epoch_s"] / burn["cached_epoch_s"], 1, strict=True)
    ratio("PyTorch epoch / emofuse (cached epoch + cache build)",
          torch["epoch_s"] / (burn["cached_epoch_s"] + burn["cache_build_s"]), 1, strict=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--utterances", type=int, default=200)
    parser.add_argument("--layers", type=int, default=12)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--clip-seconds", type=float, default=5.0)
    parser.add_argument("--train-last-layers", type=int, default=1)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--torch-only", action="store_true", help="skip emofuse")
    args = parser.parse_args()
    if args.steps < 1 or args.batch_size < 1 or args.max_tokens < MIN_REAL_TOKENS:
        parser.error(f"need --steps >= 1, --batch-size >= 1, --max-tokens >= {MIN_REAL_TOKENS}")
    if not 0 <= args.train_last_layers <= args.layers:
        parser.error("--train-last-layers must be between 0 and --layers")

    # emofuse first, in its own process, so PyTorch's memory does not count against it.
    burn = None if args.torch_only else run_emofuse_fusion(args)
    report(args, torch_train(args), burn)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Training-epoch time of study A's late-fusion model (RoBERTa + wav2vec 2.0, partial fine-tuning):
the PyTorch recipe of the study (transformers, CPU, torch.set_num_threads(2)) against emofuse's
`emofuse bench fusion` (uncached: encoders run every step; cached: frozen-prefix outputs cached
once, then only the trainable tail runs), on the same machine, in one script.

    cargo build --release            # the emofuse binary (CARGO_TARGET_DIR is honoured)
    python3 benches/fusion_epoch_vs_torch.py [--utterances 200] [--layers 12] [--steps 5]
    python3 benches/fusion_epoch_vs_torch.py --torch-only       # PyTorch side only, no binary needed
    python3 benches/fusion_epoch_vs_torch.py --transcripts ../shared/data/meld/train_sent_emo.csv \
        --utterances 48 --steps 2      # MELD's transcripts, and a projected full MELD run

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
the study did) with 8..40 random real tokens (<s> ... </s>) and an attention mask, or with
--transcripts the real transcripts of a MELD-style CSV (column `Utterance`) tokenized by the
roberta-base tokenizer (--tokenizer, transformers' RobertaTokenizerFast; truncation at
--max-tokens): --utterances rows spread evenly over the table (row i x rows // utterances, the
rows emofuse takes), used in turn; audio --clip-seconds of 16 kHz noise, zero-padded after a
random valid length of 1 s..--clip-seconds, normalised to zero mean and unit variance over the
valid samples of each clip (as the Wav2Vec2 feature extractor does), with an attention mask.
Inputs are made before timing.

Timed: --warmup then --forward-batches forward passes of the whole model in eval mode under
torch.inference_mode() (both encoders and the head: the study's validation and test forward, and
the work a frozen-trunk cache build does, plus the last layer and the head), then --warmup then
--steps full train steps (forward, loss, backward, clip, optimizer step, zero_grad), all at
--batch-size. The PyTorch epoch is extrapolated as ceil(utterances / batch) x mean step time.
Printed: PyTorch step ms (mean, min), extrapolated epoch, peak RSS (this Python process, torch and
transformers included); emofuse's uncached and cached epoch and step times, cache build time and
peak RSS (its own process, run first); and the ratios cached vs uncached (target >= 10x), PyTorch
epoch vs cached epoch (target > 1x: emofuse faster) and PyTorch epoch vs cached epoch + cache
build.

Then both sides' utterances/s without training (PyTorch's eval forward against emofuse's cache
build, which runs the trunks in chunks of 32 texts, length-sorted and padded to the longest, and
8 clips) and a projected full MELD run on this machine (--epochs, split sizes counted from
train/dev/test_sent_emo.csv beside --transcripts when they are there, else MELD's 9,989 / 1,109 /
2,610), from the measured per-step and per-utterance rates:
  emofuse = (train + dev + test) / cache build rate
            + epochs x (ceil(train / batch) x cached step + epoch overhead + dev / cached eval rate)
            + test / cached eval rate
  PyTorch = epochs x (ceil(train / batch) x train step + dev / forward rate) + test / forward rate
where emofuse's epoch overhead is its epoch minus its steps (the checkpoint write; validation of
its one utterance) and its cached eval rate an evaluation pass over the training cache. Audio
decoding is not in either (the audio is synthetic). Last line: `RESULT {json}`.
"""

import argparse
import csv
import json
import math
import os
import resource
import subprocess
import sys
import time

from torch_compare import emofuse_binary

CLASSES = 7
# MELD's split sizes (train_sent_emo.csv, dev_sent_emo.csv, test_sent_emo.csv rows).
MELD_SPLITS = {"train": 9989, "dev": 1109, "test": 2610}
TRANSCRIPT_COLUMN = "Utterance"
DEFAULT_TOKENIZER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                 "fixtures", "text", "roberta-base-tokenizer")
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


def spread_rows(rows, n):
    """n rows of a table of `rows` spread evenly over it, in order (emofuse's `spread_rows`)."""
    if n >= rows:
        return list(range(rows))
    return [i * rows // n for i in range(n)]


def read_transcripts(path):
    """Every `Utterance` cell of a MELD-style CSV, in table order; exits when it cannot."""
    if not os.path.isfile(path):
        sys.exit(
            f"no transcript table at {path}: MELD's tables are in ../shared/data/meld "
            "(train_sent_emo.csv, ...), which only the development machines have; run without "
            "--transcripts for the synthetic workload"
        )
    with open(path, newline="", encoding="utf-8") as file:
        reader = csv.DictReader(file)
        if TRANSCRIPT_COLUMN not in (reader.fieldnames or []):
            sys.exit(f"{path}: no `{TRANSCRIPT_COLUMN}` column (columns: {reader.fieldnames})")
        return [row[TRANSCRIPT_COLUMN] or "" for row in reader]


def meld_splits(args):
    """Split sizes of the projected run: counted from the MELD tables beside --transcripts
    when all three are there, else MELD's published sizes; and where they came from."""
    if args.transcripts:
        folder = os.path.dirname(os.path.abspath(args.transcripts))
        paths = {split: os.path.join(folder, f"{split}_sent_emo.csv") for split in MELD_SPLITS}
        if all(os.path.isfile(p) for p in paths.values()):
            counts = {}
            for split, path in paths.items():
                with open(path, newline="", encoding="utf-8") as file:
                    counts[split] = sum(1 for _ in csv.DictReader(file))
            return counts, f"rows of {folder}/{{train,dev,test}}_sent_emo.csv"
    return dict(MELD_SPLITS), "MELD's published split sizes"


def encode_transcripts(args):
    """The sample's texts as the study tokenized them: ids and masks padded to --max-tokens,
    plus the real token counts."""
    from transformers import RobertaTokenizerFast

    texts = read_transcripts(args.transcripts)
    rows = spread_rows(len(texts), args.utterances)
    if len(rows) < args.utterances:
        sys.exit(f"--utterances {args.utterances}: {args.transcripts} has only {len(texts)} rows")
    # RoBERTa's special tokens (<s>, </s>, <pad> = 1) by default: a folder with tokenizer.json
    # alone (the test fixture) has no tokenizer_config.json to name them.
    file = os.path.join(args.tokenizer, "tokenizer.json")
    tokenizer = (RobertaTokenizerFast(tokenizer_file=file) if os.path.isfile(file)
                 else RobertaTokenizerFast.from_pretrained(args.tokenizer))
    encoded = tokenizer([texts[r] for r in rows], padding="max_length", truncation=True,
                        max_length=args.max_tokens, return_tensors="pt")
    lengths = encoded["attention_mask"].sum(1).tolist()
    return encoded["input_ids"], encoded["attention_mask"], lengths


def make_batch(args, generator, text=None, start=0):
    """One batch of inputs; with `text` (ids, masks of the sample), rows start.. of it in turn."""
    import torch

    batch, tokens = args.batch_size, args.max_tokens
    input_ids = torch.ones(batch, tokens, dtype=torch.long)  # <pad> = 1
    text_mask = torch.zeros(batch, tokens, dtype=torch.long)
    for row in range(batch):
        if text is not None:
            ids, masks = text
            input_ids[row] = ids[(start + row) % len(ids)]
            text_mask[row] = masks[(start + row) % len(ids)]
            continue
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

    text, lengths = None, None
    if args.transcripts:
        ids, masks, lengths = encode_transcripts(args)
        text = (ids, masks)
    generator = torch.Generator().manual_seed(42)
    forwards = args.warmup + args.forward_batches if args.forward_batches > 0 else 0
    batches = [make_batch(args, generator, text, index * args.batch_size)
               for index in range(forwards + args.warmup + args.steps)]

    # Eval-mode forward of the whole model: validation, testing, what a cache build computes.
    forward_times = []
    model.eval()
    with torch.inference_mode():
        for index, batch in enumerate(batches[:forwards]):
            start = time.perf_counter()
            model(*batch[:4])
            if index >= args.warmup:
                forward_times.append((time.perf_counter() - start) * 1000)
    model.train()
    batches = batches[forwards:]

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
    forward_ms = sum(forward_times) / len(forward_times) if forward_times else None
    return {
        "forward_ms": forward_ms,
        "forward_ms_min": min(forward_times) if forward_times else None,
        "forward_utt_per_s": args.batch_size * 1000 / forward_ms if forward_ms else None,
        "text": None if lengths is None else {
            "count": len(lengths),
            "mean_tokens": sum(lengths) / len(lengths),
            "max_tokens": max(lengths),
            "padded_to": args.max_tokens,
        },
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
               "--train-last-layers", str(args.train_last_layers),
               "--tokenizer", args.tokenizer]
    if args.transcripts:
        command += ["--transcripts", args.transcripts]
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
              "cached_step_ms", "cached_steps_s", "cached_eval_s", "steps", "text",
              "peak_rss_mib"]
    missing = [key for key in needed if key not in result]
    if missing:
        sys.exit(f"emofuse's RESULT line lacks {', '.join(missing)}: {line}")
    return result


def report(args, torch, burn):
    texts = (f"{args.utterances} transcripts of {args.transcripts}" if args.transcripts
             else "synthetic texts")
    print(
        f"workload: study A late fusion (RoBERTa + wav2vec2, {args.layers} layers each, last "
        f"{args.train_last_layers} trainable), batch {args.batch_size}, {texts} (PyTorch pads to "
        f"{args.max_tokens} tokens), synthetic audio {args.clip_seconds:g} s at 16 kHz; epoch of "
        f"{args.utterances} utterances = {torch['steps_per_epoch']} steps"
    )
    if torch["text"] is not None:
        print(f"PyTorch text: {torch['text']['mean_tokens']:.1f} real tokens on average (max "
              f"{torch['text']['max_tokens']}), padded to {args.max_tokens}")
    if burn is not None:
        t = burn["text"]
        print(f"emofuse text: {t['mean_tokens']:.1f} tokens on average (max {t['max_tokens']}); "
              f"the cache build's text trunk computes {t['sorted_positions']} positions "
              f"({t['unsorted_positions']} unsorted, {t['fixed_positions']} padded to "
              f"{args.max_tokens})")
        if burn.get("table_text"):
            t = burn["table_text"]
            print(f"whole table ({t['count']} rows): {t['mean_tokens']:.1f} tokens on average "
                  f"(max {t['max_tokens']}, {t['truncated']} cut at {args.max_tokens}); text "
                  f"trunk positions {t['sorted_positions']} length-sorted, "
                  f"{t['unsorted_positions']} unsorted, {t['fixed_positions']} padded "
                  f"({t['fixed_positions'] / t['sorted_positions']:.1f}x)")
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


def projection(args, torch, burn):
    """The projected wall time of a full run on this machine, both sides; a dict for RESULT."""
    splits, source = meld_splits(args)
    train, dev, test = splits["train"], splits["dev"], splits["test"]
    steps = math.ceil(train / args.batch_size)
    e = args.epochs
    print()
    print(f"projected full MELD run, {e} epochs, train {train} / dev {dev} / test {test} "
          f"({source}), batch {args.batch_size} = {steps} steps per epoch:")
    result = {"splits": splits, "epochs": e, "steps_per_epoch": steps}
    if torch["forward_utt_per_s"] is not None:
        fwd = torch["forward_utt_per_s"]
        step_s = torch["step_ms"] / 1000
        total = e * (steps * step_s + dev / fwd) + test / fwd
        print(f"  PyTorch = {e} x ({steps} x {step_s:.2f} s + {dev} / {fwd:.2f} utt/s) "
              f"+ {test} / {fwd:.2f} utt/s = {total:.0f} s = {total / 3600:.1f} h")
        result["torch_s"] = total
    if burn is not None:
        n = burn["utterances"]
        build = n / burn["cache_build_s"]
        evaluation = n / burn["cached_eval_s"]
        step_s = burn["cached_steps_s"] / burn["steps"]
        overhead = max(burn["cached_epoch_s"] - burn["cached_steps_s"], 0.0)
        everything = train + dev + test
        total = (everything / build + e * (steps * step_s + overhead + dev / evaluation)
                 + test / evaluation)
        print(f"  emofuse = {everything} / {build:.2f} utt/s + {e} x ({steps} x {step_s:.3f} s "
              f"+ {overhead:.1f} s + {dev} / {evaluation:.1f} utt/s) + {test} / "
              f"{evaluation:.1f} utt/s = {total:.0f} s = {total / 3600:.1f} h "
              f"(cache build {everything / build / 3600:.1f} h)")
        result.update(emofuse_s=total, emofuse_cache_build_s=everything / build)
        if "torch_s" in result:
            print(f"  PyTorch / emofuse: {result['torch_s'] / total:.2f}x")
    return result


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
    parser.add_argument("--forward-batches", type=int, default=3,
                        help="timed eval-mode forward batches (0: none)")
    parser.add_argument("--transcripts", help="MELD-style CSV whose `Utterance` texts both sides "
                        "use, e.g. ../shared/data/meld/train_sent_emo.csv")
    parser.add_argument("--tokenizer", default=DEFAULT_TOKENIZER,
                        help="roberta-base tokenizer folder (with --transcripts)")
    parser.add_argument("--epochs", type=int, default=6, help="epochs of the projected run")
    parser.add_argument("--torch-only", action="store_true", help="skip emofuse")
    args = parser.parse_args()
    if args.steps < 1 or args.batch_size < 1 or args.max_tokens < MIN_REAL_TOKENS:
        parser.error(f"need --steps >= 1, --batch-size >= 1, --max-tokens >= {MIN_REAL_TOKENS}")
    if not 0 <= args.train_last_layers <= args.layers:
        parser.error("--train-last-layers must be between 0 and --layers")
    if args.forward_batches < 0 or args.epochs < 1:
        parser.error("need --forward-batches >= 0 and --epochs >= 1")
    if args.transcripts:
        read_transcripts(args.transcripts)  # a missing table stops here, before any timing

    # emofuse first, in its own process, so PyTorch's memory does not count against it.
    burn = None if args.torch_only else run_emofuse_fusion(args)
    torch = torch_train(args)
    report(args, torch, burn)
    if torch["forward_utt_per_s"] is not None and burn is not None:
        print(f"utterances/s without training: PyTorch eval forward "
              f"{torch['forward_utt_per_s']:.2f}, emofuse cache build "
              f"{burn['utterances'] / burn['cache_build_s']:.2f} "
              f"({burn['utterances'] / burn['cache_build_s'] / torch['forward_utt_per_s']:.2f}x)")
    projected = projection(args, torch, burn)
    print("RESULT " + json.dumps({"torch": torch, "emofuse": burn, "projection": projected}))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Benchmark (not a test): MFCC on audio already in memory, emofuse against librosa.

    python3 benches/audio/mfcc_vs_librosa.py [--input DIR] [--clips N] [--emofuse BIN] [--repeats R]

Both sides get the same clips decoded beforehand (no I/O is timed): librosa.feature.mfcc in this
process, one clip after the other (numpy's FFT runs on one thread), and `emofuse bench features`
on one thread and on 1, 2, ... threads of its pool (RAYON_NUM_THREADS). Parameters: the
benchmark's usual 16 kHz, n_mfcc 13, n_fft 400, hop 160, 40 mels. The best of R repetitions is
taken on each side. The default input is RAVDESS (../shared/data/ravdess-speech-16k, 16 kHz
FLAC); the script says so and stops when it is absent.

Prints a table and the ratios against the issue's target (at least 10x librosa on one thread).
Needs: pip install 'librosa==0.11.*' soundfile numpy; a release build of emofuse.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PARAMS = dict(sr=16000, n_mfcc=13, n_fft=400, hop_length=160, n_mels=40)


def default_binary() -> Path:
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    return target / "release" / "emofuse"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--input", type=Path, default=REPO.parent / "shared/data/ravdess-speech-16k")
    parser.add_argument("--clips", type=int, default=200, help="first N clips, sorted by path")
    parser.add_argument("--emofuse", type=Path, default=default_binary())
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    if not args.input.is_dir():
        print(f"skipped: {args.input} is not a folder (the RAVDESS data of ../shared, or pass --input)")
        return 0
    if not args.emofuse.is_file():
        print(f"skipped: no emofuse binary at {args.emofuse} (cargo build --release, or --emofuse)")
        return 0
    import librosa
    import numpy as np
    import soundfile

    files = sorted(p for p in args.input.rglob("*") if p.suffix.lower() in {".flac", ".wav"})
    files = files[: args.clips]
    clips = []
    for path in files:
        audio, rate = soundfile.read(path, dtype="float32", always_2d=True)
        audio = audio.mean(axis=1)
        if rate != PARAMS["sr"]:
            audio = librosa.resample(audio, orig_sr=rate, target_sr=PARAMS["sr"])
        clips.append(np.ascontiguousarray(audio, dtype=np.float32))
    seconds = sum(len(c) for c in clips) / PARAMS["sr"]

    librosa.feature.mfcc(y=clips[0], **PARAMS)  # imports and caches outside the timing
    best = float("inf")
    for _ in range(args.repeats):
        start = time.perf_counter()
        for audio in clips:
            librosa.feature.mfcc(y=audio, **PARAMS)
        best = min(best, time.perf_counter() - start)
    librosa_s = best

    # emofuse reads the same files (a list of them in a folder of links) and decodes them before
    # its timing starts.
    with tempfile.TemporaryDirectory() as tmp:
        for i, path in enumerate(files):
            (Path(tmp) / f"{i:05d}{path.suffix}").symlink_to(path.resolve())
        rows = []
        for threads in sorted({1, 2, os.cpu_count() or 1}):
            command = [
                str(args.emofuse), "bench", "features", "--input", tmp,
                "--sample-rate", "16000", "--n-mfcc", "13", "--n-fft", "400",
                "--hop-length", "160", "--n-mels", "40", "--repeats", str(args.repeats),
            ]
            env = dict(os.environ, RAYON_NUM_THREADS=str(threads))
            out = subprocess.run(command, env=env, capture_output=True, text=True)
            if out.returncode != 0:
                print(out.stdout + out.stderr, file=sys.stderr)
                return 1
            result = json.loads(out.stdout.strip().splitlines()[-1].removeprefix("RESULT "))
            rows.append((threads, result))

    print(f"{len(clips)} clips, {seconds:.1f} s of audio, 16 kHz, n_mfcc 13, n_fft 400, hop 160, 40 mels")
    print(f"{'':44} {'seconds':>8} {'clips/s':>9} {'vs librosa':>10}")
    print(f"{'librosa.feature.mfcc, one process':44} {librosa_s:8.3f} {len(clips) / librosa_s:9.1f} {'1.00x':>10}")
    single = rows[0][1]["seconds_single_thread"]
    print(f"{'emofuse, 1 thread':44} {single:8.3f} {len(clips) / single:9.1f} {librosa_s / single:9.2f}x")
    for threads, result in rows:
        t = result["seconds_all_threads"]
        print(f"{f'emofuse, pool of {threads} thread(s)':44} {t:8.3f} {len(clips) / t:9.1f} {librosa_s / t:9.2f}x")
    print(f"target: >= 10x librosa on one thread -> {'met' if librosa_s / single >= 10 else 'not met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

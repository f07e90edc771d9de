#!/usr/bin/env python3
"""Benchmark (not a test): emofuse's audio front end vs the ffmpeg CLI and librosa.

    python3 benches/audio/bench_vs_references.py [--clips 200] [--emofuse PATH] [--jobs N] [--repeat R]

What it does
  1. Generates N seeded 48 kHz stereo AAC-LC .mp4 clips of 3-4 s with ffmpeg into a cache
     folder (default ~/.cache/emofuse-bench/aac48k_n{N}_seed{S}/clips), reused when present.
     It also decodes each clip once (untimed) to a 16 kHz mono float WAV for the librosa rows.
  2. ffmpeg rows: one ffmpeg process per clip, decoding + resampling to 16 kHz mono f32
     (`ffmpeg -i clip.mp4 -ar 16000 -ac 1 -f f32le -`), sequentially and with --jobs parallel
     processes (default: all cores), as a data-prep pipeline would do.
  3. librosa rows, on the same clips:
       - "librosa MFCC only": librosa.feature.mfcc on the 16 kHz audio already in memory;
       - "librosa load16k+MFCC": librosa.load(16 kHz wav, sr=None) + mfcc  (decode of an
         already-resampled WAV + MFCC);
       - "librosa load(mp4,sr=16k)+MFCC": librosa.load(clip.mp4, sr=16000) + mfcc, i.e. AAC decode
         (audioread -> ffmpeg subprocess) + soxr resampling + MFCC: the apples-to-apples row
         for `emofuse features mfcc`, which also decodes and resamples;
     each sequentially and with --jobs worker processes (multiprocessing).
     MFCC parameters: sr 16000, n_mfcc 13, n_fft 400, hop_length 160, n_mels 40.
  4. emofuse rows: `emofuse features waveform ...` and `emofuse features mfcc ...` on the clip
     folder (one process for all clips; the command lines are in EMOFUSE_COMMANDS below, the one
     place to edit them). If the binary is missing or the subcommand fails, the rows are skipped
     with a clear message.
  5. Prints a table (wall time, clips/s, peak RSS) and the ratios emofuse/ffmpeg and
     emofuse/librosa against the targets (>= 2x ffmpeg, >= 10x librosa).

Peak RSS: for ffmpeg and emofuse it is measured with GNU `/usr/bin/time -f %M` (ffmpeg: one
process, max over the first 5 clips, measured outside the timed loop; emofuse: the one process);
without /usr/bin/time wait4()'s ru_maxrss is used, which on Linux can over-report (a child forked
from this Python process inherits its high-water mark). For librosa it is the max ru_maxrss of the
worker processes (parallel; forked, so they count the parent's shared pages too) or of this Python
process (sequential: interpreter + numpy/librosa + the in-memory 16 kHz clips).
Needs: ffmpeg on PATH; pip install 'librosa==0.11.*' soundfile numpy.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]

# --------------------------------------------------------------------------------------------
# The emofuse command lines: the ONE place to adjust them while the CLI is being written.
# Placeholders: {bin} binary, {input} folder of .mp4 clips, {out} output .safetensors file.
# --------------------------------------------------------------------------------------------
EMOFUSE_COMMANDS: dict[str, list[str]] = {
    "waveform": ["{bin}", "features", "waveform", "--input", "{input}", "--out", "{out}",
                 "--sample-rate", "16000"],
    "mfcc": ["{bin}", "features", "mfcc", "--input", "{input}", "--out", "{out}",
             "--sample-rate", "16000", "--n-mfcc", "13", "--n-fft", "400", "--hop-length", "160",
             "--n-mels", "40"],
}

MFCC_KW = dict(sr=16000, n_mfcc=13, n_fft=400, hop_length=160, n_mels=40)
FFMPEG_DECODE = ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-i", "{clip}",
                 "-ar", "16000", "-ac", "1", "-f", "f32le", "-"]


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def default_emofuse() -> Path:
    tgt = Path(os.environ.get("CARGO_TARGET_DIR", "/root/.cache/emofuse-target"))
    for cand in [tgt / "release" / "emofuse", REPO / "target" / "release" / "emofuse"]:
        if cand.exists():
            return cand
    return tgt / "release" / "emofuse"


GNU_TIME = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None


def run_measured(cmd: list[str], capture: bool = False) -> tuple[int, float, int, bytes, bytes]:
    """Run cmd, return (exit code, wall seconds, peak RSS in KiB of that child, stdout, stderr).

    With capture=True the command runs under GNU `/usr/bin/time -f %M` when available: a child
    forked straight from this (large) Python process inherits its RSS high-water mark on Linux,
    so wait4's ru_maxrss would over-report. Without capture (the timed per-clip ffmpeg loops) no
    wrapper is used and the RSS value is only an upper bound; see measure_rss()."""
    if capture:  # small outputs: files, so that neither pipe can fill up and block the child
        with tempfile.TemporaryFile() as fo, tempfile.TemporaryFile() as fe, \
                tempfile.NamedTemporaryFile(suffix=".rss") as fr:
            full = ([GNU_TIME, "-f", "%M", "-o", fr.name] if GNU_TIME else []) + cmd
            t0 = time.perf_counter()
            p = subprocess.Popen(full, stdout=fo, stderr=fe, stdin=subprocess.DEVNULL)
            _, status, ru = os.wait4(p.pid, 0)
            wall = time.perf_counter() - t0
            p.returncode = os.waitstatus_to_exitcode(status)
            fo.seek(0)
            fe.seek(0)
            rss = ru.ru_maxrss
            if GNU_TIME:
                try:
                    rss = int(Path(fr.name).read_text().strip().splitlines()[-1])
                except (ValueError, IndexError):
                    pass
            return p.returncode, wall, rss, fo.read(), fe.read()
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    while p.stdout.read(1 << 20):  # drain and discard the decoded audio
        pass
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    p.stdout.close()
    return p.returncode, wall, ru.ru_maxrss, b"", b""


def synth_clip(rng: np.random.Generator, sr: int, dur: float) -> np.ndarray:
    """Speech-like stereo signal: harmonic tone with vibrato, formant-ish envelope, syllable AM,
    light noise; channels differ in f0. float32 [frames, 2]."""
    n = int(sr * dur)
    t = np.arange(n, dtype=np.float64) / sr
    chans = []
    for _ in range(2):
        f0 = rng.uniform(90, 240)
        inst = f0 * (1 + 0.04 * np.sin(2 * np.pi * rng.uniform(4, 7) * t + rng.uniform(0, 6.3)))
        ph = 2 * np.pi * np.cumsum(inst) / sr
        y = np.zeros(n)
        for k in range(1, int(5000 / f0)):
            fk = k * f0
            env = 1.0 / k + 0.8 * np.exp(-((fk - 700) / 250) ** 2) + 0.5 * np.exp(-((fk - 1200) / 300) ** 2)
            y += env * np.sin(k * ph + rng.uniform(0, 6.3))
        y /= np.max(np.abs(y))
        y *= 0.55 + 0.45 * np.sin(2 * np.pi * rng.uniform(3, 5) * t + rng.uniform(0, 6.3))
        y = 0.4 * y + 0.004 * rng.standard_normal(n)
        chans.append(y)
    return np.clip(np.stack(chans, axis=1), -1, 1).astype(np.float32)


def ensure_clips(cache: Path, n: int, seed: int) -> tuple[list[Path], list[Path]]:
    clip_dir, wav_dir = cache / "clips", cache / "wav16k"
    manifest = cache / "manifest.json"
    want = {"n": n, "seed": seed, "codec": "aac", "sample_rate": 48000, "channels": 2, "dur": "3-4 s",
            "version": 1}
    clips = [clip_dir / f"clip_{i:04d}.mp4" for i in range(n)]
    wavs = [wav_dir / f"clip_{i:04d}.wav" for i in range(n)]
    if manifest.exists() and json.loads(manifest.read_text()) == want and all(
            c.exists() and c.stat().st_size > 0 for c in clips) and all(w.exists() for w in wavs):
        print(f"[clips] reusing {n} clips in {clip_dir}")
        return clips, wavs
    print(f"[clips] generating {n} x 48 kHz stereo AAC .mp4 (3-4 s) into {clip_dir} ...", flush=True)
    if cache.exists():
        shutil.rmtree(cache)
    clip_dir.mkdir(parents=True)
    wav_dir.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    for i, (c, w) in enumerate(zip(clips, wavs)):
        x = synth_clip(rng, 48000, float(rng.uniform(3.0, 4.0)))
        subprocess.run(["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
                        "-f", "f32le", "-ar", "48000", "-ac", "2", "-i", "-",
                        "-c:a", "aac", "-b:a", "128k", "-fflags", "+bitexact", "-flags:a", "+bitexact",
                        "-threads", "1", "-f", "mp4", str(c)], input=x.tobytes(), check=True)
        # untimed prep for the librosa rows: 16 kHz mono float WAV made by ffmpeg
        subprocess.run(["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-i", str(c),
                        "-ar", "16000", "-ac", "1", "-c:a", "pcm_f32le", str(w)], check=True)
        if (i + 1) % 50 == 0:
            print(f"[clips]   {i + 1}/{n} ({time.perf_counter() - t0:.0f} s)", flush=True)
    manifest.write_text(json.dumps(want))
    return clips, wavs


# --------------------------------------------------------------------------------------------
# ffmpeg rows
# --------------------------------------------------------------------------------------------


def bench_ffmpeg(clips: list[Path], jobs: int, rss_kib: int) -> dict:
    def one(c):
        rc, _, _, _, _ = run_measured([a.replace("{clip}", str(c)) for a in FFMPEG_DECODE])
        if rc != 0:
            raise RuntimeError(f"ffmpeg failed on {c}")
    t0 = time.perf_counter()
    if jobs <= 1:
        for c in clips:
            one(c)
    else:
        with ThreadPoolExecutor(jobs) as ex:
            list(ex.map(one, clips))
    # peak RSS of ONE ffmpeg process (with x jobs, about jobs times that is resident at once)
    return {"wall_s": time.perf_counter() - t0, "peak_rss_kib": rss_kib}


def measure_ffmpeg_rss(clips: list[Path]) -> int:
    """Peak RSS (KiB) of a single ffmpeg decode, max over a few clips, measured untimed under
    /usr/bin/time (see run_measured)."""
    rss = []
    for c in clips[:5]:
        _, _, r, _, _ = run_measured([a.replace("{clip}", str(c)) for a in FFMPEG_DECODE], capture=True)
        rss.append(r)
    return max(rss)


# --------------------------------------------------------------------------------------------
# librosa rows
# --------------------------------------------------------------------------------------------


def _quiet():
    warnings.filterwarnings("ignore")


def _lib_mfcc_only(y):
    import librosa
    return librosa.feature.mfcc(y=y, **MFCC_KW).shape[1]


def _lib_load16k_mfcc(path):
    import librosa
    y, sr = librosa.load(path, sr=None, mono=True)
    assert sr == 16000
    return librosa.feature.mfcc(y=y, **MFCC_KW).shape[1]


def _lib_loadmp4_mfcc(path):
    import librosa
    y, sr = librosa.load(path, sr=16000, mono=True)  # audioread(ffmpeg) decode + soxr_hq resample
    return librosa.feature.mfcc(y=y, **MFCC_KW).shape[1]


def _worker_init():
    _quiet()
    import librosa
    librosa.feature.mfcc(y=np.zeros(16000, np.float32), **MFCC_KW)  # warm-up (imports, caches)


def _worker_rss(_):
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def bench_librosa(fn, items, jobs: int) -> dict:
    import multiprocessing as mp
    if jobs <= 1:
        _worker_init()
        t0 = time.perf_counter()
        for it in items:
            fn(it)
        wall = time.perf_counter() - t0
        return {"wall_s": wall, "peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}
    ctx = mp.get_context("fork")
    with ctx.Pool(jobs, initializer=_worker_init) as pool:
        pool.map(_worker_rss, range(jobs))  # make sure all workers are up and warm before timing
        t0 = time.perf_counter()
        pool.map(fn, items, chunksize=max(1, len(items) // (jobs * 8)))
        wall = time.perf_counter() - t0
        rss = max(pool.map(_worker_rss, range(jobs * 4)))
    return {"wall_s": wall, "peak_rss_kib": rss}


# --------------------------------------------------------------------------------------------
# emofuse rows
# --------------------------------------------------------------------------------------------


def safetensors_summary(path: Path) -> str:
    try:
        with open(path, "rb") as f:
            n = struct.unpack("<Q", f.read(8))[0]
            hdr = json.loads(f.read(n))
        parts = [f"{k}:{v.get('dtype')}{v.get('shape')}" for k, v in hdr.items() if k != "__metadata__"]
        return ", ".join(parts[:6]) + (" ..." if len(parts) > 6 else "")
    except Exception as e:  # noqa: BLE001
        return f"(could not read safetensors header: {e})"


def bench_emofuse(binary: Path, kind: str, clip_dir: Path, out_dir: Path) -> dict | None:
    out = out_dir / f"emofuse_{kind}.safetensors"
    if out.exists():
        out.unlink()
    cmd = [a.format(bin=str(binary), input=str(clip_dir), out=str(out)) for a in EMOFUSE_COMMANDS[kind]]
    rc, wall, rss, so, se = run_measured(cmd, capture=True)
    if rc != 0:
        tail = (so + se).decode(errors="replace").strip().splitlines()[-8:]
        print(f"[emofuse] `{' '.join(cmd)}` exited {rc}; skipping this row. Output tail:\n    "
              + "\n    ".join(tail))
        return None
    info = safetensors_summary(out) if out.exists() else "(no output file written)"
    print(f"[emofuse] {kind}: {info}")
    return {"wall_s": wall, "peak_rss_kib": rss, "cmd": " ".join(cmd)}


# --------------------------------------------------------------------------------------------


def best_of(repeat: int, f):
    runs = [f() for _ in range(repeat)]
    runs = [r for r in runs if r is not None]
    if not runs:
        return None
    best = min(runs, key=lambda r: r["wall_s"])
    best["peak_rss_kib"] = max(r["peak_rss_kib"] for r in runs)
    return best


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clips", type=int, default=200)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--emofuse", type=Path, default=None,
                    help="emofuse release binary (default: $CARGO_TARGET_DIR/release/emofuse, "
                         "CARGO_TARGET_DIR defaulting to /root/.cache/emofuse-target, then target/release/emofuse)")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="parallel processes (default: cores)")
    ap.add_argument("--repeat", type=int, default=1, help="repeat each timed row, keep the fastest")
    ap.add_argument("--cache-dir", type=Path, default=Path.home() / ".cache" / "emofuse-bench")
    ap.add_argument("--skip-librosa-mp4", action="store_true", help="skip the slow librosa.load(mp4) rows")
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    a = ap.parse_args()
    _quiet()

    if shutil.which("ffmpeg") is None:
        sys.exit("ffmpeg not found on PATH (apt-get install -y ffmpeg)")
    cache = a.cache_dir / f"aac48k_n{a.clips}_seed{a.seed}"
    clips, wavs = ensure_clips(cache, a.clips, a.seed)
    clip_dir, wav_dir = cache / "clips", cache / "wav16k"
    audio_s = 0.0
    ys = []
    import soundfile as sf
    for w in wavs:
        y, sr = sf.read(str(w), dtype="float32")
        ys.append(y)
        audio_s += len(y) / sr
    import librosa
    ffv = subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True).stdout.split("\n")[0]
    print(f"[env] {a.clips} clips, {audio_s:.1f} s of audio; jobs={a.jobs}; cores={os.cpu_count()}; "
          f"librosa {librosa.__version__}, numpy {np.__version__}; {ffv}")

    rows = []  # (name, what, result)

    def add(name, what, res):
        rows.append((name, what, res))
        if res:
            print(f"  {name:<34} {res['wall_s']:8.2f} s  {a.clips / res['wall_s']:8.1f} clips/s", flush=True)

    print("[ffmpeg] timing ...", flush=True)
    ff_rss = measure_ffmpeg_rss(clips)
    add("ffmpeg seq", "decode AAC + resample 16k mono, 1 process per clip",
        best_of(a.repeat, lambda: bench_ffmpeg(clips, 1, ff_rss)))
    add(f"ffmpeg x{a.jobs}", f"same, {a.jobs} processes at a time (RSS: per process)",
        best_of(a.repeat, lambda: bench_ffmpeg(clips, a.jobs, ff_rss)))

    print("[librosa] timing ...", flush=True)
    wav_s = [str(w) for w in wavs]
    add("librosa MFCC only seq", "mfcc on in-memory 16k audio", best_of(a.repeat, lambda: bench_librosa(_lib_mfcc_only, ys, 1)))
    add(f"librosa MFCC only x{a.jobs}", f"same, {a.jobs} worker processes", best_of(a.repeat, lambda: bench_librosa(_lib_mfcc_only, ys, a.jobs)))
    add("librosa load16k+MFCC seq", "librosa.load(16k wav) + mfcc", best_of(a.repeat, lambda: bench_librosa(_lib_load16k_mfcc, wav_s, 1)))
    add(f"librosa load16k+MFCC x{a.jobs}", f"same, {a.jobs} worker processes", best_of(a.repeat, lambda: bench_librosa(_lib_load16k_mfcc, wav_s, a.jobs)))
    if not a.skip_librosa_mp4:
        mp4_s = [str(c) for c in clips]
        add("librosa load(mp4)+MFCC seq", "librosa.load(mp4, sr=16k) [audioread/ffmpeg + soxr] + mfcc",
            best_of(a.repeat, lambda: bench_librosa(_lib_loadmp4_mfcc, mp4_s, 1)))
        add(f"librosa load(mp4)+MFCC x{a.jobs}", f"same, {a.jobs} worker processes",
            best_of(a.repeat, lambda: bench_librosa(_lib_loadmp4_mfcc, mp4_s, a.jobs)))

    binary = a.emofuse or default_emofuse()
    if not binary.exists():
        print(f"[emofuse] binary not found at {binary}: build it with `cargo build --release` "
              f"(or pass --emofuse PATH); skipping the emofuse rows.")
        emo_w = emo_m = None
    else:
        print(f"[emofuse] timing {binary} ...", flush=True)
        emo_w = best_of(a.repeat, lambda: bench_emofuse(binary, "waveform", clip_dir, cache))
        add("emofuse waveform", "decode AAC + resample 16k mono (+ pad/mask), all clips, 1 process", emo_w)
        emo_m = best_of(a.repeat, lambda: bench_emofuse(binary, "mfcc", clip_dir, cache))
        add("emofuse mfcc", "decode + resample + MFCC, all clips, 1 process", emo_m)
        add("emofuse wav16k+MFCC", "read 16k wav + MFCC, all clips, 1 process",
            best_of(a.repeat, lambda: bench_emofuse(binary, "mfcc", wav_dir, cache)))
        # MFCC only, on audio already in memory (as the 'librosa MFCC only' rows).
        out = subprocess.run([str(binary), "bench", "features", "--input", str(wav_dir),
                              "--n-mfcc", "13", "--n-fft", "400", "--hop-length", "160",
                              "--n-mels", "40"], capture_output=True, text=True)
        result = next((json.loads(l[7:]) for l in out.stdout.splitlines() if l.startswith("RESULT ")), None)
        if result is None:
            print(f"[emofuse] bench features failed: {out.stderr.strip()[-500:]}")
        else:
            rss = int((result.get("peak_rss_mib") or 0) * 1024)
            add("emofuse MFCC only 1 thread", "mfcc on in-memory 16k audio, 1 thread",
                {"wall_s": result["seconds_single_thread"], "peak_rss_kib": rss})
            add(f"emofuse MFCC only x{result['threads']}", "same, all threads (rayon)",
                {"wall_s": result["seconds_all_threads"], "peak_rss_kib": rss})

    # ---------------------------------------------------------------- table
    print()
    print(f"{'row':<34} {'wall s':>8} {'clips/s':>9} {'peak RSS MiB':>13}  what")
    print("-" * 120)
    for name, what, r in rows:
        if r is None:
            print(f"{name:<34} {'-':>8} {'-':>9} {'-':>13}  {what} (skipped)")
        else:
            print(f"{name:<34} {r['wall_s']:8.2f} {a.clips / r['wall_s']:9.1f} {r['peak_rss_kib'] / 1024:13.1f}  {what}")
    res = {n: r for n, _, r in rows}

    def ratio(num, den, target):
        if res.get(num) is None or res.get(den) is None:
            return f"{num} / {den}: n/a"
        x = res[den]["wall_s"] / res[num]["wall_s"]
        ok = "meets" if x >= target else "BELOW"
        return f"{num} vs {den}: {x:6.2f}x faster  ({ok} target {target}x)"

    print("\nratios (speed-up = reference wall time / emofuse wall time):")
    for den in ["ffmpeg seq", f"ffmpeg x{a.jobs}"]:
        print("  " + ratio("emofuse waveform", den, 2))
    libs = ["librosa load(mp4)+MFCC seq", f"librosa load(mp4)+MFCC x{a.jobs}",
            "librosa load16k+MFCC seq", f"librosa load16k+MFCC x{a.jobs}",
            "librosa MFCC only seq", f"librosa MFCC only x{a.jobs}"]
    for den in libs[:2]:
        if den in res:
            print("  " + ratio("emofuse mfcc", den, 10))
    for den in libs[2:4]:
        if den in res:
            print("  " + ratio("emofuse wav16k+MFCC", den, 10))
    print("  " + ratio("emofuse MFCC only 1 thread", "librosa MFCC only seq", 10))
    print("  " + ratio(f"emofuse MFCC only x{a.jobs}", "librosa MFCC only seq", 10))
    print("  " + ratio(f"emofuse MFCC only x{a.jobs}", f"librosa MFCC only x{a.jobs}", 10))
    print("\nnotes: `emofuse mfcc` includes AAC decoding and resampling; the apples-to-apples librosa rows are\n"
          "'librosa load(mp4)+MFCC' (decode + resample + MFCC) and, without the AAC decode, 'librosa load16k+MFCC'.\n"
          "'librosa MFCC only' excludes all I/O. The fair comparison for a multi-threaded emofuse is the x{jobs} row."
          .replace("{jobs}", str(a.jobs)))
    if a.json:
        a.json.write_text(json.dumps({"clips": a.clips, "audio_seconds": audio_s, "jobs": a.jobs,
                                      "rows": [{"name": n, "what": w, **(r or {})} for n, w, r in rows]}, indent=1))


if __name__ == "__main__":
    main()

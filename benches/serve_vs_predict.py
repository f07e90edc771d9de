"""`emofuse serve` under load against `emofuse predict` run once per utterance (the reference: what
a script without a server does), on the same run and the same clips.

    cargo build --release && cargo run --release -- train      # makes runs/quickstart
    python3 benches/serve_vs_predict.py [--run runs/quickstart] [--requests 200] [--clients 1,2,8]

Prints, per client count, requests per second and latency percentiles of POST /api/predict, the
mean wall time of one `emofuse predict` process, their ratio, and the server's peak RSS. Standard
library only; the clips are generated WAVs (2 s at 22.05 kHz, so every request resamples).
"""

import argparse
import concurrent.futures
import http.client
import json
import math
import os
import statistics
import struct
import subprocess
import sys
import tempfile
import time

from torch_compare import emofuse_binary  # the binary lookup only; torch is not imported


def wav(seconds, rate, pitch):
    """16-bit mono PCM WAV bytes of a tone."""
    n = int(seconds * rate)
    frames = b"".join(
        struct.pack("<h", int(12000 * math.sin(2 * math.pi * pitch * i / rate))) for i in range(n)
    )
    header = b"RIFF" + struct.pack("<I", 36 + len(frames)) + b"WAVEfmt "
    header += struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16)
    return header + b"data" + struct.pack("<I", len(frames)) + frames


def form(text, audio):
    """multipart/form-data body with `text` and `audio`."""
    boundary = "emofuse-bench"
    body = (
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"text\"\r\n\r\n{text}\r\n"
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"audio\"; filename=\"clip.wav\"\r\n"
        "Content-Type: audio/wav\r\n\r\n"
    ).encode() + audio + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def post(host, port, body, content_type):
    """One request on a new connection; seconds taken."""
    start = time.perf_counter()
    connection = http.client.HTTPConnection(host, port, timeout=60)
    connection.request("POST", "/api/predict", body, {"Content-Type": content_type})
    response = connection.getresponse()
    answer = response.read()
    connection.close()
    if response.status != 200:
        sys.exit(f"POST /api/predict answered {response.status}: {answer[:300]!r}")
    return time.perf_counter() - start


def peak_rss_mb(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", default="runs/quickstart")
    parser.add_argument("--requests", type=int, default=200, help="requests per client count")
    parser.add_argument("--clients", default="1,2,8", help="concurrent clients, comma-separated")
    parser.add_argument("--predict-runs", type=int, default=10, help="`emofuse predict` processes timed")
    args = parser.parse_args()
    if not os.path.isfile(os.path.join(args.run, "model.bpk")):
        sys.exit(f"{args.run} has no model.bpk: train it first (`cargo run --release -- train`)")
    binary = emofuse_binary()
    texts = ["oh my god you got the job", "i am so angry", "that is so sad", "what was that"]
    clips = [wav(2.0, 22050, 150 + 40 * i) for i in range(len(texts))]
    bodies = [form(t, c) for t, c in zip(texts, clips)]

    server = subprocess.Popen(
        [binary, "serve", "--run", args.run, "--addr", "127.0.0.1:0", "--quiet"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        line = server.stdout.readline().strip()
        if not line.startswith("serving on http://"):
            sys.exit(f"unexpected first line of emofuse serve: {line!r}")
        host, port = line.removeprefix("serving on http://").rstrip("/").split(":")
        port = int(port)
        for body, content_type in bodies:  # warm-up
            post(host, port, body, content_type)
        results = {}
        for clients in [int(c) for c in args.clients.split(",")]:
            start = time.perf_counter()
            with concurrent.futures.ThreadPoolExecutor(clients) as pool:
                latencies = list(pool.map(
                    lambda i: post(host, port, *bodies[i % len(bodies)]), range(args.requests)
                ))
            wall = time.perf_counter() - start
            latencies.sort()
            results[clients] = {
                "requests_per_s": args.requests / wall,
                "p50_ms": 1000 * latencies[len(latencies) // 2],
                "p95_ms": 1000 * latencies[int(len(latencies) * 0.95)],
                "max_ms": 1000 * latencies[-1],
            }
        rss = peak_rss_mb(server.pid)
    finally:
        server.terminate()
        server.wait()

    with tempfile.TemporaryDirectory() as scratch:
        clip = os.path.join(scratch, "clip.wav")
        with open(clip, "wb") as f:
            f.write(clips[0])
        times = []
        for _ in range(args.predict_runs):
            start = time.perf_counter()
            subprocess.run(
                [binary, "predict", "--run", args.run, "--text", texts[0], "--audio", clip, "--json"],
                check=True, stdout=subprocess.DEVNULL,
            )
            times.append(time.perf_counter() - start)
    predict_ms = 1000 * statistics.mean(times)

    print(f"run {args.run}; {args.requests} requests per client count; 2 s clips at 22.05 kHz")
    print(f"emofuse predict (one process per utterance): {predict_ms:.1f} ms mean of {args.predict_runs}")
    for clients, r in results.items():
        ratio = r["requests_per_s"] * predict_ms / 1000
        print(
            f"serve, {clients} client(s): {r['requests_per_s']:.1f} req/s, latency p50 {r['p50_ms']:.1f} ms, "
            f"p95 {r['p95_ms']:.1f} ms, max {r['max_ms']:.1f} ms; {ratio:.1f}x the predict command's throughput"
        )
    print(f"server peak RSS: {rss:.0f} MB")
    print(json.dumps({"predict_ms": predict_ms, "serve": results, "server_peak_rss_mb": rss}))


if __name__ == "__main__":
    main()

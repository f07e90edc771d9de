#!/usr/bin/env bash
# One-shot check of a GPU machine with no network, from a binary built beforehand:
#   1. encoder parity on the GPU against the CPU and forward throughput of roberta-base and
#      wav2vec2-base sized encoders at batch 8 and 32, in f32 and in f16 (`emofuse bench device`,
#      once per precision: burn fixes a device's float type once per process);
#   2. study A at MELD size (9,989 utterances, synthetic inputs, random weights): the
#      frozen-trunk cache build rate and the cached epoch (`emofuse bench fusion`).
#
# Usage: benches/device_check.sh [cuda|wgpu]
#   EMOFUSE=path/to/emofuse   the binary (default: target/release/emofuse); build it with
#                             `cargo build --release --features cuda` (or wgpu) and copy it
#   TOKENIZER=dir             the roberta-base tokenizer folder (default: the test fixture's)
#   QUICK=1                   tiny sizes, to try the script on a software driver (lavapipe)
# Everything printed also goes to device_check.log.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
backend="${1:-cuda}"
bin="${EMOFUSE:-${CARGO_TARGET_DIR:-$here/../target}/release/emofuse}"
tokenizer="${TOKENIZER:-$here/../tests/fixtures/text/roberta-base-tokenizer}"
if [ ! -x "$bin" ]; then
    echo "no emofuse binary at $bin: build it with \`cargo build --release --features $backend\` and set EMOFUSE" >&2
    exit 2
fi
if [ -n "${QUICK:-}" ]; then
    # Small embedding tables: software drivers cannot allocate roberta-base's 154 MB one in a
    # single buffer (the fixture tokenizer has 100 ids).
    device_sizes=(--layers 1 --batches 1,2 --tokens 16 --seconds 0.5 --repeats 1 --vocab 1000)
    fusion_sizes=(--layers 1 --utterances 16 --max-tokens 16 --clip-seconds 0.5 --vocab 100
        --tokenizer "$here/../tests/fixtures/fusion/roberta-tiny")
else
    device_sizes=(--layers 12 --batches 8,32 --tokens 128 --seconds 5 --repeats 3)
    fusion_sizes=(--layers 12 --utterances 9989 --tokenizer "$tokenizer")
fi
exec > >(tee device_check.log) 2>&1
started=$(date +%s)
echo "== emofuse device check: backend $backend, binary $bin ($(du -h "$bin" | cut -f1))"
"$bin" --version
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
for precision in f32 f16; do
    echo "== encoders, $precision"
    timeout 240 "$bin" bench device --backend "$backend" --precision "$precision" "${device_sizes[@]}" \
        || echo "(bench device --precision $precision failed or ran out of time: exit $?)"
done
echo "== study A: cache build and cached epoch (f32)"
timeout 600 "$bin" bench fusion --backend "$backend" --skip-uncached "${fusion_sizes[@]}" \
    || echo "(bench fusion failed or ran out of time: exit $?)"
echo "== done in $(( $(date +%s) - started )) s"

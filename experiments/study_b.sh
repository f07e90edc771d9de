#!/usr/bin/env bash
# Every variant of study B on real RAVDESS (../shared/data/ravdess-speech-16k), speaker-
# independent k-fold, as published in docs/results.md. Each line is the command of one row;
# run one by name (`experiments/study_b.sh b8_noise`) or all (no argument). Results land in
# runs/<name>/metrics.json and reports/<name>/summary.md; `python3 experiments/study_b_table.py`
# prints the table of docs/results.md from them. Finished folds are kept (--resume), so an
# interrupted run continues where it stopped.
#
# EMOFUSE: the binary to run (default: target/release/emofuse, built with
# `cargo build --release`). JOBS: folds trained at a time, each in its own process (default 1;
# JOBS=2 gave ravdess_cnn_8class's six folds byte-identical predictions 1.55x sooner on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."
EMOFUSE=${EMOFUSE:-target/release/emofuse}
JOBS=${JOBS:-1}
if [ ! -d ../shared/data/ravdess-speech-16k ]; then
    echo "skipped: ../shared/data/ravdess-speech-16k is not here (RAVDESS speech at 16 kHz)"
    exit 0
fi

# One augmentation transform (or two), always applied to the one copy of each training clip.
only() { echo --set data.augment.copies=1 --set data.augment.probability=1.0 "$@"; }
NOISE='--set data.augment.noise_snr_db=[15.0,30.0]'
SHIFT='--set data.augment.shift_max_seconds=0.2'
PITCH='--set data.augment.pitch_semitones=[-2.0,2.0]'
GAIN='--set data.augment.gain=[0.7,1.3]'
MALE='--set data.gender="male"'

declare -A RUNS=(
    # 8 classes, all 24 actors (6 folds of 4 actors).
    [ravdess_cnn_8class]="experiments/ravdess_cnn_8class.toml"
    [ravdess_cnn_8class_augment]="experiments/ravdess_cnn_8class_augment.toml"
    # One model per gender (6 folds of 2 actors each).
    [ravdess_cnn_per_gender]="experiments/ravdess_cnn_per_gender.toml"
    # 5 classes (the study's main setting is male), 3 and 2 groups.
    [ravdess_cnn_5class_male]="experiments/ravdess_cnn_5class.toml --set data.gender=\"male\""
    [ravdess_cnn_5class_female]="experiments/ravdess_cnn_5class.toml --set data.gender=\"female\""
    [ravdess_cnn_3class]="experiments/ravdess_cnn_3class.toml"
    [ravdess_cnn_2class]="experiments/ravdess_cnn_2class.toml"
    # The study's augmentations, on its main setting (male, 5 classes).
    [b5m_noise]="experiments/ravdess_cnn_5class.toml $MALE $(only $NOISE)"
    [b5m_shift]="experiments/ravdess_cnn_5class.toml $MALE $(only $SHIFT)"
    [b5m_pitch]="experiments/ravdess_cnn_5class.toml $MALE $(only $PITCH)"
    [b5m_gain]="experiments/ravdess_cnn_5class.toml $MALE $(only $GAIN)"
    [b5m_noise_shift]="experiments/ravdess_cnn_5class.toml $MALE $(only $NOISE $SHIFT)"
    [b5m_pitch_noise]="experiments/ravdess_cnn_5class.toml $MALE $(only $PITCH $NOISE)"
    # Augmenting the minority class only: positive (672 clips against 768 negative).
    [b2_positive_noise_shift]="experiments/ravdess_cnn_2class.toml $(only $NOISE $SHIFT) --set data.augment.classes=[\"positive\"]"
)
ORDER=(ravdess_cnn_8class ravdess_cnn_8class_augment ravdess_cnn_per_gender
    ravdess_cnn_5class_male ravdess_cnn_5class_female ravdess_cnn_3class ravdess_cnn_2class
    b5m_noise b5m_shift b5m_pitch b5m_gain b5m_noise_shift b5m_pitch_noise
    b2_positive_noise_shift)

run() {
    local name=$1
    local args=${RUNS[$name]:?unknown variant $name; one of: ${ORDER[*]}}
    echo "== $name: emofuse train $args --set output.name=\"$name\" --resume"
    # shellcheck disable=SC2086 # the variant's arguments are split on purpose
    "$EMOFUSE" train $args --set "output.name=\"$name\"" --resume --jobs "$JOBS"
}

if [ $# -gt 0 ]; then
    for name in "$@"; do run "$name"; done
else
    for name in "${ORDER[@]}"; do run "$name"; done
fi

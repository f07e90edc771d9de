#!/usr/bin/env python3
"""Prints the study-B table of docs/results.md from the runs of experiments/study_b.sh.

    python3 experiments/study_b_table.py            # every variant that has finished
    python3 experiments/study_b_table.py --folds    # and one line per fold

Reads runs/<variant>/metrics.json (the k-fold record: `cv` is the mean and sample standard
deviation over folds of held-out actors, `groups` the per-gender ones). Standard library only.
"""
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VARIANTS = [
    ("ravdess_cnn_8class", "8 classes, 24 actors"),
    ("ravdess_cnn_8class_augment", "8 classes, augmentation (all five transforms, p 0.5)"),
    ("ravdess_cnn_per_gender", "8 classes, one model per gender"),
    ("ravdess_cnn_5class_male", "5 classes, male (the study's main setting)"),
    ("ravdess_cnn_5class_female", "5 classes, female"),
    ("ravdess_cnn_3class", "3 classes (positive / neutral / negative)"),
    ("ravdess_cnn_2class", "2 classes (positive / negative)"),
    ("b5m_noise", "5 classes male + white noise"),
    ("b5m_shift", "5 classes male + time shift"),
    ("b5m_pitch", "5 classes male + pitch shift"),
    ("b5m_gain", "5 classes male + gain"),
    ("b5m_noise_shift", "5 classes male + noise and shift"),
    ("b5m_pitch_noise", "5 classes male + pitch and noise"),
    ("b2_positive_noise_shift", "2 classes + noise and shift, positive (minority) class only"),
]


def cell(cv, key):
    return f"{100 * cv[key + '_mean']:.2f} ± {100 * cv[key + '_std']:.2f}"


def row(label, name, cv, folds, minutes):
    return (
        f"| {label} | `{name}` | {folds} | {cell(cv, 'accuracy')} | {cell(cv, 'uar')} | "
        f"{cell(cv, 'macro_f1')} | {minutes} |"
    )


def main():
    per_fold = "--folds" in sys.argv
    print("| variant | run | folds | accuracy | UAR | macro F1 | wall (min) |")
    print("|---|---|---:|---:|---:|---:|---:|")
    details = []
    for name, label in VARIANTS:
        path = ROOT / "runs" / name / "metrics.json"
        if not path.is_file():
            print(f"| {label} | `{name}` | not run | | | | |")
            continue
        m = json.loads(path.read_text())
        minutes = f"{m['wall_seconds'] / 60:.1f}"
        groups = m.get("groups") or {}
        if groups:
            for group, cv in groups.items():
                print(row(f"{label}: {group}", name, cv, cv["folds"], minutes))
        else:
            print(row(label, name, m["cv"], m["cv"]["folds"], minutes))
        for f in m["folds"]:
            details.append(
                f"| `{name}` | {f['group']} | {f['fold']} | {', '.join(f['test_speakers'])} | "
                f"{100 * f['accuracy']:.2f} | {100 * f['uar']:.2f} | {100 * f['macro_f1']:.2f} |"
            )
    if per_fold:
        print("\n| run | group | fold | test actors | accuracy | UAR | macro F1 |")
        print("|---|---|---:|---|---:|---:|---:|")
        print("\n".join(details))


if __name__ == "__main__":
    main()

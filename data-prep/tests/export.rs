//! `data-prep synthetic`: files, manifests, round trip of the audio, resuming.

use data_prep::synthetic::export;
use emofuse::data::synthetic::{SyntheticOptions, generate};
use std::path::PathBuf;

#[test]
fn export_writes_wavs_and_manifests_and_resumes() {
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("data-prep-export");
    let _ = std::fs::remove_dir_all(&out);
    let options = SyntheticOptions {
        seed: 9,
        train_size: 12,
        valid_size: 4,
        test_size: 5,
        sample_rate: 16_000,
        max_seconds: 1.5,
    };
    let summary = export(&options, &out).unwrap();
    assert_eq!((summary.written, summary.skipped), (21, 0));

    let corpus = generate(&options);
    let manifest = std::fs::read_to_string(out.join("train.csv")).unwrap();
    let lines: Vec<&str> = manifest.lines().collect();
    assert_eq!(lines[0], "id,path,text,label,speaker,duration");
    assert_eq!(lines.len(), 1 + 12);
    let first = &corpus.train[0];
    assert!(lines[1].starts_with(&format!("{},train/{}.wav,", first.id, first.id)));
    assert!(lines[1].contains(corpus.labels.name(first.label)));

    let mut reader =
        hound::WavReader::open(out.join("train").join(format!("{}.wav", first.id))).unwrap();
    assert_eq!(reader.spec().sample_rate, 16_000);
    assert_eq!(reader.spec().channels, 1);
    let samples: Vec<i16> = reader.samples::<i16>().map(Result::unwrap).collect();
    assert_eq!(samples.len(), first.audio.len());
    for (s, x) in samples.iter().zip(&first.audio) {
        assert!((f32::from(*s) / 32767.0 - x).abs() <= 1.0 / 32767.0);
    }

    let again = export(&options, &out).unwrap();
    assert_eq!((again.written, again.skipped), (0, 21));
}

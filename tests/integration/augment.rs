//! Augmentation: each transform does what it says (measured on tones), draws are seeded, and
//! `[data.augment]` is validated.

use emofuse::audio::augment::{
    AugmentConfig, Augmentation, Transform, pitch_shift, shift, time_stretch,
};
use emofuse::experiment::Experiment;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

const RATE: u32 = 16_000;

fn tone(hz: f64, seconds: f64) -> Vec<f32> {
    (0..(seconds * RATE as f64) as usize)
        .map(|i| (2.0 * std::f64::consts::PI * hz * i as f64 / RATE as f64).sin() as f32 * 0.5)
        .collect()
}

/// Frequency of a tone from its zero crossings, over the middle half (away from edge effects).
fn frequency(samples: &[f32]) -> f64 {
    let middle = &samples[samples.len() / 4..3 * samples.len() / 4];
    let crossings = middle
        .windows(2)
        .filter(|w| (w[0] < 0.0) != (w[1] < 0.0))
        .count();
    crossings as f64 / 2.0 / (middle.len() as f64 / RATE as f64)
}

#[test]
fn pitch_shift_moves_the_pitch_and_keeps_the_duration() {
    let input = tone(440.0, 1.0);
    for semitones in [2.0, -3.0] {
        let out = pitch_shift(&input, RATE, semitones).unwrap();
        assert_eq!(out.len(), input.len());
        let expected = 440.0 * 2f64.powf(semitones / 12.0);
        let got = frequency(&out);
        assert!(
            (got / expected - 1.0).abs() < 0.01,
            "{semitones} st: {got:.1} Hz, expected {expected:.1}"
        );
    }
}

#[test]
fn time_stretch_keeps_the_pitch_and_speed_changes_both() {
    let input = tone(300.0, 1.0);
    let slower = time_stretch(&input, RATE, 0.8);
    assert_eq!(slower.len(), 20_000);
    assert!(
        (frequency(&slower) / 300.0 - 1.0).abs() < 0.01,
        "{}",
        frequency(&slower)
    );

    let faster = Augmentation {
        transforms: vec![Transform::Speed(1.25)],
    };
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let out = faster.apply(&input, RATE, &mut rng).unwrap();
    assert_eq!(out.len(), 12_800);
    assert!(
        (frequency(&out) / 375.0 - 1.0).abs() < 0.01,
        "{}",
        frequency(&out)
    );
}

#[test]
fn shift_fills_with_silence_and_keeps_length() {
    assert_eq!(shift(&[1.0, 2.0, 3.0, 4.0], 1), vec![0.0, 1.0, 2.0, 3.0]);
    assert_eq!(shift(&[1.0, 2.0, 3.0, 4.0], -2), vec![3.0, 4.0, 0.0, 0.0]);
}

#[test]
fn draws_are_seeded_and_respect_the_enabled_transforms() {
    let config = AugmentConfig {
        copies: 2,
        noise_snr_db: Some([10.0, 30.0]),
        gain: Some([1.5, 3.0]),
        ..Default::default()
    };
    let draw = |seed| config.draw(&mut ChaCha8Rng::seed_from_u64(seed));
    assert_eq!(draw(3), draw(3));
    let mut kinds = std::collections::BTreeSet::new();
    for seed in 0..50 {
        let augmentation = draw(seed);
        assert!(!augmentation.transforms.is_empty());
        for t in augmentation.transforms {
            match t {
                Transform::Noise(snr) => assert!((10.0..=30.0).contains(&snr)),
                Transform::Gain(g) => assert!((1.5..=3.0).contains(&g)),
                other => panic!("{other:?} is not enabled"),
            }
            kinds.insert(format!("{t:?}").split('(').next().unwrap().to_string());
        }
    }
    assert_eq!(kinds.len(), 2, "both transforms get drawn");
    assert!(config.applies_to("fear"));
    let minority = AugmentConfig {
        classes: vec!["fear".into(), "disgust".into()],
        ..config
    };
    assert!(minority.applies_to("fear") && !minority.applies_to("neutral"));
}

#[test]
fn augment_section_is_validated() {
    let load = |toml: &str| Experiment::from_toml_str(toml, &[], "test.toml");
    let ok =
        load("[data.augment]\ncopies = 1\nnoise_snr_db = [10.0, 20.0]\nclasses = [\"fear\"]\n");
    assert!(ok.is_ok(), "{:?}", ok.err());
    let error = load("[data.augment]\ncopies = 1\n").unwrap_err();
    assert!(
        format!("{error:#}").contains("no transform is enabled"),
        "{error:#}"
    );
    let error = load("[data.augment]\ncopies = 1\nspeed = [1.2, 0.8]\n").unwrap_err();
    assert!(
        format!("{error:#}").contains("data.augment.speed"),
        "{error:#}"
    );
    let error =
        load("[data.augment]\ncopies = 1\ngain = [1.0, 2.0]\nclasses = [\"happy\"]\n").unwrap_err();
    assert!(format!("{error:#}").contains("`happy`"), "{error:#}");
}

#[test]
fn training_copies_are_counted_seeded_and_restricted_to_the_classes() {
    use emofuse::data::batch::FrontEnd;
    use emofuse::data::synthetic::{SyntheticOptions, generate};
    let corpus = generate(&SyntheticOptions {
        seed: 5,
        train_size: 60,
        valid_size: 4,
        test_size: 4,
        sample_rate: 16_000,
        max_seconds: 1.5,
    });
    let experiment = Experiment::from_toml_str("", &[], "test").unwrap();
    let (front, originals) =
        FrontEnd::fit_transform(&corpus.train, &experiment.front_end_config()).unwrap();
    let config = AugmentConfig {
        copies: 2,
        classes: vec!["joy".into(), "anger".into()],
        noise_snr_db: Some([10.0, 20.0]),
        pitch_semitones: Some([-2.0, 2.0]),
        ..Default::default()
    };
    let make = || {
        front
            .augmented_examples(&corpus.train, &corpus.labels, &config, 16_000, 42)
            .unwrap()
    };
    let copies = make();
    let chosen: Vec<usize> = corpus
        .train
        .iter()
        .enumerate()
        .filter(|(_, u)| ["joy", "anger"].contains(&corpus.labels.name(u.label)))
        .map(|(i, _)| i)
        .collect();
    assert!(!chosen.is_empty());
    assert_eq!(copies.len(), 2 * chosen.len());
    assert!(
        copies
            .iter()
            .all(|e| ["joy", "anger"].contains(&corpus.labels.name(e.label)))
    );
    // Same seed, same copies (whatever the thread scheduling); each differs from its original.
    assert_eq!(copies, make());
    for (k, &i) in chosen.iter().enumerate() {
        assert_eq!(copies[2 * k].tokens, originals[i].tokens);
        assert_ne!(copies[2 * k].features, originals[i].features);
        assert_ne!(copies[2 * k].features, copies[2 * k + 1].features);
    }
}

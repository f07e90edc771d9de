use emofuse::data::synthetic::{MELD_TRAIN_COUNTS, SyntheticOptions, generate};
use std::collections::HashSet;

fn options(seed: u64) -> SyntheticOptions {
    SyntheticOptions {
        seed,
        train_size: 700,
        valid_size: 100,
        test_size: 100,
        sample_rate: 16_000,
        max_seconds: 1.5,
    }
}

#[test]
fn same_seed_same_corpus_other_seed_other_corpus() {
    let a = generate(&options(3));
    let b = generate(&options(3));
    assert_eq!(a.train, b.train);
    assert_eq!(a.test, b.test);
    let c = generate(&options(4));
    assert_ne!(a.train[0].audio, c.train[0].audio);
}

#[test]
fn imbalance_follows_meld_and_speakers_do_not_leak() {
    let corpus = generate(&options(11));
    let counts = corpus.class_counts(emofuse::core::SplitName::Train);
    let total: usize = MELD_TRAIN_COUNTS.iter().sum();
    for (c, &n) in counts.iter().enumerate() {
        let expected = 700.0 * MELD_TRAIN_COUNTS[c] as f64 / total as f64;
        // Binomial spread: within 4 standard deviations.
        let sd = (expected * (1.0 - expected / 700.0)).sqrt();
        assert!(
            (n as f64 - expected).abs() < 4.0 * sd + 1.0,
            "class {c}: {n} vs {expected:.0}"
        );
    }
    let speakers =
        |s: &[emofuse::data::Utterance]| s.iter().map(|u| u.speaker).collect::<HashSet<_>>();
    let (tr, va, te) = (
        speakers(&corpus.train),
        speakers(&corpus.valid),
        speakers(&corpus.test),
    );
    assert!(tr.is_disjoint(&va) && tr.is_disjoint(&te) && va.is_disjoint(&te));
}

#[test]
fn clips_are_audio_in_range_and_no_longer_than_asked() {
    let corpus = generate(&options(5));
    for u in corpus.train.iter().take(50) {
        assert!(!u.audio.is_empty() && u.audio.len() <= 24_000);
        assert!(u.audio.iter().all(|x| x.is_finite() && x.abs() <= 1.0));
        let rms = (u.audio.iter().map(|x| x * x).sum::<f32>() / u.audio.len() as f32).sqrt();
        assert!(rms > 1e-3, "{} is silent", u.id);
        assert!(!u.text.is_empty());
    }
}

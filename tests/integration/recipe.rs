//! The pieces of the RAVDESS recipe (`experiments/ravdess_8class_best.toml`): speaker
//! normalisation of the features, SpecAugment masks and mixup of training batches, and the
//! speech CNN's statistics and attention pooling.

use burn::module::Module;
use burn::tensor::{Device, Int, Tensor, TensorData};
use emofuse::data::Utterance;
use emofuse::data::batch::{FeatureNormKind, FrontEnd};
use emofuse::data::synthetic::{SyntheticOptions, generate};
use emofuse::experiment::Experiment;
use emofuse::models::fusion::{AudioInput, FramePooling, FusionBatch, SpeechCnnConfig};
use emofuse::training::config::SpecAugmentConfig;
use emofuse::training::mixing::{mixup, spec_augment};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;

fn corpus() -> emofuse::data::Corpus {
    generate(&SyntheticOptions {
        seed: 9,
        train_size: 48,
        valid_size: 4,
        test_size: 24,
        sample_rate: 16_000,
        max_seconds: 1.0,
    })
}

fn front_config(sets: &[&str]) -> emofuse::data::batch::FrontEndConfig {
    let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
    Experiment::from_toml_str("", &sets, "test")
        .unwrap()
        .front_end_config()
}

/// Mean and standard deviation of each row over the valid frames of `examples` together.
fn row_stats(examples: &[&emofuse::data::batch::Example], rows: usize) -> Vec<(f64, f64)> {
    (0..rows)
        .map(|r| {
            let values: Vec<f64> = examples
                .iter()
                .flat_map(|e| {
                    let frames = e.features.len() / rows;
                    e.features[r * frames..r * frames + e.valid_frames]
                        .iter()
                        .map(|&x| f64::from(x))
                })
                .collect();
            let mean = values.iter().sum::<f64>() / values.len() as f64;
            let var = values.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / values.len() as f64;
            (mean, var.sqrt())
        })
        .collect()
}

fn by_speaker<'a>(
    utterances: &[Utterance],
    examples: &'a [emofuse::data::batch::Example],
) -> BTreeMap<u32, Vec<&'a emofuse::data::batch::Example>> {
    let mut groups: BTreeMap<u32, Vec<_>> = BTreeMap::new();
    for (u, e) in utterances.iter().zip(examples) {
        groups.entry(u.speaker).or_default().push(e);
    }
    groups
}

#[test]
fn speaker_normalisation_standardises_each_speakers_rows_in_every_split() {
    let corpus = corpus();
    for features in ["mfcc", "logmel"] {
        let config = front_config(&[
            &format!("data.features=\"{features}\""),
            "data.feature_norm=\"speaker\"",
            "data.n_mels=16",
            "data.n_mfcc=8",
        ]);
        assert_eq!(config.feature_norm, FeatureNormKind::Speaker);
        let (front, train) = FrontEnd::fit_transform(&corpus.train, &config).unwrap();
        let test = front.examples(&corpus.test).unwrap();
        let rows = front.n_mels();
        for (split, utterances, examples) in [
            ("train", &corpus.train, &train),
            ("test", &corpus.test, &test),
        ] {
            let groups = by_speaker(utterances, examples);
            assert!(groups.len() > 1, "{split}: the corpus has several speakers");
            for (speaker, members) in groups {
                for (r, (mean, std)) in row_stats(&members, rows).into_iter().enumerate() {
                    assert!(
                        mean.abs() < 1e-3 && (std - 1.0).abs() < 1e-3,
                        "{features} {split} speaker {speaker} row {r}: mean {mean} std {std}"
                    );
                }
            }
        }
        // A clip alone (predict, serve) is its own group: standardised on its own.
        let alone = front.examples(&corpus.test[..1]).unwrap();
        for (mean, std) in row_stats(&[&alone[0]], rows) {
            assert!(
                mean.abs() < 1e-3 && (std - 1.0).abs() < 1e-3,
                "{mean} {std}"
            );
        }
        let utterance_norm = front_config(&[
            &format!("data.features=\"{features}\""),
            "data.feature_norm=\"utterance\"",
            "data.n_mels=16",
            "data.n_mfcc=8",
        ]);
        let (per_clip, _) = FrontEnd::fit_transform(&corpus.train, &utterance_norm).unwrap();
        let expected = per_clip.examples(&corpus.test[..1]).unwrap();
        let worst = alone[0]
            .features
            .iter()
            .zip(&expected[0].features)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(worst < 1e-4, "{features}: {worst}");
        // Not the training split's statistics: those leave each speaker's offsets in.
        let train_norm = front_config(&[
            &format!("data.features=\"{features}\""),
            "data.n_mels=16",
            "data.n_mfcc=8",
        ]);
        let (global, _) = FrontEnd::fit_transform(&corpus.train, &train_norm).unwrap();
        assert_ne!(global.examples(&corpus.test).unwrap(), test);
    }
}

#[test]
fn augmented_copies_use_their_speakers_statistics() {
    let corpus = corpus();
    let config = front_config(&["data.feature_norm=\"speaker\"", "data.features=\"mfcc\""]);
    let (front, originals) = FrontEnd::fit_transform(&corpus.train, &config).unwrap();
    // Gain 2 adds log(4) to every log-power value: MFCC 0 moves, the others do not; with the
    // originals' statistics the copy's first row keeps that offset (with its own it would be 0).
    let augment = emofuse::audio::AugmentConfig {
        copies: 1,
        probability: 1.0,
        gain: Some([2.0, 2.0]),
        ..Default::default()
    };
    let copies = front
        .augmented_examples(&corpus.train, &corpus.labels, &augment, 16_000, 1)
        .unwrap();
    assert_eq!(copies.len(), originals.len());
    let frames = originals[0].features.len() / front.n_mels();
    let shift = |e: &emofuse::data::batch::Example, o: &emofuse::data::batch::Example| {
        (0..e.valid_frames)
            .map(|f| f64::from(e.features[f] - o.features[f]))
            .sum::<f64>()
            / e.valid_frames as f64
    };
    for (copy, original) in copies.iter().zip(&originals) {
        assert!(shift(copy, original) > 0.1, "{}", shift(copy, original));
        let later = frames + copy.valid_frames / 2;
        assert!((copy.features[later] - original.features[later]).abs() < 1e-2);
    }
}

fn logmel_batch(features: Vec<f32>, valid: &[usize], rows: usize, frames: usize) -> FusionBatch {
    let device = Device::flex();
    let size = valid.len();
    let mask: Vec<f32> = valid
        .iter()
        .flat_map(|&v| (0..frames).map(move |f| if f < v { 1.0 } else { 0.0 }))
        .collect();
    FusionBatch {
        text: None,
        audio: Some(AudioInput::LogMel {
            features: Tensor::from_data(TensorData::new(features, [size, rows, frames]), &device),
            mask: Tensor::from_data(TensorData::new(mask, [size, frames]), &device),
        }),
        targets: Tensor::<1, Int>::from_data(
            TensorData::new((0..size as i64).collect::<Vec<_>>(), [size]),
            &device,
        ),
    }
}

fn audio_of(batch: &FusionBatch) -> (Vec<f32>, Vec<f32>) {
    match batch.audio.as_ref().unwrap() {
        AudioInput::LogMel { features, mask } => (
            features.clone().into_data().try_into_vec().unwrap(),
            mask.clone().into_data().try_into_vec().unwrap(),
        ),
        _ => unreachable!(),
    }
}

#[test]
fn spec_augment_zeroes_whole_bands_and_spans_of_real_frames_within_the_widths() {
    let (size, rows, frames) = (6, 12, 40);
    let valid = [40, 30, 20, 40, 10, 25];
    let ones = vec![1.0f32; size * rows * frames];
    let config = SpecAugmentConfig {
        freq_masks: 2,
        freq_width: 3,
        time_masks: 2,
        time_width: 6,
    };
    let draw = |seed: u64| {
        let mut batch = logmel_batch(ones.clone(), &valid, rows, frames);
        spec_augment(&mut batch, &config, &mut ChaCha8Rng::seed_from_u64(seed)).unwrap();
        audio_of(&batch).0
    };
    let masked = draw(3);
    assert_eq!(masked, draw(3), "seeded");
    assert_ne!(masked, draw(4));
    let mut any = false;
    for (b, example) in masked.chunks(rows * frames).enumerate() {
        let value = |r: usize, f: usize| example[r * frames + f];
        // A masked row is zero in every frame; a masked frame is zero in every row.
        let zero_rows: Vec<usize> = (0..rows)
            .filter(|&r| (0..frames).all(|f| value(r, f) == 0.0))
            .collect();
        let zero_frames: Vec<usize> = (0..frames)
            .filter(|&f| (0..rows).all(|r| value(r, f) == 0.0))
            .collect();
        for r in 0..rows {
            for f in 0..frames {
                if value(r, f) == 0.0 {
                    assert!(zero_rows.contains(&r) || zero_frames.contains(&f));
                }
            }
        }
        assert!(zero_rows.len() <= 2 * 3, "{zero_rows:?}");
        assert!(zero_frames.len() <= 2 * 6, "{zero_frames:?}");
        if zero_rows.len() < rows {
            assert!(
                zero_frames.iter().all(|&f| f < valid[b]),
                "{b}: {zero_frames:?}"
            );
        }
        any |= !zero_rows.is_empty() || !zero_frames.is_empty();
    }
    assert!(any, "some mask was drawn");
}

#[test]
fn mixup_blends_features_masks_and_gives_each_row_one_partner() {
    let (size, rows, frames) = (5, 3, 8);
    let valid = [8, 4, 2, 6, 8];
    let features: Vec<f32> = (0..size * rows * frames).map(|i| i as f32).collect();
    let mut batch = logmel_batch(features.clone(), &valid, rows, frames);
    let (_, mask_before) = audio_of(&batch);
    let mixed = mixup(&mut batch, 0.4, &mut ChaCha8Rng::seed_from_u64(11)).unwrap();
    let partner: Vec<i64> = mixed
        .partner
        .into_data()
        .convert::<i64>()
        .try_into_vec()
        .unwrap();
    let mut sorted = partner.clone();
    sorted.sort_unstable();
    assert_eq!(
        sorted,
        (0..size as i64).collect::<Vec<_>>(),
        "a permutation"
    );
    let l = mixed.lambda;
    assert!((0.0..=1.0).contains(&l));
    let (after, mask) = audio_of(&batch);
    let n = rows * frames;
    for b in 0..size {
        let p = partner[b] as usize;
        for i in 0..n {
            let expected = l * features[b * n + i] + (1.0 - l) * features[p * n + i];
            assert!((after[b * n + i] - expected).abs() < 1e-3);
        }
        for f in 0..frames {
            let either = mask_before[b * frames + f].max(mask_before[p * frames + f]);
            assert_eq!(mask[b * frames + f], either);
        }
    }
    let error = mixup(&mut batch, -1.0, &mut ChaCha8Rng::seed_from_u64(1)).err();
    assert!(format!("{error:?}").contains("mixup_alpha"), "{error:?}");
}

#[test]
fn statistics_and_attention_pooling_read_only_the_valid_frames() {
    let device = Device::flex();
    let (rows, frames) = (4, 10);
    let features: Vec<f32> = (0..rows * frames)
        .map(|i| ((i * 7) % 11) as f32 / 5.0)
        .collect();
    for pooling in [
        FramePooling::Mean,
        FramePooling::MeanStd,
        FramePooling::Attention,
    ] {
        let config = SpeechCnnConfig::new(rows, vec![3], 3, 1, false, 0.0).with_pooling(pooling);
        let cnn = config.init(&device);
        let out = |x: &[f32], valid: usize| {
            let mask: Vec<f32> = (0..frames)
                .map(|f| if f < valid { 1.0 } else { 0.0 })
                .collect();
            cnn.forward(
                Tensor::from_data(TensorData::new(x.to_vec(), [1, rows, frames]), &device),
                Tensor::from_data(TensorData::new(mask, [1, frames]), &device),
            )
            .into_data()
            .try_into_vec::<f32>()
            .unwrap()
        };
        let v = out(&features, 6);
        assert_eq!(v.len(), config.output_size());
        // Frames past the valid ones reach the pooled vector only through the last valid
        // frame's convolution window (radius 1): inputs that differ beyond it pool the same.
        let mut far = features.clone();
        for r in 0..rows {
            for f in 7..frames {
                far[r * frames + f] = -50.0;
            }
        }
        let w = out(&far, 6);
        let worst = v
            .iter()
            .zip(&w)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(worst < 1e-5, "{pooling:?}: {worst}");
    }
    // Statistics pooling: the mean then the standard deviation of each channel, checked
    // against the mean pooling of the same weights.
    let config = SpeechCnnConfig::new(rows, vec![3], 3, 1, false, 0.0);
    let mean_only = config.init(&device);
    let stats = config
        .clone()
        .with_pooling(FramePooling::MeanStd)
        .init(&device)
        .load_record(mean_only.clone().into_record());
    let x = Tensor::<3>::from_data(
        TensorData::new(features.clone(), [1, rows, frames]),
        &device,
    );
    let mask = Tensor::<2>::ones([1, frames], &device);
    let m: Vec<f32> = mean_only
        .forward(x.clone(), mask.clone())
        .into_data()
        .try_into_vec()
        .unwrap();
    let s: Vec<f32> = stats.forward(x, mask).into_data().try_into_vec().unwrap();
    assert_eq!(s.len(), 6);
    for c in 0..3 {
        assert!((s[c] - m[c]).abs() < 1e-5);
        assert!(s[3 + c] > 0.0);
    }
}

#[test]
fn mixup_and_spec_augment_are_refused_where_there_are_no_feature_frames() {
    let load = |sets: &[&str]| {
        let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
        Experiment::from_toml_str("", &sets, "test")
    };
    let error = load(&["training.mixup_alpha=0.2"]).unwrap_err();
    assert!(format!("{error:#}").contains("audio-only"), "{error:#}");
    assert!(load(&["training.mixup_alpha=0.2", "model.modalities=[\"audio\"]"]).is_ok());
    let error = load(&["training.mixup_alpha=-1"]).unwrap_err();
    assert!(format!("{error:#}").contains(">= 0"), "{error:#}");
    let error = load(&[
        "training.spec_augment.time_masks=2",
        "training.spec_augment.time_width=5",
        "model.modalities=[\"text\"]",
    ])
    .unwrap_err();
    assert!(format!("{error:#}").contains("spec_augment"), "{error:#}");
    let error = load(&[
        "training.spec_augment.freq_masks=100000",
        "training.spec_augment.freq_width=2",
        "model.modalities=[\"audio\"]",
    ])
    .unwrap_err();
    assert!(format!("{error:#}").contains("at most 64"), "{error:#}");
}

#[test]
fn the_2d_stem_feeds_its_rows_times_channels_to_the_1d_stack() {
    let device = Device::flex();
    let (rows, frames) = (8, 16);
    let config = SpeechCnnConfig::new(rows, vec![5, 6], 3, 2, true, 0.0)
        .with_stem(vec![2, 3])
        .with_pooling(FramePooling::MeanStd);
    let cnn = config.init(&device);
    // Two stem blocks leave 8 / 4 = 2 rows of 3 channels: 6 inputs to the first convolution.
    // Weights + biases + BatchNorm's scale, shift and running mean and variance: stem 1->2
    // (18 + 2 + 8), 2->3 (54 + 3 + 12), 1-D 6->5 (90 + 5 + 20), 5->6 (90 + 6 + 24).
    assert_eq!(cnn.num_params(), 28 + 69 + 115 + 120);
    let x = Tensor::<3>::random(
        [2, rows, frames],
        burn::tensor::Distribution::Normal(0.0, 1.0),
        &device,
    );
    let out = cnn.forward(x, Tensor::<2>::ones([2, frames], &device));
    assert_eq!(out.dims(), [2, config.output_size()]);
    assert_eq!(config.output_size(), 12);
    let load = |stem: &str| {
        Experiment::from_toml_str(
            &format!(
                "[model]\nmodalities = [\"audio\"]\naudio_encoder = \"speech_cnn\"\n[model.cnn]\nstem = {stem}\n[data]\nfeatures = \"mfcc\"\nn_mfcc = 8\nn_mels = 16\n"
            ),
            &[],
            "test",
        )
    };
    assert!(load("[4, 4, 4]").is_ok());
    let error = load("[4, 4, 4, 4]").unwrap_err();
    assert!(format!("{error:#}").contains("model.cnn.stem"), "{error:#}");
}

#[test]
fn an_ensemble_averages_the_models_probabilities_per_clip() {
    use emofuse::core::{LabelMap, SplitName};
    use emofuse::pipeline::seeds::ensemble_metrics;
    use emofuse::reports::predictions::PredictionRow;
    let labels = LabelMap::new(&["calm", "sad"]).unwrap();
    let row = |id: &str, label: usize, p: [f32; 2]| PredictionRow {
        split: SplitName::Test,
        id: id.into(),
        label,
        predicted: usize::from(p[1] > p[0]),
        probabilities: p.to_vec(),
    };
    let valid = PredictionRow {
        split: SplitName::Valid,
        ..row("v", 0, [0.0, 1.0])
    };
    // Each model is wrong on one clip; the averages are right on both.
    let a = vec![
        row("x", 0, [0.45, 0.55]),
        row("y", 1, [0.2, 0.8]),
        valid.clone(),
    ];
    let b = vec![row("y", 1, [0.55, 0.45]), row("x", 0, [0.7, 0.3])];
    let one = |rows: &Vec<PredictionRow>| {
        ensemble_metrics(&[("a".to_string(), rows.clone())], &labels)
            .unwrap()
            .accuracy
    };
    assert_eq!(one(&a), 0.5);
    assert_eq!(one(&b), 0.5);
    let both =
        ensemble_metrics(&[("a".into(), a.clone()), ("b".into(), b.clone())], &labels).unwrap();
    assert_eq!((both.accuracy, both.uar, both.macro_f1), (1.0, 1.0, 1.0));
    // Models that scored other clips, or the same clip with another label, are refused.
    let other = vec![row("x", 0, [0.7, 0.3]), row("z", 1, [0.1, 0.9])];
    let error = ensemble_metrics(&[("a".into(), a.clone()), ("c".into(), other)], &labels);
    assert!(format!("{:#}", error.unwrap_err()).contains("c: clip `z`"));
    let relabelled = vec![row("x", 1, [0.7, 0.3]), row("y", 1, [0.1, 0.9])];
    let error = ensemble_metrics(&[("a".into(), a), ("d".into(), relabelled)], &labels);
    assert!(format!("{:#}", error.unwrap_err()).contains("another label"));
}
